//! Revenue and retention metrics, as *Fighting Churn With Data* defines them
//! (fightchurn listings 2.1–2.5), plus MRR movements that reconcile exactly.
//!
//! An account is *active on day d* when one of its subscription lines has
//! `start_date <= d` and (`end_date > d` or no end date); its MRR on d is the sum of
//! those lines' MRR. Every definition is written out in docs/metrics.md.

use std::collections::BTreeMap;

use chrono::{Days, Months, NaiveDate};
use serde::Serialize;

use crate::money::Money;

/// The part of a subscription line the metrics need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevenueLine {
    pub account_id: i64,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub mrr: Money,
}

impl RevenueLine {
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.start_date <= day && self.end_date.is_none_or(|end| end > day)
    }

    /// Whether the line was active on some day before `day`.
    fn was_active_before(&self, day: NaiveDate) -> bool {
        self.start_date < day && self.end_date.is_none_or(|end| end > self.start_date)
    }
}

/// Each active account's MRR on `day`.
pub fn mrr_by_account(lines: &[RevenueLine], day: NaiveDate) -> BTreeMap<i64, Money> {
    let mut by_account = BTreeMap::new();
    for line in lines.iter().filter(|l| l.is_active_on(day)) {
        *by_account.entry(line.account_id).or_insert(Money::ZERO) += line.mrr;
    }
    by_account
}

/// A period from one day to a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days()
    }
}

/// The monthly periods of `generate_series(from, to, interval '1 month')` (listings
/// 2.6–2.8): starts one month apart from `from` up to and including `to`, each period one
/// month long. Adding a month clamps to the month's end, and each start is the previous
/// start plus a month, as PostgreSQL computes it.
pub fn monthly_periods(from: NaiveDate, to: NaiveDate) -> Vec<Period> {
    let mut periods = Vec::new();
    let mut start = from;
    while start <= to {
        let Some(end) = start.checked_add_months(Months::new(1)) else {
            break;
        };
        periods.push(Period { from: start, to: end });
        start = end;
    }
    periods
}

/// `numerator / denominator`, or `None` when the denominator is zero.
fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

/// Account churn over a period (listings 2.2 and 2.5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountChurn {
    /// Accounts active on the first day.
    pub start: u64,
    /// Accounts active on the last day (retained and new).
    pub end: u64,
    /// Accounts active on the first day and not on the last.
    pub churned: u64,
    pub churn_rate: Option<f64>,
    pub retention_rate: Option<f64>,
    /// The churn rate scaled to 365 days: `1 - (1 - churn_rate)^(365 / days)`.
    pub annual_churn_rate: Option<f64>,
    /// Scaled to a month of 365/12 days.
    pub monthly_churn_rate: Option<f64>,
}

/// MRR retention and churn over a period (listings 2.1 and 2.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MrrRetention {
    /// MRR on the first day of the accounts active then.
    pub start: Money,
    /// MRR on the last day of the accounts active on both days.
    pub retained: Money,
    /// MRR on the first day of the churned accounts.
    pub churned: Money,
    /// Sum of first-day minus last-day MRR over retained accounts whose MRR fell.
    pub downsell: Money,
    /// `retained / start`.
    pub net_retention_rate: Option<f64>,
    /// `(churned + downsell) / start`.
    pub churn_rate: Option<f64>,
}

/// Activity churn over a period (listing 2.3): accounts with an event in the window
/// before the first day that have none in the window before the last day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityChurn {
    pub window_days: u32,
    pub start: u64,
    pub churned: u64,
    pub churn_rate: Option<f64>,
}

/// Every retention figure of one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retention {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub accounts: AccountChurn,
    pub mrr: MrrRetention,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityChurn>,
}

