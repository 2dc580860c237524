//! The data model: records as they enter laer (`New*`) and as they are read back.
//!
//! Ids named `*_id: i64` are laer's own ids; `external_id` is the id the record
//! has in the system it came from, kept so that re-imports update instead of duplicate.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Money;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAccount {
    pub external_id: String,
    pub name: Option<String>,
    pub segment: Option<String>,
    pub channel: Option<String>,
    pub country: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    /// When the running contract term ends and is up for renewal.
    #[serde(default)]
    pub renewal_date: Option<NaiveDate>,
    /// Any further attributes from the source, for segmenting.
    pub attributes: BTreeMap<String, String>,
}

impl NewAccount {
    /// This account as a second source gives it, laid over the account as stored: the
    /// fields the source gives (`gives` names the columns: `name`, `segment`, `channel`,
    /// `country`, `date_of_birth`, `renewal_date`) are its own, the others stay as stored,
    /// and its attributes are added to the stored ones.
    pub fn laid_over(self, stored: &NewAccount, gives: impl Fn(&str) -> bool) -> NewAccount {
        let pick = |column: &str, given: Option<String>, kept: &Option<String>| {
            if gives(column) { given } else { kept.clone() }
        };
        let mut attributes = stored.attributes.clone();
        attributes.extend(self.attributes);
        NewAccount {
            name: pick("name", self.name, &stored.name),
            segment: pick("segment", self.segment, &stored.segment),
            channel: pick("channel", self.channel, &stored.channel),
            country: pick("country", self.country, &stored.country),
            date_of_birth: if gives("date_of_birth") {
                self.date_of_birth
            } else {
                stored.date_of_birth
            },
            renewal_date: if gives("renewal_date") {
                self.renewal_date
            } else {
                stored.renewal_date
            },
            attributes,
            external_id: self.external_id,
        }
    }
}

