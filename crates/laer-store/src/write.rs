//! Writes, always inside one transaction: a file that fails validation leaves nothing.

use std::collections::{HashMap, HashSet};

use laer_core::model::{
    NewAccount, NewAuditEntry, NewContact, NewCoverageAssignment, NewEvent, NewEventType, NewMeeting,
    NewMeetingCadence, NewMilestone, NewOutcome, NewOutcomeMeasurement, NewProductUser, NewSubscription,
    NewSupportCase, NewSurveyResponse, NewTask, NewTeamMember,
};
use laer_core::retention::{MICROS_PER_DAY, activity_day};
use sqlx::{Postgres, Sqlite, SqlitePool, Transaction};

use crate::exec::{Params, Value, list, params, tuples};
use crate::sql::{ACTIVITY_DAY, OnConflict, Table, event_type_days_from_events};
use crate::{Backend, Pool, Store, StoreError, postgres};

/// What a write did: rows inserted or changed, and rows already stored as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteCount {
    pub written: u64,
    pub unchanged: u64,
}

impl std::ops::AddAssign for WriteCount {
    fn add_assign(&mut self, other: WriteCount) {
        self.written += other.written;
        self.unchanged += other.unchanged;
    }
}

/// An open write transaction. Dropping it without [`WriteTx::commit`] rolls back.
pub enum WriteTx {
    Sqlite(SqliteTx),
    Postgres(Transaction<'static, Postgres>),
}

/// An SQLite write transaction, holding this process's turn to write: writers queue here
/// instead of sleeping in SQLite's busy handler, which wakes them late under load.
pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<Option<SqlitePool>>,
}

impl std::ops::Deref for SqliteTx {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &sqlx::SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.tx
    }
}

/// The external-id-to-id lookups that imports resolve references with.
#[derive(Debug, Clone, Copy)]
pub enum IdLookup {
    Accounts,
    EventTypesByExternalId,
    EventTypesByName,
    Outcomes,
    TeamMembers,
}

impl IdLookup {
    fn sql(self) -> &'static str {
        match self {
            IdLookup::Accounts => "SELECT external_id AS key, id FROM accounts",
            IdLookup::EventTypesByExternalId => "SELECT external_id AS key, id FROM event_types",
            IdLookup::EventTypesByName => "SELECT name AS key, id FROM event_types",
            IdLookup::Outcomes => "SELECT external_id AS key, id FROM outcomes",
            IdLookup::TeamMembers => "SELECT external_id AS key, id FROM team_members",
        }
    }
}

/// A row of an [`IdLookup`]: an external id (or name) and the laer id it stands for.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyId {
    pub key: String,
    pub id: i64,
}

impl Store {
    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that writers queue instead of failing on a stale snapshot; on
    /// PostgreSQL writers that touch the same user or account serialize on
    /// [`WriteTx::lock`].
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(readers) => {
                let turn = self.sqlite_writer.clone().lock_owned().await;
                let pool = turn.as_ref().unwrap_or(readers);
                WriteTx::Sqlite(SqliteTx {
                    tx: pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: turn,
                })
            }
            Pool::Postgres(pool) => WriteTx::Postgres(pool.begin().await?),
        })
    }
}

