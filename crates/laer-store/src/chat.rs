//! Slack and Microsoft Teams incoming webhooks ("chat hooks"): shared ones that playbooks
//! post to by name, and a person's own, which also gets their daily digest. A hook's
//! address is its credential: it is sealed (`secrets.rs`), and no list, log or error
//! shows it. What is posted goes through the outbox (`delivery.rs`) as laer's message,
//! put in the hook's format when it is sent.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use laer_core::chat::{ChatKind, ChatMessage};
use serde::Serialize;
use serde_json::json;

use crate::decode::Column;
use crate::exec::{Params, params};
use crate::secrets::{CHAT_HOOK_URL, SecretBox};
use crate::{Store, StoreError, WriteTx};

/// The longest hook name.
pub const MAX_CHAT_HOOK_NAME: usize = 64;

/// A chat hook as lists show it: never its address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatHook {
    pub id: i64,
    pub name: String,
    pub kind: ChatKind,
    /// The person whose own hook it is (their daily digest comes here).
    pub user_id: Option<i64>,
    pub user_email: Option<String>,
    /// The hour (UTC) of the daily digest; `None`: no digest.
    pub digest_hour: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A hook to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChatHook<'a> {
    pub name: &'a str,
    pub kind: ChatKind,
    /// The incoming webhook's address: a secret.
    pub url: &'a str,
    /// A person's own hook: their id, and the hour of their digest.
    pub user_id: Option<i64>,
    pub digest_hour: Option<u32>,
}

/// A person's hook whose digest is due: whom it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDue {
    pub hook_id: i64,
    pub hook: String,
    pub user_id: i64,
    pub person: String,
    /// The team member the person is, whose book and tasks the digest tells of.
    pub team_member_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct HookRow {
    id: i64,
    name: String,
    kind: String,
    user_id: Option<i64>,
    user_email: Option<String>,
    digest_hour: Option<i64>,
    created_at: i64,
    created_by: String,
}

/// A hook's name: letters, digits, `-`, `_` and `.`, as playbooks name it.
pub fn check_hook_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_CHAT_HOOK_NAME {
        return Err(format!("name: 1 to {MAX_CHAT_HOOK_NAME} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "name: letters, digits, -, _ and . only (a playbook names it), found {name:?}"
        ));
    }
    Ok(())
}

/// The dedup key of a person's digest for a day: one per hook and day, from any node.
pub fn digest_key(hook_id: i64, day: NaiveDate) -> String {
    format!("digest:{hook_id}:{day}")
}

