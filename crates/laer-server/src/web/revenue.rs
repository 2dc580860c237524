//! Revenue: MRR movements per month (new, expansion, contraction, churn, reactivation),
//! NRR and GRR over the trailing twelve months, logo churn per month; by segment; the NRR
//! bridge of the last whole quarters by LAER phase and by CSM.
//! The definitions are those of docs/metrics.md, `laer report mrr` and `laer report
//! nrr-bridge`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use laer_core::Money;
use laer_core::access::Permission;
use laer_core::bridge::{
    Grouping, Quarter, QuarterBridge, begun_quarters, quarter_bridges, quarter_to_date, shown_quarters,
};
use laer_core::fx::Rates;
use laer_core::model::TeamRole;
use laer_core::reports::{MonthWithTrailing, months_with_trailing, movements_by_segment, trailing_year};
use laer_core::retention::{MovementKind, Period, RevenueLine};
use maud::html;

use super::{CurrentUser, Nav, PageError, csv_response, figure, layout, money, percent, require, today};
use crate::AppState;
use laer_charts::{Color, LineChart, Series as ChartSeries, StackedBarChart, ValueFormat};

const MONTHS: u32 = 24;

/// The page's months: laer_core::reports::months_with_trailing over [`MONTHS`].
type Month = MonthWithTrailing;

fn months(lines: &[RevenueLine], rates: &Rates, today: NaiveDate) -> Vec<Month> {
    months_with_trailing(lines, rates, today, MONTHS)
}

fn label(p: &Period) -> String {
    p.from.format("%Y-%m").to_string()
}

fn units(m: Money) -> f64 {
    m.to_f64()
}

pub(crate) async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ViewRevenue)?;
    let today = today();
    // The same for everyone who may see it, and made again only when what it shows moved.
    let body = state
        .cache
        .revenue_page(&state.store, today, || body(&state, today))
        .await?;
    Ok(layout("Revenue", Some(Nav::Revenue), &user, (*body).clone()).into_response())
}

