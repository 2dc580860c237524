//! The web app: server-rendered pages for the customer success team. Pages need a
//! logged-in session (`session.rs`); each checks its permission (docs/access.md).

mod account;
mod admin;
mod audit;
mod cache;
mod calendars;
mod chat;
mod coalesce;
mod forecast;
mod forgot;
pub(crate) mod form;
mod health;
mod imports;
mod login_queue;
mod outcomes;
mod password;
mod people;
mod plain_http;
mod plan;
mod plan_view;
mod portfolio;
mod records;
mod renewals;
mod retention;
mod revenue;
mod rights;
mod search;
mod session;
mod settings;
mod settings_forms;
mod stripe;
mod syncs;
mod team;
// Issue 15, single sign-on (OpenID Connect).
pub(crate) mod sso;
mod touchpoints;
mod tracking_settings;
mod views;
mod work;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::NaiveDate;
use laer_core::Money;
use laer_core::access::Permission;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::AppState;
pub(crate) use cache::PageCache;
pub(crate) use session::CurrentUser;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portfolio") }))
        .route("/static/laer.css", get(stylesheet))
        .route("/static/laer.js", get(script))
        .route("/portfolio", get(portfolio::page))
        .route("/portfolio.csv", get(portfolio::csv))
        .route("/search", get(search::page))
        .route("/health/model", get(health::model_page))
        .route("/team", get(team::page))
        .route("/views", axum::routing::post(views::save))
        .route("/views/{id}/delete", axum::routing::post(views::delete))
        .route("/accounts/{id}", get(account::page))
        .route("/accounts/{id}/phase", axum::routing::post(health::set_phase))
        .route("/accounts/{id}/coverage", axum::routing::post(settings::assign_owner))
        .route(
            "/accounts/{id}/handoff-note",
            axum::routing::post(account::write_handoff),
        )
        .route("/revenue", get(revenue::page))
        .route("/retention", get(retention::page))
        .route("/retention.csv", get(retention::csv))
        .route("/revenue.csv", get(revenue::csv))
        .route("/revenue/accounts", get(revenue::accounts))
        .route("/renewals", get(renewals::page))
        .route("/renewals.csv", get(renewals::csv))
        .route("/renewals/call", axum::routing::post(renewals::set_call))
        .route("/work", get(work::page))
        .route("/work/tasks/{id}", axum::routing::post(work::change))
        .route("/accounts/{id}/plan", get(plan::page))
        .route("/accounts/{id}/plan/preview", get(plan::preview))
        .route(
            "/accounts/{id}/plan/objective",
            axum::routing::post(plan::set_objective),
        )
        .route(
            "/accounts/{id}/plan/milestones",
            axum::routing::post(plan::add_milestone),
        )
        .route(
            "/accounts/{id}/plan/milestones/{milestone}",
            axum::routing::post(plan::change_milestone),
        )
        .route("/accounts/{id}/plan/links", axum::routing::post(plan::create_link))
        .route(
            "/accounts/{id}/plan/links/{link}/revoke",
            axum::routing::post(plan::revoke_link),
        )
        // The customer's view: no login, the link's token is the key.
        .route("/plan/{token}", get(outcomes::shared))
        // Issue 14, stakeholders and outcomes (web/people.rs, web/outcomes.rs).
        .route("/accounts/{id}/contacts/new", get(people::new_contact))
        .route("/accounts/{id}/contacts", axum::routing::post(people::add_contact))
        .route("/accounts/{id}/contacts/{contact}/edit", get(people::edit_contact_page))
        .route(
            "/accounts/{id}/contacts/{contact}",
            axum::routing::post(people::edit_contact),
        )
        .route(
            "/accounts/{id}/contacts/{contact}/active",
            axum::routing::post(people::set_active),
        )
        .route("/accounts/{id}/cadences", axum::routing::post(people::set_cadence))
        .route(
            "/accounts/{id}/cadences/remove",
            axum::routing::post(people::remove_cadence),
        )
        .route("/accounts/{id}/plan/outcomes/new", get(outcomes::new_outcome))
        .route("/accounts/{id}/plan/outcomes", axum::routing::post(outcomes::define))
        .route("/accounts/{id}/plan/outcomes/{outcome}/edit", get(outcomes::edit_page))
        .route(
            "/accounts/{id}/plan/outcomes/{outcome}",
            axum::routing::post(outcomes::edit),
        )
        .route(
            "/accounts/{id}/plan/measurements",
            axum::routing::post(outcomes::record),
        )
        .route(
            "/accounts/{id}/plan/customer-measurements",
            axum::routing::post(outcomes::switch),
        )
        .route(
            "/plan/{token}/measurements",
            axum::routing::post(outcomes::record_from_link),
        )
        // Issue 14, touchpoints: log, edit and delete (web/touchpoints.rs).
        .route("/accounts/{id}/touchpoints/new", get(touchpoints::new_form))
        .route("/accounts/{id}/touchpoints", axum::routing::post(touchpoints::create))
        .route("/touchpoints/{id}/edit", get(touchpoints::edit_form))
        .route("/touchpoints/{id}", axum::routing::post(touchpoints::update))
        .route("/touchpoints/{id}/delete", axum::routing::post(touchpoints::delete))
        .route(
            "/settings/playbooks",
            get(settings::playbooks).post(settings::save_playbooks),
        )
        .route(
            "/settings/playbooks/toggle",
            axum::routing::post(settings::toggle_playbook),
        )
        .route(
            "/settings/coverage",
            get(settings::coverage).post(settings::save_coverage),
        )
        .route(
            "/settings/coverage/apply",
            get(settings_forms::apply_preview).post(settings::apply_coverage),
        )
        // Issue 16, settings in forms with a preview (web/settings_forms.rs).
        .route("/settings/playbooks/edit", get(settings_forms::edit_playbook))
        .route(
            "/settings/playbooks/form",
            axum::routing::post(settings_forms::save_playbook_form),
        )
        .route(
            "/settings/playbooks/delete",
            axum::routing::post(settings_forms::delete_playbook),
        )
        .route(
            "/settings/coverage/rule",
            get(settings_forms::edit_rule).post(settings_forms::save_rule_form),
        )
        .route(
            "/settings/coverage/rule/delete",
            axum::routing::post(settings_forms::delete_rule),
        )
        .route(
            "/settings/coverage/general",
            get(settings_forms::edit_general).post(settings_forms::save_general),
        )
        // Issue 14, records by hand and tasks of one's own (records.rs, work.rs).
        .route(
            "/accounts/new",
            get(records::new_account_page).post(records::create_account),
        )
        .route("/accounts/{id}/records", get(records::page))
        .route("/accounts/{id}/surveys", axum::routing::post(records::add_survey))
        .route("/accounts/{id}/cases", axum::routing::post(records::open_case))
        .route("/accounts/{id}/cases/{case}", axum::routing::post(records::change_case))
        .route("/accounts/{id}/contracts", axum::routing::post(records::add_line))
        .route(
            "/accounts/{id}/contracts/{line}",
            get(records::line_page).post(records::change_line),
        )
        .route(
            "/accounts/{id}/contracts/{line}/end",
            axum::routing::post(records::end_line),
        )
        .route("/work/tasks", axum::routing::post(work::create))
        .route("/work/tasks/new", get(work::new_task_page))
        // Admin in the browser (issue 14): people, API tokens and write keys, the audit
        // log; and the page a one-time password link opens, without a login.
        .route("/admin", get(admin::home))
        .route("/admin/people", get(admin::people))
        .route("/admin/people/invite", axum::routing::post(admin::invite))
        .route("/admin/people/{id}", axum::routing::post(admin::change_person))
        .route("/admin/keys", get(admin::keys))
        .route("/admin/keys/tokens", axum::routing::post(admin::create_token))
        .route(
            "/admin/keys/tokens/{id}/revoke",
            axum::routing::post(admin::revoke_token),
        )
        .route("/admin/keys/write-keys", axum::routing::post(admin::create_write_key))
        .route(
            "/admin/keys/write-keys/{id}/revoke",
            axum::routing::post(admin::revoke_write_key),
        )
        // What tracking calls may change (issue 15, tracking keys): web/tracking_settings.rs.
        .route("/admin/keys/tracking", axum::routing::post(tracking_settings::save))
        .route("/admin/audit", get(audit::page))
        // Issue 17, Stripe connected, synced and its customers linked (web/stripe.rs).
        .route("/admin/stripe", get(stripe::customers))
        .route("/admin/stripe/link", axum::routing::post(stripe::link))
        .route("/admin/stripe/connect", axum::routing::post(stripe::connect))
        .route("/admin/stripe/sync", axum::routing::post(stripe::sync_now))
        .route("/admin/stripe/disconnect", axum::routing::post(stripe::disconnect))
        .route("/admin/syncs", get(syncs::page).post(syncs::save))
        .route("/admin/syncs/{name}", get(syncs::show))
        .route("/admin/syncs/{name}/run", axum::routing::post(syncs::run_now))
        .route("/admin/syncs/{name}/remove", axum::routing::post(syncs::remove))
        .route("/calendars", get(calendars::page).post(calendars::add))
        .route("/calendars/{id}/sync", axum::routing::post(calendars::sync))
        .route("/calendars/{id}/remove", axum::routing::post(calendars::remove))
        .route("/admin/chat", get(chat::page).post(chat::add))
        .route("/admin/chat/{name}/test", axum::routing::post(chat::test))
        .route("/admin/chat/{name}/remove", axum::routing::post(chat::remove))
        .route("/password/{token}", get(password::form).post(password::set))
        // CSV import in the browser (issue 14, admin): web/imports.rs. The upload may
        // be as large as MAX_UPLOAD_BYTES; it is streamed into the database.
        .route(
            "/import",
            get(imports::page)
                .post(imports::upload)
                .layer(axum::extract::DefaultBodyLimit::max(imports::MAX_UPLOAD_BYTES)),
        )
        .route("/import/uploads/{id}", get(imports::preview))
        .route("/import/uploads/{id}/commit", axum::routing::post(imports::commit))
        .route("/import/uploads/{id}/discard", axum::routing::post(imports::discard))
        .route("/import/runs/{id}", get(imports::run))
        .merge(session::routes())
        // Issue 15, single sign-on (web/sso.rs).
        .merge(sso::routes())
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("laer.css"),
    )
        .into_response()
}

