//! Statistics for the health model, by the method of *Fighting Churn With Data* (Carl Gold)
//! as the book's code does it (PyPI `fightchurn` 1.2.0, `listings/chap5` to `chap9`):
//!
//! - metric scores: z-scores, fat-tailed metrics transformed first (listing 7.5);
//! - groups of correlated metrics and their group scores (listings 6.4 and 6.3);
//! - L1- or L2-regularised logistic regression with scikit-learn's liblinear objective (8.2);
//! - the measures a model is judged by: AUC (9.1), top-decile lift (9.2), calibration;
//! - the choice of the regularisation parameter C by time-ordered cross-validation (9.5).
//!
//! Pure functions over plain numbers. Input that is not a finite number, or that does not fit
//! together, is an error (or `None`), never a panic.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

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

// ---------------------------------------------------------------------------------------------
// Measures of a risk model
// ---------------------------------------------------------------------------------------------

/// Area under the ROC curve: the probability that a randomly chosen churned case has a higher
/// `risk` than a randomly chosen retained one, ties counting one half (the Mann-Whitney U
/// statistic over the product of the class sizes; scikit-learn's `roc_auc_score`).
/// Computed from mid-ranks in O(n log n), exactly up to the final division.
///
/// `None` when the lengths differ, either class is empty, or a risk is NaN.
pub fn auc(risk: &[f64], churned: &[bool]) -> Option<f64> {
    if risk.len() != churned.len() || risk.iter().any(|r| r.is_nan()) {
        return None;
    }
    let positives = churned.iter().filter(|&&c| c).count() as u128;
    let negatives = risk.len() as u128 - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let order = ascending_order(risk);
    // Twice the sum of the churned cases' mid-ranks: the tied run of (1-based) ranks
    // start+1 ..= end has the mid-rank (start + 1 + end) / 2.
    let mut twice_rank_sum: u128 = 0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && risk[order[end]] == risk[order[start]] {
            end += 1;
        }
        let churned_in_run = order[start..end].iter().filter(|&&i| churned[i]).count() as u128;
        twice_rank_sum += churned_in_run * (start as u128 + 1 + end as u128);
        start = end;
    }
    let twice_u = twice_rank_sum - positives * (positives + 1);
    Some(twice_u as f64 / (2 * positives * negatives) as f64)
}

/// Indices of `values` in ascending order (NaN must have been ruled out).
fn ascending_order(values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].partial_cmp(&values[b]).unwrap_or(Ordering::Equal));
    order
}

/// Top-decile lift as listing 9.2 (`calc_lift`) defines it: the churn rate among the riskiest
/// tenth of the cases divided by the overall churn rate.
///
/// The cases are sorted by (risk, churned) ascending and the top decile is the last
/// `n - round(0.9 n)` of them (rounding half to even, as Python's `round`). So among cases
/// tied on risk at the cut-off, the churned ones count as the riskier: ties favour the model.
/// As in the book, the lift is 1 when the risks take fewer than 10 distinct values.
///
/// `None` when the lengths differ, there are no cases or no churned case, or a risk is NaN.
pub fn top_decile_lift(risk: &[f64], churned: &[bool]) -> Option<f64> {
    if risk.len() != churned.len() || risk.is_empty() || risk.iter().any(|r| r.is_nan()) {
        return None;
    }
    let n = risk.len();
    let churn_count = churned.iter().filter(|&&c| c).count();
    if churn_count == 0 {
        return None;
    }
    let mut cases: Vec<(f64, bool)> = risk.iter().copied().zip(churned.iter().copied()).collect();
    cases.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal).then(a.1.cmp(&b.1)));
    let distinct = 1 + cases.windows(2).filter(|w| w[0].0 != w[1].0).count();
    if distinct < 10 {
        return Some(1.0);
    }
    let cut = (n as f64 * 0.9).round_ties_even() as usize;
    let top = n.checked_sub(cut).filter(|&t| t > 0)?;
    let top_churn = cases[cut..].iter().filter(|c| c.1).count();
    let top_rate = top_churn as f64 / top as f64;
    let overall_rate = churn_count as f64 / n as f64;
    Some(top_rate / overall_rate)
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// The bin holds the predicted probabilities p with `from < p <= to` (the first bin also 0).
    pub from: f64,
    pub to: f64,
    pub count: usize,
    /// The mean predicted probability of the bin's cases; `None` for an empty bin.
    pub mean_predicted: Option<f64>,
    /// The share of the bin's cases that churned; `None` for an empty bin.
    pub observed_rate: Option<f64>,
}

