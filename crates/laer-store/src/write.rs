//! Writes, always inside one transaction: a file that fails validation leaves nothing.

use std::collections::HashMap;
use std::sync::Arc;

use laer_core::health::RecentDays;
use laer_core::health::recent::{RECENT_DAYS, RECENT_MASK};
use laer_core::model::{NewAuditEntry, NewEvent, NewMilestone};
use laer_core::retention::activity_day;
use sqlx::{Postgres, Sqlite, SqlitePool, Transaction};

use crate::exec::{Params, SQLITE_ROWS_PER_STATEMENT, SqliteRows, Value, list, params, tuples};
use crate::sql::{Feeds, Table};
use crate::tables::{MILESTONES, Stored, TableRow, milestone_row};
use crate::{Accounts, Backend, Listed, Pool, Store, StoreError, postgres};

/// How a mark meets an account already marked: a claim on it is cleared, so that a pass
/// rescoring it now leaves it marked for the next ([`Store::claim_health_dirty`]).
const MARK_DIRTY_CONFLICT: &str = "ON CONFLICT (account_id) DO UPDATE SET claim = NULL, claimed_until = NULL \
                                   WHERE health_dirty.claim IS NOT NULL";

/// Remembered days `bits` moved `by` days into the past, in SQL: what
/// [`laer_core::health::RecentDays::merge`] does to the earlier of two (the days past the
/// memory dropped, the sign bit never set). Every operator parenthesised: PostgreSQL
/// gives `<<`, `&` and `|` one precedence.
fn shifted_recent(bits: &str, by: &str) -> String {
    format!("(CASE WHEN ({by}) >= {RECENT_DAYS} THEN 0 ELSE (({bits} << CAST(({by}) AS INTEGER)) & {RECENT_MASK}) END)")
}

/// A stored user's remembered days merged with a proposed row's, in SQL: what
/// [`laer_core::health::RecentDays::merge`] does.
fn recent_merge() -> String {
    let (stored, proposed) = (
        shifted_recent("account_users.recent", "excluded.last_day - account_users.last_day"),
        shifted_recent("excluded.recent", "account_users.last_day - excluded.last_day"),
    );
    format!(
        "(CASE WHEN excluded.last_day >= account_users.last_day THEN (excluded.recent | {stored}) \
         ELSE (account_users.recent | {proposed}) END)"
    )
}

/// How a proposed `event_type_days` row's value sum adds to a stored one's (a sum of no
/// values is NULL).
macro_rules! type_days_value {
    () => {
        "value_sum = CASE WHEN excluded.value_sum IS NULL THEN event_type_days.value_sum \
         ELSE COALESCE(event_type_days.value_sum, 0) + excluded.value_sum END"
    };
}
const TYPE_DAYS_VALUE: &str = type_days_value!();

/// How rows proposed for `event_type_days` add to stored ones: events and distinct
/// users add up (the users are those new to the row), and so do values where there are.
const TYPE_DAYS_ADD: &str = concat!(
    "ON CONFLICT (account_id, day, event_type_id) DO UPDATE SET \
     events = event_type_days.events + excluded.events, users = event_type_days.users + excluded.users, ",
    type_days_value!()
);

/// What a load of events (see [`WriteTx::load_events`]) has yet to add to the rollups.
#[derive(Debug, Default)]
pub struct EventLoad {
    /// On PostgreSQL, each account with new events staged, and their earliest day.
    earliest: std::collections::BTreeMap<i64, i64>,
}

/// How proposed `account_users` rows meet stored ones: the earlier first day, the later
/// last day, the days of both; a row is written only when that changes it.
fn account_users_conflict() -> String {
    let merge = recent_merge();
    format!(
        "ON CONFLICT (account_id, user_ref) DO UPDATE SET \
         first_day = CASE WHEN excluded.first_day < account_users.first_day \
                     THEN excluded.first_day ELSE account_users.first_day END, \
         last_day = CASE WHEN excluded.last_day > account_users.last_day \
                    THEN excluded.last_day ELSE account_users.last_day END, \
         recent = {merge} \
         WHERE excluded.first_day < account_users.first_day OR excluded.last_day > account_users.last_day \
         OR {merge} <> account_users.recent"
    )
}