/// The pages' one script, for what HTML cannot do alone (a print button, a filter that
/// applies when chosen); the
/// Content-Security-Policy allows no inline scripts, so handlers are bound here.
async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("laer.js"),
    )
        .into_response()
}

/// Which page of the navigation is open.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Work,
    Portfolio,
    Renewals,
    Revenue,
    Team,
    Settings,
    Admin,
}

/// The admin area's pages, each with the permission it needs: the header shows "Admin"
/// to a role that may use any of them, and each page lists those the role may use. A
/// new admin page joins with a line here.
pub(crate) const ADMIN_PAGES: &[(&str, &str, Permission)] = &[
    ("/admin/people", "People", Permission::ManageUsers),
    ("/admin/keys", "API tokens and write keys", Permission::ManageKeys),
    ("/admin/audit", "Audit log", Permission::ViewAudit),
    ("/import", "CSV import", Permission::ImportData),
    ("/admin/stripe", "Stripe", Permission::ImportData),
    ("/admin/syncs", "Syncs", Permission::ImportData),
    ("/admin/chat", "Slack and Teams", Permission::ManageAutomation),
    ("/calendars", "Calendars", Permission::ImportData),
];

/// The admin pages the user's role may use.
pub(crate) fn admin_pages(
    user: &CurrentUser,
) -> impl Iterator<Item = &'static (&'static str, &'static str, Permission)> {
    ADMIN_PAGES.iter().filter(|(_, _, p)| user.role.can(*p))
}

