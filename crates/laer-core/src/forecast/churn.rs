//! The probability that an account churns, and that it downsells, within a horizon
//! (90 days by default), learned from the workspace's own history (issue 19, item 2).
//!
//! Each replayed day gives, for every customer then, what the model sees — its health
//! score and whether a renewal falls within the horizon — and what became of it. Two
//! logistic regressions (churn; downsell) on those features are checked by time-ordered
//! cross-validation: each fold is predicted by a model fitted only on days whose whole
//! horizon had passed before the fold's first day, so no outcome the fold could not have
//! known is used. The out-of-sample predictions give the reliability table, the Brier
//! score (beside that of always predicting the training rate) and the AUC. The model then
//! kept is fitted on every day. With too little history the shipped model stands in, with
//! the caveat saying so. docs/forecasts.md explains it to the team.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::health::outcome::Outcome;
use crate::health::score::Driver;
use crate::stats::{self, CalibrationBin, LogisticFit, LogisticOptions, Penalty, StatsError};

/// Folds of the time-ordered cross-validation: the replayed days are cut into this many
/// blocks plus one; each block after the first is predicted by the days before it.
pub const FOLDS: usize = 3;
/// A workspace's own model needs at least this many scored account-days …
pub const MIN_CASES: usize = 200;
/// … of which at least this many churned.
pub const MIN_CHURNED: usize = 20;
/// A fold is predicted only when its training days hold this many churned accounts.
pub const MIN_FOLD_CHURNED: usize = 5;
/// Bins of the reliability table.
pub const RELIABILITY_BINS: usize = 10;
/// The regressions' C (scikit-learn's; four features and hundreds of cases or more:
/// barely regularised, enough to keep a rare class finite).
const C: f64 = 10.0;

/// Columns of the regressions.
const FEATURES: usize = 4;

/// What the model sees of an account on a day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Its health score, 0–100 (`None` when too little is known to score it).
    pub score: Option<f64>,
    /// Days from the day to its next renewal, when one is known.
    pub days_to_renewal: Option<f64>,
    /// Whether its contracts run month to month (billed for less than a year): such a
    /// customer can leave at every month's end, not once a year.
    #[serde(default)]
    pub monthly: bool,
}

impl Features {
    /// Whether a renewal falls within `horizon_days`.
    pub fn renewal_due(&self, horizon_days: i64) -> bool {
        self.days_to_renewal.is_some_and(|d| d <= horizon_days as f64)
    }

    /// The regression's row: whether a renewal falls within the horizon; health (centred
    /// on 50, scaled to ±1) when one does — a customer leaves at a renewal, so health
    /// says how likely it is to leave then, and without one in the horizon it has nothing
    /// to act on; whether the score is unknown; whether the contracts run month to month.
    fn row(&self, horizon_days: i64) -> [f64; FEATURES] {
        let due = f64::from(u8::from(self.renewal_due(horizon_days)));
        let monthly = f64::from(u8::from(self.monthly));
        match self.score {
            Some(score) => [due, due * (score - 50.0) / 50.0, 0.0, monthly],
            None => [due, 0.0, 1.0, monthly],
        }
    }
}

/// Whether contracts whose longest billing period is `term_months` run month to month
/// (shorter than a year; none known counts as not).
pub fn month_to_month(term_months: Option<i32>) -> bool {
    term_months.is_some_and(|m| m < 12)
}

/// One account on one replayed day: what the model saw, and what became of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Case {
    pub as_of: NaiveDate,
    pub features: Features,
    pub outcome: Outcome,
    /// The true chance of churn within the horizon, where an oracle knows it (the demo
    /// company: [`oracle_chance`]).
    pub oracle: Option<f64>,
    /// MRR at the horizon's end over MRR on the day, for an account still a customer.
    pub change: Option<f64>,
}

/// The true chance of churn within `horizon_days` after `as_of`, from the renewal
/// decisions (day, chance of leaving there) of an account whose oracle knows them: the
/// chance of leaving at one of those in (as_of, as_of + horizon], 1 − ∏(1 − p).
pub fn oracle_chance(decisions: &[(NaiveDate, f64)], as_of: NaiveDate, horizon_days: i64) -> f64 {
    let stay: f64 = decisions
        .iter()
        .filter(|(on, _)| *on > as_of && (*on - as_of).num_days() <= horizon_days)
        .map(|(_, p)| 1.0 - p.clamp(0.0, 1.0))
        .product();
    1.0 - stay
}

