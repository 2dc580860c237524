//! The customer's people on the account page: contacts listed with their email and phone,
//! added, edited and deactivated (docs/health.md, "Stakeholders"), and each stakeholder
//! team's agreed meeting cadence set, changed or removed. Each form needs `record_work`;
//! a refused form comes back with its values and a message at each field (400).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use laer_core::access::Permission;
use laer_core::entries::{CONTACT_ROLES, ContactInput, FieldProblem, STAKEHOLDER_TEAMS};
use laer_core::model::NewMeetingCadence;
use laer_store::{Contact, Touchpoint};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Input, Problems};
use super::session::CsrfForm;
use super::{CurrentUser, PageError, date, layout, require};
use crate::AppState;

/// The problems of a core check as a form's.
pub(super) fn problems_of(found: Vec<FieldProblem>) -> Problems {
    let mut problems = Problems::new();
    for p in found {
        problems.add(p.field, p.message);
    }
    problems
}

/// In place of a control the user's role may not use: which right it needs and why
/// (web/rights.rs), nothing when the role has it.
pub(super) fn lacks(user: &CurrentUser, permission: Permission) -> Markup {
    match user.role.may(permission, None) {
        Ok(()) => html! {},
        Err(refusal) => super::rights::note(&refusal),
    }
}

/// A team or role label in words: `executive_sponsor` → "executive sponsor".
fn words(label: &str) -> String {
    label.replace('_', " ")
}

/// The account page's Stakeholders card: contacts (active first, the inactive marked),
/// and the agreed meeting cadence per team with when each team was last met.
pub(super) async fn section(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    touchpoints: &[Touchpoint],
    today: NaiveDate,
) -> Result<Markup, PageError> {
    let (contacts, cadences, last_seen) = tokio::try_join!(
        state.store.contacts_of(id),
        state.store.meeting_cadences_of(id),
        state.store.last_touchpoint_by_contact(id)
    )?;
    let can = user.role.can(Permission::RecordWork);
    let base = format!("/accounts/{id}");
    Ok(html! {
        section.card #stakeholders {
            h2 { "Stakeholders" }
            @if contacts.is_empty() { p.muted { "No contacts yet." } }
            @else {
                div.table-scroll { table.data #contacts {
                    thead { tr { th { "Name" } th { "Team and role" } th { "Email and phone" } @if can { th {} } } }
                    tbody { @for c in &contacts {
                        @let f = &c.fields;
                        tr.inactive[!c.active()] {
                            td { (f.name.as_deref().unwrap_or("–"))
                                @if !c.active() { " " span.tag { "inactive" } }
                                @if let Some(t) = &f.title { br; small.muted { (t) } }
                                // When they last took part in a touchpoint, where one names them.
                                @if let Some(at) = last_seen.get(&c.id) { br; small.muted.last-seen { "last touchpoint " (date(Some(at.date_naive()))) } } }
                            td { (f.stakeholder_team.as_deref().map_or("–".to_string(), words))
                                @if let Some(r) = &f.role { br; small.muted { (words(r)) } } }
                            td.reach {
                                @if let Some(e) = &f.email { a href={"mailto:" (e)} { (e) } } @else { "–" }
                                @if let Some(p) = &f.phone { br; a.phone href={"tel:" (p.replace(' ', ""))} { (p) } }
                            }
                            @if can { td.actions {
                                a href={(base) "/contacts/" (c.id) "/edit"} { "Edit" }
                                form.inline method="post" action={(base) "/contacts/" (c.id) "/active"} {
                                    (form::csrf(user))
                                    input type="hidden" name="version" value=(c.version);
                                    @if c.active() {
                                        input type="hidden" name="active" value="false";
                                        button.secondary type="submit" { "Deactivate" }
                                    } @else {
                                        input type="hidden" name="active" value="true";
                                        button.secondary type="submit" { "Reactivate" }
                                    }
                                }
                            } }
                        }
                    } }
                } }
            }
            @if can { p { a href={(base) "/contacts/new"} { "Add a contact" } } }
            @else { (lacks(user, Permission::RecordWork)) }
            h3 { "Meeting cadence" }
            @if cadences.is_empty() { p.muted { "No cadence agreed with any team yet." } }
            @else {
                table.data #cadence { thead { tr { th { "Team" } th.num { "Every" } th { "Last held" } th { "Next due" } @if can { th {} } } }
                    tbody { @for c in &cadences {
                        @let (team, every) = (&c.stakeholder_team, &c.every_days);
                        @let last = touchpoints.iter().map(|t| &t.record).filter(|m| m.keeps_cadence() && m.with_team(team) && m.held_at.date_naive() <= today).map(|m| m.held_at.date_naive()).max();
                        @let due = last.map(|l| l + chrono::TimeDelta::days(i64::from(*every)));
                        tr {
                            td { (words(team)) } td.num { (every) " days" } td { (date(last)) }
                            td { @match due {
                                Some(d) if d < today => { span.down { (d) " · overdue" } }
                                Some(d) => { (d) }
                                None => { span.down { "never met" } }
                            } }
                            @if can { td {
                                form.inline method="post" action={(base) "/cadences/remove"} {
                                    (form::csrf(user))
                                    input type="hidden" name="stakeholder_team" value=(team);
                                    button.secondary type="submit" data-confirm="Remove this meeting cadence?" { "Remove" }
                                }
                            } }
                        }
                    } }
                }
            }
            @if can { (cadence_form(user, id, &CadenceForm::default(), &Problems::new())) }
        }
    })
}

