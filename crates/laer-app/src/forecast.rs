//! The forecasts as served (issue 19): the churn model in use; the renewal forecast of
//! this quarter and the next, with the owners' calls, and each kept quarter against what
//! happened; keeping a quarter's forecast at its start (the health engine does, every
//! day, so the first node to run in a quarter keeps it). docs/forecasts.md.

use chrono::NaiveDate;
use laer_core::bridge::Quarter;
use laer_core::forecast::churn::{ChurnModel, Learning, Source};
use laer_core::forecast::renewal::{self, Accuracy, Backtest, QuarterForecast, RenewalForecast, Snapshot};
use laer_core::portfolio::AccountSnapshot;
use laer_store::{Store, StoreError};
use serde::Serialize;

/// The churn forecast in use and its check out of sample: learned with the latest
/// validation of the health model named `model`, else the shipped one (no check).
pub async fn learning_in_use(store: &Store, model: &str) -> Result<Learning, StoreError> {
    Ok(crate::health::latest_validation(store, model)
        .await?
        .and_then(|(_, summary)| summary.forecast)
        .unwrap_or_else(|| Learning {
            model: crate::health::not_validated_yet(),
            evaluation: None,
        }))
}

/// The renewal forecast replayed over past quarters with the latest validation of the
/// health model named `model` (none before one).
pub async fn backtest_in_use(store: &Store, model: &str) -> Result<Option<Backtest>, StoreError> {
    Ok(crate::health::latest_validation(store, model)
        .await?
        .and_then(|(_, summary)| summary.renewal_backtest))
}

/// The churn forecast in use ([`learning_in_use`]).
pub async fn churn_model(store: &Store, model: &str) -> Result<ChurnModel, StoreError> {
    Ok(learning_in_use(store, model).await?.model)
}

/// Every account as of `today` with its latest kept health.
pub async fn accounts(store: &Store, today: NaiveDate) -> Result<Vec<AccountSnapshot>, StoreError> {
    let (accounts, health) = tokio::try_join!(store.account_snapshots(today), store.health_briefs(today))?;
    Ok(laer_core::portfolio::with_health(&accounts, &health))
}

/// The renewal forecast as the renewals page, the API and the CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct RenewalOutlook {
    pub today: NaiveDate,
    /// This quarter and the next.
    pub quarters: Vec<QuarterForecast>,
    /// Their renewals, soonest first.
    pub renewals: Vec<RenewalForecast>,
    /// Each closed quarter whose forecast was kept, against what happened, newest first.
    pub past: Vec<Accuracy>,
    /// The forecast replayed over the history's past quarters, with the latest validation
    /// ([`renewal::backtest`]); none before one.
    pub replayed: Option<Backtest>,
    pub source: Source,
}

/// The renewals of this quarter and the next, forecast with `model` and the owners'
/// calls.
pub async fn renewal_rows(
    store: &Store,
    model: &ChurnModel,
    accounts: &[AccountSnapshot],
    today: NaiveDate,
) -> Result<Vec<RenewalForecast>, StoreError> {
    let calls = store.renewal_calls().await?;
    let this = Quarter::containing(today);
    let next = this.next();
    let mut rows: Vec<RenewalForecast> = accounts
        .iter()
        .filter_map(|a| renewal::renewal(model, a, calls.get(&a.id)))
        .filter(|r| [this, next].contains(&Quarter::containing(r.on)) || r.on < today)
        .collect();
    rows.sort_by_key(|r| (r.on, r.account_id));
    Ok(rows)
}

/// The quarters' rollups last computed, kept while their input is the same: the
/// simulation is the renewal forecast's costly part, and its input changes only when a
/// renewal's date, ARR, likelihood or call does. A pure function's result under a key
/// of all its input, so whichever node computes it computes the same.
#[derive(Default)]
pub struct QuarterMemo(std::sync::Mutex<Option<(u64, Vec<QuarterForecast>)>>);

impl QuarterMemo {
    fn get_or_compute(&self, key: u64, compute: impl FnOnce() -> Vec<QuarterForecast>) -> Vec<QuarterForecast> {
        if let Ok(kept) = self.0.lock()
            && let Some((k, value)) = kept.as_ref()
            && *k == key
        {
            return value.clone();
        }
        let value = compute();
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some((key, value.clone()));
        }
        value
    }
}

