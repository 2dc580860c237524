//! How a success plan reads: the sections both audiences see (Plan, Implement's
//! enablement, Monitor), and the customer's whole page, which a share link opens without
//! a login. Everything here that the customer sees is in their words
//! (`laer_core::success_plan::internal_words` finds none; the tests below check).

use chrono::{NaiveDate, TimeDelta};
use laer_core::model::{Direction, MilestoneSide};
use laer_core::success_plan::{
    AgreedOutcome, Change, CustomerPlan, EFFECT_DAYS, Effect, Enablement, Implement, MilestoneStatus, MilestoneView,
    Monitor, OutcomeStatus, Plan,
};
use maud::{DOCTYPE, Markup, html};

use super::{figure, num};
use laer_charts::{Color, LineChart, Series, ValueFormat};

/// Who reads the page: the customer (at a share link) or the vendor's team.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Audience {
    Customer,
    Team,
}

/// "58%": shares the customer reads at a glance.
fn whole_percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_string(), |r| format!("{:.0}%", r * 100.0))
}

fn side(side: MilestoneSide, audience: Audience) -> &'static str {
    match (side, audience) {
        (MilestoneSide::Customer, Audience::Customer) => "Your team",
        (MilestoneSide::Vendor, Audience::Customer) => "Our team",
        (MilestoneSide::Customer, Audience::Team) => "Customer",
        (MilestoneSide::Vendor, Audience::Team) => "Us",
    }
}

/// Which way an outcome should move, in words: raise, reduce, or keep at a level.
fn aim(o: &AgreedOutcome) -> &'static str {
    match (o.direction, o.target == o.baseline) {
        (Direction::Higher, false) => "Raise",
        (Direction::Lower, false) => "Reduce",
        (Direction::Higher, true) => "Keep at or above",
        (Direction::Lower, true) => "Keep at or below",
    }
}

/// The objective, the agreed outcomes and the customer's people.
pub(super) fn plan_section(plan: &Plan, objective: Option<&str>) -> Markup {
    html! {
        section.card.pimo #plan {
            h2 { span.step { "Plan" } "The outcomes we agreed" }
            @if let Some(objective) = objective { p.objective { (objective) } }
            @if plan.outcomes.is_empty() { p.muted { "No outcomes agreed yet." } }
            @else {
                table.data #outcomes {
                    thead { tr { th { "Outcome" } th.num { "From" } th.num { "To" } th { "Aim" } th { "Starting" } th { "By" } } }
                    tbody { @for o in &plan.outcomes { tr {
                        td { (o.name) } td.num { (num(o.baseline, &o.unit)) } td.num { (num(o.target, &o.unit)) }
                        td { (aim(o)) }
                        td.date { (super::date(o.start_date)) } td.date { (super::date(o.target_date)) }
                    } } }
                }
            }
            h3 { "Who is involved" }
            @if plan.stakeholders.is_empty() { p.muted { "Nobody named yet." } }
            div.teams {
                @for team in &plan.stakeholders {
                    div.team {
                        h4 { (team.team) }
                        ul { @for p in &team.people {
                            li { strong { (p.name) }
                                @if let Some(t) = &p.title { " · " (t) }
                                @if let Some(r) = &p.role { " · " span.muted { (r) } } }
                        } }
                    }
                }
            }
        }
    }
}

fn milestone_status(m: &MilestoneView) -> Markup {
    match m.status {
        MilestoneStatus::Done => html! { span.badge.status-done { "Done" } " " (super::date(m.done_on)) },
        MilestoneStatus::OnTrack => html! { span.badge.status-planned { "Planned" } },
        MilestoneStatus::Late => html! { span.badge.status-late { "Late" } },
    }
}

/// The milestones; `actions` adds a cell of buttons per milestone (the team's page).
pub(super) fn milestones_table(
    milestones: &[MilestoneView],
    audience: Audience,
    actions: Option<&dyn Fn(&MilestoneView) -> Markup>,
) -> Markup {
    html! {
        @if milestones.is_empty() { p.muted { "No milestones yet." } }
        @else {
            table.data #milestones {
                thead { tr { th { "Milestone" } th { "Who" } th { "Due" } th { "Status" } @if actions.is_some() { th.no-print {} } } }
                tbody { @for m in milestones {
                    tr class={"milestone-" (status_key(m.status))} {
                        td { (m.title) } td { (side(m.side, audience)) } td.date { (m.due_on) } td { (milestone_status(m)) }
                        @if let Some(actions) = actions { td.no-print { (actions(m)) } }
                    }
                } }
            }
        }
    }
}

