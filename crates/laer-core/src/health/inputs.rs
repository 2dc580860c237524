//! What the health model knows of one account on one day, and the signals computed from
//! it. The store supplies [`AccountInputs`] (usage already counted per window, the other
//! records as they are); [`signals`] turns them into named numbers. Definitions:
//! docs/metrics.md, "Health signals".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use crate::model::{NewOutcome, NewSupportCase, NewSurveyResponse, NewTouchpoint};
use crate::money::Money;
use crate::signals::{experience, transformation};

/// Days in an average month: event counts are scaled to it.
pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// Days in which a burst of support cases counts (`cases_last_14_days`).
pub const RECENT_CASE_DAYS: u32 = 14;

/// The first day whose support cases (opened or closed that day or later) and survey
/// answers any signal on `as_of` looks at: the experience window's and the recent cases'
/// (the longer), and a day more. Those of earlier days say nothing that day, so the store
/// need not read them.
pub fn experience_from(as_of: NaiveDate, windows: &Windows) -> NaiveDate {
    let days = windows.experience_days.max(RECENT_CASE_DAYS);
    as_of
        .checked_sub_signed(TimeDelta::days(i64::from(days)))
        .unwrap_or(NaiveDate::MIN)
}

/// Use of the product in one window of days (`end - days`, `end`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WindowUse {
    /// Distinct users with any use.
    pub active_users: u32,
    /// Distinct departments of the active users (users without a department not counted).
    pub active_departments: u32,
    /// Events per feature (event type name); features without use are absent.
    pub events: BTreeMap<String, i64>,
}

impl WindowUse {
    pub fn total_events(&self) -> i64 {
        self.events.values().sum()
    }
}

/// The windows the signals look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    /// Usage (adoption and behaviour): this window and the one before it, for trends.
    pub usage_days: u32,
    /// Support cases and surveys.
    pub experience_days: u32,
    /// Meetings and contacts engaged.
    pub engagement_days: u32,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            usage_days: 30,
            experience_days: 90,
            engagement_days: 90,
        }
    }
}

/// An account's records as known on `as_of`, with its usage counted per window.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountInputs<'a> {
    pub account_id: i64,
    pub as_of: NaiveDate,
    /// The first day of its first contract.
    pub landed_on: Option<NaiveDate>,
    /// MRR on `as_of`, and 90 days before.
    pub mrr: Money,
    pub mrr_before: Money,
    /// Seats bought: the quantity of the running lines counted in seats (or users,
    /// licences); `None` when no running line is.
    pub seats: Option<f64>,
    /// The quantity of all running lines, whatever their unit.
    pub units: Option<f64>,
    /// The usage window ending on `as_of`, and the one before it.
    pub usage_now: WindowUse,
    pub usage_before: WindowUse,
    /// Features anyone uses (the event types the workspace tracks); empty when no usage
    /// is tracked at all.
    pub features: &'a [String],
    /// The contract's renewal date as agreed (`None`: from the lines' terms).
    pub renewal_date: Option<NaiveDate>,
    /// The account's subscription lines.
    pub lines: &'a [Line],
    /// Departments the account's known product users belong to.
    pub departments: u32,
    /// Distinct users with any use from landing up to `as_of`.
    pub users_ever: u32,
    /// The last day with any use, on or before `as_of`.
    pub last_use_on: Option<NaiveDate>,
    pub relationship: &'a Relationship,
}

/// The account's cases, surveys, meetings, people and outcomes, whatever the day: the
/// signals look at the part known on theirs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Relationship {
    pub cases: Vec<NewSupportCase>,
    pub surveys: Vec<NewSurveyResponse>,
    /// Touchpoints of every kind and status; Engagement counts those that keep a
    /// cadence ([`NewTouchpoint::keeps_cadence`]).
    pub touchpoints: Vec<NewTouchpoint>,
    /// Each contact's stakeholder team (`None` when not known).
    pub contact_teams: Vec<Option<String>>,
    /// Agreed days between meetings per stakeholder team.
    pub cadences: BTreeMap<String, u32>,
    pub outcomes: Vec<NewOutcome>,
    /// `measurements[i]`: outcome `i`'s (day, value) pairs.
    pub measurements: Vec<Vec<(NaiveDate, f64)>>,
}

