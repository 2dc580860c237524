//! Segment-compatible ingest: write keys, and applying validated calls in one
//! transaction (a committed call is durable; a repeated `messageId` changes nothing).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use laer_core::dedup::ContentHasher;
use laer_core::model::{NewAccount, NewEvent, NewProductUser};
use laer_core::segment::{Call, CallKind};
use laer_core::tracking::TrackingUpdates;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::decode::Column;
use crate::exec::{BulkRow, Params, Value as ExecValue, list, params, tuples};
use crate::postgres;
use crate::sql::{Feeds, OnConflict, Table};
use crate::write::{IdLookup, KeyId};
use crate::{Backend, Store, StoreError, Stored, WriteTx};

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
    getrandom::getrandom(&mut bytes).map_err(StoreError::Randomness)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Creates a write key; returns it with the key, which is stored only as a hash. Not
    /// audited: for setting up and tests; people's changes go through
    /// [`Store::create_write_key_as`].
    pub async fn create_write_key(&self, name: &str) -> Result<crate::Created<WriteKey>, StoreError> {
        self.issue_write_key(name, None).await
    }

    /// Creates a write key, audited as `write_key.created` by `actor`.
    pub async fn create_write_key_as(&self, name: &str, actor: &str) -> Result<crate::Created<WriteKey>, StoreError> {
        self.issue_write_key(name, Some(actor)).await
    }

    async fn issue_write_key(&self, name: &str, actor: Option<&str>) -> Result<crate::Created<WriteKey>, StoreError> {
        let key = format!("lk_{}{}", random_id()?, random_id()?);
        let prefix: String = key.chars().take(11).collect();
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO write_keys (name, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                params![name, key_hash(&key), &prefix, now],
            )
            .await?;
        if let Some(actor) = actor {
            tx.append_audit(&laer_core::model::NewAuditEntry {
                at: Utc::now(),
                actor: actor.to_string(),
                action: "write_key.created".into(),
                details: serde_json::json!({"write_key_id": id, "name": name, "prefix": prefix}),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(crate::Created {
            record: WriteKey {
                id,
                name: name.to_string(),
                prefix,
                created_at: now,
                revoked_at: None,
            },
            secret: key,
        })
    }

    pub async fn write_keys(&self) -> Result<Vec<WriteKey>, StoreError> {
        self.fetch_all(
            "SELECT id, name, key_prefix AS prefix, created_at, revoked_at FROM write_keys ORDER BY id",
            params![],
        )
        .await
    }

    /// Revokes a key by id; `false` when there is no such key. Not audited: see
    /// [`Store::revoke_write_key_as`].
    pub async fn revoke_write_key(&self, id: i64) -> Result<bool, StoreError> {
        self.end_write_key(id, None).await
    }

    /// Revokes a key by id, audited as `write_key.revoked` by `actor`; `false` when there
    /// is no such key. Revoking it again changes nothing.
    pub async fn revoke_write_key_as(&self, id: i64, actor: &str) -> Result<bool, StoreError> {
        self.end_write_key(id, Some(actor)).await
    }

    async fn end_write_key(&self, id: i64, actor: Option<&str>) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = Utc::now().timestamp_micros();
        let revoked: Option<(String, String)> = tx
            .fetch_optional(
                "UPDATE write_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING name, key_prefix",
                params![now, id],
            )
            .await?;
        let found = match (revoked, actor) {
            (Some((name, prefix)), Some(actor)) => {
                tx.append_audit(&laer_core::model::NewAuditEntry {
                    at: Utc::now(),
                    actor: actor.to_string(),
                    action: "write_key.revoked".into(),
                    details: serde_json::json!({"write_key_id": id, "name": name, "prefix": prefix}),
                })
                .await?;
                true
            }
            (Some(_), None) => true,
            (None, _) => tx
                .fetch_optional::<(i64,)>("SELECT id FROM write_keys WHERE id = $1", params![id])
                .await?
                .is_some(),
        };
        tx.commit().await?;
        Ok(found)
    }

    /// What tracking calls may change in accounts and product users (docs/ingest.md),
    /// with when and by whom it was last set; the default when it never was.
    pub async fn tracking_updates(&self) -> Result<(TrackingUpdates, Option<crate::Setting>), StoreError> {
        let saved = self.setting(TrackingUpdates::SETTING).await?;
        let updates = saved
            .as_ref()
            .and_then(|s| TrackingUpdates::parse(&s.body))
            .unwrap_or_default();
        Ok((updates, saved))
    }

    /// Sets what tracking calls may change, audited as `settings.tracking_updates` by
    /// `actor` with the value before.
    pub async fn set_tracking_updates(&self, updates: TrackingUpdates, actor: &str) -> Result<(), StoreError> {
        self.save_setting(TrackingUpdates::SETTING, updates.as_str(), actor)
            .await
    }

    /// The id of the live write key `key`, or `None` for an unknown or revoked key.
    pub async fn authenticate(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let id: Option<(i64,)> = self
            .fetch_optional(
                "SELECT id FROM write_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                params![key_hash(key)],
            )
            .await?;
        Ok(id.map(|(id,)| id))
    }

    /// Stores and applies the calls of one request: all of them or none. Requests that
    /// arrive together are committed together (group commit); the answer comes once the
    /// request's calls are durable.
    pub async fn ingest(&self, write_key_id: i64, calls: Vec<Call>) -> Result<IngestOutcome, StoreError> {
        let queue = self.ingest_writer();
        let (reply, answer) = tokio::sync::oneshot::channel();
        // What the writer needs of each call is worked out here, in parallel with other
        // requests, so that the one writer only writes.
        let calls = calls
            .into_iter()
            .map(|call| Received::new(write_key_id, call))
            .collect();
        let request = IngestRequest {
            write_key_id,
            calls,
            reply,
        };
        queue.send(request).await.map_err(|_| StoreError::WriterGone)?;
        let (outcome, spent) = answer.await.map_err(|_| StoreError::WriterGone)?;
        // The calls come back to be freed here rather than on the writer's thread.
        drop(spent);
        outcome
    }

    /// The queue of this process's ingest writer, started on first use and started
    /// again should it ever have stopped (a panic in it would otherwise stop ingest).
    fn ingest_writer(&self) -> tokio::sync::mpsc::Sender<IngestRequest> {
        let mut slot = self
            .ingest_queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, requests) = tokio::sync::mpsc::channel(QUEUED_REQUESTS);
        // The writer's own handle has no queue, so that dropping every other handle
        // ends the writer.
        let writer = Store {
            pool: self.pool.clone(),
            sqlite_writer: self.sqlite_writer.clone(),
            ingest_queue: Default::default(),
            live_runs: self.live_runs.clone(),
        };
        // One writer per process: one transaction for many requests beats many
        // transactions, also on PostgreSQL, where they would wait for each other's
        // user locks (measured: 46k against 34k events/s with four writers).
        match writer.backend() {
            // A thread of its own: on the shared runtime, each of the writer's many
            // wake-ups would queue behind requests being parsed (measured: +10-20%).
            crate::Backend::Sqlite => {
                let spawned = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        std::thread::Builder::new()
                            .name("laer-ingest".into())
                            .spawn(move || runtime.block_on(writer.write_groups(requests)))
                    });
                // Without a writer, requests get `WriterGone` errors, and the next
                // request tries to start one again.
                if let Err(e) = spawned {
                    tracing::error!("cannot start the ingest writer: {e}");
                }
            }
            crate::Backend::Postgres => {
                tokio::spawn(writer.write_groups(requests));
            }
        }
        *slot = Some(sender.clone());
        sender
    }

    /// Takes the requests waiting, up to a group's worth, and commits them together.
    async fn write_groups(self, mut requests: tokio::sync::mpsc::Receiver<IngestRequest>) {
        while let Some(first) = requests.recv().await {
            let group = take_group(first, &mut requests);
            self.commit_group(group).await;
        }
    }

    async fn commit_group(&self, group: Vec<IngestRequest>) {
        let batches: Vec<Batch> = group.iter().map(IngestRequest::batch).collect();
        let applied = self.apply_retrying(&batches).await;
        drop(batches);
        match applied {
            Ok(outcomes) => {
                for (request, outcome) in group.into_iter().zip(outcomes) {
                    request.answer(Ok(outcome));
                }
            }
            // One request's failure must not fail the others: retry each alone.
            Err(e) if group.len() > 1 => {
                tracing::warn!(error = %e, requests = group.len(), "an ingest group failed; retrying its requests one by one");
                for request in group {
                    let outcome = self
                        .apply_retrying(&[request.batch()])
                        .await
                        .map(|outcomes| outcomes.into_iter().next().unwrap_or_default());
                    request.answer(outcome);
                }
            }
            Err(e) => {
                if let Some(request) = group.into_iter().next() {
                    request.answer(Err(e));
                }
            }
        }
    }

    /// [`Self::apply_requests`], run again (up to 3 times in all) when PostgreSQL ends its
    /// transaction to break a deadlock between nodes: the transaction wrote nothing, and
    /// the client's request should not fail for it.
    async fn apply_retrying(&self, requests: &[Batch<'_>]) -> Result<Vec<IngestOutcome>, StoreError> {
        let mut tries = 1;
        loop {
            match self.apply_requests(requests).await {
                Err(e) if e.is_transient() && tries < 3 => {
                    tracing::info!(error = %e, tries, "an ingest transaction was ended by the database; running it again");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
                    tries += 1;
                }
                done => return done,
            }
        }
    }

    /// Applies the calls of several requests in one transaction; an outcome per request.
    async fn apply_requests(&self, requests: &[Batch<'_>]) -> Result<Vec<IngestOutcome>, StoreError> {
        let started = std::time::Instant::now();
        let mut tx = self.begin_write().await?;
        let begun = started.elapsed();
        let all = || requests.iter().flat_map(|r| r.calls.iter());
        // Calls about the same user run one transaction at a time, so that a link and the
        // events it attributes cannot miss each other.
        // The group's few users among its many calls: sorted as borrowed keys first.
        let previous: Vec<String> = all()
            .filter_map(|r| r.call.previous_id.as_ref())
            .flat_map(|previous| [previous.clone(), format!("anon:{previous}")])
            .collect();
        let mut keys: Vec<&str> = all()
            .map(|r| r.user_key.as_str())
            .chain(previous.iter().map(String::as_str))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let user_keys: Vec<String> = keys.into_iter().map(str::to_string).collect();
        let mut locks: Vec<String> = user_keys.iter().map(|k| format!("user:{k}")).collect();
        // Group traits read, compare and write an account's fields: one transaction at a
        // time per account.
        locks.extend(
            all()
                .map(|r| &r.call)
                .filter(|c| c.kind == CallKind::Group && !c.attributes.is_empty())
                .filter_map(|c| c.group_id.as_ref())
                .map(|g| format!("group:{g}")),
        );
        locks.sort_unstable();
        locks.dedup();
        tx.lock(locks.iter().map(String::as_str)).await?;
        let mut applier = Applier::default();
        applier.prefetch(&mut tx, &user_keys, all().map(|r| &r.call)).await?;
        let prepared = started.elapsed();
        // A usage call whose account is already known is logged as attributed, which
        // spares marking it later.
        let attributed: Vec<bool> = all().map(|r| applier.attributable_now(r)).collect();
        let new = log_calls(&mut tx, requests, &attributed).await?;
        let logged = started.elapsed();
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut each = new.into_iter().zip(attributed);
        for request in requests {
            let mut outcome = IngestOutcome::default();
            for (received, (new, attributed)) in request.calls.iter().zip(each.by_ref()) {
                // A message id twice in one group (under one key) is new once.
                if new {
                    outcome.accepted += 1;
                    applier
                        .apply(&mut tx, request.write_key_id, received, attributed)
                        .await?;
                } else {
                    outcome.duplicates += 1;
                }
            }
            outcomes.push(outcome);
        }
        let applied = started.elapsed();
        applier.finish(&mut tx).await?;
        let finished = started.elapsed();
        tx.commit().await?;
        tracing::debug!(
            requests = requests.len(),
            calls = all().count(),
            begun_us = begun.as_micros() as u64,
            prepared_us = (prepared - begun).as_micros() as u64,
            logged_us = (logged - prepared).as_micros() as u64,
            applied_us = (applied - logged).as_micros() as u64,
            finished_us = (finished - applied).as_micros() as u64,
            elapsed_us = started.elapsed().as_micros() as u64,
            "ingest group committed"
        );
        Ok(outcomes)
    }
}

/// The first request and those waiting behind it, up to a group's worth of calls.
fn take_group(first: IngestRequest, requests: &mut tokio::sync::mpsc::Receiver<IngestRequest>) -> Vec<IngestRequest> {
    let mut calls = first.calls.len();
    let mut group = vec![first];
    while calls < GROUP_CALLS {
        let Ok(next) = requests.try_recv() else { break };
        calls += next.calls.len();
        group.push(next);
    }
    group
}

/// Requests waiting for the writer; senders wait when this many are queued.
const QUEUED_REQUESTS: usize = 256;
/// A group stops taking requests once it holds this many calls.
const GROUP_CALLS: usize = 5_000;

/// The queue of the process's ingest writer; see [`Store::ingest_writer`].
pub(crate) type IngestQueue = std::sync::Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Sender<IngestRequest>>>>;

pub(crate) struct IngestRequest {
    write_key_id: i64,
    calls: Vec<Received>,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

/// What the writer answers a request: its outcome, and its calls given back to be freed
/// by the request's task.
type Answer = (Result<IngestOutcome, StoreError>, Vec<Received>);

impl IngestRequest {
    fn batch(&self) -> Batch<'_> {
        Batch {
            write_key_id: self.write_key_id,
            calls: &self.calls,
        }
    }

    fn answer(self, outcome: Result<IngestOutcome, StoreError>) {
        // A request whose client has gone has no one to answer; its calls are freed here.
        let _ = self.reply.send((outcome, self.calls));
    }
}

/// A call as the writer takes it, with what the writer needs of it worked out before.
pub(crate) struct Received {
    call: Call,
    /// The call's payload as JSON text.
    payload: String,
    /// [`Call::user_key`].
    user_key: String,
    /// [`Call::value`].
    value: Option<f64>,
    /// The key of the call's event, should it be one ([`event_key`]).
    dedup_key: i64,
}

impl Received {
    fn new(write_key_id: i64, mut call: Call) -> Received {
        Received {
            payload: std::mem::take(&mut call.payload).to_string(),
            user_key: call.user_key(),
            value: call.value(),
            dedup_key: event_key(write_key_id, &call.message_id),
            call,
        }
    }
}

/// One event per message: its key comes from the write key and the message id.
fn event_key(write_key_id: i64, message_id: &str) -> i64 {
    ContentHasher::new()
        .text(Some("segment"))
        .int(Some(write_key_id))
        .text(Some(message_id))
        .finish() as i64
}

/// The calls of one request, as the writer applies them.
struct Batch<'a> {
    write_key_id: i64,
    calls: &'a [Received],
}

