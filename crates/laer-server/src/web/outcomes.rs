//! Outcomes on the success plan (docs/success-plans.md): the team defines and edits them
//! (`manage_plans`) and records their measurements (`record_work`); where the team has
//! switched it on, the customer records a measurement from the share link's page. The
//! plan is computed on each request, so the plan, its share link and (through the health
//! mark written with the measurement) health show a measurement at once.
//!
//! The customer's form has no session to carry a CSRF token, so it uses a double-submit
//! cookie, as the login form does: the page sets a random token in a cookie
//! (`HttpOnly`, `SameSite=Strict`, scoped to `/plan/`) and the same token in the form; a
//! post is accepted only when the two match. Another site can make a browser post to the
//! link but can neither read the token from the page nor set the cookie (and the browser
//! does not send a `SameSite=Strict` cookie with another site's post). This needs no
//! server secret kept in `settings` (as an HMAC of the link would), works on every node,
//! and ties the token to the customer's browser rather than to the link, which anyone
//! who has it could read the form of.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use laer_core::entries::{MeasurementInput, OutcomeInput};
use laer_core::model::Direction;
use laer_core::success_plan::SuccessPlan;
use laer_store::{CustomerWrite, Outcome, RateLimit, SharedPlan};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Input, Problems};
use super::people::{lacks, problems_of};
use super::plan_view;
use super::session::CsrfForm;
use super::{CurrentUser, PageError, date, layout, num, require, today};
use crate::AppState;

/// The customer's form token cookie, sent back only to the share links' pages.
const PLAN_CSRF_COOKIE: &str = "laer_plan_csrf";
/// How many recent measurements the team's page lists.
const RECENT_MEASUREMENTS: usize = 20;

fn direction_words(d: Direction) -> &'static str {
    match d {
        Direction::Higher => "higher is better",
        Direction::Lower => "lower is better",
    }
}

fn back_to(id: i64, section: &str) -> Response {
    Redirect::to(&format!("/accounts/{id}/plan#{section}")).into_response()
}

