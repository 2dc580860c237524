//! Whether every account's stored health is what its data says now: each account
//! assessed afresh (the shipped model, today, as `laer serve` assesses it) against the
//! health the nodes stored. An account rescored on data older than its last change, or
//! left marked and never rescored, shows as stale.

use std::time::{Duration, Instant};

use anyhow::Result;
use laer_core::health::HealthModel;
use laer_store::{Accounts, HealthRow, Store};

/// What the comparison found.
pub struct Freshness {
    /// Accounts assessed.
    pub accounts: usize,
    /// Accounts whose stored health differs from a fresh assessment (or is missing).
    pub stale: Vec<i64>,
    /// How long after the first comparison every account was current (`None`: not within
    /// the limit).
    pub after: Option<Duration>,
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9,
        (None, None) => true,
        _ => false,
    }
}

fn current(stored: Option<&HealthRow>, fresh: &laer_core::health::Assessment) -> bool {
    let Some(s) = stored else {
        return false;
    };
    let (p, q) = (&s.pillars, &fresh.health.pillars);
    s.day == fresh.as_of
        && close(s.score, fresh.health.score)
        && close(p.adoption, q.adoption)
        && close(p.experience, q.experience)
        && close(p.engagement, q.engagement)
        && close(p.transformation, q.transformation)
        && s.phase == fresh.phase.phase
}

/// Compares every account's stored health with a fresh assessment, once a second until
/// they all agree or `limit` has passed (a node may be between taking an account and
/// saving its health).
pub async fn wait_current(database: &str, limit: Duration) -> Result<Freshness> {
    let store = Store::open(database).await?;
    let model = HealthModel::default();
    let started = Instant::now();
    let outcome = loop {
        let today = chrono::Utc::now().date_naive();
        let fresh = store.assess(&model, today, Accounts::All).await?;
        let stored = store.latest_health(today).await?;
        let stale: Vec<i64> = fresh
            .iter()
            .filter(|a| !current(stored.get(&a.account_id), a))
            .map(|a| a.account_id)
            .collect();
        let elapsed = started.elapsed();
        if stale.is_empty() || elapsed >= limit {
            break Freshness {
                accounts: fresh.len(),
                after: stale.is_empty().then_some(elapsed),
                stale,
            };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    store.close().await;
    Ok(outcome)
}