/// laer's churn chances beside the oracle's, on the same cases predicted out of sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OracleCheck {
    pub cases: usize,
    pub churned: usize,
    pub brier: f64,
    pub auc: Option<f64>,
    pub oracle_brier: f64,
    pub oracle_auc: Option<f64>,
}

/// A logistic regression on [`Features`]: the log-odds are `intercept + renewal_due · d +
/// health_when_due · h · d + unscored · u + monthly · m`, with h = (score − 50)/50,
/// d = 1 when a renewal falls within the horizon, u = 1 without a score, m = 1 for
/// contracts running month to month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub intercept: f64,
    pub renewal_due: f64,
    pub health_when_due: f64,
    pub unscored: f64,
    #[serde(default)]
    pub monthly: f64,
}

impl Curve {
    fn from_fit(fit: &LogisticFit) -> Curve {
        let w = |i: usize| fit.coefficients.get(i).copied().unwrap_or(0.0);
        Curve {
            intercept: fit.intercept,
            renewal_due: w(0),
            health_when_due: w(1),
            unscored: w(2),
            monthly: w(3),
        }
    }

    fn probability(&self, row: &[f64; FEATURES]) -> f64 {
        let log_odds = self.intercept
            + self.renewal_due * row[0]
            + self.health_when_due * row[1]
            + self.unscored * row[2]
            + self.monthly * row[3];
        1.0 / (1.0 + (-log_odds).exp())
    }
}

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Learned from this workspace's replayed history.
    Learned {
        cases: usize,
        churned: usize,
        downsold: usize,
        from: NaiveDate,
        to: NaiveDate,
    },
    /// The model laer ships, standing in; `caveat` says why and what it is.
    Shipped { caveat: String },
}

/// The probabilities of churn and of downsell within `horizon_days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    pub horizon_days: i64,
    pub churn: Curve,
    pub downsell: Curve,
    /// The mean score of the accounts it learned from: a health effect is measured
    /// against an account scoring this.
    pub typical_score: f64,
    /// How ARR changes at a renewal that is kept.
    #[serde(default)]
    pub kept: KeptChange,
    pub source: Source,
}

impl ChurnModel {
    /// The chance of churn at a renewal (one due within the horizon) of an account with
    /// `score` (none: unscored), month to month or not: what the renewal forecast takes
    /// the likelihood of renewing from.
    pub fn churn_at_renewal(&self, score: Option<f64>, monthly: bool) -> f64 {
        let due = Features {
            score,
            days_to_renewal: Some(0.0),
            monthly,
        };
        self.churn.probability(&due.row(self.horizon_days))
    }
}

/// How ARR changes at renewals that are kept: the ratio of MRR at the horizon's end to
/// MRR on the day, over the replayed customers that had a renewal due and stayed (or
/// downsold) — expansion above 1, contraction below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptChange {
    pub mean: f64,
    /// The ratios' 5th, 10th, …, 95th percentiles: what a simulation draws from.
    pub percentiles: Vec<f64>,
    /// Renewals it was learned from.
    pub renewals: usize,
}

impl Default for KeptChange {
    /// No change known: every renewal kept at its ARR.
    fn default() -> Self {
        KeptChange {
            mean: 1.0,
            percentiles: vec![1.0],
            renewals: 0,
        }
    }
}

impl KeptChange {
    /// Learned from ratios (any order; not finite or not positive are left out).
    pub fn of(ratios: &[f64]) -> KeptChange {
        let mut r: Vec<f64> = ratios.iter().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
        if r.is_empty() {
            return KeptChange::default();
        }
        r.sort_by(f64::total_cmp);
        KeptChange {
            mean: r.iter().sum::<f64>() / r.len() as f64,
            percentiles: (1..20).filter_map(|k| stats::quantile(&r, k as f64 / 20.0)).collect(),
            renewals: r.len(),
        }
    }

    /// The ratios a simulation draws from, equally likely (never empty): the
    /// percentiles, scaled so that their mean is [`KeptChange::mean`] — the expected
    /// ARR of a forecast and of its simulation then agree.
    pub fn ratios(&self) -> Vec<f64> {
        let drawn: Vec<f64> = self
            .percentiles
            .iter()
            .copied()
            .filter(|r| r.is_finite() && *r > 0.0)
            .collect();
        if drawn.is_empty() {
            return vec![self.mean];
        }
        let scale = self.mean / (drawn.iter().sum::<f64>() / drawn.len() as f64);
        drawn.into_iter().map(|r| r * scale).collect()
    }
}

