//! Renewals (issue 16), pure: the running contracts renewing in a window — the next 30, 90
//! or 180 days, or a calendar quarter — each with its health, risk and ARR at risk, sorted
//! as asked, with the window's totals. Overdue renewals count in every window that starts
//! today.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::attention::{Attention, Urgency};
use crate::bridge::Quarter;
use crate::model::text_enum;
use crate::money::Money;
use crate::portfolio::AccountSnapshot;

/// Which renewals: those due within some days of today (or overdue), or those due in a
/// calendar quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Days(i64),
    Quarter(Quarter),
}

impl Window {
    /// Whether a renewal on `day` falls in the window on `today`.
    pub fn holds(self, day: NaiveDate, today: NaiveDate) -> bool {
        match self {
            Window::Days(days) => (day - today).num_days() <= days,
            Window::Quarter(q) => {
                let overdue_counts = Quarter::containing(today) == q;
                Quarter::containing(day) == q || (overdue_counts && day < today)
            }
        }
    }
}

text_enum!(RenewalSort { Renewal = "renewal", Arr = "arr", Health = "health", Risk = "risk", Name = "name" });

/// One renewal as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Renewal<'a> {
    pub account: &'a AccountSnapshot,
    pub on: NaiveDate,
    pub days_left: i64,
    pub urgency: Option<Urgency>,
    /// The chance of churn or downsell within 90 days ([`crate::attention::risk`]).
    pub risk: Option<f64>,
    /// Risk × ARR.
    pub arr_at_risk: f64,
}

/// The window's renewals and their totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Renewals<'a> {
    pub rows: Vec<Renewal<'a>>,
    pub arr: Money,
    /// The sum of each renewal's ARR at risk.
    pub arr_at_risk: f64,
    /// The ARR of the renewals whose risk is urgent.
    pub urgent_arr: Money,
    pub urgent: usize,
}

