//! The audit log (`view_audit`): who changed what and when, newest first, filtered by
//! person, account and kind, fifty entries a page.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use laer_core::access::Permission;
use laer_store::{AuditCursor, AuditFilter, AuditRow};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::form::{Input, Problems, field, refused, summary};
use super::{CurrentUser, Nav, PageError, admin_tabs, layout, percent_encode, require};
use crate::AppState;

/// Entries on a page.
const PAGE: u32 = 50;
/// A value longer than this is folded under its first words.
const FOLD_CHARS: usize = 160;

/// The filters as the page's form sends them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    /// Text in the actor: a name, an email, `cli:`.
    #[serde(default)]
    person: String,
    /// An account's laer id or external id.
    #[serde(default)]
    account: String,
    /// An action (`task.done`) or a family (`task.`).
    #[serde(default)]
    kind: String,
    /// Where the page starts: `AT.ID` of the last entry of the page before.
    #[serde(default)]
    after: String,
}

impl AuditQuery {
    /// The query string of these filters, starting the page after `after`.
    fn href(&self, after: Option<AuditCursor>) -> String {
        let mut parts = Vec::new();
        for (key, value) in [
            ("person", &self.person),
            ("account", &self.account),
            ("kind", &self.kind),
        ] {
            if !value.trim().is_empty() {
                parts.push(format!("{key}={}", percent_encode(value.trim(), "")));
            }
        }
        if let Some(c) = after {
            parts.push(format!("after={}.{}", c.at, c.id));
        }
        if parts.is_empty() {
            "/admin/audit".into()
        } else {
            format!("/admin/audit?{}", parts.join("&"))
        }
    }
}

fn cursor(text: &str) -> Result<Option<AuditCursor>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = text.split_once('.').and_then(|(at, id)| {
        Some(AuditCursor {
            at: at.parse().ok()?,
            id: id.parse().ok()?,
        })
    });
    parsed
        .map(Some)
        .ok_or_else(|| format!("expected the position of an entry (AT.ID), found {text:?}"))
}

/// A detail's value in words: text as it is, numbers as written, lists and documents as
/// compact JSON; a long one folded.
fn value(v: &Value) -> Markup {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".into(),
        other => other.to_string(),
    };
    html! {
        @if text.chars().count() > FOLD_CHARS {
            details.folded {
                summary { (text.chars().take(80).collect::<String>()) "…" }
                pre { (text) }
            }
        } @else {
            (text)
        }
    }
}

fn details(entry: &AuditRow) -> Markup {
    html! {
        @match &entry.details {
            Value::Object(map) if map.is_empty() => { span.muted { "–" } }
            Value::Object(map) => {
                dl.audit-details {
                    @for (key, v) in map {
                        @if key != "account_id" {
                            dt { (key.replace('_', " ")) }
                            dd { (value(v)) }
                        }
                    }
                }
            }
            other => { (value(other)) }
        }
    }
}

fn entry_row(entry: &AuditRow) -> Markup {
    html! {
        tr {
            td.date { (entry.at.format("%Y-%m-%d %H:%M:%S")) }
            td { (entry.actor) }
            td { code { (entry.action) } }
            td {
                @if let Some(id) = entry.account_id {
                    a href={"/accounts/" (id)} { (entry.account_name.clone().unwrap_or_else(|| format!("account {id}"))) }
                } @else { span.muted { "–" } }
            }
            td { (details(entry)) }
        }
    }
}

/// `GET /admin/audit`: the filtered log, or the filters again with what does not read
/// (400).
pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAudit)?;
    let mut problems = Problems::new();
    let after = problems.check("after", cursor(&query.after)).flatten();
    // Filters are short texts (issue 15): a longer one is named at its field.
    for (field, text) in [
        ("person", &query.person),
        ("account", &query.account),
        ("kind", &query.kind),
    ] {
        problems.check(
            field,
            laer_core::parse::bounded(text, laer_core::limits::MAX_QUERY_TEXT_CHARS).map(|_| ()),
        );
    }
    let account = query.account.trim();
    let account_id = if !problems.is_empty() || account.is_empty() {
        None
    } else {
        let found = match account.parse::<i64>() {
            Ok(id) => state.store.account(id).await?.map(|a| a.id),
            Err(_) => None,
        };
        let found = match found {
            Some(id) => Some(id),
            None => state.store.account_by_external_id(account).await?.map(|a| a.id),
        };
        if found.is_none() {
            problems.add("account", format!("no account has the id or external id {account:?}"));
        }
        found
    };
    let entries = if problems.is_empty() {
        let filter = AuditFilter {
            actor: Some(query.person.clone()),
            account_id,
            action: Some(query.kind.clone()),
        };
        state.store.audit_log(&filter, after, PAGE).await?
    } else {
        Vec::new()
    };
    let next = (entries.len() == PAGE as usize)
        .then(|| entries.last().map(AuditRow::cursor))
        .flatten();
    let body = html! {
        (admin_tabs(&user, "/admin/audit"))
        div.page-head {
            h1 { "Audit log" }
            p.muted { "Every change people and automation made, newest first. Times are UTC." }
        }
        (summary(&problems))
        form.filters method="get" action="/admin/audit" {
            (field("Person", "person", Input::Text, &query.person, &problems))
            (field("Account (id or external id)", "account", Input::Text, &query.account, &problems))
            (field("Kind (task.done, or task. for all of them)", "kind", Input::Text, &query.kind, &problems))
            button type="submit" { "Show" }
            a.secondary href="/admin/audit" { "Clear" }
        }
        table.data #audit {
            thead { tr { th { "When" } th { "Who" } th { "What" } th { "Account" } th { "Details" } } }
            tbody {
                @for e in &entries { (entry_row(e)) }
                @if entries.is_empty() { tr { td.muted colspan="5" { "No entries." } } }
            }
        }
        nav.pages {
            @if after.is_some() { a href=(query.href(None)) { "Newest" } }
            @if let Some(next) = next { a rel="next" href=(query.href(Some(next))) { "Older entries" } }
        }
    };
    let page = layout("Audit log", Some(Nav::Admin), &user, body);
    if problems.is_empty() {
        Ok(page.into_response())
    } else {
        Ok(refused(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_and_links_keep_the_filters() {
        assert_eq!(cursor(""), Ok(None));
        assert_eq!(cursor("17.4"), Ok(Some(AuditCursor { at: 17, id: 4 })));
        assert!(cursor("17").is_err() && cursor("a.b").is_err());
        let q = AuditQuery {
            person: "kim@example.com".into(),
            kind: "task.".into(),
            ..Default::default()
        };
        assert_eq!(
            q.href(Some(AuditCursor { at: 17, id: 4 })),
            "/admin/audit?person=kim%40example.com&kind=task.&after=17.4"
        );
        assert_eq!(AuditQuery::default().href(None), "/admin/audit");
    }

    #[test]
    fn details_are_escaped_and_long_ones_folded() {
        let row = AuditRow {
            id: 1,
            at: chrono::Utc::now(),
            actor: "<b>x</b>".into(),
            action: "task.commented".into(),
            account_id: Some(3),
            account_name: None,
            details: serde_json::json!({"account_id": 3, "text": "<script>", "long": "y".repeat(200)}),
        };
        let html = entry_row(&row).into_string();
        assert!(html.contains("&lt;script&gt;") && html.contains("&lt;b&gt;x"), "{html}");
        assert!(html.contains("<details class=\"folded\">"), "{html}");
        assert!(html.contains("account 3"), "{html}");
    }
}
