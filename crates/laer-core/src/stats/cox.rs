//! The Cox proportional-hazards model: how each covariate multiplies the hazard of an
//! event (a churn), whatever the baseline hazard, fitted by maximum partial likelihood
//! with Efron's handling of tied times — as lifelines' `CoxPHFitter` and R's `coxph` fit
//! it: covariates centred and scaled for the fit, Newton–Raphson, coefficients, standard
//! errors and 95 % Wald intervals reported on the covariates' own scale.

use super::StatsError;
use super::survival::Z_95;

/// A fitted Cox model.
#[derive(Debug, Clone, PartialEq)]
pub struct CoxFit {
    /// One per covariate: the log of its hazard ratio per unit.
    pub coefficients: Vec<f64>,
    pub standard_errors: Vec<f64>,
    /// The 95 % interval of each coefficient.
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Efron's partial log-likelihood at the fit.
    pub log_likelihood: f64,
    pub iterations: usize,
}

impl CoxFit {
    /// exp(coefficient): the hazard's multiple per unit of each covariate.
    pub fn hazard_ratios(&self) -> Vec<f64> {
        self.coefficients.iter().map(|b| b.exp()).collect()
    }
}

/// Most Newton steps taken.
const MAX_STEPS: usize = 100;
/// A coefficient on the standardised scale beyond this (a hazard ratio of e^15 per
/// standard deviation) is no estimate: the data separate.
const MAX_STANDARDISED: f64 = 15.0;

/// Fits the Cox model: `rows` of covariates (one row per subject, each the same length),
/// each subject's `durations` and whether its event was `observed` (else censored).
pub fn cox(rows: &[Vec<f64>], durations: &[f64], observed: &[bool]) -> Result<CoxFit, StatsError> {
    fit(rows, None, durations, observed)
}

/// Fits the Cox model with covariates that change over time, in the counting-process
/// form (as lifelines' `CoxTimeVaryingFitter` and R's `coxph(Surv(start, stop, event))`
/// take it): each row is one stretch (start, stop] of a subject's time with the
/// covariates it had then, and `observed` says whether the event ended the stretch. A
/// stretch is at risk at the times it spans, after its start and up to its stop.
pub fn cox_time_varying(
    rows: &[Vec<f64>],
    starts: &[f64],
    stops: &[f64],
    observed: &[bool],
) -> Result<CoxFit, StatsError> {
    if starts.len() != rows.len() {
        return Err(StatsError::LengthMismatch {
            what: "starts",
            expected: rows.len(),
            found: starts.len(),
        });
    }
    if starts.iter().zip(stops).any(|(a, b)| !a.is_finite() || a >= b) {
        return Err(StatsError::InvalidParameter {
            name: "starts",
            requirement: "a finite start before each stop",
        });
    }
    fit(rows, Some(starts), stops, observed)
}

