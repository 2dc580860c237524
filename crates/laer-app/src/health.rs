//! Health as the CLI, the API and the web pages serve it, and the engine that keeps it
//! current: it recomputes the accounts whose data changed within a second, every account
//! once a day, and backfills weekly history so that trends show from the start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta};
use laer_core::figures::AccountFigures;
use laer_core::health::changes_since;
use laer_core::health::score::DriverChange;
use laer_core::health::{AccountRecords, Assessment, HealthModel};
use laer_store::{Accounts, HealthClaim, KeptRecords, Store, StoreError};
use serde::{Deserialize, Serialize};

/// One account in `laer report health` and `GET /api/v1/accounts/{id}/health`.
#[derive(Debug, Clone, Serialize)]
pub struct AccountHealth {
    pub account_id: i64,
    pub external_id: String,
    pub name: Option<String>,
    pub as_of: NaiveDate,
    pub phase: laer_core::lifecycle::Phase,
    pub phase_reason: String,
    /// 0–100, rounded to one decimal; `null` without data to score.
    pub health: Option<f64>,
    /// The same, unrounded: what the pages show rounded once, as the lists do.
    #[serde(skip)]
    pub exact: Option<f64>,
    pub pillars: Pillars,
    pub quadrant: Option<laer_core::health::Quadrant>,
    pub engagement_multiplier: f64,
    pub drivers: Vec<DriverOut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pillars {
    pub adoption: Option<f64>,
    pub experience: Option<f64>,
    pub engagement: Option<f64>,
    pub transformation: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriverOut {
    pub measure: String,
    pub pillar: laer_core::health::Pillar,
    pub value: f64,
    /// The measure's own score, 0–100.
    pub score: f64,
    /// Points of the health score; the contributions add up to it.
    pub contribution: f64,
    /// Points it would bring at a perfect score.
    pub possible: f64,
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

impl AccountHealth {
    pub fn of(a: &Assessment, external_id: String, name: Option<String>) -> AccountHealth {
        let h = &a.health;
        AccountHealth {
            account_id: a.account_id,
            external_id,
            name,
            as_of: a.as_of,
            phase: a.phase.phase,
            phase_reason: a.phase.reason.clone(),
            health: h.score.map(|s| round(s, 1)),
            exact: h.score,
            pillars: Pillars {
                adoption: h.pillars.adoption.map(|s| round(s, 1)),
                experience: h.pillars.experience.map(|s| round(s, 1)),
                engagement: h.pillars.engagement.map(|s| round(s, 1)),
                transformation: h.pillars.transformation.map(|s| round(s, 1)),
            },
            quadrant: h.quadrant,
            engagement_multiplier: round(h.engagement_multiplier, 4),
            // Unrounded, so that they add up to the unrounded score.
            drivers: h
                .drivers
                .iter()
                .map(|d| DriverOut {
                    measure: d.measure.clone(),
                    pillar: d.pillar,
                    value: d.value,
                    score: d.score,
                    contribution: d.contribution,
                    possible: d.possible,
                })
                .collect(),
        }
    }
}

/// `laer report health`: every account's health as of a day.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub as_of: NaiveDate,
    pub model: String,
    pub accounts: Vec<AccountHealth>,
}

pub async fn report(store: &Store, model: &HealthModel, as_of: NaiveDate) -> Result<HealthReport, StoreError> {
    let assessments = store.assess(model, as_of, Accounts::All).await?;
    let mut names = store.account_names().await?;
    Ok(HealthReport {
        as_of,
        model: model.name.clone(),
        accounts: assessments
            .iter()
            .map(|a| {
                let n = names.remove(&a.account_id).unwrap_or_default();
                AccountHealth::of(a, n.external_id, n.name)
            })
            .collect(),
    })
}

/// One account's health today, and what moved since a week ago.
#[derive(Debug, Clone, Serialize)]
pub struct AccountHealthNow {
    #[serde(flatten)]
    pub health: AccountHealth,
    pub week_before: Option<f64>,
    /// What moved since a week ago: each measure's own move, in points
    /// ([`laer_core::health::score::changes`]).
    pub changes: Vec<DriverChange>,
    /// Active users, seats, utilisation and NPS with their windows, from the same
    /// signals as the drivers.
    pub figures: AccountFigures,
    /// What the churn forecast sees of the account today.
    #[serde(skip)]
    pub forecast: laer_core::forecast::churn::Features,
    /// Whether it is a customer today (has MRR): only a customer has a forecast.
    #[serde(skip)]
    pub customer: bool,
}

pub async fn account_now(
    store: &Store,
    model: &HealthModel,
    account_id: i64,
    today: NaiveDate,
) -> Result<Option<AccountHealthNow>, StoreError> {
    let Some(account) = store.account(account_id).await? else {
        return Ok(None);
    };
    let ids = [account_id];
    // Independent reads: at once, each on connections of its own.
    let (now, before) = tokio::try_join!(
        store.assess(model, today, Accounts::Only(&ids)),
        store.assess(model, today - TimeDelta::days(7), Accounts::Only(&ids)),
    )?;
    let (Some(now), before) = (now.into_iter().next(), before.into_iter().next()) else {
        return Ok(None);
    };
    Ok(Some(AccountHealthNow {
        week_before: before.as_ref().and_then(|b| b.health.score).map(|s| round(s, 1)),
        changes: before.map(|b| changes_since(model, &b, &now)).unwrap_or_default(),
        figures: now.figures(&model.windows),
        forecast: now.forecast_features(),
        customer: now.signals.get("mrr").is_some_and(|m| *m > 0.0),
        health: AccountHealth::of(&now, account.fields.external_id, account.fields.name),
    }))
}

/// How many weeks of history the engine fills in when health has none.
pub const BACKFILL_WEEKS: i64 = 12;
/// Above this many changed accounts, the engine recomputes them all in one pass.
const DIRTY_BATCH: i64 = 2_000;
/// How often the engine looks for changed accounts: an event's wait for its account's
/// score is at most this plus the pass. A look that finds none is one indexed read.
pub const ENGINE_TICK: Duration = Duration::from_millis(100);

/// Keeps health current until the task is dropped: recomputes changed accounts (and the
/// kept past phases of those whose history changed) every [`ENGINE_TICK`] and all accounts
/// when the day turns; meanwhile, in a task of its own so that changed accounts never
/// wait for it, keeps the past days' phases the revenue page shows, fills in weekly
/// history and validates the model.
pub async fn run_engine(store: Store, model: Arc<HealthModel>, today: fn() -> NaiveDate) {
    /// Aborts the slow work when the engine stops.
    struct Slow(tokio::task::JoinHandle<()>);
    impl Drop for Slow {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut computed_day: Option<NaiveDate> = None;
    // What the last full pass saw of the workspace: when it changes (the first use ever
    // tracked, a new feature), every account's health may change.
    let mut workspace = None;
    let mut slow: Option<Slow> = None;
    let mut kept = KeptRecords::default();
    let mut tick = tokio::time::interval(ENGINE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let day = today();
        let now = match store.workspace().await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("health: {e}");
                continue;
            }
        };
        let result = if computed_day != Some(day) || now != workspace {
            let done = recompute_all(&store, &model, day, &mut kept).await;
            if done.is_ok() {
                workspace = now;
            }
            if done.is_ok() {
                computed_day = Some(day);
                if slow.as_ref().is_none_or(|s| s.0.is_finished()) {
                    let (store, model) = (store.clone(), model.clone());
                    slow = Some(Slow(tokio::spawn(async move {
                        let started = std::time::Instant::now();
                        match history_and_accuracy(&store, &model, day).await {
                            Ok(()) => tracing::info!(
                                "the day's history and validation done in {} ms",
                                started.elapsed().as_millis()
                            ),
                            Err(e) => tracing::warn!("health history or validation: {e}"),
                        }
                    })));
                }
            }
            done
        } else {
            let started = std::time::Instant::now();
            let done = recompute_changed(&store, &model, day, &mut kept).await;
            // Past days' phases of accounts whose history changed.
            let refreshed = match crate::past_phases::refresh(&store, &model).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!("health: past phases: {e}");
                    0
                }
            };
            let accounts = *done.as_ref().unwrap_or(&0) + refreshed;
            tokio::time::sleep(rest_after(started.elapsed(), accounts)).await;
            done.map(drop)
        };
        if let Err(e) = result {
            tracing::warn!("health: {e}");
        }
    }
}

