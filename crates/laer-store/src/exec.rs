//! The one way the store runs SQL: [`Store`] (the pool) and [`WriteTx`] (a write
//! transaction) each [`execute`](Store::execute) a statement, or fetch its rows into a
//! [`sqlx::FromRow`] type ([`fetch_all`](Store::fetch_all), [`fetch_one`](Store::fetch_one),
//! [`fetch_optional`](Store::fetch_optional)), whichever backend runs.
//!
//! Statements write each parameter once as `$1`, `$2`, ... (PostgreSQL's form, which
//! SQLite reads as the same numbered parameter): a value used twice is written `$1 ...
//! $1` and bound once. [`Params`] holds the values in order. On SQLite the executor hands
//! the engine anonymous `?` instead ([`sqlite_statement`]): SQLite treats `$N` as named
//! parameters, and binding looks each name up in a list, which costs time quadratic in
//! their number (a 1,100-parameter insert spent half its time there).

use std::borrow::Cow;

use chrono::NaiveDate;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe};

use crate::{Pool, Store, StoreError, WriteTx};

mod statement;
use statement::Statement;

/// A row type both backends decode: a `#[derive(sqlx::FromRow)]` struct (or, for one
/// column, a one-element tuple).
pub(crate) trait Row:
    for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Row for T where T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}

/// A value bound to a statement parameter. Instants are bound as microseconds (`Int`),
/// JSON documents as text (PostgreSQL statements cast them to JSONB).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<Cow<'a, str>>),
    Date(Option<NaiveDate>),
    /// A BLOB (SQLite) or BYTEA (PostgreSQL): an uploaded file's chunk.
    Bytes(Option<Cow<'a, [u8]>>),
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),+ $(,)?) => {
        $(impl<'a> From<$t> for Value<'a> {
            fn from($v: $t) -> Value<'a> {
                $e
            }
        })+
    };
}

value_from! {
    i64 => |v| Value::Int(Some(v)),
    Option<i64> => |v| Value::Int(v),
    i32 => |v| Value::Int(Some(i64::from(v))),
    f64 => |v| Value::Float(Some(v)),
    Option<f64> => |v| Value::Float(v),
    &'a str => |v| Value::Text(Some(Cow::Borrowed(v))),
    &'a String => |v| Value::Text(Some(Cow::Borrowed(v.as_str()))),
    String => |v| Value::Text(Some(Cow::Owned(v))),
    Option<&'a str> => |v| Value::Text(v.map(Cow::Borrowed)),
    Option<String> => |v| Value::Text(v.map(Cow::Owned)),
    &'a Option<String> => |v| Value::Text(v.as_deref().map(Cow::Borrowed)),
    NaiveDate => |v| Value::Date(Some(v)),
    Option<NaiveDate> => |v| Value::Date(v),
    &'a [u8] => |v| Value::Bytes(Some(Cow::Borrowed(v))),
}

/// The parameters of one statement: `$1` is the first value pushed.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Params<'a>(Vec<Value<'a>>);

/// The [`Params`] `$1, $2, ...`, from values of any type [`Value`] converts from.
macro_rules! params {
    ($($value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut params = $crate::exec::Params::default();
        $(params.push($value);)*
        params
    }};
}
pub(crate) use params;