impl Store {
    /// Adds a chat hook, its address sealed with `secrets`; audited without the address.
    pub async fn add_chat_hook(
        &self,
        hook: &NewChatHook<'_>,
        actor: &str,
        secrets: &SecretBox,
    ) -> Result<i64, StoreError> {
        check_hook_name(hook.name).map_err(StoreError::Invalid)?;
        hook.kind
            .check_url(hook.url)
            .map_err(|m| StoreError::Invalid(format!("url: {m}")))?;
        if hook.digest_hour.is_some_and(|h| h > 23) {
            return Err(StoreError::Invalid("digest hour: 0 to 23 (UTC)".into()));
        }
        if hook.digest_hour.is_some() && hook.user_id.is_none() {
            return Err(StoreError::Invalid(
                "digest hour: a digest is a person's; name whose hook it is".into(),
            ));
        }
        let sealed = secrets
            .seal(CHAT_HOOK_URL.purpose, hook.url.trim())
            .map_err(|source| StoreError::Secret {
                what: "a chat hook's address".into(),
                source,
            })?;
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let taken: Option<(i64,)> = tx
            .fetch_optional("SELECT id FROM chat_hooks WHERE name = $1", params![hook.name])
            .await?;
        if taken.is_some() {
            tx.rollback().await?;
            return Err(StoreError::Refused {
                field: "name".into(),
                message: format!("a chat hook is named {:?} already", hook.name),
            });
        }
        if let Some(user) = hook.user_id
            && tx
                .fetch_optional::<(i64,)>("SELECT id FROM users WHERE id = $1", params![user])
                .await?
                .is_none()
        {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO chat_hooks (name, kind, url, url_key_id, user_id, digest_hour, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                params![
                    hook.name,
                    hook.kind.as_str(),
                    sealed.ciphertext,
                    sealed.key_id,
                    hook.user_id,
                    hook.digest_hour.map(i64::from),
                    now.timestamp_micros(),
                    actor
                ],
            )
            .await?;
        tx.append_audit(&laer_core::model::NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: "chat_hook.added".into(),
            details: json!({"chat_hook_id": id, "name": hook.name, "kind": hook.kind,
                            "user_id": hook.user_id, "digest_hour": hook.digest_hour}),
        })
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The active chat hooks, by name.
    pub async fn chat_hooks(&self) -> Result<Vec<ChatHook>, StoreError> {
        let rows: Vec<HookRow> = self
            .fetch_all(
                "SELECT h.id, h.name, h.kind, h.user_id, u.email AS user_email, h.digest_hour, h.created_at, \
                 h.created_by FROM chat_hooks h LEFT JOIN users u ON u.id = h.user_id \
                 WHERE h.disabled_at IS NULL ORDER BY h.name",
                params![],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ChatHook {
                    kind: Column("chat_hooks", "kind").parsed(&r.kind)?,
                    created_at: Column("chat_hooks", "created_at").instant(r.created_at)?,
                    digest_hour: r.digest_hour.and_then(|h| u32::try_from(h).ok()),
                    id: r.id,
                    name: r.name,
                    user_id: r.user_id,
                    user_email: r.user_email,
                    created_by: r.created_by,
                })
            })
            .collect()
    }

    /// Stops posting to the hook named `name`; what is queued for it is dropped.
    pub async fn remove_chat_hook(&self, name: &str, actor: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let Some(id) = tx.chat_hook_id(name).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("chat hook {name:?}")));
        };
        // The name is free again: a hook added later under it is another.
        tx.execute(
            "UPDATE chat_hooks SET disabled_at = $1, name = name || '~' || CAST(id AS TEXT) WHERE id = $2",
            params![now.timestamp_micros(), id],
        )
        .await?;
        tx.execute(
            "UPDATE deliveries SET status = 'skipped', last_error = 'chat hook removed' \
             WHERE chat_hook_id = $1 AND status = 'pending'",
            params![id],
        )
        .await?;
        tx.append_audit(&laer_core::model::NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: "chat_hook.removed".into(),
            details: json!({"chat_hook_id": id, "name": name}),
        })
        .await?;
        tx.commit().await
    }

    /// Queues `message` to the hook named `name` now (a test message, `laer chat test`).
    pub async fn post_to_chat_hook(&self, name: &str, message: &ChatMessage) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(id) = tx.chat_hook_id(name).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("chat hook {name:?}")));
        };
        let key = format!("test:{id}:{}", crate::random_id()?);
        tx.queue_chat(&key, id, "chat.test", None, message).await?;
        let (delivery,): (i64,) = tx
            .fetch_one("SELECT id FROM deliveries WHERE dedup_key = $1", params![&key])
            .await?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// The people's hooks whose digest for `day` is due at `hour` (UTC) and not yet
    /// queued (nor found empty) by any node.
    pub async fn digests_due(&self, day: NaiveDate, hour: u32) -> Result<Vec<DigestDue>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            name: String,
            user_id: i64,
            person: String,
            team_member_id: Option<i64>,
        }
        let rows: Vec<Row> = self
            .fetch_all(
                "SELECT h.id, h.name, u.id AS user_id, u.name AS person, u.team_member_id FROM chat_hooks h \
                 JOIN users u ON u.id = h.user_id WHERE h.disabled_at IS NULL AND u.disabled_at IS NULL \
                 AND h.digest_hour IS NOT NULL AND h.digest_hour <= $1 ORDER BY h.id",
                params![i64::from(hour)],
            )
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // The day's digests any node queued (or found empty) already, in one query.
        let mut p = Params::with_capacity(rows.len());
        let keys: Vec<String> = rows.iter().map(|r| p.placeholder(digest_key(r.id, day))).collect();
        let done: HashSet<String> = self
            .fetch_all::<(String,)>(
                &format!(
                    "SELECT dedup_key FROM deliveries WHERE dedup_key IN ({})",
                    keys.join(", ")
                ),
                p,
            )
            .await?
            .into_iter()
            .map(|(key,)| key)
            .collect();
        let due = rows
            .into_iter()
            .filter(|r| !done.contains(&digest_key(r.id, day)))
            .map(|r| DigestDue {
                hook_id: r.id,
                hook: r.name,
                user_id: r.user_id,
                person: r.person,
                team_member_id: r.team_member_id,
            })
            .collect();
        Ok(due)
    }

    /// Queues a person's digest for `day` (`None`: nothing to say, kept as skipped so
    /// that no node works it out again today). Once per hook and day, from any node;
    /// `true` when this call queued it.
    pub async fn queue_digest(
        &self,
        hook_id: i64,
        day: NaiveDate,
        message: Option<&ChatMessage>,
    ) -> Result<bool, StoreError> {
        let key = digest_key(hook_id, day);
        let mut tx = self.begin_write().await?;
        let queued = match message {
            Some(message) => tx.queue_chat(&key, hook_id, "digest", None, message).await?,
            None => {
                let now = Utc::now().timestamp_micros();
                tx.execute(
                    "INSERT INTO deliveries (channel, event, chat_hook_id, payload, status, next_attempt_at, \
                     created_at, last_error, dedup_key) VALUES ('chat', 'digest', $1, '{}', 'skipped', $2, $2, \
                     'nothing to say today', $3) ON CONFLICT DO NOTHING",
                    params![hook_id, now, &key],
                )
                .await?
                    > 0
            }
        };
        tx.commit().await?;
        Ok(queued)
    }
}

impl WriteTx {
    /// Queues `message` to a chat hook, once per `dedup_key`, inside the transaction of
    /// the change it tells of; `true` when queued now.
    pub async fn queue_chat(
        &mut self,
        dedup_key: &str,
        hook_id: i64,
        event: &str,
        account: Option<i64>,
        message: &ChatMessage,
    ) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp_micros();
        let payload = serde_json::to_string(message).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let queued = self
            .execute(
                "INSERT INTO deliveries (channel, event, chat_hook_id, account_id, payload, status, next_attempt_at, \
                 created_at, dedup_key) VALUES ('chat', $1, $2, $3, $4, 'pending', $5, $5, $6) ON CONFLICT DO NOTHING",
                params![event, hook_id, account, payload, now, dedup_key],
            )
            .await?;
        Ok(queued > 0)
    }

    /// The active hook named `name`, if any.
    pub async fn chat_hook_id(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        let hook: Option<(i64,)> = self
            .fetch_optional(
                "SELECT id FROM chat_hooks WHERE name = $1 AND disabled_at IS NULL",
                params![name],
            )
            .await?;
        Ok(hook.map(|(id,)| id))
    }
}