async fn recompute_all(
    store: &Store,
    model: &HealthModel,
    day: NaiveDate,
    kept: &mut KeptRecords,
) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    // Whatever is marked now is covered by this pass.
    let claims = claim_all(store, Vec::new()).await?;
    let assessments = rescore(store, model, day, Accounts::All, &claims, kept).await?;
    automate(store, &assessments).await;
    tracing::info!(
        "health of {} accounts computed in {} ms",
        assessments.len(),
        started.elapsed().as_millis()
    );
    Ok(())
}

/// Claims every account marked for rescoring, after `claims`.
async fn claim_all(store: &Store, mut claims: Vec<HealthClaim>) -> Result<Vec<HealthClaim>, StoreError> {
    const AT_ONCE: i64 = 100_000;
    loop {
        let claim = store.claim_health_dirty(AT_ONCE, chrono::Utc::now()).await?;
        let more = claim.accounts.len() as i64 == AT_ONCE;
        claims.push(claim);
        if !more {
            return Ok(claims);
        }
    }
}

/// Scores `accounts` from the records kept and saves their health, releasing the claimed
/// marks in the same transaction; if scoring or saving failed, sets them again for the
/// next tick. (Should this node die first, the claims lapse and another node rescores
/// them.)
async fn rescore(
    store: &Store,
    model: &HealthModel,
    day: NaiveDate,
    accounts: Accounts<'_>,
    claims: &[HealthClaim],
    kept: &mut KeptRecords,
) -> Result<Vec<Assessment>, StoreError> {
    let saved = async {
        let read_at = chrono::Utc::now();
        let assessments = kept.assess(store, model, day, accounts).await?;
        store.save_health_releasing(&assessments, read_at, claims).await?;
        Ok::<_, StoreError>(assessments)
    }
    .await;
    if saved.is_err() {
        for claim in claims {
            if let Err(e) = store.mark_health_dirty(&claim.accounts).await {
                tracing::warn!("health: the claimed accounts stay claimed until the claim lapses: {e}");
            }
        }
    }
    saved
}

