//! Who needs the team today (issue 16), pure: how urgent an account's risk is by the
//! health model's calibrated churn probability, the portfolio's "needs attention" order
//! (that probability times ARR), each account's top reason in words, and the order of a
//! work queue. docs/work.md explains them to the team.

use std::cmp::Ordering;

use chrono::NaiveDate;
use serde::Serialize;

use crate::forecast::churn::{ChurnModel, Outlook, outlook};
use crate::health::model::Calibration;
use crate::health::score::Driver;
use crate::money::Money;

/// How urgent an account's risk is: the colour of its health everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// At least [`RiskScale::URGENT_TIMES`] the workspace's usual risk: red.
    Urgent,
    /// Above the usual risk: amber.
    Watch,
    /// At or below it: green.
    Steady,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Urgent => "urgent",
            Urgency::Watch => "watch",
            Urgency::Steady => "steady",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Urgency::Urgent => "Urgent",
            Urgency::Watch => "Watch",
            Urgency::Steady => "Steady",
        }
    }
}

/// The health model's calibration on this workspace's history: the probability that an
/// account of a given score churns or downsells within the horizon, and the share of all
/// accounts that did (the usual risk).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RiskScale {
    pub calibration: Calibration,
    pub base_rate: f64,
}

/// Before the model has been validated on the history, scores stand in: under this is
/// urgent, under [`SCORE_WATCH`] watch.
pub const SCORE_URGENT: f64 = 40.0;
pub const SCORE_WATCH: f64 = 70.0;

impl RiskScale {
    /// Urgent from this many times the usual risk.
    pub const URGENT_TIMES: f64 = 2.0;

    /// A scale when the calibration and a usual risk strictly between 0 and 1 are known.
    pub fn new(calibration: Option<Calibration>, base_rate: Option<f64>) -> Option<RiskScale> {
        let calibration = calibration.filter(|c| c.intercept.is_finite() && c.slope.is_finite())?;
        let base_rate = base_rate.filter(|r| *r > 0.0 && *r < 1.0)?;
        Some(RiskScale { calibration, base_rate })
    }
}

impl RiskScale {
    /// The score at which the calibrated risk is `risk`, within 0–100: below it the risk
    /// is higher (the curve falls as the score rises); 0 or 100 when the curve never
    /// reaches `risk` inside the scale.
    pub fn score_at(&self, risk: f64) -> f64 {
        let c = self.calibration;
        let p = |score: f64| c.churn_probability(score);
        if p(0.0) < risk {
            return 0.0;
        }
        if p(100.0) >= risk {
            return 100.0;
        }
        let logit = (risk / (1.0 - risk)).ln();
        (100.0 * (logit - c.intercept) / c.slope).clamp(0.0, 100.0)
    }
}

/// The scores below which health is urgent and below which it is watched (see
/// [`urgency`]): from the scale, else [`SCORE_URGENT`] and [`SCORE_WATCH`]. Charts shade
/// these bands.
pub fn thresholds(scale: Option<&RiskScale>) -> (f64, f64) {
    match scale {
        Some(s) => (
            s.score_at(RiskScale::URGENT_TIMES * s.base_rate),
            s.score_at(s.base_rate),
        ),
        None => (SCORE_URGENT, SCORE_WATCH),
    }
}

/// An account's risk: with a scale, the calibrated probability of churn or downsell
/// within the horizon (the usual risk when it has no score); without one, `1 − score/100`.
/// `None` without either.
pub fn risk(scale: Option<&RiskScale>, score: Option<f64>) -> Option<f64> {
    match (scale, score) {
        (Some(s), Some(score)) => Some(s.calibration.churn_probability(score)),
        (Some(s), None) => Some(s.base_rate),
        (None, Some(score)) => Some((1.0 - score / 100.0).clamp(0.0, 1.0)),
        (None, None) => None,
    }
}

