//! Readable tables of the reports, for the terminal.

use std::fmt::Write;

use laer_app::reports::{MrrReport, RetentionReport};
use laer_core::Money;
use laer_core::reports::MovementSummary;
use laer_core::retention::{AccountChurn, ActivityChurn, MrrRetention};

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_string(), |r| format!("{:.2}%", r * 100.0))
}

/// A report's rate as a percentage; `-` when there is none, or when it is not a finite
/// number (which its JSON writes as `null`).
fn rate(ratio: Option<f64>) -> String {
    percent(ratio.filter(|r| r.is_finite()))
}

/// An amount as written in the reports' JSON: `1250`, `99.95`. As a string, because
/// `Money`'s Display ignores the width.
fn money(amount: Money) -> String {
    amount.to_string()
}

pub fn retention(report: &RetentionReport) -> String {
    let mut out = String::new();
    let activity = report.periods().iter().any(|p| p.activity.is_some());
    let _ = write!(
        out,
        "{:<10} {:<10} {:<14} {:>7} {:>7} {:>7} {:>7} {:>7} {:>12} {:>12} {:>8} {:>9}",
        "from",
        "to",
        "segment",
        "start",
        "end",
        "churned",
        "churn",
        "annual",
        "start MRR",
        "retained",
        "NRR",
        "MRR churn"
    );
    if activity {
        let _ = write!(out, " {:>7} {:>9}", "active", "act.churn");
    }
    out.push('\n');
    let row = |out: &mut String,
               (a, m, act): (&AccountChurn, &MrrRetention, Option<&ActivityChurn>),
               from: &str,
               to: &str,
               segment: &str| {
        let _ = write!(
            out,
            "{from:<10} {to:<10} {segment:<14} {:>7} {:>7} {:>7} {:>7} {:>7} {:>12} {:>12} {:>8} {:>9}",
            a.start,
            a.end,
            a.churned,
            rate(a.churn_rate),
            rate(a.annual_churn_rate),
            money(m.start),
            money(m.retained),
            rate(m.net_retention_rate),
            rate(m.churn_rate),
        );
        if let Some(act) = act {
            let _ = write!(out, " {:>7} {:>9}", act.start, rate(act.churn_rate));
        }
        out.push('\n');
    };
    for p in report.periods() {
        let (from, to) = (p.from.to_string(), p.to.to_string());
        row(&mut out, (&p.accounts, &p.mrr, p.activity.as_ref()), &from, &to, "all");
        for s in p.segments.iter().flatten() {
            let segment = s.segment.as_deref().unwrap_or("(none)");
            row(&mut out, (&s.accounts, &s.mrr, s.activity.as_ref()), "", "", segment);
        }
    }
    out
}

pub fn mrr(report: &MrrReport) -> String {
    let mut out = String::new();
    // Exchange rates' effect, only where lines in another currency moved it.
    let fx = report.periods.iter().any(|p| {
        !p.summary.movements.exchange_rates.is_zero()
            || p.segments
                .iter()
                .flatten()
                .any(|s| !s.summary.movements.exchange_rates.is_zero())
    });
    let _ = write!(out, "{:<10} {:<10} {:<16}", "from", "to", "segment");
    let mut headers = vec!["start", "new", "reactivation", "expansion", "contraction", "churn"];
    if fx {
        headers.push("exch. rates");
    }
    headers.push("end");
    for h in headers {
        let _ = write!(out, " {h:>12}");
    }
    let _ = writeln!(out, " {:>8} {:>8}", "NRR", "GRR");
    let row = |out: &mut String, p: &MovementSummary, from: &str, to: &str, segment: &str| {
        let _ = write!(out, "{from:<10} {to:<10} {segment:<16}");
        let m = &p.movements;
        let mut amounts = vec![m.start, m.new, m.reactivation, m.expansion, m.contraction, m.churn];
        if fx {
            amounts.push(m.exchange_rates);
        }
        amounts.push(m.end);
        for amount in amounts {
            let _ = write!(out, " {:>12}", money(amount));
        }
        let _ = writeln!(
            out,
            " {:>8} {:>8}",
            rate(p.net_revenue_retention),
            rate(p.gross_revenue_retention)
        );
    };
    for p in &report.periods {
        let (from, to) = (p.from.to_string(), p.to.to_string());
        row(&mut out, &p.summary, &from, &to, "all");
        for s in p.segments.iter().flatten() {
            row(&mut out, &s.summary, "", "", s.segment.as_deref().unwrap_or("(none)"));
        }
    }
    out
}

