//! The portfolio: every account with its LAER phase, segment, owner, ARR, renewal date
//! and trend; filters, search, sort and pages. Book roles land on their own accounts.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use laer_core::access::Permission;
use laer_core::attention::OpenWork;
use laer_core::automation::coverage::role_label;
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

/// The account's top reason in words, when its health has one.
fn top_reason(a: &AccountSnapshot) -> Option<String> {
    a.health
        .as_ref()
        .and_then(|h| h.top_driver.as_ref())
        .map(laer_core::attention::reason_in_words)
}

/// "3 open · 2 overdue", or "–".
/// An account's chances of churn and downsell within the forecast's horizon.
fn outlook_cell(outlook: Option<&laer_core::forecast::churn::Outlook>) -> Markup {
    match outlook {
        Some(o) => html! {
            span title={"Chance of churn within " (o.horizon_days) " days"} { (super::forecast::chance(o.churn)) }
            " · "
            span.muted title={"Chance of downsell within " (o.horizon_days) " days"} { (super::forecast::chance(o.downsell)) }
        },
        None => html! { span.muted { "–" } },
    }
}

fn open_work(work: OpenWork) -> Markup {
    html! {
        @if work.open == 0 { span.flat { "–" } } @else {
            (work.open) " open"
            @if work.overdue > 0 { br; span.down { (work.overdue) " overdue" } }
        }
    }
}

/// "12 days ago", or "never".
fn last_touch(at: Option<&chrono::DateTime<chrono::Utc>>, today: chrono::NaiveDate) -> Markup {
    match at {
        Some(at) => {
            let days = (today - at.date_naive()).num_days().max(0);
            let words = match days {
                0 => "today".to_string(),
                1 => "yesterday".to_string(),
                d => format!("{d} days ago"),
            };
            html! { time datetime=(at.date_naive()) title=(at.date_naive()) { (words) } }
        }
        None => html! { span.muted { "never" } },
    }
}

