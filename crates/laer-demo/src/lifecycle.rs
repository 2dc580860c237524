//! One account's commercial life, month by month: latent drivers that drift and get
//! shocked, and the contract decisions (renew, expand, contract, churn, return) they cause.
//!
//! Time runs in *account months*: from the land date (day of month at most 28, so every
//! anniversary exists) to the same day of the next month. Renewals fall on anniversaries.

use chrono::{Datelike, Months, NaiveDate};

use super::catalog::{AddOn, Plan, Segment, Unit};
use super::dice::{Dice, sigmoid};
use super::{ChangeKind, ContractChange, Window};
use laer_core::Money;
use laer_core::model::NewSubscription;

/// The account's hidden state, each in [0, 1]. Observable signals are noisy readings of
/// these; contract decisions are caused by them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drivers {
    /// Expected share of seats in active use.
    pub adoption: f64,
    /// Quality of the service as the customer lives it: few defects, fast fixes.
    pub experience: f64,
    /// Pace of progress on the customer's business outcomes (0.7 ≈ on plan).
    pub transformation: f64,
    /// Discipline of the relationship: meetings kept, sponsors involved.
    pub engagement: f64,
}

impl Drivers {
    fn map(self, f: impl Fn(f64) -> f64) -> Drivers {
        Drivers {
            adoption: f(self.adoption),
            experience: f(self.experience),
            transformation: f(self.transformation),
            engagement: f(self.engagement),
        }
    }

    fn toward(self, other: Drivers, share: f64) -> Drivers {
        Drivers {
            adoption: self.adoption + (other.adoption - self.adoption) * share,
            experience: self.experience + (other.experience - self.experience) * share,
            transformation: self.transformation + (other.transformation - self.transformation) * share,
            engagement: self.engagement + (other.engagement - self.engagement) * share,
        }
    }

    fn mean(all: &[Drivers]) -> Option<Drivers> {
        let n = all.len() as f64;
        let sum = all.iter().copied().reduce(|a, b| Drivers {
            adoption: a.adoption + b.adoption,
            experience: a.experience + b.experience,
            transformation: a.transformation + b.transformation,
            engagement: a.engagement + b.engagement,
        })?;
        Some(sum.map(|x| x / n))
    }
}

/// The account's overall health in [0, ~1.4]: adoption, experience and transformation,
/// multiplied by engagement (an engaged customer gets more from the same product).
pub fn health(d: &Drivers) -> f64 {
    let value = 0.40 * d.adoption + 0.35 * d.experience + 0.25 * d.transformation;
    // Low experience and low transformation together: "will churn and tell others".
    let quadrant = if d.experience < 0.45 && d.transformation < 0.4 {
        -0.08
    } else {
        0.0
    };
    (value + quadrant) * (0.55 + 0.9 * d.engagement)
}

/// What the customer has bought.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub plan: Plan,
    pub seats: u32,
    /// Bit set of [`AddOn::bit`].
    pub add_ons: u8,
    pub bill_period_months: i32,
    /// Whole percent off list price.
    pub discount_pct: i64,
    /// When the running term ends: the renewal date.
    pub term_end: NaiveDate,
}

impl Contract {
    pub fn has(&self, add_on: AddOn) -> bool {
        self.add_ons & add_on.bit() != 0
    }

    /// One subscription line per product: (product, quantity, units, MRR).
    fn lines(&self) -> Vec<(Product, u32, Unit, Money)> {
        let price = |list: i64, quantity: u32| {
            // quantity × list × (100 − discount)% in ten-thousandths: exact integers.
            Money::from_ten_thousandths(i64::from(quantity) * list * 100 * (100 - self.discount_pct))
        };
        let mut lines = vec![(
            Product::Plan(self.plan),
            self.seats,
            Unit::Seats,
            price(self.plan.seat_price(), self.seats),
        )];
        for add_on in AddOn::ALL.into_iter().filter(|a| self.has(*a)) {
            let (list, unit) = add_on.price();
            let quantity = if unit == Unit::Seats { self.seats } else { 1 };
            lines.push((Product::AddOn(add_on), quantity, unit, price(list, quantity)));
        }
        lines
    }

