//! laer as a Singer target: a tap's output read line by line, each record mapped by a
//! mapping file ([`laer_core::singer::mapping`]) to a row of an import kind and parsed
//! by that kind's declaration, exactly as a CSV line is, then written by the kind's batch
//! writer.
//!
//! Records are written in batches, each in one transaction. A batch ends at a `STATE`
//! message once enough records are waiting (or enough time has passed), when a stream's
//! full copy is complete (`ACTIVATE_VERSION`), when the most a batch may hold is reached,
//! and at the end of the stream. The last `STATE` read before a batch ends is kept with
//! it: handed to [`SingerOptions::on_state`] after the commit, and written in the batch's
//! own transaction by [`SingerOptions::keep_state`], so that the state a tap is handed
//! next never runs ahead of what is stored. A line that is not a message, or a record
//! before its stream's `SCHEMA`, stops the import: what was committed stays, nothing of
//! the current batch is written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use laer_core::model::NewAuditEntry;
use laer_core::singer::mapping::{AccountIndex, AccountKeys, Mapped, Mapping, MappingError, StreamMapping, Unmapped};
use laer_core::singer::{Message, MessageError, fields, key_of, parse_message};
use laer_store::{Store, StoreError, WriteCount, WriteTx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::columns::{Header, Row, field_problem};
use crate::{Batch, Context, ImportKind, Kind, RowError, kinds};

/// A batch is written at the next `STATE` once this many records wait.
pub const STATE_BATCH_RECORDS: usize = 100_000;
/// ... or once this long has passed since the last batch, so that a slow tap's records
/// and state are kept as they come.
const STATE_BATCH_AFTER: Duration = Duration::from_secs(5);
/// A batch is written, whatever the tap says, once this many records wait: memory stays
/// bounded on a tap that seldom writes its state.
pub const MAX_BATCH_RECORDS: usize = 200_000;
/// ... or once their text takes this many bytes (records with long texts).
pub const MAX_BATCH_BYTES: usize = 64 << 20;
/// The longest line read (a record with long texts stays well under it).
pub const MAX_LINE_BYTES: usize = 16 << 20;
/// How many distinct reasons a stream's report lists; the rest are counted together.
const LISTED_REASONS: usize = 20;

/// A mapping file read and checked against the import kinds: each entry's kind exists,
/// gives every column the kind requires and none it does not know.
#[derive(Debug)]
pub struct LoadedMapping {
    /// Where the mapping came from (a shipped mapping's name or a file's path).
    pub name: String,
    pub mapping: Mapping,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    /// The entry's place in `mapping.streams`.
    at: usize,
    kind: Kind,
    header: Header,
}

/// Why an import of a tap's output stopped.
#[derive(Debug, thiserror::Error)]
pub enum SingerError {
    #[error("mapping {name}: {source}")]
    Mapping {
        name: String,
        #[source]
        source: MappingError,
    },
    #[error("mapping {name}: stream {stream:?} ({kind}): {message}")]
    Kind {
        name: String,
        stream: String,
        kind: String,
        message: String,
    },
    /// A line that is not a Singer message, or not one laer can take here.
    #[error("line {line}: {message}; nothing of the current batch was written")]
    Stream { line: u64, message: String },
    #[error("reading the tap's output: {0}")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An import that stopped, with what it had committed before.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct SingerFailure {
    #[source]
    pub error: SingerError,
    pub report: SingerReport,
}

/// What an import of a tap's output did. Counts are of committed batches.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SingerReport {
    /// Lines read (also those of a batch that was not written).
    pub lines: u64,
    /// Records in committed batches.
    pub records: u64,
    /// Batches committed.
    pub batches: u64,
    /// Per stream, by name.
    pub streams: BTreeMap<String, StreamReport>,
    /// The last state committed: what the tap is handed next time.
    pub state: Option<Value>,
    /// What the mapping may have wrong: paths a stream's schema does not have.
    pub warnings: Vec<String>,
}

