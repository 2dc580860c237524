//! Revenue and retention metrics, as *Fighting Churn With Data* defines them
//! (fightchurn listings 2.1–2.5), plus MRR movements that reconcile exactly.
//!
//! An account is *active on day d* when one of its subscription lines has
//! `start_date <= d` and (`end_date > d` or no end date); its MRR on d is the sum of
//! those lines' MRR. Every definition is written out in docs/metrics.md.

use std::collections::BTreeMap;

use chrono::{Days, Months, NaiveDate};
use serde::Serialize;

use crate::fx::{Original, Rates};
use crate::money::Money;

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The activity day of an instant (microseconds since the Unix epoch): the number of
/// the day D, counted from 1970-01-01, with `D - 1 day < t <= D` at midnight UTC.
/// Exact for instants before 1970 too.
pub fn activity_day(micros: i64) -> i64 {
    if micros > 0 {
        (micros - 1) / MICROS_PER_DAY + 1
    } else {
        1 - (MICROS_PER_DAY - micros) / MICROS_PER_DAY
    }
}

/// Days since 1970-01-01.
pub fn day_number(date: NaiveDate) -> i64 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days()
}

/// The date `days` after 1970-01-01, if representable.
pub fn date_of_day_number(days: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::TimeDelta::try_days(days)?)
}

/// Whether a subscription line from `start` to `end` (the first day it no longer runs;
/// `None` while it runs) is active on `day`: the reference definition (listing 2.1).
pub fn is_active(start: NaiveDate, end: Option<NaiveDate>, day: NaiveDate) -> bool {
    start <= day && end.is_none_or(|end| end > day)
}

/// The part of a subscription line the metrics need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevenueLine {
    pub account_id: i64,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    /// Its MRR in the reporting currency: for a line billed in another currency, at the
    /// latest exchange rate (its value on another day is [`Rates::line_value`]).
    pub mrr: Money,
    pub bill_period_months: i32,
    /// Its MRR in the currency it is billed in, when that is another.
    pub original: Option<Original>,
}

impl RevenueLine {
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        is_active(self.start_date, self.end_date, day)
    }

    /// Whether the line was active on some day before `day`.
    fn was_active_before(&self, day: NaiveDate) -> bool {
        self.start_date < day && self.end_date.is_none_or(|end| end > self.start_date)
    }
}

/// An active account on a day: its MRR, and the sum and count of its lines' billing
/// periods (their average, kept exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActiveAccount {
    pub mrr: Money,
    bill_period_sum: i64,
    lines: i64,
}

impl ActiveAccount {
    /// Whether this account's average billing period is at most `other`'s.
    fn bill_period_at_most(&self, other: &ActiveAccount) -> bool {
        i128::from(self.bill_period_sum) * i128::from(other.lines)
            <= i128::from(other.bill_period_sum) * i128::from(self.lines)
    }
}

/// Each active account's MRR (and billing period) on `day`.
pub fn mrr_by_account(lines: &[RevenueLine], day: NaiveDate) -> BTreeMap<i64, ActiveAccount> {
    let mut by_account: BTreeMap<i64, ActiveAccount> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.is_active_on(day)) {
        let account = by_account.entry(line.account_id).or_default();
        account.mrr += line.mrr;
        account.bill_period_sum += i64::from(line.bill_period_months);
        account.lines += 1;
    }
    by_account
}

