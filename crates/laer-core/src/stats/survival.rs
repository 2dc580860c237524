//! Survival: how long accounts (or revenue) stay, from durations some of which are still
//! running (censored).
//!
//! - **Kaplan–Meier** survival with 95 % bands by the exponential Greenwood formula (the
//!   log(−log) transform), as lifelines computes them (`KaplanMeierFitter`);
//! - the **shifted-beta-geometric** (sBG) model of contractual retention (Fader & Hardie,
//!   "How to project customer retention", Journal of Interactive Marketing 21(1), 2007):
//!   each customer renews each period with a probability of their own, drawn from a beta
//!   distribution; fitted by maximum likelihood to a cohort's survivors per period, it
//!   projects retention beyond what has been observed.
//!
//! Pure functions over plain numbers.

use super::StatsError;

/// The normal quantile of 97.5 %: the half-width of a 95 % band in standard errors.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A Kaplan–Meier estimate: one row per time on the timeline (0 and every distinct
/// duration, ended or still running).
#[derive(Debug, Clone, PartialEq)]
pub struct KaplanMeier {
    pub timeline: Vec<f64>,
    /// Still there just before each time.
    pub at_risk: Vec<usize>,
    /// Ended at each time (observed), and still running at each time (censored).
    pub observed: Vec<usize>,
    pub censored: Vec<usize>,
    pub survival: Vec<f64>,
    /// The 95 % band (exponential Greenwood): 1 where the estimate is 1, 0 where it is 0.
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl KaplanMeier {
    /// The estimate at time `t`: that of the last time on the timeline at or before it.
    pub fn at(&self, t: f64) -> f64 {
        let i = self.timeline.partition_point(|x| *x <= t);
        if i == 0 { 1.0 } else { self.survival[i - 1] }
    }
}

/// Kaplan–Meier survival of `durations`, each ended (`observed`) or still running.
pub fn kaplan_meier(durations: &[f64], observed: &[bool]) -> Result<KaplanMeier, StatsError> {
    if durations.is_empty() {
        return Err(StatsError::Empty);
    }
    if observed.len() != durations.len() {
        return Err(StatsError::LengthMismatch {
            what: "observed",
            expected: durations.len(),
            found: observed.len(),
        });
    }
    if let Some(row) = durations.iter().position(|d| !d.is_finite() || *d < 0.0) {
        return Err(StatsError::NonFinite { row, column: 0 });
    }
    let mut rows: Vec<(f64, bool)> = durations.iter().copied().zip(observed.iter().copied()).collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut timeline = vec![0.0];
    let mut ended = vec![0usize];
    let mut running = vec![0usize];
    for (d, o) in rows {
        if *timeline.last().unwrap_or(&-1.0) != d {
            timeline.push(d);
            ended.push(0);
            running.push(0);
        }
        let last = timeline.len() - 1;
        if o {
            ended[last] += 1;
        } else {
            running[last] += 1;
        }
    }
    let mut at_risk = Vec::with_capacity(timeline.len());
    let mut survival = Vec::with_capacity(timeline.len());
    let mut lower = Vec::with_capacity(timeline.len());
    let mut upper = Vec::with_capacity(timeline.len());
    let mut left = durations.len();
    let (mut s, mut greenwood) = (1.0f64, 0.0f64);
    for i in 0..timeline.len() {
        let n = left;
        let d = ended[i];
        at_risk.push(n);
        if n > 0 && d > 0 {
            s *= 1.0 - d as f64 / n as f64;
            // d / (n (n - d)), none when every one left ended (the estimate is then 0).
            if n > d {
                greenwood += d as f64 / (n as f64 * (n - d) as f64);
            }
        }
        survival.push(s);
        let (lo, hi) = exponential_greenwood(s, greenwood);
        lower.push(lo);
        upper.push(hi);
        left -= d + running[i];
    }
    Ok(KaplanMeier {
        timeline,
        at_risk,
        observed: ended,
        censored: running,
        survival,
        lower,
        upper,
    })
}

/// The 95 % band of an estimate `s` with Greenwood's sum `greenwood`, on the log(−log)
/// scale (which keeps it within 0 and 1): `exp(−exp(log(−log s) ∓ z·√g / log s))`; 1 and
/// 1 where the estimate is 1, 0 and 0 where it is 0 (as lifelines has them).
fn exponential_greenwood(s: f64, greenwood: f64) -> (f64, f64) {
    if s >= 1.0 {
        return (1.0, 1.0);
    }
    if s <= 0.0 {
        return (0.0, 0.0);
    }
    let v = s.ln();
    let spread = Z_95 * greenwood.sqrt() / v;
    // `v` < 0, so `spread` ≤ 0: subtracting it lowers the bound.
    let lower = (-((-v).ln() - spread).exp()).exp();
    let upper = (-((-v).ln() + spread).exp()).exp();
    (lower, upper)
}

/// A fitted shifted-beta-geometric model: the renewal probabilities across customers
/// follow Beta(`alpha`, `beta`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sbg {
    pub alpha: f64,
    pub beta: f64,
    /// The log-likelihood of the cohort at the fit.
    pub log_likelihood: f64,
}

