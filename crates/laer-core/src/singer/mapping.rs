//! A mapping: for each stream of a tap, the laer import kind its records become, where
//! each column's value is in a record and how it is converted, and how a record finds its
//! account. Written as TOML (docs/singer.md); read by [`Mapping::from_toml`], applied to
//! one record by [`StreamMapping::map`]. Which kinds and columns exist is the import's
//! declaration, checked by the caller when a mapping is loaded.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::convert::{Convert, text};
use super::{Path, lookup};
use crate::billing::connection::{DomainIndex, email_domain, normalise_domain};

/// A mapping file, read.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The tap it is written for, as the file says (shown in reports).
    pub tap: Option<String>,
    pub streams: Vec<StreamMapping>,
}

/// What one stream's records become: one laer kind (a stream may have several entries).
#[derive(Debug, Clone)]
pub struct StreamMapping {
    pub stream: String,
    /// The import kind's name (`accounts`, `support-cases`, ...).
    pub kind: String,
    /// The columns, in the order [`StreamMapping::map`] gives their values.
    pub columns: Vec<String>,
    fields: Vec<Field>,
    /// How a record finds its account, tried in order (empty: the kind refers to none, or
    /// a field gives `account_id` itself).
    account: Vec<AccountRule>,
    /// Only records that pass all are mapped; the others are skipped, and counted.
    when: Vec<When>,
}

#[derive(Debug, Clone)]
struct Field {
    column: String,
    source: Source,
    convert: Convert,
    map: Option<BTreeMap<String, String>>,
    default: Option<String>,
    prefix: Option<String>,
}

#[derive(Debug, Clone)]
enum Source {
    Path(Path),
    /// Several values joined (a first and a last name).
    Paths(Vec<Path>, String),
    Value(String),
}

/// How a record names its account.
#[derive(Debug, Clone)]
struct AccountRule {
    path: Path,
    by: By,
    prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum By {
    ExternalId,
    /// The account whose attribute of this name has the value (a CRM's id for it).
    Attribute(String),
    /// The one account with the domain (its `domain` attribute, its contacts' emails).
    Domain,
    /// The one account with the email address's domain.
    EmailDomain,
    /// The account of the contact with this external id (a helpdesk's requester).
    Contact,
}

#[derive(Debug, Clone)]
struct When {
    path: Path,
    test: Test,
}

/// What a `when` asks of the value at its path.
#[derive(Debug, Clone)]
enum Test {
    /// The value's text is one of these.
    OneOf(Vec<String>),
    /// The value is there (true) or not (false): missing, null and "" are not there.
    Present(bool),
}

impl When {
    fn holds(&self, record: &Map<String, Value>) -> bool {
        let value = lookup(record, &self.path).and_then(|v| text(v).ok().flatten());
        match &self.test {
            Test::OneOf(values) => value.is_some_and(|v| values.contains(&v)),
            Test::Present(wanted) => value.is_some_and(|v| !v.is_empty()) == *wanted,
        }
    }
}

/// Why a mapping file is refused.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("not a mapping file: {0}")]
    Toml(#[source] toml::de::Error),
    #[error("stream {stream:?} ({kind}): {message}")]
    Stream {
        stream: String,
        kind: String,
        message: String,
    },
}

/// Why one record is not mapped: the column, a reason that groups like records (no
/// values), and the record's own detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    pub column: String,
    pub reason: String,
    pub detail: String,
}

impl std::fmt::Display for Unmapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.column, self.detail)
    }
}

/// What a record became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// Each column's text, in the order of [`StreamMapping::columns`] (`None`: empty).
    Row(Vec<Option<String>>),
    /// The mapping's `when` leaves it out.
    Skipped,
    Unmapped(Unmapped),
}

