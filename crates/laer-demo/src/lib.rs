//! A demo company: the customers of a B2B SaaS vendor over a number of months ending on a
//! given day, with everything laer keeps about them. Pure and deterministic: the same
//! [`DemoConfig`] always gives the same [`DemoCompany`], on every platform.
//!
//! # References are indices
//!
//! The records are the model's `New*` types, but they reference each other by position
//! in this company's vectors instead of laer ids (which exist only once stored):
//!
//! - `account_id` (every record) is an index into [`DemoCompany::accounts`];
//! - `NewEvent::event_type_id` is an index into [`DemoCompany::event_types`];
//! - `NewOutcomeMeasurement::outcome_id` is an index into [`DemoCompany::outcomes`];
//! - `NewTask::assignee_id` is an index into [`DemoCompany::team`];
//! - `NewEvent::user_ref` is a product user's `external_id`, and
//!   `NewSurveyResponse::contact_ref` a contact's `external_id`, as from any source.
//!
//! The demo's own types use `usize` indices with the same meaning.
//!
//! # Subscription lines and renewals
//!
//! Lines follow the active-on-day rule of [`laer_core::retention::is_active`]. Lines running
//! on `today` are open (`end_date: None`): what happens at their renewal is not decided in
//! the data. When the running term ends is [`AccountProfile::renewal_date`] (and the
//! account's `renewal_date`). A renewed annual term is a new set of lines starting
//! the day the old ones end; a monthly term renews silently, and its lines change only
//! when seats, plan or add-ons do.
//!
//! # Causes and signals
//!
//! Each account has four latent drivers in [0, 1] — adoption, experience, transformation,
//! engagement — that drift slowly towards levels set by the account's fit, and are
//! shocked now and then (a champion leaves, an outage, a reorganisation; a new sponsor, a
//! successful rollout). Engagement multiplies adoption and transformation. The signals are
//! noisy readings of the drivers: active users over seats, feature breadth and department
//! spread from adoption; how-to cases from low adoption; defects, severity, time to
//! resolve and CSAT from experience; NPS from all four; meetings held or missed from
//! engagement; outcome measurements from transformation. Renewal decisions are drawn from
//! the drivers' average over the three months before the renewal, plus noise no signal
//! shows: poor adoption and experience lead to churn and contraction, strong adoption and
//! transformation to renewal and expansion. The drivers are published as ground truth
//! ([`DemoCompany::drivers`]) for testing health and risk models against.

mod catalog;
mod coverage;
mod dice;
mod lifecycle;
pub use lifecycle::RenewalDecision;
mod milestones;
mod outcomes;
mod people;
mod signals;
mod usage;

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;

use laer_core::Money;
use laer_core::model::{
    NewAccount, NewContact, NewEvent, NewEventType, NewMilestone, NewOutcome, NewOutcomeMeasurement, NewProductUser,
    NewSubscription, NewSupportCase, NewSurveyResponse, NewTeamMember, NewTouchpoint, TeamRole,
};

pub use catalog::{VENDOR_DOMAIN, VENDOR_NAME};
pub use usage::DemoUsage;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Customer accounts, existing and landing during the window.
    pub accounts: usize,
    /// Length of the window of history, ending on `today`; at most [`MAX_MONTHS`].
    pub months: u32,
    pub seed: u64,
    /// The end of the window: the history runs up to this day's midnight, and lines
    /// running on it are open. Years 1900 to 9000; outside them the company is empty.
    pub today: NaiveDate,
}

impl DemoConfig {
    pub const DEFAULT_ACCOUNTS: usize = 300;
    pub const DEFAULT_MONTHS: u32 = 24;
    pub const DEFAULT_SEED: u64 = 1;

    /// The default company (300 accounts, 24 months, seed 1) up to `today`.
    pub fn new(today: NaiveDate) -> DemoConfig {
        DemoConfig {
            accounts: Self::DEFAULT_ACCOUNTS,
            months: Self::DEFAULT_MONTHS,
            seed: Self::DEFAULT_SEED,
            today,
        }
    }
}

/// Longer windows are cut to this many months (20 years).
pub const MAX_MONTHS: u32 = 240;

/// Usage events of the default company, about; larger companies get proportionally more,
/// up to `MAX_TARGET_EVENTS` (each active user has at least one event a month, so a very
/// large company may exceed it: 10,000 accounts over 24 months give about 15.6 million).
const DEFAULT_TARGET_EVENTS: f64 = 1_200_000.0;
const MAX_TARGET_EVENTS: f64 = 15_000_000.0;

