//! The header's search (issue 16): accounts by name or external id, and contacts by name,
//! email or title, each linked to its account.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use maud::html;
use serde::Deserialize;

use super::{CurrentUser, PageError, layout, require, today};
use crate::AppState;

/// At most this many accounts and as many contacts are listed.
const SHOWN: usize = 25;

#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    q: Option<String>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    super::bounded_filters(&[("Search (q)", params.q.as_deref())])?;
    let text = params.q.as_deref().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Ok(Redirect::to("/portfolio").into_response());
    }
    let snapshots = state.cache.snapshots(&state.store, today()).await?;
    let accounts = laer_core::portfolio::search(&snapshots, text);
    let contacts = state.store.search_contacts(text, SHOWN as i64 + 1).await?;
    // A search that finds one account and nothing else opens it.
    if accounts.len() == 1 && contacts.is_empty() {
        return Ok(Redirect::to(&format!("/accounts/{}", accounts[0].id)).into_response());
    }
    let name_of = |id: i64| laer_core::portfolio::name_of(&snapshots, id);
    let body = html! {
        div.page-head {
            h1 { "Search: “" (text) "”" }
            p.muted { (accounts.len()) " accounts · " (contacts.len().min(SHOWN)) @if contacts.len() > SHOWN { "+" } " contacts" }
        }
        section.card #found-accounts {
            h2 { "Accounts" }
            @if accounts.is_empty() { p.muted { "No account's name or id holds “" (text) "”." } }
            ul.found {
                @for a in accounts.iter().take(SHOWN) {
                    li { a href={"/accounts/" (a.id)} { (a.display_name()) } " " span.muted { (a.external_id) } }
                }
            }
            @if accounts.len() > SHOWN {
                p { a href={"/portfolio?owner=all&q=" (super::percent_encode(text, ""))} { "All " (accounts.len()) " on the portfolio" } }
            }
        }
        section.card #found-contacts {
            h2 { "Contacts" }
            @if contacts.is_empty() { p.muted { "No active contact's name, email or title holds “" (text) "”." } }
            ul.found {
                @for c in contacts.iter().take(SHOWN) {
                    li {
                        a href={"/accounts/" (c.fields.account_id) "#contacts"} { (c.fields.name.as_deref().unwrap_or("(no name)")) }
                        @if let Some(t) = &c.fields.title { " · " (t) }
                        " at " (name_of(c.fields.account_id))
                        @if let Some(e) = &c.fields.email { " · " a href={"mailto:" (e)} { (e) } }
                    }
                }
            }
        }
    };
    Ok(layout("Search", None, &user, body).into_response())
}