/// The page's content: every figure from the subscription lines as of `today`.
async fn body(state: &AppState, today: NaiveDate) -> Result<maud::Markup, PageError> {
    let lines = state.cache.revenue_lines(&state.store, today).await?;
    let rates = state.store.exchange_rates().await?;
    let months = months(&lines, &rates, today);
    let labels: Vec<String> = months.iter().map(|m| label(&m.period)).collect();
    // Each bar leads to the accounts behind it.
    let links = |kind: MovementKind| months.iter().map(move |m| Some(month_drill(m, kind)));
    let movements = StackedBarChart::new(labels.clone(), ValueFormat::Money)
        .component(
            ChartSeries::new("New", months.iter().map(|m| units(m.movements.new)))
                .color(Color::BLUISH_GREEN)
                .links(links(MovementKind::New)),
        )
        .component(
            ChartSeries::new("Expansion", months.iter().map(|m| units(m.movements.expansion)))
                .color(Color::BLUE)
                .links(links(MovementKind::Expansion)),
        )
        .component(
            ChartSeries::new("Reactivation", months.iter().map(|m| units(m.movements.reactivation)))
                .color(Color::SKY_BLUE)
                .links(links(MovementKind::Reactivation)),
        )
        .component(
            ChartSeries::new("Contraction", months.iter().map(|m| -units(m.movements.contraction)))
                .color(Color::ORANGE)
                .links(links(MovementKind::Contraction)),
        )
        .component(
            ChartSeries::new("Churn", months.iter().map(|m| -units(m.movements.churn)))
                .color(Color::VERMILLION)
                .links(links(MovementKind::Churn)),
        )
        .net("Net change")
        .to_svg();
    let retention_chart = LineChart::new(labels.clone(), ValueFormat::Percent)
        .series(
            ChartSeries::new(
                "NRR (12 months)",
                months.iter().map(|m| m.trailing.net_revenue_retention()),
            )
            .color(Color::BLUE),
        )
        .series(
            ChartSeries::new(
                "GRR (12 months)",
                months.iter().map(|m| m.trailing.gross_revenue_retention()),
            )
            .color(Color::ORANGE),
        )
        // Retention zoomed to where it moves, with the line it is judged against.
        .include_zero(false)
        .reference(1.0, "100%: every dollar kept")
        .to_svg();
    let mrr_chart = LineChart::new(labels.clone(), ValueFormat::Money)
        .series(ChartSeries::new("MRR at month end", months.iter().map(|m| units(m.movements.end))).color(Color::BLUE))
        .area(true)
        .to_svg();
    let churn_chart = LineChart::new(labels, ValueFormat::Percent)
        .series(ChartSeries::new("Logo churn per month", months.iter().map(|m| m.logo_churn)).color(Color::VERMILLION))
        .to_svg();

    // The accounts' segments as the kept snapshots have them.
    let segments = laer_core::portfolio::segments(&state.cache.snapshots(&state.store, today).await?);
    let by_segment = segment_table(
        &lines,
        &rates,
        &segments,
        months.last().map(|m| trailing_year(&m.period)),
    );
    let shown = shown_bridges(state, today).await?;
    let phase_note = match shown.stale_phases {
        0 => String::new(),
        n => format!(
            " The history of {n} account{} changed since its phase was kept: shown as kept until the health engine has assessed it again, in seconds.",
            if n == 1 { "" } else { "s" }
        ),
    };
    let latest = months.last();
    let body = html! {
        div.page-head {
            h1 { "Revenue" }
            @if let Some(m) = latest {
                p.muted { "MRR " (money(m.movements.end)) " on " (m.period.to) " · ARR " (money(m.movements.end.times(12)))
                    " · NRR " (percent(m.trailing.net_revenue_retention())) " · GRR " (percent(m.trailing.gross_revenue_retention()))
                    " over the last 12 months, of all accounts a year ago (the bridges below: each quarter's, of each group's accounts at its start) · "
                    a href="/retention" { "Retention curves" } }
            }
        }
        div.grid2 {
            (figure("MRR movements per month", movements, movement_table(&months), Some("/revenue.csv")))
            (figure("Net and gross revenue retention, trailing 12 months", retention_chart, html! {
                table.data { thead { tr { th { "Month" } th.num { "NRR" } th.num { "GRR" } } }
                    tbody { @for m in &months { tr { td { (label(&m.period)) } td.num { (percent(m.trailing.net_revenue_retention())) } td.num { (percent(m.trailing.gross_revenue_retention())) } } } } }
            }, Some("/revenue.csv")))
            (figure("MRR", mrr_chart, html! {
                table.data { thead { tr { th { "Month end" } th.num { "MRR" } } }
                    tbody { @for m in &months { tr { td { (m.period.to) } td.num { (money(m.movements.end)) } } } } }
            }, Some("/revenue.csv")))
            (figure("Logo churn", churn_chart, html! {
                table.data { thead { tr { th { "Month" } th.num { "Accounts churned / active at start" } } }
                    tbody { @for m in &months { tr { td { (label(&m.period)) } td.num { (percent(m.logo_churn)) } } } } }
            }, Some("/revenue.csv")))
        }
        section.card {
            h2 { "By segment, last 12 months" }
            (by_segment)
        }
        (bridge_section("NRR bridge by phase", "bridge-phase",
            &format!("Each account in its LAER phase on the quarter's first day, assessed once and kept: accounts not yet landed count in land, those that had left in churned.{phase_note}"),
            &shown.by_phase))
        (bridge_section("NRR bridge by owner (CSM)", "bridge-csm",
            "Each account under its CSM on the quarter's first day; an account new or back in the quarter under its CSM on the day it began.",
            &shown.by_csm))
    };
    Ok(body)
}

/// The NRR bridges the page shows, and how many accounts' phases wait to be assessed
/// again.
pub(crate) struct Bridges {
    by_phase: Vec<QuarterBridge>,
    by_csm: Vec<QuarterBridge>,
    stale_phases: i64,
}

