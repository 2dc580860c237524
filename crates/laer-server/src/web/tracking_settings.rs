//! What tracking calls may change (issue 15, "tracking keys are for usage only"): a card
//! on the admin page of keys (`manage_keys`) showing the workspace's
//! [`TrackingUpdates`] with who set it, and the form that changes it, audited by the store
//! as `settings.tracking_updates` (docs/ingest.md).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use laer_core::tracking::TrackingUpdates;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{Problems, csrf, select};
use super::session::CsrfForm;
use super::{CurrentUser, PageError, require};
use crate::AppState;

/// The card: the setting in effect, and a form to change it.
pub(crate) async fn card(state: &AppState, user: &CurrentUser) -> Result<Markup, PageError> {
    let (updates, saved) = state.store.tracking_updates().await?;
    let options: Vec<(String, String)> = TrackingUpdates::ALL
        .iter()
        .map(|u| (u.as_str().to_string(), u.label().to_string()))
        .collect();
    Ok(html! {
        section.card #tracking-updates {
            h2 { "What tracking calls may change" }
            p.muted {
                "A write key sits in web pages, so anyone can send with it. Group and identify calls always fill in blanks "
                "(a missing account name, an attribute not yet set) and may change what tracking itself wrote; names and "
                "attributes that came from an import, a connector or the app change only when tracking may update them. "
                "Every change is in the audit log with the key that made it."
            }
            form.inline-fields method="post" action="/admin/keys/tracking" {
                (csrf(user))
                (select("Tracking calls", "updates", &options, updates.as_str(), &Problems::new()))
                button type="submit" { "Save" }
            }
            p.muted {
                @match &saved {
                    Some(s) => { "Set by " (s.updated_by) " on " (s.updated_at.format("%Y-%m-%d %H:%M")) " UTC." }
                    None => { "The default: never set." }
                }
            }
        }
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct TrackingForm {
    updates: String,
}

/// `POST /admin/keys/tracking`: sets what tracking calls may change (audited), when it
/// changes.
pub(crate) async fn save(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<TrackingForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageKeys)?;
    let updates = TrackingUpdates::parse(&form.updates).ok_or_else(|| {
        PageError::BadRequest(format!(
            "Tracking calls: choose {} or {}.",
            TrackingUpdates::FillBlanks,
            TrackingUpdates::Update
        ))
    })?;
    if state.store.tracking_updates().await?.0 != updates {
        state.store.set_tracking_updates(updates, &user.actor()).await?;
    }
    Ok(Redirect::to("/admin/keys#tracking-updates").into_response())
}
