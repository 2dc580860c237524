//! The outbox of emails and webhook requests, and the webhook endpoints. Deliveries are
//! written in the transaction of the change they tell of, so none is lost or sent for a
//! change that did not happen; any node may claim and send them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::write::{Params, WriteTx};
use crate::{Backend, Store, StoreError, random_id};

/// Every event type a webhook may subscribe to (`*`: all).
pub const EVENT_TYPES: &[&str] = &[
    "playbook.fired",
    "playbook.ended",
    "coverage.started",
    "coverage.ended",
    "task.created",
    "task.done",
    "task.reopened",
    "task.cancelled",
    "task.snoozed",
    "task.reassigned",
    "task.commented",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A claimed delivery, with what sending it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub target: Target,
    pub event: String,
    pub payload: Value,
    /// Attempts before this one.
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Email { to: String },
    Webhook { url: String, secret: String },
}

/// A delivery as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub channel: String,
    pub event: String,
    pub recipient: Option<String>,
    pub webhook_id: Option<i64>,
    pub account_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

fn instant(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt(format!("instant {micros}")))
}

fn event_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(String::from)
        .collect()
}

impl Store {
    /// Adds a webhook endpoint for the event types (`*`: all); returns its id and the
    /// secret that signs its requests (shown once).
    pub async fn add_webhook(&self, url: &str, events: &[String], actor: &str) -> Result<(i64, String), StoreError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(char::is_whitespace) {
            return Err(StoreError::Invalid(format!(
                "url: expected an http:// or https:// URL, found {url:?}"
            )));
        }
        if events.is_empty() {
            return Err(StoreError::Invalid("events: name at least one event type, or *".into()));
        }
        if let Some(unknown) = events.iter().find(|e| *e != "*" && !EVENT_TYPES.contains(&e.as_str())) {
            return Err(StoreError::Invalid(format!(
                "events: unknown event type {unknown:?}; expected * or one of {}",
                EVENT_TYPES.join(", ")
            )));
        }
        let secret = format!("whsec_{}", random_id()?);
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let id = tx
            .fetch_scalar(
                "INSERT INTO webhooks (url, secret, events, created_at, created_by) VALUES (?, ?, ?, ?, ?) RETURNING id",
                |p| {
                    p.text(url)
                        .text(&secret)
                        .text(&events.join(","))
                        .int(now.timestamp_micros())
                        .text(actor)
                },
            )
            .await?;
        tx.append_audit(&laer_core::model::NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: "webhook.added".into(),
            details: json!({"webhook_id": id, "url": url, "events": events}),
        })
        .await?;
        tx.commit().await?;
        Ok((id, secret))
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows: Vec<(i64, String, String, i64, String, Option<i64>)> = self
            .fetch_with(
                "SELECT id, url, events, created_at, created_by, disabled_at FROM webhooks ORDER BY id",
                Params::default(),
            )
            .await?;
        rows.into_iter()
            .map(|(id, url, events, created_at, created_by, disabled_at)| {
                Ok(Webhook {
                    id,
                    url,
                    events: event_list(&events),
                    created_at: instant(created_at)?,
                    created_by,
                    disabled_at: disabled_at.map(instant).transpose()?,
                })
            })
            .collect()
    }

    /// Stops sending to a webhook; what is queued for it is dropped.
    pub async fn disable_webhook(&self, id: i64, actor: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let changed = tx
            .exec_text(
                "UPDATE webhooks SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL",
                |p| p.int(now.timestamp_micros()).int(id),
            )
            .await?;
        if changed == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("active webhook {id}")));
        }
        tx.exec_text(
            "UPDATE deliveries SET status = 'skipped', last_error = 'webhook disabled' \
             WHERE webhook_id = ? AND status = 'pending'",
            |p| p.int(id),
        )
        .await?;
        tx.append_audit(&laer_core::model::NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: "webhook.disabled".into(),
            details: json!({"webhook_id": id}),
        })
        .await?;
        tx.commit().await
    }

    /// Claims up to `limit` due deliveries for `node` until `lease_until`: no other node
    /// sends them meanwhile, and a node that dies lets them go when the lease ends.
    pub async fn claim_deliveries(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let mut tx = self.begin_write().await?;
        let ids = tx
            .fetch_ints(
                &format!(
                    "UPDATE deliveries SET claimed_by = ?, claimed_until = ? WHERE id IN \
                     (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? \
                     AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_attempt_at, id LIMIT ?{lock}) \
                     RETURNING id"
                ),
                |p| {
                    p.text(node)
                        .int(lease_until.timestamp_micros())
                        .int(now.timestamp_micros())
                        .int(now.timestamp_micros())
                        .int(limit)
                },
            )
            .await?;
        tx.commit().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<ClaimedTuple> = self
            .fetch_with(
                &format!(
                    "SELECT d.id, d.channel, d.event, d.recipient, d.payload, d.attempts, w.url, w.secret \
                     FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id WHERE d.id IN ({}) ORDER BY d.id",
                    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
                ),
                Params::default(),
            )
            .await?;
        rows.into_iter()
            .map(|(id, channel, event, recipient, payload, attempts, url, secret)| {
                let target = match (channel.as_str(), recipient, url, secret) {
                    ("email", Some(to), _, _) => Target::Email { to },
                    ("webhook", _, Some(url), Some(secret)) => Target::Webhook { url, secret },
                    _ => return Err(StoreError::Corrupt(format!("delivery {id}: no recipient"))),
                };
                Ok(Delivery {
                    id,
                    target,
                    event,
                    payload: serde_json::from_str(&payload)
                        .map_err(|e| StoreError::Corrupt(format!("delivery {id}: {e}")))?,
                    attempts,
                })
            })
            .collect()
    }

    /// Records a delivery's outcome: sent; or failed, to be tried again at `retry_at`
    /// (`None`: given up); or skipped (it cannot be sent, e.g. no SMTP server).
    pub async fn finish_delivery(&self, id: i64, outcome: DeliveryOutcome<'_>) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        match outcome {
            DeliveryOutcome::Sent => {
                tx.exec_text(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, \
                     last_error = NULL, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                    |p| p.int(now).int(id),
                )
                .await?;
            }
            DeliveryOutcome::Failed { error, retry_at } => {
                tx.exec_text(
                    "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?, \
                     claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                    |p| {
                        p.text(if retry_at.is_some() { "pending" } else { "failed" })
                            .text(error)
                            .int(retry_at.map_or(now, |t| t.timestamp_micros()))
                            .int(id)
                    },
                )
                .await?;
            }
            DeliveryOutcome::Skipped(why) => {
                tx.exec_text(
                    "UPDATE deliveries SET status = 'skipped', last_error = ?, claimed_by = NULL, claimed_until = NULL \
                     WHERE id = ?",
                    |p| p.text(why).int(id),
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Deliveries, newest first, optionally of one status.
    pub async fn deliveries(&self, status: Option<&str>, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        let (filter, p) = match status {
            Some(s) => ("WHERE status = ?", Params::default().text(s)),
            None => ("", Params::default()),
        };
        self.fetch_with(
            &format!(
                "SELECT id, channel, event, recipient, webhook_id, account_id, status, attempts, last_error, \
                 created_at, delivered_at FROM deliveries {filter} ORDER BY id DESC LIMIT {}",
                limit.max(0)
            ),
            p,
        )
        .await
    }
}

/// A claimed delivery as read: id, channel, event, recipient, payload, attempts, and its
/// webhook's URL and secret.
type ClaimedTuple = (
    i64,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<String>,
);

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeliveryOutcome<'a> {
    Sent,
    Failed {
        error: &'a str,
        retry_at: Option<DateTime<Utc>>,
    },
    Skipped(&'a str),
}

/// Queues the event for every active webhook subscribed to it, inside the transaction of
/// the change: `{"type", "created_at", "data"}`.
pub(crate) async fn emit(
    tx: &mut WriteTx,
    event: &str,
    account: Option<i64>,
    data: Value,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let hooks = tx
        .fetch_text_pairs(
            "SELECT CAST(id AS TEXT), events FROM webhooks WHERE disabled_at IS NULL",
            |p| p,
        )
        .await?;
    let subscribed: Vec<i64> = hooks
        .into_iter()
        .filter(|(_, events)| event_list(events).iter().any(|e| e == "*" || e == event))
        .filter_map(|(id, _)| id.parse().ok())
        .collect();
    if subscribed.is_empty() {
        return Ok(());
    }
    let payload = json!({"type": event, "created_at": at, "data": data}).to_string();
    let now = Utc::now().timestamp_micros();
    for hook in subscribed {
        tx.exec_text(
            "INSERT INTO deliveries (channel, event, webhook_id, account_id, payload, status, next_attempt_at, created_at) \
             VALUES ('webhook', ?, ?, ?, ?, 'pending', ?, ?)",
            |p| p.text(event).int(hook).opt_int(account).text(&payload).int(now).int(now),
        )
        .await?;
    }
    Ok(())
}

/// Queues an email, once per `dedup_key`.
pub(crate) async fn queue_email(
    tx: &mut WriteTx,
    dedup_key: &str,
    to: &str,
    event: &str,
    account: i64,
    subject: &str,
    body: &str,
) -> Result<bool, StoreError> {
    let now = Utc::now().timestamp_micros();
    let payload = json!({"to": to, "subject": subject, "body": body}).to_string();
    let queued = tx
        .exec_text(
            "INSERT INTO deliveries (channel, event, recipient, account_id, payload, status, next_attempt_at, created_at, dedup_key) \
             VALUES ('email', ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT DO NOTHING",
            |p| p.text(event).text(to).int(account).text(&payload).int(now).int(now).text(dedup_key),
        )
        .await?;
    Ok(queued > 0)
}