fn fit(rows: &[Vec<f64>], starts: Option<&[f64]>, durations: &[f64], observed: &[bool]) -> Result<CoxFit, StatsError> {
    let n = rows.len();
    if n == 0 {
        return Err(StatsError::Empty);
    }
    let p = rows[0].len();
    for (what, found) in [("durations", durations.len()), ("observed", observed.len())] {
        if found != n {
            return Err(StatsError::LengthMismatch {
                what,
                expected: n,
                found,
            });
        }
    }
    for (row, r) in rows.iter().enumerate() {
        if r.len() != p {
            return Err(StatsError::RaggedRow {
                row,
                expected: p,
                found: r.len(),
            });
        }
        if let Some(column) = r.iter().position(|v| !v.is_finite()) {
            return Err(StatsError::NonFinite { row, column });
        }
    }
    if let Some(row) = durations.iter().position(|d| !d.is_finite()) {
        return Err(StatsError::NonFinite { row, column: 0 });
    }
    if p == 0 || !observed.iter().any(|o| *o) {
        return Err(StatsError::InvalidParameter {
            name: "rows",
            requirement: "at least one covariate and one observed event",
        });
    }
    // Centred and scaled (sample standard deviation), as lifelines fits.
    let mean: Vec<f64> = (0..p)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let scale: Vec<f64> = (0..p)
        .map(|j| {
            let var = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
            var.sqrt()
        })
        .collect();
    if scale.contains(&0.0) {
        return Err(StatsError::InvalidParameter {
            name: "rows",
            requirement: "covariates that vary (a constant one has no hazard ratio)",
        });
    }
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| (0..p).map(|j| (r[j] - mean[j]) / scale[j]).collect())
        .collect();
    // Longest first: the risk set of a time is everyone seen before it in this order,
    // less the stretches that start at or after it (latest start first).
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| durations[*b].total_cmp(&durations[*a]));
    let late = starts.map(|starts| {
        let mut by_start: Vec<usize> = (0..n).collect();
        by_start.sort_by(|a, b| starts[*b].total_cmp(&starts[*a]));
        (starts, by_start)
    });
    let risk = RiskSets {
        x: &x,
        durations,
        observed,
        order: &order,
        late: late.as_ref().map(|(s, o)| (*s, o.as_slice())),
    };

    let mut beta = vec![0.0; p];
    let (mut ll, mut gradient, mut hessian) = risk.efron(&beta);
    let mut iterations = 0;
    for step in 1..=MAX_STEPS {
        iterations = step;
        let delta = solve(&hessian, &gradient).ok_or(StatsError::NotConverged {
            iterations: step,
            violation: f64::INFINITY,
        })?;
        // Newton: beta - H⁻¹ g, halved while the likelihood falls.
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..30 {
            let candidate: Vec<f64> = beta.iter().zip(&delta).map(|(b, d)| b - t * d).collect();
            let next = risk.efron(&candidate);
            if next.0.is_finite() && next.0 >= ll - 1e-12 {
                accepted = Some((candidate, next));
                break;
            }
            t /= 2.0;
        }
        let Some((candidate, next)) = accepted else {
            break;
        };
        let change = candidate
            .iter()
            .zip(&beta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        beta = candidate;
        (ll, gradient, hessian) = next;
        if change < 1e-10 {
            break;
        }
    }
    let violation = gradient.iter().map(|g| g.abs()).fold(0.0, f64::max);
    if violation > 1e-6 {
        return Err(StatsError::NotConverged { iterations, violation });
    }
    let covariance = invert(&hessian).ok_or(StatsError::NotConverged { iterations, violation })?;
    let coefficients: Vec<f64> = (0..p).map(|j| beta[j] / scale[j]).collect();
    let standard_errors: Vec<f64> = (0..p).map(|j| (-covariance[j][j]).sqrt() / scale[j]).collect();
    // A covariate that separates the subjects with events from those without drives its
    // coefficient to infinity: the likelihood has no maximum to report.
    if beta.iter().any(|b| b.abs() > MAX_STANDARDISED) || standard_errors.iter().any(|s| !s.is_finite()) {
        return Err(StatsError::InvalidParameter {
            name: "rows",
            requirement: "covariates that do not separate the subjects with events from those without",
        });
    }
    Ok(CoxFit {
        lower: coefficients
            .iter()
            .zip(&standard_errors)
            .map(|(b, s)| b - Z_95 * s)
            .collect(),
        upper: coefficients
            .iter()
            .zip(&standard_errors)
            .map(|(b, s)| b + Z_95 * s)
            .collect(),
        coefficients,
        standard_errors,
        log_likelihood: ll,
        iterations,
    })
}

/// The subjects (or stretches) and the order their risk sets are swept in.
struct RiskSets<'a> {
    /// Covariates, centred and scaled.
    x: &'a [Vec<f64>],
    durations: &'a [f64],
    observed: &'a [bool],
    /// By duration, longest first.
    order: &'a [usize],
    /// For stretches with a start: the starts, and the stretches by start, latest first.
    late: Option<(&'a [f64], &'a [usize])>,
}

