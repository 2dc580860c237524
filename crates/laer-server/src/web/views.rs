//! Saved views (issue 16): each person names the filters of a list page — the portfolio,
//! renewals — and finds them again above the list (laer_store::views).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use laer_store::SavedView;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::CsrfForm;
use super::{CurrentUser, PageError, require};
use crate::AppState;

/// The pages with saved views: the key kept with a view, and the page's path.
const PAGES: &[(&str, &str)] = &[("portfolio", "/portfolio"), ("renewals", "/renewals")];

fn path_of(page: &str) -> Result<&'static str, PageError> {
    PAGES
        .iter()
        .find(|(key, _)| *key == page)
        .map(|(_, path)| *path)
        .ok_or_else(|| PageError::BadRequest(format!("Page: no saved views for {page:?}.")))
}

/// The person's views of `page` as links (the one shown marked), each with a remove
/// button, and a form to save the filters shown (`query`) under a name.
pub(crate) fn bar(user: &CurrentUser, page: &str, views: &[SavedView], query: &str) -> Markup {
    let path = path_of(page).unwrap_or("/");
    html! {
        div.saved-views {
            @if !views.is_empty() {
                span.muted { "Your views:" }
                ul {
                    @for v in views {
                        li {
                            a href={(path) "?" (v.query)} class=@if v.query == query { "active" } { (v.name) }
                            form.inline method="post" action={"/views/" (v.id) "/delete"} {
                                input type="hidden" name="csrf" value=(user.csrf_token);
                                input type="hidden" name="page" value=(page);
                                button.link type="submit" aria-label={"Remove the view " (v.name)} title="Remove" { "×" }
                            }
                        }
                    }
                }
            }
            details.save-view {
                summary { "Save this view" }
                form.inline method="post" action="/views" {
                    input type="hidden" name="csrf" value=(user.csrf_token);
                    input type="hidden" name="page" value=(page);
                    input type="hidden" name="query" value=(query);
                    input type="text" name="name" required maxlength=(laer_store::MAX_VIEW_NAME_CHARS) placeholder="Name, e.g. Enterprise renewing soon" aria-label="The view's name";
                    button.secondary type="submit" { "Save" }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SaveForm {
    page: String,
    name: String,
    query: String,
}

/// `POST /views`: saves the filters shown as a named view, then shows them.
pub(crate) async fn save(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<SaveForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    let path = path_of(&form.page)?;
    // A query string as the pages write them: it goes back into a Location header.
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.~%+,=&".contains(c);
    if !form.query.trim().trim_start_matches('?').chars().all(plain) {
        return Err(PageError::BadRequest(
            "Query (query): only a page's own filters can be saved.".into(),
        ));
    }
    state
        .store
        .save_view(user.id, &form.page, &form.name, &form.query)
        .await
        .map_err(|e| match e {
            laer_store::StoreError::Refused { message, .. } => PageError::BadRequest(message),
            other => other.into(),
        })?;
    let query = form.query.trim().trim_start_matches('?');
    Ok(Redirect::to(&format!("{path}?{query}")).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    page: String,
}

/// `POST /views/{id}/delete`: removes one of the person's views.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<DeleteForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    let path = path_of(&form.page)?;
    state.store.delete_view(user.id, id).await?;
    Ok(Redirect::to(path).into_response())
}