/// The running contracts renewing in `window` on `today`, those `member` covers when
/// given, sorted by `sort` (soonest renewal first by default; `descending` reverses), ties
/// by the larger ARR, then name.
pub fn renewals<'a>(
    accounts: &'a [AccountSnapshot],
    today: NaiveDate,
    window: Window,
    member: Option<i64>,
    attention: &Attention,
    sort: RenewalSort,
    descending: bool,
) -> Renewals<'a> {
    let mut rows: Vec<Renewal<'a>> = accounts
        .iter()
        .filter(|a| !a.mrr.is_zero())
        .filter(|a| member.is_none_or(|m| a.owners.iter().any(|o| o.member_id == m)))
        .filter_map(|a| {
            let on = a.renewal_date.filter(|d| window.holds(*d, today))?;
            let need = attention.need(a);
            Some(Renewal {
                account: a,
                on,
                days_left: (on - today).num_days(),
                urgency: attention.urgency(a.health_score()),
                risk: need.risk,
                arr_at_risk: need.arr_at_risk,
            })
        })
        .collect();
    rows.sort_by(|x, y| {
        let primary = match sort {
            RenewalSort::Renewal => x.on.cmp(&y.on),
            RenewalSort::Arr => y.account.mrr.cmp(&x.account.mrr),
            // Unscored last either way.
            RenewalSort::Health => match (x.account.health_score(), y.account.health_score()) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                (Some(_), None) => return Ordering::Less,
                (None, Some(_)) => return Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
            RenewalSort::Risk => y.arr_at_risk.total_cmp(&x.arr_at_risk),
            RenewalSort::Name => Ordering::Equal,
        };
        let primary = if descending { primary.reverse() } else { primary };
        primary
            .then_with(|| y.account.mrr.cmp(&x.account.mrr))
            .then_with(|| {
                x.account
                    .display_name()
                    .to_lowercase()
                    .cmp(&y.account.display_name().to_lowercase())
            })
            .then_with(|| x.account.id.cmp(&y.account.id))
    });
    let urgent: Vec<&Renewal<'_>> = rows.iter().filter(|r| r.urgency == Some(Urgency::Urgent)).collect();
    Renewals {
        arr: rows.iter().map(|r| r.account.arr()).sum(),
        arr_at_risk: rows.iter().map(|r| r.arr_at_risk).sum(),
        urgent_arr: urgent.iter().map(|r| r.account.arr()).sum(),
        urgent: urgent.len(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::RiskScale;
    use crate::health::model::Calibration;
    use crate::lifecycle::Phase;
    use crate::model::TeamRole;
    use crate::portfolio::{HealthBrief, Owner};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn account(id: i64, renewal: &str, mrr: i64, score: Option<f64>, member: i64) -> AccountSnapshot {
        AccountSnapshot {
            id,
            external_id: format!("a{id}"),
            name: Some(format!("Account {id}")),
            segment: None,
            renewal_date: Some(day(renewal)),
            landed_on: Some(day("2024-01-01")),
            term_months: Some(12),
            mrr: Money::from_units(mrr).unwrap(),
            mrr_before: Money::from_units(mrr).unwrap(),
            owners: vec![Owner {
                role: TeamRole::Csm,
                member_id: member,
                name: format!("m{member}"),
            }],
            health: Some(HealthBrief {
                day: day("2026-12-01"),
                score,
                phase: Phase::Renew,
                phase_reason: String::new(),
                quadrant: None,
                top_driver: None,
                next_renewal: None,
            }),
        }
    }

    #[test]
    fn quarters_read_as_written() {
        let q = Quarter::parse("2026-Q4").unwrap();
        assert_eq!(q.to_string(), "2026-Q4");
        assert_eq!(q.next().to_string(), "2027-Q1");
        for bad in ["2026-Q5", "2026-Q0", "Q4", "2026Q4", ""] {
            assert_eq!(Quarter::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn windows_by_days_and_by_quarter() {
        let today = day("2026-12-03");
        let q4 = Window::Quarter(Quarter::containing(today));
        let q1 = Window::Quarter(Quarter::containing(day("2027-01-01")));
        assert!(q4.holds(day("2026-12-31"), today));
        assert!(
            q4.holds(day("2026-11-20"), today),
            "overdue counts in the current quarter"
        );
        assert!(!q4.holds(day("2027-01-01"), today));
        assert!(q1.holds(day("2027-03-31"), today) && !q1.holds(day("2026-11-20"), today));
        assert!(Window::Days(30).holds(day("2027-01-02"), today));
        assert!(!Window::Days(30).holds(day("2027-01-03"), today));
    }

    #[test]
    fn totals_risk_and_sorting() {
        let today = day("2026-12-03");
        let accounts = vec![
            account(1, "2026-12-10", 1_000, Some(20.0), 7),
            account(2, "2026-12-20", 5_000, Some(80.0), 7),
            account(3, "2027-02-01", 2_000, Some(50.0), 8),
            account(4, "2027-06-01", 9_000, Some(10.0), 7),
        ];
        let scale = RiskScale::new(
            Some(Calibration {
                intercept: 0.0,
                slope: -4.0,
            }),
            Some(0.1),
        );
        let attention = Attention {
            scale,
            ..Attention::default()
        };
        let r = renewals(
            &accounts,
            today,
            Window::Days(90),
            None,
            &attention,
            RenewalSort::Renewal,
            false,
        );
        assert_eq!(r.rows.iter().map(|x| x.account.id).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(r.arr, Money::from_units(96_000).unwrap());
        assert_eq!(
            (r.urgent, r.urgent_arr),
            (1, Money::from_units(12_000).unwrap()),
            "score 20 is urgent"
        );
        let expected: f64 = r.rows.iter().map(|x| x.risk.unwrap() * x.account.arr().to_f64()).sum();
        assert!((r.arr_at_risk - expected).abs() < 1e-6);
        let by_risk = renewals(
            &accounts,
            today,
            Window::Days(90),
            None,
            &attention,
            RenewalSort::Risk,
            false,
        );
        assert_eq!(by_risk.rows[0].account.id, 1, "12,000 ARR at ~31% beats 60,000 at ~4%");
        let mine = renewals(
            &accounts,
            today,
            Window::Days(180),
            Some(7),
            &attention,
            RenewalSort::Arr,
            false,
        );
        assert_eq!(mine.rows.iter().map(|x| x.account.id).collect::<Vec<_>>(), [4, 2, 1]);
        let quarter = Window::Quarter(Quarter::containing(today));
        let q = renewals(&accounts, today, quarter, None, &attention, RenewalSort::Health, true);
        assert_eq!(
            q.rows.iter().map(|x| x.account.id).collect::<Vec<_>>(),
            [2, 1],
            "healthiest first, reversed"
        );
    }
}
