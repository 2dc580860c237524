//! Experience and transformation of one account as of a given day, from its records:
//! signals the health model scores (`crate::health::inputs` computes them all). Every signal counts only what was known on that day, so that
//! a model can be replayed over history. Definitions: docs/metrics.md, "Health signals".

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::model::{CaseKind, NewOutcome, NewSupportCase, NewSurveyResponse, SurveyKind};

/// The end of `day` (the first instant of the next day): records up to it are known.
fn end_of(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.succ_opt()?.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

/// Quality and satisfaction over the `window_days` that end with `as_of`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Experience {
    /// Cases opened in the window.
    pub cases: u32,
    /// Cases opened per active user; `None` without active users.
    pub cases_per_active_user: Option<f64>,
    /// Mean severity of the cases opened, 1 (critical) to 4 (low).
    pub mean_severity: Option<f64>,
    /// Median days from opening to closing, over cases closed in the window.
    pub median_days_to_resolve: Option<f64>,
    /// Share of the cases opened that are how-to cases: users who could not get value.
    pub how_to_share: Option<f64>,
    /// Mean CSAT (1–5) of the responses in the window.
    pub csat: Option<f64>,
    /// NPS of the responses in the window: % promoters (9–10) − % detractors (0–6).
    pub nps: Option<f64>,
}

/// The account's experience as of `as_of`, over the `window_days` ending that day.
pub fn experience(
    cases: &[NewSupportCase],
    surveys: &[NewSurveyResponse],
    active_users: u32,
    as_of: NaiveDate,
    window_days: u32,
) -> Experience {
    let (Some(until), Some(from)) = (
        end_of(as_of),
        end_of(as_of).and_then(|e| e.checked_sub_signed(chrono::TimeDelta::days(i64::from(window_days)))),
    ) else {
        return Experience::default();
    };
    let within = |t: DateTime<Utc>| from <= t && t < until;
    let opened: Vec<&NewSupportCase> = cases.iter().filter(|c| within(c.opened_at)).collect();
    let n = opened.len() as f64;
    let mean = |values: &[f64]| (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
    let mut resolve_days: Vec<f64> = cases
        .iter()
        .filter_map(|c| {
            c.closed_at
                .filter(|closed| within(*closed))
                .map(|closed| (closed, c.opened_at))
        })
        .map(|(closed, opened)| (closed - opened).num_seconds().max(0) as f64 / 86_400.0)
        .collect();
    resolve_days.sort_by(f64::total_cmp);
    let median = match resolve_days.len() {
        0 => None,
        len if len % 2 == 1 => Some(resolve_days[len / 2]),
        len => Some((resolve_days[len / 2 - 1] + resolve_days[len / 2]) / 2.0),
    };
    let scores = |kind: SurveyKind| -> Vec<f64> {
        surveys
            .iter()
            .filter(|s| s.survey == kind && within(s.responded_at))
            .map(|s| f64::from(s.score))
            .collect()
    };
    let nps = crate::figures::nps(scores(SurveyKind::Nps));
    Experience {
        cases: opened.len() as u32,
        cases_per_active_user: (active_users > 0).then(|| n / f64::from(active_users)),
        mean_severity: mean(&opened.iter().map(|c| f64::from(c.severity)).collect::<Vec<_>>()),
        median_days_to_resolve: median,
        how_to_share: (n > 0.0).then(|| opened.iter().filter(|c| c.kind == CaseKind::HowTo).count() as f64 / n),
        csat: mean(&scores(SurveyKind::Csat)),
        nps,
    }
}

/// One outcome's progress as of a day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeProgress {
    pub name: String,
    /// The latest measurement on or before the day; `None` before the first.
    pub current: Option<f64>,
    /// How far from baseline to target the current value is: 0 at baseline, 1 at target
    /// (more past it, negative when it moved away), in the outcome's direction
    /// ([`NewOutcome::progress`]: an outcome to keep at its level is 1 when kept, 0 when not).
    pub progress: Option<f64>,
    /// How far it should be by now, moving evenly from the start date to the target date.
    pub expected: Option<f64>,
    /// Progress at least [`ON_TRACK_SLACK`] short of expected, or the target reached.
    pub on_track: Option<bool>,
}