/// Calibration table: `bins` equal-width bins of the predicted churn probability over [0, 1],
/// each with its mean prediction and observed churn rate (scikit-learn's `calibration_curve`
/// with the uniform strategy, which closes bins on the right; empty bins are kept here).
pub fn calibration(predicted: &[f64], churned: &[bool], bins: usize) -> Result<Vec<CalibrationBin>, StatsError> {
    if bins == 0 {
        return Err(StatsError::InvalidParameter {
            name: "bins",
            requirement: "at least 1",
        });
    }
    if predicted.len() != churned.len() {
        return Err(StatsError::LengthMismatch {
            what: "churned",
            expected: predicted.len(),
            found: churned.len(),
        });
    }
    let edge = |k: usize| k as f64 / bins as f64;
    let mut counts = vec![0usize; bins];
    let mut sums = vec![0.0f64; bins];
    let mut churns = vec![0usize; bins];
    for (row, (&p, &c)) in predicted.iter().zip(churned).enumerate() {
        if !(0.0..=1.0).contains(&p) {
            return Err(StatsError::NotAProbability { row, value: p });
        }
        // The bin k with edge(k) < p <= edge(k + 1), found by arithmetic and then corrected
        // for rounding against the edges themselves.
        let mut k = ((p * bins as f64).ceil() as usize).saturating_sub(1).min(bins - 1);
        while k > 0 && p <= edge(k) {
            k -= 1;
        }
        while k + 1 < bins && p > edge(k + 1) {
            k += 1;
        }
        counts[k] += 1;
        sums[k] += p;
        churns[k] += usize::from(c);
    }
    Ok((0..bins)
        .map(|k| {
            let count = counts[k];
            let mean = |x: f64| (count > 0).then(|| x / count as f64);
            CalibrationBin {
                from: edge(k),
                to: edge(k + 1),
                count,
                mean_predicted: mean(sums[k]),
                observed_rate: mean(churns[k] as f64),
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Metric scores (listings 5.3 and 7.5)
// ---------------------------------------------------------------------------------------------

/// The skewness above which a metric counts as fat-tailed (listing 7.5's `skew_thresh`).
pub const FAT_TAIL_SKEW: f64 = 4.0;

/// How a metric's values are transformed before the z-score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transform {
    /// Used as they are.
    Identity,
    /// `ln(1 + x)`: fat-tailed metrics that are never negative.
    Log1p,
    /// `asinh(x) = ln(x + sqrt(x² + 1))`: fat-tailed metrics that can be negative.
    Asinh,
}

impl Transform {
    fn apply(self, x: f64) -> f64 {
        match self {
            Transform::Identity => x,
            // The fit saw no negative value; a negative one later scores as 0 would.
            Transform::Log1p => x.max(0.0).ln_1p(),
            Transform::Asinh => x.asinh(),
        }
    }
}

/// How one metric's values become scores, learned from one column of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricScaling {
    pub transform: Transform,
    /// Mean of the transformed values.
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator) of the transformed values.
    pub std_dev: f64,
}

impl MetricScaling {
    /// The score of a value: `(transform(x) − mean) / std_dev`, or 0 for a metric that was
    /// constant when fitted (where the book's code would divide by zero).
    pub fn score(&self, x: f64) -> f64 {
        if self.std_dev > 0.0 && self.std_dev.is_finite() {
            (self.transform.apply(x) - self.mean) / self.std_dev
        } else {
            0.0
        }
    }
}

/// Sample skewness, the adjusted Fisher-Pearson coefficient G1 = √(n(n−1)) / (n−2) · m3 / m2^1.5
/// with m2, m3 the central moments (pandas' `skew`). 0 for a constant column; `None` for fewer
/// than three values.
pub fn skewness(values: &[f64]) -> Option<f64> {
    let n = values.len() as f64;
    if values.len() < 3 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n;
    let (mut s2, mut s3) = (0.0, 0.0);
    for &v in values {
        let d = v - mean;
        s2 += d * d;
        s3 += d * d * d;
    }
    // pandas zeroes sums below 1e-14 as rounding noise.
    if s2.abs() < 1e-14 {
        return Some(0.0);
    }
    let s3 = if s3.abs() < 1e-14 { 0.0 } else { s3 };
    Some(n * (n - 1.0).sqrt() / (n - 2.0) * (s3 / s2.powf(1.5)))
}

/// Learns a metric's scaling by the book's fat-tail rule (listing 7.5): a metric whose
/// skewness exceeds [`FAT_TAIL_SKEW`] is transformed by `ln(1 + x)` when its minimum is at
/// least 0, and by `asinh(x)` otherwise; then the mean and sample standard deviation of the
/// (transformed) values make the z-score.
pub fn fit_scaling(column: &[f64]) -> Result<MetricScaling, StatsError> {
    if column.is_empty() {
        return Err(StatsError::Empty);
    }
    if let Some(row) = column.iter().position(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite { row, column: 0 });
    }
    let min = column.iter().copied().fold(f64::INFINITY, f64::min);
    let transform = match skewness(column) {
        Some(skew) if skew > FAT_TAIL_SKEW && min >= 0.0 => Transform::Log1p,
        Some(skew) if skew > FAT_TAIL_SKEW => Transform::Asinh,
        _ => Transform::Identity,
    };
    let values: Vec<f64> = column.iter().map(|&x| transform.apply(x)).collect();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std_dev = if values.len() > 1 {
        (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Ok(MetricScaling {
        transform,
        mean,
        std_dev,
    })
}

// ---------------------------------------------------------------------------------------------
// Groups of correlated metrics (listings 6.4 and 6.3)
// ---------------------------------------------------------------------------------------------

/// The correlation at which metrics are grouped (listing 8.1's `group_corr_thresh`).
pub const GROUP_CORRELATION: f64 = 0.55;

/// Pearson correlation matrix of columns of equal length (pandas' `corr`, by the same
/// one-pass updates). A constant column correlates 0 with every other (pandas: NaN);
/// the diagonal is 1.
pub fn correlation_matrix<C: AsRef<[f64]>>(columns: &[C]) -> Result<Vec<Vec<f64>>, StatsError> {
    let rows = columns.first().map_or(0, |c| c.as_ref().len());
    for (column, values) in columns.iter().enumerate() {
        let values = values.as_ref();
        if values.len() != rows {
            return Err(StatsError::LengthMismatch {
                what: "column",
                expected: rows,
                found: values.len(),
            });
        }
        if let Some(row) = values.iter().position(|v| !v.is_finite()) {
            return Err(StatsError::NonFinite { row, column });
        }
    }
    let m = columns.len();
    let mut corr = vec![vec![0.0; m]; m];
    for a in 0..m {
        corr[a][a] = 1.0;
        for b in a + 1..m {
            let (x, y) = (columns[a].as_ref(), columns[b].as_ref());
            let (mut mean_x, mut mean_y, mut ss_x, mut ss_y, mut cov) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (i, (&vx, &vy)) in x.iter().zip(y).enumerate() {
                let dx = vx - mean_x;
                let dy = vy - mean_y;
                let weight = 1.0 / (i + 1) as f64;
                mean_x += weight * dx;
                mean_y += weight * dy;
                ss_x += (vx - mean_x) * dx;
                ss_y += (vy - mean_y) * dy;
                cov += (vx - mean_x) * dy;
            }
            let divisor = (ss_x * ss_y).sqrt();
            let r = if divisor > 0.0 { cov / divisor } else { 0.0 };
            corr[a][b] = r;
            corr[b][a] = r;
        }
    }
    Ok(corr)
}

/// Metrics grouped by correlation, and how group scores are made from metric scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricGroups {
    /// Each group's metric indices, ascending. Groups are ordered by size, largest first,
    /// ties by their first metric (listing 6.4's numbering); every metric is in one group.
    pub groups: Vec<Vec<usize>>,
    /// The correlation threshold the groups were found at.
    pub threshold: f64,
}

impl MetricGroups {
    /// Groups metrics as listing 6.4 does: hierarchical clustering with *single* linkage on
    /// the distance `1 − correlation`, cut at the distance `1 − threshold` (scipy's `fcluster`
    /// with the distance criterion: merged while the distance is at most the cut). Single
    /// linkage cut there joins exactly the metrics linked by a chain of pairs each with
    /// `1 − corr <= 1 − threshold`, so this takes the connected components of that graph.
    pub fn find(correlation: &[Vec<f64>], threshold: f64) -> Result<MetricGroups, StatsError> {
        let m = correlation.len();
        if let Some(row) = correlation.iter().find(|row| row.len() != m) {
            return Err(StatsError::LengthMismatch {
                what: "correlation row",
                expected: m,
                found: row.len(),
            });
        }
        if !threshold.is_finite() {
            return Err(StatsError::InvalidParameter {
                name: "threshold",
                requirement: "a finite number",
            });
        }
        let cut = 1.0 - threshold;
        let mut parent: Vec<usize> = (0..m).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for (a, row) in correlation.iter().enumerate() {
            for (b, &r) in row.iter().enumerate().skip(a + 1) {
                // The upper triangle, as scipy's `squareform` reads it; NaN links nothing.
                if 1.0 - r <= cut {
                    let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of_root = vec![usize::MAX; m];
        for i in 0..m {
            let r = root(&mut parent, i);
            if group_of_root[r] == usize::MAX {
                group_of_root[r] = groups.len();
                groups.push(Vec::new());
            }
            groups[group_of_root[r]].push(i);
        }
        // Stable: equal sizes keep the order of their first metric.
        groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
        Ok(MetricGroups { groups, threshold })
    }

    /// The loading of each member of a group: 1 for a metric alone, and
    /// `1 / (√threshold · size)` in a group of several (listing 6.4's loading matrix). A group
    /// score is thus its members' average score divided by √threshold, which the book's code
    /// does to bring the average of correlated scores back towards unit variance.
    pub fn loading(&self, group: usize) -> f64 {
        match self.groups.get(group).map_or(0, Vec::len) {
            0 => 0.0,
            1 => 1.0,
            size => 1.0 / (self.threshold.sqrt() * size as f64),
        }
    }

    /// The loading matrix, metric × group (listing 6.4's `load_mat`): group scores are metric
    /// scores times this matrix.
    pub fn loading_matrix(&self, metrics: usize) -> Vec<Vec<f64>> {
        let mut matrix = vec![vec![0.0; self.groups.len()]; metrics];
        for (g, members) in self.groups.iter().enumerate() {
            for &metric in members {
                if let Some(row) = matrix.get_mut(metric) {
                    row[g] = self.loading(g);
                }
            }
        }
        matrix
    }

    /// One case's group scores from its metric scores (listing 6.3): each group's loading
    /// times the sum of its members' scores.
    pub fn group_scores(&self, metric_scores: &[f64]) -> Result<Vec<f64>, StatsError> {
        self.groups
            .iter()
            .enumerate()
            .map(|(g, members)| {
                let mut sum = 0.0;
                for &metric in members {
                    sum += metric_scores.get(metric).copied().ok_or(StatsError::LengthMismatch {
                        what: "metric scores",
                        expected: metric + 1,
                        found: metric_scores.len(),
                    })?;
                }
                Ok(sum * self.loading(g))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Regularised logistic regression (listing 8.2)
// ---------------------------------------------------------------------------------------------

/// The penalty on the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Penalty {
    /// ‖w‖₁: drives weights to exactly zero (the book's choice).
    L1,
    /// ½‖w‖₂².
    L2,
}

/// How to fit a logistic regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogisticOptions {
    pub penalty: Penalty,
    /// scikit-learn's C: the weight of the summed log-loss against the penalty; smaller is
    /// stronger regularisation.
    pub c: f64,
    /// Stop when the largest violation of the optimality conditions is at most `tolerance`
    /// times the larger of 1 and its value at the start (all weights zero).
    pub tolerance: f64,
    /// Newton iterations allowed before [`StatsError::NotConverged`].
    pub max_iterations: usize,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions {
            penalty: Penalty::L1,
            c: 1.0,
            tolerance: 1e-10,
            max_iterations: 100,
        }
    }
}

/// A fitted logistic regression: P(y) = 1 / (1 + e^−(intercept + coefficients · x)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticFit {
    pub intercept: f64,
    pub coefficients: Vec<f64>,
    /// Newton iterations used.
    pub iterations: usize,
}

impl LogisticFit {
    /// The log-odds of y = true for one row. A row should have one value per coefficient;
    /// a missing trailing value counts as 0 (for scores, the average) and extra ones are ignored.
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        self.intercept + self.coefficients.iter().zip(row).map(|(w, x)| w * x).sum::<f64>()
    }

    /// The probability of y = true for one row (see [`LogisticFit::log_odds`]).
    pub fn predict(&self, row: &[f64]) -> f64 {
        sigmoid(self.log_odds(row))
    }
}

/// Fits a regularised logistic regression of `y` on the rows `x`, minimising scikit-learn's
/// `LogisticRegression(solver='liblinear', fit_intercept=True, C=c)` objective (listing 8.2):
///
/// - L1: `C · Σ logloss + ‖(w, b)‖₁`
/// - L2: `C · Σ logloss + ½‖(w, b)‖₂²`
///
/// where liblinear fits the intercept b as the weight of an extra feature fixed at 1
/// (`intercept_scaling=1`) and, as scikit-learn documents, penalises it like every other
/// weight. liblinear stops early (scikit-learn's `tol=1e-4`, relative to the gradient at
/// zero); this solves to `options.tolerance`, so it matches liblinear run to convergence.
///
/// Solver: proximal Newton (L1; the quadratic model solved by cyclic coordinate descent, as in
/// liblinear's newGLMNET) or Newton with a Cholesky solve (L2), each with an Armijo line search;
/// deterministic. Columns are used as given (no standardisation). Listing 8.2 fits retention
/// (y = not churned); the objective is symmetric, so that fit is this one's with every sign
/// flipped. Separable data and a single class stay finite through the penalty.
///
/// Fails with `Empty` for no rows, `NonFinite` naming the first bad value's row and column,
/// and `NotConverged` (no fit is returned) when the iteration cap is reached or the line
/// search stalls short of the tolerance.
pub fn logistic_regression<R: AsRef<[f64]>>(
    x: &[R],
    y: &[bool],
    options: &LogisticOptions,
) -> Result<LogisticFit, StatsError> {
    if !(options.c.is_finite() && options.c > 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "c",
            requirement: "a positive finite number",
        });
    }
    if !(options.tolerance.is_finite() && options.tolerance >= 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "tolerance",
            requirement: "a finite number at least 0",
        });
    }
    let design = Design::new(x, y)?;
    let beta = match options.penalty {
        Penalty::L1 => fit_l1(&design, options)?,
        Penalty::L2 => fit_l2(&design, options)?,
    };
    Ok(beta.into_fit())
}