/// The log of calls: every call under its write key and message id, a repeat kept out.
const MESSAGES: &Table = &Table {
    name: "ingest_messages",
    columns: &[
        "message_id",
        "write_key_id",
        "kind",
        "user_key",
        "user_ref",
        "event",
        "value",
        "occurred_at",
        "received_at",
        "payload",
        "attributed",
    ],
    json_columns: &[],
    key: &["write_key_id", "message_id"],
    on_conflict: OnConflict::Ignore,
    feeds: Feeds::Nothing,
    portfolio: false,
};

/// One call as its log entry ([`MESSAGES`]).
struct Logged<'a> {
    write_key_id: i64,
    received: &'a Received,
    attributed: bool,
}

impl<'a> Logged<'a> {
    /// Its values in the order of [`MESSAGES`]' columns.
    fn values(&self) -> [ExecValue<'a>; 11] {
        let received = self.received;
        let call = &received.call;
        [
            ExecValue::from(&call.message_id),
            ExecValue::from(self.write_key_id),
            ExecValue::from(call.kind.as_str()),
            ExecValue::from(&received.user_key),
            ExecValue::from(call.user_id.as_deref().or(call.anonymous_id.as_deref())),
            ExecValue::from(&call.event),
            ExecValue::from(received.value),
            ExecValue::from(call.timestamp.timestamp_micros()),
            ExecValue::from(call.received_at.timestamp_micros()),
            ExecValue::from(&received.payload),
            ExecValue::from(i64::from(self.attributed)),
        ]
    }
}