    pub fn mrr(&self) -> Money {
        self.lines().iter().map(|l| l.3).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Product {
    Plan(Plan),
    AddOn(AddOn),
}

impl Product {
    fn name(self) -> &'static str {
        match self {
            Product::Plan(p) => p.name(),
            Product::AddOn(a) => a.name(),
        }
    }
}

/// One account month.
#[derive(Debug, Clone)]
pub struct Step {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub drivers: Drivers,
    /// What the customer had during the month; `None` while not a customer.
    pub contract: Option<Contract>,
    /// Months since the current customer episode began.
    pub tenure: u32,
}

/// A stretch of time as a customer: from land or return to churn (or still running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

pub struct Story {
    pub segment: Segment,
    pub landed_on: NaiveDate,
    pub steps: Vec<Step>,
    pub lines: Vec<NewSubscription>,
    pub changes: Vec<ContractChange>,
    pub episodes: Vec<Episode>,
    /// The contract in force on `today`, if a customer.
    pub current: Option<Contract>,
    /// Every renewal at which the customer could leave (inside the window), with the
    /// true chance that it would: the oracle laer's forecast is scored against.
    pub decisions: Vec<RenewalDecision>,
}

/// A renewal decision and its true chance of churn, from the latent drivers (and the
/// part no signal shows) — what [`churn_probability`] drew against.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RenewalDecision {
    /// The day the term ended: churn there ends the lines that day.
    pub on: NaiveDate,
    pub churn_probability: f64,
}

impl Story {
    /// The month containing `day`, if any.
    pub fn step_on(&self, day: NaiveDate) -> Option<&Step> {
        let at = self.steps.partition_point(|s| s.to <= day);
        self.steps.get(at).filter(|s| s.from <= day)
    }
}

/// Subscription lines as they open and close; external ids "sub-AAAA-NN".
struct LineBook {
    account: usize,
    lines: Vec<NewSubscription>,
    open: Vec<(Product, usize)>,
}

impl LineBook {
    /// Moves from `old` to `new` on `day`: lines whose product, quantity or price changed
    /// (or all, at an annual renewal) end on `day` and their successors start on `day`.
    fn change(&mut self, old: Option<&Contract>, new: Option<&Contract>, day: NaiveDate, renew_all: bool) {
        let old_lines = old.map(Contract::lines).unwrap_or_default();
        let new_lines = new.map(Contract::lines).unwrap_or_default();
        for old_line in &old_lines {
            let unchanged = new_lines.contains(old_line);
            if (renew_all || !unchanged)
                && let Some(at) = self.open.iter().position(|(p, _)| *p == old_line.0)
            {
                let (_, line) = self.open.remove(at);
                self.lines[line].end_date = Some(day);
            }
        }
        for line in &new_lines {
            if self.open.iter().any(|(p, _)| *p == line.0) {
                continue;
            }
            let contract = new.map(|c| (c.bill_period_months, c.discount_pct)).unwrap_or((1, 0));
            self.open.push((line.0, self.lines.len()));
            self.lines.push(NewSubscription {
                external_id: format!("sub-{:04}-{:02}", self.account + 1, self.lines.len() + 1),
                account_id: self.account as i64,
                product: line.0.name().to_string(),
                start_date: day,
                end_date: None,
                mrr: line.3,
                quantity: Some(f64::from(line.1)),
                units: Some(line.2.name().to_string()),
                bill_period_months: contract.0,
                discount: (contract.1 > 0).then(|| contract.1 as f64 / 100.0),
                original: None,
            });
        }
    }
}

pub fn add_months(day: NaiveDate, months: u32) -> Option<NaiveDate> {
    day.checked_add_months(Months::new(months))
}

/// Customers do not cut seats while they are still rolling out.
const ONBOARDING_MONTHS: u32 = 6;

/// Premium Support (a flat fee) is not sold to small businesses.
fn available(segment: Segment, add_on: AddOn) -> bool {
    !(segment == Segment::Smb && add_on == AddOn::PremiumSupport)
}

/// Seats can grow without end in a long run; this keeps them (and MRR) in range.
const MAX_SEATS: u32 = 50_000;

