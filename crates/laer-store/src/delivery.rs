//! The outbox of emails and webhook requests, and the webhook endpoints. Deliveries are
//! written in the transaction of the change they tell of, so none is lost or sent for a
//! change that did not happen; any node may claim and send them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::decode::Column;
use crate::exec::{Params, params};
use crate::secrets::{CHAT_HOOK_URL, SecretBox, StoredSecret, WEBHOOK_SECRET};
use crate::{Backend, Store, StoreError, WriteTx, random_id};

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

#[derive(Clone, PartialEq)]
pub enum Target {
    Email {
        to: String,
    },
    /// A webhook request, signed with the webhook's secret (sealed: the sender opens it
    /// with the server key).
    Webhook {
        webhook_id: i64,
        url: String,
        secret: StoredSecret,
    },
    /// A Slack or Teams incoming webhook: its address is its secret (sealed).
    Chat {
        hook_id: i64,
        name: String,
        kind: laer_core::chat::ChatKind,
        url: StoredSecret,
    },
}

impl std::fmt::Debug for Target {
    /// Never shows a webhook's secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Email { to } => f.debug_struct("Email").field("to", to).finish(),
            Target::Webhook { webhook_id, url, .. } => f
                .debug_struct("Webhook")
                .field("webhook_id", webhook_id)
                .field("url", url)
                .finish_non_exhaustive(),
            Target::Chat {
                hook_id, name, kind, ..
            } => f
                .debug_struct("Chat")
                .field("hook_id", hook_id)
                .field("name", name)
                .field("kind", kind)
                .finish_non_exhaustive(),
        }
    }
}

