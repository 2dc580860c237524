//! PostgreSQL: for several laer nodes sharing one database. What only PostgreSQL has
//! lives here: COPY for large batches of events, advisory locks, and the connection
//! set-up; every other statement runs through the shared executor (`exec.rs`).

// Unsafe code, as in laer's only other place for it (`exec`: SQLite's own calls on the
// connection sqlx lends): setsockopt and getpeername on sqlx's own sockets, to set
// TCP_NODELAY until sqlx does again (ARCHITECTURE.md, Tracking API).
#![allow(unsafe_code)]

use std::time::Duration;

use std::collections::HashMap;
use std::fmt::Write as _;

use laer_core::model::NewEvent;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::StoreError;

pub(crate) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    let port = options.get_port();
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |connection, _| {
            Box::pin(async move {
                disable_nagle(port);
                // No JIT compiling: laer's statements take a fraction of a second, and
                // compiling one whose plan looks costly (a read per account of the health
                // pass's usage) took longer than running it (ARCHITECTURE.md, "Storage").
                // A statement rather than a startup option, which connection poolers such
                // as PgBouncer refuse; a server without JIT (before PostgreSQL 11) does
                // not know the setting, and has nothing to turn off.
                if let Err(e) = sqlx::Executor::execute(&mut *connection, "SET jit = off").await {
                    tracing::debug!("JIT left as the server has it: {e}");
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

/// Sets TCP_NODELAY on this process's TCP connections to `port`. sqlx 0.9.0 leaves
/// Nagle's algorithm on (sqlx issue 4335, fixed after that release): a statement larger
/// than one TLS record then waits about 40 ms for the server's delayed ACK.
#[cfg(target_os = "linux")]
fn disable_nagle(port: u16) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<libc::c_int>().ok()) else {
            continue;
        };
        if peer_port(fd) == Some(port) {
            let on: libc::c_int = 1;
            // SAFETY: plain system calls on a descriptor number with a buffer of the size
            // passed; a descriptor closed or reused meanwhile only makes the call fail.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn peer_port(fd: libc::c_int) -> Option<u16> {
    // SAFETY: getpeername writes at most `len` bytes into `address`, which holds any address.
    let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let found = unsafe { libc::getpeername(fd, (&mut address as *mut libc::sockaddr_storage).cast(), &mut len) };
    if found != 0 {
        return None;
    }
    match libc::c_int::from(address.ss_family) {
        // SAFETY: the family says which address structure getpeername wrote.
        libc::AF_INET => Some(u16::from_be(unsafe {
            (*(&address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()).sin_port
        })),
        libc::AF_INET6 => Some(u16::from_be(unsafe {
            (*(&address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()).sin6_port
        })),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_nagle(_port: u16) {}

/// Takes a transaction-scoped advisory lock on each name, in a fixed order (see
/// [`crate::WriteTx::lock`]).
pub(crate) async fn lock<'a>(
    tx: &mut Transaction<'static, Postgres>,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), StoreError> {
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

/// Below this many events, PostgreSQL gets a plain INSERT instead of COPY.
pub(crate) const COPY_MIN_ROWS: usize = 2_000;

/// Writes events, each one stored already (same account, instant and key) kept as it is:
/// by COPY from [`COPY_MIN_ROWS`] on, else as one insert of the rows as arrays (an ingest
/// group), which `RETURNING` says which were new. Whether each row was new, in order.
pub(crate) async fn write_events(
    tx: &mut Transaction<'static, Postgres>,
    rows: &[NewEvent],
) -> Result<Vec<bool>, StoreError> {
    if rows.len() >= COPY_MIN_ROWS {
        return copy_events(tx, rows).await;
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Each column as one array, unnested: one statement text whatever the rows' number,
    // which PostgreSQL plans once (a multi-row `VALUES` of six parameters a row was parsed
    // and planned for each count of rows).
    let n = rows.len();
    let (mut accounts, mut instants, mut keys) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut types, mut users, mut values) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for e in rows {
        accounts.push(e.account_id);
        instants.push(e.occurred_at.timestamp_micros());
        keys.push(e.dedup_key);
        types.push(e.event_type_id);
        users.push(e.user_ref.as_deref());
        values.push(e.value);
    }
    let query = sqlx::query_as::<_, (i64, i64, i64)>(
        "INSERT INTO events (account_id, occurred_at, dedup_key, event_type_id, user_ref, value) \
         SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], \
         $6::DOUBLE PRECISION[]) ON CONFLICT DO NOTHING RETURNING account_id, occurred_at, dedup_key",
    )
    .bind(accounts)
    .bind(instants)
    .bind(keys)
    .bind(types)
    .bind(users)
    .bind(values);
    let inserted: std::collections::HashSet<(i64, i64, i64)> = query.fetch_all(&mut **tx).await?.into_iter().collect();
    Ok(first_written(rows, &inserted))
}

/// The rows of the log of calls (`ingest::MESSAGES`), one array per column in the
/// table's order.
pub(crate) struct LogColumns<'a> {
    pub message_ids: Vec<&'a str>,
    pub write_key_ids: Vec<i64>,
    pub kinds: Vec<&'a str>,
    pub user_keys: Vec<&'a str>,
    pub user_refs: Vec<Option<&'a str>>,
    pub events: Vec<Option<&'a str>>,
    pub values: Vec<Option<f64>>,
    pub occurred_at: Vec<i64>,
    pub received_at: Vec<i64>,
    pub payloads: Vec<&'a str>,
    pub attributed: Vec<i64>,
}

impl LogColumns<'_> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        LogColumns {
            message_ids: Vec::with_capacity(n),
            write_key_ids: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            user_keys: Vec::with_capacity(n),
            user_refs: Vec::with_capacity(n),
            events: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            occurred_at: Vec::with_capacity(n),
            received_at: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            attributed: Vec::with_capacity(n),
        }
    }
}

/// Appends rows to the log of calls (`table`, whose columns `rows` holds in order) in one
/// statement whatever their number, each column bound as one array and unnested: the
/// (write key, message id) of the rows inserted. A multi-row `VALUES` (181 rows of 11
/// parameters a statement, and a statement text for each count of rows in a group's last
/// one) had PostgreSQL parse and plan up to 2,000 parameters a statement: 1.27 ms a
/// statement, the largest part of the database's time under ingest.
pub(crate) async fn log_calls(
    tx: &mut Transaction<'static, Postgres>,
    table: &crate::sql::Table,
    rows: LogColumns<'_>,
) -> Result<Vec<(i64, String)>, StoreError> {
    let sql = format!(
        "INSERT INTO {} ({}) SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
         $6::TEXT[], $7::DOUBLE PRECISION[], $8::BIGINT[], $9::BIGINT[], $10::TEXT[], $11::BIGINT[]) \
         ON CONFLICT DO NOTHING RETURNING write_key_id, message_id",
        table.name,
        table.columns.join(", ")
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(rows.message_ids)
        .bind(rows.write_key_ids)
        .bind(rows.kinds)
        .bind(rows.user_keys)
        .bind(rows.user_refs)
        .bind(rows.events)
        .bind(rows.values)
        .bind(rows.occurred_at)
        .bind(rows.received_at)
        .bind(rows.payloads)
        .bind(rows.attributed)
        .fetch_all(&mut **tx)
        .await?)
}

/// Adds user rows to `event_user_days`, one already there kept: the (account, day, event
/// type) of each row that was new. The rows go as one array per column, unnested: one
/// statement text whatever their number, which PostgreSQL plans once.
pub(crate) async fn add_user_days(
    tx: &mut Transaction<'static, Postgres>,
    users: &[(i64, i64, i64, &str)],
) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let n = users.len();
    let (mut accounts, mut days, mut types, mut refs) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for &(account, day, event_type, user) in users {
        accounts.push(account);
        days.push(day);
        types.push(event_type);
        refs.push(user);
    }
    Ok(sqlx::query_as(
        "INSERT INTO event_user_days (account_id, day, event_type_id, user_ref) \
         SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[]) \
         ON CONFLICT DO NOTHING RETURNING account_id, day, event_type_id",
    )
    .bind(accounts)
    .bind(days)
    .bind(types)
    .bind(refs)
    .fetch_all(&mut **tx)
    .await?)
}

/// Whether each row was written: its key is among those `inserted`, and it is the first
/// row with that key (a repeat within a batch is the same event, written once).
fn first_written(rows: &[NewEvent], inserted: &std::collections::HashSet<(i64, i64, i64)>) -> Vec<bool> {
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    rows.iter()
        .map(|e| {
            let key = event_key(e);
            inserted.contains(&key) && seen.insert(key)
        })
        .collect()
}

/// An event's key: account, instant in microseconds, content key.
fn event_key(e: &NewEvent) -> (i64, i64, i64) {
    (e.account_id, e.occurred_at.timestamp_micros(), e.dedup_key)
}

/// PostgreSQL takes events fastest through COPY. When no stored event can collide with
/// the batch (the usual first import), the batch is copied straight into the table;
/// otherwise it goes through a staging table and one insert that skips stored events.
/// Whether each row was new (written), in order.
pub(crate) async fn copy_events(
    tx: &mut Transaction<'static, Postgres>,
    rows: &[NewEvent],
) -> Result<Vec<bool>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Keys repeat within a batch only for identical rows far apart in an unsorted file,
    // which are the same event (see laer_core::dedup): the first is written.
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    let first: Vec<bool> = rows.iter().map(|e| seen.insert(event_key(e))).collect();
    let unique = crate::write::written(rows, &first);
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
                return Ok(first);
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
    copy_in(tx, &format!("COPY events_stage {COLUMNS} FROM STDIN"), &data).await?;
    let inserted: Vec<(i64, i64, i64)> = sqlx::query_as(
        "INSERT INTO events SELECT * FROM events_stage ON CONFLICT DO NOTHING \
         RETURNING account_id, occurred_at, dedup_key",
    )
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query("TRUNCATE events_stage").execute(&mut **tx).await?;
    Ok(first_written(rows, &inserted.into_iter().collect()))
}

