//! Every import kind, each declared once: its columns, what its rows refer to, and how a
//! row becomes the core record that the store writes (the record's table is declared in
//! laer-store, `tables.rs`).

use std::collections::{BTreeMap, HashMap};

use laer_core::dedup::{self, ContentHasher};
use laer_core::fx::{Currency, DatedRate, Rate};
use laer_core::model::{
    CaseStatus, Direction, MeetingStatus, NewAccount, NewContact, NewEvent, NewEventType, NewMeetingCadence,
    NewOutcome, NewOutcomeMeasurement, NewOwner, NewProductUser, NewSubscription, NewSupportCase, NewSurveyResponse,
    NewTask, NewTeamMember, NewTouchpoint, TaskStatus, TeamRole, TouchpointKind,
};
use laer_core::parse;
use laer_store::{EventLoad, IdLookup, StoreError, WriteCount, WriteTx};

use crate::RowError;
use crate::columns::{ColumnSpec, Row, opt, req};
use crate::kind::{Batch, Context, EventTypeRef, ImportKind, Refers};

const ID: &[&str] = &["id"];
const ACCOUNT: &[&str] = &["account", "account_external_id"];

/// Accounts: their external ids, names and what they are segmented by; columns no spec
/// knows are kept as attributes.
pub struct Accounts;

impl ImportKind for Accounts {
    const NAME: &'static str = "accounts";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", ID),
        opt("name", &["account_name"]),
        opt("segment", &[]),
        opt("channel", &[]),
        opt("country", &[]),
        opt("date_of_birth", &["created_on", "signup_date"]),
        opt("renewal_date", &[]),
    ];
    const KEEPS_EXTRA_COLUMNS: bool = true;
    type Record = NewAccount;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewAccount, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        let attributes: BTreeMap<String, String> = row
            .extra()
            .filter(|(name, value)| !value.is_empty() && !name.is_empty())
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Ok(NewAccount {
            external_id: external_id.to_string(),
            name: row.text("name"),
            segment: row.text("segment"),
            channel: row.text("channel"),
            country: row.text("country"),
            date_of_birth: row.parse("date_of_birth", parse::date)?,
            renewal_date: row.parse("renewal_date", parse::date)?,
            attributes,
        })
    }
}

/// People at the customer, with their stakeholder team and role.
pub struct Contacts;

impl ImportKind for Contacts {
    const NAME: &'static str = "contacts";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", ID),
        req("account_id", ACCOUNT),
        opt("name", &[]),
        opt("email", &[]),
        opt("phone", &["phone_number", "telephone"]),
        opt("title", &["job_title"]),
        opt("stakeholder_team", &["team"]),
        opt("role", &[]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts];
    type Record = NewContact;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewContact, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        Ok(NewContact {
            external_id: external_id.to_string(),
            account_id: cx.account(row, "account_id")?,
            name: row.text("name"),
            email: row.text("email"),
            phone: row.parse("phone", laer_core::entries::phone)?.flatten(),
            title: row.text("title"),
            stakeholder_team: row.get("stakeholder_team").map(parse::label),
            role: row.get("role").map(parse::label),
        })
    }
}

/// End users of the vendor's product, each of an account.
pub struct ProductUsers;

impl ImportKind for ProductUsers {
    const NAME: &'static str = "product-users";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", &["id", "user_id"]),
        req("account_id", ACCOUNT),
        opt("email", &[]),
        opt("name", &[]),
        opt("department", &["team"]),
        opt("created_at", &[]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts];
    type Record = NewProductUser;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewProductUser, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        Ok(NewProductUser {
            external_id: external_id.to_string(),
            account_id: cx.account(row, "account_id")?,
            email: row.text("email"),
            name: row.text("name"),
            department: row.text("department"),
            created_at: row.parse("created_at", parse::timestamp)?,
        })
    }
}

/// Subscription lines; a line without an external id is identified by its content.
pub struct Subscriptions;

