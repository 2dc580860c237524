use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use laer_store::StoreError;
use serde_json::{Value, json};

/// An error answered as `{"error": "...", "details": ...}` with a fitting status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String, details: Value },
    #[error("{0}")]
    NotFound(String),
    #[error("missing, unknown or revoked API token: send Authorization: Bearer TOKEN (laer tokens create)")]
    Unauthorized,
    #[error("the token's role lacks the permission {0}")]
    Forbidden(laer_core::access::Permission),
    /// A request body larger than the route takes (413).
    #[error("{0}")]
    TooLarge(String),
    /// An edit of a record someone changed since the caller read it (409).
    #[error("{0}")]
    Conflict(String),
    /// A write whose `If-Match` names another version than the stored one (412).
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("storage error")]
    Store(StoreError),
}

impl From<StoreError> for ApiError {
    /// What the store could not find, or refused as invalid, is the client's to hear.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("no {what}")),
            StoreError::Invalid(why) => ApiError::bad_request(why, Value::Null),
            StoreError::Refused { field, message } => {
                let details = json!({ "field": field, "message": message });
                ApiError::bad_request(format!("{field}: {message}"), details)
            }
            e @ StoreError::Stale { .. } => ApiError::Conflict(e.to_string()),
            other => ApiError::Store(other),
        }
    }
}

impl From<laer_app::reports::ReportError> for ApiError {
    fn from(e: laer_app::reports::ReportError) -> Self {
        match e {
            laer_app::reports::ReportError::Request(e) => e.into(),
            laer_app::reports::ReportError::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<laer_core::reports::RequestError> for ApiError {
    /// A report's request the core refused: 400 naming the parameter, and the limit when
    /// it asked for more than one request may.
    fn from(e: laer_core::reports::RequestError) -> Self {
        let mut details = json!({ "parameter": e.parameter() });
        if let Some(limit) = e.limit() {
            details["limit"] = limit_value(limit);
        }
        ApiError::bad_request(e.to_string(), details)
    }
}

impl From<laer_core::limits::OverLimit> for ApiError {
    /// A request over one of `laer_core::limits`: 400 naming the parameter and the limit.
    fn from(e: laer_core::limits::OverLimit) -> Self {
        let details = json!({ "parameter": e.parameter, "limit": limit_value(&e.limit) });
        ApiError::bad_request(e.to_string(), details)
    }
}

/// A limit as JSON: a number when it is one (`240`), else as stated (a range of days).
fn limit_value(limit: &str) -> Value {
    limit.parse::<u64>().map_or_else(|_| json!(limit), |n| json!(n))
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>, details: Value) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, details) = match &self {
            ApiError::BadRequest { details, .. } => (StatusCode::BAD_REQUEST, details.clone()),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, Value::Null),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, Value::Null),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, Value::Null),
            ApiError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, Value::Null),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, Value::Null),
            ApiError::Forbidden(p) => (StatusCode::FORBIDDEN, json!({"permission": p.as_str()})),
            ApiError::Store(e) => {
                tracing::error!(error = %e, "request failed in the store");
                (StatusCode::INTERNAL_SERVER_ERROR, Value::Null)
            }
        };
        (status, Json(json!({"error": self.to_string(), "details": details}))).into_response()
    }
}