impl BulkRow for Logged<'_> {
    fn with_values<'r, T>(&'r self, bind: impl FnOnce(&[ExecValue<'r>]) -> T) -> T {
        bind(&self.values())
    }
}

/// Appends the calls of a group's requests to the log (`attributed`: whether each, in
/// order, is logged as attributed); whether each was new, in the same order. A message id
/// not yet stored under its write key is new once: a repeat in the group is not.
async fn log_calls(tx: &mut WriteTx, requests: &[Batch<'_>], attributed: &[bool]) -> Result<Vec<bool>, StoreError> {
    let rows: Vec<Logged> = requests
        .iter()
        .flat_map(|batch| batch.calls.iter().map(|received| (batch.write_key_id, received)))
        .zip(attributed)
        .map(|((write_key_id, received), &attributed)| Logged {
            write_key_id,
            received,
            attributed,
        })
        .collect();
    match tx {
        // SQLite writes them as it writes events, on the connection itself, and says
        // which rows were new: a statement per 256 rows while none is stored already,
        // through no argument list or worker message (a multi-row insert through sqlx,
        // and a read of the stored ids before it, took more). The whole group at once:
        // a request alone is less than a multi-row statement's rows.
        WriteTx::Sqlite(tx) => crate::exec::sqlite_each(tx, MESSAGES.sqlite_rows(), &rows).await,
        // PostgreSQL says which rows it inserted.
        WriteTx::Postgres(tx) => {
            let inserted = postgres::log_calls(tx, MESSAGES, log_columns(&rows)).await?;
            let mut inserted: HashSet<(i64, &str)> = inserted.iter().map(|(k, m)| (*k, m.as_str())).collect();
            // `remove`: the first of a message's rows in the group is the new one.
            Ok(rows
                .iter()
                .map(|row| inserted.remove(&(row.write_key_id, row.received.call.message_id.as_str())))
                .collect())
        }
    }
}

/// The log's rows as PostgreSQL takes them, one array per column of [`MESSAGES`]
/// ([`postgres::log_calls`]).
fn log_columns<'a>(rows: &[Logged<'a>]) -> postgres::LogColumns<'a> {
    let mut columns = postgres::LogColumns::with_capacity(rows.len());
    for row in rows {
        let received = row.received;
        let call = &received.call;
        columns.message_ids.push(call.message_id.as_str());
        columns.write_key_ids.push(row.write_key_id);
        columns.kinds.push(call.kind.as_str());
        columns.user_keys.push(received.user_key.as_str());
        columns
            .user_refs
            .push(call.user_id.as_deref().or(call.anonymous_id.as_deref()));
        columns.events.push(call.event.as_deref());
        columns.values.push(received.value);
        columns.occurred_at.push(call.timestamp.timestamp_micros());
        columns.received_at.push(call.received_at.timestamp_micros());
        columns.payloads.push(received.payload.as_str());
        columns.attributed.push(i64::from(row.attributed));
    }
    columns
}