/// A subscription line as health needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub product: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub mrr: Money,
    pub quantity: Option<f64>,
    pub units: Option<String>,
    pub bill_period_months: i32,
}

/// Named signal values; a signal without a value (no seats, no surveys, ...) is absent.
pub type Signals = BTreeMap<String, f64>;

/// The name of the per-feature events-per-month signal.
pub fn feature_signal(feature: &str) -> String {
    format!("events_per_month:{feature}")
}

/// A signal's meaning, for the model file, the docs and the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignalInfo {
    pub name: &'static str,
    pub label: &'static str,
}

/// Every fixed signal (the per-feature ones are `events_per_month:<feature>`).
pub const SIGNALS: &[SignalInfo] = &[
    info("utilisation", "Licence utilisation (active users / seats)"),
    info("utilisation_change", "Utilisation change since the window before"),
    info("breadth", "Feature breadth (features used / features available)"),
    info("breadth_change", "Breadth change since the window before"),
    info("depth", "Depth (events per active user, per month)"),
    info("depth_change", "Depth change since the window before (relative)"),
    info("spread", "Spread (departments active / departments)"),
    info("spread_change", "Spread change since the window before"),
    info("active_users", "Active users"),
    info(
        "active_users_change",
        "Active users change since the window before (relative)",
    ),
    info("events_per_month", "Events per month"),
    info("events_change", "Events change since the window before (relative)"),
    info("days_since_last_use", "Days since the last use"),
    info("tenure_days", "Tenure (days since landing)"),
    info("mrr", "MRR"),
    info("mrr_change", "MRR change over 90 days (relative)"),
    info("units", "Units bought"),
    info("days_to_renewal", "Days to the next renewal"),
    info("cases_per_active_user", "Support cases per active user"),
    info("cases_per_month", "Support cases per month"),
    info("cases_last_14_days", "Support cases opened in the last 14 days"),
    info("case_severity", "Mean case severity (1 critical – 4 low)"),
    info("days_to_resolve", "Median days to resolve a case"),
    info("how_to_share", "Share of how-to cases"),
    info("csat", "CSAT (1–5)"),
    info("nps", "NPS (−100 – 100)"),
    info("cadence_kept", "Meeting cadence kept (share, per stakeholder team)"),
    info(
        "days_since_executive_meeting",
        "Days since the last executive meeting (since landing, when none yet)",
    ),
    info("contacts_engaged", "Contacts engaged"),
    info("outcomes_on_track", "Share of outcomes on track"),
    info("outcome_progress", "Mean outcome progress against plan"),
];

const fn info(name: &'static str, label: &'static str) -> SignalInfo {
    SignalInfo { name, label }
}

/// The label of a signal name, per-feature ones included; `None` for unknown names.
pub fn signal_label(name: &str) -> Option<String> {
    if let Some(feature) = name.strip_prefix("events_per_month:") {
        return (!feature.is_empty()).then(|| format!("{feature} per month"));
    }
    SIGNALS.iter().find(|s| s.name == name).map(|s| s.label.to_string())
}

/// The next renewal after `as_of` as known that day, per line running then: the end of
/// its term (its start plus whole billing periods; a line's recorded end is not known in
/// advance) — or, for a line billed yearly or longer that is still open, the agreed
/// renewal date while it is ahead (a multi-year term renews then, not each year). The
/// agreed date is today's: it speaks of the term running today, so a day replayed in an
/// earlier term (whose lines have ended since) or a monthly line renewing each month does
/// not take it. Without a running line, the agreed date when it is ahead.
pub fn next_renewal(renewal_date: Option<NaiveDate>, lines: &[Line], as_of: NaiveDate) -> Option<NaiveDate> {
    let agreed = renewal_date.filter(|r| *r >= as_of);
    let mut running = lines
        .iter()
        .filter(|l| crate::retention::is_active(l.start_date, l.end_date, as_of))
        .peekable();
    if running.peek().is_none() {
        return agreed;
    }
    running
        .filter_map(|l| match agreed {
            Some(a) if l.end_date.is_none() && l.bill_period_months >= 12 => Some(a),
            _ => end_of_term(l, as_of),
        })
        .min()
}