/// Account churn and MRR retention from `period.from` to `period.to`.
pub fn retention(lines: &[RevenueLine], period: Period) -> Retention {
    let start = mrr_by_account(lines, period.from);
    let end = mrr_by_account(lines, period.to);
    let mut churned = 0u64;
    let (mut retained, mut churned_mrr, mut downsell) = (Money::ZERO, Money::ZERO, Money::ZERO);
    for (account, start_mrr) in &start {
        match end.get(account) {
            None => {
                churned += 1;
                churned_mrr += *start_mrr;
            }
            Some(end_mrr) => {
                retained += *end_mrr;
                if end_mrr < start_mrr {
                    downsell += *start_mrr - *end_mrr;
                }
            }
        }
    }
    let start_mrr: Money = start.values().copied().sum();
    let churn_rate = ratio(churned as f64, start.len() as f64);
    let days = period.days() as f64;
    let scaled = |days_out: f64| churn_rate.and_then(|r| ratio(days_out, days).map(|e| 1.0 - (1.0 - r).powf(e)));
    Retention {
        from: period.from,
        to: period.to,
        accounts: AccountChurn {
            start: start.len() as u64,
            end: end.len() as u64,
            churned,
            churn_rate,
            retention_rate: churn_rate.map(|r| 1.0 - r),
            annual_churn_rate: scaled(365.0),
            monthly_churn_rate: scaled(365.0 / 12.0),
        },
        mrr: MrrRetention {
            start: start_mrr,
            retained,
            churned: churned_mrr,
            downsell,
            net_retention_rate: ratio(retained.to_f64(), start_mrr.to_f64()),
            churn_rate: ratio((churned_mrr + downsell).to_f64(), start_mrr.to_f64()),
        },
        activity: None,
    }
}

/// The days on which an account had activity, as window buckets: an event at instant t
/// falls in the bucket of the day d with `d - 1 day < t <= d` (midnight UTC), so that a
/// window `(D - w days, D]` is the buckets `D - w + 1 ..= D`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityDays {
    pub account_id: i64,
    /// Sorted, distinct.
    pub days: Vec<NaiveDate>,
}

impl ActivityDays {
    /// Whether the account had an event in the `window_days` before midnight of `day`.
    pub fn active_before(&self, day: NaiveDate, window_days: u32) -> bool {
        if window_days == 0 {
            return false;
        }
        let Some(first) = day.checked_sub_days(Days::new(u64::from(window_days - 1))) else {
            return false;
        };
        let at = self.days.partition_point(|d| *d < first);
        self.days.get(at).is_some_and(|d| *d <= day)
    }
}

/// Activity churn for the period (listing 2.3).
pub fn activity_churn(activity: &[ActivityDays], period: Period, window_days: u32) -> ActivityChurn {
    let mut start = 0u64;
    let mut churned = 0u64;
    for account in activity {
        if account.active_before(period.from, window_days) {
            start += 1;
            if !account.active_before(period.to, window_days) {
                churned += 1;
            }
        }
    }
    ActivityChurn {
        window_days,
        start,
        churned,
        churn_rate: ratio(churned as f64, start as f64),
    }
}

/// How MRR moved over a period. `start + new + reactivation + expansion - contraction -
/// churn = end`, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MrrMovements {
    pub start: Money,
    /// Accounts active on the last day that had never been active before the first day.
    pub new: Money,
    /// Accounts active on the last day, inactive on the first, active at some time before.
    pub reactivation: Money,
    /// Increases of accounts active on both days.
    pub expansion: Money,
    /// Decreases of accounts active on both days (a positive amount).
    pub contraction: Money,
    /// First-day MRR of accounts not active on the last day (a positive amount).
    pub churn: Money,
    pub end: Money,
}

impl MrrMovements {
    /// Net revenue retention: MRR kept and grown from the starting accounts, over start MRR.
    pub fn net_revenue_retention(&self) -> Option<f64> {
        ratio(
            (self.start - self.churn - self.contraction + self.expansion).to_f64(),
            self.start.to_f64(),
        )
    }

    /// Gross revenue retention: MRR kept from the starting accounts, without expansion.
    pub fn gross_revenue_retention(&self) -> Option<f64> {
        ratio(
            (self.start - self.churn - self.contraction).to_f64(),
            self.start.to_f64(),
        )
    }
}

/// Each account's part of the movements, for per-account net growth and segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountMovement {
    pub account_id: i64,
    pub start: Money,
    pub end: Money,
    pub kind: MovementKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    New,
    Reactivation,
    Expansion,
    Contraction,
    Churn,
    Unchanged,
}

