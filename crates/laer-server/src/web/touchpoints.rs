//! Touchpoints in the web app: log one from the account page (`/accounts/{id}/touchpoints/new`),
//! edit or delete your own (`/touchpoints/{tid}/edit`; admins any). A form that cannot be
//! accepted comes back with each message at its field and nothing written.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use laer_core::access::Permission;
use laer_core::model::{MeetingStatus, NewTouchpoint, TouchpointKind};
use laer_core::parse;
use laer_core::timeline::{self, Entry, EntryKind, Filter};
use laer_store::{Touchpoint, TouchpointChoices};
use maud::{Markup, html};

use super::form::{self, Input, Problems};
use super::session::CsrfForm;
use super::{CurrentUser, PageError, layout, require};
use crate::AppState;

/// The form as sent: its fields in order (checkboxes send a field once per ticked box).
type Fields = Vec<(String, String)>;

/// The touchpoint form's values as typed, so that a refused form shows them again.
#[derive(Debug, Clone, Default)]
struct Draft {
    kind: String,
    held_at: String,
    status: String,
    purpose: String,
    duration_minutes: String,
    teams: Vec<String>,
    other_teams: String,
    contacts: Vec<String>,
    team_members: Vec<String>,
    summary: String,
    next_step: String,
    version: String,
}

impl Draft {
    fn from_fields(fields: &Fields) -> Draft {
        let mut d = Draft::default();
        for (name, value) in fields {
            match name.as_str() {
                "kind" => d.kind = value.clone(),
                "held_at" => d.held_at = value.clone(),
                "status" => d.status = value.clone(),
                "purpose" => d.purpose = value.clone(),
                "duration_minutes" => d.duration_minutes = value.clone(),
                "stakeholder_teams" => d.teams.push(value.clone()),
                "other_teams" => d.other_teams = value.clone(),
                "contacts" => d.contacts.push(value.clone()),
                "team_members" => d.team_members.push(value.clone()),
                "summary" => d.summary = value.clone(),
                "next_step" => d.next_step = value.clone(),
                "version" => d.version = value.clone(),
                _ => {}
            }
        }
        d
    }

    fn of(t: &Touchpoint) -> Draft {
        let r = &t.record;
        Draft {
            kind: r.kind.as_str().to_string(),
            held_at: r.held_at.format("%Y-%m-%dT%H:%M").to_string(),
            status: r.status.as_str().to_string(),
            purpose: r.purpose.clone().unwrap_or_default(),
            duration_minutes: r.duration_minutes.map(|d| d.to_string()).unwrap_or_default(),
            teams: r.stakeholder_teams.clone(),
            other_teams: String::new(),
            contacts: r.contact_ids.iter().map(i64::to_string).collect(),
            team_members: r.team_member_ids.iter().map(i64::to_string).collect(),
            summary: r.summary.clone().unwrap_or_default(),
            next_step: r.next_step.clone().unwrap_or_default(),
            version: t.version.to_string(),
        }
    }

    fn new_one(user: &CurrentUser) -> Draft {
        Draft {
            kind: TouchpointKind::Meeting.as_str().into(),
            held_at: Utc::now().format("%Y-%m-%dT%H:%M").to_string(),
            status: MeetingStatus::Held.as_str().into(),
            team_members: user.team_member_id.map(|m| m.to_string()).into_iter().collect(),
            ..Draft::default()
        }
    }