const ACCOUNTS: Table = Table {
    name: "accounts",
    columns: &[
        "external_id",
        "name",
        "segment",
        "channel",
        "country",
        "date_of_birth",
        "renewal_date",
        "attributes",
    ],
    json_columns: &["attributes"],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const CONTACTS: Table = Table {
    name: "contacts",
    columns: &[
        "external_id",
        "account_id",
        "name",
        "email",
        "title",
        "stakeholder_team",
        "role",
    ],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const PRODUCT_USERS: Table = Table {
    name: "product_users",
    columns: &["external_id", "account_id", "email", "name", "department", "created_at"],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const SUBSCRIPTIONS: Table = Table {
    name: "subscriptions",
    columns: &[
        "external_id",
        "account_id",
        "product",
        "start_date",
        "end_date",
        "mrr",
        "quantity",
        "units",
        "bill_period_months",
        "discount",
    ],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const EVENT_TYPES: Table = Table {
    name: "event_types",
    columns: &["external_id", "name"],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const EVENTS: Table = Table {
    name: "events",
    columns: &[
        "account_id",
        "occurred_at",
        "dedup_key",
        "event_type_id",
        "user_ref",
        "value",
    ],
    json_columns: &[],
    key: &["account_id", "occurred_at", "dedup_key"],
    on_conflict: OnConflict::Ignore,
};
const SUPPORT_CASES: Table = Table {
    name: "support_cases",
    columns: &[
        "external_id",
        "account_id",
        "opened_at",
        "closed_at",
        "severity",
        "kind",
        "status",
        "subject",
    ],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const MEETINGS: Table = Table {
    name: "meetings",
    columns: &[
        "external_id",
        "account_id",
        "held_at",
        "stakeholder_team",
        "kind",
        "status",
        "duration_minutes",
        "notes",
    ],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const MEETING_CADENCES: Table = Table {
    name: "meeting_cadences",
    columns: &["account_id", "stakeholder_team", "every_days"],
    json_columns: &[],
    key: &["account_id", "stakeholder_team"],
    on_conflict: OnConflict::Update,
};
const SURVEY_RESPONSES: Table = Table {
    name: "survey_responses",
    columns: &[
        "external_id",
        "account_id",
        "contact_ref",
        "survey",
        "score",
        "responded_at",
        "comment",
    ],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const OUTCOMES: Table = Table {
    name: "outcomes",
    columns: &[
        "external_id",
        "account_id",
        "name",
        "unit",
        "baseline",
        "target",
        "start_date",
        "target_date",
    ],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
const OUTCOME_MEASUREMENTS: Table = Table {
    name: "outcome_measurements",
    columns: &["outcome_id", "measured_on", "value"],
    json_columns: &[],
    key: &["outcome_id", "measured_on"],
    on_conflict: OnConflict::Update,
};
const TEAM_MEMBERS: Table = Table {
    name: "team_members",
    columns: &["external_id", "name", "email", "roles"],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};
/// Tables whose writes bump the `portfolio` revision (see [`Store::portfolio_revision`]).
/// Tables whose rows an account's health is computed from (events: `add_event_days`).
const HEALTH_TABLES: &[&str] = &[
    "subscriptions",
    "contacts",
    "product_users",
    "support_cases",
    "meetings",
    "survey_responses",
    "outcomes",
    "outcome_measurements",
    "coverage_assignments",
    "meeting_cadences",
];

const PORTFOLIO_TABLES: &[&str] = &["accounts", "subscriptions", "team_members", "coverage_assignments"];

const COVERAGE: Table = Table {
    name: "coverage_assignments",
    columns: &["account_id", "team_member_id", "role", "since", "until", "reason"],
    json_columns: &[],
    key: &["account_id", "role", "team_member_id", "since"],
    on_conflict: OnConflict::Update,
};
const MILESTONES: Table = Table {
    name: "milestones",
    columns: &[
        "external_id",
        "account_id",
        "title",
        "due_on",
        "done_on",
        "side",
        "position",
        "created_at",
    ],
    json_columns: &[],
    key: &["external_id"],
    // A milestone from outside, once stored, is the team's to change.
    on_conflict: OnConflict::Ignore,
};
const TASKS: Table = Table {
    name: "tasks",
    columns: &[
        "external_id",
        "account_id",
        "assignee_id",
        "title",
        "due_on",
        "status",
        "created_at",
    ],
    json_columns: &[],
    key: &["external_id"],
    on_conflict: OnConflict::Update,
};

/// One row's values, in the order of its table's columns.
type Row<'a> = Vec<Value<'a>>;

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value<'static> {
    Value::Int(t.map(|t| t.timestamp_micros()))
}

fn account_row(a: &NewAccount) -> Row<'_> {
    let attributes = serde_json::to_string(&a.attributes).unwrap_or_else(|_| "{}".to_string());
    vec![
        a.external_id.as_str().into(),
        (&a.name).into(),
        (&a.segment).into(),
        (&a.channel).into(),
        (&a.country).into(),
        a.date_of_birth.into(),
        a.renewal_date.into(),
        attributes.into(),
    ]
}

fn contact_row(c: &NewContact) -> Row<'_> {
    vec![
        c.external_id.as_str().into(),
        c.account_id.into(),
        (&c.name).into(),
        (&c.email).into(),
        (&c.title).into(),
        (&c.stakeholder_team).into(),
        (&c.role).into(),
    ]
}

fn product_user_row(u: &NewProductUser) -> Row<'_> {
    vec![
        u.external_id.as_str().into(),
        u.account_id.into(),
        (&u.email).into(),
        (&u.name).into(),
        (&u.department).into(),
        time(u.created_at),
    ]
}

fn subscription_row(s: &NewSubscription) -> Row<'_> {
    vec![
        s.external_id.as_str().into(),
        s.account_id.into(),
        s.product.as_str().into(),
        s.start_date.into(),
        s.end_date.into(),
        s.mrr.ten_thousandths().into(),
        s.quantity.into(),
        (&s.units).into(),
        s.bill_period_months.into(),
        s.discount.into(),
    ]
}

fn event_type_row(t: &NewEventType) -> Row<'_> {
    vec![t.external_id.as_str().into(), t.name.as_str().into()]
}

fn support_case_row(c: &NewSupportCase) -> Row<'_> {
    vec![
        c.external_id.as_str().into(),
        c.account_id.into(),
        time(Some(c.opened_at)),
        time(c.closed_at),
        c.severity.into(),
        c.kind.as_str().into(),
        c.status.as_str().into(),
        (&c.subject).into(),
    ]
}

fn meeting_row(m: &NewMeeting) -> Row<'_> {
    vec![
        m.external_id.as_str().into(),
        m.account_id.into(),
        time(Some(m.held_at)),
        (&m.stakeholder_team).into(),
        (&m.kind).into(),
        m.status.as_str().into(),
        m.duration_minutes.map(i64::from).into(),
        (&m.notes).into(),
    ]
}

fn meeting_cadence_row(c: &NewMeetingCadence) -> Row<'_> {
    vec![
        c.account_id.into(),
        c.stakeholder_team.as_str().into(),
        i64::from(c.every_days).into(),
    ]
}

