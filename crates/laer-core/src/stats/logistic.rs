//! L1- or L2-regularised logistic regression with scikit-learn's liblinear objective
//! (listing 8.2).

use serde::{Deserialize, Serialize};

use super::StatsError;

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

/// The stopping rule both solvers share. Each Newton iteration starts from the largest
/// violation of the optimality conditions at the current weights; the first iteration's
/// (at least 1) is the scale the tolerances are relative to.
struct Convergence {
    tolerance: f64,
    max_iterations: usize,
    scale: Option<f64>,
}

/// What [`Convergence::judge`] decides for an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Stop: the current weights are the solution.
    Converged,
    /// Take another Newton step.
    Continue,
}

impl Convergence {
    fn new(options: &LogisticOptions) -> Convergence {
        Convergence {
            tolerance: options.tolerance,
            max_iterations: options.max_iterations,
            scale: None,
        }
    }

    /// Judges iteration `iteration` by its starting `violation`: converged within
    /// `tolerance` times the scale; otherwise [`StatsError::NotConverged`] once the
    /// iteration cap is reached, else continue. When `stalled` (no step from here decreases
    /// the objective: a direction that is not a descent, a failed factorisation or line
    /// search), there is no next step: converged within [`STALL_TOLERANCE`] times the
    /// scale, else `NotConverged`.
    fn judge(&mut self, iteration: usize, violation: f64, stalled: bool) -> Result<Verdict, StatsError> {
        let scale = *self.scale.get_or_insert(violation.max(1.0));
        if violation <= self.tolerance * scale || (stalled && violation <= STALL_TOLERANCE * scale) {
            return Ok(Verdict::Converged);
        }
        if stalled || iteration >= self.max_iterations {
            return Err(StatsError::NotConverged {
                iterations: iteration,
                violation,
            });
        }
        Ok(Verdict::Continue)
    }

    /// The solution when iteration `iteration` stalls at `beta` (see [`Convergence::judge`]).
    fn stalled(&mut self, iteration: usize, violation: f64, beta: Vec<f64>) -> Result<Solution, StatsError> {
        self.judge(iteration, violation, true)?;
        Ok(Solution {
            beta,
            iterations: iteration,
        })
    }
}

/// Armijo's backtracking line search along a step from the weights whose margins are `z`:
/// the first α in 1, ½, ¼, … whose change of the objective (the loss's along `dz` = X·step,
/// plus `penalty_change(α)`) is at most [`ARMIJO`]·α·`decrease`; `None` if none within
/// [`MAX_LINE_SEARCH`] halvings.
fn line_search(
    design: &Design,
    z: &[f64],
    dz: &[f64],
    c: f64,
    decrease: f64,
    penalty_change: impl Fn(f64) -> f64,
) -> Option<f64> {
    let mut alpha = 1.0;
    for _ in 0..MAX_LINE_SEARCH {
        let change = design.loss_change(z, dz, alpha, c) + penalty_change(alpha);
        if change <= ARMIJO * alpha * decrease {
            return Some(alpha);
        }
        alpha *= 0.5;
    }
    None
}

/// The weights after a step of `alpha` along `step`, with their margins `z` moved along
/// `dz` = X·step.
fn take_step(beta: &[f64], step: &[f64], alpha: f64, z: &mut [f64], dz: &[f64]) -> Vec<f64> {
    for (zi, di) in z.iter_mut().zip(dz) {
        *zi += alpha * di;
    }
    beta.iter().zip(step).map(|(b, s)| b + alpha * s).collect()
}

fn fit_l1(design: &Design, options: &LogisticOptions) -> Result<Solution, StatsError> {
    let k = design.width;
    let c = options.c;
    let mut beta = vec![0.0; k];
    let mut z = vec![0.0; design.rows];
    let mut convergence = Convergence::new(options);
    let mut iteration = 0;
    loop {
        let (gradient, mut hessian) = design.gradient_hessian(&z, c);
        let violation = beta
            .iter()
            .zip(&gradient)
            .map(|(&w, &g)| l1_violation(w, g))
            .fold(0.0, f64::max);
        if convergence.judge(iteration, violation, false)? == Verdict::Converged {
            return Ok(Solution {
                beta,
                iterations: iteration,
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
            return convergence.stalled(iteration, violation, beta);
        }
        let dz = design.times(&step);
        let penalty_change = |alpha: f64| {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + alpha * s).collect();
            l1_norm(&trial) - norm
        };
        let Some(alpha) = line_search(design, &z, &dz, c, decrease, penalty_change) else {
            return convergence.stalled(iteration, violation, beta);
        };
        beta = take_step(&beta, &step, alpha, &mut z, &dz);
        iteration += 1;
    }
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
    let mut convergence = Convergence::new(options);
    let mut iteration = 0;
    loop {
        let (mut gradient, mut hessian) = design.gradient_hessian(&z, c);
        for j in 0..k {
            gradient[j] += beta[j];
            hessian[j * k + j] += 1.0;
        }
        let violation = gradient.iter().fold(0.0, |m: f64, g| m.max(g.abs()));
        if convergence.judge(iteration, violation, false)? == Verdict::Converged {
            return Ok(Solution {
                beta,
                iterations: iteration,
            });
        }
        let Some(step) = cholesky_solve(&hessian, &gradient, k) else {
            return convergence.stalled(iteration, violation, beta);
        };
        let step: Vec<f64> = step.iter().map(|s| -s).collect();
        let decrease = dot(&gradient, &step);
        if decrease.is_nan() || decrease >= 0.0 {
            return convergence.stalled(iteration, violation, beta);
        }
        let dz = design.times(&step);
        // ½‖β + αd‖² − ½‖β‖², without the cancellation of the plain difference.
        let (beta_step, step_step) = (dot(&beta, &step), dot(&step, &step));
        let penalty_change = |alpha: f64| alpha * beta_step + 0.5 * alpha * alpha * step_step;
        let Some(alpha) = line_search(design, &z, &dz, c, decrease, penalty_change) else {
            return convergence.stalled(iteration, violation, beta);
        };
        beta = take_step(&beta, &step, alpha, &mut z, &dz);
        iteration += 1;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::close;
    use proptest::prelude::*;

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
    fn both_solvers_stop_by_one_rule_relative_to_the_first_violation() {
        let options = LogisticOptions {
            tolerance: 1e-6,
            max_iterations: 3,
            ..l1(1.0)
        };
        let mut small = Convergence::new(&options);
        assert_eq!(small.judge(0, 0.5, false), Ok(Verdict::Continue), "scale at least 1");
        assert_eq!(small.judge(1, 2e-6, false), Ok(Verdict::Continue));
        assert_eq!(small.judge(2, 9e-7, false), Ok(Verdict::Converged));
        let mut large = Convergence::new(&options);
        assert_eq!(large.judge(0, 100.0, false), Ok(Verdict::Continue));
        assert_eq!(large.judge(1, 9e-5, false), Ok(Verdict::Converged), "within 1e-6 × 100");
        assert_eq!(
            large.judge(1, 9e-6, true),
            Ok(Verdict::Converged),
            "a stall within 1e-7 × 100"
        );
        assert_eq!(
            large.judge(1, 1e-3, true),
            Err(StatsError::NotConverged {
                iterations: 1,
                violation: 1e-3
            }),
            "a stall short of it"
        );
        assert_eq!(
            large.judge(3, 1.0, false),
            Err(StatsError::NotConverged {
                iterations: 3,
                violation: 1.0
            }),
            "the cap"
        );
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