/// One stream's records.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamReport {
    pub records: u64,
    /// Rows inserted or changed (a stream with several entries counts each).
    pub written: u64,
    /// Rows already stored exactly so.
    pub unchanged: u64,
    /// Left out by an entry's `when`.
    pub skipped: u64,
    /// Records no entry could map.
    pub unmapped: u64,
    /// Why, grouped, most frequent first.
    pub reasons: Vec<Reason>,
}

/// Records left unmapped for one reason.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reason {
    /// The kind the records were to become (empty: the stream is not in the mapping).
    pub kind: String,
    pub column: String,
    pub reason: String,
    pub count: u64,
    /// The first such record's line and what was wrong with it exactly.
    pub line: u64,
    pub example: String,
}

impl SingerReport {
    /// Rows written and unchanged, over every stream.
    pub fn totals(&self) -> (u64, u64, u64) {
        self.streams.values().fold((0, 0, 0), |(w, u, m), s| {
            (w + s.written, u + s.unchanged, m + s.unmapped)
        })
    }

    fn merge(&mut self, batch: BatchReport) {
        self.records += batch.records;
        self.batches += 1;
        for (stream, counts) in batch.streams {
            let into = self.streams.entry(stream.to_string()).or_default();
            into.records += counts.records;
            into.written += counts.written;
            into.unchanged += counts.unchanged;
            into.skipped += counts.skipped;
            into.unmapped += counts.unmapped;
            for reason in counts.reasons {
                count_reason(&mut into.reasons, reason);
            }
            into.reasons
                .sort_by(|a, b| b.count.cmp(&a.count).then(a.line.cmp(&b.line)));
        }
    }
}

const OTHER_REASONS: &str = "other reasons";

/// Adds `reason`'s records to the one like it in `reasons` (same kind, column and
/// reason); a new reason is listed while fewer than [`LISTED_REASONS`] are, and counted
/// with the other reasons after.
fn count_reason(reasons: &mut Vec<Reason>, reason: Reason) {
    let listed = reasons.len();
    match reasons
        .iter_mut()
        .find(|r| (&r.kind, &r.column, &r.reason) == (&reason.kind, &reason.column, &reason.reason))
    {
        Some(known) => known.count += reason.count,
        None if listed < LISTED_REASONS => reasons.push(reason),
        None => match reasons.iter_mut().find(|r| r.reason == OTHER_REASONS) {
            Some(other) => other.count += reason.count,
            None => reasons.push(Reason {
                reason: OTHER_REASONS.into(),
                column: String::new(),
                ..reason
            }),
        },
    }
}

/// How an import of a tap's output runs.
#[derive(Default)]
pub struct SingerOptions<'a> {
    /// Who the audit log names.
    pub actor: String,
    /// Called with each committed state, after its batch commits (`laer import singer`
    /// prints it, as Singer targets do).
    pub on_state: Option<&'a mut (dyn FnMut(&Value) + Send)>,
    /// Writes the state in the batch's own transaction (a sync keeps it so).
    pub keep_state: Option<&'a (dyn KeepState + Sync)>,
    /// Called after each commit with the report so far (a sync shows its progress).
    pub on_batch: Option<&'a mut (dyn FnMut(&SingerReport) + Send)>,
}

/// Where a batch's state is written, in the batch's transaction.
pub trait KeepState {
    fn keep<'t>(
        &'t self,
        tx: &'t mut WriteTx,
        state: &'t Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 't>>;
}

/// The mappings laer ships, by name (`laer import singer --mapping NAME`; docs/singer.md).
pub const SHIPPED_MAPPINGS: &[(&str, &str)] = &[
    ("tap-hubspot", include_str!("../mappings/tap-hubspot.toml")),
    ("tap-salesforce", include_str!("../mappings/tap-salesforce.toml")),
    ("tap-zendesk", include_str!("../mappings/tap-zendesk.toml")),
    ("tap-intercom", include_str!("../mappings/tap-intercom.toml")),
    ("tap-freshdesk", include_str!("../mappings/tap-freshdesk.toml")),
];