    /// The record the draft describes for `account_id`, or its problems, one per field.
    fn parse(&self, account_id: i64, external_id: String) -> Result<NewTouchpoint, Problems> {
        let mut p = Problems::new();
        let kind = p.check("kind", self.kind.parse::<TouchpointKind>());
        let status = p.check("status", self.status.parse::<MeetingStatus>());
        let held_at = p.check("held_at", when(&self.held_at));
        let text = |p: &mut Problems, field: &str, value: &str, max: usize| {
            p.check(field, parse::bounded(value.trim(), max))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let summary = text(&mut p, "summary", &self.summary, parse::MAX_TEXT_CHARS);
        let next_step = text(&mut p, "next_step", &self.next_step, parse::MAX_TEXT_CHARS);
        let purpose = text(&mut p, "purpose", &self.purpose, parse::MAX_LINE_CHARS).map(|v| parse::label(&v));
        let duration_minutes = match self.duration_minutes.trim() {
            "" => None,
            d => p.check(
                "duration_minutes",
                d.parse::<i32>()
                    .ok()
                    .filter(|d| *d >= 0)
                    .ok_or_else(|| format!("expected minutes, 0 or more, found {d:?}")),
            ),
        };
        let others = p
            .check(
                "stakeholder_teams",
                parse::bounded(&self.other_teams, parse::MAX_LINE_CHARS).map(str::to_string),
            )
            .unwrap_or_default();
        let stakeholder_teams: Vec<String> = self
            .teams
            .iter()
            .map(String::as_str)
            .chain(others.split([',', ';']))
            .map(parse::label)
            .filter(|t| !t.is_empty())
            .collect();
        let ids = |p: &mut Problems, field: &str, values: &[String]| -> Vec<i64> {
            values
                .iter()
                .filter_map(|v| {
                    p.check(
                        field,
                        v.parse::<i64>().map_err(|_| format!("expected a choice, found {v:?}")),
                    )
                })
                .collect()
        };
        let contact_ids = ids(&mut p, "contacts", &self.contacts);
        let team_member_ids = ids(&mut p, "team_members", &self.team_members);
        let (Some(kind), Some(status), Some(held_at)) = (kind, status, held_at) else {
            return Err(p);
        };
        let record = NewTouchpoint {
            external_id,
            account_id,
            held_at,
            kind,
            purpose,
            status,
            duration_minutes,
            stakeholder_teams,
            contact_ids,
            team_member_ids,
            summary,
            next_step,
        }
        .normalized();
        for (field, message) in record.problems() {
            if p.at(field).is_none() {
                p.add(field, message);
            }
        }
        if p.is_empty() { Ok(record) } else { Err(p) }
    }
}

/// A `datetime-local` value (`2026-06-01T14:30`, UTC) or any timestamp laer reads.
fn when(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("expected a date and time, found nothing".into());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .map(|t| t.and_utc())
        .or_else(|_| parse::timestamp(text))
}

/// The account's name, or 404.
async fn account_name(state: &AppState, id: i64) -> Result<String, PageError> {
    let account = state
        .store
        .account(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
    Ok(account.fields.name.unwrap_or(account.fields.external_id))
}

/// What the form offers: the account's contacts and teams, and the team.
struct Choices {
    account: TouchpointChoices,
    members: Vec<(String, String)>,
}

async fn choices(state: &AppState, account_id: i64) -> Result<Choices, PageError> {
    let (account, members) = tokio::try_join!(state.store.touchpoint_choices(account_id), state.store.team_members())?;
    Ok(Choices {
        account,
        members: members.into_iter().map(|m| (m.id.to_string(), m.name)).collect(),
    })
}

/// Where a form posts, and what it is.
enum Target {
    New { account_id: i64 },
    Edit { touchpoint_id: i64, account_id: i64 },
}

fn form_page(
    user: &CurrentUser,
    account: &str,
    target: &Target,
    draft: &Draft,
    choices: &Choices,
    problems: &Problems,
    after: Markup,
) -> Markup {
    let (heading, action, account_id) = match target {
        Target::New { account_id } => (
            "Log a touchpoint",
            format!("/accounts/{account_id}/touchpoints"),
            *account_id,
        ),
        Target::Edit {
            touchpoint_id,
            account_id,
        } => (
            "Edit a touchpoint",
            format!("/touchpoints/{touchpoint_id}"),
            *account_id,
        ),
    };
    let kinds: Vec<(String, String)> = TouchpointKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), k.label().to_string()))
        .collect();
    let statuses: Vec<(String, String)> = MeetingStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), s.as_str().to_string()))
        .collect();
    let mut teams: Vec<String> = choices.account.teams.clone();
    for t in &draft.teams {
        if !teams.contains(t) {
            teams.push(t.clone());
        }
    }
    let team_options: Vec<(String, String)> = teams.iter().map(|t| (t.clone(), t.replace('_', " "))).collect();
    // Contacts by team, those without a team last.
    let mut groups: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for c in &choices.account.contacts {
        let team = c
            .stakeholder_team
            .as_deref()
            .map_or("No team".to_string(), |t| t.replace('_', " "));
        match groups.last_mut() {
            Some((t, list)) if *t == team => list.push((c.id.to_string(), c.name.clone())),
            _ => groups.push((team, vec![(c.id.to_string(), c.name.clone())])),
        }
    }
    let none = Problems::new();
    let body = html! {
        div.page-head {
            h1 { (heading) }
            p.muted { a href={"/accounts/" (account_id)} { (account) } }
        }
        section.card.touchpoint-form {
            (form::summary(problems))
            form method="post" action=(action) {
                (form::csrf(user))
                input type="hidden" name="version" value=(draft.version);
                div.form-row {
                    (form::select("Kind", "kind", &kinds, &draft.kind, problems))
                    (form::field("When (UTC)", "held_at", Input::DateTime, &draft.held_at, problems))
                    (form::select("Status", "status", &statuses, &draft.status, problems))
                    (form::field("Minutes", "duration_minutes", Input::Number, &draft.duration_minutes, problems))
                }
                (form::field("Purpose (e.g. onboarding, qbr, check-in)", "purpose", Input::Text, &draft.purpose, problems))
                @if !team_options.is_empty() {
                    (form::checkboxes("The customer's stakeholder teams", "stakeholder_teams", &team_options, &draft.teams, &none))
                }
                (form::field("Other teams (comma separated)", "other_teams", Input::Text, &draft.other_teams, problems))
                @if let Some(message) = problems.at("stakeholder_teams") { p.field-problem { (message) } }
                fieldset.contacts.invalid[problems.at("contacts").is_some()] {
                    legend { "Who took part at the customer" }
                    @if groups.is_empty() { p.muted { "The account has no contacts yet." } }
                    @for (team, options) in &groups {
                        (form::checkboxes(team, "contacts", options, &draft.contacts, &none))
                    }
                    @if let Some(message) = problems.at("contacts") { span.field-problem { (message) } }
                }
                (form::checkboxes("Who took part from our side", "team_members", &choices.members, &draft.team_members, problems))
                (form::text_area("Summary", "summary", &draft.summary, 6, problems))
                (form::text_area("Next step", "next_step", &draft.next_step, 2, problems))
                button type="submit" { "Save" }
                " " a href={"/accounts/" (account_id) "#timeline"} { "Cancel" }
            }
        }
        (after)
    };
    layout(heading, None, user, body)
}