/// Setting a team's cadence: a new team, or a new number of days for one that has one.
fn cadence_form(user: &CurrentUser, id: i64, values: &CadenceForm, problems: &Problems) -> Markup {
    html! {
        details #set-cadence open[!problems.is_empty()] {
            summary { "Set a team's cadence" }
            (form::summary(problems))
            form.inline method="post" action={"/accounts/" (id) "/cadences"} {
                (form::csrf(user))
                (form::field("Team", "stakeholder_team", Input::Text, &values.stakeholder_team, problems))
                (form::field("Every (days)", "every_days", Input::Number, &values.every_days, problems))
                button type="submit" { "Save cadence" }
            }
            datalist #teams { @for t in STAKEHOLDER_TEAMS { option value=(t) {} } }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CadenceForm {
    #[serde(default)]
    stakeholder_team: String,
    #[serde(default)]
    every_days: String,
}

fn back_to(id: i64, section: &str) -> Response {
    Redirect::to(&format!("/accounts/{id}#{section}")).into_response()
}

async fn account_name(state: &AppState, id: i64) -> Result<String, PageError> {
    let a = state
        .store
        .account(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
    Ok(a.fields.name.unwrap_or(a.fields.external_id))
}

/// `POST /accounts/{id}/cadences`: sets a team's cadence, audited.
pub(crate) async fn set_cadence(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<CadenceForm>,
) -> Result<Response, Response> {
    require(&user, Permission::RecordWork)?;
    let name = account_name(&state, id).await?;
    let mut problems = Problems::new();
    let days = problems.check("every_days", laer_core::parse::whole_number(&form.every_days));
    let cadence = days.and_then(|days| {
        NewMeetingCadence::new(id, &form.stakeholder_team, days)
            .map_err(|e| problems.add(e.field(), e.to_string()))
            .ok()
    });
    if form.stakeholder_team.trim().is_empty() && problems.at("stakeholder_team").is_none() {
        problems.add("stakeholder_team", "expected a stakeholder team, found an empty one");
    }
    if let (Some(cadence), true) = (cadence, problems.is_empty()) {
        match state.store.set_meeting_cadence(&cadence, &user.actor()).await {
            Ok(_) => return Ok(back_to(id, "cadence")),
            Err(e) => problems = Problems::from_store(e)?,
        }
    }
    let body = html! {
        div.page-head { p { a href={"/accounts/" (id)} { "← " (name) } } h1 { "Meeting cadence: " (name) } }
        section.card.narrow.wide { (cadence_form(&user, id, &form, &problems)) }
    };
    Err(form::refused(layout(
        &format!("Meeting cadence · {name}"),
        None,
        &user,
        body,
    )))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RemoveCadenceForm {
    #[serde(default)]
    stakeholder_team: String,
}

/// `POST /accounts/{id}/cadences/remove`: removes a team's cadence, audited.
pub(crate) async fn remove_cadence(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<RemoveCadenceForm>,
) -> Result<Response, Response> {
    require(&user, Permission::RecordWork)?;
    account_name(&state, id).await?;
    let team = laer_core::parse::label(&form.stakeholder_team);
    state
        .store
        .remove_meeting_cadence(id, &team, &user.actor())
        .await
        .map_err(PageError::from)?;
    Ok(back_to(id, "cadence"))
}

/// A contact's fields as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ContactForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    stakeholder_team: String,
    #[serde(default)]
    role: String,
    /// The version the edit was made on (edits only).
    #[serde(default)]
    version: Option<i64>,
}

impl ContactForm {
    fn of(c: &Contact) -> ContactForm {
        let f = &c.fields;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        ContactForm {
            name: text(&f.name),
            email: text(&f.email),
            phone: text(&f.phone),
            title: text(&f.title),
            stakeholder_team: text(&f.stakeholder_team),
            role: text(&f.role),
            version: Some(c.version),
        }
    }

    fn input(&self) -> ContactInput<'_> {
        ContactInput {
            name: &self.name,
            email: &self.email,
            phone: &self.phone,
            title: &self.title,
            stakeholder_team: &self.stakeholder_team,
            role: &self.role,
        }
    }
}

/// The contact form page: new (`contact` None) or an edit.
fn contact_page(
    user: &CurrentUser,
    id: i64,
    name: &str,
    contact: Option<i64>,
    values: &ContactForm,
    problems: &Problems,
) -> Markup {
    let action = match contact {
        Some(c) => format!("/accounts/{id}/contacts/{c}"),
        None => format!("/accounts/{id}/contacts"),
    };
    let heading = if contact.is_some() {
        "Edit contact"
    } else {
        "Add a contact"
    };
    let mut roles: Vec<(String, String)> = vec![(String::new(), "–".into())];
    roles.extend(CONTACT_ROLES.iter().map(|r| (r.to_string(), words(r))));
    if !values.role.is_empty() && !CONTACT_ROLES.contains(&values.role.as_str()) {
        roles.push((values.role.clone(), words(&values.role)));
    }
    let body = html! {
        div.page-head { p { a href={"/accounts/" (id) "#stakeholders"} { "← " (name) } } h1 { (heading) ": " (name) } }
        section.card.narrow.wide {
            (form::summary(problems))
            form.stacked #contact-form method="post" action=(action) {
                (form::csrf(user))
                @if let Some(v) = values.version { input type="hidden" name="version" value=(v); }
                (form::field("Name", "name", Input::Text, &values.name, problems))
                (form::field("Email", "email", Input::Email, &values.email, problems))
                (form::field("Phone", "phone", Input::Text, &values.phone, problems))
                (form::field("Title", "title", Input::Text, &values.title, problems))
                (form::field("Stakeholder team (executive, network, security, ...)", "stakeholder_team", Input::Text, &values.stakeholder_team, problems))
                (form::select("Role", "role", &roles, &values.role, problems))
                button type="submit" { "Save contact" }
            }
        }
    };
    layout(&format!("{heading} · {name}"), None, user, body)
}