/// A usage event waiting for, or given, its account.
struct PendingEvent {
    write_key_id: i64,
    message_id: String,
    /// Whether its log entry says so already.
    logged_attributed: bool,
    user_ref: Option<String>,
    event: String,
    value: Option<f64>,
    occurred_at: i64,
    /// Its key ([`event_key`]).
    dedup_key: i64,
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
    /// (Write key, message id) of events queued whose log entries are not yet marked.
    attributed: Vec<(i64, String)>,
    queued: HashSet<(i64, String)>,
    /// The workspace's [`TrackingUpdates`], read once per transaction.
    updates: Option<TrackingUpdates>,
    /// Write key id → its name, for the audit log, read when first needed.
    key_names: HashMap<i64, String>,
}

impl Applier {
    /// Whether a usage call's account is known before any call of the group is applied:
    /// the call names it, or the user is linked. Every other call counts as attributed.
    fn attributable_now(&self, received: &Received) -> bool {
        let call = &received.call;
        !call.kind.is_usage() || call.group_id.is_some() || matches!(self.links.get(&received.user_key), Some(Some(_)))
    }

    /// Applies one new call of the write key `key`; `logged_attributed`: its log entry is
    /// marked attributed.
    async fn apply(
        &mut self,
        tx: &mut WriteTx,
        key: i64,
        received: &Received,
        logged_attributed: bool,
    ) -> Result<(), StoreError> {
        let (call, user_key) = (&received.call, &received.user_key);
        if let Some(group_id) = &call.group_id {
            let traits = (call.kind == CallKind::Group).then_some(&call.attributes);
            let id = self.account(tx, key, group_id, traits).await?;
            self.link(tx, key, user_key, id).await?;
        }
        if call.kind == CallKind::Alias
            && let Some(previous) = &call.previous_id
        {
            // The previous identity is a user id or an anonymous id; either identity's
            // account becomes the other's.
            for previous in [previous.clone(), format!("anon:{previous}")] {
                match (self.linked(tx, &previous).await?, self.linked(tx, user_key).await?) {
                    (Some(id), None) => self.link(tx, key, user_key, id).await?,
                    (None, Some(id)) => self.link(tx, key, &previous, id).await?,
                    _ => {}
                }
            }
        }
        let Some(account_id) = self.linked(tx, user_key).await? else {
            return Ok(());
        };
        if call.kind == CallKind::Identify {
            let source = self.source(tx, key).await?;
            refresh_product_user(tx, &source, user_key, account_id).await?;
        }
        if call.kind.is_usage() {
            let event = PendingEvent {
                write_key_id: key,
                message_id: call.message_id.clone(),
                logged_attributed,
                user_ref: call.user_id.clone().or_else(|| call.anonymous_id.clone()),
                event: call.event.clone().unwrap_or_default(),
                value: received.value,
                occurred_at: call.timestamp.timestamp_micros(),
                dedup_key: received.dedup_key,
            };
            self.queue(tx, account_id, event).await?;
        }
        Ok(())
    }

