//! What happened to an account after a day, for validation: whether it churned or
//! downsold within a horizon ([`crate::health::AccountRecords::churned_or_downsold`]).

/// How far ahead validation looks.
pub const HORIZON_DAYS: i64 = 90;

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use crate::Money;
    use crate::health::{AccountRecords, Line};

    fn line(start: &str, end: Option<&str>, mrr: i64) -> Line {
        Line {
            product: "Core".into(),
            start_date: start.parse().unwrap(),
            end_date: end.map(|e| e.parse().unwrap()),
            mrr: Money::from_units(mrr).unwrap(),
            quantity: None,
            units: None,
            bill_period_months: 1,
        }
    }

    fn account(lines: Vec<Line>) -> AccountRecords {
        AccountRecords {
            lines,
            ..AccountRecords::default()
        }
    }

    #[test]
    fn churn_downsell_and_neither() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let churning = account(vec![line("2025-01-01", Some("2026-03-01"), 100)]);
        assert_eq!(churning.churned_or_downsold(day("2026-01-15"), 90), Some(true));
        assert_eq!(churning.churned_or_downsold(day("2025-06-01"), 90), Some(false));
        assert_eq!(
            churning.churned_or_downsold(day("2026-03-01"), 90),
            None,
            "gone already"
        );
        let downsell = account(vec![
            line("2025-01-01", Some("2026-02-01"), 100),
            line("2026-02-01", None, 60),
        ]);
        assert_eq!(downsell.churned_or_downsold(day("2026-01-15"), 90), Some(true));
        let upsell = account(vec![
            line("2025-01-01", Some("2026-02-01"), 100),
            line("2026-02-01", None, 160),
        ]);
        assert_eq!(upsell.churned_or_downsold(day("2026-01-15"), 90), Some(false));
    }
}
