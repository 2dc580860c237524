//! Times the health model's statistics at the largest size laer expects: 200,000 cases × 40
//! metric columns. Run with `cargo run --release -p laer-core --example stats_fit`.

use std::time::Instant;

use laer_core::stats::{LogisticOptions, MetricGroups, Penalty, auc, correlation_matrix, logistic_regression};

/// A small deterministic generator (xorshift64*), normal deviates by Box-Muller.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * self.uniform()).cos()
    }
}

fn main() {
    const ROWS: usize = 200_000;
    const COLUMNS: usize = 40;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    // Columns in families of four sharing a factor, churn from a sparse logistic model (~10%).
    let mut x = Vec::with_capacity(ROWS);
    let mut y = Vec::with_capacity(ROWS);
    for _ in 0..ROWS {
        let factors: Vec<f64> = (0..COLUMNS / 4).map(|_| rng.normal()).collect();
        let row: Vec<f64> = (0..COLUMNS)
            .map(|j| 0.8 * factors[j / 4] + 0.6 * rng.normal())
            .collect();
        let log_odds = -2.6 - 0.8 * row[0] + 0.5 * row[5] - 0.3 * row[13] + 0.2 * row[27];
        y.push(rng.uniform() < 1.0 / (1.0 + (-log_odds).exp()));
        x.push(row);
    }
    println!(
        "{ROWS} rows × {COLUMNS} columns, churn {:.3}",
        y.iter().filter(|&&c| c).count() as f64 / ROWS as f64
    );

    let columns: Vec<Vec<f64>> = (0..COLUMNS).map(|j| x.iter().map(|r| r[j]).collect()).collect();
    let started = Instant::now();
    let corr = correlation_matrix(&columns).expect("finite data");
    let groups = MetricGroups::find(&corr, 0.55).expect("square matrix");
    println!(
        "correlation matrix and groups: {:?} ({} groups)",
        started.elapsed(),
        groups.groups.len()
    );

    for (penalty, c) in [
        (Penalty::L1, 1.0),
        (Penalty::L1, 0.02),
        (Penalty::L1, 0.0025),
        (Penalty::L2, 1.0),
    ] {
        let options = LogisticOptions {
            penalty,
            c,
            ..LogisticOptions::default()
        };
        let started = Instant::now();
        let fit = logistic_regression(&x, &y, &options).expect("converges");
        let elapsed = started.elapsed();
        let risk: Vec<f64> = x.iter().map(|r| fit.predict(r)).collect();
        println!(
            "{penalty:?} C={c}: {elapsed:?}, {} Newton iterations, {} non-zero weights, AUC {:.4}",
            fit.iterations,
            fit.coefficients.iter().filter(|w| **w != 0.0).count(),
            auc(&risk, &y).unwrap_or(f64::NAN),
        );
    }
}
