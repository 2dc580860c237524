//! The NRR bridge: how MRR moved over a calendar quarter (start, new, expansion,
//! contraction, churn, reactivation, end) broken down by a group each account belongs
//! to — its LAER phase or its owner in a role — so that the groups add up, exactly, to
//! the quarter's movements as `laer report mrr` gives them (docs/metrics.md).
//!
//! Accounts are grouped as they stood on the quarter's first day: their phase then (for
//! an account that was not a customer yet, land; for one that had left, churned), their
//! owner then. An account that was not a customer on the first day (new, or won back in
//! the quarter) counts under whoever covered it on its first day as a customer in the
//! quarter, the day it landed or came back; nobody: unassigned.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;

use crate::fx::Rates;
use crate::lifecycle::Phase;
use crate::model::TeamRole;
use crate::money::Money;
use crate::portfolio::Owner;
use crate::retention::{
    AccountMovement, MovementKind, MrrMovements, Period, RevenueLine, account_movements, total_movements,
};

/// A calendar quarter: January–March is Q1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    year: i32,
    /// 1 to 4.
    number: u32,
}

impl Quarter {
    /// The quarter `day` falls in.
    pub fn containing(day: NaiveDate) -> Quarter {
        Quarter {
            year: day.year(),
            number: day.month0() / 3 + 1,
        }
    }

    /// Its first day, if representable.
    pub fn first_day(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, (self.number - 1) * 3 + 1, 1)
    }

    /// `2026-Q4` as written by [`fmt::Display`]; `None` otherwise.
    pub fn parse(text: &str) -> Option<Quarter> {
        let (year, number) = text.trim().split_once("-Q")?;
        let quarter = Quarter {
            year: year.parse().ok()?,
            number: number.parse().ok().filter(|n| (1..=4).contains(n))?,
        };
        quarter.first_day().map(|_| quarter)
    }

    /// The quarter after.
    pub fn next(self) -> Quarter {
        match self.number {
            4 => Quarter {
                year: self.year.saturating_add(1),
                number: 1,
            },
            n => Quarter {
                year: self.year,
                number: n + 1,
            },
        }
    }

    /// From its first day to the next quarter's first day: movements compare MRR on the
    /// two, as `laer report mrr --from FIRST --to NEXT` does.
    pub fn period(self) -> Option<Period> {
        let from = self.first_day()?;
        Some(Period {
            from,
            to: from.checked_add_months(Months::new(3))?,
        })
    }
}

impl fmt::Display for Quarter {
    /// `2026-Q1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.year, self.number)
    }
}

/// The calendar quarters with a day from `from` up to, not including, `to`: `--from
/// 2025-01-01 --to 2026-01-01` (or `--to 2025-12-31`) is the four quarters of 2025.
fn quarters_between(from: NaiveDate, to: NaiveDate) -> Vec<Quarter> {
    let mut quarters = Vec::new();
    if to <= from {
        return quarters;
    }
    let mut quarter = Quarter::containing(from);
    while let Some(first) = quarter.first_day().filter(|first| *first < to) {
        quarters.push(quarter);
        quarter = quarter.next();
        if quarter.first_day().is_none_or(|next| next <= first) {
            break;
        }
    }
    quarters
}

/// How many quarters a report covers by default.
const DEFAULT_QUARTERS: usize = 4;

/// The quarters a report covers: those with a day from `from` up to, not including,
/// `to`. Without `to`, up to the last quarter that ended by `last_day` (the data's last
/// day); without `from`, the [`DEFAULT_QUARTERS`] ending with the one holding the day
/// before `to`.
pub fn report_quarters(from: Option<NaiveDate>, to: Option<NaiveDate>, last_day: NaiveDate) -> Vec<Quarter> {
    let to = to.unwrap_or_else(|| Quarter::containing(last_day).first_day().unwrap_or(last_day));
    let from = from.unwrap_or_else(|| {
        let last = Quarter::containing(to.pred_opt().unwrap_or(to));
        std::iter::successors(Some(last), |q| previous(*q))
            .take(DEFAULT_QUARTERS)
            .last()
            .and_then(Quarter::first_day)
            .unwrap_or(to)
    });
    quarters_between(from, to)
}

fn previous(q: Quarter) -> Option<Quarter> {
    match q.number {
        1 => Some(Quarter {
            year: q.year.checked_sub(1)?,
            number: 4,
        }),
        n => Some(Quarter {
            year: q.year,
            number: n - 1,
        }),
    }
}

/// An account's part in a period's bridge: how its MRR moved, and its first day as a
/// customer in the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BridgeAccount {
    movement: AccountMovement,
    first_customer_day: NaiveDate,
}

