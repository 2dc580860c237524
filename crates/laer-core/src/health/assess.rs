//! One account's health as of a day, from its records and its counted usage: the signals,
//! the phase and the score together.

use chrono::{NaiveDate, TimeDelta};
use serde::Serialize;

use crate::health::inputs::{AccountInputs, Line, Relationship, Signals, WindowUse, signals};
use crate::health::model::HealthModel;
use crate::health::model::Scope;
use crate::health::outcome::Outcome;
use crate::health::score::{DriverChange, Health, changes, score, score_in};
use crate::lifecycle::{Phase, PhaseDecision, PhaseFacts, phase};
use crate::money::Money;
use crate::retention::is_active;

/// An account's records, whatever the day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountRecords {
    pub account_id: i64,
    pub segment: Option<String>,
    pub renewal_date: Option<NaiveDate>,
    pub lines: Vec<Line>,
    pub relationship: Relationship,
    /// Departments of its known product users.
    pub departments: u32,
    /// An expansion specialist covers it now.
    pub expansion_specialist: bool,
    /// The phase set by hand, if any.
    pub set_by_hand: Option<Phase>,
}

/// An account's usage counted as of a day (by the store, over its rollups).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageOn {
    pub now: WindowUse,
    pub before: WindowUse,
    pub users_ever: u32,
    pub last_use_on: Option<NaiveDate>,
}

/// What the workspace as a whole says about usage on a day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workspace {
    /// Features anyone uses: the event types tracked, by name.
    pub features: Vec<String>,
    /// Whether any usage is tracked at all.
    pub usage_tracked: bool,
}

/// How far back `mrr_change` looks.
pub const MRR_CHANGE_DAYS: i64 = 90;

impl AccountRecords {
    fn running(&self, day: NaiveDate) -> impl Iterator<Item = &Line> {
        self.lines
            .iter()
            .filter(move |l| is_active(l.start_date, l.end_date, day))
    }

    pub fn mrr_on(&self, day: NaiveDate) -> Money {
        self.running(day).map(|l| l.mrr).sum()
    }

    pub fn landed_on(&self) -> Option<NaiveDate> {
        self.lines.iter().map(|l| l.start_date).min()
    }

    /// The longest billing period of the lines running on `day`.
    pub fn term_months(&self, day: NaiveDate) -> Option<i32> {
        self.running(day).map(|l| l.bill_period_months).max()
    }

    /// Whether the account, a customer on `as_of`, had less MRR (churned or downsold)
    /// `horizon_days` later; `None` when it was not a customer on `as_of`.
    pub fn churned_or_downsold(&self, as_of: NaiveDate, horizon_days: i64) -> Option<bool> {
        self.outcome(as_of, horizon_days).map(|o| o != Outcome::Stayed)
    }

    /// MRR `horizon_days` after `as_of` over MRR on `as_of`, for an account that was a
    /// customer on both days.
    pub fn mrr_change(&self, as_of: NaiveDate, horizon_days: i64) -> Option<f64> {
        let now = self.mrr_on(as_of);
        let later = self.mrr_on(as_of.checked_add_signed(TimeDelta::days(horizon_days))?);
        (now > Money::ZERO && later > Money::ZERO).then(|| later.to_f64() / now.to_f64())
    }

    /// What became of the account, a customer on `as_of`, `horizon_days` later: no MRR
    /// (churned), less (downsold), or as much or more; `None` when it was not a customer
    /// on `as_of`.
    pub fn outcome(&self, as_of: NaiveDate, horizon_days: i64) -> Option<Outcome> {
        let now = self.mrr_on(as_of);
        if now <= Money::ZERO {
            return None;
        }
        let later = self.mrr_on(as_of.checked_add_signed(TimeDelta::days(horizon_days))?);
        Some(if later <= Money::ZERO {
            Outcome::Churned
        } else if later < now {
            Outcome::Downsold
        } else {
            Outcome::Stayed
        })
    }

    /// The quantity of all the lines running on `day`, whatever their unit; `None` when
    /// none has one.
    fn units_on(&self, day: NaiveDate) -> Option<f64> {
        let quantities: Vec<f64> = self.running(day).filter_map(|l| l.quantity).collect();
        (!quantities.is_empty()).then(|| quantities.iter().sum::<f64>())
    }

