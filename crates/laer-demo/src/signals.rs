//! The signals of experience and engagement: support cases with their CSAT, relationship
//! NPS, and meetings with each stakeholder team on its agreed cadence.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};

use super::Window;
use super::catalog::{
    DEFECT_SUBJECTS, FEATURE_REQUEST_SUBJECTS, FEATURES, HOW_TO_SUBJECTS, QUESTION_SUBJECTS, STAKEHOLDER_TEAMS,
};
use super::dice::{Dice, Stream};
use super::lifecycle::Story;
use super::usage::{Observed, at, weekday_weight};
use laer_core::model::{
    CaseKind, CaseStatus, MeetingStatus, NewContact, NewSupportCase, NewSurveyResponse, NewTouchpoint, SurveyKind,
    TouchpointKind,
};

/// A day in `[from, to)` drawn by the weekday pattern, at a working time (07:00–18:00 UTC).
fn working_instant(from: NaiveDate, to: NaiveDate, dice: &mut Dice) -> Option<DateTime<Utc>> {
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d < to).collect();
    let weights: Vec<f64> = days.iter().map(weekday_weight).collect();
    let day = days.get(dice.weighted(&weights))?;
    at(*day, dice.int(7 * 60, 18 * 60 - 1))
}

pub struct Cases {
    pub cases: Vec<NewSupportCase>,
    pub csat: Vec<NewSurveyResponse>,
    /// How-to cases per story step.
    pub how_to: Vec<u32>,
}

/// Support cases month by month. How-to cases come from users who cannot get value
/// (low adoption, new users); defects from poor experience, which also makes them more
/// severe and slower to fix. Some closed cases get a CSAT answer.
pub fn support_cases(
    account: usize,
    story: &Story,
    observed: &[Observed],
    contacts: &[NewContact],
    window: &Window,
    seed: u64,
) -> Cases {
    let mut dice = Dice::new(seed, Stream::Cases, account as u64);
    let now = at(window.today, 0);
    // Each case with what its CSAT answer would rest on: (speed of the fix, experience, engagement).
    let mut cases: Vec<(NewSupportCase, f64, f64, f64)> = Vec::new();
    let mut how_to = vec![0; story.steps.len()];
    for (n, (step, seen)) in story.steps.iter().zip(observed).enumerate() {
        if !seen.in_window {
            continue;
        }
        let (from, to) = (step.from.max(window.start), step.to.min(window.today));
        let share = (to - from).num_days() as f64 / 30.4;
        let d = step.drivers;
        let root = f64::from(seen.active_users.max(1)).sqrt() * share;
        let onboarding = if step.tenure < 3 { 0.06 } else { 0.0 };
        let means = [
            (CaseKind::HowTo, root * (0.12 * (1.25 - d.adoption) + onboarding)),
            (
                CaseKind::Defect,
                root * 0.3 * (1.2 - d.experience) * (1.2 - d.experience),
            ),
            (CaseKind::Question, root * 0.05),
            (CaseKind::FeatureRequest, root * 0.03 * (0.5 + d.engagement)),
        ];
        for (kind, mean) in means {
            for _ in 0..dice.poisson(mean) {
                let Some(opened_at) = working_instant(from, to, &mut dice) else {
                    continue;
                };
                if kind == CaseKind::HowTo {
                    how_to[n] += 1;
                }
                let severity = match kind {
                    CaseKind::Defect => {
                        let bad = 1.0 - d.experience;
                        1 + dice.weighted(&[0.03 + 0.08 * bad, 0.15 + 0.1 * bad, 0.45, 0.3]) as i32
                    }
                    CaseKind::HowTo => *dice.pick(&[3, 4, 4]),
                    _ => 4,
                };
                // Hours to resolve: by severity and kind, slower when experience is poor.
                let base = match (kind, severity) {
                    (CaseKind::FeatureRequest, _) => 400.0,
                    (CaseKind::Question, _) => 16.0,
                    (CaseKind::HowTo, _) => 24.0,
                    (_, 1) => 6.0,
                    (_, 2) => 20.0,
                    (_, 3) => 50.0,
                    _ => 80.0,
                };
                let hours = base * (1.7 - d.experience) * dice.between(0.4, 1.6);
                let closed_at = opened_at
                    .checked_add_signed(TimeDelta::minutes((hours * 60.0) as i64))
                    .filter(|c| now.is_some_and(|now| *c < now));
                let status = match closed_at {
                    None if dice.chance(0.5) => CaseStatus::Pending,
                    None => CaseStatus::Open,
                    Some(c) if now.is_some_and(|now| now - c < TimeDelta::days(7)) => CaseStatus::Resolved,
                    Some(_) => CaseStatus::Closed,
                };
                let case = NewSupportCase {
                    external_id: String::new(),
                    account_id: account as i64,
                    opened_at,
                    closed_at,
                    severity,
                    kind,
                    status,
                    subject: Some(subject(kind, &mut dice)),
                };
                let speed = 1.0 - (hours / (2.0 * base)).min(1.0);
                cases.push((case, speed, d.experience, d.engagement));
            }
        }
    }
    cases.sort_by_key(|c| c.0.opened_at);
    let mut csat = Vec::new();
    for (i, (case, speed, experience, engagement)) in cases.iter_mut().enumerate() {
        case.external_id = format!("case-{:04}-{:04}", account + 1, i + 1);
        let Some(closed) = case.closed_at else {
            continue;
        };
        if contacts.is_empty() || !dice.chance(0.3 + 0.2 * *engagement) {
            continue;
        }
        let score = 1.0 + 4.0 * (0.55 * *experience + 0.45 * *speed) + 0.8 * dice.normal();
        let responded_at = closed.checked_add_signed(TimeDelta::hours(dice.int(1, 48)));
        if let Some(responded_at) = responded_at.filter(|r| now.is_some_and(|now| *r < now)) {
            csat.push(NewSurveyResponse {
                external_id: format!("csat-{:04}-{:04}", account + 1, csat.len() + 1),
                account_id: account as i64,
                contact_ref: Some(dice.pick(contacts).external_id.clone()),
                survey: SurveyKind::Csat,
                score: (score.round() as i32).clamp(1, 5),
                responded_at,
                comment: Some(format!("About {}", case.external_id)),
            });
        }
    }
    Cases {
        cases: cases.into_iter().map(|c| c.0).collect(),
        csat,
        how_to,
    }
}