impl ImportKind for Subscriptions {
    const NAME: &'static str = "subscriptions";
    const COLUMNS: &'static [ColumnSpec] = &[
        opt("external_id", ID),
        req("account_id", ACCOUNT),
        req("product", &["plan"]),
        req("start_date", &[]),
        opt("end_date", &[]),
        req("mrr", &[]),
        opt("quantity", &["seats"]),
        opt("units", &["unit"]),
        opt("bill_period_months", &["billing_period_months"]),
        opt("discount", &[]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts];
    type Record = NewSubscription;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewSubscription, RowError> {
        let account_id = cx.account(row, "account_id")?;
        let product = row.required("product")?.to_string();
        let start_date = row.parse_required("start_date", parse::date)?;
        let end_date = row.parse("end_date", parse::date)?;
        if let Some(end) = end_date
            && end < start_date
        {
            return Err(row.error("end_date", format!("{end} is before start_date {start_date}")));
        }
        let mrr = row.parse_required("mrr", parse::money)?;
        let quantity = row.parse("quantity", parse::float)?;
        let units = row.text("units");
        let bill_period_months = row.parse("bill_period_months", parse::whole_number)?.unwrap_or(1);
        let bill_period_months = i32::try_from(bill_period_months)
            .ok()
            .filter(|m| *m >= 1)
            .ok_or_else(|| {
                row.error(
                    "bill_period_months",
                    format!("expected a whole number of months, at least 1, found {bill_period_months}"),
                )
            })?;
        let discount = row.parse("discount", parse::float)?;
        let external_id = match row.get("external_id") {
            Some(id) => {
                cx.first_use(row, id)?;
                id.to_string()
            }
            None => {
                // A billing export without ids: the line is identified by its content.
                let content = ContentHasher::new()
                    .int(Some(account_id))
                    .text(Some(&product))
                    .text(Some(&start_date.to_string()))
                    .text(end_date.map(|d| d.to_string()).as_deref())
                    .int(Some(mrr.ten_thousandths()))
                    .float(quantity)
                    .text(units.as_deref())
                    .int(Some(i64::from(bill_period_months)))
                    .float(discount)
                    .finish();
                let occurrence = cx.occurrences.next((account_id, 0), content);
                dedup::row_external_id(content, occurrence)
            }
        };
        Ok(NewSubscription {
            external_id,
            account_id,
            product,
            start_date,
            end_date,
            mrr,
            quantity,
            units,
            bill_period_months,
            discount,
            original: None,
        })
    }
}

/// Event types, which events name by external id.
pub struct EventTypes;

impl ImportKind for EventTypes {
    const NAME: &'static str = "event-types";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", &["id", "event_type_id"]),
        req("name", &["event_type_name"]),
    ];
    type Record = NewEventType;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewEventType, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        Ok(NewEventType {
            external_id: external_id.to_string(),
            name: row.required("name")?.to_string(),
        })
    }
}

/// Usage events, identified by their content; a type named for the first time is created.
pub struct Events;

impl ImportKind for Events {
    const NAME: &'static str = "events";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("account_id", ACCOUNT),
        req("event_time", &["timestamp", "occurred_at", "time"]),
        opt("event_type_id", &[]),
        opt("event_type", &["event", "event_name", "event_type_name"]),
        opt("user_id", &["user"]),
        opt("event_value", &["value"]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts, Refers::EventTypes];
    const BATCH_SIZE: usize = 100_000;
    type Record = ParsedEvent;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<ParsedEvent, RowError> {
        let account_id = cx.account(row, "account_id")?;
        let occurred_at = row.parse_required("event_time", parse::timestamp)?;
        let event_type = event_type(row, cx)?;
        let user_ref = row.text("user_id");
        let value = row.parse("event_value", parse::float)?;
        let content = dedup::event_content(&event_type.external_id, user_ref.as_deref(), value);
        let occurrence = cx
            .occurrences
            .next((account_id, occurred_at.timestamp_micros()), content);
        let event = NewEvent {
            account_id,
            occurred_at,
            event_type_id: event_type.id.unwrap_or(0),
            user_ref,
            value,
            dedup_key: dedup::event_key(content, occurrence),
        };
        let new_type = event_type.id.is_none().then_some(event_type.external_id);
        Ok(ParsedEvent { event, new_type })
    }
}

