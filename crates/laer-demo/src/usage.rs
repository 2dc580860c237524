//! Product users and their usage: who is provisioned, who is active each month, which
//! features they use; and the usage events, generated per account month on demand.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};

use super::Window;
use super::catalog::{CORE_FEATURES, DEPARTMENTS, FEATURES, Segment, ValueKind};
use super::dice::{Dice, Stream, cumulative};
use super::lifecycle::Story;
use super::people::{person_name, unique_email};
use laer_core::dedup::{event_content, event_key};
use laer_core::model::{NewEvent, NewProductUser};

/// What could be seen of an account in one of its months (zero outside the window or
/// while not a customer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    pub seats: u32,
    pub active_users: u32,
    /// Departments with at least one active user.
    pub departments: u32,
    pub in_window: bool,
}

impl Observed {
    pub fn utilisation(&self) -> f64 {
        if self.seats == 0 {
            0.0
        } else {
            f64::from(self.active_users) / f64::from(self.seats)
        }
    }
}

/// One account month of usage, enough to generate its events again at any time.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageMonth {
    account: usize,
    /// The month's number in the account's story: names its random stream.
    number: u32,
    from: NaiveDate,
    /// Exclusive; the month clipped to the window.
    to: NaiveDate,
    /// Local numbers (0-based) of the users active this month.
    active: Vec<u32>,
    /// Relative use per active user.
    depth: f64,
    /// Indices into [`FEATURES`] of the features in use, most used first.
    features: Vec<u8>,
}

pub struct Users {
    pub users: Vec<NewProductUser>,
    pub months: Vec<UsageMonth>,
    /// One per story step.
    pub observed: Vec<Observed>,
}

pub fn user_ref(account: usize, local: u32) -> String {
    format!("user-{:04}-{:04}", account + 1, local + 1)
}

/// Users are provisioned at the start of a month, up to a share of seats that grows with
/// adoption. Each month a user is active with a chance that follows adoption, their own
/// propensity, and whether their department has taken the product up.
pub fn simulate(account: usize, story: &Story, window: &Window, domain: &str, seed: u64) -> Users {
    let mut dice = Dice::new(seed, Stream::Users, account as u64);
    let departments = department_order(story.segment, &mut dice);
    let department_weights: Vec<f64> = (0..departments.len()).map(|j| 1.0 / (1.0 + 0.35 * j as f64)).collect();
    let mut feature_order: Vec<u8> = (0..FEATURES.len() as u8).collect();
    dice.shuffle(&mut feature_order[CORE_FEATURES..]);
    let mut users = Vec::new();
    let mut propensity: Vec<f64> = Vec::new();
    let mut department_of: Vec<usize> = Vec::new();
    let mut emails = BTreeSet::new();
    let mut months = Vec::new();
    let mut observed = Vec::with_capacity(story.steps.len());
    for (number, step) in story.steps.iter().enumerate() {
        let Some(contract) = &step.contract else {
            observed.push(Observed::default());
            continue;
        };
        let adoption = step.drivers.adoption;
        let provisioned = (f64::from(contract.seats) * (0.55 + 0.5 * adoption).min(1.0)).ceil() as usize;
        while users.len() < provisioned {
            let department = dice.weighted(&department_weights);
            let (first, last) = person_name(&mut dice);
            // Provisioned before the working day starts, so no event precedes its user.
            let created_at = at(step.from, 6 * 60 + dice.int(0, 59));
            users.push(NewProductUser {
                external_id: user_ref(account, users.len() as u32),
                account_id: account as i64,
                email: Some(unique_email(&mut emails, first, last, domain)),
                name: Some(format!("{first} {last}")),
                department: Some(departments[department].to_string()),
                created_at,
            });
            propensity.push(dice.between(0.3, 1.0));
            department_of.push(department);
        }
        let from = step.from.max(window.start);
        let to = step.to.min(window.today);
        if from >= to {
            observed.push(Observed {
                seats: contract.seats,
                ..Observed::default()
            });
            continue;
        }
        // Spread: departments take the product up as adoption grows.
        let adopted = ((departments.len() as f64 * (0.2 + 0.8 * adoption) + 0.7 * dice.normal()).round() as usize)
            .clamp(1, departments.len());
        let weights: Vec<f64> = (0..users.len())
            .map(|u| propensity[u] * if department_of[u] < adopted { 1.0 } else { 0.15 })
            .collect();
        let total: f64 = weights.iter().sum();
        let desired = adoption * f64::from(contract.seats) * dice.between(0.9, 1.1);
        let mut active = Vec::new();
        for (u, w) in weights.iter().enumerate() {
            if total > 0.0 && dice.chance((desired * w / total).min(0.97)) && active.len() < contract.seats as usize {
                active.push(u as u32);
            }
        }
        let available: Vec<u8> = feature_order
            .iter()
            .copied()
            .filter(|f| {
                let feature = &FEATURES[usize::from(*f)];
                contract.plan >= feature.plan && feature.add_on.is_none_or(|a| contract.has(a))
            })
            .collect();
        // Breadth: more of the available features as adoption and transformation grow.
        let share = 0.2 + 0.45 * adoption + 0.35 * step.drivers.transformation;
        let breadth = ((available.len() as f64 * share + 0.8 * dice.normal()).round() as usize)
            .clamp(CORE_FEATURES.min(available.len()), available.len());
        let spread: BTreeSet<usize> = active.iter().map(|u| department_of[*u as usize]).collect();
        observed.push(Observed {
            seats: contract.seats,
            active_users: active.len() as u32,
            departments: spread.len() as u32,
            in_window: true,
        });
        if !active.is_empty() {
            months.push(UsageMonth {
                account,
                number: number as u32,
                from,
                to,
                active,
                depth: (0.5 + adoption) * dice.between(0.85, 1.15),
                features: available[..breadth].to_vec(),
            });
        }
    }
    Users {
        users,
        months,
        observed,
    }
}

