//! Segment-compatible ingest: write keys, and applying validated calls in one
//! transaction (a committed call is durable; a repeated `messageId` changes nothing).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use laer_core::dedup::ContentHasher;
use laer_core::model::{NewEvent, NewProductUser, extend_event_spans};
use laer_core::segment::{Call, CallKind};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use crate::sql::Dialect;
use crate::write::IdLookup;
use crate::{Pool, Store, StoreError, WriteTx};

/// Runs statements on the connection of a write transaction, with its dialect.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident, $dialect:ident| $body:expr) => {
        match $tx {
            WriteTx::Sqlite(t) => {
                let $conn = &mut **t;
                let $dialect = Dialect::Sqlite;
                $body
            }
            WriteTx::Postgres(t) => {
                let $conn = &mut **t;
                let $dialect = Dialect::Postgres;
                $body
            }
        }
    };
}

/// A write key as listed: never the key itself, which only its creator sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WriteKey {
    pub id: i64,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What an ingest request did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// Calls stored for the first time.
    pub accepted: u64,
    /// Calls whose `messageId` was already stored: ignored.
    pub duplicates: u64,
}

/// 32 random bytes as hex, from the operating system's generator.
pub fn random_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Creates a write key; returns it with the key, which is stored only as a hash.
    pub async fn create_write_key(&self, name: &str) -> Result<(WriteKey, String), StoreError> {
        let key = format!("lk_{}{}", random_id()?, random_id()?);
        let prefix: String = key.chars().take(11).collect();
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        let sql = "INSERT INTO write_keys (name, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?) RETURNING id";
        let id: i64 = on_tx!(&mut tx, |conn, d| sqlx::query_scalar(AssertSqlSafe(
            d.placeholders(sql)
        ))
        .bind(name)
        .bind(key_hash(&key))
        .bind(&prefix)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?);
        tx.commit().await?;
        Ok((
            WriteKey {
                id,
                name: name.to_string(),
                prefix,
                created_at: now,
                revoked_at: None,
            },
            key,
        ))
    }

    pub async fn write_keys(&self) -> Result<Vec<WriteKey>, StoreError> {
        let sql = "SELECT id, name, key_prefix AS prefix, created_at, revoked_at FROM write_keys ORDER BY id";
        Ok(match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
            Pool::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
        })
    }

    /// Revokes a key by id; `false` when there is no such key.
    pub async fn revoke_write_key(&self, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = "UPDATE write_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?";
        let now = Utc::now().timestamp_micros();
        let changed = on_tx!(&mut tx, |conn, d| sqlx::query(AssertSqlSafe(d.placeholders(sql)))
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected());
        tx.commit().await?;
        Ok(changed > 0)
    }

    /// The id of the live write key `key`, or `None` for an unknown or revoked key.
    pub async fn authenticate(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let hash = key_hash(key);
        let sql = "SELECT id FROM write_keys WHERE key_hash = ? AND revoked_at IS NULL";
        Ok(match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_scalar(sql).bind(hash).fetch_optional(pool).await?,
            Pool::Postgres(pool) => {
                sqlx::query_scalar(AssertSqlSafe(Dialect::Postgres.placeholders(sql)))
                    .bind(hash)
                    .fetch_optional(pool)
                    .await?
            }
        })
    }

    /// Stores and applies calls in one transaction: all of them or none.
    pub async fn ingest(&self, write_key_id: i64, calls: &[Call]) -> Result<IngestOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        // Calls about the same user run one transaction at a time, so that a link and the
        // events it attributes cannot miss each other.
        let mut users: Vec<String> = Vec::new();
        for call in calls {
            users.push(format!("user:{}", call.user_key()));
            if let Some(previous) = &call.previous_id {
                users.push(format!("user:{previous}"));
                users.push(format!("user:anon:{previous}"));
            }
        }
        tx.lock(users.iter().map(String::as_str)).await?;
        let mut new = log_calls(&mut tx, write_key_id, calls).await?;
        let mut outcome = IngestOutcome::default();
        let mut applier = Applier::default();
        for call in calls {
            // `remove`: a message id twice in one request counts once.
            if new.remove(&call.message_id) {
                outcome.accepted += 1;
                applier.apply(&mut tx, call).await?;
            } else {
                outcome.duplicates += 1;
            }
        }
        applier.finish(&mut tx).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

