//! Views derived from the store that many pages share, computed once per store revision
//! and day: the account snapshots (portfolio, renewals) with their kept health, the
//! subscription lines (revenue), the phases (as kept for past days) and CSM coverage
//! the revenue page's NRR bridge groups by, and the revenue page's content itself. Every
//! use asks the store for its revisions (small reads), so a node never serves a view
//! older than the data; a change on any node shows on the next request. Health has a
//! revision of its own: it changes every time the engine keeps new scores, which should
//! not reload the contracts, and the accounts it kept are read again, not every account.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use laer_app::past_phases::PastPhases;
use laer_core::bridge::{CoverageHistory, Quarter};
use laer_core::health::HealthModel;
use laer_core::model::TeamRole;
use laer_core::portfolio::{AccountSnapshot, HealthBrief};
use laer_core::retention::RevenueLine;
use laer_store::{Accounts, HealthChanges, Store, StoreError};
use tokio::sync::Mutex;

#[derive(Default)]
pub(crate) struct PageCache {
    snapshots: Mutex<Option<Cached<Vec<AccountSnapshot>>>>,
    with_health: Mutex<Option<Merged>>,
    lines: Mutex<Option<Cached<Vec<RevenueLine>>>>,
    past_phases: Mutex<Option<Cached<PastPhases, (i64, i64)>>>,
    csm_coverage: Mutex<Option<Cached<CoverageHistory>>>,
    /// The revenue page's content, by the portfolio's and the kept phases' revisions.
    revenue: Mutex<Option<Cached<maud::Markup, (i64, i64)>>>,
    /// The revenue page's NRR bridges, by the same revisions (the drill-downs list them).
    bridges: Mutex<Option<Cached<super::revenue::Bridges, (i64, i64)>>>,
    /// The renewal forecast's quarters, kept while their input is the same.
    pub(crate) renewal_quarters: laer_app::forecast::QuarterMemo,
    /// The account page's reads under way, shared by those asking at once (not kept).
    pub(crate) accounts: super::coalesce::Coalesce<(i64, NaiveDate), super::account::AccountReads>,
}

/// The snapshots with health, what they were made of, and the health revision and day
/// that health is of.
struct Merged {
    snapshots: Arc<Vec<AccountSnapshot>>,
    health: HashMap<i64, HealthBrief>,
    revision: i64,
    day: NaiveDate,
    value: Arc<Vec<AccountSnapshot>>,
}

/// A view, and the store revision (or revisions) and day it was made for.
struct Cached<T, R = i64> {
    revision: R,
    day: NaiveDate,
    value: Arc<T>,
}

impl PageCache {
    /// Every account as of `today`, with its latest kept health. When the engine has kept
    /// new health, only the accounts it saved since are read again
    /// ([`Store::health_changes`]): while events stream in it saves several times a second.
    pub(crate) async fn snapshots(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<Vec<AccountSnapshot>>, StoreError> {
        let portfolio = store.portfolio_revision().await?;
        let snapshots = current(&self.snapshots, portfolio, today, || store.account_snapshots(today)).await?;
        // Held while reading: concurrent requests wait for one read.
        let mut kept = self.with_health.lock().await;
        let changes = match kept.as_ref().filter(|m| m.day == today) {
            Some(m) => store.health_changes(m.revision).await?,
            None => HealthChanges {
                revision: store.health_revision().await?,
                accounts: None,
            },
        };
        match (kept.as_mut(), changes.accounts) {
            (Some(m), Some(changed)) if m.day == today => {
                if !changed.is_empty() {
                    let briefs = store.health_briefs_of(today, Accounts::Only(&changed)).await?;
                    for id in &changed {
                        match briefs.get(id) {
                            Some(b) => m.health.insert(*id, b.clone()),
                            None => m.health.remove(id),
                        };
                    }
                }
                m.revision = changes.revision;
                if Arc::ptr_eq(&m.snapshots, &snapshots) {
                    if changed.is_empty() {
                        return Ok(m.value.clone());
                    }
                    // Copies the accounts only if a page still holds them.
                    laer_core::portfolio::patch_health(
                        Arc::<Vec<AccountSnapshot>>::make_mut(&mut m.value),
                        &m.health,
                        &changed,
                    );
                } else {
                    m.value = Arc::new(laer_core::portfolio::with_health(&snapshots, &m.health));
                    m.snapshots = snapshots;
                }
                Ok(m.value.clone())
            }
            _ => {
                let health = store.health_briefs(today).await?;
                let value = Arc::new(laer_core::portfolio::with_health(&snapshots, &health));
                *kept = Some(Merged {
                    snapshots,
                    health,
                    revision: changes.revision,
                    day: today,
                    value: value.clone(),
                });
                Ok(value)
            }
        }
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

    /// Every customer's phase on the first day of each of `quarters` (the revenue page's
    /// NRR bridge), as kept in the store ([`laer_app::past_phases`]): a past day's phase is
    /// assessed once, not after every write. Read again when the kept phases or the
    /// portfolio move.
    pub(crate) async fn past_phases(
        &self,
        store: &Store,
        model: &HealthModel,
        quarters: &[Quarter],
        lines: &[RevenueLine],
        today: NaiveDate,
    ) -> Result<Arc<PastPhases>, StoreError> {
        current(&self.past_phases, revenue_revisions(store).await?, today, || {
            laer_app::past_phases::past_phases(store, model, quarters, lines, today)
        })
        .await
    }

    /// The revenue page's content as of `today`, made by `build` when the portfolio (its
    /// lines, accounts, coverage, exchange rates) or the kept phases moved: the months'
    /// movements, the segments and the bridges are computed once per change, not per
    /// request.
    pub(crate) async fn revenue_page<F, Fut>(
        &self,
        store: &Store,
        today: NaiveDate,
        build: F,
    ) -> Result<Arc<maud::Markup>, super::PageError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<maud::Markup, super::PageError>>,
    {
        current(&self.revenue, revenue_revisions(store).await?, today, build).await
    }

    /// The revenue page's NRR bridges as of `today`, made by `build` when the portfolio
    /// or the kept phases moved: the page and each drill-down into them share one
    /// computation per change.
    pub(crate) async fn revenue_bridges<F, Fut>(
        &self,
        store: &Store,
        today: NaiveDate,
        build: F,
    ) -> Result<Arc<super::revenue::Bridges>, super::PageError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<super::revenue::Bridges, super::PageError>>,
    {
        current(&self.bridges, revenue_revisions(store).await?, today, build).await
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

/// What the revenue page's views are made of: the portfolio's revision and the kept
/// phases'.
async fn revenue_revisions(store: &Store) -> Result<(i64, i64), StoreError> {
    tokio::try_join!(store.portfolio_revision(), store.past_phases_revision())
}

/// The view in `slot` if the store's `revision` and the day are still those it was made
/// for; else `load`s it again.
async fn current<T, R: PartialEq, E, F, Fut>(
    slot: &Mutex<Option<Cached<T, R>>>,
    revision: R,
    today: NaiveDate,
    load: F,
) -> Result<Arc<T>, E>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
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