/// A generated company. Vectors of records reference each other by index (see the
/// module documentation); external ids are unique per kind and stable for a config.
/// With no accounts or no months, only the team and the event types are there.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DemoCompany {
    /// The first day of the window; `None` for an empty company.
    pub from: Option<NaiveDate>,
    /// Accounts, `acct-0001`, ...: name, segment (SMB, Mid-Market, Enterprise), channel,
    /// country, and attributes `industry`, `region`, `employees`, `coverage`, and while a
    /// customer `plan` and `term`, and `renewal_date`.
    pub accounts: Vec<NewAccount>,
    /// One per account, same order: what the records alone do not say.
    pub profiles: Vec<AccountProfile>,
    /// The vendor's team: account executives, CSMs, one renewal specialist, one
    /// expansion specialist, one CS leader.
    pub team: Vec<NewTeamMember>,
    /// Who owned each account in each role and since when, with the reason.
    pub coverage: Vec<CoverageAssignment>,
    pub contacts: Vec<NewContact>,
    pub product_users: Vec<NewProductUser>,
    pub subscriptions: Vec<NewSubscription>,
    /// The product's features.
    pub event_types: Vec<NewEventType>,
    /// Usage events, by account and then time; no two of an account share an instant,
    /// and `dedup_key` is [`laer_core::dedup::event_key`] of the event's content (with the
    /// event type's external id), as an import would compute it. Empty from
    /// [`generate_records`].
    pub events: Vec<NewEvent>,
    pub support_cases: Vec<NewSupportCase>,
    /// Touchpoints; a held one names, in `contact_ids`, the account's contacts in its team
    /// who took part (at most two), as indexes into `contacts`.
    pub meetings: Vec<NewTouchpoint>,
    /// NPS (quarterly, per contact) and CSAT (after closed cases).
    pub survey_responses: Vec<NewSurveyResponse>,
    pub outcomes: Vec<NewOutcome>,
    pub outcome_measurements: Vec<NewOutcomeMeasurement>,
    /// The implementation milestones of the customers' success plans.
    pub milestones: Vec<NewMilestone>,
    /// Ground truth: each account's latent drivers per account month in the window.
    pub drivers: Vec<DriverSnapshot>,
    /// Ground truth: every contract decision, including those before the window.
    pub contract_changes: Vec<ContractChange>,
}

impl DemoCompany {
    /// The member who owns `account` in `role` on `today`, if any.
    pub fn owner(&self, account: usize, role: TeamRole) -> Option<usize> {
        self.coverage
            .iter()
            .rev()
            .find(|c| c.account == account && c.role == role && c.until.is_none())
            .map(|c| c.member)
    }
}

/// What the records of an account do not say by themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountProfile {
    /// The first land (before the window for accounts that were already customers).
    pub landed_on: NaiveDate,
    pub coverage: CoverageTier,
    /// Agreed days between meetings per stakeholder team (`executive`, `network`,
    /// `security`, `application`); teams without a cadence are absent.
    pub meeting_cadence_days: BTreeMap<String, u32>,
    /// Seats bought (the plan line's quantity) on `today`; 0 when not a customer.
    pub seats: u32,
    /// The end of the running term, when the contract comes up for renewal: after
    /// `today`, within a year for annual terms and a month for monthly ones. `None` when
    /// not a customer on `today`.
    pub renewal_date: Option<NaiveDate>,
    /// The running term's billing period (1 or 12); `None` when not a customer.
    pub bill_period_months: Option<i32>,
    /// Each renewal inside the window at which it could leave, with the true chance
    /// that it would (docs/forecasts.md: the demo's oracle).
    pub renewal_decisions: Vec<lifecycle::RenewalDecision>,
}

/// How an account is covered: automated only, a shared CSM, or a named CSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageTier {
    TechTouch,
    Pooled,
    Named,
}

impl CoverageTier {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageTier::TechTouch => "tech_touch",
            CoverageTier::Pooled => "pooled",
            CoverageTier::Named => "named",
        }
    }
}

/// A team member's ownership of an account in one role over `[since, until)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageAssignment {
    /// Index into [`DemoCompany::accounts`].
    pub account: usize,
    pub role: TeamRole,
    /// Index into [`DemoCompany::team`].
    pub member: usize,
    pub since: NaiveDate,
    /// `None` while it lasts.
    pub until: Option<NaiveDate>,
    pub reason: String,
}

/// An account's latent drivers in one account month `[from, to)` (clipped to the window).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriverSnapshot {
    /// Index into [`DemoCompany::accounts`].
    pub account: usize,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub adoption: f64,
    pub experience: f64,
    pub transformation: f64,
    pub engagement: f64,
    /// The combination renewal decisions follow: adoption, experience and transformation
    /// multiplied by engagement.
    pub health: f64,
}

