//! CSV import: streams a file row by row, validates every row against laer's data
//! model, and writes the rows in batches inside one transaction.
//!
//! A file with an invalid row writes nothing (unless invalid rows are to be skipped),
//! memory stays bounded by the batch size whatever the file size, and importing the
//! same data again changes nothing.
//!
//! Each kind is declared once, in `kinds.rs` ([`ImportKind`]: columns, references, how a
//! row becomes a record) and listed once below; the record's table is the store's
//! declaration of the same kind ([`laer_store::Stored`]). A row is a CSV line or a JSON
//! object ([`JsonRow`]), parsed by the same declaration with the same errors.

mod columns;
mod kind;
pub mod kinds;
mod source;

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use chrono::Utc;
use laer_core::model::NewAuditEntry;
use laer_store::{Store, StoreError, WriteCount, WriteTx};
use serde::{Deserialize, Serialize};

pub use check::{check_csv, check_json};
use columns::Header;
pub use columns::{ColumnSpec, JsonRow, Row, opt, req};
pub use kind::{Batch, Context, ImportKind, Lookups, Refers};
pub use preview::{MappedColumn, PREVIEW_ROWS, Preview, PreviewRow, preview};
pub use source::{Progress, Reader, Source, UploadSource};

kind::kinds! {
    Accounts = kinds::Accounts,
    Contacts = kinds::Contacts,
    ProductUsers = kinds::ProductUsers,
    Subscriptions = kinds::Subscriptions,
    EventTypes = kinds::EventTypes,
    Events = kinds::Events,
    SupportCases = kinds::SupportCases,
    Meetings = kinds::Meetings,
    MeetingCadences = kinds::MeetingCadences,
    SurveyResponses = kinds::SurveyResponses,
    Outcomes = kinds::Outcomes,
    OutcomeMeasurements = kinds::OutcomeMeasurements,
    TeamMembers = kinds::TeamMembers,
    Owners = kinds::Owners,
    Tasks = kinds::Tasks,
    ExchangeRates = kinds::ExchangeRates,
}

// After the list: the preview dispatches on it (`with_kind!`).
mod preview;
// After the list: its `with_kind!` is in scope there.
mod records;
// After the list: its `with_kind!` is in scope there.
mod check;
// After the list: its `with_kind!` is in scope there.
pub mod singer;
pub use records::{
    RecordsError, RecordsWritten, columns, deletable, delete_record, keeps_extra_columns, record_key, version_of,
    versioned_table, write_records,
};

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        let mut wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        // Touchpoints are the meetings kind under its newer name.
        if wanted == "touchpoints" {
            wanted = Kind::Meetings.name().to_string();
        }
        Kind::ALL.into_iter().find(|k| k.name() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown kind {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// Parses one JSON object as a record of kind `K`, the `item`th of a list (errors name it
/// as their line), with the same declaration, and the same errors, as a CSV line.
pub fn parse_json<K: ImportKind>(
    object: &serde_json::Map<String, serde_json::Value>,
    item: u64,
    cx: &mut Context,
) -> Result<K::Record, RowError> {
    let row = JsonRow::new(object, K::COLUMNS, K::KEEPS_EXTRA_COLUMNS, item)?;
    K::parse(&row.row(), cx)
}

/// A problem with one row (or the header, line 1) of an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

impl RowError {
    pub(crate) fn header(message: String) -> RowError {
        RowError {
            line: 1,
            column: None,
            message,
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "line {}, column {column}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {count} invalid row(s), nothing was written:\n{}", list(.errors, *.count))]
    Rejected {
        file: String,
        count: u64,
        errors: Vec<RowError>,
    },
    #[error("{file}: {source}")]
    Csv { file: String, source: csv::Error },
    #[error("cannot write the rejected rows to {path}: {source}")]
    Rejects { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the import's writer stopped unexpectedly: {0}")]
    Writer(String),
}

fn list(errors: &[RowError], count: u64) -> String {
    let mut text: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    if count > errors.len() as u64 {
        text.push(format!("  ... and {} more", count - errors.len() as u64));
    }
    text.join("\n")
}

/// How many row errors an error message lists; the rest are counted.
const LISTED_ERRORS: usize = 50;

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub kind: String,
    pub rows: u64,
    /// Rows inserted or changed.
    pub written: u64,
    /// Rows already stored exactly so.
    pub unchanged: u64,
    /// Rows rejected and skipped (only with `skip_invalid`).
    pub rejected: u64,
}

/// Where rejected rows go when invalid rows are skipped.
pub struct Rejects<'a> {
    pub writer: &'a mut (dyn Write + Send),
    pub path: String,
}

#[derive(Default)]
pub struct Options<'a> {
    /// Write the valid rows and report the invalid ones instead of rejecting the file.
    pub skip_invalid: bool,
    /// With `skip_invalid`: one CSV line (line, column, message) per rejected row.
    pub rejects: Option<Rejects<'a>>,
    /// Who the audit log names as having imported.
    pub actor: String,
    /// The history row this import reports to ([`Store::start_import_run`]): while it
    /// runs, its progress and a heartbeat every few seconds; when it ends, its outcome
    /// (written in the import's own transaction when it commits).
    pub run: Option<i64>,
    /// An upload to delete, in the import's transaction, when it commits.
    pub upload: Option<i64>,
}