/// The admin area's tabs, `current` (a path of [`ADMIN_PAGES`]) marked.
pub(crate) fn admin_tabs(user: &CurrentUser, current: &str) -> Markup {
    html! {
        nav.tabs.admin-tabs aria-label="Admin" {
            @for (href, label, _) in admin_pages(user) {
                a href=(href) class=@if *href == current { "active" } aria-current=[(*href == current).then_some("page")] { (label) }
            }
        }
    }
}

/// A whole page: navigation with the user and a logout form, then `body`.
pub(crate) fn layout(title: &str, nav: Option<Nav>, user: &CurrentUser, body: Markup) -> Markup {
    let link = |target: Nav, href: &str, label: &str| {
        html! { a href=(href) class=@if nav == Some(target) { "active" } { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/portfolio" { "laer" }
                    // On a phone the navigation folds behind this button (laer.js).
                    button.menu type="button" aria-expanded="false" aria-controls="site-nav" { "Menu" }
                    nav #site-nav aria-label="Main" {
                        (link(Nav::Work, "/work", "My work"))
                        (link(Nav::Portfolio, "/portfolio", "Portfolio"))
                        (link(Nav::Renewals, "/renewals", "Renewals"))
                        @if user.role.can(Permission::ViewRevenue) { (link(Nav::Revenue, "/revenue", "Revenue")) }
                        @if user.role.can(Permission::ViewAudit) { (link(Nav::Team, "/team", "Team")) }
                        (link(Nav::Settings, "/settings/playbooks", "Playbooks"))
                        @if let Some((href, _, _)) = admin_pages(user).next() { (link(Nav::Admin, href, "Admin")) }
                    }
                    form.search role="search" method="get" action="/search" {
                        input type="search" name="q" placeholder="Accounts and contacts" aria-label="Search accounts and contacts";
                    }
                    div.who {
                        span { (user.name) " · " (user.role.label()) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(user.csrf_token);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                // Logins (issue 15): a workspace holding the demo company says so.
                @if user.demo { (demo_banner()) }
                main #main { (body) }
            }
        }
    }
}

/// The banner every page of a demo workspace carries.
fn demo_banner() -> Markup {
    html! {
        div.demo-banner role="note" {
            strong { "Demo data" }
            " — this workspace holds laer's made-up demo company (laer serve --demo). Don't enter real customer data here."
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · laer" }
            link rel="stylesheet" href="/static/laer.css";
            script src="/static/laer.js" defer {}
        }
    }
}

/// A page for someone without a session: the login form.
pub(crate) fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare { main { (body) } }
        }
    }
}