/// A contract decision: what the account paid before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContractChange {
    /// Index into [`DemoCompany::accounts`].
    pub account: usize,
    pub on: NaiveDate,
    pub kind: ChangeKind,
    pub mrr_before: Money,
    pub mrr_after: Money,
    pub seats_after: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The first contract.
    Land,
    /// An annual term renewed at the same MRR.
    Renewal,
    /// MRR rose: more seats, an add-on, a better plan; at a renewal or mid-term.
    Expansion,
    /// MRR fell: fewer seats, an add-on dropped, or a move from monthly to annual
    /// billing at a discount.
    Contraction,
    /// Every line ended with no successor.
    Churn,
    /// A former customer came back.
    Reactivation,
}

/// The window of history: `[start, today)`.
struct Window {
    start: NaiveDate,
    today: NaiveDate,
}

/// Generates the company with all its events in memory.
pub fn generate(config: &DemoConfig) -> DemoCompany {
    let (mut company, usage) = generate_records(config);
    company.events = usage.events().collect();
    company
}

/// Generates the company without its events, and the usage they come from: for a large
/// company, store the records and then the events account by account
/// ([`DemoUsage::events_of`]) instead of holding them all. The events are those
/// [`generate`] gives.
pub fn generate_records(config: &DemoConfig) -> (DemoCompany, DemoUsage) {
    let seed = config.seed;
    let team = people::team(config.accounts, seed);
    let mut company = DemoCompany {
        team: team.members.clone(),
        event_types: catalog::FEATURES
            .iter()
            .map(|f| NewEventType {
                external_id: f.key.to_string(),
                name: f.name.to_string(),
            })
            .collect(),
        ..DemoCompany::default()
    };
    // Dates far from the present would overflow the calendar arithmetic below.
    let start = config
        .today
        .checked_sub_months(Months::new(config.months.min(MAX_MONTHS)))
        .filter(|_| (1900..=9000).contains(&config.today.year()));
    let Some(start) = start.filter(|s| *s < config.today && config.accounts > 0) else {
        return (company, DemoUsage::new(seed, Vec::new(), 0.0));
    };
    company.from = Some(start);
    let window = Window {
        start,
        today: config.today,
    };
    let identities = people::identities(config.accounts, seed);
    let mut usage_months = Vec::with_capacity(config.accounts);
    // Accounts so far covered by pooled and by named CSMs.
    let mut tier_counts = [0usize; 2];
    for (account, identity) in identities.iter().enumerate() {
        let story = lifecycle::simulate(account, &window, seed);
        let cadence = catalog::cadence_days(story.segment);
        let first_seats = story.changes.first().map_or(0, |c| c.seats_after);
        let tier = match story.segment {
            catalog::Segment::Smb if first_seats < 10 => CoverageTier::TechTouch,
            catalog::Segment::Smb => CoverageTier::Pooled,
            _ => CoverageTier::Named,
        };
        let cadence = if tier == CoverageTier::TechTouch {
            [0; 4]
        } else {
            cadence
        };
        let group = usize::from(tier == CoverageTier::Named);
        let ordinal = tier_counts[group];
        tier_counts[group] += 1;
        let contacts = people::contacts(account, story.segment, &identity.domain, seed);
        let users = usage::simulate(account, &story, &window, &identity.domain, seed);
        let cases = signals::support_cases(account, &story, &users.observed, &contacts, &window, seed);
        let nps = signals::nps(account, &story, &contacts, &window, seed);
        let meetings = signals::meetings(account, &story, &cadence, &cases.how_to, &window, seed);
        let outcomes = outcomes::simulate(account, &story, &window, seed);
        let coverage = coverage::simulate(account, tier, ordinal, &story, &users.observed, &team, &window, seed);
        company
            .accounts
            .push(account_record(account, identity, &story, tier, seed));
        company.profiles.push(AccountProfile {
            landed_on: story.landed_on,
            coverage: tier,
            meeting_cadence_days: catalog::STAKEHOLDER_TEAMS
                .iter()
                .zip(cadence)
                .filter(|(_, days)| *days > 0)
                .map(|((team, _), days)| (team.to_string(), days))
                .collect(),
            seats: story.current.as_ref().map_or(0, |c| c.seats),
            renewal_date: story.current.as_ref().map(|c| c.term_end),
            bill_period_months: story.current.as_ref().map(|c| c.bill_period_months),
            renewal_decisions: story.decisions.clone(),
        });
        company.drivers.extend(
            story
                .steps
                .iter()
                .zip(&users.observed)
                .filter(|(s, seen)| seen.in_window && s.contract.is_some())
                .map(|(s, _)| DriverSnapshot {
                    account,
                    from: s.from.max(window.start),
                    to: s.to.min(window.today),
                    adoption: s.drivers.adoption,
                    experience: s.drivers.experience,
                    transformation: s.drivers.transformation,
                    engagement: s.drivers.engagement,
                    health: lifecycle::health(&s.drivers),
                }),
        );
        let outcome_offset = company.outcomes.len() as i64;
        company
            .outcome_measurements
            .extend(outcomes.measurements.into_iter().map(|m| NewOutcomeMeasurement {
                outcome_id: m.outcome_id + outcome_offset,
                ..m
            }));
        company.outcomes.extend(outcomes.outcomes);
        company
            .milestones
            .extend(milestones::simulate(account, &story, &window, seed));
        let meetings = with_participants(meetings, &contacts, company.contacts.len());
        company.contacts.extend(contacts);
        company.product_users.extend(users.users);
        company.subscriptions.extend(story.lines);
        company.contract_changes.extend(story.changes);
        company.support_cases.extend(cases.cases);
        company.survey_responses.extend(nps);
        company.survey_responses.extend(cases.csat);
        company.meetings.extend(meetings);
        company.coverage.extend(coverage);
        usage_months.push(users.months);
    }
    let size = config.accounts as f64 * f64::from(config.months.min(MAX_MONTHS))
        / (DemoConfig::DEFAULT_ACCOUNTS as f64 * f64::from(DemoConfig::DEFAULT_MONTHS));
    let target = (DEFAULT_TARGET_EVENTS * size).min(MAX_TARGET_EVENTS);
    (company, DemoUsage::new(seed, usage_months, target))
}

