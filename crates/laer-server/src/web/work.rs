//! My work: a team member's task queue (due first, larger accounts first), the tasks
//! nobody has yet, and everyone's; each task can be done, snoozed, reassigned or
//! commented from the page, every change audited (docs/automation.md).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeDelta};
use laer_core::access::Permission;
use laer_core::automation::coverage::role_label;
use laer_core::automation::facts::summary_now;
use laer_core::model::TaskStatus;
use laer_store::{TaskChange, TaskFilter, TaskRow};
use maud::{Markup, html};
use serde::Deserialize;

use super::session::CsrfForm;
use super::{CurrentUser, Nav, PageError, layout, money, percent_encode, require, today};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    /// `mine` (default with a team member), `unassigned` or `all`.
    show: Option<String>,
    playbook: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    Mine,
    Unassigned,
    All,
}

impl Show {
    fn of(params: &Params, user: &CurrentUser) -> Show {
        match params.show.as_deref() {
            Some("unassigned") => Show::Unassigned,
            Some("all") => Show::All,
            _ if user.team_member_id.is_some() => Show::Mine,
            _ => Show::All,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Show::Mine => "mine",
            Show::Unassigned => "unassigned",
            Show::All => "all",
        }
    }
}

/// A task's urgency as the queue shows it.
fn due_class(due: Option<NaiveDate>, today: NaiveDate) -> &'static str {
    match due {
        Some(d) if d < today => "overdue",
        Some(d) if d <= today + TimeDelta::days(7) => "soon",
        _ => "",
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    let today = today();
    let show = Show::of(&params, &user);
    let playbook = params.playbook.clone().filter(|p| !p.is_empty());
    let filter = TaskFilter {
        assignee_id: if show == Show::Mine { user.team_member_id } else { None },
        unassigned: show == Show::Unassigned,
        playbook: playbook.clone(),
        status: Some(TaskStatus::Open),
        awake_on: Some(today),
        limit: Some(500),
        ..Default::default()
    };
    let tasks = state.store.tasks(&filter, today).await?;
    // Each task's account as it is now, beside the context written when it fired.
    let snapshots = state.cache.snapshots(&state.store, today).await?;
    let rules = &state.health_model.phases;
    let by_id: std::collections::HashMap<i64, &laer_core::portfolio::AccountSnapshot> =
        snapshots.iter().map(|a| (a.id, a)).collect();
    let now_of = |account: Option<i64>| {
        account
            .and_then(|id| by_id.get(&id))
            .map(|a| summary_now(a, today, rules))
    };
    let team = state.store.team_members().await?;
    let automation = laer_app::automation::Automation::in_effect(&state.store)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let overdue = tasks.iter().filter(|t| t.due_on.is_some_and(|d| d < today)).count();
    let this_week = tasks
        .iter()
        .filter(|t| t.due_on.is_some_and(|d| d >= today && d <= today + TimeDelta::days(7)))
        .count();
    let can_work = user.role.can(Permission::WorkTasks);
    let here = format!(
        "/work?show={}{}",
        show.key(),
        playbook
            .as_deref()
            .map(|p| format!("&playbook={}", percent_encode(p, "")))
            .unwrap_or_default()
    );
    let tab = |s: Show, label: &str| {
        html! {
            a href={"/work?show=" (s.key())} class=@if s == show { "active" } { (label) }
        }
    };
    let body = html! {
        div.page-head {
            h1 { "My work" }
            p.muted {
                (tasks.len()) " open tasks"
                @if overdue > 0 { " · " span.down { (overdue) " overdue" } }
                " · " (this_week) " due within a week"
            }
        }
        nav.tabs {
            @if user.team_member_id.is_some() { (tab(Show::Mine, "Mine")) }
            (tab(Show::Unassigned, "Unassigned"))
            (tab(Show::All, "Everyone's"))
            form.inline method="get" action="/work" {
                input type="hidden" name="show" value=(show.key());
                select name="playbook" aria-label="Playbook" data-autosubmit {
                    option value="" { "Every playbook" }
                    option value="handoff" selected[playbook.as_deref() == Some("handoff")] { "Hand-offs" }
                    @for p in &automation.playbooks.playbooks {
                        option value=(p.name) selected[playbook.as_deref() == Some(p.name.as_str())] { (p.title) }
                    }
                }
                noscript { button type="submit" { "Filter" } }
            }
        }
        @if tasks.is_empty() {
            section.card { p { "Nothing to do here. New work arrives as playbooks fire and accounts change hands." } }
        }
        ol.tasks #tasks {
            @for t in &tasks {
                li class={"task " (due_class(t.due_on, today))} {
                    (task_card(t, now_of(t.account_id).as_deref(), today, &team, &user, can_work, &here))
                }
            }
        }
    };
    Ok(layout("My work", Some(Nav::Work), &user, body).into_response())
}

