//! Proving a health model on history: replayed as of past days, how well did its scores
//! rank the accounts that then churned or downsold? AUC, lift in the riskiest decile,
//! calibration and counts, overall and per day replayed.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::health::model::Calibration;
use crate::stats::{self, CalibrationBin, LogisticOptions, Penalty};

/// One account on one replayed day: its score then, and what happened next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub as_of: NaiveDate,
    pub score: Option<f64>,
    pub churned: bool,
}

/// How well scores ranked what happened on one replayed day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayValidation {
    pub as_of: NaiveDate,
    pub accounts: usize,
    pub churned: usize,
    pub auc: Option<f64>,
    /// Its churn rate is far above the other days' ([`suspect_days`]): likely not churn
    /// but data that ends too soon after it (contracts missing, not ended).
    #[serde(default)]
    pub suspect: bool,
}

/// Days whose churn rate is **far above the others'**: at least three times the median
/// rate of the other days and 20 points above it, with at least 10 accounts on the day
/// and 3 other days to compare with. Such a day is rarely churn: more often the data ends
/// before its horizon does (a contract that would have renewed is missing). `days` are
/// (accounts, churned) per day; the answer has one flag per day.
pub fn suspect_days(days: &[(usize, usize)]) -> Vec<bool> {
    let rate = |(n, churned): (usize, usize)| (n > 0).then(|| churned as f64 / n as f64);
    days.iter()
        .enumerate()
        .map(|(i, &day)| {
            let Some(own) = rate(day).filter(|_| day.0 >= 10) else {
                return false;
            };
            let mut others: Vec<f64> = days
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, &d)| rate(d))
                .collect();
            if others.len() < 3 {
                return false;
            }
            let median = stats::median(&mut others).unwrap_or(0.0);
            own >= 3.0 * median && own - median >= 0.2
        })
        .collect()
}

/// Where the churn probabilities of the calibration come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationSource {
    /// The model's own calibration (a fitted model has one).
    Model,
    /// A one-variable logistic regression of churn on the score, fitted on this replay.
    Replay,
}

/// Read back from the stored JSON by the model page; a field a report stored before it
/// existed reads as its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub model: String,
    pub horizon_days: i64,
    /// Accounts that were customers on a replayed day, one per account and day.
    pub observations: usize,
    /// Of those, the ones with a score (enough data to score).
    pub scored: usize,
    pub churned: usize,
    pub churn_rate: Option<f64>,
    /// Probability that an account that churned or downsold scored lower than one that did
    /// not (ties half): 0.5 is chance, 1 is perfect.
    pub auc: Option<f64>,
    /// Churn rate among the lowest-scored tenth over the churn rate of all.
    pub top_decile_lift: Option<f64>,
    pub calibration_source: CalibrationSource,
    /// The churn probability of a score, as the bins below were computed with it: the
    /// model's own, or the one fitted on this replay. The lists colour risk by it
    /// ([`crate::attention::RiskScale`]).
    #[serde(default)]
    pub risk_curve: Option<Calibration>,
    pub calibration: Vec<CalibrationBin>,
    pub days: Vec<DayValidation>,
    /// How well each signal alone ranked the same accounts, strongest first.
    #[serde(default)]
    pub signals: Vec<SignalPower>,
    /// The churn and downsell forecast learned on the same replay, and its check out of
    /// sample ([`crate::forecast::churn::learn`]).
    #[serde(default)]
    pub forecast: Option<crate::forecast::churn::Learning>,
    /// The renewal forecast replayed over the past quarters of the same replay
    /// ([`crate::forecast::renewal::backtest`]).
    #[serde(default)]
    pub renewal_backtest: Option<crate::forecast::renewal::Backtest>,
    /// The Cox model of leaving on the pillar scores as they changed over the same replay
    /// ([`crate::survival::health_hazards`]); `None` when it could not be fitted, and
    /// `health_hazards_note` says why.
    #[serde(default)]
    pub health_hazards: Option<crate::survival::HazardModel>,
    #[serde(default)]
    pub health_hazards_note: Option<String>,
}

/// One signal's power to rank what happened, on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalPower {
    pub signal: String,
    /// Share of the observations that had it.
    pub coverage: f64,
    /// AUC with a lower value counted as riskier: above 0.5, higher is healthier; below,
    /// lower is (its strength either way is the distance from 0.5).
    pub auc: f64,
}

