//! The retention and MRR reports: request parsing shared by the CLI and the API, and
//! the reports computed from loaded data.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;

use crate::Money;
use crate::fx::Rates;
use crate::limits::{self, OverLimit};
use crate::retention::{
    AccountMovement, ActivityDays, MovementKind, MrrMovements, Period, Retention, RevenueLine, SegmentRetention,
    Series, account_movements, activity_churn, monthly_periods, movements_of_periods, retention, total_movements,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{field} must be a date as YYYY-MM-DD, found {value:?}")]
    BadDate { field: &'static str, value: String },
    #[error("to ({to}) must be after from ({from})")]
    NotAfter { from: NaiveDate, to: NaiveDate },
    #[error("every must be \"month\", found {0:?}")]
    BadEvery(String),
    #[error("activity window must be a whole number of days from 1 to 3650, found {0:?}")]
    BadWindow(String),
    #[error(
        "unknown attribute {0:?}: not an account column (segment, channel, country, name) nor an imported attribute"
    )]
    UnknownAttribute(String),
    /// A request over one of the limits of [`crate::limits`].
    #[error(transparent)]
    OverLimit(#[from] OverLimit),
}

impl RequestError {
    /// The request's parameter the error is about.
    pub fn parameter(&self) -> &'static str {
        match self {
            RequestError::BadDate { field, .. } => field,
            RequestError::NotAfter { .. } => "to",
            RequestError::BadEvery(_) => "every",
            RequestError::BadWindow(_) => "activity_window",
            RequestError::UnknownAttribute(_) => "by",
            RequestError::OverLimit(e) => e.parameter,
        }
    }

    /// The limit the request went over, if that is what is wrong with it.
    pub fn limit(&self) -> Option<&str> {
        match self {
            RequestError::OverLimit(e) => Some(&e.limit),
            _ => None,
        }
    }
}

/// What a report covers: one period from `from` to `to`, or (`every = month`) the
/// monthly periods starting at `from`, `from` + 1 month, ... up to and including `to`.
/// Both days lie within [`limits::EARLIEST_REPORT_DAY`] and
/// [`limits::LATEST_REPORT_DAY`], and there are at most [`limits::MAX_REPORT_PERIODS`]
/// periods: checked before any period is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    pub periods: Vec<Period>,
    pub monthly: bool,
    pub activity_window: Option<u32>,
}

impl ReportRequest {
    pub fn parse(
        from: &str,
        to: &str,
        every: Option<&str>,
        activity_window: Option<&str>,
    ) -> Result<ReportRequest, RequestError> {
        let date = |field, value: &str| {
            NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| RequestError::BadDate {
                field,
                value: value.to_string(),
            })
        };
        let (from, to) = (date("from", from)?, date("to", to)?);
        let (from, to) = (limits::report_day("from", from)?, limits::report_day("to", to)?);
        let monthly = match every.map(|e| e.trim().to_ascii_lowercase()) {
            None => false,
            Some(e) if e == "month" || e == "monthly" => true,
            Some(_) => return Err(RequestError::BadEvery(every.unwrap_or_default().to_string())),
        };
        let activity_window = activity_window
            .map(|w| {
                w.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (1..=3650).contains(d))
                    .ok_or_else(|| RequestError::BadWindow(w.to_string()))
            })
            .transpose()?;
        let periods = if monthly {
            if to < from {
                return Err(RequestError::NotAfter { from, to });
            }
            let months = limits::months_between(from, to);
            limits::report_periods("to", months, limits::MAX_REPORT_PERIODS, "per report")?;
            monthly_periods(from, to)
        } else {
            if to <= from {
                return Err(RequestError::NotAfter { from, to });
            }
            vec![Period { from, to }]
        };
        Ok(ReportRequest {
            periods,
            monthly,
            activity_window,
        })
    }
}

impl ReportRequest {
    /// The request may list every account in each period: it has at most
    /// [`limits::MAX_REPORT_PERIODS_WITH_ACCOUNTS`] periods.
    pub fn check_with_accounts(&self) -> Result<(), RequestError> {
        limits::report_periods(
            "accounts",
            self.periods.len(),
            limits::MAX_REPORT_PERIODS_WITH_ACCOUNTS,
            "when listing accounts (accounts=true)",
        )?;
        Ok(())
    }
}

/// A subscription line with its product, for segmenting by plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanLine {
    pub line: RevenueLine,
    pub product: String,
}

