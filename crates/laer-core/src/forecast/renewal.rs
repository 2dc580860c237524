//! The renewal forecast (issue 19, item 3): every renewal due in a quarter with its
//! renewable ARR, the likelihood that it renews, the ARR expected if it does (with the
//! expansion or contraction renewals bring here) and the forecast ARR; the system's
//! category beside the owner's call; the quarter rolled up to renewed ARR and to the GRR
//! and NRR of the ARR renewing, each with a 90 % interval by simulation; and, once the
//! quarter has closed, the forecast kept at its start against what happened.
//! docs/forecasts.md explains them to the team.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::bridge::Quarter;
use crate::forecast::churn::{Case, ChurnModel, Features, KeptChange};
use crate::model::text_enum;
use crate::money::Money;
use crate::portfolio::AccountSnapshot;

text_enum!(
    /// Where a renewal stands.
    Category { Commit = "commit", Probable = "probable", AtRisk = "at_risk", ExpectedChurn = "expected_churn" }
);

/// The likelihoods at which the system's call changes: commit from 90 %, probable from
/// 75 %, at risk from 50 %, expected churn below.
pub const COMMIT: f64 = 0.9;
pub const PROBABLE: f64 = 0.75;
pub const AT_RISK: f64 = 0.5;
/// Simulated quarters behind each interval.
pub const SIMULATIONS: usize = 2_000;

impl Category {
    /// The system's call for a likelihood of renewing.
    pub fn of(likelihood: f64) -> Category {
        if likelihood >= COMMIT {
            Category::Commit
        } else if likelihood >= PROBABLE {
            Category::Probable
        } else if likelihood >= AT_RISK {
            Category::AtRisk
        } else {
            Category::ExpectedChurn
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::Commit => "Commit",
            Category::Probable => "Probable",
            Category::AtRisk => "At risk",
            Category::ExpectedChurn => "Expected churn",
        }
    }
}

/// The owner's call on one renewal, with why (kept and audited by the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub category: Category,
    /// The ARR the owner expects to renew.
    pub amount: Money,
    pub reason: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

/// One renewal as forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewalForecast {
    pub account_id: i64,
    #[serde(default)]
    pub external_id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub on: NaiveDate,
    /// ARR today: what is up for renewal.
    pub renewable_arr: Money,
    /// The chance that it renews (1 − the churn chance at a renewal, by its health).
    pub likelihood: f64,
    /// The ARR expected if it renews: today's times the mean change of renewals kept here.
    pub expected_arr: f64,
    /// likelihood × expected ARR.
    pub forecast_arr: f64,
    /// The system's call.
    pub category: Category,
    /// The owner's, when made for this renewal date.
    pub call: Option<Call>,
}

impl RenewalForecast {
    /// The ARR forecast with the owner's call in: the owner's amount where there is one.
    pub fn called_arr(&self) -> f64 {
        self.call.as_ref().map_or(self.forecast_arr, |c| c.amount.to_f64())
    }

    /// The category with the owner's call in.
    pub fn called_category(&self) -> Category {
        self.call.as_ref().map_or(self.category, |c| c.category)
    }
}

/// The forecast of `account`'s next renewal, for a customer with one; `call` is the
/// owner's, applied only when made for that renewal date.
pub fn renewal(
    model: &ChurnModel,
    account: &AccountSnapshot,
    call: Option<&(NaiveDate, Call)>,
) -> Option<RenewalForecast> {
    let on = account.renewal_date.filter(|_| !account.mrr.is_zero())?;
    let score = account.health.as_ref().and_then(|h| h.score);
    let monthly = crate::forecast::churn::month_to_month(account.term_months);
    Some(RenewalForecast {
        external_id: account.external_id.clone(),
        name: account.name.clone(),
        call: call.filter(|(day, _)| *day == on).map(|(_, c)| c.clone()),
        ..forecast(model, account.id, on, account.arr(), score, monthly)
    })
}

