//! The customer's business outcomes (PIMO's Plan) and their monthly measurements: they
//! move towards target at the pace of the account's transformation, or stall.

use chrono::{NaiveDate, TimeDelta};

use super::Window;
use super::catalog::{OUTCOMES, Segment};
use super::dice::{Dice, Stream};
use super::lifecycle::{Story, add_months};
use laer_core::model::{NewOutcome, NewOutcomeMeasurement};

/// An account's outcomes, and measurements whose `outcome_id` is an index into them.
pub struct Outcomes {
    pub outcomes: Vec<NewOutcome>,
    pub measurements: Vec<NewOutcomeMeasurement>,
}

/// At most this many outcomes per account, follow-ups included.
const MAX_OUTCOMES: usize = 4;

pub fn simulate(account: usize, story: &Story, window: &Window, seed: u64) -> Outcomes {
    let mut dice = Dice::new(seed, Stream::Outcomes, account as u64);
    let mut templates: Vec<usize> = (0..OUTCOMES.len()).collect();
    dice.shuffle(&mut templates);
    let mut result = Outcomes {
        outcomes: Vec::new(),
        measurements: Vec::new(),
    };
    // (template, start) waiting to be measured; follow-ups join as outcomes are reached.
    let mut pending: Vec<(usize, NaiveDate)> = Vec::new();
    for episode in &story.episodes {
        let count = match story.segment {
            Segment::Smb => 1,
            Segment::MidMarket => dice.int(1, 2),
            Segment::Enterprise => dice.int(2, 3),
        } as usize;
        // An account that was a customer long before the window shows its current plan,
        // agreed at most half a year before the window opened.
        let earliest = window.start - TimeDelta::days(dice.int(0, 180));
        let start = (episode.start + TimeDelta::days(30)).max(earliest);
        for _ in 0..count {
            if let Some(template) = templates.pop() {
                pending.push((template, start));
            }
        }
        while let Some((template, start)) = pending.pop() {
            if result.outcomes.len() >= MAX_OUTCOMES {
                break;
            }
            let end = episode.end.unwrap_or(window.today).min(window.today);
            if start >= end {
                continue;
            }
            let reached_on = measure(account, template, start, end, story, &mut dice, &mut result);
            if let Some(reached_on) = reached_on
                && dice.chance(0.5)
                && let (Some(next), Some(start)) = (templates.pop(), add_months(reached_on, 1))
            {
                pending.push((next, start));
            }
        }
    }
    result
}

/// Adds outcome `template` starting on `start` with monthly measurements until `end`;
/// returns the day it reached its target, if it did.
fn measure(
    account: usize,
    template: usize,
    start: NaiveDate,
    end: NaiveDate,
    story: &Story,
    dice: &mut Dice,
    result: &mut Outcomes,
) -> Option<NaiveDate> {
    let t = &OUTCOMES[template];
    let baseline = dice.between(t.baseline.0, t.baseline.1).round();
    let target = dice.between(t.target.0, t.target.1).round();
    let months = dice.int(i64::from(t.months.0), i64::from(t.months.1)) as u32;
    let outcome_id = result.outcomes.len();
    result.outcomes.push(NewOutcome {
        external_id: format!("outcome-{:04}-{}", account + 1, outcome_id + 1),
        account_id: account as i64,
        name: t.name.to_string(),
        unit: Some(t.unit.to_string()),
        baseline,
        target,
        start_date: Some(start),
        target_date: add_months(start, months),
        direction: laer_core::model::Direction::implied(baseline, target),
    });
    let span = target - baseline;
    let (low, high) = if t.unit == "%" { (0.0, 100.0) } else { (0.0, f64::MAX) };
    let mut progress: f64 = 0.0;
    let mut reached = None;
    for k in 0.. {
        let Some(day) = add_months(start, k) else {
            break;
        };
        if day >= end {
            break;
        }
        if k > 0 {
            let pace = story.step_on(day).map_or(0.0, |s| s.drivers.transformation);
            // Transformation 0.7 reaches the target about on time; 0.3 stalls near 40%.
            progress += pace * 1.45 / f64::from(months) - 0.03 + 0.03 * dice.normal();
            progress = progress.clamp(-0.15, 1.1);
        }
        let noise = 0.02 * span.abs() * dice.normal();
        let value = (baseline + span * progress + noise).clamp(low, high);
        result.measurements.push(NewOutcomeMeasurement {
            outcome_id: outcome_id as i64,
            measured_on: day,
            value: (value * 10.0).round() / 10.0,
            source: None,
            note: None,
            recorded_by: None,
        });
        if progress >= 1.0 && reached.is_none() {
            reached = Some(day);
        }
    }
    reached
}
