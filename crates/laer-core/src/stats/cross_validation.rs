//! The choice of the regularisation parameter C by time-ordered cross-validation
//! (listing 9.5).

use serde::{Deserialize, Serialize};

use super::StatsError;
use super::logistic::{LogisticOptions, Penalty, logistic_regression};
use super::measures::{auc, top_decile_lift};

/// How one value of C did in cross-validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidationScore {
    pub c: f64,
    /// Mean AUC over the test folds where it is defined (both classes present).
    pub mean_auc: Option<f64>,
    /// Mean top-decile lift over the test folds where it is defined.
    pub mean_lift: Option<f64>,
    /// Non-zero coefficients (the intercept not counted) when fitted on all rows.
    pub weights: usize,
}

/// The scores of every C tried, and the chosen one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    pub scores: Vec<CrossValidationScore>,
    /// The C with the highest mean AUC; among equals, the smallest (the simplest model).
    pub best_c: f64,
}

/// The book's grid of C (listing 9.5).
pub const C_GRID: [f64; 9] = [0.64, 0.32, 0.16, 0.08, 0.04, 0.02, 0.01, 0.005, 0.0025];

/// Chooses C by time-ordered cross-validation as listing 9.5 does (scikit-learn's
/// `TimeSeriesSplit(n_splits=splits)`): the rows, which must be in time order, are cut into
/// `splits + 1` blocks of `rows / (splits + 1)` rows, the remainder going to the first; fold f
/// trains on everything before test block f and tests on it. Each C is scored by the mean test
/// AUC and lift of its fits. Deterministic.
pub fn cross_validate_c<R: AsRef<[f64]>>(
    x: &[R],
    y: &[bool],
    grid: &[f64],
    splits: usize,
    penalty: Penalty,
) -> Result<CrossValidation, StatsError> {
    if grid.is_empty() {
        return Err(StatsError::InvalidParameter {
            name: "grid",
            requirement: "at least one value of C",
        });
    }
    if splits == 0 {
        return Err(StatsError::InvalidParameter {
            name: "splits",
            requirement: "at least 1",
        });
    }
    if y.len() != x.len() {
        return Err(StatsError::LengthMismatch {
            what: "y",
            expected: x.len(),
            found: y.len(),
        });
    }
    let test_size = x.len() / (splits + 1);
    if test_size == 0 {
        return Err(StatsError::InvalidParameter {
            name: "splits",
            requirement: "fewer than the rows",
        });
    }
    let first_test = x.len() - splits * test_size;
    let mut scores = Vec::with_capacity(grid.len());
    for &c in grid {
        let options = LogisticOptions {
            penalty,
            c,
            ..LogisticOptions::default()
        };
        let (mut aucs, mut lifts) = (Vec::new(), Vec::new());
        for fold in 0..splits {
            let start = first_test + fold * test_size;
            let end = start + test_size;
            let fit = logistic_regression(&x[..start], &y[..start], &options)?;
            let risk: Vec<f64> = x[start..end].iter().map(|row| fit.predict(row.as_ref())).collect();
            aucs.extend(auc(&risk, &y[start..end]));
            lifts.extend(top_decile_lift(&risk, &y[start..end]));
        }
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let full = logistic_regression(x, y, &options)?;
        scores.push(CrossValidationScore {
            c,
            mean_auc: mean(&aucs),
            mean_lift: mean(&lifts),
            weights: full.coefficients.iter().filter(|w| **w != 0.0).count(),
        });
    }
    let mut best: Option<&CrossValidationScore> = None;
    for score in &scores {
        let better = match best {
            None => true,
            Some(b) => {
                let (s, t) = (
                    score.mean_auc.unwrap_or(f64::NEG_INFINITY),
                    b.mean_auc.unwrap_or(f64::NEG_INFINITY),
                );
                s > t || (s == t && score.c < b.c)
            }
        };
        if better {
            best = Some(score);
        }
    }
    let best_c = best.map_or(grid[0], |b| b.c);
    Ok(CrossValidation { scores, best_c })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_validation_scores_every_c_and_picks_the_best_auc() {
        // Churn falls with the metric, with noise; rows in time order.
        let x: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from((i * 37) % 101) / 50.0 - 1.0]).collect();
        let y: Vec<bool> = (0..200).map(|i| ((i * 37) % 101) < 30 || i % 17 == 0).collect();
        let cv = cross_validate_c(&x, &y, &C_GRID, 3, Penalty::L1).unwrap();
        assert_eq!(cv.scores.len(), C_GRID.len());
        let best = cv
            .scores
            .iter()
            .filter_map(|s| s.mean_auc)
            .fold(f64::NEG_INFINITY, f64::max);
        let chosen = cv.scores.iter().find(|s| s.c == cv.best_c).unwrap();
        assert_eq!(chosen.mean_auc, Some(best));
        assert!(best > 0.7, "{cv:?}");
        assert!(cv.scores.iter().all(|s| s.weights <= 1));
        assert!(matches!(
            cross_validate_c(&x[..3], &y[..3], &C_GRID, 3, Penalty::L1),
            Err(StatsError::InvalidParameter { name: "splits", .. })
        ));
        assert!(matches!(
            cross_validate_c(&x, &y, &[], 3, Penalty::L1),
            Err(StatsError::InvalidParameter { name: "grid", .. })
        ));
    }
}