fn subject(kind: CaseKind, dice: &mut Dice) -> String {
    let area = dice.pick(&FEATURES).area;
    let template = match kind {
        CaseKind::HowTo => dice.pick(&HOW_TO_SUBJECTS),
        CaseKind::Defect => dice.pick(&DEFECT_SUBJECTS),
        CaseKind::FeatureRequest => dice.pick(&FEATURE_REQUEST_SUBJECTS),
        _ => dice.pick(&QUESTION_SUBJECTS),
    };
    let text = template.replace("{area}", area);
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Relationship NPS, asked of every contact each quarter (15 January, April, July,
/// October); engaged contacts answer more often. The score follows experience first,
/// then transformation, adoption and engagement.
pub fn nps(
    account: usize,
    story: &Story,
    contacts: &[NewContact],
    window: &Window,
    seed: u64,
) -> Vec<NewSurveyResponse> {
    let mut dice = Dice::new(seed, Stream::Surveys, account as u64);
    let now = at(window.today, 0);
    let mut responses = Vec::new();
    let campaigns = window
        .start
        .iter_days()
        .take_while(|d| *d < window.today)
        .filter(|d| d.day() == 15 && d.month0() % 3 == 0);
    for campaign in campaigns {
        let Some(step) = story.step_on(campaign).filter(|s| s.contract.is_some()) else {
            continue;
        };
        let d = step.drivers;
        for contact in contacts {
            if !dice.chance(0.2 + 0.35 * d.engagement) {
                continue;
            }
            let base = 0.35 * d.experience + 0.25 * d.transformation + 0.25 * d.adoption + 0.15 * d.engagement;
            let score = 7.8 + 16.0 * (base - 0.6) + 1.3 * dice.normal();
            let day = campaign + TimeDelta::days(dice.int(0, 10));
            let Some(responded_at) = at(day, dice.int(7 * 60, 18 * 60 - 1)).filter(|r| now.is_some_and(|n| *r < n))
            else {
                continue;
            };
            let score = (score.round() as i32).clamp(0, 10);
            let comment = match score {
                9..=10 => Some("The platform has become part of how we run our offices."),
                0..=4 => Some(*dice.pick(&[
                    "Too many issues and slow fixes.",
                    "We are not getting the value we expected.",
                    "Hard to get our teams to use it.",
                ])),
                _ => None,
            };
            responses.push(NewSurveyResponse {
                external_id: String::new(),
                account_id: account as i64,
                contact_ref: Some(contact.external_id.clone()),
                survey: SurveyKind::Nps,
                score,
                responded_at,
                comment: comment.map(str::to_string),
            });
        }
    }
    responses.sort_by_key(|r| r.responded_at);
    for (i, r) in responses.iter_mut().enumerate() {
        r.external_id = format!("nps-{:04}-{:04}", account + 1, i + 1);
    }
    responses
}

/// Meetings: a kickoff when a customer lands or returns, then each stakeholder team on
/// its cadence (a nominal date every `cadence` days from the start, moved by a few days
/// and off weekends), held or missed as engagement goes; the next one is scheduled.
/// Training follows months with many how-to cases.
pub fn meetings(
    account: usize,
    story: &Story,
    cadence: &[u32; 4],
    how_to: &[u32],
    window: &Window,
    seed: u64,
) -> Vec<NewTouchpoint> {
    let mut dice = Dice::new(seed, Stream::Meetings, account as u64);
    let mut meetings: Vec<(NaiveDate, usize, &'static str, MeetingStatus)> = Vec::new();
    let engagement_on = |day: NaiveDate| story.step_on(day).map_or(0.5, |s| s.drivers.engagement);
    let has_cadence = cadence.iter().any(|c| *c > 0);
    for episode in &story.episodes {
        let end = episode.end.unwrap_or(chrono::NaiveDate::MAX);
        let kickoff = weekday_on_or_after(episode.start + TimeDelta::days(7));
        if has_cadence && kickoff >= window.start && kickoff < window.today && kickoff < end {
            meetings.push((kickoff, 3, "onboarding", MeetingStatus::Held));
        }
        for (team, days) in cadence.iter().enumerate().filter(|(_, d)| **d > 0) {
            let kind = STAKEHOLDER_TEAMS[team].1;
            for k in 1.. {
                let nominal = episode.start + TimeDelta::days(i64::from(*days) * k);
                if nominal >= end {
                    break;
                }
                let day = weekday_on_or_after(nominal + TimeDelta::days(dice.int(-3, 3)));
                if day >= window.today {
                    if episode.end.is_none() {
                        meetings.push((day, team, kind, MeetingStatus::Scheduled));
                    }
                    break;
                }
                if day < window.start {
                    continue;
                }
                let g = engagement_on(day);
                // Executives slip first when the relationship cools.
                let held = if team == 0 { 0.25 + 0.7 * g } else { 0.4 + 0.55 * g };
                let status = if dice.chance(held) {
                    MeetingStatus::Held
                } else if dice.chance(0.6) {
                    MeetingStatus::Missed
                } else {
                    MeetingStatus::Cancelled
                };
                meetings.push((day, team, kind, status));
            }
        }
    }
    for (step, count) in story.steps.iter().zip(how_to) {
        if *count >= 3 && has_cadence && dice.chance(0.6) {
            let day = weekday_on_or_after(step.to - TimeDelta::days(dice.int(3, 10)));
            if day >= window.start && day < window.today {
                meetings.push((day, 3, "training", MeetingStatus::Held));
            }
        }
    }
    meetings.sort_by_key(|m| (m.0, m.1, m.2));
    meetings
        .into_iter()
        .enumerate()
        .filter_map(|(i, (day, team, kind, status))| {
            let minutes = match kind {
                "ebr" => dice.int(60, 90),
                "onboarding" | "training" => dice.int(60, 90),
                _ => dice.int(30, 45),
            };
            let held_at = at(day, *dice.pick(&[8 * 60, 9 * 60, 10 * 60, 13 * 60, 14 * 60, 15 * 60]))?;
            let notes = match status {
                MeetingStatus::Held => format!("{} with the {} team", meeting_title(kind), STAKEHOLDER_TEAMS[team].0),
                MeetingStatus::Missed => "The customer did not join".to_string(),
                MeetingStatus::Cancelled => "Cancelled by the customer".to_string(),
                MeetingStatus::Scheduled => format!("Next {} on the agreed cadence", meeting_title(kind)),
            };
            // The demo's meeting kinds (ebr, check_in, onboarding, training) are
            // purposes: an ebr is a business review, the rest meetings.
            let (kind, purpose) = TouchpointKind::of_legacy(kind);
            Some(NewTouchpoint {
                external_id: format!("mtg-{:04}-{:04}", account + 1, i + 1),
                account_id: account as i64,
                held_at,
                kind,
                purpose,
                status,
                duration_minutes: (status == MeetingStatus::Held).then_some(minutes as i32),
                stakeholder_teams: vec![STAKEHOLDER_TEAMS[team].0.to_string()],
                contact_ids: Vec::new(),
                team_member_ids: Vec::new(),
                summary: Some(notes),
                next_step: None,
            })
        })
        .collect()
}

fn meeting_title(kind: &str) -> &'static str {
    match kind {
        "ebr" => "Executive business review",
        "onboarding" => "Onboarding kickoff",
        "training" => "Training session",
        _ => "Check-in",
    }
}

pub fn weekday_on_or_after(day: NaiveDate) -> NaiveDate {
    match day.weekday() {
        Weekday::Sat => day + TimeDelta::days(2),
        Weekday::Sun => day + TimeDelta::days(1),
        _ => day,
    }
}