fn survey_response_row(r: &NewSurveyResponse) -> Row<'_> {
    vec![
        r.external_id.as_str().into(),
        r.account_id.into(),
        (&r.contact_ref).into(),
        r.survey.as_str().into(),
        r.score.into(),
        time(Some(r.responded_at)),
        (&r.comment).into(),
    ]
}

fn outcome_row(o: &NewOutcome) -> Row<'_> {
    vec![
        o.external_id.as_str().into(),
        o.account_id.into(),
        o.name.as_str().into(),
        (&o.unit).into(),
        o.baseline.into(),
        o.target.into(),
        o.start_date.into(),
        o.target_date.into(),
    ]
}

fn outcome_measurement_row(m: &NewOutcomeMeasurement) -> Row<'_> {
    vec![m.outcome_id.into(), m.measured_on.into(), m.value.into()]
}

fn team_member_row(t: &NewTeamMember) -> Row<'_> {
    let roles: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
    vec![
        t.external_id.as_str().into(),
        t.name.as_str().into(),
        (&t.email).into(),
        roles.join(",").into(),
    ]
}

fn coverage_row(c: &NewCoverageAssignment) -> Row<'_> {
    vec![
        c.account_id.into(),
        c.team_member_id.into(),
        c.role.as_str().into(),
        c.since.into(),
        c.until.into(),
        c.reason.as_str().into(),
    ]
}

fn task_row(t: &NewTask) -> Row<'_> {
    vec![
        t.external_id.as_str().into(),
        t.account_id.into(),
        t.assignee_id.into(),
        t.title.as_str().into(),
        t.due_on.into(),
        t.status.as_str().into(),
        time(Some(t.created_at)),
    ]
}

/// The `position`th milestone given, stored now.
fn milestone_row(position: usize, m: &NewMilestone) -> Row<'_> {
    vec![
        (&m.external_id).into(),
        m.account_id.into(),
        m.title.as_str().into(),
        m.due_on.into(),
        m.done_on.into(),
        m.side.as_str().into(),
        Value::Int(i64::try_from(position).ok()),
        time(Some(chrono::Utc::now())),
    ]
}