fn status_key(s: MilestoneStatus) -> &'static str {
    match s {
        MilestoneStatus::Done => "done",
        MilestoneStatus::OnTrack => "planned",
        MilestoneStatus::Late => "late",
    }
}

/// Active users against licences, departments, and the trend.
pub(super) fn enablement(e: &Enablement) -> Markup {
    let labels = e.trend.iter().map(|(d, _)| d.to_string());
    let mut chart = LineChart::new(labels, ValueFormat::Count)
        .series(Series::new("Active users", e.trend.iter().map(|(_, n)| f64::from(*n))).color(Color::BLUE));
    if let Some(seats) = e.seats {
        chart = chart.series(Series::new("Licences", e.trend.iter().map(|_| f64::from(seats))).color(Color::GREY));
    }
    html! {
        h3 { "Your people using it" }
        div.enablement {
            div.kpis {
                div.kpi { span { "Active users, last 30 days" } strong { (e.active_users) }
                    @if let Some(seats) = e.seats { " of " (seats) " licences" } }
                div.kpi { span { "Licences in use" } strong { (whole_percent(e.utilisation)) } }
                div.kpi { span { "Departments using it" } strong { (e.departments_active) } " of " (e.departments_known) }
            }
            (figure("Active users per 30 days", chart.to_svg(), html! {
                table.data { thead { tr { th { "30 days to" } th.num { "Active users" } } }
                    tbody { @for (d, n) in &e.trend { tr { td { (d) } td.num { (n) } } } } }
            }, None))
        }
    }
}

/// Implement, for the customer: the milestones and enablement.
fn implement_section(implement: &Implement) -> Markup {
    html! {
        section.card.pimo #implement {
            h2 { span.step { "Implement" } "Milestones, and your people using the solution" }
            (milestones_table(&implement.milestones, Audience::Customer, None))
            (enablement(&implement.enablement))
        }
    }
}

fn outcome_status(s: OutcomeStatus) -> Markup {
    match s {
        OutcomeStatus::Reached => html! { span.badge.status-done { "Target reached" } },
        OutcomeStatus::OnTrack => html! { span.badge.status-planned { "On track" } },
        OutcomeStatus::Behind => html! { span.badge.status-late { "Behind plan" } },
        OutcomeStatus::NotMeasured => html! { span.badge { "Not measured yet" } },
    }
}

/// Each outcome's measurements against its planned path.
pub(super) fn monitor_section(monitor: &Monitor) -> Markup {
    html! {
        section.card.pimo #monitor {
            h2 { span.step { "Monitor" } "Each outcome measured against the plan" }
            @if monitor.outcomes.is_empty() { p.muted { "Nothing to measure until outcomes are agreed." } }
            div.grid2 {
                @for o in &monitor.outcomes {
                    @let labels: Vec<String> = o.points.iter().map(|p| p.month.format("%Y-%m").to_string()).collect();
                    @let chart = LineChart::new(labels.clone(), ValueFormat::Count)
                        .series(Series::new("Measured", o.points.iter().map(|p| p.measured)).color(Color::BLUE))
                        .series(Series::new("Plan", o.points.iter().map(|p| Some(p.planned))).color(Color::GREY))
                        // Two to a row: a smaller canvas keeps the labels readable.
                        .size(560, 260)
                        .description(format!("{}: the measurements against the plan from {} to {}.", o.name, num(o.baseline, &o.unit), num(o.target, &o.unit)));
                    div.outcome {
                        p.outcome-status {
                            (outcome_status(o.status))
                            @if let Some(current) = o.current { " Now " strong { (num(current, &o.unit)) } }
                            @if let Some(p) = o.progress { ", " (whole_percent(Some(p))) " of the way to " (num(o.target, &o.unit)) }
                            @if let Some(e) = o.expected { "; the plan expects " (whole_percent(Some(e))) " by today." }
                        }
                        (figure(&o.name, chart.to_svg(), html! {
                            table.data { thead { tr { th { "Month" } th.num { "Measured" } th.num { "Plan" } } }
                                tbody { @for (p, label) in o.points.iter().zip(&labels) { tr {
                                    td { (label) } td.num { (p.measured.map_or("–".to_string(), |m| num(m, &o.unit))) }
                                    td.num { (num((p.planned * 10.0).round() / 10.0, &o.unit)) }
                                } } } }
                        }, None))
                    }
                }
            }
        }
    }
}

