//! Recording by hand where a team has no connector yet (docs/recording.md): an account's
//! NPS and CSAT answers and support cases (record_work), its contract lines — add one,
//! change one, end one — and new accounts (edit_contracts).
//!
//! Each form's fields are the columns of the import kind of the same records, and a form
//! is parsed by that kind's declaration (`laer_import::parse_json`), so a form, a CSV
//! file and the REST API accept the same values with the same messages, each naming its
//! field. A form carries a token made when it was shown, which becomes the new record's
//! external id: sending it twice creates one record. Every change is audited, and the
//! revenue movements, renewals and health follow (the store marks them).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use laer_core::access::Permission;
use laer_core::model::{CaseKind, CaseStatus, SurveyKind};
use laer_core::parse::{MAX_LINE_CHARS, MAX_TEXT_CHARS, bounded};
use laer_import::{Context, ImportKind, kinds};
use laer_store::{ContactChoice, LineChange, OnExisting, StoreError, VersionedCase, VersionedLine};
use maud::{Markup, html};

use super::form::{self, Input, Problems};
use super::session::CsrfForm;
use super::{CurrentUser, PageError, date, layout, money_exact, require, rights, today};
use crate::AppState;

/// A form's fields as sent, by name.
pub(crate) type Fields = BTreeMap<String, String>;

/// The free-text fields of the forms and their bounds: longer is refused, never cut.
const BOUNDS: &[(&str, usize)] = &[
    ("comment", MAX_TEXT_CHARS),
    ("subject", MAX_LINE_CHARS),
    ("product", MAX_LINE_CHARS),
    ("units", MAX_LINE_CHARS),
    ("name", MAX_LINE_CHARS),
    ("external_id", MAX_LINE_CHARS),
    ("segment", MAX_LINE_CHARS),
    ("country", MAX_LINE_CHARS),
];

fn value<'a>(values: &'a Fields, name: &str) -> &'a str {
    values.get(name).map(|v| v.trim()).unwrap_or_default()
}

/// The form's token, which names the record it creates; a new one for a fresh form.
fn token_of(values: &Fields) -> String {
    match value(values, "token") {
        "" => laer_store::random_id().unwrap_or_default(),
        t => t.to_string(),
    }
}

/// A `datetime-local` value ("2026-03-01T09:30") as the import's timestamps read it.
fn local_time(text: &str) -> String {
    if text.len() == 16 && text.as_bytes().get(10) == Some(&b'T') {
        format!("{text}:00")
    } else {
        text.to_string()
    }
}

/// Parses the form's `columns` (and the `fixed` values) as one row of import kind `K`,
/// the problems recorded against their fields: a field too long, or the first the kind
/// refuses.
fn parse_row<K: ImportKind>(
    values: &Fields,
    columns: &[&str],
    fixed: &[(&str, String)],
    cx: &mut Context,
    problems: &mut Problems,
) -> Option<K::Record> {
    let mut object = serde_json::Map::new();
    for column in columns {
        let text = value(values, column);
        if let Some((_, max)) = BOUNDS.iter().find(|(f, _)| f == column)
            && let Err(message) = bounded(text, *max)
        {
            problems.add(column, message);
        }
        let text = if *column == "opened_at" {
            local_time(text)
        } else {
            text.to_string()
        };
        object.insert(column.to_string(), serde_json::Value::String(text));
    }
    for (column, text) in fixed {
        object.insert(column.to_string(), serde_json::Value::String(text.clone()));
    }
    if !problems.is_empty() {
        return None;
    }
    match laer_import::parse_json::<K>(&object, 1, cx) {
        Ok(record) => Some(record),
        Err(e) => {
            problems.add(e.column.as_deref().unwrap_or_default(), e.message);
            None
        }
    }
}

/// The token a form must carry; a problem without it.
fn checked_token(values: &Fields, problems: &mut Problems) -> String {
    let token = value(values, "token");
    if token.is_empty()
        || token.len() > 100
        || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.add("", "The form lacks its token; reload the page and send it again.");
    }
    token.to_string()
}

