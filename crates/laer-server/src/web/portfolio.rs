//! The portfolio: every account with its LAER phase, segment, owner, ARR, renewal date
//! and trend; filters, search, sort and pages. Book roles land on their own accounts.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use laer_core::access::Permission;
use laer_core::lifecycle::{Phase, PhaseRules};
use laer_core::portfolio::{AccountSnapshot, PortfolioQuery, SortKey, portfolio};
use maud::{Markup, html};
use serde::Deserialize;

use super::{CurrentUser, Nav, PageError, csv_response, date, layout, money, percent_encode, require, today};
use crate::AppState;

const PER_PAGE: usize = 50;

/// The page's query string; every field optional.
#[derive(Debug, Default, Deserialize, Clone)]
pub(crate) struct Params {
    /// A team member id, or `all`; absent: the user's own book, if they have one.
    owner: Option<String>,
    segment: Option<String>,
    phase: Option<String>,
    /// Days: 30, 90, 180.
    renewal: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    desc: Option<String>,
    page: Option<String>,
}

impl Params {
    /// The filters' texts are short (issue 15).
    fn bounded(&self) -> Result<(), PageError> {
        super::bounded_filters(&[
            ("Search (q)", self.q.as_deref()),
            ("Segment (segment)", self.segment.as_deref()),
            ("Owner (owner)", self.owner.as_deref()),
            ("Phase (phase)", self.phase.as_deref()),
            ("Sort (sort)", self.sort.as_deref()),
        ])
    }

    fn query(&self, user: &CurrentUser) -> PortfolioQuery {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let owner = match nonempty(&self.owner).as_deref() {
            Some("all") => None,
            Some(id) => id.parse().ok(),
            None if user.role.has_own_book() => user.team_member_id,
            None => None,
        };
        PortfolioQuery {
            owner,
            segment: nonempty(&self.segment),
            phase: nonempty(&self.phase).and_then(|p| p.parse().ok()),
            renewal_within: nonempty(&self.renewal).and_then(|d| d.parse().ok()),
            search: nonempty(&self.q),
            sort: nonempty(&self.sort).and_then(|s| s.parse().ok()),
            descending: self.desc.as_deref() == Some("1"),
            page: nonempty(&self.page).and_then(|p| p.parse().ok()).unwrap_or(1),
            per_page: PER_PAGE,
        }
    }

    /// The query string with some fields replaced.
    fn with(&self, changes: &[(&str, Option<String>)]) -> String {
        let mut fields: Vec<(&str, Option<String>)> = vec![
            ("owner", self.owner.clone()),
            ("segment", self.segment.clone()),
            ("phase", self.phase.clone()),
            ("renewal", self.renewal.clone()),
            ("q", self.q.clone()),
            ("sort", self.sort.clone()),
            ("desc", self.desc.clone()),
            ("page", self.page.clone()),
        ];
        for (key, value) in changes {
            if let Some(field) = fields.iter_mut().find(|(k, _)| k == key) {
                field.1 = value.clone();
            }
        }
        let pairs: Vec<String> = fields
            .into_iter()
            .filter_map(|(k, v)| {
                v.filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={}", percent_encode(&v, "")))
            })
            .collect();
        pairs.join("&")
    }
}

fn phase_badge(a: &AccountSnapshot, today: chrono::NaiveDate, rules: &PhaseRules) -> Markup {
    let phase = a.phase(today, rules);
    let why = a.health.as_ref().map_or("", |h| h.phase_reason.as_str());
    html! { span class={"badge phase-" (phase.as_str())} title=(why) { (phase.as_str()) } }
}

fn health_badge(a: &AccountSnapshot) -> Markup {
    let title = a
        .health
        .as_ref()
        .and_then(|h| h.quadrant)
        .map_or("health 0–100", |q| q.label());
    super::health::badge(a.health_score(), title)
}