/// Simulates account `account` from its land date to `window.today`.
pub fn simulate(account: usize, window: &Window, seed: u64) -> Story {
    let mut dice = Dice::new(seed, super::dice::Stream::Story, account as u64);
    let segment = match dice.weighted(&[0.55, 0.33, 0.12]) {
        0 => Segment::Smb,
        1 => Segment::MidMarket,
        _ => Segment::Enterprise,
    };
    let landed_on = land_date(window, segment, &mut dice);
    let fit = dice.normal();
    let engagement_bias = match segment {
        Segment::Smb => -0.08,
        Segment::MidMarket => 0.0,
        Segment::Enterprise => 0.08,
    };
    let initial_targets = Drivers {
        adoption: 0.68 + 0.13 * fit + 0.06 * dice.normal(),
        experience: 0.68 + 0.12 * dice.normal(),
        transformation: 0.60 + 0.10 * fit + 0.10 * dice.normal(),
        engagement: 0.60 + engagement_bias + 0.15 * dice.normal(),
    }
    .map(|x| x.clamp(0.1, 0.95));
    let mut targets = initial_targets;
    let mut drivers = starting_drivers(&targets, &mut dice);
    let mut contract = first_contract(segment, landed_on, &mut dice);
    let mut book = LineBook {
        account,
        lines: Vec::new(),
        open: Vec::new(),
    };
    book.change(None, contract.as_ref(), landed_on, false);
    let mut changes = vec![change(account, landed_on, ChangeKind::Land, None, contract.as_ref())];
    let mut episodes = vec![Episode {
        start: landed_on,
        end: None,
    }];
    let mut steps: Vec<Step> = Vec::new();
    let mut decisions: Vec<RenewalDecision> = Vec::new();
    let mut tenure = 0;
    let mut churned_on: Option<NaiveDate> = None;
    let mut last_seats = contract.as_ref().map_or(0, |c| c.seats);
    let mut month = 0;
    while let (Some(from), Some(to)) = (add_months(landed_on, month), add_months(landed_on, month + 1)) {
        if from >= window.today {
            break;
        }
        month += 1;
        if contract.is_some() {
            shock(&mut targets, &mut drivers, &initial_targets, &mut dice);
            drivers = evolve(drivers, &targets, tenure, contract.as_ref(), &mut dice);
        }
        steps.push(Step {
            from,
            to,
            drivers,
            contract: contract.clone(),
            tenure,
        });
        tenure += 1;
        if to > window.today {
            break;
        }
        let recent: Vec<Drivers> = steps
            .iter()
            .rev()
            .take(3)
            .filter(|s| s.contract.is_some())
            .map(|s| s.drivers)
            .collect();
        let recent = Drivers::mean(&recent).unwrap_or(drivers);
        let before = contract.clone();
        match &contract {
            Some(c) if to >= c.term_end => {
                // Existing customers are those who stayed until the window opened.
                let may_churn = to > window.start;
                let leave = churn_probability(&recent, segment, c.bill_period_months, &mut dice);
                if may_churn {
                    decisions.push(RenewalDecision {
                        on: to,
                        churn_probability: leave,
                    });
                }
                if may_churn && dice.chance(leave) {
                    contract = None;
                    churned_on = Some(to);
                    if let Some(e) = episodes.last_mut() {
                        e.end = Some(to);
                    }
                } else {
                    let (next, factor) = renewed(c, &recent, segment, tenure, to, &mut dice);
                    drivers.adoption = (drivers.adoption * factor).min(0.97);
                    contract = Some(next);
                }
            }
            Some(c) => {
                if let Some((next, factor)) = amended(c, &recent, &mut dice) {
                    drivers.adoption = (drivers.adoption * factor).min(0.97);
                    contract = Some(next);
                }
            }
            None => {
                let away = churned_on.map_or(0, |d| (to - d).num_days());
                if away >= 90 && dice.chance(0.035) {
                    contract = Some(returning_contract(segment, last_seats, to, &mut dice));
                    targets = initial_targets.toward(
                        Drivers {
                            experience: 0.8,
                            ..initial_targets
                        },
                        0.5,
                    );
                    drivers = starting_drivers(&targets, &mut dice);
                    tenure = 0;
                    episodes.push(Episode { start: to, end: None });
                }
            }
        }
        // An annual term renewed is a new set of lines; a monthly term renews silently.
        let renew_all = matches!((&before, &contract),
            (Some(b), Some(n)) if n.term_end != b.term_end && n.bill_period_months >= 12);
        let lines_changed = before.as_ref().map(Contract::lines) != contract.as_ref().map(Contract::lines);
        if renew_all || lines_changed {
            book.change(before.as_ref(), contract.as_ref(), to, renew_all);
            let kind = change_kind(before.as_ref(), contract.as_ref());
            changes.push(change(account, to, kind, before.as_ref(), contract.as_ref()));
        }
        if let Some(c) = &contract {
            last_seats = c.seats;
        }
    }
    Story {
        segment,
        landed_on,
        steps,
        lines: book.lines,
        changes,
        episodes,
        current: contract,
        decisions,
    }
}

