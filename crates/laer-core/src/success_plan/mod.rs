//! Success plans: PIMO made concrete for one account, and shared with the customer.
//!
//! From an account's records ([`PlanRecords`], which the store reads) comes its
//! [`SuccessPlan`]: *Plan* (the agreed outcomes and the customer's stakeholders by team),
//! *Implement* (milestones and user enablement), *Monitor* (each outcome's measurements
//! against its planned path) and *Optimize* (interventions, each with what changed after
//! it). [`SuccessPlan::for_customer`] keeps what the customer may see, in their words.
//! Definitions: docs/metrics.md, "Success plans"; the pages: docs/success-plans.md.
//!
//! The store reads in two steps: the records first, then the distinct active users of
//! the windows [`usage_windows`] names for them (the enablement trend and the 30 days
//! before and after each intervention), so that no user-level data leaves the database.

mod customer;

pub use customer::{CustomerIntervention, CustomerPlan, INTERNAL_WORDS, internal_words};

use std::collections::HashMap;

use chrono::{Datelike, Months, NaiveDate, TimeDelta};
use serde::Serialize;

use crate::model::{Direction, Milestone, MilestoneSide, NewOutcome};
use crate::signals::transformation;

/// Days before and after an intervention whose active users and outcomes are compared.
pub const EFFECT_DAYS: i64 = 30;
/// How far back interventions are listed.
pub const INTERVENTION_DAYS: i64 = 365;
/// At most this many interventions are listed, the newest.
pub const MAX_INTERVENTIONS: usize = 12;
/// 30-day windows of active users in the enablement trend, the latest ending today.
pub const TREND_WINDOWS: i64 = 12;
/// Days of a window of the enablement trend (and of "active users now").
pub const ACTIVE_DAYS: i64 = 30;
/// At most this many months in an outcome's track: the latest.
const MAX_TRACK_MONTHS: usize = 60;

/// A person at the customer, as the contacts hold them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stakeholder {
    pub name: Option<String>,
    pub title: Option<String>,
    /// The customer team, e.g. executive, network.
    pub team: Option<String>,
    /// The person's role towards the vendor, e.g. executive_sponsor, champion.
    pub role: Option<String>,
}

/// Calendar days from `from` up to, not including, `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct UsageWindow {
    pub from: NaiveDate,
    pub until: NaiveDate,
}

impl UsageWindow {
    /// The `days` days up to and including `last`.
    fn ending(last: NaiveDate, days: i64) -> UsageWindow {
        let until = last + TimeDelta::days(1);
        UsageWindow {
            from: until - TimeDelta::days(days),
            until,
        }
    }

    /// The [`EFFECT_DAYS`] before `day` (not including it).
    fn before(day: NaiveDate) -> UsageWindow {
        UsageWindow {
            from: day - TimeDelta::days(EFFECT_DAYS),
            until: day,
        }
    }

    /// The [`EFFECT_DAYS`] from `day` on (including it).
    fn after(day: NaiveDate) -> UsageWindow {
        UsageWindow {
            from: day,
            until: day + TimeDelta::days(EFFECT_DAYS),
        }
    }

    fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day < self.until
    }
}

/// Something done for the customer, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum InterventionRecord {
    /// A task done on `on`; its title is the vendor's own words.
    Task {
        on: NaiveDate,
        title: String,
        playbook: Option<String>,
    },
    /// A meeting held on `on`.
    Meeting {
        on: NaiveDate,
        kind: Option<String>,
        team: Option<String>,
    },
}

impl InterventionRecord {
    pub fn on(&self) -> NaiveDate {
        match self {
            InterventionRecord::Task { on, .. } | InterventionRecord::Meeting { on, .. } => *on,
        }
    }
}

/// An account's usage, as the plan needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageRecords {
    /// Seats bought: the largest quantity of the running lines sold by the seat.
    pub seats: Option<f64>,
    /// Departments of the account's known product users.
    pub departments_known: u32,
    /// Departments of the users active in the last [`ACTIVE_DAYS`].
    pub departments_active: u32,
    /// Distinct active users in each window [`usage_windows`] names; a window not
    /// given counts as none.
    pub active_users: Vec<(UsageWindow, u32)>,
}