/// The first end of a whole billing period of `line` after `as_of`.
fn end_of_term(line: &Line, as_of: NaiveDate) -> Option<NaiveDate> {
    let period = u32::try_from(line.bill_period_months.max(1)).ok()?;
    let months = (as_of.year() - line.start_date.year()) * 12 + as_of.month() as i32 - line.start_date.month() as i32;
    let whole = u32::try_from(months.max(0)).ok()? / period * period;
    (whole..=whole + 2 * period)
        .step_by(period as usize)
        .filter_map(|m| line.start_date.checked_add_months(chrono::Months::new(m)))
        .find(|d| *d > as_of)
}

fn relative_change(now: f64, before: f64) -> Option<f64> {
    (before > 0.0).then(|| now / before - 1.0)
}

/// Every signal of the account on `inputs.as_of`.
pub fn signals(inputs: &AccountInputs<'_>, windows: &Windows) -> Signals {
    let mut out = Signals::new();
    let mut put = |name: &str, value: Option<f64>| {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            out.insert(name.to_string(), v);
        }
    };
    let as_of = inputs.as_of;
    // Counts are scaled to a month over the days of the window the account was a
    // customer (the book's tenure-scaled counts, listing 7.8): a new account is not
    // penalised for the days before it landed.
    let window = f64::from(windows.usage_days.max(1));
    let tenure = inputs
        .landed_on
        .filter(|l| *l <= as_of)
        .map(|l| (as_of - l).num_days() as f64);
    let days_in = |offset: f64| tenure.map_or(window, |t| (t - offset).clamp(1.0, window));
    let per_month = DAYS_PER_MONTH / days_in(0.0);
    let per_month_before = DAYS_PER_MONTH / days_in(window);
    let (now, before) = (&inputs.usage_now, &inputs.usage_before);

    // Adoption.
    let utilisation = |w: &WindowUse| crate::figures::utilisation(w.active_users, inputs.seats);
    let breadth =
        |w: &WindowUse| (!inputs.features.is_empty()).then(|| w.events.len() as f64 / inputs.features.len() as f64);
    let depth = |w: &WindowUse, per_month: f64| {
        (w.active_users > 0).then(|| w.total_events() as f64 / f64::from(w.active_users) * per_month)
    };
    let spread = |w: &WindowUse| {
        (inputs.departments > 0).then(|| f64::from(w.active_departments) / f64::from(inputs.departments))
    };
    let difference = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
    put("utilisation", utilisation(now));
    put("utilisation_change", difference(utilisation(now), utilisation(before)));
    put("breadth", breadth(now));
    put("breadth_change", difference(breadth(now), breadth(before)));
    put("depth", depth(now, per_month));
    put(
        "depth_change",
        depth(now, per_month)
            .zip(depth(before, per_month_before))
            .and_then(|(a, b)| relative_change(a, b)),
    );
    put("spread", spread(now));
    put("spread_change", difference(spread(now), spread(before)));
    put("active_users", Some(f64::from(now.active_users)));
    put(
        "active_users_change",
        relative_change(f64::from(now.active_users), f64::from(before.active_users)),
    );

    // Behaviour, in the families of Fighting Churn With Data.
    put("events_per_month", Some(now.total_events() as f64 * per_month));
    put(
        "events_change",
        relative_change(
            now.total_events() as f64 * per_month,
            before.total_events() as f64 * per_month_before,
        ),
    );
    for (feature, n) in &now.events {
        put(&feature_signal(feature), Some(*n as f64 * per_month));
    }
    // A feature the workspace tracks and the account did not use: none, not unknown.
    for feature in inputs.features.iter().filter(|f| !now.events.contains_key(*f)) {
        put(&feature_signal(feature), Some(0.0));
    }
    let days_since = |d: NaiveDate| (as_of - d).num_days().max(0) as f64;
    let landed = inputs.landed_on.filter(|l| *l <= as_of);
    put("days_since_last_use", inputs.last_use_on.or(landed).map(days_since));
    put("tenure_days", landed.map(days_since));
    put("mrr", Some(inputs.mrr.to_f64()));
    put(
        "mrr_change",
        relative_change(inputs.mrr.to_f64(), inputs.mrr_before.to_f64()),
    );
    put("units", inputs.units);
    put(
        "days_to_renewal",
        next_renewal(inputs.renewal_date, inputs.lines, as_of).map(|r| (r - as_of).num_days() as f64),
    );

    // Experience.
    let experience_window = experience(
        &inputs.relationship.cases,
        &inputs.relationship.surveys,
        now.active_users,
        as_of,
        windows.experience_days,
    );
    put("cases_per_active_user", experience_window.cases_per_active_user);
    put(
        "cases_per_month",
        Some(f64::from(experience_window.cases) * DAYS_PER_MONTH / f64::from(windows.experience_days.max(1))),
    );
    let recent = experience(&inputs.relationship.cases, &[], 0, as_of, RECENT_CASE_DAYS);
    put("cases_last_14_days", Some(f64::from(recent.cases)));
    put("case_severity", experience_window.mean_severity);
    put("days_to_resolve", experience_window.median_days_to_resolve);
    put("how_to_share", experience_window.how_to_share);
    put("csat", experience_window.csat);
    put("nps", experience_window.nps);

    // Engagement.
    let engagement = engagement(inputs, windows.engagement_days);
    put("cadence_kept", engagement.cadence_kept);
    put("days_since_executive_meeting", engagement.days_since_executive_meeting);
    put("contacts_engaged", engagement.contacts_engaged.map(f64::from));

    // Transformation.
    let t = transformation(&inputs.relationship.outcomes, &inputs.relationship.measurements, as_of);
    put("outcomes_on_track", t.on_track_share);
    let gaps: Vec<f64> = t
        .outcomes
        .iter()
        .filter_map(|o| o.progress.zip(o.expected))
        .map(|(p, e)| p.min(1.0) - e)
        .collect();
    put(
        "outcome_progress",
        (!gaps.is_empty()).then(|| gaps.iter().sum::<f64>() / gaps.len() as f64),
    );
    out
}

