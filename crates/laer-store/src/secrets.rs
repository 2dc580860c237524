//! Secrets at rest: values laer must read back to use them — a webhook's signing secret
//! today; the keys of connectors (Stripe, Singer taps) when they come — sealed with a
//! server key that never enters the database (docs/operations.md#secrets-at-rest).
//!
//! [`SecretBox`] is the general part, for every such value: XChaCha20-Poly1305 (an AEAD)
//! under a 256-bit server key, a fresh random 192-bit nonce per value, and the value's
//! purpose (`"webhooks.secret"`) as associated data, so a sealed value cannot be moved
//! into a column of another purpose. A box holds one or more keys: the first seals, any
//! opens; each sealed value is stored with the id of the key that sealed it, so that
//! rotation ([`Store::reseal_secrets`]) knows what to re-seal and a server missing a key
//! says which. The store holds no key: callers pass the box to what seals
//! ([`Store::add_webhook`]) and open what they read ([`StoredSecret::open`]).
//!
//! The store part: every column that holds sealed values is listed in
//! [`SEALED_COLUMNS`] — a connector's key becomes one more entry there (its table, the
//! ciphertext column and the key-id column beside it), and start-up, rotation and
//! `laer secrets status` cover it with no other change. A sealed secret is two columns:
//! the ciphertext (base64 of nonce and sealed bytes) and its key's id; a key id of NULL
//! marks a plaintext value written before sealing existed (migration 0022), which
//! [`Store::prepare_secrets`] seals when a server starts.
//!
//! Neither keys nor secrets appear in `Debug` output or in any error message.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::exec::params;
use crate::{Backend, Store, StoreError, WriteTx};

/// Bytes of a server key.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
/// The `settings` row naming the key the database's secrets are sealed with.
const DATABASE_KEY_SETTING: &str = "secrets.key_id";

/// One or more server keys: the first seals new values; every one opens what it sealed.
#[derive(Clone)]
pub struct SecretBox {
    keys: Arc<Vec<ServerKey>>,
}

struct ServerKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    /// Key ids only, never the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox").field("keys", &self.key_ids()).finish()
    }
}

/// A key file or variable that does not hold keys. The messages never quote the text.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error(
        "no key in it: expected a line with a key (32 random bytes in base64, e.g. from `openssl rand -base64 32`)"
    )]
    Empty,
    #[error("line {line} is not a key: expected 32 random bytes in base64 (e.g. from `openssl rand -base64 32`)")]
    Malformed { line: usize },
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
}

/// A value that cannot be sealed or opened. The messages never quote the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("sealed with the server key {key_id}, which this server's keys ({known}) do not include")]
    UnknownKey { key_id: String, known: String },
    #[error("the value sealed with the server key {key_id} does not open: it is damaged or not a {purpose}")]
    Damaged { key_id: String, purpose: String },
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
}

/// A sealed value as stored: its key's id and the base64 of nonce and ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub ciphertext: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SecretBox {
    /// Keys from text: one per line (base64 of 32 bytes), the first sealing; blank lines
    /// and lines starting with `#` are skipped, as are spaces around a key.
    pub fn from_text(text: &str) -> Result<SecretBox, SecretKeyError> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes: [u8; KEY_BYTES] = STANDARD
                .decode(line)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(SecretKeyError::Malformed { line: i + 1 })?;
            keys.push(ServerKey::new(&bytes));
        }
        if keys.is_empty() {
            return Err(SecretKeyError::Empty);
        }
        Ok(SecretBox { keys: Arc::new(keys) })
    }

    /// A new random key as a line of text ([`SecretBox::from_text`] reads it).
    pub fn generate_key() -> Result<String, SecretKeyError> {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::getrandom(&mut bytes).map_err(SecretKeyError::Random)?;
        Ok(STANDARD.encode(bytes))
    }

    /// A box whose first key is `first`'s, which opens with both boxes' keys: for
    /// rotating from this box's keys to `first`'s.
    pub fn rotated_to(&self, first: &SecretBox) -> SecretBox {
        let mut keys: Vec<ServerKey> = first.keys.iter().map(ServerKey::clone).collect();
        for key in self.keys.iter() {
            if !keys.iter().any(|k| k.id == key.id) {
                keys.push(key.clone());
            }
        }
        SecretBox { keys: Arc::new(keys) }
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// The ids of every key, the sealing one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn has_key(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Seals `secret` for `purpose` (e.g. `"webhooks.secret"`) with the first key.
    pub fn seal(&self, purpose: &str, secret: &str) -> Result<Sealed, SecretError> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce).map_err(SecretError::Random)?;
        let sealed = key
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            // Encryption fails only for messages beyond 256 GiB.
            .map_err(|_| SecretError::Damaged {
                key_id: key.id.clone(),
                purpose: purpose.into(),
            })?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(Sealed {
            key_id: key.id.clone(),
            ciphertext: STANDARD.encode(bytes),
        })
    }

    /// The secret `sealed` holds, if one of the keys sealed it for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &Sealed) -> Result<String, SecretError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| SecretError::UnknownKey {
                key_id: sealed.key_id.clone(),
                known: self.key_ids().join(", "),
            })?;
        let damaged = || SecretError::Damaged {
            key_id: sealed.key_id.clone(),
            purpose: purpose.into(),
        };
        let bytes = STANDARD.decode(&sealed.ciphertext).map_err(|_| damaged())?;
        if bytes.len() < NONCE_BYTES {
            return Err(damaged());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| damaged())?;
        let plain = key
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| damaged())?;
        String::from_utf8(plain).map_err(|_| damaged())
    }
}

