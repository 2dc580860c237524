//! The file kinds: their columns, how a row becomes a record, and how records are written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use laer_core::dedup::{self, ContentHasher, OccurrenceCounter};
use laer_core::model::{
    CaseStatus, MeetingStatus, NewAccount, NewContact, NewEvent, NewEventType, NewMeeting, NewMeetingCadence,
    NewOutcome, NewOutcomeMeasurement, NewProductUser, NewSubscription, NewSupportCase, NewSurveyResponse, NewTask,
    NewTeamMember, TaskStatus, TeamRole,
};
use laer_core::parse;
use laer_store::{IdLookup, StoreError, WriteCount, WriteTx};

use crate::RowError;
use crate::columns::{ColumnSpec, Header, Row, opt, req};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Accounts,
    Contacts,
    ProductUsers,
    Subscriptions,
    EventTypes,
    Events,
    SupportCases,
    Meetings,
    MeetingCadences,
    SurveyResponses,
    Outcomes,
    OutcomeMeasurements,
    TeamMembers,
    Tasks,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Accounts,
        Kind::Contacts,
        Kind::ProductUsers,
        Kind::Subscriptions,
        Kind::EventTypes,
        Kind::Events,
        Kind::SupportCases,
        Kind::Meetings,
        Kind::MeetingCadences,
        Kind::SurveyResponses,
        Kind::Outcomes,
        Kind::OutcomeMeasurements,
        Kind::TeamMembers,
        Kind::Tasks,
    ];

    /// The kind's name on the command line and in the docs: the table name with dashes.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Accounts => "accounts",
            Kind::Contacts => "contacts",
            Kind::ProductUsers => "product-users",
            Kind::Subscriptions => "subscriptions",
            Kind::EventTypes => "event-types",
            Kind::Events => "events",
            Kind::SupportCases => "support-cases",
            Kind::Meetings => "meetings",
            Kind::MeetingCadences => "meeting-cadences",
            Kind::SurveyResponses => "survey-responses",
            Kind::Outcomes => "outcomes",
            Kind::OutcomeMeasurements => "outcome-measurements",
            Kind::TeamMembers => "team-members",
            Kind::Tasks => "tasks",
        }
    }

    pub(crate) fn columns(self) -> &'static [ColumnSpec] {
        const ID: &[&str] = &["id"];
        const ACCOUNT: &[&str] = &["account", "account_external_id"];
        match self {
            Kind::Accounts => {
                const {
                    &[
                        req("external_id", ID),
                        opt("name", &["account_name"]),
                        opt("segment", &[]),
                        opt("channel", &[]),
                        opt("country", &[]),
                        opt("date_of_birth", &["created_on", "signup_date"]),
                        opt("renewal_date", &[]),
                    ]
                }
            }
            Kind::Contacts => {
                const {
                    &[
                        req("external_id", ID),
                        req("account_id", ACCOUNT),
                        opt("name", &[]),
                        opt("email", &[]),
                        opt("title", &["job_title"]),
                        opt("stakeholder_team", &["team"]),
                        opt("role", &[]),
                    ]
                }
            }
            Kind::ProductUsers => {
                const {
                    &[
                        req("external_id", &["id", "user_id"]),
                        req("account_id", ACCOUNT),
                        opt("email", &[]),
                        opt("name", &[]),
                        opt("department", &["team"]),
                        opt("created_at", &[]),
                    ]
                }
            }
            Kind::Subscriptions => {
                const {
                    &[
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
                    ]
                }
            }
            Kind::EventTypes => {
                const {
                    &[
                        req("external_id", &["id", "event_type_id"]),
                        req("name", &["event_type_name"]),
                    ]
                }
            }
            Kind::Events => {
                const {
                    &[
                        req("account_id", ACCOUNT),
                        req("event_time", &["timestamp", "occurred_at", "time"]),
                        opt("event_type_id", &[]),
                        opt("event_type", &["event", "event_name", "event_type_name"]),
                        opt("user_id", &["user"]),
                        opt("event_value", &["value"]),
                    ]
                }
            }
            Kind::SupportCases => {
                const {
                    &[
                        req("external_id", ID),
                        req("account_id", ACCOUNT),
                        req("opened_at", &["created_at"]),
                        opt("closed_at", &["resolved_at"]),
                        opt("severity", &["priority"]),
                        opt("kind", &["type", "category"]),
                        opt("status", &[]),
                        opt("subject", &["title"]),
                    ]
                }
            }
            Kind::Meetings => {
                const {
                    &[
                        req("external_id", ID),
                        req("account_id", ACCOUNT),
                        req("held_at", &["date", "start_time", "scheduled_at"]),
                        opt("stakeholder_team", &["team"]),
                        opt("kind", &["type", "meeting_type"]),
                        opt("status", &[]),
                        opt("duration_minutes", &["duration"]),
                        opt("notes", &["summary"]),
                    ]
                }
            }
            Kind::MeetingCadences => {
                const {
                    &[
                        req("account_id", ACCOUNT),
                        req("stakeholder_team", &["team"]),
                        req("every_days", &["cadence_days"]),
                    ]
                }
            }
            Kind::SurveyResponses => {
                const {
                    &[
                        req("external_id", ID),
                        req("account_id", ACCOUNT),
                        opt("contact_id", &["contact"]),
                        req("survey", &["survey_type", "type"]),
                        req("score", &[]),
                        req("responded_at", &["date", "created_at"]),
                        opt("comment", &[]),
                    ]
                }
            }
            Kind::Outcomes => {
                const {
                    &[
                        req("external_id", ID),
                        req("account_id", ACCOUNT),
                        req("name", &["outcome"]),
                        opt("unit", &[]),
                        req("baseline", &[]),
                        req("target", &[]),
                        opt("start_date", &[]),
                        opt("target_date", &["due_date"]),
                    ]
                }
            }
            Kind::OutcomeMeasurements => {
                const {
                    &[
                        req("outcome_id", &["outcome"]),
                        req("measured_on", &["date"]),
                        req("value", &[]),
                    ]
                }
            }
            Kind::TeamMembers => {
                const {
                    &[
                        req("external_id", ID),
                        req("name", &[]),
                        opt("email", &[]),
                        opt("roles", &["role"]),
                    ]
                }
            }
            Kind::Tasks => {
                const {
                    &[
                        req("external_id", ID),
                        opt("account_id", ACCOUNT),
                        opt("assignee_id", &["assignee", "owner"]),
                        req("title", &[]),
                        opt("due_on", &["due_date"]),
                        opt("status", &[]),
                        req("created_at", &[]),
                    ]
                }
            }
        }
    }

    /// Accounts keep unknown columns as attributes for segmenting; other kinds reject them.
    pub(crate) fn keeps_extra_columns(self) -> bool {
        self == Kind::Accounts
    }

    /// How many records are written at a time.
    fn batch_size(self) -> usize {
        match self {
            Kind::Events => 100_000,
            _ => 2_000,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Kind::ALL.into_iter().find(|k| k.name() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown kind {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// An event type as rows refer to it.
#[derive(Debug, Clone)]
struct EventTypeRef {
    external_id: String,
    /// `None` until the type, first seen in this file, is created.
    id: Option<i64>,
}

/// What rows are resolved against: laer ids of referenced records, and per-file state.
pub(crate) struct Context {
    accounts: HashMap<String, i64>,
    outcomes: HashMap<String, i64>,
    team_members: HashMap<String, i64>,
    event_types_by_external_id: HashMap<String, i64>,
    event_types_by_name: HashMap<String, EventTypeRef>,
    /// External ids seen in this file: a repeat is an error, not a silent overwrite.
    seen_external_ids: HashSet<String>,
    occurrences: OccurrenceCounter,
    events_by_type_id: bool,
}

impl Context {
    pub(crate) async fn load(tx: &mut WriteTx, kind: Kind, header: &Header) -> Result<Context, StoreError> {
        let needs_accounts = !matches!(
            kind,
            Kind::Accounts | Kind::EventTypes | Kind::TeamMembers | Kind::OutcomeMeasurements
        );
        let mut context = Context {
            accounts: if needs_accounts {
                tx.id_lookup(IdLookup::Accounts).await?
            } else {
                HashMap::new()
            },
            outcomes: HashMap::new(),
            team_members: HashMap::new(),
            event_types_by_external_id: HashMap::new(),
            event_types_by_name: HashMap::new(),
            seen_external_ids: HashSet::new(),
            occurrences: OccurrenceCounter::new(),
            events_by_type_id: header.has("event_type_id"),
        };
        match kind {
            Kind::OutcomeMeasurements => context.outcomes = tx.id_lookup(IdLookup::Outcomes).await?,
            Kind::Tasks => context.team_members = tx.id_lookup(IdLookup::TeamMembers).await?,
            Kind::Events => context.load_event_types(tx).await?,
            _ => {}
        }
        Ok(context)
    }

    async fn load_event_types(&mut self, tx: &mut WriteTx) -> Result<(), StoreError> {
        self.event_types_by_external_id = tx.id_lookup(IdLookup::EventTypesByExternalId).await?;
        let by_name = tx.id_lookup(IdLookup::EventTypesByName).await?;
        let external_of: HashMap<i64, &String> =
            self.event_types_by_external_id.iter().map(|(e, id)| (*id, e)).collect();
        self.event_types_by_name = by_name
            .into_iter()
            .filter_map(|(name, id)| {
                let external_id = external_of.get(&id)?.to_string();
                Some((
                    name,
                    EventTypeRef {
                        external_id,
                        id: Some(id),
                    },
                ))
            })
            .collect();
        Ok(())
    }

    fn account(&self, row: &Row, column: &'static str) -> Result<i64, RowError> {
        let external_id = row.required(column)?;
        self.accounts.get(external_id).copied().ok_or_else(|| {
            row.error(
                column,
                format!("unknown account {external_id:?}; import the account first"),
            )
        })
    }

    fn first_use(&mut self, row: &Row, external_id: &str) -> Result<(), RowError> {
        if self.seen_external_ids.insert(external_id.to_string()) {
            Ok(())
        } else {
            Err(row.error(
                "external_id",
                format!("{external_id:?} appears more than once in this file"),
            ))
        }
    }

    /// The event type a row names, by external id or by name (created when new).
    fn event_type(&mut self, row: &Row) -> Result<EventTypeRef, RowError> {
        if self.events_by_type_id
            && let Some(external_id) = row.get("event_type_id")
        {
            return match self.event_types_by_external_id.get(external_id) {
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
                if self.events_by_type_id {
                    "event_type_id"
                } else {
                    "event_type"
                },
                "is required but empty (give event_type_id or event_type)",
            ));
        };
        if let Some(known) = self.event_types_by_name.get(name) {
            return Ok(known.clone());
        }
        // A new type's external id is its name.
        let created = EventTypeRef {
            external_id: name.to_string(),
            id: None,
        };
        self.event_types_by_name.insert(name.to_string(), created.clone());
        Ok(created)
    }
}

/// Parsed records waiting to be written, one list per kind.
pub(crate) enum Records {
    Accounts(Vec<NewAccount>),
    Contacts(Vec<NewContact>),
    ProductUsers(Vec<NewProductUser>),
    Subscriptions(Vec<NewSubscription>),
    EventTypes(Vec<NewEventType>),
    /// Events whose type was first named in this file carry the type's name until it exists.
    Events(Vec<(NewEvent, Option<String>)>),
    SupportCases(Vec<NewSupportCase>),
    Meetings(Vec<NewMeeting>),
    MeetingCadences(Vec<NewMeetingCadence>),
    SurveyResponses(Vec<NewSurveyResponse>),
    Outcomes(Vec<NewOutcome>),
    OutcomeMeasurements(Vec<NewOutcomeMeasurement>),
    TeamMembers(Vec<NewTeamMember>),
    Tasks(Vec<NewTask>),
}

impl Records {
    pub(crate) fn new(kind: Kind) -> Records {
        match kind {
            Kind::Accounts => Records::Accounts(Vec::new()),
            Kind::Contacts => Records::Contacts(Vec::new()),
            Kind::ProductUsers => Records::ProductUsers(Vec::new()),
            Kind::Subscriptions => Records::Subscriptions(Vec::new()),
            Kind::EventTypes => Records::EventTypes(Vec::new()),
            Kind::Events => Records::Events(Vec::new()),
            Kind::SupportCases => Records::SupportCases(Vec::new()),
            Kind::Meetings => Records::Meetings(Vec::new()),
            Kind::MeetingCadences => Records::MeetingCadences(Vec::new()),
            Kind::SurveyResponses => Records::SurveyResponses(Vec::new()),
            Kind::Outcomes => Records::Outcomes(Vec::new()),
            Kind::OutcomeMeasurements => Records::OutcomeMeasurements(Vec::new()),
            Kind::TeamMembers => Records::TeamMembers(Vec::new()),
            Kind::Tasks => Records::Tasks(Vec::new()),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Records::Accounts(_) => Kind::Accounts,
            Records::Contacts(_) => Kind::Contacts,
            Records::ProductUsers(_) => Kind::ProductUsers,
            Records::Subscriptions(_) => Kind::Subscriptions,
            Records::EventTypes(_) => Kind::EventTypes,
            Records::Events(_) => Kind::Events,
            Records::SupportCases(_) => Kind::SupportCases,
            Records::Meetings(_) => Kind::Meetings,
            Records::MeetingCadences(_) => Kind::MeetingCadences,
            Records::SurveyResponses(_) => Kind::SurveyResponses,
            Records::Outcomes(_) => Kind::Outcomes,
            Records::OutcomeMeasurements(_) => Kind::OutcomeMeasurements,
            Records::TeamMembers(_) => Kind::TeamMembers,
            Records::Tasks(_) => Kind::Tasks,
        }
    }

    fn len(&self) -> usize {
        match self {
            Records::Accounts(v) => v.len(),
            Records::Contacts(v) => v.len(),
            Records::ProductUsers(v) => v.len(),
            Records::Subscriptions(v) => v.len(),
            Records::EventTypes(v) => v.len(),
            Records::Events(v) => v.len(),
            Records::SupportCases(v) => v.len(),
            Records::Meetings(v) => v.len(),
            Records::MeetingCadences(v) => v.len(),
            Records::SurveyResponses(v) => v.len(),
            Records::Outcomes(v) => v.len(),
            Records::OutcomeMeasurements(v) => v.len(),
            Records::TeamMembers(v) => v.len(),
            Records::Tasks(v) => v.len(),
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.kind().batch_size()
    }

    /// Validates one row and adds its record.
    pub(crate) fn push(&mut self, row: &Row, cx: &mut Context) -> Result<(), RowError> {
        match self {
            Records::Accounts(v) => v.push(account(row, cx)?),
            Records::Contacts(v) => v.push(contact(row, cx)?),
            Records::ProductUsers(v) => v.push(product_user(row, cx)?),
            Records::Subscriptions(v) => v.push(subscription(row, cx)?),
            Records::EventTypes(v) => v.push(event_type(row, cx)?),
            Records::Events(v) => v.push(event(row, cx)?),
            Records::SupportCases(v) => v.push(support_case(row, cx)?),
            Records::Meetings(v) => v.push(meeting(row, cx)?),
            Records::MeetingCadences(v) => v.push(meeting_cadence(row, cx)?),
            Records::SurveyResponses(v) => v.push(survey_response(row, cx)?),
            Records::Outcomes(v) => v.push(outcome(row, cx)?),
            Records::OutcomeMeasurements(v) => v.push(outcome_measurement(row, cx)?),
            Records::TeamMembers(v) => v.push(team_member(row, cx)?),
            Records::Tasks(v) => v.push(task(row, cx)?),
        }
        Ok(())
    }

    /// Writes the batch. `created_types` caches the ids of event types this import created.
    pub(crate) async fn write(
        self,
        tx: &mut WriteTx,
        created_types: &mut HashMap<String, i64>,
    ) -> Result<WriteCount, StoreError> {
        Ok(match self {
            Records::Accounts(v) => tx.upsert_accounts(&v).await?,
            Records::Contacts(v) => tx.upsert_contacts(&v).await?,
            Records::ProductUsers(v) => tx.upsert_product_users(&v).await?,
            Records::Subscriptions(v) => tx.upsert_subscriptions(&v).await?,
            Records::EventTypes(v) => tx.upsert_event_types(&v).await?,
            Records::Events(v) => {
                let events = resolve_new_event_types(tx, v, created_types).await?;
                tx.insert_events(&events).await?
            }
            Records::SupportCases(v) => tx.upsert_support_cases(&v).await?,
            Records::Meetings(v) => tx.upsert_meetings(&v).await?,
            Records::MeetingCadences(v) => tx.upsert_meeting_cadences(&v).await?,
            Records::SurveyResponses(v) => tx.upsert_survey_responses(&v).await?,
            Records::Outcomes(v) => tx.upsert_outcomes(&v).await?,
            Records::OutcomeMeasurements(v) => tx.upsert_outcome_measurements(&v).await?,
            Records::TeamMembers(v) => tx.upsert_team_members(&v).await?,
            Records::Tasks(v) => tx.upsert_tasks(&v).await?,
        })
    }

    /// Widens each account's (first, last) event instant to cover this batch's events.
    pub(crate) fn extend_event_spans(&self, spans: &mut HashMap<i64, (i64, i64)>) {
        if let Records::Events(events) = self {
            laer_core::model::extend_event_spans(spans, events.iter().map(|(e, _)| e));
        }
    }

    /// Takes the records out, leaving an empty batch of the same kind.
    pub(crate) fn take(&mut self) -> Records {
        std::mem::replace(self, Records::new(self.kind()))
    }
}

/// Creates the event types first named in this batch (external id = name) and sets
/// every event's type id.
async fn resolve_new_event_types(
    tx: &mut WriteTx,
    events: Vec<(NewEvent, Option<String>)>,
    created: &mut HashMap<String, i64>,
) -> Result<Vec<NewEvent>, StoreError> {
    let mut missing: Vec<NewEventType> = Vec::new();
    for name in events.iter().filter_map(|(_, name)| name.as_ref()) {
        if !created.contains_key(name) && !missing.iter().any(|t| &t.name == name) {
            missing.push(NewEventType {
                external_id: name.clone(),
                name: name.clone(),
            });
        }
    }
    if !missing.is_empty() {
        tx.upsert_event_types(&missing).await?;
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
        .map(|(mut event, name)| {
            if let Some(name) = name {
                event.event_type_id = *created
                    .get(&name)
                    .ok_or_else(|| StoreError::Corrupt(format!("event type {name:?} was not created")))?;
            }
            Ok(event)
        })
        .collect()
}

fn account(row: &Row, cx: &mut Context) -> Result<NewAccount, RowError> {
    let external_id = row.required("external_id")?;
    cx.first_use(row, external_id)?;
    let attributes: BTreeMap<String, String> = row
        .header
        .extra
        .iter()
        .filter_map(|(name, i)| {
            let value = row.record.get(*i)?.trim();
            (!value.is_empty() && !name.is_empty()).then(|| (name.clone(), value.to_string()))
        })
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

fn contact(row: &Row, cx: &mut Context) -> Result<NewContact, RowError> {
    let external_id = row.required("external_id")?;
    cx.first_use(row, external_id)?;
    Ok(NewContact {
        external_id: external_id.to_string(),
        account_id: cx.account(row, "account_id")?,
        name: row.text("name"),
        email: row.text("email"),
        title: row.text("title"),
        stakeholder_team: row.get("stakeholder_team").map(parse::label),
        role: row.get("role").map(parse::label),
    })
}

fn product_user(row: &Row, cx: &mut Context) -> Result<NewProductUser, RowError> {
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

fn subscription(row: &Row, cx: &mut Context) -> Result<NewSubscription, RowError> {
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
    })
}

fn event_type(row: &Row, cx: &mut Context) -> Result<NewEventType, RowError> {
    let external_id = row.required("external_id")?;
    cx.first_use(row, external_id)?;
    Ok(NewEventType {
        external_id: external_id.to_string(),
        name: row.required("name")?.to_string(),
    })
}

fn event(row: &Row, cx: &mut Context) -> Result<(NewEvent, Option<String>), RowError> {
    let account_id = cx.account(row, "account_id")?;
    let occurred_at = row.parse_required("event_time", parse::timestamp)?;
    let event_type = cx.event_type(row)?;
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
    let pending_type = event_type.id.is_none().then_some(event_type.external_id);
    Ok((event, pending_type))
}

fn support_case(row: &Row, cx: &mut Context) -> Result<NewSupportCase, RowError> {
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

fn meeting(row: &Row, cx: &mut Context) -> Result<NewMeeting, RowError> {
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
    Ok(NewMeeting {
        external_id: external_id.to_string(),
        account_id: cx.account(row, "account_id")?,
        held_at: row.parse_required("held_at", parse::timestamp)?,
        stakeholder_team: row.get("stakeholder_team").map(parse::label),
        kind: row.get("kind").map(parse::label),
        status: row.parse("status", str::parse)?.unwrap_or(MeetingStatus::Held),
        duration_minutes,
        notes: row.text("notes"),
    })
}

fn meeting_cadence(row: &Row, cx: &mut Context) -> Result<NewMeetingCadence, RowError> {
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
            format!("account {account:?} has a cadence for team {team:?} more than once in this file"),
        )
    })?;
    Ok(cadence)
}

fn survey_response(row: &Row, cx: &mut Context) -> Result<NewSurveyResponse, RowError> {
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

fn outcome(row: &Row, cx: &mut Context) -> Result<NewOutcome, RowError> {
    let external_id = row.required("external_id")?;
    cx.first_use(row, external_id)?;
    let start_date = row.parse("start_date", parse::date)?;
    let target_date = row.parse("target_date", parse::date)?;
    if let (Some(start), Some(target)) = (start_date, target_date)
        && target < start
    {
        return Err(row.error("target_date", format!("{target} is before start_date {start}")));
    }
    Ok(NewOutcome {
        external_id: external_id.to_string(),
        account_id: cx.account(row, "account_id")?,
        name: row.required("name")?.to_string(),
        unit: row.text("unit"),
        baseline: row.parse_required("baseline", parse::float)?,
        target: row.parse_required("target", parse::float)?,
        start_date,
        target_date,
    })
}

fn outcome_measurement(row: &Row, cx: &mut Context) -> Result<NewOutcomeMeasurement, RowError> {
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
                format!("outcome {outcome:?} is measured on {measured_on} more than once in this file"),
            )
        })?;
    Ok(NewOutcomeMeasurement {
        outcome_id,
        measured_on,
        value: row.parse_required("value", parse::float)?,
    })
}

fn team_member(row: &Row, cx: &mut Context) -> Result<NewTeamMember, RowError> {
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
    Ok(NewTeamMember {
        external_id: external_id.to_string(),
        name: row.required("name")?.to_string(),
        email: row.text("email"),
        roles,
    })
}

fn task(row: &Row, cx: &mut Context) -> Result<NewTask, RowError> {
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