/// What the records page shows of one account.
struct Records {
    id: i64,
    name: String,
    external_id: String,
    lines: Vec<VersionedLine>,
    cases: Vec<VersionedCase>,
    contacts: Vec<ContactChoice>,
}

/// How many support cases the page lists, open ones first.
const CASES_SHOWN: i64 = 12;

async fn load(state: &AppState, id: i64) -> Result<Records, PageError> {
    let store = &state.store;
    let (account, lines, cases, contacts) = tokio::try_join!(
        store.account(id),
        store.subscription_lines_of(id),
        store.support_cases_of(id, CASES_SHOWN),
        store.contact_choices(id),
    )?;
    let account = account.ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
    Ok(Records {
        id,
        name: account
            .fields
            .name
            .clone()
            .unwrap_or_else(|| account.fields.external_id.clone()),
        external_id: account.fields.external_id,
        lines,
        cases,
        contacts,
    })
}

/// Which form of the page was sent and refused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Survey,
    Case,
    CaseStatus(i64),
    Line,
    End(i64),
}

/// A refused form: which, its values as sent, its problems.
struct Failed<'a> {
    which: Which,
    values: &'a Fields,
    problems: &'a Problems,
}

/// `GET /accounts/{id}/records`: the forms.
pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    let records = load(&state, id).await?;
    Ok(render(&records, &user, None, StatusCode::OK))
}

fn render(r: &Records, user: &CurrentUser, failed: Option<Failed>, status: StatusCode) -> Response {
    let empty_values = Fields::new();
    let empty_problems = Problems::new();
    let of = |which: Which| match &failed {
        Some(f) if f.which == which => (f.values, f.problems),
        _ => (&empty_values, &empty_problems),
    };
    let record_work = user.role.may(Permission::RecordWork, None);
    let contracts = user.role.may(Permission::EditContracts, None);
    let base = format!("/accounts/{}", r.id);
    let body = html! {
        div.page-head {
            p { a href=(base) { "← " (r.name) } }
            h1 { "Record by hand: " (r.name) }
            p.muted { "For what no connector brings in yet: survey answers, support cases and contract lines. Every change is audited; health, renewals and the revenue movements follow within seconds." }
        }
        div.grid2 {
            section.card #survey {
                h2 { "NPS or CSAT answer" }
                @match &record_work {
                    Ok(()) => { @let (v, p) = of(Which::Survey); (survey_form(r, user, v, p)) }
                    Err(refusal) => { (rights::note(refusal)) }
                }
            }
            section.card #cases {
                h2 { "Support cases" }
                @match &record_work {
                    Ok(()) => { @let (v, p) = of(Which::Case); details open[failed.as_ref().is_some_and(|f| f.which == Which::Case)] {
                        summary { "Open a case" }
                        (case_form(r, user, v, p))
                    } }
                    Err(refusal) => { (rights::note(refusal)) }
                }
                @if r.cases.len() as i64 == CASES_SHOWN { p.muted { "Open cases first, then the latest, up to " (CASES_SHOWN) "." } }
                @if r.cases.is_empty() { p.muted { "No support cases." } }
                @else {
                    table.data #case-list {
                        thead { tr { th { "Opened" } th { "Subject" } th.num { "Severity" } th { "Status" } } }
                        tbody { @for c in &r.cases {
                            @let (v, p) = of(Which::CaseStatus(c.id));
                            tr {
                                td.date { (c.fields.opened_at.date_naive()) }
                                td { (c.fields.subject.as_deref().unwrap_or("–")) br; small.muted { (c.fields.kind.as_str().replace('_', "-")) } }
                                td.num { (c.fields.severity) }
                                td {
                                    @if record_work.is_ok() {
                                        (status_form(r.id, c, user, v, p))
                                    } @else { (c.fields.status.as_str()) }
                                }
                            }
                        } }
                    }
                }
            }
        }
        section.card #contracts {
            h2 { "Contract lines" }
            @if r.lines.is_empty() { p.muted { "No contract lines yet." } }
            @else {
                table.data #line-list {
                    thead { tr { th { "Product" } th { "Start" } th { "End" } th.num { "MRR" } th.num { "Seats" } th.num { "Billing (months)" } @if contracts.is_ok() { th {} } } }
                    tbody { @for l in &r.lines {
                        @let s = &l.line.fields;
                        @let (v, p) = of(Which::End(l.line.id));
                        tr {
                            td { (s.product) } td.date { (s.start_date) } td.date { (date(s.end_date)) } td.num { (money_exact(s.mrr)) @if let Some(o) = s.original { br; span.muted title="Billed in this currency; MRR at the latest exchange rate" { (o.mrr) " " (o.currency) } } }
                            td.num { (s.quantity.map_or("–".to_string(), |q| format!("{q} {}", s.units.as_deref().unwrap_or("")))) }
                            td.num { (s.bill_period_months) }
                            @if contracts.is_ok() { td {
                                @if s.external_id.starts_with(laer_store::STRIPE_LINE_PREFIX) {
                                    span.muted title="Change the subscription in Stripe; the next sync follows." { "From Stripe" }
                                } @else {
                                    a href={(base) "/contracts/" (l.line.id)} { "Change" }
                                    @if s.end_date.is_none() || !p.is_empty() { (end_form(r.id, l, user, v, p)) }
                                }
                            } }
                        }
                    } }
                }
            }
            @match &contracts {
                Ok(()) => { @let (v, p) = of(Which::Line); details open[failed.as_ref().is_some_and(|f| f.which == Which::Line)] {
                    summary { "Add a contract line" }
                    (line_form(&format!("{base}/contracts"), user, v, p, None, "Add the line"))
                } }
                Err(refusal) => { (rights::note(refusal)) }
            }
        }
    };
    (
        status,
        layout(&format!("Record by hand · {}", r.name), None, user, body),
    )
        .into_response()
}