/// Every account active on either day of the period (as [`account_movements`] gives
/// them), with its first day as a customer in it: the period's first day when it was one
/// then. `lines` must be sorted by account.
fn bridge_accounts(lines: &[RevenueLine], rates: &Rates, period: Period) -> Vec<BridgeAccount> {
    let mut first_days: HashMap<i64, NaiveDate> = HashMap::new();
    // Inactive on the first day and active on the last: its first active day is the
    // earliest start, inside the period, of a line that runs for a day at least.
    for line in lines
        .iter()
        .filter(|l| l.start_date > period.from && l.start_date <= period.to)
        .filter(|l| l.end_date.is_none_or(|end| end > l.start_date))
    {
        first_days
            .entry(line.account_id)
            .and_modify(|d| *d = (*d).min(line.start_date))
            .or_insert(line.start_date);
    }
    account_movements(lines, period, rates)
        .into_iter()
        .map(|movement| {
            let customer_at_start = !matches!(movement.kind, MovementKind::New | MovementKind::Reactivation);
            let first_customer_day = if customer_at_start {
                period.from
            } else {
                first_days.get(&movement.account_id).copied().unwrap_or(period.from)
            };
            BridgeAccount {
                movement,
                first_customer_day,
            }
        })
        .collect()
}

/// One group's movements.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BridgeRow<G> {
    group: G,
    movements: MrrMovements,
    accounts: Vec<AccountMovement>,
}

/// A period's movements per group, in the groups' order, and in all.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bridge<G> {
    period: Period,
    groups: Vec<BridgeRow<G>>,
    total: MrrMovements,
    accounts: Vec<AccountMovement>,
}

/// The bridge of `accounts` (one period's, from [`bridge_accounts`]) by `group_of`:
/// every account in exactly one group, so the groups add up to the total.
fn bridge<G: Ord>(period: Period, accounts: &[BridgeAccount], group_of: impl Fn(&BridgeAccount) -> G) -> Bridge<G> {
    let mut members: BTreeMap<G, Vec<&AccountMovement>> = BTreeMap::new();
    for account in accounts {
        members.entry(group_of(account)).or_default().push(&account.movement);
    }
    Bridge {
        period,
        groups: members
            .into_iter()
            .map(|(group, movements)| BridgeRow {
                group,
                accounts: movements.iter().map(|m| **m).collect(),
                movements: total_movements(movements),
            })
            .collect(),
        total: total_movements(accounts.iter().map(|a| &a.movement)),
        accounts: accounts.iter().map(|a| a.movement).collect(),
    }
}

/// A team member's coverage of an account in one role, from `since` until the day
/// before `until` (`None`: still).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageSpell {
    pub account_id: i64,
    pub owner: Owner,
    /// The team member's external id.
    pub external_id: String,
    pub since: NaiveDate,
    pub until: Option<NaiveDate>,
}

impl CoverageSpell {
    fn covers(&self, day: NaiveDate) -> bool {
        self.since <= day && self.until.is_none_or(|until| until > day)
    }
}

/// Who covered which account in one role, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoverageHistory {
    by_account: HashMap<i64, Vec<CoverageSpell>>,
}

impl CoverageHistory {
    pub fn new(spells: Vec<CoverageSpell>) -> CoverageHistory {
        let mut by_account: HashMap<i64, Vec<CoverageSpell>> = HashMap::new();
        for spell in spells {
            by_account.entry(spell.account_id).or_default().push(spell);
        }
        CoverageHistory { by_account }
    }

    /// The history with the `changed` accounts' spells replaced by `fresh` (read again
    /// for those accounts): the same as [`CoverageHistory::new`] of every spell read again,
    /// when the other accounts' did not change.
    pub fn replace(&mut self, changed: &[i64], fresh: Vec<CoverageSpell>) {
        for id in changed {
            self.by_account.remove(id);
        }
        for spell in fresh {
            self.by_account.entry(spell.account_id).or_default().push(spell);
        }
    }

    /// The account's owner on `day`; of several, the first by name (then id), as the
    /// portfolio shows an account's owner in a role.
    pub fn owner_on(&self, account_id: i64, day: NaiveDate) -> Option<&CoverageSpell> {
        self.by_account
            .get(&account_id)?
            .iter()
            .filter(|s| s.covers(day))
            .min_by(|a, b| (&a.owner.name, a.owner.member_id).cmp(&(&b.owner.name, b.owner.member_id)))
    }
}

/// What a bridge groups accounts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeBy {
    /// The LAER phase on the quarter's first day.
    Phase,
    /// The owner in this role on the quarter's first day (or the account's first day as
    /// a customer in the quarter).
    Owner(TeamRole),
}