/// Appends the calls to the log; returns the message ids that were not there yet.
async fn log_calls(tx: &mut WriteTx, write_key_id: i64, calls: &[Call]) -> Result<HashSet<String>, StoreError> {
    const COLUMNS: usize = 11;
    let mut new = HashSet::new();
    for chunk in calls.chunks(2_000 / COLUMNS) {
        let sql = format!(
            "INSERT INTO ingest_messages (message_id, write_key_id, kind, user_key, user_ref, event, value, \
             occurred_at, received_at, payload, attributed) VALUES {} \
             ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            vec![format!("({})", ["?"; COLUMNS].join(", ")); chunk.len()].join(", ")
        );
        let inserted: Vec<String> = on_tx!(tx, |conn, d| {
            let sql = d.placeholders(&sql);
            let mut query = sqlx::query_scalar(AssertSqlSafe(sql.as_str()));
            for call in chunk {
                let attributed: i64 = if call.kind.is_usage() { 0 } else { 1 };
                query = query
                    .bind(&call.message_id)
                    .bind(write_key_id)
                    .bind(call.kind.as_str())
                    .bind(call.user_key())
                    .bind(call.user_id.clone().or_else(|| call.anonymous_id.clone()))
                    .bind(&call.event)
                    .bind(call.value())
                    .bind(call.timestamp.timestamp_micros())
                    .bind(call.received_at.timestamp_micros())
                    .bind(call.payload.to_string())
                    .bind(attributed);
            }
            query.fetch_all(&mut *conn).await?
        });
        new.extend(inserted);
    }
    Ok(new)
}

/// A usage event waiting for, or given, its account.
struct PendingEvent {
    message_id: String,
    user_ref: Option<String>,
    event: String,
    value: Option<f64>,
    occurred_at: i64,
}

/// Applies calls inside the transaction: links users to accounts, keeps product users,
/// and queues the usage events of linked users (and of users when their link arrives),
/// which [`Applier::finish`] writes in one go.
#[derive(Default)]
struct Applier {
    event_types: Option<HashMap<String, i64>>,
    /// user key → account, as far as this transaction has looked or linked.
    links: HashMap<String, Option<i64>>,
    /// account external id → id.
    accounts: HashMap<String, i64>,
    events: Vec<NewEvent>,
    /// Message ids whose events are queued.
    attributed: Vec<String>,
    queued: HashSet<String>,
}

impl Applier {
    async fn apply(&mut self, tx: &mut WriteTx, call: &Call) -> Result<(), StoreError> {
        let user_key = call.user_key();
        if let Some(group_id) = &call.group_id {
            let traits = (call.kind == CallKind::Group).then_some(&call.attributes);
            let id = self.account(tx, group_id, traits).await?;
            self.link(tx, &user_key, id).await?;
        }
        if call.kind == CallKind::Alias
            && let Some(previous) = &call.previous_id
        {
            // The previous identity is a user id or an anonymous id; either identity's
            // account becomes the other's.
            for previous in [previous.clone(), format!("anon:{previous}")] {
                match (self.linked(tx, &previous).await?, self.linked(tx, &user_key).await?) {
                    (Some(id), None) => self.link(tx, &user_key, id).await?,
                    (None, Some(id)) => self.link(tx, &previous, id).await?,
                    _ => {}
                }
            }
        }
        let Some(account_id) = self.linked(tx, &user_key).await? else {
            return Ok(());
        };
        if call.kind == CallKind::Identify {
            refresh_product_user(tx, &user_key, account_id).await?;
        }
        if call.kind.is_usage() {
            let event = PendingEvent {
                message_id: call.message_id.clone(),
                user_ref: call.user_id.clone().or_else(|| call.anonymous_id.clone()),
                event: call.event.clone().unwrap_or_default(),
                value: call.value(),
                occurred_at: call.timestamp.timestamp_micros(),
            };
            self.queue(tx, account_id, event).await?;
        }
        Ok(())
    }

    /// The account a user belongs to.
    async fn linked(&mut self, tx: &mut WriteTx, user_key: &str) -> Result<Option<i64>, StoreError> {
        if let Some(known) = self.links.get(user_key) {
            return Ok(*known);
        }
        let account = linked_account(tx, user_key).await?;
        self.links.insert(user_key.to_string(), account);
        Ok(account)
    }