/// The phases of the past days the revenue page shows, weekly history where there is none
/// yet, and the model's accuracy when last measured a week or more ago.
async fn history_and_accuracy(store: &Store, model: &HealthModel, day: NaiveDate) -> Result<(), StoreError> {
    // First the phases the revenue page's bridges group by, so that no request waits;
    // should that fail, a request keeps them, and the rest goes on.
    let started = std::time::Instant::now();
    match crate::past_phases::keep_shown(store, model, day).await {
        Ok(()) => tracing::info!(
            "phases of the revenue page's past days kept in {} ms",
            started.elapsed().as_millis()
        ),
        Err(e) => tracing::warn!("health: keeping past phases: {e}"),
    }
    let kept: HashMap<NaiveDate, i64> = store
        .health_days()
        .await?
        .into_iter()
        .map(|d| (d.day, d.accounts))
        .collect();
    for week in 1..=BACKFILL_WEEKS {
        let past = day - TimeDelta::days(7 * week);
        if kept.get(&past).copied().unwrap_or(0) == 0 {
            let read_at = chrono::Utc::now();
            let assessments = store.assess(model, past, Accounts::All).await?;
            store.save_health(&assessments, read_at).await?;
        }
    }
    // A report kept before the churn forecast and the renewal backtest were made with it
    // is stale too.
    let stale = match store.validation_of(&model.name).await? {
        Some(v) => {
            (chrono::Utc::now() - v.computed_at).num_days() >= VALIDATION_DAYS
                || v.report.get("forecast").is_none()
                || v.report.get("renewal_backtest").is_none()
        }
        None => true,
    };
    // The quarter's renewal forecast as made at its start: kept once, by the first node
    // to get here in the quarter.
    if crate::forecast::keep_quarter_forecast(store, &model.name, day).await? {
        tracing::info!(
            "renewal forecast of {} kept",
            laer_core::bridge::Quarter::containing(day)
        );
    }
    if stale {
        let horizon = laer_core::health::outcome::HORIZON_DAYS;
        let days = replay_days(store, model, day, horizon).await?;
        if !days.is_empty() {
            let started = std::time::Instant::now();
            let report = validation(store, model, &days, day, horizon).await?;
            tracing::info!(
                "health model {:?} validated on {} replayed accounts in {} ms: AUC {:?}",
                model.name,
                report.observations,
                started.elapsed().as_millis(),
                report.auc
            );
        }
    }
    Ok(())
}

