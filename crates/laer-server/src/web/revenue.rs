//! Revenue: MRR movements per month (new, expansion, contraction, churn, reactivation),
//! NRR and GRR over the trailing twelve months, logo churn per month; by segment; the NRR
//! bridge of the last whole quarters by LAER phase and by CSM.
//! The definitions are those of docs/metrics.md, `laer report mrr` and `laer report
//! nrr-bridge`.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use laer_core::Money;
use laer_core::access::Permission;
use laer_core::bridge::{Grouping, QuarterBridge, quarter_bridges, report_quarters};
use laer_core::model::TeamRole;
use laer_core::reports::{MonthWithTrailing, months_with_trailing, movements_by_segment, trailing_year};
use laer_core::retention::{Period, RevenueLine};
use maud::html;

use super::{CurrentUser, Nav, PageError, csv_response, figure, layout, money, percent, require, today};
use crate::AppState;
use laer_charts::{Color, LineChart, Series as ChartSeries, StackedBarChart, ValueFormat};

const MONTHS: u32 = 24;

/// The page's months: laer_core::reports::months_with_trailing over [`MONTHS`].
type Month = MonthWithTrailing;

fn months(lines: &[RevenueLine], today: NaiveDate) -> Vec<Month> {
    months_with_trailing(lines, today, MONTHS)
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
    let lines = state.cache.revenue_lines(&state.store, today).await?;
    let months = months(&lines, today);
    let labels: Vec<String> = months.iter().map(|m| label(&m.period)).collect();
    let movements = StackedBarChart::new(labels.clone(), ValueFormat::Money)
        .component(ChartSeries::new("New", months.iter().map(|m| units(m.movements.new))).color(Color::BLUISH_GREEN))
        .component(
            ChartSeries::new("Expansion", months.iter().map(|m| units(m.movements.expansion))).color(Color::BLUE),
        )
        .component(
            ChartSeries::new("Reactivation", months.iter().map(|m| units(m.movements.reactivation)))
                .color(Color::SKY_BLUE),
        )
        .component(
            ChartSeries::new("Contraction", months.iter().map(|m| -units(m.movements.contraction)))
                .color(Color::ORANGE),
        )
        .component(ChartSeries::new("Churn", months.iter().map(|m| -units(m.movements.churn))).color(Color::VERMILLION))
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

    let segments = state.store.account_attribute("segment").await?.unwrap_or_default();
    let by_segment = segment_table(&lines, &segments, months.last().map(|m| trailing_year(&m.period)));
    let quarters = report_quarters(None, None, today);
    let phases = state
        .cache
        .quarter_phases(&state.store, &state.health_model, &quarters, today)
        .await?;
    let by_phase = quarter_bridges(&lines, &quarters, Grouping::Phase(&phases));
    let coverage = state.cache.csm_coverage(&state.store, today).await?;
    let by_csm = quarter_bridges(&lines, &quarters, Grouping::Owner(TeamRole::Csm, &coverage));
    let latest = months.last();
    let body = html! {
        div.page-head {
            h1 { "Revenue" }
            @if let Some(m) = latest {
                p.muted { "MRR " (money(m.movements.end)) " on " (m.period.to) " · ARR " (money(m.movements.end.times(12)))
                    " · NRR " (percent(m.trailing.net_revenue_retention())) " · GRR " (percent(m.trailing.gross_revenue_retention())) " over the last 12 months" }
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
            "Each account in its LAER phase on the quarter's first day: accounts not yet landed count in land, those that had left in churned.",
            &by_phase))
        (bridge_section("NRR bridge by owner (CSM)", "bridge-csm",
            "Each account under its CSM on the quarter's first day; an account new or back in the quarter under its CSM on the day it began.",
            &by_csm))
    };
    Ok(layout("Revenue", Some(Nav::Revenue), &user, body).into_response())
}

fn movement_table(months: &[Month]) -> maud::Markup {
    html! {
        table.data {
            thead { tr { th { "Month" } th.num { "Start" } th.num { "New" } th.num { "Expansion" } th.num { "Reactivation" } th.num { "Contraction" } th.num { "Churn" } th.num { "End" } } }
            tbody {
                @for m in months {
                    @let v = &m.movements;
                    tr { td { (label(&m.period)) } td.num { (money(v.start)) } td.num { (money(v.new)) } td.num { (money(v.expansion)) }
                         td.num { (money(v.reactivation)) } td.num { (money(v.contraction)) } td.num { (money(v.churn)) } td.num { (money(v.end)) } }
                }
            }
        }
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
    format!("{}: MRR on {} to MRR on {}", q.quarter, q.start, q.end)
}

fn bridge_table(q: &QuarterBridge) -> maud::Markup {
    let row = |group: maud::Markup, f: &laer_core::bridge::BridgeFigures| {
        html! {
            td { (group) } td.num { (money(f.start_mrr)) } td.num { (money(f.new)) } td.num { (money(f.expansion)) }
            td.num { (money(f.contraction)) } td.num { (money(f.churn)) } td.num { (money(f.reactivation)) }
            td.num { (money(f.end_mrr)) } td.num { (percent(f.nrr)) } td.num { (percent(f.grr)) }
        }
    };
    html! {
        table.data.bridge {
            thead { tr { th { @if q.by == "phase" { "Phase" } @else { "Owner" } } th.num { "Start MRR" } th.num { "New" } th.num { "Expansion" }
                th.num { "Contraction" } th.num { "Churn" } th.num { "Reactivation" } th.num { "End MRR" } th.num { "NRR" } th.num { "GRR" } } }
            tbody {
                @for g in &q.groups {
                    tr { (row(html! {
                        @if q.by == "phase" { span class={"badge phase-" (g.group)} { (g.group) } }
                        @else if g.team_member.is_none() { span.muted { (g.group) } }
                        @else { (g.group) }
                    }, &g.figures)) }
                }
            }
            tfoot { tr.total { (row(html! { "Total" }, &q.total)) } }
        }
    }
}

fn segment_table(lines: &[RevenueLine], segments: &HashMap<i64, String>, period: Option<Period>) -> maud::Markup {
    let Some(period) = period else {
        return html! { p { "No revenue yet." } };
    };
    html! {
        table.data #segments {
            thead { tr { th { "Segment" } th.num { "MRR a year ago" } th.num { "MRR now" } th.num { "New" } th.num { "Expansion" } th.num { "Contraction" } th.num { "Churn" } th.num { "NRR" } th.num { "GRR" } } }
            tbody {
                @for (name, m) in movements_by_segment(lines, segments, period) {
                    tr { td { (name.as_deref().unwrap_or("(none)")) } td.num { (money(m.start)) } td.num { (money(m.end)) } td.num { (money(m.new)) }
                         td.num { (money(m.expansion)) } td.num { (money(m.contraction)) } td.num { (money(m.churn)) }
                         td.num { (percent(m.net_revenue_retention())) } td.num { (percent(m.gross_revenue_retention())) } }
                }
            }
        }
    }
}

pub(crate) async fn csv(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ViewRevenue)?;
    let lines = state.cache.revenue_lines(&state.store, today()).await?;
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
        ]
        .map(String::from)
        .to_vec(),
    ];
    let ratio = |r: Option<f64>| r.map(|r| format!("{r:.4}")).unwrap_or_default();
    for m in months(&lines, today()) {
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
        ]);
    }
    Ok(csv_response("revenue.csv", rows))
}