/// An event as parsed: one whose type was first named in this file carries the type's
/// name until the type exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub event: NewEvent,
    pub new_type: Option<String>,
}

/// What the event batches of one import share.
#[derive(Default)]
pub struct EventWrites {
    /// The ids of the event types this import created, by name.
    created_types: HashMap<String, i64>,
    /// What the batches have yet to add to the daily rollups.
    load: EventLoad,
}

impl Batch for ParsedEvent {
    type State = EventWrites;

    /// Writes the batch's events; the new ones join the daily rollups (see
    /// [`WriteTx::load_events`]).
    async fn write(
        tx: &mut WriteTx,
        records: Vec<ParsedEvent>,
        state: &mut EventWrites,
    ) -> Result<WriteCount, StoreError> {
        let events = resolve_new_event_types(tx, records, &mut state.created_types).await?;
        tx.load_events(&mut state.load, events).await
    }

    async fn finish(tx: &mut WriteTx, state: EventWrites, _: WriteCount) -> Result<(), StoreError> {
        tx.finish_event_load(state.load).await
    }
}

/// The event type a row names, by external id or by name (created when new).
fn event_type(row: &Row, cx: &mut Context) -> Result<EventTypeRef, RowError> {
    let by_type_id = row.has("event_type_id");
    if by_type_id && let Some(external_id) = row.get("event_type_id") {
        return match cx.event_types_by_external_id.get(external_id) {
            Some(id) => Ok(EventTypeRef {
                external_id: external_id.to_string(),
                id: Some(*id),
            }),
            None => Err(row.error(
                "event_type_id",
                format!("unknown event type {external_id:?}; import event types first"),
            )),
        };
    }
    let Some(name) = row.get("event_type") else {
        return Err(row.error(
            if by_type_id { "event_type_id" } else { "event_type" },
            "is required but empty (give event_type_id or event_type)",
        ));
    };
    if let Some(known) = cx.event_types_by_name.get(name) {
        return Ok(known.clone());
    }
    // A new type's external id is its name.
    let created = EventTypeRef {
        external_id: name.to_string(),
        id: None,
    };
    cx.event_types_by_name.insert(name.to_string(), created.clone());
    Ok(created)
}

/// Support cases.
pub struct SupportCases;

impl ImportKind for SupportCases {
    const NAME: &'static str = "support-cases";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", ID),
        req("account_id", ACCOUNT),
        req("opened_at", &["created_at"]),
        opt("closed_at", &["resolved_at"]),
        opt("severity", &["priority"]),
        opt("kind", &["type", "category"]),
        opt("status", &[]),
        opt("subject", &["title"]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts];
    type Record = NewSupportCase;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewSupportCase, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        let opened_at = row.parse_required("opened_at", parse::timestamp)?;
        let closed_at = row.parse("closed_at", parse::timestamp)?;
        if let Some(closed) = closed_at
            && closed < opened_at
        {
            return Err(row.error("closed_at", "is before opened_at"));
        }
        let severity = row.parse("severity", parse::integer)?.unwrap_or(3);
        if !(1..=4).contains(&severity) {
            return Err(row.error(
                "severity",
                format!("expected 1 (critical) to 4 (low), found {severity}"),
            ));
        }
        let default_status = if closed_at.is_some() {
            CaseStatus::Closed
        } else {
            CaseStatus::Open
        };
        Ok(NewSupportCase {
            external_id: external_id.to_string(),
            account_id: cx.account(row, "account_id")?,
            opened_at,
            closed_at,
            severity: severity as i32,
            kind: row
                .parse("kind", str::parse)?
                .unwrap_or(laer_core::model::CaseKind::Other),
            status: row.parse("status", str::parse)?.unwrap_or(default_status),
            subject: row.text("subject"),
        })
    }
}

/// Touchpoints (meetings, calls, emails, notes, business reviews) with the customer's
/// stakeholder teams. The kind is `meetings` (also `touchpoints`): files of meetings as
/// they were before touchpoints import as they did, a free-text kind such as qbr or
/// check_in becoming the purpose ([`TouchpointKind::of_legacy`]).
pub struct Meetings;