impl RiskSets<'_> {
    /// Adds (`sign` 1) or takes out (−1) subject `k` of the risk set's sums.
    fn tally(&self, k: usize, beta: &[f64], sign: f64, sums: &mut (f64, Vec<f64>, Vec<Vec<f64>>)) -> (f64, f64) {
        let x = &self.x[k];
        let xb: f64 = x.iter().zip(beta).map(|(a, b)| a * b).sum();
        let phi = xb.exp();
        let w = sign * phi;
        sums.0 += w;
        for a in 0..beta.len() {
            sums.1[a] += w * x[a];
            for b in 0..beta.len() {
                sums.2[a][b] += w * x[a] * x[b];
            }
        }
        (xb, phi)
    }

    /// Efron's partial log-likelihood at `beta`, its gradient and its Hessian.
    fn efron(&self, beta: &[f64]) -> (f64, Vec<f64>, Vec<Vec<f64>>) {
        let (x, durations, observed, order) = (self.x, self.durations, self.observed, self.order);
        let p = beta.len();
        let mut ll = 0.0;
        let mut gradient = vec![0.0; p];
        let mut hessian = vec![vec![0.0; p]; p];
        // Sums over the risk set: φ, φx, φxxᵀ.
        let mut sums = (0.0, vec![0.0; p], vec![vec![0.0; p]; p]);
        let mut i = 0;
        let mut gone = 0;
        while i < order.len() {
            let t = durations[order[i]];
            // Everyone at this time joins the risk set; the events among them are the ties.
            let (mut d0, mut d1, mut d2) = (0.0, vec![0.0; p], vec![vec![0.0; p]; p]);
            let mut deaths = 0usize;
            while i < order.len() && durations[order[i]] == t {
                let k = order[i];
                let (xb, phi) = self.tally(k, beta, 1.0, &mut sums);
                if observed[k] {
                    deaths += 1;
                    ll += xb;
                    d0 += phi;
                    for a in 0..p {
                        gradient[a] += x[k][a];
                        d1[a] += phi * x[k][a];
                        for b in 0..p {
                            d2[a][b] += phi * x[k][a] * x[k][b];
                        }
                    }
                }
                i += 1;
            }
            // Stretches that start at or after this time are not at risk at it (each was
            // added at its own, later, stop).
            if let Some((starts, by_start)) = self.late {
                while gone < by_start.len() && starts[by_start[gone]] >= t {
                    self.tally(by_start[gone], beta, -1.0, &mut sums);
                    gone += 1;
                }
            }
            let (s0, s1, s2) = (&sums.0, &sums.1, &sums.2);
            for l in 0..deaths {
                let f = l as f64 / deaths as f64;
                let a0 = s0 - f * d0;
                ll -= a0.ln();
                let a1: Vec<f64> = (0..p).map(|a| s1[a] - f * d1[a]).collect();
                for a in 0..p {
                    gradient[a] -= a1[a] / a0;
                    for b in 0..p {
                        let a2 = s2[a][b] - f * d2[a][b];
                        hessian[a][b] -= a2 / a0 - a1[a] * a1[b] / (a0 * a0);
                    }
                }
            }
        }
        (ll, gradient, hessian)
    }
}

/// `A⁻¹ b` by Gaussian elimination with partial pivoting; `None` when `A` is singular.
fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(row, v)| row.iter().copied().chain([*v]).collect())
        .collect();
    for c in 0..n {
        let pivot = (c..n).max_by(|x, y| m[*x][c].abs().total_cmp(&m[*y][c].abs()))?;
        if m[pivot][c].abs() < 1e-300 {
            return None;
        }
        m.swap(c, pivot);
        let row = m[c].clone();
        for (r, target) in m.iter_mut().enumerate() {
            if r != c {
                let f = target[c] / row[c];
                for (t, v) in target.iter_mut().zip(&row).skip(c) {
                    *t -= f * v;
                }
            }
        }
    }
    Some((0..n).map(|r| m[r][n] / m[r][r]).collect())
}

