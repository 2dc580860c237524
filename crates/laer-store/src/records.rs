//! Records a person enters by hand where a team has no connector yet (docs/recording.md):
//! NPS and CSAT answers, support cases, accounts and their contract lines, and tasks of
//! one's own with their comments. Every write is audited in its own transaction and marks
//! what it changes, as an import does: the account's health, the portfolio revision.
//!
//! A form carries the external id of the record it creates (made when the form was
//! shown), so sending the same form twice creates one record. Contract lines and support
//! cases carry a `version`: a change says which version it was made to, and a change of
//! an older one is refused ([`StoreError::Stale`]).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use laer_core::Money;
use laer_core::model::{CaseKind, CaseStatus, NewAccount, NewSubscription, NewSupportCase, NewTask, Subscription};
use laer_core::parse::{MAX_TEXT_CHARS, bounded};
use serde::Serialize;

use crate::decode::Column;
use crate::exec::{list, params};
use crate::sql::Feeds;
use crate::tables::Stored;
use crate::write::ints;
use crate::{Store, StoreError, WriteTx};

/// A record created by hand: its laer id, and whether this call wrote it (`false`: the
/// same form was sent before, and nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CreatedRecord {
    pub id: i64,
    pub written: bool,
}

/// A contract line with the version a change must name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionedLine {
    #[serde(flatten)]
    pub line: Subscription,
    pub version: i64,
}

/// A support case with its laer id and the version a change must name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionedCase {
    pub id: i64,
    #[serde(flatten)]
    pub fields: NewSupportCase,
    pub version: i64,
}

/// A change of a contract line.
#[derive(Debug, Clone, PartialEq)]
pub enum LineChange {
    /// Its values replaced (product, MRR, seats, billing period, dates).
    Change(NewSubscription),
    /// It ends on this day: the first day it no longer runs.
    End(NaiveDate),
}

/// A task's comment as an account's timeline lists it: when, who, on which task, what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountTaskComment {
    pub at: DateTime<Utc>,
    pub author: String,
    pub task_id: i64,
    pub task_title: String,
    pub body: String,
}

mod rows {
    use chrono::NaiveDate;