/// Every account active on either day of the period, with how its MRR moved.
/// `lines` must be sorted by account.
pub fn account_movements(lines: &[RevenueLine], period: Period) -> Vec<AccountMovement> {
    let mut movements = Vec::new();
    for chunk in lines.chunk_by(|a, b| a.account_id == b.account_id) {
        let start: Money = chunk
            .iter()
            .filter(|l| l.is_active_on(period.from))
            .map(|l| l.mrr)
            .sum();
        let end: Money = chunk.iter().filter(|l| l.is_active_on(period.to)).map(|l| l.mrr).sum();
        let active_start = chunk.iter().any(|l| l.is_active_on(period.from));
        let active_end = chunk.iter().any(|l| l.is_active_on(period.to));
        let kind = match (active_start, active_end) {
            (false, false) => continue,
            (true, false) => MovementKind::Churn,
            (false, true) if chunk.iter().any(|l| l.was_active_before(period.from)) => MovementKind::Reactivation,
            (false, true) => MovementKind::New,
            (true, true) if end > start => MovementKind::Expansion,
            (true, true) if end < start => MovementKind::Contraction,
            (true, true) => MovementKind::Unchanged,
        };
        movements.push(AccountMovement {
            account_id: chunk[0].account_id,
            start,
            end,
            kind,
        });
    }
    movements
}