/// How a cell lists several values: `executive;security` (commas also separate).
fn list_cell(text: &str) -> impl Iterator<Item = &str> {
    text.split([';', ',']).map(str::trim).filter(|s| !s.is_empty())
}

impl ImportKind for Meetings {
    const NAME: &'static str = "meetings";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", ID),
        req("account_id", ACCOUNT),
        req("held_at", &["date", "start_time", "scheduled_at"]),
        opt("stakeholder_teams", &["stakeholder_team", "team", "teams"]),
        opt("kind", &["type", "meeting_type"]),
        opt("purpose", &["topic"]),
        opt("status", &[]),
        opt("duration_minutes", &["duration"]),
        opt("summary", &["notes"]),
        opt("next_step", &[]),
        opt("contacts", &["contact_ids"]),
        opt("team_members", &["team_member_ids", "our_side"]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts, Refers::Contacts, Refers::TeamMembers];
    type Record = NewTouchpoint;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewTouchpoint, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        let duration = row.parse("duration_minutes", parse::whole_number)?;
        let duration_minutes = duration
            .map(|d| {
                i32::try_from(d)
                    .ok()
                    .filter(|d| *d >= 0)
                    .ok_or_else(|| row.error("duration_minutes", format!("expected minutes, 0 or more, found {d}")))
            })
            .transpose()?;
        let (kind, legacy_purpose) = row
            .get("kind")
            .map_or((TouchpointKind::Meeting, None), TouchpointKind::of_legacy);
        let resolve = |column: &'static str, known: &std::collections::HashMap<String, i64>, what: &str| {
            row.get(column)
                .map(list_cell)
                .into_iter()
                .flatten()
                .map(|key| {
                    known
                        .get(key)
                        .copied()
                        .ok_or_else(|| row.error(column, format!("unknown {what} {key:?}; import the {what} first")))
                })
                .collect::<Result<Vec<i64>, RowError>>()
        };
        let record = NewTouchpoint {
            external_id: external_id.to_string(),
            account_id: cx.account(row, "account_id")?,
            held_at: row.parse_required("held_at", parse::timestamp)?,
            kind,
            purpose: row.get("purpose").map(parse::label).or(legacy_purpose),
            status: row.parse("status", str::parse)?.unwrap_or(MeetingStatus::Held),
            duration_minutes,
            stakeholder_teams: row
                .get("stakeholder_teams")
                .map(list_cell)
                .into_iter()
                .flatten()
                .map(parse::label)
                .collect(),
            contact_ids: resolve("contacts", &cx.contacts, "contact")?,
            team_member_ids: resolve("team_members", &cx.team_members, "team member")?,
            summary: row.text("summary"),
            next_step: row.text("next_step"),
        }
        .normalized();
        if let Some((field, message)) = record.problems().into_iter().next() {
            return Err(row.error(field, message));
        }
        Ok(record)
    }
}

/// The agreed meeting cadence with each stakeholder team of an account.
pub struct MeetingCadences;

impl ImportKind for MeetingCadences {
    const NAME: &'static str = "meeting-cadences";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("account_id", ACCOUNT),
        req("stakeholder_team", &["team"]),
        req("every_days", &["cadence_days"]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts];
    type Record = NewMeetingCadence;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewMeetingCadence, RowError> {
        let account_id = cx.account(row, "account_id")?;
        let team = row.required("stakeholder_team")?;
        let every_days = row.parse_required("every_days", parse::whole_number)?;
        let cadence =
            NewMeetingCadence::new(account_id, team, every_days).map_err(|e| row.error(e.field(), e.to_string()))?;
        let account = row.required("account_id")?;
        let team = &cadence.stakeholder_team;
        cx.first_use(row, &format!("{account}\u{0}{team}")).map_err(|_| {
            row.error(
                "stakeholder_team",
                format!(
                    "account {account:?} has a cadence for team {team:?} more than once in this {}",
                    cx.within
                ),
            )
        })?;
        Ok(cadence)
    }
}

/// NPS and CSAT responses.
pub struct SurveyResponses;

