//! The columns of a kind, and the rows read through them: a CSV line under its file's
//! header, or a JSON object (a REST write) whose keys are the same column names.

use crate::RowError;

/// A column a kind knows: its name in laer, other names it is accepted under, and
/// whether every file (or JSON object) must have it.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

/// A required column.
pub const fn req(name: &'static str, aliases: &'static [&'static str]) -> ColumnSpec {
    ColumnSpec {
        name,
        aliases,
        required: true,
    }
}

/// An optional column.
pub const fn opt(name: &'static str, aliases: &'static [&'static str]) -> ColumnSpec {
    ColumnSpec {
        name,
        aliases,
        required: false,
    }
}

/// Where each known column sits in a file (or object), and the columns laer does not know.
#[derive(Debug)]
pub struct Header {
    /// Each known column's position; a few, searched for every field of every row, which
    /// costs less than hashing the name.
    index: Vec<(&'static str, usize)>,
    /// Header names that match no spec, with their positions.
    pub(crate) extra: Vec<(String, usize)>,
}

fn normalize(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

/// The spec a header name stands for: its name or one of its aliases, compared
/// case-insensitively, with spaces and dashes read as underscores.
pub(crate) fn spec_for<'s>(raw: &str, specs: &'s [ColumnSpec]) -> Option<&'s ColumnSpec> {
    let name = normalize(raw);
    specs
        .iter()
        .find(|s| s.name == name || s.aliases.contains(&name.as_str()))
}

impl Header {
    /// Matches the header row against the specs. Names are compared case-insensitively,
    /// with spaces and dashes read as underscores.
    pub(crate) fn resolve(names: &csv::StringRecord, specs: &[ColumnSpec]) -> Result<Header, RowError> {
        let header = Header::locate(names, specs)?;
        let missing: Vec<&str> = specs
            .iter()
            .filter(|s| s.required && !header.has(s.name))
            .map(|s| s.name)
            .collect();
        if !missing.is_empty() {
            let found: Vec<&str> = names.iter().collect();
            return Err(RowError::header(format!(
                "missing required column(s) {}; the header has {}",
                missing.join(", "),
                found.join(", ")
            )));
        }
        Ok(header)
    }

    /// Where each name sits, without asking for the required ones.
    pub(crate) fn locate(names: &csv::StringRecord, specs: &[ColumnSpec]) -> Result<Header, RowError> {
        let mut index: Vec<(&'static str, usize)> = Vec::new();
        let mut extra = Vec::new();
        for (i, raw) in names.iter().enumerate() {
            match spec_for(raw, specs) {
                Some(spec) => {
                    if index.iter().any(|&(name, _)| name == spec.name) {
                        return Err(RowError::header(format!(
                            "column {:?} appears twice (as {raw:?} and an earlier name for it)",
                            spec.name
                        )));
                    }
                    index.push((spec.name, i));
                }
                None => extra.push((raw.trim().to_string(), i)),
            }
        }
        Ok(Header { index, extra })
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.index.iter().find(|&&(name, _)| name == column).map(|&(_, i)| i)
    }

    pub(crate) fn has(&self, column: &str) -> bool {
        self.position(column).is_some()
    }

    /// Rejects columns no spec knows, so that a misspelt column is not silently dropped.
    pub(crate) fn reject_extra(&self, specs: &[ColumnSpec]) -> Result<(), RowError> {
        if self.extra.is_empty() {
            return Ok(());
        }
        let unknown: Vec<&str> = self.extra.iter().map(|(n, _)| n.as_str()).collect();
        let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
        Err(RowError::header(format!(
            "unknown column(s) {}; expected columns are {}",
            unknown.join(", "),
            known.join(", ")
        )))
    }
}

/// One record from outside, read through its kind's columns: a CSV line under its file's
/// [`Header`], or a [`JsonRow`]. `line` is the CSV line, or the object's place in a list.
pub struct Row<'a> {
    pub(crate) record: &'a csv::StringRecord,
    pub(crate) header: &'a Header,
    pub(crate) line: u64,
}

impl<'a> Row<'a> {
    /// Whether the row's source has the column at all (a CSV header, a JSON object's keys).
    pub(crate) fn has(&self, column: &'static str) -> bool {
        self.header.has(column)
    }

    /// The columns no spec knows, with their values (only kinds that keep extra columns
    /// see any).
    pub(crate) fn extra(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.header
            .extra
            .iter()
            .filter_map(|(name, i)| Some((name.as_str(), self.record.get(*i)?.trim())))
    }

    /// The trimmed field, or `None` when the column is absent or the field empty.
    pub(crate) fn get(&self, column: &'static str) -> Option<&'a str> {
        let i = self.header.position(column)?;
        let value = self.record.get(i)?.trim();
        (!value.is_empty()).then_some(value)
    }

    pub(crate) fn required(&self, column: &'static str) -> Result<&'a str, RowError> {
        self.get(column).ok_or_else(|| {
            // A CSV file has every required column (its header is checked first); a JSON
            // object may leave one out.
            if self.has(column) {
                self.error(column, "is required but empty")
            } else {
                self.error(column, "is required")
            }
        })
    }

    pub(crate) fn error(&self, column: &str, message: impl Into<String>) -> RowError {
        RowError {
            line: self.line,
            column: Some(column.to_string()),
            message: message.into(),
        }
    }

    /// Parses an optional field.
    pub(crate) fn parse<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, RowError> {
        self.get(column)
            .map(|v| parse(v).map_err(|m| self.error(column, m)))
            .transpose()
    }

    /// Parses a required field.
    pub(crate) fn parse_required<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, RowError> {
        parse(self.required(column)?).map_err(|m| self.error(column, m))
    }

    pub(crate) fn text(&self, column: &'static str) -> Option<String> {
        self.get(column).map(str::to_string)
    }
}

/// A JSON object read as a row of a kind: its keys are the kind's column names (or their
/// aliases, matched as a CSV header is), its values text, numbers or booleans (`null` is
/// an empty field). The same parsing then applies as to a CSV line, with the same errors.
pub struct JsonRow {
    record: csv::StringRecord,
    header: Header,
    item: u64,
}

impl JsonRow {
    /// Reads `object`, the `item`th of a list (which errors name as their line), with the
    /// columns `specs`. Unknown keys are refused unless `keeps_extra` (see
    /// [`ImportKind::KEEPS_EXTRA_COLUMNS`](crate::ImportKind::KEEPS_EXTRA_COLUMNS)).
    pub fn new(
        object: &serde_json::Map<String, serde_json::Value>,
        specs: &[ColumnSpec],
        keeps_extra: bool,
        item: u64,
    ) -> Result<JsonRow, RowError> {
        let at_item = |mut e: RowError| {
            e.line = item;
            e
        };
        let mut names = csv::StringRecord::new();
        let mut record = csv::StringRecord::new();
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(s) => {
                    if let Some(message) = field_problem(s) {
                        return Err(RowError {
                            line: item,
                            column: Some(column_of(key, specs).to_string()),
                            message,
                        });
                    }
                    s.clone()
                }
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    return Err(RowError {
                        line: item,
                        column: Some(column_of(key, specs).to_string()),
                        message: "expected text, a number or true/false".to_string(),
                    });
                }
            };
            if key.contains('\0') || key.chars().count() > laer_core::parse::MAX_LINE_CHARS {
                return Err(RowError {
                    line: item,
                    column: None,
                    message: format!(
                        "a field name must be at most {} characters, without NUL",
                        laer_core::parse::MAX_LINE_CHARS
                    ),
                });
            }
            names.push_field(key);
            record.push_field(&text);
        }
        let header = Header::locate(&names, specs).map_err(at_item)?;
        if !keeps_extra {
            // The field is the first unknown key.
            let unknown = header.extra.first().map(|(name, _)| name.clone());
            header.reject_extra(specs).map_err(|mut e| {
                e.column = unknown;
                at_item(e)
            })?;
        }
        Ok(JsonRow { record, header, item })
    }

    /// The object as a [`Row`] for its kind's `parse`.
    pub fn row(&self) -> Row<'_> {
        Row {
            record: &self.record,
            header: &self.header,
            line: self.item,
        }
    }
}

