//! Retention curves (issue 19, item 4): how long accounts stay, as survival curves by
//! cohort (the quarter they started), segment or plan — Kaplan–Meier with 95 % bands
//! (Greenwood), the share of starting revenue still a customer beside it — and for each
//! cohort the shifted-beta-geometric model fitted to the quarters it has been observed,
//! projecting its retention beyond them. Pure: the store gives each account's records.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::bridge::Quarter;
use crate::health::AccountRecords;
use crate::health::score::PillarScores;
use crate::money::Money;
use crate::stats::{self, Sbg};

/// Days in a month, on average: curves are read at whole months.
pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;
/// The sBG model's period: a quarter (three months).
pub const PERIOD_MONTHS: u32 = 3;
/// Quarters a cohort's retention is projected to.
pub const PROJECTED_PERIODS: u32 = 12;
/// A cohort is projected when it has at least this many accounts, of which at least
/// [`MIN_LOST`] left in the quarters observed: fewer say too little about how renewal
/// chances spread across customers.
pub const MIN_COHORT: usize = 20;
pub const MIN_LOST: usize = 3;

/// One account's life as a customer: from its first contract line's start to the end
/// of its last (when no line runs on the data's last known day), else still running.
/// Gaps between lines (a reactivation) are part of the life.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lifetime {
    pub account_id: i64,
    pub start: NaiveDate,
    /// When it ended; `None`: still a customer on the last known day.
    pub end: Option<NaiveDate>,
    /// Days from its start to its end, or to the last known day.
    pub days: i64,
    /// Its MRR on its first day.
    pub start_mrr: Money,
    pub segment: Option<String>,
    /// The product of its largest line on its first day.
    pub plan: Option<String>,
}

/// An account's lifetime up to `known_until` (the data's last known day); `None` for one
/// that had no line starting by then.
pub fn lifetime(records: &AccountRecords, known_until: NaiveDate) -> Option<Lifetime> {
    let lines: Vec<_> = records.lines.iter().filter(|l| l.start_date <= known_until).collect();
    let start = lines.iter().map(|l| l.start_date).min()?;
    let running = records.mrr_on(known_until) > Money::ZERO;
    let end = if running {
        None
    } else {
        lines
            .iter()
            .filter_map(|l| l.end_date)
            .max()
            .map(|e| e.min(known_until))
    };
    let first: Vec<_> = lines.iter().filter(|l| l.start_date == start).collect();
    let plan = first.iter().max_by_key(|l| l.mrr).map(|l| l.product.clone());
    Some(Lifetime {
        account_id: records.account_id,
        start,
        end,
        days: (end.unwrap_or(known_until) - start).num_days().max(0),
        start_mrr: records.mrr_on(start),
        segment: records.segment.clone(),
        plan,
    })
}

/// How accounts are grouped into curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurveBy {
    All,
    /// The quarter each account started in.
    Cohort,
    Segment,
    Plan,
}

impl std::str::FromStr for CurveBy {
    type Err = String;

    fn from_str(text: &str) -> Result<CurveBy, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "all" | "" => Ok(CurveBy::All),
            "cohort" => Ok(CurveBy::Cohort),
            "segment" => Ok(CurveBy::Segment),
            "plan" => Ok(CurveBy::Plan),
            other => Err(format!("{other:?}: group by all, cohort, segment or plan")),
        }
    }
}

/// A curve read at one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub month: u32,
    /// Accounts still observed at that month (neither ended nor censored before it).
    pub at_risk: usize,
    /// The share of accounts still customers, with its 95 % band.
    pub survival: f64,
    pub lower: f64,
    pub upper: f64,
    /// The share of the starting MRR still a customer (each account weighted by its MRR
    /// on its first day; expansion and contraction aside).
    pub revenue: f64,
}

/// The sBG model fitted to a cohort's observed quarters, and its projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub alpha: f64,
    pub beta: f64,
    pub log_likelihood: f64,
    /// Quarters observed for every account of the cohort (the fit's data).
    pub observed_periods: u32,
    /// The share still customers after each quarter, 1 to [`PROJECTED_PERIODS`].
    pub survival: Vec<f64>,
}

/// One group's curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurvivalCurve {
    pub group: String,
    pub accounts: usize,
    pub ended: usize,
    pub points: Vec<CurvePoint>,
    /// For a cohort of [`MIN_COHORT`] accounts or more, observed two quarters or more,
    /// that lost [`MIN_LOST`] or more in them: its sBG projection.
    pub projection: Option<Projection>,
}