    /// Seats bought on `day` ([`crate::figures::seats`]: the product with the most seats
    /// among the running lines counted in seats, users or licences); `None` when no
    /// running line is.
    pub fn seats_on(&self, day: NaiveDate) -> Option<f64> {
        crate::figures::seats(self.running(day).map(|l| crate::figures::SeatLine {
            product: &l.product,
            quantity: l.quantity,
            units: l.units.as_deref(),
        }))
    }

    /// The inputs of the signals as of `as_of`.
    pub fn inputs<'a>(&'a self, usage: UsageOn, workspace: &'a Workspace, as_of: NaiveDate) -> AccountInputs<'a> {
        AccountInputs {
            account_id: self.account_id,
            as_of,
            landed_on: self.landed_on(),
            mrr: self.mrr_on(as_of),
            mrr_before: self.mrr_on(as_of - TimeDelta::days(MRR_CHANGE_DAYS)),
            seats: self.seats_on(as_of),
            units: self.units_on(as_of),
            usage_now: usage.now,
            usage_before: usage.before,
            features: if workspace.usage_tracked {
                &workspace.features
            } else {
                &[]
            },
            renewal_date: self.renewal_date,
            lines: &self.lines,
            departments: self.departments,
            users_ever: usage.users_ever,
            last_use_on: usage.last_use_on,
            relationship: &self.relationship,
        }
    }
}

/// An account's health on a day, with what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub account_id: i64,
    pub segment: Option<String>,
    pub as_of: NaiveDate,
    pub phase: PhaseDecision,
    pub health: Health,
    pub signals: Signals,
    /// Seats bought that day ([`crate::figures::seats`]), which utilisation divides by.
    pub seats: Option<f64>,
    /// The longest billing period of the contracts running that day.
    pub term_months: Option<i32>,
}

impl Assessment {
    /// The next renewal as known that day (the `days_to_renewal` signal).
    pub fn next_renewal(&self) -> Option<NaiveDate> {
        let days = *self.signals.get("days_to_renewal")?;
        self.as_of.checked_add_signed(TimeDelta::days(days as i64))
    }

    /// What the churn forecast sees of the account that day.
    pub fn forecast_features(&self) -> crate::forecast::churn::Features {
        crate::forecast::churn::Features {
            score: self.health.score,
            days_to_renewal: self.signals.get("days_to_renewal").copied(),
            monthly: crate::forecast::churn::month_to_month(self.term_months),
        }
    }

    /// The figures shown beside the health, read from the same signals the health
    /// scored: the account page's tiles, the API and the health drivers cannot disagree.
    pub fn figures(&self, windows: &crate::health::Windows) -> crate::figures::AccountFigures {
        crate::figures::AccountFigures {
            active_users: self.signals.get("active_users").copied(),
            usage_days: windows.usage_days,
            seats: self.seats,
            utilisation: self.signals.get("utilisation").copied(),
            nps: self.signals.get("nps").copied(),
            experience_days: windows.experience_days,
        }
    }
}

/// What moved an account's health from `before` to `now` ([`crate::health::score::changes`],
/// in the account's phase and segment now).
pub fn changes_since(model: &HealthModel, before: &Assessment, now: &Assessment) -> Vec<DriverChange> {
    if now.health.score.is_none() {
        return Vec::new();
    }
    let scope = Scope {
        phase: Some(now.phase.phase),
        segment: now.segment.as_deref(),
    };
    changes(model, &scope, &before.signals, &now.signals)
}

