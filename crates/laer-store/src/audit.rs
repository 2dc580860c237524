//! Reading the audit log: entries newest first, filtered by who, which account and what
//! kind of change, a page at a time (keyset on the instant and id, so that a page stays
//! as fast deep in the log as at its start).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::decode::Column;
use crate::exec::Params;
use crate::{Backend, Store, StoreError};

/// Which audit entries to list; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Text the actor contains, in any case ("kim@example.com", "cli:").
    pub actor: Option<String>,
    /// The account the entry is about.
    pub account_id: Option<i64>,
    /// The kind, in any case: an action (`task.done`) or a family of them (`task.` or
    /// `task`: every action starting `task.`).
    pub action: Option<String>,
}

/// Where a page of the log starts: after the entry with this instant and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AuditCursor {
    pub at: i64,
    pub id: i64,
}

/// An audit entry as the log lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub account_id: Option<i64>,
    /// The account's name, when the entry is about one that exists.
    pub account_name: Option<String>,
    pub details: serde_json::Value,
}

impl AuditRow {
    /// Where the page after this entry starts.
    pub fn cursor(&self) -> AuditCursor {
        AuditCursor {
            at: self.at.timestamp_micros(),
            id: self.id,
        }
    }
}

/// `text` for a `LIKE ... ESCAPE '\'` pattern: its wildcards taken literally.
pub(crate) fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    /// Up to `limit` entries that `filter` selects, newest first, after `after` (the
    /// cursor of the last entry of the page before).
    pub async fn audit_log(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let mut p = Params::default();
        let mut conditions: Vec<String> = Vec::new();
        if let Some(actor) = filter.actor.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            let pattern = format!("%{}%", like_literal(&actor.to_lowercase()));
            conditions.push(format!("LOWER(e.actor) LIKE {} ESCAPE '\\'", p.placeholder(pattern)));
        }
        if let Some(account) = filter.account_id {
            conditions.push(format!("e.account_id = {}", p.placeholder(account)));
        }
        // Actions are written in lower case; the filter reads the same in any case.
        let action = filter.action.as_deref().map(|a| a.trim().to_lowercase());
        if let Some(action) = action.as_deref().filter(|a| !a.is_empty()) {
            // "task." or "task": the family; "task.done": that action.
            let family = action.strip_suffix('.').or((!action.contains('.')).then_some(action));
            match family {
                Some(family) => {
                    let pattern = format!("{}.%", like_literal(family));
                    conditions.push(format!("e.action LIKE {} ESCAPE '\\'", p.placeholder(pattern)));
                }
                None => conditions.push(format!("e.action = {}", p.placeholder(action.to_string()))),
            }
        }
        if let Some(after) = after {
            let at = p.placeholder(after.at);
            let id = p.placeholder(after.id);
            conditions.push(format!("(e.at < {at} OR (e.at = {at} AND e.id < {id}))"));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let details = match self.backend() {
            Backend::Sqlite => "e.details",
            Backend::Postgres => "CAST(e.details AS TEXT)",
        };
        let sql = format!(
            "SELECT e.id, e.at, e.actor, e.action, e.account_id, a.name AS account_name, {details} AS details \
             FROM audit_entries e LEFT JOIN accounts a ON a.id = e.account_id {filter} \
             ORDER BY e.at DESC, e.id DESC LIMIT {limit}"
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            at: i64,
            actor: String,
            action: String,
            account_id: Option<i64>,
            account_name: Option<String>,
            details: String,
        }
        let rows: Vec<Row> = self.fetch_all(&sql, p).await?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditRow {
                    at: Column("audit_entries", "at").instant(r.at)?,
                    details: Column("audit_entries", "details").json(&r.details)?,
                    id: r.id,
                    actor: r.actor,
                    action: r.action,
                    account_id: r.account_id,
                    account_name: r.account_name,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_taken_literally() {
        assert_eq!(super::like_literal("a_b%c\\d"), "a\\_b\\%c\\\\d");
    }
}