fn group_of(l: &Lifetime, by: CurveBy) -> String {
    match by {
        CurveBy::All => "all".into(),
        CurveBy::Cohort => Quarter::containing(l.start).to_string(),
        CurveBy::Segment => l.segment.clone().unwrap_or_else(|| "(no segment)".into()),
        CurveBy::Plan => l.plan.clone().unwrap_or_else(|| "(no plan)".into()),
    }
}

/// The share of `weights` still there after each day on which any ended, by Kaplan–Meier
/// with each account weighted: (day, share), in day order.
fn weighted_steps(lives: &[&Lifetime], weights: &[f64]) -> Vec<(i64, f64)> {
    let mut order: Vec<usize> = (0..lives.len()).collect();
    order.sort_by_key(|i| lives[*i].days);
    let mut left: f64 = weights.iter().sum();
    let mut s = 1.0;
    let mut steps = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let t = lives[order[i]].days;
        let (mut ended, mut gone) = (0.0, 0.0);
        while i < order.len() && lives[order[i]].days == t {
            let w = weights[order[i]];
            if lives[order[i]].end.is_some() {
                ended += w;
            }
            gone += w;
            i += 1;
        }
        if left > 0.0 && ended > 0.0 {
            s *= 1.0 - ended / left;
            steps.push((t, s));
        }
        left -= gone;
    }
    steps
}

/// The share on a day, from [`weighted_steps`].
fn share_on(steps: &[(i64, f64)], days: f64) -> f64 {
    let i = steps.partition_point(|(t, _)| (*t as f64) <= days);
    if i == 0 { 1.0 } else { steps[i - 1].1 }
}

/// Survival curves of `lifetimes` grouped `by`, read at months 0 to `months`; cohorts
/// get their sBG projection. Groups in name order (cohorts by quarter).
pub fn survival_curves(lifetimes: &[Lifetime], by: CurveBy, months: u32, known_until: NaiveDate) -> Vec<SurvivalCurve> {
    let mut groups: BTreeMap<String, Vec<&Lifetime>> = BTreeMap::new();
    for l in lifetimes {
        groups.entry(group_of(l, by)).or_default().push(l);
    }
    groups
        .into_iter()
        .filter_map(|(group, lives)| {
            let durations: Vec<f64> = lives.iter().map(|l| l.days as f64).collect();
            let ended: Vec<bool> = lives.iter().map(|l| l.end.is_some()).collect();
            let km = stats::kaplan_meier(&durations, &ended).ok()?;
            let weights: Vec<f64> = lives.iter().map(|l| l.start_mrr.to_f64().max(0.0)).collect();
            let revenue = weighted_steps(&lives, &weights);
            let longest = durations.iter().copied().fold(0.0, f64::max);
            let points = (0..=months)
                .map(|month| f64::from(month) * DAYS_PER_MONTH)
                .take_while(|days| *days <= longest)
                .enumerate()
                .map(|(month, days)| {
                    let i = km.timeline.partition_point(|t| *t <= days).saturating_sub(1);
                    CurvePoint {
                        month: month as u32,
                        at_risk: durations.iter().filter(|d| **d >= days).count(),
                        survival: km.survival[i],
                        lower: km.lower[i],
                        upper: km.upper[i],
                        revenue: share_on(&revenue, days),
                    }
                })
                .collect();
            let projection = (by == CurveBy::Cohort).then(|| project(&lives, known_until)).flatten();
            Some(SurvivalCurve {
                group,
                accounts: lives.len(),
                ended: ended.iter().filter(|e| **e).count(),
                points,
                projection,
            })
        })
        .collect()
}

/// The sBG model fitted to a cohort's survivors at each quarter observed for all of it.
fn project(lives: &[&Lifetime], known_until: NaiveDate) -> Option<Projection> {
    let period_days = f64::from(PERIOD_MONTHS) * DAYS_PER_MONTH;
    let latest_start = lives.iter().map(|l| l.start).max()?;
    let observed = ((known_until - latest_start).num_days() as f64 / period_days).floor() as u32;
    if observed < 2 {
        return None;
    }
    let survivors: Vec<f64> = (0..=observed)
        .map(|p| {
            let days = f64::from(p) * period_days;
            lives
                .iter()
                .filter(|l| l.end.is_none() || l.days as f64 >= days)
                .count() as f64
        })
        .collect();
    let lost = (survivors[0] - survivors.last().copied().unwrap_or(survivors[0])) as usize;
    if lives.len() < MIN_COHORT || lost < MIN_LOST {
        return None;
    }
    let fit: Sbg = stats::fit_sbg(&survivors).ok()?;
    Some(Projection {
        alpha: fit.alpha,
        beta: fit.beta,
        log_likelihood: fit.log_likelihood,
        observed_periods: observed,
        survival: (1..=PROJECTED_PERIODS).map(|t| fit.survival(t)).collect(),
    })
}