/// How the out-of-sample predictions of one outcome did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Cases predicted out of sample, and of them those with the outcome.
    pub cases: usize,
    pub events: usize,
    /// Mean squared error of the probabilities (0 is perfect).
    pub brier: f64,
    /// The Brier score of predicting, in each fold, the rate of its training days: what
    /// knowing nothing of the account would score.
    pub reference_brier: f64,
    /// 1 − brier / reference_brier: the share of the reference's error removed (0 is no
    /// better than the rate, below 0 worse).
    pub skill: Option<f64>,
    pub log_loss: f64,
    /// Probability that an account with the outcome was given a higher probability than
    /// one without (ties half).
    pub auc: Option<f64>,
    pub reliability: Vec<CalibrationBin>,
}

/// The out-of-sample check of a learned model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Folds predicted (a fold whose training days held too few churned accounts is not).
    pub folds: usize,
    /// The first day predicted out of sample.
    pub predicted_from: NaiveDate,
    pub churn: Scores,
    pub downsell: Scores,
    /// Against the true chances, where an oracle knows them (the demo company).
    #[serde(default)]
    pub oracle: Option<OracleCheck>,
}

/// What [`learn`] gives: the model to use and, when it was learned here, how it did out
/// of sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learning {
    pub model: ChurnModel,
    pub evaluation: Option<Evaluation>,
}

/// Why a workspace's own model could not be learned.
#[derive(Debug, thiserror::Error)]
enum TooShort {
    #[error(
        "{cases} scored account-days with {churned} churned; at least {MIN_CASES} with {MIN_CHURNED} churned are needed"
    )]
    Cases { cases: usize, churned: usize },
    #[error("no fold of the replayed days could be predicted from the days before it")]
    NoFold,
    #[error("the regression failed: {0}")]
    Stats(#[from] StatsError),
}

/// Learns churn and downsell probabilities from `cases` (any order) for `horizon_days`,
/// or stands in the shipped model with a caveat naming what is missing.
pub fn learn(cases: &[Case], horizon_days: i64) -> Learning {
    match learned(cases, horizon_days) {
        Ok(learning) => learning,
        Err(e) => Learning {
            model: shipped(&format!("Too little history to learn from here ({e})")),
            evaluation: None,
        },
    }
}

fn learned(cases: &[Case], horizon_days: i64) -> Result<Learning, TooShort> {
    let mut cases: Vec<&Case> = cases.iter().collect();
    cases.sort_by_key(|c| c.as_of);
    enough(&cases)?;
    let evaluation = cross_validate(&cases, horizon_days)?;
    Ok(Learning {
        model: model_of(&cases, horizon_days)?,
        evaluation: Some(evaluation),
    })
}

/// Whether `cases` are enough to learn from: [`MIN_CASES`] scored, [`MIN_CHURNED`]
/// churned, and some not.
fn enough(cases: &[&Case]) -> Result<(), TooShort> {
    let churned = cases.iter().filter(|c| c.outcome == Outcome::Churned).count();
    let scored = cases.iter().filter(|c| c.features.score.is_some()).count();
    if scored < MIN_CASES || churned < MIN_CHURNED || churned == cases.len() {
        return Err(TooShort::Cases { cases: scored, churned });
    }
    Ok(())
}

/// The model fitted on every one of `cases`, without the out-of-sample check: what a
/// backtest forecasts a past quarter with, from the days known before it; `None` when
/// they are too few ([`MIN_CASES`], [`MIN_CHURNED`]).
pub fn fitted(cases: &[&Case], horizon_days: i64) -> Option<ChurnModel> {
    let mut cases = cases.to_vec();
    cases.sort_by_key(|c| c.as_of);
    enough(&cases).ok()?;
    model_of(&cases, horizon_days).ok()
}