/// A shipped mapping's text.
pub fn shipped_mapping(name: &str) -> Option<&'static str> {
    SHIPPED_MAPPINGS.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// Reads a mapping file and checks it against the import kinds.
pub fn load_mapping(name: &str, text: &str) -> Result<LoadedMapping, SingerError> {
    let mapping = Mapping::from_toml(text).map_err(|source| SingerError::Mapping {
        name: name.to_string(),
        source,
    })?;
    let mut entries = Vec::new();
    for (at, stream) in mapping.streams.iter().enumerate() {
        let refuse = |message: String| SingerError::Kind {
            name: name.to_string(),
            stream: stream.stream.clone(),
            kind: stream.kind.clone(),
            message,
        };
        let kind: Kind = stream.kind.parse().map_err(refuse)?;
        let header = with_kind!(kind, K => entry_header::<K>(stream)).map_err(|e| refuse(e.message))?;
        entries.push(Entry { at, kind, header });
    }
    // Accounts first, then team members (whom other records name), then the kinds in
    // their listed order, which is the order they refer to each other.
    let rank = |kind: Kind| match kind {
        Kind::Accounts => 0,
        Kind::TeamMembers => 1,
        other => 2 + Kind::ALL.iter().position(|k| *k == other).unwrap_or(0),
    };
    entries.sort_by_key(|e| (rank(e.kind), e.at));
    Ok(LoadedMapping {
        name: name.to_string(),
        mapping,
        entries,
    })
}

/// The header an entry's rows are read under: its columns as the kind knows them.
fn entry_header<K: ImportKind>(stream: &StreamMapping) -> Result<Header, RowError> {
    let has_account = K::COLUMNS.iter().any(|c| c.name == "account_id");
    if stream.finds_accounts() && !has_account && K::NAME != Kind::Accounts.name() {
        return Err(RowError::header(format!(
            "{} records have no account to find; leave out account",
            K::NAME
        )));
    }
    let names: csv::StringRecord = stream.columns.iter().collect();
    let header = Header::resolve(&names, K::COLUMNS).map_err(|mut e| {
        e.message = e.message.replace("; the header has", "; the mapping gives");
        e
    })?;
    if !K::KEEPS_EXTRA_COLUMNS {
        header.reject_extra(K::COLUMNS)?;
    }
    Ok(header)
}

/// A record waiting for its batch: its text, read into fields when the batch is written
/// (so that a batch waiting takes little memory).
struct Pending {
    stream: Arc<str>,
    line: u64,
    record: Box<RawValue>,
}

/// A batch as read: its records (a record repeated under the same key only as last
/// sent), the last state read before it ended, and what reading found on the way.
#[derive(Default)]
struct ReadBatch {
    records: Vec<Pending>,
    state: Option<Value>,
    /// Lines read up to the batch's end.
    lines: u64,
    /// The records' text, in bytes.
    bytes: usize,
    warnings: Vec<String>,
}

/// What one batch did, before it is committed.
#[derive(Default)]
struct BatchReport {
    records: u64,
    streams: BTreeMap<Arc<str>, StreamReport>,
}

impl BatchReport {
    fn stream(&mut self, name: &Arc<str>) -> &mut StreamReport {
        self.streams.entry(name.clone()).or_default()
    }

    fn unmapped(&mut self, stream: &Arc<str>, kind: &str, line: u64, why: Unmapped) {
        let counts = self.stream(stream);
        counts.unmapped += 1;
        let reason = Reason {
            kind: kind.to_string(),
            column: why.column,
            reason: why.reason,
            count: 1,
            line,
            example: why.detail,
        };
        count_reason(&mut counts.reasons, reason);
    }
}