/// A covariate of the hazard model: its value for an account.
type Column = Box<dyn Fn(&Lifetime) -> f64>;

/// A level of plan or segment gets its own hazard ratio from this many accounts, with an
/// account lost and one kept among them; smaller ones count with the most common level.
pub const MIN_LEVEL: usize = 5;

/// How a covariate multiplies the hazard of leaving, with its 95 % interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardRatio {
    pub covariate: String,
    pub hazard_ratio: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The Cox proportional-hazards model of leaving on what an account was when it started:
/// its plan and segment (each level against the most common one) and its starting MRR
/// (per doubling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardModel {
    pub accounts: usize,
    pub ended: usize,
    /// The levels the others are compared with: "plan Professional, segment smb".
    pub reference: String,
    pub ratios: Vec<HazardRatio>,
    pub log_likelihood: f64,
}

/// Fits [`HazardModel`] to `lifetimes`; why not, when it cannot be (no one lost, nothing
/// that varies).
pub fn hazards(lifetimes: &[Lifetime]) -> Result<HazardModel, String> {
    let ended = lifetimes.iter().filter(|l| l.end.is_some()).count();
    if ended == 0 {
        return Err("no account has ended yet".into());
    }
    // Each kind of level: the most common is the reference; the others with enough
    // accounts, some lost and some kept, get a column.
    let mut columns: Vec<(String, Column)> = Vec::new();
    let mut references = Vec::new();
    for (kind, level) in [
        (
            "plan",
            (|l: &Lifetime| l.plan.clone().unwrap_or_else(|| "(no plan)".into())) as fn(&Lifetime) -> String,
        ),
        ("segment", |l: &Lifetime| {
            l.segment.clone().unwrap_or_else(|| "(no segment)".into())
        }),
    ] {
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for l in lifetimes {
            let c = counts.entry(level(l)).or_default();
            c.0 += 1;
            c.1 += usize::from(l.end.is_some());
        }
        let Some(reference) = counts.iter().max_by_key(|(_, (n, _))| *n).map(|(k, _)| k.clone()) else {
            continue;
        };
        let others: Vec<String> = counts
            .iter()
            .filter(|(k, (n, lost))| **k != reference && *n >= MIN_LEVEL && *lost > 0 && lost < n)
            .map(|(k, _)| k.clone())
            .collect();
        if !others.is_empty() {
            references.push(format!("{kind} {reference}"));
        }
        for other in others {
            let name = format!("{kind} {other}");
            columns.push((
                name,
                Box::new(move |l: &Lifetime| f64::from(u8::from(level(l) == other))),
            ));
        }
    }
    let mrr: Vec<f64> = lifetimes.iter().map(|l| l.start_mrr.to_f64().max(0.0)).collect();
    if mrr.iter().any(|m| *m != mrr[0]) {
        columns.push((
            "starting MRR, per doubling".into(),
            Box::new(|l: &Lifetime| (1.0 + l.start_mrr.to_f64().max(0.0)).log2()),
        ));
    }
    if columns.is_empty() {
        return Err("nothing varies enough across accounts to compare".into());
    }
    // A column that says what an earlier one says (a plan sold to one segment only) is
    // left out: the two cannot be told apart.
    let values: Vec<Vec<f64>> = columns.iter().map(|(_, f)| lifetimes.iter().map(f).collect()).collect();
    let mut kept: Vec<usize> = Vec::new();
    for j in 0..columns.len() {
        if !kept.iter().any(|k| collinear(&values[*k], &values[j])) {
            kept.push(j);
        }
    }
    let columns: Vec<&String> = kept.iter().map(|j| &columns[*j].0).collect();
    let rows: Vec<Vec<f64>> = (0..lifetimes.len())
        .map(|i| kept.iter().map(|j| values[*j][i]).collect())
        .collect();
    let durations: Vec<f64> = lifetimes.iter().map(|l| l.days as f64).collect();
    let observed: Vec<bool> = lifetimes.iter().map(|l| l.end.is_some()).collect();
    let fit = stats::cox(&rows, &durations, &observed).map_err(|e| e.to_string())?;
    Ok(HazardModel {
        accounts: lifetimes.len(),
        ended,
        reference: references.join(", "),
        ratios: columns
            .iter()
            .enumerate()
            .map(|(j, name)| HazardRatio {
                covariate: (*name).clone(),
                hazard_ratio: fit.coefficients[j].exp(),
                lower: fit.lower[j].exp(),
                upper: fit.upper[j].exp(),
            })
            .collect(),
        log_likelihood: fit.log_likelihood,
    })
}