/// Everything a success plan is made from, for one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanRecords {
    pub account: String,
    /// What the customer wants to achieve, in a few sentences agreed with them.
    pub objective: Option<String>,
    pub outcomes: Vec<NewOutcome>,
    /// `measurements[i]` are outcome `i`'s (day, value) pairs, in any order.
    pub measurements: Vec<Vec<(NaiveDate, f64)>>,
    pub stakeholders: Vec<Stakeholder>,
    pub milestones: Vec<Milestone>,
    /// Tasks done and meetings held, in any order; the plan picks the interventions.
    pub interventions: Vec<InterventionRecord>,
    pub usage: UsageRecords,
}

/// An account's success plan as of a day: the team's ([`Intervention`]s with their own
/// records), or the customer's ([`CustomerPlan`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuccessPlan<I = Intervention> {
    pub account: String,
    pub as_of: NaiveDate,
    pub objective: Option<String>,
    pub plan: Plan,
    pub implement: Implement,
    pub monitor: Monitor,
    /// The interventions, newest first.
    pub optimize: Vec<I>,
}

/// Plan: the outcomes agreed and the people on the customer's side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub outcomes: Vec<AgreedOutcome>,
    /// By team: the executive team first, people without a team last.
    pub stakeholders: Vec<StakeholderTeam>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreedOutcome {
    pub name: String,
    pub unit: Option<String>,
    pub baseline: f64,
    pub target: f64,
    /// Whether a higher or a lower value is better.
    pub direction: Direction,
    pub start_date: Option<NaiveDate>,
    pub target_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StakeholderTeam {
    /// The team in words ("Executive", "Application"); "Other" for people without one.
    pub team: String,
    pub people: Vec<Person>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    pub name: String,
    pub title: Option<String>,
    /// The role in words ("Executive sponsor", "Champion").
    pub role: Option<String>,
}

/// Implement: the milestones and how far the customer's people use the solution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Implement {
    /// By due date, then in the order they were added.
    pub milestones: Vec<MilestoneView>,
    pub enablement: Enablement,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MilestoneView {
    pub id: i64,
    pub title: String,
    pub due_on: NaiveDate,
    pub done_on: Option<NaiveDate>,
    pub side: MilestoneSide,
    pub status: MilestoneStatus,
}

/// A milestone is done once it has a done date; open, it is late after its due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneStatus {
    Done,
    OnTrack,
    Late,
}

impl MilestoneStatus {
    pub fn of(due_on: NaiveDate, done_on: Option<NaiveDate>, today: NaiveDate) -> MilestoneStatus {
        match done_on {
            Some(_) => MilestoneStatus::Done,
            None if due_on < today => MilestoneStatus::Late,
            None => MilestoneStatus::OnTrack,
        }
    }
}

/// User enablement: active users against seats, departments using the solution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enablement {
    /// Distinct active users in the last [`ACTIVE_DAYS`] (today included).
    pub active_users: u32,
    pub seats: Option<u32>,
    /// Active users over seats.
    pub utilisation: Option<f64>,
    pub departments_active: u32,
    pub departments_known: u32,
    /// Active users per [`ACTIVE_DAYS`] window, oldest first, from the first window with
    /// any: (the window's last day, users).
    pub trend: Vec<(NaiveDate, u32)>,
}

/// Monitor: each outcome's measurements against its planned path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Monitor {
    pub outcomes: Vec<OutcomeTrack>,
    /// Of the outcomes measured, the share on track (as health's transformation pillar).
    pub on_track_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeTrack {
    pub name: String,
    pub unit: Option<String>,
    pub baseline: f64,
    pub target: f64,
    pub target_date: Option<NaiveDate>,
    /// The latest measurement.
    pub current: Option<f64>,
    /// 0 at baseline, 1 at target ([`crate::signals::OutcomeProgress`]).
    pub progress: Option<f64>,
    /// Where the planned path is today, on the same scale.
    pub expected: Option<f64>,
    pub status: OutcomeStatus,
    /// Month by month, oldest first.
    pub points: Vec<TrackPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Reached,
    OnTrack,
    Behind,
    NotMeasured,
}