/// The forecast of a renewal on `on` of `renewable_arr`, by an account scoring `score`
/// (none: unscored), month to month or not; without a name or a call.
fn forecast(
    model: &ChurnModel,
    account_id: i64,
    on: NaiveDate,
    renewable_arr: Money,
    score: Option<f64>,
    monthly: bool,
) -> RenewalForecast {
    let likelihood = 1.0 - model.churn_at_renewal(score, monthly);
    let expected_arr = renewable_arr.to_f64() * model.kept.mean;
    RenewalForecast {
        account_id,
        external_id: String::new(),
        name: None,
        on,
        renewable_arr,
        likelihood,
        expected_arr,
        forecast_arr: likelihood * expected_arr,
        category: Category::of(likelihood),
        call: None,
    }
}

/// A figure's expectation and its 90 % interval over the simulated quarters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub expected: f64,
    /// The 5th and 95th percentiles.
    pub low: f64,
    pub high: f64,
}

/// One category's renewals in a quarter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryTotal {
    pub category: Category,
    pub renewals: usize,
    pub renewable_arr: Money,
    pub forecast_arr: f64,
}

/// A quarter's renewals rolled up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarterForecast {
    pub quarter: String,
    pub renewals: usize,
    pub renewable_arr: Money,
    pub forecast_arr: f64,
    /// With the owners' calls in.
    pub called_arr: f64,
    /// By the system's category.
    pub categories: Vec<CategoryTotal>,
    /// The ARR renewed, simulated: each renewal renews with its likelihood and, if it
    /// does, changes by a ratio drawn from those of the renewals kept here.
    pub renewed_arr: Interval,
    /// Of the ARR renewing: what is kept without expansion (GRR) and with it (NRR).
    pub grr: Option<Interval>,
    pub nrr: Option<Interval>,
    pub simulations: usize,
}

fn interval(mut values: Vec<f64>) -> Interval {
    values.sort_by(f64::total_cmp);
    Interval {
        expected: values.iter().sum::<f64>() / values.len().max(1) as f64,
        low: crate::stats::quantile(&values, 0.05).unwrap_or(0.0),
        high: crate::stats::quantile(&values, 0.95).unwrap_or(0.0),
    }
}

/// Rolls up the renewals of `quarter` (`rows` may hold others: they are left out). The
/// simulation is seeded by the quarter, so the same forecast gives the same interval.
pub fn quarter(quarter: Quarter, rows: &[RenewalForecast], kept: &KeptChange) -> QuarterForecast {
    let name = quarter.to_string();
    let ours: Vec<&RenewalForecast> = rows.iter().filter(|r| Quarter::containing(r.on) == quarter).collect();
    let renewable: f64 = ours.iter().map(|r| r.renewable_arr.to_f64()).sum();
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let ratios = kept.ratios();
    // One draw per renewal and quarter simulated: its top 53 bits against the likelihood
    // (as a 53-bit threshold), its low 11 bits for the ratio (19 of them: the bias of
    // mapping 2,048 values onto them is under 1 %).
    let scale = (1u64 << 53) as f64;
    let each: Vec<(u64, f64)> = ours
        .iter()
        .map(|r| ((r.likelihood.clamp(0.0, 1.0) * scale) as u64, r.renewable_arr.to_f64()))
        .collect();
    let n = ratios.len() as u64;
    let (mut renewed, mut grr, mut nrr) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..SIMULATIONS {
        let (mut after, mut kept_arr) = (0.0, 0.0);
        for &(threshold, before) in &each {
            let draw = rng.next_u64();
            if draw >> 11 < threshold {
                let now = before * ratios[(((draw & 0x7ff) * n) >> 11) as usize];
                after += now;
                kept_arr += now.min(before);
            }
        }
        renewed.push(after);
        if renewable > 0.0 {
            grr.push(kept_arr / renewable);
            nrr.push(after / renewable);
        }
    }
    let categories = Category::ALL
        .iter()
        .map(|&category| {
            let of: Vec<&&RenewalForecast> = ours.iter().filter(|r| r.category == category).collect();
            CategoryTotal {
                category,
                renewals: of.len(),
                renewable_arr: of.iter().map(|r| r.renewable_arr).sum(),
                forecast_arr: of.iter().map(|r| r.forecast_arr).sum(),
            }
        })
        .collect();
    QuarterForecast {
        quarter: name,
        renewals: ours.len(),
        renewable_arr: ours.iter().map(|r| r.renewable_arr).sum(),
        forecast_arr: ours.iter().map(|r| r.forecast_arr).sum(),
        called_arr: ours.iter().map(|r| r.called_arr()).sum(),
        categories,
        renewed_arr: interval(renewed),
        grr: (renewable > 0.0).then(|| interval(grr)),
        nrr: (renewable > 0.0).then(|| interval(nrr)),
        simulations: SIMULATIONS,
    }
}