impl ImportKind for SurveyResponses {
    const NAME: &'static str = "survey-responses";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", ID),
        req("account_id", ACCOUNT),
        opt("contact_id", &["contact"]),
        req("survey", &["survey_type", "type"]),
        req("score", &[]),
        req("responded_at", &["date", "created_at"]),
        opt("comment", &[]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts];
    type Record = NewSurveyResponse;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewSurveyResponse, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        let survey: laer_core::model::SurveyKind = row.parse_required("survey", str::parse)?;
        let score = row.parse_required("score", parse::whole_number)?;
        let range = survey.score_range();
        let score = i32::try_from(score).ok().filter(|s| range.contains(s)).ok_or_else(|| {
            row.error(
                "score",
                format!(
                    "a {survey} score runs {} to {}, found {score}",
                    range.start(),
                    range.end()
                ),
            )
        })?;
        Ok(NewSurveyResponse {
            external_id: external_id.to_string(),
            account_id: cx.account(row, "account_id")?,
            contact_ref: row.text("contact_id"),
            survey,
            score,
            responded_at: row.parse_required("responded_at", parse::timestamp)?,
            comment: row.text("comment"),
        })
    }
}

/// The customer's quantified business outcomes.
pub struct Outcomes;

impl ImportKind for Outcomes {
    const NAME: &'static str = "outcomes";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", ID),
        req("account_id", ACCOUNT),
        req("name", &["outcome"]),
        opt("unit", &[]),
        req("baseline", &[]),
        req("target", &[]),
        opt("start_date", &[]),
        opt("target_date", &["due_date"]),
        opt("direction", &["better"]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts];
    type Record = NewOutcome;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewOutcome, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        let start_date = row.parse("start_date", parse::date)?;
        let target_date = row.parse("target_date", parse::date)?;
        if let (Some(start), Some(target)) = (start_date, target_date)
            && target < start
        {
            return Err(row.error("target_date", format!("{target} is before start_date {start}")));
        }
        let baseline = row.parse_required("baseline", parse::float)?;
        let target = row.parse_required("target", parse::float)?;
        // Which way is better: as given, else what baseline and target imply.
        let direction = row
            .parse("direction", str::parse::<Direction>)?
            .unwrap_or(Direction::implied(baseline, target));
        laer_core::entries::direction_fits(baseline, target, direction).map_err(|m| row.error("direction", m))?;
        Ok(NewOutcome {
            external_id: external_id.to_string(),
            account_id: cx.account(row, "account_id")?,
            name: row.required("name")?.to_string(),
            unit: row.text("unit"),
            baseline,
            target,
            start_date,
            target_date,
            direction,
        })
    }
}

/// Measurements of an outcome over time.
pub struct OutcomeMeasurements;

impl ImportKind for OutcomeMeasurements {
    const NAME: &'static str = "outcome-measurements";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("outcome_id", &["outcome"]),
        req("measured_on", &["date"]),
        req("value", &[]),
        opt("source", &[]),
        opt("note", &["notes", "comment"]),
        opt("recorded_by", &[]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Outcomes];
    type Record = NewOutcomeMeasurement;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewOutcomeMeasurement, RowError> {
        let outcome = row.required("outcome_id")?;
        let outcome_id = *cx.outcomes.get(outcome).ok_or_else(|| {
            row.error(
                "outcome_id",
                format!("unknown outcome {outcome:?}; import the outcome first"),
            )
        })?;
        let measured_on = row.parse_required("measured_on", parse::date)?;
        cx.first_use(row, &format!("{outcome}\u{0}{measured_on}"))
            .map_err(|_| {
                row.error(
                    "measured_on",
                    format!(
                        "outcome {outcome:?} is measured on {measured_on} more than once in this {}",
                        cx.within
                    ),
                )
            })?;
        Ok(NewOutcomeMeasurement {
            outcome_id,
            measured_on,
            value: row.parse_required("value", parse::float)?,
            source: bounded_text(row, "source", parse::MAX_LINE_CHARS)?,
            note: bounded_text(row, "note", parse::MAX_TEXT_CHARS)?,
            recorded_by: bounded_text(row, "recorded_by", parse::MAX_LINE_CHARS)?,
        })
    }
}