async fn account_name(state: &AppState, id: i64) -> Result<String, PageError> {
    let a = state
        .store
        .account(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
    Ok(a.fields.name.unwrap_or(a.fields.external_id))
}

/// The outcomes to choose from, by id.
fn outcome_options(outcomes: &[Outcome]) -> Vec<(String, String)> {
    outcomes
        .iter()
        .map(|o| (o.id.to_string(), o.fields.name.clone()))
        .collect()
}

/// The team's card on the plan page: the outcomes with their direction and latest value,
/// the forms to define, edit and measure them, recent measurements with who recorded
/// them, and whether the customer may record measurements through the share link.
pub(super) async fn team_section(state: &AppState, user: &CurrentUser, id: i64) -> Result<Markup, PageError> {
    let (outcomes, measurements, customer) = tokio::try_join!(
        state.store.outcomes_of(id),
        state.store.measurements_of(id),
        state.store.customer_measurements(id),
    )?;
    // Defining outcomes is the plan's work: the person covering the account in its
    // current phase may do it too (rights by phase).
    let define_right = super::rights::may_on(state, user, Permission::ManagePlans, id).await?;
    let can_define = define_right.is_ok();
    let can_measure = user.role.can(Permission::RecordWork);
    let base = format!("/accounts/{id}/plan");
    let name_of = |outcome_id: i64| {
        outcomes
            .iter()
            .find(|o| o.id == outcome_id)
            .map_or("–", |o| o.fields.name.as_str())
    };
    Ok(html! {
        section.card #outcomes-work {
            h2 { "Outcomes and measurements" }
            @if outcomes.is_empty() { p.muted { "No outcomes defined yet." } }
            @else {
                table.data #outcome-list {
                    thead { tr { th { "Outcome" } th.num { "Baseline" } th.num { "Target" } th { "Better when" } th { "By" } th.num { "Latest" } @if can_define { th {} } } }
                    tbody { @for o in &outcomes {
                        @let f = &o.fields;
                        @let latest = measurements.iter().find(|m| m.fields.outcome_id == o.id);
                        tr {
                            td { (f.name) } td.num { (num(f.baseline, &f.unit)) } td.num { (num(f.target, &f.unit)) }
                            td { (direction_words(f.direction)) } td.date { (date(f.target_date)) }
                            td.num { @if let Some(m) = latest { (num(m.fields.value, &f.unit)) " " small.muted { (m.fields.measured_on) } } @else { "–" } }
                            @if can_define { td { a href={(base) "/outcomes/" (o.id) "/edit"} { "Edit" } } }
                        }
                    } }
                }
            }
            @if can_define { p { a href={(base) "/outcomes/new"} { "Define an outcome" } } }
            @else if let Err(r) = &define_right { (super::rights::note(r)) }
            @if !outcomes.is_empty() {
                @if can_measure { (measurement_form(user, id, &outcomes, &MeasurementForm::default(), &Problems::new())) }
                @else { (lacks(user, Permission::RecordWork)) }
            }
            @if !measurements.is_empty() {
                h3 { "Recent measurements" }
                table.data #measurements {
                    thead { tr { th { "Day" } th { "Outcome" } th.num { "Value" } th { "Source" } th { "Note" } th { "Recorded by" } } }
                    tbody { @for m in measurements.iter().take(RECENT_MEASUREMENTS) {
                        @let f = &m.fields;
                        tr {
                            td.date { (f.measured_on) } td { (name_of(f.outcome_id)) } td.num { (f.value) }
                            td { (f.source.as_deref().unwrap_or("–")) } td { (f.note.as_deref().unwrap_or("")) }
                            td { (f.recorded_by.as_deref().unwrap_or("import")) }
                        }
                    } }
                }
            }
            h3 #customer-measurements { "Measurements by the customer" }
            p {
                @if customer { span.up { "On: " } "the customer can record a measurement of an outcome from the share link's page (at most " (RateLimit::CUSTOMER.writes) " per link per hour)." }
                @else { span.muted { "Off: " } "the share link's page is read-only." }
            }
            @if can_define {
                form.inline method="post" action={(base) "/customer-measurements"} {
                    (form::csrf(user))
                    input type="hidden" name="on" value=(if customer { "false" } else { "true" });
                    button.secondary type="submit" { @if customer { "Switch off" } @else { "Let the customer record measurements" } }
                }
            }
        }
    })
}

/// A measurement's fields as sent (the team's form and the customer's).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MeasurementForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    measured_on: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    note: String,
}

impl MeasurementForm {
    fn input(&self) -> MeasurementInput<'_> {
        MeasurementInput {
            measured_on: &self.measured_on,
            value: &self.value,
            source: &self.source,
            note: &self.note,
        }
    }

    /// The chosen outcome among `outcomes`, or a problem at `outcome`.
    fn outcome_id(&self, outcomes: &[Outcome], problems: &mut Problems) -> Option<i64> {
        let chosen = self
            .outcome
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|id| outcomes.iter().any(|o| o.id == *id));
        if chosen.is_none() {
            problems.add(
                "outcome",
                format!("expected one of the plan's outcomes, found {:?}", self.outcome),
            );
        }
        chosen
    }

    /// The day as sent, today when none was given.
    fn day(&self) -> String {
        if self.measured_on.is_empty() {
            today().to_string()
        } else {
            self.measured_on.clone()
        }
    }
}

/// Recording a measurement: an outcome, the day, the value, its source and a note.
fn measurement_form(
    user: &CurrentUser,
    id: i64,
    outcomes: &[Outcome],
    values: &MeasurementForm,
    problems: &Problems,
) -> Markup {
    let day = &values.day();
    html! {
        details #record-measurement open[!problems.is_empty()] {
            summary { "Record a measurement" }
            (form::summary(problems))
            form.stacked method="post" action={"/accounts/" (id) "/plan/measurements"} {
                (form::csrf(user))
                (form::select("Outcome", "outcome", &outcome_options(outcomes), &values.outcome, problems))
                (form::field("Day", "measured_on", Input::Date, day, problems))
                (form::field("Value", "value", Input::Number, &values.value, problems))
                (form::field("Source", "source", Input::Text, &values.source, problems))
                (form::text_area("Note", "note", &values.note, 2, problems))
                p.muted.small { "One value per outcome and day: a second measurement of the same day replaces the first." }
                button type="submit" { "Record" }
            }
        }
    }
}