/// A stream as the reader knows it.
struct Stream {
    name: Arc<str>,
    /// The fields that identify a record: a record repeated in a batch replaces the earlier.
    key_properties: Vec<String>,
}

/// Batches read ahead of the one being written: reading and parsing the next batch
/// overlaps writing the last.
const BATCHES_AHEAD: usize = 1;

/// Reads a tap's output from `input` and writes what the mapping makes of it. A task of
/// its own reads and parses the lines into batches while this one maps and writes them.
pub async fn import_singer(
    store: &Store,
    mapping: &LoadedMapping,
    input: impl AsyncBufRead + Unpin + Send + 'static,
    options: &mut SingerOptions<'_>,
) -> Result<SingerReport, SingerFailure> {
    let (batches, mut incoming) = tokio::sync::mpsc::channel(BATCHES_AHEAD);
    let reader = Reader {
        mapping: mapping.mapping.clone(),
        streams: Vec::new(),
        stream_at: HashMap::new(),
        batch: ReadBatch::default(),
        keys: HashMap::new(),
        last_batch: Instant::now(),
        warned: HashSet::new(),
    };
    let reading = tokio::spawn(reader.read(input, batches));
    let mut report = SingerReport::default();
    let mut written = Ok(());
    while let Some(read) = incoming.recv().await {
        let batch = match read {
            Ok(batch) => batch,
            Err(error) => {
                written = Err(error);
                break;
            }
        };
        if let Err(error) = write_batch(store, mapping, batch, &mut report, options).await {
            written = Err(error);
            break;
        }
    }
    // The reader stops at the end, at its error, or now that nothing takes its batches.
    drop(incoming);
    reading.abort();
    match written {
        Ok(()) => Ok(report),
        Err(error) => Err(SingerFailure { error, report }),
    }
}

/// Reads lines into batches.
struct Reader {
    mapping: Mapping,
    streams: Vec<Stream>,
    stream_at: HashMap<String, usize>,
    batch: ReadBatch,
    /// Where a keyed record waits in the batch: (stream, its key's JSON).
    keys: HashMap<(usize, String), usize>,
    last_batch: Instant,
    warned: HashSet<String>,
}

type Batches = tokio::sync::mpsc::Sender<Result<ReadBatch, SingerError>>;

impl Reader {
    async fn read(mut self, input: impl AsyncBufRead + Unpin, batches: Batches) {
        if let Err(error) = self.read_all(input, &batches).await {
            let _ = batches.send(Err(error)).await;
        }
    }

    /// Sends each batch as it ends; `Ok` at the end of the input (or when the writer is
    /// gone: it stopped, and says why).
    async fn read_all(&mut self, mut input: impl AsyncBufRead + Unpin, batches: &Batches) -> Result<(), SingerError> {
        let mut buffer = Vec::new();
        let mut line = 0u64;
        while next_line(&mut input, &mut buffer, line + 1).await? {
            line += 1;
            self.batch.lines = line;
            let text = std::str::from_utf8(&buffer).map_err(|_| SingerError::Stream {
                line,
                message: "not UTF-8 text".into(),
            })?;
            if text.trim().is_empty() {
                continue;
            }
            let message = parse_message(text).map_err(|e| SingerError::Stream {
                line,
                message: e.to_string(),
            })?;
            let ends = match message {
                Message::Schema {
                    stream,
                    schema,
                    key_properties,
                } => {
                    self.schema(stream, &schema, key_properties);
                    false
                }
                Message::Record { stream, record } => {
                    let Some(&at) = self.stream_at.get(&stream) else {
                        return Err(SingerError::Stream {
                            line,
                            message: format!("a RECORD of stream {stream:?} before its SCHEMA"),
                        });
                    };
                    self.add(at, line, record).map_err(|e| SingerError::Stream {
                        line,
                        message: e.to_string(),
                    })?;
                    self.batch.records.len() >= MAX_BATCH_RECORDS || self.batch.bytes >= MAX_BATCH_BYTES
                }
                Message::State { value } => {
                    self.batch.state = Some(value);
                    self.batch.records.len() >= STATE_BATCH_RECORDS || self.last_batch.elapsed() >= STATE_BATCH_AFTER
                }
                // The copy is complete: keep it. Records a new version leaves out are kept
                // too (laer deletes nothing a source stops sending).
                Message::ActivateVersion { stream, .. } => {
                    if !self.stream_at.contains_key(&stream) {
                        return Err(SingerError::Stream {
                            line,
                            message: format!("an ACTIVATE_VERSION of stream {stream:?} before its SCHEMA"),
                        });
                    }
                    true
                }
            };
            if ends && !self.send(batches).await {
                return Ok(());
            }
        }
        if !self.batch.records.is_empty() || self.batch.state.is_some() {
            self.send(batches).await;
        }
        Ok(())
    }

