//! What an account's owner wants the next owner to know (issue 16): one note per
//! account, in the owner's words, kept with who wrote it and when, beside the note the
//! account page drafts from the records. Writing it again replaces it; an empty note
//! removes it. Every change is audited (`handoff_note.written`, `handoff_note.removed`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::exec::params;
use crate::write::audit;
use crate::{Store, StoreError};

/// The longest note kept.
pub const MAX_HANDOFF_NOTE_CHARS: usize = 10_000;

/// An account's hand-off note as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandoffNote {
    pub account_id: i64,
    pub body: String,
    pub written_by: String,
    pub written_at: DateTime<Utc>,
}

impl HandoffNote {
    /// The version a form carries: when it was written, in microseconds.
    pub fn version(&self) -> i64 {
        self.written_at.timestamp_micros()
    }
}

impl Store {
    /// The account's hand-off note, if one is written.
    pub async fn handoff_note(&self, account_id: i64) -> Result<Option<HandoffNote>, StoreError> {
        let row: Option<(String, String, i64)> = self
            .fetch_optional(
                "SELECT body, written_by, written_at FROM handoff_notes WHERE account_id = $1",
                params![account_id],
            )
            .await?;
        Ok(row.map(|(body, written_by, at)| HandoffNote {
            account_id,
            body,
            written_by,
            written_at: DateTime::from_timestamp_micros(at).unwrap_or_default(),
        }))
    }

    /// Writes the account's hand-off note (an empty one removes it), if the note is still
    /// the one the writer opened: `version` is the opened note's ([`HandoffNote::version`]),
    /// 0 when there was none; otherwise refused as stale, so that nobody's note is
    /// silently overwritten. Too long a note is refused naming the field. Audited.
    pub async fn write_handoff_note(
        &self,
        account_id: i64,
        body: &str,
        version: i64,
        actor: &str,
    ) -> Result<Option<HandoffNote>, StoreError> {
        let body = body.trim();
        if body.chars().count() > MAX_HANDOFF_NOTE_CHARS {
            return Err(StoreError::Refused {
                field: "body".into(),
                message: format!("A hand-off note has at most {MAX_HANDOFF_NOTE_CHARS} characters."),
            });
        }
        let mut tx = self.begin_write().await?;
        tx.lock([format!("account:{account_id}").as_str()]).await?;
        let exists: Option<(i64,)> = tx
            .fetch_optional("SELECT id FROM accounts WHERE id = $1", params![account_id])
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        let current: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT written_at FROM handoff_notes WHERE account_id = $1",
                params![account_id],
            )
            .await?;
        if current.map_or(0, |(at,)| at) != version {
            return Err(StoreError::Stale {
                what: "the hand-off note".into(),
            });
        }
        let now = Utc::now();
        let note = if body.is_empty() {
            tx.execute("DELETE FROM handoff_notes WHERE account_id = $1", params![account_id])
                .await?;
            if current.is_some() {
                tx.append_audit(&audit(
                    actor,
                    "handoff_note.removed",
                    serde_json::json!({ "account_id": account_id }),
                ))
                .await?;
            }
            None
        } else {
            // A second write within the same microsecond still moves the version on.
            let at = now.timestamp_micros().max(version + 1);
            tx.execute(
                "INSERT INTO handoff_notes (account_id, body, written_by, written_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account_id) DO UPDATE SET body = excluded.body, written_by = excluded.written_by, \
                 written_at = excluded.written_at",
                params![account_id, body, actor, at],
            )
            .await?;
            tx.append_audit(&audit(
                actor,
                "handoff_note.written",
                serde_json::json!({ "account_id": account_id, "body": body }),
            ))
            .await?;
            Some(HandoffNote {
                account_id,
                body: body.to_string(),
                written_by: actor.to_string(),
                written_at: DateTime::from_timestamp_micros(at).unwrap_or(now),
            })
        };
        tx.commit().await?;
        Ok(note)
    }
}