/// `POST /accounts/{id}/plan/measurements`: records a measurement as the user, audited.
pub(crate) async fn record(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<MeasurementForm>,
) -> Result<Response, Response> {
    require(&user, Permission::RecordWork)?;
    let name = account_name(&state, id).await?;
    let outcomes = state.store.outcomes_of(id).await.map_err(PageError::from)?;
    let mut problems = Problems::new();
    let outcome = form.outcome_id(&outcomes, &mut problems);
    let checked = form.input().check(outcome.unwrap_or(0), &user.actor(), today());
    match checked {
        Err(found) => {
            for p in found {
                problems.add(p.field, p.message);
            }
        }
        Ok(m) if problems.is_empty() => match state.store.record_measurement(&m, &user.actor()).await {
            Ok(_) => return Ok(back_to(id, "outcomes-work")),
            Err(e) => problems = Problems::from_store(e)?,
        },
        Ok(_) => {}
    }
    let body = html! {
        div.page-head { p { a href={"/accounts/" (id) "/plan"} { "← Success plan: " (name) } } h1 { "Record a measurement: " (name) } }
        section.card.narrow.wide { (measurement_form(&user, id, &outcomes, &form, &problems)) }
    };
    Err(form::refused(layout(
        &format!("Record a measurement · {name}"),
        None,
        &user,
        body,
    )))
}

/// An outcome's fields as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OutcomeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    baseline: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    target_date: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    version: Option<i64>,
}

impl OutcomeForm {
    fn of(o: &Outcome) -> OutcomeForm {
        let f = &o.fields;
        OutcomeForm {
            name: f.name.clone(),
            unit: f.unit.clone().unwrap_or_default(),
            baseline: f.baseline.to_string(),
            target: f.target.to_string(),
            start_date: f.start_date.map(|d| d.to_string()).unwrap_or_default(),
            target_date: f.target_date.map(|d| d.to_string()).unwrap_or_default(),
            direction: f.direction.as_str().to_string(),
            version: Some(o.version),
        }
    }

    fn input(&self) -> OutcomeInput<'_> {
        OutcomeInput {
            name: &self.name,
            unit: &self.unit,
            baseline: &self.baseline,
            target: &self.target,
            start_date: &self.start_date,
            target_date: &self.target_date,
            direction: &self.direction,
        }
    }
}

fn outcome_page(
    user: &CurrentUser,
    id: i64,
    name: &str,
    outcome: Option<i64>,
    values: &OutcomeForm,
    problems: &Problems,
) -> Markup {
    let action = match outcome {
        Some(o) => format!("/accounts/{id}/plan/outcomes/{o}"),
        None => format!("/accounts/{id}/plan/outcomes"),
    };
    let heading = if outcome.is_some() {
        "Edit outcome"
    } else {
        "Define an outcome"
    };
    let directions = [
        (String::new(), "As baseline and target imply".to_string()),
        ("higher".to_string(), "Higher is better".to_string()),
        ("lower".to_string(), "Lower is better".to_string()),
    ];
    let body = html! {
        div.page-head { p { a href={"/accounts/" (id) "/plan"} { "← Success plan: " (name) } } h1 { (heading) ": " (name) } }
        section.card.narrow.wide {
            p.muted { "The customer reads the outcome's name and unit at the share link: write them in the customer's words." }
            (form::summary(problems))
            form.stacked #outcome-form method="post" action=(action) {
                (form::csrf(user))
                @if let Some(v) = values.version { input type="hidden" name="version" value=(v); }
                (form::field("What the customer wants to reach", "name", Input::Text, &values.name, problems))
                (form::field("Unit (%, days, offices)", "unit", Input::Text, &values.unit, problems))
                (form::field("Baseline", "baseline", Input::Number, &values.baseline, problems))
                (form::field("Target", "target", Input::Number, &values.target, problems))
                (form::select("Which way is better", "direction", &directions, &values.direction, problems))
                (form::field("Starting", "start_date", Input::Date, &values.start_date, problems))
                (form::field("Target date", "target_date", Input::Date, &values.target_date, problems))
                button type="submit" { "Save outcome" }
            }
        }
    };
    layout(&format!("{heading} · {name}"), None, user, body)
}