    #[derive(sqlx::FromRow)]
    pub(super) struct Line {
        pub id: i64,
        pub account_id: i64,
        pub external_id: String,
        pub product: String,
        pub start_date: NaiveDate,
        pub end_date: Option<NaiveDate>,
        pub mrr: i64,
        pub quantity: Option<f64>,
        pub units: Option<String>,
        pub bill_period_months: i32,
        pub discount: Option<f64>,
        pub currency: Option<String>,
        pub original_mrr: Option<i64>,
        pub version: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Case {
        pub id: i64,
        pub external_id: String,
        pub account_id: i64,
        pub opened_at: i64,
        pub closed_at: Option<i64>,
        pub severity: i32,
        pub kind: String,
        pub status: String,
        pub subject: Option<String>,
        pub version: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Comment {
        pub task_id: i64,
        pub at: i64,
        pub author: String,
        pub body: String,
        pub title: String,
    }
}

const LINE_COLUMNS: &str = "id, account_id, external_id, product, start_date, end_date, mrr, quantity, units, \
     bill_period_months, discount, currency, original_mrr, CAST(version AS BIGINT) AS version";

const CASE_COLUMNS: &str = "id, external_id, account_id, opened_at, closed_at, severity, kind, status, subject, \
     CAST(version AS BIGINT) AS version";

impl From<rows::Line> for VersionedLine {
    fn from(r: rows::Line) -> VersionedLine {
        VersionedLine {
            line: Subscription {
                id: r.id,
                fields: NewSubscription {
                    external_id: r.external_id,
                    account_id: r.account_id,
                    product: r.product,
                    start_date: r.start_date,
                    end_date: r.end_date,
                    mrr: Money::from_ten_thousandths(r.mrr),
                    quantity: r.quantity,
                    units: r.units,
                    bill_period_months: r.bill_period_months,
                    discount: r.discount,
                    original: laer_core::fx::Original::stored(r.currency.as_deref(), r.original_mrr),
                },
            },
            version: r.version,
        }
    }
}

fn case_of(r: rows::Case) -> Result<VersionedCase, StoreError> {
    Ok(VersionedCase {
        id: r.id,
        fields: NewSupportCase {
            external_id: r.external_id,
            account_id: r.account_id,
            opened_at: Column("support_cases", "opened_at").instant(r.opened_at)?,
            closed_at: Column("support_cases", "closed_at").opt_instant(r.closed_at)?,
            severity: r.severity,
            kind: Column("support_cases", "kind").parsed::<CaseKind>(&r.kind)?,
            status: Column("support_cases", "status").parsed::<CaseStatus>(&r.status)?,
            subject: r.subject,
        },
        version: r.version,
    })
}

/// Whether an external id already names a record that differs from the one sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// The external id is the form's own (made when it was shown): a record stored
    /// under it is this form's, sent before, and is kept as it is.
    Keep,
    /// The person typed the external id: a record stored under it that differs is
    /// another record, and the new one is refused naming the field `external_id`.
    RefuseIfDifferent,
}

impl Store {
    /// Creates one record entered by hand, audited as `action` with its values, in one
    /// transaction that also marks what the record changes (its account's health, the
    /// portfolio revision), as an import of the same kind does. Sending the same record
    /// again writes nothing and adds no audit entry.
    pub async fn create_record<R: Stored + Serialize>(
        &self,
        record: &R,
        external_id: &str,
        on_existing: OnExisting,
        action: &str,
        actor: &str,
    ) -> Result<CreatedRecord, StoreError> {
        let table = R::TABLE.name;
        let find = format!("SELECT id FROM {table} WHERE external_id = $1");
        let mut tx = self.begin_write().await?;
        let before: Option<(i64,)> = tx.fetch_optional(&find, params![external_id]).await?;
        if let (Some((id,)), OnExisting::Keep) = (before, on_existing) {
            tx.rollback().await?;
            return Ok(CreatedRecord { id, written: false });
        }
        let count = tx.upsert(std::slice::from_ref(record)).await?;
        if before.is_some() && count.written > 0 {
            tx.rollback().await?;
            return Err(StoreError::Refused {
                field: "external_id".into(),
                message: format!("{external_id:?} already names another record; leave it empty or choose another"),
            });
        }
        let (id,): (i64,) = tx.fetch_one(&find, params![external_id]).await?;
        if count.written > 0 {
            let mut details = serde_json::to_value(record).map_err(|e| StoreError::Invalid(e.to_string()))?;
            details["id"] = serde_json::json!(id);
            if table == "accounts" {
                // The audit log finds an account's entries by this key.
                details["account_id"] = serde_json::json!(id);
            }
            audit(&mut tx, actor, action, details).await?;
        }
        tx.commit().await?;
        Ok(CreatedRecord {
            id,
            written: count.written > 0,
        })
    }

    /// Creates an account by hand (`account.created`); an external id that another
    /// account has is refused, naming `external_id`.
    pub async fn create_account(&self, account: &NewAccount, actor: &str) -> Result<CreatedRecord, StoreError> {
        self.create_record(
            account,
            &account.external_id,
            OnExisting::RefuseIfDifferent,
            "account.created",
            actor,
        )
        .await
    }

    /// Creates a task of one's own (`task.created`), not tied to a playbook. Its
    /// assignee must be a team member and its account an account (else refused, naming
    /// `assignee` or `account`).
    pub async fn create_task(&self, task: &NewTask, actor: &str) -> Result<CreatedRecord, StoreError> {
        if let Some(member) = task.assignee_id {
            let known: Option<(i64,)> = self
                .fetch_optional("SELECT id FROM team_members WHERE id = $1", params![member])
                .await?;
            if known.is_none() {
                return Err(StoreError::Refused {
                    field: "assignee".into(),
                    message: format!("no team member has the id {member}"),
                });
            }
        }
        if let Some(account) = task.account_id {
            let known: Option<(i64,)> = self
                .fetch_optional("SELECT id FROM accounts WHERE id = $1", params![account])
                .await?;
            if known.is_none() {
                return Err(StoreError::Refused {
                    field: "account".into(),
                    message: format!("no account has the id {account}"),
                });
            }
        }
        self.create_record(task, &task.external_id, OnExisting::Keep, "task.created", actor)
            .await
    }

    /// One contract line with its version.
    pub async fn subscription_line(&self, id: i64) -> Result<Option<VersionedLine>, StoreError> {
        let sql = format!("SELECT {LINE_COLUMNS} FROM subscriptions WHERE id = $1");
        let row: Option<rows::Line> = self.fetch_optional(&sql, params![id]).await?;
        Ok(row.map(VersionedLine::from))
    }

