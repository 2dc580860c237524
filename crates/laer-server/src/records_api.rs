//! REST writes of records under `/api/v1/records/{kind}` (docs/api.md, "Writing
//! records"): every import kind the API writes (`laer_core::access::record_write_permission`),
//! each parsed by its one import declaration and written by the same batch writer as a
//! CSV import. A bulk write takes up to [`MAX_RECORDS`] records, all or nothing; a record
//! is upserted by its key (its external id), so a repeat changes nothing.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use laer_core::access::record_write_permission;
use laer_import::{Kind, RecordsError, RecordsWritten};
use serde_json::{Value, json};

use crate::extract::ApiToken;
use crate::{ApiError, AppState};

/// The most records one request may write.
pub(crate) const MAX_RECORDS: usize = laer_core::limits::MAX_RECORDS_PER_WRITE;

/// The largest body a write takes: a thousand records with long notes.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The kinds the API writes, in the import's order.
pub(crate) fn kinds() -> impl Iterator<Item = Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| record_write_permission(k.name()).is_some())
}

/// The path of one record of `kind`: `/api/v1/records/KIND/{external_id}` (or the key's
/// columns for kinds without an external id).
pub(crate) fn record_path(kind: Kind) -> String {
    let mut path = bulk_path(kind);
    for column in laer_import::record_key(kind) {
        path.push_str(&format!("/{{{column}}}"));
    }
    path
}

pub(crate) fn bulk_path(kind: Kind) -> String {
    format!("/api/v1/records/{}", kind.name())
}

pub(crate) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for kind in kinds() {
        router = router.route(
            &bulk_path(kind),
            post(
                move |token: ApiToken, state: State<AppState>, body: Result<Bytes, BytesRejection>| {
                    write_bulk(kind, token, state, body)
                },
            ),
        );
        let one = put(
            move |token: ApiToken,
                  state: State<AppState>,
                  path: Path<Vec<(String, String)>>,
                  headers: HeaderMap,
                  body: Result<Bytes, BytesRejection>| {
                write_one(kind, token, state, path, headers, body)
            },
        );
        let one = if laer_import::deletable(kind) {
            one.delete(
                move |token: ApiToken, state: State<AppState>, path: Path<Vec<(String, String)>>| {
                    delete_one(kind, token, state, path)
                },
            )
        } else {
            one
        };
        router = router.route(&record_path(kind), one);
    }
    router.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A 400 naming each problem: `{"error", "details": [{"index", "field", "message"}]}`.
fn rejected(message: impl Into<String>, problems: Vec<Value>) -> ApiError {
    ApiError::bad_request(message, Value::Array(problems))
}

fn problem(index: Option<u64>, field: Option<&str>, message: impl Into<String>) -> Value {
    json!({"index": index, "field": field, "message": message.into()})
}

impl From<RecordsError> for ApiError {
    fn from(e: RecordsError) -> ApiError {
        match e {
            RecordsError::Rejected(errors) => {
                let message = e_message(errors.len());
                let problems = errors
                    .into_iter()
                    .map(|e| problem(Some(e.line), e.column.as_deref(), e.message))
                    .collect();
                rejected(message, problems)
            }
            // A value a store rule refuses is a problem of the record like any other.
            RecordsError::Store(laer_store::StoreError::Refused { field, message }) => rejected(
                format!("{field}: {message}"),
                vec![problem(None, Some(field.as_str()), message)],
            ),
            RecordsError::Store(e) => e.into(),
        }
    }
}

fn e_message(count: usize) -> String {
    format!("{count} invalid record(s), nothing was written")
}

/// The body as JSON, or a 400 (413 when too large) saying why.
fn body_json(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|e| match e {
        e if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
        }
        other => rejected(
            format!("body: {}", other.body_text()),
            vec![problem(None, None, other.body_text())],
        ),
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        rejected(
            format!("body is not JSON: {e}"),
            vec![problem(None, None, format!("expected a JSON object: {e}"))],
        )
    })
}