/// `GET /accounts/{id}/plan/outcomes/new`.
pub(crate) async fn new_outcome(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    super::rights::require_on(&state, &user, Permission::ManagePlans, id).await?;
    let name = account_name(&state, id).await?;
    Ok(outcome_page(&user, id, &name, None, &OutcomeForm::default(), &Problems::new()).into_response())
}

/// `POST /accounts/{id}/plan/outcomes`: defines an outcome with a new external id, audited.
pub(crate) async fn define(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<OutcomeForm>,
) -> Result<Response, Response> {
    super::rights::require_on(&state, &user, Permission::ManagePlans, id).await?;
    let name = account_name(&state, id).await?;
    let external_id = laer_store::new_external_id("outcome").map_err(PageError::from)?;
    let problems = match form.input().check(id, &external_id) {
        Err(found) => problems_of(found),
        Ok(o) => match state.store.define_outcome(&o, &user.actor()).await {
            Ok(_) => return Ok(back_to(id, "outcomes-work")),
            Err(e) => Problems::from_store(e)?,
        },
    };
    Err(form::refused(outcome_page(&user, id, &name, None, &form, &problems)))
}

async fn outcome_of(state: &AppState, id: i64, outcome: i64) -> Result<Outcome, PageError> {
    state
        .store
        .outcome(outcome)
        .await?
        .filter(|o| o.fields.account_id == id)
        .ok_or_else(|| PageError::NotFound(format!("outcome {outcome} of account {id}")))
}

/// `GET /accounts/{id}/plan/outcomes/{outcome}/edit`.
pub(crate) async fn edit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, outcome)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    super::rights::require_on(&state, &user, Permission::ManagePlans, id).await?;
    let name = account_name(&state, id).await?;
    let o = outcome_of(&state, id, outcome).await?;
    Ok(outcome_page(&user, id, &name, Some(o.id), &OutcomeForm::of(&o), &Problems::new()).into_response())
}

/// `POST /accounts/{id}/plan/outcomes/{outcome}`: an edit made on the version sent, audited.
pub(crate) async fn edit(
    State(state): State<AppState>,
    Path((id, outcome)): Path<(i64, i64)>,
    CsrfForm { user, form }: CsrfForm<OutcomeForm>,
) -> Result<Response, Response> {
    super::rights::require_on(&state, &user, Permission::ManagePlans, id).await?;
    let name = account_name(&state, id).await?;
    let stored = outcome_of(&state, id, outcome).await?;
    let mut problems = Problems::new();
    let version = form.version.unwrap_or_else(|| {
        problems.add(
            "",
            "The form did not say which version of the outcome it changes; reload it.",
        );
        0
    });
    match form.input().check(id, &stored.fields.external_id) {
        Err(found) => {
            for p in found {
                problems.add(p.field, p.message);
            }
        }
        Ok(o) if problems.is_empty() => match state.store.edit_outcome(outcome, version, &o, &user.actor()).await {
            Ok(_) => return Ok(back_to(id, "outcomes-work")),
            Err(e) => problems = Problems::from_store(e)?,
        },
        Ok(_) => {}
    }
    Err(form::refused(outcome_page(
        &user,
        id,
        &name,
        Some(outcome),
        &form,
        &problems,
    )))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SwitchForm {
    on: String,
}

/// `POST /accounts/{id}/plan/customer-measurements`: lets the customer record
/// measurements through the share links (`on=true`) or stops it, audited.
pub(crate) async fn switch(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<SwitchForm>,
) -> Result<Response, Response> {
    super::rights::require_on(&state, &user, Permission::ManagePlans, id).await?;
    let on = match form.on.as_str() {
        "true" => true,
        "false" => false,
        other => return Err(PageError::BadRequest(format!("on: expected true or false, found {other:?}.")).into()),
    };
    state
        .store
        .set_customer_measurements(id, on, &user.actor())
        .await
        .map_err(PageError::from)?;
    Ok(back_to(id, "customer-measurements"))
}

/// The value of a cookie in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
}