/// What a write did: rows inserted or changed, and rows already stored as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteCount {
    pub written: u64,
    pub unchanged: u64,
}

impl WriteCount {
    /// The count of rows that each changed the database or not.
    pub(crate) fn of(changed: &[bool]) -> WriteCount {
        let written = changed.iter().filter(|&&c| c).count() as u64;
        WriteCount {
            written,
            unchanged: changed.len() as u64 - written,
        }
    }
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
    Contacts,
    EventTypesByExternalId,
    EventTypesByName,
    Outcomes,
    TeamMembers,
}

impl IdLookup {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            IdLookup::Accounts => "SELECT external_id AS key, id FROM accounts",
            IdLookup::Contacts => "SELECT external_id AS key, id FROM contacts",
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

    /// Writes `rows` into `table` in multi-row statements, and marks what the rows
    /// change: the health they feed, the portfolio revision.
    pub(crate) async fn write_rows(
        &mut self,
        table: &Table,
        rows: Vec<TableRow<'_>>,
    ) -> Result<WriteCount, StoreError> {
        let mut count = WriteCount::default();
        // Whose health the rows change: account ids, or outcome ids for measurements.
        let owner = match table.feeds {
            Feeds::Nothing => None,
            Feeds::Account => table.columns.iter().position(|c| *c == "account_id"),
            Feeds::Outcome => table.columns.iter().position(|c| *c == "outcome_id"),
        };
        let mut marked: Vec<i64> = match owner {
            Some(i) => rows
                .iter()
                .filter_map(|r| match r.0.get(i) {
                    Some(Value::Int(Some(id))) => Some(*id),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        marked.sort_unstable();
        marked.dedup();
        let backend = self.backend();
        let rows: Vec<Vec<Value>> = rows.into_iter().map(|r| r.0).collect();
        if let WriteTx::Sqlite(tx) = self {
            count += WriteCount::of(&crate::exec::sqlite_each(tx, table.sqlite_rows(), &rows).await?);
        } else {
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
        }
        if count.written > 0 {
            self.mark_health_dirty(table.feeds, &marked).await?;
        }
        if count.written > 0 && table.portfolio {
            self.portfolio_rows_changed(table, &marked).await?;
        }
        Ok(count)
    }

    /// Marks what a write to `table` (one of the portfolio's) changed: the accounts it
    /// names (`owners`, of a table that [`Feeds::Account`]) and their history; of a table
    /// whose rows name no account (accounts, team members), every account.
    pub(crate) async fn portfolio_rows_changed(&mut self, table: &Table, owners: &[i64]) -> Result<(), StoreError> {
        if table.feeds == Feeds::Account {
            self.history_changed(owners).await
        } else {
            // Accounts and team members: an account's renewal date, or its records gone
            // with it, are among the records health is computed from.
            self.bump_listed(Listed::HealthRecords, Accounts::All).await?;
            self.touch_portfolio(Accounts::All).await
        }
    }

    /// Tells every node that the portfolio's inputs (accounts, lines, team, coverage) of
    /// the `changed` accounts moved, so that the views made of them are made again: of
    /// those accounts only, when listed ([`Store::changes`](crate::Store::changes)).
    pub(crate) async fn touch_portfolio(&mut self, changed: Accounts<'_>) -> Result<(), StoreError> {
        self.bump_listed(Listed::Portfolio, changed).await.map(drop)
    }

    /// Tells that the history (contracts, coverage) of `accounts` changed: their
    /// portfolio views are made again ([`WriteTx::touch_portfolio`]) and the phases kept
    /// for their past days are marked for assessing again (crate::past_phases).
    pub(crate) async fn history_changed(&mut self, accounts: &[i64]) -> Result<(), StoreError> {
        self.touch_portfolio(Accounts::Only(accounts)).await?;
        let marks: Vec<(i64, i64)> = accounts.iter().map(|a| (*a, i64::MIN)).collect();
        self.mark_past_phases(&marks).await
    }

    /// Moves the revision `name` (a row of `revisions`), in this transaction, and gives
    /// the new one. The row stays locked until the transaction ends, so revisions commit
    /// in order: once a reader sees revision n, every transaction that made one up to n
    /// has committed.
    pub(crate) async fn bump_revision(&mut self, name: &str) -> Result<i64, StoreError> {
        let (n,): (i64,) = self
            .fetch_one(
                "UPDATE revisions SET n = n + 1 WHERE name = $1 RETURNING n",
                params![name],
            )
            .await?;
        Ok(n)
    }

    /// Writes records of one kind as their table declares (see [`Stored`]): a record
    /// whose key is stored already is updated, or kept, and what the records feed is
    /// marked for computing again.
    pub async fn upsert<R: Stored>(&mut self, records: &[R]) -> Result<WriteCount, StoreError> {
        R::write(self, records).await
    }

    /// Adds milestones with an external id; one already stored is kept as it is (the
    /// team may have changed it since). Within an account they keep the order given.
    pub async fn upsert_milestones(&mut self, rows: &[NewMilestone]) -> Result<WriteCount, StoreError> {
        let rows = rows.iter().enumerate().map(|(i, m)| milestone_row(i, m)).collect();
        self.write_rows(MILESTONES, rows).await
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

    /// Writes events (one already stored, with the same account, instant and key, is
    /// kept) and adds those that are new to the daily rollups, in one go: ingest's group.
    /// Many batches in one transaction (an import) use [`WriteTx::load_events`].
    pub async fn add_events(&mut self, events: &[NewEvent]) -> Result<WriteCount, StoreError> {
        let changed = self.write_events(events).await?;
        let rollup = NewEventsRollup::of(events, |i| changed.get(i).copied().unwrap_or(false));
        self.add_new_event_days(events, &rollup).await?;
        Ok(WriteCount::of(&changed))
    }

    /// Writes events, keeping one already stored; whether each, in order, was new.
    async fn write_events(&mut self, events: &[NewEvent]) -> Result<Vec<bool>, StoreError> {
        match self {
            WriteTx::Sqlite(tx) => crate::exec::sqlite_each(tx, NewEvent::TABLE.sqlite_rows(), events).await,
            WriteTx::Postgres(tx) => postgres::write_events(tx, events).await,
        }
    }

    /// Writes one batch of a load of events (an import: many batches in one
    /// transaction), as [`WriteTx::add_events`] does, but adds what the new ones bring to
    /// the daily rollups only at [`WriteTx::finish_event_load`] on PostgreSQL.
    ///
    /// What the batch adds to the rollups if every event is new, as an import's usually
    /// are, is worked out on another thread while the database writes the events: the
    /// writer's thread sets an import's pace, and this was about a tenth of its work
    /// (crm5's events on SQLite). When some event was stored already, it is worked out
    /// again for the new ones.
    ///
    /// Adding to the rollups takes each account's lock until the transaction ends. A
    /// load that took them batch by batch would take them out of their order, and could
    /// wait for a lock that another writer (ingest) holds while that writer waits for one
    /// of the load's: a deadlock, which PostgreSQL ends by failing one of the two. So on
    /// PostgreSQL the batches' rollups wait in temporary tables, and the end takes every
    /// lock at once, in order, and adds them with a few set-wise statements. Until then
    /// the load holds no lock that ingest waits for (bar the keys of the very events it
    /// writes). SQLite runs one writer at a time: the batches add theirs as they go.
    pub async fn load_events(&mut self, load: &mut EventLoad, events: Vec<NewEvent>) -> Result<WriteCount, StoreError> {
        if events.is_empty() {
            return Ok(WriteCount::default());
        }
        let events = Arc::new(events);
        let if_all_new = {
            let events = Arc::clone(&events);
            tokio::task::spawn_blocking(move || NewEventsRollup::of(&events, |_| true))
        };
        let changed = self.write_events(&events).await?;
        let rollup = if changed.iter().all(|&new| new) {
            match if_all_new.await {
                Ok(rollup) => rollup,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // The runtime is shutting down: work it out here.
                Err(_) => NewEventsRollup::of(&events, |_| true),
            }
        } else {
            NewEventsRollup::of(&events, |i| changed.get(i).copied().unwrap_or(false))
        };
        match self {
            WriteTx::Sqlite(_) => self.add_new_event_days(&events, &rollup).await?,
            WriteTx::Postgres(_) if rollup.by_day.is_empty() => {}
            WriteTx::Postgres(tx) => {
                for &((account, day), _) in &rollup.by_day {
                    let earliest = load.earliest.entry(account).or_insert(day);
                    *earliest = (*earliest).min(day);
                }
                postgres::stage_rollup(tx, &events, &rollup).await?;
            }
        }
        Ok(WriteCount::of(&changed))
    }

    /// Adds what a load's batches staged to the daily rollups (see
    /// [`WriteTx::load_events`]): every account's lock at once, then one statement per
    /// table that adds the staged rows in key order.
    pub async fn finish_event_load(&mut self, load: EventLoad) -> Result<(), StoreError> {
        if load.earliest.is_empty() {
            return Ok(());
        }
        let earliest: Vec<(i64, i64)> = load.earliest.into_iter().collect();
        self.lock_and_mark_event_accounts(&earliest).await?;
        let statements = [
            "INSERT INTO event_days (account_id, day, events) \
             SELECT account_id, day, CAST(SUM(events) AS BIGINT) FROM events_stage_types GROUP BY 1, 2 ORDER BY 1, 2 \
             ON CONFLICT (account_id, day) DO UPDATE SET events = event_days.events + excluded.events"
                .to_string(),
            // Users join their rows in key order (a repeat across batches meets its first
            // and is skipped); then each (account, day, type)'s distinct users are its rows,
            // counted again: the accounts' locks keep every other writer of those rows out.
            "INSERT INTO event_user_days (account_id, day, event_type_id, user_ref) \
             SELECT account_id, day, event_type_id, user_ref FROM events_stage_users ORDER BY 1, 2, 3, 4 \
             ON CONFLICT DO NOTHING"
                .to_string(),
            format!(
                "INSERT INTO event_type_days (account_id, day, event_type_id, events, value_sum, users) \
                 SELECT s.account_id, s.day, s.event_type_id, s.events, s.value_sum, \
                 (SELECT COUNT(*) FROM event_user_days u WHERE u.account_id = s.account_id AND u.day = s.day \
                 AND u.event_type_id = s.event_type_id) \
                 FROM (SELECT account_id, day, event_type_id, CAST(SUM(events) AS BIGINT) AS events, \
                 SUM(value_sum) AS value_sum FROM events_stage_types GROUP BY 1, 2, 3) s ORDER BY 1, 2, 3 \
                 ON CONFLICT (account_id, day, event_type_id) DO UPDATE SET \
                 events = event_type_days.events + excluded.events, users = excluded.users, {TYPE_DAYS_VALUE}"
            ),
            // Each user's staged rows merged as `recent_merge` merges two: the earliest
            // first day, the latest last day, the days of all of them.
            format!(
                "INSERT INTO account_users (account_id, user_ref, first_day, last_day, recent, department) \
                 SELECT g.account_id, g.user_ref, g.first_day, g.last_day, g.recent, \
                 (SELECT p.department FROM product_users p WHERE p.external_id = g.user_ref AND p.account_id = g.account_id) \
                 FROM (SELECT account_id, user_ref, MIN(first_day) AS first_day, l AS last_day, \
                 BIT_OR({}) AS recent \
                 FROM (SELECT s.*, MAX(last_day) OVER (PARTITION BY account_id, user_ref) AS l \
                 FROM events_stage_account_users s) w GROUP BY account_id, user_ref, l) g ORDER BY 1, 2 {}",
                shifted_recent("recent", "l - last_day"),
                account_users_conflict()
            ),
            "TRUNCATE events_stage_types, events_stage_users, events_stage_account_users".to_string(),
        ];
        for statement in &statements {
            self.execute(statement, params![]).await?;
        }
        Ok(())
    }

    /// Before new events join the rollups of these (account, earliest activity day) pairs,
    /// one per account in account order: takes the accounts' locks, marks their health for
    /// computing again, and marks their phases kept from the calendar day before that
    /// activity day on (an activity day is the midnight after its events).
    async fn lock_and_mark_event_accounts(&mut self, earliest: &[(i64, i64)]) -> Result<(), StoreError> {
        let accounts: Vec<i64> = earliest.iter().map(|&(a, _)| a).collect();
        let names: Vec<String> = accounts.iter().map(|a| format!("account:{a}")).collect();
        self.lock(names.iter().map(String::as_str)).await?;
        self.mark_accounts_dirty(&accounts).await?;
        let marks: Vec<(i64, i64)> = earliest.iter().map(|&(a, d)| (a, d - 1)).collect();
        self.mark_past_phases(&marks).await
    }

    /// Adds events just written, every one of them new, to the daily rollups: counts and
    /// value sums add up; users join the day's user rows, which give the distinct count.
    async fn add_new_event_days(&mut self, events: &[NewEvent], rollup: &NewEventsRollup) -> Result<(), StoreError> {
        if rollup.by_day.is_empty() {
            return Ok(());
        }
        // Each account's earliest day (the rollup is in account, then day order).
        let mut earliest: Vec<(i64, i64)> = rollup.by_day.iter().map(|&((a, d), _)| (a, d)).collect();
        earliest.dedup_by_key(|(a, _)| *a);
        self.lock_and_mark_event_accounts(&earliest).await?;

        let day_rows: Vec<[i64; 3]> = rollup.by_day.iter().map(|&((a, d), n)| [a, d, n]).collect();
        for chunk in day_rows.chunks(1_000) {
            let sql = format!(
                "INSERT INTO event_days (account_id, day, events) VALUES {} \
                 ON CONFLICT (account_id, day) DO UPDATE SET events = event_days.events + excluded.events",
                tuples(chunk.len(), 3)
            );
            self.execute(&sql, ints(chunk.as_flattened())).await?;
        }

        // A user new to a day and feature adds one to its distinct count: the insert says
        // which rows are new (on SQLite row by row; on PostgreSQL by RETURNING them).
        let mut new_users: HashMap<(i64, i64, i64), i64> = HashMap::new();
        const USER_DAY: &str = "INSERT INTO event_user_days (account_id, day, event_type_id, user_ref)";
        match self {
            WriteTx::Sqlite(tx) => {
                let one = format!("{USER_DAY} VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING");
                let many = format!("{USER_DAY} VALUES {}", tuples(SQLITE_ROWS_PER_STATEMENT, 4));
                let statements = SqliteRows { one, many: Some(many) };
                let users = rollup.users(events);
                let changed = crate::exec::sqlite_each(tx, statements, &users).await?;
                for (&(a, d, t, _), new) in users.iter().zip(changed) {
                    if new {
                        *new_users.entry((a, d, t)).or_default() += 1;
                    }
                }
            }
            WriteTx::Postgres(tx) => {
                for key in postgres::add_user_days(tx, &rollup.users(events)).await? {
                    *new_users.entry(key).or_default() += 1;
                }
            }
        }

        // Each user's first day per account moves only earlier, the remembered days only
        // gain: a row is written for a user new to the account, seen before their first
        // day, or on a day not yet remembered. A new row takes the user's department.
        let conflict = account_users_conflict();
        for chunk in rollup.account_users(events).chunks(1_000) {
            let sql = format!(
                "INSERT INTO account_users (account_id, user_ref, first_day, last_day, recent, department) \
                 SELECT v.column1, v.column2, v.column3, v.column4, v.column5, \
                 (SELECT p.department FROM product_users p WHERE p.external_id = v.column2 AND p.account_id = v.column1) \
                 FROM (VALUES {}) v WHERE 1 = 1 {conflict}",
                tuples(chunk.len(), 5)
            );
            let mut params = Params::with_capacity(chunk.len() * 5);
            for &((account, user), (first, recent)) in chunk {
                params.push(account);
                params.push(user);
                params.push(first);
                params.push(recent.last_day);
                params.push(recent.bits);
            }
            self.execute(&sql, params).await?;
        }

        for chunk in rollup.by_type.chunks(1_000) {
            let sql = format!(
                "INSERT INTO event_type_days (account_id, day, event_type_id, events, value_sum, users) VALUES {} \
                 {TYPE_DAYS_ADD}",
                tuples(chunk.len(), 6)
            );
            let mut params = Params::with_capacity(chunk.len() * 6);
            for &((account, day, event_type), (events, value_sum)) in chunk {
                params.push(account);
                params.push(day);
                params.push(event_type);
                params.push(events);
                params.push(value_sum);
                params.push(new_users.get(&(account, day, event_type)).copied().unwrap_or(0));
            }
            self.execute(&sql, params).await?;
        }
        Ok(())
    }

    /// Records that the records health is computed from changed for these accounts (or
    /// for the accounts of these outcomes, for measurements): marks their health for
    /// computing again, and lists them under the `health_records` revision so that the
    /// records kept of them are read again ([`Store::kept_health_records`]).
    pub(crate) async fn mark_health_dirty(&mut self, feeds: Feeds, ids: &[i64]) -> Result<(), StoreError> {
        let accounts = match feeds {
            Feeds::Nothing => return Ok(()),
            Feeds::Account => ids.to_vec(),
            Feeds::Outcome => {
                let mut accounts = Vec::new();
                for chunk in ids.chunks(1_000) {
                    let rows: Vec<(i64,)> = self
                        .fetch_all(
                            &format!(
                                "SELECT DISTINCT account_id FROM outcomes WHERE id IN ({})",
                                list(1, chunk.len())
                            ),
                            ints(chunk),
                        )
                        .await?;
                    accounts.extend(rows.into_iter().map(|(a,)| a));
                }
                accounts
            }
        };
        if accounts.is_empty() {
            return Ok(());
        }
        // The revision's row first, then the marks, and the portfolio's revision after
        // both (every writer takes them in this order, so that none waits for another
        // in turn on PostgreSQL).
        self.bump_listed(Listed::HealthRecords, Accounts::Only(&accounts))
            .await?;
        self.mark_accounts_dirty(&accounts).await
    }

    /// Marks the health of these accounts for computing again when their records did not
    /// change: new tracked events, or a pass that failed.
    pub(crate) async fn mark_accounts_dirty(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        // Every writer marks in account order, so two writers marking the same accounts
        // take their rows' locks in the same order and never wait for each other in turn.
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(1_000) {
            let sql = format!(
                "INSERT INTO health_dirty (account_id) VALUES {} {MARK_DIRTY_CONFLICT}",
                tuples(chunk.len(), 1)
            );
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
        // The account the entry is about, when its details name one: a column of its own,
        // indexed, for the audit log's filter.
        let account = entry.details.get("account_id").and_then(serde_json::Value::as_i64);
        self.execute(
            &format!(
                "INSERT INTO audit_entries (at, actor, action, details, account_id) VALUES ($1, $2, $3, {details}, $5)"
            ),
            params![
                entry.at.timestamp_micros(),
                &entry.actor,
                &entry.action,
                entry.details.to_string(),
                account
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

/// A user row of `event_user_days`: (account, day, event type, user).
impl crate::exec::BulkRow for (i64, i64, i64, &str) {
    fn with_values<'r, T>(&'r self, bind: impl FnOnce(&[Value<'r>]) -> T) -> T {
        let &(account, day, event_type, user) = self;
        bind(&[
            Value::from(account),
            Value::from(day),
            Value::from(event_type),
            Value::from(user),
        ])
    }
}

/// The events a write found new (`changed` says which, in order).
pub(crate) fn written<'e>(events: &'e [NewEvent], changed: &[bool]) -> Vec<&'e NewEvent> {
    events
        .iter()
        .zip(changed)
        .filter(|(_, c)| **c)
        .map(|(e, _)| e)
        .collect()
}

/// (account, day, event type): a row of `event_type_days`.
pub(crate) type FeatureDay = (i64, i64, i64);

/// A user's first day among some events, and their days.
pub(crate) type UserDays = (i64, RecentDays);

/// What the new ones among a list of events add to the daily rollups, each list in key
/// order. A user is named by the position of one of their events in the list, so that a
/// rollup holds no text of its own and can be worked out on another thread while the
/// events are written ([`WriteTx::load_events`]).
pub(crate) struct NewEventsRollup {
    /// (account, day) → events.
    pub(crate) by_day: Vec<((i64, i64), i64)>,
    /// (account, day, type) → (events, value sum).
    pub(crate) by_type: Vec<(FeatureDay, (i64, Option<f64>))>,
    /// Distinct (account, day, type, user).
    users: Vec<(FeatureDay, usize)>,
    /// (account, user) → the first day among these events, and their days.
    account_users: Vec<((i64, usize), UserDays)>,
}

/// The user of the event at `position` (one the rollup names has a user).
fn user_of(events: &[NewEvent], position: usize) -> &str {
    events
        .get(position)
        .and_then(|e| e.user_ref.as_deref())
        .unwrap_or_default()
}

impl NewEventsRollup {
    /// What the events at the positions `is_new` takes add to the rollups.
    ///
    /// Events are taken a day of one account at a time (sorted by account, day and their
    /// order in `events`; a file sorted by account and time, as exports are, is sorted
    /// already), so that grouping by feature and finding distinct users sorts a day's
    /// few events, not the whole batch. Values add up in the events' order.
    pub(crate) fn of(events: &[NewEvent], is_new: impl Fn(usize) -> bool) -> Self {
        let mut order: Vec<(i64, i64, usize)> = events
            .iter()
            .enumerate()
            .filter(|&(i, _)| is_new(i))
            .map(|(i, e)| (e.account_id, activity_day(e.occurred_at.timestamp_micros()), i))
            .collect();
        order.sort_unstable();
        let mut rollup = NewEventsRollup {
            by_day: Vec::new(),
            by_type: Vec::new(),
            users: Vec::new(),
            account_users: Vec::new(),
        };
        // A user's text with the position of an event of theirs: the first such event
        // stands for them, whichever of their texts is kept.
        let mut account_users: HashMap<(i64, &str), (usize, UserDays)> = HashMap::new();
        let mut by_feature: Vec<(i64, usize)> = Vec::new();
        let mut feature_users: Vec<(&str, usize)> = Vec::new();
        let mut day_users: Vec<(&str, usize)> = Vec::new();
        for day_events in order.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (account, day) = (day_events[0].0, day_events[0].1);
            rollup.by_day.push(((account, day), day_events.len() as i64));
            by_feature.clear();
            by_feature.extend(day_events.iter().map(|&(_, _, i)| (events[i].event_type_id, i)));
            by_feature.sort_unstable();
            day_users.clear();
            for same in by_feature.chunk_by(|a, b| a.0 == b.0) {
                let feature = same[0].0;
                let mut value_sum = None;
                for &(_, i) in same {
                    if let Some(v) = events[i].value {
                        value_sum = Some(value_sum.unwrap_or(0.0) + v);
                    }
                }
                rollup
                    .by_type
                    .push(((account, day, feature), (same.len() as i64, value_sum)));
                feature_users.clear();
                feature_users.extend(
                    same.iter()
                        .filter_map(|&(_, i)| events[i].user_ref.as_deref().map(|u| (u, i))),
                );
                feature_users.sort_unstable();
                feature_users.dedup_by_key(|(u, _)| *u);
                rollup
                    .users
                    .extend(feature_users.iter().map(|&(_, i)| ((account, day, feature), i)));
                day_users.extend_from_slice(&feature_users);
            }
            day_users.sort_unstable();
            day_users.dedup_by_key(|(u, _)| *u);
            for &(user, i) in &day_users {
                let (_, (first, days)) = account_users
                    .entry((account, user))
                    .or_insert((i, (day, RecentDays::on(day))));
                *first = (*first).min(day);
                *days = days.merge(RecentDays::on(day));
            }
        }
        let mut by_user: Vec<_> = account_users.into_iter().collect();
        by_user.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rollup.account_users = by_user
            .into_iter()
            .map(|((account, _), (i, days))| ((account, i), days))
            .collect();
        rollup
    }

    /// Distinct (account, day, type, user) of `events`, the list the rollup was made of.
    pub(crate) fn users<'e>(&self, events: &'e [NewEvent]) -> Vec<(i64, i64, i64, &'e str)> {
        self.users
            .iter()
            .map(|&((account, day, feature), i)| (account, day, feature, user_of(events, i)))
            .collect()
    }

    /// (account, user) → the first day and the days, of `events`, the list the rollup was
    /// made of.
    pub(crate) fn account_users<'e>(&self, events: &'e [NewEvent]) -> Vec<((i64, &'e str), UserDays)> {
        self.account_users
            .iter()
            .map(|&((account, i), days)| ((account, user_of(events, i)), days))
            .collect()
    }
}

/// An audit entry of now: `actor` did `action` (`kind.verb`), with `details`.
pub(crate) fn audit(actor: &str, action: &str, details: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry {
        at: chrono::Utc::now(),
        actor: actor.to_string(),
        action: action.to_string(),
        details,
    }
}