/// Rows with the intercept's constant 1 appended, row-major, and y as 0/1.
struct Design {
    rows: usize,
    /// Columns including the intercept's.
    width: usize,
    values: Vec<f64>,
    targets: Vec<f64>,
}

impl Design {
    fn new<R: AsRef<[f64]>>(x: &[R], y: &[bool]) -> Result<Design, StatsError> {
        if x.is_empty() {
            return Err(StatsError::Empty);
        }
        if y.len() != x.len() {
            return Err(StatsError::LengthMismatch {
                what: "y",
                expected: x.len(),
                found: y.len(),
            });
        }
        let columns = x[0].as_ref().len();
        let width = columns + 1;
        let mut values = Vec::with_capacity(x.len() * width);
        for (row, r) in x.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != columns {
                return Err(StatsError::RaggedRow {
                    row,
                    expected: columns,
                    found: r.len(),
                });
            }
            if let Some(column) = r.iter().position(|v| !v.is_finite()) {
                return Err(StatsError::NonFinite { row, column });
            }
            values.extend_from_slice(r);
            values.push(1.0);
        }
        let targets = y.iter().map(|&t| if t { 1.0 } else { 0.0 }).collect();
        Ok(Design {
            rows: x.len(),
            width,
            values,
            targets,
        })
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// X·v for a weight vector v.
    fn times(&self, v: &[f64]) -> Vec<f64> {
        (0..self.rows).map(|i| dot(self.row(i), v)).collect()
    }

