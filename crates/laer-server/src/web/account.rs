//! Account 360: profile and coverage, contracts and MRR history, usage over time, users
//! by department, support cases, meetings, outcomes, and a timeline of all of it.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use laer_core::Money;
use laer_core::access::Permission;
use laer_core::model::mrr_on;
use laer_store::AccountView;
use maud::{Markup, html};

use super::{CurrentUser, PageError, date, figure, layout, money, require, today};
use crate::AppState;
use crate::chart::{Color, HorizontalBarChart, LineChart, Series, ValueFormat};

const HISTORY_MONTHS: u32 = 24;

pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    let today = today();
    let view = state
        .store
        .account_view(id, today)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
    let owners = state.store.current_owners(today).await?.remove(&id).unwrap_or_default();
    let a = &view.account.fields;
    let name = a.name.clone().unwrap_or_else(|| a.external_id.clone());
    let lines: Vec<_> = view.subscriptions.iter().map(|s| s.fields.clone()).collect();
    let mrr = mrr_on(&lines, today);
    let seats: f64 = lines
        .iter()
        .filter(|l| l.is_active_on(today) && l.units.as_deref().is_some_and(|u| u.starts_with("seat")))
        .filter_map(|l| l.quantity)
        .fold(0.0_f64, f64::max);
    let active_now = view.active_users.iter().find(|(w, _)| *w == 0).map_or(0, |(_, n)| *n);
    let nps: Vec<i64> = view
        .surveys
        .iter()
        .filter(|s| s.survey == "nps")
        .take(20)
        .map(|s| s.score)
        .collect();
    let nps_score = (!nps.is_empty()).then(|| {
        let promoters = nps.iter().filter(|s| **s >= 9).count() as f64;
        let detractors = nps.iter().filter(|s| **s <= 6).count() as f64;
        ((promoters - detractors) / nps.len() as f64 * 100.0).round()
    });

    let body = html! {
        div.page-head {
            h1 { (name) }
            p.muted { (a.external_id) " · " (a.segment.as_deref().unwrap_or("no segment")) @if let Some(c) = &a.country { " · " (c) } }
        }
        div.kpis {
            div.kpi { span { "ARR" } strong { (money(mrr.times(12))) } }
            div.kpi { span { "Renewal" } strong { (date(a.renewal_date)) } }
            div.kpi { span { "Active users, 30 days" } strong { (active_now) @if seats > 0.0 { " / " (seats) " seats" } } }
            div.kpi { span { "NPS (last 20)" } strong { (nps_score.map_or("–".to_string(), |n| format!("{n:+.0}"))) } }
            div.kpi { span { "Open cases" } strong { (view.cases.iter().filter(|c| c.closed_at.is_none()).count()) } }
        }
        div.grid2 {
            section.card {
                h2 { "Profile" }
                dl {
                    @if let Some(ch) = &a.channel { dt { "Channel" } dd { (ch) } }
                    @for (k, v) in &a.attributes { dt { (k) } dd { (v) } }
                }
                h3 { "Coverage" }
                @if owners.is_empty() { p.muted { "Nobody covers this account." } }
                ul { @for o in &owners { li { (o.name) " · " (o.role.as_str().replace('_', " ")) } } }
            }
            section.card {
                h2 { "Stakeholders" }
                table.data { thead { tr { th { "Name" } th { "Team" } th { "Role" } } }
                    tbody { @for c in &view.contacts { tr { td { (c.name.as_deref().unwrap_or("–")) @if let Some(t) = &c.title { br; small.muted { (t) } } } td { (c.stakeholder_team.as_deref().unwrap_or("–")) } td { (c.role.as_deref().unwrap_or("–").replace('_', " ")) } } } } }
            }
        }
        div.grid2 {
            (mrr_history(&view, today))
            (usage(&view))
            (features(&view))
            (departments(&view))
        }
        section.card {
            h2 { "Contracts" }
            table.data #contracts {
                thead { tr { th { "Product" } th { "Start" } th { "End" } th.num { "MRR" } th.num { "Quantity" } th.num { "Billing (months)" } } }
                tbody { @for s in view.subscriptions.iter().rev() { @let s = &s.fields; tr {
                    td { (s.product) } td { (s.start_date) } td { (date(s.end_date)) } td.num { (money(s.mrr)) }
                    td.num { (s.quantity.map_or("–".to_string(), |q| format!("{q} {}", s.units.as_deref().unwrap_or("")))) } td.num { (s.bill_period_months) }
                } } }
            }
        }
        div.grid2 {
            section.card {
                h2 { "Support cases" }
                p.muted { (view.cases.len()) " cases, " (view.cases.iter().filter(|c| c.kind == "how_to").count()) " of them how-to (an adoption need)" }
                table.data { thead { tr { th { "Opened" } th { "Kind" } th.num { "Severity" } th { "Status" } th { "Subject" } } }
                    tbody { @for c in view.cases.iter().take(15) { tr { td { (c.opened_at.date_naive()) } td { (c.kind.replace('_', "-")) } td.num { (c.severity) } td { (c.status) } td { (c.subject.as_deref().unwrap_or("")) } } } } }
            }
            section.card {
                h2 { "Meetings" }
                table.data { thead { tr { th { "When" } th { "Team" } th { "Kind" } th { "Status" } } }
                    tbody { @for m in view.meetings.iter().take(15) { tr { td { (m.held_at.date_naive()) } td { (m.stakeholder_team.as_deref().unwrap_or("–")) } td { (m.kind.as_deref().unwrap_or("–")) } td class={"status-" (m.status)} { (m.status) } } } } }
            }
        }
        section.card {
            h2 { "Outcomes" }
            @if view.outcomes.is_empty() { p.muted { "No quantified outcomes agreed yet." } }
            table.data #outcomes { thead { tr { th { "Outcome" } th.num { "Baseline" } th.num { "Now" } th.num { "Target" } th { "By" } th.num { "Progress" } } }
                tbody { @for o in &view.outcomes {
                    @let now = o.measurements.last().map(|m| m.1);
                    @let progress = now.and_then(|n| (o.target != o.baseline).then(|| (n - o.baseline) / (o.target - o.baseline)));
                    tr { td { (o.name) } td.num { (num(o.baseline, &o.unit)) } td.num { (now.map_or("–".to_string(), |n| num(n, &o.unit))) } td.num { (num(o.target, &o.unit)) } td { (date(o.target_date)) }
                         td.num { (progress.map_or("–".to_string(), |p| format!("{:.0}%", p * 100.0))) } }
                } }
            }
        }
        section.card {
            h2 { "Timeline" }
            ol.timeline { @for (when, text) in timeline(&view).into_iter().take(60) { li { time { (when.date_naive()) } " " (text) } } }
        }
    };
    Ok(layout(&name, None, &user, body).into_response())
}

