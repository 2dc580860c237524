//! A look at a file before importing it: how its header maps onto the kind's columns,
//! and its first rows as the import would parse them. Reads only; writes nothing.

use laer_store::Store;
use serde::Serialize;

use crate::columns::{Header, spec_for};
use crate::{Context, ImportError, ImportKind, Kind, Row, RowError, Source, kinds};

/// How many rows a preview shows.
pub const PREVIEW_ROWS: usize = 10;

/// A file's header and first rows, read as one kind.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub kind: &'static str,
    /// The file's columns in order, each with the kind's column it is read as.
    pub columns: Vec<MappedColumn>,
    /// Required columns of the kind the file lacks.
    pub missing: Vec<&'static str>,
    /// The file's columns the kind does not know.
    pub unknown: Vec<String>,
    /// Whether the kind keeps unknown columns (accounts keep them as attributes); if not,
    /// they make the file fail.
    pub keeps_unknown: bool,
    /// Why the file cannot be imported as this kind at all (missing, unknown or repeated
    /// columns), as the import would say it.
    pub header_error: Option<RowError>,
    /// The first rows, parsed.
    pub rows: Vec<PreviewRow>,
    /// Whether the file has rows beyond those shown.
    pub more: bool,
}

/// One column of the file's header.
#[derive(Debug, Clone, Serialize)]
pub struct MappedColumn {
    /// As the file names it.
    pub name: String,
    /// The kind's column it is read as; `None`: unknown to the kind.
    pub column: Option<&'static str>,
    pub required: bool,
}

/// One row of the file as the import reads it.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewRow {
    pub line: u64,
    pub fields: Vec<String>,
    /// Whether the row was checked (not when the header names a column twice).
    pub checked: bool,
    /// What is wrong with it, if anything.
    pub error: Option<RowError>,
}

impl Preview {
    /// Whether anything shown would make the import fail.
    pub fn has_errors(&self) -> bool {
        self.header_error.is_some() || self.rows.iter().any(|r| r.error.is_some())
    }
}

/// Reads the header and the first `rows` rows of `input` as records of `kind`, resolving
/// their references against what the store holds now.
pub async fn preview(store: &Store, kind: Kind, input: impl Source, rows: usize) -> Result<Preview, ImportError> {
    with_kind!(kind, K => preview_kind::<K>(store, input, rows).await)
}

async fn preview_kind<K: ImportKind>(store: &Store, input: impl Source, rows: usize) -> Result<Preview, ImportError> {
    let csv_error = |source| ImportError::Csv {
        file: "the file".into(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    reader.get_mut().fill().await?;
    let names = reader.headers().map_err(csv_error)?.clone();
    let columns: Vec<MappedColumn> = names
        .iter()
        .map(|name| {
            let spec = spec_for(name, K::COLUMNS);
            MappedColumn {
                name: name.trim().to_string(),
                column: spec.map(|s| s.name),
                required: spec.is_some_and(|s| s.required),
            }
        })
        .collect();
    let missing: Vec<&'static str> = K::COLUMNS
        .iter()
        .filter(|s| s.required && !columns.iter().any(|c| c.column == Some(s.name)))
        .map(|s| s.name)
        .collect();
    let unknown = columns
        .iter()
        .filter(|c| c.column.is_none())
        .map(|c| c.name.clone())
        .collect();
    let header = Header::resolve(&names, K::COLUMNS).and_then(|header| {
        if !K::KEEPS_EXTRA_COLUMNS {
            header.reject_extra(K::COLUMNS)?;
        }
        Ok(header)
    });
    let mut preview = Preview {
        kind: K::NAME,
        columns,
        missing,
        unknown,
        keeps_unknown: K::KEEPS_EXTRA_COLUMNS,
        header_error: header.as_ref().err().cloned(),
        rows: Vec::new(),
        more: false,
    };
    // Rows are checked under the columns found even when the header as a whole is
    // refused (a missing or unknown column), so that their own problems show too; a
    // header naming a column twice cannot be read at all.
    let located = Header::locate(&names, K::COLUMNS).ok();
    let mut context = Context::load::<K>(&mut &*store).await?;
    let mut record = csv::StringRecord::new();
    loop {
        reader.get_mut().fill().await?;
        if !reader.read_record(&mut record).map_err(csv_error)? {
            break;
        }
        if preview.rows.len() == rows {
            preview.more = true;
            break;
        }
        let line = record.position().map_or(preview.rows.len() as u64 + 2, |p| p.line());
        let error = match &located {
            _ if record.len() != names.len() => Some(RowError {
                line,
                column: None,
                message: format!("has {} fields, the header has {}", record.len(), names.len()),
            }),
            Some(header) => K::parse(
                &Row {
                    record: &record,
                    header,
                    line,
                },
                &mut context,
            )
            .err(),
            None => None,
        };
        preview.rows.push(PreviewRow {
            line,
            fields: record.iter().map(str::to_string).collect(),
            checked: located.is_some(),
            error,
        });
    }
    Ok(preview)
}