    /// Looks up, in a few statements, the links of these users and the accounts the
    /// calls name, so that applying the calls reads the database only for what is new.
    async fn prefetch<'c>(
        &mut self,
        tx: &mut WriteTx,
        user_keys: &[String],
        calls: impl Iterator<Item = &'c Call>,
    ) -> Result<(), StoreError> {
        let keys: Vec<&str> = user_keys.iter().map(String::as_str).collect();
        let linked = ids_by_text(
            tx,
            "SELECT user_key AS key, account_id AS id FROM user_accounts WHERE user_key",
            &keys,
        )
        .await?;
        self.links.extend(user_keys.iter().map(|k| (k.clone(), None)));
        self.links.extend(linked.into_iter().map(|(k, a)| (k, Some(a))));
        let mut groups: Vec<&str> = calls.filter_map(|c| c.group_id.as_deref()).collect();
        groups.sort_unstable();
        groups.dedup();
        let accounts = ids_by_text(
            tx,
            "SELECT external_id AS key, id FROM accounts WHERE external_id",
            &groups,
        )
        .await?;
        self.accounts.extend(accounts);
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

    /// Puts the user in the account (by a call of the write key `key`); a new link makes
    /// the product user and attributes the user's waiting events.
    async fn link(&mut self, tx: &mut WriteTx, key: i64, user_key: &str, account_id: i64) -> Result<(), StoreError> {
        if self.linked(tx, user_key).await? == Some(account_id) {
            return Ok(());
        }
        link_user(tx, user_key, account_id).await?;
        self.links.insert(user_key.to_string(), Some(account_id));
        let source = self.source(tx, key).await?;
        refresh_product_user(tx, &source, user_key, account_id).await?;
        #[derive(sqlx::FromRow)]
        struct Waiting {
            write_key_id: i64,
            message_id: String,
            user_ref: Option<String>,
            event: Option<String>,
            value: Option<f64>,
            occurred_at: i64,
        }
        let rows: Vec<Waiting> = tx
            .fetch_all(
                "SELECT write_key_id, message_id, user_ref, event, value, occurred_at FROM ingest_messages \
                 WHERE user_key = $1 AND attributed = 0 ORDER BY occurred_at",
                params![user_key],
            )
            .await?;
        for w in rows {
            let dedup_key = event_key(w.write_key_id, &w.message_id);
            let event = PendingEvent {
                write_key_id: w.write_key_id,
                message_id: w.message_id,
                logged_attributed: false,
                user_ref: w.user_ref,
                // A usage call without an event name (a page or screen call) counts as
                // the unnamed event, as when it was applied at once.
                event: w.event.unwrap_or_default(),
                value: w.value,
                occurred_at: w.occurred_at,
                dedup_key,
            };
            self.queue(tx, account_id, event).await?;
        }
        Ok(())
    }

    /// The account with this external id (created, or updated by group traits of the
    /// write key `key` as far as [`TrackingUpdates`] lets them).
    async fn account(
        &mut self,
        tx: &mut WriteTx,
        key: i64,
        external_id: &str,
        traits: Option<&serde_json::Map<String, Value>>,
    ) -> Result<i64, StoreError> {
        let has_traits = traits.is_some_and(|t| !t.is_empty());
        if !has_traits && let Some(id) = self.accounts.get(external_id) {
            return Ok(*id);
        }
        let source = self.source(tx, key).await?;
        let id = merge_account(tx, &source, external_id, traits).await?;
        self.accounts.insert(external_id.to_string(), id);
        Ok(id)
    }

    /// What changes come from: the write key `key` (named for the audit log) under the
    /// workspace's setting, both read once per transaction.
    async fn source(&mut self, tx: &mut WriteTx, key: i64) -> Result<Source, StoreError> {
        let updates = match self.updates {
            Some(u) => u,
            None => {
                let u = tracking_updates_in(tx).await?;
                self.updates = Some(u);
                u
            }
        };
        let name = match self.key_names.get(&key) {
            Some(name) => name.clone(),
            None => {
                let (name,): (String,) = tx
                    .fetch_one("SELECT name FROM write_keys WHERE id = $1", params![key])
                    .await?;
                self.key_names.insert(key, name.clone());
                name
            }
        };
        Ok(Source {
            key_id: key,
            key_name: name,
            updates,
        })
    }

    async fn queue(&mut self, tx: &mut WriteTx, account_id: i64, p: PendingEvent) -> Result<(), StoreError> {
        // Kept by its message; the id moves into the set unless the log entry is still to
        // be marked attributed.
        let PendingEvent {
            write_key_id,
            message_id,
            logged_attributed,
            ..
        } = p;
        let first = if logged_attributed {
            self.queued.insert((write_key_id, message_id))
        } else {
            let first = self.queued.insert((write_key_id, message_id.clone()));
            if first {
                self.attributed.push((write_key_id, message_id));
            }
            first
        };
        if !first {
            return Ok(());
        }
        let event_type_id = self.event_type(tx, &p.event).await?;
        let occurred_at = Column("ingest_messages", "occurred_at").instant(p.occurred_at)?;
        self.events.push(NewEvent {
            account_id,
            occurred_at,
            event_type_id,
            user_ref: p.user_ref,
            value: p.value,
            dedup_key: p.dedup_key,
        });
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
        // Not an upsert by external id: an import, or another node, may be writing the
        // same name at this moment (under an id of its own). Whatever unique key the row
        // meets, the one written first stands and the call takes its id.
        tx.execute(
            "INSERT INTO event_types (external_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            params![name, name],
        )
        .await?;
        let types = tx.id_lookup(IdLookup::EventTypesByName).await?;
        let id = *types
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("event type {name:?} was not created")))?;
        self.event_types = Some(types);
        Ok(id)
    }

    /// Marks the queued events' messages attributed, writes the events and adds the new
    /// ones to the daily rollups.
    async fn finish(self, tx: &mut WriteTx) -> Result<(), StoreError> {
        if self.events.is_empty() {
            return Ok(());
        }
        let mut by_key: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        for (key, id) in &self.attributed {
            by_key.entry(*key).or_default().push(id);
        }
        for (key, ids) in by_key {
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "UPDATE ingest_messages SET attributed = 1 WHERE write_key_id = $1 AND message_id IN ({})",
                    list(2, chunk.len())
                );
                let mut params = Params::with_capacity(chunk.len() + 1);
                params.push(key);
                for id in chunk {
                    params.push(*id);
                }
                tx.execute(&sql, params).await?;
            }
        }
        // Adds the new events to the daily rollups. An event is keyed by its message (the
        // same use sent under another message id is another event), so only a message
        // applied twice could meet a stored one, which would add nothing.
        tx.add_events(&self.events).await?;
        Ok(())
    }
}