impl<'a> Params<'a> {
    pub(crate) fn with_capacity(n: usize) -> Params<'a> {
        Params(Vec::with_capacity(n))
    }

    /// Adds the next parameter.
    pub(crate) fn push(&mut self, value: impl Into<Value<'a>>) {
        self.0.push(value.into());
    }

    /// Adds the next parameter and returns its placeholder (`$n`), for statements
    /// assembled from optional parts.
    pub(crate) fn placeholder(&mut self, value: impl Into<Value<'a>>) -> String {
        self.push(value);
        format!("${}", self.0.len())
    }

    /// The statement for SQLite with anonymous `?` placeholders, and the values bound in
    /// the order the placeholders appear (a value used twice is bound twice).
    fn sqlite(&self, sql: &str) -> Result<(String, SqliteArguments), StoreError> {
        let (sql, order) = sqlite_statement(sql);
        let mut args = SqliteArguments::default();
        for index in order {
            let value = self.0.get(index).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "a statement names parameter ${} of {}",
                    index + 1,
                    self.0.len()
                ))
            })?;
            match value {
                Value::Int(v) => args.add(v),
                Value::Float(v) => args.add(v),
                Value::Text(v) => args.add(v.as_deref()),
                Value::Date(v) => args.add(v),
                Value::Bytes(v) => args.add(v.as_deref()),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok((sql, args))
    }

    fn postgres(&self) -> Result<PgArguments, StoreError> {
        let mut args = PgArguments::default();
        args.reserve(self.0.len(), self.0.len() * 8);
        for value in &self.0 {
            match value {
                Value::Int(v) => args.add(v),
                Value::Float(v) => args.add(v),
                Value::Text(v) => args.add(v.as_deref()),
                Value::Date(v) => args.add(v),
                Value::Bytes(v) => args.add(v.as_deref()),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(args)
    }
}

/// `sql` with each `$N` outside quotes replaced by `?`, and the zero-based index of the
/// value each `?` takes, in order.
fn sqlite_statement(sql: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut in_quote = false;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                out.push(c);
            }
            '$' if !in_quote && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) => {
                let mut n = 0_usize;
                while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
                    n = n * 10 + (d as usize - '0' as usize);
                    chars.next();
                }
                out.push('?');
                order.push(n.saturating_sub(1));
            }
            _ => out.push(c),
        }
    }
    (out, order)
}

/// `$from, $from+1, ...`: `n` placeholders in a row, for an `IN (...)` list.
pub(crate) fn list(from: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&(from + i).to_string());
    }
    out
}

/// `($1, $2), ($3, $4), ...`: `rows` tuples of `columns` placeholders, for a multi-row
/// `VALUES`.
pub(crate) fn tuples(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * (columns * 7 + 4));
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        out.push_str(&list(row * columns + 1, columns));
        out.push(')');
    }
    out
}

impl Store {
    /// Runs one statement; rows affected. Writes go through [`Store::begin_write`].
    pub(crate) async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                let (sql, args) = params.sqlite(sql)?;
                sqlx::query_with(AssertSqlSafe(sql), args)
            }
            .execute(pool)
            .await?
            .rows_affected(),
            Pool::Postgres(pool) => sqlx::query_with(AssertSqlSafe(sql), params.postgres()?)
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }

    /// Every row of one statement.
    pub(crate) async fn fetch_all<T: Row>(&self, sql: &str, params: Params<'_>) -> Result<Vec<T>, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                {
                    let (sql, args) = params.sqlite(sql)?;
                    sqlx::query_as_with(AssertSqlSafe(sql), args)
                }
                .fetch_all(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as_with(AssertSqlSafe(sql), params.postgres()?)
                    .fetch_all(pool)
                    .await?
            }
        })
    }

    /// The one row of a statement; an error when there is none.
    pub(crate) async fn fetch_one<T: Row>(&self, sql: &str, params: Params<'_>) -> Result<T, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                {
                    let (sql, args) = params.sqlite(sql)?;
                    sqlx::query_as_with(AssertSqlSafe(sql), args)
                }
                .fetch_one(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as_with(AssertSqlSafe(sql), params.postgres()?)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// The first row of a statement, if any.
    pub(crate) async fn fetch_optional<T: Row>(&self, sql: &str, params: Params<'_>) -> Result<Option<T>, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                {
                    let (sql, args) = params.sqlite(sql)?;
                    sqlx::query_as_with(AssertSqlSafe(sql), args)
                }
                .fetch_optional(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as_with(AssertSqlSafe(sql), params.postgres()?)
                    .fetch_optional(pool)
                    .await?
            }
        })
    }
}

/// A row as [`Store::scan`] hands it: its columns read in place.
pub(crate) trait Scanned {
    /// An integer column's value (`NULL` is an error).
    fn int(&self, column: usize) -> Result<i64, StoreError>;
    /// A text column's value, lent for the time of the call.
    fn text(&self, column: usize) -> Result<Option<&str>, StoreError>;
}

impl Scanned for rusqlite::Row<'_> {
    fn int(&self, column: usize) -> Result<i64, StoreError> {
        let value = self.get_ref(column)?;
        value.as_i64().map_err(|e| scanned_corrupt(column, e))
    }

    fn text(&self, column: usize) -> Result<Option<&str>, StoreError> {
        let value = self.get_ref(column)?;
        value.as_str_or_null().map_err(|e| scanned_corrupt(column, e))
    }
}

fn scanned_corrupt(column: usize, e: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Corrupt(format!("column {} of a row read: {e}", column + 1))
}