/// The bridges the page shows, made once per change of what they rest on
/// ([`super::cache::PageCache::revenue_bridges`]): the page and its drill-downs share them.
/// The lines and rates are read once the revisions are known, so that bridges are never
/// kept under a revision newer than what they were made of.
async fn shown_bridges(state: &AppState, today: NaiveDate) -> Result<Arc<Bridges>, PageError> {
    state
        .cache
        .revenue_bridges(&state.store, today, || async {
            let lines = state.cache.revenue_lines(&state.store, today).await?;
            let rates = state.store.exchange_rates().await?;
            bridges(state, &lines, &rates, today).await
        })
        .await
}

/// The bridges by phase and by CSM of [`shown_quarters`]: the whole quarters, then the
/// quarter to date; the phases as kept for those days.
async fn bridges(
    state: &AppState,
    lines: &[RevenueLine],
    rates: &Rates,
    today: NaiveDate,
) -> Result<Bridges, PageError> {
    let quarters = shown_quarters(today);
    let begun = begun_quarters(today);
    let (past, coverage) = tokio::try_join!(
        state
            .cache
            .past_phases(&state.store, &state.health_model, &begun, today),
        state.cache.csm_coverage(&state.store, today),
    )?;
    let phases = Grouping::Phase(&past.phases);
    let owners = Grouping::Owner(TeamRole::Csm, &coverage);
    let whole = &quarters[..quarters.len() - 1];
    let mut by_phase = quarter_bridges(lines, rates, whole, phases);
    by_phase.extend(quarter_to_date(lines, rates, today, phases));
    let mut by_csm = quarter_bridges(lines, rates, whole, owners);
    by_csm.extend(quarter_to_date(lines, rates, today, owners));
    Ok(Bridges {
        by_phase,
        by_csm,
        stale_phases: past.stale,
    })
}

/// A figure linked to the accounts behind it (nothing to list behind a zero).
fn drill(amount: Money, href: String) -> maud::Markup {
    if amount.is_zero() {
        return html! { (money(amount)) };
    }
    html! { a href=(href) title="the accounts behind this figure" { (money(amount)) } }
}

/// The drill-down of one month's figure.
fn month_drill(m: &Month, kind: MovementKind) -> String {
    format!(
        "/revenue/accounts?from={}&to={}&kind={}",
        m.period.from,
        m.period.to,
        kind.as_str()
    )
}