impl ServerKey {
    fn new(bytes: &[u8; KEY_BYTES]) -> ServerKey {
        // A key's id names it without revealing it: 48 bits of a hash of the key.
        let digest = Sha256::new()
            .chain_update(b"laer server key id\n")
            .chain_update(bytes)
            .finalize();
        ServerKey {
            id: digest[..6].iter().map(|b| format!("{b:02x}")).collect(),
            cipher: XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*bytes)),
        }
    }
}

impl Clone for ServerKey {
    fn clone(&self) -> ServerKey {
        ServerKey {
            id: self.id.clone(),
            cipher: self.cipher.clone(),
        }
    }
}

/// A column of sealed secrets (see the module's docs).
pub(crate) struct SealedColumn {
    pub table: &'static str,
    /// The table's key column.
    pub id: &'static str,
    /// The ciphertext (or, while `key_id` is NULL, the plaintext from before sealing).
    pub column: &'static str,
    /// The id of the key that sealed `column`.
    pub key_id: &'static str,
    /// The associated data the value is sealed with.
    pub purpose: &'static str,
}

/// A webhook's signing secret (HMAC-SHA256 of each request).
pub(crate) const WEBHOOK_SECRET: SealedColumn = SealedColumn {
    table: "webhooks",
    id: "id",
    column: "secret",
    key_id: "secret_key_id",
    purpose: "webhooks.secret",
};

/// A connected Stripe account's read key (`stripe_connection.rs`).
pub(crate) const STRIPE_KEY: SealedColumn = SealedColumn {
    table: "stripe_connection",
    id: "id",
    column: "api_key",
    key_id: "api_key_key_id",
    purpose: "stripe.api_key",
};

/// The secret Stripe signs its webhook events with (`stripe_connection.rs`); NULL when
/// none is set.
pub(crate) const STRIPE_WEBHOOK_SECRET: SealedColumn = SealedColumn {
    table: "stripe_connection",
    id: "id",
    column: "webhook_secret",
    key_id: "webhook_secret_key_id",
    purpose: "stripe.webhook_secret",
};

/// A sync's tap config (`singer_syncs.rs`): the source's credentials.
pub(crate) const SINGER_CONFIG: SealedColumn = SealedColumn {
    table: "singer_syncs",
    id: "id",
    column: "config",
    key_id: "config_key_id",
    purpose: "singer_syncs.config",
};

/// A Slack or Teams incoming webhook's address (`chat.rs`): whoever has it may post.
pub(crate) const CHAT_HOOK_URL: SealedColumn = SealedColumn {
    table: "chat_hooks",
    id: "id",
    column: "url",
    key_id: "url_key_id",
    purpose: "chat_hooks.url",
};

/// A calendar's address (`calendars.rs`): a published feed's is all it takes to read it.
pub(crate) const CALENDAR_URL: SealedColumn = SealedColumn {
    table: "calendar_connections",
    id: "id",
    column: "url",
    key_id: "url_key_id",
    purpose: "calendar_connections.url",
};