impl Scanned for PgRow {
    fn int(&self, column: usize) -> Result<i64, StoreError> {
        Ok(sqlx::Row::try_get(self, column)?)
    }

    fn text(&self, column: usize) -> Result<Option<&str>, StoreError> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}

impl Params<'_> {
    /// The same values, owning their text.
    fn into_owned(self) -> Params<'static> {
        Params(
            self.0
                .into_iter()
                .map(|v| match v {
                    Value::Int(v) => Value::Int(v),
                    Value::Float(v) => Value::Float(v),
                    Value::Text(v) => Value::Text(v.map(|t| Cow::Owned(t.into_owned()))),
                    Value::Date(v) => Value::Date(v),
                    Value::Bytes(v) => Value::Bytes(v.map(|b| Cow::Owned(b.into_owned()))),
                })
                .collect(),
        )
    }
}

impl Store {
    /// Folds every row of one statement into `acc` with `each` as it is read, keeping
    /// none: for reads of many rows that come down to a few figures (issue 20: a full
    /// health pass folds a million users' rows). On SQLite the rows are stepped on the
    /// connection itself, on a thread for blocking work (as [`sqlite_each`] writes, through
    /// the handle sqlx lends), which costs a small part of what sqlx's row by row
    /// messages and copies do; on PostgreSQL they stream.
    pub(crate) async fn scan<A, F>(&self, sql: &str, params: Params<'_>, mut acc: A, each: F) -> Result<A, StoreError>
    where
        A: Send + 'static,
        F: Fn(&mut A, &dyn Scanned) -> Result<(), StoreError> + Send + 'static,
    {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut connection = pool.acquire().await?;
                let (sql, order) = sqlite_statement(sql);
                let params = params.into_owned();
                let runtime = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || {
                    let mut handle = runtime.block_on(connection.lock_handle())?;
                    scan_sqlite(handle.as_raw_handle(), (&sql, &order), &params, &mut acc, &each)?;
                    Ok(acc)
                })
                .await
                .map_err(|e| StoreError::Corrupt(format!("a read stopped: {e}")))?
            }
            Pool::Postgres(pool) => {
                use futures_util::TryStreamExt;
                let mut rows = sqlx::query_with(AssertSqlSafe(sql), params.postgres()?).fetch(pool);
                while let Some(row) = rows.try_next().await? {
                    each(&mut acc, &row)?;
                }
                Ok(acc)
            }
        }
    }
}

impl Store {
    /// [`Store::scan`] of several statements side by side (the parts of one read, each on a
    /// connection of its own), each folded into an accumulator of its own, in order.
    pub(crate) async fn scan_parts<A, F>(
        &self,
        statements: &[String],
        params: Params<'_>,
        each: F,
    ) -> Result<Vec<A>, StoreError>
    where
        A: Default + Send + 'static,
        F: Fn(&mut A, &dyn Scanned) -> Result<(), StoreError> + Clone + Send + 'static,
    {
        futures_util::future::try_join_all(
            statements
                .iter()
                .map(|sql| self.scan(sql, params.clone(), A::default(), each.clone())),
        )
        .await
    }
}

/// Steps statement `sql` (with the values of `params` in `order`) on SQLite connection
/// `db`, handing each row to `each`.
fn scan_sqlite<A>(
    db: std::ptr::NonNull<rusqlite::ffi::sqlite3>,
    (sql, order): (&str, &[usize]),
    params: &Params<'_>,
    acc: &mut A,
    each: &dyn Fn(&mut A, &dyn Scanned) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    // SAFETY: as in `write_chunk`: the handle is held for longer than `connection`, whose
    // statement is finalized when it drops.
    #[allow(unsafe_code)]
    let connection = unsafe { rusqlite::Connection::from_handle(db.as_ptr())? };
    let mut statement = connection.prepare(sql)?;
    bind(&mut statement, &mut 1, &params.0, order.iter().copied())?;
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next()? {
        each(acc, row)?;
    }
    Ok(())
}

/// Rows a bulk write on SQLite runs between two turns of the runtime.
const SQLITE_ROWS_AT_A_TIME: usize = 16_384;

/// Rows of one multi-row statement in [`sqlite_each`].
pub(crate) const SQLITE_ROWS_PER_STATEMENT: usize = 256;

