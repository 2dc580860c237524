//! Renewals: contracts renewing in the next 30, 90 or 180 days or in a quarter, with
//! their health, top risk, ARR and ARR at risk (laer_core::renewals); a person with a
//! book of their own sees theirs first.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::Money;
use laer_core::access::Permission;
use laer_core::bridge::Quarter;
use laer_core::forecast::renewal::{Category, Interval, QuarterForecast, RenewalForecast};
use laer_core::model::TeamRole;
use laer_core::portfolio::AccountSnapshot;
use laer_core::renewals::{RenewalSort, Window, renewals};
use maud::{Markup, html};
use serde::Deserialize;

use super::session::CsrfForm;
use super::{CurrentUser, Nav, PageError, csv_response, layout, money, require, today};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    /// Days: 30, 90 (the default) or 180.
    within: Option<String>,
    /// A calendar quarter, `2026-Q4`: instead of `within`.
    quarter: Option<String>,
    sort: Option<String>,
    desc: Option<String>,
    page: Option<String>,
    /// `1`: only the accounts the user covers; `0`: everyone's. Absent: a person with a
    /// book of their own sees theirs.
    mine: Option<String>,
}

impl Params {
    /// The team member whose accounts to show.
    fn member(&self, user: &CurrentUser) -> Option<i64> {
        let mine = match self.mine.as_deref() {
            Some("1") => true,
            Some(_) => false,
            None => user.role.has_own_book(),
        };
        mine.then_some(user.team_member_id).flatten()
    }

    fn window(&self) -> Window {
        if let Some(q) = self.quarter.as_deref().and_then(Quarter::parse) {
            return Window::Quarter(q);
        }
        Window::Days(
            self.within
                .as_deref()
                .and_then(|w| w.parse().ok())
                .filter(|days| matches!(days, 30 | 180))
                .unwrap_or(90),
        )
    }

    fn sort(&self) -> RenewalSort {
        self.sort
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(RenewalSort::Renewal)
    }