/// The (key, id) rows of `select` (a query of `key` and `id` ending in the key column,
/// before `IN`) for these keys, in statements of at most 500 parameters.
async fn ids_by_text(tx: &mut WriteTx, select: &str, keys: &[&str]) -> Result<Vec<(String, i64)>, StoreError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(500) {
        let sql = format!("{select} IN ({})", list(1, chunk.len()));
        let rows: Vec<KeyId> = tx.fetch_all(&sql, texts(chunk)).await?;
        found.extend(rows.into_iter().map(|r| (r.key, r.id)));
    }
    Ok(found)
}

/// Texts as the parameters `$1, $2, ...`.
fn texts<'a>(values: &[&'a str]) -> Params<'a> {
    let mut params = Params::with_capacity(values.len());
    for v in values {
        params.push(*v);
    }
    params
}

/// Where the changes of an ingest come from: a write key, named in the audit log by its
/// id and name (never the key itself), under the workspace's [`TrackingUpdates`].
struct Source {
    key_id: i64,
    key_name: String,
    updates: TrackingUpdates,
}

impl Source {
    /// An audit entry of a change this key's call made; `details` gain the key.
    fn audit(&self, action: &str, mut details: Value) -> laer_core::model::NewAuditEntry {
        if let Some(map) = details.as_object_mut() {
            map.insert("write_key_id".into(), self.key_id.into());
            map.insert("write_key".into(), self.key_name.clone().into());
        }
        crate::write::audit(
            &format!("write key {} (#{})", self.key_name, self.key_id),
            action,
            details,
        )
    }

    /// The fields of a stored record (kind `kind`, external id `external_id`) that the
    /// call's values change: each field's current value, what tracking last wrote there,
    /// and the incoming value decide ([`TrackingUpdates::merged`]). Returns the changes as
    /// (field, before, after).
    async fn changes(
        &self,
        tx: &mut WriteTx,
        kind: &str,
        external_id: &str,
        fields: &[(String, Option<String>, Option<String>)],
    ) -> Result<Vec<(String, Option<String>, String)>, StoreError> {
        if fields
            .iter()
            .all(|(_, current, incoming)| incoming.is_none() || incoming == current)
        {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String)> = tx
            .fetch_all(
                "SELECT field, value FROM tracking_values WHERE record_kind = $1 AND external_id = $2",
                params![kind, external_id],
            )
            .await?;
        let tracked: HashMap<String, String> = rows.into_iter().collect();
        Ok(fields
            .iter()
            .filter_map(|(field, current, incoming)| {
                let after = self.updates.merged(
                    current.as_deref(),
                    tracked.get(field).map(String::as_str),
                    incoming.as_deref()?,
                )?;
                Some((field.clone(), current.clone(), after.to_string()))
            })
            .collect())
    }
}

/// The workspace's [`TrackingUpdates`] setting; the default when unset or unreadable.
async fn tracking_updates_in(tx: &mut WriteTx) -> Result<TrackingUpdates, StoreError> {
    let body: Option<(String,)> = tx
        .fetch_optional(
            "SELECT body FROM settings WHERE name = $1",
            params![TrackingUpdates::SETTING],
        )
        .await?;
    Ok(body.and_then(|(b,)| TrackingUpdates::parse(&b)).unwrap_or_default())
}

/// Remembers what tracking wrote to these fields of a record, so that it may change them
/// again while nobody else has.
async fn remember_tracked(
    tx: &mut WriteTx,
    kind: &str,
    external_id: &str,
    values: &[(&str, &str)],
) -> Result<(), StoreError> {
    for chunk in values.chunks(400) {
        let sql = format!(
            "INSERT INTO tracking_values (record_kind, external_id, field, value) VALUES {} \
             ON CONFLICT (record_kind, external_id, field) DO UPDATE SET value = excluded.value",
            tuples(chunk.len(), 4)
        );
        let mut params = Params::with_capacity(chunk.len() * 4);
        for (field, value) in chunk {
            params.push(kind);
            params.push(external_id);
            params.push(*field);
            params.push(*value);
        }
        tx.execute(&sql, params).await?;
    }
    Ok(())
}