/// How often the engine validates the model in effect again.
const VALIDATION_DAYS: i64 = 7;

/// What one account's rescoring costs the machine at most, waits for the writer aside
/// (a full pass takes 0.17–0.3 ms an account at 10,000 accounts on two cores).
const WORK_PER_ACCOUNT: Duration = Duration::from_micros(500);

/// How long the engine rests after a pass that took `elapsed` over `accounts` accounts.
/// Under a heavy stream of events, rescoring busy accounts must not starve their ingest:
/// the engine takes at most a quarter of the time it works. What it works is the pass, or
/// less when the pass spent its time waiting (for the one writer, behind ingest) rather
/// than working: a pass over a few accounts rests a few milliseconds however long it
/// waited, so that their events show in their scores within a tick or two.
fn rest_after(elapsed: Duration, accounts: usize) -> Duration {
    let work = WORK_PER_ACCOUNT.saturating_mul(u32::try_from(accounts).unwrap_or(u32::MAX));
    elapsed.min(work) * 3
}

/// Rescores the accounts marked since, and gives how many it rescored.
async fn recompute_changed(
    store: &Store,
    model: &HealthModel,
    day: NaiveDate,
    kept: &mut KeptRecords,
) -> Result<usize, StoreError> {
    let claim = store.claim_health_dirty(DIRTY_BATCH, chrono::Utc::now()).await?;
    if claim.accounts.is_empty() {
        return Ok(0);
    }
    let assessments = if claim.accounts.len() as i64 == DIRTY_BATCH {
        let claims = claim_all(store, vec![claim]).await?;
        rescore(store, model, day, Accounts::All, &claims, kept).await?
    } else {
        rescore(
            store,
            model,
            day,
            Accounts::Only(&claim.accounts),
            std::slice::from_ref(&claim),
            kept,
        )
        .await?
    };
    automate(store, &assessments).await;
    Ok(assessments.len())
}

/// Coverage and playbooks after a rescoring. Their failure must not stop health, and
/// what they did not record is decided again on the next pass.
async fn automate(store: &Store, assessments: &[Assessment]) {
    let outcome = match crate::automation::Automation::in_effect(store).await {
        Ok(automation) => crate::automation::run(store, &automation, assessments, true)
            .await
            .map_err(crate::automation::AutomationError::from),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(o) if o.runs_fired + o.owners_started + o.owners_ended > 0 => tracing::info!(
            "automation: {} playbook runs, {} owners started, {} ended, {} tasks",
            o.runs_fired,
            o.owners_started,
            o.owners_ended,
            o.tasks_created
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("automation: {e}"),
    }
}

/// One account replayed on a past day.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub assessment: Assessment,
    /// What became of it within the horizon after the day.
    pub outcome: laer_core::health::Outcome,
    /// MRR at the horizon's end over MRR that day, when it was still a customer.
    pub change: Option<f64>,
    /// Churned or downsold within the horizon after the day.
    pub churned: bool,
}

/// The month ends from `from` to `to`.
pub fn month_ends(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    use chrono::Datelike;
    let mut out = Vec::new();
    let mut first = NaiveDate::from_ymd_opt(from.year(), from.month(), 1);
    while let Some(month) = first {
        let next = month.checked_add_months(chrono::Months::new(1));
        let Some(end) = next.and_then(|n| n.pred_opt()) else {
            break;
        };
        if end > to {
            break;
        }
        if end >= from {
            out.push(end);
        }
        first = next;
    }
    out
}

/// The days validation replays by default: month ends from two usage windows after the
/// first contract (or the first recorded use, when usage is tracked: before it, usage
/// signals would say nothing) to `horizon_days` before the last day the data speaks of
/// (what happened next must be known: imported history may end long before today).
pub async fn replay_days(
    store: &Store,
    model: &HealthModel,
    today: NaiveDate,
    horizon_days: i64,
) -> Result<Vec<NaiveDate>, StoreError> {
    let first_contract = store.revenue_lines().await?.iter().map(|l| l.start_date).min();
    let Some(first) = first_contract.max(store.first_use_day().await?) else {
        return Ok(Vec::new());
    };
    let from = first + TimeDelta::days(2 * i64::from(model.windows.usage_days));
    let last = store.last_data_day(today).await?.unwrap_or(today);
    Ok(month_ends(from, last - TimeDelta::days(horizon_days)))
}