/// One account between two replayed days: its health on the first, and whether it left
/// (no MRR on the second) before the second. Its time is its tenure: days since it
/// landed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stretch {
    pub account_id: i64,
    pub from_day: f64,
    pub to_day: f64,
    pub pillars: PillarScores,
    pub left: bool,
}

/// A pillar is a covariate of [`health_hazards`] when at least this share of the
/// stretches has its score.
pub const MIN_PILLAR_COVERAGE: f64 = 0.8;

/// The Cox model of leaving on health as it changes: each stretch between replayed days
/// (a month, from validation's replay) with the account's pillar scores at its start, in
/// the counting-process form ([`stats::cox_time_varying`]) on tenure. Each pillar scored
/// on at least [`MIN_PILLAR_COVERAGE`] of the stretches is a covariate, per 10 points;
/// the stretches lacking one of them are left out. How each pillar, the others held,
/// multiplies the chance of leaving at any time; why not, when it cannot be fitted.
pub fn health_hazards(stretches: &[Stretch]) -> Result<HazardModel, String> {
    use crate::health::Pillar;
    let pillars: Vec<Pillar> = [
        Pillar::Adoption,
        Pillar::Experience,
        Pillar::Engagement,
        Pillar::Transformation,
    ]
    .into_iter()
    .filter(|p| {
        let scored = stretches.iter().filter(|s| s.pillars.of(*p).is_some()).count();
        !stretches.is_empty() && scored as f64 >= MIN_PILLAR_COVERAGE * stretches.len() as f64
    })
    .collect();
    if pillars.is_empty() {
        return Err("no pillar is scored on enough of the replayed months".into());
    }
    let used: Vec<(&Stretch, Vec<f64>)> = stretches
        .iter()
        .filter_map(|s| {
            let row: Option<Vec<f64>> = pillars.iter().map(|p| s.pillars.of(*p).map(|v| v / 10.0)).collect();
            Some((s, row?))
        })
        .collect();
    let ended = used.iter().filter(|(s, _)| s.left).count();
    if ended == 0 {
        return Err("no account left in the replayed months".into());
    }
    // A pillar that does not vary, or says what another says, cannot be told apart.
    let values: Vec<Vec<f64>> = (0..pillars.len())
        .map(|j| used.iter().map(|(_, r)| r[j]).collect())
        .collect();
    let mut kept: Vec<usize> = Vec::new();
    for j in 0..pillars.len() {
        let varies = values[j].iter().any(|v| *v != values[j][0]);
        if varies && !kept.iter().any(|k| collinear(&values[*k], &values[j])) {
            kept.push(j);
        }
    }
    if kept.is_empty() {
        return Err("no pillar's score varies across the replayed months".into());
    }
    let rows: Vec<Vec<f64>> = used.iter().map(|(_, r)| kept.iter().map(|j| r[*j]).collect()).collect();
    let starts: Vec<f64> = used.iter().map(|(s, _)| s.from_day).collect();
    let stops: Vec<f64> = used.iter().map(|(s, _)| s.to_day).collect();
    let observed: Vec<bool> = used.iter().map(|(s, _)| s.left).collect();
    let fit = stats::cox_time_varying(&rows, &starts, &stops, &observed).map_err(|e| e.to_string())?;
    let mut accounts: Vec<i64> = used.iter().map(|(s, _)| s.account_id).collect();
    accounts.sort_unstable();
    accounts.dedup();
    Ok(HazardModel {
        accounts: accounts.len(),
        ended,
        reference: "the same account 10 points lower on that pillar, the other pillars held".into(),
        ratios: kept
            .iter()
            .enumerate()
            .map(|(i, j)| HazardRatio {
                covariate: format!("{} score", pillars[*j].label()),
                hazard_ratio: fit.coefficients[i].exp(),
                lower: fit.lower[i].exp(),
                upper: fit.upper[i].exp(),
            })
            .collect(),
        log_likelihood: fit.log_likelihood,
    })
}