/// One month of an outcome's track.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrackPoint {
    /// The month's first day.
    pub month: NaiveDate,
    /// The month's last measurement.
    pub measured: Option<f64>,
    /// The planned path on the day of that measurement, else on the month's last day;
    /// the target itself when the outcome has no start and target date.
    pub planned: f64,
}

/// Optimize: one intervention and what changed after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intervention {
    pub on: NaiveDate,
    /// In the customer's words, e.g. "Training session with your application team".
    pub label: String,
    /// The vendor's own record: the task's title, or the meeting's kind and team.
    pub detail: String,
    pub playbook: Option<String>,
    pub effect: Effect,
}

/// Before and after an intervention: the [`EFFECT_DAYS`] before its day against the
/// [`EFFECT_DAYS`] from it on. Known once those have passed (`settled`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    pub settled: bool,
    /// Distinct active users before and after; `None` without any either side.
    pub active_users: Option<Change<u32>>,
    /// Mean progress (0 = baseline, 1 = target) of the outcomes measured both before
    /// the day and in the days after: each one's last value before, and its last value
    /// within the days after.
    pub outcome_progress: Option<Change<f64>>,
    /// How many outcomes the progress compares.
    pub outcomes_compared: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change<T> {
    pub before: T,
    pub after: T,
}

/// The interventions a plan lists, with their words for the customer: tasks done and
/// meetings held (neither routine check-ins nor the vendor's changes of owner) in the
/// [`INTERVENTION_DAYS`] up to `today`, newest first, at most [`MAX_INTERVENTIONS`].
fn chosen(records: &[InterventionRecord], today: NaiveDate) -> Vec<(&InterventionRecord, String)> {
    let since = today - TimeDelta::days(INTERVENTION_DAYS);
    let mut chosen: Vec<(&InterventionRecord, String)> = records
        .iter()
        .filter(|r| r.on() > since && r.on() <= today)
        .filter_map(|r| customer::label_of(r).map(|label| (r, label)))
        .collect();
    // Newest first; on one day, in a stable order.
    chosen.sort_by(|a, b| b.0.on().cmp(&a.0.on()).then_with(|| a.1.cmp(&b.1)));
    chosen.truncate(MAX_INTERVENTIONS);
    chosen
}

/// The windows whose distinct active users a plan needs: the enablement trend's, and
/// the 30 days before and after each intervention it lists. Sorted, each once.
pub fn usage_windows(interventions: &[InterventionRecord], today: NaiveDate) -> Vec<UsageWindow> {
    let mut windows: Vec<UsageWindow> = trend_windows(today);
    for (r, _) in chosen(interventions, today) {
        windows.push(UsageWindow::before(r.on()));
        windows.push(UsageWindow::after(r.on()));
    }
    windows.sort();
    windows.dedup();
    windows
}

/// The trend's windows, the latest (ending today) first.
fn trend_windows(today: NaiveDate) -> Vec<UsageWindow> {
    (0..TREND_WINDOWS)
        .map(|n| UsageWindow::ending(today - TimeDelta::days(ACTIVE_DAYS * n), ACTIVE_DAYS))
        .collect()
}

/// The account's success plan as of `today`.
pub fn assemble(records: &PlanRecords, today: NaiveDate) -> SuccessPlan {
    let users: HashMap<UsageWindow, u32> = records.usage.active_users.iter().copied().collect();
    let users_in = |w: &UsageWindow| users.get(w).copied().unwrap_or(0);
    SuccessPlan {
        account: records.account.clone(),
        as_of: today,
        objective: records.objective.clone().filter(|o| !o.trim().is_empty()),
        plan: Plan {
            outcomes: records
                .outcomes
                .iter()
                .map(|o| AgreedOutcome {
                    name: o.name.clone(),
                    unit: o.unit.clone(),
                    baseline: o.baseline,
                    target: o.target,
                    direction: o.direction,
                    start_date: o.start_date,
                    target_date: o.target_date,
                })
                .collect(),
            stakeholders: teams(&records.stakeholders),
        },
        implement: Implement {
            milestones: milestones(&records.milestones, today),
            enablement: enablement(&records.usage, &users_in, today),
        },
        monitor: monitor(&records.outcomes, &records.measurements, today),
        optimize: chosen(&records.interventions, today)
            .into_iter()
            .map(|(r, label)| Intervention {
                on: r.on(),
                label,
                detail: customer::detail_of(r),
                playbook: match r {
                    InterventionRecord::Task { playbook, .. } => playbook.clone(),
                    InterventionRecord::Meeting { .. } => None,
                },
                effect: effect(r.on(), records, &users_in, today),
            })
            .collect(),
    }
}

