//! The implementation milestones of each customer's success plan (PIMO's Implement): a
//! new customer's first months (kick-off, integration, training, first team live, a first
//! review), or a long-standing customer's plan for its current contract year. Milestones
//! past due were reached about on time when the customer's people took to the solution,
//! and are late when they did not.

use chrono::{Datelike, NaiveDate, TimeDelta};

use super::Window;
use super::catalog::Segment;
use super::dice::{Dice, Stream};
use super::lifecycle::Story;
use laer_core::model::{MilestoneSide, NewMilestone};

/// (title, whose work, days after the plan's start); the first ones are every
/// segment's, larger customers get them all.
const FIRST_MONTHS: [(&str, MilestoneSide, i64); 6] = [
    ("Kick-off meeting held", MilestoneSide::Vendor, 7),
    ("Single sign-on and directory connected", MilestoneSide::Customer, 30),
    ("Administrators trained", MilestoneSide::Vendor, 45),
    ("First team live", MilestoneSide::Customer, 60),
    ("First business review", MilestoneSide::Vendor, 90),
    ("Roll-out to every department", MilestoneSide::Customer, 150),
];
const CONTRACT_YEAR: [(&str, MilestoneSide, i64); 5] = [
    ("Success plan reviewed for the year ahead", MilestoneSide::Vendor, 14),
    ("Advanced training for administrators", MilestoneSide::Vendor, 60),
    ("Roll-out to a further department", MilestoneSide::Customer, 120),
    ("Executive business review", MilestoneSide::Vendor, 180),
    (
        "Outcome targets reviewed with the sponsors",
        MilestoneSide::Customer,
        270,
    ),
];

/// A customer of less than this many days is in its first months.
const NEW_CUSTOMER_DAYS: i64 = 365;

/// The milestones of `account`, a customer on the window's last day; none otherwise.
pub fn simulate(account: usize, story: &Story, window: &Window, seed: u64) -> Vec<NewMilestone> {
    let Some(episode) = story
        .episodes
        .last()
        .filter(|e| e.end.is_none() && e.start < window.today)
    else {
        return Vec::new();
    };
    let mut dice = Dice::new(seed, Stream::Milestones, account as u64);
    let (start, plan): (NaiveDate, &[(&str, MilestoneSide, i64)]) =
        if (window.today - episode.start).num_days() < NEW_CUSTOMER_DAYS {
            (episode.start, &FIRST_MONTHS)
        } else {
            (last_anniversary(episode.start, window.today), &CONTRACT_YEAR)
        };
    let count = match story.segment {
        Segment::Smb => 3,
        Segment::MidMarket => plan.len() - 1,
        Segment::Enterprise => plan.len(),
    };
    plan.iter()
        .take(count)
        .enumerate()
        .map(|(n, (title, side, days))| {
            let due_on = start + TimeDelta::days(*days);
            let done_on = (due_on < window.today)
                .then(|| {
                    // The vendor keeps its own dates; the customer's follow its people's use.
                    let adoption = story.step_on(due_on).map_or(0.5, |s| s.drivers.adoption);
                    let p = match side {
                        MilestoneSide::Vendor => 0.92,
                        MilestoneSide::Customer => 0.35 + 0.6 * adoption,
                    };
                    let slip = dice.int(-5, 12);
                    dice.chance(p)
                        .then(|| (due_on + TimeDelta::days(slip)).min(window.today - TimeDelta::days(1)))
                })
                .flatten();
            NewMilestone {
                external_id: Some(format!("milestone-{:04}-{}", account + 1, n + 1)),
                account_id: account as i64,
                title: title.to_string(),
                due_on,
                done_on,
                side: *side,
            }
        })
        .collect()
}

/// The latest anniversary of `start` before `today`.
fn last_anniversary(start: NaiveDate, today: NaiveDate) -> NaiveDate {
    (0..=today.year() - start.year())
        .rev()
        .filter_map(|years| start.with_year(start.year() + years))
        .find(|d| *d < today)
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_year_starts_on_the_last_anniversary() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            last_anniversary(day("2021-03-10"), day("2026-06-30")),
            day("2026-03-10")
        );
        assert_eq!(
            last_anniversary(day("2021-09-10"), day("2026-06-30")),
            day("2025-09-10")
        );
        assert_eq!(
            last_anniversary(day("2026-06-30"), day("2026-06-30")),
            day("2026-06-30")
        );
    }
}