/// IT first (it buys the product), then the rest in a seeded order.
fn department_order(segment: Segment, dice: &mut Dice) -> Vec<&'static str> {
    let count = match segment {
        Segment::Smb => dice.int(3, 5),
        Segment::MidMarket => dice.int(5, 7),
        Segment::Enterprise => dice.int(7, 10),
    } as usize;
    let mut rest: Vec<&'static str> = DEPARTMENTS[1..].to_vec();
    dice.shuffle(&mut rest);
    std::iter::once(DEPARTMENTS[0]).chain(rest).take(count).collect()
}

/// An instant on `day`, `minutes` after midnight UTC.
pub fn at(day: NaiveDate, minutes: i64) -> Option<DateTime<Utc>> {
    day.and_time(NaiveTime::MIN)
        .checked_add_signed(TimeDelta::minutes(minutes))
        .map(|t| t.and_utc())
}

/// Working days carry the usage; weekends a trickle.
pub fn weekday_weight(day: &NaiveDate) -> f64 {
    match day.weekday() {
        Weekday::Mon => 1.05,
        Weekday::Tue | Weekday::Wed => 1.1,
        Weekday::Thu => 1.0,
        Weekday::Fri => 0.75,
        Weekday::Sat => 0.06,
        Weekday::Sun => 0.04,
    }
}

const WORKDAY_START_MS: i64 = 7 * 3_600_000;
const WORKDAY_MS: i64 = 11 * 3_600_000;

/// The usage of every account, from which events are generated on demand: all at once
/// ([`DemoUsage::events`]) or account by account ([`DemoUsage::events_of`]), the same
/// events either way.
#[derive(Debug, Clone)]
pub struct DemoUsage {
    seed: u64,
    months: Vec<UsageMonth>,
    /// `months[starts[a]..starts[a + 1]]` are account a's.
    starts: Vec<usize>,
    /// Extra events per active user and unit of depth, set so the whole company has
    /// about the targeted number of events.
    extra_per_depth: f64,
}