/// Makes the product user match the user's latest identify traits (`email`, `name` or
/// `firstName` + `lastName`, `department` or `team`, `createdAt`) and the account the
/// user is linked to. A new product user is tracking's own and takes them all; a stored
/// one (read with a row lock on PostgreSQL, so that an import committed meanwhile is what
/// the traits meet) has its blanks filled, and its other values, its account too, changed
/// only where tracking wrote them or the workspace's [`TrackingUpdates`] allows, each
/// change audited naming the write key. A trait the user no longer sends leaves the value
/// as it is.
async fn refresh_product_user(
    tx: &mut WriteTx,
    source: &Source,
    user_key: &str,
    account_id: i64,
) -> Result<(), StoreError> {
    let payload: Option<(String,)> = tx
        .fetch_optional(
            "SELECT payload FROM ingest_messages WHERE user_key = $1 AND kind = 'identify' \
             ORDER BY occurred_at DESC, received_at DESC LIMIT 1",
            params![user_key],
        )
        .await?;
    let payload: Option<Value> = payload
        .map(|(p,)| Column("ingest_messages", "payload").json(&p))
        .transpose()?;
    // A user never identified, or identified without traits, has none.
    let traits: serde_json::Map<String, Value> = payload
        .and_then(|v| v.get("traits").and_then(Value::as_object).cloned())
        .unwrap_or_default();
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| traits.get(*k).and_then(Value::as_str).map(str::to_string))
    };
    let name =
        text(&["name"]).or_else(
            || match (text(&["firstName", "first_name"]), text(&["lastName", "last_name"])) {
                (Some(first), Some(last)) => Some(format!("{first} {last}")),
                (first, last) => first.or(last),
            },
        );
    let created_at = traits
        .get("createdAt")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc).timestamp_micros().to_string());
    let incoming: [(&str, Option<String>); 5] = [
        ("account_id", Some(account_id.to_string())),
        ("email", text(&["email"])),
        ("name", name),
        ("department", text(&["department", "team"])),
        ("created_at", created_at),
    ];
    let user = |values: &HashMap<&str, Option<String>>| {
        let value = |field: &str| values.get(field).cloned().flatten();
        NewProductUser {
            external_id: user_key.to_string(),
            account_id: value("account_id").and_then(|a| a.parse().ok()).unwrap_or(account_id),
            email: value("email"),
            name: value("name"),
            department: value("department"),
            created_at: value("created_at")
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(DateTime::from_timestamp_micros),
        }
    };

    let stored = match stored_product_user(tx, user_key).await? {
        Some(stored) => stored,
        None => {
            // New: the product user is tracking's own; it takes every trait.
            let values: HashMap<&str, Option<String>> = incoming.iter().cloned().collect();
            let new = user(&values);
            let created = tx
                .write_rows(&NewProductUser::TABLE.ignoring(), vec![new.row()])
                .await?;
            if created.written > 0 {
                let written: Vec<(&str, &str)> = incoming
                    .iter()
                    .filter_map(|(field, value)| Some((*field, value.as_deref()?)))
                    .collect();
                return remember_tracked(tx, "product_user", user_key, &written).await;
            }
            // Created meanwhile by another transaction (an import): its values stand.
            stored_product_user(tx, user_key)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("product user {user_key:?} vanished while being created")))?
        }
    };
    let current: [(&str, Option<String>); 5] = [
        ("account_id", Some(stored.account_id.to_string())),
        ("email", stored.email),
        ("name", stored.name),
        ("department", stored.department),
        ("created_at", stored.created_at.map(|t| t.to_string())),
    ];
    let fields: Vec<(String, Option<String>, Option<String>)> = current
        .iter()
        .zip(&incoming)
        .map(|((field, current), (_, incoming))| (field.to_string(), current.clone(), incoming.clone()))
        .collect();
    let changes = source.changes(tx, "product_user", user_key, &fields).await?;
    if changes.is_empty() {
        return Ok(());
    }
    let mut values: HashMap<&str, Option<String>> = current.iter().cloned().collect();
    for (field, _, after) in &changes {
        values.insert(field.as_str(), Some(after.clone()));
    }
    let updated = user(&values);
    tx.upsert(std::slice::from_ref(&updated)).await?;
    let written: Vec<(&str, &str)> = changes
        .iter()
        .map(|(f, _, after)| (f.as_str(), after.as_str()))
        .collect();
    remember_tracked(tx, "product_user", user_key, &written).await?;
    let changed: serde_json::Map<String, Value> = changes
        .iter()
        .map(|(field, before, after)| {
            // The account as the number it is, as elsewhere in the audit log.
            let number = |v: &str| v.parse::<i64>().map_or_else(|_| Value::from(v), Value::from);
            let (before, after) = match field.as_str() {
                "account_id" => (before.as_deref().map(number), Some(number(after))),
                _ => (before.clone().map(Value::from), Some(Value::from(after.clone()))),
            };
            (field.clone(), serde_json::json!({"before": before, "after": after}))
        })
        .collect();
    let entry = source.audit(
        "tracking.product_user_changed",
        serde_json::json!({"account_id": updated.account_id, "product_user": user_key, "changes": changed}),
    );
    tx.append_audit(&entry).await?;
    Ok(())
}

/// A product user as tracking compares identify traits with it.
#[derive(sqlx::FromRow)]
struct StoredProductUser {
    account_id: i64,
    email: Option<String>,
    name: Option<String>,
    department: Option<String>,
    created_at: Option<i64>,
}

/// The stored product user with this external id, with a row lock on PostgreSQL until the
/// transaction ends (which also waits for a write not yet committed).
async fn stored_product_user(tx: &mut WriteTx, user_key: &str) -> Result<Option<StoredProductUser>, StoreError> {
    let sql = format!(
        "SELECT account_id, email, name, department, created_at FROM product_users WHERE external_id = $1{}",
        for_update(tx)
    );
    tx.fetch_optional(&sql, params![user_key]).await
}

async fn linked_account(tx: &mut WriteTx, user_key: &str) -> Result<Option<i64>, StoreError> {
    let account: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT account_id FROM user_accounts WHERE user_key = $1",
            params![user_key],
        )
        .await?;
    Ok(account.map(|(id,)| id))
}

