//! The team page (issue 16): for leaders and admins, each person's book — accounts,
//! those they lead, ARR, open and overdue tasks, the health mix — with a drill-down to
//! their accounts and their queue, and books out of line with the others flagged
//! (laer_core::team).

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use laer_core::access::Permission;
use laer_core::automation::coverage::role_label;
use maud::html;

use super::{CurrentUser, Nav, PageError, layout, money, require, today};
use crate::AppState;

pub(crate) async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ViewAudit)?;
    let today = today();
    let (accounts, team, attention, work) = tokio::try_join!(
        state.cache.snapshots(&state.store, today),
        state.store.team_members(),
        super::health::attention(&state, today),
        state.store.open_work_of_people(today),
    )?;
    let names: HashMap<i64, String> = team.iter().map(|m| (m.id, m.name.clone())).collect();
    let loads = laer_core::team::loads(&accounts, &names, &work, &attention, today, &state.health_model.phases);
    let flagged = loads.iter().filter(|l| l.imbalance.is_some()).count();
    let see_revenue = user.role.can(Permission::ViewRevenue);
    let body = html! {
        div.page-head {
            h1 { "Team" }
            p.muted {
                (loads.len()) " people with accounts or open work"
                @if flagged > 0 { " · " span.down { (flagged) " with a book out of line" } }
                " · a book is flagged at " (format!("{:.1}", laer_core::team::IMBALANCE_TIMES)) "× the median of the others' or more"
            }
        }
        table.data #team {
            thead { tr {
                th { "Person" }
                th.num { "Accounts" }
                th.num { "Leads" }
                @if see_revenue { th.num { "ARR" } }
                th.num { "Open tasks" }
                th.num { "Overdue" }
                th { "Health of the book" }
                th { "Load" }
            } }
            tbody {
                @for l in &loads {
                    tr class=@if l.imbalance.is_some() { "flagged" } {
                        td.account {
                            (l.name)
                            @if !l.roles.is_empty() {
                                br; span.muted.small { (l.roles.iter().map(|r| role_label(*r)).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                        td.num { a href={"/portfolio?owner=" (l.member_id)} { (l.accounts) } }
                        td.num { (l.leads) }
                        @if see_revenue { td.num { (money(l.arr)) } }
                        td.num { a href={"/work?show=all&assignee=" (l.member_id)} { (l.work.open) } }
                        td.num { @if l.work.overdue > 0 { span.down { (l.work.overdue) } } @else { "0" } }
                        td {
                            span.badge.health-poor title="urgent" { (l.urgent) } " "
                            span.badge.health-fair title="watch" { (l.watch) } " "
                            span.badge.health-good title="steady" { (l.steady) }
                            @if l.unscored > 0 { " " span.muted.small { (l.unscored) " unscored" } }
                            span.visually-hidden { ": urgent, watch, steady" }
                        }
                        td {
                            @match l.imbalance {
                                Some(i) => { span.down { (format!("{:.1}", i.times)) "× the others' median of " (format!("{:.0}", i.median_of_others)) " accounts" } }
                                None => { span.muted { "in line" } }
                            }
                        }
                    }
                }
                @if loads.is_empty() { tr { td colspan="8" { "Nobody covers an account yet: the coverage rules assign owners (Playbooks → Coverage rules)." } } }
            }
        }
        p.muted.small { "Health of the book: accounts by urgency — red at twice the usual risk of churn or downsell or more, amber above it, green at or below it. Counts link to the person's accounts and queue." }
    };
    Ok(layout("Team", Some(Nav::Team), &user, body).into_response())
}