fn survey_form(r: &Records, user: &CurrentUser, values: &Fields, problems: &Problems) -> Markup {
    let kinds: Vec<(String, String)> = SurveyKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), k.as_str().to_uppercase()))
        .collect();
    let mut contacts = vec![(String::new(), "Not known".to_string())];
    contacts.extend(r.contacts.iter().map(|c| (c.external_id.clone(), c.name.clone())));
    let or = |name: &str, default: String| match value(values, name) {
        "" if !values.contains_key(name) => default,
        v => v.to_string(),
    };
    html! {
        form.stacked method="post" action={"/accounts/" (r.id) "/surveys"} {
            (form::csrf(user))
            (form::summary(problems))
            input type="hidden" name="token" value=(token_of(values));
            (form::select("Survey", "survey", &kinds, value(values, "survey"), problems))
            (form::field("Score (NPS 0–10, CSAT 1–5)", "score", Input::Number, value(values, "score"), problems))
            (form::select("Who answered", "contact_id", &contacts, value(values, "contact_id"), problems))
            (form::field("Answered on", "responded_at", Input::Date, &or("responded_at", today().to_string()), problems))
            (form::text_area("Comment", "comment", value(values, "comment"), 3, problems))
            button type="submit" { "Record the answer" }
        }
    }
}

fn case_form(r: &Records, user: &CurrentUser, values: &Fields, problems: &Problems) -> Markup {
    let kinds: Vec<(String, String)> = CaseKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), k.as_str().replace('_', "-")))
        .collect();
    let severities: Vec<(String, String)> = [(1, "1 · critical"), (2, "2 · high"), (3, "3 · normal"), (4, "4 · low")]
        .iter()
        .map(|(n, l)| (n.to_string(), l.to_string()))
        .collect();
    let opened = match value(values, "opened_at") {
        "" if !values.contains_key("opened_at") => Utc::now().format("%Y-%m-%dT%H:%M").to_string(),
        v => v.to_string(),
    };
    let severity = match value(values, "severity") {
        "" => "3",
        s => s,
    };
    html! {
        form.stacked method="post" action={"/accounts/" (r.id) "/cases"} {
            (form::csrf(user))
            (form::summary(problems))
            input type="hidden" name="token" value=(token_of(values));
            (form::field("Subject", "subject", Input::Text, value(values, "subject"), problems))
            (form::select("Kind", "kind", &kinds, value(values, "kind"), problems))
            (form::select("Severity", "severity", &severities, severity, problems))
            (form::field("Opened at (UTC)", "opened_at", Input::DateTime, &opened, problems))
            button type="submit" { "Open the case" }
        }
    }
}

