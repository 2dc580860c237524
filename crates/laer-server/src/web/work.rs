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

use super::form::{self, Input, Problems};
use super::records::Fields;
use super::session::CsrfForm;
use super::{CurrentUser, Nav, PageError, layout, money, percent_encode, require, rights, today};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    /// `mine` (default with a team member), `snoozed`, `unassigned` or `all`.
    show: Option<String>,
    playbook: Option<String>,
    /// Everyone's: one team member's tasks.
    assignee: Option<String>,
    /// `list`: one line per task; else cards with steps and context.
    view: Option<String>,
    page: Option<String>,
    /// A task just done: the page offers to undo it.
    done: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    Mine,
    Snoozed,
    Unassigned,
    All,
}

impl Show {
    fn of(params: &Params, user: &CurrentUser) -> Show {
        match params.show.as_deref() {
            Some("unassigned") => Show::Unassigned,
            Some("all") => Show::All,
            Some("snoozed") if user.team_member_id.is_some() => Show::Snoozed,
            _ if user.team_member_id.is_some() => Show::Mine,
            _ => Show::All,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Show::Mine => "mine",
            Show::Snoozed => "snoozed",
            Show::Unassigned => "unassigned",
            Show::All => "all",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Show::Mine => "My work",
            Show::Snoozed => "My snoozed tasks",
            Show::Unassigned => "Work nobody has yet",
            Show::All => "Everyone's work",
        }
    }
}

/// Tasks on a page of the queue.
const PER_PAGE: usize = 50;
/// Open tasks a queue reads at most, the soonest due first; pages show them in priority.
const QUEUE_LIMIT: i64 = 500;