/// Imports one file of one kind, in its own transaction.
pub async fn import(
    store: &Store,
    kind: Kind,
    file_name: &str,
    input: impl Read,
    options: &mut Options<'_>,
) -> Result<ImportReport, ImportError> {
    import_from(store, kind, file_name, Reader(input), options).await
}

/// Imports one file of one kind from any [`Source`] (an upload kept in the database:
/// [`UploadSource`]), in its own transaction, recording it in the history when
/// `options.run` names its row.
pub async fn import_from(
    store: &Store,
    kind: Kind,
    file_name: &str,
    input: impl Source,
    options: &mut Options<'_>,
) -> Result<ImportReport, ImportError> {
    let progress = Arc::new(Progress::default());
    let heartbeat = Heartbeat::start(store, options.run, &progress);
    let imported = async {
        let tx = store.begin_write().await?;
        let (mut tx, report) = import_into(tx, kind, file_name, input, options, &progress).await?;
        finish(
            &mut tx,
            (options.run, options.upload),
            std::slice::from_ref(&report),
            &progress,
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }
    .await;
    heartbeat.end(store, &progress, imported.as_ref().err()).await;
    imported
}

/// Records a finished import in the history and deletes its upload, in its transaction.
async fn finish(
    tx: &mut WriteTx,
    (run, upload): (Option<i64>, Option<i64>),
    reports: &[ImportReport],
    progress: &Progress,
) -> Result<(), ImportError> {
    if let Some(run) = run {
        let sum = |f: fn(&ImportReport) -> u64| reports.iter().map(f).sum::<u64>().try_into().unwrap_or(i64::MAX);
        tx.finish_import_run(
            run,
            laer_store::RunOutcome {
                rows: sum(|r| r.rows),
                bytes: progress.now().bytes,
                written: sum(|r| r.written),
                unchanged: sum(|r| r.unchanged),
            },
        )
        .await?;
    }
    if let Some(upload) = upload {
        tx.delete_upload(upload).await?;
    }
    Ok(())
}

/// A recorded import's heartbeat: its progress written every few seconds while it runs.
struct Heartbeat {
    run: Option<i64>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(store: &Store, run: Option<i64>, progress: &Arc<Progress>) -> Heartbeat {
        let task = run.map(|run| {
            let (store, progress) = (store.clone(), progress.clone());
            tokio::spawn(async move {
                let every = std::time::Duration::from_secs(laer_core::import_runs::HEARTBEAT_SECONDS as u64);
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    // A heartbeat that fails is only a late one: the next may pass, and a
                    // run that stays silent is shown as lost.
                    let _ = store.import_heartbeat(run, progress.now()).await;
                }
            })
        });
        Heartbeat { run, task }
    }

    /// Stops the heartbeat; records a failure (the import's transaction has rolled back).
    async fn end(self, store: &Store, progress: &Progress, failed: Option<&ImportError>) {
        if let Some(task) = self.task {
            task.abort();
        }
        let Some(run) = self.run else { return };
        match failed {
            None => store.end_live_run(run),
            Some(error) => {
                let (message, rows, count) = match error {
                    ImportError::Rejected { count, errors, .. } => (
                        format!("{count} invalid row(s)"),
                        serde_json::to_value(errors).unwrap_or_default(),
                        *count,
                    ),
                    other => (other.to_string(), serde_json::Value::Array(Vec::new()), 0),
                };
                // Should even this fail, the run stops sending heartbeats and is shown
                // as lost: failed either way.
                let _ = store
                    .fail_import_run(
                        run,
                        progress.now(),
                        &message,
                        &rows,
                        count.try_into().unwrap_or(i64::MAX),
                    )
                    .await;
            }
        }
    }
}

