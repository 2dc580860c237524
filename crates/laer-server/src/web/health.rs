//! Health on the web pages: the score badge the lists show, the account page's health
//! panel (score, quadrant, phase and why, pillars, drivers, what moved since last week,
//! trend, the model's measured accuracy), and setting the phase by hand.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeDelta};
use laer_core::access::Permission;
use laer_core::attention::{Attention, Urgency};
use laer_core::health::inputs::signal_label;
use laer_core::health::validation::ValidationReport;
use laer_core::lifecycle::Phase;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::CsrfForm;
use super::{CurrentUser, PageError, figure, require};
use crate::AppState;
use laer_app::health::AccountHealthNow;
use laer_charts::{Band, Color, LineChart, Series, ValueFormat};

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

/// A score as a figure coloured by how urgent its risk is; "–" without one.
pub(crate) fn figure_of(score: Option<f64>, attention: &Attention) -> Markup {
    match (score, attention.urgency(score)) {
        (Some(s), Some(u)) => {
            html! { strong class={"score-" (urgency_band(u))} title=(risk_title(attention, score)) { (format!("{s:.0}")) } }
        }
        _ => html! { strong.muted { "–" } },
    }
}

/// The colour of an urgency: red only for urgent risk (issue 16).
fn urgency_band(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::Urgent => "poor",
        Urgency::Watch => "fair",
        Urgency::Steady => "good",
    }
}

/// What a score's colour means, for its title: "Urgent: accounts scoring 31 churned or
/// downsold within 90 days 31% of the time (usual 12%)".
pub(crate) fn risk_title(attention: &Attention, score: Option<f64>) -> String {
    let Some(urgency) = attention.urgency(score) else {
        return "not enough data to score".into();
    };
    match (&attention.scale, score) {
        (Some(scale), Some(s)) => format!(
            "{}: accounts scoring {s:.0} churned or downsold within 90 days {:.0}% of the time (usual {:.0}%)",
            urgency.label(),
            scale.calibration.churn_probability(s) * 100.0,
            scale.base_rate * 100.0
        ),
        _ => format!(
            "{}: health 0–100, by score until the model is validated here",
            urgency.label()
        ),
    }
}

/// A score as a badge coloured by how urgent its risk is ([`Attention::urgency`]); "–"
/// without one.
pub(crate) fn badge(score: Option<f64>, attention: &Attention) -> Markup {
    match (score, attention.urgency(score)) {
        (Some(s), Some(u)) => html! {
            span class={"badge health-" (urgency_band(u))} title=(risk_title(attention, score)) {
                (format!("{s:.0}")) span.visually-hidden { " (" (u.label()) ")" }
            }
        },
        _ => html! { span.muted title="not enough data to score" { "–" } },
    }
}

/// The colours of risk without the open work: for one account's page.
pub(crate) fn scale_only(accuracy: Option<&Accuracy>) -> Attention {
    Attention {
        scale: accuracy.and_then(|a| a.scale),
        churn: Some(churn_model(accuracy)),
        ..Attention::default()
    }
}

/// The churn forecast learned with the latest validation, else the shipped one.
pub(crate) fn churn_model(accuracy: Option<&Accuracy>) -> laer_core::forecast::churn::ChurnModel {
    accuracy.map_or_else(laer_app::health::not_validated_yet, |a| a.churn.clone())
}

/// Everything the lists rank and colour accounts by: the risk scale of the model's latest
/// validation here, and each account's open work today.
pub(crate) async fn attention(state: &AppState, today: NaiveDate) -> Result<Attention, laer_store::StoreError> {
    Ok(attention_and_backtest(state, today).await?.0)
}

/// [`attention`], and the renewal forecast replayed over past quarters with the same
/// validation (none before one): the renewals page reads the validation once.
pub(crate) async fn attention_and_backtest(
    state: &AppState,
    today: NaiveDate,
) -> Result<(Attention, Option<laer_core::forecast::renewal::Backtest>), laer_store::StoreError> {
    let (accuracy, work) = tokio::try_join!(accuracy(state), state.store.open_work(today))?;
    let attention = Attention {
        scale: accuracy.as_ref().and_then(|a| a.scale),
        work,
        churn: Some(churn_model(accuracy.as_ref())),
    };
    Ok((attention, accuracy.and_then(|a| a.backtest)))
}

fn label(measure: &str) -> String {
    signal_label(measure).unwrap_or_else(|| measure.to_string())
}

/// A measure's plain name ("Seats in use"), else its label.
fn plain_name(measure: &str) -> String {
    laer_core::health::words::plain_of(measure).map_or_else(|| label(measure), |p| p.name.to_string())
}