fn trend(a: &AccountSnapshot) -> Markup {
    match a.trend() {
        Some(t) if t > 0.005 => {
            html! { span.up title="MRR change over 90 days" { "▲ " (format!("{:.0}%", t * 100.0)) } }
        }
        Some(t) if t < -0.005 => {
            html! { span.down title="MRR change over 90 days" { "▼ " (format!("{:.0}%", t.abs() * 100.0)) } }
        }
        Some(_) => html! { span.flat { "–" } },
        None if a.mrr.is_zero() => html! { span.flat { "–" } },
        None => html! { span.flat title="no MRR 90 days ago" { "new" } },
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    params.bounded()?;
    let today = today();
    let accounts = state.cache.snapshots(&state.store, today).await?;
    let team = state.store.team().await?;
    let accuracy = super::health::accuracy(&state).await?;
    let query = params.query(&user);
    let rules = &state.health_model.phases;
    let page = portfolio(&accounts, &query, today, rules);
    let mut segments: Vec<&str> = accounts.iter().filter_map(|a| a.segment.as_deref()).collect();
    segments.sort_unstable();
    segments.dedup();
    let owner_value = query.owner.map_or_else(|| "all".to_string(), |o| o.to_string());
    let sort_link = |key: SortKey, label: &str| {
        let active = query.sort.unwrap_or(SortKey::Name) == key;
        let desc = if active && !query.descending {
            Some("1".to_string())
        } else {
            None
        };
        let href = format!(
            "/portfolio?{}",
            params.with(&[
                ("sort", Some(key.as_str().to_string())),
                ("desc", desc),
                ("page", None),
                ("owner", Some(owner_value.clone()))
            ])
        );
        let arrow = match (active, query.descending) {
            (true, false) => " ↑",
            (true, true) => " ↓",
            _ => "",
        };
        html! { a href=(href) { (label) (arrow) } }
    };
    let title = match query.owner.and_then(|o| team.iter().find(|m| m.id == o)) {
        Some(m) if Some(m.name.as_str()) == Some(user.name.as_str()) => "My accounts".to_string(),
        Some(m) => format!("Accounts of {}", m.name),
        None => "All accounts".to_string(),
    };
    let body = html! {
        div.page-head {
            h1 { (title) }
            p.muted {
                (page.matching) " accounts"
                // The sum over accounts is company revenue: for those who may see it.
                @if user.role.can(Permission::ViewRevenue) { " · ARR " (money(page.matching_arr)) }
                " · health model “" (state.health_model.name) "”"
                @if let Some(auc) = accuracy.as_ref().and_then(|a| a.auc) {
                    span #accuracy title="how well it ranked the accounts that churned or downsold within 90 days, replayed on this history" {
                        ", AUC " (format!("{auc:.2}")) " on this history"
                    }
                }
                // Issue 14: accounts by hand (records.rs).
                @if user.role.can(Permission::EditContracts) { " · " a #new-account href="/accounts/new" { "New account" } }
            }
        }
        form.filters method="get" action="/portfolio" {
            label { "Owner"
                select name="owner" {
                    option value="all" selected[query.owner.is_none()] { "Everyone" }
                    @for m in &team { option value=(m.id) selected[query.owner == Some(m.id)] { (m.name) } }
                }
            }
            label { "Segment"
                select name="segment" {
                    option value="" { "Any" }
                    @for s in &segments { option value=(s) selected[query.segment.as_deref() == Some(*s)] { (s) } }
                }
            }
            label { "Phase"
                select name="phase" {
                    option value="" { "Any" }
                    @for p in Phase::ALL { option value=(p.as_str()) selected[query.phase == Some(*p)] { (p.as_str()) } }
                }
            }
            label { "Renewal"
                select name="renewal" {
                    option value="" { "Any time" }
                    @for d in [30, 90, 180] { option value=(d) selected[query.renewal_within == Some(d)] { "within " (d) " days" } }
                }
            }
            label { "Search" input type="search" name="q" value=[params.q.as_deref()] placeholder="name or id"; }
            button type="submit" { "Show" }
            a.secondary href={"/portfolio.csv?" (params.with(&[("owner", Some(owner_value.clone())), ("page", None)]))} { "CSV" }
        }
        table.data #portfolio {
            thead { tr {
                th { (sort_link(SortKey::Name, "Account")) }
                th { (sort_link(SortKey::Phase, "Phase")) }
                th.num { (sort_link(SortKey::Health, "Health")) }
                th { (sort_link(SortKey::Segment, "Segment")) }
                th { "Owner" }
                th.num { (sort_link(SortKey::Arr, "ARR")) }
                th { (sort_link(SortKey::Renewal, "Renewal")) }
                th.num { (sort_link(SortKey::Trend, "Trend")) }
            } }
            tbody {
                @for a in &page.rows {
                    tr {
                        td { a href={"/accounts/" (a.id)} { (a.name.as_deref().unwrap_or(&a.external_id)) } }
                        td { (phase_badge(a, today, rules)) }
                        td.num { (health_badge(a)) }
                        td { (a.segment.as_deref().unwrap_or("–")) }
                        td { (a.phase_owner(today, rules).map_or("–", |o| o.name.as_str())) }
                        td.num { (money(a.arr())) }
                        td { (date(a.renewal_date)) }
                        td.num { (trend(a)) }
                    }
                }
                @if page.rows.is_empty() { tr { td colspan="8" { "No account matches." } } }
            }
        }
        nav.pages {
            @if page.page > 1 {
                a href={"/portfolio?" (params.with(&[("page", Some((page.page - 1).to_string())), ("owner", Some(owner_value.clone()))]))} { "← Previous" }
            }
            span { "Page " (page.page) " of " (page.pages) }
            @if page.page < page.pages {
                a href={"/portfolio?" (params.with(&[("page", Some((page.page + 1).to_string())), ("owner", Some(owner_value.clone()))]))} { "Next →" }
            }
        }
    };
    Ok(layout("Portfolio", Some(Nav::Portfolio), &user, body).into_response())
}

/// Every matching account (all pages) as CSV.
pub(crate) async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    params.bounded()?;
    let today = today();
    let accounts = state.cache.snapshots(&state.store, today).await?;
    let mut query = params.query(&user);
    query.page = 1;
    query.per_page = accounts.len().max(1);
    let rules = &state.health_model.phases;
    let page = portfolio(&accounts, &query, today, rules);
    let mut rows = vec![
        [
            "external_id",
            "name",
            "phase",
            "health",
            "segment",
            "owner",
            "arr",
            "renewal_date",
            "trend_90d",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for a in page.rows {
        rows.push(vec![
            a.external_id.clone(),
            a.name.clone().unwrap_or_default(),
            a.phase(today, rules).as_str().to_string(),
            a.health_score().map(|s| format!("{s:.1}")).unwrap_or_default(),
            a.segment.clone().unwrap_or_default(),
            a.phase_owner(today, rules).map(|o| o.name.clone()).unwrap_or_default(),
            a.arr().to_string(),
            a.renewal_date.map(|d| d.to_string()).unwrap_or_default(),
            a.trend().map(|t| format!("{t:.4}")).unwrap_or_default(),
        ]);
    }
    Ok(csv_response("portfolio.csv", rows))
}