// ---- the file ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMapping {
    tap: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // documentation for the reader of the file
    description: Option<String>,
    #[serde(default)]
    streams: Vec<FileStream>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStream {
    stream: String,
    kind: String,
    #[serde(default)]
    account: OneOrMany<FileAccount>,
    #[serde(default)]
    when: OneOrMany<FileWhen>,
    #[serde(default)]
    fields: BTreeMap<String, FileField>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAccount {
    path: String,
    by: String,
    attribute: Option<String>,
    prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWhen {
    path: String,
    #[serde(rename = "in")]
    one_of: Option<Vec<String>>,
    present: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileField {
    Path(String),
    Spec(FileFieldSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFieldSpec {
    path: Option<String>,
    paths: Option<Vec<String>>,
    value: Option<String>,
    #[serde(rename = "as", default)]
    convert: Convert,
    map: Option<BTreeMap<String, String>>,
    default: Option<String>,
    prefix: Option<String>,
    join: Option<String>,
}

/// The column a record's account goes in.
pub const ACCOUNT_COLUMN: &str = "account_id";
/// The accounts kind's own id column, which an `account` rule fills with an existing
/// account's id.
const EXTERNAL_ID: &str = "external_id";
const ACCOUNTS: &str = "accounts";
/// In a field's `map`, the value for every text the map does not list.
pub const OTHERWISE: &str = "_";

impl Mapping {
    /// Reads a mapping file; every problem names its stream.
    pub fn from_toml(text: &str) -> Result<Mapping, MappingError> {
        let file: FileMapping = toml::from_str(text).map_err(MappingError::Toml)?;
        let streams = file
            .streams
            .into_iter()
            .map(StreamMapping::from_file)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Mapping { tap: file.tap, streams })
    }

    /// The entries for `stream`, in the file's order.
    pub fn for_stream<'a>(&'a self, stream: &'a str) -> impl Iterator<Item = &'a StreamMapping> + 'a {
        self.streams.iter().filter(move |s| s.stream == stream)
    }

    /// The account attributes any entry finds accounts by.
    pub fn account_attributes(&self) -> BTreeSet<String> {
        self.streams
            .iter()
            .flat_map(|s| &s.account)
            .filter_map(|rule| match &rule.by {
                By::Attribute(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether any entry finds accounts by a contact's external id.
    pub fn uses_contacts(&self) -> bool {
        self.streams
            .iter()
            .flat_map(|s| &s.account)
            .any(|rule| rule.by == By::Contact)
    }

    /// Whether any entry finds accounts by domain (so the contacts' emails are needed).
    pub fn uses_domains(&self) -> bool {
        self.streams
            .iter()
            .flat_map(|s| &s.account)
            .any(|rule| matches!(rule.by, By::Domain | By::EmailDomain))
    }
}

impl StreamMapping {
    fn from_file(file: FileStream) -> Result<StreamMapping, MappingError> {
        let refuse = |message: String| MappingError::Stream {
            stream: file.stream.clone(),
            kind: file.kind.clone(),
            message,
        };
        let path = |text: &str| Path::parse(text).map_err(refuse);
        let mut fields = Vec::new();
        for (column, field) in &file.fields {
            let field = match field {
                FileField::Path(text) => Field {
                    column: column.clone(),
                    source: Source::Path(path(text)?),
                    convert: Convert::Text,
                    map: None,
                    default: None,
                    prefix: None,
                },
                FileField::Spec(spec) => {
                    let source = match (&spec.path, &spec.paths, &spec.value) {
                        (Some(p), None, None) => Source::Path(path(p)?),
                        (None, Some(ps), None) if !ps.is_empty() => Source::Paths(
                            ps.iter().map(|p| path(p)).collect::<Result<_, _>>()?,
                            spec.join.clone().unwrap_or_else(|| " ".into()),
                        ),
                        (None, None, Some(v)) => Source::Value(v.clone()),
                        _ => {
                            return Err(refuse(format!(
                                "field {column}: give one of path, paths (a list) or value"
                            )));
                        }
                    };
                    if spec.join.is_some() && spec.paths.is_none() {
                        return Err(refuse(format!("field {column}: join goes with paths")));
                    }
                    Field {
                        column: column.clone(),
                        source,
                        convert: spec.convert,
                        map: spec.map.clone(),
                        default: spec.default.clone(),
                        prefix: spec.prefix.clone(),
                    }
                }
            };
            fields.push(field);
        }
        let mut account = Vec::new();
        for rule in file.account.into_vec() {
            let by = match (rule.by.as_str(), rule.attribute) {
                ("external_id", None) => By::ExternalId,
                ("attribute", Some(name)) => By::Attribute(name),
                ("domain", None) => By::Domain,
                ("email_domain", None) => By::EmailDomain,
                ("contact", None) => By::Contact,
                ("attribute", None) => return Err(refuse("account: by = \"attribute\" needs attribute = NAME".into())),
                (_, Some(_)) => return Err(refuse("account: attribute goes with by = \"attribute\"".into())),
                (other, None) => {
                    return Err(refuse(format!(
                        "account: by {other:?}; expected external_id, attribute, domain, email_domain or contact"
                    )));
                }
            };
            account.push(AccountRule {
                path: path(&rule.path)?,
                by,
                prefix: rule.prefix,
            });
        }
        let account_column = if file.kind == ACCOUNTS {
            EXTERNAL_ID
        } else {
            ACCOUNT_COLUMN
        };
        if !account.is_empty() && fields.iter().any(|f| f.column == account_column) && file.kind != ACCOUNTS {
            return Err(refuse(format!(
                "{account_column} is given both by a field and by account; keep one"
            )));
        }
        let mut columns: Vec<String> = fields.iter().map(|f| f.column.clone()).collect();
        if !account.is_empty() && !columns.iter().any(|c| c == account_column) {
            columns.push(account_column.to_string());
        }
        let when = file
            .when
            .into_vec()
            .into_iter()
            .map(|w| {
                let test = match (w.one_of, w.present) {
                    (Some(values), None) => Test::OneOf(values),
                    (None, Some(present)) => Test::Present(present),
                    _ => {
                        return Err(refuse(
                            "when: give either `in` (a list of values) or `present` (true or false)".to_string(),
                        ));
                    }
                };
                Ok::<_, MappingError>(When {
                    path: path(&w.path)?,
                    test,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StreamMapping {
            stream: file.stream,
            kind: file.kind,
            columns,
            fields,
            account,
            when,
        })
    }

    /// Whether the entry finds accounts (so the kind must have an account column).
    pub fn finds_accounts(&self) -> bool {
        !self.account.is_empty()
    }

    /// The paths the entry reads, with the column each serves, to check against a
    /// stream's schema.
    pub fn paths(&self) -> Vec<(&str, &Path)> {
        let mut paths = Vec::new();
        for field in &self.fields {
            match &field.source {
                Source::Path(p) => paths.push((field.column.as_str(), p)),
                Source::Paths(ps, _) => paths.extend(ps.iter().map(|p| (field.column.as_str(), p))),
                Source::Value(_) => {}
            }
        }
        for rule in &self.account {
            paths.push((ACCOUNT_COLUMN, &rule.path));
        }
        for when in &self.when {
            paths.push(("when", &when.path));
        }
        paths
    }

    /// Maps one record: each column's text, or why the record cannot be mapped.
    pub fn map(&self, record: &Map<String, Value>, accounts: &AccountIndex) -> Mapped {
        match self.read(record) {
            Read::Row(row) => match row.resolve(self, accounts) {
                Ok(values) => Mapped::Row(values),
                Err(why) => Mapped::Unmapped(why),
            },
            Read::Skipped => Mapped::Skipped,
            Read::Unmapped(why) => Mapped::Unmapped(why),
        }
    }

    /// What a record gives, before its account is found: everything [`StreamMapping::map`]
    /// needs of the record itself, so that the record can be let go.
    pub fn read(&self, record: &Map<String, Value>) -> Read {
        if !self.when.iter().all(|when| when.holds(record)) {
            return Read::Skipped;
        }
        let mut values = Vec::with_capacity(self.columns.len());
        for field in &self.fields {
            match field.value(record) {
                Ok(value) => values.push(value),
                Err(unmapped) => return Read::Unmapped(unmapped),
            }
        }
        let accounts = self.account.iter().map(|rule| rule.value(record)).collect();
        Read::Row(ReadRow { values, accounts })
    }
}

/// A record as read: each field's text, and each account rule's value (or why it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Row(ReadRow),
    Skipped,
    Unmapped(Unmapped),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRow {
    values: Vec<Option<String>>,
    accounts: Vec<Result<String, Unmapped>>,
}

impl ReadRow {
    /// Each column's text, the account found by the first rule that finds one; or why
    /// no account is found.
    pub fn resolve(self, spec: &StreamMapping, accounts: &AccountIndex) -> Result<Vec<Option<String>>, Unmapped> {
        let mut row = self.values;
        if spec.account.is_empty() {
            return Ok(row);
        }
        let account_column = if spec.kind == ACCOUNTS {
            EXTERNAL_ID
        } else {
            ACCOUNT_COLUMN
        };
        let at = spec
            .columns
            .iter()
            .position(|c| c == account_column)
            .unwrap_or(row.len());
        // Every rule's problem is told; the last rule's (the final fallback) groups it.
        let mut problems: Vec<Unmapped> = Vec::new();
        let mut found = None;
        for (rule, value) in spec.account.iter().zip(self.accounts) {
            match value.and_then(|value| rule.lookup(&value, accounts)) {
                Ok(external_id) => {
                    found = Some(external_id);
                    break;
                }
                Err(problem) => problems.push(problem),
            }
        }
        match found {
            Some(external_id) if at == row.len() => row.push(Some(external_id)),
            Some(external_id) => row[at] = Some(external_id),
            // An account's own record that matches no account is a new account, under the
            // id its field gives.
            None if spec.kind == ACCOUNTS && row.get(at).is_some_and(Option::is_some) => {}
            None => {
                let detail = problems
                    .iter()
                    .map(|p| p.detail.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut last = problems
                    .pop()
                    .unwrap_or_else(|| unmapped(ACCOUNT_COLUMN, "no account rule", String::new()));
                last.detail = detail;
                return Err(last);
            }
        }
        Ok(row)
    }
}

fn unmapped(column: &str, reason: &str, detail: String) -> Unmapped {
    Unmapped {
        column: column.to_string(),
        reason: reason.to_string(),
        detail: if detail.is_empty() { reason.to_string() } else { detail },
    }
}

impl Field {
    /// The column's text from a record, or why it has none that laer can read.
    fn value(&self, record: &Map<String, Value>) -> Result<Option<String>, Unmapped> {
        let joined = match &self.source {
            Source::Value(v) => Some(v.clone()),
            Source::Path(path) => match lookup(record, path) {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => {
                    let parts = items
                        .iter()
                        .map(|item| self.scalar(item, path))
                        .filter_map(Result::transpose)
                        .collect::<Result<Vec<_>, _>>()?;
                    (!parts.is_empty()).then(|| parts.join(";"))
                }
                Some(value) => self.scalar(value, path)?,
            },
            Source::Paths(paths, join) => {
                let mut parts = Vec::new();
                for path in paths {
                    if let Some(value) = lookup(record, path)
                        && let Some(part) = self.scalar(value, path)?
                        && !part.trim().is_empty()
                    {
                        parts.push(part);
                    }
                }
                (!parts.is_empty()).then(|| parts.join(join))
            }
        };
        Ok(joined.or_else(|| self.default.clone()))
    }

    /// One scalar through the conversion, the map and the prefix.
    fn scalar(&self, value: &Value, path: &Path) -> Result<Option<String>, Unmapped> {
        let column = &self.column;
        let Some(raw) = text(value).map_err(|m| unmapped(column, "not a value", format!("{path}: {m}")))? else {
            return Ok(None);
        };
        let converted = self.convert.apply(&raw).map_err(|m| {
            unmapped(
                column,
                &format!("not {}", convert_words(self.convert)),
                format!("{path}: {m}"),
            )
        })?;
        let mapped = match &self.map {
            None => converted,
            Some(map) => match map.get(&converted).or_else(|| map.get(OTHERWISE)) {
                Some(to) => to.clone(),
                None => {
                    let known: Vec<&str> = map.keys().map(String::as_str).collect();
                    return Err(unmapped(
                        column,
                        "a value the map does not list",
                        format!("{path}: {converted:?} is not in the map ({})", known.join(", ")),
                    ));
                }
            },
        };
        Ok(Some(match &self.prefix {
            Some(prefix) => format!("{prefix}{mapped}"),
            None => mapped,
        }))
    }
}

fn convert_words(convert: Convert) -> &'static str {
    match convert {
        Convert::Text => "text",
        Convert::Date => "a date",
        Convert::Datetime => "a time",
        Convert::Number => "a number",
        Convert::Money | Convert::Cents => "an amount",
        Convert::Bool => "true or false",
        Convert::Lower => "text",
        Convert::Domain => "a domain",
        Convert::EmailDomain => "an email address",
        Convert::MillisecondsToMinutes | Convert::SecondsToMinutes => "a duration",
    }
}

impl AccountRule {
    /// The record's value for this rule, with the rule's prefix.
    fn value(&self, record: &Map<String, Value>) -> Result<String, Unmapped> {
        let path = &self.path;
        let value = lookup(record, path)
            .map(text)
            .transpose()
            .map_err(|m| unmapped(ACCOUNT_COLUMN, "not a value", format!("{path}: {m}")))?
            .flatten()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                unmapped(
                    ACCOUNT_COLUMN,
                    &format!("no {path}"),
                    format!("the record has no {path}"),
                )
            })?;
        Ok(match &self.prefix {
            Some(prefix) => format!("{prefix}{value}"),
            None => value,
        })
    }

    /// The external id of the account of the contact `value` names.
    fn contacts_account(&self, value: &str, accounts: &AccountIndex) -> Option<String> {
        let id = accounts.contacts.get(value)?;
        accounts.external_of.get(id).cloned()
    }

    /// The external id of the one account `value` names by this rule.
    fn lookup(&self, value: &str, accounts: &AccountIndex) -> Result<String, Unmapped> {
        let path = &self.path;
        match &self.by {
            By::ExternalId => accounts
                .external_ids
                .contains(value)
                .then(|| value.to_string())
                .ok_or_else(|| {
                    unmapped(
                        ACCOUNT_COLUMN,
                        "no account has that external id",
                        format!("no account has the external id {value:?} ({path})"),
                    )
                }),
            By::Attribute(name) => match accounts.by_attribute.get(name).and_then(|values| values.get(value)) {
                Some(ids) if ids.len() == 1 => Ok(ids[0].clone()),
                Some(ids) => Err(unmapped(
                    ACCOUNT_COLUMN,
                    &format!("several accounts have the same {name}"),
                    format!("{} accounts have {name} = {value:?}", ids.len()),
                )),
                None => Err(unmapped(
                    ACCOUNT_COLUMN,
                    &format!("no account has that {name}"),
                    format!("no account has {name} = {value:?} ({path})"),
                )),
            },
            By::Contact => self.contacts_account(value, accounts).ok_or_else(|| {
                unmapped(
                    ACCOUNT_COLUMN,
                    "no contact has that external id",
                    format!("no contact has the external id {value:?} ({path})"),
                )
            }),
            By::Domain | By::EmailDomain => {
                let domain = if self.by == By::Domain {
                    normalise_domain(value)
                } else {
                    email_domain(value)
                }
                .ok_or_else(|| unmapped(ACCOUNT_COLUMN, "no domain", format!("{path}: {value:?} has no domain")))?;
                accounts
                    .with_domain(&domain)
                    .map_err(|(reason, detail)| unmapped(ACCOUNT_COLUMN, reason, detail))
            }
        }
    }
}

/// The accounts a record may name, by each way a mapping finds them: external id, an
/// attribute's value, a domain. Built from the store when a batch is written (and again
/// after a batch wrote accounts or contacts).
#[derive(Debug, Default)]
pub struct AccountIndex {
    external_ids: HashSet<String>,
    /// Attribute name → value → the accounts' external ids.
    by_attribute: HashMap<String, HashMap<String, Vec<String>>>,
    domains: DomainIndex,
    external_of: HashMap<i64, String>,
    /// Contact external id → its account's laer id.
    contacts: HashMap<String, i64>,
}

/// One account as the index reads it.
pub struct AccountKeys<'a> {
    pub id: i64,
    pub external_id: &'a str,
    pub attributes: &'a BTreeMap<String, String>,
}

impl AccountIndex {
    /// From every account, the attributes a mapping finds accounts by, and each account's
    /// domains (its `domain` attribute and its contacts' emails: `(account id, text)`).
    pub fn new<'a>(
        accounts: impl IntoIterator<Item = AccountKeys<'a>>,
        attributes: &BTreeSet<String>,
        domains: impl IntoIterator<Item = (i64, &'a str)>,
    ) -> AccountIndex {
        let mut index = AccountIndex::default();
        for account in accounts {
            index.external_ids.insert(account.external_id.to_string());
            index.external_of.insert(account.id, account.external_id.to_string());
            for name in attributes {
                if let Some(value) = account.attributes.get(name).filter(|v| !v.is_empty()).cloned() {
                    index
                        .by_attribute
                        .entry(name.clone())
                        .or_default()
                        .entry(value)
                        .or_default()
                        .push(account.external_id.to_string());
                }
            }
        }
        index.domains = DomainIndex::new(domains);
        index
    }

    /// The index, knowing each contact's account: `(contact external id, account id)`.
    pub fn with_contacts(mut self, contacts: impl IntoIterator<Item = (String, i64)>) -> AccountIndex {
        self.contacts = contacts.into_iter().collect();
        self
    }

    fn with_domain(&self, domain: &str) -> Result<String, (&'static str, String)> {
        let ids = self.domains.accounts_with(domain);
        match ids.map(|ids| ids.iter().collect::<Vec<_>>()).as_deref() {
            Some([id]) => self.external_of.get(id).cloned().ok_or((
                "no account has that domain",
                format!("no account has the domain {domain}"),
            )),
            Some([_, _, ..]) => Err((
                "several accounts have the domain",
                format!("several accounts have the domain {domain}"),
            )),
            _ => Err((
                "no account has that domain",
                format!("no account has the domain {domain}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HUBSPOTISH: &str = r#"
tap = "tap-example"

[[streams]]
stream = "companies"
kind = "accounts"
account = { path = "properties.domain", by = "domain" }
[streams.fields]
external_id = { path = "companyId", prefix = "hs-" }
name = "properties.name"
renewal_date = { path = "properties.renewal", as = "date" }
hubspot_id = "companyId"

[[streams]]
stream = "contacts"
kind = "contacts"
account = [
  { path = "companyId", by = "attribute", attribute = "hubspot_id" },
  { path = "email", by = "email_domain" },
]
[streams.fields]
external_id = { path = "id", prefix = "hs-contact-" }
name = { paths = ["first", "last"] }
email = "email"
stakeholder_team = { path = "team", map = { "Finance" = "finance", "IT" = "technical", "_" = "business" } }

[[streams]]
stream = "engagements"
kind = "meetings"
when = { path = "type", in = ["MEETING"] }
account = { path = "companyIds[0]", by = "attribute", attribute = "hubspot_id" }
[streams.fields]
external_id = "id"
held_at = { path = "timestamp", as = "datetime" }
contacts = { path = "contactIds", prefix = "hs-contact-" }
duration_minutes = { path = "durationMs", as = "milliseconds_to_minutes" }
kind = { value = "meeting" }
"#;

    fn index() -> AccountIndex {
        let attributes = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let acme = attributes(&[("domain", "acme.com"), ("hubspot_id", "11")]);
        let umbra = attributes(&[("hubspot_id", "12")]);
        let accounts = [
            AccountKeys {
                id: 1,
                external_id: "acme",
                attributes: &acme,
            },
            AccountKeys {
                id: 2,
                external_id: "umbra",
                attributes: &umbra,
            },
            AccountKeys {
                id: 3,
                external_id: "umbra-2",
                attributes: &umbra,
            },
        ];
        let attributes = BTreeSet::from(["hubspot_id".to_string()]);
        AccountIndex::new(accounts, &attributes, [(1, "acme.com"), (2, "ann@umbra.io")])
    }

    fn record(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn row(mapped: Mapped) -> Vec<Option<String>> {
        match mapped {
            Mapped::Row(row) => row,
            other => panic!("not mapped: {other:?}"),
        }
    }

    #[test]
    fn when_present_keeps_records_that_have_a_value() {
        let text = r#"
[[streams]]
stream = "companies"
kind = "owners"
when = { path = "owner", present = true }
account = { path = "id", by = "external_id" }
[streams.fields]
team_member_id = "owner"
role = { value = "csm" }

[[streams]]
stream = "leads"
kind = "contacts"
when = { path = "owner", present = false }
[streams.fields]
external_id = "id"
"#;
        let mapping = Mapping::from_toml(text).unwrap();
        let owned = mapping.for_stream("companies").next().unwrap();
        let both = Mapping::from_toml(&text.replacen(
            r#"when = { path = "owner", present = true }"#,
            r#"when = [{ path = "owner", present = true }, { path = "id", in = ["acme"] }]"#,
            1,
        ))
        .unwrap();
        let both = both.for_stream("companies").next().unwrap();
        let acme = record(json!({"id": "acme", "owner": "tm-1"}));
        let umbra = record(json!({"id": "umbra", "owner": "tm-1"}));
        assert!(!matches!(both.map(&acme, &index()), Mapped::Skipped));
        assert!(
            matches!(both.map(&umbra, &index()), Mapped::Skipped),
            "every `when` must hold"
        );
        let unowned = mapping.for_stream("leads").next().unwrap();
        for (value, has) in [
            (json!({"id": "acme", "owner": "tm-1"}), true),
            (json!({"id": "acme", "owner": 7}), true),
            (json!({"id": "acme", "owner": ""}), false),
            (json!({"id": "acme", "owner": null}), false),
            (json!({"id": "acme"}), false),
        ] {
            let r = record(value.clone());
            assert_eq!(!matches!(owned.map(&r, &index()), Mapped::Skipped), has, "{value}");
            assert_eq!(matches!(unowned.map(&r, &index()), Mapped::Skipped), has, "{value}");
        }
        for when in [
            r#"{ path = "owner" }"#,
            r#"{ path = "owner", present = true, in = ["a"] }"#,
        ] {
            let text = format!("[[streams]]\nstream = \"s\"\nkind = \"contacts\"\nwhen = {when}\n");
            let error = Mapping::from_toml(&text).unwrap_err().to_string();
            assert!(error.contains("either `in`"), "{error}");
        }
    }

    #[test]
    fn a_company_updates_the_account_with_its_domain_or_makes_one() {
        let mapping = Mapping::from_toml(HUBSPOTISH).unwrap();
        let companies = mapping.for_stream("companies").next().unwrap();
        assert_eq!(companies.columns, ["external_id", "hubspot_id", "name", "renewal_date"]);
        let known = row(companies.map(
            &record(json!({"companyId": 11, "properties": {"name": "Acme", "domain": "https://www.acme.com", "renewal": 1772323200000i64}})),
            &index(),
        ));
        assert_eq!(
            known,
            [
                Some("acme".into()),
                Some("11".into()),
                Some("Acme".into()),
                Some("2026-03-01".into())
            ]
        );
        let new = row(companies.map(
            &record(json!({"companyId": 99, "properties": {"name": "Nova", "domain": "nova.dev"}})),
            &index(),
        ));
        assert_eq!(new[0].as_deref(), Some("hs-99"));
        assert_eq!(new[3], None);
    }

    #[test]
    fn a_contact_finds_its_account_by_crm_id_then_by_email() {
        let mapping = Mapping::from_toml(HUBSPOTISH).unwrap();
        let contacts = mapping.for_stream("contacts").next().unwrap();
        assert_eq!(
            contacts.columns,
            ["email", "external_id", "name", "stakeholder_team", "account_id"]
        );
        let by_id = row(contacts.map(
            &record(
                json!({"id": 5, "companyId": "11", "first": "Ann", "last": "Lee", "email": "ann@x.org", "team": "IT"}),
            ),
            &index(),
        ));
        assert_eq!(by_id[2].as_deref(), Some("Ann Lee"));
        assert_eq!(by_id[3].as_deref(), Some("technical"));
        assert_eq!(by_id[4].as_deref(), Some("acme"));
        let by_email = row(contacts.map(
            &record(json!({"id": 6, "first": "Bo", "email": "bo@umbra.io", "team": "Ops"})),
            &index(),
        ));
        assert_eq!(by_email[3].as_deref(), Some("business"), "the map's otherwise");
        assert_eq!(by_email[4].as_deref(), Some("umbra"));
        let Mapped::Unmapped(why) = contacts.map(&record(json!({"id": 7, "companyId": "12"})), &index()) else {
            panic!("two accounts share the id")
        };
        assert_eq!(why.column, "account_id");
        assert_eq!(why.reason, "no email");
        assert_eq!(
            why.detail,
            "2 accounts have hubspot_id = \"12\"; the record has no email"
        );
        let Mapped::Unmapped(why) = contacts.map(&record(json!({"id": 8, "email": "zed@gmail.com"})), &index()) else {
            panic!("a shared mail domain names no account")
        };
        assert_eq!(why.reason, "no account has that domain", "grouped by the last rule");
        assert_eq!(
            why.detail,
            "the record has no companyId; no account has the domain gmail.com"
        );
    }

    #[test]
    fn engagements_are_filtered_and_lists_joined() {
        let mapping = Mapping::from_toml(HUBSPOTISH).unwrap();
        let meetings = mapping.for_stream("engagements").next().unwrap();
        assert_eq!(
            meetings.map(&record(json!({"type": "EMAIL"})), &index()),
            Mapped::Skipped
        );
        let meeting = row(meetings.map(
            &record(
                json!({"type": "MEETING", "id": "m1", "companyIds": [11], "timestamp": "2026-02-01T10:00:00+01:00",
                          "contactIds": [5, 6], "durationMs": 1800000}),
            ),
            &index(),
        ));
        assert_eq!(
            meeting,
            [
                Some("hs-contact-5;hs-contact-6".into()),
                Some("30".into()),
                Some("m1".into()),
                Some("2026-02-01T09:00:00Z".into()),
                Some("meeting".into()),
                Some("acme".into())
            ]
        );
        let Mapped::Unmapped(why) = meetings.map(
            &record(json!({"type": "MEETING", "id": "m2", "companyIds": [11], "timestamp": "soon"})),
            &index(),
        ) else {
            panic!("a bad time")
        };
        assert_eq!((why.column.as_str(), why.reason.as_str()), ("held_at", "not a time"));
        assert!(why.detail.contains("\"soon\""), "{why}");
    }

    #[test]
    fn a_rating_finds_its_account_by_its_requester() {
        let mapping = Mapping::from_toml(
            "[[streams]]\nstream = \"ratings\"\nkind = \"survey-responses\"\n\
             account = { path = \"requester_id\", by = \"contact\", prefix = \"zd-\" }\n\
             fields = { external_id = \"id\" }",
        )
        .unwrap();
        assert!(mapping.uses_contacts() && !mapping.uses_domains());
        let ratings = mapping.for_stream("ratings").next().unwrap();
        let index = index().with_contacts([("zd-7".to_string(), 2)]);
        assert_eq!(
            row(ratings.map(&record(json!({"id": 1, "requester_id": 7})), &index)),
            [Some("1".into()), Some("umbra".into())]
        );
        let Mapped::Unmapped(why) = ratings.map(&record(json!({"id": 2, "requester_id": 8})), &index) else {
            panic!("an unknown requester")
        };
        assert_eq!(why.detail, "no contact has the external id \"zd-8\" (requester_id)");
    }

    #[test]
    fn a_bad_mapping_names_its_stream() {
        let error = |text: &str| Mapping::from_toml(text).unwrap_err().to_string();
        assert!(
            error(
                "[[streams]]\nstream = \"a\"\nkind = \"accounts\"\nfields = { name = { path = \"x\", value = \"y\" } }"
            )
            .contains("stream \"a\" (accounts): field name: give one of path")
        );
        assert!(
            error("[[streams]]\nstream = \"a\"\nkind = \"contacts\"\naccount = { path = \"x\", by = \"phone\" }")
                .contains("by \"phone\"")
        );
        assert!(
            error("[[streams]]\nstream = \"a\"\nkind = \"contacts\"\nfields = { x = \"a..b\" }")
                .contains("path \"a..b\"")
        );
        assert!(
            error("[[streams]]\nstream = \"a\"\nkind = \"contacts\"\nfilds = {}").starts_with("not a mapping file")
        );
    }
}