impl BridgeBy {
    /// `phase` or `owner`.
    pub fn name(self) -> &'static str {
        match self {
            BridgeBy::Phase => "phase",
            BridgeBy::Owner(_) => "owner",
        }
    }
}

/// Each account's phase, by day.
pub type PhasesByDay = HashMap<NaiveDate, HashMap<i64, Phase>>;

/// `kept` with the phases of the `changed` accounts on every day replaced by `fresh`
/// (those accounts' phases read again): the same as reading every account's again, when
/// the others did not change. A day left without any phase is dropped, as a read finds
/// none.
pub fn replace_phases(kept: &mut PhasesByDay, changed: &[i64], fresh: PhasesByDay) {
    for phases in kept.values_mut() {
        for id in changed {
            phases.remove(id);
        }
    }
    kept.retain(|_, phases| !phases.is_empty());
    for (day, phases) in fresh {
        kept.entry(day).or_default().extend(phases);
    }
}

/// What [`quarter_bridges`] groups with: each quarter's phases as the rules gave them on
/// its first day, or the coverage history of the role.
#[derive(Debug, Clone, Copy)]
pub enum Grouping<'a> {
    Phase(&'a PhasesByDay),
    Owner(TeamRole, &'a CoverageHistory),
}

/// A group of accounts in a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BridgeGroup {
    Phase(Phase),
    Owner {
        member_id: i64,
        name: String,
        external_id: String,
    },
    /// No owner in the role; by phase, a customer on the first day without a phase (none
    /// in practice: every one is assessed).
    Unassigned,
}

impl BridgeGroup {
    /// The phase, the owner's name, or `unassigned`.
    fn label(&self) -> &str {
        match self {
            BridgeGroup::Phase(phase) => phase.as_str(),
            BridgeGroup::Owner { name, .. } => name,
            BridgeGroup::Unassigned => "unassigned",
        }
    }

    /// Phases in LAER order, owners by name, unassigned last.
    fn order(&self) -> (u8, usize, &str, i64) {
        match self {
            BridgeGroup::Phase(phase) => (0, Phase::ALL.iter().position(|p| p == phase).unwrap_or(0), "", 0),
            BridgeGroup::Owner { member_id, name, .. } => (1, 0, name, *member_id),
            BridgeGroup::Unassigned => (2, 0, "", 0),
        }
    }
}

