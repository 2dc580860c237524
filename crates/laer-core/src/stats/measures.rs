//! The measures a risk model is judged by: AUC (listing 9.1), top-decile lift (9.2),
//! calibration, and the Brier score and log loss of its probabilities.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::StatsError;

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

/// Checks that `predicted` are probabilities, one per outcome.
fn probabilities(predicted: &[f64], churned: &[bool]) -> Result<(), StatsError> {
    if predicted.is_empty() {
        return Err(StatsError::Empty);
    }
    if predicted.len() != churned.len() {
        return Err(StatsError::LengthMismatch {
            what: "churned",
            expected: predicted.len(),
            found: churned.len(),
        });
    }
    match predicted.iter().position(|p| !(0.0..=1.0).contains(p)) {
        Some(row) => Err(StatsError::NotAProbability {
            row,
            value: predicted[row],
        }),
        None => Ok(()),
    }
}

/// The Brier score: the mean squared difference between each predicted probability and
/// what happened (1 churned, 0 not); 0 is perfect, and always predicting the observed
/// rate r scores r(1 − r). scikit-learn's `brier_score_loss`.
pub fn brier(predicted: &[f64], churned: &[bool]) -> Result<f64, StatsError> {
    probabilities(predicted, churned)?;
    let sum: f64 = predicted
        .iter()
        .zip(churned)
        .map(|(p, &c)| (p - f64::from(u8::from(c))).powi(2))
        .sum();
    Ok(sum / predicted.len() as f64)
}

/// The mean negative log-likelihood of what happened (natural log), each probability
/// clipped to [ε, 1 − ε] with ε the machine epsilon, as scikit-learn's `log_loss` does.
pub fn log_loss(predicted: &[f64], churned: &[bool]) -> Result<f64, StatsError> {
    probabilities(predicted, churned)?;
    let eps = f64::EPSILON;
    let sum: f64 = predicted
        .iter()
        .zip(churned)
        .map(|(p, &c)| {
            let p = p.clamp(eps, 1.0 - eps);
            -(if c { p.ln() } else { (1.0 - p).ln() })
        })
        .sum();
    Ok(sum / predicted.len() as f64)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn brier_and_log_loss_of_hand_computed_cases() {
        // scikit-learn's documented example: brier_score_loss([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]).
        let churned = [false, true, true, false];
        let p = [0.1, 0.9, 0.8, 0.3];
        assert!((brier(&p, &churned).unwrap() - 0.0375).abs() < 1e-15);
        let expected = -((0.9f64).ln() + (0.9f64).ln() + (0.8f64).ln() + (0.7f64).ln()) / 4.0;
        assert!((log_loss(&p, &churned).unwrap() - expected).abs() < 1e-15);
        // Certain and right costs nothing; certain and wrong is clipped, not infinite.
        assert_eq!(brier(&[1.0, 0.0], &[true, false]), Ok(0.0));
        assert!(log_loss(&[0.0], &[true]).unwrap().is_finite());
        assert_eq!(brier(&[], &[]), Err(StatsError::Empty));
        assert_eq!(
            brier(&[0.5, -0.1], &[true, false]),
            Err(StatsError::NotAProbability { row: 1, value: -0.1 })
        );
        assert!(matches!(log_loss(&[0.5], &[]), Err(StatsError::LengthMismatch { .. })));
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
    }
}