    /// Sends the batch read so far; false when the writer is gone.
    async fn send(&mut self, batches: &Batches) -> bool {
        let lines = self.batch.lines;
        let batch = std::mem::replace(
            &mut self.batch,
            ReadBatch {
                lines,
                ..Default::default()
            },
        );
        self.keys.clear();
        let sent = batches.send(Ok(batch)).await.is_ok();
        self.last_batch = Instant::now();
        sent
    }

    fn schema(&mut self, stream: String, schema: &Value, key_properties: Vec<String>) {
        for entry in self.mapping.for_stream(&stream) {
            for (column, path) in entry.paths() {
                let warning = format!(
                    "stream {stream:?} ({}): {column} reads {path}, which the stream's schema does not have",
                    entry.kind
                );
                if !path.in_schema(schema) && self.warned.insert(warning.clone()) {
                    self.batch.warnings.push(warning);
                }
            }
        }
        let known = Stream {
            name: Arc::from(stream.as_str()),
            key_properties,
        };
        match self.stream_at.get(&stream) {
            // A stream's schema may be sent again (a tap that changes it mid-stream).
            Some(&at) => self.streams[at] = known,
            None => {
                self.stream_at.insert(stream, self.streams.len());
                self.streams.push(known);
            }
        }
    }

    fn add(&mut self, at: usize, line: u64, record: Box<RawValue>) -> Result<(), MessageError> {
        let stream = &self.streams[at];
        let key = if stream.key_properties.is_empty() {
            None
        } else {
            key_of(&record, &stream.key_properties)?
        };
        self.batch.bytes += record.get().len();
        let pending = Pending {
            stream: stream.name.clone(),
            line,
            record,
        };
        if let Some(key) = key {
            match self.keys.entry((at, key)) {
                std::collections::hash_map::Entry::Occupied(place) => {
                    self.batch.records[*place.get()] = pending;
                    return Ok(());
                }
                std::collections::hash_map::Entry::Vacant(place) => {
                    place.insert(self.batch.records.len());
                }
            }
        }
        self.batch.records.push(pending);
        Ok(())
    }
}

