//! Writes, always inside one transaction: a file that fails validation leaves nothing.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use chrono::NaiveDate;
use laer_core::model::{
    NewAccount, NewAuditEntry, NewContact, NewCoverageAssignment, NewEvent, NewEventType, NewMeeting,
    NewMeetingCadence, NewMilestone, NewOutcome, NewOutcomeMeasurement, NewProductUser, NewSubscription,
    NewSupportCase, NewSurveyResponse, NewTask, NewTeamMember,
};
use laer_core::retention::{MICROS_PER_DAY, activity_day};
use sqlx::{AssertSqlSafe, Postgres, Sqlite, SqlitePool, Transaction};

use crate::sql::{ACTIVITY_DAY, Dialect, OnConflict, Table, Value, event_type_days_from_events};
use crate::{Pool, Store, StoreError, postgres, sqlite};

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
            IdLookup::Accounts => "SELECT external_id, id FROM accounts",
            IdLookup::EventTypesByExternalId => "SELECT external_id, id FROM event_types",
            IdLookup::EventTypesByName => "SELECT name, id FROM event_types",
            IdLookup::Outcomes => "SELECT external_id, id FROM outcomes",
            IdLookup::TeamMembers => "SELECT external_id, id FROM team_members",
        }
    }
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

fn text(s: &Option<String>) -> Value {
    Value::Text(s.clone())
}

fn id(i: i64) -> Value {
    Value::Int(Some(i))
}

fn name(s: &str) -> Value {
    Value::Text(Some(s.to_string()))
}

fn account_row(a: &NewAccount) -> Vec<Value> {
    let attributes = serde_json::to_string(&a.attributes).unwrap_or_else(|_| "{}".to_string());
    vec![
        name(&a.external_id),
        text(&a.name),
        text(&a.segment),
        text(&a.channel),
        text(&a.country),
        Value::Date(a.date_of_birth),
        Value::Date(a.renewal_date),
        Value::Json(attributes),
    ]
}

fn contact_row(c: &NewContact) -> Vec<Value> {
    vec![
        name(&c.external_id),
        id(c.account_id),
        text(&c.name),
        text(&c.email),
        text(&c.title),
        text(&c.stakeholder_team),
        text(&c.role),
    ]
}

fn product_user_row(u: &NewProductUser) -> Vec<Value> {
    vec![
        name(&u.external_id),
        id(u.account_id),
        text(&u.email),
        text(&u.name),
        text(&u.department),
        Value::time(u.created_at),
    ]
}

fn subscription_row(s: &NewSubscription) -> Vec<Value> {
    vec![
        name(&s.external_id),
        id(s.account_id),
        name(&s.product),
        Value::Date(Some(s.start_date)),
        Value::Date(s.end_date),
        id(s.mrr.ten_thousandths()),
        Value::Float(s.quantity),
        text(&s.units),
        id(i64::from(s.bill_period_months)),
        Value::Float(s.discount),
    ]
}

fn event_type_row(t: &NewEventType) -> Vec<Value> {
    vec![name(&t.external_id), name(&t.name)]
}

fn support_case_row(c: &NewSupportCase) -> Vec<Value> {
    vec![
        name(&c.external_id),
        id(c.account_id),
        Value::time(Some(c.opened_at)),
        Value::time(c.closed_at),
        id(i64::from(c.severity)),
        name(c.kind.as_str()),
        name(c.status.as_str()),
        text(&c.subject),
    ]
}

fn meeting_row(m: &NewMeeting) -> Vec<Value> {
    vec![
        name(&m.external_id),
        id(m.account_id),
        Value::time(Some(m.held_at)),
        text(&m.stakeholder_team),
        text(&m.kind),
        name(m.status.as_str()),
        Value::Int(m.duration_minutes.map(i64::from)),
        text(&m.notes),
    ]
}

fn meeting_cadence_row(c: &NewMeetingCadence) -> Vec<Value> {
    vec![id(c.account_id), name(&c.stakeholder_team), id(i64::from(c.every_days))]
}

fn survey_response_row(r: &NewSurveyResponse) -> Vec<Value> {
    vec![
        name(&r.external_id),
        id(r.account_id),
        text(&r.contact_ref),
        name(r.survey.as_str()),
        id(i64::from(r.score)),
        Value::time(Some(r.responded_at)),
        text(&r.comment),
    ]
}