fn account_record(
    account: usize,
    identity: &people::Identity,
    story: &lifecycle::Story,
    tier: CoverageTier,
    seed: u64,
) -> NewAccount {
    let mut dice = dice::Dice::new(seed, dice::Stream::Company, account as u64 + 1);
    let (country, region, _) = catalog::COUNTRIES[dice.weighted(&catalog::COUNTRIES.map(|c| c.2))];
    let segment = story.segment;
    let channel = match segment {
        catalog::Segment::Smb => {
            ["self_serve", "partner", "direct", "marketplace"][dice.weighted(&[55.0, 20.0, 15.0, 10.0])]
        }
        catalog::Segment::MidMarket => ["direct", "partner", "marketplace"][dice.weighted(&[55.0, 30.0, 15.0])],
        catalog::Segment::Enterprise => ["direct", "partner"][dice.weighted(&[75.0, 25.0])],
    };
    let employees = match segment {
        catalog::Segment::Smb => *dice.pick(&["11-50", "51-200"]),
        catalog::Segment::MidMarket => *dice.pick(&["201-500", "501-1000", "1001-5000"]),
        catalog::Segment::Enterprise => *dice.pick(&["5001-10000", "10001-50000", "50000+"]),
    };
    let mut attributes = BTreeMap::from([
        ("industry".to_string(), identity.industry.to_string()),
        ("region".to_string(), region.to_string()),
        ("employees".to_string(), employees.to_string()),
        ("coverage".to_string(), tier.as_str().to_string()),
        ("customer_since".to_string(), story.landed_on.to_string()),
    ]);
    if let Some(c) = &story.current {
        attributes.insert("plan".to_string(), c.plan.name().to_string());
        let term = if c.bill_period_months >= 12 {
            "annual"
        } else {
            "monthly"
        };
        attributes.insert("term".to_string(), term.to_string());
    }
    let renewal_date = story.current.as_ref().map(|c| c.term_end);
    NewAccount {
        external_id: format!("acct-{:04}", account + 1),
        name: Some(identity.name.clone()),
        segment: Some(segment.name().to_string()),
        channel: Some(channel.to_string()),
        country: Some(country.to_string()),
        date_of_birth: None,
        renewal_date,
        attributes,
    }
}

/// `meetings` with, for each one held, the first two of the account's `contacts` (the
/// company's contacts from index `offset` on) in its team as who took part.
fn with_participants(meetings: Vec<NewTouchpoint>, contacts: &[NewContact], offset: usize) -> Vec<NewTouchpoint> {
    meetings
        .into_iter()
        .map(|mut m| {
            if m.status == laer_core::model::MeetingStatus::Held {
                m.contact_ids = contacts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.stakeholder_team.as_ref().is_some_and(|t| m.with_team(t)))
                    .take(2)
                    .map(|(i, _)| (offset + i) as i64)
                    .collect();
            }
            m
        })
        .collect()
}

#[cfg(test)]
mod tests;
