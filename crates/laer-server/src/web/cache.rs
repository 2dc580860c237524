//! Views derived from the store that many pages share, computed once per store revision
//! and day: the account snapshots (portfolio, renewals) with their kept health, the
//! subscription lines (revenue), and the phases and CSM coverage the revenue page's NRR
//! bridge groups by. Every use asks the store for its revisions (small
//! reads), so a node never serves a view older than the data; a change on any node shows
//! on the next request. Health has a revision of its own: it changes every time the
//! engine keeps new scores, which should not reload the contracts.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use laer_core::bridge::{CoverageHistory, PhasesByDay, Quarter};
use laer_core::health::HealthModel;
use laer_core::model::TeamRole;
use laer_core::portfolio::{AccountSnapshot, HealthBrief};
use laer_core::retention::RevenueLine;
use laer_store::{Store, StoreError};
use tokio::sync::Mutex;

#[derive(Default)]
pub(crate) struct PageCache {
    snapshots: Mutex<Option<Cached<Vec<AccountSnapshot>>>>,
    health: Mutex<Option<Cached<HashMap<i64, HealthBrief>>>>,
    with_health: Mutex<Option<Merged>>,
    lines: Mutex<Option<Cached<Vec<RevenueLine>>>>,
    quarter_phases: Mutex<Option<Cached<PhasesByDay>>>,
    csm_coverage: Mutex<Option<Cached<CoverageHistory>>>,
    /// The renewal forecast's quarters, kept while their input is the same.
    pub(crate) renewal_quarters: laer_app::forecast::QuarterMemo,
    /// The account page's reads under way, shared by those asking at once (not kept).
    pub(crate) accounts: super::coalesce::Coalesce<(i64, NaiveDate), super::account::AccountReads>,
}

/// The snapshots with health, and the two views they were made of.
struct Merged {
    snapshots: Arc<Vec<AccountSnapshot>>,
    health: Arc<HashMap<i64, HealthBrief>>,
    value: Arc<Vec<AccountSnapshot>>,
}

struct Cached<T> {
    revision: i64,
    day: NaiveDate,
    value: Arc<T>,
}

impl PageCache {
    /// Every account as of `today`, with its latest kept health.
    pub(crate) async fn snapshots(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<Vec<AccountSnapshot>>, StoreError> {
        let portfolio = store.portfolio_revision().await?;
        let snapshots = current(&self.snapshots, portfolio, today, || store.account_snapshots(today)).await?;
        let revision = store.health_revision().await?;
        let health = current(&self.health, revision, today, || store.health_briefs(today)).await?;
        let mut merged = self.with_health.lock().await;
        if let Some(m) = merged
            .as_ref()
            .filter(|m| Arc::ptr_eq(&m.snapshots, &snapshots) && Arc::ptr_eq(&m.health, &health))
        {
            return Ok(m.value.clone());
        }
        let value: Arc<Vec<AccountSnapshot>> = Arc::new(laer_core::portfolio::with_health(&snapshots, &health));
        *merged = Some(Merged {
            snapshots,
            health,
            value: value.clone(),
        });
        Ok(value)
    }

    /// Every subscription line, sorted by account.
    pub(crate) async fn revenue_lines(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<Vec<RevenueLine>>, StoreError> {
        let revision = store.portfolio_revision().await?;
        current(&self.lines, revision, today, || store.revenue_lines()).await
    }

    /// Every account's phase on the first day of each of `quarters`, which must follow
    /// from `today` (the revenue page's NRR bridge: the last whole quarters). Assessing a
    /// day costs as much as a full health recompute, so the phases are kept per
    /// portfolio revision and day, not per health revision, which every tracked event
    /// moves: they are phases of past days, which events arriving now do not change. An
    /// import of past events, or a phase set by hand, shows in them when contracts or
    /// coverage next change, or the next day.
    pub(crate) async fn quarter_phases(
        &self,
        store: &Store,
        model: &HealthModel,
        quarters: &[Quarter],
        today: NaiveDate,
    ) -> Result<Arc<PhasesByDay>, StoreError> {
        let revision = store.portfolio_revision().await?;
        current(&self.quarter_phases, revision, today, || {
            laer_app::reports::phases_on(store, model, quarters)
        })
        .await
    }

    /// Who covered which account as its CSM, and when.
    pub(crate) async fn csm_coverage(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<CoverageHistory>, StoreError> {
        let revision = store.portfolio_revision().await?;
        current(&self.csm_coverage, revision, today, || async {
            Ok(CoverageHistory::new(store.coverage_history(TeamRole::Csm).await?))
        })
        .await
    }
}

/// The view in `slot` if the store's `revision` and the day are still those it was made
/// for; else `load`s it again.
async fn current<T, F, Fut>(
    slot: &Mutex<Option<Cached<T>>>,
    revision: i64,
    today: NaiveDate,
    load: F,
) -> Result<Arc<T>, StoreError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    // Held while loading: concurrent requests wait for one load.
    let mut slot = slot.lock().await;
    if let Some(c) = slot.as_ref().filter(|c| c.revision == revision && c.day == today) {
        return Ok(c.value.clone());
    }
    let value = Arc::new(load().await?);
    *slot = Some(Cached {
        revision,
        day: today,
        value: value.clone(),
    });
    Ok(value)
}