/// A task's urgency as the queue shows it.
fn due_class(due: Option<NaiveDate>, today: NaiveDate) -> &'static str {
    match due {
        Some(d) if d < today => "overdue",
        Some(d) if (d - today).num_days() <= laer_core::attention::DUE_SOON_DAYS => "soon",
        _ => "",
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    super::bounded_filters(&[("Playbook (playbook)", params.playbook.as_deref())])?;
    let today = today();
    let show = Show::of(&params, &user);
    let playbook = params.playbook.clone().filter(|p| !p.is_empty());
    let assignee: Option<i64> = match show {
        Show::All => params.assignee.as_deref().and_then(|a| a.parse().ok()),
        _ => None,
    };
    let compact = params.view.as_deref() == Some("list");
    let filter = TaskFilter {
        assignee_id: match show {
            Show::Mine | Show::Snoozed => user.team_member_id,
            _ => assignee,
        },
        unassigned: show == Show::Unassigned,
        playbook: playbook.clone(),
        status: Some(TaskStatus::Open),
        awake_on: (show != Show::Snoozed).then_some(today),
        asleep_on: (show == Show::Snoozed).then_some(today),
        // The most pressing by due date, as before: each row reads its account's MRR.
        limit: Some(QUEUE_LIMIT),
        ..Default::default()
    };
    let (mut tasks, snapshots, team) = tokio::try_join!(
        state.store.tasks(&filter, today),
        state.cache.snapshots(&state.store, today),
        state.store.team_members(),
    )?;
    // Priority: overdue first, then due within a week, then later; the larger account
    // first within each (laer_core::attention).
    laer_core::attention::sort_queue(&mut tasks, today, |t| laer_core::attention::QueueKey {
        due_on: t.due_on,
        arr: t.account_mrr.times(12),
        id: t.id,
    });
    let total = tasks.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page_no = params
        .page
        .as_deref()
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let shown: Vec<&TaskRow> = tasks.iter().skip((page_no - 1) * PER_PAGE).take(PER_PAGE).collect();
    let ids: Vec<i64> = shown.iter().map(|t| t.id).collect();
    let comments = state.store.task_comments_of(&ids).await?;
    // Each task's account as it is now, beside the context written when it fired.
    let rules = &state.health_model.phases;
    let by_id: std::collections::HashMap<i64, &laer_core::portfolio::AccountSnapshot> =
        snapshots.iter().map(|a| (a.id, a)).collect();
    let now_of = |account: Option<i64>| {
        account
            .and_then(|id| by_id.get(&id))
            .map(|a| summary_now(a, today, rules))
    };
    let automation = laer_app::automation::Automation::in_effect(&state.store)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let overdue = tasks.iter().filter(|t| t.due_on.is_some_and(|d| d < today)).count();
    let this_week = tasks.iter().filter(|t| due_class(t.due_on, today) == "soon").count();
    let can_work = user.role.can(Permission::WorkTasks);
    // The accounts the person covers, offered by name in the new task's account field.
    let book: Vec<String> = user
        .team_member_id
        .map(|m| {
            snapshots
                .iter()
                .filter(|a| a.owners.iter().any(|o| o.member_id == m))
                .map(|a| a.display_name().to_string())
                .collect()
        })
        .unwrap_or_default();
    let query = |changes: &[(&str, Option<String>)]| {
        let mut fields: Vec<(&str, Option<String>)> = vec![
            ("show", Some(show.key().to_string())),
            ("playbook", playbook.clone()),
            ("assignee", assignee.map(|a| a.to_string())),
            ("view", compact.then(|| "list".to_string())),
            ("page", (page_no > 1).then(|| page_no.to_string())),
        ];
        for (key, value) in changes {
            if let Some(f) = fields.iter_mut().find(|(k, _)| k == key) {
                f.1 = value.clone();
            }
        }
        let pairs: Vec<String> = fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", percent_encode(&v, ""))))
            .collect();
        format!("/work?{}", pairs.join("&"))
    };
    let here = query(&[]);
    let tab = |s: Show, label: &str| {
        let href = format!("/work?show={}{}", s.key(), if compact { "&view=list" } else { "" });
        html! {
            a href=(href) class=@if s == show { "active" } aria-current=[(s == show).then_some("page")] { (label) }
        }
    };
    // A task just done, offered back.
    let just_done = match params.done.as_deref().and_then(|d| d.parse::<i64>().ok()) {
        Some(id) => state.store.task(id).await?.filter(|t| t.status == TaskStatus::Done),
        None => None,
    };
    // Everyone's, not narrowed to one person: grouped by assignee.
    let grouped = show == Show::All && assignee.is_none();
    let body = html! {
        div.page-head {
            h1 { (show.title()) }
            p.muted {
                (total) @if show == Show::Snoozed { " snoozed tasks" } @else { " open tasks" }
                @if overdue > 0 { " · " span.down { (overdue) " overdue" } }
                " · " (this_week) " due within a week"
                " · ordered by priority: overdue first, then due within a week, the larger account first"
                @if user.team_member_id.is_some() && can_work {
                    " · " a href="/calendars" { "My calendars" } ": meetings come from them"
                }
            }
        }
        @if let Some(t) = &just_done {
            div.notice role="status" {
                "Done: " strong { (t.title) } ". "
                @if can_work {
                    form.inline method="post" action={"/work/tasks/" (t.id)} {
                        input type="hidden" name="csrf" value=(user.csrf_token);
                        input type="hidden" name="back" value=(query(&[("page", None)]));
                        button.secondary type="submit" name="action" value="reopen" { "Undo" }
                    }
                }
            }
        }
        nav.tabs aria-label="Queues" {
            @if user.team_member_id.is_some() { (tab(Show::Mine, "Mine")) (tab(Show::Snoozed, "Snoozed")) }
            (tab(Show::Unassigned, "Unassigned"))
            (tab(Show::All, "Everyone's"))
            form.inline method="get" action="/work" {
                input type="hidden" name="show" value=(show.key());
                @if compact { input type="hidden" name="view" value="list"; }
                @if show == Show::All {
                    select name="assignee" aria-label="Assignee" data-autosubmit {
                        option value="" { "Everyone" }
                        @for m in &team { option value=(m.id) selected[assignee == Some(m.id)] { (m.name) } }
                    }
                }
                select name="playbook" aria-label="Playbook" data-autosubmit {
                    option value="" { "Every playbook" }
                    option value="handoff" selected[playbook.as_deref() == Some("handoff")] { "Hand-offs" }
                    @for p in &automation.playbooks.playbooks {
                        option value=(p.name) selected[playbook.as_deref() == Some(p.name.as_str())] { (p.title) }
                    }
                }
                noscript { button type="submit" { "Filter" } }
            }
            a.secondary.view-switch href=(query(&[("view", (!compact).then(|| "list".to_string()))])) {
                @if compact { "Show details" } @else { "Compact list" }
            }
        }
        @match rights::require_role(&user, Permission::WorkTasks) {
            Ok(()) => {
                details.card #new-task {
                    summary { "New task" }
                    (task_form(&user, &team, None, &book, &Fields::new(), &Problems::new()))
                }
            }
            Err(_) => { (refused_note(&user)) }
        }
        @if tasks.is_empty() {
            section.card { p {
                @match show {
                    Show::Snoozed => { "No task is snoozed. A snoozed task comes back on its day." }
                    _ => { "Nothing to do here. New work arrives as playbooks fire and accounts change hands." }
                }
            } }
        }
        ol.tasks.compact[compact] #tasks {
            @for (i, t) in shown.iter().enumerate() {
                @if grouped && (i == 0 || shown[i - 1].assignee_id != t.assignee_id) {
                    li.group { h2 { (t.assignee.as_deref().unwrap_or("Nobody yet")) } }
                }
                li class={"task " (due_class(t.due_on, today))} {
                    (task_card(t, now_of(t.account_id).as_deref(), today, &team, &user, can_work, &here, compact, t.playbook.is_some().then(|| super::account::trigger_label(t.playbook.as_deref(), &automation.playbooks)).as_deref()))
                    @if !compact { (comments_of(comments.get(&t.id).map(Vec::as_slice).unwrap_or_default())) }
                }
            }
        }
        @if pages > 1 {
            nav.pages aria-label="Pages" {
                @if page_no > 1 { a href=(query(&[("page", Some((page_no - 1).to_string()))])) { "← Previous" } }
                span { "Page " (page_no) " of " (pages) }
                @if page_no < pages { a href=(query(&[("page", Some((page_no + 1).to_string()))])) { "Next →" } }
            }
        }
    };
    Ok(layout(show.title(), Some(Nav::Work), &user, body).into_response())
}

