//! Metric scores (listings 5.3 and 7.5): z-scores, fat-tailed metrics transformed first
//! by the book's skewness rule.

use serde::{Deserialize, Serialize};

use super::StatsError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::close;

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
}