/// A CalDAV calendar's password (`calendars.rs`).
pub(crate) const CALENDAR_PASSWORD: SealedColumn = SealedColumn {
    table: "calendar_connections",
    id: "id",
    column: "password",
    key_id: "password_key_id",
    purpose: "calendar_connections.password",
};

/// Every column of sealed secrets: start-up sealing, rotation and the status cover these.
/// A NULL value is no secret, and is left alone.
pub(crate) const SEALED_COLUMNS: &[SealedColumn] = &[
    WEBHOOK_SECRET,
    STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET,
    SINGER_CONFIG,
    CHAT_HOOK_URL,
    CALENDAR_URL,
    CALENDAR_PASSWORD,
];

/// What a server found and did when it started with its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSecrets {
    /// Plaintext values from before sealing that this start sealed.
    pub sealed_now: u64,
    /// The key the database's secrets are sealed with (recorded by the first server to
    /// start, then by each rotation).
    pub database_key: String,
}

/// The secrets a database holds, by the key that sealed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretsStatus {
    /// The key the database's secrets are sealed with, once a server has started.
    pub database_key: Option<String>,
    /// `(key id, values)`, by key id.
    pub sealed: Vec<(String, i64)>,
    /// Values from before sealing, not sealed yet.
    pub plaintext: i64,
}

/// A secret as read from its column, still sealed (or plaintext from before sealing):
/// whoever uses it opens it with the server key. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    purpose: &'static str,
    value: String,
    /// `None`: plaintext.
    key_id: Option<String>,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("purpose", &self.purpose)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl StoredSecret {
    pub(crate) fn new(column: &SealedColumn, value: String, key_id: Option<String>) -> StoredSecret {
        StoredSecret {
            purpose: column.purpose,
            value,
            key_id,
        }
    }

    /// The secret, opened with `secrets` (a plaintext one from before sealing needs none).
    pub fn open(&self, secrets: Option<&SecretBox>) -> Result<String, SecretError> {
        let Some(key_id) = &self.key_id else {
            return Ok(self.value.clone());
        };
        let secrets = secrets.ok_or_else(|| SecretError::UnknownKey {
            key_id: key_id.clone(),
            known: "none given".into(),
        })?;
        secrets.open(
            self.purpose,
            &Sealed {
                key_id: key_id.clone(),
                ciphertext: self.value.clone(),
            },
        )
    }

    /// The id of the key that sealed it (`None`: plaintext).
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }
}