impl NewAccount {
    /// An account known by its external id and name only.
    pub fn named(external_id: &str, name: &str) -> NewAccount {
        NewAccount {
            external_id: external_id.to_string(),
            name: Some(name.to_string()),
            segment: None,
            channel: None,
            country: None,
            date_of_birth: None,
            renewal_date: None,
            attributes: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    #[serde(flatten)]
    pub fields: NewAccount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewContact {
    pub external_id: String,
    pub account_id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    /// A telephone number as written, e.g. +44 20 7946 0000.
    #[serde(default)]
    pub phone: Option<String>,
    pub title: Option<String>,
    /// The customer team the person belongs to, e.g. executive, network, security, application.
    pub stakeholder_team: Option<String>,
    /// The person's role towards us, e.g. executive_sponsor, champion, decision_maker, user.
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewProductUser {
    pub external_id: String,
    pub account_id: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub department: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSubscription {
    pub external_id: String,
    pub account_id: i64,
    pub product: String,
    pub start_date: NaiveDate,
    /// First day the line is no longer active; `None` while it runs.
    pub end_date: Option<NaiveDate>,
    pub mrr: Money,
    pub quantity: Option<f64>,
    pub units: Option<String>,
    pub bill_period_months: i32,
    pub discount: Option<f64>,
    /// Its MRR in the currency it is billed in, when that is not the reporting one
    /// (`mrr` is then that at the latest exchange rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<crate::fx::Original>,
}

impl NewSubscription {
    /// Whether the line is active on `day`: it has started and has not yet ended
    /// (the reference definition of *Fighting Churn With Data*, listing 2.1).
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        crate::retention::is_active(self.start_date, self.end_date, day)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: i64,
    #[serde(flatten)]
    pub fields: NewSubscription,
}

/// The MRR of the given lines on `day`: the sum over the lines active that day.
pub fn mrr_on<'a>(lines: impl IntoIterator<Item = &'a NewSubscription>, day: NaiveDate) -> Money {
    lines.into_iter().filter(|l| l.is_active_on(day)).map(|l| l.mrr).sum()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEventType {
    pub external_id: String,
    pub name: String,
}

/// Widens each account's (first, last) instant, in microseconds, to cover `events`.
pub fn extend_event_spans<'a>(spans: &mut HashMap<i64, (i64, i64)>, events: impl IntoIterator<Item = &'a NewEvent>) {
    for e in events {
        let t = e.occurred_at.timestamp_micros();
        let span = spans.entry(e.account_id).or_insert((t, t));
        span.0 = span.0.min(t);
        span.1 = span.1.max(t);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub account_id: i64,
    pub occurred_at: DateTime<Utc>,
    pub event_type_id: i64,
    /// The product user's external id, when the source names one.
    pub user_ref: Option<String>,
    pub value: Option<f64>,
    /// Identifies the event among those of its account at the same instant; see [`crate::dedup`].
    pub dedup_key: i64,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted spellings, for error messages.
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let wanted = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
                match wanted.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("expected one of {}, found {s:?}", $name::expected())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// What a support case is about. A how-to case means a user could not get value:
    /// adoption work, not only support work.
    CaseKind { Defect = "defect", HowTo = "how_to", Question = "question", FeatureRequest = "feature_request", Other = "other" }
);

text_enum!(CaseStatus { Open = "open", Pending = "pending", Resolved = "resolved", Closed = "closed" });

text_enum!(MeetingStatus { Scheduled = "scheduled", Held = "held", Missed = "missed", Cancelled = "cancelled" });

text_enum!(
    /// NPS scores run 0–10, CSAT scores 1–5.
    SurveyKind { Nps = "nps", Csat = "csat" }
);

text_enum!(TaskStatus { Open = "open", Done = "done", Cancelled = "cancelled" });

text_enum!(
    /// Internal roles of the coverage model.
    TeamRole {
        AccountExecutive = "account_executive",
        Csm = "csm",
        RenewalSpecialist = "renewal_specialist",
        ExpansionSpecialist = "expansion_specialist",
        CsLeader = "cs_leader",
        CsOps = "cs_ops",
        Admin = "admin",
    }
);

impl SurveyKind {
    pub fn score_range(self) -> std::ops::RangeInclusive<i32> {
        match self {
            SurveyKind::Nps => 0..=10,
            SurveyKind::Csat => 1..=5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSupportCase {
    pub external_id: String,
    pub account_id: i64,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// 1 (critical) to 4 (low).
    pub severity: i32,
    pub kind: CaseKind,
    pub status: CaseStatus,
    pub subject: Option<String>,
}

text_enum!(
    /// What kind of contact with the customer a touchpoint was.
    TouchpointKind { Meeting = "meeting", Call = "call", Email = "email", Note = "note", BusinessReview = "business_review" }
);

impl TouchpointKind {
    /// Whether a touchpoint of this kind, held with a stakeholder team, counts toward that
    /// team's agreed meeting cadence: a conversation does (a meeting, a call, a business
    /// review); an email or a note does not. The one rule Engagement uses
    /// ([`NewTouchpoint::keeps_cadence`]; docs/health.md).
    pub fn counts_for_cadence(self) -> bool {
        match self {
            TouchpointKind::Meeting | TouchpointKind::Call | TouchpointKind::BusinessReview => true,
            TouchpointKind::Email | TouchpointKind::Note => false,
        }
    }

    /// The kind in words: "Business review".
    pub fn label(self) -> &'static str {
        match self {
            TouchpointKind::Meeting => "Meeting",
            TouchpointKind::Call => "Call",
            TouchpointKind::Email => "Email",
            TouchpointKind::Note => "Note",
            TouchpointKind::BusinessReview => "Business review",
        }
    }

    /// A kind as meetings had it before touchpoints (free text such as qbr, ebr,
    /// onboarding, check_in, training): the touchpoint's kind and its purpose. qbr, ebr
    /// and business_review are business reviews; a label that names a kind is that kind;
    /// anything else is a meeting. The label is kept as the purpose unless it only named
    /// the kind. Migration 0014 moved stored meetings by the same rule.
    pub fn of_legacy(text: &str) -> (TouchpointKind, Option<String>) {
        let label = crate::parse::label(text);
        if label.is_empty() {
            return (TouchpointKind::Meeting, None);
        }
        if let Ok(kind) = label.parse::<TouchpointKind>() {
            return (kind, None);
        }
        let kind = match label.as_str() {
            "qbr" | "ebr" => TouchpointKind::BusinessReview,
            _ => TouchpointKind::Meeting,
        };
        (kind, Some(label))
    }
}

/// A touchpoint: a meeting, call, email, note or business review with the customer, with
/// the stakeholder teams it was with, the account's contacts who took part and who from
/// our side. Imported rows and the web app's form make the same record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTouchpoint {
    pub external_id: String,
    pub account_id: i64,
    /// When it took place (or is to, when scheduled), UTC.
    pub held_at: DateTime<Utc>,
    pub kind: TouchpointKind,
    /// What it was for, in the team's words, as a label: onboarding, check_in, qbr,
    /// training... (what meetings called their kind before touchpoints).
    pub purpose: Option<String>,
    pub status: MeetingStatus,
    pub duration_minutes: Option<i32>,
    /// The customer's stakeholder teams, as labels ([`crate::parse::label`]), each once.
    pub stakeholder_teams: Vec<String>,
    /// The account's contacts who took part (laer ids), each once.
    pub contact_ids: Vec<i64>,
    /// Who from our side took part (team member ids), each once.
    pub team_member_ids: Vec<i64>,
    /// What was discussed, at most [`crate::parse::MAX_TEXT_CHARS`] characters.
    pub summary: Option<String>,
    /// What happens next, at most [`crate::parse::MAX_TEXT_CHARS`] characters.
    pub next_step: Option<String>,
}

impl NewTouchpoint {
    /// Whether this touchpoint counts toward the agreed cadence of each of its teams:
    /// held, and of a kind that counts ([`TouchpointKind::counts_for_cadence`]).
    pub fn keeps_cadence(&self) -> bool {
        self.status == MeetingStatus::Held && self.kind.counts_for_cadence()
    }

    /// Whether it was with `team`.
    pub fn with_team(&self, team: &str) -> bool {
        self.stakeholder_teams.iter().any(|t| t == team)
    }

    /// What is wrong with the record, one (field, message) per field: text over its
    /// bound (summary and next step [`crate::parse::MAX_TEXT_CHARS`], purpose and each
    /// team [`crate::parse::MAX_LINE_CHARS`]), an empty team, a negative duration.
    /// Nothing is cut: a record with problems is refused.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        use crate::parse::{MAX_LINE_CHARS, MAX_TEXT_CHARS, bounded};
        let mut problems = Vec::new();
        let mut text = |field: &'static str, value: Option<&str>, max: usize| {
            if let Some(Err(message)) = value.map(|v| bounded(v, max)) {
                problems.push((field, message));
            }
        };
        text("summary", self.summary.as_deref(), MAX_TEXT_CHARS);
        text("next_step", self.next_step.as_deref(), MAX_TEXT_CHARS);
        text("purpose", self.purpose.as_deref(), MAX_LINE_CHARS);
        for team in &self.stakeholder_teams {
            text("stakeholder_teams", Some(team), MAX_LINE_CHARS);
        }
        if self.stakeholder_teams.iter().any(|t| t.is_empty()) {
            problems.push((
                "stakeholder_teams",
                "expected team names, found an empty one".to_string(),
            ));
        }
        if let Some(d) = self.duration_minutes.filter(|d| *d < 0) {
            problems.push(("duration_minutes", format!("expected minutes, 0 or more, found {d}")));
        }
        problems
    }

    /// Teams, contacts and members each once and in order, as the store keeps them.
    pub fn normalized(mut self) -> NewTouchpoint {
        self.stakeholder_teams.sort();
        self.stakeholder_teams.dedup();
        self.contact_ids.sort_unstable();
        self.contact_ids.dedup();
        self.team_member_ids.sort_unstable();
        self.team_member_ids.dedup();
        self
    }
}

/// The agreed cadence of meetings with one stakeholder team of an account: a meeting
/// every `every_days` days (Engagement measures the meetings held against it). An
/// account has at most one cadence per team; storing another replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMeetingCadence {
    pub account_id: i64,
    /// The team's label as contacts and meetings have it ([`crate::parse::label`]):
    /// lowercase words joined by underscores, e.g. executive, network, security.
    pub stakeholder_team: String,
    /// Days between meetings, 1 to 366 ([`NewMeetingCadence::DAYS`]).
    pub every_days: i32,
}

/// Why a meeting cadence is invalid; [`CadenceError::field`] names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CadenceError {
    #[error("expected a stakeholder team, found an empty one")]
    EmptyTeam,
    #[error("expected days between meetings, 1 to 366, found {0}")]
    Days(i64),
}

impl CadenceError {
    /// The field the error is about: `stakeholder_team` or `every_days`.
    pub fn field(&self) -> &'static str {
        match self {
            CadenceError::EmptyTeam => "stakeholder_team",
            CadenceError::Days(_) => "every_days",
        }
    }
}

impl NewMeetingCadence {
    /// The accepted days between meetings: daily to yearly (a leap year's 366 days).
    pub const DAYS: std::ops::RangeInclusive<i32> = 1..=366;