fn num(value: f64, unit: &Option<String>) -> String {
    let digits = if value.fract().abs() < 1e-9 { 0 } else { 1 };
    match unit.as_deref() {
        Some("%") => format!("{value:.digits$}%"),
        Some(u) => format!("{value:.digits$} {u}"),
        None => format!("{value:.digits$}"),
    }
}

/// MRR on the first of each month, over the last [`HISTORY_MONTHS`].
fn mrr_history(view: &AccountView, today: NaiveDate) -> Markup {
    let lines: Vec<_> = view.subscriptions.iter().map(|s| s.fields.clone()).collect();
    let this_month = today.with_day(1).unwrap_or(today);
    let days: Vec<NaiveDate> = (0..=HISTORY_MONTHS)
        .rev()
        .filter_map(|n| this_month.checked_sub_months(Months::new(n)))
        .collect();
    let values: Vec<Money> = days.iter().map(|d| mrr_on(&lines, *d)).collect();
    let svg = LineChart::new(days.iter().map(|d| d.format("%Y-%m").to_string()), ValueFormat::Money)
        .series(Series::new("MRR", values.iter().map(|m| m.to_f64())).color(Color::BLUE))
        .area(true)
        .to_svg();
    figure(
        "MRR history",
        svg,
        html! {
            table.data { thead { tr { th { "Day" } th.num { "MRR" } } } tbody { @for (d, m) in days.iter().zip(&values) { tr { td { (d) } td.num { (money(*m)) } } } } }
        },
        None,
    )
}