/// Stages what a batch of new events adds to the rollups (see
/// [`crate::WriteTx::load_events`]) in temporary tables of this transaction, by COPY:
/// (account, day, type) with its events and value sum; (account, day, type, user); and
/// (account, user) with the user's first day, last day and recent days as bits.
pub(crate) async fn stage_rollup(
    tx: &mut Transaction<'static, Postgres>,
    events: &[NewEvent],
    rollup: &crate::write::NewEventsRollup,
) -> Result<(), StoreError> {
    for table in [
        "CREATE TEMPORARY TABLE IF NOT EXISTS events_stage_types (account_id BIGINT NOT NULL, day BIGINT NOT NULL, \
         event_type_id BIGINT NOT NULL, events BIGINT NOT NULL, value_sum DOUBLE PRECISION) ON COMMIT DROP",
        "CREATE TEMPORARY TABLE IF NOT EXISTS events_stage_users (account_id BIGINT NOT NULL, day BIGINT NOT NULL, \
         event_type_id BIGINT NOT NULL, user_ref TEXT NOT NULL) ON COMMIT DROP",
        "CREATE TEMPORARY TABLE IF NOT EXISTS events_stage_account_users (account_id BIGINT NOT NULL, \
         user_ref TEXT NOT NULL, first_day BIGINT NOT NULL, last_day BIGINT NOT NULL, recent BIGINT NOT NULL) \
         ON COMMIT DROP",
    ] {
        sqlx::query(table).execute(&mut **tx).await?;
    }
    let mut data = String::with_capacity(rollup.by_type.len() * 40);
    for &((account, day, event_type), (events, value_sum)) in &rollup.by_type {
        let _ = write!(data, "{account}\t{day}\t{event_type}\t{events}\t");
        match value_sum {
            Some(v) => {
                let _ = write!(data, "{v:?}");
            }
            None => data.push_str("\\N"),
        }
        data.push('\n');
    }
    copy_in(tx, "COPY events_stage_types FROM STDIN", &data).await?;
    let users = rollup.users(events);
    let mut data = String::with_capacity(users.len() * 40);
    for &(account, day, event_type, user) in &users {
        let _ = write!(data, "{account}\t{day}\t{event_type}\t");
        copy_text(&mut data, user);
        data.push('\n');
    }
    copy_in(tx, "COPY events_stage_users FROM STDIN", &data).await?;
    let account_users = rollup.account_users(events);
    let mut data = String::with_capacity(account_users.len() * 48);
    for &((account, user), (first, recent)) in &account_users {
        let _ = write!(data, "{account}\t");
        copy_text(&mut data, user);
        let _ = writeln!(data, "\t{first}\t{}\t{}", recent.last_day, recent.bits);
    }
    copy_in(tx, "COPY events_stage_account_users FROM STDIN", &data).await
}