/// The browser's form token: the one its cookie holds, else a new one.
fn form_token(headers: &HeaderMap) -> Result<String, PageError> {
    match cookie(headers, PLAN_CSRF_COOKIE) {
        Some(t) if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(t),
        _ => Ok(laer_store::random_id()?),
    }
}

fn token_cookie(token: &str) -> String {
    format!("{PLAN_CSRF_COOKIE}={token}; Path=/plan/; HttpOnly; SameSite=Strict; Secure; Max-Age=86400")
}

/// Headers of the customer's pages: not indexed, not cached, no referrer.
fn private_headers() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::HeaderName::from_static("x-robots-tag"), "noindex, nofollow"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}

/// The customer's form, in their words.
fn customer_form(
    token: &str,
    csrf: &str,
    outcomes: &[Outcome],
    values: &MeasurementForm,
    problems: &Problems,
    recorded: bool,
) -> Markup {
    let day = &values.day();
    html! {
        section.card.no-print #record {
            h2 { "Send us a new figure" }
            @if recorded { p.note role="status" { "Thank you: your figure is recorded and shown above." } }
            p.muted { "Measured one of the outcomes? Record the figure here; your customer success team sees it at once. One figure per outcome and day: sending another for the same day replaces it." }
            (form::summary(problems))
            form.stacked method="post" action={"/plan/" (token) "/measurements"} {
                input type="hidden" name="csrf" value=(csrf);
                (form::select("Outcome", "outcome", &outcome_options(outcomes), &values.outcome, problems))
                (form::field("Day", "measured_on", Input::Date, day, problems))
                (form::field("Figure", "value", Input::Number, &values.value, problems))
                (form::field("Where it comes from", "source", Input::Text, &values.source, problems))
                (form::text_area("Note", "note", &values.note, 2, problems))
                button type="submit" { "Send" }
            }
        }
    }
}