/// Every account that was a customer on each of `days`, assessed as of that day, with
/// what happened within the horizon after it; and every account's records.
pub struct Replay {
    pub records: Vec<AccountRecords>,
    pub rows: Vec<Replayed>,
}

/// Replays `days` ([`Replay`]).
pub async fn replay(
    store: &Store,
    model: &HealthModel,
    days: &[NaiveDate],
    today: NaiveDate,
    horizon_days: i64,
) -> Result<Replay, StoreError> {
    let first = days.iter().min().copied().unwrap_or(today);
    let experience_from = laer_core::health::experience_from(first, &model.windows);
    let records = store
        .health_records(Accounts::All, today, Some(experience_from))
        .await?;
    let mut rows = Vec::new();
    for &day in days {
        let (mut usage, workspace) = store.usage_on(day, model.windows.usage_days, Accounts::All).await?;
        for r in &records {
            let Some(outcome) = r.outcome(day, horizon_days) else {
                continue;
            };
            let usage = usage.remove(&r.account_id).unwrap_or_default();
            rows.push(Replayed {
                assessment: laer_core::health::assess(model, r, usage, &workspace, day),
                outcome,
                change: r.mrr_change(day, horizon_days),
                churned: outcome != laer_core::health::Outcome::Stayed,
            });
        }
    }
    Ok(Replay { records, rows })
}

/// The past quarters among the replayed days: each replayed day that is a quarter's eve
/// (the day before its first) and whose quarter had closed by `last_known` (the data's
/// last known day), with the customers that day whose next renewal fell in the quarter
/// and the ARR each had on the next quarter's first day.
pub fn replayed_quarters(replay: &Replay, last_known: NaiveDate) -> Vec<laer_core::forecast::renewal::ReplayedQuarter> {
    use laer_core::bridge::Quarter;
    use laer_core::forecast::renewal::{ReplayedQuarter, ReplayedRenewal};
    let records: HashMap<i64, &AccountRecords> = replay.records.iter().map(|r| (r.account_id, r)).collect();
    let mut quarters: Vec<ReplayedQuarter> = Vec::new();
    for row in &replay.rows {
        let eve = row.assessment.as_of;
        let Some(first) = eve.succ_opt() else { continue };
        let quarter = Quarter::containing(first);
        let Some(close) = quarter.next().first_day() else {
            continue;
        };
        if quarter.first_day() != Some(first) || close > last_known {
            continue;
        }
        let (Some(on), Some(r)) = (row.assessment.next_renewal(), records.get(&row.assessment.account_id)) else {
            continue;
        };
        if Quarter::containing(on) != quarter {
            continue;
        }
        let renewal = ReplayedRenewal {
            account_id: r.account_id,
            on,
            renewable_arr: r.mrr_on(eve).times(12),
            features: row.assessment.forecast_features(),
            actual_arr: r.mrr_on(close).times(12),
        };
        match quarters.iter_mut().find(|q| q.eve == eve) {
            Some(q) => q.renewals.push(renewal),
            None => quarters.push(ReplayedQuarter {
                quarter,
                eve,
                renewals: vec![renewal],
            }),
        }
    }
    quarters.sort_by_key(|q| q.eve);
    quarters
}

/// Each account between each replayed day on which it was a customer and the next
/// replayed day: its pillar scores on the first, whether it had left by the second, on
/// its tenure (days since it landed).
pub fn stretches(replay: &Replay, days: &[NaiveDate]) -> Vec<laer_core::survival::Stretch> {
    let records: HashMap<i64, &AccountRecords> = replay.records.iter().map(|r| (r.account_id, r)).collect();
    let mut days = days.to_vec();
    days.sort_unstable();
    days.dedup();
    replay
        .rows
        .iter()
        .filter_map(|row| {
            let day = row.assessment.as_of;
            let next = *days.get(days.binary_search(&day).ok()? + 1)?;
            let r = records.get(&row.assessment.account_id)?;
            let landed = r.landed_on()?;
            Some(laer_core::survival::Stretch {
                account_id: r.account_id,
                from_day: (day - landed).num_days() as f64,
                to_day: (next - landed).num_days() as f64,
                pillars: row.assessment.health.pillars,
                left: r.mrr_on(next).is_zero(),
            })
        })
        .collect()
}