fn teams(stakeholders: &[Stakeholder]) -> Vec<StakeholderTeam> {
    let mut teams: Vec<(Option<String>, Vec<Person>)> = Vec::new();
    for s in stakeholders {
        let Some(name) = s.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) else {
            continue;
        };
        let team = s.team.as_deref().map(crate::parse::label).filter(|t| !t.is_empty());
        let person = Person {
            name: name.to_string(),
            title: s.title.clone().filter(|t| !t.trim().is_empty()),
            role: s.role.as_deref().map(customer::words).filter(|r| !r.is_empty()),
        };
        match teams.iter_mut().find(|(t, _)| *t == team) {
            Some((_, people)) => people.push(person),
            None => teams.push((team, vec![person])),
        }
    }
    // The executive team first, then by name; people without a team last.
    teams.sort_by_key(|(team, _)| (team.is_none(), team.as_deref() != Some("executive"), team.clone()));
    teams
        .into_iter()
        .map(|(team, mut people)| {
            people.sort_by(|a, b| a.name.cmp(&b.name));
            StakeholderTeam {
                team: team.as_deref().map_or_else(|| "Other".to_string(), customer::words),
                people,
            }
        })
        .collect()
}

fn milestones(milestones: &[Milestone], today: NaiveDate) -> Vec<MilestoneView> {
    // Stored order (by id) breaks ties between milestones due the same day.
    let mut sorted: Vec<&Milestone> = milestones.iter().collect();
    sorted.sort_by_key(|m| (m.fields.due_on, m.id));
    sorted
        .into_iter()
        .map(|m| MilestoneView {
            id: m.id,
            title: m.fields.title.clone(),
            due_on: m.fields.due_on,
            done_on: m.fields.done_on,
            side: m.fields.side,
            status: MilestoneStatus::of(m.fields.due_on, m.fields.done_on, today),
        })
        .collect()
}

fn enablement(usage: &UsageRecords, users_in: &impl Fn(&UsageWindow) -> u32, today: NaiveDate) -> Enablement {
    let mut trend: Vec<(NaiveDate, u32)> = trend_windows(today)
        .iter()
        .rev()
        .map(|w| (w.until - TimeDelta::days(1), users_in(w)))
        .skip_while(|(_, users)| *users == 0)
        .collect();
    if trend.is_empty() {
        trend.push((today, 0));
    }
    let active_users = trend.last().map_or(0, |(_, users)| *users);
    let seats = usage
        .seats
        .filter(|s| s.is_finite() && *s >= 1.0)
        .map(|s| s.round().min(f64::from(u32::MAX)) as u32);
    Enablement {
        active_users,
        seats,
        utilisation: crate::figures::utilisation(active_users, seats.map(f64::from)),
        departments_active: usage.departments_active,
        departments_known: usage.departments_known.max(usage.departments_active),
        trend,
    }
}