fn change<T: PartialOrd + Copy>(c: Option<Change<T>>, show: impl Fn(T) -> String) -> Markup {
    match c {
        None => html! { span.muted { "–" } },
        Some(c) => {
            let class = if c.after > c.before {
                "up"
            } else if c.after < c.before {
                "down"
            } else {
                "flat"
            };
            html! { span class=(class) { (show(c.before)) " → " (show(c.after)) } }
        }
    }
}

/// What changed after an intervention on `on`: two cells.
pub(super) fn effect_cells(effect: &Effect, on: NaiveDate) -> Markup {
    html! {
        @if effect.settled {
            td.num { (change(effect.active_users, |n| n.to_string())) }
            td.num { (change(effect.outcome_progress, |p| whole_percent(Some(p)))) }
        } @else {
            td.muted colspan="2" { "Too early to tell: the 30 days after end on " (on + TimeDelta::days(EFFECT_DAYS)) }
        }
    }
}

pub(super) const EFFECT_HEADERS: [&str; 2] = [
    "Active users, 30 days before → after",
    "Outcome progress before → after",
];

fn optimize_section(plan: &CustomerPlan) -> Markup {
    html! {
        section.card.pimo #optimize {
            h2 { span.step { "Optimize" } "What we did, and what changed after" }
            @if plan.optimize.is_empty() { p.muted { "Nothing in the last year yet." } }
            @else {
                table.data #interventions {
                    thead { tr { th { "Date" } th { "What" } th.num { (EFFECT_HEADERS[0]) } th.num { (EFFECT_HEADERS[1]) } } }
                    tbody { @for i in &plan.optimize { tr {
                        td.date { (i.on) } td { (i.label) } (effect_cells(&i.effect, i.on))
                    } } }
                }
                p.muted.small { "Outcome progress is the share of the way from each outcome's starting point to its target, over the outcomes measured both before and after." }
            }
        }
    }
}

/// The head of a page a link opens: not for search engines, titled for the customer.
fn private_head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="robots" content="noindex, nofollow";
            title { (title) }
            link rel="stylesheet" href="/static/laer.css";
            // The print button's handler: scripts come only from this site (the CSP).
            script src="/static/laer.js" defer {}
        }
    }
}

/// The customer's page: the whole plan, ready to print. `preview` marks it as the
/// team's look at it.
/// `record` is the form to send a measurement, where the plan takes them.
pub(super) fn customer_page(plan: &CustomerPlan, preview: Option<&str>, record: Option<Markup>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (private_head(&format!("{} · Success plan", plan.account)))
            body.shared {
                main.plan {
                    @if let Some(back) = preview {
                        p.note.no-print { "A preview of what the customer sees at a share link. " a href=(back) { "Back" } }
                    }
                    header.plan-head {
                        div {
                            p.muted { "Success plan" }
                            h1 { (plan.account) }
                            p.muted { "As of " (plan.as_of) }
                        }
                        button.no-print type="button" data-print { "Print / save as PDF" }
                    }
                    (plan_section(&plan.plan, plan.objective.as_deref()))
                    (implement_section(&plan.implement))
                    (monitor_section(&plan.monitor))
                    @if let Some(record) = record { (record) }
                    (optimize_section(plan))
                    footer.plan-foot.muted { "Shared with you by your customer success team: a read-only view, figures as of " (plan.as_of) "." }
                }
            }
        }
    }
}

/// A short answer on the customer's side (a figure refused, too many sent).
pub(super) fn customer_message(heading: &str, text: &str, back: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (private_head(heading))
            body.bare { main { section.card.narrow {
                h1 { (heading) }
                p { (text) }
                @if let Some(back) = back { p { a href=(back) { "Back to the plan" } } }
            } } }
        }
    }
}