/// `laer report health-validation`: the model replayed over history; the report is also
/// kept for the web pages.
pub async fn validation(
    store: &Store,
    model: &HealthModel,
    days: &[NaiveDate],
    today: NaiveDate,
    horizon_days: i64,
) -> Result<laer_core::health::validation::ValidationReport, StoreError> {
    let replay = replay(store, model, days, today, horizon_days).await?;
    let replayed = &replay.rows;
    let observations: Vec<laer_core::health::validation::Observation> = replayed
        .iter()
        .map(|r| laer_core::health::validation::Observation {
            as_of: r.assessment.as_of,
            score: r.assessment.health.score,
            churned: r.churned,
        })
        .collect();
    let mut report =
        laer_core::health::validation::validate(&model.name, horizon_days, &observations, model.calibration);
    let with_signals: Vec<(&laer_core::health::Signals, bool)> = replayed
        .iter()
        .filter(|r| r.assessment.health.score.is_some())
        .map(|r| (&r.assessment.signals, r.churned))
        .collect();
    report.signals = laer_core::health::validation::signal_power(&with_signals);
    // The demo company's oracle knows every account's true chance (none: 0); elsewhere
    // there is none.
    let oracle = store.demo_oracle().await?;
    let cases: Vec<laer_core::forecast::churn::Case> = replayed
        .iter()
        .map(|r| laer_core::forecast::churn::Case {
            as_of: r.assessment.as_of,
            features: r.assessment.forecast_features(),
            outcome: r.outcome,
            oracle: (!oracle.is_empty()).then(|| {
                let decisions = oracle.get(&r.assessment.account_id).map_or(&[][..], Vec::as_slice);
                laer_core::forecast::churn::oracle_chance(decisions, r.assessment.as_of, horizon_days)
            }),
            change: r.change,
        })
        .collect();
    report.forecast = Some(laer_core::forecast::churn::learn(&cases, horizon_days));
    let last_known = store.last_data_day(today).await?.unwrap_or(today);
    report.renewal_backtest = Some(laer_core::forecast::renewal::backtest(
        &cases,
        &replayed_quarters(&replay, last_known),
        horizon_days,
    ));
    match laer_core::survival::health_hazards(&stretches(&replay, days)) {
        Ok(model) => report.health_hazards = Some(model),
        Err(why) => report.health_hazards_note = Some(why),
    }
    store
        .save_validation(&model.name, &serde_json::to_value(&report).unwrap_or_default())
        .await?;
    Ok(report)
}

/// The headline figures of a model's stored validation (a `ValidationReport` as saved), as
/// the pages show them; a figure the stored report lacks is `None`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ValidationSummary {
    pub auc: Option<f64>,
    pub top_decile_lift: Option<f64>,
    pub observations: Option<u64>,
    /// The share of replayed accounts that churned or downsold: the usual risk.
    pub churn_rate: Option<f64>,
    pub risk_curve: Option<laer_core::health::model::Calibration>,
    /// The churn forecast learned with it.
    pub forecast: Option<laer_core::forecast::churn::Learning>,
    /// The renewal forecast replayed over past quarters with it.
    pub renewal_backtest: Option<laer_core::forecast::renewal::Backtest>,
    /// The Cox model of leaving on the pillar scores over the same replay, or why not.
    pub health_hazards: Option<laer_core::survival::HazardModel>,
    pub health_hazards_note: Option<String>,
}

impl ValidationSummary {
    /// The churn forecast to use: the one learned with this validation (the shipped one
    /// when the history was too short).
    pub fn churn_model(&self) -> laer_core::forecast::churn::ChurnModel {
        self.forecast
            .as_ref()
            .map_or_else(not_validated_yet, |f| f.model.clone())
    }

    /// The scale the lists colour and rank risk by, when the report has one.
    pub fn risk_scale(&self) -> Option<laer_core::attention::RiskScale> {
        laer_core::attention::RiskScale::new(self.risk_curve, self.churn_rate)
    }
}