    /// The gradient and Hessian (row-major, width × width) of C·Σ logloss at the margins z.
    fn gradient_hessian(&self, z: &[f64], c: f64) -> (Vec<f64>, Vec<f64>) {
        let k = self.width;
        let mut gradient = vec![0.0; k];
        let mut hessian = vec![0.0; k * k];
        for (i, &zi) in z.iter().enumerate() {
            let row = self.row(i);
            let p = sigmoid(zi);
            let residual = c * (p - self.targets[i]);
            let curvature = c * p * (1.0 - p);
            for (g, &v) in gradient.iter_mut().zip(row) {
                *g += residual * v;
            }
            if curvature > 0.0 {
                for a in 0..k {
                    let wa = curvature * row[a];
                    if wa != 0.0 {
                        let upper = &mut hessian[a * k + a..(a + 1) * k];
                        for (h, &v) in upper.iter_mut().zip(&row[a..]) {
                            *h += wa * v;
                        }
                    }
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                hessian[a * k + b] = hessian[b * k + a];
            }
        }
        (gradient, hessian)
    }

    /// C·Σ [logloss(z + α·dz) − logloss(z)], summed per row for precision.
    fn loss_change(&self, z: &[f64], dz: &[f64], alpha: f64, c: f64) -> f64 {
        let mut change = 0.0;
        for ((&zi, &di), &t) in z.iter().zip(dz).zip(&self.targets) {
            let delta = alpha * di;
            change += log1p_exp_change(zi, delta) - t * delta;
        }
        c * change
    }
}

/// Weights with the intercept last, and the iterations it took.
struct Solution {
    beta: Vec<f64>,
    iterations: usize,
}

impl Solution {
    fn into_fit(mut self) -> LogisticFit {
        let intercept = self.beta.pop().unwrap_or(0.0);
        LogisticFit {
            intercept,
            coefficients: self.beta,
            iterations: self.iterations,
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^z) without overflow.
fn log1p_exp(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// ln(1 + e^(z+δ)) − ln(1 + e^z), without cancellation for small δ: ln(1 + σ(z)·(e^δ − 1)).
/// Newton's last steps change the objective by less than its rounding, which a plain
/// difference could not see.
fn log1p_exp_change(z: f64, delta: f64) -> f64 {
    if delta.abs() < 1.0 {
        (sigmoid(z) * delta.exp_m1()).ln_1p()
    } else {
        log1p_exp(z + delta) - log1p_exp(z)
    }
}

fn l1_norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x.abs()).sum()
}

/// How far a weight is from the L1 optimality condition given the loss gradient g:
/// g = −sign(w) where w ≠ 0, |g| ≤ 1 where w = 0.
fn l1_violation(w: f64, g: f64) -> f64 {
    if w > 0.0 {
        (g + 1.0).abs()
    } else if w < 0.0 {
        (g - 1.0).abs()
    } else {
        (g.abs() - 1.0).max(0.0)
    }
}

/// Curvature added to the Hessian's diagonal, as liblinear's `nu`, so that a column of zeros
/// cannot make a coordinate step divide by zero.
const HESSIAN_DIAGONAL_SHIFT: f64 = 1e-12;
/// Armijo's sufficient-decrease fraction (liblinear's `sigma`).
const ARMIJO: f64 = 0.01;
const MAX_LINE_SEARCH: usize = 40;
const MAX_SWEEPS: usize = 10_000;
/// A stalled line search still counts as converged within this relative violation (the
/// objective's rounding noise can hide the last digits of progress).
const STALL_TOLERANCE: f64 = 1e-7;

fn fit_l1(design: &Design, options: &LogisticOptions) -> Result<Solution, StatsError> {
    let k = design.width;
    let c = options.c;
    let mut beta = vec![0.0; k];
    let mut z = vec![0.0; design.rows];
    let mut scale = None;
    for iteration in 0..=options.max_iterations {
        let (gradient, mut hessian) = design.gradient_hessian(&z, c);
        let violation = beta
            .iter()
            .zip(&gradient)
            .map(|(&w, &g)| l1_violation(w, g))
            .fold(0.0, f64::max);
        let scale = *scale.get_or_insert(violation.max(1.0));
        if violation <= options.tolerance * scale {
            return Ok(Solution {
                beta,
                iterations: iteration,
            });
        }
        let stalled = || {
            if violation <= STALL_TOLERANCE * scale {
                Ok(Solution {
                    beta: beta.clone(),
                    iterations: iteration,
                })
            } else {
                Err(StatsError::NotConverged {
                    iterations: iteration,
                    violation,
                })
            }
        };
        if iteration == options.max_iterations {
            return Err(StatsError::NotConverged {
                iterations: iteration,
                violation,
            });
        }
        for j in 0..k {
            hessian[j * k + j] += HESSIAN_DIAGONAL_SHIFT;
        }
        let target = l1_newton_point(&beta, &gradient, &hessian, 1e-4 * violation);
        let step: Vec<f64> = target.iter().zip(&beta).map(|(t, b)| t - b).collect();
        let norm = l1_norm(&beta);
        let decrease = dot(&gradient, &step) + l1_norm(&target) - norm;
        if decrease.is_nan() || decrease >= 0.0 {
            return stalled();
        }
        let dz = design.times(&step);
        let mut alpha = 1.0;
        let mut accepted = None;
        for _ in 0..MAX_LINE_SEARCH {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + alpha * s).collect();
            let change = design.loss_change(&z, &dz, alpha, c) + l1_norm(&trial) - norm;
            if change <= ARMIJO * alpha * decrease {
                accepted = Some(trial);
                break;
            }
            alpha *= 0.5;
        }
        match accepted {
            Some(trial) => {
                for (zi, di) in z.iter_mut().zip(&dz) {
                    *zi += alpha * di;
                }
                beta = trial;
            }
            None => return stalled(),
        }
    }
    Err(StatsError::NotConverged {
        iterations: options.max_iterations,
        violation: f64::NAN,
    })
}

/// The minimiser u of the L1 problem's quadratic model at β:
/// g·(u − β) + ½ (u − β)ᵀ H (u − β) + ‖u‖₁, by cyclic coordinate descent until no coordinate
/// violates its optimality condition by more than `tolerance` (or the sweep cap).
fn l1_newton_point(beta: &[f64], gradient: &[f64], hessian: &[f64], tolerance: f64) -> Vec<f64> {
    let k = beta.len();
    let mut u = beta.to_vec();
    // H·(u − β), kept up to date.
    let mut h_step = vec![0.0; k];
    for _ in 0..MAX_SWEEPS {
        let mut worst: f64 = 0.0;
        for j in 0..k {
            let h = hessian[j * k + j];
            let g = gradient[j] + h_step[j];
            let w = u[j];
            worst = worst.max(l1_violation(w, g));
            // Minimise g·t + ½ h t² + |w + t| over the change t.
            let new = if g + 1.0 <= h * w {
                w - (g + 1.0) / h
            } else if g - 1.0 >= h * w {
                w - (g - 1.0) / h
            } else {
                0.0
            };
            // liblinear's cap on one step, against runaway steps where the curvature is ~0.
            let new = new.max(w - 10.0).min(w + 10.0);
            let change = new - w;
            if change != 0.0 && change.is_finite() {
                u[j] = new;
                for (hs, row) in h_step.iter_mut().zip(hessian.chunks_exact(k)) {
                    *hs += change * row[j];
                }
            }
        }
        if worst <= tolerance {
            break;
        }
    }
    u
}

fn fit_l2(design: &Design, options: &LogisticOptions) -> Result<Solution, StatsError> {
    let k = design.width;
    let c = options.c;
    let mut beta = vec![0.0; k];
    let mut z = vec![0.0; design.rows];
    let mut scale = None;
    for iteration in 0..=options.max_iterations {
        let (mut gradient, mut hessian) = design.gradient_hessian(&z, c);
        for j in 0..k {
            gradient[j] += beta[j];
            hessian[j * k + j] += 1.0;
        }
        let violation = gradient.iter().fold(0.0, |m: f64, g| m.max(g.abs()));
        let scale = *scale.get_or_insert(violation.max(1.0));
        if violation <= options.tolerance * scale {
            return Ok(Solution {
                beta,
                iterations: iteration,
            });
        }
        let stalled = || {
            if violation <= STALL_TOLERANCE * scale {
                Ok(Solution {
                    beta: beta.clone(),
                    iterations: iteration,
                })
            } else {
                Err(StatsError::NotConverged {
                    iterations: iteration,
                    violation,
                })
            }
        };
        if iteration == options.max_iterations {
            return Err(StatsError::NotConverged {
                iterations: iteration,
                violation,
            });
        }
        let Some(step) = cholesky_solve(&hessian, &gradient, k) else {
            return stalled();
        };
        let step: Vec<f64> = step.iter().map(|s| -s).collect();
        let decrease = dot(&gradient, &step);
        if decrease.is_nan() || decrease >= 0.0 {
            return stalled();
        }
        let dz = design.times(&step);
        // ½‖β + αd‖² − ½‖β‖², without the cancellation of the plain difference.
        let (beta_step, step_step) = (dot(&beta, &step), dot(&step, &step));
        let mut alpha = 1.0;
        let mut accepted = None;
        for _ in 0..MAX_LINE_SEARCH {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + alpha * s).collect();
            let penalty_change = alpha * beta_step + 0.5 * alpha * alpha * step_step;
            let change = design.loss_change(&z, &dz, alpha, c) + penalty_change;
            if change <= ARMIJO * alpha * decrease {
                accepted = Some(trial);
                break;
            }
            alpha *= 0.5;
        }
        match accepted {
            Some(trial) => {
                for (zi, di) in z.iter_mut().zip(&dz) {
                    *zi += alpha * di;
                }
                beta = trial;
            }
            None => return stalled(),
        }
    }
    Err(StatsError::NotConverged {
        iterations: options.max_iterations,
        violation: f64::NAN,
    })
}