/// `laer report nrr-bridge`: a block per quarter, a row per group and the total.
pub fn nrr_bridge(report: &laer_app::reports::NrrBridge) -> String {
    let mut out = String::new();
    for q in &report.quarters {
        let by = match q.role {
            Some(role) => format!("owner ({role})"),
            None => q.by.to_string(),
        };
        let _ = writeln!(out, "{} ({} to {}), by {by}", q.quarter, q.start, q.end);
        if !q.total.exchange_rates.is_zero() {
            let _ = writeln!(
                out,
                "exchange rates moved the end MRR by {} (movements are at the quarter's first-day rates)",
                q.total.exchange_rates
            );
        }
        let _ = writeln!(
            out,
            "{:<24} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>8} {:>8}",
            "group", "start MRR", "new", "expansion", "contraction", "churn", "reactivation", "end MRR", "NRR", "GRR"
        );
        let rows = q.groups.iter().map(|g| (g.group.as_str(), &g.figures));
        for (group, f) in rows.chain([("total", &q.total)]) {
            let _ = writeln!(
                out,
                "{:<24} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>8} {:>8}",
                group.chars().take(24).collect::<String>(),
                // Money's Display writes the exact amount and ignores the width.
                f.start_mrr.to_string(),
                f.new.to_string(),
                f.expansion.to_string(),
                f.contraction.to_string(),
                f.churn.to_string(),
                f.reactivation.to_string(),
                f.end_mrr.to_string(),
                percent(f.nrr),
                percent(f.grr)
            );
        }
        out.push('\n');
    }
    out
}

fn score(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |s| format!("{s:.0}"))
}