/// How accounts are grouped into segments.
#[derive(Debug, Clone, Copy)]
pub enum SegmentBy<'a> {
    /// A fixed value per account (an account column or imported attribute).
    Attribute(&'a HashMap<i64, String>),
    /// The account's plan in the period: the product of its largest line (by MRR, then
    /// product name) active on the first day, or on the last day for an account
    /// inactive on the first.
    Plan(&'a [PlanLine]),
}

impl SegmentBy<'_> {
    /// Each account's segment in `period`.
    pub fn for_period(&self, period: Period) -> HashMap<i64, String> {
        match self {
            SegmentBy::Attribute(values) => (*values).clone(),
            SegmentBy::Plan(lines) => {
                let mut plans: HashMap<i64, (bool, Money, &str)> = HashMap::new();
                for p in lines.iter() {
                    let on_first = p.line.is_active_on(period.from);
                    if !on_first && !p.line.is_active_on(period.to) {
                        continue;
                    }
                    let candidate = (on_first, p.line.mrr, p.product.as_str());
                    let best = plans.entry(p.line.account_id).or_insert(candidate);
                    // Lines active on the first day win; then higher MRR; then the name.
                    if (candidate.0, candidate.1, std::cmp::Reverse(candidate.2))
                        > (best.0, best.1, std::cmp::Reverse(best.2))
                    {
                        *best = candidate;
                    }
                }
                plans
                    .into_iter()
                    .map(|(account, (_, _, product))| (account, product.to_string()))
                    .collect()
            }
        }
    }
}

/// Account churn, MRR retention and (with a window) activity churn for each period, and
/// per segment when asked.
pub fn retention_report(
    lines: &[RevenueLine],
    activity: &[ActivityDays],
    request: &ReportRequest,
    segments: Option<SegmentBy<'_>>,
) -> Vec<Retention> {
    request
        .periods
        .iter()
        .map(|&period| retention_period(lines, activity, request, period, segments))
        .collect()
}

/// One period of [`retention_report`]: a report computed period by period (to stream it,
/// or stop when its reader is gone) is the same as one computed at once.
pub fn retention_period(
    lines: &[RevenueLine],
    activity: &[ActivityDays],
    request: &ReportRequest,
    period: Period,
    segments: Option<SegmentBy<'_>>,
) -> Retention {
    let series = if request.monthly {
        Series::Monthly
    } else {
        Series::Single
    };
    let mut r = retention(lines, period, series);
    r.activity = request.activity_window.map(|w| activity_churn(activity, period, w));
    r.segments = segments.map(|by| {
        let values = by.for_period(period);
        let mut groups: BTreeMap<Option<&String>, (Vec<RevenueLine>, Vec<ActivityDays>)> = BTreeMap::new();
        for line in lines {
            groups.entry(values.get(&line.account_id)).or_default().0.push(*line);
        }
        for account in activity {
            groups
                .entry(values.get(&account.account_id))
                .or_default()
                .1
                .push(account.clone());
        }
        groups
            .into_iter()
            .map(|(segment, (lines, activity))| {
                let part = retention(&lines, period, series);
                SegmentRetention {
                    segment: segment.cloned(),
                    accounts: part.accounts,
                    mrr: part.mrr,
                    activity: request.activity_window.map(|w| activity_churn(&activity, period, w)),
                }
            })
            .collect()
    });
    r
}

/// MRR movements with net and gross revenue retention.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MovementSummary {
    #[serde(flatten)]
    pub movements: MrrMovements,
    pub net_revenue_retention: Option<f64>,
    pub gross_revenue_retention: Option<f64>,
}