/// How urgent a score is: by the calibrated risk against the usual one when the model has
/// been validated here, else by [`SCORE_URGENT`] and [`SCORE_WATCH`]. `None` without a score.
pub fn urgency(scale: Option<&RiskScale>, score: Option<f64>) -> Option<Urgency> {
    let score = score?;
    Some(match scale {
        Some(s) => {
            let p = s.calibration.churn_probability(score);
            if p >= RiskScale::URGENT_TIMES * s.base_rate {
                Urgency::Urgent
            } else if p > s.base_rate {
                Urgency::Watch
            } else {
                Urgency::Steady
            }
        }
        None if score < SCORE_URGENT => Urgency::Urgent,
        None if score < SCORE_WATCH => Urgency::Watch,
        None => Urgency::Steady,
    })
}

/// An account's open work: its open tasks, and how many of them are overdue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpenWork {
    pub open: usize,
    pub overdue: usize,
}

/// What ranks an account in the "needs attention" order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Need {
    /// ARR expected to be lost: risk × ARR (0 without a risk).
    pub arr_at_risk: f64,
    pub risk: Option<f64>,
    pub work: OpenWork,
}

impl Need {
    pub fn of(scale: Option<&RiskScale>, score: Option<f64>, arr: Money, work: OpenWork) -> Need {
        Need::with_risk(risk(scale, score), arr, work)
    }

    /// The need of an account whose chance of churn or downsell is `risk`.
    pub fn with_risk(risk: Option<f64>, arr: Money, work: OpenWork) -> Need {
        Need {
            arr_at_risk: risk.unwrap_or(0.0) * arr.to_f64(),
            risk,
            work,
        }
    }

    /// Neediest first: more ARR at risk, then more overdue tasks, then higher risk.
    pub fn cmp_neediest_first(&self, other: &Need) -> Ordering {
        other
            .arr_at_risk
            .total_cmp(&self.arr_at_risk)
            .then_with(|| other.work.overdue.cmp(&self.work.overdue))
            .then_with(|| other.risk.unwrap_or(0.0).total_cmp(&self.risk.unwrap_or(0.0)))
    }
}

/// What the lists need to rank and colour accounts: the risk scale, when the model has
/// been validated here, each account's open work, and the churn forecast.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attention {
    pub scale: Option<RiskScale>,
    pub work: std::collections::HashMap<i64, OpenWork>,
    /// The churn and downsell forecast ([`crate::forecast::churn`]): learned with the
    /// model's validation here, else the shipped one.
    pub churn: Option<ChurnModel>,
}

impl Attention {
    pub fn work_of(&self, account_id: i64) -> OpenWork {
        self.work.get(&account_id).copied().unwrap_or_default()
    }

    /// The account's churn and downsell outlook, for a customer whose health has been
    /// kept (as of that day), when there is a forecast.
    pub fn outlook(&self, account: &crate::portfolio::AccountSnapshot) -> Option<Outlook> {
        let model = self.churn.as_ref()?;
        let health = account.health.as_ref().filter(|_| !account.mrr.is_zero())?;
        Some(outlook(model, health.forecast_features(account.term_months)))
    }

    /// What ranks the account: with the forecast, its chance of churn or downsell within
    /// the forecast's horizon; without, the chance its score gives ([`risk`]).
    pub fn need(&self, account: &crate::portfolio::AccountSnapshot) -> Need {
        let risk = match self.outlook(account) {
            Some(o) => Some(o.churn + o.downsell),
            None => risk(self.scale.as_ref(), account.health_score()),
        };
        Need::with_risk(risk, account.arr(), self.work_of(account.id))
    }

    pub fn urgency(&self, score: Option<f64>) -> Option<Urgency> {
        urgency(self.scale.as_ref(), score)
    }
}

/// The driver that holds the score down most: the largest gap between the points it
/// could bring and those it brings (at least half a point); `None` when none does.
pub fn top_driver(drivers: &[Driver]) -> Option<&Driver> {
    largest_gap(drivers, |d| d.possible - d.contribution)
}

/// The item whose `gap` (points a driver could still bring) is largest, when at least
/// half a point: [`top_driver`] for any type of driver (the API's, the core's).
pub fn largest_gap<T>(items: &[T], gap: impl Fn(&T) -> f64) -> Option<&T> {
    items
        .iter()
        .filter(|d| gap(d) >= 0.5)
        .max_by(|a, b| gap(a).total_cmp(&gap(b)))
}