/// Everything the quarters' rollups are computed from.
fn memo_key(rows: &[RenewalForecast], kept: &laer_core::forecast::churn::KeptChange, this: Quarter) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    this.to_string().hash(&mut h);
    kept.mean.to_bits().hash(&mut h);
    for p in &kept.percentiles {
        p.to_bits().hash(&mut h);
    }
    for r in rows {
        (r.account_id, r.on, r.renewable_arr.ten_thousandths()).hash(&mut h);
        (r.likelihood.to_bits(), r.expected_arr.to_bits(), r.category).hash(&mut h);
        r.call
            .as_ref()
            .map(|c| (c.category, c.amount.ten_thousandths()))
            .hash(&mut h);
    }
    h.finish()
}

/// The forecast of this quarter and the next, and how the kept quarters did (and the
/// replayed ones, `replayed`); `memo` keeps the quarters' rollups between calls (the web
/// app's).
pub async fn renewal_outlook(
    store: &Store,
    model: &ChurnModel,
    replayed: Option<Backtest>,
    accounts: &[AccountSnapshot],
    today: NaiveDate,
    memo: Option<&QuarterMemo>,
) -> Result<RenewalOutlook, StoreError> {
    let rows = renewal_rows(store, model, accounts, today).await?;
    let this = Quarter::containing(today);
    // An overdue renewal counts in this quarter.
    let in_quarters: Vec<RenewalForecast> = rows
        .iter()
        .map(|r| RenewalForecast {
            on: r.on.max(this.first_day().unwrap_or(r.on)),
            ..r.clone()
        })
        .collect();
    let compute = || {
        [this, this.next()]
            .iter()
            .map(|q| renewal::quarter(*q, &in_quarters, &model.kept))
            .collect()
    };
    let quarters = match memo {
        Some(memo) => memo.get_or_compute(memo_key(&in_quarters, &model.kept, this), compute),
        None => compute(),
    };
    Ok(RenewalOutlook {
        today,
        quarters,
        renewals: rows,
        past: past_accuracy(store, today).await?,
        replayed,
        source: model.source.clone(),
    })
}

/// Each kept quarter that has closed by `today`, against the ARR its renewing accounts
/// had on the next quarter's first day; newest first.
pub async fn past_accuracy(store: &Store, today: NaiveDate) -> Result<Vec<Accuracy>, StoreError> {
    let kept = store.renewal_forecasts().await?;
    let closed: Vec<(Snapshot, NaiveDate)> = kept
        .into_iter()
        .filter_map(|s| {
            let end = Quarter::parse(&s.quarter)?.next().first_day()?;
            (end <= today).then_some((s, end))
        })
        .collect();
    if closed.is_empty() {
        return Ok(Vec::new());
    }
    let lines = store.revenue_lines().await?;
    let mut out: Vec<Accuracy> = closed
        .iter()
        .map(|(snapshot, end)| {
            let mrr = laer_core::retention::mrr_by_account(&lines, *end);
            renewal::accuracy(snapshot, |id| {
                mrr.get(&id).map_or(laer_core::Money::ZERO, |a| a.mrr.times(12))
            })
        })
        .collect();
    out.reverse();
    Ok(out)
}

/// Keeps this quarter's forecast as made today, unless one is kept already (by this node
/// or another); whether it kept one.
pub async fn keep_quarter_forecast(store: &Store, model_name: &str, today: NaiveDate) -> Result<bool, StoreError> {
    let quarter = Quarter::containing(today);
    if store
        .renewal_forecasts()
        .await?
        .iter()
        .any(|s| s.quarter == quarter.to_string())
    {
        return Ok(false);
    }
    let model = churn_model(store, model_name).await?;
    let accounts = accounts(store, today).await?;
    let rows: Vec<RenewalForecast> = renewal_rows(store, &model, &accounts, today)
        .await?
        .into_iter()
        .filter(|r| Quarter::containing(r.on) == quarter || r.on < today)
        .map(|r| RenewalForecast {
            on: r.on.max(today),
            ..r
        })
        .collect();
    let forecast = renewal::quarter(quarter, &rows, &model.kept);
    store
        .keep_renewal_forecast(&Snapshot {
            quarter: quarter.to_string(),
            taken_on: today,
            rows,
            forecast,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_keeps_a_rollup_while_its_input_is_the_same() {
        let memo = QuarterMemo::default();
        let computed = std::cell::Cell::new(0);
        let compute = || {
            computed.set(computed.get() + 1);
            Vec::new()
        };
        memo.get_or_compute(1, compute);
        memo.get_or_compute(1, compute);
        assert_eq!(computed.get(), 1);
        memo.get_or_compute(2, compute);
        assert_eq!(computed.get(), 2, "another input: computed again");
    }
}