    /// An account's contract lines with their versions, newest start first.
    pub async fn subscription_lines_of(&self, account_id: i64) -> Result<Vec<VersionedLine>, StoreError> {
        let sql = format!(
            "SELECT {LINE_COLUMNS} FROM subscriptions WHERE account_id = $1 ORDER BY start_date DESC, product, id DESC"
        );
        let rows: Vec<rows::Line> = self.fetch_all(&sql, params![account_id]).await?;
        Ok(rows.into_iter().map(VersionedLine::from).collect())
    }

    /// Changes or ends a contract line made to `version` (`subscription.changed`,
    /// `subscription.ended`, with the values before and after); refused as
    /// [`StoreError::Stale`] when the line changed since. An end before the line's start
    /// is refused, naming `end_date`. The revenue movements, renewals and health follow.
    pub async fn change_subscription(
        &self,
        id: i64,
        version: i64,
        change: &LineChange,
        actor: &str,
    ) -> Result<VersionedLine, StoreError> {
        let what = || format!("contract line {id}");
        let stored = self
            .subscription_line(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(what()))?;
        let before = stored.line.fields.clone();
        if before.external_id.starts_with(crate::STRIPE_LINE_PREFIX) {
            return Err(StoreError::Refused {
                field: "line".into(),
                message: "This line comes from Stripe: change the subscription in Stripe, and the next sync follows."
                    .into(),
            });
        }
        let (after, action) = match change {
            LineChange::Change(line) => (
                NewSubscription {
                    external_id: before.external_id.clone(),
                    account_id: before.account_id,
                    ..line.clone()
                },
                "subscription.changed",
            ),
            LineChange::End(end) => (
                NewSubscription {
                    end_date: Some(*end),
                    ..before.clone()
                },
                "subscription.ended",
            ),
        };
        if let Some(end) = after.end_date
            && end < after.start_date
        {
            return Err(StoreError::Refused {
                field: "end_date".into(),
                message: format!("{end} is before the start date {}", after.start_date),
            });
        }
        let mut tx = self.begin_write().await?;
        let updated = tx
            .execute(
                "UPDATE subscriptions SET product = $3, start_date = $4, end_date = $5, mrr = $6, quantity = $7, \
                 units = $8, bill_period_months = $9, discount = $10, version = version + 1 \
                 WHERE id = $1 AND version = $2",
                params![
                    id,
                    version,
                    &after.product,
                    after.start_date,
                    after.end_date,
                    after.mrr.ten_thousandths(),
                    after.quantity,
                    &after.units,
                    after.bill_period_months,
                    after.discount,
                ],
            )
            .await?;
        if updated == 0 {
            tx.rollback().await?;
            return Err(StoreError::Stale { what: what() });
        }
        tx.mark_health_dirty(Feeds::Account, &[after.account_id]).await?;
        tx.history_changed(&[after.account_id]).await?;
        let details = serde_json::json!({
            "id": id,
            "account_id": after.account_id,
            "before": before,
            "after": after,
        });
        audit(&mut tx, actor, action, details).await?;
        tx.commit().await?;
        self.subscription_line(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(what()))
    }

    /// One support case with its version.
    pub async fn support_case(&self, id: i64) -> Result<Option<VersionedCase>, StoreError> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM support_cases WHERE id = $1");
        let row: Option<rows::Case> = self.fetch_optional(&sql, params![id]).await?;
        row.map(case_of).transpose()
    }