    /// Puts the user in the account; a new link makes the product user and attributes
    /// the user's waiting events.
    async fn link(&mut self, tx: &mut WriteTx, user_key: &str, account_id: i64) -> Result<(), StoreError> {
        if self.linked(tx, user_key).await? == Some(account_id) {
            return Ok(());
        }
        link_user(tx, user_key, account_id).await?;
        self.links.insert(user_key.to_string(), Some(account_id));
        refresh_product_user(tx, user_key, account_id).await?;
        let sql = "SELECT message_id, user_ref, event, value, occurred_at FROM ingest_messages \
                   WHERE user_key = ? AND attributed = 0 ORDER BY occurred_at";
        type Row = (String, Option<String>, Option<String>, Option<f64>, i64);
        let rows: Vec<Row> = on_tx!(tx, |conn, d| sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
            .bind(user_key)
            .fetch_all(&mut *conn)
            .await?);
        for (message_id, user_ref, event, value, occurred_at) in rows {
            let event = PendingEvent {
                message_id,
                user_ref,
                event: event.unwrap_or_default(),
                value,
                occurred_at,
            };
            self.queue(tx, account_id, event).await?;
        }
        Ok(())
    }

    /// The account with this external id (created, or updated by group traits).
    async fn account(
        &mut self,
        tx: &mut WriteTx,
        external_id: &str,
        traits: Option<&serde_json::Map<String, Value>>,
    ) -> Result<i64, StoreError> {
        let has_traits = traits.is_some_and(|t| !t.is_empty());
        if !has_traits && let Some(id) = self.accounts.get(external_id) {
            return Ok(*id);
        }
        let id = merge_account(tx, external_id, traits).await?;
        self.accounts.insert(external_id.to_string(), id);
        Ok(id)
    }

    async fn queue(&mut self, tx: &mut WriteTx, account_id: i64, p: PendingEvent) -> Result<(), StoreError> {
        if !self.queued.insert(p.message_id.clone()) {
            return Ok(());
        }
        let event_type_id = self.event_type(tx, &p.event).await?;
        let occurred_at = DateTime::<Utc>::from_timestamp_micros(p.occurred_at)
            .ok_or_else(|| StoreError::Corrupt(format!("time of message {}", p.message_id)))?;
        self.events.push(NewEvent {
            account_id,
            occurred_at,
            event_type_id,
            user_ref: p.user_ref,
            value: p.value,
            // One event per message: its key comes from the message id.
            dedup_key: ContentHasher::new()
                .text(Some("segment"))
                .text(Some(&p.message_id))
                .finish() as i64,
        });
        self.attributed.push(p.message_id);
        Ok(())
    }

    /// The id of the event type named `name`, created (external id = name) when new.
    async fn event_type(&mut self, tx: &mut WriteTx, name: &str) -> Result<i64, StoreError> {
        if self.event_types.is_none() {
            self.event_types = Some(tx.id_lookup(IdLookup::EventTypesByName).await?);
        }
        if let Some(id) = self.event_types.as_ref().and_then(|m| m.get(name)) {
            return Ok(*id);
        }
        let new = laer_core::model::NewEventType {
            external_id: name.to_string(),
            name: name.to_string(),
        };
        tx.upsert_event_types(&[new]).await?;
        let types = tx.id_lookup(IdLookup::EventTypesByName).await?;
        let id = *types
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("event type {name:?} was not created")))?;
        self.event_types = Some(types);
        Ok(id)
    }

    /// Writes the queued events, marks their messages attributed, and brings the daily
    /// activity rollup up to date.
    async fn finish(self, tx: &mut WriteTx) -> Result<(), StoreError> {
        if self.events.is_empty() {
            return Ok(());
        }
        let written = tx.insert_events(&self.events).await?;
        for chunk in self.attributed.chunks(500) {
            let sql = format!(
                "UPDATE ingest_messages SET attributed = 1 WHERE message_id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            on_tx!(tx, |conn, d| {
                let mut query = sqlx::query(AssertSqlSafe(d.placeholders(&sql)));
                for id in chunk {
                    query = query.bind(id);
                }
                query.execute(&mut *conn).await?.rows_affected()
            });
        }
        if written.written == self.events.len() as u64 {
            // Every event is new (the log let each message through once): add them.
            return tx.add_event_days(&self.events).await;
        }
        let mut spans = HashMap::new();
        extend_event_spans(&mut spans, &self.events);
        let spans: Vec<(i64, i64, i64)> = spans.into_iter().map(|(a, (lo, hi))| (a, lo, hi)).collect();
        tx.refresh_event_days(&spans).await
    }
}