/// Sums account movements into the period's movements.
pub fn total_movements<'a>(accounts: impl IntoIterator<Item = &'a AccountMovement>) -> MrrMovements {
    let mut total = MrrMovements::default();
    for a in accounts {
        total.start += a.start;
        total.end += a.end;
        match a.kind {
            MovementKind::New => total.new += a.end,
            MovementKind::Reactivation => total.reactivation += a.end,
            MovementKind::Expansion => total.expansion += a.end - a.start,
            MovementKind::Contraction => total.contraction += a.start - a.end,
            MovementKind::Churn => total.churn += a.start,
            MovementKind::Unchanged => {}
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn line(account_id: i64, start: &str, end: Option<&str>, mrr: i64) -> RevenueLine {
        RevenueLine {
            account_id,
            start_date: day(start),
            end_date: end.map(day),
            mrr: Money::from_units(mrr).unwrap(),
        }
    }

    fn period(from: &str, to: &str) -> Period {
        Period {
            from: day(from),
            to: day(to),
        }
    }

    #[test]
    fn a_worked_example() {
        let lines = vec![
            line(1, "2024-01-01", None, 100),              // retained, flat
            line(2, "2024-01-01", Some("2024-02-01"), 50), // churns on the last day
            line(3, "2024-01-01", None, 200),              // downsells to 120
            line(3, "2024-01-15", None, -80),
            line(4, "2024-01-10", None, 30), // new
            line(5, "2024-01-01", None, 10), // expands to 25
            line(5, "2024-01-20", None, 15),
        ];
        let r = retention(&lines, period("2024-01-01", "2024-02-01"));
        assert_eq!((r.accounts.start, r.accounts.end, r.accounts.churned), (4, 4, 1));
        assert_eq!(r.accounts.churn_rate, Some(0.25));
        assert_eq!(r.mrr.start, Money::from_units(360).unwrap());
        assert_eq!(r.mrr.retained, Money::from_units(100 + 120 + 25).unwrap());
        assert_eq!(r.mrr.churned, Money::from_units(50).unwrap());
        assert_eq!(r.mrr.downsell, Money::from_units(80).unwrap());
        assert_eq!(r.mrr.churn_rate, Some(130.0 / 360.0));
        let annual = 1.0 - 0.75_f64.powf(365.0 / 31.0);
        assert_eq!(r.accounts.annual_churn_rate, Some(annual));

        let moves = total_movements(&account_movements(&lines, period("2024-01-01", "2024-02-01")));
        assert_eq!(moves.new, Money::from_units(30).unwrap());
        assert_eq!(moves.expansion, Money::from_units(15).unwrap());
        assert_eq!(moves.contraction, Money::from_units(80).unwrap());
        assert_eq!(moves.churn, Money::from_units(50).unwrap());
        assert_eq!(moves.end, Money::from_units(100 + 120 + 30 + 25).unwrap());
    }

    #[test]
    fn no_starting_accounts_gives_no_rates() {
        let r = retention(&[line(1, "2024-03-01", None, 5)], period("2024-01-01", "2024-02-01"));
        assert_eq!(r.accounts.start, 0);
        assert_eq!(r.accounts.end, 0);
        assert_eq!(r.accounts.churn_rate, None);
        assert_eq!(r.mrr.net_retention_rate, None);
    }

    #[test]
    fn a_returning_account_is_a_reactivation() {
        let lines = vec![
            line(1, "2023-01-01", Some("2023-06-01"), 10),
            line(1, "2024-01-15", None, 40),
        ];
        let moves = account_movements(&lines, period("2024-01-01", "2024-02-01"));
        assert_eq!(moves[0].kind, MovementKind::Reactivation);
        // A line that ended the day it started was never active.
        let lines = vec![
            line(1, "2023-01-01", Some("2023-01-01"), 10),
            line(1, "2024-01-15", None, 40),
        ];
        assert_eq!(
            account_movements(&lines, period("2024-01-01", "2024-02-01"))[0].kind,
            MovementKind::New
        );
    }

    #[test]
    fn monthly_periods_follow_postgres_month_arithmetic() {
        let p = monthly_periods(day("2024-01-31"), day("2024-04-30"));
        let starts: Vec<String> = p.iter().map(|p| p.from.to_string()).collect();
        assert_eq!(starts, ["2024-01-31", "2024-02-29", "2024-03-29", "2024-04-29"]);
        assert_eq!(p[0].to, day("2024-02-29"));
        assert_eq!(monthly_periods(day("2024-01-01"), day("2024-01-01")).len(), 1);
        assert!(monthly_periods(day("2024-02-01"), day("2024-01-01")).is_empty());
    }

    #[test]
    fn activity_windows_end_at_midnight_of_the_day() {
        let a = ActivityDays {
            account_id: 1,
            days: vec![day("2024-01-10"), day("2024-02-20")],
        };
        assert!(a.active_before(day("2024-01-10"), 1));
        assert!(!a.active_before(day("2024-01-09"), 7));
        assert!(a.active_before(day("2024-01-16"), 7));
        assert!(!a.active_before(day("2024-01-17"), 7));
        assert!(!a.active_before(day("2024-01-10"), 0));
        let churn = activity_churn(&[a], period("2024-01-15", "2024-02-15"), 14);
        assert_eq!((churn.start, churn.churned), (1, 1));
    }

    fn arb_lines() -> impl Strategy<Value = Vec<RevenueLine>> {
        let base = day("2024-01-01");
        proptest::collection::vec(
            (0i64..12, 0u64..120, proptest::option::of(0u64..90), -50i64..500),
            0..60,
        )
        .prop_map(move |raw| {
            let mut lines: Vec<RevenueLine> = raw
                .into_iter()
                .map(|(account_id, start, length, mrr)| {
                    let start_date = base + Days::new(start);
                    RevenueLine {
                        account_id,
                        start_date,
                        end_date: length.map(|l| start_date + Days::new(l)),
                        mrr: Money::from_ten_thousandths(mrr * 2_500),
                    }
                })
                .collect();
            lines.sort_by_key(|l| l.account_id);
            lines
        })
    }

    proptest! {
        /// The movements reconcile exactly, and agree with the book's figures.
        #[test]
        fn movements_reconcile(lines in arb_lines(), from in 0u64..150, length in 1u64..60) {
            let from = day("2024-01-01") + Days::new(from);
            let p = Period { from, to: from + Days::new(length) };
            let m = total_movements(&account_movements(&lines, p));
            prop_assert_eq!(m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn, m.end);
            let r = retention(&lines, p);
            prop_assert_eq!(m.start, r.mrr.start);
            prop_assert_eq!(m.churn, r.mrr.churned);
            prop_assert_eq!(m.start - m.churn - m.contraction + m.expansion, r.mrr.retained);
            prop_assert_eq!(m.contraction, r.mrr.downsell);
        }

        /// Counts against a day-by-day recomputation from the definition.
        #[test]
        fn account_counts_match_the_definition(lines in arb_lines(), from in 0u64..150, length in 1u64..60) {
            let from = day("2024-01-01") + Days::new(from);
            let to = from + Days::new(length);
            let active = |d: NaiveDate| -> std::collections::BTreeSet<i64> {
                lines.iter().filter(|l| l.start_date <= d && (l.end_date.is_none() || l.end_date.unwrap() > d)).map(|l| l.account_id).collect()
            };
            let (a, b) = (active(from), active(to));
            let r = retention(&lines, Period { from, to });
            prop_assert_eq!(r.accounts.start, a.len() as u64);
            prop_assert_eq!(r.accounts.end, b.len() as u64);
            prop_assert_eq!(r.accounts.churned, a.difference(&b).count() as u64);
        }
    }
}