/// `laer report health`: one line per account, the weakest first.
pub fn health(report: &laer_app::health::HealthReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "health as of {} (model: {})", report.as_of, report.model);
    let _ = writeln!(
        out,
        "{:<24} {:<8} {:>6} {:>8} {:>10} {:>10} {:>14}  {:<11} weakest measure",
        "account", "phase", "health", "adoption", "experience", "engagement", "transformation", "quadrant"
    );
    let mut accounts: Vec<_> = report.accounts.iter().collect();
    accounts.sort_by(|a, b| a.health.unwrap_or(101.0).total_cmp(&b.health.unwrap_or(101.0)));
    for a in accounts {
        let weakest = a
            .drivers
            .iter()
            .min_by(|x, y| x.score.total_cmp(&y.score))
            .map_or("-", |d| d.measure.as_str());
        let _ = writeln!(
            out,
            "{:<24} {:<8} {:>6} {:>8} {:>10} {:>10} {:>14}  {:<11} {}",
            a.external_id.chars().take(24).collect::<String>(),
            a.phase.as_str(),
            score(a.health),
            score(a.pillars.adoption),
            score(a.pillars.experience),
            score(a.pillars.engagement),
            score(a.pillars.transformation),
            a.quadrant.map_or("-", |q| q.as_str()),
            weakest
        );
    }
    out
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// `laer report health-validation`.
pub fn validation(r: &laer_core::health::validation::ValidationReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "model: {}", r.model);
    let _ = writeln!(
        out,
        "replayed accounts: {} ({} scored), churned or downsold within {} days: {} ({})",
        r.observations,
        r.scored,
        r.horizon_days,
        r.churned,
        r.churn_rate.map_or("-".into(), |c| format!("{:.1}%", c * 100.0))
    );
    let _ = writeln!(
        out,
        "AUC: {}   top-decile lift: {}",
        opt(r.auc, 3),
        opt(r.top_decile_lift, 2)
    );
    let _ = writeln!(out, "\n{:<12} {:>8} {:>8} {:>6}", "as of", "accounts", "churned", "AUC");
    for d in &r.days {
        let _ = writeln!(
            out,
            "{:<12} {:>8} {:>8} {:>6}{}",
            d.as_of,
            d.accounts,
            d.churned,
            opt(d.auc, 3),
            if d.suspect { "  suspect" } else { "" }
        );
    }
    if r.days.iter().any(|d| d.suspect) {
        let _ = writeln!(
            out,
            "suspect: a churn rate far above the other days' — more likely data that ends too soon after that day \
             (contracts that would have renewed are missing) than churn; check the export"
        );
    }
    if let Some(f) = &r.forecast {
        out.push_str(&churn_forecast_model(f));
    }
    if let Some(b) = &r.renewal_backtest {
        out.push_str(&renewal_backtest(b));
    }
    hazard_table(
        &mut out,
        "What health makes of the chance of leaving, per 10 points of a pillar, month by month (Cox model on this replay",
        r.health_hazards.as_ref(),
        r.health_hazards_note.as_deref(),
    );
    let _ = writeln!(out, "\neach signal alone (AUC; below 0.5: lower is healthier)");
    for p in r.signals.iter().take(15) {
        let _ = writeln!(
            out,
            "  {:<36} {:>5.3}  ({:.0}% of accounts)",
            p.signal,
            p.auc,
            p.coverage * 100.0
        );
    }
    let _ = writeln!(
        out,
        "\ncalibration ({}): predicted churn → observed",
        match r.calibration_source {
            laer_core::health::validation::CalibrationSource::Model => "the model's",
            laer_core::health::validation::CalibrationSource::Replay => "fitted on this replay",
        }
    );
    for b in r.calibration.iter().filter(|b| b.count > 0) {
        let _ = writeln!(
            out,
            "  {:>4.0}–{:<4.0}% {:>7} accounts  predicted {:>5}%  observed {:>5}%",
            b.from * 100.0,
            b.to * 100.0,
            b.count,
            opt(b.mean_predicted.map(|p| p * 100.0), 1),
            opt(b.observed_rate.map(|p| p * 100.0), 1)
        );
    }
    out
}

/// `laer health fit`: the learned weights beside the configured ones (as shares of all
/// weight, so that they compare).
pub fn fit(configured: &laer_core::health::HealthModel, outcome: &laer_app::health::FitOutcome) -> String {
    use laer_core::health::Pillar;
    let mut out = String::new();
    let f = &outcome.fit;
    let _ = writeln!(
        out,
        "learned from {} replayed accounts ({} churned or downsold); C = {} by time-ordered cross-validation",
        f.observations, f.churned, f.c
    );
    // A measure's share of the overall score: its share in its pillar times the pillar's.
    let shares = |m: &laer_core::health::HealthModel| -> Vec<(String, Pillar, f64)> {
        let pillar_total: f64 = [
            Pillar::Adoption,
            Pillar::Experience,
            Pillar::Engagement,
            Pillar::Transformation,
        ]
        .iter()
        .map(|p| m.pillars.of(*p))
        .sum();
        m.measures
            .iter()
            .map(|x| {
                let in_pillar: f64 = m.measures_of(x.pillar).map(|y| y.weight).sum();
                let share = if in_pillar > 0.0 && pillar_total > 0.0 {
                    x.weight / in_pillar * m.pillars.of(x.pillar) / pillar_total
                } else {
                    0.0
                };
                (x.signal.clone(), x.pillar, share)
            })
            .collect()
    };
    let (old, new) = (shares(configured), shares(&f.model));
    let mut signals: Vec<(String, Pillar)> = old.iter().chain(&new).map(|(s, p, _)| (s.clone(), *p)).collect();
    signals.sort_by(|a, b| (a.1.as_str(), &a.0).cmp(&(b.1.as_str(), &b.0)));
    signals.dedup();
    let share_of = |list: &[(String, Pillar, f64)], s: &str| list.iter().find(|x| x.0 == s).map(|x| x.2);
    let _ = writeln!(
        out,
        "\n{:<34} {:<15} {:>10} {:>8}  direction",
        "measure", "pillar", "configured", "fitted"
    );
    for (signal, pillar) in &signals {
        let direction = f.model.measures.iter().find(|m| &m.signal == signal).map_or("", |m| {
            if m.good > m.bad {
                "higher is better"
            } else {
                "lower is better"
            }
        });
        let _ = writeln!(
            out,
            "{:<34} {:<15} {:>9}% {:>7}%  {}",
            signal,
            pillar.as_str(),
            opt(share_of(&old, signal).map(|x| x * 100.0), 1),
            opt(share_of(&new, signal).map(|x| x * 100.0), 1),
            direction
        );
    }
    if let Some(h) = &outcome.held_out {
        let _ = writeln!(
            out,
            "\nheld out ({} to {}, fitted without them): AUC configured {} / fitted {}, top-decile lift {} / {}",
            h.days.first().map_or(String::new(), |d| d.to_string()),
            h.days.last().map_or(String::new(), |d| d.to_string()),
            opt(h.configured.auc, 3),
            opt(h.fitted.auc, 3),
            opt(h.configured.top_decile_lift, 2),
            opt(h.fitted.top_decile_lift, 2)
        );
    }
    out
}

