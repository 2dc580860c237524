//! What happened to an account after a day, for validation: whether it churned or
//! downsold within a horizon ([`crate::health::AccountRecords::churned_or_downsold`]).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What became of a customer within the horizon ([`crate::health::AccountRecords::outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// As much MRR at the horizon's end, or more.
    Stayed,
    /// Less MRR, but some.
    Downsold,
    /// No MRR.
    Churned,
}

/// How far ahead validation looks.
pub const HORIZON_DAYS: i64 = 90;

/// The last day the data is known to speak of, so that a day is judged only when its
/// whole horizon is known: the **earliest** of the last recorded use and the last start
/// of a contract line (each at most `today`), or the one of them there is. Not the
/// latest: in an export whose events run past its last contract start (the book's
/// simulated ones do), the contracts that would have renewed after that start are
/// missing, and every account would look churned there.
pub fn last_known_day(
    last_use: Option<NaiveDate>,
    last_start: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<NaiveDate> {
    [last_use, last_start].into_iter().flatten().map(|d| d.min(today)).min()
}

#[cfg(test)]
mod tests {
    use super::last_known_day;

    #[test]
    fn the_data_is_known_until_the_earlier_of_use_and_contracts() {
        let d = |s: &str| -> chrono::NaiveDate { s.parse().unwrap() };
        let today = d("2026-12-01");
        assert_eq!(
            last_known_day(Some(d("2026-06-30")), Some(d("2026-05-01")), today),
            Some(d("2026-05-01")),
            "events past the last contract start: the contracts end the known data"
        );
        assert_eq!(
            last_known_day(Some(d("2026-04-30")), Some(d("2026-05-01")), today),
            Some(d("2026-04-30"))
        );
        assert_eq!(
            last_known_day(None, Some(d("2026-05-01")), today),
            Some(d("2026-05-01"))
        );
        assert_eq!(
            last_known_day(Some(d("2027-01-01")), None, today),
            Some(today),
            "never after today"
        );
        assert_eq!(last_known_day(None, None, today), None);
    }

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
        use super::Outcome;
        assert_eq!(churning.outcome(day("2026-01-15"), 90), Some(Outcome::Churned));
        assert_eq!(downsell.outcome(day("2026-01-15"), 90), Some(Outcome::Downsold));
        assert_eq!(upsell.outcome(day("2026-01-15"), 90), Some(Outcome::Stayed));
        assert_eq!(churning.outcome(day("2026-03-01"), 90), None);
    }
}