/// The page of a touchpoint that is not the user's to change.
fn not_yours(user: &CurrentUser) -> Response {
    let body = html! {
        section.card.narrow {
            h1 { "Not yours to change" }
            p { "Only the person who logged a touchpoint, or an administrator, can edit or delete it." }
        }
    };
    (StatusCode::FORBIDDEN, layout("Not allowed", None, user, body)).into_response()
}

/// The log-a-touchpoint form.
pub(crate) async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(account_id): Path<i64>,
) -> Result<Response, PageError> {
    require(&user, Permission::RecordWork)?;
    let name = account_name(&state, account_id).await?;
    let choices = choices(&state, account_id).await?;
    let draft = Draft::new_one(&user);
    let page = form_page(
        &user,
        &name,
        &Target::New { account_id },
        &draft,
        &choices,
        &Problems::new(),
        html! {},
    );
    Ok(page.into_response())
}

/// Logs a touchpoint; back to the account's timeline.
pub(crate) async fn create(
    State(state): State<AppState>,
    Path(account_id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    require(&user, Permission::RecordWork)?;
    let name = account_name(&state, account_id).await?;
    let draft = Draft::from_fields(&form);
    let external_id = format!("web-{}", laer_store::random_id()?);
    let target = Target::New { account_id };
    let problems = match draft.parse(account_id, external_id) {
        Ok(record) => match state
            .store
            .create_touchpoint(&record, Some(user.id), &user.actor())
            .await
        {
            Ok(_) => return Ok(Redirect::to(&format!("/accounts/{account_id}#timeline")).into_response()),
            Err(e) => Problems::from_store(e)?,
        },
        Err(problems) => problems,
    };
    let choices = choices(&state, account_id).await?;
    Ok(form::refused(form_page(
        &user,
        &name,
        &target,
        &draft,
        &choices,
        &problems,
        html! {},
    )))
}

/// A touchpoint the user may change, or the response that says why not.
async fn own(state: &AppState, user: &CurrentUser, id: i64) -> Result<Result<Touchpoint, Response>, PageError> {
    require(user, Permission::RecordWork)?;
    let touchpoint = state
        .store
        .touchpoint(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("touchpoint {id}")))?;
    if !user.role.may_change_logged(user.id, touchpoint.created_by) {
        return Ok(Err(not_yours(user)));
    }
    Ok(Ok(touchpoint))
}

