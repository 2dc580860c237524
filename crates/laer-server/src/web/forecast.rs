//! The churn and downsell forecast as the pages show it (laer_core::forecast::churn): an
//! account's outlook on its page, and the forecast's out-of-sample check on the health
//! model's page. docs/forecasts.md explains both.

use laer_core::forecast::churn::{ChurnModel, Evaluation, Features, Held, Learning, Scores, Source, outlook, reasons};
use maud::{Markup, html};

use super::session::CurrentUser;
use laer_core::access::Permission;

/// A probability as a percentage: one decimal under 10 %, whole above.
pub(crate) fn chance(p: f64) -> String {
    let pct = p * 100.0;
    if pct < 10.0 {
        format!("{pct:.1}%")
    } else {
        format!("{pct:.0}%")
    }
}

/// Where the model comes from, in a sentence.
fn provenance(model: &ChurnModel) -> String {
    match &model.source {
        Source::Learned { cases, from, to, .. } => {
            format!("Learned from this workspace's history: {cases} account-days replayed from {from} to {to}.")
        }
        Source::Shipped { caveat } => caveat.clone(),
    }
}

/// The account page's outlook: the chances of churn and downsell within the horizon, why,
/// and where the model comes from.
pub(crate) fn account_section(
    model: &ChurnModel,
    features: &Features,
    drivers: &[laer_app::health::DriverOut],
    user: &CurrentUser,
) -> Markup {
    let o = outlook(model, *features);
    let held = drivers.iter().map(|d| Held {
        measure: &d.measure,
        value: d.value,
        gap: d.possible - d.contribution,
    });
    let why = reasons(model, &o, features, held);
    html! {
        section.card #outlook {
            h2 { "Outlook, next " (o.horizon_days) " days" }
            div.kpis {
                div.kpi #churn-chance { span { "Chance of churn" } strong { (chance(o.churn)) } }
                div.kpi #downsell-chance { span { "Chance of downsell" } strong { (chance(o.downsell)) } }
            }
            ul.reasons { @for r in &why { li { (r) } } }
            p.muted.small {
                (provenance(model))
                @if user.role.can(Permission::ViewAudit) {
                    " " a href="/health/model#forecast" { "How well it predicts" }
                }
            }
        }
    }
}

fn scores_row(name: &str, s: &Scores) -> Markup {
    let opt = |x: Option<f64>, d: usize| x.map_or_else(|| "–".to_string(), |x| format!("{x:.d$}"));
    html! {
        tr {
            td { (name) }
            td.num { (s.cases) }
            td.num { (s.events) }
            td.num { (format!("{:.4}", s.brier)) }
            td.num { (format!("{:.4}", s.reference_brier)) }
            td.num { (opt(s.skill.map(|k| k * 100.0), 1)) @if s.skill.is_some() { "%" } }
            td.num { (opt(s.auc, 3)) }
        }
    }
}

fn evaluation(model: &ChurnModel, e: &Evaluation) -> Markup {
    html! {
        p { "Checked out of sample: the replayed days were cut in " (e.folds + 1) " blocks of time, and each block from "
            (e.predicted_from) " on was predicted by a model fitted only on days whose " (model.horizon_days)
            " days had passed before the block began. The Brier score is the mean squared error of the chances (0 is perfect); "
            "the reference is that of predicting each block the rate of its training days; skill is the share of the "
            "reference's error removed." }
        table.data #forecast-scores {
            thead { tr { th { "Outcome" } th.num { "Account-days" } th.num { "Happened" } th.num { "Brier" }
                th.num { "Rate alone" } th.num { "Skill" } th.num { "AUC" } } }
            tbody { (scores_row("Churn", &e.churn)) (scores_row("Downsell", &e.downsell)) }
        }
        @if let Some(o) = &e.oracle {
            p #forecast-oracle { "Against the true chances the demo company's generator drew its renewals with (its oracle), on the same "
                (o.cases) " account-days (" (o.churned) " churned): laer's Brier " (format!("{:.4}", o.brier))
                " and AUC " (o.auc.map_or("–".into(), |a| format!("{a:.3}")))
                "; the oracle's own Brier " (format!("{:.4}", o.oracle_brier)) " and AUC "
                (o.oracle_auc.map_or("–".into(), |a| format!("{a:.3}"))) ". No forecast can beat the oracle on average; the gap is what laer's signals miss." }
        }
        h3 { "Reliability of the churn chance" }
        p.muted { "Out of sample: the chances predicted, in bins, against how often churn happened." }
        table.data #forecast-reliability {
            thead { tr { th { "Predicted" } th.num { "Account-days" } th.num { "Mean predicted" } th.num { "Observed" } } }
            tbody { @for b in e.churn.reliability.iter().filter(|b| b.count > 0) { tr {
                td { (format!("{:.0}–{:.0}%", b.from * 100.0, b.to * 100.0)) }
                td.num { (b.count) }
                td.num { (b.mean_predicted.map_or_else(|| "–".into(), chance)) }
                td.num { (b.observed_rate.map_or_else(|| "–".into(), chance)) }
            } } }
        }
    }
}

/// The health model page's section on the forecast learned with its validation.
pub(crate) fn model_section(learning: Option<&Learning>) -> Markup {
    html! {
        section.card #forecast {
            h2 { "Churn and downsell forecast" }
            @match learning {
                None => { p { "Learned with the next validation; until then the shipped model stands in." } }
                Some(l) => {
                    p { (provenance(&l.model)) " The chances follow the health score and whether a renewal falls within "
                        (l.model.horizon_days) " days, and whether the contracts run month to month (docs/forecasts.md)." }
                    @if let Some(e) = &l.evaluation { (evaluation(&l.model, e)) }
                }
            }
        }
    }
}