/// Writes a batch's records and its state in one transaction, and adds what it did to
/// `report` once it is committed.
async fn write_batch(
    store: &Store,
    mapping: &LoadedMapping,
    read: ReadBatch,
    report: &mut SingerReport,
    options: &mut SingerOptions<'_>,
) -> Result<(), SingerError> {
    let ReadBatch {
        records: pending,
        state,
        lines,
        warnings,
        ..
    } = read;
    report.lines = lines;
    report.warnings.extend(warnings);
    let mut batch = BatchReport {
        records: pending.len() as u64,
        ..Default::default()
    };
    for p in &pending {
        batch.stream(&p.stream).records += 1;
    }
    for p in &pending {
        if mapping.mapping.for_stream(&p.stream).next().is_none() {
            let why = Unmapped {
                column: String::new(),
                reason: "the mapping has no entry for this stream".into(),
                detail: format!("the mapping has no entry for stream {:?}", p.stream),
            };
            batch.unmapped(&p.stream, "", p.line, why);
        }
    }
    let mut tx = store.begin_write().await?;
    let mut known: Option<Known> = None;
    let mut written = WriteCount::default();
    for entry in &mapping.entries {
        let spec = &mapping.mapping.streams[entry.at];
        let records: Vec<&Pending> = pending.iter().filter(|p| *p.stream == *spec.stream).collect();
        let Some(name) = records.first().map(|p| p.stream.clone()) else {
            continue;
        };
        let known = match &mut known {
            Some(known) => known,
            None => known.insert(Known::load(&mut tx, &mapping.mapping).await?),
        };
        let counts = match entry.kind {
            // A stream of accounts changes only the fields its mapping gives.
            Kind::Accounts => {
                let parsed =
                    parse_entry::<kinds::Accounts>(&mut tx, entry, (spec, &name), &records, &known.index, &mut batch)
                        .await?;
                let laid: Vec<_> = parsed
                    .into_iter()
                    .map(|account| match known.accounts.get(&account.external_id) {
                        Some(stored) => account.laid_over(stored, |column| entry.header.has(column)),
                        None => account,
                    })
                    .collect();
                write_parsed::<kinds::Accounts>(&mut tx, &name, laid, &mut batch).await?
            }
            kind => with_kind!(kind, K => {
                let parsed = parse_entry::<K>(&mut tx, entry, (spec, &name), &records, &known.index, &mut batch).await?;
                write_parsed::<K>(&mut tx, &name, parsed, &mut batch).await?
            }),
        };
        written += counts;
        // Later entries find the accounts (and contacts' domains) just written.
        if counts.written > 0 && matches!(entry.kind, Kind::Accounts | Kind::Contacts) {
            *known = Known::load(&mut tx, &mapping.mapping).await?;
        }
    }
    if let (Some(state), Some(keeper)) = (&state, options.keep_state) {
        keeper.keep(&mut tx, state).await?;
    }
    if written.written > 0 {
        tx.append_audit(&NewAuditEntry {
            at: Utc::now(),
            actor: options.actor.clone(),
            action: "singer.import".into(),
            details: serde_json::json!({
                "mapping": mapping.name,
                "records": batch.records,
                "written": written.written,
                "unchanged": written.unchanged,
            }),
        })
        .await?;
    }
    tx.commit().await?;
    report.merge(batch);
    if let Some(state) = state {
        if let Some(on_state) = options.on_state.as_mut() {
            on_state(&state);
        }
        report.state = Some(state);
    }
    if let Some(on_batch) = options.on_batch.as_mut() {
        on_batch(report);
    }
    Ok(())
}

/// The accounts as the transaction sees them now: as stored, and as the mapping finds them.
struct Known {
    accounts: HashMap<String, laer_core::model::NewAccount>,
    index: AccountIndex,
}

impl Known {
    async fn load(tx: &mut WriteTx, mapping: &Mapping) -> Result<Known, StoreError> {
        let (accounts, domains) = tx.account_keys(mapping.uses_domains()).await?;
        let index = AccountIndex::new(
            accounts.iter().map(|a| AccountKeys {
                id: a.id,
                external_id: &a.fields.external_id,
                attributes: &a.fields.attributes,
            }),
            &mapping.account_attributes(),
            domains.iter().map(|(id, text)| (*id, text.as_str())),
        );
        let index = if mapping.uses_contacts() {
            index.with_contacts(tx.contact_accounts().await?)
        } else {
            index
        };
        let accounts = accounts
            .into_iter()
            .map(|a| (a.fields.external_id.clone(), a.fields))
            .collect();
        Ok(Known { accounts, index })
    }
}

