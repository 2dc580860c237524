//! `POST /webhooks/stripe` (issue 17, item 4): Stripe's events, live. An event is taken
//! only with a `Stripe-Signature` made with the connection's signing secret within
//! Stripe's tolerance (`laer_app::stripe_signature`); a forged, altered, stale or
//! unsigned one is refused with 400, logged, and shown on the admin page. A taken event
//! is applied once by its id and in any order (`laer_app::billing::apply_event`); the
//! account's lines change at once, and its health follows within the engine's tick.
//! A failure on laer's side answers 500, so that Stripe delivers the event again.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use laer_app::billing::{Connected, Event, apply_event};
use laer_app::stripe_signature;
use serde_json::json;

use crate::AppState;

pub(crate) const PATH: &str = "/webhooks/stripe";

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, post(receive))
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = chrono::Utc::now().timestamp();
    let connection = match state.store.stripe_connection().await {
        Ok(Some(c)) => c,
        Ok(None) => return answer(StatusCode::NOT_FOUND, "Stripe is not connected to this laer"),
        Err(e) => {
            tracing::error!(error = %e, "a Stripe event could not be taken");
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "laer could not take the event; Stripe sends it again",
            );
        }
    };
    let refuse = |reason: String| {
        let store = state.store.clone();
        async move {
            tracing::warn!(%reason, "a Stripe webhook delivery was refused");
            if let Err(e) = store.record_stripe_webhook_refused(&reason, now).await {
                tracing::error!(error = %e, "a refused Stripe webhook could not be recorded");
            }
            answer(StatusCode::BAD_REQUEST, &reason)
        }
    };
    let Some(sealed) = &connection.webhook_secret else {
        return refuse("no webhook signing secret is set in laer: add it in Admin → Stripe".into()).await;
    };
    let secret = match sealed.open(state.secrets.as_ref()) {
        Ok(secret) => secret,
        Err(e) => {
            tracing::error!(error = %e, "the Stripe webhook secret cannot be opened");
            return answer(StatusCode::INTERNAL_SERVER_ERROR, "laer cannot open its webhook secret");
        }
    };
    let header = headers.get("stripe-signature").and_then(|h| h.to_str().ok());
    if let Err(refused) = stripe_signature::verify(header, &body, &secret, now) {
        return refuse(refused.to_string()).await;
    }
    let event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(e) => return refuse(format!("a signed body that is not a Stripe event: {e}")).await,
    };
    let applied = match Connected::open(&connection, state.secrets.as_ref()) {
        Ok(connected) => apply_event(&state.store, &connected, &event, now).await,
        Err(e) => Err(e),
    };
    match applied {
        Ok(outcome) => {
            tracing::info!(event = %event.id, kind = %event.kind, outcome = outcome.as_str(), "Stripe event taken");
            (StatusCode::OK, Json(json!({ "outcome": outcome }))).into_response()
        }
        Err(e) => {
            tracing::error!(event = %event.id, kind = %event.kind, error = %e, "a Stripe event could not be applied");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "laer could not apply the event; Stripe sends it again",
            )
        }
    }
}