/// `GET /accounts/{id}/contacts/new`.
pub(crate) async fn new_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    require(&user, Permission::RecordWork)?;
    let name = account_name(&state, id).await?;
    Ok(contact_page(&user, id, &name, None, &ContactForm::default(), &Problems::new()).into_response())
}

/// `POST /accounts/{id}/contacts`: adds a contact with a new external id, audited.
pub(crate) async fn add_contact(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<ContactForm>,
) -> Result<Response, Response> {
    require(&user, Permission::RecordWork)?;
    let name = account_name(&state, id).await?;
    let external_id = laer_store::new_external_id("contact").map_err(PageError::from)?;
    let problems = match form.input().check(id, &external_id) {
        Err(found) => problems_of(found),
        Ok(contact) => match state.store.add_contact(&contact, &user.actor()).await {
            Ok(_) => return Ok(back_to(id, "stakeholders")),
            Err(e) => Problems::from_store(e)?,
        },
    };
    Err(form::refused(contact_page(&user, id, &name, None, &form, &problems)))
}

/// The contact, if it is one of the account's.
async fn contact_of(state: &AppState, id: i64, contact: i64) -> Result<Contact, PageError> {
    state
        .store
        .contact(contact)
        .await?
        .filter(|c| c.fields.account_id == id)
        .ok_or_else(|| PageError::NotFound(format!("contact {contact} of account {id}")))
}

/// `GET /accounts/{id}/contacts/{contact}/edit`.
pub(crate) async fn edit_contact_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, contact)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    require(&user, Permission::RecordWork)?;
    let name = account_name(&state, id).await?;
    let c = contact_of(&state, id, contact).await?;
    Ok(contact_page(&user, id, &name, Some(c.id), &ContactForm::of(&c), &Problems::new()).into_response())
}

/// `POST /accounts/{id}/contacts/{contact}`: an edit made on the version sent, audited.
pub(crate) async fn edit_contact(
    State(state): State<AppState>,
    Path((id, contact)): Path<(i64, i64)>,
    CsrfForm { user, form }: CsrfForm<ContactForm>,
) -> Result<Response, Response> {
    require(&user, Permission::RecordWork)?;
    let name = account_name(&state, id).await?;
    let stored = contact_of(&state, id, contact).await?;
    let mut problems = Problems::new();
    let version = form.version.unwrap_or_else(|| {
        problems.add(
            "",
            "The form did not say which version of the contact it changes; reload it.",
        );
        0
    });
    let checked = form.input().check(id, &stored.fields.external_id);
    match checked {
        Err(found) => {
            for p in found {
                problems.add(p.field, p.message);
            }
        }
        Ok(c) if problems.is_empty() => match state.store.edit_contact(contact, version, &c, &user.actor()).await {
            Ok(_) => return Ok(back_to(id, "stakeholders")),
            Err(e) => problems = Problems::from_store(e)?,
        },
        Ok(_) => {}
    }
    Err(form::refused(contact_page(
        &user,
        id,
        &name,
        Some(contact),
        &form,
        &problems,
    )))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActiveForm {
    active: String,
    version: i64,
}

/// `POST /accounts/{id}/contacts/{contact}/active`: deactivates (`active=false`) or
/// reactivates a contact, audited.
pub(crate) async fn set_active(
    State(state): State<AppState>,
    Path((id, contact)): Path<(i64, i64)>,
    CsrfForm { user, form }: CsrfForm<ActiveForm>,
) -> Result<Response, Response> {
    require(&user, Permission::RecordWork)?;
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        other => {
            let why = format!("active: expected true or false, found {other:?}.");
            return Err(PageError::BadRequest(why).into());
        }
    };
    contact_of(&state, id, contact).await?;
    state
        .store
        .set_contact_active(contact, form.version, active, &user.actor())
        .await
        .map_err(PageError::from)?;
    Ok(back_to(id, "stakeholders"))
}