    /// An account's support cases with their versions, open ones first, newest first.
    pub async fn support_cases_of(&self, account_id: i64, limit: i64) -> Result<Vec<VersionedCase>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM support_cases WHERE account_id = $1 \
             ORDER BY CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END, opened_at DESC, id DESC LIMIT {}",
            limit.max(0)
        );
        let rows: Vec<rows::Case> = self.fetch_all(&sql, params![account_id]).await?;
        rows.into_iter().map(case_of).collect()
    }

    /// Sets a support case's status, made to `version` (`support_case.changed`):
    /// resolved or closed sets when it closed (now, unless it had closed already); open
    /// or pending reopens it. Refused as [`StoreError::Stale`] when the case changed since.
    pub async fn change_case_status(
        &self,
        id: i64,
        version: i64,
        status: CaseStatus,
        actor: &str,
    ) -> Result<VersionedCase, StoreError> {
        let what = || format!("support case {id}");
        let stored = self
            .support_case(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(what()))?;
        let now = Utc::now();
        let closed_at = match status {
            CaseStatus::Resolved | CaseStatus::Closed => {
                Some(stored.fields.closed_at.unwrap_or(now).max(stored.fields.opened_at))
            }
            CaseStatus::Open | CaseStatus::Pending => None,
        };
        let mut tx = self.begin_write().await?;
        let updated = tx
            .execute(
                "UPDATE support_cases SET status = $3, closed_at = $4, version = version + 1 \
                 WHERE id = $1 AND version = $2",
                params![id, version, status.as_str(), closed_at.map(|t| t.timestamp_micros())],
            )
            .await?;
        if updated == 0 {
            tx.rollback().await?;
            return Err(StoreError::Stale { what: what() });
        }
        tx.mark_health_dirty(Feeds::Account, &[stored.fields.account_id])
            .await?;
        let details = serde_json::json!({
            "id": id,
            "account_id": stored.fields.account_id,
            "from": stored.fields.status,
            "to": status,
        });
        audit(&mut tx, actor, "support_case.changed", details).await?;
        tx.commit().await?;
        self.support_case(id).await?.ok_or_else(|| StoreError::NotFound(what()))
    }

    /// An account's active contacts as a form offers them, by name.
    pub async fn contact_choices(&self, account_id: i64) -> Result<Vec<crate::ContactChoice>, StoreError> {
        self.fetch_all(
            "SELECT id, external_id, COALESCE(name, email, external_id) AS name, stakeholder_team FROM contacts \
             WHERE account_id = $1 AND deactivated_at IS NULL ORDER BY 3, external_id",
            params![account_id],
        )
        .await
    }

    /// The comments of these tasks, oldest first, by task.
    pub async fn task_comments_of(
        &self,
        task_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<crate::TaskComment>>, StoreError> {
        let mut by_task: HashMap<i64, Vec<crate::TaskComment>> = HashMap::new();
        for chunk in task_ids.chunks(1_000) {
            let sql = format!(
                "SELECT c.task_id, c.at, c.author, c.body, t.title FROM task_comments c JOIN tasks t ON t.id = c.task_id \
                 WHERE c.task_id IN ({}) ORDER BY c.at, c.id",
                list(1, chunk.len())
            );
            let rows: Vec<rows::Comment> = self.fetch_all(&sql, ints(chunk)).await?;
            for c in rows {
                by_task.entry(c.task_id).or_default().push(crate::TaskComment {
                    at: Column("task_comments", "at").instant(c.at)?,
                    author: c.author,
                    body: c.body,
                });
            }
        }
        Ok(by_task)
    }

    /// Every comment on the account's tasks, newest first, as its timeline lists them.
    pub async fn task_comments_of_account(&self, account_id: i64) -> Result<Vec<AccountTaskComment>, StoreError> {
        let rows: Vec<rows::Comment> = self
            .fetch_all(
                "SELECT c.task_id, c.at, c.author, c.body, t.title FROM task_comments c \
                 JOIN tasks t ON t.id = c.task_id WHERE t.account_id = $1 ORDER BY c.at DESC, c.id DESC",
                params![account_id],
            )
            .await?;
        rows.into_iter()
            .map(|c| {
                Ok(AccountTaskComment {
                    at: Column("task_comments", "at").instant(c.at)?,
                    author: c.author,
                    task_id: c.task_id,
                    task_title: c.title,
                    body: c.body,
                })
            })
            .collect()
    }
}

/// A comment is free text a person writes: non-empty and bounded.
pub(crate) fn checked_comment(body: &str) -> Result<&str, StoreError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(StoreError::Refused {
            field: "comment".into(),
            message: "must not be empty".into(),
        });
    }
    bounded(body, MAX_TEXT_CHARS).map_err(|message| StoreError::Refused {
        field: "comment".into(),
        message,
    })
}

async fn audit(tx: &mut WriteTx, actor: &str, action: &str, details: serde_json::Value) -> Result<(), StoreError> {
    tx.append_audit(&crate::write::audit(actor, action, details)).await
}