/// A page's failure, shown as a page.
#[derive(Debug)]
pub(crate) enum PageError {
    /// The role lacks the permission; the page keeps the user's navigation.
    Forbidden(Permission, Box<CurrentUser>),
    /// The user may not do this on this account; the refusal names the permission and
    /// why (rights by phase, `rights.rs`).
    Refused(laer_core::access::Refusal, Box<CurrentUser>),
    NotFound(String),
    /// A form that cannot be accepted as sent; the text says why.
    BadRequest(String),
    Internal(String),
}

impl From<laer_store::StoreError> for PageError {
    /// What the store could not find, or refused as invalid, is the user's to read.
    fn from(e: laer_store::StoreError) -> Self {
        match e {
            laer_store::StoreError::NotFound(what) => PageError::NotFound(what),
            laer_store::StoreError::Invalid(why) => PageError::BadRequest(why),
            e @ (laer_store::StoreError::Refused { .. } | laer_store::StoreError::Stale { .. }) => {
                PageError::BadRequest(e.to_string())
            }
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, text) = match &self {
            PageError::Forbidden(p, _) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                format!("Your role does not have the permission {p}. An administrator can change your role."),
            ),
            PageError::Refused(refusal, _) => (StatusCode::FORBIDDEN, "Not allowed", format!("{refusal}.")),
            PageError::NotFound(what) => (StatusCode::NOT_FOUND, "Not found", format!("There is no {what}.")),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Not done", why.clone()),
            PageError::Internal(e) => {
                tracing::error!("page failed: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The error is in the server's log.".into(),
                )
            }
        };
        let body = match &self {
            PageError::Forbidden(_, user) | PageError::Refused(_, user) => {
                layout(heading, None, user, message_card(heading, &text))
            }
            _ => message_page(heading, &text),
        };
        (status, body).into_response()
    }
}

fn message_card(heading: &str, text: &str) -> Markup {
    html! {
        section.card.narrow {
            h1 { (heading) }
            p { (text) }
            p { a href="/portfolio" { "Back to the portfolio" } }
        }
    }
}

/// A page saying what went wrong, without the navigation (it needs no session).
pub(crate) fn message_page(heading: &str, text: &str) -> Markup {
    bare_page(heading, message_card(heading, text))
}

impl From<PageError> for Response {
    fn from(e: PageError) -> Response {
        e.into_response()
    }
}

/// Requires a permission of the user's role.
pub(crate) fn require(user: &CurrentUser, permission: Permission) -> Result<(), PageError> {
    if user.role.can(permission) {
        Ok(())
    } else {
        Err(PageError::Forbidden(permission, Box::new(user.clone())))
    }
}

/// "$12,345": rounded to whole currency units, for columns that compare amounts.
pub(crate) fn money(m: Money) -> String {
    let units = m.to_f64().round();
    grouped(units.abs() as i64, units < 0.0, None)
}

/// "$12,345.50": the exact amount, cents included.
pub(crate) fn money_exact(m: Money) -> String {
    // Ten-thousandths to cents, rounding half away from zero, in integers.
    let tt = m.ten_thousandths();
    let cents = (tt.unsigned_abs() + 50) / 100;
    grouped((cents / 100) as i64, tt < 0, Some((cents % 100) as i64))
}

