//! Learning a health model's weights from history by the method of *Fighting Churn With
//! Data*: every signal becomes a score (fat-tailed ones on a log scale, then a z-score),
//! correlated scores are averaged into groups, and a regularised (L1) logistic regression
//! of retention on the group scores, its C chosen by time-ordered cross-validation, gives
//! each group its weight. The weights are then written as an additive model in laer's
//! form, whose score orders accounts exactly as the regression's probability does.

use chrono::NaiveDate;
use serde::Serialize;

use crate::health::inputs::Signals;
use crate::health::model::{Calibration, HealthModel, Measure, Pillar, PillarWeights, Scale};
use crate::stats::{
    self, C_GRID, CrossValidation, GROUP_CORRELATION, LogisticOptions, MetricGroups, Penalty, StatsError, Transform,
};

/// One account on one past day: its signals then, and whether it churned or downsold.
#[derive(Debug, Clone, PartialEq)]
pub struct FitObservation {
    pub as_of: NaiveDate,
    pub signals: Signals,
    pub churned: bool,
}

/// How far from the mean, in standard deviations, a fitted measure's score runs from 0
/// to 100 (beyond, it is clamped: 99.7% of a normal metric's values fall inside).
pub const SCORE_RANGE_SD: f64 = 3.0;
/// A signal is considered when at least this share of the observations has it.
pub const MIN_COVERAGE: f64 = 0.9;
/// Signals that keep a group of their own.
pub const UNGROUPED: &[&str] = &["days_to_renewal"];
/// Time-ordered folds for choosing C.
pub const SPLITS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("no history to learn from: {0}")]
    NoHistory(&'static str),
    #[error("no signal predicts churn in this history (every weight came out zero)")]
    NothingPredicts,
    #[error(transparent)]
    Stats(#[from] StatsError),
}

/// A group of correlated signals and its regression weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FittedGroup {
    pub signals: Vec<String>,
    /// Coefficient of the group score in the log-odds of retention.
    pub coefficient: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit {
    /// The learned model (the base model's windows, phases and quadrant, new measures).
    pub model: HealthModel,
    pub observations: usize,
    pub churned: usize,
    pub signals_considered: Vec<String>,
    pub groups: Vec<FittedGroup>,
    pub intercept: f64,
    pub c: f64,
    pub cross_validation: CrossValidation,
}

fn scale_of(transform: Transform) -> Scale {
    match transform {
        Transform::Identity => Scale::Linear,
        Transform::Log1p => Scale::Log,
        Transform::Asinh => Scale::Asinh,
    }
}

fn inverse(scale: Scale, t: f64) -> f64 {
    match scale {
        Scale::Linear => t,
        Scale::Log => t.exp_m1(),
        Scale::Asinh => t.sinh(),
    }
}

/// Fits weights on `observations` (any order), keeping `base`'s other settings.
pub fn fit(base: &HealthModel, observations: &[FitObservation], name: &str) -> Result<Fit, FitError> {
    let mut observations: Vec<&FitObservation> = observations.iter().collect();
    observations.sort_by_key(|o| o.as_of);
    let n = observations.len();
    let churned = observations.iter().filter(|o| o.churned).count();
    if n < 20 || churned == 0 || churned == n {
        return Err(FitError::NoHistory(
            "at least 20 replayed accounts are needed, some of which churned and some not",
        ));
    }
    // Signals most observations have; a missing value becomes the column's mean (score 0).
    let mut names: Vec<&str> = observations
        .iter()
        .flat_map(|o| o.signals.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let names: Vec<&str> = names
        .into_iter()
        .filter(|name| {
            let have = observations.iter().filter(|o| o.signals.contains_key(*name)).count();
            have as f64 >= MIN_COVERAGE * n as f64
        })
        .collect();
    if names.is_empty() {
        return Err(FitError::NoHistory("no signal is known for most accounts"));
    }
    let mut scalings = Vec::with_capacity(names.len());
    let mut columns: Vec<Vec<f64>> = Vec::with_capacity(names.len());
    for name in &names {
        let known: Vec<f64> = observations
            .iter()
            .filter_map(|o| o.signals.get(*name).copied())
            .collect();
        let scaling = stats::fit_scaling(&known)?;
        columns.push(
            observations
                .iter()
                .map(|o| o.signals.get(*name).map_or(0.0, |v| scaling.score(*v)))
                .collect(),
        );
        scalings.push(scaling);
    }
    let correlation = stats::correlation_matrix(&columns)?;
    let mut groups = MetricGroups::find(&correlation, GROUP_CORRELATION)?;
    // Contract timing is not behaviour: averaged with what it happens to correlate with
    // (a size, a tenure), it would be diluted.
    for (i, name) in names.iter().enumerate() {
        if UNGROUPED.contains(name) {
            for g in &mut groups.groups {
                g.retain(|m| *m != i);
            }
            groups.groups.retain(|g| !g.is_empty());
            groups.groups.push(vec![i]);
        }
    }
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let metric_scores: Vec<f64> = columns.iter().map(|c| c[i]).collect();
            groups.group_scores(&metric_scores)
        })
        .collect::<Result<_, _>>()?;
    let retained: Vec<bool> = observations.iter().map(|o| !o.churned).collect();
    let cross_validation = stats::cross_validate_c(&rows, &retained, &C_GRID, SPLITS, Penalty::L1)?;
    let regression = stats::logistic_regression(
        &rows,
        &retained,
        &LogisticOptions {
            penalty: Penalty::L1,
            c: cross_validation.best_c,
            ..LogisticOptions::default()
        },
    )?;

    // Each signal's part of the log-odds is b · z, b = group coefficient × loading; with
    // its score s (0–100) spanning ±k standard deviations, z = 2k·s/100 − k, so its
    // weight is 2k|b| on the score turned the way that raises retention.
    let k = SCORE_RANGE_SD;
    let mut measures = Vec::new();
    let mut total = 0.0;
    for (g, members) in groups.groups.iter().enumerate() {
        let b = regression.coefficients.get(g).copied().unwrap_or(0.0) * groups.loading(g);
        if b == 0.0 {
            continue;
        }
        for &m in members {
            let scaling = &scalings[m];
            // A constant signal says nothing (and its range would be empty).
            if scaling.std_dev.is_nan() || scaling.std_dev <= 0.0 {
                continue;
            }
            let scale = scale_of(scaling.transform);
            let low = inverse(scale, scaling.mean - k * scaling.std_dev);
            let high = inverse(scale, scaling.mean + k * scaling.std_dev);
            let (bad, good) = if b > 0.0 { (low, high) } else { (high, low) };
            let weight = 2.0 * k * b.abs();
            total += weight;
            measures.push(Measure {
                signal: names[m].to_string(),
                pillar: Pillar::of_signal(names[m]),
                weight,
                bad,
                good,
                scale,
                phases: vec![],
                segments: vec![],
            });
        }
    }
    if measures.is_empty() {
        return Err(FitError::NothingPredicts);
    }
    let pillar_weight = |p: Pillar| measures.iter().filter(|m| m.pillar == p).map(|m| m.weight).sum::<f64>();
    // log-odds of retention = intercept − total/2 + total · score/100.
    let calibration = Calibration {
        intercept: -(regression.intercept - total / 2.0),
        slope: -total,
    };
    let model = HealthModel {
        name: name.to_string(),
        engagement_floor: 1.0,
        pillars: PillarWeights {
            adoption: pillar_weight(Pillar::Adoption),
            experience: pillar_weight(Pillar::Experience),
            engagement: pillar_weight(Pillar::Engagement),
            transformation: pillar_weight(Pillar::Transformation),
        },
        calibration: Some(calibration),
        measures,
        ..base.clone()
    };
    Ok(Fit {
        model,
        observations: n,
        churned,
        signals_considered: names.iter().map(|s| s.to_string()).collect(),
        groups: groups
            .groups
            .iter()
            .enumerate()
            .map(|(g, members)| FittedGroup {
                signals: members.iter().map(|m| names[*m].to_string()).collect(),
                coefficient: regression.coefficients.get(g).copied().unwrap_or(0.0),
            })
            .collect(),
        intercept: regression.intercept,
        c: cross_validation.best_c,
        cross_validation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::score::score;

    /// A history where churn follows low utilisation and many cases; breadth goes with
    /// utilisation; tenure is noise.
    fn history() -> Vec<FitObservation> {
        let mut next = crate::stats::uniform(7);
        let mut out = Vec::new();
        for i in 0..1_200 {
            let utilisation = next();
            let breadth = (utilisation * 0.8 + next() * 0.2).min(1.0);
            let cases = (next() * 3.0).floor();
            let tenure = next() * 900.0;
            let log_odds = -1.0 + 4.0 * utilisation - 0.9 * cases;
            let p_retain = 1.0 / (1.0 + (-log_odds).exp());
            out.push(FitObservation {
                as_of: NaiveDate::from_ymd_opt(2025, 1 + (i % 12) as u32, 28).unwrap(),
                signals: [
                    ("utilisation", utilisation),
                    ("breadth", breadth),
                    ("cases_per_month", cases),
                    ("tenure_days", tenure),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
                churned: next() > p_retain,
            });
        }
        out
    }

    #[test]
    fn the_fitted_score_ranks_as_the_regression_does_and_reads_its_direction() {
        let history = history();
        let fit = fit(&HealthModel::default(), &history, "fitted").unwrap();
        let model = &fit.model;
        let utilisation = model.measures.iter().find(|m| m.signal == "utilisation").unwrap();
        assert!(utilisation.good > utilisation.bad, "higher utilisation is better");
        let cases = model.measures.iter().find(|m| m.signal == "cases_per_month").unwrap();
        assert!(cases.good < cases.bad, "fewer cases are better");
        assert_eq!(cases.pillar, Pillar::Experience);
        let weight = |s: &str| model.measures.iter().find(|m| m.signal == s).map_or(0.0, |m| m.weight);
        assert!(
            weight("tenure_days") < weight("cases_per_month") / 3.0,
            "noise weighs little"
        );
        // The model's churn probability is the regression's, up to the ±3 sd clamp.
        let calibration = model.calibration.unwrap();
        let risk: Vec<f64> = history
            .iter()
            .map(|o| 100.0 - score(model, &o.signals).score.unwrap())
            .collect();
        let churned: Vec<bool> = history.iter().map(|o| o.churned).collect();
        let auc = stats::auc(&risk, &churned).unwrap();
        assert!(auc > 0.75, "AUC {auc}");
        for o in history.iter().take(50) {
            let s = score(model, &o.signals).score.unwrap();
            let p = calibration.churn_probability(s);
            assert!((0.0..=1.0).contains(&p));
        }
        // Adopting it keeps a valid model file.
        let text = model.to_toml();
        assert_eq!(&HealthModel::from_toml(&text).unwrap(), model);
    }

    #[test]
    fn too_little_history_is_refused() {
        let few: Vec<FitObservation> = history().into_iter().take(10).collect();
        assert!(matches!(
            fit(&HealthModel::default(), &few, "x"),
            Err(FitError::NoHistory(_))
        ));
    }
}