    /// A validated cadence: the team is stored as its label (non-empty), the days
    /// within [`NewMeetingCadence::DAYS`].
    pub fn new(account_id: i64, stakeholder_team: &str, every_days: i64) -> Result<Self, CadenceError> {
        let stakeholder_team = crate::parse::label(stakeholder_team);
        if stakeholder_team.is_empty() {
            return Err(CadenceError::EmptyTeam);
        }
        let every_days = i32::try_from(every_days)
            .ok()
            .filter(|d| Self::DAYS.contains(d))
            .ok_or(CadenceError::Days(every_days))?;
        Ok(NewMeetingCadence {
            account_id,
            stakeholder_team,
            every_days,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSurveyResponse {
    pub external_id: String,
    pub account_id: i64,
    pub contact_ref: Option<String>,
    pub survey: SurveyKind,
    pub score: i32,
    pub responded_at: DateTime<Utc>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOutcome {
    pub external_id: String,
    pub account_id: i64,
    pub name: String,
    pub unit: Option<String>,
    pub baseline: f64,
    pub target: f64,
    pub start_date: Option<NaiveDate>,
    pub target_date: Option<NaiveDate>,
    /// Whether a higher or a lower value is better ([`Direction::implied`] when not said).
    pub direction: Direction,
}

text_enum!(
    /// Which way an outcome improves: a higher value is better (share of offices online),
    /// or a lower one (days to onboard a branch).
    Direction { Higher = "higher", Lower = "lower" }
);

impl Direction {
    /// What a baseline and a target imply when nobody said: lower is better when the
    /// target is below the baseline, else higher.
    pub fn implied(baseline: f64, target: f64) -> Direction {
        if target < baseline {
            Direction::Lower
        } else {
            Direction::Higher
        }
    }

    /// Whether `value` is at or past `target` on the better side.
    pub fn reached(self, target: f64, value: f64) -> bool {
        match self {
            Direction::Higher => value >= target,
            Direction::Lower => value <= target,
        }
    }

    /// [`NewOutcome::progress`] of an outcome from `baseline` to `target`.
    pub fn progress(self, baseline: f64, target: f64, value: f64) -> Option<f64> {
        if !value.is_finite() {
            return None;
        }
        let span = target - baseline;
        let towards_better = match self {
            Direction::Higher => span > 0.0,
            Direction::Lower => span < 0.0,
        };
        if towards_better {
            Some((value - baseline) / span)
        } else {
            Some(if self.reached(target, value) { 1.0 } else { 0.0 })
        }
    }
}

impl NewOutcome {
    /// Whether `value` is at or past the target, on the better side.
    pub fn reached(&self, value: f64) -> bool {
        self.direction.reached(self.target, value)
    }

    /// How far `value` is from baseline to target: 0 at the baseline, 1 at the target,
    /// more past it, negative when it moved the wrong way. An outcome whose target is its
    /// baseline (keep a value at or beyond a level) is 1 when reached and 0 when not; so
    /// is one whose target lies on the wrong side of the baseline for its direction.
    /// `None` for a value that is not a number.
    pub fn progress(&self, value: f64) -> Option<f64> {
        self.direction.progress(self.baseline, self.target, value)
    }
}

/// One value of an outcome on a day. An outcome has one value per day: a second
/// measurement of the same day replaces the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOutcomeMeasurement {
    pub outcome_id: i64,
    pub measured_on: NaiveDate,
    pub value: f64,
    /// Where the value comes from, e.g. "network inventory", "monthly report".
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// Who recorded it: a person of the team (their name and email), or the customer
    /// through a share link ("customer via link sp_1a2b3c…"); `None` from an import.
    #[serde(default)]
    pub recorded_by: Option<String>,
}

text_enum!(
    /// Whose work a success plan milestone is: the customer's people or the vendor's.
    MilestoneSide { Customer = "customer", Vendor = "vendor" }
);

/// An implementation milestone of an account's success plan (PIMO's Implement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMilestone {
    /// The id in the system it came from (the demo); `None` for milestones added in laer.
    pub external_id: Option<String>,
    pub account_id: i64,
    pub title: String,
    pub due_on: NaiveDate,
    /// The day it was reached; `None` while open.
    pub done_on: Option<NaiveDate>,
    pub side: MilestoneSide,
}

/// A stored milestone. Milestones are listed by due date, then in the order they were added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub id: i64,
    #[serde(flatten)]
    pub fields: NewMilestone,
}

/// Why a milestone is invalid; [`MilestoneError::field`] names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MilestoneError {
    #[error("expected a title, found an empty one")]
    EmptyTitle,
    #[error("expected a title of at most {max} characters, found {0}", max = NewMilestone::MAX_TITLE_CHARS)]
    LongTitle(usize),
}

impl MilestoneError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            MilestoneError::EmptyTitle | MilestoneError::LongTitle(_) => "title",
        }
    }
}

