//! Retention curves (issue 19, item 4): how long accounts stay, by cohort, segment or
//! plan — Kaplan–Meier survival with its 95 % band, the share of starting revenue still a
//! customer, and each cohort's sBG projection. The figures are `laer report survival`'s
//! (docs/metrics.md#report-laer-report-survival-retention-curves), with a CSV of them.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use laer_app::reports::SurvivalReport;
use laer_charts::{Color, LineChart, Series, ValueFormat};
use laer_core::access::Permission;
use laer_core::survival::{CurveBy, HazardModel, SurvivalCurve};
use maud::{Markup, html};

use super::{CurrentUser, Nav, PageError, csv_response, figure, layout, require, today};
use crate::AppState;

const PATH: &str = "/retention";
/// Months the page reads the curves to.
const MONTHS: u32 = 36;
/// Curves drawn at most (the largest groups); the table has every one.
const DRAWN: usize = 8;
/// The months the table shows.
const MARKS: [u32; 5] = [3, 6, 12, 24, 36];

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct RetentionParams {
    by: Option<String>,
}

fn by_of(params: &RetentionParams) -> Result<CurveBy, PageError> {
    match params.by.as_deref() {
        None => Ok(CurveBy::Cohort),
        Some(by) => by.parse().map_err(PageError::BadRequest),
    }
}

fn by_name(by: CurveBy) -> &'static str {
    match by {
        CurveBy::All => "all",
        CurveBy::Cohort => "cohort",
        CurveBy::Segment => "segment",
        CurveBy::Plan => "plan",
    }
}

async fn report(state: &AppState, user: &CurrentUser, params: &RetentionParams) -> Result<SurvivalReport, PageError> {
    require(user, Permission::ViewRevenue)?;
    let by = by_of(params)?;
    Ok(laer_app::reports::survival(&state.store, &state.health_model.name, by, MONTHS, today()).await?)
}

/// A hazard model's ratios, each with its 95 % interval; `what` heads the covariates.
fn hazard_table(what: &str, h: &HazardModel) -> Markup {
    html! {
        table.data {
            thead { tr { th { (what) } th.num { "Hazard ratio" } th.num { "95% interval" } } }
            tbody { @for r in &h.ratios { tr {
                td { (r.covariate) }
                td.num { (format!("×{:.2}", r.hazard_ratio)) }
                td.num { (format!("{:.2}–{:.2}", r.lower, r.upper)) }
            } } }
        }
    }
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// The drawn groups: the largest, by accounts.
fn drawn(curves: &[SurvivalCurve]) -> Vec<&SurvivalCurve> {
    let mut by_size: Vec<&SurvivalCurve> = curves.iter().collect();
    by_size.sort_by(|a, b| b.accounts.cmp(&a.accounts).then(a.group.cmp(&b.group)));
    by_size.truncate(DRAWN);
    by_size.sort_by(|a, b| a.group.cmp(&b.group));
    by_size
}

fn survival_chart(report: &SurvivalReport) -> Markup {
    let labels: Vec<String> = (0..=report.months).map(|m| format!("month {m}")).collect();
    let value = |c: &SurvivalCurve, m: u32, f: fn(&laer_core::survival::CurvePoint) -> f64| {
        c.points.iter().find(|p| p.month == m).map(f)
    };
    let mut chart = LineChart::new(labels, ValueFormat::Percent).range(0.0, 1.0);
    let shown = drawn(&report.curves);
    if let [only] = shown.as_slice() {
        // One curve: its band and its revenue beside it.
        let months = 0..=report.months;
        chart = chart
            .series(Series::new("Accounts", months.clone().map(|m| value(only, m, |p| p.survival))).color(Color::BLUE))
            .series(
                Series::new("95% band, low", months.clone().map(|m| value(only, m, |p| p.lower)))
                    .color(Color::SKY_BLUE),
            )
            .series(
                Series::new("95% band, high", months.clone().map(|m| value(only, m, |p| p.upper)))
                    .color(Color::SKY_BLUE),
            )
            .series(
                Series::new("Starting revenue", months.map(|m| value(only, m, |p| p.revenue)))
                    .color(Color::BLUISH_GREEN),
            );
    } else {
        for c in &shown {
            chart = chart.series(Series::new(
                format!("{} ({})", c.group, c.accounts),
                (0..=report.months).map(|m| value(c, m, |p| p.survival)),
            ));
        }
    }
    let caption = if shown.len() < report.curves.len() {
        format!(
            "Accounts still customers, month by month: the {} largest groups",
            shown.len()
        )
    } else {
        "Accounts still customers, month by month".to_string()
    };
    figure(
        &caption,
        chart.size(1100, 380).to_svg(),
        monthly(report, &shown),
        Some(&format!("{PATH}.csv?by={}", by_name(report.by))),
    )
}

/// The drawn curves month by month: the chart's figures.
fn monthly(report: &SurvivalReport, shown: &[&SurvivalCurve]) -> Markup {
    html! {
        table.data {
            thead { tr { th { "Month" } @for c in shown { th.num { (c.group) } } } }
            tbody { @for m in 0..=report.months { tr {
                td { (m) }
                @for c in shown {
                    td.num { (c.points.iter().find(|p| p.month == m).map_or("–".into(), |p| pct(p.survival))) }
                }
            } } }
        }
    }
}

fn table(report: &SurvivalReport) -> Markup {
    fn at(c: &SurvivalCurve, m: u32) -> Option<&laer_core::survival::CurvePoint> {
        c.points.iter().find(|p| p.month == m)
    }
    html! {
        table.data #curves {
            thead { tr {
                th { "Group" } th.num { "Accounts" } th.num { "Ended" }
                @for m in MARKS { th.num { "Month " (m) } }
                th.num { "Revenue, month 12" }
                @if report.by == CurveBy::Cohort { th.num { "Projected: 1 year" } th.num { "3 years" } }
            } }
            tbody { @for c in &report.curves { tr {
                td { (c.group) } td.num { (c.accounts) } td.num { (c.ended) }
                @for m in MARKS {
                    td.num { @match at(c, m) {
                        Some(p) => { (pct(p.survival)) br; small.muted { (pct(p.lower)) "–" (pct(p.upper)) } }
                        None => { span.muted { "–" } }
                    } }
                }
                td.num { @match at(c, 12) { Some(p) => { (pct(p.revenue)) } None => { span.muted { "–" } } } }
                @if report.by == CurveBy::Cohort {
                    @match &c.projection {
                        Some(p) => {
                            td.num title={"sBG: alpha " (format!("{:.3}", p.alpha)) ", beta " (format!("{:.3}", p.beta)) ", fitted on " (p.observed_periods) " quarters"} {
                                (p.survival.get(3).map_or("–".into(), |s| pct(*s)))
                            }
                            td.num { (p.survival.get(11).map_or("–".into(), |s| pct(*s))) }
                        }
                        None => { td.num { span.muted { "–" } } td.num { span.muted { "–" } } }
                    }
                }
            } } }
        }
    }
}

