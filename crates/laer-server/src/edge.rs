//! The layers every request passes through, outermost first: a request id (taken from
//! `X-Request-Id` or made up, and sent back), a tracing span carrying it so that every log
//! line of the request names it, security headers on every response, `Cache-Control:
//! no-store` on every response but a static asset's, a time limit, and a panic turned
//! into a 500. A failure of the last two is answered in the kind of the
//! route: JSON (`{"error": ..., "details": null}`) under `/api/`, `/v1/` and `/healthz`, a
//! page elsewhere.

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// How long a request may take, unless the server is configured otherwise: long enough
/// for the slowest page (the revenue page's first NRR bridge of a 10,000-account
/// workspace takes about half a minute), short enough that a stuck request lets go.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The pages' Content-Security-Policy: nothing from elsewhere, no inline scripts or
/// styles, no framing, forms only to this site.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the whole application in the edge's layers.
pub(crate) fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>, timeout: Duration) -> Router<S> {
    let security_headers = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Pages that must not tell even this site where they were (a share link's) set
        // `no-referrer` themselves; this is the default for the rest.
        (header::REFERRER_POLICY, "same-origin"),
    ];
    let mut router = router
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(timeout, time_limit))
        // Issue 15: nothing but the static assets is kept by a browser or a proxy.
        .layer(middleware::from_fn(no_store));
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Whether the path is a static asset (the stylesheet, the script): the same for everyone,
/// so browsers may keep it as its handler says.
fn is_static_asset(path: &str) -> bool {
    path.starts_with("/static/")
}

/// `Cache-Control: no-store` on every answer but the static assets': pages, API answers
/// and CSV exports hold customer data (and a logged-in person's pages their session's
/// CSRF token), which neither the browser's cache nor a proxy may keep. Errors, redirects
/// and the answers of the layers inside (a panic, a time limit) get it too.
async fn no_store(request: Request, next: Next) -> Response {
    let asset = is_static_asset(request.uri().path());
    let mut response = next.run(request).await;
    if !asset {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The span of one request: its id, method and path (a share link's token left out).
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
    )
}

/// The path as logs may show it: a share link's token is a key to the customer's plan,
/// and a password link's token to a login, so neither ever reaches a log.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/plan/") {
        "/plan/…"
    } else if path.starts_with("/password/") {
        "/password/…"
    } else {
        path
    }
}

/// Whether the route answers JSON (the REST and tracking APIs) rather than pages.
fn answers_json(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/v1/") || path == "/healthz"
}

/// Whether the request uploads a file for import (`POST /import`, web/imports.rs): it
/// takes as long as the file takes to arrive, so the time limit does not apply; the
/// handler ends an upload that stalls instead.
fn streams_upload(request: &Request) -> bool {
    request.method() == axum::http::Method::POST && request.uri().path() == "/import"
}

/// Marks the response the panic handler made, for [`time_limit`] to answer in kind.
#[derive(Clone, Copy)]
struct Panicked;

fn panicked(payload: Box<dyn std::any::Any + Send>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    tracing::error!(panic = %message, "the request's handler panicked");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(Panicked);
    response
}

/// Ends a request that takes longer than `limit` with 503, and answers a panic (caught
/// inside) with a 500 in the route's kind.
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let json = answers_json(request.uri().path());
    let bound = (!streams_upload(&request)).then_some(limit);
    let answered = next.run(request);
    let outcome = match bound {
        Some(limit) => tokio::time::timeout(limit, answered).await,
        None => Ok(answered.await),
    };
    match outcome {
        Ok(response) if response.extensions().get::<Panicked>().is_some() => failure(
            json,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "the server failed to answer this request; the error is in its log",
        ),
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                limit_seconds = limit.as_secs_f64(),
                "the request took too long and was ended"
            );
            failure(
                json,
                StatusCode::SERVICE_UNAVAILABLE,
                "Took too long",
                &format!(
                    "the request took longer than {} seconds and was ended; try again, or ask for less",
                    limit.as_secs()
                ),
            )
        }
    }
}