    /// The query string of this view with some fields replaced.
    fn with(&self, user: &CurrentUser, changes: &[(&str, Option<String>)]) -> String {
        let window = match self.window() {
            Window::Days(d) => ("within", d.to_string()),
            Window::Quarter(q) => ("quarter", q.to_string()),
        };
        let mut fields: Vec<(&str, Option<String>)> = vec![
            ("within", (window.0 == "within").then(|| window.1.clone())),
            ("quarter", (window.0 == "quarter").then(|| window.1.clone())),
            ("sort", self.sort.clone()),
            ("desc", self.desc.clone()),
            (
                "mine",
                Some(if self.member(user).is_some() { "1" } else { "0" }.to_string()),
            ),
            ("page", None),
        ];
        for (key, value) in changes {
            if let Some(f) = fields.iter_mut().find(|(k, _)| k == key) {
                f.1 = value.clone();
            }
        }
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", super::percent_encode(&v, ""))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

const PER_PAGE: usize = 100;

/// An amount computed in floating point (risk × ARR), to whole currency units.
fn whole(x: f64) -> Money {
    Money::from_units(x.round() as i64).unwrap_or_default()
}

/// Who handles the renewal: the renewal specialist when one joined, else the CSM.
fn renewal_owner(a: &AccountSnapshot) -> Option<&str> {
    a.owner_in(TeamRole::RenewalSpecialist)
        .or_else(|| a.owner_in(TeamRole::Csm))
        .or_else(|| a.owners.first())
        .map(|o| o.name.as_str())
}

/// The window in words: "the next 90 days (or overdue)", "2026-Q4".
fn window_words(window: Window) -> String {
    match window {
        Window::Days(d) => format!("in the next {d} days (or overdue)"),
        Window::Quarter(q) => format!("in {q}"),
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewRenewals)?;
    super::bounded_filters(&[
        ("Quarter (quarter)", params.quarter.as_deref()),
        ("Sort (sort)", params.sort.as_deref()),
    ])?;
    let today = today();
    let window = params.window();
    let (accounts, (attention, replayed), views) = tokio::try_join!(
        state.cache.snapshots(&state.store, today),
        super::health::attention_and_backtest(&state, today),
        state.store.views_of(user.id, "renewals"),
    )?;
    let member = params.member(&user);
    let sort = params.sort();
    let descending = params.desc.as_deref() == Some("1");
    let due = renewals(&accounts, today, window, member, &attention, sort, descending);
    let pages = due.rows.len().div_ceil(PER_PAGE).max(1);
    let page = params
        .page
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let shown = due.rows.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE);
    // The renewal forecast (laer_core::forecast::renewal), for those who see revenue.
    let churn = attention
        .churn
        .clone()
        .unwrap_or_else(laer_app::health::not_validated_yet);
    let outlook = laer_app::forecast::renewal_outlook(
        &state.store,
        &churn,
        replayed,
        &accounts,
        today,
        Some(&state.cache.renewal_quarters),
    )
    .await?;
    let forecasts: HashMap<i64, &RenewalForecast> = outlook.renewals.iter().map(|r| (r.account_id, r)).collect();
    let this_quarter = Quarter::containing(today);
    let quarters = [this_quarter, this_quarter.next()];
    let see_revenue = user.role.can(Permission::ViewRevenue);
    let sort_link = |key: RenewalSort, label: &str| {
        let active = sort == key;
        let desc = (active && !descending).then(|| "1".to_string());
        let arrow = match (active, descending) {
            (true, false) => " ↑",
            (true, true) => " ↓",
            _ => "",
        };
        html! {
            a href={"/renewals?" (params.with(&user, &[("sort", Some(key.as_str().to_string())), ("desc", desc)]))} { (label) (arrow) }
        }
    };
    let body = html! {
        div.page-head {
            h1 { @if member.is_some() { "My renewals" } @else { "Renewals" } }
            p.muted {
                (due.rows.len()) " contracts renewing " (window_words(window))
                @if see_revenue {
                    " · ARR " (money(due.arr))
                    " · " strong.down { "at risk " (money(whole(due.arr_at_risk))) }
                    " (the chance of churn or downsell × ARR)"
                    @if due.urgent > 0 { " · " (due.urgent) " urgent, ARR " (money(due.urgent_arr)) }
                }
            }
        }
        (super::views::bar(&user, "renewals", &views, &params.with(&user, &[])))
        nav.tabs aria-label="Window" {
            @for d in [30, 90, 180] {
                @let on = window == Window::Days(d);
                a href={"/renewals?" (params.with(&user, &[("within", Some(d.to_string())), ("quarter", None)]))} class=@if on { "active" } aria-current=[on.then_some("page")] { "Next " (d) " days" }
            }
            @for q in quarters {
                @let on = window == Window::Quarter(q);
                a href={"/renewals?" (params.with(&user, &[("quarter", Some(q.to_string())), ("within", None)]))} class=@if on { "active" } aria-current=[on.then_some("page")] {
                    (q) @if q == this_quarter { " (this quarter)" } @else { " (next)" }
                }
            }
        }
        @if user.team_member_id.is_some() {
            nav.tabs aria-label="Whose" {
                a href={"/renewals?" (params.with(&user, &[("mine", Some("1".into()))]))} class=@if member.is_some() { "active" } aria-current=[member.is_some().then_some("page")] { "Mine" }
                a href={"/renewals?" (params.with(&user, &[("mine", Some("0".into()))]))} class=@if member.is_none() { "active" } aria-current=[member.is_none().then_some("page")] { "Everyone's" }
                a.secondary href={"/renewals.csv?" (params.with(&user, &[]))} { "CSV" }
            }
        } @else {
            p { a.secondary href={"/renewals.csv?" (params.with(&user, &[]))} { "CSV" } }
        }
        @if see_revenue { (forecast_section(&outlook)) }
        table.data #renewals {
            thead { tr {
                th { (sort_link(RenewalSort::Name, "Account")) }
                th { (sort_link(RenewalSort::Renewal, "Renewal")) }
                th.num { "Days left" }
                th.num { (sort_link(RenewalSort::Arr, "ARR")) }
                th.num { (sort_link(RenewalSort::Health, "Health")) }
                th { "Top risk" }
                @if see_revenue {
                    th.num { (sort_link(RenewalSort::Risk, "ARR at risk")) }
                    th.num title="The chance it renews, by its health" { "Renews" }
                    th.num title="The chance it renews × the ARR expected if it does" { "Forecast ARR" }
                    th { "Call: system · owner" }
                }
                th { "Owner" }
            } }
            tbody {
                @for r in shown {
                    @let a = r.account;
                    tr {
                        td.account { a href={"/accounts/" (a.id)} { (a.display_name()) } @if let Some(s) = &a.segment { br; span.muted.small { (s) } } }
                        td.date { (r.on) }
                        td.num { @if r.days_left < 0 { span.down { "overdue " (-r.days_left) } } @else { (r.days_left) } }
                        td.num { (money(a.arr())) }
                        td.num.health { (super::health::badge(a.health_score(), &attention)) }
                        td.reason { (a.health.as_ref().and_then(|h| h.top_driver.as_ref()).map(laer_core::attention::reason_in_words).unwrap_or_default()) }
                        @if see_revenue {
                            td.num { (money(whole(r.arr_at_risk))) }
                            @let f = forecasts.get(&a.id).copied();
                            td.num { (f.map_or_else(|| "–".to_string(), |f| super::forecast::chance(f.likelihood))) }
                            td.num { (f.map_or_else(|| "–".to_string(), |f| money(whole(f.forecast_arr)))) }
                            td.call { @if let Some(f) = f { (call_cell(&user, f)) } }
                        }
                        td { (renewal_owner(a).unwrap_or("–")) }
                    }
                }
                @if due.rows.is_empty() { tr { td colspan="11" { "Nothing renews " (window_words(window)) "." } } }
            }
        }
        @if pages > 1 {
            nav.pages {
                @if page > 1 { a href={"/renewals?" (params.with(&user, &[("page", Some((page - 1).to_string()))]))} { "← Previous" } }
                span { "Page " (page) " of " (pages) }
                @if page < pages { a href={"/renewals?" (params.with(&user, &[("page", Some((page + 1).to_string()))]))} { "Next →" } }
            }
        }
    };
    Ok(layout("Renewals", Some(Nav::Renewals), &user, body).into_response())
}