/// Who leads the account now, "you" when it is the user; and the user's own role on it
/// when they cover it in another.
fn lead(a: &AccountSnapshot, user: &CurrentUser, today: chrono::NaiveDate, rules: &PhaseRules) -> Markup {
    let me = user.team_member_id;
    let lead = a.phase_owner(today, rules);
    let mine: Vec<String> = a.own_roles(me, today, rules).into_iter().map(role_label).collect();
    html! {
        @match lead {
            Some(l) if me == Some(l.member_id) => { strong { "You" } " (" (role_label(l.role)) ")" }
            Some(l) => { (l.name) " " span.muted.small { "(" (role_label(l.role)) ")" } }
            None => { span.muted { "nobody" } }
        }
        @if !mine.is_empty() { br; span.tag.role { "you: " (mine.join(", ")) } }
    }
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
    let now = chrono::Utc::now();
    let (accounts, team, attention, views) = tokio::try_join!(
        state.cache.snapshots(&state.store, today),
        state.store.team(),
        super::health::attention(&state, today),
        state.store.views_of(user.id, "portfolio"),
    )?;
    let query = params.query(&user);
    let rules = &state.health_model.phases;
    let page = portfolio(&accounts, &query, today, rules, &attention);
    // The last touch of the accounts on this page only.
    let shown: Vec<i64> = page.rows.iter().map(|a| a.id).collect();
    let touches = state.store.last_touches(&shown, now).await?;
    let mut segments: Vec<&str> = accounts.iter().filter_map(|a| a.segment.as_deref()).collect();
    segments.sort_unstable();
    segments.dedup();
    let owner_value = query.owner.map_or_else(|| "all".to_string(), |o| o.to_string());
    let sort_link = |key: SortKey, label: &str| {
        let active = query.sort.unwrap_or(SortKey::Need) == key;
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
                // The model's statistics are on its page, for admins and leaders.
                " · health model “" (state.health_model.name) "”"
                @if user.role.can(Permission::ViewAudit) { " (" a href="/health/model" { "how well it predicts" } ")" }
                // Issue 14: accounts by hand (records.rs).
                @if user.role.can(Permission::EditContracts) { " · " a #new-account href="/accounts/new" { "New account" } }
            }
        }
        (super::views::bar(&user, "portfolio", &views, &params.with(&[("owner", Some(owner_value.clone())), ("page", None)])))
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
        details.small #order {
            summary {
                @if query.sort.unwrap_or(SortKey::Need) == SortKey::Need { "Neediest first. " }
                "How laer ranks and colours accounts"
            }
            p.muted {
                "Need is the ARR at risk: the chance that the account churns or downsells within 90 days, times its ARR; "
                "ties go to the account with more overdue tasks. The chances come from the forecast learned on this "
                "workspace's own history: health and whether a renewal falls within the 90 days (docs/forecasts.md). "
                "Health is red when accounts with that score churned or downsold at least twice as often as usual, "
                "amber when more often than usual, green otherwise; until the model has been checked on your history, by score "
                "(under 40 red, under 70 amber). The top reason is the measure that holds the score down most."
            }
        }
        table.data #portfolio {
            thead { tr {
                th { (sort_link(SortKey::Name, "Account")) " · " (sort_link(SortKey::Need, "need")) }
                th.num { (sort_link(SortKey::Health, "Health")) }
                th.num title="Chance of churn, and of downsell, within 90 days (docs/forecasts.md)" { "Churn · downsell" }
                th { "Top reason" }
                th { (sort_link(SortKey::Phase, "Phase")) }
                th { "Lead now" }
                th.num { (sort_link(SortKey::Arr, "ARR")) }
                th { (sort_link(SortKey::Renewal, "Renewal")) }
                th { "Tasks" }
                th { "Last touch" }
                th.num { (sort_link(SortKey::Trend, "Trend")) }
            } }
            tbody {
                @for a in &page.rows {
                    tr {
                        td.account { a href={"/accounts/" (a.id)} { (a.display_name()) }
                            @if let Some(s) = &a.segment { br; span.muted.small.segment { (s) } } }
                        td.num.health { (super::health::badge(a.health_score(), &attention)) }
                        td.num.outlook { (outlook_cell(attention.outlook(a).as_ref())) }
                        td.reason { (top_reason(a).unwrap_or_default()) }
                        td.phase { (phase_badge(a, today, rules)) }
                        td.lead { (lead(a, &user, today, rules)) }
                        td.num.arr { (money(a.arr())) }
                        td.date { (date(a.renewal_date)) }
                        td.tasks { (open_work(attention.work_of(a.id))) }
                        td.touch { (last_touch(touches.get(&a.id), today)) }
                        td.num.trend { (trend(a)) }
                    }
                }
                @if page.rows.is_empty() { tr { td colspan="11" { "No account matches." } } }
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
    let (accounts, attention) = tokio::try_join!(
        state.cache.snapshots(&state.store, today),
        super::health::attention(&state, today)
    )?;
    let mut query = params.query(&user);
    query.page = 1;
    query.per_page = accounts.len().max(1);
    let rules = &state.health_model.phases;
    let page = portfolio(&accounts, &query, today, rules, &attention);
    let mut rows = vec![
        [
            "external_id",
            "name",
            "phase",
            "health",
            "urgency",
            "top_reason",
            "segment",
            "owner",
            "arr",
            "renewal_date",
            "trend_90d",
            "churn_90d",
            "downsell_90d",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for a in page.rows {
        let outlook = attention.outlook(a);
        let outlook = outlook.as_ref();
        rows.push(vec![
            a.external_id.clone(),
            a.name.clone().unwrap_or_default(),
            a.phase(today, rules).as_str().to_string(),
            a.health_score().map(|s| format!("{s:.1}")).unwrap_or_default(),
            attention
                .urgency(a.health_score())
                .map(|u| u.as_str().to_string())
                .unwrap_or_default(),
            top_reason(a).unwrap_or_default(),
            a.segment.clone().unwrap_or_default(),
            a.phase_owner(today, rules).map(|o| o.name.clone()).unwrap_or_default(),
            a.arr().to_string(),
            a.renewal_date.map(|d| d.to_string()).unwrap_or_default(),
            a.trend().map(|t| format!("{t:.4}")).unwrap_or_default(),
            outlook.map(|o| format!("{:.4}", o.churn)).unwrap_or_default(),
            outlook.map(|o| format!("{:.4}", o.downsell)).unwrap_or_default(),
        ]);
    }
    Ok(csv_response("portfolio.csv", rows))
}