/// Makes the product user match the user's latest identify traits.
async fn refresh_product_user(tx: &mut WriteTx, user_key: &str, account_id: i64) -> Result<(), StoreError> {
    let sql = "SELECT payload FROM ingest_messages WHERE user_key = ? AND kind = 'identify' \
               ORDER BY occurred_at DESC, received_at DESC LIMIT 1";
    let payload: Option<String> = on_tx!(tx, |conn, d| sqlx::query_scalar(AssertSqlSafe(d.placeholders(sql)))
        .bind(user_key)
        .fetch_optional(&mut *conn)
        .await?);
    let traits: serde_json::Map<String, Value> = payload
        .and_then(|p| serde_json::from_str::<Value>(&p).ok())
        .and_then(|v| v.get("traits").and_then(Value::as_object).cloned())
        .unwrap_or_default();
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| traits.get(*k).and_then(Value::as_str).map(str::to_string))
    };
    let user = NewProductUser {
        external_id: user_key.to_string(),
        account_id,
        email: text(&["email"]),
        name: text(&["name"]).or_else(|| {
            match (text(&["firstName", "first_name"]), text(&["lastName", "last_name"])) {
                (Some(first), Some(last)) => Some(format!("{first} {last}")),
                (first, last) => first.or(last),
            }
        }),
        department: text(&["department", "team"]),
        created_at: traits
            .get("createdAt")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    };
    tx.upsert_product_users(&[user]).await?;
    Ok(())
}

async fn linked_account(tx: &mut WriteTx, user_key: &str) -> Result<Option<i64>, StoreError> {
    let sql = "SELECT account_id FROM user_accounts WHERE user_key = ?";
    Ok(on_tx!(tx, |conn, d| sqlx::query_scalar(AssertSqlSafe(
        d.placeholders(sql)
    ))
    .bind(user_key)
    .fetch_optional(&mut *conn)
    .await?))
}

async fn link_user(tx: &mut WriteTx, user_key: &str, account_id: i64) -> Result<(), StoreError> {
    let sql = "INSERT INTO user_accounts (user_key, account_id) VALUES (?, ?) \
               ON CONFLICT (user_key) DO UPDATE SET account_id = excluded.account_id";
    on_tx!(tx, |conn, d| sqlx::query(AssertSqlSafe(d.placeholders(sql)))
        .bind(user_key)
        .bind(account_id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
    Ok(())
}

/// The account with this external id, created when new; group traits update it: `name`
/// its name, every other trait its attributes.
async fn merge_account(
    tx: &mut WriteTx,
    external_id: &str,
    traits: Option<&serde_json::Map<String, Value>>,
) -> Result<i64, StoreError> {
    let select = "SELECT id, name, CAST(attributes AS TEXT) FROM accounts WHERE external_id = ?";
    let existing: Option<(i64, Option<String>, String)> =
        on_tx!(tx, |conn, d| sqlx::query_as(AssertSqlSafe(d.placeholders(select)))
            .bind(external_id)
            .fetch_optional(&mut *conn)
            .await?);
    let (mut name, mut attributes): (Option<String>, BTreeMap<String, String>) = match &existing {
        Some((_, name, attributes)) => (name.clone(), serde_json::from_str(attributes).unwrap_or_default()),
        None => (None, BTreeMap::new()),
    };
    let mut changed = existing.is_none();
    for (key, value) in traits.into_iter().flatten() {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        if key == "name" {
            changed |= name.as_deref() != Some(text.as_str());
            name = Some(text);
        } else if attributes.get(key) != Some(&text) {
            attributes.insert(key.clone(), text);
            changed = true;
        }
    }
    if !changed {
        return Ok(existing.map(|(id, _, _)| id).unwrap_or_default());
    }
    let mut account = laer_core::model::NewAccount {
        external_id: external_id.to_string(),
        name,
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        attributes,
    };
    if existing.is_some() {
        // Keep the columns imports set; only name and attributes come from traits.
        let sql = "SELECT segment, channel, country, date_of_birth FROM accounts WHERE external_id = ?";
        let row: (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<chrono::NaiveDate>,
        ) = on_tx!(tx, |conn, d| sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
            .bind(external_id)
            .fetch_one(&mut *conn)
            .await?);
        (account.segment, account.channel, account.country, account.date_of_birth) = row;
    }
    tx.upsert_accounts(std::slice::from_ref(&account)).await?;
    let sql = "SELECT id FROM accounts WHERE external_id = ?";
    Ok(on_tx!(tx, |conn, d| sqlx::query_scalar(AssertSqlSafe(
        d.placeholders(sql)
    ))
    .bind(external_id)
    .fetch_one(&mut *conn)
    .await?))
}