impl From<MrrMovements> for MovementSummary {
    fn from(movements: MrrMovements) -> Self {
        MovementSummary {
            net_revenue_retention: movements.net_revenue_retention(),
            gross_revenue_retention: movements.gross_revenue_retention(),
            movements,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentSummary {
    /// The attribute's value; `null` for accounts without one.
    pub segment: Option<String>,
    #[serde(flatten)]
    pub summary: MovementSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MrrPeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub summary: MovementSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<SegmentSummary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<AccountGrowth>>,
}

/// One account's net growth over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountGrowth {
    pub account_id: i64,
    pub external_id: Option<String>,
    pub movement: MovementKind,
    pub start: Money,
    pub end: Money,
    /// MRR on the last day over MRR on the first; `null` when the first is zero.
    pub net_growth: Option<f64>,
}

/// What an MRR report breaks the totals down by.
#[derive(Debug, Default, Clone, Copy)]
pub struct Breakdown<'a> {
    /// How to group accounts into segments.
    pub segments: Option<SegmentBy<'a>>,
    /// With the accounts' external ids: list every account's net growth.
    pub accounts: Option<&'a HashMap<i64, String>>,
}

/// MRR movements per period, per segment when accounts are grouped by an attribute,
/// and per account when asked. `lines` must be sorted by account.
pub fn mrr_report(
    lines: &[RevenueLine],
    rates: &Rates,
    request: &ReportRequest,
    breakdown: Breakdown<'_>,
) -> Vec<MrrPeriod> {
    request
        .periods
        .iter()
        .map(|&period| mrr_period(lines, rates, period, breakdown))
        .collect()
}

/// One period of [`mrr_report`]. `lines` must be sorted by account.
pub fn mrr_period(lines: &[RevenueLine], rates: &Rates, period: Period, breakdown: Breakdown<'_>) -> MrrPeriod {
    let accounts = account_movements(lines, period, rates);
    let segments = breakdown.segments.map(|by| {
        let values = by.for_period(period);
        let mut by_segment: BTreeMap<Option<&String>, Vec<_>> = BTreeMap::new();
        for a in &accounts {
            by_segment.entry(values.get(&a.account_id)).or_default().push(*a);
        }
        by_segment
            .into_iter()
            .map(|(segment, members)| SegmentSummary {
                segment: segment.cloned(),
                summary: total_movements(&members).into(),
            })
            .collect()
    });
    let growth = breakdown.accounts.map(|external_ids| {
        accounts
            .iter()
            .map(|a| AccountGrowth {
                account_id: a.account_id,
                external_id: external_ids.get(&a.account_id).cloned(),
                movement: a.kind,
                start: a.start,
                end: a.end,
                net_growth: (!a.start.is_zero()).then(|| a.end.to_f64() / a.start.to_f64()),
            })
            .collect()
    });
    MrrPeriod {
        from: period.from,
        to: period.to,
        summary: total_movements(&accounts).into(),
        segments,
        accounts: growth,
    }
}

/// One calendar month of the revenue page: its movements, those of the twelve months
/// that end with it (for NRR and GRR over a year), and its logo churn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonthWithTrailing {
    pub period: Period,
    pub movements: MrrMovements,
    /// Over the twelve months that end with this one.
    pub trailing: MrrMovements,
    pub logo_churn: Option<f64>,
}

/// The last `months` whole calendar months before `today`, each with its trailing twelve
/// months: the same movements as `laer report mrr` over those periods.
pub fn months_with_trailing(
    lines: &[RevenueLine],
    rates: &Rates,
    today: NaiveDate,
    months: u32,
) -> Vec<MonthWithTrailing> {
    let this_month = today.with_day(1).unwrap_or(today);
    let (Some(first), Some(last)) = (
        this_month.checked_sub_months(Months::new(months)),
        this_month.checked_sub_months(Months::new(1)),
    ) else {
        return Vec::new();
    };
    let monthly = monthly_periods(first, last);
    let trailing: Vec<Period> = monthly.iter().map(trailing_year).collect();
    let all: Vec<Period> = monthly.iter().chain(&trailing).copied().collect();
    let figures = movements_of_periods(lines, &all, rates);
    let (month_figures, trailing_figures) = figures.split_at(monthly.len());
    monthly
        .into_iter()
        .zip(month_figures.iter().zip(trailing_figures))
        .map(|(period, (month, year))| MonthWithTrailing {
            period,
            movements: month.movements,
            trailing: year.movements,
            logo_churn: month.logo_churn_rate(),
        })
        .collect()
}

/// The twelve months that end where `period` ends.
pub fn trailing_year(period: &Period) -> Period {
    Period {
        from: period.to.checked_sub_months(Months::new(12)).unwrap_or(period.from),
        to: period.to,
    }
}