impl Ord for BridgeGroup {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for BridgeGroup {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The bridge of each quarter. `lines` must be sorted by account; quarters whose dates
/// are out of range are left out.
pub fn quarter_bridges(
    lines: &[RevenueLine],
    rates: &Rates,
    quarters: &[Quarter],
    grouping: Grouping<'_>,
) -> Vec<QuarterBridge> {
    let periods: Vec<(Quarter, Period)> = quarters
        .iter()
        .filter_map(|quarter| Some((*quarter, quarter.period()?)))
        .collect();
    bridges_of(lines, rates, &periods, grouping)
}

/// The bridge of the quarter holding `today`, from its first day to `today`: the quarter
/// so far. `None` on the quarter's first day, when nothing has moved yet.
pub fn quarter_to_date(
    lines: &[RevenueLine],
    rates: &Rates,
    today: NaiveDate,
    grouping: Grouping<'_>,
) -> Option<QuarterBridge> {
    let quarter = Quarter::containing(today);
    let from = quarter.first_day().filter(|first| *first < today)?;
    bridges_of(lines, rates, &[(quarter, Period { from, to: today })], grouping).pop()
}

/// The phase on the period's first day of an account that was not a customer then, as
/// the rules place it ([`crate::lifecycle::phase`], rule 1): land when it had not landed
/// yet, churned when it had left. It needs no assessment, so phases kept for a past day
/// need not list accounts added since. `None` for a customer on the first day.
fn not_a_customer_yet(movement: &AccountMovement) -> Option<Phase> {
    match movement.kind {
        MovementKind::New => Some(Phase::Land),
        MovementKind::Reactivation => Some(Phase::Churned),
        _ => None,
    }
}

/// The quarters the revenue page's bridges show on `today`: the last whole quarters
/// ([`report_quarters`]' default), then the one under way. Their first days are the past
/// days whose phases are kept.
pub fn shown_quarters(today: NaiveDate) -> Vec<Quarter> {
    let mut quarters = report_quarters(None, None, today);
    quarters.push(Quarter::containing(today));
    quarters
}

/// Of [`shown_quarters`], those begun before `today`: the quarters whose first days'
/// phases the shown bridges group by (a quarter beginning today has nothing to bridge
/// until tomorrow).
pub fn begun_quarters(today: NaiveDate) -> Vec<Quarter> {
    shown_quarters(today)
        .into_iter()
        .filter(|q| q.first_day().is_some_and(|first| first < today))
        .collect()
}

fn bridges_of(
    lines: &[RevenueLine],
    rates: &Rates,
    periods: &[(Quarter, Period)],
    grouping: Grouping<'_>,
) -> Vec<QuarterBridge> {
    let no_phases = HashMap::new();
    periods
        .iter()
        .map(|&(quarter, period)| {
            let accounts = bridge_accounts(lines, rates, period);
            let (by, b) = match grouping {
                Grouping::Phase(days) => {
                    let phases = days.get(&period.from).unwrap_or(&no_phases);
                    let b = bridge(period, &accounts, |a| {
                        phases
                            .get(&a.movement.account_id)
                            .copied()
                            .or_else(|| not_a_customer_yet(&a.movement))
                            .map_or(BridgeGroup::Unassigned, BridgeGroup::Phase)
                    });
                    (BridgeBy::Phase, b)
                }
                Grouping::Owner(role, coverage) => {
                    let b = bridge(period, &accounts, |a| {
                        coverage.owner_on(a.movement.account_id, a.first_customer_day).map_or(
                            BridgeGroup::Unassigned,
                            |s| BridgeGroup::Owner {
                                member_id: s.owner.member_id,
                                name: s.owner.name.clone(),
                                external_id: s.external_id.clone(),
                            },
                        )
                    });
                    (BridgeBy::Owner(role), b)
                }
            };
            QuarterBridge::of(quarter, by, b)
        })
        .collect()
}

/// One quarter's bridge as reports show it (`laer report nrr-bridge --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarterBridge {
    /// `2026-Q1`.
    pub quarter: String,
    /// The days MRR is compared on: the quarter's first day and the next quarter's.
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// `phase` or `owner`.
    pub by: &'static str,
    /// By owner: the role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<TeamRole>,
    pub groups: Vec<GroupFigures>,
    pub total: BridgeFigures,
    /// Every account's movement in the quarter: what the figures add up (the web page's
    /// drill-down; not in the report's JSON).
    #[serde(skip)]
    pub accounts: Vec<AccountMovement>,
}

impl QuarterBridge {
    fn of(quarter: Quarter, by: BridgeBy, b: Bridge<BridgeGroup>) -> QuarterBridge {
        QuarterBridge {
            quarter: quarter.to_string(),
            start: b.period.from,
            end: b.period.to,
            by: by.name(),
            role: match by {
                BridgeBy::Phase => None,
                BridgeBy::Owner(role) => Some(role),
            },
            groups: b
                .groups
                .into_iter()
                .map(|row| GroupFigures {
                    group: row.group.label().to_string(),
                    team_member: match row.group {
                        BridgeGroup::Owner { external_id, .. } => Some(external_id),
                        _ => None,
                    },
                    figures: row.movements.into(),
                    accounts: row.accounts,
                })
                .collect(),
            total: b.total.into(),
            accounts: b.accounts,
        }
    }
}

/// One group's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupFigures {
    /// The phase, the owner's name, or `unassigned`.
    pub group: String,
    /// By owner: the team member's external id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_member: Option<String>,
    #[serde(flatten)]
    pub figures: BridgeFigures,
    /// The group's accounts' movements (not in the report's JSON).
    #[serde(skip)]
    pub accounts: Vec<AccountMovement>,
}

/// A group's figures as reports show them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BridgeFigures {
    pub start_mrr: Money,
    pub new: Money,
    pub expansion: Money,
    pub contraction: Money,
    pub churn: Money,
    pub reactivation: Money,
    /// What exchange rates did to the end MRR (movements are at the start's rates).
    pub exchange_rates: Money,
    pub end_mrr: Money,
    /// Net revenue retention of the group's accounts at the start.
    pub nrr: Option<f64>,
    /// Gross revenue retention of the same.
    pub grr: Option<f64>,
}