fn event_row(e: &NewEvent) -> Row<'_> {
    vec![
        e.account_id.into(),
        e.occurred_at.timestamp_micros().into(),
        e.dedup_key.into(),
        e.event_type_id.into(),
        (&e.user_ref).into(),
        e.value.into(),
    ]
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            WriteTx::Sqlite(tx) => tx.tx.commit().await?,
            WriteTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            WriteTx::Sqlite(tx) => tx.tx.rollback().await?,
            WriteTx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// Which engine the transaction runs on.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            WriteTx::Sqlite(_) => Backend::Sqlite,
            WriteTx::Postgres(_) => Backend::Postgres,
        }
    }

    /// External id (or name) to laer id, for resolving references in imported rows.
    pub async fn id_lookup(&mut self, lookup: IdLookup) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<KeyId> = self.fetch_all(lookup.sql(), params![]).await?;
        Ok(rows.into_iter().map(|r| (r.key, r.id)).collect())
    }

    async fn write_rows(&mut self, table: &Table, rows: Vec<Row<'_>>) -> Result<WriteCount, StoreError> {
        let mut count = WriteCount::default();
        // Whose health the rows change: account ids, or outcome ids for measurements.
        let owner = table
            .columns
            .iter()
            .position(|c| *c == "account_id" || (table.name == "outcome_measurements" && *c == "outcome_id"));
        let mut marked: Vec<i64> = match owner {
            Some(i) if HEALTH_TABLES.contains(&table.name) => rows
                .iter()
                .filter_map(|r| match r.get(i) {
                    Some(Value::Int(Some(id))) => Some(*id),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        marked.sort_unstable();
        marked.dedup();
        let backend = self.backend();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut params = Params::with_capacity(table.batch_rows() * table.columns.len());
            let mut n = 0;
            for row in rows.by_ref().take(table.batch_rows()) {
                for value in row {
                    params.push(value);
                }
                n += 1;
            }
            let affected = self.execute(&table.insert_sql(backend, n), params).await?;
            let n = n as u64;
            count += WriteCount {
                written: affected,
                unchanged: n - affected.min(n),
            };
        }
        if count.written > 0 {
            self.mark_health_dirty(table, &marked).await?;
        }
        if count.written > 0 && PORTFOLIO_TABLES.contains(&table.name) {
            self.touch_portfolio().await?;
        }
        Ok(count)
    }

    /// Tells every node that the portfolio's inputs (accounts, lines, team, coverage)
    /// changed, so that its cached views are made again.
    pub(crate) async fn touch_portfolio(&mut self) -> Result<(), StoreError> {
        self.execute("UPDATE revisions SET n = n + 1 WHERE name = 'portfolio'", params![])
            .await?;
        Ok(())
    }

    pub async fn upsert_accounts(&mut self, rows: &[NewAccount]) -> Result<WriteCount, StoreError> {
        self.write_rows(&ACCOUNTS, rows.iter().map(account_row).collect()).await
    }

    pub async fn upsert_contacts(&mut self, rows: &[NewContact]) -> Result<WriteCount, StoreError> {
        self.write_rows(&CONTACTS, rows.iter().map(contact_row).collect()).await
    }

    pub async fn upsert_product_users(&mut self, rows: &[NewProductUser]) -> Result<WriteCount, StoreError> {
        self.write_rows(&PRODUCT_USERS, rows.iter().map(product_user_row).collect())
            .await
    }

    pub async fn upsert_subscriptions(&mut self, rows: &[NewSubscription]) -> Result<WriteCount, StoreError> {
        self.write_rows(&SUBSCRIPTIONS, rows.iter().map(subscription_row).collect())
            .await
    }

    pub async fn upsert_event_types(&mut self, rows: &[NewEventType]) -> Result<WriteCount, StoreError> {
        self.write_rows(&EVENT_TYPES, rows.iter().map(event_type_row).collect())
            .await
    }

    pub async fn upsert_support_cases(&mut self, rows: &[NewSupportCase]) -> Result<WriteCount, StoreError> {
        self.write_rows(&SUPPORT_CASES, rows.iter().map(support_case_row).collect())
            .await
    }

    pub async fn upsert_meetings(&mut self, rows: &[NewMeeting]) -> Result<WriteCount, StoreError> {
        self.write_rows(&MEETINGS, rows.iter().map(meeting_row).collect()).await
    }

    /// Stores each account's agreed cadence with a stakeholder team, replacing the one
    /// stored for the same account and team. Rows are applied in order: a later row for
    /// the same account and team replaces an earlier one.
    pub async fn upsert_meeting_cadences(&mut self, rows: &[NewMeetingCadence]) -> Result<WriteCount, StoreError> {
        // PostgreSQL refuses a statement that updates one row twice: a repeated key
        // starts another run of rows.
        let mut count = WriteCount::default();
        let mut run: Vec<Row<'_>> = Vec::new();
        let mut keys: HashSet<(i64, &str)> = HashSet::new();
        for c in rows {
            if !keys.insert((c.account_id, &c.stakeholder_team)) {
                count += self.write_rows(&MEETING_CADENCES, std::mem::take(&mut run)).await?;
                keys.clear();
                keys.insert((c.account_id, &c.stakeholder_team));
            }
            run.push(meeting_cadence_row(c));
        }
        count += self.write_rows(&MEETING_CADENCES, run).await?;
        Ok(count)
    }

    pub async fn upsert_survey_responses(&mut self, rows: &[NewSurveyResponse]) -> Result<WriteCount, StoreError> {
        self.write_rows(&SURVEY_RESPONSES, rows.iter().map(survey_response_row).collect())
            .await
    }

    pub async fn upsert_outcomes(&mut self, rows: &[NewOutcome]) -> Result<WriteCount, StoreError> {
        self.write_rows(&OUTCOMES, rows.iter().map(outcome_row).collect()).await
    }

    pub async fn upsert_outcome_measurements(
        &mut self,
        rows: &[NewOutcomeMeasurement],
    ) -> Result<WriteCount, StoreError> {
        self.write_rows(
            &OUTCOME_MEASUREMENTS,
            rows.iter().map(outcome_measurement_row).collect(),
        )
        .await
    }

    pub async fn upsert_team_members(&mut self, rows: &[NewTeamMember]) -> Result<WriteCount, StoreError> {
        self.write_rows(&TEAM_MEMBERS, rows.iter().map(team_member_row).collect())
            .await
    }

    pub async fn upsert_coverage(&mut self, rows: &[NewCoverageAssignment]) -> Result<WriteCount, StoreError> {
        self.write_rows(&COVERAGE, rows.iter().map(coverage_row).collect())
            .await
    }

    pub async fn upsert_tasks(&mut self, rows: &[NewTask]) -> Result<WriteCount, StoreError> {
        self.write_rows(&TASKS, rows.iter().map(task_row).collect()).await
    }

    /// Adds milestones with an external id; one already stored is kept as it is (the
    /// team may have changed it since). Within an account they keep the order given.
    pub async fn upsert_milestones(&mut self, rows: &[NewMilestone]) -> Result<WriteCount, StoreError> {
        let rows = rows.iter().enumerate().map(|(i, m)| milestone_row(i, m)).collect();
        self.write_rows(&MILESTONES, rows).await
    }

    /// Inserts usage events; an event already stored (same account, instant and key) is kept.
    pub async fn insert_events(&mut self, rows: &[NewEvent]) -> Result<WriteCount, StoreError> {
        match self {
            // COPY (PostgreSQL only) pays off for the large batches of imports; a few
            // rows (an ingest request) go faster as one INSERT.
            WriteTx::Postgres(tx) if rows.len() >= postgres::COPY_MIN_ROWS => postgres::copy_events(tx, rows).await,
            _ => self.write_rows(&EVENTS, rows.iter().map(event_row).collect()).await,
        }
    }

    /// Holds a lock on each named thing (a user, an account) until the transaction ends,
    /// so that concurrent writers touching the same things run one after the other.
    /// Locks are taken in a fixed order, which rules out deadlocks between callers that
    /// lock their users before their accounts.
    pub async fn lock<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) -> Result<(), StoreError> {
        match self {
            // Advisory locks are PostgreSQL's; SQLite needs none: its writers already run
            // one at a time.
            WriteTx::Postgres(tx) => postgres::lock(tx, names).await,
            WriteTx::Sqlite(_) => Ok(()),
        }
    }

    /// Adds events just written, every one of them new, to the daily rollups: counts and
    /// value sums add up; users join the day's user rows, which give the distinct count.
    pub async fn add_event_days(&mut self, events: &[NewEvent]) -> Result<(), StoreError> {
        let rollup = NewEventsRollup::of(events);
        let mut accounts: Vec<String> = rollup.by_type.keys().map(|(a, _, _)| format!("account:{a}")).collect();
        accounts.dedup();
        self.lock(accounts.iter().map(String::as_str)).await?;

        let mut touched: Vec<i64> = rollup.by_day.keys().map(|(a, _)| *a).collect();
        touched.dedup();
        self.mark_health_dirty(&EVENTS, &touched).await?;

        let day_rows: Vec<[i64; 3]> = rollup.by_day.iter().map(|(&(a, d), &n)| [a, d, n]).collect();
        for chunk in day_rows.chunks(1_000) {
            let sql = format!(
                "INSERT INTO event_days (account_id, day, events) VALUES {} \
                 ON CONFLICT (account_id, day) DO UPDATE SET events = event_days.events + excluded.events",
                tuples(chunk.len(), 3)
            );
            self.execute(&sql, ints(chunk.as_flattened())).await?;
        }

        for chunk in rollup.users.chunks(1_000) {
            let sql = format!(
                "INSERT INTO event_user_days (account_id, day, event_type_id, user_ref) VALUES {} \
                 ON CONFLICT DO NOTHING",
                tuples(chunk.len(), 4)
            );
            let mut params = Params::with_capacity(chunk.len() * 4);
            for &(account, day, event_type, user) in chunk {
                params.push(account);
                params.push(day);
                params.push(event_type);
                params.push(user);
            }
            self.execute(&sql, params).await?;
        }

        let type_rows: Vec<_> = rollup.by_type.iter().collect();
        for chunk in type_rows.chunks(1_000) {
            // `users` starts at 0 and is counted below.
            let sql = format!(
                "INSERT INTO event_type_days (account_id, day, event_type_id, events, value_sum, users) VALUES {} \
                 ON CONFLICT (account_id, day, event_type_id) DO UPDATE SET \
                 events = event_type_days.events + excluded.events, \
                 value_sum = CASE WHEN excluded.value_sum IS NULL THEN event_type_days.value_sum \
                 ELSE COALESCE(event_type_days.value_sum, 0) + excluded.value_sum END",
                tuples(chunk.len(), 6)
            );
            let mut params = Params::with_capacity(chunk.len() * 6);
            for &(&(account, day, event_type), &(events, value_sum)) in chunk {
                params.push(account);
                params.push(day);
                params.push(event_type);
                params.push(events);
                params.push(value_sum);
                params.push(0_i64);
            }
            self.execute(&sql, params).await?;
            // Distinct users: counted from the user rows of just the touched days, which
            // stay as small as a day's users of one feature.
            let keys: Vec<i64> = chunk.iter().flat_map(|&(&(a, d, t), _)| [a, d, t]).collect();
            let sql = format!(
                "UPDATE event_type_days SET users = (SELECT COUNT(*) FROM event_user_days u \
                 WHERE u.account_id = event_type_days.account_id AND u.day = event_type_days.day \
                 AND u.event_type_id = event_type_days.event_type_id) \
                 WHERE (account_id, day, event_type_id) IN (VALUES {})",
                tuples(chunk.len(), 3)
            );
            self.execute(&sql, ints(&keys)).await?;
        }
        Ok(())
    }

    /// Recomputes the daily rollups (per account; per account and event type; the users
    /// per account, day and type) for each (account, first instant, last instant) span
    /// from the stored events; call after writing events.
    pub async fn refresh_event_days(&mut self, spans: &[(i64, i64, i64)]) -> Result<(), StoreError> {
        let mut accounts: Vec<String> = spans
            .iter()
            .map(|(account, _, _)| format!("account:{account}"))
            .collect();
        accounts.sort();
        self.lock(accounts.iter().map(String::as_str)).await?;
        let by_type = insert_event_type_days("WHERE account_id = $1 AND occurred_at > $2 AND occurred_at <= $3");
        let users = format!(
            "INSERT INTO event_user_days (account_id, day, event_type_id, user_ref) \
             SELECT DISTINCT account_id, {ACTIVITY_DAY}, event_type_id, user_ref FROM events \
             WHERE account_id = $1 AND occurred_at > $2 AND occurred_at <= $3 AND user_ref IS NOT NULL"
        );
        let mut touched: Vec<i64> = spans.iter().map(|(account, _, _)| *account).collect();
        touched.sort_unstable();
        touched.dedup();
        self.mark_health_dirty(&EVENTS, &touched).await?;
        for &(account_id, first, last) in spans {
            let (from_day, to_day) = (activity_day(first), activity_day(last));
            let (after, until) = ((from_day - 1) * MICROS_PER_DAY, to_day * MICROS_PER_DAY);
            for table in ["event_type_days", "event_user_days", "event_days"] {
                self.execute(
                    &format!("DELETE FROM {table} WHERE account_id = $1 AND day BETWEEN $2 AND $3"),
                    params![account_id, from_day, to_day],
                )
                .await?;
            }
            self.execute(&by_type, params![account_id, after, until]).await?;
            self.execute(&users, params![account_id, after, until]).await?;
            self.execute(
                "INSERT INTO event_days (account_id, day, events) SELECT account_id, day, SUM(events) \
                 FROM event_type_days WHERE account_id = $1 AND day BETWEEN $2 AND $3 GROUP BY 1, 2",
                params![account_id, from_day, to_day],
            )
            .await?;
        }
        Ok(())
    }

    /// Records that the health of these accounts (or of the accounts of these outcomes,
    /// for measurements) needs computing again.
    pub(crate) async fn mark_health_dirty(&mut self, table: &Table, ids: &[i64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(1_000) {
            let sql = if table.name == "outcome_measurements" {
                format!(
                    "INSERT INTO health_dirty (account_id) SELECT DISTINCT account_id FROM outcomes \
                     WHERE id IN ({}) ON CONFLICT DO NOTHING",
                    list(1, chunk.len())
                )
            } else {
                format!(
                    "INSERT INTO health_dirty (account_id) VALUES {} ON CONFLICT DO NOTHING",
                    tuples(chunk.len(), 1)
                )
            };
            self.execute(&sql, ints(chunk)).await?;
        }
        Ok(())
    }

    pub async fn append_audit(&mut self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        // PostgreSQL keeps the details as JSONB; SQLite as the text bound.
        let details = match self.backend() {
            Backend::Sqlite => "$4",
            Backend::Postgres => "CAST($4 AS JSONB)",
        };
        self.execute(
            &format!("INSERT INTO audit_entries (at, actor, action, details) VALUES ($1, $2, $3, {details})"),
            params![
                entry.at.timestamp_micros(),
                &entry.actor,
                &entry.action,
                entry.details.to_string()
            ],
        )
        .await?;
        Ok(())
    }
}

/// Whole numbers as the parameters `$1, $2, ...`.
pub(crate) fn ints(values: &[i64]) -> Params<'static> {
    let mut params = Params::with_capacity(values.len());
    for v in values {
        params.push(*v);
    }
    params
}

