//! Records of any kind given as JSON objects (the REST API's writes): parsed by the kind's
//! one declaration, as a CSV line is, and written in the caller's transaction by the same
//! batch writer as an import, so a write marks health and the portfolio as an import does.

use chrono::Utc;
use laer_core::model::NewAuditEntry;
use laer_store::{StoreError, WriteTx};
use serde::Serialize;

use crate::{Batch, Context, ImportKind, Kind, RowError, kinds, parse_json};

/// What a write of records did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordsWritten {
    /// The kind's name.
    pub kind: &'static str,
    /// Records inserted or changed.
    pub written: u64,
    /// Records already stored exactly so.
    pub unchanged: u64,
    /// Each record's laer id, in the order given (`None` for kinds without an external
    /// id: meeting cadences and outcome measurements, which their key identifies).
    pub ids: Vec<Option<i64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// Some records are invalid; nothing was written. Each error's `line` is the
    /// record's index in the request.
    #[error("{} invalid record(s), nothing was written", .0.len())]
    Rejected(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses `objects` as records of `kind` and writes them in `tx`: all of them, or, when
/// any is invalid, none (every invalid one is reported, by its index and field). A write
/// that changed something is audited with `actor` as `KIND.write`; a repeat that
/// changes nothing leaves no trace.
pub async fn write_records(
    tx: &mut WriteTx,
    kind: Kind,
    objects: &[serde_json::Value],
    actor: &str,
) -> Result<RecordsWritten, RecordsError> {
    with_kind!(kind, K => write_kind::<K>(tx, objects, actor).await)
}

async fn write_kind<K: ImportKind>(
    tx: &mut WriteTx,
    objects: &[serde_json::Value],
    actor: &str,
) -> Result<RecordsWritten, RecordsError>
where
    K::Record: Clone,
{
    let mut context = Context::load::<K>(tx).await?.within("request");
    let mut records = Vec::with_capacity(objects.len());
    let mut errors = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let item = index as u64;
        let parsed = match object {
            serde_json::Value::Object(object) => parse_json::<K>(object, item, &mut context),
            _ => Err(RowError {
                line: item,
                column: None,
                message: "expected an object".to_string(),
            }),
        };
        match parsed {
            Ok(record) => records.push(record),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(RecordsError::Rejected(errors));
    }
    let mut state = <K::Record as Batch>::State::default();
    let counts = K::Record::write(tx, records.clone(), &mut state).await?;
    K::Record::finish(tx, state, counts).await?;
    let ids = K::Record::ids(tx, &records).await?;
    if counts.written > 0 {
        let mut details = serde_json::json!({
            "via": "api",
            "records": records.len(),
            "written": counts.written,
            "unchanged": counts.unchanged,
            "ids": ids,
        });
        // A write about one account shows in that account's history.
        if let [account] = K::Record::account_ids(&records)[..] {
            details["account_id"] = account.into();
        }
        tx.append_audit(&NewAuditEntry {
            at: Utc::now(),
            actor: actor.to_string(),
            action: format!("{}.write", K::NAME),
            details,
        })
        .await?;
    }
    Ok(RecordsWritten {
        kind: K::NAME,
        written: counts.written,
        unchanged: counts.unchanged,
        ids,
    })
}

/// The columns that name one record of `kind` in a REST path (`/api/v1/records/KIND/...`):
/// its external id, or for kinds without one, the key the store identifies it by.
pub fn record_key(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::MeetingCadences => &["account_id", "stakeholder_team"],
        Kind::OutcomeMeasurements => &["outcome_id", "measured_on"],
        Kind::ExchangeRates => &["currency", "date"],
        Kind::Owners => &["account_id", "role"],
        _ => &["external_id"],
    }
}

/// The table of `kind` when its records carry a version (the Stale rule: every change
/// counts in it, an edit says which version it was made to), else `None`.
pub fn versioned_table(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Contacts => Some("contacts"),
        Kind::Subscriptions => Some("subscriptions"),
        Kind::SupportCases => Some("support_cases"),
        Kind::Meetings => Some("touchpoints"),
        Kind::Outcomes => Some("outcomes"),
        _ => None,
    }
}