/// `GET /retention[?by=cohort|segment|plan|all]`.
pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<RetentionParams>,
) -> Result<Response, PageError> {
    let report = report(&state, &user, &params).await?;
    let choices = [CurveBy::Cohort, CurveBy::Segment, CurveBy::Plan, CurveBy::All];
    let body = html! {
        div.page-head {
            h1 { "Retention curves" }
            p.muted {
                "How long accounts stay: the share still customers month by month since each one started (Kaplan–Meier, with its 95% band), and the share of their starting revenue. Accounts still customers on " (report.known_until) ", the data's last known day, count until then and no further. "
                a href="/revenue" { "Revenue" } " has the month-by-month movements and the NRR bridge."
            }
            nav.tabs aria-label="Group by" {
                @for by in choices {
                    a href={(PATH) "?by=" (by_name(by))} aria-current=[(by == report.by).then_some("page")] class=@if by == report.by { "active" } {
                        @match by { CurveBy::Cohort => "By cohort", CurveBy::Segment => "By segment", CurveBy::Plan => "By plan", CurveBy::All => "All accounts" }
                    }
                }
            }
        }
        @if report.curves.is_empty() {
            p.muted #no-curves { "No account has a contract yet: curves begin with the first subscription line." }
        } @else {
            (survival_chart(&report))
            section.card #summary {
                h2 { "Each group" }
                p.muted { "The share still customers at each month, its 95% band below it; the share of starting revenue at month 12." }
                (table(&report))
            }
            section.card #hazards {
                h2 { "What a start makes of the chance of leaving" }
                @match (&report.hazards, &report.hazards_note) {
                    (Some(h), _) => {
                        p.muted {
                            "A Cox proportional-hazards model over all " (h.accounts) " accounts (" (h.ended) " ended): how much each plan, segment and doubling of starting MRR multiplies the chance of leaving at any time, against " (h.reference) ", with its 95% interval. Above 1 leaves sooner; an interval across 1 is not told apart from no effect."
                        }
                        (hazard_table("Compared", h))
                    }
                    (None, Some(why)) => { p.muted { "No hazard ratios yet: " (why) "." } }
                    (None, None) => {}
                }
            }
            section.card #health-hazards {
                h2 { "What health makes of the chance of leaving" }
                @match (&report.health_hazards, &report.health_hazards_note) {
                    (Some(h), _) => {
                        p.muted {
                            "A Cox proportional-hazards model with health as it changed: every account, month by month over the health model's last validation ("
                            (h.accounts) " accounts, " (h.ended) " times one left), with its pillar scores at each month's start. How each 10 points of a pillar's score multiply the chance of leaving at any time, against " (h.reference) ", with the 95% interval. Below 1: the healthier stay longer."
                        }
                        (hazard_table("Per 10 points of", h))
                    }
                    (None, Some(why)) => { p.muted { "No hazard ratios yet: " (why) "." } }
                    (None, None) => {}
                }
            }
            @if report.by == CurveBy::Cohort {
                p.muted #projection-note {
                    "Projected: the shifted-beta-geometric model (Fader & Hardie, 2007) fitted to each cohort's quarters observed so far — each customer renews each quarter with a chance of their own, and those likeliest to leave go first — for cohorts of 20 accounts or more that lost 3 or more."
                }
            }
        }
    };
    Ok(layout("Retention curves", Some(Nav::Revenue), &user, body).into_response())
}

/// `GET /retention.csv[?by=…]`: the curves as CSV, month by month.
pub(crate) async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<RetentionParams>,
) -> Result<Response, PageError> {
    let report = report(&state, &user, &params).await?;
    Ok(csv_response("retention-curves.csv", report.csv_rows()))
}