/// Rebuilds the per-event-type rollup rows of the events `filter` selects.
fn insert_event_type_days(filter: &str) -> String {
    format!(
        "INSERT INTO event_type_days (account_id, day, event_type_id, events, value_sum, users) {}",
        event_type_days_from_events(filter)
    )
}

/// What a set of new events adds to the daily rollups.
struct NewEventsRollup<'a> {
    /// (account, day) → events.
    by_day: std::collections::BTreeMap<(i64, i64), i64>,
    /// (account, day, type) → (events, value sum).
    by_type: std::collections::BTreeMap<(i64, i64, i64), (i64, Option<f64>)>,
    /// Distinct (account, day, type, user).
    users: Vec<(i64, i64, i64, &'a str)>,
}

impl<'a> NewEventsRollup<'a> {
    fn of(events: &'a [NewEvent]) -> Self {
        let mut rollup = NewEventsRollup {
            by_day: Default::default(),
            by_type: Default::default(),
            users: Vec::new(),
        };
        for e in events {
            let day = activity_day(e.occurred_at.timestamp_micros());
            *rollup.by_day.entry((e.account_id, day)).or_default() += 1;
            let (events, value_sum) = rollup.by_type.entry((e.account_id, day, e.event_type_id)).or_default();
            *events += 1;
            if let Some(v) = e.value {
                *value_sum = Some(value_sum.unwrap_or(0.0) + v);
            }
            if let Some(user) = &e.user_ref {
                rollup.users.push((e.account_id, day, e.event_type_id, user));
            }
        }
        rollup.users.sort_unstable();
        rollup.users.dedup();
        rollup
    }
}