fn status_form(account: i64, c: &VersionedCase, user: &CurrentUser, values: &Fields, problems: &Problems) -> Markup {
    let statuses: Vec<(String, String)> = CaseStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), s.as_str().to_string()))
        .collect();
    let chosen = match value(values, "status") {
        "" => c.fields.status.as_str(),
        s => s,
    };
    html! {
        form.inline method="post" action={"/accounts/" (account) "/cases/" (c.id)} {
            (form::csrf(user))
            (form::summary(problems))
            input type="hidden" name="version" value=(c.version);
            (form::select("Status", "status", &statuses, chosen, problems))
            button.secondary type="submit" { "Change" }
        }
    }
}

fn end_form(account: i64, l: &VersionedLine, user: &CurrentUser, values: &Fields, problems: &Problems) -> Markup {
    let end = match value(values, "end_date") {
        "" => today().to_string(),
        e => e.to_string(),
    };
    html! {
        form.inline method="post" action={"/accounts/" (account) "/contracts/" (l.line.id) "/end"} {
            (form::csrf(user))
            (form::summary(problems))
            input type="hidden" name="version" value=(l.version);
            (form::field("Ends on", "end_date", Input::Date, &end, problems))
            button.secondary type="submit" { "End" }
        }
    }
}

/// The fields of a contract line: on a new line empty (a token names it), on a change
/// the line's values and its version.
fn line_form(
    action: &str,
    user: &CurrentUser,
    values: &Fields,
    problems: &Problems,
    version: Option<i64>,
    button: &str,
) -> Markup {
    let or = |name: &str, default: &str| match value(values, name) {
        "" if !values.contains_key(name) => default.to_string(),
        v => v.to_string(),
    };
    html! {
        form.stacked method="post" action=(action) {
            (form::csrf(user))
            (form::summary(problems))
            @match version {
                Some(v) => { input type="hidden" name="version" value=(v); }
                None => { input type="hidden" name="token" value=(token_of(values)); }
            }
            (form::field("Product", "product", Input::Text, value(values, "product"), problems))
            (form::field("MRR", "mrr", Input::Number, value(values, "mrr"), problems))
            (form::field("Seats (quantity)", "quantity", Input::Number, value(values, "quantity"), problems))
            (form::field("Units", "units", Input::Text, &or("units", "seats"), problems))
            (form::field("Billing period (months)", "bill_period_months", Input::Number, &or("bill_period_months", "12"), problems))
            (form::field("Starts on", "start_date", Input::Date, &or("start_date", &today().to_string()), problems))
            (form::field("Ends on (empty: runs on)", "end_date", Input::Date, value(values, "end_date"), problems))
            button type="submit" { (button) }
        }
    }
}

/// The columns of a contract line's form.
const LINE_COLUMNS: &[&str] = &[
    "product",
    "mrr",
    "quantity",
    "units",
    "bill_period_months",
    "start_date",
    "end_date",
];

/// After a change: the records page at the section that changed.
fn back_to(id: i64, section: &str) -> Response {
    Redirect::to(&format!("/accounts/{id}/records#{section}")).into_response()
}

/// A store refusal as the form's problems, or the failure it is; with the status to
/// answer (409 for an edit of a changed record, else 400).
fn refusal(e: StoreError) -> Result<(Problems, StatusCode), PageError> {
    let status = match e {
        StoreError::Stale { .. } => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    Ok((Problems::from_store(e)?, status))
}

/// `POST /accounts/{id}/surveys`: an NPS or CSAT answer (`survey_response.created`).
pub(crate) async fn add_survey(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::RecordWork)?;
    let r = load(&state, id).await?;
    let mut problems = Problems::new();
    let token = checked_token(&form, &mut problems);
    let mut cx = Context::for_account(&r.external_id, id);
    let external_id = format!("web-survey-{token}");
    let fixed = [
        ("external_id", external_id.clone()),
        ("account_id", r.external_id.clone()),
    ];
    let columns = ["survey", "score", "contact_id", "responded_at", "comment"];
    let answer = parse_row::<kinds::SurveyResponses>(&form, &columns, &fixed, &mut cx, &mut problems);
    let failed = |problems: &Problems, status| {
        let which = Which::Survey;
        render(
            &r,
            &user,
            Some(Failed {
                which,
                values: &form,
                problems,
            }),
            status,
        )
    };
    let Some(answer) = answer.filter(|_| problems.is_empty()) else {
        return Ok(failed(&problems, StatusCode::BAD_REQUEST));
    };
    let created = state
        .store
        .create_record(
            &answer,
            &external_id,
            OnExisting::Keep,
            "survey_response.created",
            &user.actor(),
        )
        .await;
    if let Err(e) = created {
        let (problems, status) = refusal(e)?;
        return Ok(failed(&problems, status));
    }
    Ok(back_to(id, "survey"))
}

