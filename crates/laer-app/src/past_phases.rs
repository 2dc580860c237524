//! Phases on past days, kept once (issue 20): the NRR bridge groups each quarter's
//! accounts by their phase on its first day. Assessing a day costs a full health
//! recompute, so each day is assessed once, kept in the store
//! ([`laer_store::KeptPhases`]), and read from there. A write to an account's history
//! marks it; the health engine assesses its kept days again ([`refresh`]), and until then
//! its phase is read as last kept (the page says how many wait). The engine keeps the
//! days the revenue page shows ahead of the first request ([`keep_shown`]).

use chrono::NaiveDate;
use laer_core::bridge::{PhasesByDay, Quarter, begun_quarters};
use laer_core::health::HealthModel;
use laer_core::lifecycle::Phase;
use laer_core::retention::{RevenueLine, day_number};
use laer_store::{Accounts, KeptPhases, Store, StoreError};

/// Every account's phase on some days, and how many accounts' phases wait to be
/// assessed again after a change to their history.
#[derive(Debug, Clone, Default)]
pub struct PastPhases {
    pub phases: PhasesByDay,
    pub stale: i64,
}

/// How many marked accounts the engine assesses again per pass.
const REFRESH_BATCH: i64 = 2_000;

/// Each customer's phase on the first day of each of `quarters` as `model`'s rules gave
/// it, read from what is kept. A day never kept is assessed now and kept; customers on a
/// kept day without a phase (added since, with contracts back then) are assessed and
/// kept too. Accounts that were not customers on a day need no phase: the bridge places
/// them ([`laer_core::bridge`]). `lines` are every subscription line, sorted by account.
///
/// Only days before `today` are past and kept: a day under way (or to come) is assessed
/// on each call, so that its own events never mark what is kept. (The revenue page never
/// asks for today: a quarter beginning today has nothing to bridge until tomorrow.)
pub async fn past_phases(
    store: &Store,
    model: &HealthModel,
    quarters: &[Quarter],
    lines: &[RevenueLine],
    today: NaiveDate,
) -> Result<PastPhases, StoreError> {
    let days = first_days(quarters);
    let kept = store.kept_phases(&model.phase_key(), &days).await?;
    complete(store, model, &days, lines, today, kept).await
}

/// The first day of each of `quarters`: the days whose phases the bridge groups by.
pub fn first_days(quarters: &[Quarter]) -> Vec<NaiveDate> {
    quarters.iter().filter_map(|q| q.first_day()).collect()
}

/// [`past_phases`] of `days` from the phases `kept` under `model`'s rules (read from the
/// store, or kept in memory as the store has them): the days and customers missing are
/// assessed and kept.
pub async fn complete(
    store: &Store,
    model: &HealthModel,
    days: &[NaiveDate],
    lines: &[RevenueLine],
    today: NaiveDate,
    kept: KeptPhases,
) -> Result<PastPhases, StoreError> {
    let rules = model.phase_key();
    let mut phases = kept.phases;
    for &day in days.iter().filter(|day| **day >= today) {
        let assessed = assessed_phases(store, model, day, Accounts::All).await?;
        phases.insert(day, assessed.into_iter().collect());
    }
    for &day in days.iter().filter(|day| **day < today) {
        // The customers on the day (lines in account order) without a kept phase.
        let missing: Option<Vec<i64>> = phases.get(&day).map(|on_day| {
            let mut ids: Vec<i64> = lines
                .iter()
                .filter(|l| l.is_active_on(day) && !on_day.contains_key(&l.account_id))
                .map(|l| l.account_id)
                .collect();
            ids.dedup();
            ids
        });
        if missing.as_ref().is_some_and(Vec::is_empty) {
            continue;
        }
        // Read before assessing: a write after it marks what is kept below.
        let token = store.past_phases_token().await?;
        let accounts = missing.as_deref().map_or(Accounts::All, Accounts::Only);
        let rows = assessed_phases(store, model, day, accounts).await?;
        store.keep_phases(&rules, day, &rows, token).await?;
        phases.entry(day).or_default().extend(rows);
    }
    Ok(PastPhases {
        phases,
        stale: kept.stale,
    })
}

/// Keeps the phases of the days the revenue page shows on `today`, where not kept yet
/// (the engine, once a day, so that no request waits for them).
pub async fn keep_shown(store: &Store, model: &HealthModel, today: NaiveDate) -> Result<(), StoreError> {
    let lines = store.revenue_lines().await?;
    past_phases(store, model, &begun_quarters(today), &lines, today).await?;
    Ok(())
}

/// Assesses again the kept days of up to [`REFRESH_BATCH`] marked accounts, each from
/// the day its history changed on; returns how many were marked. A mark made meanwhile
/// stays for the next pass.
pub async fn refresh(store: &Store, model: &HealthModel) -> Result<usize, StoreError> {
    let marked = store.stale_phases(REFRESH_BATCH).await?;
    if marked.is_empty() {
        return Ok(0);
    }
    let rules = model.phase_key();
    for day in store.kept_phase_days(&rules).await? {
        let number = day_number(day);
        let ids: Vec<i64> = marked
            .iter()
            .filter(|m| m.since_day <= number)
            .map(|m| m.account_id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let rows = assessed_phases(store, model, day, Accounts::Only(&ids)).await?;
        store.refresh_phases(&rules, day, &rows).await?;
    }
    store.clear_stale_phases(&rules, &marked).await?;
    Ok(marked.len())
}

/// The chosen accounts' phases on `day`, assessed now.
async fn assessed_phases(
    store: &Store,
    model: &HealthModel,
    day: NaiveDate,
    accounts: Accounts<'_>,
) -> Result<Vec<(i64, Phase)>, StoreError> {
    let assessed = store.assess(model, day, accounts).await?;
    Ok(assessed.iter().map(|a| (a.account_id, a.phase.phase)).collect())
}