fn outcome_row(o: &NewOutcome) -> Vec<Value> {
    vec![
        name(&o.external_id),
        id(o.account_id),
        name(&o.name),
        text(&o.unit),
        Value::Float(Some(o.baseline)),
        Value::Float(Some(o.target)),
        Value::Date(o.start_date),
        Value::Date(o.target_date),
    ]
}

fn outcome_measurement_row(m: &NewOutcomeMeasurement) -> Vec<Value> {
    vec![
        id(m.outcome_id),
        Value::Date(Some(m.measured_on)),
        Value::Float(Some(m.value)),
    ]
}

fn team_member_row(t: &NewTeamMember) -> Vec<Value> {
    let roles: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
    vec![
        name(&t.external_id),
        name(&t.name),
        text(&t.email),
        Value::Text(Some(roles.join(","))),
    ]
}

fn coverage_row(c: &NewCoverageAssignment) -> Vec<Value> {
    vec![
        id(c.account_id),
        id(c.team_member_id),
        name(c.role.as_str()),
        Value::Date(Some(c.since)),
        Value::Date(c.until),
        name(&c.reason),
    ]
}

fn task_row(t: &NewTask) -> Vec<Value> {
    vec![
        name(&t.external_id),
        Value::Int(t.account_id),
        Value::Int(t.assignee_id),
        name(&t.title),
        Value::Date(t.due_on),
        name(t.status.as_str()),
        Value::time(Some(t.created_at)),
    ]
}

/// The `position`th milestone given, stored now.
fn milestone_row(position: usize, m: &NewMilestone) -> Vec<Value> {
    vec![
        text(&m.external_id),
        id(m.account_id),
        name(&m.title),
        Value::Date(Some(m.due_on)),
        Value::Date(m.done_on),
        name(m.side.as_str()),
        Value::Int(i64::try_from(position).ok()),
        Value::time(Some(chrono::Utc::now())),
    ]
}