/// About half the accounts were customers before the window opened; the rest land
/// during it, somewhat more of them later (a growing vendor). The day of month is at
/// most 28.
fn land_date(window: &Window, segment: Segment, dice: &mut Dice) -> NaiveDate {
    let existing_share = if segment == Segment::Enterprise { 0.6 } else { 0.5 };
    let day = if dice.chance(existing_share) {
        window.start - chrono::TimeDelta::days(dice.int(20, 1000))
    } else {
        let days = (window.today - window.start).num_days().max(1);
        // Half at an even pace, half at a pace growing linearly (a square root of a uniform).
        let u = dice.unit();
        let position = if dice.chance(0.5) { u } else { u.sqrt() };
        let offset = (days as f64 * position) as i64;
        window.start + chrono::TimeDelta::days(offset.min(days - 1))
    };
    day.with_day0(day.day0().min(27)).unwrap_or(day)
}

fn starting_drivers(targets: &Drivers, dice: &mut Dice) -> Drivers {
    Drivers {
        adoption: dice.between(0.2, 0.4),
        experience: targets.experience,
        transformation: targets.transformation * 0.8,
        engagement: (targets.engagement + 0.1).min(0.95),
    }
}

/// Events that move an account's long-run levels: a champion leaves, an outage, a
/// reorganisation; or a new sponsor, a successful rollout; or a CSM's save play.
fn shock(targets: &mut Drivers, drivers: &mut Drivers, initial: &Drivers, dice: &mut Dice) {
    if dice.chance(0.015) {
        targets.engagement -= 0.3;
        drivers.engagement -= 0.1;
    }
    if dice.chance(0.02) {
        targets.experience -= 0.12;
        drivers.experience -= 0.2;
    }
    if dice.chance(0.01) {
        targets.adoption -= 0.2;
        targets.transformation -= 0.15;
    }
    if dice.chance(0.012) {
        targets.engagement += 0.25;
    }
    if dice.chance(0.012) {
        targets.adoption += 0.12;
        targets.transformation += 0.1;
    }
    if health(drivers) < 0.45 && dice.chance(0.06) {
        *targets = targets.toward(*initial, 0.5);
    }
    *targets = targets.map(|x| x.clamp(0.05, 0.95));
    *drivers = drivers.map(|x| x.clamp(0.02, 0.98));
}

/// One month of drift: each driver moves a quarter of the way to its target, plus noise.
/// Adoption ramps up over onboarding; engagement multiplies adoption and transformation.
fn evolve(d: Drivers, targets: &Drivers, tenure: u32, contract: Option<&Contract>, dice: &mut Dice) -> Drivers {
    let ramp = (0.45 + 0.15 * f64::from(tenure)).min(1.0);
    let engagement_factor = 0.55 + 0.75 * d.engagement;
    let premium_support = contract.is_some_and(|c| c.has(AddOn::PremiumSupport));
    let goal = Drivers {
        adoption: targets.adoption * ramp * engagement_factor,
        experience: targets.experience + if premium_support { 0.05 } else { 0.0 },
        transformation: targets.transformation * engagement_factor,
        engagement: targets.engagement,
    };
    let mut step = |now: f64, target: f64| {
        (now + 0.25 * (target.clamp(0.03, 0.97) - now) + 0.035 * dice.normal()).clamp(0.02, 0.98)
    };
    Drivers {
        adoption: step(d.adoption, goal.adoption),
        experience: step(d.experience, goal.experience),
        transformation: step(d.transformation, goal.transformation),
        engagement: step(d.engagement, goal.engagement),
    }
}

/// The chance that the customer leaves at this renewal. Besides health, some of it is
/// what no signal shows (budgets, acquisitions, a competitor's offer).
fn churn_probability(recent: &Drivers, segment: Segment, bill_period_months: i32, dice: &mut Dice) -> f64 {
    let bias = match segment {
        Segment::Smb => 0.4,
        Segment::MidMarket => 0.0,
        Segment::Enterprise => -1.0,
    };
    let logit = 2.6 - 8.0 * health(recent) + bias + 0.8 * dice.normal();
    // A monthly term is a renewal every month: a much smaller chance each time.
    sigmoid(if bill_period_months >= 12 { logit } else { logit - 2.6 })
}

