//! Account 360: profile and coverage, contracts and MRR history, usage over time, users
//! by department, support cases, outcomes, and a timeline of all of it with the
//! touchpoints (filtered and searched; see `web/touchpoints.rs`).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Months, NaiveDate};
use laer_core::Money;
use laer_core::access::Permission;
use laer_core::automation::coverage::role_label;
use laer_core::model::TeamRole;
use laer_core::model::mrr_on;
use laer_core::timeline::{Entry, EntryKind};
use laer_store::AccountView;
use maud::{Markup, html};

use super::{CurrentUser, PageError, date, figure, layout, money, money_exact, num, require, today};
use crate::AppState;
use laer_charts::{Color, HorizontalBarChart, LineChart, Series, ValueFormat};

const HISTORY_MONTHS: u32 = 24;

/// The timeline's filter: `?kind=call&team=executive&q=firewall`.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct TimelineQuery {
    kind: Option<String>,
    team: Option<String>,
    q: Option<String>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(filter): Query<TimelineQuery>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    super::bounded_filters(&[
        ("Search (q)", filter.q.as_deref()),
        ("Kind (kind)", filter.kind.as_deref()),
        ("Team (team)", filter.team.as_deref()),
    ])?;
    let today = today();
    // Many people asking for one account at once share its reads (web/coalesce.rs).
    let reads = state
        .cache
        .accounts
        .get((id, today), || read_account(&state, id, today))
        .await?;
    let AccountReads {
        view,
        health_now,
        health_history,
        accuracy,
        set_by_hand,
        coverage_history,
        team,
        open_tasks,
        runs,
        snapshots,
        touchpoints,
        comments,
        handoff,
    } = &*reads;
    let view = view
        .as_ref()
        .ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
    // The playbooks' titles, for the tasks' and runs' triggers.
    let automation = laer_app::automation::Automation::in_effect(&state.store)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    // Contacts and cadences, with their forms (web/people.rs).
    let stakeholders = super::people::section(&state, &user, id, touchpoints, today).await?;
    let owners = snapshots
        .iter()
        .find(|a| a.id == id)
        .map(|a| a.owners.clone())
        .unwrap_or_default();
    let a = &view.account.fields;
    let name = a.name.clone().unwrap_or_else(|| a.external_id.clone());
    let lines: Vec<_> = view.subscriptions.iter().map(|s| s.fields.clone()).collect();
    let mrr = mrr_on(&lines, today);
    // The tiles' figures are the health's own (laer_core::figures): the same active
    // users, seats and NPS as the drivers, the success plan and the API.
    let figures = health_now.as_ref().map(|h| h.figures);
    let count = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format!("{x:.0}"));
    let churn = super::health::churn_model(accuracy.as_ref());
    let outlook = health_now
        .as_ref()
        .map(|h| laer_core::forecast::churn::outlook(&churn, h.forecast));
    let body = html! {
        div.page-head {
            h1 { (name) }
            p.muted { (a.external_id) " · " (a.segment.as_deref().unwrap_or("no segment")) @if let Some(c) = &a.country { " · " (c) }
                " · " a href={"/accounts/" (id) "/plan"} { "Success plan" }
                " · " a href={"/accounts/" (id) "/records"} { "Record by hand" } }
        }
        div.kpis {
            div.kpi { span { "Health" } (super::health::figure_of(health_now.as_ref().and_then(|h| h.health.exact), &super::health::scale_only(accuracy.as_ref()))) }
            div.kpi { span { "ARR" } strong { (money(mrr.times(12))) } }
            div.kpi { span { "Renewal" } strong { (date(a.renewal_date)) } }
            @if let (Some(o), false) = (&outlook, mrr.is_zero()) {
                div.kpi { span { "Churn chance, " (o.horizon_days) " days" } strong { a href="#outlook" { (super::forecast::chance(o.churn)) } } }
            }
            @if let Some(f) = figures {
                div.kpi { span { "Active users, last " (f.usage_days) " days" }
                    strong { (count(f.active_users)) @if let Some(seats) = f.seats { " / " (count(Some(seats))) " seats" } } }
                div.kpi { span { "NPS, last " (f.experience_days) " days" }
                    strong { (f.nps.map_or("–".to_string(), |n| format!("{n:+.0}"))) } }
            }
            div.kpi { span { "Open cases" } strong { (view.cases.iter().filter(|c| c.closed_at.is_none()).count()) } }
        }
        (index())
        (glance(&Glance {
            id,
            user: &user,
            today,
            health: health_now.as_ref(),
            snapshot: snapshots.iter().find(|a| a.id == id),
            rules: &state.health_model.phases,
            open_tasks,
            touchpoints,
            playbooks: &automation.playbooks,
            view,
            coverage_history,
            handoff: handoff.as_ref(),
        }))
        (super::touchpoints::timeline(&user, id, view, touchpoints, comments, &filter.filter(), today))
        @if let Some(now) = &health_now {
            (super::health::panel(now, health_history, accuracy.as_ref(), set_by_hand.as_ref(), &user, id))
            // A customer's chances of churn and downsell (laer_core::forecast::churn).
            @if !mrr.is_zero() {
                (super::forecast::account_section(&churn, &now.forecast, &now.health.drivers, &user))
            }
        }
        section.card #work {
            h2 { "Work" }
            // Issue 14: a task of one's own for this account (work.rs).
            @match user.role.may(Permission::WorkTasks, None) {
                Ok(()) => { details #new-task { summary { "New task" }
                    (super::work::task_form(&user, team, Some((id, &name)), &[], &super::records::Fields::new(), &super::form::Problems::new())) } }
                Err(refusal) => { (super::rights::note(&refusal)) }
            }
            @if open_tasks.is_empty() { p.muted { "No open tasks." } }
            @else {
                table.data {
                    thead { tr { th { "Due" } th { "Task" } th { "For" } th { "Playbook" } } }
                    tbody { @for t in open_tasks.iter() {
                        tr {
                            td { @match t.due_on { Some(d) if d < today => { span.down { (d) } } d => { (date(d)) } } }
                            td { (t.title) }
                            td { (t.assignee.as_deref().unwrap_or("unassigned")) @if let Some(r) = t.role { " · " (role_label(r)) } }
                            td { (trigger_label(t.playbook.as_deref(), &automation.playbooks)) }
                        }
                    } }
                }
                p { a href="/work?show=all" { "All open work" } }
            }
            @if !runs.is_empty() {
                details {
                    summary { "Playbook runs (" (runs.len()) ")" }
                    table.data {
                        thead { tr { th { "Fired" } th { "Playbook" } th { "Cause" } th { "Evidence" } th { "Ended" } } }
                        tbody { @for r in runs.iter() {
                            tr { td { (r.fired_on) } td { (trigger_label(Some(&r.playbook), &automation.playbooks)) } td { (r.cause) } td { (r.evidence) } td { @if r.open { "open" } @else { (date(r.closed_on)) } } }
                        } }
                    }
                }
            }
            @if !coverage_history.is_empty() {
                details #coverage-history {
                    summary { "Every change of owner (" (coverage_history.len()) ")" }
                    table.data {
                        thead { tr { th { "Role" } th { "Who" } th { "From" } th { "Until" } th { "Why" } } }
                        tbody { @for c in coverage_history.iter() {
                            tr { td { (role_label(c.role)) } td { (c.member) } td.date { (c.since) } td.date { (date(c.until)) } td { (c.reason) } }
                        } }
                    }
                }
            }
        }
        div.grid2 #people {
            section.card {
                h2 { "Profile" }
                dl {
                    @if let Some(ch) = &a.channel { dt { "Channel" } dd { (plain_value(ch)) } }
                    @for (k, v) in &a.attributes { dt { (humanize(k)) } dd { (plain_value(v)) } }
                }
                h3 { "Coverage" }
                @if owners.is_empty() { p.muted { "Nobody covers this account (tech-touch or former customer)." } }
                ul { @for o in &owners {
                    @let by_hand = coverage_history.iter().any(|c| c.until.is_none() && c.by_hand && c.role == o.role && c.member == o.name);
                    li { (o.name) " · " (role_label(o.role)) @if by_hand { " " span.tag { "by hand" } } }
                } }
                @if let Err(refusal) = user.role.may(Permission::ManageAutomation, None) {
                    (super::rights::note(&refusal))
                } @else if !team.is_empty() {
                    details #assign {
                        summary { "Assign an owner by hand" }
                        form method="post" action={"/accounts/" (id) "/coverage"} {
                            input type="hidden" name="csrf" value=(user.csrf_token);
                            label { "Role" select name="role" {
                                @for r in [TeamRole::Csm, TeamRole::AccountExecutive, TeamRole::RenewalSpecialist, TeamRole::ExpansionSpecialist] {
                                    option value=(r.as_str()) { (role_label(r)) }
                                }
                            } }
                            label { "Who" select name="member" {
                                option value="auto" { "Auto: the coverage rules decide" }
                                @for m in team.iter() { option value=(m.id) { (m.name) } }
                            } }
                            label { "Why" input type="text" name="reason" required; }
                            button type="submit" { "Assign" }
                        }
                    }
                }
            }
            (stakeholders)
        }
        div.grid2 #usage {
            (mrr_history(view, today))
            (usage(view, today))
            (features(view))
            (departments(view))
        }
        section.card #contracts-section {
            h2 { "Contracts" }
            @if view.subscriptions.is_empty() {
                p.muted { "No contract lines yet. They come from an import of subscriptions (CSV or the API), or from Record by hand." }
            }
            table.data #contracts {
                thead { tr { th { "Product" } th { "Start" } th { "End" } th.num { "MRR" } th.num { "Quantity" } th.num { "Billing (months)" } } }
                tbody { @for s in view.subscriptions.iter().rev() { @let s = &s.fields; tr {
                    td { (s.product) } td { (s.start_date) } td { (date(s.end_date)) } td.num { (money_exact(s.mrr)) @if let Some(o) = s.original { br; span.muted title="Billed in this currency; MRR at the latest exchange rate" { (o.mrr) " " (o.currency) } } }
                    td.num { (s.quantity.map_or("–".to_string(), |q| format!("{q} {}", s.units.as_deref().unwrap_or("")))) } td.num { (s.bill_period_months) }
                } } }
            }
        }
        section.card #cases {
            h2 { "Support cases" }
            @if view.cases.is_empty() {
                p.muted { "No support cases. They come from an import of cases (CSV or the API), or from Record by hand." }
            } @else {
            p.muted { (view.cases.len()) " cases, " (view.cases.iter().filter(|c| c.kind == "how_to").count()) " of them how-to (an adoption need)"
                @if view.cases.len() > 15 { "; the latest 15:" } }
            }
            table.data { thead { tr { th { "Opened" } th { "Kind" } th.num { "Severity" } th { "Status" } th { "Subject" } } }
                tbody { @for c in view.cases.iter().take(15) { tr { td { (c.opened_at.date_naive()) } td.nowrap { (c.kind.replace('_', "-")) } td.num { (c.severity) } td { (c.status) } td { (c.subject.as_deref().unwrap_or("")) } } } } }
        }
        section.card #outcomes-section {
            h2 { "Outcomes" }
            @if view.outcomes.is_empty() { p.muted { "No quantified outcomes agreed yet. Agree them with the customer in the success plan, where their measurements are recorded." } }
            table.data #outcomes { thead { tr { th { "Outcome" } th.num { "Baseline" } th.num { "Now" } th.num { "Target" } th { "By" } th.num { "Progress" } } }
                tbody { @for o in &view.outcomes {
                    @let now = o.measurements.last().map(|m| m.1);
                    @let progress = now.and_then(|n| o.direction.progress(o.baseline, o.target, n));
                    tr { td { (o.name) } td.num { (num(o.baseline, &o.unit)) } td.num { (now.map_or("–".to_string(), |n| num(n, &o.unit))) } td.num { (num(o.target, &o.unit)) } td { (date(o.target_date)) }
                         td.num { (progress.map_or("–".to_string(), |p| format!("{:.0}%", p * 100.0))) } }
                } }
            }
        }
    };
    Ok(layout(&name, None, &user, body).into_response())
}

