//! SQL text for both backends, built in one place.

use crate::Backend;

/// The activity day of `occurred_at` in SQL, the same rule as
/// `laer_core::retention::activity_day` (exact for instants before 1970 too).
pub(crate) const ACTIVITY_DAY: &str = "CASE WHEN occurred_at > 0 THEN (occurred_at - 1) / 86400000000 + 1 \
     ELSE 1 - (86400000000 - occurred_at) / 86400000000 END";

/// The per-event-type daily rollup counted from the events that `filter` (a WHERE clause,
/// or nothing) selects: account, day, type, events, value sum, distinct users.
pub(crate) fn event_type_days_from_events(filter: &str) -> String {
    format!(
        "SELECT account_id, {ACTIVITY_DAY} AS day, event_type_id, COUNT(*) AS events, SUM(value) AS value_sum, \
         COUNT(DISTINCT user_ref) AS users FROM events {filter} GROUP BY 1, 2, 3"
    )
}

/// Each user's first day, last day and last 63 days of use as bits (what
/// [`laer_core::health::RecentDays`] keeps) grouped from `days`, a statement of distinct
/// `(account_id, user_ref, day)`: the rows of `account_users` but their department.
pub(crate) fn user_days_grouped(days: &str) -> String {
    format!(
        "SELECT account_id, user_ref, MIN(day) AS first_day, MAX(l) AS last_day, \
         CAST(SUM(CASE WHEN l - day < {days_kept} THEN CAST(1 AS BIGINT) << CAST(l - day AS INTEGER) ELSE 0 END) \
         AS BIGINT) AS recent \
         FROM (SELECT account_id, user_ref, day, MAX(day) OVER (PARTITION BY account_id, user_ref) AS l \
         FROM ({days}) d) w GROUP BY account_id, user_ref",
        days_kept = laer_core::health::recent::RECENT_DAYS
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnConflict {
    /// Replace the stored values when they differ (records with an external id).
    Update,
    /// As `Update`, and count the change in the record's `version`, so that an edit made
    /// in a form opened before the write is refused as stale (`StoreError::Stale`).
    UpdateVersioned,
    /// Keep the stored row (records identified by their content).
    Ignore,
}

/// Whose health a table's rows feed: writing them marks that health for computing again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feeds {
    /// No account's health (or not through a plain write: events mark theirs when their
    /// rollups are brought up to date).
    Nothing,
    /// The health of the account in the row's `account_id` column.
    Account,
    /// The health of the account of the outcome in the row's `outcome_id` column.
    Outcome,
}

/// A table that records are written to: its columns, the key that identifies a record,
/// what a write does to a stored record, and what else a write touches. Only the store
/// builds one (see `tables.rs`); the rest of laer names it through
/// [`Stored`](crate::Stored).
#[derive(Debug)]
pub struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [&'static str],
    /// Columns holding JSON documents.
    pub(crate) json_columns: &'static [&'static str],
    /// The unique key that identifies a record.
    pub(crate) key: &'static [&'static str],
    pub(crate) on_conflict: OnConflict,
    /// Whose health a written row changes.
    pub(crate) feeds: Feeds,
    /// Whether a write bumps the `portfolio` revision (see
    /// [`Store::portfolio_revision`](crate::Store::portfolio_revision)).
    pub(crate) portfolio: bool,
}

impl Table {
    /// The same table written so that a stored row is kept: for creating a record only
    /// if no one has (another transaction, another node) meanwhile.
    pub(crate) const fn ignoring(&self) -> Table {
        Table {
            on_conflict: OnConflict::Ignore,
            ..*self
        }
    }

    /// Rows per statement: within both engines' parameter limits, large enough that
    /// statement overhead vanishes.
    pub(crate) fn batch_rows(&self) -> usize {
        (30_000 / self.columns.len()).min(1_000)
    }

    /// How SQLite's bulk writes ([`crate::exec::sqlite_each`]) write rows of this table:
    /// one by one with [`Table::insert_sql`], or many at a time with a plain `INSERT`,
    /// which fails on any row stored already.
    pub(crate) fn sqlite_rows(&self) -> crate::exec::SqliteRows {
        crate::exec::SqliteRows {
            one: self.insert_sql(Backend::Sqlite, 1),
            many: Some(format!(
                "INSERT INTO {} ({}) VALUES {}",
                self.name,
                self.columns.join(", "),
                crate::exec::tuples(crate::exec::SQLITE_ROWS_PER_STATEMENT, self.columns.len())
            )),
        }
    }

