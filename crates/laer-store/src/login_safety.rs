//! Keeping logins safe (issue 15): the counts for login throttling and password reset
//! requests (`laer_core::throttle`), kept in the database so that every node of a
//! deployment applies the same limits — a subject (an email, an address, or both) is
//! stored only as its SHA-256 hash; ending a person's sessions; and the flag that says
//! the workspace holds the demo company.

use chrono::{DateTime, TimeDelta, Utc};
use laer_core::model::NewAuditEntry;
use laer_core::throttle::{Count, LONGEST_WINDOW};

use crate::access::sha256_hex;
use crate::decode::Column;
use crate::exec::params;
use crate::write::audit;
use crate::{Store, StoreError};

/// How many marks say the workspace holds the demo company (0 or 1): the setting `demo`.
/// `Store::session` reads it beside each session.
pub(crate) const DEMO_MARKS: &str = "SELECT COUNT(*) FROM settings WHERE name = 'demo'";

/// What is counted: a scope (`login_pair`, `login_account`, `login_address`, `reset_email`,
/// `reset_address`) and the subject's text, hashed before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub scope: &'static str,
    pub subject: String,
}

impl Store {
    /// The counts under `keys`, in their order; `None` where nothing is counted.
    pub async fn throttle_counts(&self, keys: &[ThrottleKey]) -> Result<Vec<Option<Count>>, StoreError> {
        let mut counts = Vec::with_capacity(keys.len());
        for key in keys {
            let row: Option<(i64, i64)> = self
                .fetch_optional(
                    "SELECT events, last_at FROM throttles WHERE scope = $1 AND subject = $2",
                    params![key.scope, sha256_hex(&key.subject)],
                )
                .await?;
            counts.push(
                row.map(|(events, last_at)| {
                    Ok::<_, StoreError>(Count {
                        events,
                        last_at: Column("throttles", "last_at").instant(last_at)?,
                    })
                })
                .transpose()?,
            );
        }
        Ok(counts)
    }

    /// Counts one event at `now` under each key — a count whose last event is older than
    /// `window` starts over — and returns the counts after, in the keys' order. Rows
    /// older than the longest window are pruned, and `audit` (if any) is appended, in the
    /// same transaction. One statement per key, so that nodes counting at once each add
    /// their event.
    pub async fn count_throttled(
        &self,
        keys: &[ThrottleKey],
        window: TimeDelta,
        now: DateTime<Utc>,
        audit: Option<&NewAuditEntry>,
    ) -> Result<Vec<Count>, StoreError> {
        let at = now.timestamp_micros();
        let mut tx = self.begin_write().await?;
        tx.execute(
            "DELETE FROM throttles WHERE last_at < $1",
            params![(now - LONGEST_WINDOW).timestamp_micros()],
        )
        .await?;
        let mut counts = Vec::with_capacity(keys.len());
        for key in keys {
            let (events, last_at): (i64, i64) = tx
                .fetch_one(
                    "INSERT INTO throttles (scope, subject, events, last_at) VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (scope, subject) DO UPDATE SET \
                     events = CASE WHEN throttles.last_at < $4 THEN 1 ELSE throttles.events + 1 END, \
                     last_at = $3 \
                     RETURNING events, last_at",
                    params![
                        key.scope,
                        sha256_hex(&key.subject),
                        at,
                        (now - window).timestamp_micros()
                    ],
                )
                .await?;
            counts.push(Count {
                events,
                last_at: Column("throttles", "last_at").instant(last_at)?,
            });
        }
        if let Some(entry) = audit {
            tx.append_audit(entry).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Forgets the counts under `keys` (a successful login clears its pair).
    pub async fn clear_throttled(&self, keys: &[ThrottleKey]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            tx.execute(
                "DELETE FROM throttles WHERE scope = $1 AND subject = $2",
                params![key.scope, sha256_hex(&key.subject)],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Records that the workspace holds the demo company, so that every page says so.
    /// Kept as the setting `demo`; recording it again changes nothing.
    pub async fn mark_demo_workspace(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "INSERT INTO settings (name, body, updated_at, updated_by) VALUES ('demo', 'loaded', $1, 'demo') \
             ON CONFLICT (name) DO NOTHING",
            params![Utc::now().timestamp_micros()],
        )
        .await?;
        tx.commit().await
    }

    /// Whether the workspace holds the demo company ([`Store::mark_demo_workspace`]).
    pub async fn is_demo_workspace(&self) -> Result<bool, StoreError> {
        let (marked,): (i64,) = self.fetch_one(DEMO_MARKS, params![]).await?;
        Ok(marked > 0)
    }

    /// The id of the person with this email (trimmed, any case), active or not.
    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = self
            .fetch_optional(
                "SELECT id FROM users WHERE email = $1",
                params![email.trim().to_lowercase()],
            )
            .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Ends every session of a person at once (they must log in again, on every
    /// device), audited as `user.sessions_ended` with how many ended; `None` when there
    /// is no such person.
    pub async fn end_sessions_of(&self, user_id: i64, actor: &str) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let email: Option<(String,)> = tx
            .fetch_optional("SELECT email FROM users WHERE id = $1", params![user_id])
            .await?;
        let Some((email,)) = email else {
            return Ok(None);
        };
        let ended = tx
            .execute("DELETE FROM sessions WHERE user_id = $1", params![user_id])
            .await?;
        tx.append_audit(&audit(
            actor,
            "user.sessions_ended",
            serde_json::json!({"user_id": user_id, "email": email, "sessions": ended}),
        ))
        .await?;
        tx.commit().await?;
        Ok(Some(ended))
    }
}