/// The model fitted on `cases` (sorted by day).
fn model_of(cases: &[&Case], horizon_days: i64) -> Result<ChurnModel, TooShort> {
    let (churn, downsell) = fit(cases, horizon_days)?;
    let scores: Vec<f64> = cases.iter().filter_map(|c| c.features.score).collect();
    let (Some(first), Some(last)) = (cases.first(), cases.last()) else {
        return Err(TooShort::NoFold);
    };
    Ok(ChurnModel {
        horizon_days,
        churn,
        downsell,
        typical_score: scores.iter().sum::<f64>() / scores.len().max(1) as f64,
        kept: KeptChange::of(
            &cases
                .iter()
                .filter(|c| c.features.renewal_due(horizon_days) && c.outcome != Outcome::Churned)
                .filter_map(|c| c.change)
                .collect::<Vec<_>>(),
        ),
        source: Source::Learned {
            cases: cases.len(),
            churned: cases.iter().filter(|c| c.outcome == Outcome::Churned).count(),
            downsold: cases.iter().filter(|c| c.outcome == Outcome::Downsold).count(),
            from: first.as_of,
            to: last.as_of,
        },
    })
}

fn regression(cases: &[&Case], horizon_days: i64, outcome: Outcome) -> Result<Curve, StatsError> {
    let rows: Vec<[f64; FEATURES]> = cases.iter().map(|c| c.features.row(horizon_days)).collect();
    let y: Vec<bool> = cases.iter().map(|c| c.outcome == outcome).collect();
    let options = LogisticOptions {
        penalty: Penalty::L2,
        c: C,
        max_iterations: 200,
        ..LogisticOptions::default()
    };
    Ok(Curve::from_fit(&stats::logistic_regression(&rows, &y, &options)?))
}

fn fit(cases: &[&Case], horizon_days: i64) -> Result<(Curve, Curve), StatsError> {
    Ok((
        regression(cases, horizon_days, Outcome::Churned)?,
        regression(cases, horizon_days, Outcome::Downsold)?,
    ))
}

/// One case predicted out of sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prediction {
    as_of: NaiveDate,
    outcome: Outcome,
    churn: f64,
    downsell: f64,
    /// The rates of the fold's training days.
    churn_rate: f64,
    downsell_rate: f64,
    oracle: Option<f64>,
}

/// Predicts each fold from the days whose horizon ended before its first day (`cases`
/// sorted by day); the number of folds predicted, and the predictions.
fn out_of_sample(cases: &[&Case], horizon_days: i64) -> Result<(usize, Vec<Prediction>), TooShort> {
    let mut days: Vec<NaiveDate> = cases.iter().map(|c| c.as_of).collect();
    days.dedup();
    if days.len() < FOLDS + 1 {
        return Err(TooShort::NoFold);
    }
    let starts: Vec<NaiveDate> = (1..=FOLDS).map(|k| days[days.len() * k / (FOLDS + 1)]).collect();
    let mut predicted = Vec::new();
    let mut folds = 0;
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied();
        let train: Vec<&Case> = cases
            .iter()
            .copied()
            .filter(|c| (start - c.as_of).num_days() >= horizon_days)
            .collect();
        let churned = train.iter().filter(|c| c.outcome == Outcome::Churned).count();
        if churned < MIN_FOLD_CHURNED || churned == train.len() {
            continue;
        }
        let (churn, downsell) = fit(&train, horizon_days)?;
        let rate = |o: Outcome| train.iter().filter(|c| c.outcome == o).count() as f64 / train.len() as f64;
        let (churn_rate, downsell_rate) = (rate(Outcome::Churned), rate(Outcome::Downsold));
        folds += 1;
        for c in cases
            .iter()
            .filter(|c| c.as_of >= start && end.is_none_or(|e| c.as_of < e))
        {
            let row = c.features.row(horizon_days);
            predicted.push(Prediction {
                as_of: c.as_of,
                outcome: c.outcome,
                churn: churn.probability(&row),
                downsell: downsell.probability(&row),
                churn_rate,
                downsell_rate,
                oracle: c.oracle,
            });
        }
    }
    Ok((folds, predicted))
}

/// Scores the out-of-sample predictions.
fn cross_validate(cases: &[&Case], horizon_days: i64) -> Result<Evaluation, TooShort> {
    let (folds, predicted) = out_of_sample(cases, horizon_days)?;
    let Some(first) = predicted.first() else {
        return Err(TooShort::NoFold);
    };
    let scores = |outcome: Outcome, p: fn(&Prediction) -> (f64, f64)| {
        let happened: Vec<bool> = predicted.iter().map(|x| x.outcome == outcome).collect();
        let (model, reference): (Vec<f64>, Vec<f64>) = predicted.iter().map(p).unzip();
        score(&model, &reference, &happened)
    };
    Ok(Evaluation {
        folds,
        predicted_from: first.as_of,
        churn: scores(Outcome::Churned, |x| (x.churn, x.churn_rate))?,
        downsell: scores(Outcome::Downsold, |x| (x.downsell, x.downsell_rate))?,
        oracle: against_oracle(&predicted)?,
    })
}