/// The quadrant's threshold in words, for its explanation.
const QUADRANT_NOTE: &str = "the model's threshold";

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

/// What the pages take from the model's latest validation here.
pub(crate) struct Accuracy {
    /// The risk scale of the report, when it has one.
    pub scale: Option<laer_core::attention::RiskScale>,
    /// The churn forecast learned with it (the shipped one when the history was short).
    pub churn: laer_core::forecast::churn::ChurnModel,
    /// The renewal forecast replayed over past quarters with it.
    pub backtest: Option<laer_core::forecast::renewal::Backtest>,
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
                    (badge(h.exact, &scale_only(accuracy)))
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
                    @if let Some(q) = h.quadrant {
                        p #quadrant {
                            "Quadrant: " strong { (q.label()) } " — " (q.explain())
                            " " span.muted.small { "(placed by experience and transformation, each high at " (QUADRANT_NOTE) ")" }
                        }
                    }
                    @if h.engagement_multiplier < 0.999 {
                        p.muted { "Engagement multiplies the other pillars by " (format!("{:.2}", h.engagement_multiplier)) "." }
                    }
                    // The model's statistics live on the model page (issue 16).
                    @if user.role.can(Permission::ViewAudit) {
                        p.muted.small { a href="/health/model" { "How well the health model predicts churn here" } }
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
                @if !history.is_empty() { (trend(history, accuracy.and_then(|a| a.scale.as_ref()))) }
                div {
                    @if !now.changes.is_empty() {
                        h3 { "Since last week" }
                        ul #changes { @for c in now.changes.iter().take(6) {
                            li {
                                span class=(if c.points > 0.0 { "up" } else { "down" }) { (format!("{:+.1}", c.points)) " points" }
                                " " (plain_name(&c.measure)) ": "
                                (c.before.map_or("–".into(), |v| value(&c.measure, v))) " → " (c.now.map_or("–".into(), |v| value(&c.measure, v)))
                            }
                        } }
                    }
                    @if now.changes.is_empty() { h3 { "Since last week" } p.muted { "No measure moved." } }
                }
            }
            h3 { "What holds it down, and what to do" }
            p.muted { "Each measure's score (0–100) and the points it brings; the points add up to the health score. The measures that cost the most points first." }
            table.data #drivers {
                thead { tr { th { "Measure" } th { "Now" } th.num { "Points" } th.num { "Of" } th { "What a CSM can do" } } }
                tbody { @for (i, d) in drivers.iter().enumerate() { tr {
                    td { (plain_name(&d.measure)) br; span.muted.small { (d.pillar.as_str()) } }
                    td { (laer_core::health::words::in_words(&d.measure, d.value)) }
                    td.num { (format!("{:.1}", d.contribution)) } td.num { (format!("{:.1}", d.possible)) }
                    td.small { @if i < 5 && d.possible - d.contribution >= 0.5 {
                        (laer_core::health::words::plain_of(&d.measure).map_or("", |p| p.advice))
                    } }
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

/// Health over time on a fixed 0–100 axis, its urgency bands shaded (red, amber, green by
/// the model's calibrated risk here, [`laer_core::attention::thresholds`]).
fn trend(history: &[(NaiveDate, Option<f64>)], scale: Option<&laer_core::attention::RiskScale>) -> Markup {
    let (urgent, watch) = laer_core::attention::thresholds(scale);
    let band = |from: f64, to: f64, color: Color, name: &str| Band {
        from,
        to,
        color,
        name: name.into(),
    };
    let svg = LineChart::new(history.iter().map(|(d, _)| d.to_string()), ValueFormat::Count)
        .range(0.0, 100.0)
        .band(band(0.0, urgent, Color::VERMILLION, "urgent"))
        .band(band(urgent, watch, Color::ORANGE, "watch"))
        .band(band(watch, 100.0, Color::BLUISH_GREEN, "steady"))
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
            .map(|(_, report)| Accuracy {
                scale: report.risk_scale(),
                churn: report.churn_model(),
                backtest: report.renewal_backtest,
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

/// `GET /health/model`: how well the health model in use predicts churn on this history,
/// for admins and leaders (those who read the audit log): the figures of its latest
/// validation, what the colours mean in risk, calibration, accuracy per replayed day and
/// each signal's own power (docs/health.md).
pub(crate) async fn model_page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ViewAudit)?;
    let model = &state.health_model;
    let stored = state.store.validation_of(&model.name).await?;
    let report: Option<(chrono::DateTime<chrono::Utc>, ValidationReport)> = match stored {
        Some(v) => Some((
            v.computed_at,
            serde_json::from_value(v.report).map_err(|e| PageError::Internal(format!("the stored validation: {e}")))?,
        )),
        None => None,
    };
    let pct = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format!("{:.1}%", x * 100.0));
    let body = html! {
        div.page-head {
            h1 { "Health model: “" (model.name) "”" }
            p.muted { "How well it predicts churn and downsell on this workspace's own history, replayed (docs/health.md)." }
        }
        @match &report {
            None => {
                section.card { p { "Not validated yet. The server validates the model in use when it starts and each day; "
                    code { "laer report health-validation" } " does it now." } }
            }
            Some((at, r)) => {
                div.kpis {
                    div.kpi { span { "AUC" } strong { (r.auc.map_or("–".into(), |x| format!("{x:.2}"))) } }
                    div.kpi { span { "Riskiest tenth churns" } strong { (r.top_decile_lift.map_or("–".into(), |x| format!("{x:.1}×"))) } }
                    div.kpi { span { "Usual risk, " (r.horizon_days) " days" } strong { (pct(r.churn_rate)) } }
                    div.kpi { span { "Replayed accounts" } strong { (r.observations) } }
                }
                section.card {
                    h2 { "What the figures mean" }
                    p { "AUC is the chance that an account that churned or downsold within " (r.horizon_days)
                        " days scored lower than one that did not: 0.5 is a coin, 1 is perfect. The riskiest tenth "
                        "(the lowest scores) churned " (r.top_decile_lift.map_or("–".into(), |x| format!("{x:.1}")))
                        " times as often as the average account. Validated " (at.format("%Y-%m-%d %H:%M")) " UTC on "
                        (r.observations) " account-days, " (r.scored) " of them scored." }
                    @if let Some(scale) = laer_core::attention::RiskScale::new(r.risk_curve, r.churn_rate) {
                        p #colours { "The colours: red when the chance of churn or downsell is at least twice the usual "
                            (pct(Some(scale.base_rate))) ", amber when above it. "
                            @let (urgent, watch) = laer_core::attention::thresholds(Some(&scale));
                            "With this model, red is a score under " (format!("{urgent:.0}")) ", amber under " (format!("{watch:.0}")) "." }
                    }
                }
                section.card {
                    h2 { "Calibration" }
                    p.muted { "Predicted chance against what happened, by bins of the prediction ("
                        (match r.calibration_source { laer_core::health::validation::CalibrationSource::Model => "the model's own calibration", laer_core::health::validation::CalibrationSource::Replay => "fitted on this replay" }) ")." }
                    table.data #calibration {
                        thead { tr { th { "Predicted" } th.num { "Accounts" } th.num { "Mean predicted" } th.num { "Observed" } } }
                        tbody { @for b in r.calibration.iter().filter(|b| b.count > 0) { tr {
                            td { (format!("{:.0}–{:.0}%", b.from * 100.0, b.to * 100.0)) } td.num { (b.count) }
                            td.num { (pct(b.mean_predicted)) } td.num { (pct(b.observed_rate)) }
                        } } }
                    }
                }
                (super::forecast::model_section(r.forecast.as_ref()))
                section.card {
                    h2 { "Each signal on its own" }
                    p.muted { "How well each signal alone ranked the same accounts (its AUC; the distance from 0.5 is its strength), and the share of accounts that have it." }
                    table.data #signals {
                        thead { tr { th { "Signal" } th.num { "AUC" } th.num { "Accounts with it" } } }
                        tbody { @for sp in &r.signals { tr {
                            td { (plain_name(&sp.signal)) } td.num { (format!("{:.2}", sp.auc)) } td.num { (pct(Some(sp.coverage))) }
                        } } }
                    }
                }
                section.card {
                    h2 { "Each replayed day" }
                    @if r.days.iter().any(|d| d.suspect) {
                        p.notice #suspect-days {
                            "A day marked suspect has a churn rate far above the other days': more likely the data ends too soon after it (contracts that would have renewed are missing) than churn. Check the export."
                        }
                    }
                    table.data #days {
                        thead { tr { th { "Day" } th.num { "Accounts" } th.num { "Churned or downsold" } th.num { "AUC" } } }
                        tbody { @for d in &r.days { tr.suspect[d.suspect] {
                            td { (d.as_of) @if d.suspect { " " span.down { "suspect" } } } td.num { (d.accounts) } td.num { (d.churned) } td.num { (d.auc.map_or("–".into(), |x| format!("{x:.2}"))) }
                        } } }
                    }
                }
            }
        }
    };
    Ok(super::layout("Health model", None, &user, body).into_response())
}