impl Store {
    /// Run when a server starts with its keys: records its sealing key as the database's
    /// when none is recorded yet; refuses (before sealing anything) keys that cannot open
    /// the database's secrets, e.g. a second node started with a key of its own; and
    /// seals the plaintext values from before sealing existed. In one transaction,
    /// idempotent, and safe for several nodes starting at once (a value is sealed only
    /// while its key id is still NULL).
    pub async fn prepare_secrets(&self, secrets: &SecretBox) -> Result<PreparedSecrets, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = Utc::now();
        tx.execute(
            "INSERT INTO settings (name, body, updated_at, updated_by) VALUES ($1, $2, $3, 'laer') \
             ON CONFLICT (name) DO NOTHING",
            params![DATABASE_KEY_SETTING, secrets.sealing_key_id(), now.timestamp_micros()],
        )
        .await?;
        let (database_key,): (String,) = tx
            .fetch_one(
                "SELECT body FROM settings WHERE name = $1",
                params![DATABASE_KEY_SETTING],
            )
            .await?;
        let mut missing: Vec<String> = Vec::new();
        if !secrets.has_key(&database_key) {
            missing.push(database_key.clone());
        }
        for column in SEALED_COLUMNS {
            let ids: Vec<(String,)> = tx
                .fetch_all(
                    &format!(
                        "SELECT DISTINCT {key} FROM {table} WHERE {key} IS NOT NULL",
                        key = column.key_id,
                        table = column.table
                    ),
                    params![],
                )
                .await?;
            missing.extend(ids.into_iter().map(|(id,)| id).filter(|id| !secrets.has_key(id)));
        }
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            tx.rollback().await?;
            return Err(StoreError::MissingSecretKeys {
                missing: missing.join(", "),
                known: secrets.key_ids().join(", "),
            });
        }
        let mut sealed_now = 0;
        for column in SEALED_COLUMNS {
            sealed_now += reseal(&mut tx, secrets, column, Reseal::Plaintext).await?;
        }
        if sealed_now > 0 {
            tx.append_audit(&crate::write::audit(
                "laer",
                "secrets.sealed",
                json!({"values": sealed_now, "key_id": secrets.sealing_key_id()}),
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(PreparedSecrets {
            sealed_now,
            database_key,
        })
    }

    /// Rotation: re-seals every stored secret (and any plaintext one) that its sealing
    /// key did not seal with that key, and records it as the database's key — all in one
    /// transaction, so a failure leaves every secret as it was.
    /// The box must hold the keys the secrets are sealed with now besides the new
    /// sealing key ([`SecretBox::rotated_to`]). Audited. Returns how many values were
    /// re-sealed.
    pub async fn reseal_secrets(&self, secrets: &SecretBox, actor: &str) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut resealed = 0;
        for column in SEALED_COLUMNS {
            resealed += reseal(&mut tx, secrets, column, Reseal::AllButSealingKey).await?;
        }
        let now = Utc::now().timestamp_micros();
        tx.execute(
            "INSERT INTO settings (name, body, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
            params![DATABASE_KEY_SETTING, secrets.sealing_key_id(), now, actor],
        )
        .await?;
        tx.append_audit(&crate::write::audit(
            actor,
            "secrets.rotated",
            json!({"values": resealed, "key_id": secrets.sealing_key_id()}),
        ))
        .await?;
        tx.commit().await?;
        Ok(resealed)
    }

    /// The database's secrets by the key that sealed them (no key needed).
    pub async fn secrets_status(&self) -> Result<SecretsStatus, StoreError> {
        let database_key: Option<(String,)> = self
            .fetch_optional(
                "SELECT body FROM settings WHERE name = $1",
                params![DATABASE_KEY_SETTING],
            )
            .await?;
        let mut sealed: Vec<(String, i64)> = Vec::new();
        let mut plaintext = 0;
        for column in SEALED_COLUMNS {
            let rows: Vec<(Option<String>, i64)> = self
                .fetch_all(
                    &format!(
                        "SELECT {key}, COUNT(*) FROM {table} WHERE {value} IS NOT NULL GROUP BY {key}",
                        key = column.key_id,
                        table = column.table,
                        value = column.column
                    ),
                    params![],
                )
                .await?;
            for (key, count) in rows {
                match key {
                    None => plaintext += count,
                    Some(key) => match sealed.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, n)) => *n += count,
                        None => sealed.push((key, count)),
                    },
                }
            }
        }
        sealed.sort();
        Ok(SecretsStatus {
            database_key: database_key.map(|(k,)| k),
            sealed,
            plaintext,
        })
    }
}

/// Which values [`reseal`] takes.
#[derive(Clone, Copy, PartialEq)]
enum Reseal {
    /// Plaintext ones (key id NULL).
    Plaintext,
    /// Every one not sealed with the sealing key.
    AllButSealingKey,
}