/// How a report scales rates and what it counts as downsell: a single period follows
/// listings 2.1–2.5, a monthly series listings 2.6–2.8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Rates scaled by the period's length in days; every MRR decrease is downsell.
    Single,
    /// One-month periods: annual rates are `1 - (1 - r)^12`; a decrease that comes with
    /// a longer average billing period is *extension*, not downsell. The monthly churn
    /// rate, which the series listings lack, stays as listing 2.5 scales it.
    Monthly,
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
    /// Single period: `1 - (1 - churn_rate)^(365 / days)`; monthly: `1 - (1 - churn_rate)^12`.
    pub annual_churn_rate: Option<f64>,
    /// `1 - (1 - churn_rate)^((365 / 12) / days)` (listing 2.5; the series listings have none).
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
    /// Sum of first-day minus last-day MRR over retained accounts whose MRR fell
    /// (monthly: and whose average billing period did not grow).
    pub downsell: Money,
    /// `retained / start`.
    pub net_retention_rate: Option<f64>,
    /// `(churned + downsell) / start`.
    pub churn_rate: Option<f64>,
    /// Monthly series only (listings 2.7, 2.8): the rest, scaled to a year by `^12`, and
    /// MRR decreases that came with a longer billing period.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<MonthlyMrr>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyMrr {
    /// `(retained / start)^12`.
    pub annual_net_retention_rate: Option<f64>,
    /// `1 - (1 - churn_rate)^12`.
    pub annual_churn_rate: Option<f64>,
    /// First-day minus last-day MRR of retained accounts whose MRR fell while their
    /// average billing period grew (e.g. a move to annual billing at a discount).
    pub extension: Money,
    /// `extension / start`.
    pub extension_rate: Option<f64>,
    /// `1 - (1 - extension_rate)^12`.
    pub annual_extension_rate: Option<f64>,
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
    /// The same figures per segment, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<SegmentRetention>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRetention {
    /// The attribute's value; `null` for accounts without one.
    pub segment: Option<String>,
    pub accounts: AccountChurn,
    pub mrr: MrrRetention,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityChurn>,
}