/// The edit form of one's own touchpoint.
pub(crate) async fn edit_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let touchpoint = match own(&state, &user, id).await? {
        Ok(t) => t,
        Err(response) => return Ok(response),
    };
    let account_id = touchpoint.record.account_id;
    let name = account_name(&state, account_id).await?;
    let choices = choices(&state, account_id).await?;
    let target = Target::Edit {
        touchpoint_id: id,
        account_id,
    };
    let delete = delete_button(&user, &touchpoint);
    let page = form_page(
        &user,
        &name,
        &target,
        &Draft::of(&touchpoint),
        &choices,
        &Problems::new(),
        delete,
    );
    Ok(page.into_response())
}

/// The delete button under the edit form, carrying the version shown.
fn delete_button(user: &CurrentUser, touchpoint: &Touchpoint) -> Markup {
    html! {
        section.card #delete {
            form method="post" action={"/touchpoints/" (touchpoint.id) "/delete"} {
                (form::csrf(user))
                input type="hidden" name="version" value=(touchpoint.version);
                button.danger type="submit" data-confirm="Delete this touchpoint? It leaves the timeline." { "Delete this touchpoint" }
            }
        }
    }
}

/// Saves an edit of one's own touchpoint; back to the account's timeline.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    let touchpoint = match own(&state, &user, id).await? {
        Ok(t) => t,
        Err(response) => return Ok(response),
    };
    let account_id = touchpoint.record.account_id;
    let draft = Draft::from_fields(&form);
    let problems = match (
        draft.parse(account_id, touchpoint.record.external_id.clone()),
        draft.version.trim().parse::<i64>(),
    ) {
        (Ok(record), Ok(version)) => match state.store.update_touchpoint(id, version, &record, &user.actor()).await {
            Ok(()) => return Ok(Redirect::to(&format!("/accounts/{account_id}#timeline")).into_response()),
            Err(e) => Problems::from_store(e)?,
        },
        (Ok(_), Err(_)) => {
            let mut p = Problems::new();
            p.add("", "The form did not carry the version it was opened at; reload it.");
            p
        }
        (Err(problems), _) => problems,
    };
    let name = account_name(&state, account_id).await?;
    let choices = choices(&state, account_id).await?;
    let target = Target::Edit {
        touchpoint_id: id,
        account_id,
    };
    let delete = delete_button(&user, &touchpoint);
    Ok(form::refused(form_page(
        &user, &name, &target, &draft, &choices, &problems, delete,
    )))
}

/// The delete button's form: the version the page showed.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    version: String,
}

/// Deletes one's own touchpoint; back to the account's timeline.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<DeleteForm>,
) -> Result<Response, PageError> {
    let touchpoint = match own(&state, &user, id).await? {
        Ok(t) => t,
        Err(response) => return Ok(response),
    };
    let version = form.version.trim().parse::<i64>().unwrap_or(touchpoint.version);
    state.store.delete_touchpoint(id, version, &user.actor()).await?;
    Ok(Redirect::to(&format!("/accounts/{}#timeline", touchpoint.record.account_id)).into_response())
}