/// Meetings against the agreed cadences, as of a day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Engagement {
    /// Mean over the stakeholder teams with a cadence of min(1, meetings held / meetings
    /// due) over the last `max(window, cadence)` days; `None` without cadences.
    pub cadence_kept: Option<f64>,
    /// Days since the last meeting held with the executive team (since landing when
    /// none was); `None` when the account has no executive contact, cadence or meeting.
    pub days_since_executive_meeting: Option<f64>,
    /// Contacts in the stakeholder teams met in the window; `None` without contacts.
    pub contacts_engaged: Option<u32>,
}

/// The stakeholder team of the customer's executives.
pub const EXECUTIVE: &str = "executive";

fn end_of(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.succ_opt()?.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

/// The account's engagement as of `inputs.as_of`, over `window_days`.
pub fn engagement(inputs: &AccountInputs<'_>, window_days: u32) -> Engagement {
    let Some(until) = end_of(inputs.as_of) else {
        return Engagement::default();
    };
    let held: Vec<&NewTouchpoint> = inputs
        .relationship
        .touchpoints
        .iter()
        .filter(|m| m.keeps_cadence() && m.held_at < until)
        .collect();
    let held_since = |days: u32, team: &str| {
        let from = until - TimeDelta::days(i64::from(days));
        held.iter().filter(|m| m.held_at >= from && m.with_team(team)).count()
    };
    let kept: Vec<f64> = inputs
        .relationship
        .cadences
        .iter()
        .filter(|(_, every)| **every > 0)
        .map(|(team, every)| {
            let span = window_days.max(*every);
            let due = (f64::from(span) / f64::from(*every)).floor().max(1.0);
            (held_since(span, team) as f64 / due).min(1.0)
        })
        .collect();
    let last_executive = held
        .iter()
        .filter(|m| m.with_team(EXECUTIVE))
        .map(|m| m.held_at.date_naive())
        .max()
        .or(inputs.landed_on.filter(|l| *l <= inputs.as_of));
    let from = until - TimeDelta::days(i64::from(window_days));
    let teams_met: BTreeSet<&str> = held
        .iter()
        .filter(|m| m.held_at >= from)
        .flat_map(|m| m.stakeholder_teams.iter().map(String::as_str))
        .collect();
    let contacts_engaged = inputs
        .relationship
        .contact_teams
        .iter()
        .filter(|t| t.as_deref().is_some_and(|t| teams_met.contains(t)))
        .count();
    let executive_known = inputs.relationship.cadences.contains_key(EXECUTIVE)
        || inputs
            .relationship
            .contact_teams
            .iter()
            .any(|t| t.as_deref() == Some(EXECUTIVE))
        || held.iter().any(|m| m.with_team(EXECUTIVE));
    Engagement {
        cadence_kept: (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64),
        days_since_executive_meeting: last_executive
            .filter(|_| executive_known)
            .map(|d| (inputs.as_of - d).num_days().max(0) as f64),
        contacts_engaged: (!inputs.relationship.contact_teams.is_empty()).then_some(contacts_engaged as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MeetingStatus, SurveyKind, TouchpointKind};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn meeting(team: &str, on: &str, status: MeetingStatus) -> NewTouchpoint {
        NewTouchpoint {
            external_id: format!("m-{team}-{on}"),
            account_id: 1,
            held_at: format!("{on}T10:00:00Z").parse().unwrap(),
            kind: TouchpointKind::Meeting,
            purpose: None,
            status,
            duration_minutes: None,
            stakeholder_teams: vec![team.into()],
            contact_ids: vec![],
            team_member_ids: vec![],
            summary: None,
            next_step: None,
        }
    }

    fn usage(users: u32, departments: u32, events: &[(&str, i64)]) -> WindowUse {
        WindowUse {
            active_users: users,
            active_departments: departments,
            events: events.iter().map(|(f, n)| (f.to_string(), *n)).collect(),
        }
    }

    static FEATURES: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| ["report", "export", "share", "admin"].map(String::from).to_vec());

    fn relationship() -> Relationship {
        Relationship {
            contact_teams: vec![
                Some("executive".into()),
                Some("network".into()),
                Some("network".into()),
                None,
            ],
            cadences: [("executive".to_string(), 90), ("network".to_string(), 30)].into(),
            touchpoints: vec![
                meeting("network", "2026-06-10", MeetingStatus::Held),
                meeting("network", "2026-05-05", MeetingStatus::Held),
                meeting("network", "2026-04-20", MeetingStatus::Missed),
                meeting("executive", "2026-01-15", MeetingStatus::Held),
            ],
            surveys: vec![NewSurveyResponse {
                external_id: "s".into(),
                account_id: 1,
                contact_ref: None,
                survey: SurveyKind::Csat,
                score: 4,
                responded_at: "2026-06-01T10:00:00Z".parse().unwrap(),
                comment: None,
            }],
            ..Relationship::default()
        }
    }

    fn inputs(relationship: &Relationship) -> AccountInputs<'_> {
        AccountInputs {
            account_id: 1,
            as_of: day("2026-06-30"),
            landed_on: Some(day("2025-06-30")),
            mrr: Money::from_units(1_200).unwrap(),
            mrr_before: Money::from_units(1_000).unwrap(),
            seats: Some(20.0),
            units: Some(25.0),
            usage_now: usage(10, 2, &[("report", 300), ("export", 60)]),
            usage_before: usage(8, 2, &[("report", 400)]),
            features: &FEATURES,
            renewal_date: None,
            lines: &[],
            departments: 4,
            users_ever: 14,
            last_use_on: Some(day("2026-06-27")),
            relationship,
        }
    }

    #[test]
    fn signals_by_their_definitions() {
        let r = relationship();
        let s = signals(&inputs(&r), &Windows::default());
        let get = |n: &str| s.get(n).map(|v| (v * 1e9).round() / 1e9);
        let round = |v: f64| Some((v * 1e9).round() / 1e9);
        let per_month = DAYS_PER_MONTH / 30.0;
        assert_eq!(get("utilisation"), Some(0.5));
        assert_eq!(get("utilisation_change"), round(0.5 - 0.4));
        assert_eq!(get("breadth"), Some(0.5));
        assert_eq!(get("breadth_change"), Some(0.25));
        assert_eq!(get("depth"), round(36.0 * per_month));
        assert_eq!(get("depth_change"), round(36.0 / 50.0 - 1.0));
        assert_eq!(get("spread"), Some(0.5));
        assert_eq!(get("active_users_change"), Some(0.25));
        assert_eq!(get("events_per_month"), round(360.0 * per_month));
        assert_eq!(get("events_per_month:export"), round(60.0 * per_month));
        assert_eq!(get("events_per_month:share"), Some(0.0), "tracked, not used: none");
        assert_eq!(get("days_to_renewal"), None, "no contract in this test");
        assert_eq!(get("events_change"), Some(-0.1));
        assert_eq!(get("days_since_last_use"), Some(3.0));
        assert_eq!(get("tenure_days"), Some(365.0));
        assert_eq!(get("mrr"), Some(1_200.0));
        assert_eq!(get("mrr_change"), Some(0.2));
        assert_eq!(get("units"), Some(25.0));
        assert_eq!(get("csat"), Some(4.0));
        assert_eq!(get("nps"), None, "no NPS responses");
        assert_eq!(get("cases_per_active_user"), Some(0.0));
        assert_eq!(get("outcomes_on_track"), None, "no outcomes");
        // Network every 30 days over 90: 3 due, 2 held → 2/3; executive every 90: none
        // held in the last 90 days → 0. Mean 1/3.
        assert!((get("cadence_kept").unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(get("days_since_executive_meeting"), Some(166.0));
        assert_eq!(get("contacts_engaged"), Some(2.0), "the two network contacts");
        for name in s.keys() {
            assert!(signal_label(name).is_some(), "{name} is documented");
        }
    }

    #[test]
    fn a_conversation_kept_with_several_teams_counts_for_each_and_an_email_for_none() {
        let mut r = relationship();
        let engagement_of = |r: &Relationship| engagement(&inputs(r), 90);
        let before = engagement_of(&r);
        // An email and a note "with" the executive team, and a meeting with it that was
        // missed, leave the cadence as it was.
        for (kind, status) in [
            (TouchpointKind::Email, MeetingStatus::Held),
            (TouchpointKind::Note, MeetingStatus::Held),
            (TouchpointKind::Meeting, MeetingStatus::Missed),
        ] {
            let mut t = meeting("executive", "2026-06-20", status);
            t.kind = kind;
            r.touchpoints.push(t);
        }
        assert_eq!(engagement_of(&r), before);
        // A call with the executive and the network teams counts for both: network 3 of 3
        // due, executive 1 of 1 → cadence kept in full; the executive gap is 10 days.
        let mut call = meeting("executive", "2026-06-20", MeetingStatus::Held);
        call.kind = TouchpointKind::Call;
        call.stakeholder_teams.push("network".into());
        r.touchpoints.push(call);
        let after = engagement_of(&r);
        assert_eq!(after.cadence_kept, Some(1.0));
        assert_eq!(after.days_since_executive_meeting, Some(10.0));
        assert_eq!(
            after.contacts_engaged,
            Some(3),
            "the executive and both network contacts"
        );
        for kind in TouchpointKind::ALL {
            let counts = matches!(
                kind,
                TouchpointKind::Meeting | TouchpointKind::Call | TouchpointKind::BusinessReview
            );
            assert_eq!(kind.counts_for_cadence(), counts, "{kind}");
        }
    }

    #[test]
    fn the_next_renewal_is_the_agreed_date_or_the_next_end_of_term() {
        let line = |start: &str, months: i32, end: Option<&str>| Line {
            product: "Core".into(),
            start_date: day(start),
            end_date: end.map(day),
            mrr: Money::from_units(10).unwrap(),
            quantity: None,
            units: None,
            bill_period_months: months,
        };
        let annual = [line("2024-03-15", 12, None)];
        assert_eq!(next_renewal(None, &annual, day("2026-06-30")), Some(day("2027-03-15")));
        assert_eq!(next_renewal(None, &annual, day("2026-03-14")), Some(day("2026-03-15")));
        assert_eq!(next_renewal(None, &annual, day("2026-03-15")), Some(day("2027-03-15")));
        assert_eq!(
            next_renewal(Some(day("2026-12-01")), &annual, day("2026-06-30")),
            Some(day("2026-12-01")),
            "the agreed date wins while ahead"
        );
        assert_eq!(
            next_renewal(Some(day("2026-01-01")), &annual, day("2026-06-30")),
            Some(day("2027-03-15")),
            "a past agreed date says nothing of the next"
        );
        let monthly = [line("2026-01-31", 1, None), line("2026-05-02", 12, Some("2026-06-01"))];
        assert_eq!(next_renewal(None, &monthly, day("2026-06-30")), Some(day("2026-07-31")));
        assert_eq!(
            next_renewal(Some(day("2026-12-01")), &monthly, day("2026-06-30")),
            Some(day("2026-07-31")),
            "a monthly line renews each month, whatever the agreed date"
        );
        // Replayed in an earlier term: its lines ended at the renewal, and today's agreed
        // date (a term later) is not that day's next renewal.
        let renewed = [line("2025-03-01", 12, Some("2026-03-01")), line("2026-03-01", 12, None)];
        assert_eq!(
            next_renewal(Some(day("2027-03-01")), &renewed, day("2025-06-30")),
            Some(day("2026-03-01"))
        );
        assert_eq!(
            next_renewal(Some(day("2027-03-01")), &renewed, day("2026-06-30")),
            Some(day("2027-03-01"))
        );
        let three_years = [line("2025-03-01", 12, None)];
        assert_eq!(
            next_renewal(Some(day("2028-03-01")), &three_years, day("2026-06-30")),
            Some(day("2028-03-01")),
            "a multi-year term billed yearly renews at its end"
        );
        assert_eq!(next_renewal(None, &[], day("2026-06-30")), None);
    }

    #[test]
    fn a_new_account_counts_per_month_over_the_days_it_was_a_customer() {
        let r = relationship();
        let base = inputs(&r);
        let new = AccountInputs {
            landed_on: Some(base.as_of - TimeDelta::days(10)),
            ..inputs(&r)
        };
        let s = signals(&new, &Windows::default());
        let expected = 360.0 * DAYS_PER_MONTH / 10.0;
        assert!(
            (s["events_per_month"] - expected).abs() < 1e-9,
            "{}",
            s["events_per_month"]
        );
        assert!((s["depth"] - expected / 10.0).abs() < 1e-9);
        // The window before lies before landing: one day at least, no division by zero.
        assert!(s["events_change"].is_finite());
        let today = AccountInputs {
            landed_on: Some(base.as_of),
            ..inputs(&r)
        };
        assert!(signals(&today, &Windows::default())["events_per_month"].is_finite());
    }

    #[test]
    fn an_account_without_people_or_seats_has_no_such_signals() {
        let none = Relationship::default();
        let bare = AccountInputs {
            seats: None,
            departments: 0,
            ..inputs(&none)
        };
        let s = signals(&bare, &Windows::default());
        for absent in [
            "utilisation",
            "spread",
            "cadence_kept",
            "days_since_executive_meeting",
            "contacts_engaged",
        ] {
            assert!(!s.contains_key(absent), "{absent}");
        }
    }

    proptest::proptest! {
        /// Cases opened and closed, and surveys answered, before `experience_from` change
        /// no signal: the store may leave them unread.
        #[test]
        fn records_before_experience_from_change_no_signal(
            cases in proptest::collection::vec((0_i64..400, proptest::option::of(0_i64..60), 1_i32..5, proptest::bool::ANY), 0..30),
            surveys in proptest::collection::vec((0_i64..400, 0_i32..11, proptest::bool::ANY), 0..20),
            experience_days in 1_u32..120,
        ) {
            use crate::model::{CaseKind, CaseStatus};
            let windows = Windows { experience_days, ..Windows::default() };
            let as_of = day("2026-06-30");
            // Instants from 400 days before the day to its end, at odd hours.
            let at = |hours_back: i64| end_of(as_of).unwrap() - TimeDelta::hours(hours_back * 23 + 1);
            let mut r = relationship();
            r.cases = cases.iter().enumerate().map(|(i, &(back, closed_after, severity, how_to))| NewSupportCase {
                external_id: format!("c{i}"),
                account_id: 1,
                opened_at: at(back),
                closed_at: closed_after.map(|d| at(back) + TimeDelta::hours(d * 17)),
                severity,
                kind: if how_to { CaseKind::HowTo } else { CaseKind::Defect },
                status: CaseStatus::Open,
                subject: None,
            }).collect();
            r.surveys = surveys.iter().enumerate().map(|(i, &(back, score, nps))| NewSurveyResponse {
                external_id: format!("s{i}"),
                account_id: 1,
                contact_ref: None,
                survey: if nps { SurveyKind::Nps } else { SurveyKind::Csat },
                score: if nps { score } else { score.clamp(1, 5) },
                responded_at: at(back),
                comment: None,
            }).collect();
            let from = experience_from(as_of, &windows).and_hms_opt(0, 0, 0).unwrap().and_utc();
            let mut read = r.clone();
            read.cases.retain(|c| c.opened_at >= from || c.closed_at.is_some_and(|t| t >= from));
            read.surveys.retain(|s| s.responded_at >= from);
            proptest::prop_assert_eq!(signals(&inputs(&r), &windows), signals(&inputs(&read), &windows));
        }
    }
}