/// Active users per 30 days and events per 30 days, oldest first.
fn usage(view: &AccountView) -> Markup {
    let windows = 24i64;
    let mut events = vec![0i64; windows as usize];
    let today = super::today();
    for f in &view.features {
        let index = (today - f.day).num_days() / 30;
        if (0..windows).contains(&index) {
            events[index as usize] += f.events;
        }
    }
    let users: Vec<i64> = (0..windows)
        .map(|w| view.active_users.iter().find(|(i, _)| *i == w).map_or(0, |(_, n)| *n))
        .collect();
    let labels: Vec<String> = (0..windows)
        .rev()
        .map(|w| (today - chrono::TimeDelta::days(30 * w)).format("%Y-%m-%d").to_string())
        .collect();
    let svg = LineChart::new(labels.clone(), ValueFormat::Count)
        .series(Series::new("Active users", users.iter().rev().map(|n| *n as f64)).color(Color::BLUE))
        .to_svg();
    let events_rev: Vec<i64> = events.iter().rev().copied().collect();
    figure(
        "Active users per 30 days",
        svg,
        html! {
            table.data { thead { tr { th { "30 days to" } th.num { "Active users" } th.num { "Events" } } }
                tbody { @for (i, l) in labels.iter().enumerate() { tr { td { (l) } td.num { (users[users.len() - 1 - i]) } td.num { (events_rev[i]) } } } } }
        },
        None,
    )
}

/// Events per feature over the last 90 days.
fn features(view: &AccountView) -> Markup {
    let today = super::today();
    let mut by_feature: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for f in view.features.iter().filter(|f| (today - f.day).num_days() < 90) {
        let entry = by_feature.entry(f.feature.as_str()).or_default();
        entry.0 += f.events;
        entry.1 = entry.1.max(f.users);
    }
    let mut rows: Vec<(&str, (i64, i64))> = by_feature.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let svg = HorizontalBarChart::new("Events, last 90 days", ValueFormat::Count)
        .bars(
            rows.iter()
                .map(|(name, (events, _))| (name.to_string(), *events as f64)),
        )
        .color(Color::BLUISH_GREEN)
        .to_svg();
    figure(
        "Features used, last 90 days",
        svg,
        html! {
            table.data { thead { tr { th { "Feature" } th.num { "Events" } th.num { "Most users on a day" } } }
                tbody { @for (name, (events, users)) in &rows { tr { td { (name) } td.num { (events) } td.num { (users) } } } } }
        },
        None,
    )
}

fn departments(view: &AccountView) -> Markup {
    let svg = HorizontalBarChart::new("Product users", ValueFormat::Count)
        .bars(view.departments.iter().map(|(d, n)| (d.clone(), *n as f64)))
        .color(Color::REDDISH_PURPLE)
        .to_svg();
    figure(
        "Users by department",
        svg,
        html! {
            table.data { thead { tr { th { "Department" } th.num { "Users" } } } tbody { @for (d, n) in &view.departments { tr { td { (d) } td.num { (n) } } } } }
        },
        None,
    )
}

/// Everything that happened, newest first.
fn timeline(view: &AccountView) -> Vec<(DateTime<Utc>, String)> {
    let at = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let mut items: Vec<(DateTime<Utc>, String)> = Vec::new();
    for s in &view.subscriptions {
        let s = &s.fields;
        if let Some(t) = at(s.start_date) {
            items.push((t, format!("Contract started: {} at {}/month", s.product, money(s.mrr))));
        }
        if let Some(t) = s.end_date.and_then(at) {
            items.push((t, format!("Contract ended: {}", s.product)));
        }
    }
    for c in &view.cases {
        items.push((
            c.opened_at,
            format!(
                "Support case opened ({}, severity {}): {}",
                c.kind.replace('_', "-"),
                c.severity,
                c.subject.as_deref().unwrap_or("")
            ),
        ));
    }
    for m in &view.meetings {
        items.push((
            m.held_at,
            format!(
                "Meeting {} with the {} team: {}",
                m.kind.as_deref().unwrap_or(""),
                m.stakeholder_team.as_deref().unwrap_or("?"),
                m.status
            ),
        ));
    }
    for s in &view.surveys {
        items.push((
            s.responded_at,
            format!(
                "{} score {}{}",
                s.survey.to_uppercase(),
                s.score,
                s.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
            ),
        ));
    }
    let today = super::today();
    items.retain(|(t, _)| t.date_naive() <= today);
    items.sort_by(|a, b| b.0.cmp(&a.0));
    items
}