/// Account churn and MRR retention from `period.from` to `period.to`.
pub fn retention(lines: &[RevenueLine], period: Period, series: Series) -> Retention {
    let start = mrr_by_account(lines, period.from);
    let end = mrr_by_account(lines, period.to);
    let mut churned = 0u64;
    let (mut retained, mut churned_mrr) = (Money::ZERO, Money::ZERO);
    let (mut downsell, mut extension) = (Money::ZERO, Money::ZERO);
    for (account, first) in &start {
        match end.get(account) {
            None => {
                churned += 1;
                churned_mrr += first.mrr;
            }
            Some(last) => {
                retained += last.mrr;
                if last.mrr < first.mrr {
                    if series == Series::Monthly && !last.bill_period_at_most(first) {
                        extension += first.mrr - last.mrr;
                    } else {
                        downsell += first.mrr - last.mrr;
                    }
                }
            }
        }
    }
    let start_mrr: Money = start.values().map(|a| a.mrr).sum();
    let churn_rate = ratio(churned as f64, start.len() as f64);
    let days = period.days() as f64;
    let by_days = |days_out: f64| churn_rate.and_then(|r| ratio(days_out, days).map(|e| 1.0 - (1.0 - r).powf(e)));
    let yearly = |rate: Option<f64>| rate.map(|r| 1.0 - (1.0 - r).powi(12));
    let (annual_churn_rate, monthly_churn_rate) = match series {
        Series::Single => (by_days(365.0), by_days(365.0 / 12.0)),
        Series::Monthly => (yearly(churn_rate), by_days(365.0 / 12.0)),
    };
    let net_retention_rate = ratio(retained.to_f64(), start_mrr.to_f64());
    let mrr_churn_rate = ratio((churned_mrr + downsell).to_f64(), start_mrr.to_f64());
    let monthly = (series == Series::Monthly).then(|| {
        let extension_rate = ratio(extension.to_f64(), start_mrr.to_f64());
        MonthlyMrr {
            annual_net_retention_rate: net_retention_rate.map(|r| r.powi(12)),
            annual_churn_rate: yearly(mrr_churn_rate),
            extension,
            extension_rate,
            annual_extension_rate: yearly(extension_rate),
        }
    });
    Retention {
        from: period.from,
        to: period.to,
        accounts: AccountChurn {
            start: start.len() as u64,
            end: end.len() as u64,
            churned,
            churn_rate,
            retention_rate: churn_rate.map(|r| 1.0 - r),
            annual_churn_rate,
            monthly_churn_rate,
        },
        mrr: MrrRetention {
            start: start_mrr,
            retained,
            churned: churned_mrr,
            downsell,
            net_retention_rate,
            churn_rate: mrr_churn_rate,
            monthly,
        },
        activity: None,
        segments: None,
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
/// churn + exchange_rates = end`, exactly. Each day's MRR is at that day's exchange rates;
/// the movements are at the first day's (constant currency), and what the rates did to
/// the last day's MRR is `exchange_rates`.
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
    /// The last day's MRR at its exchange rates less the same at the first day's: zero
    /// when every line is in the reporting currency. Not part of NRR or GRR.
    pub exchange_rates: Money,
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
    /// MRR on the first day, at that day's exchange rates.
    pub start: Money,
    /// MRR on the last day, at that day's exchange rates.
    pub end: Money,
    /// What the exchange rates did to `end`: `end` less the same lines at the first
    /// day's rates.
    pub exchange_rates: Money,
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

/// Every account active on either day of the period, with how its MRR moved: each day's
/// MRR at that day's `rates`, the kind of movement at the first day's. `lines` must be
/// sorted by account.
pub fn account_movements(lines: &[RevenueLine], period: Period, rates: &Rates) -> Vec<AccountMovement> {
    let mut movements = Vec::new();
    for chunk in lines.chunk_by(|a, b| a.account_id == b.account_id) {
        let start: Money = chunk
            .iter()
            .filter(|l| l.is_active_on(period.from))
            .map(|l| rates.line_value(l, period.from))
            .sum();
        let at_end = chunk.iter().filter(|l| l.is_active_on(period.to));
        let end: Money = at_end.clone().map(|l| rates.line_value(l, period.to)).sum();
        // The last day's MRR at the first day's rates: the movement at constant currency.
        let end_constant: Money = at_end.map(|l| rates.line_value(l, period.from)).sum();
        let active_start = chunk.iter().any(|l| l.is_active_on(period.from));
        let active_end = chunk.iter().any(|l| l.is_active_on(period.to));
        let kind = match (active_start, active_end) {
            (false, false) => continue,
            (true, false) => MovementKind::Churn,
            (false, true) if chunk.iter().any(|l| l.was_active_before(period.from)) => MovementKind::Reactivation,
            (false, true) => MovementKind::New,
            (true, true) if end_constant > start => MovementKind::Expansion,
            (true, true) if end_constant < start => MovementKind::Contraction,
            (true, true) => MovementKind::Unchanged,
        };
        movements.push(AccountMovement {
            account_id: chunk[0].account_id,
            start,
            end,
            exchange_rates: end - end_constant,
            kind,
        });
    }
    movements
}

/// The movements of one period, with the logo counts behind its churn rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodMovements {
    pub movements: MrrMovements,
    /// Accounts active on the first day.
    pub accounts_at_start: u64,
    /// Of those, the accounts not active on the last day.
    pub churned_accounts: u64,
}

impl PeriodMovements {
    /// Churned accounts over accounts at the start (listing 2.2's churn rate).
    pub fn logo_churn_rate(&self) -> Option<f64> {
        ratio(self.churned_accounts as f64, self.accounts_at_start as f64)
    }
}

/// The same figures as [`account_movements`] and [`total_movements`] for many periods at
/// once: each account's MRR is summed once per distinct day of the periods instead of
/// once per period, which makes a two-year monthly series with trailing-year figures a
/// few passes over the lines. `lines` must be sorted by account.
pub fn movements_of_periods(lines: &[RevenueLine], periods: &[Period], rates: &Rates) -> Vec<PeriodMovements> {
    let mut days: Vec<NaiveDate> = periods.iter().flat_map(|p| [p.from, p.to]).collect();
    days.sort_unstable();
    days.dedup();
    let index = |day: NaiveDate| days.binary_search(&day).unwrap_or_default();
    let pairs: Vec<(usize, usize)> = periods.iter().map(|p| (index(p.from), index(p.to))).collect();
    let mut results = vec![PeriodMovements::default(); periods.len()];
    let mut mrr = vec![Money::ZERO; days.len()];
    let mut active = vec![false; days.len()];
    for chunk in lines.chunk_by(|a, b| a.account_id == b.account_id) {
        // A line that ends before it starts never ran: it makes nobody a former customer.
        let first_run = chunk
            .iter()
            .filter(|l| l.end_date.is_none_or(|end| end > l.start_date))
            .map(|l| l.start_date)
            .min();
        for (i, day) in days.iter().enumerate() {
            let running = chunk.iter().filter(|l| l.is_active_on(*day));
            let (mut sum, mut any) = (Money::ZERO, false);
            for line in running {
                sum += rates.line_value(line, *day);
                any = true;
            }
            mrr[i] = sum;
            active[i] = any;
        }
        let foreign = chunk.iter().any(|l| l.original.is_some());
        for ((from, to), result) in pairs.iter().zip(results.iter_mut()) {
            let (start, actual_end) = (mrr[*from], mrr[*to]);
            // The last day's MRR at the first day's rates (only lines in another
            // currency differ).
            let end = if foreign {
                chunk
                    .iter()
                    .filter(|l| l.is_active_on(days[*to]))
                    .map(|l| rates.line_value(l, days[*from]))
                    .sum()
            } else {
                actual_end
            };
            let total = &mut result.movements;
            match (active[*from], active[*to]) {
                (false, false) => continue,
                (true, false) => {
                    total.churn += start;
                    result.churned_accounts += 1;
                }
                (false, true) if first_run.is_some_and(|first| first < days[*from]) => total.reactivation += end,
                (false, true) => total.new += end,
                (true, true) if end > start => total.expansion += end - start,
                (true, true) if end < start => total.contraction += start - end,
                (true, true) => {}
            }
            if active[*from] {
                result.accounts_at_start += 1;
            }
            total.start += start;
            total.exchange_rates += actual_end - end;
            total.end += actual_end;
        }
    }
    results
}

/// Sums account movements into the period's movements.
pub fn total_movements<'a>(accounts: impl IntoIterator<Item = &'a AccountMovement>) -> MrrMovements {
    let mut total = MrrMovements::default();
    for a in accounts {
        total.start += a.start;
        total.end += a.end;
        total.exchange_rates += a.exchange_rates;
        let amount = a.amount();
        match a.kind {
            MovementKind::New => total.new += amount,
            MovementKind::Reactivation => total.reactivation += amount,
            MovementKind::Expansion => total.expansion += amount,
            MovementKind::Contraction => total.contraction += amount,
            MovementKind::Churn => total.churn += amount,
            MovementKind::Unchanged => {}
        }
    }
    total
}