/// The files of a *Fighting Churn With Data* dataset, in the order they depend on each other.
pub const FIGHTCHURN_FILES: [(&str, Kind); 4] = [
    ("account.csv", Kind::Accounts),
    ("event_type.csv", Kind::EventTypes),
    ("subscription.csv", Kind::Subscriptions),
    ("event.csv", Kind::Events),
];

/// Imports a *Fighting Churn With Data* export (`account.csv`, `event_type.csv`,
/// `subscription.csv`, `event.csv`) in one transaction: all of it or nothing.
/// `open` turns each file's path into a reader (the caller adds progress display).
pub async fn import_fightchurn<R: Read>(
    store: &Store,
    dir: &Path,
    mut open: impl FnMut(&Path) -> std::io::Result<R>,
    options: &mut Options<'_>,
) -> Result<Vec<ImportReport>, ImportError> {
    let progress = Arc::new(Progress::default());
    let heartbeat = Heartbeat::start(store, options.run, &progress);
    let imported = async {
        let mut tx = store.begin_write().await?;
        let mut reports = Vec::new();
        for (name, kind) in FIGHTCHURN_FILES {
            let path = dir.join(name);
            let display = path.display().to_string();
            let input = open(&path).map_err(|e| ImportError::Csv {
                file: display.clone(),
                source: e.into(),
            })?;
            let (next, report) = import_into(tx, kind, &display, Reader(input), options, &progress).await?;
            tx = next;
            reports.push(report);
        }
        finish(&mut tx, (options.run, options.upload), &reports, &progress).await?;
        tx.commit().await?;
        Ok(reports)
    }
    .await;
    heartbeat.end(store, &progress, imported.as_ref().err()).await;
    imported
}

/// Batches waiting for the writer: one being written, one parsed ahead.
const BATCHES_IN_FLIGHT: usize = 1;

/// Streams `input` into `tx` as records of `kind` and hands the transaction back.
async fn import_into(
    tx: WriteTx,
    kind: Kind,
    file_name: &str,
    input: impl Source,
    options: &mut Options<'_>,
    progress: &Progress,
) -> Result<(WriteTx, ImportReport), ImportError> {
    with_kind!(kind, K => import_kind::<K>(tx, file_name, input, options, progress).await)
}