/// The account page's sections, an index that stays at the top as the page scrolls.
fn index() -> Markup {
    html! {
        nav.section-index aria-label="Sections of the account" {
            a href="#glance" { "At a glance" }
            a href="#timeline" { "Timeline" }
            a href="#health" { "Health" }
            a href="#work" { "Work" }
            a href="#people" { "People" }
            a href="#usage" { "Usage" }
            a href="#contracts-section" { "Contracts" }
            a href="#cases" { "Cases" }
            a href="#outcomes-section" { "Outcomes" }
        }
    }
}

/// What the summary at the top of the account page reads.
struct Glance<'a> {
    id: i64,
    user: &'a CurrentUser,
    today: NaiveDate,
    health: Option<&'a laer_app::health::AccountHealthNow>,
    snapshot: Option<&'a laer_core::portfolio::AccountSnapshot>,
    rules: &'a laer_core::lifecycle::PhaseRules,
    open_tasks: &'a [laer_store::TaskRow],
    touchpoints: &'a [laer_store::Touchpoint],
    playbooks: &'a laer_core::automation::Playbooks,
    view: &'a AccountView,
    coverage_history: &'a [laer_store::CoverageRow],
    /// The note the account's owner wrote for the next, if any.
    handoff: Option<&'a laer_store::HandoffNote>,
}