/// `laer report survival`: each group's curve at a few months, its band, and a cohort's
/// projection.
pub fn survival(report: &laer_app::reports::SurvivalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Accounts still customers, by {} (data known until {}; 95 % band):",
        match report.by {
            laer_core::survival::CurveBy::All => "all",
            laer_core::survival::CurveBy::Cohort => "cohort (start quarter)",
            laer_core::survival::CurveBy::Segment => "segment",
            laer_core::survival::CurveBy::Plan => "plan",
        },
        report.known_until
    );
    let marks: Vec<u32> = [3, 6, 12, 24, 36, 60, 120]
        .into_iter()
        .filter(|m| *m <= report.months)
        .collect();
    let _ = write!(out, "\n{:<20} {:>8} {:>6}", "group", "accounts", "ended");
    for m in &marks {
        let _ = write!(out, " {:>17}", format!("month {m}"));
    }
    let _ = writeln!(out);
    for c in &report.curves {
        let _ = write!(out, "{:<20} {:>8} {:>6}", c.group, c.accounts, c.ended);
        for m in &marks {
            let cell = c.points.iter().find(|p| p.month == *m).map_or("-".to_string(), |p| {
                format!(
                    "{:.0}% ({:.0}-{:.0})",
                    p.survival * 100.0,
                    p.lower * 100.0,
                    p.upper * 100.0
                )
            });
            let _ = write!(out, " {cell:>17}");
        }
        let _ = writeln!(out);
        if let Some(p) = &c.projection {
            let _ = writeln!(
                out,
                "{:<20} sBG (alpha {:.3}, beta {:.3}, {} quarters observed): projected {:.0}% after 1 year, {:.0}% after 3",
                "",
                p.alpha,
                p.beta,
                p.observed_periods,
                p.survival.get(3).copied().unwrap_or(f64::NAN) * 100.0,
                p.survival.get(11).copied().unwrap_or(f64::NAN) * 100.0
            );
        }
    }
    hazards(&mut out, report);
    out
}

/// The hazard ratios of `laer report survival`: of a start, and of health as it changed.
fn hazards(out: &mut String, report: &laer_app::reports::SurvivalReport) {
    hazard_table(
        out,
        "What a start makes of the chance of leaving (Cox model",
        report.hazards.as_ref(),
        report.hazards_note.as_deref(),
    );
    hazard_table(
        out,
        "What health makes of the chance of leaving, per 10 points of a pillar, month by month (Cox model on the validation's replay",
        report.health_hazards.as_ref(),
        report.health_hazards_note.as_deref(),
    );
}