impl From<MrrMovements> for BridgeFigures {
    fn from(m: MrrMovements) -> Self {
        BridgeFigures {
            start_mrr: m.start,
            new: m.new,
            expansion: m.expansion,
            contraction: m.contraction,
            churn: m.churn,
            reactivation: m.reactivation,
            exchange_rates: m.exchange_rates,
            end_mrr: m.end,
            nrr: m.net_revenue_retention(),
            grr: m.gross_revenue_retention(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::movements_of_periods;
    use chrono::Days;
    use proptest::prelude::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn units(n: i64) -> Money {
        Money::from_units(n).unwrap()
    }

    fn line(account_id: i64, start: &str, end: Option<&str>, mrr: i64) -> RevenueLine {
        RevenueLine {
            account_id,
            start_date: day(start),
            end_date: end.map(day),
            mrr: units(mrr),
            bill_period_months: 1,
            original: None,
        }
    }

    fn q(year: i32, number: u32) -> Quarter {
        Quarter { year, number }
    }

    /// The page shows the last four whole quarters and the one under way; phases are
    /// needed for the quarters begun before today.
    #[test]
    fn the_shown_quarters_and_those_begun() {
        let shown = shown_quarters(day("2026-04-01"));
        assert_eq!(shown, [q(2025, 2), q(2025, 3), q(2025, 4), q(2026, 1), q(2026, 2)]);
        assert_eq!(begun_quarters(day("2026-04-01")), shown[..4]);
        assert_eq!(begun_quarters(day("2026-04-02")), shown);
    }

    #[test]
    fn quarters_are_calendar_quarters() {
        assert_eq!(Quarter::containing(day("2026-02-28")), q(2026, 1));
        assert_eq!(Quarter::containing(day("2026-12-31")).to_string(), "2026-Q4");
        assert_eq!(
            q(2025, 4).period(),
            Some(Period {
                from: day("2025-10-01"),
                to: day("2026-01-01")
            })
        );
        let year = [q(2025, 1), q(2025, 2), q(2025, 3), q(2025, 4)];
        assert_eq!(quarters_between(day("2025-01-01"), day("2026-01-01")), year);
        assert_eq!(quarters_between(day("2025-02-15"), day("2025-12-31")), year);
        assert_eq!(quarters_between(day("2025-05-01"), day("2025-05-02")), [q(2025, 2)]);
        assert!(quarters_between(day("2025-05-01"), day("2025-05-01")).is_empty());
        // By default the last four quarters that ended by the data's last day; a quarter
        // that ends on it is whole.
        let last_four = [q(2025, 4), q(2026, 1), q(2026, 2), q(2026, 3)];
        assert_eq!(report_quarters(None, None, day("2026-11-22")), last_four);
        assert_eq!(report_quarters(None, None, day("2026-10-01")), last_four);
        assert_eq!(report_quarters(None, Some(day("2026-01-01")), day("2026-11-22")), year);
        assert_eq!(report_quarters(None, Some(day("2025-12-31")), day("2026-11-22")), year);
        assert_eq!(
            report_quarters(Some(day("2026-05-01")), None, day("2026-11-22")),
            [q(2026, 2), q(2026, 3)]
        );
        assert!(report_quarters(Some(day("2026-10-01")), None, day("2026-11-22")).is_empty());
    }

    /// Accounts of every movement kind over 2026-Q1.
    fn history() -> Vec<RevenueLine> {
        vec![
            line(1, "2025-01-01", None, 100), // unchanged
            line(2, "2025-06-01", None, 200), // expands by 50 in February
            line(2, "2026-02-01", None, 50),
            line(3, "2025-03-01", Some("2026-03-01"), 80), // contracts to 30
            line(3, "2026-03-01", None, 30),
            line(4, "2025-01-01", Some("2026-02-15"), 60), // churns
            line(5, "2026-02-10", None, 40),               // new
            line(5, "2026-03-05", None, 5),
            line(6, "2025-01-01", Some("2025-05-01"), 10), // comes back
            line(6, "2026-03-20", None, 25),
            line(7, "2026-01-20", Some("2026-01-20"), 99), // never ran
            line(7, "2026-01-25", Some("2026-02-25"), 9),  // ran inside the quarter only
        ]
    }

    #[test]
    fn every_figure_drills_down_to_the_accounts_that_add_up_to_it() {
        let coverage = CoverageHistory::new(vec![spell(2, 10, "Kim", "2025-01-01", None)]);
        let bridges = quarter_bridges(
            &history(),
            &Rates::none(),
            &[q(2026, 1)],
            Grouping::Owner(TeamRole::Csm, &coverage),
        );
        let b = &bridges[0];
        let sum = |accounts: &[AccountMovement], kind| -> Money {
            crate::retention::accounts_of_kind(accounts, kind)
                .iter()
                .map(|m| m.amount())
                .sum()
        };
        for g in &b.groups {
            assert_eq!(
                sum(&g.accounts, MovementKind::Expansion),
                g.figures.expansion,
                "{}",
                g.group
            );
            assert_eq!(sum(&g.accounts, MovementKind::Churn), g.figures.churn, "{}", g.group);
            assert_eq!(sum(&g.accounts, MovementKind::New), g.figures.new, "{}", g.group);
        }
        assert_eq!(sum(&b.accounts, MovementKind::Contraction), b.total.contraction);
        let new = crate::retention::accounts_of_kind(&b.accounts, MovementKind::New);
        assert_eq!(new.iter().map(|m| m.account_id).collect::<Vec<_>>(), [5]);
        assert_eq!(MovementKind::parse("churn"), Some(MovementKind::Churn));
        assert_eq!(MovementKind::parse("Churn"), None);
    }

    #[test]
    fn the_quarter_so_far() {
        let phases = PhasesByDay::new();
        let so_far = quarter_to_date(&history(), &Rates::none(), day("2026-02-20"), Grouping::Phase(&phases)).unwrap();
        assert_eq!(
            (so_far.quarter.as_str(), so_far.start, so_far.end),
            ("2026-Q1", day("2026-01-01"), day("2026-02-20"))
        );
        // Account 4 churned on 2026-02-15, account 3 contracts only in March.
        let kinds = |id: i64| so_far.accounts.iter().find(|m| m.account_id == id).map(|m| m.kind);
        assert_eq!(kinds(4), Some(MovementKind::Churn));
        assert_eq!(kinds(3), Some(MovementKind::Unchanged));
        assert!(
            quarter_to_date(&history(), &Rates::none(), day("2026-04-01"), Grouping::Phase(&phases)).is_none(),
            "the first day"
        );
    }

    #[test]
    fn accounts_are_customers_from_the_start_or_the_day_they_began() {
        let period = q(2026, 1).period().unwrap();
        let accounts = bridge_accounts(&history(), &Rates::none(), period);
        let days: Vec<(i64, MovementKind, NaiveDate)> = accounts
            .iter()
            .map(|a| (a.movement.account_id, a.movement.kind, a.first_customer_day))
            .collect();
        assert_eq!(
            days,
            [
                (1, MovementKind::Unchanged, day("2026-01-01")),
                (2, MovementKind::Expansion, day("2026-01-01")),
                (3, MovementKind::Contraction, day("2026-01-01")),
                (4, MovementKind::Churn, day("2026-01-01")),
                (5, MovementKind::New, day("2026-02-10")),
                (6, MovementKind::Reactivation, day("2026-03-20")),
            ]
        );
    }

    #[test]
    fn groups_add_up_to_the_quarter() {
        let period = q(2026, 1).period().unwrap();
        let lines = history();
        let accounts = bridge_accounts(&lines, &Rates::none(), period);
        // Odd accounts in one group, even in another.
        let b = bridge(period, &accounts, |a| a.movement.account_id % 2);
        assert_eq!(b.groups.len(), 2);
        let (even, odd) = (&b.groups[0], &b.groups[1]);
        assert_eq!((even.group, odd.group), (0, 1));
        assert_eq!(even.movements.start, units(200 + 60));
        assert_eq!(even.movements.expansion, units(50));
        assert_eq!(even.movements.churn, units(60));
        assert_eq!(even.movements.reactivation, units(25));
        assert_eq!(even.movements.end, units(250 + 25));
        assert_eq!(odd.movements.start, units(100 + 80));
        assert_eq!(odd.movements.contraction, units(50));
        assert_eq!(odd.movements.new, units(45));
        assert_eq!(odd.movements.end, units(100 + 30 + 45));
        assert_eq!(even.movements.net_revenue_retention(), Some(250.0 / 260.0));
        assert_eq!(odd.movements.gross_revenue_retention(), Some(130.0 / 180.0));
        let whole = movements_of_periods(&lines, &[period], &Rates::none())[0].movements;
        assert_eq!(b.total, whole);
        let figures = BridgeFigures::from(b.total);
        assert_eq!((figures.start_mrr, figures.end_mrr), (units(440), units(450)));
        assert_eq!(
            figures.nrr,
            Some(f64::from(440 - 60 - 50 + 50) / 440.0),
            "new and won-back MRR do not count"
        );
    }

    fn spell(account_id: i64, member_id: i64, name: &str, since: &str, until: Option<&str>) -> CoverageSpell {
        CoverageSpell {
            account_id,
            owner: Owner {
                role: TeamRole::Csm,
                member_id,
                name: name.into(),
            },
            external_id: format!("tm{member_id}"),
            since: day(since),
            until: until.map(day),
        }
    }

    #[test]
    fn the_owner_on_a_day_is_who_covered_it_then() {
        let history = CoverageHistory::new(vec![
            spell(1, 10, "Kim", "2025-01-01", Some("2026-02-01")),
            spell(1, 11, "Ana", "2026-02-01", None),
            spell(2, 12, "Zoe", "2025-01-01", None),
            spell(2, 13, "Bo", "2025-06-01", None),
        ]);
        let name = |account, d| history.owner_on(account, day(d)).map(|s| s.owner.name.as_str());
        assert_eq!(name(1, "2026-01-31"), Some("Kim"));
        assert_eq!(name(1, "2026-02-01"), Some("Ana"), "until is the first day without");
        assert_eq!(name(1, "2024-12-31"), None);
        assert_eq!(name(2, "2025-05-31"), Some("Zoe"));
        assert_eq!(name(2, "2025-06-01"), Some("Bo"), "of two, the first by name");
        assert_eq!(name(3, "2025-06-01"), None);
    }

    #[test]
    fn replacing_changed_accounts_is_reading_every_phase_again() {
        let (d1, d2) = (day("2026-01-01"), day("2026-04-01"));
        let mut kept = PhasesByDay::from([
            (d1, HashMap::from([(1, Phase::Adopt), (2, Phase::Renew)])),
            (d2, HashMap::from([(2, Phase::Renew)])),
        ]);
        // Account 2 assessed again on both days, 3 kept on the second; 1 listed, unchanged.
        let fresh = PhasesByDay::from([
            (d1, HashMap::from([(1, Phase::Adopt), (2, Phase::Expand)])),
            (d2, HashMap::from([(2, Phase::Churned), (3, Phase::Land)])),
        ]);
        replace_phases(&mut kept, &[1, 2, 3], fresh);
        assert_eq!(
            kept,
            PhasesByDay::from([
                (d1, HashMap::from([(1, Phase::Adopt), (2, Phase::Expand)])),
                (d2, HashMap::from([(2, Phase::Churned), (3, Phase::Land)])),
            ])
        );
        // Listed with nothing kept: gone from every day, and an empty day with them.
        replace_phases(&mut kept, &[2, 3], PhasesByDay::new());
        assert_eq!(kept, PhasesByDay::from([(d1, HashMap::from([(1, Phase::Adopt)]))]));
    }

    #[test]
    fn replacing_changed_accounts_is_reading_every_spell_again() {
        let before = vec![
            spell(1, 10, "Kim", "2025-01-01", None),
            spell(2, 12, "Zoe", "2025-01-01", None),
            spell(3, 13, "Bo", "2025-06-01", None),
        ];
        // Account 1 handed over, 2 lost its CSM, 4 gained one; 3 listed, unchanged.
        let after = vec![
            spell(1, 10, "Kim", "2025-01-01", Some("2026-02-01")),
            spell(1, 11, "Ana", "2026-02-01", None),
            spell(3, 13, "Bo", "2025-06-01", None),
            spell(4, 12, "Zoe", "2026-03-01", None),
        ];
        let changed = [1, 2, 3, 4];
        let fresh = after
            .iter()
            .filter(|s| changed.contains(&s.account_id))
            .cloned()
            .collect();
        let mut history = CoverageHistory::new(before);
        history.replace(&changed, fresh);
        assert_eq!(history, CoverageHistory::new(after));
    }

    fn labels(b: &QuarterBridge) -> Vec<(&str, Money, Money)> {
        b.groups
            .iter()
            .map(|g| (g.group.as_str(), g.figures.start_mrr, g.figures.end_mrr))
            .collect()
    }

    #[test]
    fn by_phase_on_the_first_day() {
        let start = day("2026-01-01");
        let phases = HashMap::from([(
            start,
            HashMap::from([
                (1, Phase::Adopt),
                (2, Phase::Expand),
                (3, Phase::Renew),
                (4, Phase::Renew),
                (5, Phase::Land),
                (6, Phase::Churned),
            ]),
        )]);
        let bridges = quarter_bridges(&history(), &Rates::none(), &[q(2026, 1)], Grouping::Phase(&phases));
        let b = &bridges[0];
        assert_eq!(
            (b.quarter.as_str(), b.start, b.end, b.by),
            ("2026-Q1", start, day("2026-04-01"), "phase")
        );
        assert_eq!(
            labels(b),
            [
                ("land", units(0), units(45)),
                ("adopt", units(100), units(100)),
                ("expand", units(200), units(250)),
                ("renew", units(140), units(30)),
                ("churned", units(0), units(25)),
            ]
        );
        let renew = &b.groups[3].figures;
        assert_eq!((renew.contraction, renew.churn), (units(50), units(60)));
        assert_eq!(renew.nrr, Some(30.0 / 140.0));
        assert_eq!(b.groups[4].figures.reactivation, units(25));
        assert_eq!(b.groups[4].figures.nrr, None, "no MRR at the start");
        let json = serde_json::to_value(b).unwrap();
        assert_eq!(json["groups"][2]["group"], "expand");
        assert_eq!(json["groups"][2]["expansion"], 50);
        assert!(json.get("role").is_none() && json["groups"][0].get("team_member").is_none());
        assert_eq!(json["total"]["start_mrr"], 440);
        assert_eq!(json["total"]["end_mrr"], 450);

        // A quarter without assessed phases puts everyone in one group.
        let later = quarter_bridges(&history(), &Rates::none(), &[q(2026, 2)], Grouping::Phase(&phases));
        assert_eq!(later[0].groups.len(), 1);
        assert_eq!(later[0].groups[0].group, "unassigned");

        // Phases kept before accounts 5 and 6 were added (neither was a customer on the
        // first day) place them as the rules would: the new one in land, the one back in
        // churned.
        let kept = HashMap::from([(
            start,
            phases[&start]
                .iter()
                .filter(|(id, _)| **id <= 4)
                .map(|(id, p)| (*id, *p))
                .collect(),
        )]);
        let from_kept = quarter_bridges(&history(), &Rates::none(), &[q(2026, 1)], Grouping::Phase(&kept));
        assert_eq!(from_kept, bridges);
        // A customer on the first day is never guessed.
        let without_2 = HashMap::from([(start, HashMap::from([(1, Phase::Adopt)]))]);
        let guessed = quarter_bridges(&history(), &Rates::none(), &[q(2026, 1)], Grouping::Phase(&without_2));
        assert!(guessed[0].groups.iter().any(|g| g.group == "unassigned"));
    }

    #[test]
    fn by_owner_on_the_first_day_or_the_day_it_began() {
        let coverage = CoverageHistory::new(vec![
            spell(1, 10, "Kim", "2025-01-01", None),
            spell(2, 11, "Ana", "2025-06-01", Some("2026-01-01")),
            spell(2, 12, "Bo", "2026-01-01", None),
            spell(4, 10, "Kim", "2025-01-01", None),
            spell(5, 11, "Ana", "2026-02-10", None),
            spell(6, 12, "Bo", "2026-04-01", None),
        ]);
        let bridges = quarter_bridges(
            &history(),
            &Rates::none(),
            &[q(2026, 1)],
            Grouping::Owner(TeamRole::Csm, &coverage),
        );
        let b = &bridges[0];
        assert_eq!((b.by, b.role), ("owner", Some(TeamRole::Csm)));
        assert_eq!(
            labels(b),
            [
                ("Ana", units(0), units(45)),
                ("Bo", units(200), units(250)),
                ("Kim", units(160), units(100)),
                ("unassigned", units(80), units(55)),
            ]
        );
        assert_eq!(b.groups[0].team_member.as_deref(), Some("tm11"));
        assert_eq!(b.groups[3].team_member, None);
        let json = serde_json::to_value(b).unwrap();
        assert_eq!(json["role"], "csm");
        assert_eq!(json["groups"][1]["team_member"], "tm12");
    }

    fn arb_lines() -> impl Strategy<Value = Vec<RevenueLine>> {
        let base = day("2025-10-01");
        proptest::collection::vec(
            (0i64..15, 0u64..270, proptest::option::of(0u64..200), -50i64..500),
            0..70,
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
                        bill_period_months: 1,
                        original: None,
                    }
                })
                .collect();
            lines.sort_by_key(|l| l.account_id);
            lines
        })
    }

    proptest! {
        /// For any history and any grouping, the groups add up to the total, which is
        /// the quarter's movements, and each group reconciles on its own.
        #[test]
        fn groups_always_add_up(lines in arb_lines(), quarter in 0u32..3, groups in proptest::collection::vec(0u8..4, 15)) {
            let period = q(2026, quarter + 1).period().unwrap();
            let accounts = bridge_accounts(&lines, &Rates::none(), period);
            let b = bridge(period, &accounts, |a| groups[a.movement.account_id as usize]);
            let mut sum = MrrMovements::default();
            for row in &b.groups {
                let m = row.movements;
                prop_assert_eq!(m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn, m.end);
                sum.start += m.start;
                sum.new += m.new;
                sum.reactivation += m.reactivation;
                sum.expansion += m.expansion;
                sum.contraction += m.contraction;
                sum.churn += m.churn;
                sum.end += m.end;
            }
            prop_assert_eq!(sum, b.total);
            prop_assert_eq!(b.total, movements_of_periods(&lines, &[period], &Rates::none())[0].movements);
            for a in &accounts {
                prop_assert!(a.first_customer_day >= period.from && a.first_customer_day <= period.to);
                let active = |d| lines.iter().any(|l| l.account_id == a.movement.account_id && l.is_active_on(d));
                prop_assert!(active(a.first_customer_day), "a customer on that day");
                if a.first_customer_day > period.from {
                    prop_assert!(!active(a.first_customer_day.pred_opt().unwrap()), "and not the day before");
                }
            }
        }
    }
}
