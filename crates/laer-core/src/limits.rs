//! The limits on what one request may ask for, in one place: the REST API, the web pages
//! and the CLI check a request against them before any work starts, and the API's
//! document (`openapi.rs`) and the user docs (docs/api.md, "Limits") quote them. A
//! request over a limit is refused with a message naming the parameter and the limit,
//! so that no single request can take the server's memory or time.

use chrono::NaiveDate;

/// The most periods one retention or MRR report computes: twenty years of months.
/// Each period is a pass over every subscription line, and a report's answer grows
/// with its periods.
pub const MAX_REPORT_PERIODS: usize = 240;

/// The most periods of an MRR report that lists every account (`accounts=true`): its
/// answer grows with periods times accounts (about 150 bytes per account and period).
pub const MAX_REPORT_PERIODS_WITH_ACCOUNTS: usize = 24;

/// The earliest day a report may start or end on.
pub const EARLIEST_REPORT_DAY: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(day) => day,
    None => panic!("a valid date"),
};

/// The latest day a report may start or end on.
pub const LATEST_REPORT_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2199, 12, 31) {
    Some(day) => day,
    None => panic!("a valid date"),
};

/// The number of rows a list endpoint answers with unless asked for fewer or more.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The most rows a list endpoint answers with in one page (`limit`); the rest are
/// reached by the page's cursor.
pub const MAX_PAGE_SIZE: u32 = 1_000;

/// The most tasks `GET /api/v1/tasks` answers with (`limit`).
pub const MAX_TASKS_PER_REQUEST: u32 = 5_000;

/// The most records one REST bulk write (`POST /api/v1/records/{kind}`) takes.
pub const MAX_RECORDS_PER_WRITE: usize = 1_000;

/// The most rows a CSV export of a page (portfolio, renewals, revenue) holds.
pub const MAX_EXPORT_ROWS: usize = 100_000;

/// The longest settings file (playbooks, coverage rules) the app takes: the shipped
/// files are a few thousand characters.
pub const MAX_SETTINGS_CHARS: usize = 100_000;

/// The longest search or filter text a page or the API takes in its query string.
pub const MAX_QUERY_TEXT_CHARS: usize = crate::parse::MAX_LINE_CHARS;

/// A request over one of the limits: which parameter, the limit, and what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct OverLimit {
    /// The request's parameter (or field) that asked for too much.
    pub parameter: &'static str,
    /// The limit, as the message states it (a number or a day).
    pub limit: String,
    /// What was wrong: the limit and what was asked for.
    pub message: String,
}

/// At least the number of monthly periods from `from` up to and including `to` (as
/// [`crate::retention::monthly_periods`] makes them), and at most one more: counted
/// without making them.
pub fn months_between(from: NaiveDate, to: NaiveDate) -> usize {
    use chrono::Datelike;
    if to < from {
        return 0;
    }
    // The k-th start falls in the k-th month after `from`'s, so there are never more
    // than the months from `from`'s to `to`'s, both counted (at most one more than made).
    let months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32 + 1;
    months.max(0) as usize
}

/// `day` (the value of `parameter`) lies in the reports' window of days.
pub fn report_day(parameter: &'static str, day: NaiveDate) -> Result<NaiveDate, OverLimit> {
    if (EARLIEST_REPORT_DAY..=LATEST_REPORT_DAY).contains(&day) {
        return Ok(day);
    }
    Err(OverLimit {
        parameter,
        limit: format!("{EARLIEST_REPORT_DAY}..{LATEST_REPORT_DAY}"),
        message: format!("must be a day from {EARLIEST_REPORT_DAY} to {LATEST_REPORT_DAY}, found {day}"),
    })
}

/// A report of `periods` periods (the span `from` to `to` of `parameter`) is within
/// `max`.
pub fn report_periods(parameter: &'static str, periods: usize, max: usize, why: &str) -> Result<(), OverLimit> {
    if periods <= max {
        return Ok(());
    }
    Err(OverLimit {
        parameter,
        limit: max.to_string(),
        message: format!("at most {max} monthly periods {why}, asked for {periods}; ask for a shorter range"),
    })
}

/// A page size `limit` within 1 and `max`.
pub fn page_size(parameter: &'static str, limit: u32, max: u32) -> Result<u32, OverLimit> {
    if (1..=max).contains(&limit) {
        return Ok(limit);
    }
    Err(OverLimit {
        parameter,
        limit: max.to_string(),
        message: format!("must be between 1 and {max}, found {limit}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::monthly_periods;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn months_are_counted_as_the_periods_are_made() {
        for (from, to) in [
            ("2024-01-01", "2024-01-01"),
            ("2024-01-01", "2024-03-01"),
            ("2024-01-31", "2024-03-01"),
            ("2024-01-31", "2024-02-29"),
            ("2024-01-15", "2024-03-14"),
            ("2024-01-15", "2024-03-15"),
            ("2024-01-31", "2024-03-30"),
            ("2023-12-31", "2025-02-28"),
            ("2024-03-01", "2024-01-01"),
            ("1900-01-01", "2199-12-31"),
        ] {
            let made = monthly_periods(day(from), day(to)).len();
            let counted = months_between(day(from), day(to));
            // Never fewer than made: a count under the limit means the periods are too.
            assert!(counted >= made, "{from}..{to}: counted {counted}, made {made}");
            assert!(counted <= made + 1, "{from}..{to}: counted {counted}, made {made}");
        }
    }

    #[test]
    fn limits_name_the_parameter_and_the_limit() {
        let e = report_day("to", day("9999-12-01")).unwrap_err();
        assert_eq!(e.parameter, "to");
        assert!(e.message.contains("2199-12-31"), "{e}");
        assert!(report_day("from", day("2024-01-01")).is_ok());
        let e = report_periods("to", 300, MAX_REPORT_PERIODS, "per report").unwrap_err();
        assert_eq!((e.parameter, e.limit.as_str()), ("to", "240"));
        assert!(page_size("limit", 0, MAX_PAGE_SIZE).is_err());
        assert_eq!(page_size("limit", 1_000, MAX_PAGE_SIZE), Ok(1_000));
        assert!(
            page_size("limit", 1_001, MAX_PAGE_SIZE)
                .unwrap_err()
                .to_string()
                .contains("1000")
        );
    }
}
