//! SQL text for both backends, built in one place.

use chrono::{DateTime, NaiveDate, Utc};

/// A value bound to a statement parameter.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
    Date(Option<NaiveDate>),
    /// JSON document text: TEXT on SQLite, JSONB on PostgreSQL.
    Json(String),
}

/// Binds a [`Value`] to a query or typed query of either backend.
macro_rules! bind_value {
    ($query:expr, $value:expr) => {
        match $value {
            Value::Int(v) => $query.bind(v),
            Value::Float(v) => $query.bind(v),
            Value::Text(v) => $query.bind(v),
            Value::Date(v) => $query.bind(v),
            Value::Json(v) => $query.bind(v),
        }
    };
}
pub(crate) use bind_value;

impl Value {
    pub(crate) fn time(t: Option<DateTime<Utc>>) -> Value {
        Value::Int(t.map(|t| t.timestamp_micros()))
    }
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Rewrites `?` placeholders as `$1, $2, ...` for PostgreSQL.
    pub(crate) fn placeholders(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => sql.to_string(),
            Dialect::Postgres => {
                let mut out = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                let mut in_quote = false;
                for c in sql.chars() {
                    match c {
                        '\'' => {
                            in_quote = !in_quote;
                            out.push(c);
                        }
                        '?' if !in_quote => {
                            n += 1;
                            out.push('$');
                            out.push_str(&n.to_string());
                        }
                        _ => out.push(c),
                    }
                }
                out
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnConflict {
    /// Replace the stored values when they differ (records with an external id).
    Update,
    /// Keep the stored row (records identified by their content).
    Ignore,
}

/// A table that imports write to.
#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// Columns holding JSON documents.
    pub json_columns: &'static [&'static str],
    /// The unique key that identifies a record.
    pub key: &'static [&'static str],
    pub on_conflict: OnConflict,
}

impl Table {
    /// Rows per statement: within both engines' parameter limits, large enough that
    /// statement overhead vanishes.
    pub(crate) fn batch_rows(&self) -> usize {
        (30_000 / self.columns.len()).min(1_000)
    }

    /// `INSERT ... VALUES (...), ... ON CONFLICT ...` for `rows` rows. Updates only touch
    /// rows whose values differ, so the affected-row count says how many changed.
    pub(crate) fn insert_sql(&self, dialect: Dialect, rows: usize) -> String {
        let placeholder = |column: &str| {
            if dialect == Dialect::Postgres && self.json_columns.contains(&column) {
                "CAST(? AS JSONB)"
            } else {
                "?"
            }
        };
        let tuple = format!(
            "({})",
            self.columns
                .iter()
                .map(|c| placeholder(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut sql = format!("INSERT INTO {} ({}) VALUES ", self.name, self.columns.join(", "));
        sql.push_str(&vec![tuple; rows].join(", "));
        sql.push_str(&format!(" ON CONFLICT ({}) ", self.key.join(", ")));
        let updated: Vec<&str> = self.columns.iter().copied().filter(|c| !self.key.contains(c)).collect();
        match self.on_conflict {
            OnConflict::Ignore => sql.push_str("DO NOTHING"),
            OnConflict::Update if updated.is_empty() => sql.push_str("DO NOTHING"),
            OnConflict::Update => {
                let set: Vec<String> = updated.iter().map(|c| format!("{c} = excluded.{c}")).collect();
                let distinct = match dialect {
                    Dialect::Sqlite => "IS NOT",
                    Dialect::Postgres => "IS DISTINCT FROM",
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
        dialect.placeholders(&sql)
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
    };

    #[test]
    fn upsert_sql_for_each_dialect() {
        assert_eq!(
            T.insert_sql(Dialect::Sqlite, 2),
            "INSERT INTO t (external_id, a, doc) VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT (external_id) \
             DO UPDATE SET a = excluded.a, doc = excluded.doc WHERE t.a IS NOT excluded.a OR t.doc IS NOT excluded.doc"
        );
        assert_eq!(
            T.insert_sql(Dialect::Postgres, 1),
            "INSERT INTO t (external_id, a, doc) VALUES ($1, $2, CAST($3 AS JSONB)) ON CONFLICT (external_id) \
             DO UPDATE SET a = excluded.a, doc = excluded.doc WHERE t.a IS DISTINCT FROM excluded.a OR t.doc IS DISTINCT FROM excluded.doc"
        );
    }

    #[test]
    fn placeholders_inside_quotes_are_left_alone() {
        assert_eq!(
            Dialect::Postgres.placeholders("a = ? AND b = '?' AND c = ?"),
            "a = $1 AND b = '?' AND c = $2"
        );
    }
}