/// The answer to a link that leads nowhere, unknown or revoked alike.
pub(super) fn not_available() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (private_head("Not available"))
            body.bare { main { section.card.narrow {
                h1 { "Not available" }
                p { "This link does not lead to a plan, or no longer does. Ask your contact for a new link." }
            } } }
        }
    }
}

/// The text a reader sees on a page; shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/common/text.rs"]
mod text;

#[cfg(test)]
mod tests {
    use super::text::visible_text;
    use super::*;
    use laer_core::model::{Milestone, NewMilestone, NewOutcome};
    use laer_core::success_plan::{InterventionRecord, PlanRecords, Stakeholder, assemble, internal_words};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A plan whose records are full of the vendor's words.
    fn records() -> PlanRecords {
        let task = |on: &str, title: &str, playbook: &str| InterventionRecord::Task {
            on: day(on),
            title: title.into(),
            playbook: Some(playbook.into()),
        };
        PlanRecords {
            account: "Northwind Traders".into(),
            objective: Some("Every office online in a day".into()),
            outcomes: vec![NewOutcome {
                external_id: "o".into(),
                account_id: 1,
                name: "Offices with local breakout".into(),
                unit: Some("%".into()),
                baseline: 10.0,
                target: 60.0,
                start_date: Some(day("2026-01-01")),
                target_date: Some(day("2026-12-31")),
                direction: laer_core::model::Direction::Higher,
            }],
            measurements: vec![vec![(day("2026-03-01"), 15.0), (day("2026-05-01"), 30.0)]],
            stakeholders: vec![Stakeholder {
                name: Some("Ada Obi".into()),
                title: Some("CIO".into()),
                team: Some("executive".into()),
                role: Some("executive_sponsor".into()),
            }],
            milestones: vec![Milestone {
                id: 1,
                fields: NewMilestone {
                    external_id: None,
                    account_id: 1,
                    title: "First team live".into(),
                    due_on: day("2026-03-01"),
                    done_on: None,
                    side: MilestoneSide::Customer,
                },
            }],
            interventions: vec![
                task(
                    "2026-04-02",
                    "Save plan for the renewal of Northwind on 2026-09-01",
                    "renewal-at-risk",
                ),
                task(
                    "2026-04-03",
                    "CS-qualified lead: expansion, land more seats",
                    "expansion-opportunity",
                ),
                task(
                    "2026-06-20",
                    "Adoption plan: churn risk, health 41",
                    "adoption-below-target",
                ),
                InterventionRecord::Meeting {
                    on: day("2026-04-10"),
                    kind: Some("renewal_negotiation".into()),
                    team: Some("executive".into()),
                },
            ],
            ..PlanRecords::default()
        }
    }

    #[test]
    fn the_customer_page_speaks_the_customers_language() {
        let plan = assemble(&records(), day("2026-06-30"));
        let html = customer_page(&plan.for_customer(), None, None).into_string();
        let text = visible_text(&html);
        assert_eq!(internal_words(&text), Vec::<&str>::new(), "in:\n{text}");
        for shown in [
            "Northwind Traders",
            "Offices with local breakout",
            "Every office online in a day",
            "Ada Obi",
            "Executive sponsor",
            "First team live",
            "Late",
            "Executive alignment",
            "Wider roll-out discussed",
            "Meeting with your executive team",
            "Too early to tell",
            "Print / save as PDF",
        ] {
            assert!(text.contains(shown), "{shown} in:\n{text}");
        }
        assert!(html.contains(r#"<meta name="robots" content="noindex, nofollow">"#));
        assert!(html.contains("<title>Northwind Traders · Success plan</title>"));
        for section in ["Plan", "Implement", "Monitor", "Optimize"] {
            assert!(
                html.contains(&format!(r#"<span class="step">{section}</span>"#)),
                "{section}"
            );
        }
        assert_eq!(html.matches("<svg").count(), 2, "enablement and one outcome");
    }

    #[test]
    fn the_not_available_page_says_nothing_of_the_vendor() {
        let text = visible_text(&not_available().into_string());
        assert!(text.contains("Not available"));
        assert_eq!(internal_words(&text), Vec::<&str>::new());
    }

    #[test]
    fn visible_text_leaves_out_tags_and_scripts() {
        assert_eq!(
            visible_text("<p class=\"x\">a &amp; b</p><script>land()</script><b>c</b>")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["a", "&", "b", "c"]
        );
    }
}
