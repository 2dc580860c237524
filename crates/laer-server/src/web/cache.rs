//! Views derived from the store that many pages share, computed once per store revision
//! and day: the account snapshots (portfolio, renewals) with their kept health, the
//! subscription lines (revenue), the phases (as kept for past days) and CSM coverage
//! the revenue page's NRR bridge groups by, and the revenue page's content itself. Every
//! use asks the store for its revisions (small reads), so a node never serves a view
//! older than the data; a change on any node shows on the next request. Health has a
//! revision of its own: it changes every time the engine keeps new scores, which should
//! not reload the contracts. Health, the portfolio and the kept past phases list the
//! accounts each change touched ([`Store::changes`]): the health, snapshots, lines,
//! coverage and kept phases of those accounts are read again, not every account's.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use laer_app::past_phases::PastPhases;
use laer_core::bridge::{CoverageHistory, PhasesByDay, Quarter};
use laer_core::health::HealthModel;
use laer_core::model::TeamRole;
use laer_core::portfolio::{AccountSnapshot, HealthBrief};
use laer_core::retention::RevenueLine;
use laer_store::{Accounts, KeptPhases, Listed, Store, StoreError};
use tokio::sync::Mutex;

#[derive(Default)]
pub(crate) struct PageCache {
    snapshots: Mutex<Option<Merged>>,
    lines: Mutex<Option<Cached<Vec<RevenueLine>>>>,
    past_phases: Mutex<Option<Cached<PastPhases, (i64, i64)>>>,
    kept_phases: Mutex<Option<KeptDays>>,
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

/// Every account's snapshot with its kept health, the health it was merged with, and the
/// portfolio and health revisions and the day they are of.
struct Merged {
    portfolio: i64,
    health_revision: i64,
    day: NaiveDate,
    health: HashMap<i64, HealthBrief>,
    value: Arc<Vec<AccountSnapshot>>,
}

/// The phases kept for some days under some rules, as the store has them at a revision
/// of the kept phases.
struct KeptDays {
    revision: i64,
    rules: String,
    days: Vec<NaiveDate>,
    phases: PhasesByDay,
}

/// A view, and the store revision (or revisions) and day it was made for.
struct Cached<T, R = i64> {
    revision: R,
    day: NaiveDate,
    value: Arc<T>,
}

impl PageCache {
    /// Every account as of `today`, with its latest kept health. When the portfolio or
    /// health moved, only the accounts changed since are read again
    /// ([`Store::changes`]): while events stream in the engine saves health several times a
    /// second, and a contract or an owner changes one account.
    pub(crate) async fn snapshots(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<Vec<AccountSnapshot>>, StoreError> {
        // Held while reading: concurrent requests wait for one read.
        let mut kept = self.snapshots.lock().await;
        let Some(m) = kept.as_mut().filter(|m| m.day == today) else {
            // The revisions first: what is read after is at least as new.
            let (portfolio, health_revision) =
                tokio::try_join!(store.revision(Listed::Portfolio), store.revision(Listed::Health))?;
            let (snapshots, health) = tokio::try_join!(store.account_snapshots(today), store.health_briefs(today))?;
            let value = Arc::new(laer_core::portfolio::with_health(&snapshots, &health));
            *kept = Some(Merged {
                portfolio,
                health_revision,
                day: today,
                health,
                value: value.clone(),
            });
            return Ok(value);
        };
        let (portfolio, health) = tokio::try_join!(
            store.changes(Listed::Portfolio, m.portfolio),
            store.changes(Listed::Health, m.health_revision)
        )?;
        // Health first: snapshots read again take the health kept now.
        match &health.accounts {
            None => m.health = store.health_briefs(today).await?,
            Some(changed) if !changed.is_empty() => {
                let briefs = store.health_briefs_of(today, Accounts::Only(changed)).await?;
                for id in changed {
                    match briefs.get(id) {
                        Some(b) => m.health.insert(*id, b.clone()),
                        None => m.health.remove(id),
                    };
                }
            }
            Some(_) => {}
        }
        match portfolio.accounts {
            None => {
                let snapshots = store.account_snapshots(today).await?;
                m.value = Arc::new(laer_core::portfolio::with_health(&snapshots, &m.health));
            }
            Some(changed) => {
                if !changed.is_empty() {
                    let fresh = store.account_snapshots_of(today, Accounts::Only(&changed)).await?;
                    let fresh = laer_core::portfolio::with_health(&fresh, &m.health);
                    // Copies the accounts only if a page still holds them.
                    let value = Arc::make_mut(&mut m.value);
                    laer_core::portfolio::replace_accounts(value, &changed, fresh, |a| a.id);
                }
                match health.accounts {
                    None => m.value = Arc::new(laer_core::portfolio::with_health(&m.value, &m.health)),
                    Some(changed) if !changed.is_empty() => laer_core::portfolio::patch_health(
                        Arc::<Vec<AccountSnapshot>>::make_mut(&mut m.value),
                        &m.health,
                        &changed,
                    ),
                    Some(_) => {}
                }
            }
        }
        m.portfolio = portfolio.revision;
        m.health_revision = health.revision;
        Ok(m.value.clone())
    }

    /// Every subscription line, sorted by account; when the portfolio moved, the lines of
    /// the accounts changed since are read again.
    pub(crate) async fn revenue_lines(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<Vec<RevenueLine>>, StoreError> {
        patched(
            &self.lines,
            store,
            today,
            || store.revenue_lines(),
            |changed| async move {
                let fresh = store.revenue_lines_of(Accounts::Only(&changed)).await?;
                Ok(move |lines: &mut Vec<RevenueLine>| {
                    laer_core::portfolio::replace_accounts(lines, &changed, fresh, |l| l.account_id)
                })
            },
        )
        .await
    }

    /// Every customer's phase on the first day of each of `quarters` (the revenue page's
    /// NRR bridge), as kept in the store ([`laer_app::past_phases`]): a past day's phase is
    /// assessed once, not after every write. Made again when the kept phases or the
    /// portfolio move, of the lines read once those revisions are known, so that it is
    /// never kept under a revision newer than the lines it was made of.
    pub(crate) async fn past_phases(
        &self,
        store: &Store,
        model: &HealthModel,
        quarters: &[Quarter],
        today: NaiveDate,
    ) -> Result<Arc<PastPhases>, StoreError> {
        current(&self.past_phases, revenue_revisions(store).await?, today, || async {
            let lines = self.revenue_lines(store, today).await?;
            let lines = lines.as_slice();
            let days = laer_app::past_phases::first_days(quarters);
            let rules = model.phase_key();
            let kept = self.kept_phases(store, &rules, &days).await?;
            laer_app::past_phases::complete(store, model, &days, lines, today, kept).await
        })
        .await
    }

    /// The phases kept under `rules` for `days`, as the store has them: when its kept
    /// phases moved, those of the accounts listed since are read again
    /// ([`Store::changes`]); a contract written marks its account, and the engine assesses
    /// that account's days again, which changes no other account's.
    async fn kept_phases(&self, store: &Store, rules: &str, days: &[NaiveDate]) -> Result<KeptPhases, StoreError> {
        let mut slot = self.kept_phases.lock().await;
        if let Some(k) = slot.as_mut().filter(|k| k.rules == rules && k.days == days) {
            let changes = store.changes(Listed::PastPhases, k.revision).await?;
            if let Some(changed) = changes.accounts {
                let fresh = store.kept_phases_of(rules, days, Accounts::Only(&changed)).await?;
                laer_core::bridge::replace_phases(&mut k.phases, &changed, fresh.phases);
                k.revision = changes.revision;
                return Ok(KeptPhases {
                    phases: k.phases.clone(),
                    stale: fresh.stale,
                });
            }
        }
        // The revision first: what is read after is at least as new.
        let revision = store.revision(Listed::PastPhases).await?;
        let kept = store.kept_phases(rules, days).await?;
        *slot = Some(KeptDays {
            revision,
            rules: rules.to_string(),
            days: days.to_vec(),
            phases: kept.phases.clone(),
        });
        Ok(kept)
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

    /// Who covered which account as its CSM, and when; when the portfolio moved, the
    /// coverage of the accounts changed since is read again.
    pub(crate) async fn csm_coverage(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<CoverageHistory>, StoreError> {
        patched(
            &self.csm_coverage,
            store,
            today,
            || async { Ok(CoverageHistory::new(store.coverage_history(TeamRole::Csm).await?)) },
            |changed| async move {
                let fresh = store
                    .coverage_history_of(TeamRole::Csm, Accounts::Only(&changed))
                    .await?;
                Ok(move |history: &mut CoverageHistory| history.replace(&changed, fresh))
            },
        )
        .await
    }
}

/// What the revenue page's views are made of: the portfolio's revision and the kept
/// phases'.
async fn revenue_revisions(store: &Store) -> Result<(i64, i64), StoreError> {
    tokio::try_join!(store.portfolio_revision(), store.past_phases_revision())
}

/// The view in `slot`, made of the portfolio (by account), brought up to the portfolio's
/// revision: if the accounts changed since it was made are listed ([`Store::changes`]),
/// `patch` reads theirs again and gives what replaces them in the view; else (or on
/// another day) `load` reads it all again.
async fn patched<T, L, LF, P, PF, A>(
    slot: &Mutex<Option<Cached<T>>>,
    store: &Store,
    today: NaiveDate,
    load: L,
    patch: P,
) -> Result<Arc<T>, StoreError>
where
    T: Clone,
    L: FnOnce() -> LF,
    LF: std::future::Future<Output = Result<T, StoreError>>,
    P: FnOnce(Vec<i64>) -> PF,
    PF: std::future::Future<Output = Result<A, StoreError>>,
    A: FnOnce(&mut T),
{
    // Held while reading: concurrent requests wait for one read.
    let mut slot = slot.lock().await;
    if let Some(c) = slot.as_mut().filter(|c| c.day == today) {
        let changes = store.changes(Listed::Portfolio, c.revision).await?;
        if let Some(changed) = changes.accounts {
            if !changed.is_empty() {
                let apply = patch(changed).await?;
                // Copies the view only if a page still holds it.
                apply(Arc::make_mut(&mut c.value));
            }
            c.revision = changes.revision;
            return Ok(c.value.clone());
        }
    }
    // The revision first: what is read after is at least as new.
    let revision = store.revision(Listed::Portfolio).await?;
    let value = Arc::new(load().await?);
    *slot = Some(Cached {
        revision,
        day: today,
        value: value.clone(),
    });
    Ok(value)
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