/// `POST /api/v1/records/KIND` with `{"records": [...]}`.
async fn write_bulk(
    kind: Kind,
    token: ApiToken,
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RecordsWritten>, ApiError> {
    token.require(permission(kind))?;
    let body = body_json(body)?;
    let records = match body {
        Value::Object(mut body) => {
            if let Some(field) = body.keys().find(|k| *k != "records") {
                return Err(rejected(
                    format!("unknown field {field}; expected records"),
                    vec![problem(None, Some(field), "unknown field; expected records")],
                ));
            }
            match body.remove("records") {
                Some(Value::Array(records)) => records,
                _ => {
                    return Err(rejected(
                        "records: expected a list of records",
                        vec![problem(None, Some("records"), "expected a list of records")],
                    ));
                }
            }
        }
        _ => {
            return Err(rejected(
                "expected an object {\"records\": [...]}",
                vec![problem(None, None, "expected an object {\"records\": [...]}")],
            ));
        }
    };
    if records.len() > MAX_RECORDS {
        let message = format!("at most {MAX_RECORDS} records per request, found {}", records.len());
        return Err(rejected(
            message.clone(),
            vec![problem(Some(MAX_RECORDS as u64), Some("records"), message)],
        ));
    }
    write(kind, &token, &state, &records).await
}

/// `PUT /api/v1/records/KIND/{key...}`: one record, its key taken from the path. For a
/// kind whose records carry a version, the answer's `ETag` is the version written, and an
/// `If-Match` with the version the change was made to refuses it (412) when the record
/// changed since, so that no one's change is silently overwritten.
async fn write_one(
    kind: Kind,
    token: ApiToken,
    State(state): State<AppState>,
    Path(key): Path<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    token.require(permission(kind))?;
    let if_match = if_match(kind, &headers)?;
    let Value::Object(mut record) = body_json(body)? else {
        return Err(rejected(
            "expected a JSON object: the record",
            vec![problem(Some(0), None, "expected an object")],
        ));
    };
    let external_id = key
        .iter()
        .find(|(column, _)| column == "external_id")
        .map(|(_, value)| value.clone());
    for (column, value) in key {
        match record.get(&column) {
            Some(given) if given.as_str() != Some(value.as_str()) && *given != Value::Null => {
                let message = format!("{column} differs from the path's {value:?}");
                return Err(rejected(
                    message.clone(),
                    vec![problem(Some(0), Some(&column), message)],
                ));
            }
            _ => {
                record.insert(column, Value::String(value));
            }
        }
    }
    let mut tx = state.store.begin_write().await?;
    if let (Some(expected), Some(id)) = (if_match, &external_id) {
        let stored = laer_import::version_of(&mut tx, kind, id).await?;
        if stored != Some(expected) {
            let now = stored.map_or("it is not stored".to_string(), |v| format!("it is at version {v}"));
            return Err(ApiError::PreconditionFailed(format!(
                "{kind} {id} was changed since version {expected} ({now}); read it again and resend your change"
            )));
        }
    }
    let written = laer_import::write_records(&mut tx, kind, &[Value::Object(record)], &token.actor).await?;
    let version = match &external_id {
        Some(id) => laer_import::version_of(&mut tx, kind, id).await?,
        None => None,
    };
    tx.commit().await?;
    let mut response = Json(written).into_response();
    if let Some(etag) = version.and_then(|v| HeaderValue::from_str(&format!("\"{v}\"")).ok()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// The version an `If-Match` header names (`"3"`), for a kind whose records carry one.
fn if_match(kind: Kind, headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let refuse = |message: String| {
        rejected(
            format!("If-Match: {message}"),
            vec![problem(None, Some("If-Match"), message)],
        )
    };
    if laer_import::versioned_table(kind).is_none() {
        return Err(refuse(format!("{kind} records carry no version")));
    }
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            refuse("expected the version the change was made to, as the ETag gave it, e.g. \"3\"".to_string())
        })
}

async fn write(
    kind: Kind,
    token: &ApiToken,
    state: &AppState,
    records: &[Value],
) -> Result<Json<RecordsWritten>, ApiError> {
    let mut tx = state.store.begin_write().await?;
    let written = laer_import::write_records(&mut tx, kind, records, &token.actor).await?;
    tx.commit().await?;
    Ok(Json(written))
}

/// `DELETE /api/v1/records/KIND/{key...}`: `{"kind", "deleted": true}`, or 404.
async fn delete_one(
    kind: Kind,
    token: ApiToken,
    State(state): State<AppState>,
    Path(key): Path<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    token.require(permission(kind))?;
    let values: Vec<&str> = key.iter().map(|(_, v)| v.as_str()).collect();
    let mut tx = state.store.begin_write().await?;
    if !laer_import::delete_record(&mut tx, kind, &values, &token.actor).await? {
        return Err(ApiError::NotFound(format!(
            "no {} record {}",
            kind.name(),
            values.join(" / ")
        )));
    }
    tx.commit().await?;
    Ok(Json(json!({"kind": kind.name(), "deleted": true})))
}

fn permission(kind: Kind) -> laer_core::access::Permission {
    // `kinds()` only routes kinds that have one.
    record_write_permission(kind.name()).unwrap_or(laer_core::access::Permission::ManageKeys)
}
