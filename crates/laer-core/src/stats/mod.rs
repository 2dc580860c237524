//! Statistics for the health model, by the method of *Fighting Churn With Data* (Carl Gold)
//! as the book's code does it (PyPI `fightchurn` 1.2.0, `listings/chap5` to `chap9`):
//!
//! - metric scores: z-scores, fat-tailed metrics transformed first (listing 7.5);
//! - groups of correlated metrics and their group scores (listings 6.4 and 6.3);
//! - L1- or L2-regularised logistic regression with scikit-learn's liblinear objective (8.2);
//! - the measures a model is judged by: AUC (9.1), top-decile lift (9.2), calibration,
//!   Brier score and log loss;
//! - the choice of the regularisation parameter C by time-ordered cross-validation (9.5);
//! - survival: Kaplan–Meier with Greenwood bands, and the shifted-beta-geometric model of
//!   contractual retention (`survival`); the Cox proportional-hazards model, with
//!   covariates fixed or changing over time (`cox`).
//!
//! Pure functions over plain numbers. Input that is not a finite number, or that does not fit
//! together, is an error (or `None`), never a panic.

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("no data")]
    Empty,
    #[error("{what} has {found} values, expected {expected}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("row {row} has {found} values, expected {expected}")]
    RaggedRow { row: usize, expected: usize, found: usize },
    /// `column` is 0 for functions of a single column.
    #[error("the value at row {row}, column {column} is not a finite number")]
    NonFinite { row: usize, column: usize },
    #[error("the value at row {row} ({value}) is not a probability between 0 and 1")]
    NotAProbability { row: usize, value: f64 },
    #[error("{name} must be {requirement}")]
    InvalidParameter {
        name: &'static str,
        requirement: &'static str,
    },
    #[error("no convergence after {iterations} iterations (optimality violation {violation:e})")]
    NotConverged { iterations: usize, violation: f64 },
}

mod cox;
mod cross_validation;
mod grouping;
mod logistic;
mod measures;
mod scaling;
mod survival;

pub use cox::{CoxFit, cox, cox_time_varying};
pub use cross_validation::{C_GRID, CrossValidation, CrossValidationScore, cross_validate_c};
pub use grouping::{GROUP_CORRELATION, MetricGroups, correlation_matrix};
pub use logistic::{LogisticFit, LogisticOptions, Penalty, logistic_regression};
pub use measures::{CalibrationBin, auc, brier, calibration, log_loss, top_decile_lift};
pub use scaling::{FAT_TAIL_SKEW, MetricScaling, Transform, fit_scaling, skewness};
pub use survival::{KaplanMeier, Sbg, Z_95, fit_sbg, kaplan_meier, sbg_log_likelihood};

/// The `p` quantile (0 to 1) of `sorted` (ascending), interpolated linearly between the
/// closest ranks (numpy's default); `None` when there are none.
pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

/// The median of `values` (sorted in place; the mean of the middle two when even), `None`
/// when there are none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    quantile(values, 0.5)
}

#[cfg(test)]
fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

/// Uniform draws in [0, 1) from a 64-bit linear congruential generator seeded with
/// `seed`: the tests' drawn histories, the same on every run.
#[cfg(test)]
pub(crate) fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}