impl Sbg {
    /// P(a customer leaves in period `t`), t ≥ 1.
    pub fn churn_probability(&self, t: u32) -> f64 {
        sbg_churn(self.alpha, self.beta, t)
    }

    /// The share of a cohort still there after `t` periods.
    pub fn survival(&self, t: u32) -> f64 {
        let mut s = 1.0;
        let mut p = 0.0;
        for period in 1..=t {
            p = if period == 1 {
                self.alpha / (self.alpha + self.beta)
            } else {
                p * (self.beta + f64::from(period) - 2.0) / (self.alpha + self.beta + f64::from(period) - 1.0)
            };
            s -= p;
        }
        s
    }

    /// The retention rate from period `t − 1` to `t`, t ≥ 1: it rises with `t`, as the
    /// customers likeliest to leave go first.
    pub fn retention(&self, t: u32) -> f64 {
        let t = f64::from(t);
        (self.beta + t - 1.0) / (self.alpha + self.beta + t - 1.0)
    }
}

fn sbg_churn(alpha: f64, beta: f64, t: u32) -> f64 {
    let mut p = alpha / (alpha + beta);
    for period in 2..=t {
        p *= (beta + f64::from(period) - 2.0) / (alpha + beta + f64::from(period) - 1.0);
    }
    p
}

/// The log-likelihood of `survivors` (the cohort's size at period 0, 1, 2, …) under
/// Beta(`alpha`, `beta`): those lost in each period, and those still there at the end.
pub fn sbg_log_likelihood(alpha: f64, beta: f64, survivors: &[f64]) -> f64 {
    let mut ll = 0.0;
    let mut p = 0.0;
    let mut s = 1.0;
    for t in 1..survivors.len() {
        p = if t == 1 {
            alpha / (alpha + beta)
        } else {
            p * (beta + t as f64 - 2.0) / (alpha + beta + t as f64 - 1.0)
        };
        s -= p;
        let lost = survivors[t - 1] - survivors[t];
        if lost > 0.0 {
            ll += lost * p.ln();
        }
    }
    let last = survivors.last().copied().unwrap_or(0.0);
    if last > 0.0 {
        ll += last * s.ln();
    }
    ll
}

/// The bound of the sBG fit's log parameters.
const LOG_BOUND: f64 = 12.0;

/// Fits the sBG model to a cohort's survivors per period (period 0 first) by maximum
/// likelihood. Needs the size at period 0 and at least two periods after it, never
/// growing.
pub fn fit_sbg(survivors: &[f64]) -> Result<Sbg, StatsError> {
    if survivors.len() < 3 {
        return Err(StatsError::InvalidParameter {
            name: "survivors",
            requirement: "the cohort's size at period 0 and at least two periods after",
        });
    }
    if let Some(row) = survivors.iter().position(|s| !s.is_finite() || *s < 0.0) {
        return Err(StatsError::NonFinite { row, column: 0 });
    }
    if survivors.windows(2).any(|w| w[1] > w[0]) || survivors[0] <= 0.0 {
        return Err(StatsError::InvalidParameter {
            name: "survivors",
            requirement: "a cohort that never grows, from a size above 0",
        });
    }
    // On log parameters, where any real point is a valid model, within e^±12: past that
    // the likelihood is flat (a cohort whose customers all churn alike drives both to
    // infinity at a fixed ratio, the geometric model), and any point there fits as well.
    let objective = |x: [f64; 2]| {
        if x[0].abs() > LOG_BOUND || x[1].abs() > LOG_BOUND {
            return f64::INFINITY;
        }
        let ll = sbg_log_likelihood(x[0].exp(), x[1].exp(), survivors);
        if ll.is_finite() { -ll } else { f64::INFINITY }
    };
    let best = nelder_mead(objective, [0.0, 0.0], 0.5, 1e-13, 20_000);
    let best = nelder_mead(objective, best, 0.01, 1e-15, 20_000);
    let (alpha, beta) = (best[0].exp(), best[1].exp());
    Ok(Sbg {
        alpha,
        beta,
        log_likelihood: sbg_log_likelihood(alpha, beta, survivors),
    })
}