/// Seals the values of `column` that `which` selects with the box's sealing key; the
/// rows are locked first (PostgreSQL; SQLite's writer is alone), and each update checks
/// the value is still the one read. Returns how many were sealed.
async fn reseal(
    tx: &mut WriteTx,
    secrets: &SecretBox,
    column: &SealedColumn,
    which: Reseal,
) -> Result<u64, StoreError> {
    let SealedColumn {
        table,
        id,
        column: value,
        key_id,
        purpose,
    } = column;
    let lock = match tx.backend() {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let (filter, p) = match which {
        Reseal::Plaintext => (format!("{key_id} IS NULL"), params![]),
        Reseal::AllButSealingKey => (
            format!("({key_id} IS NULL OR {key_id} <> $1)"),
            params![secrets.sealing_key_id()],
        ),
    };
    let rows: Vec<(i64, String, Option<String>)> = tx
        .fetch_all(
            &format!(
                "SELECT {id}, {value}, {key_id} FROM {table} WHERE {value} IS NOT NULL AND {filter} ORDER BY {id}{lock}"
            ),
            p,
        )
        .await?;
    let mut count = 0;
    for (row, stored, key) in rows {
        let plain = match key {
            None => stored.clone(),
            Some(key_id) => secrets
                .open(
                    purpose,
                    &Sealed {
                        key_id,
                        ciphertext: stored.clone(),
                    },
                )
                .map_err(|source| StoreError::Secret {
                    what: format!("{table}.{value} of row {row}"),
                    source,
                })?,
        };
        let sealed = secrets.seal(purpose, &plain).map_err(|source| StoreError::Secret {
            what: format!("{table}.{value} of row {row}"),
            source,
        })?;
        count += tx
            .execute(
                &format!("UPDATE {table} SET {value} = $1, {key_id} = $2 WHERE {id} = $3 AND {value} = $4"),
                params![sealed.ciphertext, sealed.key_id, row, stored],
            )
            .await?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_text() -> String {
        SecretBox::generate_key().unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_purpose_only() {
        let secrets = SecretBox::from_text(&key_text()).unwrap();
        let sealed = secrets.seal("webhooks.secret", "whsec_abc").unwrap();
        assert_eq!(sealed.key_id, secrets.sealing_key_id());
        assert!(!sealed.ciphertext.contains("whsec_abc"));
        assert_eq!(secrets.open("webhooks.secret", &sealed).unwrap(), "whsec_abc");
        // A fresh nonce each time: the same secret never seals the same way twice.
        assert_ne!(secrets.seal("webhooks.secret", "whsec_abc").unwrap(), sealed);
        // Another purpose, another key, or a changed byte does not open it.
        assert!(matches!(
            secrets.open("stripe.key", &sealed),
            Err(SecretError::Damaged { .. })
        ));
        let other = SecretBox::from_text(&key_text()).unwrap();
        let err = other.open("webhooks.secret", &sealed).unwrap_err();
        assert!(matches!(err, SecretError::UnknownKey { .. }));
        assert!(err.to_string().contains(&sealed.key_id), "{err}");
        let mut bytes = STANDARD.decode(&sealed.ciphertext).unwrap();
        bytes[30] ^= 1;
        let tampered = Sealed {
            key_id: sealed.key_id.clone(),
            ciphertext: STANDARD.encode(bytes),
        };
        assert!(secrets.open("webhooks.secret", &tampered).is_err());
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let (old, new) = (key_text(), key_text());
        let old_box = SecretBox::from_text(&old).unwrap();
        let sealed_old = old_box.seal("p", "s").unwrap();
        let both = SecretBox::from_text(&format!("# rotated\n{new}\n\n  {old}  \n")).unwrap();
        assert_eq!(both.key_ids().len(), 2);
        assert_ne!(both.sealing_key_id(), old_box.sealing_key_id());
        assert_eq!(both.open("p", &sealed_old).unwrap(), "s");
        let rotated = old_box.rotated_to(&SecretBox::from_text(&new).unwrap());
        assert_eq!(rotated.key_ids(), both.key_ids());
        // The id depends on the key alone.
        assert_eq!(
            SecretBox::from_text(&old).unwrap().sealing_key_id(),
            old_box.sealing_key_id()
        );
    }

    #[test]
    fn bad_key_text_is_refused_without_quoting_it() {
        assert!(matches!(
            SecretBox::from_text("# nothing\n"),
            Err(SecretKeyError::Empty)
        ));
        let short = STANDARD.encode([7u8; 16]);
        let err = SecretBox::from_text(&format!("{}\n{short}", key_text())).unwrap_err();
        assert!(matches!(err, SecretKeyError::Malformed { line: 2 }));
        assert!(!err.to_string().contains(&short));
        let err = SecretBox::from_text("not base64 at all!").unwrap_err();
        assert!(!err.to_string().contains("base64 at all"));
    }

    #[test]
    fn debug_output_shows_no_key_and_no_secret() {
        let key = key_text();
        let secrets = SecretBox::from_text(&key).unwrap();
        let sealed = secrets.seal("p", "hunter2").unwrap();
        let shown = format!("{secrets:?} {sealed:?}");
        assert!(shown.contains(secrets.sealing_key_id()));
        assert!(!shown.contains(&key) && !shown.contains(&sealed.ciphertext), "{shown}");
    }
}
