//! Header resolution and field access for one CSV file.

use std::collections::HashMap;

use crate::RowError;

/// A column a file kind knows: its name in laer, other names it is accepted under,
/// and whether every file must have it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ColumnSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

pub(crate) const fn req(name: &'static str, aliases: &'static [&'static str]) -> ColumnSpec {
    ColumnSpec {
        name,
        aliases,
        required: true,
    }
}

pub(crate) const fn opt(name: &'static str, aliases: &'static [&'static str]) -> ColumnSpec {
    ColumnSpec {
        name,
        aliases,
        required: false,
    }
}

/// Where each known column sits in a file, and the columns laer does not know.
#[derive(Debug)]
pub(crate) struct Header {
    index: HashMap<&'static str, usize>,
    /// Header names that match no spec, with their positions.
    pub extra: Vec<(String, usize)>,
}

fn normalize(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

impl Header {
    /// Matches the header row against the specs. Names are compared case-insensitively,
    /// with spaces and dashes read as underscores.
    pub(crate) fn resolve(names: &csv::StringRecord, specs: &[ColumnSpec]) -> Result<Header, RowError> {
        let mut index = HashMap::new();
        let mut extra = Vec::new();
        for (i, raw) in names.iter().enumerate() {
            let name = normalize(raw);
            let spec = specs
                .iter()
                .find(|s| s.name == name || s.aliases.contains(&name.as_str()));
            match spec {
                Some(spec) => {
                    if index.insert(spec.name, i).is_some() {
                        return Err(RowError::header(format!(
                            "column {:?} appears twice (as {raw:?} and an earlier name for it)",
                            spec.name
                        )));
                    }
                }
                None => extra.push((raw.trim().to_string(), i)),
            }
        }
        let missing: Vec<&str> = specs
            .iter()
            .filter(|s| s.required && !index.contains_key(s.name))
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
        Ok(Header { index, extra })
    }

    pub(crate) fn has(&self, column: &str) -> bool {
        self.index.contains_key(column)
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

/// One data row with its line number, read through a [`Header`].
pub(crate) struct Row<'a> {
    pub record: &'a csv::StringRecord,
    pub header: &'a Header,
    pub line: u64,
}

impl<'a> Row<'a> {
    /// The trimmed field, or `None` when the column is absent or the field empty.
    pub(crate) fn get(&self, column: &'static str) -> Option<&'a str> {
        let i = *self.header.index.get(column)?;
        let value = self.record.get(i)?.trim();
        (!value.is_empty()).then_some(value)
    }

    pub(crate) fn required(&self, column: &'static str) -> Result<&'a str, RowError> {
        self.get(column)
            .ok_or_else(|| self.error(column, "is required but empty"))
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