/// An optional text column, refused (not cut) when longer than `max` characters.
fn bounded_text(row: &Row<'_>, column: &'static str, max: usize) -> Result<Option<String>, RowError> {
    Ok(row
        .parse(column, |t| parse::bounded(t, max).map(str::to_string))?
        .filter(|t| !t.is_empty()))
}

/// The vendor's own team, with their roles.
pub struct TeamMembers;

impl ImportKind for TeamMembers {
    const NAME: &'static str = "team-members";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", ID),
        req("name", &[]),
        opt("email", &[]),
        opt("roles", &["role"]),
    ];
    type Record = MemberRecord;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<MemberRecord, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        let mut roles: Vec<TeamRole> = Vec::new();
        for text in row
            .get("roles")
            .unwrap_or("")
            .split([';', '|', ','])
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            let role = text.parse::<TeamRole>().map_err(|m| row.error("roles", m))?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(MemberRecord(NewTeamMember {
            external_id: external_id.to_string(),
            name: row.required("name")?.to_string(),
            email: row.text("email"),
            // Without the column, the stored roles stay (an empty cell clears them).
            roles: row.has("roles").then_some(roles),
        }))
    }
}

/// A team member as the import writes it: without roles, the stored ones stay.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRecord(pub NewTeamMember);

impl Batch for MemberRecord {
    type State = ();

    async fn write(tx: &mut WriteTx, records: Vec<MemberRecord>, _: &mut ()) -> Result<WriteCount, StoreError> {
        let members: Vec<NewTeamMember> = records.into_iter().map(|r| r.0).collect();
        tx.upsert_team_members(&members).await
    }

    async fn ids(tx: &mut WriteTx, records: &[Self]) -> Result<Vec<Option<i64>>, StoreError> {
        let members: Vec<NewTeamMember> = records.iter().map(|r| r.0.clone()).collect();
        tx.ids_of(&members).await
    }
}

/// Who covers an account in a role, as a source names them: a CRM's account owners.
/// Each becomes the role's holder as if assigned by hand (docs/import.md, owners).
pub struct Owners;

impl ImportKind for Owners {
    const NAME: &'static str = "owners";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("account_id", ACCOUNT),
        req("team_member_id", &["team_member", "owner_id", "owner"]),
        req("role", &[]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts, Refers::TeamMembers];
    type Record = OwnerRecord;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<OwnerRecord, RowError> {
        let account_id = cx.account(row, "account_id")?;
        let member = row.required("team_member_id")?;
        let team_member_id = *cx.team_members.get(member).ok_or_else(|| {
            row.error(
                "team_member_id",
                format!("unknown team member {member:?}; import team members first"),
            )
        })?;
        let role: TeamRole = row.parse_required("role", str::parse)?;
        let account = row.required("account_id")?;
        cx.first_use(row, &format!("{account}\u{0}{role}")).map_err(|_| {
            row.error(
                "role",
                format!(
                    "account {account:?} has an owner as {role} more than once in this {}",
                    cx.within
                ),
            )
        })?;
        Ok(OwnerRecord(NewOwner {
            account_id,
            team_member_id,
            role,
        }))
    }
}

/// An account's owner as the import writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerRecord(pub NewOwner);

impl Batch for OwnerRecord {
    type State = ();

    async fn write(tx: &mut WriteTx, records: Vec<OwnerRecord>, _: &mut ()) -> Result<WriteCount, StoreError> {
        let owners: Vec<NewOwner> = records.into_iter().map(|r| r.0).collect();
        tx.set_owners(&owners).await
    }