/// The forecast of a quarter as made at its start, kept to be compared with what
/// happened once the quarter has closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub quarter: String,
    /// The day it was made: the quarter's first day, or the first day laer ran in it.
    pub taken_on: NaiveDate,
    pub rows: Vec<RenewalForecast>,
    pub forecast: QuarterForecast,
}

/// A closed quarter's forecast against what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub quarter: String,
    pub taken_on: NaiveDate,
    pub renewals: usize,
    pub forecast_arr: f64,
    pub called_arr: f64,
    /// The ARR of those accounts on the next quarter's first day.
    pub actual_arr: f64,
    /// |forecast − actual| / actual.
    pub error: Option<f64>,
    pub called_error: Option<f64>,
    /// The forecast's renewed ARR with its 90 % interval.
    pub interval: Interval,
    /// Whether the actual fell within it.
    pub within_interval: bool,
    /// Brier score of the likelihoods against whether each renewed (kept some ARR).
    pub brier: Option<f64>,
}

/// `snapshot` against the ARR each of its accounts had once the quarter closed.
pub fn accuracy(snapshot: &Snapshot, actual_arr: impl Fn(i64) -> Money) -> Accuracy {
    let actual: Vec<f64> = snapshot
        .rows
        .iter()
        .map(|r| actual_arr(r.account_id).to_f64())
        .collect();
    let total: f64 = actual.iter().sum();
    let error = |forecast: f64| (total > 0.0).then(|| (forecast - total).abs() / total);
    let called: f64 = snapshot.rows.iter().map(RenewalForecast::called_arr).sum();
    let renewed: Vec<bool> = actual.iter().map(|a| *a > 0.0).collect();
    let likelihoods: Vec<f64> = snapshot.rows.iter().map(|r| r.likelihood.clamp(0.0, 1.0)).collect();
    let i = &snapshot.forecast.renewed_arr;
    Accuracy {
        quarter: snapshot.quarter.clone(),
        taken_on: snapshot.taken_on,
        renewals: snapshot.rows.len(),
        forecast_arr: snapshot.forecast.forecast_arr,
        called_arr: called,
        actual_arr: total,
        error: error(snapshot.forecast.forecast_arr),
        called_error: error(called),
        interval: *i,
        within_interval: i.low <= total && total <= i.high,
        brier: crate::stats::brier(&likelihoods, &renewed).ok(),
    }
}

/// A customer on the eve of a past quarter with a renewal in it, as replayed: what the
/// forecast would have seen that day, and the ARR it had once the quarter closed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayedRenewal {
    pub account_id: i64,
    /// Its next renewal as known on the eve.
    pub on: NaiveDate,
    /// Its ARR on the eve.
    pub renewable_arr: Money,
    pub features: Features,
    /// Its ARR on the next quarter's first day.
    pub actual_arr: Money,
}

/// A past quarter replayed: its renewals as known on its eve (the day before its first).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayedQuarter {
    pub quarter: Quarter,
    pub eve: NaiveDate,
    pub renewals: Vec<ReplayedRenewal>,
}

/// The renewal forecast replayed over past quarters: each forecast on its eve by a model
/// learned only from the days whose horizon had passed by then, against what happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub quarters: Vec<Accuracy>,
    /// The mean of the quarters' errors (|forecast − actual| / actual).
    pub mean_error: Option<f64>,
    /// Quarters whose actual fell within the forecast's 90 % interval.
    pub within_interval: usize,
    /// Quarters not replayed: too little history before them to learn from.
    pub too_early: Vec<String>,
}