/// Assesses each account of `records` as of `as_of`, in their order, with its usage
/// taken from `usage` (none when absent). Many accounts are assessed in parts, a thread
/// each, on as many cores as there are (up to 4): each account's assessment depends on
/// its own records only.
pub fn assess_each<'a>(
    model: &HealthModel,
    records: impl IntoIterator<Item = &'a AccountRecords>,
    mut usage: std::collections::HashMap<i64, UsageOn>,
    workspace: &Workspace,
    as_of: NaiveDate,
) -> Vec<Assessment> {
    /// Fewer accounts than this a thread are not worth its start.
    const PER_THREAD: usize = 1_000;
    let mut each: Vec<(&AccountRecords, UsageOn)> = records
        .into_iter()
        .map(|r| (r, usage.remove(&r.account_id).unwrap_or_default()))
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let threads = cores.min(each.len() / PER_THREAD).max(1);
    let assess_part = |part: &mut [(&AccountRecords, UsageOn)]| -> Vec<Assessment> {
        part.iter_mut()
            .map(|(r, used)| assess(model, r, std::mem::take(used), workspace, as_of))
            .collect()
    };
    if threads == 1 {
        return assess_part(&mut each);
    }
    let size = each.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let running: Vec<_> = each
            .chunks_mut(size)
            .map(|part| scope.spawn(move || assess_part(part)))
            .collect();
        running
            .into_iter()
            .flat_map(|thread| match thread.join() {
                Ok(assessed) => assessed,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Assesses one account as of `as_of`.
pub fn assess(
    model: &HealthModel,
    records: &AccountRecords,
    usage: UsageOn,
    workspace: &Workspace,
    as_of: NaiveDate,
) -> Assessment {
    let inputs = records.inputs(usage, workspace, as_of);
    let signals = signals(&inputs, &model.windows);
    let facts_term = records.term_months(as_of);
    let facts = PhaseFacts {
        as_of: Some(as_of),
        customer: inputs.mrr > Money::ZERO,
        landed_on: inputs.landed_on,
        term_months: facts_term,
        renewal_date: records.renewal_date,
        usage_tracked: workspace.usage_tracked,
        seats: inputs.seats,
        users_ever: inputs.users_ever,
        utilisation: signals.get("utilisation").copied(),
        breadth: signals.get("breadth").copied(),
        expansion_specialist: records.expansion_specialist,
        set_by_hand: records.set_by_hand,
    };
    let phase = phase(&facts, &model.phases);
    let customer = facts.customer;
    // Only a customer has health: a former one has nothing left to keep, and a booked
    // one nothing to measure yet.
    let health = if !customer {
        score(model, &Signals::new())
    } else {
        let scope = Scope {
            phase: Some(phase.phase),
            segment: records.segment.as_deref(),
        };
        score_in(model, &signals, &scope)
    };
    Assessment {
        account_id: records.account_id,
        segment: records.segment.clone(),
        as_of,
        phase,
        health,
        signals,
        seats: inputs.seats,
        term_months: facts_term,
    }
}

#[cfg(test)]
mod parts_tests {
    use super::*;

    /// Assessed in parts on threads, every account comes back in order, as alone.
    #[test]
    fn assessing_in_parts_gives_each_account_as_alone() {
        let model = HealthModel::default();
        let day = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        let workspace = Workspace {
            features: vec!["report".into()],
            usage_tracked: true,
        };
        let records: Vec<AccountRecords> = (0..2_600)
            .map(|i| AccountRecords {
                account_id: 7 * i + 1,
                departments: (i % 5) as u32,
                renewal_date: day.checked_add_days(chrono::Days::new((i % 300) as u64)),
                ..AccountRecords::default()
            })
            .collect();
        let usage: std::collections::HashMap<i64, UsageOn> = records
            .iter()
            .filter(|r| r.account_id % 3 != 0)
            .map(|r| {
                let window = |n: i64| WindowUse {
                    active_users: (n % 40) as u32,
                    active_departments: (n % 4) as u32,
                    events: [("report".to_string(), n % 97)].into_iter().collect(),
                };
                let usage = UsageOn {
                    now: window(r.account_id),
                    before: window(r.account_id / 2),
                    users_ever: (r.account_id % 60) as u32,
                    last_use_on: day.checked_sub_days(chrono::Days::new((r.account_id % 50) as u64)),
                };
                (r.account_id, usage)
            })
            .collect();
        let alone: Vec<Assessment> = records
            .iter()
            .map(|r| {
                assess(
                    &model,
                    r,
                    usage.get(&r.account_id).cloned().unwrap_or_default(),
                    &workspace,
                    day,
                )
            })
            .collect();
        let each = assess_each(&model, &records, usage, &workspace, day);
        assert_eq!(each.len(), alone.len());
        for (a, b) in each.iter().zip(&alone) {
            assert_eq!(a.account_id, b.account_id);
            assert_eq!(a.health.score, b.health.score);
            assert_eq!(a.signals, b.signals);
        }
    }
}