/// The contract after a renewal, and the factor by which utilisation changes (seats
/// bought ahead of use dilute it; seats cut concentrate it).
fn renewed(
    c: &Contract,
    d: &Drivers,
    segment: Segment,
    tenure: u32,
    day: NaiveDate,
    dice: &mut Dice,
) -> (Contract, f64) {
    let annual = c.bill_period_months >= 12;
    // Monthly terms come up twelve times a year: changes are rarer at each.
    let rate = if annual { 1.0 } else { 0.25 };
    let mut next = c.clone();
    let expand = sigmoid(-1.0 + 8.0 * (d.adoption - 0.8) + 3.0 * (d.transformation - 0.5) + 2.0 * (d.engagement - 0.5));
    let cut = sigmoid(1.0 + 10.0 * (0.45 - d.adoption));
    if d.adoption > 0.78 && dice.chance(expand * rate) {
        let growth = dice.between(0.08, 0.35) * (0.5 + d.transformation);
        next.seats = more_seats(c.seats, 1.0 + growth);
    } else if d.adoption < 0.6 && tenure >= ONBOARDING_MONTHS && dice.chance(cut * rate) {
        // Idle seats are cut to what is used plus a margin, by at most a third at once.
        let floor = segment
            .seat_range()
            .0
            .max((f64::from(c.seats) * 0.67).ceil() as u32)
            .min(c.seats);
        let wanted = (f64::from(c.seats) * (d.adoption + dice.between(0.1, 0.25))).ceil() as u32;
        next.seats = wanted.clamp(floor, c.seats);
    }
    // Add-ons follow outcomes and service quality; plans follow breadth of use.
    if d.transformation > 0.55 && d.experience > 0.55 && dice.chance(0.3 * rate) {
        let missing: Vec<AddOn> = AddOn::ALL
            .into_iter()
            .filter(|a| !c.has(*a) && available(segment, *a))
            .collect();
        if !missing.is_empty() {
            next.add_ons |= dice.pick(&missing).bit();
        }
    } else if (d.experience < 0.5 || d.adoption < 0.45) && dice.chance(0.4 * rate) {
        let owned: Vec<AddOn> = AddOn::ALL.into_iter().filter(|a| c.has(*a)).collect();
        if !owned.is_empty() {
            next.add_ons &= !dice.pick(&owned).bit();
        }
    }
    // SMB customers stay below the Enterprise plan.
    if d.adoption > 0.75
        && d.transformation > 0.6
        && dice.chance(0.2 * rate)
        && let Some(plan) = c
            .plan
            .upgrade()
            .filter(|p| *p != Plan::Enterprise || segment != Segment::Smb)
    {
        next.plan = plan;
    }
    // A healthy monthly customer sometimes commits to a year for the annual discount.
    if !annual && health(d) > 0.65 && dice.chance(0.04) {
        next.bill_period_months = 12;
        next.discount_pct = (c.discount_pct + 15).min(40);
    }
    next.term_end = add_months(day, next.bill_period_months.unsigned_abs()).unwrap_or(day);
    let factor = f64::from(c.seats) / f64::from(next.seats.max(1));
    (next, factor)
}

/// `seats` grown by `factor`: at least one more, at most [`MAX_SEATS`].
fn more_seats(seats: u32, factor: f64) -> u32 {
    ((f64::from(seats) * factor).ceil() as u32)
        .max(seats.saturating_add(1))
        .min(MAX_SEATS)
}

/// A mid-term amendment of an annual contract: seats added when they run out.
fn amended(c: &Contract, d: &Drivers, dice: &mut Dice) -> Option<(Contract, f64)> {
    if c.bill_period_months < 12 || c.seats >= MAX_SEATS || d.adoption < 0.85 || !dice.chance(0.15) {
        return None;
    }
    let seats = more_seats(c.seats, dice.between(1.1, 1.35));
    let next = Contract { seats, ..c.clone() };
    Some((next, f64::from(c.seats) / f64::from(seats)))
}

