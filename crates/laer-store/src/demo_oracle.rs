//! The demo company's oracle (migration 0037): each renewal decision of its simulated
//! customers and the true chance that the customer would leave there, which only the
//! generator knows. The churn forecast's validation scores itself against it beside the
//! oracle's own score (docs/forecasts.md). Written by `laer demo` only.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::decode::Column;
use crate::exec::{Params, params};
use crate::{Store, StoreError};
use laer_core::retention::day_number;

impl Store {
    /// Replaces the oracle with `decisions`: (account id, day of the decision, true chance
    /// of churn there, between 0 and 1).
    pub async fn save_demo_oracle(&self, decisions: &[(i64, NaiveDate, f64)]) -> Result<(), StoreError> {
        if let Some((_, _, p)) = decisions.iter().find(|(_, _, p)| !(0.0..=1.0).contains(p)) {
            return Err(StoreError::Refused {
                field: "churn_probability".into(),
                message: format!("{p} is not a probability between 0 and 1."),
            });
        }
        let mut tx = self.begin_write().await?;
        tx.execute("DELETE FROM demo_oracle", params![]).await?;
        for chunk in decisions.chunks(500) {
            let sql = format!(
                "INSERT INTO demo_oracle (account_id, decided_on, churn_probability) VALUES {}",
                crate::exec::tuples(chunk.len(), 3)
            );
            let mut p = Params::with_capacity(chunk.len() * 3);
            for (account_id, on, chance) in chunk {
                p.push(*account_id);
                p.push(day_number(*on));
                p.push(*chance);
            }
            tx.execute(&sql, p).await?;
        }
        tx.commit().await
    }

    /// The oracle's decisions per account, by day; empty outside the demo.
    pub async fn demo_oracle(&self) -> Result<HashMap<i64, Vec<(NaiveDate, f64)>>, StoreError> {
        let rows: Vec<(i64, i64, f64)> = self
            .fetch_all(
                "SELECT account_id, decided_on, churn_probability FROM demo_oracle ORDER BY account_id, decided_on",
                params![],
            )
            .await?;
        let mut out: HashMap<i64, Vec<(NaiveDate, f64)>> = HashMap::new();
        for (account_id, on, chance) in rows {
            out.entry(account_id)
                .or_default()
                .push((Column("demo_oracle", "decided_on").day(on)?, chance));
        }
        Ok(out)
    }
}