/// The hand-off note drafted from the records (laer_core::handoff), and who covered the
/// user's role before them. Open when the user took the account in the last 30 days.
fn handoff_note(g: &Glance<'_>) -> Markup {
    let records = laer_core::handoff::Records {
        today: g.today,
        goals: g
            .view
            .outcomes
            .iter()
            .map(|o| laer_core::handoff::Goal {
                name: &o.name,
                target: num(o.target, &o.unit),
                by: o.target_date,
                progress: o
                    .measurements
                    .last()
                    .and_then(|(_, now)| o.direction.progress(o.baseline, o.target, *now)),
            })
            .collect(),
        next_steps: g
            .touchpoints
            .iter()
            .filter(|t| t.record.status == laer_core::model::MeetingStatus::Held)
            .filter_map(|t| Some((t.record.held_at.date_naive(), t.record.next_step.as_deref()?)))
            .collect(),
        drivers: g
            .health
            .map(|h| {
                h.health
                    .drivers
                    .iter()
                    .map(|d| (d.measure.as_str(), d.value, d.possible - d.contribution))
                    .collect()
            })
            .unwrap_or_default(),
        open_cases: g.view.cases.iter().filter(|c| c.closed_at.is_none()).count(),
        renewal: g.snapshot.and_then(|s| s.renewal_date),
        people: g
            .view
            .contacts
            .iter()
            .filter_map(|c| {
                Some(laer_core::handoff::Person {
                    name: c.name.as_deref()?,
                    title: c.title.as_deref(),
                    role: c.role.as_deref(),
                })
            })
            .collect(),
    };
    let note = laer_core::handoff::draft(&records);
    // The user's current assignments, and who held those roles before them.
    let mine: Vec<&laer_store::CoverageRow> = g
        .coverage_history
        .iter()
        .filter(|c| c.until.is_none() && c.member == g.user.name)
        .collect();
    let recent = mine.iter().any(|c| (g.today - c.since).num_days() <= 30);
    let before: Vec<&laer_store::CoverageRow> = mine
        .iter()
        .filter_map(|m| {
            g.coverage_history
                .iter()
                .filter(|c| c.role == m.role && c.member != g.user.name && c.until.is_some_and(|u| u <= m.since))
                .max_by_key(|c| c.until)
        })
        .collect();
    let part = |title: &str, lines: &[String], empty: &str| {
        html! {
            h3 { (title) }
            @if lines.is_empty() { p.muted.small { (empty) } }
            @else { ul { @for l in lines { li { (l) } } } }
        }
    };
    let written = g.handoff;
    let author = |n: &laer_store::HandoffNote| laer_core::handoff::author_name(&n.written_by).to_string();
    html! {
        details #handoff-note open[recent] {
            summary {
                "Hand-off note"
                span.muted.small {
                    @if let Some(n) = written { " · written by " (author(n)) ", and drafted from the records" }
                    @else { " · drafted from the records" }
                }
            }
            @for c in &before {
                p.small { "Before you: " strong { (c.member) } " as " (role_label(c.role)) " until " (date(c.until)) " — ask them what the records do not say." }
            }
            @if let Some(n) = written {
                div.written-note {
                    p.small.muted { "From " strong { (author(n)) } " on " (n.written_at.format("%Y-%m-%d")) ":" }
                    p.note-body { (n.body) }
                }
            }
            div.handoff {
                div {
                    (part("Goals", &note.goals, "No outcomes agreed yet: the success plan is where they go."))
                    (part("Promises", &note.promises, "No next step recorded in the last 120 days."))
                }
                div {
                    (part("Risks", &note.risks, "Nothing stands out."))
                    (part("People to meet", &note.people, "No contacts recorded yet."))
                }
            }
            @if g.user.role.can(Permission::RecordWork) {
                (handoff_form(g.user, g.id, written, written.map_or("", |n| n.body.as_str()), None))
            }
        }
    }
}