/// Where an outcome's planned path is on `day`: from the baseline on its start date
/// evenly to the target on its target date (as [`transformation`]'s expectation).
fn planned_on(o: &NewOutcome, day: NaiveDate) -> Option<f64> {
    match (o.start_date, o.target_date) {
        (Some(start), Some(target)) if target > start => {
            let share = (day - start).num_days() as f64 / (target - start).num_days() as f64;
            Some(o.baseline + (o.target - o.baseline) * share.clamp(0.0, 1.0))
        }
        _ => None,
    }
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn monitor(outcomes: &[NewOutcome], measurements: &[Vec<(NaiveDate, f64)>], today: NaiveDate) -> Monitor {
    let t = transformation(outcomes, measurements, today);
    let tracks = outcomes
        .iter()
        .zip(&t.outcomes)
        .enumerate()
        .map(|(i, (o, p))| {
            let mut known: Vec<(NaiveDate, f64)> = measurements
                .get(i)
                .into_iter()
                .flatten()
                .copied()
                .filter(|(day, value)| *day <= today && value.is_finite())
                .collect();
            known.sort_by_key(|(day, _)| *day);
            let status = match p.on_track {
                None => OutcomeStatus::NotMeasured,
                Some(true) if p.progress.is_some_and(|p| p >= 1.0) => OutcomeStatus::Reached,
                Some(true) => OutcomeStatus::OnTrack,
                Some(false) => OutcomeStatus::Behind,
            };
            OutcomeTrack {
                name: o.name.clone(),
                unit: o.unit.clone(),
                baseline: o.baseline,
                target: o.target,
                target_date: o.target_date,
                current: p.current,
                progress: p.progress,
                expected: p.expected,
                status,
                points: track(o, &known),
            }
        })
        .collect();
    Monitor {
        outcomes: tracks,
        on_track_share: t.on_track_share,
    }
}

/// Month by month from the start (or first measurement) to the target date (or last
/// measurement), at most the last [`MAX_TRACK_MONTHS`].
fn track(o: &NewOutcome, known: &[(NaiveDate, f64)]) -> Vec<TrackPoint> {
    let first = o.start_date.into_iter().chain(known.first().map(|m| m.0)).min();
    let last = o.target_date.into_iter().chain(known.last().map(|m| m.0)).max();
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    let mut months = Vec::new();
    let mut month = first_of_month(first);
    while month <= last {
        months.push(month);
        match month.checked_add_months(Months::new(1)) {
            Some(next) => month = next,
            None => break,
        }
    }
    let skip = months.len().saturating_sub(MAX_TRACK_MONTHS);
    months
        .into_iter()
        .skip(skip)
        .map(|month| {
            let month_end = month
                .checked_add_months(Months::new(1))
                .map_or(month, |next| next - TimeDelta::days(1));
            let measured = known.iter().rev().find(|(day, _)| first_of_month(*day) == month);
            let on = measured.map_or(month_end, |m| m.0);
            TrackPoint {
                month,
                measured: measured.map(|m| m.1),
                planned: planned_on(o, on).unwrap_or(o.target),
            }
        })
        .collect()
}

fn effect(day: NaiveDate, records: &PlanRecords, users_in: &impl Fn(&UsageWindow) -> u32, today: NaiveDate) -> Effect {
    let before = UsageWindow::before(day);
    let after = UsageWindow::after(day);
    if today < after.until {
        return Effect {
            settled: false,
            active_users: None,
            outcome_progress: None,
            outcomes_compared: 0,
        };
    }
    let users = Change {
        before: users_in(&before),
        after: users_in(&after),
    };
    let mut compared: Vec<Change<f64>> = Vec::new();
    for (i, o) in records.outcomes.iter().enumerate() {
        let values = records.measurements.get(i).map(Vec::as_slice).unwrap_or_default();
        let last_in = |window: &UsageWindow| {
            values
                .iter()
                .filter(|(d, v)| window.contains(*d) && v.is_finite())
                .max_by_key(|(d, _)| *d)
                .and_then(|(_, v)| o.progress(*v))
        };
        let since_ever = UsageWindow {
            from: NaiveDate::MIN,
            until: day,
        };
        if let (Some(b), Some(a)) = (last_in(&since_ever), last_in(&after)) {
            compared.push(Change { before: b, after: a });
        }
    }
    let n = compared.len();
    Effect {
        settled: true,
        active_users: (users.before > 0 || users.after > 0).then_some(users),
        outcome_progress: (n > 0).then(|| Change {
            before: compared.iter().map(|c| c.before).sum::<f64>() / n as f64,
            after: compared.iter().map(|c| c.after).sum::<f64>() / n as f64,
        }),
        outcomes_compared: n,
    }
}

impl SuccessPlan {
    /// What the customer sees: the same plan, the interventions only in their words
    /// (one per day and kind), nothing of the vendor's own records.
    pub fn for_customer(&self) -> CustomerPlan {
        customer::view(self)
    }
}

#[cfg(test)]
mod tests;