/// After multi-row statements met a row stored already: how many of the next go row by
/// row before one is tried again. The first conflict sends only its own rows one by one;
/// each further conflict in a row doubles the statements that follow it so, up to
/// [`OneByOne::AT_MOST`]; a multi-row statement that succeeds starts it again. An
/// import's batch often meets the previous batch's last user rows (a day of one user cut
/// in two) once, at its start, and goes on in bulk; a file met again meets stored rows
/// throughout, and soon goes mostly row by row.
#[derive(Debug, Default)]
struct OneByOne {
    /// Statements still to go row by row.
    left: usize,
    /// Conflicts since a multi-row statement last succeeded.
    streak: u32,
}

impl OneByOne {
    const AT_MOST: usize = 16;

    /// Whether the next statement's rows may go in one multi-row statement; counts one
    /// that may not.
    fn next_in_bulk(&mut self) -> bool {
        if self.left == 0 {
            return true;
        }
        self.left -= 1;
        false
    }

    fn conflict(&mut self) {
        self.left = (1_usize << self.streak.min(5)).saturating_sub(1).min(Self::AT_MOST);
        self.streak = self.streak.saturating_add(1);
    }

    fn succeeded(&mut self) {
        self.streak = 0;
    }
}

/// How [`sqlite_each`] writes rows: `one` is the statement for one row (PostgreSQL's
/// `$N` form), with whatever `ON CONFLICT` its table needs; `many`, the plain `INSERT` of
/// [`SQLITE_ROWS_PER_STATEMENT`] rows, without one.
pub(crate) struct SqliteRows {
    pub one: String,
    pub many: Option<String>,
}

/// Runs a write for each of `rows`, each the statement's parameters in order, inside
/// SQLite transaction `tx`; whether each row changed the database (inserted, or updated
/// where an `ON CONFLICT ... WHERE` allowed it).
///
/// The statements are prepared once per few thousand rows and run on the connection
/// itself, through the handle sqlx lends while its worker waits. A multi-row statement
/// through sqlx costs a statement text, an argument list and a worker message per
/// thousand rows, and copies each value twice: on the book's crm5 events, more time
/// than SQLite's own work.
///
/// Rows go `many` at a time while none is stored already: a plain `INSERT` that
/// succeeds wrote every row, as `one` would have. One that meets a stored row is undone
/// by SQLite (a failed statement leaves the transaction as it was before it) and its
/// rows are written one by one with `one`, which says which of them changed anything;
/// so may be the next ones ([`OneByOne`]).
pub(crate) async fn sqlite_each<R: BulkRow>(
    tx: &mut sqlx::SqliteConnection,
    statements: SqliteRows,
    rows: &[R],
) -> Result<Vec<bool>, StoreError> {
    let one = sqlite_statement(&statements.one);
    let many = statements.many.as_deref().map(sqlite_statement);
    let mut changed = Vec::with_capacity(rows.len());
    let mut one_by_one = OneByOne::default();
    // A few thousand rows at a time, so that a large write does not hold the runtime's
    // thread for long at a stretch.
    for chunk in rows.chunks(SQLITE_ROWS_AT_A_TIME) {
        let mut handle = tx.lock_handle().await?;
        write_chunk(
            handle.as_raw_handle(),
            (&one, many.as_ref()),
            chunk,
            &mut one_by_one,
            &mut changed,
        )?;
        drop(handle);
        tokio::task::yield_now().await;
    }
    Ok(changed)
}