/// Each signal's AUC over the observations that have it (those with both outcomes).
pub fn signal_power(observations: &[(&crate::health::Signals, bool)]) -> Vec<SignalPower> {
    let mut names: Vec<&str> = observations
        .iter()
        .flat_map(|(s, _)| s.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out: Vec<SignalPower> = names
        .into_iter()
        .filter_map(|name| {
            let (risk, churned): (Vec<f64>, Vec<bool>) = observations
                .iter()
                .filter_map(|(s, c)| s.get(name).map(|v| (-v, *c)))
                .unzip();
            let auc = stats::auc(&risk, &churned)?;
            Some(SignalPower {
                signal: name.to_string(),
                coverage: risk.len() as f64 / observations.len() as f64,
                auc,
            })
        })
        .collect();
    out.sort_by(|a, b| (b.auc - 0.5).abs().total_cmp(&(a.auc - 0.5).abs()));
    out
}

/// Validates scores against outcomes. Risk is `100 − score`; unscored observations are
/// counted but not ranked.
pub fn validate(
    model: &str,
    horizon_days: i64,
    observations: &[Observation],
    calibration: Option<Calibration>,
) -> ValidationReport {
    let scored: Vec<&Observation> = observations.iter().filter(|o| o.score.is_some()).collect();
    let risk: Vec<f64> = scored.iter().map(|o| 100.0 - o.score.unwrap_or(0.0)).collect();
    let churned: Vec<bool> = scored.iter().map(|o| o.churned).collect();
    let (source, calibration) = match calibration {
        Some(c) => (CalibrationSource::Model, Some(c)),
        None => (CalibrationSource::Replay, platt(&scored)),
    };
    let probabilities: Vec<f64> = match calibration {
        Some(c) => scored
            .iter()
            .map(|o| c.churn_probability(o.score.unwrap_or(0.0)))
            .collect(),
        None => Vec::new(),
    };
    let bins = if probabilities.is_empty() {
        Vec::new()
    } else {
        stats::calibration(&probabilities, &churned, 10).unwrap_or_default()
    };
    let mut days: Vec<NaiveDate> = observations.iter().map(|o| o.as_of).collect();
    days.sort_unstable();
    days.dedup();
    let days = days
        .into_iter()
        .map(|day| {
            let of_day: Vec<&Observation> = observations.iter().filter(|o| o.as_of == day).collect();
            let ranked: Vec<&&Observation> = of_day.iter().filter(|o| o.score.is_some()).collect();
            DayValidation {
                as_of: day,
                accounts: of_day.len(),
                churned: of_day.iter().filter(|o| o.churned).count(),
                auc: stats::auc(
                    &ranked
                        .iter()
                        .map(|o| 100.0 - o.score.unwrap_or(0.0))
                        .collect::<Vec<_>>(),
                    &ranked.iter().map(|o| o.churned).collect::<Vec<_>>(),
                ),
                suspect: false,
            }
        })
        .collect::<Vec<_>>();
    let mut days = days;
    let flags = suspect_days(&days.iter().map(|d| (d.accounts, d.churned)).collect::<Vec<_>>());
    for (day, suspect) in days.iter_mut().zip(flags) {
        day.suspect = suspect;
    }
    let n_churned = observations.iter().filter(|o| o.churned).count();
    ValidationReport {
        model: model.to_string(),
        horizon_days,
        observations: observations.len(),
        scored: scored.len(),
        churned: n_churned,
        churn_rate: (!observations.is_empty()).then(|| n_churned as f64 / observations.len() as f64),
        auc: stats::auc(&risk, &churned),
        top_decile_lift: stats::top_decile_lift(&risk, &churned),
        calibration_source: source,
        risk_curve: calibration,
        calibration: bins,
        days,
        signals: Vec::new(),
        forecast: None,
        renewal_backtest: None,
        health_hazards: None,
        health_hazards_note: None,
    }
}

/// Churn probability as a logistic function of the score, fitted on the observations.
fn platt(scored: &[&Observation]) -> Option<Calibration> {
    let x: Vec<[f64; 1]> = scored.iter().map(|o| [o.score.unwrap_or(0.0) / 100.0]).collect();
    let y: Vec<bool> = scored.iter().map(|o| o.churned).collect();
    if !(y.iter().any(|c| *c) && y.iter().any(|c| !*c)) {
        return None;
    }
    // Barely regularised: one variable, many observations.
    let options = LogisticOptions {
        penalty: Penalty::L2,
        c: 1e4,
        ..LogisticOptions::default()
    };
    let fit = stats::logistic_regression(&x, &y, &options).ok()?;
    Some(Calibration {
        intercept: fit.intercept,
        slope: fit.coefficients.first().copied().unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(day: &str, score: Option<f64>, churned: bool) -> Observation {
        Observation {
            as_of: day.parse().unwrap(),
            score,
            churned,
        }
    }

    #[test]
    fn a_perfect_ranking_and_a_useless_one() {
        let perfect = [
            obs("2026-01-31", Some(10.0), true),
            obs("2026-01-31", Some(80.0), false),
            obs("2026-02-28", Some(20.0), true),
            obs("2026-02-28", Some(90.0), false),
            obs("2026-02-28", None, false),
        ];
        let r = validate("m", 90, &perfect, None);
        assert_eq!((r.observations, r.scored, r.churned), (5, 4, 2));
        assert_eq!(r.auc, Some(1.0));
        assert_eq!(r.days.len(), 2);
        assert_eq!(r.days[1].accounts, 3);
        assert_eq!(r.days[1].auc, Some(1.0));
        assert_eq!(r.calibration_source, CalibrationSource::Replay);
        let upside_down = [
            obs("2026-01-31", Some(90.0), true),
            obs("2026-01-31", Some(10.0), false),
        ];
        assert_eq!(validate("m", 90, &upside_down, None).auc, Some(0.0));
    }

    #[test]
    fn signal_power_reads_direction_and_strength() {
        let signals = |u: f64, noise: f64| -> crate::health::Signals {
            [("utilisation".to_string(), u), ("tenure_days".to_string(), noise)].into()
        };
        let rows: Vec<(crate::health::Signals, bool)> = (0..40)
            .map(|i| (signals(f64::from(i) / 40.0, f64::from((i * 7) % 5)), i < 10))
            .collect();
        let refs: Vec<(&crate::health::Signals, bool)> = rows.iter().map(|(s, c)| (s, *c)).collect();
        let power = signal_power(&refs);
        assert_eq!(power[0].signal, "utilisation");
        assert_eq!(power[0].auc, 1.0, "low utilisation churned, every time");
        assert_eq!(power[0].coverage, 1.0);
    }

    #[test]
    fn replay_calibration_follows_the_observed_rates() {
        // Low scores churn half the time, high scores a tenth.
        let mut o = Vec::new();
        for i in 0..200 {
            o.push(obs("2026-01-31", Some(20.0), i % 2 == 0));
            o.push(obs("2026-01-31", Some(80.0), i % 10 == 0));
        }
        let r = validate("m", 90, &o, None);
        let filled: Vec<&CalibrationBin> = r.calibration.iter().filter(|b| b.count > 0).collect();
        assert_eq!(filled.len(), 2, "{:?}", r.calibration);
        for bin in filled {
            let (p, rate) = (bin.mean_predicted.unwrap(), bin.observed_rate.unwrap());
            assert!((p - rate).abs() < 0.01, "predicted {p}, observed {rate}");
        }
    }

    #[test]
    fn a_day_far_above_the_others_is_suspect() {
        // Months of 5-10 % churn, then one where nine accounts in ten "churned".
        let days = [(100, 6), (100, 8), (98, 5), (97, 10), (95, 86)];
        assert_eq!(suspect_days(&days), [false, false, false, false, true]);
        // Spread but plausible rates are not.
        assert!(!suspect_days(&[(50, 5), (50, 10), (50, 2), (50, 12)]).contains(&true));
        // Too few accounts, or too few days to compare with: nothing is said.
        assert_eq!(suspect_days(&[(100, 5), (100, 6), (100, 5), (9, 9)]), [false; 4]);
        assert_eq!(suspect_days(&[(100, 5), (100, 6), (100, 90)]), [false; 3]);
    }
}