/// A category as a badge.
fn category_badge(category: Category) -> Markup {
    html! { span class={"badge call-" (category.as_str())} { (category.label()) } }
}

/// A renewal's calls, the system's and the owner's, and the form to make one's own.
fn call_cell(user: &CurrentUser, f: &RenewalForecast) -> Markup {
    html! {
        (category_badge(f.category))
        @if let Some(c) = &f.call {
            " · " (category_badge(c.category)) " " (money(c.amount))
            br; span.muted.small title=(c.reason) { (c.set_by) ", " (c.set_at.date_naive()) }
        }
        details.call-form {
            summary.small { "Your call" }
            form method="post" action="/renewals/call" {
                input type="hidden" name="csrf" value=(user.csrf_token);
                input type="hidden" name="account_id" value=(f.account_id);
                input type="hidden" name="renewal_date" value=(f.on);
                label { "Category"
                    select name="category" {
                        @for c in Category::ALL {
                            option value=(c.as_str()) selected[f.called_category() == *c] { (c.label()) }
                        }
                    }
                }
                label { "ARR to renew"
                    input type="text" inputmode="decimal" name="amount" required
                        value=(format!("{:.0}", f.called_arr()));
                }
                label { "Why" input type="text" name="reason" required maxlength="2000" placeholder="kept in the audit log"; }
                button type="submit" { "Set" }
            }
        }
    }
}