/// The form that writes the account's hand-off note: what the next owner should know that
/// the records do not say. Open when it shows a problem.
fn handoff_form(
    user: &CurrentUser,
    id: i64,
    written: Option<&laer_store::HandoffNote>,
    body: &str,
    problem: Option<&str>,
) -> Markup {
    html! {
        details.write-note open[problem.is_some()] {
            summary { @if written.is_some() { "Change the note for the next owner" } @else { "Write a note for the next owner" } }
            form.stacked method="post" action={"/accounts/" (id) "/handoff-note"} {
                (super::form::csrf(user))
                input type="hidden" name="version" value=(written.map_or(0, laer_store::HandoffNote::version));
                @if let Some(p) = problem { p.field-problem role="alert" { (p) } }
                label.field {
                    "What the records do not say: promises made, who really decides, what to avoid (empty: no note)"
                    textarea name="body" rows="6" maxlength=(laer_store::MAX_HANDOFF_NOTE_CHARS) { (body) }
                }
                button type="submit" { "Save the note" }
            }
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct HandoffForm {
    version: i64,
    body: String,
}

/// `POST /accounts/{id}/handoff-note`: writes the account's hand-off note (empty removes
/// it). A note written meanwhile by someone else, or one too long, shows the form again
/// with the text as sent (400), and nothing is saved.
pub(crate) async fn write_handoff(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    super::session::CsrfForm { user, form }: super::session::CsrfForm<HandoffForm>,
) -> Result<Response, PageError> {
    super::rights::require_on(&state, &user, Permission::RecordWork, id).await?;
    match state
        .store
        .write_handoff_note(id, &form.body, form.version, &user.actor())
        .await
    {
        Ok(_) => Ok(axum::response::Redirect::to(&format!("/accounts/{id}#handoff-note")).into_response()),
        Err(e @ (laer_store::StoreError::Stale { .. } | laer_store::StoreError::Refused { .. })) => {
            let current = state.store.handoff_note(id).await?;
            let name = state
                .store
                .account(id)
                .await?
                .map(|a| a.fields.name.unwrap_or(a.fields.external_id))
                .unwrap_or_default();
            let problem = match &e {
                laer_store::StoreError::Refused { message, .. } => message.clone(),
                _ => "Someone changed the note since you opened the page; theirs is below, yours in the form. Save again to replace theirs.".into(),
            };
            let body = html! {
                div.page-head { p { a href={"/accounts/" (id) "#handoff-note"} { "← " (name) } } h1 { "Hand-off note: " (name) } }
                section.card {
                    @if let Some(n) = &current {
                        p.small.muted { "Saved now, by " (laer_core::handoff::author_name(&n.written_by)) " on " (n.written_at.format("%Y-%m-%d %H:%M")) " UTC:" }
                        p.note-body { (n.body) }
                    }
                    (handoff_form(&user, id, current.as_ref(), &form.body, Some(&problem)))
                }
            };
            Ok(super::form::refused(layout("Hand-off note", None, &user, body)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The account at a glance: its phase and why, who leads it now, the renewal, what holds
/// its health down and what to do about it, the last touch; beside it the open work, each
/// task done in place.
fn glance(g: &Glance<'_>) -> Markup {
    let top = g
        .health
        .and_then(|h| laer_core::attention::largest_gap(&h.health.drivers, |d| d.possible - d.contribution));
    let lead = g.snapshot.and_then(|s| s.phase_owner(g.today, g.rules));
    // The user's own roles on the account besides the lead's.
    let mine: Vec<String> = g
        .snapshot
        .map(|s| s.own_roles(g.user.team_member_id, g.today, g.rules))
        .unwrap_or_default()
        .into_iter()
        .map(role_label)
        .collect();
    let last_touch = g
        .touchpoints
        .iter()
        .filter(|t| {
            t.record.status == laer_core::model::MeetingStatus::Held && t.record.held_at.date_naive() <= g.today
        })
        .max_by_key(|t| t.record.held_at);
    let renewal = g.snapshot.and_then(|s| s.renewal_date);
    let overdue = g
        .open_tasks
        .iter()
        .filter(|t| t.due_on.is_some_and(|d| d < g.today))
        .count();
    let back = format!("/accounts/{}#glance", g.id);
    html! {
        section.card #glance {
            div.glance {
                div {
                    h2 { "At a glance" }
                    dl {
                        @if let Some(h) = g.health {
                            dt { "Phase" }
                            dd { span class={"badge phase-" (h.health.phase.as_str())} { (h.health.phase.as_str()) } " " (h.health.phase_reason) }
                        }
                        dt { "Lead now" }
                        dd {
                            @match lead {
                                Some(l) if g.user.team_member_id == Some(l.member_id) => { strong { "You" } " (" (role_label(l.role)) ")" }
                                Some(l) => { (l.name) " (" (role_label(l.role)) ")" }
                                None => { "Nobody: tech-touch, or no rule covers it" }
                            }
                            @if !mine.is_empty() { " · you: " (mine.join(", ")) }
                        }
                        dt { "Renewal" }
                        dd { @match renewal {
                            Some(r) if r >= g.today => { (r) " (in " ((r - g.today).num_days()) " days)" }
                            Some(r) => { span.down { (r) " (passed)" } }
                            None => { "No renewal date" }
                        } }
                        dt { "Holding health down" }
                        dd { @match top {
                            Some(d) => {
                                (laer_core::health::words::in_words(&d.measure, d.value))
                                @if let Some(p) = laer_core::health::words::plain_of(&d.measure) { br; span.muted { "What to do: " (p.advice) } }
                            }
                            None => { "Nothing measured holds it down." }
                        } }
                        dt { "Last touch" }
                        dd { @match last_touch {
                            Some(t) => {
                                @let days = (g.today - t.record.held_at.date_naive()).num_days();
                                (t.record.kind.label()) ", " @if days == 0 { "today" } @else { (days) " days ago" }
                                @if !t.record.stakeholder_teams.is_empty() { " with " (t.record.stakeholder_teams.join(", ")) }
                            }
                            None => { "No touchpoint held yet" }
                        } }
                    }
                    (handoff_note(g))
                }
                div #open-work {
                    h2 { "Open work" @if overdue > 0 { " " span.down.small { (overdue) " overdue" } } }
                    @if g.open_tasks.is_empty() {
                        p.muted { "No open tasks. Playbooks add them when the account's signals call for it; add one of your own under Work." }
                    }
                    ul.open-work {
                        @for t in g.open_tasks.iter().take(5) {
                            li {
                                span class=(if t.due_on.is_some_and(|d| d < g.today) { "down small" } else { "muted small" }) {
                                    @match t.due_on { Some(d) if d < g.today => { "overdue since " (d) } Some(d) => { "due " (d) } None => { "no due date" } }
                                    " · " (t.assignee.as_deref().unwrap_or("unassigned"))
                                    @if let Some(p) = t.playbook.as_deref() { " · " (trigger_label(Some(p), g.playbooks)) }
                                }
                                br;
                                strong { (t.title) }
                                @if let Some(r) = t.reason.as_deref() { br; span.small { (r) } }
                                @if g.user.role.can(Permission::WorkTasks) {
                                    form.inline method="post" action={"/work/tasks/" (t.id)} {
                                        input type="hidden" name="csrf" value=(g.user.csrf_token);
                                        input type="hidden" name="back" value=(back);
                                        button.secondary type="submit" name="action" value="done" { "Done" }
                                    }
                                }
                            }
                        }
                    }
                    @if g.open_tasks.len() > 5 { p { a href="#work" { "All " (g.open_tasks.len()) " open tasks" } } }
                }
            }
        }
    }
}

/// A task's or run's trigger as people read it: the playbook's title, or "Hand-off".
pub(crate) fn trigger_label(playbook: Option<&str>, playbooks: &laer_core::automation::Playbooks) -> String {
    match playbook {
        None => "–".into(),
        Some(laer_store::HANDOFF) => "Hand-off".into(),
        Some(name) => playbooks
            .playbooks
            .iter()
            .find(|p| p.name == name)
            .map_or_else(|| humanize(name), |p| p.title.clone()),
    }
}

/// A stored code as a word: `self_serve` → "self serve"; other text as it is.
fn plain_value(value: &str) -> String {
    if value.contains('_') && value.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        value.replace('_', " ")
    } else {
        value.to_string()
    }
}

/// `customer_since` → "Customer since"; short codes such as `ebr` in capitals.
fn humanize(key: &str) -> String {
    let words = key.replace('_', " ");
    if words.len() <= 3 && !words.contains(' ') {
        return words.to_uppercase();
    }
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// MRR on the first of each month, over the last [`HISTORY_MONTHS`].
/// What the account page reads, the same for everyone who may see the account.
pub(crate) struct AccountReads {
    view: Option<AccountView>,
    health_now: Option<laer_app::health::AccountHealthNow>,
    health_history: Vec<(NaiveDate, Option<f64>)>,
    accuracy: Option<super::health::Accuracy>,
    set_by_hand: Option<laer_store::PhaseOverride>,
    coverage_history: Vec<laer_store::CoverageRow>,
    team: Vec<laer_core::automation::coverage::Member>,
    open_tasks: Vec<laer_store::TaskRow>,
    runs: Vec<laer_store::RunRow>,
    snapshots: std::sync::Arc<Vec<laer_core::portfolio::AccountSnapshot>>,
    touchpoints: Vec<laer_store::Touchpoint>,
    comments: Vec<laer_store::AccountTaskComment>,
    handoff: Option<laer_store::HandoffNote>,
}

/// The account page's reads. They are independent: they run at once, each on a
/// connection of its own.
async fn read_account(state: &AppState, id: i64, today: NaiveDate) -> Result<AccountReads, PageError> {
    let open_work = laer_store::TaskFilter {
        account_id: Some(id),
        status: Some(laer_core::model::TaskStatus::Open),
        ..Default::default()
    };
    let store = &state.store;
    let (
        view,
        health_now,
        health_history,
        accuracy,
        set_by_hand,
        coverage_history,
        team,
        open_tasks,
        runs,
        snapshots,
        touchpoints,
        comments,
        handoff,
    ) = tokio::try_join!(
        async { Ok::<_, PageError>(store.account_view(id, today).await?) },
        async { Ok(laer_app::health::account_now(store, &state.health_model, id, today).await?) },
        async { Ok(super::health::history(state, id, today).await?) },
        async { Ok(super::health::accuracy(state).await?) },
        async { Ok(store.phase_override(id).await?) },
        async { Ok(store.coverage_of_account(id).await?) },
        // The team: for assigning an owner by hand and for a new task's assignee.
        async { Ok(store.team_members().await?) },
        async { Ok(store.tasks(&open_work, today).await?) },
        async { Ok(store.playbook_runs(None, Some(id)).await?) },
        async { Ok(state.cache.snapshots(store, today).await?) },
        async { Ok(store.touchpoints_of(id).await?) },
        async { Ok(store.task_comments_of_account(id).await?) },
        async { Ok(store.handoff_note(id).await?) },
    )?;
    Ok(AccountReads {
        view,
        health_now,
        health_history,
        accuracy,
        set_by_hand,
        coverage_history,
        team,
        open_tasks,
        runs,
        snapshots,
        touchpoints,
        comments,
        handoff,
    })
}

fn mrr_history(view: &AccountView, today: NaiveDate) -> Markup {
    let lines: Vec<_> = view.subscriptions.iter().map(|s| s.fields.clone()).collect();
    let this_month = today.with_day(1).unwrap_or(today);
    let days: Vec<NaiveDate> = (0..=HISTORY_MONTHS)
        .rev()
        .filter_map(|n| this_month.checked_sub_months(Months::new(n)))
        .collect();
    // From the first month with revenue: no history of zeros before the first contract.
    let all: Vec<Money> = days.iter().map(|d| mrr_on(&lines, *d)).collect();
    let first = all
        .iter()
        .position(|m| !m.is_zero())
        .unwrap_or(all.len().saturating_sub(1));
    let (days, values) = (&days[first..], &all[first..]);
    let svg = LineChart::new(days.iter().map(|d| d.format("%Y-%m").to_string()), ValueFormat::Money)
        .series(Series::new("MRR", values.iter().map(|m| m.to_f64())).color(Color::BLUE))
        .area(true)
        .to_svg();
    figure(
        "MRR history",
        svg,
        html! {
            table.data { thead { tr { th { "Day" } th.num { "MRR" } } } tbody { @for (d, m) in days.iter().zip(values) { tr { td { (d) } td.num { (money(*m)) } } } } }
        },
        None,
    )
}

/// Active users and events per 30-day window, oldest first; windows before any activity
/// are gaps, not zeros.
fn usage(view: &AccountView, today: NaiveDate) -> Markup {
    let windows = laer_store::ACTIVITY_WINDOWS;
    let value = |rows: &[laer_store::WindowCount], w: i64| rows.iter().find(|c| c.window == w).map(|c| c.count);
    let first_active = view.events.iter().map(|c| c.window).max();
    let shown = |w: i64| first_active.is_some_and(|first| w <= first);
    let order: Vec<i64> = (0..windows).rev().collect();
    let labels: Vec<String> = order
        .iter()
        .map(|w| (today - chrono::TimeDelta::days(30 * w)).format("%Y-%m-%d").to_string())
        .collect();
    let users: Vec<Option<f64>> = order
        .iter()
        .map(|w| shown(*w).then(|| value(&view.active_users, *w).unwrap_or(0) as f64))
        .collect();
    let svg = LineChart::new(labels.clone(), ValueFormat::Count)
        .series(Series::new("Active users", users.clone()).color(Color::BLUE))
        .to_svg();
    figure(
        "Active users per 30 days",
        svg,
        html! {
            table.data { thead { tr { th { "30 days to" } th.num { "Active users" } th.num { "Events" } } }
                tbody { @for (label, w) in labels.iter().zip(&order) { @if shown(*w) {
                    tr { td { (label) } td.num { (value(&view.active_users, *w).unwrap_or(0)) } td.num { (value(&view.events, *w).unwrap_or(0)) } }
                } } } }
        },
        None,
    )
}

/// Events per feature over the last 90 days.
fn features(view: &AccountView) -> Markup {
    let svg = HorizontalBarChart::new("Events, last 90 days", ValueFormat::Count)
        .bars(view.features.iter().map(|f| (f.feature.clone(), f.events as f64)))
        .color(Color::BLUISH_GREEN)
        .to_svg();
    figure(
        "Features used, last 90 days",
        svg,
        html! {
            table.data { thead { tr { th { "Feature" } th.num { "Events" } th.num { "Most users on a day" } } }
                tbody { @for f in &view.features { tr { td { (f.feature) } td.num { (f.events) } td.num { (f.peak_users) } } } } }
        },
        None,
    )
}

fn departments(view: &AccountView) -> Markup {
    let svg = HorizontalBarChart::new("Product users", ValueFormat::Count)
        .bars(view.departments.iter().map(|d| (d.department.clone(), d.users as f64)))
        .color(Color::REDDISH_PURPLE)
        .to_svg();
    figure(
        "Users by department",
        svg,
        html! {
            table.data { thead { tr { th { "Department" } th.num { "Users" } } } tbody { @for d in &view.departments { tr { td { (d.department) } td.num { (d.users) } } } } }
        },
        None,
    )
}

impl TimelineQuery {
    fn filter(&self) -> laer_core::timeline::Filter {
        laer_core::timeline::Filter::from_params(self.kind.as_deref(), self.team.as_deref(), self.q.as_deref())
    }
}

/// The timeline's entries of everything but touchpoints: contracts, cases, surveys.
pub(crate) fn records(view: &AccountView) -> Vec<Entry> {
    let at = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let mut items: Vec<Entry> = Vec::new();
    for s in &view.subscriptions {
        let s = &s.fields;
        if let Some(t) = at(s.start_date) {
            items.push(Entry::record(
                t,
                EntryKind::Contract,
                format!("Contract started: {} at {}/month", s.product, money(s.mrr)),
            ));
        }
        if let Some(t) = s.end_date.and_then(at) {
            items.push(Entry::record(
                t,
                EntryKind::Contract,
                format!("Contract ended: {}", s.product),
            ));
        }
    }
    for c in &view.cases {
        items.push(Entry::record(
            c.opened_at,
            EntryKind::Case,
            format!(
                "Support case opened ({}, severity {}): {}",
                c.kind.replace('_', "-"),
                c.severity,
                c.subject.as_deref().unwrap_or("")
            ),
        ));
    }
    for s in &view.surveys {
        items.push(Entry::record(
            s.responded_at,
            EntryKind::Survey,
            format!(
                "{} score {}{}",
                s.survey.to_uppercase(),
                s.score,
                s.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
            ),
        ));
    }
    items
}