fn event_row(e: &NewEvent) -> Vec<Value> {
    vec![
        id(e.account_id),
        Value::Int(Some(e.occurred_at.timestamp_micros())),
        id(e.dedup_key),
        id(e.event_type_id),
        text(&e.user_ref),
        Value::Float(e.value),
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

    /// External id (or name) to laer id, for resolving references in imported rows.
    pub async fn id_lookup(&mut self, lookup: IdLookup) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = match self {
            WriteTx::Sqlite(tx) => sqlx::query_as(lookup.sql()).fetch_all(&mut **tx).await?,
            WriteTx::Postgres(tx) => sqlx::query_as(lookup.sql()).fetch_all(&mut **tx).await?,
        };
        Ok(rows.into_iter().collect())
    }

    async fn write_rows(&mut self, table: &Table, rows: Vec<Vec<Value>>) -> Result<WriteCount, StoreError> {
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
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<Vec<Value>> = rows.by_ref().take(table.batch_rows()).collect();
            let n = batch.len() as u64;
            let affected = match self {
                WriteTx::Sqlite(tx) => {
                    let sql = table.insert_sql(Dialect::Sqlite, batch.len());
                    let query = batch
                        .into_iter()
                        .flatten()
                        .fold(sqlx::query(AssertSqlSafe(sql)), sqlite::bind);
                    query.execute(&mut **tx).await?.rows_affected()
                }
                WriteTx::Postgres(tx) => {
                    let sql = table.insert_sql(Dialect::Postgres, batch.len());
                    let query = batch
                        .into_iter()
                        .flatten()
                        .fold(sqlx::query(AssertSqlSafe(sql)), postgres::bind);
                    query.execute(&mut **tx).await?.rows_affected()
                }
            };
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
        self.exec("UPDATE revisions SET n = n + 1 WHERE name = 'portfolio'", &[])
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
        let mut run: Vec<Vec<Value>> = Vec::new();
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
            // COPY pays off for the large batches of imports; a few rows (an ingest
            // request) go faster as one INSERT.
            WriteTx::Postgres(tx) if rows.len() >= COPY_MIN_ROWS => copy_events(tx, rows).await,
            _ => self.write_rows(&EVENTS, rows.iter().map(event_row).collect()).await,
        }
    }

    /// Holds a lock on each named thing (a user, an account) until the transaction ends,
    /// so that concurrent writers touching the same things run one after the other.
    /// Locks are taken in a fixed order, which rules out deadlocks between callers that
    /// lock their users before their accounts. SQLite needs none: its writers already
    /// run one at a time.
    pub async fn lock<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) -> Result<(), StoreError> {
        let WriteTx::Postgres(tx) = self else { return Ok(()) };
        let mut keys: Vec<i64> = names
            .into_iter()
            .map(|name| laer_core::dedup::ContentHasher::new().text(Some(name)).finish() as i64)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        if !keys.is_empty() {
            sqlx::query("SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest($1::BIGINT[]) AS k ORDER BY k) AS keys")
                .bind(keys)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
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
                vec!["(?, ?, ?)"; chunk.len()].join(", ")
            );
            self.exec(&sql, chunk.as_flattened()).await?;
        }

        for chunk in rollup.users.chunks(1_000) {
            let sql = format!(
                "INSERT INTO event_user_days (account_id, day, event_type_id, user_ref) VALUES {} \
                 ON CONFLICT DO NOTHING",
                vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            match self {
                WriteTx::Sqlite(tx) => {
                    bind_user_days(sqlx::query(AssertSqlSafe(sql)), chunk)
                        .execute(&mut **tx)
                        .await?;
                }
                WriteTx::Postgres(tx) => {
                    bind_user_days(sqlx::query(AssertSqlSafe(Dialect::Postgres.placeholders(&sql))), chunk)
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }

        let type_rows: Vec<_> = rollup.by_type.iter().collect();
        for chunk in type_rows.chunks(1_000) {
            let sql = format!(
                "INSERT INTO event_type_days (account_id, day, event_type_id, events, value_sum, users) VALUES {} \
                 ON CONFLICT (account_id, day, event_type_id) DO UPDATE SET \
                 events = event_type_days.events + excluded.events, \
                 value_sum = CASE WHEN excluded.value_sum IS NULL THEN event_type_days.value_sum \
                 ELSE COALESCE(event_type_days.value_sum, 0) + excluded.value_sum END",
                vec!["(?, ?, ?, ?, ?, 0)"; chunk.len()].join(", ")
            );
            macro_rules! bind_type_days {
                ($query:expr) => {{
                    let mut query = $query;
                    for &(&(account, day, event_type), &(events, value_sum)) in chunk {
                        query = query
                            .bind(account)
                            .bind(day)
                            .bind(event_type)
                            .bind(events)
                            .bind(value_sum);
                    }
                    query
                }};
            }
            match self {
                WriteTx::Sqlite(tx) => {
                    bind_type_days!(sqlx::query(AssertSqlSafe(sql)))
                        .execute(&mut **tx)
                        .await?;
                }
                WriteTx::Postgres(tx) => {
                    bind_type_days!(sqlx::query(AssertSqlSafe(Dialect::Postgres.placeholders(&sql))))
                        .execute(&mut **tx)
                        .await?;
                }
            }
            // Distinct users: counted from the user rows of just the touched days, which
            // stay as small as a day's users of one feature.
            let keys: Vec<i64> = chunk.iter().flat_map(|&(&(a, d, t), _)| [a, d, t]).collect();
            let sql = format!(
                "UPDATE event_type_days SET users = (SELECT COUNT(*) FROM event_user_days u \
                 WHERE u.account_id = event_type_days.account_id AND u.day = event_type_days.day \
                 AND u.event_type_id = event_type_days.event_type_id) \
                 WHERE (account_id, day, event_type_id) IN (VALUES {})",
                vec!["(?, ?, ?)"; chunk.len()].join(", ")
            );
            self.exec(&sql, &keys).await?;
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
        let by_type = insert_event_type_days("WHERE account_id = ? AND occurred_at > ? AND occurred_at <= ?");
        let users = format!(
            "INSERT INTO event_user_days (account_id, day, event_type_id, user_ref) \
             SELECT DISTINCT account_id, {ACTIVITY_DAY}, event_type_id, user_ref FROM events \
             WHERE account_id = ? AND occurred_at > ? AND occurred_at <= ? AND user_ref IS NOT NULL"
        );
        let mut touched: Vec<i64> = spans.iter().map(|(account, _, _)| *account).collect();
        touched.sort_unstable();
        touched.dedup();
        self.mark_health_dirty(&EVENTS, &touched).await?;
        for &(account_id, first, last) in spans {
            let (from_day, to_day) = (activity_day(first), activity_day(last));
            let (after, until) = ((from_day - 1) * MICROS_PER_DAY, to_day * MICROS_PER_DAY);
            for table in ["event_type_days", "event_user_days", "event_days"] {
                self.exec(
                    &format!("DELETE FROM {table} WHERE account_id = ? AND day BETWEEN ? AND ?"),
                    &[account_id, from_day, to_day],
                )
                .await?;
            }
            self.exec(&by_type, &[account_id, after, until]).await?;
            self.exec(&users, &[account_id, after, until]).await?;
            self.exec(
                "INSERT INTO event_days (account_id, day, events) SELECT account_id, day, SUM(events) \
                 FROM event_type_days WHERE account_id = ? AND day BETWEEN ? AND ? GROUP BY 1, 2",
                &[account_id, from_day, to_day],
            )
            .await?;
        }
        Ok(())
    }

    /// Records that the health of these accounts (or of the accounts of these outcomes,
    /// for measurements) needs computing again.
    async fn mark_health_dirty(&mut self, table: &Table, ids: &[i64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(1_000) {
            let sql = if table.name == "outcome_measurements" {
                format!(
                    "INSERT INTO health_dirty (account_id) SELECT DISTINCT account_id FROM outcomes \
                     WHERE id IN ({}) ON CONFLICT DO NOTHING",
                    vec!["?"; chunk.len()].join(", ")
                )
            } else {
                format!(
                    "INSERT INTO health_dirty (account_id) VALUES {} ON CONFLICT DO NOTHING",
                    vec!["(?)"; chunk.len()].join(", ")
                )
            };
            self.exec(&sql, chunk).await?;
        }
        Ok(())
    }

    /// Runs one statement with the given parameters (`?` placeholders); rows affected.
    pub(crate) async fn exec_text(
        &mut self,
        sql: &str,
        params: impl FnOnce(Params) -> Params,
    ) -> Result<u64, StoreError> {
        let params = params(Params::default()).0;
        Ok(match self {
            WriteTx::Sqlite(tx) => params
                .into_iter()
                .fold(sqlx::query(AssertSqlSafe(sql.to_string())), sqlite::bind)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            WriteTx::Postgres(tx) => params
                .into_iter()
                .fold(
                    sqlx::query(AssertSqlSafe(Dialect::Postgres.placeholders(sql))),
                    postgres::bind,
                )
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Runs one statement that returns whole numbers, one per row.
    pub(crate) async fn fetch_ints(
        &mut self,
        sql: &str,
        params: impl FnOnce(Params) -> Params,
    ) -> Result<Vec<i64>, StoreError> {
        let params = params(Params::default()).0;
        Ok(match self {
            WriteTx::Sqlite(tx) => {
                let query = params
                    .into_iter()
                    .fold(sqlx::query(AssertSqlSafe(sql.to_string())), sqlite::bind);
                let rows = query.fetch_all(&mut **tx).await?;
                rows.iter()
                    .map(|r| sqlx::Row::try_get(r, 0))
                    .collect::<Result<_, _>>()?
            }
            WriteTx::Postgres(tx) => {
                let sql = Dialect::Postgres.placeholders(sql);
                let query = params.into_iter().fold(sqlx::query(AssertSqlSafe(sql)), postgres::bind);
                let rows = query.fetch_all(&mut **tx).await?;
                rows.iter()
                    .map(|r| sqlx::Row::try_get(r, 0))
                    .collect::<Result<_, _>>()?
            }
        })
    }

    /// Runs one statement that returns two texts per row.
    pub(crate) async fn fetch_text_pairs(
        &mut self,
        sql: &str,
        params: impl FnOnce(Params) -> Params,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let params = params(Params::default()).0;
        Ok(match self {
            WriteTx::Sqlite(tx) => {
                let query = params
                    .into_iter()
                    .fold(sqlx::query_as(AssertSqlSafe(sql.to_string())), sqlite::bind_as);
                query.fetch_all(&mut **tx).await?
            }
            WriteTx::Postgres(tx) => {
                let sql = Dialect::Postgres.placeholders(sql);
                let query = params
                    .into_iter()
                    .fold(sqlx::query_as(AssertSqlSafe(sql)), postgres::bind_as);
                query.fetch_all(&mut **tx).await?
            }
        })
    }

    /// Runs one statement that returns one whole number (e.g. `RETURNING id`).
    pub(crate) async fn fetch_scalar(
        &mut self,
        sql: &str,
        params: impl FnOnce(Params) -> Params,
    ) -> Result<i64, StoreError> {
        let params = params(Params::default()).0;
        Ok(match self {
            WriteTx::Sqlite(tx) => {
                let query = params
                    .into_iter()
                    .fold(sqlx::query(AssertSqlSafe(sql.to_string())), sqlite::bind);
                sqlx::Row::try_get(&query.fetch_one(&mut **tx).await?, 0)?
            }
            WriteTx::Postgres(tx) => {
                let sql = Dialect::Postgres.placeholders(sql);
                let query = params.into_iter().fold(sqlx::query(AssertSqlSafe(sql)), postgres::bind);
                sqlx::Row::try_get(&query.fetch_one(&mut **tx).await?, 0)?
            }
        })
    }

    /// Runs one statement with whole-number parameters (`?` placeholders).
    async fn exec(&mut self, sql: &str, params: &[i64]) -> Result<u64, StoreError> {
        Ok(match self {
            WriteTx::Sqlite(tx) => {
                let mut query = sqlx::query(AssertSqlSafe(sql.to_string()));
                for p in params {
                    query = query.bind(*p);
                }
                query.execute(&mut **tx).await?.rows_affected()
            }
            WriteTx::Postgres(tx) => {
                let mut query = sqlx::query(AssertSqlSafe(Dialect::Postgres.placeholders(sql)));
                for p in params {
                    query = query.bind(*p);
                }
                query.execute(&mut **tx).await?.rows_affected()
            }
        })
    }

    pub async fn append_audit(&mut self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        let details = entry.details.to_string();
        let at = entry.at.timestamp_micros();
        match self {
            WriteTx::Sqlite(tx) => {
                sqlx::query("INSERT INTO audit_entries (at, actor, action, details) VALUES (?, ?, ?, ?)")
                    .bind(at)
                    .bind(&entry.actor)
                    .bind(&entry.action)
                    .bind(details)
                    .execute(&mut **tx)
                    .await?;
            }
            WriteTx::Postgres(tx) => {
                sqlx::query(
                    "INSERT INTO audit_entries (at, actor, action, details) VALUES ($1, $2, $3, CAST($4 AS JSONB))",
                )
                .bind(at)
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(details)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }
}

/// Rebuilds the per-event-type rollup rows of the events `filter` selects.
fn insert_event_type_days(filter: &str) -> String {
    format!(
        "INSERT INTO event_type_days (account_id, day, event_type_id, events, value_sum, users) {}",
        event_type_days_from_events(filter)
    )
}

/// The parameters of one statement, in order.
#[derive(Default)]
pub(crate) struct Params(Vec<Value>);

impl Params {
    pub(crate) fn text(mut self, s: &str) -> Params {
        self.0.push(Value::Text(Some(s.to_string())));
        self
    }

    pub(crate) fn int(mut self, i: i64) -> Params {
        self.0.push(Value::Int(Some(i)));
        self
    }

    pub(crate) fn opt_int(mut self, i: Option<i64>) -> Params {
        self.0.push(Value::Int(i));
        self
    }

    pub(crate) fn opt_float(mut self, f: Option<f64>) -> Params {
        self.0.push(Value::Float(f));
        self
    }

    pub(crate) fn opt_text(mut self, s: Option<&str>) -> Params {
        self.0.push(Value::Text(s.map(str::to_string)));
        self
    }

    pub(crate) fn date(self, d: NaiveDate) -> Params {
        self.opt_date(Some(d))
    }

    pub(crate) fn opt_date(mut self, d: Option<NaiveDate>) -> Params {
        self.0.push(Value::Date(d));
        self
    }

    pub(crate) fn into_values(self) -> Vec<Value> {
        self.0
    }
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

fn bind_user_days<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    rows: &'q [(i64, i64, i64, &'q str)],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for &(account, day, event_type, user) in rows {
        query = query.bind(account).bind(day).bind(event_type).bind(user);
    }
    query
}

/// Below this many events, PostgreSQL gets a plain INSERT instead of COPY.
const COPY_MIN_ROWS: usize = 2_000;

/// PostgreSQL takes events fastest through COPY. When no stored event can collide with
/// the batch (the usual first import), the batch is copied straight into the table;
/// otherwise it goes through a staging table and one insert that skips stored events.
async fn copy_events(tx: &mut Transaction<'static, Postgres>, rows: &[NewEvent]) -> Result<WriteCount, StoreError> {
    if rows.is_empty() {
        return Ok(WriteCount::default());
    }
    let n = rows.len() as u64;
    // Keys repeat within a batch only for identical rows far apart in an unsorted file,
    // which are the same event (see laer_core::dedup).
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    let unique: Vec<&NewEvent> = rows
        .iter()
        .filter(|e| seen.insert((e.account_id, e.occurred_at.timestamp_micros(), e.dedup_key)))
        .collect();
    let data = copy_data(&unique);
    const COLUMNS: &str = "(account_id, occurred_at, dedup_key, event_type_id, user_ref, value)";

    if !overlaps_stored_events(tx, &unique).await? {
        sqlx::query("SAVEPOINT events_copy").execute(&mut **tx).await?;
        let direct: Result<(), sqlx::Error> = async {
            let mut copy = tx.copy_in_raw(&format!("COPY events {COLUMNS} FROM STDIN")).await?;
            copy.send(data.as_bytes()).await?;
            copy.finish().await?;
            Ok(())
        }
        .await;
        match direct {
            Ok(()) => {
                sqlx::query("RELEASE SAVEPOINT events_copy").execute(&mut **tx).await?;
                let written = unique.len() as u64;
                return Ok(WriteCount {
                    written,
                    unchanged: n - written,
                });
            }
            // Another writer stored one of these events meanwhile: take the careful path.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                sqlx::query("ROLLBACK TO SAVEPOINT events_copy")
                    .execute(&mut **tx)
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
    }

    sqlx::query("CREATE TEMPORARY TABLE IF NOT EXISTS events_stage (LIKE events INCLUDING DEFAULTS) ON COMMIT DROP")
        .execute(&mut **tx)
        .await?;
    let mut copy = tx
        .copy_in_raw(&format!("COPY events_stage {COLUMNS} FROM STDIN"))
        .await?;
    copy.send(data.as_bytes()).await?;
    copy.finish().await?;
    let inserted = sqlx::query("INSERT INTO events SELECT * FROM events_stage ON CONFLICT DO NOTHING")
        .execute(&mut **tx)
        .await?
        .rows_affected();
    sqlx::query("TRUNCATE events_stage").execute(&mut **tx).await?;
    Ok(WriteCount {
        written: inserted,
        unchanged: n - inserted.min(n),
    })
}

/// Whether any stored event lies in the time span the batch covers for one of its accounts.
async fn overlaps_stored_events(
    tx: &mut Transaction<'static, Postgres>,
    rows: &[&NewEvent],
) -> Result<bool, StoreError> {
    let mut spans: HashMap<i64, (i64, i64)> = HashMap::new();
    laer_core::model::extend_event_spans(&mut spans, rows.iter().copied());
    let (accounts, (from, to)): (Vec<i64>, (Vec<i64>, Vec<i64>)) = spans.into_iter().unzip();
    // Rows this transaction wrote are not in the planner's statistics, so it would scan
    // the whole table; the primary key answers each span with one index probe.
    sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut **tx).await?;
    let overlaps: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) AS s(account_id, lo, hi) \
         JOIN events e ON e.account_id = s.account_id AND e.occurred_at BETWEEN s.lo AND s.hi)",
    )
    .bind(accounts)
    .bind(from)
    .bind(to)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("SET LOCAL enable_seqscan = on").execute(&mut **tx).await?;
    Ok(overlaps)
}

/// The rows in COPY's text format.
fn copy_data(rows: &[&NewEvent]) -> String {
    let mut data = String::with_capacity(rows.len() * 48);
    for e in rows {
        let _ = write!(
            data,
            "{}\t{}\t{}\t{}\t",
            e.account_id,
            e.occurred_at.timestamp_micros(),
            e.dedup_key,
            e.event_type_id
        );
        match &e.user_ref {
            Some(user) => copy_text(&mut data, user),
            None => data.push_str("\\N"),
        }
        data.push('\t');
        match e.value {
            Some(v) => {
                let _ = write!(data, "{v:?}");
            }
            None => data.push_str("\\N"),
        }
        data.push('\n');
    }
    data
}

/// Escapes text for COPY's text format.
fn copy_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_separators() {
        let mut out = String::new();
        copy_text(&mut out, "a\tb\\c\nd");
        assert_eq!(out, "a\\tb\\\\c\\nd");
    }
}