impl AccountMovement {
    /// What the account adds to its kind's figure: the MRR it brought (new,
    /// reactivation), gained (expansion), lost (contraction) or took away (churn), at the
    /// first day's exchange rates.
    pub fn amount(&self) -> Money {
        let end = self.end - self.exchange_rates;
        match self.kind {
            MovementKind::New | MovementKind::Reactivation => end,
            MovementKind::Expansion => end - self.start,
            MovementKind::Contraction => self.start - end,
            MovementKind::Churn => self.start,
            MovementKind::Unchanged => Money::default(),
        }
    }
}

impl MovementKind {
    pub const ALL: [MovementKind; 6] = [
        MovementKind::New,
        MovementKind::Expansion,
        MovementKind::Contraction,
        MovementKind::Churn,
        MovementKind::Reactivation,
        MovementKind::Unchanged,
    ];

    /// `new`, `expansion`, ... as the reports' JSON names them.
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::New => "new",
            MovementKind::Reactivation => "reactivation",
            MovementKind::Expansion => "expansion",
            MovementKind::Contraction => "contraction",
            MovementKind::Churn => "churn",
            MovementKind::Unchanged => "unchanged",
        }
    }

    pub fn parse(text: &str) -> Option<MovementKind> {
        MovementKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// The accounts behind one figure of the movements (issue 16's drill-down): those of
/// `kind`, the largest amount first, then by account id. Their amounts add up to the
/// figure.
pub fn accounts_of_kind(movements: &[AccountMovement], kind: MovementKind) -> Vec<AccountMovement> {
    let mut of_kind: Vec<AccountMovement> = movements.iter().filter(|m| m.kind == kind).copied().collect();
    of_kind.sort_by(|a, b| b.amount().cmp(&a.amount()).then(a.account_id.cmp(&b.account_id)));
    of_kind
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
            bill_period_months: 1,
            original: None,
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
        let r = retention(&lines, period("2024-01-01", "2024-02-01"), Series::Single);
        assert_eq!((r.accounts.start, r.accounts.end, r.accounts.churned), (4, 4, 1));
        assert_eq!(r.accounts.churn_rate, Some(0.25));
        assert_eq!(r.mrr.start, Money::from_units(360).unwrap());
        assert_eq!(r.mrr.retained, Money::from_units(100 + 120 + 25).unwrap());
        assert_eq!(r.mrr.churned, Money::from_units(50).unwrap());
        assert_eq!(r.mrr.downsell, Money::from_units(80).unwrap());
        assert_eq!(r.mrr.churn_rate, Some(130.0 / 360.0));
        let annual = 1.0 - 0.75_f64.powf(365.0 / 31.0);
        assert_eq!(r.accounts.annual_churn_rate, Some(annual));

        let moves = total_movements(&account_movements(
            &lines,
            period("2024-01-01", "2024-02-01"),
            &Rates::none(),
        ));
        assert_eq!(moves.new, Money::from_units(30).unwrap());
        assert_eq!(moves.expansion, Money::from_units(15).unwrap());
        assert_eq!(moves.contraction, Money::from_units(80).unwrap());
        assert_eq!(moves.churn, Money::from_units(50).unwrap());
        assert_eq!(moves.end, Money::from_units(100 + 120 + 30 + 25).unwrap());
    }

    #[test]
    fn a_monthly_series_separates_extension_from_downsell() {
        let mut to_annual = line(1, "2024-01-15", None, 90);
        to_annual.bill_period_months = 12;
        let lines = vec![
            line(1, "2023-12-01", Some("2024-01-15"), 100),
            to_annual,
            line(2, "2023-12-01", Some("2024-01-15"), 100),
            line(2, "2024-01-15", None, 70),
        ];
        let p = period("2024-01-01", "2024-02-01");
        let single = retention(&lines, p, Series::Single);
        assert_eq!(single.mrr.downsell, Money::from_units(40).unwrap());
        assert!(single.mrr.monthly.is_none());
        let monthly = retention(&lines, p, Series::Monthly);
        assert_eq!(monthly.mrr.downsell, Money::from_units(30).unwrap());
        let extra = monthly.mrr.monthly.unwrap();
        assert_eq!(extra.extension, Money::from_units(10).unwrap());
        assert_eq!(extra.extension_rate, Some(10.0 / 200.0));
        assert_eq!(extra.annual_net_retention_rate, Some((160.0_f64 / 200.0).powi(12)));
        assert_eq!(monthly.accounts.monthly_churn_rate, Some(0.0));
    }

    #[test]
    fn no_starting_accounts_gives_no_rates() {
        let r = retention(
            &[line(1, "2024-03-01", None, 5)],
            period("2024-01-01", "2024-02-01"),
            Series::Single,
        );
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
        let moves = account_movements(&lines, period("2024-01-01", "2024-02-01"), &Rates::none());
        assert_eq!(moves[0].kind, MovementKind::Reactivation);
        // A line that ended the day it started was never active.
        let lines = vec![
            line(1, "2023-01-01", Some("2023-01-01"), 10),
            line(1, "2024-01-15", None, 40),
        ];
        assert_eq!(
            account_movements(&lines, period("2024-01-01", "2024-02-01"), &Rates::none())[0].kind,
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
    fn activity_days_put_midnight_in_the_day_it_ends() {
        let jan2 = day_number(day("2024-01-02"));
        let midnight = jan2 * MICROS_PER_DAY;
        assert_eq!(activity_day(midnight), jan2);
        assert_eq!(activity_day(midnight + 1), jan2 + 1);
        assert_eq!(activity_day(midnight - MICROS_PER_DAY + 1), jan2);
        for t in [-MICROS_PER_DAY - 1, -MICROS_PER_DAY, -1, 0, 1, MICROS_PER_DAY] {
            let d = activity_day(t);
            assert!((d - 1) * MICROS_PER_DAY < t && t <= d * MICROS_PER_DAY, "{t} -> {d}");
        }
        assert_eq!(date_of_day_number(jan2), Some(day("2024-01-02")));
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
            (
                0i64..12,
                0u64..120,
                proptest::option::of(0u64..90),
                -50i64..500,
                proptest::sample::select(vec![1, 6, 12]),
            ),
            0..60,
        )
        .prop_map(move |raw| {
            let mut lines: Vec<RevenueLine> = raw
                .into_iter()
                .map(|(account_id, start, length, mrr, bill_period_months)| {
                    let start_date = base + Days::new(start);
                    RevenueLine {
                        account_id,
                        start_date,
                        end_date: length.map(|l| start_date + Days::new(l)),
                        mrr: Money::from_ten_thousandths(mrr * 2_500),
                        bill_period_months,
                        original: None,
                    }
                })
                .collect();
            lines.sort_by_key(|l| l.account_id);
            lines
        })
    }

    /// Periods (start, length in days) counted from 2024-01-01.
    fn periods_from(starts: &[(u64, u64)]) -> Vec<Period> {
        starts
            .iter()
            .map(|(from, length)| {
                let from = day("2024-01-01") + Days::new(*from);
                Period {
                    from,
                    to: from + Days::new(*length),
                }
            })
            .collect()
    }

    /// Lines of which some are billed in euros, and euro rates that move every 10 days.
    fn arb_foreign() -> impl Strategy<Value = (Vec<RevenueLine>, Rates)> {
        let eur: crate::fx::Currency = "eur".parse().unwrap();
        (
            arb_lines(),
            proptest::collection::vec(any::<bool>(), 0..60),
            proptest::collection::vec(50_000_000i64..200_000_000, 1..20),
        )
            .prop_map(move |(mut lines, foreign, rates)| {
                for (line, f) in lines.iter_mut().zip(foreign) {
                    if f {
                        line.original = Some(Original {
                            currency: eur,
                            mrr: line.mrr,
                        });
                    }
                }
                let rates = Rates::new(rates.into_iter().enumerate().map(|(i, r)| crate::fx::DatedRate {
                    currency: eur,
                    day: day("2024-01-01") + Days::new(10 * i as u64),
                    rate: crate::fx::Rate::from_scaled(r).unwrap(),
                }));
                (lines, rates)
            })
    }

    /// An account billed in euros whose contract does not change: no movement but the
    /// exchange rates'; one that grows: its growth at the first day's rate.
    #[test]
    fn exchange_rates_are_a_movement_of_their_own() {
        let eur: crate::fx::Currency = "eur".parse().unwrap();
        let rate = |d: &str, r: &str| crate::fx::DatedRate {
            currency: eur,
            day: day(d),
            rate: r.parse().unwrap(),
        };
        let rates = Rates::new([rate("2024-01-01", "1.1"), rate("2024-02-01", "1.2")]);
        let euros = |account_id, start: &str, end: Option<&str>, amount: &str| {
            let mrr: Money = amount.parse().unwrap();
            RevenueLine {
                account_id,
                start_date: day(start),
                end_date: end.map(day),
                mrr,
                bill_period_months: 1,
                original: Some(Original { currency: eur, mrr }),
            }
        };
        let lines = [
            euros(1, "2023-06-01", None, "100"),
            euros(2, "2023-06-01", Some("2024-01-15"), "100"),
            euros(2, "2024-01-15", None, "150"),
        ];
        let p = period("2024-01-01", "2024-02-01");
        let m = total_movements(&account_movements(&lines, p, &rates));
        let money = |s: &str| s.parse::<Money>().unwrap();
        assert_eq!((m.start, m.end), (money("220"), money("300")));
        assert_eq!(
            (m.expansion, m.contraction, m.exchange_rates),
            (money("55"), Money::ZERO, money("25"))
        );
        assert_eq!(m.net_revenue_retention(), Some(275.0 / 220.0));
        let unchanged = account_movements(&lines, p, &rates)[0];
        assert_eq!(
            (unchanged.kind, unchanged.exchange_rates),
            (MovementKind::Unchanged, money("10"))
        );
        // Without rates, the stored MRR.
        assert_eq!(
            total_movements(&account_movements(&lines, p, &Rates::none())).exchange_rates,
            Money::ZERO
        );
    }

    proptest! {
        /// With lines in another currency, the movements still reconcile (the exchange
        /// rates' line included), the rates move nothing else when they do not change, and
        /// many periods at once agree with each alone.
        #[test]
        fn movements_reconcile_across_currencies((lines, rates) in arb_foreign(), starts in proptest::collection::vec((0u64..150, 1u64..60), 1..4)) {
            let periods = periods_from(&starts);
            let together = movements_of_periods(&lines, &periods, &rates);
            for (p, t) in periods.iter().zip(&together) {
                let m = total_movements(&account_movements(&lines, *p, &rates));
                prop_assert_eq!(m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn + m.exchange_rates, m.end);
                prop_assert_eq!(t.movements, m);
                if rates.on("eur".parse().unwrap(), p.from) == rates.on("eur".parse().unwrap(), p.to) {
                    prop_assert_eq!(m.exchange_rates, Money::ZERO);
                }
            }
        }

        /// The movements reconcile exactly, and agree with the book's figures.
        #[test]
        fn movements_reconcile(lines in arb_lines(), from in 0u64..150, length in 1u64..60) {
            let from = day("2024-01-01") + Days::new(from);
            let p = Period { from, to: from + Days::new(length) };
            let m = total_movements(&account_movements(&lines, p, &Rates::none()));
            prop_assert_eq!(m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn, m.end);
            let r = retention(&lines, p, Series::Single);
            prop_assert_eq!(m.start, r.mrr.start);
            prop_assert_eq!(m.churn, r.mrr.churned);
            prop_assert_eq!(m.start - m.churn - m.contraction + m.expansion, r.mrr.retained);
            prop_assert_eq!(m.contraction, r.mrr.downsell);
            // A monthly series splits the same decreases into downsell and extension.
            let monthly = retention(&lines, p, Series::Monthly);
            let extension = monthly.mrr.monthly.as_ref().map(|x| x.extension).unwrap_or_default();
            prop_assert_eq!(monthly.mrr.downsell + extension, m.contraction);
        }

        /// Many periods at once give what each period gives alone.
        #[test]
        fn many_periods_at_once_agree(lines in arb_lines(), starts in proptest::collection::vec((0u64..150, 1u64..60), 1..6)) {
            let periods = periods_from(&starts);
            let together = movements_of_periods(&lines, &periods, &Rates::none());
            for (p, t) in periods.iter().zip(&together) {
                prop_assert_eq!(t.movements, total_movements(&account_movements(&lines, *p, &Rates::none())));
                let r = retention(&lines, *p, Series::Single);
                prop_assert_eq!(t.accounts_at_start, r.accounts.start);
                prop_assert_eq!(t.churned_accounts, r.accounts.churned);
                prop_assert_eq!(t.logo_churn_rate(), r.accounts.churn_rate);
            }
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
            let r = retention(&lines, Period { from, to }, Series::Single);
            prop_assert_eq!(r.accounts.start, a.len() as u64);
            prop_assert_eq!(r.accounts.end, b.len() as u64);
            prop_assert_eq!(r.accounts.churned, a.difference(&b).count() as u64);
        }
    }
}