/// Maps and parses one entry's records: the valid ones' records; the others counted, with
/// their reasons, in `batch`.
async fn parse_entry<K: ImportKind>(
    tx: &mut WriteTx,
    entry: &Entry,
    (spec, stream): (&StreamMapping, &Arc<str>),
    records: &[&Pending],
    accounts: &AccountIndex,
    batch: &mut BatchReport,
) -> Result<Vec<K::Record>, StoreError> {
    let mut cx = Context::load::<K>(tx).await?.within("batch");
    let mut parsed = Vec::with_capacity(records.len());
    let mut row = csv::StringRecord::new();
    for pending in records {
        let fields = match fields(&pending.record) {
            Ok(fields) => fields,
            Err(e) => {
                let why = Unmapped {
                    column: String::new(),
                    reason: "not an object".into(),
                    detail: e.to_string(),
                };
                batch.unmapped(stream, K::NAME, pending.line, why);
                continue;
            }
        };
        let values = match spec.map(&fields, accounts) {
            Mapped::Row(values) => values,
            Mapped::Skipped => {
                batch.stream(stream).skipped += 1;
                continue;
            }
            Mapped::Unmapped(why) => {
                batch.unmapped(stream, K::NAME, pending.line, why);
                continue;
            }
        };
        row.clear();
        let mut problem = None;
        for (column, value) in spec.columns.iter().zip(&values) {
            let text = value.as_deref().unwrap_or("");
            if problem.is_none()
                && let Some(message) = field_problem(text)
            {
                problem = Some(Unmapped {
                    column: column.clone(),
                    reason: message.clone(),
                    detail: message,
                });
            }
            row.push_field(text);
        }
        if let Some(why) = problem {
            batch.unmapped(stream, K::NAME, pending.line, why);
            continue;
        }
        let outcome = K::parse(
            &Row {
                record: &row,
                header: &entry.header,
                line: pending.line,
            },
            &mut cx,
        );
        match outcome {
            Ok(record) => parsed.push(record),
            Err(e) => {
                let why = Unmapped {
                    column: e.column.clone().unwrap_or_default(),
                    reason: reason_of(&e.message),
                    detail: e.message,
                };
                batch.unmapped(stream, K::NAME, pending.line, why);
            }
        }
    }
    Ok(parsed)
}

/// Writes one entry's records by the kind's batch writer.
async fn write_parsed<K: ImportKind>(
    tx: &mut WriteTx,
    stream: &Arc<str>,
    parsed: Vec<K::Record>,
    batch: &mut BatchReport,
) -> Result<WriteCount, StoreError> {
    let mut counts = WriteCount::default();
    let mut state = <K::Record as Batch>::State::default();
    let mut parsed = parsed.into_iter().peekable();
    while parsed.peek().is_some() {
        let chunk: Vec<K::Record> = parsed.by_ref().take(K::BATCH_SIZE).collect();
        counts += K::Record::write(tx, chunk, &mut state).await?;
    }
    K::Record::finish(tx, state, counts).await?;
    let report = batch.stream(stream);
    report.written += counts.written;
    report.unchanged += counts.unchanged;
    Ok(counts)
}

/// A kind's message without the value it quotes, so that like records group together.
fn reason_of(message: &str) -> String {
    let cut = message.find(['"', '\'']).unwrap_or(message.len());
    let reason = message[..cut].trim_end().trim_end_matches([',', ':', ';']).trim_end();
    if reason.is_empty() {
        message.to_string()
    } else {
        reason.to_string()
    }
}