/// Streams `input` into `tx` as records of kind `K` and hands the transaction back.
/// Parsing runs here while a task of its own writes the previous batch, so the two
/// overlap. On any error the transaction is dropped, which rolls back everything it held.
async fn import_kind<K: ImportKind>(
    tx: WriteTx,
    file_name: &str,
    input: impl Source,
    options: &mut Options<'_>,
    progress: &Progress,
) -> Result<(WriteTx, ImportReport), ImportError> {
    let csv_error = |source| ImportError::Csv {
        file: file_name.to_string(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    reader.get_mut().fill().await?;
    let header_record = reader.headers().map_err(csv_error)?.clone();
    let rejected_file = |errors: Vec<RowError>| ImportError::Rejected {
        file: file_name.to_string(),
        count: errors.len() as u64,
        errors,
    };
    let header = Header::resolve(&header_record, K::COLUMNS).map_err(|e| rejected_file(vec![e]))?;
    if !K::KEEPS_EXTRA_COLUMNS {
        header.reject_extra(K::COLUMNS).map_err(|e| rejected_file(vec![e]))?;
    }
    let mut tx = tx;
    let mut context = Context::load::<K>(&mut tx).await?;

    let (batches, mut incoming) = tokio::sync::mpsc::channel::<Vec<K::Record>>(BATCHES_IN_FLIGHT);
    let writer = tokio::spawn(async move {
        let mut counts = WriteCount::default();
        let mut state = <K::Record as Batch>::State::default();
        while let Some(batch) = incoming.recv().await {
            counts += K::Record::write(&mut tx, batch, &mut state).await?;
        }
        K::Record::finish(&mut tx, state, counts).await?;
        Ok::<_, StoreError>((tx, counts))
    });

    let mut report = ImportReport {
        file: file_name.to_string(),
        kind: K::NAME.to_string(),
        ..Default::default()
    };
    let mut batch: Vec<K::Record> = Vec::new();
    let mut errors: Vec<RowError> = Vec::new();
    let mut error_count = 0u64;
    let mut record = csv::StringRecord::new();
    let parsed: Result<(), ImportError> = async {
        while {
            reader.get_mut().fill().await?;
            reader.read_record(&mut record).map_err(csv_error)?
        } {
            report.rows += 1;
            let line = record.position().map_or(report.rows + 1, |p| p.line());
            progress.set(report.rows, record.position().map_or(0, |p| p.byte()));
            let outcome = check::parse_line::<K>(&record, &header, header_record.len(), line, &mut context)
                .map(|parsed| batch.push(parsed));
            if let Err(e) = outcome {
                reject_row(e, options, &mut errors, &mut error_count)?;
                continue;
            }
            if batch.len() >= K::BATCH_SIZE {
                // The next batch's room at once: grown push by push, a batch of events is
                // copied again at each doubling.
                let full = std::mem::replace(&mut batch, Vec::with_capacity(K::BATCH_SIZE));
                // Once a file is known to be rejected, keep validating but stop writing
                // (and drop what was parsed, so that memory stays bounded).
                if (error_count == 0 || options.skip_invalid) && batches.send(full).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
        }
        Ok(())
    }
    .await;
    let rejected = error_count > 0 && !options.skip_invalid;
    if parsed.is_ok() && !rejected {
        let _ = batches.send(batch).await;
    }
    drop(batches);
    let written = writer.await.map_err(|e| ImportError::Writer(e.to_string()))?;
    parsed?;
    let (mut tx, counts) = written?;
    if rejected {
        return Err(ImportError::Rejected {
            file: file_name.to_string(),
            count: error_count,
            errors,
        });
    }
    report.written = counts.written;
    report.unchanged = counts.unchanged;
    report.rejected = error_count;
    if report.written > 0 {
        // An import that changed nothing leaves no trace, so a repeat is a true no-op.
        tx.append_audit(&NewAuditEntry {
            at: Utc::now(),
            actor: options.actor.clone(),
            action: format!("import {}", K::NAME),
            details: serde_json::to_value(&report).unwrap_or_default(),
        })
        .await?;
    }
    Ok((tx, report))
}

fn reject_row(
    error: RowError,
    options: &mut Options<'_>,
    listed: &mut Vec<RowError>,
    count: &mut u64,
) -> Result<(), ImportError> {
    *count += 1;
    if let Some(rejects) = options.rejects.as_mut().filter(|_| options.skip_invalid) {
        let column = error.column.as_deref().unwrap_or("");
        let message = error.message.replace('"', "\"\"");
        writeln!(rejects.writer, "{},{column},\"{message}\"", error.line).map_err(|source| ImportError::Rejects {
            path: rejects.path.clone(),
            source,
        })?;
    }
    if listed.len() < LISTED_ERRORS {
        listed.push(error);
    }
    Ok(())
}

/// The header line of a rejects file.
pub const REJECTS_HEADER: &str = "line,column,error";

#[cfg(test)]
mod tests {
    use laer_core::model::{NewAccount, NewSubscription};
    use serde_json::json;

    use super::*;

    /// Parses the first data line of `csv` as a record of kind `K`.
    fn from_csv<K: ImportKind>(csv: &str, cx: &mut Context) -> Result<K::Record, RowError> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(csv.as_bytes());
        let names = reader.headers().expect("a header").clone();
        let header = Header::resolve(&names, K::COLUMNS)?;
        if !K::KEEPS_EXTRA_COLUMNS {
            header.reject_extra(K::COLUMNS)?;
        }
        let record = reader.records().next().expect("a data line").expect("a CSV line");
        K::parse(
            &Row {
                record: &record,
                header: &header,
                line: 2,
            },
            cx,
        )
    }

    fn from_json<K: ImportKind>(object: serde_json::Value, cx: &mut Context) -> Result<K::Record, RowError> {
        let serde_json::Value::Object(object) = object else {
            panic!("not an object: {object}");
        };
        parse_json::<K>(&object, 2, cx)
    }

    #[test]
    fn a_json_account_is_the_same_record_as_its_csv_line() {
        let csv: NewAccount = from_csv::<kinds::Accounts>(
            "id,account_name,date_of_birth,tier,segment\nA1, Acme ,2020-03-04,gold,\n",
            &mut Context::with_accounts(&[]),
        )
        .unwrap();
        let json: NewAccount = from_json::<kinds::Accounts>(
            json!({"id": "A1", "Account Name": "Acme", "date_of_birth": "2020-03-04", "tier": "gold", "segment": null}),
            &mut Context::with_accounts(&[]),
        )
        .unwrap();
        assert_eq!(json, csv);
        assert_eq!((json.name.as_deref(), json.segment.as_deref()), (Some("Acme"), None));
        assert_eq!(json.attributes.get("tier").map(String::as_str), Some("gold"));
    }

    #[test]
    fn a_json_subscription_is_the_same_record_as_its_csv_line() {
        let accounts = [("A1", 7)];
        let csv = "account_id,plan,start_date,end_date,mrr,seats,units,bill_period_months,discount\n\
                   A1,basic,2023-01-01,,49.50,10,users,12,0.1\n";
        let from_line: NewSubscription =
            from_csv::<kinds::Subscriptions>(csv, &mut Context::with_accounts(&accounts)).unwrap();
        // Numbers as JSON numbers, aliases as in a CSV header, an absent end date.
        let from_object: NewSubscription = from_json::<kinds::Subscriptions>(
            json!({"account": "A1", "plan": "basic", "start_date": "2023-01-01", "mrr": 49.5,
                   "seats": 10, "units": "users", "bill_period_months": 12, "discount": 0.1}),
            &mut Context::with_accounts(&accounts),
        )
        .unwrap();
        assert_eq!(from_object, from_line);
        assert_eq!(from_object.account_id, 7);
        // Without an external id the line is identified by its content, the same both ways.
        assert!(!from_object.external_id.is_empty());
    }

    #[test]
    fn a_bad_json_field_is_named_as_its_csv_column() {
        let accounts = [("A1", 7)];
        let line = from_csv::<kinds::Subscriptions>(
            "account_id,product,start_date,mrr\nA1,basic,2023-01-01,lots\n",
            &mut Context::with_accounts(&accounts),
        )
        .unwrap_err();
        let object = from_json::<kinds::Subscriptions>(
            json!({"account_id": "A1", "product": "basic", "start_date": "2023-01-01", "mrr": "lots"}),
            &mut Context::with_accounts(&accounts),
        )
        .unwrap_err();
        assert_eq!(object.column.as_deref(), Some("mrr"));
        assert_eq!((&object.column, &object.message), (&line.column, &line.message));

        let line = from_csv::<kinds::Accounts>("id,date_of_birth\nA1,2020-01-32\n", &mut Context::with_accounts(&[]))
            .unwrap_err();
        let object = from_json::<kinds::Accounts>(
            json!({"external_id": "A1", "created_on": "2020-01-32"}),
            &mut Context::with_accounts(&[]),
        )
        .unwrap_err();
        assert_eq!(object.column.as_deref(), Some("date_of_birth"));
        assert_eq!((&object.column, &object.message), (&line.column, &line.message));

        // A required field left out of an object is named too; an unknown key is refused.
        let missing = from_json::<kinds::Subscriptions>(
            json!({"account_id": "A1", "start_date": "2023-01-01", "mrr": 10}),
            &mut Context::with_accounts(&accounts),
        )
        .unwrap_err();
        assert_eq!(missing.column.as_deref(), Some("product"));
        let unknown = from_json::<kinds::Subscriptions>(
            json!({"account_id": "A1", "product": "basic", "start_date": "2023-01-01", "mrr": 10, "mmr": 10}),
            &mut Context::with_accounts(&accounts),
        )
        .unwrap_err();
        assert!(unknown.message.contains("unknown column(s) mmr"), "{unknown}");
        let nested =
            from_json::<kinds::Accounts>(json!({"id": "A1", "name": ["Acme"]}), &mut Context::with_accounts(&[]))
                .unwrap_err();
        assert_eq!(nested.column.as_deref(), Some("name"));
    }
}