/// laer's churn chances and the oracle's on the predictions the oracle knows.
fn against_oracle(predicted: &[Prediction]) -> Result<Option<OracleCheck>, StatsError> {
    let known: Vec<(&Prediction, f64)> = predicted.iter().filter_map(|p| Some((p, p.oracle?))).collect();
    if known.is_empty() {
        return Ok(None);
    }
    let churned: Vec<bool> = known.iter().map(|(p, _)| p.outcome == Outcome::Churned).collect();
    let laer: Vec<f64> = known.iter().map(|(p, _)| p.churn).collect();
    let oracle: Vec<f64> = known.iter().map(|(_, o)| *o).collect();
    Ok(Some(OracleCheck {
        cases: known.len(),
        churned: churned.iter().filter(|c| **c).count(),
        brier: stats::brier(&laer, &churned)?,
        auc: stats::auc(&laer, &churned),
        oracle_brier: stats::brier(&oracle, &churned)?,
        oracle_auc: stats::auc(&oracle, &churned),
    }))
}

fn score(model: &[f64], reference: &[f64], happened: &[bool]) -> Result<Scores, StatsError> {
    let brier = stats::brier(model, happened)?;
    let reference_brier = stats::brier(reference, happened)?;
    Ok(Scores {
        cases: model.len(),
        events: happened.iter().filter(|h| **h).count(),
        brier,
        reference_brier,
        skill: (reference_brier > 0.0).then(|| 1.0 - brier / reference_brier),
        log_loss: stats::log_loss(model, happened)?,
        auc: stats::auc(model, happened),
        reliability: stats::calibration(model, happened, RELIABILITY_BINS)?,
    })
}

/// The model laer ships, for a workspace whose own history is too short: what [`learn`]
/// learned on the demo company made on 2026-12-04 (the renewals' changes: on 2026-12-05) (`laer demo --accounts 1000 --months
/// 36`, then `laer report health-validation`: 17,783 account-days, 817 churned and 1,196
/// downsold within 90 days; out of sample, churn AUC 0.833 and Brier 0.0394 against 0.0422
/// for the rate alone), whose churn comes at renewals and follows health as docs/demo.md
/// describes. Its probabilities are another company's: its ranking is sound, their level
/// a rough guide.
pub fn shipped(caveat: &str) -> ChurnModel {
    ChurnModel {
        horizon_days: crate::health::outcome::HORIZON_DAYS,
        churn: Curve {
            intercept: -6.450,
            renewal_due: 4.327,
            health_when_due: -2.052,
            unscored: 0.0,
            monthly: -0.966,
        },
        downsell: Curve {
            intercept: -6.774,
            renewal_due: 5.084,
            health_when_due: -0.211,
            unscored: 0.0,
            monthly: -0.298,
        },
        typical_score: 46.8,
        // 8,052 renewals kept: most at the same ARR, a tenth cut by 15 % or more, a
        // tenth grown by 23 % or more.
        kept: KeptChange {
            mean: 1.0230,
            percentiles: vec![
                0.7255, 0.85, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0897, 1.2308,
                1.3929,
            ],
            renewals: 8_052,
        },
        source: Source::Shipped {
            caveat: format!(
                "{caveat}: laer's shipped model stands in, learned on its demo company; its ranking is sound, its probabilities a rough guide until this workspace's history is long enough."
            ),
        },
    }
}

/// An account's outlook over the model's horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outlook {
    pub horizon_days: i64,
    /// Probability that it churns (no MRR left) within the horizon.
    pub churn: f64,
    /// Probability that it downsells (less MRR, some left) within the horizon; churn and
    /// downsell together are at most 1.
    pub downsell: f64,
    pub renewal_due: bool,
    /// What its health does to the churn probability: it against that of the same account
    /// at the typical score (percentage points as a share: 0.05 is five points more).
    pub health_effect: Option<f64>,
    /// Whether the shipped model gave it.
    pub shipped: bool,
}

/// The outlook of an account with `features`.
pub fn outlook(model: &ChurnModel, features: Features) -> Outlook {
    let h = model.horizon_days;
    let row = features.row(h);
    let churn = model.churn.probability(&row);
    let downsell = model.downsell.probability(&row).min(1.0 - churn);
    let health_effect = features.score.map(|_| {
        let typical = Features {
            score: Some(model.typical_score),
            ..features
        };
        churn - model.churn.probability(&typical.row(h))
    });
    Outlook {
        horizon_days: h,
        churn,
        downsell,
        renewal_due: features.renewal_due(h),
        health_effect,
        shipped: matches!(model.source, Source::Shipped { .. }),
    }
}