fn invert(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let columns: Vec<Vec<f64>> = (0..n)
        .map(|j| solve(a, &(0..n).map(|i| if i == j { 1.0 } else { 0.0 }).collect::<Vec<_>>()))
        .collect::<Option<_>>()?;
    Some((0..n).map(|i| (0..n).map(|j| columns[j][i]).collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_covariate_by_hand() {
        // Two groups, interleaved; the treated one (x = 1) has its events later.
        let rows: Vec<Vec<f64>> = [0.0, 1.0, 0.0, 0.0, 1.0, 1.0].iter().map(|x| vec![*x]).collect();
        let durations = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let fit = cox(&rows, &durations, &[true, true, true, true, true, false]).unwrap();
        assert!(fit.coefficients[0] < 0.0, "later events: a lower hazard {fit:?}");
        assert!(fit.lower[0] < fit.coefficients[0] && fit.coefficients[0] < fit.upper[0]);
        assert!((fit.hazard_ratios()[0] - fit.coefficients[0].exp()).abs() < 1e-15);
        assert!(
            cox(&[vec![1.0], vec![1.0]], &[1.0, 2.0], &[true, true]).is_err(),
            "constant"
        );
        assert!(cox(&rows, &durations, &[false; 6]).is_err(), "no event");
        // Every event in one group, none in the other: separation, no estimate.
        assert!(cox(&rows, &durations, &[true, false, true, true, false, false]).is_err());
    }

    /// A small history with ties and censoring: (covariates, duration, event).
    fn subjects() -> Vec<(Vec<f64>, f64, bool)> {
        let mut out = Vec::new();
        for i in 0..40u32 {
            let x = f64::from(i % 5) - 2.0;
            let z = f64::from((i * 7) % 3);
            let duration = f64::from(1 + (i * 13 + (i % 5) * 3) % 17);
            out.push((vec![x, z], duration, i % 4 != 0));
        }
        out
    }

    #[test]
    fn stretches_of_unchanging_covariates_fit_as_one_subject() {
        let s = subjects();
        let rows: Vec<Vec<f64>> = s.iter().map(|x| x.0.clone()).collect();
        let durations: Vec<f64> = s.iter().map(|x| x.1).collect();
        let observed: Vec<bool> = s.iter().map(|x| x.2).collect();
        let whole = cox(&rows, &durations, &observed).unwrap();
        // From 0 to the end in one stretch: the same fit.
        let zeros = vec![0.0; s.len()];
        let one = cox_time_varying(&rows, &zeros, &durations, &observed).unwrap();
        // Cut at 3.5 and 8 (and at 8 exactly where it is a time of events): the same
        // partial likelihood, since each time's risk set holds the same subjects.
        let (mut r, mut a, mut b, mut e) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (x, d, o) in &s {
            let cuts: Vec<f64> = [0.0, 3.5, 8.0].into_iter().filter(|c| c < d).chain([*d]).collect();
            for w in cuts.windows(2) {
                r.push(x.clone());
                a.push(w[0]);
                b.push(w[1]);
                e.push(*o && w[1] == *d);
            }
        }
        assert!(r.len() > s.len() + 40);
        let cut = cox_time_varying(&r, &a, &b, &e).unwrap();
        for fit in [&one, &cut] {
            for j in 0..2 {
                assert!(
                    (fit.coefficients[j] - whole.coefficients[j]).abs() < 1e-8,
                    "{fit:?} {whole:?}"
                );
                assert!((fit.standard_errors[j] - whole.standard_errors[j]).abs() < 1e-8);
            }
            assert!((fit.log_likelihood - whole.log_likelihood).abs() < 1e-8);
        }
        // Left truncation matters: a subject entering late is not at risk before.
        let late: Vec<f64> = (0..s.len())
            .map(|i| if i % 2 == 0 { durations[i] - 0.5 } else { 0.0 })
            .collect();
        let truncated = cox_time_varying(&rows, &late, &durations, &observed).unwrap();
        assert!((truncated.log_likelihood - whole.log_likelihood).abs() > 1e-3);
        assert!(
            cox_time_varying(&rows, &durations, &durations, &observed).is_err(),
            "empty stretches"
        );
        assert!(
            cox_time_varying(&rows, &zeros[1..], &durations, &observed).is_err(),
            "lengths"
        );
    }
}