/// The stored version of the record of `kind` with this external id; `None` for a kind
/// whose records carry none, or no such record.
pub async fn version_of(tx: &mut WriteTx, kind: Kind, external_id: &str) -> Result<Option<i64>, StoreError> {
    match versioned_table(kind) {
        Some(table) => tx.stored_version(table, external_id).await,
        None => Ok(None),
    }
}

/// Whether a record of `kind` may be deleted through the API: records of the team's work
/// that a person may have entered by mistake (a meeting, a survey answer, a cadence, a
/// measurement). Accounts, contracts, cases, contacts, outcomes and tasks carry history
/// others refer to; they are changed or ended instead.
pub fn deletable(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Meetings | Kind::SurveyResponses | Kind::MeetingCadences | Kind::OutcomeMeasurements
    )
}

/// Deletes the record of `kind` named by `key` (the values of [`record_key`], as the
/// path gives them), audited with `actor` as `KIND.delete`. `Ok(false)` when no such
/// record is stored; a key value that does not read is rejected naming its field (index 0).
pub async fn delete_record(tx: &mut WriteTx, kind: Kind, key: &[&str], actor: &str) -> Result<bool, RecordsError> {
    use laer_core::model::{NewMeetingCadence, NewOutcomeMeasurement, NewSurveyResponse, NewTouchpoint};
    use laer_store::KeyPart;

    let columns = record_key(kind);
    let refused = |field: &str, message: String| {
        RecordsError::Rejected(vec![RowError {
            line: 0,
            column: Some(field.to_string()),
            message,
        }])
    };
    if !deletable(kind) || key.len() != columns.len() {
        return Err(refused(columns[0], format!("{kind} cannot be deleted through the API")));
    }
    for (column, value) in columns.iter().zip(key) {
        if value.contains('\0') || value.chars().count() > laer_core::parse::MAX_LINE_CHARS {
            return Err(refused(
                column,
                format!(
                    "expected at most {} characters, without NUL",
                    laer_core::parse::MAX_LINE_CHARS
                ),
            ));
        }
    }
    // Whose health the record fed: its account's (a measurement: its outcome's).
    let owners = match kind {
        Kind::Meetings => tx.delete::<NewTouchpoint>(&[KeyPart::Text(key[0])]).await?,
        Kind::SurveyResponses => tx.delete::<NewSurveyResponse>(&[KeyPart::Text(key[0])]).await?,
        Kind::MeetingCadences => match tx.account_id(key[0]).await? {
            Some(account) => {
                let team = laer_core::parse::label(key[1]);
                tx.delete::<NewMeetingCadence>(&[KeyPart::Int(account), KeyPart::Text(&team)])
                    .await?
            }
            None => Vec::new(),
        },
        Kind::OutcomeMeasurements => {
            let day = laer_core::parse::date(key[1]).map_err(|m| refused("measured_on", m))?;
            match tx.outcome_id(key[0]).await? {
                Some(outcome) => {
                    tx.delete::<NewOutcomeMeasurement>(&[KeyPart::Int(outcome), KeyPart::Date(day)])
                        .await?
                }
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    let deleted = !owners.is_empty();
    if deleted {
        let key: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .zip(key)
            .map(|(c, v)| (c.to_string(), serde_json::Value::from(*v)))
            .collect();
        let mut details = serde_json::json!({"via": "api", "key": key});
        if kind != Kind::OutcomeMeasurements
            && let [account] = owners[..]
        {
            details["account_id"] = account.into();
        }
        tx.append_audit(&NewAuditEntry {
            at: Utc::now(),
            actor: actor.to_string(),
            action: format!("{}.delete", kind.name()),
            details,
        })
        .await?;
    }
    Ok(deleted)
}

/// The columns a record of `kind` may have: the keys of its JSON object.
pub fn columns(kind: Kind) -> &'static [crate::ColumnSpec] {
    with_kind!(kind, K => K::COLUMNS)
}

/// Whether a record of `kind` keeps keys no column knows (accounts: as attributes).
pub fn keeps_extra_columns(kind: Kind) -> bool {
    with_kind!(kind, K => K::KEEPS_EXTRA_COLUMNS)
}