/// The customer's page for a live link, with the form where the plan takes
/// measurements; `status` 200, or 400 with the form's problems.
pub(super) async fn customer_view(
    state: &AppState,
    plan: &SuccessPlan,
    link: &SharedPlan,
    token: &str,
    headers: &HeaderMap,
    form: Option<(&MeasurementForm, &Problems)>,
    recorded: bool,
) -> Response {
    let mut record = None;
    let mut set_cookie = None;
    if link.customer_measurements {
        let outcomes = match state.store.outcomes_of(link.account_id).await {
            Ok(o) => o,
            Err(e) => return PageError::from(e).into_response(),
        };
        if !outcomes.is_empty() {
            let csrf = match form_token(headers) {
                Ok(t) => t,
                Err(e) => return e.into_response(),
            };
            let empty = (MeasurementForm::default(), Problems::new());
            let (values, problems) = form.unwrap_or((&empty.0, &empty.1));
            record = Some(customer_form(token, &csrf, &outcomes, values, problems, recorded));
            set_cookie = Some(token_cookie(&csrf));
        }
    }
    let status = if form.is_some_and(|(_, p)| !p.is_empty()) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = plan_view::customer_page(&plan.for_customer(), None, record);
    let mut response = (status, private_headers(), page).into_response();
    if let Some(value) = set_cookie.and_then(|c| c.parse().ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A short answer on the customer's side, in their words.
fn customer_answer(status: StatusCode, heading: &str, back: Option<&str>, text: &str) -> Response {
    (
        status,
        private_headers(),
        plan_view::customer_message(heading, text, back),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct CustomerForm {
    csrf: Option<String>,
    #[serde(flatten)]
    fields: MeasurementForm,
}

/// `POST /plan/{token}/measurements`: the customer's measurement, recorded as theirs,
/// audited and limited in rate; refused (403, nothing written) where the plan does not
/// take measurements, and without the form's token.
pub(crate) async fn record_from_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CustomerForm>,
) -> Response {
    // The form's token first: a forged post is refused before anything is looked up.
    let expected = cookie(&headers, PLAN_CSRF_COOKIE);
    let matches = matches!((expected.as_deref(), form.csrf.as_deref()),
        (Some(e), Some(s)) if e.len() == s.len() && e.bytes().zip(s.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0);
    if !matches {
        return customer_answer(
            StatusCode::FORBIDDEN,
            "Not sent",
            None,
            "The form's security token did not match, so nothing was recorded. Please reload the page and send the figure again.",
        );
    }
    let not_available = || (StatusCode::NOT_FOUND, private_headers(), plan_view::not_available()).into_response();
    if token.len() > super::plan::MAX_TOKEN_CHARS {
        return not_available();
    }
    let link = match state.store.shared_plan(&token).await {
        Ok(Some(link)) => link,
        Ok(None) => return not_available(),
        Err(e) => return PageError::from(e).into_response(),
    };
    let back = format!("/plan/{token}");
    let refused_here = || {
        customer_answer(
            StatusCode::FORBIDDEN,
            "Not taken here",
            Some(&back),
            "This plan does not take figures through its link. Please send the figure to your customer success team.",
        )
    };
    if !link.customer_measurements {
        return refused_here();
    }
    let outcomes = match state.store.outcomes_of(link.account_id).await {
        Ok(o) => o,
        Err(e) => return PageError::from(e).into_response(),
    };
    let values = form.fields;
    let mut problems = Problems::new();
    let outcome = values.outcome_id(&outcomes, &mut problems);
    match values.input().check(outcome.unwrap_or(0), &link.recorded_by(), today()) {
        Err(found) => {
            for p in found {
                problems.add(p.field, p.message);
            }
        }
        Ok(m) if problems.is_empty() => {
            match state
                .store
                .record_customer_measurement(&link, &m, RateLimit::CUSTOMER)
                .await
            {
                Ok(CustomerWrite::Recorded(_)) => {
                    return Redirect::to(&format!("/plan/{token}?recorded=1#record")).into_response();
                }
                Ok(CustomerWrite::NotAllowed) => return refused_here(),
                Ok(CustomerWrite::UnknownOutcome) => {
                    problems.add("outcome", "expected one of the plan's outcomes");
                }
                Ok(CustomerWrite::TooMany { retry_after }) => {
                    let text = format!(
                        "Too many figures were sent through this link in the last hour. Please try again after {} UTC.",
                        retry_after.format("%H:%M")
                    );
                    return customer_answer(
                        StatusCode::TOO_MANY_REQUESTS,
                        "Please wait a little",
                        Some(&back),
                        &text,
                    );
                }
                Err(e) => return PageError::from(e).into_response(),
            }
        }
        Ok(_) => {}
    }
    let plan = match super::plan::plan_of(&state, link.account_id).await {
        Ok(plan) => plan,
        Err(e) => return e.into_response(),
    };
    customer_view(
        &state,
        &plan,
        &link,
        &token,
        &headers,
        Some((&values, &problems)),
        false,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct SharedQuery {
    recorded: Option<String>,
}

/// `GET /plan/{token}`: the customer's view, without a login; with the measurement form
/// where the plan takes measurements.
pub(crate) async fn shared(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<SharedQuery>,
    headers: HeaderMap,
) -> Response {
    let not_available = || (StatusCode::NOT_FOUND, private_headers(), plan_view::not_available()).into_response();
    if token.len() > super::plan::MAX_TOKEN_CHARS {
        return not_available();
    }
    let link = match state.store.shared_plan(&token).await {
        Ok(Some(link)) => link,
        Ok(None) => return not_available(),
        Err(e) => return PageError::from(e).into_response(),
    };
    match super::plan::plan_of(&state, link.account_id).await {
        Ok(plan) => customer_view(&state, &plan, &link, &token, &headers, None, query.recorded.is_some()).await,
        Err(PageError::NotFound(_)) => not_available(),
        Err(e) => e.into_response(),
    }
}