fn hazard_table(out: &mut String, title: &str, model: Option<&laer_core::survival::HazardModel>, note: Option<&str>) {
    match (model, note) {
        (Some(h), _) => {
            let _ = writeln!(
                out,
                "\n{title}, {} accounts, {} ended; against {}):",
                h.accounts, h.ended, h.reference
            );
            for r in &h.ratios {
                let _ = writeln!(
                    out,
                    "  {:<36} x{:.2} (95% {:.2}-{:.2})",
                    r.covariate, r.hazard_ratio, r.lower, r.upper
                );
            }
        }
        (None, Some(why)) => {
            let _ = writeln!(out, "\n{title}): no hazard ratios: {why}.");
        }
        (None, None) => {}
    }
}

/// `laer report survival --csv`: [`laer_app::reports::SurvivalReport::csv_rows`].
pub fn survival_csv(report: &laer_app::reports::SurvivalReport) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in report.csv_rows() {
        w.write_record(row)?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// The churn forecast's model and its out-of-sample check.
pub fn churn_forecast_model(f: &laer_core::forecast::churn::Learning) -> String {
    use laer_core::forecast::churn::Source;
    let mut out = String::new();
    let m = &f.model;
    let _ = writeln!(out, "\nchurn and downsell forecast, {} days", m.horizon_days);
    match &m.source {
        Source::Learned {
            cases,
            churned,
            downsold,
            from,
            to,
        } => {
            let _ = writeln!(
                out,
                "  learned here from {cases} account-days ({from} to {to}): {churned} churned, {downsold} downsold"
            );
        }
        Source::Shipped { caveat } => {
            let _ = writeln!(out, "  {caveat}");
        }
    }
    for (name, c) in [("churn", &m.churn), ("downsell", &m.downsell)] {
        let _ = writeln!(
            out,
            "  {name:<9} log-odds = {:.3} {:+.3}·renewal due {:+.3}·health·renewal due {:+.3}·unscored {:+.3}·monthly",
            c.intercept, c.renewal_due, c.health_when_due, c.unscored, c.monthly
        );
    }
    let _ = writeln!(
        out,
        "  (health = (score − 50)/50; typical score {:.1})",
        m.typical_score
    );
    if let Some(e) = &f.evaluation {
        let _ = writeln!(
            out,
            "  out of sample: {} folds, days from {} predicted only from days whose {} days had passed",
            e.folds, e.predicted_from, m.horizon_days
        );
        for (name, s) in [("churn", &e.churn), ("downsell", &e.downsell)] {
            let _ = writeln!(
                out,
                "  {name:<9} {} cases, {} events: Brier {:.4} (the rate alone {:.4}, skill {}), log loss {:.4}, AUC {}",
                s.cases,
                s.events,
                s.brier,
                s.reference_brier,
                opt(s.skill, 3),
                s.log_loss,
                opt(s.auc, 3)
            );
        }
        if let Some(o) = &e.oracle {
            let _ = writeln!(
                out,
                "  against the oracle's true chances ({} cases, {} churned): laer Brier {:.4}, AUC {}; oracle Brier {:.4}, AUC {}",
                o.cases,
                o.churned,
                o.brier,
                opt(o.auc, 3),
                o.oracle_brier,
                opt(o.oracle_auc, 3)
            );
        }
        let _ = writeln!(out, "  reliability of churn (out of sample)");
        let _ = writeln!(
            out,
            "  {:>11} {:>7} {:>10} {:>9}",
            "predicted", "cases", "mean", "observed"
        );
        for b in e.churn.reliability.iter().filter(|b| b.count > 0) {
            let _ = writeln!(
                out,
                "  {:>4.0}–{:>3.0}% {:>7} {:>9.1}% {:>8.1}%",
                b.from * 100.0,
                b.to * 100.0,
                b.count,
                b.mean_predicted.unwrap_or(0.0) * 100.0,
                b.observed_rate.unwrap_or(0.0) * 100.0
            );
        }
    }
    out
}

/// The renewal forecast replayed over past quarters.
fn renewal_backtest(b: &laer_core::forecast::renewal::Backtest) -> String {
    let mut out = String::from(
        "\nrenewal forecast replayed: each quarter forecast on its eve by a model learned only from the days \
         whose horizon had passed by then\n",
    );
    if b.quarters.is_empty() {
        out.push_str("  no past quarter with enough history before it\n");
    } else {
        out.push_str(&quarters_against_actual(&b.quarters));
        let _ = writeln!(
            out,
            "mean error {} over {} quarters; the actual within the 90 % interval in {}",
            b.mean_error.map_or("-".to_string(), |e| format!("{:.1}%", e * 100.0)),
            b.quarters.len(),
            b.within_interval
        );
    }
    if !b.too_early.is_empty() {
        let _ = writeln!(
            out,
            "too early to replay (too little history before): {}",
            b.too_early.join(", ")
        );
    }
    out
}

/// `laer report renewal-forecast`.
pub fn renewal_forecast(r: &laer_app::forecast::RenewalOutlook) -> String {
    let mut out = String::new();
    if let laer_core::forecast::churn::Source::Shipped { caveat } = &r.source {
        let _ = writeln!(out, "{caveat}\n");
    }
    let _ = writeln!(
        out,
        "{:<8} {:>8} {:>14} {:>14} {:>14} {:>32} {:>20} {:>20}",
        "quarter",
        "renewals",
        "renewable ARR",
        "forecast ARR",
        "with calls",
        "renewed ARR (90 %)",
        "GRR (90 %)",
        "NRR (90 %)"
    );
    let share = |i: Option<&laer_core::forecast::renewal::Interval>| {
        i.map_or("-".to_string(), |i| {
            format!(
                "{:.1}% ({:.1}–{:.1})",
                i.expected * 100.0,
                i.low * 100.0,
                i.high * 100.0
            )
        })
    };
    for q in &r.quarters {
        let _ = writeln!(
            out,
            "{:<8} {:>8} {:>14} {:>14.0} {:>14.0} {:>32} {:>20} {:>20}",
            q.quarter,
            q.renewals,
            q.renewable_arr.to_string(),
            q.forecast_arr,
            q.called_arr,
            q.renewed_arr.to_string(),
            share(q.grr.as_ref()),
            share(q.nrr.as_ref())
        );
    }
    let _ = writeln!(
        out,
        "\n{:<28} {:>10} {:>14} {:>7} {:>14} {:<15} {:<15}",
        "account", "renews on", "ARR", "renews", "forecast ARR", "system's call", "owner's call"
    );
    for f in &r.renewals {
        let _ = writeln!(
            out,
            "{:<28} {:>10} {:>14} {:>6.1}% {:>14.0} {:<15} {:<15}",
            f.name.as_deref().unwrap_or(&f.external_id),
            f.on,
            f.renewable_arr.to_string(),
            f.likelihood * 100.0,
            f.forecast_arr,
            f.category.label(),
            f.call
                .as_ref()
                .map_or("-".to_string(), |c| format!("{} {}", c.category.label(), c.amount))
        );
    }
    if !r.past.is_empty() {
        out.push('\n');
        out.push_str(&quarters_against_actual(&r.past));
    }
    out
}

/// Past quarters' renewal forecasts against what happened: those kept at each quarter's
/// start, or a backtest's.
fn quarters_against_actual(rows: &[laer_core::forecast::renewal::Accuracy]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:>10} {:>8} {:>14} {:>26} {:>14} {:>8} {:>8} {:>7}",
        "quarter",
        "made on",
        "renewals",
        "forecast ARR",
        "renewed ARR (90 %)",
        "actual ARR",
        "error",
        "in 90 %",
        "Brier"
    );
    for a in rows {
        let _ = writeln!(
            out,
            "{:<8} {:>10} {:>8} {:>14.0} {:>26} {:>14.0} {:>8} {:>8} {:>7}",
            a.quarter,
            a.taken_on,
            a.renewals,
            a.forecast_arr,
            a.interval.to_string(),
            a.actual_arr,
            a.error.map_or("-".to_string(), |e| format!("{:.1}%", e * 100.0)),
            if a.within_interval { "yes" } else { "no" },
            opt(a.brier, 3)
        );
    }
    out
}
