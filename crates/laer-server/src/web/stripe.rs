//! Stripe customers and their accounts (issue 17, item 2): the customers the last sync saw,
//! the unlinked first, each linked to an account by hand here (kept by later syncs) or
//! given back to its metadata key. Reference: docs/import.md, "Stripe".

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Problems};
use super::session::CsrfForm;
use super::{CurrentUser, Nav, PageError, admin_tabs, layout, require};
use crate::AppState;

const PATH: &str = "/admin/stripe";

async fn page(
    state: &AppState,
    user: &CurrentUser,
    problems: &Problems,
    typed: Option<(&str, &str)>,
) -> Result<Markup, PageError> {
    require(user, Permission::ImportData)?;
    let (customers, names) = tokio::try_join!(state.store.stripe_customers(), state.store.account_names())?;
    let mut customers: Vec<_> = customers.into_values().collect();
    customers.sort_by(|a, b| {
        a.account_id
            .is_some()
            .cmp(&b.account_id.is_some())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    let unlinked = customers.iter().filter(|c| c.account_id.is_none()).count();
    Ok(layout(
        "Stripe customers",
        Some(Nav::Admin),
        user,
        html! {
            (admin_tabs(user, PATH))
            div.page-head {
                h1 { "Stripe customers" }
                p.muted {
                    "Each Stripe customer's subscriptions become its account's contract lines at each sync ("
                    code { "laer stripe sync" } "). A customer is linked by its metadata key, or by hand here; a link made by hand is kept by later syncs."
                }
            }
            (form::summary(problems))
            @if customers.is_empty() {
                p.muted { "No Stripe customers yet: a sync brings them (docs/import.md, \"Stripe\")." }
            } @else {
                p { strong { (customers.len()) } " customers, " strong { (unlinked) } " linked to no account." }
                table.data #stripe-customers {
                    thead { tr { th { "Customer" } th { "Account" } th { "Link" } } }
                    tbody { @for c in &customers {
                        tr {
                            td {
                                (c.name.as_deref().unwrap_or("(no name)")) br;
                                small.muted { (c.email.as_deref().unwrap_or("")) " · " (c.customer_id) }
                            }
                            td {
                                @match c.account_id.and_then(|id| names.get(&id).map(|n| (id, n))) {
                                    Some((id, n)) => {
                                        a href={"/accounts/" (id)} { (n.name.as_deref().unwrap_or(&n.external_id)) }
                                        @if c.linked_by_hand { " " span.muted.small { "(by hand)" } }
                                    }
                                    None => { span.muted { "not linked" } }
                                }
                            }
                            td {
                                form.inline method="post" action={(PATH) "/link"} {
                                    (form::csrf(user))
                                    input type="hidden" name="customer" value=(c.customer_id);
                                    label.field {
                                        "Account (external id)"
                                        input type="text" name="account" required
                                            value=(typed.filter(|(id, _)| *id == c.customer_id).map_or("", |(_, a)| a));
                                    }
                                    button.secondary type="submit" { "Link" }
                                }
                                @if c.linked_by_hand {
                                    form.inline method="post" action={(PATH) "/link"} {
                                        (form::csrf(user))
                                        input type="hidden" name="customer" value=(c.customer_id);
                                        button.secondary type="submit" { "Follow the metadata again" }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
        },
    ))
}

/// `GET /admin/stripe`.
pub(crate) async fn customers(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    Ok(page(&state, &user, &Problems::new(), None).await?.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct LinkForm {
    customer: String,
    /// An account's external id; absent: back to the metadata.
    account: Option<String>,
}

/// `POST /admin/stripe/link`: links a customer to an account by hand, or gives it back
/// to its metadata key; an unknown account shows the page again with the problem (400).
pub(crate) async fn link(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<LinkForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let typed = form.account.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let account = match typed {
        Some(external) => {
            let found = state
                .store
                .account_names()
                .await?
                .into_iter()
                .find(|(_, n)| n.external_id == external)
                .map(|(id, _)| id);
            match found {
                Some(id) => Some(id),
                None => {
                    let mut problems = Problems::new();
                    problems.add("account", format!("no account has the external id {external:?}"));
                    let page = page(&state, &user, &problems, Some((&form.customer, external))).await?;
                    return Ok(form::refused(page));
                }
            }
        }
        None => None,
    };
    state
        .store
        .link_stripe_customer(&form.customer, account, &user.actor())
        .await?;
    Ok(Redirect::to(PATH).into_response())
}
