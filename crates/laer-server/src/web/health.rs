//! Health on the web pages: the score badge the lists show, the account page's health
//! panel (score, quadrant, phase and why, pillars, drivers, what moved since last week,
//! trend, the model's measured accuracy), and setting the phase by hand.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeDelta};
use laer_core::access::Permission;
use laer_core::health::inputs::signal_label;
use laer_core::lifecycle::Phase;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::CsrfForm;
use super::{CurrentUser, PageError, figure, require};
use crate::AppState;
use laer_app::health::AccountHealthNow;
use laer_charts::{Color, LineChart, Series, ValueFormat};

/// How far back the account page's health trend looks.
const TREND_DAYS: i64 = 182;

/// The band of a score: at least 70 good, under 40 poor.
fn band(score: f64) -> &'static str {
    if score >= 70.0 {
        "good"
    } else if score >= 40.0 {
        "fair"
    } else {
        "poor"
    }
}

/// A score as a coloured figure; "–" without one.
pub(crate) fn figure_of(score: Option<f64>) -> Markup {
    match score {
        Some(s) => html! { strong class={"score-" (band(s))} { (format!("{s:.0}")) } },
        None => html! { strong.muted { "–" } },
    }
}

/// A score as a coloured badge; "–" without one.
pub(crate) fn badge(score: Option<f64>, title: &str) -> Markup {
    match score {
        Some(s) => html! { span class={"badge health-" (band(s))} title=(title) { (format!("{s:.0}")) } },
        None => html! { span.muted title="not enough data to score" { "–" } },
    }
}

fn label(measure: &str) -> String {
    signal_label(measure).unwrap_or_else(|| measure.to_string())
}

fn value(measure: &str, v: f64) -> String {
    let share = [
        "utilisation",
        "breadth",
        "spread",
        "how_to_share",
        "cadence_kept",
        "outcomes_on_track",
    ];
    let change = measure.ends_with("_change") || measure == "outcome_progress";
    if share.contains(&measure) || change {
        let sign = if change && v > 0.0 { "+" } else { "" };
        format!("{sign}{:.0}%", v * 100.0)
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The store's view of the model's accuracy, as a sentence.
pub(crate) struct Accuracy {
    pub auc: Option<f64>,
    pub lift: Option<f64>,
    pub observations: Option<u64>,
    pub computed: NaiveDate,
}

/// The health panel of the account page.
pub(crate) fn panel(
    now: &AccountHealthNow,
    history: &[(NaiveDate, Option<f64>)],
    accuracy: Option<&Accuracy>,
    set_by_hand: Option<&laer_store::PhaseOverride>,
    user: &CurrentUser,
    account_id: i64,
) -> Markup {
    let h = &now.health;
    let mut drivers: Vec<&laer_app::health::DriverOut> = h.drivers.iter().collect();
    // What costs the most points first: where the account can gain.
    drivers.sort_by(|a, b| (b.possible - b.contribution).total_cmp(&(a.possible - a.contribution)));
    let pillars = [
        ("Adoption", h.pillars.adoption),
        ("Experience", h.pillars.experience),
        ("Engagement", h.pillars.engagement),
        ("Transformation", h.pillars.transformation),
    ];
    html! {
        section.card #health {
            h2 { "Health" }
            div.health-head {
                div.health-score {
                    (badge(h.exact, "0–100"))
                    @if let Some(before) = now.week_before {
                        @if let Some(s) = h.exact {
                            @let delta = s - before;
                            @if delta.abs() < 0.5 {
                                span.flat { " unchanged since last week" }
                            } @else {
                                span class=(if delta > 0.0 { "up" } else { "down" }) { (format!(" {delta:+.0}")) " since last week" }
                            }
                        }
                    }
                }
                div {
                    p { "Phase: " span class={"badge phase-" (h.phase.as_str())} { (h.phase.as_str()) } " — " (h.phase_reason) }
                    @if let Some(q) = h.quadrant { p { "Quadrant: " strong { (q.label()) } " (experience × transformation)" } }
                    @if h.engagement_multiplier < 0.999 {
                        p.muted { "Engagement multiplies the other pillars by " (format!("{:.2}", h.engagement_multiplier)) "." }
                    }
                    p.muted #accuracy {
                        @match accuracy {
                            Some(a) => {
                                "Model accuracy on this history: AUC " (a.auc.map_or("–".into(), |x| format!("{x:.2}")))
                                ", riskiest tenth churns " (a.lift.map_or("–".into(), |x| format!("{x:.1}×")))
                                " as often as average"
                                @if let Some(n) = a.observations { " (" (n) " replayed accounts, " (a.computed) ")" }
                                "."
                            }
                            None => { "Model accuracy: not measured yet (laer report health-validation)." }
                        }
                    }
                }
            }
            div.pillars {
                @for (name, score) in pillars {
                    div.pillar {
                        span { (name) }
                        @match score {
                            Some(s) => {
                                // An SVG bar: the CSP allows no inline styles.
                                svg.bar viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true" {
                                    rect.track width="100" height="8" {}
                                    rect class={"fill health-" (band(s))} width=(format!("{:.0}", s.clamp(0.0, 100.0))) height="8" {}
                                }
                                strong { (format!("{s:.0}")) }
                            }
                            None => { small.muted { "no data" } }
                        }
                    }
                }
            }
            div.grid2 {
                @if !history.is_empty() { (trend(history)) }
                div {
                    @if !now.changes.is_empty() {
                        h3 { "Since last week" }
                        ul #changes { @for c in now.changes.iter().take(6) {
                            li {
                                span class=(if c.points > 0.0 { "up" } else { "down" }) { (format!("{:+.1}", c.points)) " points" }
                                " " (label(&c.measure)) ": "
                                (c.before.map_or("–".into(), |v| value(&c.measure, v))) " → " (c.now.map_or("–".into(), |v| value(&c.measure, v)))
                            }
                        } }
                    }
                    @if now.changes.is_empty() { h3 { "Since last week" } p.muted { "No measure moved." } }
                }
            }
            h3 { "Drivers" }
            p.muted { "Each measure's score (0–100) and the points it brings; the points add up to the health score. Largest gap first." }
            table.data #drivers {
                thead { tr { th { "Measure" } th { "Pillar" } th.num { "Value" } th.num { "Score" } th.num { "Points" } th.num { "Of" } } }
                tbody { @for d in &drivers { tr {
                    td { (label(&d.measure)) } td { (d.pillar.as_str()) } td.num { (value(&d.measure, d.value)) }
                    td.num { (format!("{:.0}", d.score)) } td.num { (format!("{:.1}", d.contribution)) } td.num { (format!("{:.1}", d.possible)) }
                } } }
            }
            @if let Some(o) = set_by_hand {
                p.note { "Phase set by hand to " strong { (o.phase.as_str()) } " by " (o.set_by) " on " (o.set_at.date_naive()) ": " (o.reason) }
            }
            @if let Err(refusal) = user.role.may(Permission::SetPhase, None) {
                (super::rights::note(&refusal))
            } @else {
                details {
                    summary { "Set the phase by hand" }
                    form.inline method="post" action={"/accounts/" (account_id) "/phase"} {
                        input type="hidden" name="csrf" value=(user.csrf_token);
                        label { "Phase"
                            select name="phase" {
                                option value="auto" selected[set_by_hand.is_none()] { "by the rules" }
                                @for p in Phase::ALL { option value=(p.as_str()) selected[set_by_hand.is_some_and(|o| o.phase == *p)] { (p.as_str()) } }
                            }
                        }
                        label { "Why" input type="text" name="reason" required maxlength="500" placeholder="kept in the audit log"; }
                        button type="submit" { "Set" }
                    }
                }
            }
        }
    }
}