fn first_contract(segment: Segment, day: NaiveDate, dice: &mut Dice) -> Option<Contract> {
    let (low, high) = segment.seat_range();
    // Skewed towards the low end of the range: many small deals, a few large ones.
    let u = dice.unit();
    let seats = low + (f64::from(high - low) * u * u) as u32;
    let plan = match segment {
        Segment::Smb => *dice.pick(&[
            Plan::Starter,
            Plan::Starter,
            Plan::Starter,
            Plan::Professional,
            Plan::Professional,
        ]),
        Segment::MidMarket => *dice.pick(&[Plan::Professional, Plan::Professional, Plan::Enterprise]),
        Segment::Enterprise => *dice.pick(&[Plan::Enterprise, Plan::Enterprise, Plan::Enterprise, Plan::Professional]),
    };
    let annual_share = match segment {
        Segment::Smb => 0.3,
        Segment::MidMarket => 0.6,
        Segment::Enterprise => 0.95,
    };
    let annual = dice.chance(annual_share);
    let negotiated = if segment == Segment::Enterprise {
        5 * dice.int(0, 4)
    } else {
        0
    };
    let mut add_ons = 0;
    for add_on in AddOn::ALL.into_iter().filter(|a| available(segment, *a)) {
        let chance = match (segment, add_on) {
            (Segment::Smb, _) => 0.12,
            (Segment::MidMarket, _) => 0.25,
            (Segment::Enterprise, _) => 0.45,
        };
        if dice.chance(chance) {
            add_ons |= add_on.bit();
        }
    }
    let bill_period_months = if annual { 12 } else { 1 };
    Some(Contract {
        plan,
        seats,
        add_ons,
        bill_period_months,
        discount_pct: if annual { 15 } else { 0 } + negotiated,
        term_end: add_months(day, bill_period_months.unsigned_abs())?,
    })
}

/// A churned customer returning: smaller than before, on fresh terms.
fn returning_contract(segment: Segment, last_seats: u32, day: NaiveDate, dice: &mut Dice) -> Contract {
    let floor = segment.seat_range().0;
    let seats = ((f64::from(last_seats) * dice.between(0.5, 0.9)).ceil() as u32).max(floor);
    let annual = segment != Segment::Smb && dice.chance(0.6);
    let bill_period_months = if annual { 12 } else { 1 };
    Contract {
        plan: if segment == Segment::Smb {
            Plan::Starter
        } else {
            Plan::Professional
        },
        seats,
        add_ons: 0,
        bill_period_months,
        discount_pct: if annual { 15 } else { 0 },
        term_end: add_months(day, bill_period_months.unsigned_abs()).unwrap_or(day),
    }
}

fn change_kind(before: Option<&Contract>, after: Option<&Contract>) -> ChangeKind {
    match (before, after) {
        (None, _) => ChangeKind::Reactivation,
        (Some(_), None) => ChangeKind::Churn,
        (Some(b), Some(a)) if a.mrr() > b.mrr() => ChangeKind::Expansion,
        (Some(b), Some(a)) if a.mrr() < b.mrr() => ChangeKind::Contraction,
        _ => ChangeKind::Renewal,
    }
}

fn change(
    account: usize,
    on: NaiveDate,
    kind: ChangeKind,
    before: Option<&Contract>,
    after: Option<&Contract>,
) -> ContractChange {
    ContractChange {
        account,
        on,
        kind,
        mrr_before: before.map_or(Money::ZERO, Contract::mrr),
        mrr_after: after.map_or(Money::ZERO, Contract::mrr),
        seats_after: after.map_or(0, |c| c.seats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_grow_by_at_least_one_up_to_the_cap() {
        assert_eq!(more_seats(10, 1.01), 11);
        assert_eq!(more_seats(100, 1.5), 150);
        assert_eq!(more_seats(MAX_SEATS - 1, 2.0), MAX_SEATS);
        assert_eq!(more_seats(MAX_SEATS, 2.0), MAX_SEATS);
    }

    #[test]
    fn health_rises_with_every_driver_and_engagement_multiplies() {
        let base = Drivers {
            adoption: 0.5,
            experience: 0.5,
            transformation: 0.5,
            engagement: 0.5,
        };
        let up = |f: fn(&mut Drivers)| {
            let mut d = base;
            f(&mut d);
            health(&d)
        };
        for raised in [
            up(|d| d.adoption = 0.8),
            up(|d| d.experience = 0.8),
            up(|d| d.transformation = 0.8),
            up(|d| d.engagement = 0.8),
        ] {
            assert!(raised > health(&base));
        }
        // The same gain in adoption is worth more with an engaged customer.
        let engaged = Drivers {
            engagement: 0.9,
            ..base
        };
        let gain = |d: Drivers| health(&Drivers { adoption: 0.8, ..d }) - health(&d);
        assert!(gain(engaged) > gain(base));
    }
}