/// A row [`sqlite_each`] writes: its values, lent for the time of binding them. Records
/// written in bulk (events, user rows) lend values made on the stack, so that millions of
/// rows cost no allocation each; a text or blob they borrow from the row itself (for
/// `'r`) is read in place by SQLite rather than copied ([`statement`]).
pub(crate) trait BulkRow: Sync {
    fn with_values<'r, T>(&'r self, bind: impl FnOnce(&[Value<'r>]) -> T) -> T;
}

impl BulkRow for Vec<Value<'_>> {
    fn with_values<'r, T>(&'r self, bind: impl FnOnce(&[Value<'r>]) -> T) -> T {
        bind(self)
    }
}

/// A statement for SQLite, with the index of the value each `?` takes ([`sqlite_statement`]).
type Prepared = (String, Vec<usize>);

/// Writes `chunk` on SQLite connection `db` as [`sqlite_each`] says, pushing whether each
/// row changed the database; `one_by_one` says which statements go row by row after a
/// conflict. `db` is the handle of sqlx's `LockedSqliteHandle`, held
/// meanwhile: sqlx's worker makes no call on the connection until it is given back, after
/// this function's statements are finalized.
fn write_chunk<R: BulkRow>(
    db: std::ptr::NonNull<rusqlite::ffi::sqlite3>,
    (one, many): (&Prepared, Option<&Prepared>),
    chunk: &[R],
    one_by_one: &mut OneByOne,
    changed: &mut Vec<bool>,
) -> Result<(), StoreError> {
    // The single-row statement, prepared when a row goes alone.
    let mut single: Option<Statement<'_>> = None;
    // The multi-row statement, when the chunk has that many rows and it takes theirs.
    let width = chunk.first().map_or(0, |row| row.with_values(|values| values.len()));
    let mut multi = match many {
        Some((sql, order))
            if chunk.len() >= SQLITE_ROWS_PER_STATEMENT && order.len() == SQLITE_ROWS_PER_STATEMENT * width =>
        {
            Some(Statement::prepare(db, sql)?)
        }
        _ => None,
    };
    let mut rest = chunk;
    while !rest.is_empty() {
        let (now, later) = rest.split_at(SQLITE_ROWS_PER_STATEMENT.min(rest.len()));
        rest = later;
        let plain = now.len() == SQLITE_ROWS_PER_STATEMENT && multi.is_some() && one_by_one.next_in_bulk();
        if let Some(multi) = multi.as_mut().filter(|_| plain) {
            let mut at = 1;
            for row in now {
                row.with_values(|values| {
                    if values.len() != width {
                        return Err(StoreError::Corrupt(format!(
                            "a bulk write's row of {} values where the first had {width}",
                            values.len()
                        )));
                    }
                    for value in values {
                        multi.bind(at, value)?;
                        at += 1;
                    }
                    Ok(())
                })?;
            }
            match multi.execute() {
                Ok(_) => {
                    one_by_one.succeeded();
                    changed.extend(std::iter::repeat_n(true, now.len()));
                    continue;
                }
                Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    one_by_one.conflict();
                }
                Err(e) => return Err(e),
            }
        }
        let single = match &mut single {
            Some(statement) => statement,
            None => single.insert(Statement::prepare(db, &one.0)?),
        };
        for row in now {
            row.with_values(|values| {
                for (at, &index) in one.1.iter().enumerate() {
                    let value = values.get(index).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "a statement names parameter ${} of {}",
                            index + 1,
                            values.len()
                        ))
                    })?;
                    single.bind(at + 1, value)?;
                }
                Ok::<_, StoreError>(())
            })?;
            changed.push(single.execute()? > 0);
        }
    }
    Ok(())
}

