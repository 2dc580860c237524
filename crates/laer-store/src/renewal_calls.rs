//! The renewal forecast's records (migration 0038): the owner's call on a renewal — a
//! category and an amount with why, one per account and renewal date, audited
//! (`renewal_call.set`) — and each quarter's forecast as made at its start, kept once (the
//! first node to take it wins; the others' are dropped) to be compared with what
//! happened once the quarter has closed (docs/forecasts.md).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use laer_core::Money;
use laer_core::forecast::renewal::{Call, Category, Snapshot};
use laer_core::retention::day_number;

use crate::decode::Column;
use crate::exec::params;
use crate::write::audit;
use crate::{Store, StoreError};

/// The longest reason kept with a call.
pub const MAX_CALL_REASON_CHARS: usize = 2_000;

impl Store {
    /// Sets the owner's call on `account_id`'s renewal of `renewal_date`, replacing an
    /// earlier one for that date; audited with the reason. A call needs a reason and an
    /// amount of at least 0.
    pub async fn set_renewal_call(
        &self,
        account_id: i64,
        renewal_date: NaiveDate,
        category: Category,
        amount: Money,
        reason: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Refused {
                field: "reason".into(),
                message: "Say why: the call goes to the audit log.".into(),
            });
        }
        if reason.chars().count() > MAX_CALL_REASON_CHARS {
            return Err(StoreError::Refused {
                field: "reason".into(),
                message: format!("A reason has at most {MAX_CALL_REASON_CHARS} characters."),
            });
        }
        if amount < Money::ZERO {
            return Err(StoreError::Refused {
                field: "amount".into(),
                message: "The amount is the ARR expected to renew: 0 or more.".into(),
            });
        }
        let mut tx = self.begin_write().await?;
        let exists: Option<(i64,)> = tx
            .fetch_optional("SELECT id FROM accounts WHERE id = $1", params![account_id])
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        tx.execute(
            "INSERT INTO renewal_calls (account_id, renewal_date, category, amount, reason, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, renewal_date) DO UPDATE SET \
             category = excluded.category, amount = excluded.amount, reason = excluded.reason, \
             set_by = excluded.set_by, set_at = excluded.set_at",
            params![
                account_id,
                day_number(renewal_date),
                category.as_str(),
                amount.ten_thousandths(),
                reason,
                actor,
                Utc::now().timestamp_micros()
            ],
        )
        .await?;
        tx.append_audit(&audit(
            actor,
            "renewal_call.set",
            serde_json::json!({
                "account_id": account_id,
                "renewal_date": renewal_date,
                "category": category.as_str(),
                "amount": amount.to_string(),
                "reason": reason,
            }),
        ))
        .await?;
        tx.commit().await
    }

    /// Every account's latest call, with the renewal date it was made for.
    pub async fn renewal_calls(&self) -> Result<HashMap<i64, (NaiveDate, Call)>, StoreError> {
        let rows: Vec<(i64, i64, String, i64, String, String, i64)> = self
            .fetch_all(
                "SELECT account_id, renewal_date, category, amount, reason, set_by, set_at FROM renewal_calls \
                 ORDER BY account_id, renewal_date",
                params![],
            )
            .await?;
        let column = |name| Column("renewal_calls", name);
        let mut out = HashMap::new();
        for (account_id, on, category, amount, reason, set_by, set_at) in rows {
            let call = Call {
                category: column("category").parsed(&category)?,
                amount: Money::from_ten_thousandths(amount),
                reason,
                set_by,
                set_at: DateTime::from_timestamp_micros(set_at).unwrap_or_default(),
            };
            // Ordered by date: the latest renewal's call stays.
            out.insert(account_id, (column("renewal_date").day(on)?, call));
        }
        Ok(out)
    }

    /// Keeps `snapshot` as its quarter's forecast unless one is kept already; whether it
    /// was kept. Safe on several nodes at once: one snapshot per quarter.
    pub async fn keep_renewal_forecast(&self, snapshot: &Snapshot) -> Result<bool, StoreError> {
        let json = serde_json::to_string(snapshot).map_err(|e| StoreError::Refused {
            field: "snapshot".into(),
            message: e.to_string(),
        })?;
        let mut tx = self.begin_write().await?;
        let written = tx
            .execute(
                "INSERT INTO renewal_forecasts (quarter, taken_on, snapshot) VALUES ($1, $2, $3) \
                 ON CONFLICT (quarter) DO NOTHING",
                params![snapshot.quarter.as_str(), day_number(snapshot.taken_on), json],
            )
            .await?;
        tx.commit().await?;
        Ok(written > 0)
    }

    /// The kept quarters' forecasts, oldest first.
    pub async fn renewal_forecasts(&self) -> Result<Vec<Snapshot>, StoreError> {
        let rows: Vec<(String,)> = self
            .fetch_all("SELECT snapshot FROM renewal_forecasts ORDER BY quarter", params![])
            .await?;
        rows.into_iter()
            .map(|(json,)| Column("renewal_forecasts", "snapshot").json(&json))
            .collect()
    }
}