/// Minimises `f` over two variables from `start` by the Nelder–Mead simplex, until the
/// simplex's values differ by less than `tolerance` (or `limit` steps).
fn nelder_mead(f: impl Fn([f64; 2]) -> f64, start: [f64; 2], step: f64, tolerance: f64, limit: usize) -> [f64; 2] {
    let mut simplex = [start, [start[0] + step, start[1]], [start[0], start[1] + step]];
    let mut values = simplex.map(&f);
    for _ in 0..limit {
        let mut order = [0usize, 1, 2];
        order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
        simplex = order.map(|i| simplex[i]);
        values = order.map(|i| values[i]);
        if (values[2] - values[0]).abs() <= tolerance * (1.0 + values[0].abs()) {
            break;
        }
        let centre = [
            (simplex[0][0] + simplex[1][0]) / 2.0,
            (simplex[0][1] + simplex[1][1]) / 2.0,
        ];
        let towards = |t: f64| {
            [
                centre[0] + t * (simplex[2][0] - centre[0]),
                centre[1] + t * (simplex[2][1] - centre[1]),
            ]
        };
        let reflected = towards(-1.0);
        let r = f(reflected);
        if r < values[0] {
            let expanded = towards(-2.0);
            let e = f(expanded);
            (simplex[2], values[2]) = if e < r { (expanded, e) } else { (reflected, r) };
        } else if r < values[1] {
            (simplex[2], values[2]) = (reflected, r);
        } else {
            let contracted = if r < values[2] { towards(-0.5) } else { towards(0.5) };
            let c = f(contracted);
            if c < values[2].min(r) {
                (simplex[2], values[2]) = (contracted, c);
            } else {
                for i in 1..3 {
                    simplex[i] = [
                        simplex[0][0] + (simplex[i][0] - simplex[0][0]) / 2.0,
                        simplex[0][1] + (simplex[i][1] - simplex[0][1]) / 2.0,
                    ];
                    values[i] = f(simplex[i]);
                }
            }
        }
    }
    let best = (0..3).min_by(|a, b| values[*a].total_cmp(&values[*b])).unwrap_or(0);
    simplex[best]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fader & Hardie (2007), Table 1: 1,000 customers each, survivors at the start of
    /// years 0 to 7 (the calibration period; the paper holds out years 8 to 12).
    const REGULAR: [f64; 8] = [1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0];
    const HIGH_END: [f64; 8] = [1000.0, 869.0, 743.0, 653.0, 593.0, 551.0, 517.0, 491.0];

    #[test]
    fn the_sbg_fit_reproduces_fader_and_hardie() {
        // Their maximum-likelihood estimates (to three decimals, LL to one), and the same
        // optimum solved to 60 digits (a zero gradient, by Newton in Python's decimal).
        let cases = [
            (
                &REGULAR,
                (0.704, 1.182, -1680.3),
                (0.704_077_298_473_516, 1.182_043_026_209_476, -1_680.265_188_463_287),
            ),
            (
                &HIGH_END,
                (0.668, 3.806, -1611.2),
                (0.668_088_351_106_446, 3.806_094_964_058_267, -1_611.158_147_391_156),
            ),
        ];
        for (cohort, published, exact) in cases {
            let fit = fit_sbg(cohort).unwrap();
            assert!((fit.alpha - published.0).abs() < 5e-4, "{fit:?}");
            assert!((fit.beta - published.1).abs() < 5e-4, "{fit:?}");
            assert!((fit.log_likelihood - published.2).abs() < 0.05, "{fit:?}");
            assert!((fit.alpha - exact.0).abs() < 1e-6, "{fit:?}");
            assert!((fit.beta - exact.1).abs() < 1e-6, "{fit:?}");
            assert!((fit.log_likelihood - exact.2).abs() < 1e-8, "{fit:?}");
        }
    }

    #[test]
    fn sbg_projects_rising_retention() {
        let fit = fit_sbg(&REGULAR).unwrap();
        let rates: Vec<f64> = (1..=12).map(|t| fit.retention(t)).collect();
        assert!(rates.windows(2).all(|w| w[1] > w[0]), "{rates:?}");
        // Survival agrees with the product of the retention rates.
        let product: f64 = (1..=7).map(|t| fit.retention(t)).product();
        assert!((fit.survival(7) - product).abs() < 1e-12);
        assert!((fit.survival(1) - (1.0 - fit.churn_probability(1))).abs() < 1e-12);
        assert!(fit_sbg(&[1000.0, 900.0]).is_err());
        assert!(fit_sbg(&[1000.0, 900.0, 950.0]).is_err());
    }

    #[test]
    fn kaplan_meier_by_hand() {
        // 6 accounts: ended at 1, 3, 3 and 6; still running at 2 and 5.
        let km = kaplan_meier(&[3.0, 1.0, 2.0, 3.0, 5.0, 6.0], &[true, true, false, true, false, true]).unwrap();
        assert_eq!(km.timeline, [0.0, 1.0, 2.0, 3.0, 5.0, 6.0]);
        assert_eq!(km.at_risk, [6, 6, 5, 4, 2, 1]);
        let expected = [1.0, 5.0 / 6.0, 5.0 / 6.0, 5.0 / 6.0 * 2.0 / 4.0, 5.0 / 12.0, 0.0];
        for (s, e) in km.survival.iter().zip(expected) {
            assert!((s - e).abs() < 1e-12, "{:?}", km.survival);
        }
        assert_eq!(
            (km.lower[0], km.upper[0], km.lower[5], km.upper[5]),
            (1.0, 1.0, 0.0, 0.0)
        );
        let (lo, hi) = (km.lower[3], km.upper[3]);
        assert!(lo < km.survival[3] && km.survival[3] < hi && lo > 0.0 && hi < 1.0);
        assert_eq!(km.at(4.0), km.survival[3]);
        assert_eq!(km.at(-1.0), 1.0);
        assert!(kaplan_meier(&[1.0], &[]).is_err());
        assert!(kaplan_meier(&[f64::NAN], &[true]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn kaplan_meier_stays_ordered_and_within_its_band(
            rows in proptest::collection::vec((0u32..60, proptest::bool::ANY), 1..120)
        ) {
            let durations: Vec<f64> = rows.iter().map(|(d, _)| f64::from(*d)).collect();
            let observed: Vec<bool> = rows.iter().map(|(_, o)| *o).collect();
            let km = kaplan_meier(&durations, &observed).unwrap();
            proptest::prop_assert_eq!(km.at_risk[0], rows.len());
            for i in 0..km.timeline.len() {
                let (s, lo, hi) = (km.survival[i], km.lower[i], km.upper[i]);
                proptest::prop_assert!((0.0..=1.0).contains(&s));
                proptest::prop_assert!(lo <= s + 1e-12 && s <= hi + 1e-12, "{} {} {}", lo, s, hi);
                proptest::prop_assert!(lo >= 0.0 && hi <= 1.0);
                if i > 0 {
                    proptest::prop_assert!(km.timeline[i] > km.timeline[i - 1]);
                    proptest::prop_assert!(s <= km.survival[i - 1]);
                    proptest::prop_assert!(km.at_risk[i] <= km.at_risk[i - 1]);
                }
            }
            let ended: usize = km.observed.iter().sum::<usize>() + km.censored.iter().sum::<usize>();
            proptest::prop_assert_eq!(ended, rows.len(), "every subject once");
        }
    }
}