fn grouped(units: i64, negative: bool, cents: Option<i64>) -> String {
    let digits = units.to_string();
    let mut out = String::from(if negative { "-$" } else { "$" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(cents) = cents {
        out.push_str(&format!(".{cents:02}"));
    }
    out
}

pub(crate) fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// A measured value with its unit: "40%", "12.5 hours", "7".
pub(crate) fn num(value: f64, unit: &Option<String>) -> String {
    let digits = if value.fract().abs() < 1e-9 { 0 } else { 1 };
    match unit.as_deref() {
        Some("%") => format!("{value:.digits$}%"),
        Some(u) => format!("{value:.digits$} {u}"),
        None => format!("{value:.digits$}"),
    }
}

pub(crate) fn date(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "–".to_string(), |d| d.to_string())
}

/// A chart's SVG, and its numbers as a table under a disclosure.
pub(crate) fn figure(caption: &str, svg: String, table: Markup, csv_href: Option<&str>) -> Markup {
    html! {
        figure.chart {
            // The CSV link sits in the caption: a link inside a summary is a control
            // inside a control.
            figcaption { (caption) @if let Some(href) = csv_href { " · " a.small href=(href) { "CSV" } } }
            (PreEscaped(svg))
            details {
                summary { "The numbers" }
                (table)
            }
        }
    }
}

/// A page's filter texts (a search, a segment) are at most
/// [`laer_core::limits::MAX_QUERY_TEXT_CHARS`] long, else 400 naming the first too long by its form label and query key.
pub(crate) fn bounded_filters(filters: &[(&str, Option<&str>)]) -> Result<(), PageError> {
    for (name, value) in filters {
        if let Some(Err(message)) = value.map(|v| laer_core::parse::bounded(v, laer_core::limits::MAX_QUERY_TEXT_CHARS))
        {
            return Err(PageError::BadRequest(format!("{name}: {message}.")));
        }
    }
    Ok(())
}

/// A CSV download: refused (400) when it would hold more than
/// [`laer_core::limits::MAX_EXPORT_ROWS`] rows besides its header.
pub(crate) fn csv_response(file_name: &str, rows: Vec<Vec<String>>) -> Response {
    let max = laer_core::limits::MAX_EXPORT_ROWS;
    if rows.len() > max + 1 {
        return PageError::BadRequest(format!(
            "The export would hold {} rows; at most {max} can be downloaded at once. Narrow the filters and try again.",
            rows.len() - 1
        ))
        .into_response();
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // A cell a spreadsheet would run as a formula is written as text.
        let row = row.into_iter().map(|cell| {
            if cell.starts_with(['=', '+', '@', '\t', '\r']) || (cell.starts_with('-') && cell.parse::<f64>().is_err())
            {
                format!("'{cell}")
            } else {
                cell
            }
        });
        if let Err(e) = writer.write_record(row) {
            return PageError::Internal(e.to_string()).into_response();
        }
    }
    match writer.into_inner() {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file_name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => PageError::Internal(e.to_string()).into_response(),
    }
}

/// `s` for a query string: every byte but unreserved characters and those in `keep`
/// percent-encoded.
pub(crate) fn percent_encode(s: &str, keep: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ if b.is_ascii() && keep.contains(b as char) => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Today, in UTC: the day every page reports on.
pub(crate) fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("Acme & Co/EU", ""), "Acme%20%26%20Co%2FEU");
        assert_eq!(percent_encode("/accounts/1?tab=x", "/"), "/accounts/1%3Ftab%3Dx");
        assert_eq!(percent_encode("é", "é"), "%C3%A9", "only ASCII is kept");
    }

    #[test]
    fn money_is_grouped_and_exact() {
        let m = |s: &str| money(s.parse().unwrap());
        assert_eq!(m("1234567"), "$1,234,567");
        assert_eq!(m("999.5"), "$1,000");
        assert_eq!(m("-1200.4"), "-$1,200");
        assert_eq!(m("0"), "$0");
        let exact = |s: &str| money_exact(s.parse().unwrap());
        assert_eq!(exact("999.5"), "$999.50");
        assert_eq!(exact("-1234.05"), "-$1,234.05");
        assert_eq!(exact("1.005"), "$1.01");
    }
}
