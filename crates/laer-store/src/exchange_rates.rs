//! Exchange rates as the admin gives them (issue 17; `laer_core::fx`), and contract lines
//! billed in another currency kept at the latest rate: a rate imported converts them again
//! in the same transaction, and the accounts whose MRR changed are marked for rescoring.

use chrono::NaiveDate;
use laer_core::fx::{Currency, DatedRate, Original, Rate, Rates};
use laer_core::money::Money;

use crate::exec::params;
use crate::{Store, StoreError, WriteCount, WriteTx};

fn rates_of(rows: Vec<(String, NaiveDate, i64)>) -> Result<Rates, StoreError> {
    let mut rates = Vec::with_capacity(rows.len());
    for (currency, day, rate) in rows {
        let unreadable = |reason: String| StoreError::Unreadable {
            table: "exchange_rates",
            column: "rate",
            reason,
        };
        rates.push(DatedRate {
            currency: currency.parse::<Currency>().map_err(unreadable)?,
            day,
            rate: Rate::from_scaled(rate).ok_or_else(|| unreadable(format!("{currency} on {day}: {rate}")))?,
        });
    }
    Ok(Rates::new(rates))
}

const RATES: &str = "SELECT currency, day, rate FROM exchange_rates ORDER BY currency, day";

impl Store {
    /// Every exchange rate given.
    pub async fn exchange_rates(&self) -> Result<Rates, StoreError> {
        rates_of(self.fetch_all(RATES, params![]).await?)
    }
}

impl WriteTx {
    /// Keeps exchange rates (a rate given again for its currency and day replaces it).
    pub async fn upsert_exchange_rates(&mut self, rates: &[DatedRate]) -> Result<WriteCount, StoreError> {
        let mut count = WriteCount::default();
        for r in rates {
            let changed = self
                .execute(
                    "INSERT INTO exchange_rates (currency, day, rate) VALUES ($1, $2, $3) \
                     ON CONFLICT (currency, day) DO UPDATE SET rate = excluded.rate \
                     WHERE exchange_rates.rate <> excluded.rate",
                    params![r.currency.as_str(), r.day, r.rate.scaled()],
                )
                .await?;
            if changed > 0 {
                count.written += 1;
            } else {
                count.unchanged += 1;
            }
        }
        Ok(count)
    }

    /// Converts every line billed in another currency again at the rate in force `today`
    /// (one without any rate keeps its MRR); the accounts whose MRR changed are marked for
    /// rescoring, and a Stripe sync is asked for (if Stripe is connected), which writes
    /// the lines it left out for want of a rate. Returns how many lines changed.
    pub async fn revalue_foreign_lines(&mut self, today: NaiveDate) -> Result<u64, StoreError> {
        let rates = rates_of(self.fetch_all(RATES, params![]).await?)?;
        let lines: Vec<(i64, i64, String, i64, i64)> = self
            .fetch_all(
                "SELECT id, account_id, currency, original_mrr, mrr FROM subscriptions \
                 WHERE currency IS NOT NULL AND original_mrr IS NOT NULL",
                params![],
            )
            .await?;
        let mut touched: Vec<i64> = Vec::new();
        let mut changed = 0;
        for (id, account_id, currency, original, mrr) in lines {
            let Ok(currency) = currency.parse::<Currency>() else {
                continue;
            };
            let original = Original {
                currency,
                mrr: Money::from_ten_thousandths(original),
            };
            let Some(value) = rates.value(original, today) else {
                continue;
            };
            if value.ten_thousandths() != mrr {
                self.execute(
                    "UPDATE subscriptions SET mrr = $1 WHERE id = $2",
                    params![value.ten_thousandths(), id],
                )
                .await?;
                touched.push(account_id);
                changed += 1;
            }
        }
        // Lines a Stripe sync left out for want of a rate come with the next sync.
        self.execute(
            "UPDATE stripe_connection SET sync_requested = 1 WHERE id = 1",
            params![],
        )
        .await?;
        if !touched.is_empty() {
            touched.sort_unstable();
            touched.dedup();
            self.mark_health_dirty(crate::sql::Feeds::Account, &touched).await?;
            self.history_changed(&touched).await?;
        }
        Ok(changed)
    }
}