/// `POST /accounts/{id}/cases`: opens a support case (`support_case.opened`).
pub(crate) async fn open_case(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::RecordWork)?;
    let r = load(&state, id).await?;
    let mut problems = Problems::new();
    let token = checked_token(&form, &mut problems);
    let mut cx = Context::for_account(&r.external_id, id);
    let external_id = format!("web-case-{token}");
    let fixed = [
        ("external_id", external_id.clone()),
        ("account_id", r.external_id.clone()),
        ("status", "open".to_string()),
    ];
    let columns = ["subject", "kind", "severity", "opened_at"];
    if value(&form, "subject").is_empty() {
        problems.add("subject", "say in a line what the case is about");
    }
    let case = parse_row::<kinds::SupportCases>(&form, &columns, &fixed, &mut cx, &mut problems);
    let failed = |problems: &Problems, status| {
        render(
            &r,
            &user,
            Some(Failed {
                which: Which::Case,
                values: &form,
                problems,
            }),
            status,
        )
    };
    let Some(case) = case.filter(|_| problems.is_empty()) else {
        return Ok(failed(&problems, StatusCode::BAD_REQUEST));
    };
    if let Err(e) = state
        .store
        .create_record(
            &case,
            &external_id,
            OnExisting::Keep,
            "support_case.opened",
            &user.actor(),
        )
        .await
    {
        let (problems, status) = refusal(e)?;
        return Ok(failed(&problems, status));
    }
    Ok(back_to(id, "cases"))
}

/// The version a change form carries.
fn version_of(values: &Fields, problems: &mut Problems) -> i64 {
    match value(values, "version").parse::<i64>() {
        Ok(v) => v,
        Err(_) => {
            problems.add(
                "",
                "The form lacks the version it was made to; reload the page and make the change again.",
            );
            0
        }
    }
}

/// `POST /accounts/{id}/cases/{case}`: a case's status (`support_case.changed`);
/// resolved or closed closes it, open or pending reopens it.
pub(crate) async fn change_case(
    State(state): State<AppState>,
    Path((id, case)): Path<(i64, i64)>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::RecordWork)?;
    let r = load(&state, id).await?;
    if state
        .store
        .support_case(case)
        .await?
        .is_none_or(|c| c.fields.account_id != id)
    {
        return Err(PageError::NotFound(format!("support case {case} of account {id}")));
    }
    let mut problems = Problems::new();
    let version = version_of(&form, &mut problems);
    let status = problems.check("status", value(&form, "status").parse::<CaseStatus>());
    let failed = |problems: &Problems, status| {
        let which = Which::CaseStatus(case);
        render(
            &r,
            &user,
            Some(Failed {
                which,
                values: &form,
                problems,
            }),
            status,
        )
    };
    let Some(status) = status.filter(|_| problems.is_empty()) else {
        return Ok(failed(&problems, StatusCode::BAD_REQUEST));
    };
    if let Err(e) = state
        .store
        .change_case_status(case, version, status, &user.actor())
        .await
    {
        let (problems, status) = refusal(e)?;
        return Ok(failed(&problems, status));
    }
    Ok(back_to(id, "cases"))
}