/// Forecasts each of `quarters` on its eve with the churn model fitted on the `cases`
/// whose whole horizon had passed by then ([`crate::forecast::churn::fitted`]: no outcome
/// the eve could not have known), rolls it up as the renewals page does, and compares it
/// with what happened ([`accuracy`]). A quarter with too little history before it is
/// listed as too early.
pub fn backtest(cases: &[Case], quarters: &[ReplayedQuarter], horizon_days: i64) -> Backtest {
    let mut out = Backtest::default();
    for q in quarters {
        let known: Vec<&Case> = cases
            .iter()
            .filter(|c| (q.eve - c.as_of).num_days() >= horizon_days)
            .collect();
        let Some(model) = crate::forecast::churn::fitted(&known, horizon_days) else {
            out.too_early.push(q.quarter.to_string());
            continue;
        };
        let rows: Vec<RenewalForecast> = q
            .renewals
            .iter()
            .filter(|r| Quarter::containing(r.on) == q.quarter && !r.renewable_arr.is_zero())
            .map(|r| {
                forecast(
                    &model,
                    r.account_id,
                    r.on,
                    r.renewable_arr,
                    r.features.score,
                    r.features.monthly,
                )
            })
            .collect();
        let actual: HashMap<i64, Money> = q.renewals.iter().map(|r| (r.account_id, r.actual_arr)).collect();
        let snapshot = Snapshot {
            quarter: q.quarter.to_string(),
            taken_on: q.eve,
            forecast: quarter(q.quarter, &rows, &model.kept),
            rows,
        };
        out.quarters.push(accuracy(&snapshot, |id| {
            actual.get(&id).copied().unwrap_or(Money::ZERO)
        }));
    }
    let errors: Vec<f64> = out.quarters.iter().filter_map(|a| a.error).collect();
    out.mean_error = (!errors.is_empty()).then(|| errors.iter().sum::<f64>() / errors.len() as f64);
    out.within_interval = out.quarters.iter().filter(|a| a.within_interval).count();
    out
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.0} ({:.0}–{:.0})", self.expected, self.low, self.high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::churn::shipped;
    use crate::health::outcome::Outcome;
    use crate::portfolio::HealthBrief;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn account(id: i64, mrr: i64, renews: &str, score: f64) -> AccountSnapshot {
        AccountSnapshot {
            id,
            external_id: format!("a{id}"),
            name: None,
            segment: None,
            renewal_date: Some(day(renews)),
            landed_on: Some(day("2024-01-01")),
            term_months: Some(12),
            mrr: Money::from_units(mrr).unwrap(),
            mrr_before: Money::from_units(mrr).unwrap(),
            owners: vec![],
            health: Some(HealthBrief {
                day: day("2026-12-05"),
                score: Some(score),
                phase: crate::lifecycle::Phase::Renew,
                phase_reason: String::new(),
                quadrant: None,
                top_driver: None,
                next_renewal: Some(day(renews)),
            }),
        }
    }

    #[test]
    fn categories_follow_the_likelihood() {
        assert_eq!(Category::of(0.95), Category::Commit);
        assert_eq!(Category::of(0.9), Category::Commit);
        assert_eq!(Category::of(0.8), Category::Probable);
        assert_eq!(Category::of(0.6), Category::AtRisk);
        assert_eq!(Category::of(0.2), Category::ExpectedChurn);
        assert_eq!("at risk".parse::<Category>(), Ok(Category::AtRisk));
    }

    #[test]
    fn a_renewal_is_forecast_from_its_health_and_the_changes_kept_here() {
        let model = shipped("test");
        let healthy = renewal(&model, &account(1, 1_000, "2027-01-15", 90.0), None).unwrap();
        let poor = renewal(&model, &account(2, 1_000, "2027-01-15", 10.0), None).unwrap();
        assert!(healthy.likelihood > poor.likelihood);
        assert!((healthy.expected_arr - 12_000.0 * model.kept.mean).abs() < 1e-6);
        assert!((healthy.forecast_arr - healthy.likelihood * healthy.expected_arr).abs() < 1e-6);
        assert_eq!(healthy.category, Category::of(healthy.likelihood));
        // The owner's call counts for its renewal date only.
        let call = Call {
            category: Category::Commit,
            amount: Money::from_units(13_000).unwrap(),
            reason: "signed".into(),
            set_by: "ann".into(),
            set_at: Utc::now(),
        };
        let called = renewal(
            &model,
            &account(2, 1_000, "2027-01-15", 10.0),
            Some(&(day("2027-01-15"), call.clone())),
        )
        .unwrap();
        assert_eq!(called.called_arr(), 13_000.0);
        assert_eq!(called.called_category(), Category::Commit);
        let stale = renewal(
            &model,
            &account(2, 1_000, "2027-01-15", 10.0),
            Some(&(day("2026-01-15"), call)),
        )
        .unwrap();
        assert_eq!(stale.call, None, "a call on last year's renewal");
        let mut gone = account(3, 1_000, "2027-01-15", 50.0);
        gone.mrr = Money::ZERO;
        assert!(renewal(&model, &gone, None).is_none());
    }

    #[test]
    fn a_quarter_rolls_up_with_an_interval_that_holds_what_is_simulated() {
        let model = shipped("test");
        let q = Quarter::parse("2027-Q1").unwrap();
        let rows: Vec<RenewalForecast> = (0..40)
            .map(|i| {
                let renews = if i < 30 { "2027-02-10" } else { "2027-05-10" };
                renewal(
                    &model,
                    &account(i, 500 + 100 * i, renews, f64::from(i as i32) * 2.5),
                    None,
                )
                .unwrap()
            })
            .collect();
        let f = quarter(q, &rows, &model.kept);
        assert_eq!(f.renewals, 30, "the next quarter's are left out");
        let expected: f64 = rows[..30].iter().map(|r| r.forecast_arr).sum();
        assert!((f.forecast_arr - expected).abs() < 1e-6);
        assert_eq!(f.called_arr, f.forecast_arr);
        assert_eq!(f.categories.iter().map(|c| c.renewals).sum::<usize>(), 30);
        // The simulation's mean is the forecast, up to simulation error.
        let r = f.renewed_arr;
        assert!(r.low < r.expected && r.expected < r.high, "{r:?}");
        assert!(
            (r.expected - f.forecast_arr).abs() / f.forecast_arr < 0.02,
            "{r:?} against {}",
            f.forecast_arr
        );
        let (grr, nrr) = (f.grr.unwrap(), f.nrr.unwrap());
        assert!(
            grr.high <= 1.0 + 1e-12 && grr.expected <= nrr.expected + 1e-12,
            "{grr:?} {nrr:?}"
        );
        // Deterministic for a quarter.
        assert_eq!(quarter(q, &rows, &model.kept), f);
        assert_eq!(
            quarter(Quarter::parse("2030-Q1").unwrap(), &rows, &model.kept).renewals,
            0
        );
    }

    #[test]
    fn a_closed_quarter_is_compared_with_what_happened() {
        let model = shipped("test");
        let q = Quarter::parse("2027-Q1").unwrap();
        let rows: Vec<RenewalForecast> = (0..10)
            .map(|i| renewal(&model, &account(i, 1_000, "2027-02-10", 60.0), None).unwrap())
            .collect();
        let snapshot = Snapshot {
            quarter: q.to_string(),
            taken_on: day("2027-01-01"),
            forecast: quarter(q, &rows, &model.kept),
            rows,
        };
        // Eight renewed flat, two left.
        let a = accuracy(&snapshot, |id| {
            if id < 8 {
                Money::from_units(12_000).unwrap()
            } else {
                Money::ZERO
            }
        });
        assert_eq!(a.actual_arr, 96_000.0);
        let expected = (snapshot.forecast.forecast_arr - 96_000.0).abs() / 96_000.0;
        assert!((a.error.unwrap() - expected).abs() < 1e-12);
        let p = snapshot.rows[0].likelihood;
        let brier = (8.0 * (p - 1.0).powi(2) + 2.0 * p.powi(2)) / 10.0;
        assert!((a.brier.unwrap() - brier).abs() < 1e-12);
        assert_eq!(
            accuracy(&snapshot, |_| Money::ZERO).error,
            None,
            "nothing renewed: no ratio"
        );
    }

    /// The drawn history's quarters: each eve (a day of the history) with the customers
    /// renewing in the next quarter, each at 12,000 ARR, kept at the drawn change unless
    /// it churned.
    fn replayed(cases: &[Case], eves: &[&str]) -> Vec<ReplayedQuarter> {
        eves.iter()
            .map(|eve| {
                let eve = day(eve);
                let q = Quarter::containing(eve).next();
                let renewals = cases
                    .iter()
                    .filter(|c| c.as_of == eve)
                    .enumerate()
                    .filter_map(|(i, c)| {
                        let on = eve + chrono::TimeDelta::days(c.features.days_to_renewal? as i64);
                        let arr = 12_000.0 * c.change.unwrap_or(0.0);
                        Some(ReplayedRenewal {
                            account_id: i as i64,
                            on,
                            renewable_arr: Money::from_units(12_000).unwrap(),
                            features: c.features,
                            actual_arr: Money::from_units(arr.round() as i64).unwrap(),
                        })
                    })
                    .collect();
                ReplayedQuarter {
                    quarter: q,
                    eve,
                    renewals,
                }
            })
            .collect()
    }

    #[test]
    fn past_quarters_are_forecast_from_what_was_known_before_them() {
        let cases = crate::forecast::churn::tests::history(600, 24, 3);
        let eves = ["2024-03-28", "2025-03-28", "2025-06-28", "2025-09-28"];
        let quarters = replayed(&cases, &eves);
        let b = backtest(&cases, &quarters, 90);
        assert_eq!(b.too_early, vec!["2024-Q2".to_string()], "nothing known before its eve");
        assert_eq!(b.quarters.len(), 3);
        for (a, q) in b.quarters.iter().zip(&quarters[1..]) {
            assert_eq!(a.quarter, q.quarter.to_string());
            assert_eq!(a.taken_on, q.eve);
            let ours: Vec<&ReplayedRenewal> = q
                .renewals
                .iter()
                .filter(|r| Quarter::containing(r.on) == q.quarter)
                .collect();
            assert_eq!(a.renewals, ours.len());
            let actual: f64 = ours.iter().map(|r| r.actual_arr.to_f64()).sum();
            assert!((a.actual_arr - actual).abs() < 1e-6);
            // Drawn from the model it learns: the forecast lands near what happened.
            assert!(a.error.unwrap() < 0.1, "{a:?}");
        }
        let mean = b.quarters.iter().map(|a| a.error.unwrap()).sum::<f64>() / 3.0;
        assert!((b.mean_error.unwrap() - mean).abs() < 1e-12);
        assert_eq!(
            b.within_interval,
            b.quarters.iter().filter(|a| a.within_interval).count()
        );
        assert!(b.within_interval >= 2, "{b:?}");

        // Turning upside down every outcome not known by a quarter's eve (its horizon
        // not passed) leaves that quarter's forecast as it was.
        let eve = day("2025-03-28");
        let flipped: Vec<Case> = cases
            .iter()
            .map(|c| Case {
                outcome: match ((eve - c.as_of).num_days() < 90, c.outcome) {
                    (true, Outcome::Churned) => Outcome::Stayed,
                    (true, _) => Outcome::Churned,
                    (false, o) => o,
                },
                change: if (eve - c.as_of).num_days() < 90 {
                    Some(3.0)
                } else {
                    c.change
                },
                ..*c
            })
            .collect();
        let again = backtest(&flipped, &quarters[1..2], 90);
        assert_eq!(again.quarters[0].forecast_arr, b.quarters[0].forecast_arr);
        // … while a later quarter, which knew them, is forecast otherwise.
        let later = backtest(&flipped, &quarters[3..], 90);
        assert_ne!(later.quarters[0].forecast_arr, b.quarters[2].forecast_arr);
    }
}
