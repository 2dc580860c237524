//! Renewals: contracts renewing in the next 30, 90 or 180 days, with ARR and owner.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use laer_core::Money;
use laer_core::access::Permission;
use laer_core::model::TeamRole;
use laer_core::portfolio::AccountSnapshot;
use maud::html;
use serde::Deserialize;

use super::{CurrentUser, Nav, PageError, csv_response, layout, money, require, today};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    within: Option<String>,
    page: Option<String>,
    /// `1`: only the accounts the user covers.
    mine: Option<String>,
}

impl Params {
    /// The team member whose accounts to show, when the user asked for their own.
    fn member(&self, user: &CurrentUser) -> Option<i64> {
        (self.mine.as_deref() == Some("1"))
            .then_some(user.team_member_id)
            .flatten()
    }
}

const PER_PAGE: usize = 100;

/// The window in days: 30, 90 (the default) or 180.
fn window(params: &Params) -> i64 {
    params
        .within
        .as_deref()
        .and_then(|w| w.parse().ok())
        .filter(|days| matches!(days, 30 | 180))
        .unwrap_or(90)
}

/// Running contracts renewing within `days` or overdue, soonest (most overdue) first.
fn renewing(accounts: &[AccountSnapshot], today: NaiveDate, days: i64) -> Vec<&AccountSnapshot> {
    let mut due: Vec<&AccountSnapshot> = accounts
        .iter()
        .filter(|a| !a.mrr.is_zero())
        .filter(|a| a.renewal_date.is_some_and(|r| (r - today).num_days() <= days))
        .collect();
    due.sort_by(|a, b| a.renewal_date.cmp(&b.renewal_date).then_with(|| b.mrr.cmp(&a.mrr)));
    due
}

/// Who handles the renewal: the renewal specialist when one joined, else the CSM.
fn renewal_owner(a: &AccountSnapshot) -> Option<&str> {
    a.owner_in(TeamRole::RenewalSpecialist)
        .or_else(|| a.owner_in(TeamRole::Csm))
        .or_else(|| a.owners.first())
        .map(|o| o.name.as_str())
}

pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewRenewals)?;
    let today = today();
    let days = window(&params);
    let accounts = state.cache.snapshots(&state.store, today).await?;
    let member = params.member(&user);
    let mut due = renewing(&accounts, today, days);
    if let Some(member) = member {
        due.retain(|a| a.owners.iter().any(|o| o.member_id == member));
    }
    let mine = if member.is_some() { "&mine=1" } else { "" };
    let total: Money = due.iter().map(|a| a.arr()).sum();
    let pages = due.len().div_ceil(PER_PAGE).max(1);
    let page = params
        .page
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let shown = due.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE);
    let body = html! {
        div.page-head {
            h1 { "Renewals" }
            p.muted {
                (due.len()) " contracts renewing in the next " (days) " days (or overdue)"
                @if user.role.can(Permission::ViewRevenue) { " · ARR " (money(total)) }
            }
        }
        nav.tabs {
            @for d in [30, 90, 180] {
                a href={"/renewals?within=" (d) (mine)} class=@if d == days { "active" } { "Next " (d) " days" }
            }
            @if user.team_member_id.is_some() {
                @if member.is_some() {
                    a.secondary href={"/renewals?within=" (days)} { "Everyone's" }
                } @else {
                    a.secondary href={"/renewals?within=" (days) "&mine=1"} { "Mine" }
                }
            }
            a.secondary href={"/renewals.csv?within=" (days) (mine)} { "CSV" }
        }
        table.data #renewals {
            thead { tr { th { "Account" } th { "Renewal" } th.num { "Days left" } th.num { "ARR" } th { "Owner" } th { "Segment" } } }
            tbody {
                @for a in shown {
                    @let renewal = a.renewal_date.unwrap_or(today);
                    tr {
                        td { a href={"/accounts/" (a.id)} { (a.name.as_deref().unwrap_or(&a.external_id)) } }
                        td { (renewal) }
                        @let left = (renewal - today).num_days();
                        td.num { @if left < 0 { span.down { "overdue " (-left) } } @else { (left) } }
                        td.num { (money(a.arr())) }
                        td { (renewal_owner(a).unwrap_or("–")) }
                        td { (a.segment.as_deref().unwrap_or("–")) }
                    }
                }
                @if due.is_empty() { tr { td colspan="6" { "Nothing renews in this window." } } }
            }
        }
        @if pages > 1 {
            nav.pages {
                @if page > 1 { a href={"/renewals?within=" (days) "&page=" (page - 1)} { "← Previous" } }
                span { "Page " (page) " of " (pages) }
                @if page < pages { a href={"/renewals?within=" (days) "&page=" (page + 1)} { "Next →" } }
            }
        }
    };
    Ok(layout("Renewals", Some(Nav::Renewals), &user, body).into_response())
}

pub(crate) async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewRenewals)?;
    let today = today();
    let accounts = state.cache.snapshots(&state.store, today).await?;
    let mut rows = vec![
        [
            "external_id",
            "name",
            "renewal_date",
            "days_left",
            "arr",
            "owner",
            "segment",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let member = params.member(&user);
    let due = renewing(&accounts, today, window(&params))
        .into_iter()
        .filter(|a| member.is_none_or(|m| a.owners.iter().any(|o| o.member_id == m)));
    for a in due {
        let renewal = a.renewal_date.unwrap_or(today);
        rows.push(vec![
            a.external_id.clone(),
            a.name.clone().unwrap_or_default(),
            renewal.to_string(),
            (renewal - today).num_days().to_string(),
            a.arr().to_string(),
            renewal_owner(a).unwrap_or_default().to_string(),
            a.segment.clone().unwrap_or_default(),
        ]);
    }
    Ok(csv_response("renewals.csv", rows))
}