fn failure(json: bool, status: StatusCode, heading: &str, text: &str) -> Response {
    if json {
        (status, axum::Json(serde_json::json!({"error": text, "details": null}))).into_response()
    } else {
        let mut sentence = text.to_string();
        if let Some(first) = sentence.get(..1) {
            sentence.replace_range(..1, &first.to_uppercase());
        }
        (status, crate::web::message_page(heading, &format!("{sentence}."))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    /// A route that panics and one that never answers, under the API and as pages.
    fn failing() -> Router {
        let panic = || async {
            if true {
                panic!("a bug");
            }
        };
        let stall = || async { std::future::pending::<()>().await };
        let routes = Router::new()
            .route("/api/v1/panic", get(panic))
            .route("/panic", get(panic))
            .route("/api/v1/stall", get(stall))
            .route("/stall", get(stall))
            .route("/fine", get(|| async { "fine" }));
        layers(routes, Duration::from_millis(50))
    }

    async fn answer(path: &str, request_id: Option<&str>) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut request = Request::builder().uri(path);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        let response = failing().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_panic_is_a_500_in_the_routes_kind() {
        let (status, headers, body) = answer("/api/v1/panic", None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(json["error"].as_str().unwrap().contains("failed to answer"), "{body}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let (status, headers, body) = answer("/panic", None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert!(
            body.contains("Something went wrong") && !body.contains("a bug"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_request_over_the_limit_is_ended_with_503() {
        let (status, _, body) = answer("/api/v1/stall", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(json["error"].as_str().unwrap().contains("took longer than"), "{body}");
        let (status, _, body) = answer("/stall", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("Took too long"), "{body}");
    }

    #[tokio::test]
    async fn every_answer_has_security_headers_and_a_request_id() {
        for path in ["/fine", "/panic", "/api/v1/stall", "/nothing"] {
            let (_, headers, _) = answer(path, None).await;
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
            assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert_eq!(headers[header::REFERRER_POLICY], "same-origin", "{path}");
            let id = headers["x-request-id"].to_str().unwrap();
            assert_eq!(id.len(), 36, "a UUID: {id}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
        }
        let (_, headers, _) = answer("/fine", Some("trace-42")).await;
        assert_eq!(headers["x-request-id"], "trace-42", "a caller's id is kept");
    }

    #[tokio::test]
    async fn an_upload_for_import_is_not_cut_at_the_limit() {
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            "stored"
        };
        let routes = Router::new().route("/import", get(slow).post(slow));
        let app = layers(routes, Duration::from_millis(50));
        let send = |method: &str| {
            let request = Request::builder()
                .method(method)
                .uri("/import")
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request)
        };
        assert_eq!(
            send("POST").await.unwrap().status(),
            StatusCode::OK,
            "the upload streams on"
        );
        assert_eq!(
            send("GET").await.unwrap().status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "the page is bound as every other"
        );
    }

    /// Everything but a static asset is `no-store`, whatever its handler said; an asset
    /// keeps its handler's caching.
    #[tokio::test]
    async fn only_static_assets_may_be_kept() {
        let cached = || async { ([(header::CACHE_CONTROL, "public, max-age=3600")], "body { }") };
        let routes = Router::new()
            .route("/static/laer.css", get(cached))
            .route("/portfolio", get(cached))
            .route("/api/v1/accounts", get(|| async { "[]" }));
        let app = layers(routes, Duration::from_secs(5));
        let cache_control = |path: &'static str| {
            let app = app.clone();
            async move {
                let request = Request::builder().uri(path).body(Body::empty()).unwrap();
                let response = app.oneshot(request).await.unwrap();
                response.headers()[header::CACHE_CONTROL].to_str().unwrap().to_string()
            }
        };
        assert_eq!(cache_control("/static/laer.css").await, "public, max-age=3600");
        assert_eq!(cache_control("/portfolio").await, "no-store");
        assert_eq!(cache_control("/api/v1/accounts").await, "no-store");
        assert_eq!(cache_control("/nothing").await, "no-store");
    }

    #[test]
    fn share_tokens_stay_out_of_logs() {
        assert_eq!(loggable_path("/plan/sp_0123abcd"), "/plan/…");
        assert_eq!(loggable_path("/password/0123abcd"), "/password/…");
        assert_eq!(loggable_path("/accounts/3/plan"), "/accounts/3/plan");
    }

    #[test]
    fn the_apis_answer_json() {
        assert!(answers_json("/api/v1/accounts"));
        assert!(answers_json("/v1/track"));
        assert!(answers_json("/healthz"));
        assert!(!answers_json("/portfolio"));
        assert!(!answers_json("/v1"));
    }
}