/// Solves A·x = b for a symmetric positive definite A (row-major, k × k); `None` if A is not.
fn cholesky_solve(a: &[f64], b: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let sum = a[i * k + j] - (0..j).map(|m| l[i * k + m] * l[j * k + m]).sum::<f64>();
            if i == j {
                if sum.is_nan() || sum <= 0.0 {
                    return None;
                }
                l[i * k + i] = sum.sqrt();
            } else {
                l[i * k + j] = sum / l[j * k + j];
            }
        }
    }
    let mut y = vec![0.0; k];
    for i in 0..k {
        y[i] = (b[i] - (0..i).map(|m| l[i * k + m] * y[m]).sum::<f64>()) / l[i * k + i];
    }
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        x[i] = (y[i] - (i + 1..k).map(|m| l[m * k + i] * x[m]).sum::<f64>()) / l[i * k + i];
    }
    Some(x)
}

// ---------------------------------------------------------------------------------------------
// Choosing C (listing 9.5)
// ---------------------------------------------------------------------------------------------

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
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    // --- AUC ---

    #[test]
    fn auc_of_hand_computed_cases() {
        // scikit-learn's documented example.
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
        assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]), Some(1.0));
        assert_eq!(auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        // Pairs (churned, retained): (2,1) 1, (2,2) ½, (3,1) 1, (3,2) 1 → 3.5 / 4.
        assert_eq!(auc(&[1.0, 2.0, 2.0, 3.0], &[false, true, false, true]), Some(0.875));
        // All tied: every pair counts half.
        assert_eq!(auc(&[5.0; 5], &[true, false, false, true, false]), Some(0.5));
        // −0 and 0 are the same risk.
        assert_eq!(auc(&[-0.0, 0.0], &[true, false]), Some(0.5));
        // Infinite risks are ordered like any other.
        assert_eq!(auc(&[f64::NEG_INFINITY, f64::INFINITY], &[false, true]), Some(1.0));
    }

    #[test]
    fn auc_is_undefined_without_both_classes_or_with_bad_input() {
        assert_eq!(auc(&[], &[]), None);
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(auc(&[0.1, 0.2], &[false]), None);
        assert_eq!(auc(&[0.1, f64::NAN], &[false, true]), None);
    }

    // --- Lift ---

    #[test]
    fn lift_of_the_riskiest_tenth() {
        let risk: Vec<f64> = (0..20).map(f64::from).collect();
        let mut churned = vec![false; 20];
        churned[18] = true;
        churned[19] = true;
        // Top decile: the last 2 of 20, both churned; overall 2/20.
        assert_eq!(top_decile_lift(&risk, &churned), Some(10.0));
        churned[19] = false;
        churned[0] = true;
        assert_eq!(top_decile_lift(&risk, &churned), Some(5.0));
    }

    #[test]
    fn lift_ties_at_the_cut_off_favour_the_churned() {
        // Risks 0..=17 and two more at 17: the three at 17 straddle the cut (positions 17..20,
        // the top decile being 18 and 19). The churned one of them sorts last, into the top.
        let mut risk: Vec<f64> = (0..18).map(f64::from).collect();
        risk.extend([17.0, 17.0]);
        for churned_at in [17, 18, 19] {
            let mut churned = vec![false; 20];
            churned[churned_at] = true;
            assert_eq!(top_decile_lift(&risk, &churned), Some(10.0), "churned at {churned_at}");
        }
    }

    #[test]
    fn lift_rounds_the_cut_half_to_even() {
        // 25 × 0.9 = 22.5 rounds to 22, so the top decile is the last 3 (positions 22..25).
        let risk: Vec<f64> = (0..25).map(f64::from).collect();
        let mut churned = vec![false; 25];
        churned[22] = true;
        assert_eq!(top_decile_lift(&risk, &churned), Some((1.0 / 3.0) / (1.0 / 25.0)));
    }

    #[test]
    fn lift_is_one_for_fewer_than_ten_distinct_risks_and_undefined_without_churn() {
        let risk: Vec<f64> = (0..30).map(|i| f64::from(i % 9)).collect();
        let churned: Vec<bool> = (0..30).map(|i| i % 9 == 8).collect();
        assert_eq!(top_decile_lift(&risk, &churned), Some(1.0));
        let risk: Vec<f64> = (0..30).map(f64::from).collect();
        assert_eq!(top_decile_lift(&risk, &[false; 30]), None);
        assert_eq!(top_decile_lift(&[], &[]), None);
        assert_eq!(top_decile_lift(&risk, &[true; 29]), None);
    }

    // --- Calibration ---

    #[test]
    fn calibration_bins_close_on_the_right() {
        let bins = calibration(&[0.0, 0.25, 0.5, 0.75, 1.0], &[false, false, true, true, true], 2).unwrap();
        assert_eq!(bins.len(), 2);
        assert_eq!((bins[0].from, bins[0].to, bins[0].count), (0.0, 0.5, 3));
        assert_eq!(bins[0].mean_predicted, Some(0.25));
        assert_eq!(bins[0].observed_rate, Some(1.0 / 3.0));
        assert_eq!((bins[1].from, bins[1].to, bins[1].count), (0.5, 1.0, 2));
        assert_eq!(bins[1].mean_predicted, Some(0.875));
        assert_eq!(bins[1].observed_rate, Some(1.0));
    }

    #[test]
    fn calibration_keeps_empty_bins_and_checks_its_input() {
        let bins = calibration(&[0.05, 0.95], &[false, true], 10).unwrap();
        assert_eq!(
            bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(bins[5].mean_predicted, None);
        assert_eq!(bins[5].observed_rate, None);
        assert_eq!(bins[9].to, 1.0);
        // Values on an edge go to the bin below it.
        let bins = calibration(&[0.1, 0.2, 0.3, 0.7], &[false; 4], 10).unwrap();
        assert_eq!(
            bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            [1, 1, 1, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(
            calibration(&[0.5, 1.5], &[false, true], 10),
            Err(StatsError::NotAProbability { row: 1, value: 1.5 })
        );
        assert!(matches!(
            calibration(&[f64::NAN], &[false], 10),
            Err(StatsError::NotAProbability { row: 0, .. })
        ));
        assert!(matches!(
            calibration(&[0.5], &[false], 0),
            Err(StatsError::InvalidParameter { .. })
        ));
        assert!(matches!(
            calibration(&[0.5], &[], 3),
            Err(StatsError::LengthMismatch { .. })
        ));
    }

    // --- Scores ---

    #[test]
    fn skewness_matches_pandas() {
        // pandas 3.1: pd.Series([1, 1, 2]).skew(), pd.Series([0, 0, 0, 10, 3, 1]).skew()
        assert!(close(skewness(&[1.0, 1.0, 2.0]).unwrap(), 1.7320508075688774, 1e-12));
        assert!(close(
            skewness(&[0.0, 0.0, 0.0, 10.0, 3.0, 1.0]).unwrap(),
            2.024326440497258,
            1e-12
        ));
        assert_eq!(skewness(&[1.0, 2.0, 3.0]), Some(0.0));
        assert_eq!(skewness(&[4.0; 10]), Some(0.0));
        assert_eq!(skewness(&[1.0, 2.0]), None);
    }

    #[test]
    fn fat_tailed_metrics_are_transformed_by_the_books_rule() {
        let mut column = vec![0.0; 99];
        column.push(1000.0);
        let scaling = fit_scaling(&column).unwrap();
        assert_eq!(scaling.transform, Transform::Log1p);
        let logs: Vec<f64> = column.iter().map(|x| x.ln_1p()).collect();
        let mean = logs.iter().sum::<f64>() / 100.0;
        let sd = (logs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 99.0).sqrt();
        assert!(close(scaling.mean, mean, 1e-12));
        assert!(close(scaling.std_dev, sd, 1e-12));
        assert!(close(scaling.score(1000.0), (1001f64.ln() - mean) / sd, 1e-12));

        // The same shape with negative values takes asinh.
        let shifted: Vec<f64> = column.iter().map(|x| x - 1.0).collect();
        let scaling = fit_scaling(&shifted).unwrap();
        assert_eq!(scaling.transform, Transform::Asinh);
        let expected = 999f64 + (999f64 * 999.0 + 1.0).sqrt();
        assert!(close(Transform::Asinh.apply(999.0), expected.ln(), 1e-12));

        // A symmetric metric is only standardised.
        let column: Vec<f64> = (1..=9).map(f64::from).collect();
        let scaling = fit_scaling(&column).unwrap();
        assert_eq!(scaling.transform, Transform::Identity);
        assert_eq!(scaling.mean, 5.0);
        assert!(close(scaling.std_dev, 7.5f64.sqrt(), 1e-12));
        assert_eq!(scaling.score(5.0), 0.0);
        assert!(close(scaling.score(5.0 + 7.5f64.sqrt()), 1.0, 1e-12));
    }

    #[test]
    fn scaling_edge_cases() {
        let constant = fit_scaling(&[3.0; 5]).unwrap();
        assert_eq!(constant.std_dev, 0.0);
        assert_eq!(constant.score(3.0), 0.0);
        assert_eq!(constant.score(100.0), 0.0);
        assert_eq!(fit_scaling(&[7.0]).unwrap().score(1.0), 0.0);
        assert_eq!(fit_scaling(&[]), Err(StatsError::Empty));
        assert_eq!(
            fit_scaling(&[1.0, f64::INFINITY]),
            Err(StatsError::NonFinite { row: 1, column: 0 })
        );
        // A value below the fitted range of a log-transformed metric scores as 0 would.
        let mut column = vec![0.0; 99];
        column.push(1000.0);
        let scaling = fit_scaling(&column).unwrap();
        assert_eq!(scaling.score(-5.0), scaling.score(0.0));
    }

    // --- Groups ---

    fn symmetric(m: usize, pairs: &[(usize, usize, f64)], otherwise: f64) -> Vec<Vec<f64>> {
        let mut corr = vec![vec![otherwise; m]; m];
        for (i, row) in corr.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        for &(a, b, r) in pairs {
            corr[a][b] = r;
            corr[b][a] = r;
        }
        corr
    }

    #[test]
    fn groups_join_chains_of_correlated_metrics() {
        // 0–1 and 1–2 are correlated, 0–2 not: single linkage still joins all three.
        let corr = symmetric(6, &[(0, 1, 0.9), (1, 2, 0.6), (0, 2, 0.3), (3, 5, 0.56)], 0.1);
        let groups = MetricGroups::find(&corr, GROUP_CORRELATION).unwrap();
        assert_eq!(groups.groups, vec![vec![0, 1, 2], vec![3, 5], vec![4]]);
    }

    #[test]
    fn groups_are_cut_at_the_threshold_inclusive() {
        let corr = symmetric(4, &[(0, 1, 0.55), (2, 3, 0.5499)], 0.0);
        let groups = MetricGroups::find(&corr, 0.55).unwrap();
        assert_eq!(groups.groups, vec![vec![0, 1], vec![2], vec![3]]);
        // Negative correlation is distance above 1: never grouped.
        let corr = symmetric(2, &[(0, 1, -0.99)], 0.0);
        assert_eq!(MetricGroups::find(&corr, 0.55).unwrap().groups, vec![vec![0], vec![1]]);
    }

    #[test]
    fn groups_are_numbered_by_size_then_first_metric() {
        let corr = symmetric(5, &[(1, 3, 0.8), (2, 4, 0.8)], 0.0);
        let groups = MetricGroups::find(&corr, GROUP_CORRELATION).unwrap();
        assert_eq!(groups.groups, vec![vec![1, 3], vec![2, 4], vec![0]]);
        assert_eq!(MetricGroups::find(&[], 0.55).unwrap().groups, Vec::<Vec<usize>>::new());
        assert!(matches!(
            MetricGroups::find(&[vec![1.0, 0.0], vec![0.0]], 0.55),
            Err(StatsError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn group_scores_average_members_over_root_threshold() {
        let groups = MetricGroups {
            groups: vec![vec![0, 2], vec![1]],
            threshold: 0.55,
        };
        let weight = 1.0 / (0.55f64.sqrt() * 2.0);
        assert_eq!(groups.loading(0), weight);
        assert_eq!(groups.loading(1), 1.0);
        assert_eq!(groups.loading(2), 0.0);
        assert_eq!(
            groups.loading_matrix(3),
            vec![vec![weight, 0.0], vec![0.0, 1.0], vec![weight, 0.0]]
        );
        let scores = groups.group_scores(&[1.0, -2.0, 3.0]).unwrap();
        assert!(close(scores[0], 2.0 / 0.55f64.sqrt(), 1e-12));
        assert_eq!(scores[1], -2.0);
        assert!(matches!(
            groups.group_scores(&[1.0, 2.0]),
            Err(StatsError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn correlation_matrix_of_constructed_columns() {
        let a = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        let b: Vec<f64> = a.iter().map(|x| 10.0 - 2.0 * x).collect();
        let c = vec![2.0, 1.0, 4.0, 3.0, 5.0];
        let d = vec![7.0; 5];
        let corr = correlation_matrix(&[a, b, c, d]).unwrap();
        assert!(close(corr[0][1], -1.0, 1e-12));
        // Σdx·dy = 8 over Σdx² = Σdy² = 10.
        assert!(close(corr[0][2], 0.8, 1e-12));
        assert_eq!(corr[2][0], corr[0][2]);
        assert_eq!((corr[0][3], corr[3][3]), (0.0, 1.0));
        assert!(matches!(
            correlation_matrix(&[vec![1.0, 2.0], vec![1.0]]),
            Err(StatsError::LengthMismatch { .. })
        ));
        assert_eq!(
            correlation_matrix(&[vec![1.0, 2.0], vec![1.0, f64::NAN]]),
            Err(StatsError::NonFinite { row: 1, column: 1 })
        );
    }

    // --- Logistic regression ---

    fn l1(c: f64) -> LogisticOptions {
        LogisticOptions {
            penalty: Penalty::L1,
            c,
            ..LogisticOptions::default()
        }
    }

    fn l2(c: f64) -> LogisticOptions {
        LogisticOptions {
            penalty: Penalty::L2,
            c,
            ..LogisticOptions::default()
        }
    }

    /// The gradient of C·Σ logloss at a fit, intercept last.
    fn loss_gradient(x: &[Vec<f64>], y: &[bool], fit: &LogisticFit, c: f64) -> Vec<f64> {
        let design = Design::new(x, y).unwrap();
        let mut beta = fit.coefficients.clone();
        beta.push(fit.intercept);
        let z = design.times(&beta);
        design.gradient_hessian(&z, c).0
    }

    /// The largest violation of the optimality conditions at a fit.
    fn violation(x: &[Vec<f64>], y: &[bool], fit: &LogisticFit, options: &LogisticOptions) -> f64 {
        let gradient = loss_gradient(x, y, fit, options.c);
        let mut beta = fit.coefficients.clone();
        beta.push(fit.intercept);
        let each = beta.iter().zip(&gradient).map(|(&w, &g)| match options.penalty {
            Penalty::L1 => l1_violation(w, g),
            Penalty::L2 => (g + w).abs(),
        });
        each.fold(0.0, f64::max)
    }

    #[test]
    fn last_newton_steps_below_the_objectives_rounding_still_converge() {
        // Cases proptest found where the last step changes the objective by ~1e-16: a plain
        // difference of log-losses could not confirm the decrease and the solver stalled.
        let cases: [(Vec<Vec<f64>>, Vec<bool>, f64); 3] = [
            (
                vec![
                    vec![0.0, 2.705655390156261],
                    vec![2.2350481075751505, 1.080357621799296],
                ],
                vec![false, true],
                50.0,
            ),
            (
                [
                    -2.422916125334227,
                    -1.1803849487815572,
                    1.70050756346715,
                    -1.8518870841657988,
                    2.1350373212128506,
                    -1.287060865730678,
                    2.148061165299011,
                    1.4367161915811195,
                    -1.4021395741984892,
                    -2.268717046682563,
                    -2.0488891145060415,
                    1.5228882550374472,
                    1.1879669745334356,
                    -2.6301307040302544,
                ]
                .iter()
                .map(|&v| vec![v])
                .collect(),
                [1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0]
                    .iter()
                    .map(|&t| t == 1)
                    .collect(),
                50.0,
            ),
            (
                vec![vec![1.4449848845448112], vec![0.37643444469061443]],
                vec![true, true],
                1.0,
            ),
        ];
        for (x, y, c) in &cases {
            for options in [l1(*c), l2(*c)] {
                let fit = logistic_regression(x, y, &options).unwrap();
                assert!(violation(x, y, &fit, &options) < 1e-9, "{options:?}: {fit:?}");
            }
        }
    }

    #[test]
    fn intercept_only_fits_have_closed_forms() {
        // 10 rows, 2 churned, no columns: C·(10·σ(b) − 2) + sign(b) = 0 → σ(b) = (2 + 1/C) / 10.
        let x = vec![Vec::<f64>::new(); 10];
        let y: Vec<bool> = (0..10).map(|i| i < 2).collect();
        let fit = logistic_regression(&x, &y, &l1(1.0)).unwrap();
        assert!(close(fit.intercept, (0.3f64 / 0.7).ln(), 1e-9), "{fit:?}");
        assert!(close(fit.predict(&[]), 0.3, 1e-9));
        // With C small enough the penalty wins: |C·(10·½ − 2)| ≤ 1.
        let fit = logistic_regression(&x, &y, &l1(0.3)).unwrap();
        assert_eq!(fit.intercept, 0.0);
        // L2: C·(10·σ(b) − 2) + b = 0.
        let fit = logistic_regression(&x, &y, &l2(1.0)).unwrap();
        let b = fit.intercept;
        assert!((10.0 * sigmoid(b) - 2.0 + b).abs() < 1e-9, "{fit:?}");
        assert!(b < 0.0 && b > (0.2f64 / 0.8).ln());
    }

    #[test]
    fn separable_data_stays_finite() {
        let x = vec![vec![-2.0], vec![-1.0], vec![1.0], vec![2.0]];
        let y = [false, false, true, true];
        for options in [l1(1.0), l1(100.0), l2(1.0), l2(100.0)] {
            let fit = logistic_regression(&x, &y, &options).unwrap();
            assert!(
                fit.coefficients[0].is_finite() && fit.coefficients[0] > 0.0,
                "{options:?}: {fit:?}"
            );
            assert!(fit.predict(&[-2.0]) < fit.predict(&[2.0]));
        }
        // Stronger regularisation, smaller weight.
        let weak = logistic_regression(&x, &y, &l1(100.0)).unwrap();
        let strong = logistic_regression(&x, &y, &l1(1.0)).unwrap();
        assert!(weak.coefficients[0] > strong.coefficients[0]);
    }

    #[test]
    fn constant_columns_and_single_rows() {
        let x: Vec<Vec<f64>> = (0..12).map(|i| vec![0.0, f64::from(i % 4) - 1.5, 5.0]).collect();
        let y: Vec<bool> = (0..12).map(|i| i % 4 == 3 || i == 0).collect();
        for options in [l1(1.0), l2(1.0)] {
            let fit = logistic_regression(&x, &y, &options).unwrap();
            assert_eq!(fit.coefficients[0], 0.0, "{options:?}");
            assert!(fit.coefficients.iter().all(|w| w.is_finite()) && fit.intercept.is_finite());
        }
        let one = logistic_regression(&[vec![1.0, -1.0]], &[true], &l1(1.0)).unwrap();
        // At zero the gradient is C·½·x, inside the penalty's reach: nothing is fitted.
        assert_eq!((one.intercept, one.coefficients.clone()), (0.0, vec![0.0, 0.0]));
        assert_eq!(one.predict(&[1.0, -1.0]), 0.5);
        let one = logistic_regression(&[vec![4.0]], &[true], &l1(10.0)).unwrap();
        assert!(one.coefficients[0] > 0.0 && one.predict(&[4.0]) > 0.5);
    }

    #[test]
    fn bad_input_is_an_error() {
        let options = l1(1.0);
        assert_eq!(
            logistic_regression::<Vec<f64>>(&[], &[], &options),
            Err(StatsError::Empty)
        );
        let x = vec![vec![1.0, 2.0, 3.0], vec![1.0, 2.0, f64::NAN]];
        assert_eq!(
            logistic_regression(&x, &[true, false], &options),
            Err(StatsError::NonFinite { row: 1, column: 2 })
        );
        let x = vec![vec![1.0, 2.0], vec![1.0]];
        assert_eq!(
            logistic_regression(&x, &[true, false], &options),
            Err(StatsError::RaggedRow {
                row: 1,
                expected: 2,
                found: 1
            })
        );
        assert!(matches!(
            logistic_regression(&[vec![1.0]], &[true, false], &options),
            Err(StatsError::LengthMismatch { .. })
        ));
        for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                logistic_regression(&[vec![1.0]], &[true], &l1(c)),
                Err(StatsError::InvalidParameter { name: "c", .. })
            ));
        }
        // Huge values overflow the loss: an error, not a panic.
        let x = vec![vec![1e308], vec![-1e308], vec![1e308]];
        let result = logistic_regression(&x, &[true, false, false], &l1(1e300));
        assert!(result.is_err() || result.is_ok_and(|fit| fit.intercept.is_finite()));
    }

    #[test]
    fn the_iteration_cap_is_an_error() {
        let x: Vec<Vec<f64>> = (0..20).map(|i| vec![f64::from(i) / 10.0]).collect();
        let y: Vec<bool> = (0..20).map(|i| i % 3 == 0 || i > 15).collect();
        let options = LogisticOptions {
            max_iterations: 0,
            ..l1(10.0)
        };
        assert!(matches!(
            logistic_regression(&x, &y, &options),
            Err(StatsError::NotConverged { iterations: 0, .. })
        ));
        let fit = logistic_regression(&x, &y, &l1(10.0)).unwrap();
        assert!(fit.iterations > 0 && fit.iterations < 30, "{fit:?}");
    }

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

    fn dataset() -> impl Strategy<Value = (Vec<Vec<f64>>, Vec<bool>, f64)> {
        (1usize..5, 2usize..40).prop_flat_map(|(columns, rows)| {
            (
                proptest::collection::vec(proptest::collection::vec(-3.0f64..3.0, columns), rows),
                proptest::collection::vec(any::<bool>(), rows),
                prop_oneof![Just(0.05), Just(0.3), Just(1.0), Just(5.0), Just(50.0)],
            )
        })
    }

    proptest! {
        #[test]
        fn auc_of_reversed_risk_is_its_complement(
            cases in proptest::collection::vec((0u8..12, any::<bool>()), 2..60),
        ) {
            let risk: Vec<f64> = cases.iter().map(|c| f64::from(c.0)).collect();
            let churned: Vec<bool> = cases.iter().map(|c| c.1).collect();
            let reversed: Vec<f64> = risk.iter().map(|r| -r).collect();
            match (auc(&risk, &churned), auc(&reversed, &churned)) {
                (Some(a), Some(b)) => prop_assert!((a + b - 1.0).abs() < 1e-12),
                (a, b) => prop_assert!(a.is_none() && b.is_none()),
            }
        }

        #[test]
        fn auc_ignores_monotone_transforms(
            cases in proptest::collection::vec((0u8..30, any::<bool>()), 2..60),
        ) {
            let risk: Vec<f64> = cases.iter().map(|c| f64::from(c.0)).collect();
            let churned: Vec<bool> = cases.iter().map(|c| c.1).collect();
            let transformed: Vec<f64> = risk.iter().map(|r| (r / 5.0).exp() - 3.0).collect();
            prop_assert_eq!(auc(&risk, &churned), auc(&transformed, &churned));
            // And equals the pair count it is defined by.
            if let Some(a) = auc(&risk, &churned) {
                let (mut wins, mut pairs) = (0.0, 0.0);
                for (i, &ci) in churned.iter().enumerate() {
                    for (j, &cj) in churned.iter().enumerate() {
                        if ci && !cj {
                            pairs += 1.0;
                            wins += match risk[i].partial_cmp(&risk[j]) {
                                Some(Ordering::Greater) => 1.0,
                                Some(Ordering::Equal) => 0.5,
                                _ => 0.0,
                            };
                        }
                    }
                }
                prop_assert!((a - wins / pairs).abs() < 1e-12);
            }
        }

        #[test]
        fn l1_fits_satisfy_the_optimality_conditions((x, y, c) in dataset()) {
            let fit = logistic_regression(&x, &y, &l1(c)).unwrap();
            let gradient = loss_gradient(&x, &y, &fit, c);
            let mut beta = fit.coefficients.clone();
            beta.push(fit.intercept);
            // Bound on the violation the solver may stop at, in the objective's own scale.
            let slack = 1e-8 * (c * x.len() as f64 * 3.0).max(1.0);
            for (&w, &g) in beta.iter().zip(&gradient) {
                if w == 0.0 {
                    prop_assert!(g.abs() <= 1.0 + slack, "w = 0, g = {}", g);
                } else {
                    prop_assert!((g + w.signum()).abs() <= slack, "w = {}, g = {}", w, g);
                }
            }
        }

        #[test]
        fn l2_fits_zero_the_gradient((x, y, c) in dataset()) {
            let fit = logistic_regression(&x, &y, &l2(c)).unwrap();
            let gradient = loss_gradient(&x, &y, &fit, c);
            let mut beta = fit.coefficients.clone();
            beta.push(fit.intercept);
            let slack = 1e-8 * (c * x.len() as f64 * 3.0).max(1.0);
            for (&w, &g) in beta.iter().zip(&gradient) {
                prop_assert!((g + w).abs() <= slack, "w = {}, g = {}", w, g);
            }
        }
    }
}