fn interval_cell(i: Option<&Interval>, as_share: bool) -> Markup {
    let show = |x: f64| {
        if as_share {
            format!("{:.1}%", x * 100.0)
        } else {
            money(whole(x))
        }
    };
    match i {
        Some(i) => html! { (show(i.expected)) br; span.muted.small { (show(i.low)) "–" (show(i.high)) } },
        None => html! { "–" },
    }
}

fn quarter_row(q: &QuarterForecast) -> Markup {
    html! {
        tr {
            td { (q.quarter) }
            td.num { (q.renewals) }
            td.num { (money(q.renewable_arr)) }
            td.num { (money(whole(q.forecast_arr))) }
            td.num { (money(whole(q.called_arr))) }
            td.num { (interval_cell(Some(&q.renewed_arr), false)) }
            td.num { (interval_cell(q.grr.as_ref(), true)) }
            td.num { (interval_cell(q.nrr.as_ref(), true)) }
            td.small { @for c in q.categories.iter().filter(|c| c.renewals > 0) {
                (c.category.label()) ": " (c.renewals) " · " (money(whole(c.forecast_arr))) br;
            } }
        }
    }
}

/// This quarter's and the next's forecast, and how the kept quarters did.
fn forecast_section(o: &laer_app::forecast::RenewalOutlook) -> Markup {
    let pct = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format!("{:.1}%", x * 100.0));
    html! {
        section.card #renewal-forecast {
            h2 { "Forecast" }
            p.muted.small {
                "Each renewal renews with its likelihood (by its health, docs/forecasts.md) at the ARR expected if it does "
                "(today's, changed as renewals kept here changed). Intervals hold 90 % of "
                (o.quarters.first().map_or(0, |q| q.simulations)) " simulated quarters. GRR and NRR are of the ARR renewing."
                @if let laer_core::forecast::churn::Source::Shipped { caveat } = &o.source { " " (caveat) }
            }
            table.data #forecast-quarters {
                thead { tr { th { "Quarter" } th.num { "Renewals" } th.num { "Renewable ARR" } th.num { "Forecast ARR" }
                    th.num { "With owners' calls" } th.num { "Renewed ARR, 90 %" } th.num { "GRR" } th.num { "NRR" } th { "By the system's call" } } }
                tbody { @for q in &o.quarters { (quarter_row(q)) } }
            }
            h3 { "Past quarters" }
            @if o.past.is_empty() {
                p.muted #forecast-accuracy { "laer keeps each quarter's forecast as made at its start; once a quarter has closed it shows here against what renewed." }
            } @else {
                table.data #forecast-accuracy {
                    thead { tr { th { "Quarter" } th { "Forecast made" } th.num { "Renewals" } th.num { "Forecast ARR" }
                        th.num { "Owners' calls" } th.num { "Actual ARR" } th.num { "Error" } th.num { "Owners' error" }
                        th { "In the interval" } th.num { "Brier" } } }
                    tbody { @for a in &o.past { tr {
                        td { (a.quarter) } td { (a.taken_on) } td.num { (a.renewals) }
                        td.num { (money(whole(a.forecast_arr))) } td.num { (money(whole(a.called_arr))) }
                        td.num { (money(whole(a.actual_arr))) } td.num { (pct(a.error)) } td.num { (pct(a.called_error)) }
                        td { (within(a.within_interval)) }
                        td.num { (brier(a.brier)) }
                    } } }
                }
            }
            @if let Some(b) = o.replayed.as_ref().filter(|b| !b.quarters.is_empty()) {
                h3 { "Replayed on history" }
                p.muted.small {
                    "Each past quarter forecast as laer would have on its eve, by a model learned only from what was known "
                    "by then, against the ARR its renewals had when it closed. Mean error " (pct(b.mean_error)) "; the actual within the 90 % interval in "
                    (b.within_interval) " of " (b.quarters.len()) " quarters."
                    @if !b.too_early.is_empty() { " Too little history before " (b.too_early.join(", ")) " to replay." }
                }
                table.data #forecast-replayed {
                    thead { tr { th { "Quarter" } th { "Forecast on" } th.num { "Renewals" } th.num { "Forecast ARR" }
                        th.num { "Renewed ARR, 90 %" } th.num { "Actual ARR" } th.num { "Error" } th { "In the interval" } th.num { "Brier" } } }
                    tbody { @for a in b.quarters.iter().rev() { tr {
                        td { (a.quarter) } td { (a.taken_on) } td.num { (a.renewals) }
                        td.num { (money(whole(a.forecast_arr))) } td.num { (interval_cell(Some(&a.interval), false)) }
                        td.num { (money(whole(a.actual_arr))) } td.num { (pct(a.error)) }
                        td { (within(a.within_interval)) }
                        td.num { (brier(a.brier)) }
                    } } }
                }
            }
        }
    }
}