/// Sends rows in COPY's text format to a `COPY ... FROM STDIN` statement.
async fn copy_in(tx: &mut Transaction<'static, Postgres>, statement: &str, data: &str) -> Result<(), StoreError> {
    if data.is_empty() {
        return Ok(());
    }
    let mut copy = tx.copy_in_raw(statement).await?;
    copy.send(data.as_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Whether any stored event lies in the time span the batch covers for one of its accounts.
async fn overlaps_stored_events(
    tx: &mut Transaction<'static, Postgres>,
    rows: &[&NewEvent],
) -> Result<bool, StoreError> {
    let mut spans: HashMap<i64, (i64, i64)> = HashMap::new();
    laer_core::model::extend_event_spans(&mut spans, rows.iter().copied());
    let (accounts, (from, to)): (Vec<i64>, (Vec<i64>, Vec<i64>)) = spans.into_iter().unzip();
    // The primary key answers each span with one index probe. Rows this transaction
    // wrote are not in the planner's statistics, so it would scan the whole table; and
    // as a join, which the planner cannot tell is of narrow spans, it read the whole
    // index into a hash join (21 ms a group on average, growing with the table, under
    // ingest into 40 accounts): a lateral probe with a limit is one descent a span.
    sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut **tx).await?;
    let overlaps: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) AS s(account_id, lo, hi) \
         CROSS JOIN LATERAL (SELECT 1 FROM events e WHERE e.account_id = s.account_id \
         AND e.occurred_at BETWEEN s.lo AND s.hi LIMIT 1) stored)",
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