/// Whether `b` is a straight-line function of `a` (correlation ±1).
fn collinear(a: &[f64], b: &[f64]) -> bool {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    saa == 0.0 || sbb == 0.0 || (sab * sab / (saa * sbb)) > 1.0 - 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{AccountRecords, Line};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn account(id: i64, lines: &[(&str, Option<&str>, i64, &str)]) -> AccountRecords {
        AccountRecords {
            account_id: id,
            segment: Some(if id % 2 == 0 { "smb" } else { "enterprise" }.into()),
            lines: lines
                .iter()
                .map(|(start, end, mrr, product)| Line {
                    product: product.to_string(),
                    start_date: day(start),
                    end_date: end.map(day),
                    mrr: Money::from_units(*mrr).unwrap(),
                    quantity: None,
                    units: None,
                    bill_period_months: 1,
                })
                .collect(),
            ..AccountRecords::default()
        }
    }

    #[test]
    fn a_lifetime_runs_from_the_first_line_to_the_last_end() {
        let known = day("2026-06-30");
        let gone = account(
            1,
            &[
                ("2025-01-01", Some("2025-07-01"), 100, "pro"),
                ("2025-09-01", Some("2026-01-01"), 50, "basic"),
            ],
        );
        let l = lifetime(&gone, known).unwrap();
        assert_eq!(
            (l.start, l.end, l.days),
            (day("2025-01-01"), Some(day("2026-01-01")), 365)
        );
        assert_eq!(l.plan.as_deref(), Some("pro"));
        let staying = account(2, &[("2026-01-01", None, 10, "basic")]);
        let l = lifetime(&staying, known).unwrap();
        assert_eq!((l.end, l.days), (None, 180));
        // A line ending after the last known day is still running then.
        let renewing = account(3, &[("2026-01-01", Some("2026-12-31"), 10, "basic")]);
        assert_eq!(lifetime(&renewing, known).unwrap().end, None);
        assert!(lifetime(&account(4, &[("2027-01-01", None, 10, "basic")]), known).is_none());
    }

    #[test]
    fn curves_by_cohort_with_a_projection() {
        let known = day("2026-12-31");
        // The 2025-Q1 cohort: 20 accounts, one lost each quarter for the first ones.
        let mut records = Vec::new();
        for i in 0..20i64 {
            let start = "2025-01-15";
            let end = match i {
                0..=3 => Some("2025-05-01"),
                4..=6 => Some("2025-08-20"),
                7..=8 => Some("2025-11-20"),
                9 => Some("2026-03-01"),
                _ => None,
            };
            records.push(account(i, &[(start, end, 100 + i, "pro")]));
        }
        let lives: Vec<Lifetime> = records.iter().filter_map(|r| lifetime(r, known)).collect();
        let curves = survival_curves(&lives, CurveBy::Cohort, 24, known);
        assert_eq!(curves.len(), 1);
        let c = &curves[0];
        assert_eq!((c.group.as_str(), c.accounts, c.ended), ("2025-Q1", 20, 10));
        assert_eq!(c.points[0].survival, 1.0);
        let at = |m: usize| c.points[m].survival;
        // Four gone by 2025-05-01 (month 3), three more by 2025-08-20 (month 7).
        assert!((at(6) - 16.0 / 20.0).abs() < 1e-12, "{:?}", c.points[6]);
        assert!((at(8) - 13.0 / 20.0).abs() < 1e-12, "{:?}", c.points[8]);
        assert_eq!(c.points[8].at_risk, 13);
        assert!(c.points[6].lower < at(6) && at(6) < c.points[6].upper);
        assert!(c.points.windows(2).all(|w| w[1].survival <= w[0].survival));
        assert!(c.points.iter().all(|p| (0.0..=1.0).contains(&p.revenue)));
        let p = c.projection.as_ref().expect("a cohort observed for seven quarters");
        assert_eq!(p.observed_periods, 7);
        assert!(p.survival.windows(2).all(|w| w[1] < w[0]), "{p:?}");
        // Quarter by quarter the cohort kept 20, 16, 13, 11, 10, 10 and 10: the fit follows.
        assert!((p.survival[1] - 16.0 / 20.0).abs() < 0.05, "{p:?}");
        assert!((p.survival[6] - 10.0 / 20.0).abs() < 0.05, "{p:?}");
        // By segment: two curves, no projection.
        let by_segment = survival_curves(&lives, CurveBy::Segment, 24, known);
        assert_eq!(
            by_segment.iter().map(|c| c.group.as_str()).collect::<Vec<_>>(),
            ["enterprise", "smb"]
        );
        assert!(by_segment.iter().all(|c| c.projection.is_none()));
    }

    #[test]
    fn a_plan_that_loses_more_has_a_higher_hazard() {
        let known = day("2026-12-31");
        let mut records = Vec::new();
        for i in 0..60i64 {
            // 24 on starter, most of whom leave; 36 on pro (the reference), few of whom do.
            let (plan, end) = if i % 5 < 2 {
                (
                    "starter",
                    (i % 6 != 0).then_some(format!("2025-{:02}-01", 2 + (i % 10))),
                )
            } else {
                ("pro", (i % 10 == 3).then_some(format!("2026-{:02}-01", 2 + (i % 8))))
            };
            let start = format!("2025-01-{:02}", 1 + i % 28);
            records.push(account(
                i,
                &[(start.as_str(), end.as_deref(), 100 + 10 * (i % 7), plan)],
            ));
        }
        let lives: Vec<Lifetime> = records.iter().filter_map(|r| lifetime(r, known)).collect();
        let model = hazards(&lives).unwrap();
        assert_eq!(model.accounts, 60);
        let starter = model
            .ratios
            .iter()
            .find(|r| r.covariate == "plan starter")
            .expect("a column for starter");
        assert!(model.reference.starts_with("plan pro"), "{model:?}");
        assert!(starter.hazard_ratio > 1.0 && starter.lower > 1.0, "{model:?}");
        assert!(
            model
                .ratios
                .iter()
                .all(|r| r.lower <= r.hazard_ratio && r.hazard_ratio <= r.upper)
        );
        assert!(hazards(&lives.iter().filter(|l| l.end.is_none()).cloned().collect::<Vec<_>>()).is_err());
    }

    #[test]
    fn health_hazards_find_the_pillar_that_drives_leaving() {
        // Accounts followed month by month: low adoption makes leaving likelier each
        // month; experience is noise; engagement is scored for too few months to count.
        let mut next = crate::stats::uniform(7);
        let mut stretches = Vec::new();
        for id in 0..400 {
            let mut adoption = 100.0 * next();
            for month in 0..24 {
                adoption = (adoption + 20.0 * (next() - 0.5)).clamp(0.0, 100.0);
                let experience = 100.0 * next();
                // Hazard per month: 2 % at adoption 50, × 0.7 per 10 points more.
                let hazard = 0.02 * 0.7f64.powf((adoption - 50.0) / 10.0);
                let left = next() < hazard.min(0.9);
                stretches.push(Stretch {
                    account_id: id,
                    from_day: 30.0 * f64::from(month),
                    to_day: 30.0 * f64::from(month + 1),
                    pillars: PillarScores {
                        adoption: Some(adoption),
                        experience: Some(experience),
                        engagement: (id % 3 == 0).then_some(50.0),
                        transformation: None,
                    },
                    left,
                });
                if left {
                    break;
                }
            }
        }
        let model = health_hazards(&stretches).unwrap();
        assert_eq!(model.accounts, 400);
        assert_eq!(model.ended, stretches.iter().filter(|s| s.left).count());
        let names: Vec<&str> = model.ratios.iter().map(|r| r.covariate.as_str()).collect();
        assert_eq!(names, ["Adoption score", "Experience score"]);
        let (adoption, experience) = (&model.ratios[0], &model.ratios[1]);
        assert!(adoption.lower < 0.7 && 0.7 < adoption.upper, "{adoption:?}");
        assert!(adoption.upper < 1.0, "{adoption:?}");
        assert!(experience.lower < 1.0 && 1.0 < experience.upper, "{experience:?}");
        // Nobody leaves: nothing to fit, and it says so.
        let stayed: Vec<Stretch> = stretches.iter().map(|s| Stretch { left: false, ..*s }).collect();
        assert!(health_hazards(&stayed).unwrap_err().contains("no account left"));
        assert!(health_hazards(&[]).is_err());
    }
}