impl NewMilestone {
    /// Titles are one line the customer reads, not a document.
    pub const MAX_TITLE_CHARS: usize = 200;

    /// An open milestone added in laer, its title trimmed and checked.
    pub fn new(account_id: i64, title: &str, due_on: NaiveDate, side: MilestoneSide) -> Result<Self, MilestoneError> {
        Ok(NewMilestone {
            external_id: None,
            account_id,
            title: Self::checked_title(title)?,
            due_on,
            done_on: None,
            side,
        })
    }

    /// The title trimmed, on one line: non-empty and at most [`Self::MAX_TITLE_CHARS`].
    pub fn checked_title(title: &str) -> Result<String, MilestoneError> {
        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        match title.chars().count() {
            0 => Err(MilestoneError::EmptyTitle),
            n if n > Self::MAX_TITLE_CHARS => Err(MilestoneError::LongTitle(n)),
            _ => Ok(title),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTeamMember {
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    /// `None` keeps the stored roles: a source that does not know them (a CRM's owners)
    /// leaves them as they were set.
    pub roles: Option<Vec<TeamRole>>,
}

/// An account's owner in a role as a source system names it (a CRM's account owner):
/// laer gives the role to that team member, as an assignment by hand would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOwner {
    pub account_id: i64,
    pub team_member_id: i64,
    pub role: TeamRole,
}

/// A team member covering an account in a role from `since` until the day before
/// `until` (`None`: still), and why (the coverage model records its changes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCoverageAssignment {
    pub account_id: i64,
    pub team_member_id: i64,
    pub role: TeamRole,
    pub since: NaiveDate,
    pub until: Option<NaiveDate>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    pub external_id: String,
    pub account_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub title: String,
    pub due_on: Option<NaiveDate>,
    pub status: TaskStatus,
    pub created_at: DateTime<Utc>,
}

/// Why a task of one's own is invalid; [`TaskError::field`] names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("expected a title, found an empty one")]
    EmptyTitle,
    #[error("expected a title of at most {max} characters, found {0}", max = crate::parse::MAX_LINE_CHARS)]
    LongTitle(usize),
}