/// `POST /accounts/{id}/contracts`: adds a contract line (`subscription.added`).
pub(crate) async fn add_line(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::EditContracts)?;
    let r = load(&state, id).await?;
    let mut problems = Problems::new();
    let token = checked_token(&form, &mut problems);
    let mut cx = Context::for_account(&r.external_id, id);
    let external_id = format!("web-line-{token}");
    let fixed = [
        ("external_id", external_id.clone()),
        ("account_id", r.external_id.clone()),
    ];
    let line = parse_row::<kinds::Subscriptions>(&form, LINE_COLUMNS, &fixed, &mut cx, &mut problems);
    let failed = |problems: &Problems, status| {
        render(
            &r,
            &user,
            Some(Failed {
                which: Which::Line,
                values: &form,
                problems,
            }),
            status,
        )
    };
    let Some(line) = line.filter(|_| problems.is_empty()) else {
        return Ok(failed(&problems, StatusCode::BAD_REQUEST));
    };
    if let Err(e) = state
        .store
        .create_record(
            &line,
            &external_id,
            OnExisting::Keep,
            "subscription.added",
            &user.actor(),
        )
        .await
    {
        let (problems, status) = refusal(e)?;
        return Ok(failed(&problems, status));
    }
    Ok(back_to(id, "contracts"))
}

/// The line `line` of account `id`, else not found.
async fn line_of(state: &AppState, id: i64, line: i64) -> Result<VersionedLine, PageError> {
    state
        .store
        .subscription_line(line)
        .await?
        .filter(|l| l.line.fields.account_id == id)
        .ok_or_else(|| PageError::NotFound(format!("contract line {line} of account {id}")))
}

/// `GET /accounts/{id}/contracts/{line}`: the form to change a line.
pub(crate) async fn line_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, line)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    rights::require_role(&user, Permission::EditContracts)?;
    let r = load(&state, id).await?;
    let l = line_of(&state, id, line).await?;
    let s = &l.line.fields;
    let values: Fields = [
        ("product", s.product.clone()),
        ("mrr", s.mrr.to_string()),
        ("quantity", s.quantity.map(|q| q.to_string()).unwrap_or_default()),
        ("units", s.units.clone().unwrap_or_default()),
        ("bill_period_months", s.bill_period_months.to_string()),
        ("start_date", s.start_date.to_string()),
        ("end_date", s.end_date.map(|d| d.to_string()).unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Ok(line_response(&r, &l, &user, &values, &Problems::new(), StatusCode::OK))
}

fn line_response(
    r: &Records,
    l: &VersionedLine,
    user: &CurrentUser,
    values: &Fields,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let action = format!("/accounts/{}/contracts/{}", r.id, l.line.id);
    let body = html! {
        section.card.narrow.wide {
            p { a href={"/accounts/" (r.id) "/records#contracts"} { "← " (r.name) } }
            h1 { "Change a contract line" }
            p.muted { "The revenue movements, renewals and health follow. If someone changed the line since you opened this page, nothing is saved and you are told." }
            (line_form(&action, user, values, problems, Some(l.version), "Save the line"))
        }
    };
    (status, layout("Change a contract line", None, user, body)).into_response()
}

/// `POST /accounts/{id}/contracts/{line}`: changes a line made to the version the form
/// carries (`subscription.changed`); a stale one is refused (409).
pub(crate) async fn change_line(
    State(state): State<AppState>,
    Path((id, line)): Path<(i64, i64)>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::EditContracts)?;
    let r = load(&state, id).await?;
    let l = line_of(&state, id, line).await?;
    let mut problems = Problems::new();
    let version = version_of(&form, &mut problems);
    let mut cx = Context::for_account(&r.external_id, id);
    let fixed = [
        ("external_id", l.line.fields.external_id.clone()),
        ("account_id", r.external_id.clone()),
    ];
    let parsed = parse_row::<kinds::Subscriptions>(&form, LINE_COLUMNS, &fixed, &mut cx, &mut problems);
    let Some(parsed) = parsed.filter(|_| problems.is_empty()) else {
        return Ok(line_response(&r, &l, &user, &form, &problems, StatusCode::BAD_REQUEST));
    };
    let change = LineChange::Change(parsed);
    if let Err(e) = state
        .store
        .change_subscription(line, version, &change, &user.actor())
        .await
    {
        let (problems, status) = refusal(e)?;
        return Ok(line_response(&r, &l, &user, &form, &problems, status));
    }
    Ok(back_to(id, "contracts"))
}