/// The movements over `period` per segment (`segments`: account → segment; `None` for
/// accounts without one), in segment order.
pub fn movements_by_segment(
    lines: &[RevenueLine],
    rates: &Rates,
    segments: &HashMap<i64, String>,
    period: Period,
) -> Vec<(Option<String>, MrrMovements)> {
    let accounts = account_movements(lines, period, rates);
    let mut groups: BTreeMap<Option<&String>, Vec<&AccountMovement>> = BTreeMap::new();
    for a in &accounts {
        groups.entry(segments.get(&a.account_id)).or_default().push(a);
    }
    groups
        .into_iter()
        .map(|(segment, accounts)| (segment.cloned(), total_movements(accounts)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A monthly line of `mrr` whole units.
    fn line(account_id: i64, start: &str, end: Option<&str>, mrr: i64) -> RevenueLine {
        RevenueLine {
            account_id,
            start_date: day(start),
            end_date: end.map(day),
            mrr: Money::from_units(mrr).unwrap(),
            bill_period_months: 1,
            original: None,
        }
    }

    #[test]
    fn requests_are_checked() {
        let r = ReportRequest::parse("2024-01-01", "2024-03-01", None, Some("30")).unwrap();
        assert_eq!(r.periods.len(), 1);
        assert_eq!(r.activity_window, Some(30));
        let monthly = ReportRequest::parse("2024-01-01", "2024-03-01", Some("month"), None).unwrap();
        assert_eq!(monthly.periods.len(), 3);
        assert_eq!(
            ReportRequest::parse("2024-01-01", "2023-03-01", None, None),
            Err(RequestError::NotAfter {
                from: "2024-01-01".parse().unwrap(),
                to: "2023-03-01".parse().unwrap()
            })
        );
        assert!(matches!(
            ReportRequest::parse("2024-1-1x", "2024-03-01", None, None),
            Err(RequestError::BadDate { field: "from", .. })
        ));
        assert!(matches!(
            ReportRequest::parse("2024-01-01", "2024-03-01", Some("week"), None),
            Err(RequestError::BadEvery(_))
        ));
        assert!(matches!(
            ReportRequest::parse("2024-01-01", "2024-03-01", None, Some("0")),
            Err(RequestError::BadWindow(_))
        ));
    }

    /// The abusive request of issue 15 (a thousand years of months) is refused before a
    /// single period is made, naming the parameter and the limit; the longest allowed
    /// range is taken.
    #[test]
    fn requests_are_bounded() {
        let refused = ReportRequest::parse("1000-01-01", "9999-12-01", Some("month"), None).unwrap_err();
        assert_eq!(refused.parameter(), "from");
        assert_eq!(refused.limit(), Some("1900-01-01..2199-12-31"));
        let refused = ReportRequest::parse("2000-01-01", "9999-12-01", None, None).unwrap_err();
        assert_eq!(refused.parameter(), "to");
        let refused = ReportRequest::parse("1900-01-01", "2199-12-01", Some("month"), None).unwrap_err();
        assert_eq!((refused.parameter(), refused.limit()), ("to", Some("240")));
        assert!(refused.to_string().contains("at most 240 monthly periods"), "{refused}");
        let longest = ReportRequest::parse("2000-01-01", "2019-12-01", Some("month"), None).unwrap();
        assert_eq!(longest.periods.len(), limits::MAX_REPORT_PERIODS);
        assert!(ReportRequest::parse("2000-01-01", "2020-01-01", Some("month"), None).is_err());
        let single = ReportRequest::parse("1900-01-01", "2199-12-31", None, None).unwrap();
        assert_eq!(single.periods.len(), 1);
        assert!(single.check_with_accounts().is_ok());
        let refused = longest.check_with_accounts().unwrap_err();
        assert_eq!((refused.parameter(), refused.limit()), ("accounts", Some("24")));
        let two_years = ReportRequest::parse("2000-01-01", "2001-12-01", Some("month"), None).unwrap();
        assert!(two_years.check_with_accounts().is_ok());
    }

    #[test]
    fn plans_and_retention_segments() {
        let plan = |account_id, start: &str, end: Option<&str>, mrr, product: &str| PlanLine {
            line: RevenueLine {
                account_id,
                start_date: day(start),
                end_date: end.map(day),
                mrr: Money::from_units(mrr).unwrap(),
                bill_period_months: 1,
                original: None,
            },
            product: product.to_string(),
        };
        let lines = vec![
            plan(1, "2024-01-01", None, 100, "pro"),
            plan(1, "2024-01-01", None, 20, "addon"),
            plan(2, "2024-01-01", Some("2024-01-20"), 50, "basic"),
            plan(3, "2024-01-15", None, 40, "pro"),
            plan(4, "2023-01-01", Some("2023-06-01"), 40, "basic"),
        ];
        let period = Period {
            from: day("2024-01-01"),
            to: day("2024-02-01"),
        };
        let plans = SegmentBy::Plan(&lines).for_period(period);
        assert_eq!(plans.len(), 3, "account 4 is inactive on both days");
        assert_eq!(
            (plans[&1].as_str(), plans[&2].as_str(), plans[&3].as_str()),
            ("pro", "basic", "pro")
        );

        let revenue: Vec<RevenueLine> = lines.iter().map(|p| p.line).collect();
        let request = ReportRequest::parse("2024-01-01", "2024-02-01", None, None).unwrap();
        let report = retention_report(&revenue, &[], &request, Some(SegmentBy::Plan(&lines)));
        let segments = report[0].segments.as_ref().unwrap();
        let names: Vec<Option<&str>> = segments.iter().map(|s| s.segment.as_deref()).collect();
        assert_eq!(names, [None, Some("basic"), Some("pro")]);
        let churned: u64 = segments.iter().map(|s| s.accounts.churned).sum();
        let start: Money = segments.iter().map(|s| s.mrr.start).sum();
        assert_eq!(churned, report[0].accounts.churned);
        assert_eq!(start, report[0].mrr.start);
        assert_eq!(segments[1].accounts.churn_rate, Some(1.0));
    }

    #[test]
    fn segments_add_up_to_the_total() {
        let lines = vec![
            line(1, "2024-01-01", None, 10),
            line(2, "2024-01-01", Some("2024-01-20"), 20),
            line(3, "2024-01-15", None, 40),
        ];
        let segments = HashMap::from([(1, "web".to_string()), (2, "web".to_string())]);
        let request = ReportRequest::parse("2024-01-01", "2024-02-01", None, None).unwrap();
        let ids = HashMap::from([(1, "a".to_string()), (2, "b".to_string()), (3, "c".to_string())]);
        let report = mrr_report(
            &lines,
            &Rates::none(),
            &request,
            Breakdown {
                segments: Some(SegmentBy::Attribute(&segments)),
                accounts: Some(&ids),
            },
        );
        let growth = report[0].accounts.as_ref().unwrap();
        assert_eq!(growth.len(), 3);
        assert_eq!(
            (growth[0].external_id.as_deref(), growth[0].net_growth),
            (Some("a"), Some(1.0))
        );
        assert_eq!(
            (growth[1].movement, growth[1].net_growth),
            (MovementKind::Churn, Some(0.0))
        );
        assert_eq!((growth[2].movement, growth[2].net_growth), (MovementKind::New, None));
        let parts = report[0].segments.as_ref().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].segment, None);
        assert_eq!(parts[0].summary.movements.new, Money::from_units(40).unwrap());
        assert_eq!(parts[1].summary.movements.churn, Money::from_units(20).unwrap());
        let sum: Money = parts.iter().map(|p| p.summary.movements.end).sum();
        assert_eq!(sum, report[0].summary.movements.end);
        assert_eq!(report[0].summary.gross_revenue_retention, Some(10.0 / 30.0));
    }

    #[test]
    fn the_revenue_pages_months_and_segments_add_up() {
        let lines = vec![
            line(1, "2023-01-01", None, 10),
            line(2, "2023-01-01", Some("2024-02-10"), 20),
            line(3, "2023-06-15", None, 40),
            line(3, "2024-03-01", None, 5),
        ];
        let months = months_with_trailing(&lines, &Rates::none(), day("2024-06-17"), 6);
        assert_eq!(months.len(), 6);
        assert_eq!(months[0].period.from, day("2023-12-01"));
        assert_eq!(months[5].period.to, day("2024-06-01"));
        let last = months[5];
        let year = trailing_year(&last.period);
        assert_eq!((year.from, year.to), (day("2023-06-01"), day("2024-06-01")));
        // The trailing year is the MRR report's over the same twelve months.
        let all = total_movements(&account_movements(&lines, year, &Rates::none()));
        assert_eq!(last.trailing, all);
        // The segments add up to it.
        let segments = HashMap::from([(1, "web".to_string()), (3, "direct".to_string())]);
        let by_segment = movements_by_segment(&lines, &Rates::none(), &segments, year);
        assert_eq!(
            by_segment.iter().map(|(s, _)| s.as_deref()).collect::<Vec<_>>(),
            [None, Some("direct"), Some("web")]
        );
        let sum = |f: fn(&MrrMovements) -> Money| by_segment.iter().map(|(_, m)| f(m)).sum::<Money>();
        assert_eq!(sum(|m| m.start), all.start);
        assert_eq!(sum(|m| m.end), all.end);
        assert_eq!(sum(|m| m.churn), all.churn);
    }
}