/// Why now, in one sentence: the task's reason, or (for tasks made before reasons were
/// kept) the first part of its context.
fn reason_of(t: &TaskRow) -> &str {
    match t.reason.as_deref() {
        Some(r) if !r.is_empty() => r,
        _ => t.context.split(". ").next().unwrap_or_default(),
    }
}

#[allow(clippy::too_many_arguments)]
fn task_card(
    t: &TaskRow,
    now: Option<&str>,
    today: NaiveDate,
    team: &[laer_core::automation::Member],
    user: &CurrentUser,
    can_work: bool,
    back: &str,
    compact: bool,
    trigger: Option<&str>,
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
            @if let Some(p) = trigger { span.tag { (p) } }
            @if let Some(r) = t.role { span.tag.role { (role_label(r)) } }
        }
        h3 { (t.title) }
        p.meta {
            @if let (Some(id), Some(name)) = (t.account_id, &t.account) {
                a href={"/accounts/" (id)} { (name) } " · ARR " (money(t.account_mrr.times(12)))
            }
            " · " (t.assignee.as_deref().unwrap_or("unassigned"))
        }
        p.reason { (reason_of(t)) }
        @if !compact {
            details.context-more {
                summary { "Context" }
                p.context { span.muted { "As of " (t.created_at.date_naive()) ": " } (t.context) }
                @if let Some(now) = now { p.context.now { span.muted { "Now: " } (now) } }
            }
            @if !t.steps.is_empty() {
                details.steps {
                    summary { (t.steps.len()) " steps" }
                    ol { @for s in &t.steps { li { (s) } } }
                }
            }
        }
        @if can_work {
            div.task-actions {
                form.inline method="post" action=(action) {
                    input type="hidden" name="csrf" value=(user.csrf_token);
                    input type="hidden" name="back" value=(back);
                    @if !compact {
                        input type="text" name="outcome" maxlength="2000" placeholder="How did it go? (optional)" aria-label="How did it go? (optional)";
                    }
                    button type="submit" name="action" value="done" { "Done" }
                    button.secondary type="submit" name="action" value="snooze" { "Snooze a week" }
                }
                @if !compact {
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
                    }
                    form method="post" action=(action) {
                        input type="hidden" name="csrf" value=(user.csrf_token);
                        input type="hidden" name="back" value=(back);
                        button.secondary.danger type="submit" name="action" value="cancel" data-confirm="Cancel this task? It leaves every queue." { "Cancel the task" }
                    }
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
    /// With Done: how it went, kept as a comment (optional).
    outcome: Option<String>,
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
    // Where to go next is settled before the change is written, so that nothing can fail
    // after it.
    // Back to My work, or to the account page a task was done from.
    let back = safe_back(form.back.as_deref(), &["/work", "/accounts/"], "/work");
    let outcome = form.outcome.as_deref().map(str::trim).filter(|o| !o.is_empty());
    if let (TaskChange::Done, Some(outcome)) = (&change, outcome) {
        if outcome.chars().count() > 2_000 {
            return Err(PageError::BadRequest("How did it go: at most 2,000 characters.".into()));
        }
        state
            .store
            .update_task(id, &TaskChange::Comment(format!("Done: {outcome}")), &user.actor())
            .await?;
    }
    state.store.update_task(id, &change, &user.actor()).await?;
    // Done from My work: the page offers to undo it.
    if matches!(change, TaskChange::Done) && back.starts_with("/work") && !back.contains('#') {
        let joiner = if back.contains('?') { '&' } else { '?' };
        return Ok(Redirect::to(&format!("{back}{joiner}done={id}")).into_response());
    }
    Ok(Redirect::to(back).into_response())
}

/// Where a form of My work goes after its change (issue 15): `back` when it is a page of
/// this app under one of `pages` written in plain path characters, else `default`. A
/// value a `Location` header cannot carry (a CR or LF) used to fail the answer with a 500
/// after the change was saved; one that leaves the app (`//evil.example`) is refused too.
fn safe_back<'a>(back: Option<&'a str>, pages: &[&str], default: &'a str) -> &'a str {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/?=&-_.~%+,#".contains(c);
    let under = |b: &str| {
        pages.iter().any(|page| {
            b.strip_prefix(page)
                .is_some_and(|rest| page.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?', '#']))
        })
    };
    match back.map(str::trim) {
        Some(b) if under(b) && !b.starts_with("//") && b.chars().all(plain) => b,
        _ => default,
    }
}

/// Why the user cannot work on tasks, where the controls would be.
fn refused_note(user: &CurrentUser) -> Markup {
    match user.role.may(Permission::WorkTasks, None) {
        Ok(()) => html! {},
        Err(refusal) => rights::note(&refusal),
    }
}

/// A task's comments, oldest first, under a disclosure.
fn comments_of(comments: &[laer_store::TaskComment]) -> Markup {
    html! {
        @if !comments.is_empty() {
            details.comments {
                summary { (comments.len()) @if comments.len() == 1 { " comment" } @else { " comments" } }
                ol.comments {
                    @for c in comments {
                        li {
                            p.meta { time datetime=(c.at.to_rfc3339()) { (c.at.format("%Y-%m-%d %H:%M")) } " · " (c.author) }
                            p.comment { (c.body) }
                        }
                    }
                }
            }
        }
    }
}

/// The "new task" form: title, due date, assignee (a team member; the person's own by
/// default), and the account, chosen by name or external id on My work (`book`: the
/// person's accounts, offered) or fixed (`fixed`: on the account's page). The form
/// carries a token of its own, so that sending it twice creates one task.
pub(crate) fn task_form(
    user: &CurrentUser,
    team: &[laer_core::automation::Member],
    fixed: Option<(i64, &str)>,
    book: &[String],
    values: &Fields,
    problems: &Problems,
) -> Markup {
    let value = |name: &str| values.get(name).map(String::as_str).unwrap_or_default();
    let token = match value("token") {
        "" => laer_store::random_id().unwrap_or_default(),
        t => t.to_string(),
    };
    let assignee = match value("assignee") {
        "" if !values.contains_key("assignee") => user.team_member_id.map(|m| m.to_string()).unwrap_or_default(),
        a => a.to_string(),
    };
    let mut people = vec![(String::new(), "Nobody yet".to_string())];
    people.extend(team.iter().map(|m| {
        let me = user.team_member_id == Some(m.id);
        (
            m.id.to_string(),
            if me { format!("{} (me)", m.name) } else { m.name.clone() },
        )
    }));
    let back = match (value("back"), fixed) {
        ("", Some((id, _))) => format!("/accounts/{id}#work"),
        ("", None) => "/work".to_string(),
        (b, _) => b.to_string(),
    };
    html! {
        form.stacked.task-form method="post" action="/work/tasks" {
            (form::csrf(user))
            (form::summary(problems))
            input type="hidden" name="token" value=(token);
            input type="hidden" name="back" value=(back);
            (form::field("Title", "title", Input::Text, value("title"), problems))
            (form::field("Due", "due", Input::Date, value("due"), problems))
            (form::select("For", "assignee", &people, &assignee, problems))
            @match fixed {
                Some((id, name)) => {
                    input type="hidden" name="account_id" value=(id);
                    p.muted { "Account: " (name) }
                }
                None => {
                    label.field.invalid[problems.at("account").is_some()] {
                        "Account (name or external id; empty: none)"
                        input type="text" name="account" value=(value("account")) list="task-accounts"
                            aria-invalid=[problems.at("account").map(|_| "true")];
                        @if let Some(message) = problems.at("account") { span.field-problem { (message) } }
                    }
                    datalist #task-accounts { @for name in book { option value=(name) {} } }
                }
            }
            button type="submit" { "Create the task" }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewTaskQuery {
    account: Option<i64>,
}

/// `GET /work/tasks/new[?account=ID]`: the new task form on a page of its own.
pub(crate) async fn new_task_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<NewTaskQuery>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::WorkTasks)?;
    let mut values = Fields::new();
    if let Some(id) = query.account {
        values.insert("account_id".into(), id.to_string());
    }
    new_task_response(&state, &user, &values, &Problems::new(), axum::http::StatusCode::OK).await
}

async fn new_task_response(
    state: &AppState,
    user: &CurrentUser,
    values: &Fields,
    problems: &Problems,
    status: axum::http::StatusCode,
) -> Result<Response, PageError> {
    let team = state.store.team_members().await?;
    let fixed = match values.get("account_id").and_then(|a| a.trim().parse::<i64>().ok()) {
        Some(id) => {
            let account = state
                .store
                .account(id)
                .await?
                .ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
            Some((id, account.fields.name.unwrap_or(account.fields.external_id)))
        }
        None => None,
    };
    let body = html! {
        section.card.narrow.wide {
            h1 { "New task" }
            (task_form(user, &team, fixed.as_ref().map(|(id, n)| (*id, n.as_str())), &[], values, problems))
        }
    };
    Ok((status, layout("New task", Some(Nav::Work), user, body)).into_response())
}

/// `POST /work/tasks`: a task of one's own, not tied to a playbook (`task.created`,
/// audited). Bad input: the form again with each problem at its field (400), nothing
/// written.
pub(crate) async fn create(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::WorkTasks)?;
    let value = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let mut problems = Problems::new();
    let due = match value("due") {
        "" => None,
        d => problems.check("due", laer_core::parse::date(d)),
    };
    let assignee = match value("assignee") {
        "" => None,
        a => problems.check(
            "assignee",
            a.parse::<i64>()
                .map_err(|_| format!("expected a team member, found {a:?}")),
        ),
    };
    let account = match (value("account_id"), value("account")) {
        ("", "") => None,
        ("", named) => {
            let snapshots = state.cache.snapshots(&state.store, today()).await?;
            problems.check("account", account_named(&snapshots, named))
        }
        (id, _) => problems.check(
            "account",
            id.parse::<i64>()
                .map_err(|_| format!("expected an account, found {id:?}")),
        ),
    };
    // Only back to a page of this app; settled before anything is written.
    let back = safe_back(Some(value("back")), &["/work", "/accounts/"], "/work");
    let token = value("token");
    if token.is_empty() || token.len() > 100 {
        problems.add("", "The form lacks its token; reload the page and send it again.");
    }
    let task = laer_core::model::NewTask::own(
        &format!("web-task-{token}"),
        value("title"),
        due,
        assignee,
        account,
        chrono::Utc::now(),
    );
    let task = match task {
        Ok(task) if problems.is_empty() => task,
        Ok(_) => return new_task_response(&state, &user, &form, &problems, axum::http::StatusCode::BAD_REQUEST).await,
        Err(e) => {
            problems.add(e.field(), e.to_string());
            return new_task_response(&state, &user, &form, &problems, axum::http::StatusCode::BAD_REQUEST).await;
        }
    };
    if let Err(e) = state.store.create_task(&task, &user.actor()).await {
        let problems = Problems::from_store(e)?;
        return new_task_response(&state, &user, &form, &problems, axum::http::StatusCode::BAD_REQUEST).await;
    }
    Ok(Redirect::to(back).into_response())
}

/// The account a person named: by external id, else by name (any case); a name several
/// accounts have is refused, asking for the external id.
fn account_named(snapshots: &[laer_core::portfolio::AccountSnapshot], named: &str) -> Result<i64, String> {
    if let Some(a) = snapshots.iter().find(|a| a.external_id == named) {
        return Ok(a.id);
    }
    let wanted = named.to_lowercase();
    let matching: Vec<i64> = snapshots
        .iter()
        .filter(|a| a.name.as_deref().is_some_and(|n| n.to_lowercase() == wanted))
        .map(|a| a.id)
        .collect();
    match matching.as_slice() {
        [id] => Ok(*id),
        [] => Err(format!("no account is named {named:?}")),
        _ => Err(format!(
            "{} accounts are named {named:?}; give the external id",
            matching.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_back;

    #[test]
    fn only_plain_paths_of_the_app_are_gone_back_to() {
        let work = |b: &str| safe_back(Some(b), &["/work", "/accounts/"], "/work").to_string();
        assert_eq!(
            work("/work?show=all&playbook=renewal-120"),
            "/work?show=all&playbook=renewal-120"
        );
        assert_eq!(work("/accounts/12#work"), "/accounts/12#work");
        for unsafe_back in [
            "/work\r\nSet-Cookie: x=1",
            "/work\n",
            "/workshop.example",
            "//evil.example/work",
            "https://evil.example/work",
            "/work/\t/evil",
            "/portfolio",
            "",
        ] {
            assert_eq!(work(unsafe_back), "/work", "{unsafe_back:?}");
        }
        assert_eq!(safe_back(None, &["/work"], "/work"), "/work");
    }
}