/// What is wrong with a field's text that no kind would take: neither engine stores a
/// NUL in text, and no field of a person's wants more than a page of it.
pub(crate) fn field_problem(text: &str) -> Option<String> {
    if text.contains('\0') {
        Some("must not contain a NUL character".to_string())
    } else {
        laer_core::parse::bounded(text, laer_core::parse::MAX_TEXT_CHARS).err()
    }
}

/// The column a JSON key names (its spec's name, for an alias), or the key itself.
fn column_of<'a>(key: &'a str, specs: &[ColumnSpec]) -> &'a str {
    let name = normalize(key);
    specs
        .iter()
        .find(|s| s.name == name || s.aliases.contains(&name.as_str()))
        .map_or(key, |s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ColumnSpec] = &[
        req("account_id", &["account"]),
        req("event_time", &["timestamp"]),
        opt("user_id", &["user"]),
        opt("event_value", &["value"]),
    ];

    #[test]
    fn fields_are_found_by_their_column_whatever_its_name_and_place() {
        let names = csv::StringRecord::from(vec!["Value", "extra", "TIMESTAMP", "Account"]);
        let header = Header::resolve(&names, SPECS).unwrap();
        let record = csv::StringRecord::from(vec![" 2.5 ", "x", "2026-01-02", "acme"]);
        let row = Row {
            record: &record,
            header: &header,
            line: 2,
        };
        assert_eq!(row.get("account_id"), Some("acme"));
        assert_eq!(row.get("event_time"), Some("2026-01-02"));
        assert_eq!(row.get("event_value"), Some("2.5"));
        assert!(!row.has("user_id"));
        assert_eq!(row.get("user_id"), None);
        assert_eq!(header.extra, vec![("extra".to_string(), 1)]);
    }

    #[test]
    fn a_column_named_twice_is_refused() {
        let names = csv::StringRecord::from(vec!["account_id", "event_time", "account"]);
        let error = Header::resolve(&names, SPECS).err().unwrap();
        assert!(
            error.message.contains("\"account_id\" appears twice"),
            "{}",
            error.message
        );
    }
}
