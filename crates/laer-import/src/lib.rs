//! CSV import: streams a file row by row, validates every row against laer's data
//! model, and writes the rows in batches inside one transaction.
//!
//! A file with an invalid row writes nothing (unless invalid rows are to be skipped),
//! memory stays bounded by the batch size whatever the file size, and importing the
//! same data again changes nothing.

mod columns;
mod kinds;

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use chrono::Utc;
use laer_core::model::NewAuditEntry;
use laer_store::{Store, StoreError, WriteCount, WriteTx};
use serde::Serialize;

use columns::{Header, Row};
pub use kinds::Kind;
use kinds::{Context, Records};

/// A problem with one row (or the header, line 1) of an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    pub writer: &'a mut dyn Write,
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
}

/// Imports one file of one kind, in its own transaction.
pub async fn import(
    store: &Store,
    kind: Kind,
    file_name: &str,
    input: impl Read,
    options: &mut Options<'_>,
) -> Result<ImportReport, ImportError> {
    let tx = store.begin_write().await?;
    let (tx, report) = import_into(tx, kind, file_name, input, options).await?;
    tx.commit().await?;
    Ok(report)
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
    let mut tx = store.begin_write().await?;
    let mut reports = Vec::new();
    for (name, kind) in FIGHTCHURN_FILES {
        let path = dir.join(name);
        let display = path.display().to_string();
        let input = open(&path).map_err(|e| ImportError::Csv {
            file: display.clone(),
            source: e.into(),
        })?;
        let (next, report) = import_into(tx, kind, &display, input, options).await?;
        tx = next;
        reports.push(report);
    }
    tx.commit().await?;
    Ok(reports)
}

/// Batches waiting for the writer: one being written, one parsed ahead.
const BATCHES_IN_FLIGHT: usize = 1;

/// Streams `input` into `tx` and hands the transaction back. Parsing runs here while a
/// task of its own writes the previous batch, so the two overlap. On any error the
/// transaction is dropped, which rolls back everything it held.
async fn import_into(
    tx: WriteTx,
    kind: Kind,
    file_name: &str,
    input: impl Read,
    options: &mut Options<'_>,
) -> Result<(WriteTx, ImportReport), ImportError> {
    let csv_error = |source| ImportError::Csv {
        file: file_name.to_string(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header_record = reader.headers().map_err(csv_error)?.clone();
    let rejected_file = |errors: Vec<RowError>| ImportError::Rejected {
        file: file_name.to_string(),
        count: errors.len() as u64,
        errors,
    };
    let header = Header::resolve(&header_record, kind.columns()).map_err(|e| rejected_file(vec![e]))?;
    if !kind.keeps_extra_columns() {
        header
            .reject_extra(kind.columns())
            .map_err(|e| rejected_file(vec![e]))?;
    }
    let mut tx = tx;
    let mut context = Context::load(&mut tx, kind, &header).await?;

    let (batches, mut incoming) = tokio::sync::mpsc::channel::<Records>(BATCHES_IN_FLIGHT);
    let writer = tokio::spawn(async move {
        let mut counts = WriteCount::default();
        let mut created_types = std::collections::HashMap::new();
        let mut event_spans = std::collections::HashMap::new();
        while let Some(batch) = incoming.recv().await {
            batch.extend_event_spans(&mut event_spans);
            counts += batch.write(&mut tx, &mut created_types).await?;
        }
        if counts.written > 0 && !event_spans.is_empty() {
            let spans: Vec<(i64, i64, i64)> = event_spans.into_iter().map(|(a, (lo, hi))| (a, lo, hi)).collect();
            tx.refresh_event_days(&spans).await?;
        }
        Ok::<_, StoreError>((tx, counts))
    });

    let mut report = ImportReport {
        file: file_name.to_string(),
        kind: kind.to_string(),
        ..Default::default()
    };
    let mut batch = Records::new(kind);
    let mut errors: Vec<RowError> = Vec::new();
    let mut error_count = 0u64;
    let mut record = csv::StringRecord::new();
    let parsed: Result<(), ImportError> = async {
        while reader.read_record(&mut record).map_err(csv_error)? {
            report.rows += 1;
            let line = record.position().map_or(report.rows + 1, |p| p.line());
            let outcome = if record.len() != header_record.len() {
                Err(RowError {
                    line,
                    column: None,
                    message: format!("has {} fields, the header has {}", record.len(), header_record.len()),
                })
            } else {
                batch.push(
                    &Row {
                        record: &record,
                        header: &header,
                        line,
                    },
                    &mut context,
                )
            };
            if let Err(e) = outcome {
                reject_row(e, options, &mut errors, &mut error_count)?;
                continue;
            }
            if batch.is_full() {
                let full = batch.take();
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
        let _ = batches.send(batch.take()).await;
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
            action: format!("import {kind}"),
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