/// Binds the values of `row` at `order` to `statement`'s parameters from `at` on.
fn bind(
    statement: &mut rusqlite::Statement<'_>,
    at: &mut usize,
    row: &[Value<'_>],
    order: impl Iterator<Item = usize>,
) -> Result<(), StoreError> {
    for index in order {
        let value = row.get(index).ok_or_else(|| {
            StoreError::Corrupt(format!("a statement names parameter ${} of {}", index + 1, row.len()))
        })?;
        let i = *at;
        match value {
            Value::Int(v) => statement.raw_bind_parameter(i, v)?,
            Value::Float(v) => statement.raw_bind_parameter(i, v)?,
            Value::Text(v) => statement.raw_bind_parameter(i, v.as_deref())?,
            // As sqlx writes a date on SQLite: ISO 8601 text.
            Value::Date(v) => statement.raw_bind_parameter(i, v.map(|d| d.format("%F").to_string()))?,
            Value::Bytes(v) => statement.raw_bind_parameter(i, v.as_deref())?,
        }
        *at += 1;
    }
    Ok(())
}

impl WriteTx {
    /// Runs one statement inside the transaction; rows affected.
    pub(crate) async fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        Ok(match self {
            WriteTx::Sqlite(tx) => {
                let (sql, args) = params.sqlite(sql)?;
                sqlx::query_with(AssertSqlSafe(sql), args)
            }
            .execute(&mut **tx)
            .await?
            .rows_affected(),
            WriteTx::Postgres(tx) => sqlx::query_with(AssertSqlSafe(sql), params.postgres()?)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Every row of one statement, inside the transaction.
    pub(crate) async fn fetch_all<T: Row>(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<T>, StoreError> {
        Ok(match self {
            WriteTx::Sqlite(tx) => {
                {
                    let (sql, args) = params.sqlite(sql)?;
                    sqlx::query_as_with(AssertSqlSafe(sql), args)
                }
                .fetch_all(&mut **tx)
                .await?
            }
            WriteTx::Postgres(tx) => {
                sqlx::query_as_with(AssertSqlSafe(sql), params.postgres()?)
                    .fetch_all(&mut **tx)
                    .await?
            }
        })
    }

    /// The one row of a statement (e.g. `RETURNING id`), inside the transaction; an
    /// error when there is none.
    pub(crate) async fn fetch_one<T: Row>(&mut self, sql: &str, params: Params<'_>) -> Result<T, StoreError> {
        Ok(match self {
            WriteTx::Sqlite(tx) => {
                {
                    let (sql, args) = params.sqlite(sql)?;
                    sqlx::query_as_with(AssertSqlSafe(sql), args)
                }
                .fetch_one(&mut **tx)
                .await?
            }
            WriteTx::Postgres(tx) => {
                sqlx::query_as_with(AssertSqlSafe(sql), params.postgres()?)
                    .fetch_one(&mut **tx)
                    .await?
            }
        })
    }

    /// The first row of a statement, if any, inside the transaction.
    pub(crate) async fn fetch_optional<T: Row>(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<T>, StoreError> {
        Ok(match self {
            WriteTx::Sqlite(tx) => {
                {
                    let (sql, args) = params.sqlite(sql)?;
                    sqlx::query_as_with(AssertSqlSafe(sql), args)
                }
                .fetch_optional(&mut **tx)
                .await?
            }
            WriteTx::Postgres(tx) => {
                sqlx::query_as_with(AssertSqlSafe(sql), params.postgres()?)
                    .fetch_optional(&mut **tx)
                    .await?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_anonymous_placeholders_in_order() {
        assert_eq!(
            sqlite_statement("SELECT $2, $1 FROM t WHERE a = $1 AND b = '$3' AND c = $10"),
            (
                "SELECT ?, ? FROM t WHERE a = ? AND b = '$3' AND c = ?".to_string(),
                vec![1, 0, 0, 9]
            )
        );
        assert_eq!(sqlite_statement("SELECT 1"), ("SELECT 1".to_string(), vec![]));
        assert_eq!(sqlite_statement("SELECT json_extract(d, '$.x') = $1").1, vec![0]);
    }

    #[test]
    fn conflicts_in_a_row_send_more_statements_row_by_row_and_a_success_starts_again() {
        let mut one_by_one = OneByOne::default();
        // Statements that go in bulk, of the next `n` (conflicting each time one is tried).
        let tried = |one_by_one: &mut OneByOne, n: usize| {
            (0..n)
                .map(|_| {
                    let bulk = one_by_one.next_in_bulk();
                    if bulk {
                        one_by_one.conflict();
                    }
                    bulk
                })
                .collect::<Vec<bool>>()
        };
        assert!(one_by_one.next_in_bulk());
        one_by_one.conflict();
        // The first conflict's rows alone went one by one: the next statement is tried.
        assert!(one_by_one.next_in_bulk());
        one_by_one.succeeded();
        assert!(one_by_one.next_in_bulk());
        one_by_one.conflict();
        // Each conflict in a row doubles what follows it row by row: 0, 1, 3, 7, 15, 16, 16.
        let pattern = tried(&mut one_by_one, 1 + 2 + 4 + 8 + 16 + 17 + 17);
        let bulk_at: Vec<usize> = pattern
            .iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bulk_at, [0, 2, 6, 14, 30, 47, 64]);
        // A success starts again from the first conflict.
        one_by_one.succeeded();
        one_by_one.conflict();
        assert!(one_by_one.next_in_bulk());
    }

    #[test]
    fn placeholders_are_numbered_once() {
        assert_eq!(list(3, 2), "$3, $4");
        assert_eq!(tuples(2, 3), "($1, $2, $3), ($4, $5, $6)");
        let mut p = params![1_i64, "a"];
        assert_eq!(p.placeholder(Some(2.5)), "$3");
        assert_eq!(
            p.0,
            [
                Value::Int(Some(1)),
                Value::Text(Some(Cow::Borrowed("a"))),
                Value::Float(Some(2.5))
            ]
        );
    }
}