impl TaskError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            TaskError::EmptyTitle | TaskError::LongTitle(_) => "title",
        }
    }
}

impl NewTask {
    /// A task a person writes for themselves or a colleague, not tied to a playbook:
    /// open, its title on one line, non-empty and at most
    /// [`MAX_LINE_CHARS`](crate::parse::MAX_LINE_CHARS) long.
    pub fn own(
        external_id: &str,
        title: &str,
        due_on: Option<NaiveDate>,
        assignee_id: Option<i64>,
        account_id: Option<i64>,
        created_at: DateTime<Utc>,
    ) -> Result<NewTask, TaskError> {
        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        match title.chars().count() {
            0 => return Err(TaskError::EmptyTitle),
            n if n > crate::parse::MAX_LINE_CHARS => return Err(TaskError::LongTitle(n)),
            _ => {}
        }
        Ok(NewTask {
            external_id: external_id.to_string(),
            account_id,
            assignee_id,
            title,
            due_on,
            status: TaskStatus::Open,
            created_at,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
}

/// Row counts of every entity, as `laer status` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCounts {
    pub accounts: i64,
    pub contacts: i64,
    pub product_users: i64,
    pub subscriptions: i64,
    pub event_types: i64,
    pub events: i64,
    pub support_cases: i64,
    pub meetings: i64,
    pub meeting_cadences: i64,
    pub survey_responses: i64,
    pub outcomes: i64,
    pub outcome_measurements: i64,
    pub team_members: i64,
    /// Owners held by hand or given by an import (the `owners` kind), current.
    #[serde(default)]
    pub owners: i64,
    pub tasks: i64,
    #[serde(default)]
    pub exchange_rates: i64,
    pub audit_entries: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_source_changes_only_what_it_gives() {
        let stored = NewAccount {
            external_id: "acme".into(),
            name: Some("Acme".into()),
            segment: Some("Enterprise".into()),
            channel: None,
            country: Some("DE".into()),
            date_of_birth: Some("2020-01-01".parse().unwrap()),
            renewal_date: Some("2027-01-01".parse().unwrap()),
            attributes: BTreeMap::from([("domain".into(), "acme.com".into()), ("tier".into(), "gold".into())]),
        };
        let from_crm = NewAccount {
            external_id: "acme".into(),
            name: Some("ACME Corp".into()),
            segment: None,
            channel: None,
            country: None,
            date_of_birth: None,
            renewal_date: None,
            attributes: BTreeMap::from([("crm_id".into(), "11".into()), ("tier".into(), "platinum".into())]),
        };
        let laid = from_crm.laid_over(&stored, |c| ["name", "segment"].contains(&c));
        assert_eq!(laid.name.as_deref(), Some("ACME Corp"));
        assert_eq!(laid.segment, None, "given, and empty");
        assert_eq!(laid.country.as_deref(), Some("DE"), "not given: kept");
        assert_eq!(
            (laid.date_of_birth, laid.renewal_date),
            (stored.date_of_birth, stored.renewal_date)
        );
        let attributes: Vec<(&str, &str)> = laid.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            attributes,
            [("crm_id", "11"), ("domain", "acme.com"), ("tier", "platinum")]
        );
    }

    fn line(start: &str, end: Option<&str>, mrr: i64) -> NewSubscription {
        NewSubscription {
            external_id: "s".into(),
            account_id: 1,
            product: "p".into(),
            start_date: start.parse().unwrap(),
            end_date: end.map(|e| e.parse().unwrap()),
            mrr: Money::from_units(mrr).unwrap(),
            quantity: None,
            units: None,
            bill_period_months: 1,
            discount: None,
            original: None,
        }
    }

    #[test]
    fn a_line_is_active_from_its_start_until_the_day_before_its_end() {
        let l = line("2024-01-10", Some("2024-02-10"), 100);
        let day = |d: &str| d.parse::<NaiveDate>().unwrap();
        assert!(!l.is_active_on(day("2024-01-09")));
        assert!(l.is_active_on(day("2024-01-10")));
        assert!(l.is_active_on(day("2024-02-09")));
        assert!(!l.is_active_on(day("2024-02-10")));
        assert!(line("2024-01-10", None, 1).is_active_on(day("2099-01-01")));
    }

    #[test]
    fn mrr_sums_the_active_lines() {
        let lines = [
            line("2024-01-01", Some("2024-02-01"), 100),
            line("2024-01-15", None, 50),
            line("2024-03-01", None, 7),
        ];
        let on = |d: &str| mrr_on(&lines, d.parse().unwrap());
        assert_eq!(on("2023-12-31"), Money::ZERO);
        assert_eq!(on("2024-01-20"), Money::from_units(150).unwrap());
        assert_eq!(on("2024-02-01"), Money::from_units(50).unwrap());
        assert_eq!(on("2024-03-01"), Money::from_units(57).unwrap());
    }

    #[test]
    fn text_enums_accept_common_spellings() {
        assert_eq!("How-To".parse::<CaseKind>(), Ok(CaseKind::HowTo));
        assert_eq!("how to".parse::<CaseKind>(), Ok(CaseKind::HowTo));
        assert_eq!(" NPS ".parse::<SurveyKind>(), Ok(SurveyKind::Nps));
        let err = "maybe".parse::<MeetingStatus>().unwrap_err();
        assert!(err.contains("scheduled, held, missed, cancelled"), "{err}");
    }

    #[test]
    fn former_meeting_kinds_become_a_touchpoint_kind_and_a_purpose() {
        let of = |s: &str| TouchpointKind::of_legacy(s);
        assert_eq!(of("QBR"), (TouchpointKind::BusinessReview, Some("qbr".into())));
        assert_eq!(of("ebr"), (TouchpointKind::BusinessReview, Some("ebr".into())));
        assert_eq!(of("Business review"), (TouchpointKind::BusinessReview, None));
        assert_eq!(of("call"), (TouchpointKind::Call, None));
        assert_eq!(of("check-in"), (TouchpointKind::Meeting, Some("check_in".into())));
        assert_eq!(of("onboarding"), (TouchpointKind::Meeting, Some("onboarding".into())));
        assert_eq!(of(" "), (TouchpointKind::Meeting, None));
    }

    #[test]
    fn a_touchpoint_names_each_field_over_its_bound() {
        let t = NewTouchpoint {
            external_id: "t".into(),
            account_id: 1,
            held_at: "2026-06-01T10:00:00Z".parse().unwrap(),
            kind: TouchpointKind::Meeting,
            purpose: Some("p".repeat(301)),
            status: MeetingStatus::Held,
            duration_minutes: Some(-5),
            stakeholder_teams: vec!["executive".into(), String::new()],
            contact_ids: vec![3, 1, 3],
            team_member_ids: vec![],
            summary: Some("x".repeat(100_000)),
            next_step: Some("call back".into()),
        };
        let fields: Vec<&str> = t.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["summary", "purpose", "stakeholder_teams", "duration_minutes"]);
        assert!(t.problems()[0].1.contains("100000"));
        assert_eq!(t.normalized().contact_ids, [1, 3]);
    }