impl DemoUsage {
    pub(super) fn new(seed: u64, per_account: Vec<Vec<UsageMonth>>, target_events: f64) -> DemoUsage {
        let mut starts = vec![0];
        let mut months = Vec::new();
        for account_months in per_account {
            months.extend(account_months);
            starts.push(months.len());
        }
        let minimum: f64 = months.iter().map(|m| m.active.len() as f64 * m.share()).sum();
        let depth: f64 = months.iter().map(|m| m.active.len() as f64 * m.depth * m.share()).sum();
        let extra_per_depth = if depth > 0.0 {
            ((target_events - minimum) / depth).clamp(0.0, 8.0)
        } else {
            0.0
        };
        DemoUsage {
            seed,
            months,
            starts,
            extra_per_depth,
        }
    }

    /// How many accounts the usage covers (the company's account count).
    pub fn accounts(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// The events of one account (an index into `DemoCompany::accounts`), in time order;
    /// none for an index out of range.
    pub fn events_of(&self, account: usize) -> Vec<NewEvent> {
        let mut events = Vec::new();
        if let (Some(&start), Some(&end)) = (self.starts.get(account), self.starts.get(account + 1)) {
            for month in &self.months[start..end] {
                self.month_events(month, &mut events);
            }
        }
        events
    }

    /// Every event, account by account, each account's in time order.
    pub fn events(&self) -> impl Iterator<Item = NewEvent> + '_ {
        (0..self.accounts()).flat_map(|a| self.events_of(a))
    }

    /// A month's events: each active user gets at least one, more with depth; they fall
    /// on days by a weekday pattern and, within a day, in distinct slots of working hours
    /// (07:00–18:00 UTC), so that no two events of an account share an instant.
    fn month_events(&self, m: &UsageMonth, out: &mut Vec<NewEvent>) {
        if m.features.is_empty() {
            return;
        }
        let mut dice = Dice::new(
            self.seed,
            Stream::Usage,
            ((m.account as u64) << 24) | u64::from(m.number),
        );
        let days: Vec<NaiveDate> = m.from.iter_days().take_while(|d| *d < m.to).collect();
        let day_weights = cumulative(days.iter().map(weekday_weight));
        let feature_weights = cumulative((0..m.features.len()).map(|j| 1.0 / (1.0 + j as f64)));
        let mut by_day: Vec<Vec<u32>> = vec![Vec::new(); days.len()];
        let extra = self.extra_per_depth * m.depth * m.share();
        for k in 0..m.active.len() as u32 {
            let personal = dice.between(0.3, 1.7);
            let count = 1 + dice.poisson(extra * personal);
            for _ in 0..count {
                by_day[dice.by_cumulative(&day_weights)].push(k);
            }
        }
        let refs: Vec<String> = m.active.iter().map(|u| user_ref(m.account, *u)).collect();
        for (day, users) in days.iter().zip(by_day.iter_mut()) {
            if users.is_empty() {
                continue;
            }
            dice.shuffle(users);
            let slot = (WORKDAY_MS / users.len() as i64).max(1);
            let midnight = day.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
            for (i, k) in users.iter().enumerate() {
                let millis = midnight + WORKDAY_START_MS + i as i64 * slot + dice.int(0, slot - 1);
                let Some(occurred_at) = DateTime::from_timestamp_millis(millis) else {
                    continue;
                };
                let feature_index = usize::from(m.features[dice.by_cumulative(&feature_weights)]);
                let feature = &FEATURES[feature_index];
                let value = match feature.value {
                    ValueKind::None => None,
                    ValueKind::Minutes(max) => Some(dice.int(1, i64::from(max)) as f64),
                    // Mostly small batches, a few large ones.
                    ValueKind::Count(max) => {
                        let u = dice.unit();
                        Some((1.0 + f64::from(max) * u * u * u).floor())
                    }
                };
                let user_ref = refs[*k as usize].clone();
                let content = event_content(feature.key, Some(&user_ref), value);
                out.push(NewEvent {
                    account_id: m.account as i64,
                    occurred_at,
                    event_type_id: feature_index as i64,
                    user_ref: Some(user_ref),
                    value,
                    dedup_key: event_key(content, 0),
                });
            }
        }
    }
}

impl UsageMonth {
    /// The month's length as a share of an average month (short at the window's edges).
    fn share(&self) -> f64 {
        (self.to - self.from).num_days() as f64 / 30.4
    }
}