fn task_card(
    t: &TaskRow,
    now: Option<&str>,
    today: NaiveDate,
    team: &[laer_core::automation::Member],
    user: &CurrentUser,
    can_work: bool,
    back: &str,
) -> Markup {
    let action = format!("/work/tasks/{}", t.id);
    html! {
        div.task-head {
            span.due {
                @match t.due_on {
                    Some(d) if d < today => { "overdue since " (d) }
                    Some(d) => { "due " (d) }
                    None => { "no due date" }
                }
            }
            @if let Some(p) = &t.playbook { span.tag { (p) } }
            @if let Some(r) = t.role { span.tag.role { (role_label(r)) } }
        }
        h3 { (t.title) }
        p.meta {
            @if let (Some(id), Some(name)) = (t.account_id, &t.account) {
                a href={"/accounts/" (id)} { (name) } " · ARR " (money(t.account_mrr.times(12)))
            }
            " · " (t.assignee.as_deref().unwrap_or("unassigned"))
        }
        p.context { span.muted { "As of " (t.created_at.date_naive()) ": " } (t.context) }
        @if let Some(now) = now { p.context.now { span.muted { "Now: " } (now) } }
        @if !t.steps.is_empty() {
            details.steps {
                summary { (t.steps.len()) " steps" }
                ol { @for s in &t.steps { li { (s) } } }
            }
        }
        @if can_work {
            div.task-actions {
                form.inline method="post" action=(action) {
                    input type="hidden" name="csrf" value=(user.csrf_token);
                    input type="hidden" name="back" value=(back);
                    button type="submit" name="action" value="done" { "Done" }
                    button.secondary type="submit" name="action" value="snooze" { "Snooze a week" }
                }
                details.more {
                    summary { "More" }
                    form method="post" action=(action) {
                        input type="hidden" name="csrf" value=(user.csrf_token);
                        input type="hidden" name="back" value=(back);
                        label { "Snooze until " input type="date" name="until" min=(today + TimeDelta::days(1)); }
                        button.secondary type="submit" name="action" value="snooze" { "Snooze" }
                    }
                    form method="post" action=(action) {
                        input type="hidden" name="csrf" value=(user.csrf_token);
                        input type="hidden" name="back" value=(back);
                        label { "Give to "
                            select name="assignee" {
                                @for m in team {
                                    option value=(m.id) selected[t.assignee_id == Some(m.id)] { (m.name) }
                                }
                            }
                        }
                        button.secondary type="submit" name="action" value="reassign" { "Reassign" }
                    }
                    form method="post" action=(action) {
                        input type="hidden" name="csrf" value=(user.csrf_token);
                        input type="hidden" name="back" value=(back);
                        label { "Comment " textarea name="comment" rows="2" required {} }
                        button.secondary type="submit" name="action" value="comment" { "Add comment" }
                        button.secondary type="submit" name="action" value="cancel" { "Cancel the task" }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TaskForm {
    action: String,
    until: Option<String>,
    assignee: Option<String>,
    comment: Option<String>,
    back: Option<String>,
}

/// `POST /work/tasks/{id}`: done, snooze, reassign, comment or cancel, audited.
pub(crate) async fn change(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<TaskForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::WorkTasks)?;
    let change = match form.action.as_str() {
        "done" => TaskChange::Done,
        "reopen" => TaskChange::Reopen,
        "cancel" => TaskChange::Cancel,
        "snooze" => {
            let until = match form.until.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                Some(u) => u
                    .parse::<NaiveDate>()
                    .map_err(|_| PageError::BadRequest(format!("Snooze until: expected a date, found {u:?}.")))?,
                None => today() + TimeDelta::days(7),
            };
            if until <= today() {
                return Err(PageError::BadRequest("Snooze until a day after today.".into()));
            }
            TaskChange::Snooze(until)
        }
        "reassign" => TaskChange::Reassign(
            form.assignee
                .as_deref()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| PageError::BadRequest("Reassign: choose a team member.".into()))?,
        ),
        "comment" => TaskChange::Comment(form.comment.unwrap_or_default()),
        other => return Err(PageError::BadRequest(format!("Unknown action {other:?}."))),
    };
    state.store.update_task(id, &change, &user.actor()).await?;
    // Only back to a page of this app.
    let back = form
        .back
        .filter(|b| b.starts_with("/work"))
        .unwrap_or_else(|| "/work".into());
    Ok(Redirect::to(&back).into_response())
}