fn movement_table(months: &[Month]) -> maud::Markup {
    let link = |m: &Month, kind: MovementKind, amount: Money| drill(amount, month_drill(m, kind));
    // Only where lines billed in another currency moved with the exchange rates.
    let fx = months.iter().any(|m| !m.movements.exchange_rates.is_zero());
    html! {
        table.data {
            thead { tr { th { "Month" } th.num { "Start" } th.num { "New" } th.num { "Expansion" } th.num { "Reactivation" } th.num { "Contraction" } th.num { "Churn" }
                @if fx { th.num title="What exchange rates did to the end MRR; the other movements are at the month's first-day rates" { "Exchange rates" } }
                th.num { "End" } } }
            tbody {
                @for m in months {
                    @let v = &m.movements;
                    tr { td { (label(&m.period)) } td.num { (money(v.start)) }
                         td.num { (link(m, MovementKind::New, v.new)) } td.num { (link(m, MovementKind::Expansion, v.expansion)) }
                         td.num { (link(m, MovementKind::Reactivation, v.reactivation)) } td.num { (link(m, MovementKind::Contraction, v.contraction)) }
                         td.num { (link(m, MovementKind::Churn, v.churn)) }
                         @if fx { td.num { (money(v.exchange_rates)) } }
                         td.num { (money(v.end)) } }
                }
            }
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct DrillParams {
    kind: String,
    /// A month or any period: `from` and `to`.
    from: Option<String>,
    to: Option<String>,
    /// Or a bridge's quarter (`2026-Q3`; the current one: to date), grouped `by` phase or
    /// csm, one `group` of it (absent: every account).
    quarter: Option<String>,
    by: Option<String>,
    group: Option<String>,
}

/// `GET /revenue/accounts`: the accounts behind one figure of the revenue page — a month's
/// new, expansion, contraction, churn or reactivation MRR, or a bridge cell — each with its
/// MRR before and after and its part of the figure; they add up to it.
pub(crate) async fn accounts(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::extract::Query(params): axum::extract::Query<DrillParams>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewRevenue)?;
    super::bounded_filters(&[
        ("Kind (kind)", Some(params.kind.as_str())),
        ("Quarter (quarter)", params.quarter.as_deref()),
        ("Group (group)", params.group.as_deref()),
        ("By (by)", params.by.as_deref()),
    ])?;
    let today = today();
    let kind = MovementKind::parse(&params.kind).ok_or_else(|| {
        PageError::BadRequest(format!(
            "Kind (kind): expected new, expansion, contraction, churn or reactivation, found {:?}.",
            params.kind
        ))
    })?;
    let lines = state.cache.revenue_lines(&state.store, today).await?;
    let rates = state.store.exchange_rates().await?;
    let day = |name: &str, v: &Option<String>| -> Result<Option<NaiveDate>, PageError> {
        v.as_deref()
            .map(|d| {
                d.parse::<NaiveDate>()
                    .map_err(|_| PageError::BadRequest(format!("{name}: expected a date (YYYY-MM-DD), found {d:?}.")))
            })
            .transpose()
    };
    let (caption, movements, expected): (String, Vec<laer_core::retention::AccountMovement>, Option<Money>) = match (
        day("From (from)", &params.from)?,
        day("To (to)", &params.to)?,
        params.quarter.as_deref(),
    ) {
        (Some(from), Some(to), None) if from < to => {
            let period = Period { from, to };
            (
                format!("MRR on {from} to MRR on {to}"),
                laer_core::retention::account_movements(&lines, period, &rates),
                None,
            )
        }
        (None, None, Some(q)) => {
            let quarter = Quarter::parse(q).ok_or_else(|| {
                PageError::BadRequest(format!("Quarter (quarter): expected e.g. 2026-Q3, found {q:?}."))
            })?;
            let shown = shown_bridges(&state, today).await?;
            let list = match params.by.as_deref() {
                Some("csm") => &shown.by_csm,
                Some("phase") | None => &shown.by_phase,
                Some(other) => {
                    return Err(PageError::BadRequest(format!(
                        "By (by): expected phase or csm, found {other:?}."
                    )));
                }
            };
            let bridge = list
                .iter()
                .find(|b| b.quarter == quarter.to_string())
                .cloned()
                .ok_or_else(|| PageError::NotFound(format!("bridge of {quarter} on this page")))?;
            let caption = quarter_caption(&bridge);
            match params.group.as_deref() {
                None => {
                    let figure = figure_of(&bridge.total, kind);
                    (caption, bridge.accounts, figure)
                }
                Some(name) => {
                    let group = bridge
                        .groups
                        .into_iter()
                        .find(|g| g.group == name)
                        .ok_or_else(|| PageError::NotFound(format!("group {name:?} in the bridge of {quarter}")))?;
                    let figure = figure_of(&group.figures, kind);
                    (format!("{caption} · {name}"), group.accounts, figure)
                }
            }
        }
        _ => {
            return Err(PageError::BadRequest(
                "Give a period (from and to, from before to) or a quarter.".into(),
            ));
        }
    };
    let rows = laer_core::retention::accounts_of_kind(&movements, kind);
    let total: Money = rows.iter().map(|m| m.amount()).sum();
    let snapshots = state.cache.snapshots(&state.store, today).await?;
    let name_of = |id: i64| laer_core::portfolio::name_of(&snapshots, id);
    let body = html! {
        div.page-head {
            h1 { (kind_label(kind)) " MRR: the accounts behind it" }
            p.muted { (caption) " · " (rows.len()) " accounts · " (money(total))
                @if let Some(f) = expected { @if f == total { " — as the revenue page shows" } } }
            p { a href="/revenue" { "Back to revenue" } }
        }
        table.data #drill {
            thead { tr { th { "Account" } th.num { "MRR before" } th.num { "MRR after" } th.num { (kind_label(kind)) } } }
            tbody {
                @for m in &rows {
                    tr { td { a href={"/accounts/" (m.account_id)} { (name_of(m.account_id)) } } td.num { (money(m.start)) } td.num { (money(m.end)) } td.num { (money(m.amount())) } }
                }
                @if rows.is_empty() { tr { td colspan="4" { "No account." } } }
            }
            tfoot { tr.total { td { "Total" } td {} td {} td.num #drill-total { (money(total)) } } }
        }
    };
    Ok(layout("Revenue: accounts", Some(Nav::Revenue), &user, body).into_response())
}

fn kind_label(kind: MovementKind) -> &'static str {
    match kind {
        MovementKind::New => "New",
        MovementKind::Expansion => "Expansion",
        MovementKind::Contraction => "Contraction",
        MovementKind::Churn => "Churned",
        MovementKind::Reactivation => "Reactivation",
        MovementKind::Unchanged => "Unchanged",
    }
}

/// A bridge row's figure of `kind`.
fn figure_of(f: &laer_core::bridge::BridgeFigures, kind: MovementKind) -> Option<Money> {
    match kind {
        MovementKind::New => Some(f.new),
        MovementKind::Expansion => Some(f.expansion),
        MovementKind::Contraction => Some(f.contraction),
        MovementKind::Churn => Some(f.churn),
        MovementKind::Reactivation => Some(f.reactivation),
        MovementKind::Unchanged => None,
    }
}

/// The latest quarter's bridge, the earlier ones under a disclosure, newest first.
fn bridge_section(title: &str, id: &str, note: &str, quarters: &[QuarterBridge]) -> maud::Markup {
    let mut newest_first = quarters.iter().rev();
    let Some(latest) = newest_first.next() else {
        return html! {};
    };
    html! {
        section.card id=(id) {
            h2 { (title) }
            p.muted { (note) " The groups add up to the quarter's movements; NRR and GRR are each group's own." }
            h3 { (quarter_caption(latest)) }
            (bridge_table(latest))
            @for q in newest_first {
                details { summary { (quarter_caption(q)) } (bridge_table(q)) }
            }
        }
    }
}

fn quarter_caption(q: &QuarterBridge) -> String {
    let so_far = if q.end < q.start + chrono::Months::new(3) {
        " (to date)"
    } else {
        ""
    };
    format!("{}{so_far}: MRR on {} to MRR on {}", q.quarter, q.start, q.end)
}

fn bridge_table(q: &QuarterBridge) -> maud::Markup {
    let by = if q.by == "phase" { "phase" } else { "csm" };
    let fx = !q.total.exchange_rates.is_zero() || q.groups.iter().any(|g| !g.figures.exchange_rates.is_zero());
    let row = |group: maud::Markup, name: Option<&str>, f: &laer_core::bridge::BridgeFigures| {
        let link = |kind: MovementKind, amount: Money| {
            let group = name
                .map(|n| format!("&group={}", super::percent_encode(n, "")))
                .unwrap_or_default();
            drill(
                amount,
                format!(
                    "/revenue/accounts?quarter={}&by={by}{group}&kind={}",
                    q.quarter,
                    kind.as_str()
                ),
            )
        };
        html! {
            td { (group) } td.num { (money(f.start_mrr)) } td.num { (link(MovementKind::New, f.new)) } td.num { (link(MovementKind::Expansion, f.expansion)) }
            td.num { (link(MovementKind::Contraction, f.contraction)) } td.num { (link(MovementKind::Churn, f.churn)) } td.num { (link(MovementKind::Reactivation, f.reactivation)) }
            @if fx { td.num { (money(f.exchange_rates)) } }
            td.num { (money(f.end_mrr)) } td.num { (percent(f.nrr)) } td.num { (percent(f.grr)) }
        }
    };
    html! {
        table.data.bridge {
            thead { tr { th { @if q.by == "phase" { "Phase" } @else { "Owner" } } th.num { "Start MRR" } th.num { "New" } th.num { "Expansion" }
                th.num { "Contraction" } th.num { "Churn" } th.num { "Reactivation" }
                @if fx { th.num title="What exchange rates did to the end MRR; the other movements are at the quarter's first-day rates" { "Exchange rates" } }
                th.num { "End MRR" } th.num { "NRR (quarter)" } th.num { "GRR (quarter)" } } }
            tbody {
                @for g in &q.groups {
                    tr { (row(html! {
                        @if q.by == "phase" { span class={"badge phase-" (g.group)} { (g.group) } }
                        @else if g.team_member.is_none() { span.muted { (g.group) } }
                        @else { (g.group) }
                    }, Some(&g.group), &g.figures)) }
                }
            }
            tfoot { tr.total { (row(html! { "Total" }, None, &q.total)) } }
        }
    }
}

fn segment_table(
    lines: &[RevenueLine],
    rates: &Rates,
    segments: &HashMap<i64, String>,
    period: Option<Period>,
) -> maud::Markup {
    let Some(period) = period else {
        return html! { p { "No revenue yet." } };
    };
    let rows = movements_by_segment(lines, rates, segments, period);
    // Only where lines billed in another currency moved with the exchange rates.
    let fx = rows.iter().any(|(_, m)| !m.exchange_rates.is_zero());
    html! {
        table.data #segments {
            thead { tr { th { "Segment" } th.num { "MRR a year ago" } th.num { "MRR now" } th.num { "New" } th.num { "Reactivation" } th.num { "Expansion" } th.num { "Contraction" } th.num { "Churn" }
                @if fx { th.num title="What exchange rates did to MRR now; the other movements are at the rates of a year ago" { "Exchange rates" } }
                th.num { "NRR" } th.num { "GRR" } } }
            tbody {
                @for (name, m) in &rows {
                    tr { td { (name.as_deref().unwrap_or("(none)")) } td.num { (money(m.start)) } td.num { (money(m.end)) } td.num { (money(m.new)) }
                         td.num { (money(m.reactivation)) } td.num { (money(m.expansion)) } td.num { (money(m.contraction)) } td.num { (money(m.churn)) }
                         @if fx { td.num { (money(m.exchange_rates)) } }
                         td.num { (percent(m.net_revenue_retention())) } td.num { (percent(m.gross_revenue_retention())) } }
                }
            }
        }
    }
}

pub(crate) async fn csv(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ViewRevenue)?;
    let lines = state.cache.revenue_lines(&state.store, today()).await?;
    let rates = state.store.exchange_rates().await?;
    let mut rows = vec![
        [
            "month",
            "start_mrr",
            "new",
            "expansion",
            "reactivation",
            "contraction",
            "churn",
            "end_mrr",
            "nrr_12m",
            "grr_12m",
            "logo_churn",
            "exchange_rates",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let ratio = |r: Option<f64>| r.map(|r| format!("{r:.4}")).unwrap_or_default();
    for m in months(&lines, &rates, today()) {
        let v = &m.movements;
        rows.push(vec![
            label(&m.period),
            v.start.to_string(),
            v.new.to_string(),
            v.expansion.to_string(),
            v.reactivation.to_string(),
            v.contraction.to_string(),
            v.churn.to_string(),
            v.end.to_string(),
            ratio(m.trailing.net_revenue_retention()),
            ratio(m.trailing.gross_revenue_retention()),
            ratio(m.logo_churn),
            v.exchange_rates.to_string(),
        ]);
    }
    Ok(csv_response("revenue.csv", rows))
}