fn trend(history: &[(NaiveDate, Option<f64>)]) -> Markup {
    let svg = LineChart::new(history.iter().map(|(d, _)| d.to_string()), ValueFormat::Count)
        .series(Series::new("Health", history.iter().map(|(_, s)| *s)).color(Color::BLUE))
        .to_svg();
    figure(
        "Health over time",
        svg,
        html! {
            table.data { thead { tr { th { "Day" } th.num { "Health" } } }
                tbody { @for (d, s) in history { tr { td { (d) } td.num { (s.map_or("–".into(), |s| format!("{s:.1}"))) } } } } }
        },
        None,
    )
}

/// The kept health of the last [`TREND_DAYS`], one point per day kept.
pub(crate) async fn history(
    state: &AppState,
    account_id: i64,
    today: NaiveDate,
) -> Result<Vec<(NaiveDate, Option<f64>)>, laer_store::StoreError> {
    Ok(state
        .store
        .health_history(account_id, today - TimeDelta::days(TREND_DAYS), today)
        .await?
        .into_iter()
        .map(|h| (h.day, h.score))
        .collect())
}

/// The latest validation of the model in effect.
pub(crate) async fn accuracy(state: &AppState) -> Result<Option<Accuracy>, laer_store::StoreError> {
    Ok(
        laer_app::health::latest_validation(&state.store, &state.health_model.name)
            .await?
            .map(|(at, report)| Accuracy {
                auc: report.auc,
                lift: report.top_decile_lift,
                observations: report.observations,
                computed: at.date_naive(),
            }),
    )
}

#[derive(Deserialize)]
pub(crate) struct PhaseForm {
    phase: String,
    reason: Option<String>,
}

/// `POST /accounts/{id}/phase`: sets the phase by hand (or back to the rules), audited.
pub(crate) async fn set_phase(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<PhaseForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::SetPhase)?;
    if state.store.account(id).await?.is_none() {
        return Err(PageError::NotFound(format!("account {id}")));
    }
    let phase = match form.phase.trim() {
        "auto" => None,
        other => Some(
            other
                .parse::<Phase>()
                .map_err(|e| PageError::BadRequest(format!("phase: {e}")))?,
        ),
    };
    let reason = form.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(PageError::BadRequest(
            "Say why the phase changes: it goes to the audit log.".into(),
        ));
    }
    laer_core::parse::bounded(reason, laer_core::parse::MAX_TEXT_CHARS)
        .map_err(|message| PageError::BadRequest(format!("Why: {message}.")))?;
    let actor = user.actor();
    state.store.set_phase(id, phase, reason, &actor).await?;
    // The page computes health on request, so it shows the new phase at once.
    Ok(Redirect::to(&format!("/accounts/{id}#health")).into_response())
}