/// `POST /accounts/{id}/contracts/{line}/end`: ends a line on a day
/// (`subscription.ended`): the first day it no longer runs.
pub(crate) async fn end_line(
    State(state): State<AppState>,
    Path((id, line)): Path<(i64, i64)>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::EditContracts)?;
    let r = load(&state, id).await?;
    line_of(&state, id, line).await?;
    let mut problems = Problems::new();
    let version = version_of(&form, &mut problems);
    let end = problems.check("end_date", laer_core::parse::date(value(&form, "end_date")));
    let failed = |problems: &Problems, status| {
        render(
            &r,
            &user,
            Some(Failed {
                which: Which::End(line),
                values: &form,
                problems,
            }),
            status,
        )
    };
    let Some(end) = end.filter(|_| problems.is_empty()) else {
        return Ok(failed(&problems, StatusCode::BAD_REQUEST));
    };
    if let Err(e) = state
        .store
        .change_subscription(line, version, &LineChange::End(end), &user.actor())
        .await
    {
        let (problems, status) = refusal(e)?;
        return Ok(failed(&problems, status));
    }
    Ok(back_to(id, "contracts"))
}

/// `GET /accounts/new`: the form for a new account.
pub(crate) async fn new_account_page(user: CurrentUser) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::EditContracts)?;
    Ok(account_response(
        &user,
        &Fields::new(),
        &Problems::new(),
        StatusCode::OK,
    ))
}

fn account_response(user: &CurrentUser, values: &Fields, problems: &Problems, status: StatusCode) -> Response {
    let body = html! {
        section.card.narrow.wide {
            p { a href="/portfolio" { "← Portfolio" } }
            h1 { "New account" }
            p.muted { "An account your billing or CRM does not bring in yet. Add its contract lines on its page next." }
            form.stacked method="post" action="/accounts/new" {
                (form::csrf(user))
                (form::summary(problems))
                input type="hidden" name="token" value=(token_of(values));
                (form::field("Name", "name", Input::Text, value(values, "name"), problems))
                (form::field("External id (its id in your CRM; empty: laer makes one)", "external_id", Input::Text, value(values, "external_id"), problems))
                (form::field("Segment", "segment", Input::Text, value(values, "segment"), problems))
                (form::field("Country", "country", Input::Text, value(values, "country"), problems))
                (form::field("Renewal date", "renewal_date", Input::Date, value(values, "renewal_date"), problems))
                button type="submit" { "Create the account" }
            }
        }
    };
    (status, layout("New account", None, user, body)).into_response()
}

/// `POST /accounts/new`: creates an account (`account.created`); an external id that
/// another account has is refused, naming the field.
pub(crate) async fn create_account(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    rights::require_role(&user, Permission::EditContracts)?;
    let mut problems = Problems::new();
    let token = checked_token(&form, &mut problems);
    if value(&form, "name").is_empty() {
        problems.add("name", "expected the account's name, found an empty one");
    }
    let external_id = match value(&form, "external_id") {
        "" => format!("web-account-{token}"),
        typed => typed.to_string(),
    };
    let columns = ["name", "segment", "country", "renewal_date"];
    let fixed = [("external_id", external_id.clone())];
    if let Err(message) = bounded(value(&form, "external_id"), MAX_LINE_CHARS) {
        problems.add("external_id", message);
    }
    let account = parse_row::<kinds::Accounts>(&form, &columns, &fixed, &mut Context::none(), &mut problems);
    let Some(account) = account.filter(|_| problems.is_empty()) else {
        return Ok(account_response(&user, &form, &problems, StatusCode::BAD_REQUEST));
    };
    match state.store.create_account(&account, &user.actor()).await {
        Ok(created) => Ok(Redirect::to(&format!("/accounts/{}", created.id)).into_response()),
        Err(e) => {
            let (problems, status) = refusal(e)?;
            Ok(account_response(&user, &form, &problems, status))
        }
    }
}