/// How far behind the even path an outcome may be and still be on track.
pub const ON_TRACK_SLACK: f64 = 0.1;

/// The customer's outcomes as of a day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transformation {
    pub outcomes: Vec<OutcomeProgress>,
    /// Of the outcomes with a measurement, the share on track; `None` without any.
    pub on_track_share: Option<f64>,
}

/// Progress of each outcome from baseline towards target, against its target date, as
/// of `as_of`. `measurements[i]` are outcome `i`'s (day, value) pairs, in any order.
pub fn transformation(
    outcomes: &[NewOutcome],
    measurements: &[Vec<(NaiveDate, f64)>],
    as_of: NaiveDate,
) -> Transformation {
    let progress: Vec<OutcomeProgress> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let current = measurements
                .get(i)
                .into_iter()
                .flatten()
                .filter(|(day, value)| *day <= as_of && value.is_finite())
                .max_by_key(|(day, _)| *day)
                .map(|(_, value)| *value);
            let progress = current.and_then(|c| o.progress(c));
            let expected = match (o.start_date, o.target_date) {
                (Some(start), Some(target)) if target > start => {
                    let elapsed = (as_of - start).num_days() as f64 / (target - start).num_days() as f64;
                    Some(elapsed.clamp(0.0, 1.0))
                }
                (_, Some(target)) => Some(if as_of >= target { 1.0 } else { 0.0 }),
                _ => None,
            };
            let on_track = progress.map(|p| p >= 1.0 || expected.is_none_or(|e| p >= e - ON_TRACK_SLACK));
            OutcomeProgress {
                name: o.name.clone(),
                current,
                progress,
                expected,
                on_track,
            }
        })
        .collect();
    let judged: Vec<bool> = progress.iter().filter_map(|p| p.on_track).collect();
    let on_track_share =
        (!judged.is_empty()).then(|| judged.iter().filter(|t| **t).count() as f64 / judged.len() as f64);
    Transformation {
        outcomes: progress,
        on_track_share,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CaseStatus;
    use proptest::prelude::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        format!("{s}T12:00:00Z").parse().unwrap()
    }

    fn case(opened: &str, closed: Option<&str>, severity: i32, kind: CaseKind) -> NewSupportCase {
        NewSupportCase {
            external_id: format!("c-{opened}-{severity}"),
            account_id: 1,
            opened_at: at(opened),
            closed_at: closed.map(at),
            severity,
            kind,
            status: if closed.is_some() {
                CaseStatus::Closed
            } else {
                CaseStatus::Open
            },
            subject: None,
        }
    }

    fn survey(kind: SurveyKind, score: i32, on: &str) -> NewSurveyResponse {
        NewSurveyResponse {
            external_id: format!("s-{on}-{score}"),
            account_id: 1,
            contact_ref: None,
            survey: kind,
            score,
            responded_at: at(on),
            comment: None,
        }
    }

    fn outcome(baseline: f64, target: f64, start: Option<&str>, target_date: Option<&str>) -> NewOutcome {
        NewOutcome {
            external_id: "o".into(),
            account_id: 1,
            name: "Share of offices with local breakout".into(),
            unit: Some("%".into()),
            baseline,
            target,
            start_date: start.map(day),
            target_date: target_date.map(day),
            direction: crate::model::Direction::implied(baseline, target),
        }
    }

    #[test]
    fn experience_counts_only_the_window_known_on_the_day() {
        let cases = [
            case("2026-01-10", Some("2026-01-12"), 2, CaseKind::Defect),
            case("2026-02-01", Some("2026-02-05"), 4, CaseKind::HowTo),
            case("2026-02-20", None, 3, CaseKind::HowTo),
            case("2026-03-15", Some("2026-03-16"), 1, CaseKind::Defect), // after the day
        ];
        let surveys = [
            survey(SurveyKind::Nps, 10, "2026-02-10"),
            survey(SurveyKind::Nps, 9, "2026-02-11"),
            survey(SurveyKind::Nps, 3, "2026-02-12"),
            survey(SurveyKind::Csat, 4, "2026-02-13"),
            survey(SurveyKind::Csat, 5, "2026-02-14"),
            survey(SurveyKind::Nps, 0, "2025-06-01"), // before the window
        ];
        let e = experience(&cases, &surveys, 10, day("2026-03-01"), 60);
        assert_eq!(e.cases, 3);
        assert_eq!(e.cases_per_active_user, Some(0.3));
        assert_eq!(e.mean_severity, Some(3.0));
        assert_eq!(e.median_days_to_resolve, Some(3.0), "2 and 4 days");
        assert_eq!(e.how_to_share, Some(2.0 / 3.0));
        assert_eq!(e.csat, Some(4.5));
        assert!(
            (e.nps.unwrap() - 100.0 / 3.0).abs() < 1e-9,
            "2 promoters, 1 detractor of 3"
        );
        let none = experience(&cases, &surveys, 0, day("2025-01-01"), 30);
        assert_eq!(none, Experience::default());
    }

    #[test]
    fn transformation_against_the_even_path() {
        let outcomes = [
            outcome(10.0, 60.0, Some("2026-01-01"), Some("2026-12-31")),
            outcome(48.0, 8.0, Some("2026-01-01"), Some("2026-05-01")), // hours down
            outcome(0.0, 100.0, None, None),
        ];
        let measurements = vec![
            vec![
                (day("2026-07-01"), 40.0),
                (day("2026-04-01"), 20.0),
                (day("2026-08-01"), 99.0),
            ],
            vec![(day("2026-03-01"), 40.0)],
            vec![],
        ];
        let t = transformation(&outcomes, &measurements, day("2026-07-02"));
        let first = &t.outcomes[0];
        assert_eq!(first.current, Some(40.0), "the latest known on the day");
        assert!((first.progress.unwrap() - 0.6).abs() < 1e-9);
        assert!((first.expected.unwrap() - 182.0 / 364.0).abs() < 1e-9);
        assert_eq!(first.on_track, Some(true));
        let second = &t.outcomes[1];
        assert!(
            (second.progress.unwrap() - 0.2).abs() < 1e-9,
            "a fall from 48 to 40 of 40 hours"
        );
        assert_eq!(second.expected, Some(1.0), "past its target date");
        assert_eq!(second.on_track, Some(false));
        assert_eq!(t.outcomes[2].on_track, None, "nothing measured yet");
        assert_eq!(t.on_track_share, Some(0.5));
    }

    proptest! {
        #[test]
        fn shares_and_rates_stay_in_range(
            kinds in proptest::collection::vec((0u8..2, 1i32..5, 0u32..90, proptest::option::of(0u32..40)), 0..30),
            scores in proptest::collection::vec((0i32..11, 0u32..90), 0..30),
            active in 0u32..50,
        ) {
            let base = day("2026-01-01");
            let cases: Vec<NewSupportCase> = kinds.iter().map(|(k, severity, opened, took)| {
                let opened_at = (base + chrono::Days::new(u64::from(*opened))).and_hms_opt(9, 0, 0).unwrap().and_utc();
                NewSupportCase {
                    external_id: "c".into(), account_id: 1, opened_at,
                    closed_at: took.map(|d| opened_at + chrono::TimeDelta::days(i64::from(d))),
                    severity: *severity,
                    kind: if *k == 0 { CaseKind::HowTo } else { CaseKind::Defect },
                    status: CaseStatus::Open, subject: None,
                }
            }).collect();
            let surveys: Vec<NewSurveyResponse> = scores.iter().map(|(score, on)| NewSurveyResponse {
                external_id: "s".into(), account_id: 1, contact_ref: None, survey: SurveyKind::Nps, score: *score,
                responded_at: (base + chrono::Days::new(u64::from(*on))).and_hms_opt(9, 0, 0).unwrap().and_utc(), comment: None,
            }).collect();
            let e = experience(&cases, &surveys, active, base + chrono::Days::new(100), 120);
            prop_assert_eq!(e.cases as usize, cases.len());
            prop_assert!(e.how_to_share.is_none_or(|s| (0.0..=1.0).contains(&s)));
            prop_assert!(e.nps.is_none_or(|n| (-100.0..=100.0).contains(&n)));
            prop_assert!(e.mean_severity.is_none_or(|s| (1.0..=4.0).contains(&s)));
            prop_assert!(e.median_days_to_resolve.is_none_or(|d| d >= 0.0));
        }
    }
}