    /// `INSERT ... VALUES ($1, ...), ... ON CONFLICT ...` for `rows` rows. Updates only
    /// touch rows whose values differ, so the affected-row count says how many changed.
    pub(crate) fn insert_sql(&self, backend: Backend, rows: usize) -> String {
        let columns = self.columns.len();
        let mut sql = format!("INSERT INTO {} ({}) VALUES ", self.name, self.columns.join(", "));
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for (i, column) in self.columns.iter().enumerate() {
                let n = row * columns + i + 1;
                if i > 0 {
                    sql.push_str(", ");
                }
                // PostgreSQL keeps JSON documents as JSONB; SQLite as the text bound.
                if backend == Backend::Postgres && self.json_columns.contains(column) {
                    sql.push_str(&format!("CAST(${n} AS JSONB)"));
                } else {
                    sql.push_str(&format!("${n}"));
                }
            }
            sql.push(')');
        }
        sql.push_str(&format!(" ON CONFLICT ({}) ", self.key.join(", ")));
        let updated: Vec<&str> = self.columns.iter().copied().filter(|c| !self.key.contains(c)).collect();
        match self.on_conflict {
            OnConflict::Ignore => sql.push_str("DO NOTHING"),
            OnConflict::Update | OnConflict::UpdateVersioned if updated.is_empty() => sql.push_str("DO NOTHING"),
            OnConflict::Update | OnConflict::UpdateVersioned => {
                let mut set: Vec<String> = updated.iter().map(|c| format!("{c} = excluded.{c}")).collect();
                if self.on_conflict == OnConflict::UpdateVersioned {
                    set.push(format!("version = {}.version + 1", self.name));
                }
                // The same null-safe comparison, spelled in each dialect.
                let distinct = match backend {
                    Backend::Sqlite => "IS NOT",
                    Backend::Postgres => "IS DISTINCT FROM",
                };
                let changed: Vec<String> = updated
                    .iter()
                    .map(|c| format!("{}.{c} {distinct} excluded.{c}", self.name))
                    .collect();
                sql.push_str(&format!(
                    "DO UPDATE SET {} WHERE {}",
                    set.join(", "),
                    changed.join(" OR ")
                ));
            }
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = Table {
        name: "t",
        columns: &["external_id", "a", "doc"],
        json_columns: &["doc"],
        key: &["external_id"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Nothing,
        portfolio: false,
    };

    #[test]
    fn upsert_sql_for_each_dialect() {
        assert_eq!(
            T.insert_sql(Backend::Sqlite, 2),
            "INSERT INTO t (external_id, a, doc) VALUES ($1, $2, $3), ($4, $5, $6) ON CONFLICT (external_id) \
             DO UPDATE SET a = excluded.a, doc = excluded.doc WHERE t.a IS NOT excluded.a OR t.doc IS NOT excluded.doc"
        );
        assert_eq!(
            T.insert_sql(Backend::Postgres, 1),
            "INSERT INTO t (external_id, a, doc) VALUES ($1, $2, CAST($3 AS JSONB)) ON CONFLICT (external_id) \
             DO UPDATE SET a = excluded.a, doc = excluded.doc WHERE t.a IS DISTINCT FROM excluded.a OR t.doc IS DISTINCT FROM excluded.doc"
        );
    }
}

/// Records packed as JSON, so that a statement hands over one row per account rather than
/// one per record. The drivers spend microseconds on each row they hand over (sqlx's
/// SQLite worker copies every value of every row); the database builds the JSON in a
/// fraction of that. Read back with [`crate::decode::Column::packed`].
pub(crate) mod json {
    use crate::Backend;

    /// A JSON array of these SQL values, in order: a record, read back as a struct
    /// whose fields come in the same order.
    pub(crate) fn tuple(backend: Backend, values: &[&str]) -> String {
        match backend {
            Backend::Sqlite => format!("json_array({})", values.join(", ")),
            Backend::Postgres => format!("json_build_array({})", values.join(", ")),
        }
    }

    /// The JSON array of `item` over each group, in `order`, as text.
    pub(crate) fn list(backend: Backend, item: &str, order: &str) -> String {
        match backend {
            Backend::Sqlite => format!("json_group_array({item} ORDER BY {order})"),
            Backend::Postgres => format!("json_agg({item} ORDER BY {order})::text"),
        }
    }

    /// The JSON array of `item` over each group, in no particular order, as text.
    pub(crate) fn bag(backend: Backend, item: &str) -> String {
        match backend {
            Backend::Sqlite => format!("json_group_array({item})"),
            Backend::Postgres => format!("json_agg({item})::text"),
        }
    }

    /// The JSON array of `item` over the rows of `from` (`FROM ... WHERE ...`), in `order`,
    /// as a value within a record: `null` when there is none on PostgreSQL, `[]` on SQLite.
    pub(crate) fn nested_list(backend: Backend, item: &str, from: &str, order: &str) -> String {
        match backend {
            // A value leaving a subquery loses its mark as JSON: json() marks it again,
            // or the array would be packed as a string.
            Backend::Sqlite => format!("json((SELECT json_group_array({item} ORDER BY {order}) {from}))"),
            Backend::Postgres => format!("(SELECT json_agg({item} ORDER BY {order}) {from})"),
        }
    }

    /// A floating-point column, exactly. PostgreSQL's JSON holds the shortest digits that
    /// read back as the same number; SQLite's JSON functions round to 15 digits, so there
    /// the value goes as the text of `quote`, which is exact
    /// ([`crate::decode::Real`] reads both).
    pub(crate) fn real(backend: Backend, column: &str) -> String {
        match backend {
            Backend::Sqlite => format!("CASE WHEN {column} IS NULL THEN NULL ELSE quote({column}) END"),
            Backend::Postgres => column.to_string(),
        }
    }
}