/// A delivery as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub channel: String,
    pub event: String,
    pub recipient: Option<String>,
    pub webhook_id: Option<i64>,
    pub chat_hook_id: Option<i64>,
    pub account_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
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
    /// secret that signs its requests (shown once; stored sealed with `secrets`' sealing
    /// key).
    pub async fn add_webhook(
        &self,
        url: &str,
        events: &[String],
        actor: &str,
        secrets: &SecretBox,
    ) -> Result<crate::Created<i64>, StoreError> {
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
        let sealed = secrets
            .seal(WEBHOOK_SECRET.purpose, &secret)
            .map_err(|source| StoreError::Secret {
                what: "a new webhook's secret".into(),
                source,
            })?;
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO webhooks (url, secret, secret_key_id, events, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                params![
                    url,
                    sealed.ciphertext,
                    sealed.key_id,
                    events.join(","),
                    now.timestamp_micros(),
                    actor
                ],
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
        Ok(crate::Created { record: id, secret })
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            url: String,
            events: String,
            created_at: i64,
            created_by: String,
            disabled_at: Option<i64>,
        }
        let rows: Vec<Row> = self
            .fetch_all(
                "SELECT id, url, events, created_at, created_by, disabled_at FROM webhooks ORDER BY id",
                params![],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Webhook {
                    events: event_list(&r.events),
                    created_at: Column("webhooks", "created_at").instant(r.created_at)?,
                    disabled_at: Column("webhooks", "disabled_at").opt_instant(r.disabled_at)?,
                    id: r.id,
                    url: r.url,
                    created_by: r.created_by,
                })
            })
            .collect()
    }

    /// Stops sending to a webhook; what is queued for it is dropped.
    pub async fn disable_webhook(&self, id: i64, actor: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                "UPDATE webhooks SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
                params![now.timestamp_micros(), id],
            )
            .await?;
        if changed == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("active webhook {id}")));
        }
        tx.execute(
            "UPDATE deliveries SET status = 'skipped', last_error = 'webhook disabled' \
             WHERE webhook_id = $1 AND status = 'pending'",
            params![id],
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
        // PostgreSQL's nodes claim side by side, skipping rows another node is claiming;
        // SQLite has one writer at a time and no row locks.
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let mut tx = self.begin_write().await?;
        let ids: Vec<(i64,)> = tx
            .fetch_all(
                &format!(
                    "UPDATE deliveries SET claimed_by = $1, claimed_until = $2 WHERE id IN \
                     (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
                     AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY next_attempt_at, id LIMIT $4{lock}) \
                     RETURNING id"
                ),
                params![node, lease_until.timestamp_micros(), now.timestamp_micros(), limit],
            )
            .await?;
        tx.commit().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = Params::with_capacity(ids.len());
        let list: Vec<String> = ids.iter().map(|(id,)| p.placeholder(*id)).collect();
        let rows: Vec<Claimed> = self
            .fetch_all(
                &format!(
                    "SELECT d.id, d.channel, d.event, d.recipient, d.payload, d.attempts, d.webhook_id, w.url, \
                     w.secret, w.secret_key_id, d.chat_hook_id, c.name AS chat_name, c.kind AS chat_kind, \
                     c.url AS chat_url, c.url_key_id AS chat_url_key_id FROM deliveries d \
                     LEFT JOIN webhooks w ON w.id = d.webhook_id LEFT JOIN chat_hooks c ON c.id = d.chat_hook_id \
                     WHERE d.id IN ({}) ORDER BY d.id",
                    list.join(", ")
                ),
                p,
            )
            .await?;
        rows.into_iter()
            .map(|c| {
                let id = c.id;
                let target = match (c.channel.as_str(), c.recipient, c.url, c.secret) {
                    ("email", Some(to), _, _) => Target::Email { to },
                    ("chat", _, _, _) => match (c.chat_hook_id, c.chat_name, c.chat_kind, c.chat_url) {
                        (Some(hook_id), Some(name), Some(kind), Some(url)) => Target::Chat {
                            hook_id,
                            name,
                            kind: Column("chat_hooks", "kind").parsed(&kind)?,
                            url: StoredSecret::new(&CHAT_HOOK_URL, url, c.chat_url_key_id),
                        },
                        _ => {
                            return Err(
                                Column("deliveries", "chat_hook_id").unreadable(format!("delivery {id}: no chat hook"))
                            );
                        }
                    },
                    ("webhook", _, Some(url), Some(stored)) => Target::Webhook {
                        webhook_id: c.webhook_id.unwrap_or_default(),
                        url,
                        secret: StoredSecret::new(&WEBHOOK_SECRET, stored, c.secret_key_id),
                    },
                    _ => {
                        return Err(
                            Column("deliveries", "recipient").unreadable(format!("delivery {id}: no recipient"))
                        );
                    }
                };
                Ok(Delivery {
                    id,
                    target,
                    event: c.event,
                    payload: Column("deliveries", "payload")
                        .json(&c.payload)
                        .map_err(|e| Column("deliveries", "payload").unreadable(format!("delivery {id}: {e}")))?,
                    attempts: c.attempts,
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
                tx.execute(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = $1, \
                     last_error = NULL, claimed_by = NULL, claimed_until = NULL WHERE id = $2",
                    params![now, id],
                )
                .await?;
            }
            DeliveryOutcome::Failed { error, retry_at } => {
                tx.execute(
                    "UPDATE deliveries SET status = $1, attempts = attempts + 1, last_error = $2, \
                     next_attempt_at = $3, claimed_by = NULL, claimed_until = NULL WHERE id = $4",
                    params![
                        if retry_at.is_some() { "pending" } else { "failed" },
                        error,
                        retry_at.map_or(now, |t| t.timestamp_micros()),
                        id
                    ],
                )
                .await?;
            }
            DeliveryOutcome::Skipped(why) => {
                tx.execute(
                    "UPDATE deliveries SET status = 'skipped', last_error = $1, claimed_by = NULL, \
                     claimed_until = NULL WHERE id = $2",
                    params![why, id],
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Deliveries, newest first, optionally of one status.
    pub async fn deliveries(&self, status: Option<&str>, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        let (filter, p) = match status {
            Some(s) => ("WHERE status = $1", params![s]),
            None => ("", params![]),
        };
        self.fetch_all(
            &format!(
                "SELECT id, channel, event, recipient, webhook_id, chat_hook_id, account_id, status, attempts, \
                 last_error, created_at, delivered_at FROM deliveries {filter} ORDER BY id DESC LIMIT {}",
                limit.max(0)
            ),
            p,
        )
        .await
    }
}

/// A claimed delivery as read, with its webhook's URL and sealed secret.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: i64,
    channel: String,
    event: String,
    recipient: Option<String>,
    payload: String,
    attempts: i64,
    webhook_id: Option<i64>,
    url: Option<String>,
    /// Sealed (or plaintext while `secret_key_id` is NULL).
    secret: Option<String>,
    secret_key_id: Option<String>,
    chat_hook_id: Option<i64>,
    chat_name: Option<String>,
    chat_kind: Option<String>,
    /// Sealed, as `secret`.
    chat_url: Option<String>,
    chat_url_key_id: Option<String>,
}

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
    let hooks: Vec<(i64, String)> = tx
        .fetch_all("SELECT id, events FROM webhooks WHERE disabled_at IS NULL", params![])
        .await?;
    let subscribed: Vec<i64> = hooks
        .into_iter()
        .filter(|(_, events)| event_list(events).iter().any(|e| e == "*" || e == event))
        .map(|(id, _)| id)
        .collect();
    if subscribed.is_empty() {
        return Ok(());
    }
    let payload = json!({"type": event, "created_at": at, "data": data}).to_string();
    let now = Utc::now().timestamp_micros();
    for hook in subscribed {
        tx.execute(
            "INSERT INTO deliveries (channel, event, webhook_id, account_id, payload, status, next_attempt_at, created_at) \
             VALUES ('webhook', $1, $2, $3, $4, 'pending', $5, $5)",
            params![event, hook, account, &payload, now],
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
    account: Option<i64>,
    subject: &str,
    body: &str,
) -> Result<bool, StoreError> {
    let now = Utc::now().timestamp_micros();
    let payload = json!({"to": to, "subject": subject, "body": body}).to_string();
    let queued = tx
        .execute(
            "INSERT INTO deliveries (channel, event, recipient, account_id, payload, status, next_attempt_at, created_at, dedup_key) \
             VALUES ('email', $1, $2, $3, $4, 'pending', $5, $5, $6) ON CONFLICT DO NOTHING",
            params![event, to, account, payload, now, dedup_key],
        )
        .await?;
    Ok(queued > 0)
}