/// The account page's timeline: touchpoints with everything else, newest first, the
/// filter by kind and team and the search above it (a GET form), and "Log a touchpoint"
/// for those who may record work.
pub(crate) fn timeline(
    user: &CurrentUser,
    account_id: i64,
    view: &laer_store::AccountView,
    touchpoints: &[Touchpoint],
    comments: &[laer_store::AccountTaskComment],
    filter: &Filter,
    today: chrono::NaiveDate,
) -> Markup {
    let mut entries = super::account::records(view);
    entries.extend(
        comments
            .iter()
            .map(|c| Entry::comment(c.at, &c.task_title, &c.author, &c.body)),
    );
    entries.extend(touchpoints.iter().map(|t| {
        let people = t
            .contacts
            .iter()
            .chain(&t.team_members)
            .map(|p| p.name.clone())
            .collect();
        Entry::touchpoint(t.id, &t.record, people)
    }));
    let teams = timeline::teams(&entries);
    let total = entries.iter().filter(|e| e.at.date_naive() <= today).count();
    let shown = timeline::select(entries, filter, today);
    let editable = |id: i64| {
        touchpoints
            .iter()
            .find(|t| t.id == id)
            .is_some_and(|t| user.role.may_change_logged(user.id, t.created_by))
    };
    let who_logged = |id: i64| {
        touchpoints
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.created_by_name.clone())
    };
    let kind = filter.kind.map(|k| k.as_str()).unwrap_or("");
    let team = filter.team.as_deref().unwrap_or("");
    html! {
        section.card #timeline {
            div.card-head {
                h2 { "Timeline" }
                @if user.role.can(Permission::RecordWork) {
                    a.button href={"/accounts/" (account_id) "/touchpoints/new"} { "Log a touchpoint" }
                } @else {
                    span.muted { "Your role (" (user.role.as_str()) ") cannot log touchpoints: it lacks record_work." }
                }
            }
            form.timeline-filter method="get" action={"/accounts/" (account_id) "#timeline"} {
                label { "Kind "
                    select name="kind" {
                        option value="" selected[kind.is_empty()] { "Everything" }
                        @for k in EntryKind::all() { option value=(k.as_str()) selected[k.as_str() == kind] { (k.label()) } }
                    }
                }
                label { "Team "
                    select name="team" {
                        option value="" selected[team.is_empty()] { "Any team" }
                        @for t in &teams { option value=(t) selected[t == team] { (t.replace('_', " ")) } }
                    }
                }
                label { "Search " input type="search" name="q" value=(filter.query); }
                button type="submit" { "Filter" }
                @if !filter.is_empty() { " " a href={"/accounts/" (account_id) "#timeline"} { "Clear" } }
            }
            @if !filter.is_empty() { p.muted { (shown.len()) " of " (total) " entries match." } }
            @if shown.is_empty() { p.muted { "Nothing to show." } }
            ol.timeline {
                @for e in shown.iter().take(TIMELINE_ENTRIES) {
                    li class={"entry-" (e.kind.as_str())} {
                        time datetime=(e.at.to_rfc3339()) { (e.at.date_naive()) }
                        " "
                        span.tag { (e.kind.label()) }
                        " " (e.title)
                        @if let Some(status) = e.status.filter(|s| *s != MeetingStatus::Held) { " · " span class={"status-" (status.as_str())} { (status.as_str()) } }
                        @if !e.people.is_empty() { br; small.muted { (e.people.join(", ")) } }
                        @if let Some(summary) = &e.summary { p.summary { (summary) } }
                        @if let Some(next) = &e.next_step { p.next-step { strong { "Next step: " } (next) } }
                        @if let Some(id) = e.touchpoint {
                            @if let Some(by) = who_logged(id) { small.muted { "Logged by " (by) } " " }
                            @if editable(id) { a href={"/touchpoints/" (id) "/edit"} { "Edit" } }
                        }
                    }
                }
            }
            @if shown.len() > TIMELINE_ENTRIES { p.muted { "The latest " (TIMELINE_ENTRIES) " are shown; filter or search for older ones." } }
        }
    }
}

/// How many timeline entries the account page shows.
const TIMELINE_ENTRIES: usize = 60;