/// The driver's value in words: "No executive meeting for 93 days".
pub fn reason_in_words(driver: &Driver) -> String {
    crate::health::words::in_words(&driver.measure, driver.value)
}

/// Where a task stands in a queue: overdue first, then due within a week, then later,
/// then without a due date; within each, the larger account first, then the earlier due
/// date. `arr` is the account's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueKey {
    pub due_on: Option<NaiveDate>,
    pub arr: Money,
    pub id: i64,
}

/// The days within which a task counts as due soon.
pub const DUE_SOON_DAYS: i64 = 7;

impl QueueKey {
    fn group(&self, today: NaiveDate) -> u8 {
        match self.due_on {
            Some(d) if d < today => 0,
            Some(d) if (d - today).num_days() <= DUE_SOON_DAYS => 1,
            Some(_) => 2,
            None => 3,
        }
    }

    /// The queue's order on `today`.
    pub fn cmp_on(&self, other: &QueueKey, today: NaiveDate) -> Ordering {
        self.group(today)
            .cmp(&other.group(today))
            .then_with(|| other.arr.cmp(&self.arr))
            .then_with(|| self.due_on.cmp(&other.due_on))
            .then_with(|| self.id.cmp(&other.id))
    }
}

/// Sorts a queue in priority order ([`QueueKey::cmp_on`]).
pub fn sort_queue<T>(tasks: &mut [T], today: NaiveDate, key: impl Fn(&T) -> QueueKey) {
    tasks.sort_by(|a, b| key(a).cmp_on(&key(b), today));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Pillar;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn money(units: i64) -> Money {
        Money::from_units(units).unwrap()
    }

    /// Churn probability 0.5 at score 0 falling with the score; usual risk 10%.
    fn scale() -> RiskScale {
        RiskScale::new(
            Some(Calibration {
                intercept: 0.0,
                slope: -4.0,
            }),
            Some(0.1),
        )
        .unwrap()
    }

    #[test]
    fn urgency_follows_the_calibrated_risk_against_the_usual_one() {
        let s = scale();
        // p(score) = 1 / (1 + e^(4 score/100)): 0.2 at score ≈ 34.7, 0.1 at ≈ 54.9.
        assert_eq!(urgency(Some(&s), Some(30.0)), Some(Urgency::Urgent));
        assert_eq!(urgency(Some(&s), Some(45.0)), Some(Urgency::Watch));
        assert_eq!(urgency(Some(&s), Some(60.0)), Some(Urgency::Steady));
        assert_eq!(urgency(Some(&s), None), None);
        // Without a validated model, the score bands.
        assert_eq!(urgency(None, Some(39.0)), Some(Urgency::Urgent));
        assert_eq!(urgency(None, Some(69.0)), Some(Urgency::Watch));
        assert_eq!(urgency(None, Some(70.0)), Some(Urgency::Steady));
        assert_eq!(RiskScale::new(None, Some(0.1)), None);
        assert_eq!(
            RiskScale::new(Some(s.calibration), Some(0.0)),
            None,
            "no churn, no scale"
        );
    }

    #[test]
    fn thresholds_are_where_the_urgency_changes() {
        let s = scale();
        let (urgent, watch) = thresholds(Some(&s));
        assert!(
            (urgent - 34.66).abs() < 0.01 && (watch - 54.93).abs() < 0.01,
            "{urgent} {watch}"
        );
        assert_eq!(urgency(Some(&s), Some(urgent - 0.01)), Some(Urgency::Urgent));
        assert_eq!(urgency(Some(&s), Some(urgent + 0.01)), Some(Urgency::Watch));
        assert_eq!(urgency(Some(&s), Some(watch + 0.01)), Some(Urgency::Steady));
        assert_eq!(thresholds(None), (SCORE_URGENT, SCORE_WATCH));
        // A curve that never reaches twice the usual risk: nothing is urgent.
        let calm = RiskScale::new(
            Some(Calibration {
                intercept: -3.0,
                slope: -1.0,
            }),
            Some(0.1),
        )
        .unwrap();
        assert_eq!(thresholds(Some(&calm)).0, 0.0);
    }

    #[test]
    fn red_is_rare_when_most_accounts_score_low_but_churn_little() {
        // A workspace where scores sit low (median 45) but risk rises steeply only at
        // the bottom: under the score bands nearly half is red, by risk a tenth.
        let s = RiskScale::new(
            Some(Calibration {
                intercept: 1.0,
                slope: -12.0,
            }),
            Some(0.08),
        )
        .unwrap();
        let scores: Vec<f64> = (0..100).map(|i| 20.0 + f64::from(i) * 0.5).collect();
        let red_by_band = scores
            .iter()
            .filter(|x| urgency(None, Some(**x)) == Some(Urgency::Urgent))
            .count();
        let red_by_risk = scores
            .iter()
            .filter(|x| urgency(Some(&s), Some(**x)) == Some(Urgency::Urgent))
            .count();
        assert_eq!(red_by_band, 40);
        assert!(red_by_risk < 20, "{red_by_risk}");
    }

    #[test]
    fn the_neediest_account_is_the_most_arr_at_risk_then_overdue_work() {
        let s = scale();
        let work = |overdue| OpenWork {
            open: overdue + 1,
            overdue,
        };
        let big_fair = Need::of(Some(&s), Some(60.0), money(500_000), work(0));
        let small_poor = Need::of(Some(&s), Some(10.0), money(10_000), work(3));
        let unscored = Need::of(Some(&s), None, money(100_000), work(0));
        let mut needs = [small_poor, unscored, big_fair];
        needs.sort_by(Need::cmp_neediest_first);
        assert_eq!(needs, [big_fair, unscored, small_poor]);
        assert!(
            (unscored.arr_at_risk - 10_000.0).abs() < 1e-6,
            "the usual risk when unscored"
        );
        // Equal ARR at risk: the one with more overdue work first.
        let a = Need::of(None, Some(50.0), money(1_000), work(0));
        let b = Need::of(None, Some(50.0), money(1_000), work(2));
        assert_eq!(a.cmp_neediest_first(&b), Ordering::Greater);
        assert_eq!(Need::of(None, None, money(9), work(0)).arr_at_risk, 0.0);
    }

    #[test]
    fn the_top_reason_is_the_driver_holding_the_score_down_most() {
        let d = |measure: &str, value, contribution, possible| Driver {
            measure: measure.into(),
            pillar: Pillar::Engagement,
            value,
            score: 0.0,
            contribution,
            possible,
        };
        let drivers = vec![
            d("utilisation", 0.9, 9.0, 10.0),
            d("days_since_executive_meeting", 93.0, 1.0, 12.0),
            d("csat", 4.0, 5.0, 8.0),
        ];
        let top = top_driver(&drivers).unwrap();
        assert_eq!(reason_in_words(top), "No executive meeting for 93 days");
        assert_eq!(
            top_driver(&[d("csat", 5.0, 8.0, 8.2)]),
            None,
            "a gap under half a point"
        );
    }

    #[test]
    fn the_queue_puts_overdue_first_then_larger_accounts() {
        let today = day("2026-12-03");
        let k = |id, due: Option<&str>, arr| QueueKey {
            due_on: due.map(day),
            arr: money(arr),
            id,
        };
        let mut queue = vec![
            k(1, Some("2026-12-20"), 900_000),
            k(2, None, 1_000_000),
            k(3, Some("2026-12-01"), 5_000),
            k(4, Some("2026-12-05"), 2_000),
            k(5, Some("2026-11-20"), 50_000),
            k(6, Some("2026-12-09"), 80_000),
        ];
        sort_queue(&mut queue, today, |k| *k);
        let ids: Vec<i64> = queue.iter().map(|k| k.id).collect();
        assert_eq!(ids, [5, 3, 6, 4, 1, 2]);
    }
}
