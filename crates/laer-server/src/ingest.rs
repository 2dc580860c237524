//! The Segment-compatible tracking endpoints: `/v1/track`, `/v1/identify`, `/v1/group`,
//! `/v1/page`, `/v1/screen`, `/v1/alias` and `/v1/batch`. A 200 answer means the calls
//! are committed to the database.

use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use laer_core::segment::{
    CallKind, Envelope, MAX_BATCH_BYTES, MAX_CALL_BYTES, parse_batch, parse_call, text_may_hold_nul,
};
use serde_json::{Value, json};

use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/{call}", post(receive))
}

fn unauthorized() -> Response {
    let body = json!({"error": "missing, unknown or revoked write key", "details": null});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// The write key: the HTTP Basic user name, as the official clients send it, or
/// `writeKey` in the body.
fn write_key(headers: &HeaderMap, body: &Value) -> Option<String> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .map(|credentials| credentials.split(':').next().unwrap_or_default().to_string())
        .filter(|user| !user.is_empty());
    basic.or_else(|| body.get("writeKey").and_then(Value::as_str).map(str::to_string))
}

async fn receive(State(state): State<AppState>, Path(call): Path<String>, headers: HeaderMap, body: Body) -> Response {
    match receive_inner(&state, &call, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn receive_inner(state: &AppState, call: &str, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let endpoint = match call {
        "batch" | "import" => None,
        other => Some(CallKind::parse(other).ok_or_else(|| ApiError::NotFound(format!("no endpoint /v1/{other}")))?),
    };
    let limit = if endpoint.is_none() {
        MAX_BATCH_BYTES
    } else {
        MAX_CALL_BYTES
    };
    let too_large = || {
        ApiError::bad_request(
            format!("the request is larger than {limit} bytes, the limit for /v1/{call}"),
            json!({"limit": limit}),
        )
    };
    let bytes = to_bytes(body, limit).await.map_err(|_| too_large())?;
    // Some clients compress their batches; the limit applies to the JSON itself.
    let gzipped = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let bytes = if gzipped {
        let mut json = Vec::new();
        let decoder = flate2::read::GzDecoder::new(&bytes[..]);
        std::io::Read::read_to_end(&mut std::io::Read::take(decoder, limit as u64 + 1), &mut json)
            .map_err(|e| ApiError::bad_request(format!("the gzip body does not decompress: {e}"), Value::Null))?;
        if json.len() > limit {
            return Err(too_large());
        }
        axum::body::Bytes::from(json)
    } else {
        bytes
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            format!("malformed JSON: {e}"),
            json!({"line": e.line(), "column": e.column()}),
        )
    })?;
    let Some(key) = write_key(headers, &value) else {
        return Ok(unauthorized());
    };
    let Some(key_id) = state.store.authenticate(&key).await? else {
        return Ok(unauthorized());
    };

    let calls = {
        let fresh_id = || {
            laer_store::random_id()
                .unwrap_or_else(|_| format!("laer-{}", Utc::now().timestamp_nanos_opt().unwrap_or_default()))
        };
        let envelope = Envelope {
            endpoint,
            batch_sent_at: None,
            batch_context: None,
            received_at: Utc::now(),
            fresh_message_id: &fresh_id,
            may_hold_nul: text_may_hold_nul(&bytes),
        };
        match endpoint {
            None => parse_batch(value, bytes.len(), &envelope),
            Some(_) => parse_call(value, &envelope).map(|c| vec![c]),
        }
        .map_err(|e| ApiError::bad_request(e.to_string(), json!({"index": e.index, "field": e.field})))?
    };
    let outcome = state.store.ingest(key_id, calls).await?;
    tracing::debug!(accepted = outcome.accepted, duplicates = outcome.duplicates, "ingested");
    Ok((StatusCode::OK, Json(json!({"success": true}))).into_response())
}