/// Reads the next line into `buffer` (without its end); `false` at the end of input.
async fn next_line(
    input: &mut (impl AsyncBufRead + Unpin),
    buffer: &mut Vec<u8>,
    line: u64,
) -> Result<bool, SingerError> {
    buffer.clear();
    loop {
        let available = input.fill_buf().await.map_err(SingerError::Read)?;
        if available.is_empty() {
            return Ok(!buffer.is_empty());
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (end + 1, true),
            None => (available.len(), false),
        };
        buffer.extend_from_slice(&available[..taken]);
        input.consume(taken);
        if buffer.len() > MAX_LINE_BYTES + 1 {
            return Err(SingerError::Stream {
                line,
                message: format!("longer than {} MiB", MAX_LINE_BYTES >> 20),
            });
        }
        if done {
            buffer.pop();
            if buffer.last() == Some(&b'\r') {
                buffer.pop();
            }
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_is_checked_against_the_kinds() {
        let error = |text: &str| load_mapping("m", text).unwrap_err().to_string();
        let missing = error("[[streams]]\nstream = \"t\"\nkind = \"support-cases\"\nfields = { external_id = \"id\" }");
        assert!(missing.contains("stream \"t\" (support-cases)"), "{missing}");
        assert!(missing.contains("account_id, opened_at"), "{missing}");
        let unknown = error(
            "[[streams]]\nstream = \"t\"\nkind = \"team-members\"\nfields = { external_id = \"id\", name = \"n\", hat = \"h\" }",
        );
        assert!(unknown.contains("unknown column(s) hat"), "{unknown}");
        let kind = error("[[streams]]\nstream = \"t\"\nkind = \"deals\"");
        assert!(kind.contains("unknown kind \"deals\""), "{kind}");
        let no_account = error(
            "[[streams]]\nstream = \"t\"\nkind = \"team-members\"\naccount = { path = \"a\", by = \"external_id\" }\nfields = { external_id = \"id\", name = \"n\" }",
        );
        assert!(no_account.contains("no account to find"), "{no_account}");
        // An account's own stream finds the account it updates.
        load_mapping(
            "m",
            "[[streams]]\nstream = \"t\"\nkind = \"accounts\"\naccount = { path = \"d\", by = \"domain\" }\nfields = { external_id = \"id\", crm_id = \"id\" }",
        )
        .unwrap();
    }

    #[test]
    fn reasons_are_listed_up_to_the_cap_and_the_rest_counted() {
        let mut reasons = Vec::new();
        let reason = |n: usize| Reason {
            kind: "contacts".into(),
            column: "email".into(),
            reason: format!("reason {n}"),
            count: 1,
            line: n as u64,
            example: String::new(),
        };
        for n in 0..LISTED_REASONS + 5 {
            count_reason(&mut reasons, reason(n));
        }
        count_reason(&mut reasons, reason(0));
        assert_eq!(reasons.len(), LISTED_REASONS + 1);
        assert_eq!(reasons[0].count, 2, "a known reason adds up");
        let other = reasons.last().unwrap();
        assert_eq!((other.reason.as_str(), other.count), (OTHER_REASONS, 5));
    }

    #[test]
    fn reasons_leave_the_values_out() {
        assert_eq!(
            reason_of("unknown account \"a9\"; import the account first"),
            "unknown account"
        );
        assert_eq!(
            reason_of("expected 1 (critical) to 4 (low), found 7"),
            "expected 1 (critical) to 4 (low), found 7"
        );
        assert_eq!(reason_of("\"x\" appears twice"), "\"x\" appears twice");
    }

    #[tokio::test]
    async fn lines_are_read_whole_and_bounded() {
        let text = b"one\r\ntwo\n\nthree";
        let mut input = &text[..];
        let mut buffer = Vec::new();
        let mut lines = Vec::new();
        while next_line(&mut input, &mut buffer, 1).await.unwrap() {
            lines.push(String::from_utf8(buffer.clone()).unwrap());
        }
        assert_eq!(lines, ["one", "two", "", "three"]);
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        let mut input = &long[..];
        let error = next_line(&mut input, &mut buffer, 7).await.unwrap_err();
        assert!(error.to_string().starts_with("line 7: longer than 16 MiB"), "{error}");
    }
}