    fn account_ids(records: &[Self]) -> Vec<i64> {
        let mut ids: Vec<i64> = records.iter().map(|r| r.0.account_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Tasks, of an account or not, assigned to a team member or not.
pub struct Tasks;

impl ImportKind for Tasks {
    const NAME: &'static str = "tasks";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("external_id", ID),
        opt("account_id", ACCOUNT),
        opt("assignee_id", &["assignee", "owner"]),
        req("title", &[]),
        opt("due_on", &["due_date"]),
        opt("status", &[]),
        req("created_at", &[]),
    ];
    const REFERS_TO: &'static [Refers] = &[Refers::Accounts, Refers::TeamMembers];
    type Record = NewTask;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<NewTask, RowError> {
        let external_id = row.required("external_id")?;
        cx.first_use(row, external_id)?;
        let account_id = match row.get("account_id") {
            Some(_) => Some(cx.account(row, "account_id")?),
            None => None,
        };
        let assignee_id = match row.get("assignee_id") {
            Some(member) => Some(*cx.team_members.get(member).ok_or_else(|| {
                row.error(
                    "assignee_id",
                    format!("unknown team member {member:?}; import team members first"),
                )
            })?),
            None => None,
        };
        Ok(NewTask {
            external_id: external_id.to_string(),
            account_id,
            assignee_id,
            title: row.required("title")?.to_string(),
            due_on: row.parse("due_on", parse::date)?,
            status: row.parse("status", str::parse)?.unwrap_or(TaskStatus::Open),
            created_at: row.parse_required("created_at", parse::timestamp)?,
        })
    }
}

/// Creates the event types first named in this batch (external id = name) and sets
/// every event's type id.
async fn resolve_new_event_types(
    tx: &mut WriteTx,
    events: Vec<ParsedEvent>,
    created: &mut HashMap<String, i64>,
) -> Result<Vec<NewEvent>, StoreError> {
    let mut missing: Vec<NewEventType> = Vec::new();
    for name in events.iter().filter_map(|p| p.new_type.as_ref()) {
        if !created.contains_key(name) && !missing.iter().any(|t| &t.name == name) {
            missing.push(NewEventType {
                external_id: name.clone(),
                name: name.clone(),
            });
        }
    }
    if !missing.is_empty() {
        tx.upsert(&missing).await?;
        let ids = tx.id_lookup(IdLookup::EventTypesByName).await?;
        for t in missing {
            let id = *ids
                .get(&t.name)
                .ok_or_else(|| StoreError::Corrupt(format!("event type {:?} was not created", t.name)))?;
            created.insert(t.name, id);
        }
    }
    events
        .into_iter()
        .map(|ParsedEvent { mut event, new_type }| {
            if let Some(name) = new_type {
                event.event_type_id = *created
                    .get(&name)
                    .ok_or_else(|| StoreError::Corrupt(format!("event type {name:?} was not created")))?;
            }
            Ok(event)
        })
        .collect()
}

/// Exchange rates (issue 17; docs/metrics.md, "Currencies"): from `date` on, one unit of
/// `currency` is worth `rate` of the reporting currency. A rate given again for its
/// currency and day replaces it; once written, lines billed in another currency are
/// converted again at the latest rates.
pub struct ExchangeRates;

impl ImportKind for ExchangeRates {
    const NAME: &'static str = "exchange-rates";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("currency", &["from_currency", "code"]),
        req("date", &["day", "valid_from"]),
        req("rate", &["exchange_rate"]),
    ];
    type Record = RateRecord;

    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<RateRecord, RowError> {
        let currency: Currency = row.parse_required("currency", str::parse)?;
        let day = row.parse_required("date", parse::date)?;
        let rate: Rate = row.parse_required("rate", str::parse)?;
        cx.first_use_of(row, "date", &format!("{currency} on {day}"))?;
        Ok(RateRecord(DatedRate { currency, day, rate }))
    }
}

/// An exchange rate as the import writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateRecord(pub DatedRate);

impl Batch for RateRecord {
    type State = ();

    async fn write(tx: &mut WriteTx, records: Vec<RateRecord>, _: &mut ()) -> Result<WriteCount, StoreError> {
        let rates: Vec<DatedRate> = records.into_iter().map(|r| r.0).collect();
        tx.upsert_exchange_rates(&rates).await
    }

    /// Converts the lines billed in another currency again at the latest rates, and asks
    /// for a Stripe sync (lines left out for want of a rate come with it).
    async fn finish(tx: &mut WriteTx, _: (), written: WriteCount) -> Result<(), StoreError> {
        if written.written > 0 {
            tx.revalue_foreign_lines(chrono::Utc::now().date_naive()).await?;
        }
        Ok(())
    }
}