/// One health driver as [`reasons`] reads it: the measure, its value, and the points it
/// could still bring (a [`Driver`]'s `possible − contribution`).
pub struct Held<'a> {
    pub measure: &'a str,
    pub value: f64,
    pub gap: f64,
}

impl<'a> From<&'a Driver> for Held<'a> {
    fn from(d: &'a Driver) -> Held<'a> {
        Held {
            measure: &d.measure,
            value: d.value,
            gap: d.possible - d.contribution,
        }
    }
}

/// The outlook in words, most telling first: the renewal, what health does to the churn
/// probability, and the health drivers holding the score down most (at least half a
/// point, at most three) — the same drivers as the account's health.
pub fn reasons<'a>(
    model: &ChurnModel,
    outlook: &Outlook,
    features: &Features,
    drivers: impl IntoIterator<Item = Held<'a>>,
) -> Vec<String> {
    let mut out = Vec::new();
    let h = outlook.horizon_days;
    match features.days_to_renewal {
        Some(d) if features.monthly => out.push(format!(
            "Month-to-month: can leave at any month's end (next in {d:.0} days)"
        )),
        Some(d) if d <= h as f64 => out.push(format!("Renewal due in {d:.0} days, within the {h}")),
        Some(d) => out.push(format!("Next renewal in {d:.0} days, after the {h}")),
        None => out.push("No renewal date known".to_string()),
    }
    if features.score.is_some() && !outlook.renewal_due {
        out.push(format!(
            "Health moves the chance when a renewal is due; none is within the {h}"
        ));
    } else if let (Some(score), Some(effect)) = (features.score, outlook.health_effect) {
        let points = effect * 100.0;
        let typical = model.typical_score;
        if points.abs() >= 0.5 {
            out.push(format!(
                "Health {score:.0} against a usual {typical:.0}: churn chance {} {:.0} points",
                if points > 0.0 { "up" } else { "down" },
                points.abs()
            ));
        } else {
            out.push(format!("Health {score:.0}, near the usual {typical:.0}: little effect"));
        }
    } else if features.score.is_none() {
        out.push("No health score yet: the usual chance for its renewal timing".to_string());
    }
    let mut holding: Vec<Held<'a>> = drivers.into_iter().filter(|d| d.gap >= 0.5).collect();
    holding.sort_by(|a, b| b.gap.total_cmp(&a.gap));
    out.extend(
        holding
            .into_iter()
            .take(3)
            .map(|d| crate::health::words::in_words(d.measure, d.value)),
    );
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A history drawn from a known model: churn only when a renewal is due, likelier at
    /// low health; downsells rarer and also at low health.
    pub(crate) fn history(accounts: usize, months: u32, seed: u64) -> Vec<Case> {
        let mut next = crate::stats::uniform(seed);
        let mut out = Vec::new();
        for m in 0..months {
            let as_of = NaiveDate::from_ymd_opt(2024, 1, 28)
                .and_then(|d| d.checked_add_months(chrono::Months::new(m)))
                .unwrap();
            for _ in 0..accounts {
                let score = 100.0 * next();
                let days = (next() * 365.0).floor();
                let due = days <= 90.0;
                let h = (score - 50.0) / 50.0;
                let churn_odds = if due { -1.5 - 2.5 * h } else { -6.0 };
                let p_churn = 1.0 / (1.0 + (-churn_odds).exp());
                let p_down = 1.0 / (1.0 + (2.5 + 0.8 * h).exp());
                let u = next();
                let outcome = if u < p_churn {
                    Outcome::Churned
                } else if u < p_churn + p_down * (1.0 - p_churn) {
                    Outcome::Downsold
                } else {
                    Outcome::Stayed
                };
                out.push(Case {
                    as_of,
                    features: Features {
                        score: Some(score),
                        days_to_renewal: Some(days),
                        monthly: false,
                    },
                    outcome,
                    oracle: Some(p_churn),
                    change: (outcome != Outcome::Churned).then_some(if outcome == Outcome::Downsold {
                        0.7
                    } else {
                        1.1
                    }),
                });
            }
        }
        out
    }

    #[test]
    fn it_learns_the_drawn_model_and_checks_itself_out_of_sample() {
        let cases = history(150, 24, 11);
        let learning = learn(&cases, 90);
        let model = &learning.model;
        assert!(matches!(model.source, Source::Learned { cases: 3600, .. }));
        // The drawn churn log-odds: −6 when not due; −1.5 − 2.5 h when due.
        assert!((model.churn.intercept - -6.0).abs() < 1.0, "{:?}", model.churn);
        assert!((model.churn.intercept + model.churn.renewal_due - -1.5).abs() < 0.3);
        assert!((model.churn.health_when_due - -2.5).abs() < 0.5);
        let e = learning.evaluation.as_ref().unwrap();
        assert_eq!(e.folds, FOLDS);
        // Predicted: the last three quarters of the 24 days.
        assert_eq!(e.churn.cases, 150 * 18);
        assert!(e.churn.auc.unwrap() > 0.85, "{:?}", e.churn.auc);
        assert!(e.churn.skill.unwrap() > 0.15, "{:?}", e.churn.skill);
        // Calibrated: in every well-filled bin, the observed rate is near the predicted.
        for bin in e.churn.reliability.iter().filter(|b| b.count >= 150) {
            let (p, o) = (bin.mean_predicted.unwrap(), bin.observed_rate.unwrap());
            assert!((p - o).abs() < 0.08, "bin {bin:?}");
        }
        // The drawn chances are the oracle: laer comes close to it, and no closer than
        // chance allows (an oracle scores better on average).
        let o = e.oracle.as_ref().unwrap();
        assert_eq!(o.cases, e.churn.cases);
        assert!((o.brier - e.churn.brier).abs() < 1e-12);
        assert!(o.oracle_brier <= o.brier + 0.002, "{o:?}");
        assert!(o.brier - o.oracle_brier < 0.01, "{o:?}");
        assert!(o.oracle_auc.unwrap() > 0.85);
        // Every figure is the one the stats module computes on the same predictions:
        // Brier of a constant equal to the event rate is at most the reference here.
        assert!(e.churn.brier < e.churn.reference_brier);
        assert!(e.downsell.brier <= e.downsell.reference_brier + 1e-3);
    }

    #[test]
    fn no_fold_learns_from_a_day_whose_horizon_had_not_passed() {
        // Every outcome from 89 days before the first fold on is turned upside down: the
        // first fold's predictions must not move, as none of those was known before it.
        let cases = history(150, 24, 5);
        let mut days: Vec<NaiveDate> = cases.iter().map(|c| c.as_of).collect();
        days.dedup();
        let first = days[days.len() / (FOLDS + 1)];
        let second = days[days.len() * 2 / (FOLDS + 1)];
        let flipped: Vec<Case> = cases
            .iter()
            .map(|c| Case {
                outcome: match ((first - c.as_of).num_days() < 90, c.outcome) {
                    (true, Outcome::Churned) => Outcome::Stayed,
                    (true, _) => Outcome::Churned,
                    (false, o) => o,
                },
                ..*c
            })
            .collect();
        let predict = |cases: &[Case]| {
            let refs: Vec<&Case> = cases.iter().collect();
            let (_, p) = out_of_sample(&refs, 90).unwrap();
            p.into_iter()
                .filter(|p| p.as_of < second)
                .map(|p| (p.as_of, p.churn, p.downsell))
                .collect::<Vec<_>>()
        };
        let honest = predict(&cases);
        assert_eq!(honest.len(), 150 * 6);
        assert_eq!(honest, predict(&flipped));
        // And a day whose horizon had passed does count: flipping all moves them.
        let all_flipped: Vec<Case> = cases
            .iter()
            .map(|c| Case {
                outcome: if c.outcome == Outcome::Churned {
                    Outcome::Stayed
                } else {
                    Outcome::Churned
                },
                ..*c
            })
            .collect();
        assert_ne!(honest, predict(&all_flipped));
    }

    #[test]
    fn the_oracle_chance_is_that_of_leaving_at_a_decision_within_the_horizon() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let decisions = [(d("2026-01-31"), 0.1), (d("2026-02-28"), 0.2), (d("2026-06-30"), 0.9)];
        assert_eq!(
            oracle_chance(&decisions, d("2026-06-30"), 90),
            0.0,
            "on the day is not after it"
        );
        assert!((oracle_chance(&decisions, d("2026-01-15"), 90) - (1.0 - 0.9 * 0.8)).abs() < 1e-12);
        assert!(
            (oracle_chance(&decisions, d("2026-04-01"), 90) - 0.9).abs() < 1e-12,
            "90 days on"
        );
        assert_eq!(oracle_chance(&[], d("2026-01-15"), 90), 0.0);
    }

    #[test]
    fn the_change_of_kept_renewals_is_read_from_those_that_stayed() {
        let k = KeptChange::of(&[1.0, 1.0, 1.2, 0.8, f64::NAN, -1.0]);
        assert_eq!(k.renewals, 4, "not finite or not positive left out");
        assert!((k.mean - 1.0).abs() < 1e-12);
        assert_eq!(k.percentiles.len(), 19);
        assert!(k.percentiles.windows(2).all(|w| w[0] <= w[1]));
        assert!(k.percentiles[0] >= 0.8 && k.percentiles[18] <= 1.2);
        assert_eq!(KeptChange::of(&[]), KeptChange::default());
        // Learned with the model: the drawn history keeps at 1.1, downsells to 0.7.
        let model = learn(&history(150, 24, 11), 90).model;
        assert!(model.kept.renewals > 100);
        assert!(model.kept.mean > 0.7 && model.kept.mean < 1.1, "{:?}", model.kept);
    }

    #[test]
    fn too_little_history_stands_in_the_shipped_model_and_says_why() {
        let cases = history(5, 12, 3);
        let learning = learn(&cases, 90);
        assert!(learning.evaluation.is_none());
        let Source::Shipped { caveat } = &learning.model.source else {
            panic!("{:?}", learning.model.source)
        };
        assert!(caveat.contains("60 scored account-days"), "{caveat}");
        assert_eq!(
            learning.model,
            shipped(&format!(
                "Too little history to learn from here ({})",
                caveat_of(&cases)
            ))
        );
    }

    fn caveat_of(cases: &[Case]) -> String {
        let churned = cases.iter().filter(|c| c.outcome == Outcome::Churned).count();
        TooShort::Cases {
            cases: cases.len(),
            churned,
        }
        .to_string()
    }

    #[test]
    fn the_outlook_follows_health_and_the_renewal_and_explains_itself() {
        let model = learn(&history(150, 24, 11), 90).model;
        let at = |score: f64, days: f64| {
            outlook(
                &model,
                Features {
                    score: Some(score),
                    days_to_renewal: Some(days),
                    monthly: false,
                },
            )
        };
        assert!(
            at(20.0, 30.0).churn > at(80.0, 30.0).churn,
            "worse health, likelier churn"
        );
        assert!(
            at(20.0, 30.0).churn > 5.0 * at(20.0, 200.0).churn,
            "a renewal within the horizon"
        );
        let o = at(20.0, 30.0);
        assert!(o.churn + o.downsell <= 1.0);
        assert!(o.health_effect.unwrap() > 0.0);
        assert!(!o.shipped);
        let features = Features {
            score: Some(20.0),
            days_to_renewal: Some(30.0),
            monthly: false,
        };
        let words = reasons(&model, &o, &features, std::iter::empty());
        assert_eq!(words[0], "Renewal due in 30 days, within the 90");
        assert!(words[1].starts_with("Health 20 against a usual 49"), "{words:?}");
        assert!(words[1].contains("churn chance up"), "{words:?}");
        let unscored = outlook(
            &model,
            Features {
                score: None,
                days_to_renewal: None,
                monthly: false,
            },
        );
        assert!(unscored.health_effect.is_none() && !unscored.renewal_due);
        assert!((0.0..=1.0).contains(&unscored.churn));
    }

    fn learned_once() -> &'static ChurnModel {
        static MODEL: std::sync::OnceLock<ChurnModel> = std::sync::OnceLock::new();
        MODEL.get_or_init(|| learn(&history(40, 16, 2), 90).model)
    }

    proptest::proptest! {
        #[test]
        fn probabilities_are_probabilities(score in proptest::option::of(0.0f64..=100.0), days in proptest::option::of(-5.0f64..2_000.0), monthly: bool) {
            for model in [&shipped("test"), learned_once()] {
                let o = outlook(model, Features { score, days_to_renewal: days, monthly });
                proptest::prop_assert!((0.0..=1.0).contains(&o.churn));
                proptest::prop_assert!((0.0..=1.0).contains(&o.downsell));
                proptest::prop_assert!(o.churn + o.downsell <= 1.0 + 1e-12);
            }
        }
    }
}