async fn link_user(tx: &mut WriteTx, user_key: &str, account_id: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO user_accounts (user_key, account_id) VALUES ($1, $2) \
         ON CONFLICT (user_key) DO UPDATE SET account_id = excluded.account_id",
        params![user_key, account_id],
    )
    .await?;
    Ok(())
}

/// The account with this external id, created when new (audited); group traits (`name`
/// its name, every other trait an attribute) fill in its blanks, and change other values
/// only where tracking wrote them or the workspace's [`TrackingUpdates`] allows, each
/// change audited naming the write key. The account is read for the comparison with a
/// row lock on PostgreSQL, so that an import or an edit committed meanwhile (from any
/// node) is what the traits meet, and is never written back over; an account created
/// meanwhile is merged into, not replaced.
async fn merge_account(
    tx: &mut WriteTx,
    source: &Source,
    external_id: &str,
    traits: Option<&serde_json::Map<String, Value>>,
) -> Result<i64, StoreError> {
    // The traits as fields: `name`, and `attributes.KEY` for every other trait.
    let mut incoming: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in traits.into_iter().flatten() {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let field = if key == "name" {
            "name".to_string()
        } else {
            format!("attributes.{key}")
        };
        incoming.insert(field, text);
    }
    // Without traits, nothing is compared or written back: no row lock.
    let lock = !incoming.is_empty();
    let e = match stored_account(tx, external_id, lock).await? {
        Some(e) => e,
        None => {
            let mut account = new_account(external_id);
            account.name = incoming.get("name").cloned();
            account.attributes = incoming
                .iter()
                .filter_map(|(f, v)| Some((f.strip_prefix("attributes.")?.to_string(), v.clone())))
                .collect();
            let created = tx
                .write_rows(&NewAccount::TABLE.ignoring(), vec![account.row()])
                .await?;
            if created.written > 0 {
                let (id,): (i64,) = tx
                    .fetch_one("SELECT id FROM accounts WHERE external_id = $1", params![external_id])
                    .await?;
                let written: Vec<(&str, &str)> = incoming.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
                remember_tracked(tx, "account", external_id, &written).await?;
                let entry = source.audit(
                    "tracking.account_created",
                    serde_json::json!({"account_id": id, "external_id": external_id, "name": account.name,
                                       "attributes": account.attributes}),
                );
                tx.append_audit(&entry).await?;
                return Ok(id);
            }
            // Created meanwhile by another transaction (an import, another node): its
            // values stand, as any stored account's do.
            stored_account(tx, external_id, lock)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("account {external_id:?} vanished while being created")))?
        }
    };
    let mut name = e.name;
    let mut attributes: BTreeMap<String, String> = Column("accounts", "attributes").json(&e.attributes)?;
    let fields: Vec<(String, Option<String>, Option<String>)> = incoming
        .iter()
        .map(|(field, value)| {
            let current = match field.strip_prefix("attributes.") {
                Some(key) => attributes.get(key).cloned(),
                None => name.clone(),
            };
            (field.clone(), current, Some(value.clone()))
        })
        .collect();
    let changes = source.changes(tx, "account", external_id, &fields).await?;
    if changes.is_empty() {
        return Ok(e.id);
    }
    for (field, _, after) in &changes {
        match field.strip_prefix("attributes.") {
            Some(key) => {
                attributes.insert(key.to_string(), after.clone());
            }
            None => name = Some(after.clone()),
        }
    }
    // The columns imports set stay as they are; only name and attributes come from traits.
    let account = NewAccount {
        name,
        segment: e.segment,
        channel: e.channel,
        country: e.country,
        date_of_birth: e.date_of_birth,
        renewal_date: e.renewal_date,
        attributes,
        ..new_account(external_id)
    };
    tx.upsert(std::slice::from_ref(&account)).await?;
    let written: Vec<(&str, &str)> = changes
        .iter()
        .map(|(f, _, after)| (f.as_str(), after.as_str()))
        .collect();
    remember_tracked(tx, "account", external_id, &written).await?;
    let changed: serde_json::Map<String, Value> = changes
        .iter()
        .map(|(field, before, after)| (field.clone(), serde_json::json!({"before": before, "after": after})))
        .collect();
    let entry = source.audit(
        "tracking.account_changed",
        serde_json::json!({"account_id": e.id, "external_id": external_id, "changes": changed}),
    );
    tx.append_audit(&entry).await?;
    Ok(e.id)
}

/// An account as tracking compares its traits with it.
#[derive(sqlx::FromRow)]
struct StoredAccount {
    id: i64,
    name: Option<String>,
    attributes: String,
    segment: Option<String>,
    channel: Option<String>,
    country: Option<String>,
    date_of_birth: Option<chrono::NaiveDate>,
    renewal_date: Option<chrono::NaiveDate>,
}

/// The stored account with this external id; `lock`: with a row lock on PostgreSQL until
/// the transaction ends, which also waits for a write not yet committed.
async fn stored_account(tx: &mut WriteTx, external_id: &str, lock: bool) -> Result<Option<StoredAccount>, StoreError> {
    let sql = format!(
        "SELECT id, name, CAST(attributes AS TEXT) AS attributes, segment, channel, country, date_of_birth, \
         renewal_date FROM accounts WHERE external_id = $1{}",
        if lock { for_update(tx) } else { "" }
    );
    tx.fetch_optional(&sql, params![external_id]).await
}

/// ` FOR UPDATE` on PostgreSQL: the row read is the latest committed and stays as read
/// until the transaction ends. SQLite's write transactions run one at a time already.
fn for_update(tx: &WriteTx) -> &'static str {
    match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

/// An account with only its external id.
fn new_account(external_id: &str) -> NewAccount {
    NewAccount {
        external_id: external_id.to_string(),
        name: None,
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::new(),
    }
}