fn within(yes: bool) -> Markup {
    html! { @if yes { "yes" } @else { span.down { "no" } } }
}

fn brier(b: Option<f64>) -> String {
    b.map_or_else(|| "–".to_string(), |b| format!("{b:.3}"))
}

#[derive(Deserialize)]
pub(crate) struct CallForm {
    account_id: i64,
    renewal_date: String,
    category: String,
    amount: String,
    reason: Option<String>,
}

/// `POST /renewals/call`: the owner's call on a renewal — a category and the ARR they
/// expect to renew, with why; audited.
pub(crate) async fn set_call(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<CallForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewRevenue)?;
    super::rights::require_on(&state, &user, Permission::RecordWork, form.account_id).await?;
    let on =
        laer_core::parse::date(&form.renewal_date).map_err(|e| PageError::BadRequest(format!("Renewal date: {e}.")))?;
    let category: Category = form
        .category
        .parse()
        .map_err(|e| PageError::BadRequest(format!("Category: {e}.")))?;
    let amount =
        laer_core::parse::money(&form.amount).map_err(|e| PageError::BadRequest(format!("ARR to renew: {e}.")))?;
    state
        .store
        .set_renewal_call(
            form.account_id,
            on,
            category,
            amount,
            form.reason.as_deref().unwrap_or_default(),
            &user.actor(),
        )
        .await?;
    Ok(Redirect::to("/renewals#renewals").into_response())
}

pub(crate) async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewRenewals)?;
    super::bounded_filters(&[
        ("Quarter (quarter)", params.quarter.as_deref()),
        ("Sort (sort)", params.sort.as_deref()),
    ])?;
    let today = today();
    let (accounts, attention) = tokio::try_join!(
        state.cache.snapshots(&state.store, today),
        super::health::attention(&state, today)
    )?;
    let due = renewals(
        &accounts,
        today,
        params.window(),
        params.member(&user),
        &attention,
        params.sort(),
        params.desc.as_deref() == Some("1"),
    );
    let mut rows = vec![
        [
            "external_id",
            "name",
            "renewal_date",
            "days_left",
            "arr",
            "owner",
            "segment",
            "health",
            "urgency",
            "arr_at_risk",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in due.rows {
        let a = r.account;
        rows.push(vec![
            a.external_id.clone(),
            a.name.clone().unwrap_or_default(),
            r.on.to_string(),
            r.days_left.to_string(),
            a.arr().to_string(),
            renewal_owner(a).unwrap_or_default().to_string(),
            a.segment.clone().unwrap_or_default(),
            a.health_score().map(|s| format!("{s:.1}")).unwrap_or_default(),
            r.urgency.map(|u| u.as_str().to_string()).unwrap_or_default(),
            format!("{:.2}", r.arr_at_risk),
        ]);
    }
    Ok(csv_response("renewals.csv", rows))
}