    #[test]
    fn a_meeting_cadence_has_a_team_label_and_days_from_1_to_366() {
        let cadence = NewMeetingCadence::new(7, " Executive Sponsors ", 90).unwrap();
        assert_eq!(
            cadence,
            NewMeetingCadence {
                account_id: 7,
                stakeholder_team: "executive_sponsors".into(),
                every_days: 90,
            }
        );
        assert_eq!(NewMeetingCadence::new(7, "network", 1).unwrap().every_days, 1);
        assert_eq!(NewMeetingCadence::new(7, "network", 366).unwrap().every_days, 366);
        assert_eq!(NewMeetingCadence::new(7, "  ", 30), Err(CadenceError::EmptyTeam));
        for days in [0, -30, 367, i64::from(i32::MAX) + 1] {
            let err = NewMeetingCadence::new(7, "network", days).unwrap_err();
            assert_eq!(err, CadenceError::Days(days));
            assert_eq!(err.field(), "every_days");
            assert!(err.to_string().contains(&format!("1 to 366, found {days}")), "{err}");
        }
        assert_eq!(CadenceError::EmptyTeam.field(), "stakeholder_team");
    }

    #[test]
    fn a_milestone_has_a_title_of_one_line() {
        let due = "2026-05-01".parse().unwrap();
        let m = NewMilestone::new(3, "  First team \n trained ", due, MilestoneSide::Customer).unwrap();
        assert_eq!(m.title, "First team trained");
        assert_eq!(
            (m.account_id, m.due_on, m.done_on, m.side),
            (3, due, None, MilestoneSide::Customer)
        );
        assert_eq!(
            NewMilestone::new(3, " \t", due, MilestoneSide::Vendor),
            Err(MilestoneError::EmptyTitle)
        );
        let long = "x".repeat(201);
        let err = NewMilestone::new(3, &long, due, MilestoneSide::Vendor).unwrap_err();
        assert_eq!(err, MilestoneError::LongTitle(201));
        assert_eq!(err.field(), "title");
        assert!(err.to_string().contains("at most 200 characters, found 201"), "{err}");
        assert_eq!("Vendor".parse::<MilestoneSide>(), Ok(MilestoneSide::Vendor));
    }

    #[test]
    fn a_task_of_ones_own_has_a_title_of_one_line() {
        let now = Utc::now();
        let t = NewTask::own("web-1", "  Call \n the sponsor ", None, Some(4), Some(2), now).unwrap();
        assert_eq!(
            (t.title.as_str(), t.status, t.assignee_id, t.account_id),
            ("Call the sponsor", TaskStatus::Open, Some(4), Some(2))
        );
        assert_eq!(
            NewTask::own("web-1", " ", None, None, None, now),
            Err(TaskError::EmptyTitle)
        );
        let err = NewTask::own("web-1", &"x".repeat(301), None, None, None, now).unwrap_err();
        assert_eq!((err.field(), err), ("title", TaskError::LongTitle(301)));
    }

    #[test]
    fn every_enum_value_round_trips_through_text() {
        for role in TeamRole::ALL {
            assert_eq!(role.as_str().parse::<TeamRole>(), Ok(*role));
        }
        for kind in CaseKind::ALL {
            assert_eq!(kind.to_string().parse::<CaseKind>(), Ok(*kind));
        }
    }
}
