//! Groups of correlated metrics (listings 6.4 and 6.3): the correlation matrix, the
//! groups and their scores.

use serde::{Deserialize, Serialize};

use super::StatsError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::close;

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
}