/// The churn forecast before the model in effect has been validated here.
pub fn not_validated_yet() -> laer_core::forecast::churn::ChurnModel {
    laer_core::forecast::churn::shipped("The health model has not been validated on this history yet")
}

/// When the model named `model` was last validated (by the engine or `laer report
/// health-validation`), and how it did.
pub async fn latest_validation(
    store: &Store,
    model: &str,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, ValidationSummary)>, StoreError> {
    store
        .validation_of(model)
        .await?
        .map(|v| {
            let summary = serde_json::from_value(v.report).map_err(|e| StoreError::Unreadable {
                table: "health_validations",
                column: "report",
                reason: format!("the validation of model {model:?}: {e}"),
            })?;
            Ok((v.computed_at, summary))
        })
        .transpose()
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fit(#[from] laer_core::health::fit::FitError),
}

/// What `laer health fit` learned, and how the learned and the configured model did on
/// the latest quarter of the replayed days when fitted without them.
#[derive(Debug, Clone, Serialize)]
pub struct FitOutcome {
    pub fit: laer_core::health::fit::Fit,
    pub held_out: Option<HeldOut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    pub days: Vec<NaiveDate>,
    pub configured: laer_core::health::validation::ValidationReport,
    pub fitted: laer_core::health::validation::ValidationReport,
}

/// `laer health fit`: weights learned from the replayed history.
pub async fn fit(
    store: &Store,
    model: &HealthModel,
    days: &[NaiveDate],
    today: NaiveDate,
    horizon_days: i64,
) -> Result<FitOutcome, HealthError> {
    use laer_core::health::fit::{FitObservation, fit};
    use laer_core::health::validation::{Observation, validate};
    let replayed = replay(store, model, days, today, horizon_days).await?;
    let observations: Vec<FitObservation> = replayed
        .rows
        .into_iter()
        .map(|r| FitObservation {
            as_of: r.assessment.as_of,
            signals: r.assessment.signals,
            churned: r.churned,
        })
        .collect();
    let name = format!("fitted {today}");
    let learned = fit(model, &observations, &name)?;
    let held_days: Vec<NaiveDate> = days.iter().rev().take(days.len() / 4).rev().copied().collect();
    let held_out = match held_days.first() {
        Some(first) if days.len() >= 4 => {
            let (train, test): (Vec<FitObservation>, Vec<FitObservation>) =
                observations.into_iter().partition(|o| o.as_of < *first);
            match fit(model, &train, &name) {
                Ok(early) => {
                    let judge = |m: &HealthModel| {
                        let scored: Vec<Observation> = test
                            .iter()
                            .map(|o| Observation {
                                as_of: o.as_of,
                                score: laer_core::health::score(m, &o.signals).score,
                                churned: o.churned,
                            })
                            .collect();
                        validate(
                            &m.name,
                            laer_core::health::outcome::HORIZON_DAYS,
                            &scored,
                            m.calibration,
                        )
                    };
                    Some(HeldOut {
                        days: held_days.clone(),
                        configured: judge(model),
                        fitted: judge(&early.model),
                    })
                }
                Err(e) => {
                    tracing::info!("no held-out comparison: {e}");
                    None
                }
            }
        }
        _ => None,
    };
    Ok(FitOutcome { fit: learned, held_out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_rests_in_proportion_to_its_work() {
        let ms = Duration::from_millis;
        // A pass over every account rests three times as long as it took.
        assert_eq!(rest_after(ms(1_700), 10_000), ms(5_100));
        // A pass over a few accounts that waited behind ingest rests a few milliseconds.
        assert_eq!(rest_after(ms(400), 8), ms(12));
        // Nothing done, no rest.
        assert_eq!(rest_after(ms(30), 0), Duration::ZERO);
        // More work than its time: the time.
        assert_eq!(rest_after(ms(2), 100), ms(6));
    }

    #[test]
    fn month_ends_in_a_range() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            month_ends(d("2026-01-15"), d("2026-04-29")),
            vec![d("2026-01-31"), d("2026-02-28"), d("2026-03-31")]
        );
        assert_eq!(month_ends(d("2026-01-31"), d("2026-01-31")), vec![d("2026-01-31")]);
        assert!(month_ends(d("2026-02-01"), d("2026-01-01")).is_empty());
    }
}
