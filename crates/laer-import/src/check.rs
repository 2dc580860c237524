//! Rows checked without a store: a whole CSV file, or one JSON object, parsed by its
//! kind's declaration against a given [`Context`] exactly as an import parses them, and
//! nothing written. The fuzz targets (`fuzz/`, docs/fuzzing.md) call these.

use std::io::Read;

use crate::columns::{Header, JsonRow, Row};
use crate::{Context, ImportError, ImportKind, Kind, LISTED_ERRORS, RowError, kinds};

/// One CSV line under its file's header (of `fields` names) as a record of `K`: a line
/// with another number of fields is refused before its kind sees it. The import and
/// [`check_csv`] both read their lines through it.
pub(crate) fn parse_line<K: ImportKind>(
    record: &csv::StringRecord,
    header: &Header,
    fields: usize,
    line: u64,
    cx: &mut Context,
) -> Result<K::Record, RowError> {
    if record.len() != fields {
        return Err(RowError {
            line,
            column: None,
            message: format!("has {} fields, the header has {fields}", record.len()),
        });
    }
    K::parse(&Row { record, header, line }, cx)
}

/// Reads a whole CSV file of `kind` as an import would, resolving references against
/// `cx` and writing nothing: the number of rows when every row is valid, else the same
/// [`ImportError::Rejected`] (header problems, then every row's) or
/// [`ImportError::Csv`] the import would answer.
pub fn check_csv(kind: Kind, input: impl Read, cx: &mut Context) -> Result<u64, ImportError> {
    with_kind!(kind, K => check_kind::<K>(input, cx))
}

fn check_kind<K: ImportKind>(input: impl Read, cx: &mut Context) -> Result<u64, ImportError> {
    let file = "the file";
    let csv_error = |source| ImportError::Csv {
        file: file.into(),
        source,
    };
    let rejected = |count: u64, errors: Vec<RowError>| ImportError::Rejected {
        file: file.into(),
        count,
        errors,
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let names = reader.headers().map_err(csv_error)?.clone();
    let header = Header::resolve(&names, K::COLUMNS).map_err(|e| rejected(1, vec![e]))?;
    if !K::KEEPS_EXTRA_COLUMNS {
        header.reject_extra(K::COLUMNS).map_err(|e| rejected(1, vec![e]))?;
    }
    let (mut rows, mut count, mut errors) = (0u64, 0u64, Vec::new());
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error)? {
        rows += 1;
        let line = record.position().map_or(rows + 1, |p| p.line());
        if let Err(e) = parse_line::<K>(&record, &header, names.len(), line, cx) {
            count += 1;
            if errors.len() < LISTED_ERRORS {
                errors.push(e);
            }
        }
    }
    if count > 0 {
        return Err(rejected(count, errors));
    }
    Ok(rows)
}

/// Reads one JSON object as a record of `kind` (a REST write's item), as
/// [`crate::parse_json`] does, writing nothing.
pub fn check_json(
    kind: Kind,
    object: &serde_json::Map<String, serde_json::Value>,
    cx: &mut Context,
) -> Result<(), RowError> {
    with_kind!(kind, K => {
        let row = JsonRow::new(object, K::COLUMNS, K::KEEPS_EXTRA_COLUMNS, 1)?;
        K::parse(&row.row(), cx).map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Refers;

    fn known() -> Context {
        Context::none().knowing(Refers::Accounts, "a1", 1)
    }

    #[test]
    fn a_valid_file_counts_its_rows() {
        let csv = "account_id,product,start_date,mrr\na1,Pro,2024-01-01,100\na1,Pro,2024-02-01,120\n";
        assert_eq!(check_csv(Kind::Subscriptions, csv.as_bytes(), &mut known()).unwrap(), 2);
    }

    #[test]
    fn every_bad_row_is_named_as_the_import_names_it() {
        let csv = "account_id,product,start_date,mrr\na2,Pro,2024-01-01,100\na1,Pro,someday,100\na1,Pro\n";
        let Err(ImportError::Rejected { count, errors, .. }) =
            check_csv(Kind::Subscriptions, csv.as_bytes(), &mut known())
        else {
            panic!("the file is refused");
        };
        assert_eq!(count, 3);
        let lines: Vec<(u64, Option<&str>)> = errors.iter().map(|e| (e.line, e.column.as_deref())).collect();
        assert_eq!(lines, [(2, Some("account_id")), (3, Some("start_date")), (4, None)]);
    }

    #[test]
    fn a_header_without_a_required_column_is_refused() {
        let Err(ImportError::Rejected { errors, .. }) =
            check_csv(Kind::Subscriptions, "account_id,product\n".as_bytes(), &mut known())
        else {
            panic!("the header is refused");
        };
        assert!(errors[0].message.contains("start_date"), "{}", errors[0]);
    }

    #[test]
    fn a_json_object_is_checked_as_its_csv_line() {
        let object = serde_json::json!({"account_id": "a1", "product": "Pro", "start_date": "2024-01-01", "mrr": "x"});
        let error = check_json(Kind::Subscriptions, object.as_object().unwrap(), &mut known()).unwrap_err();
        assert_eq!(error.column.as_deref(), Some("mrr"));
    }
}
