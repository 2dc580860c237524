//! Demo company generation speed and size.
//!
//! cargo bench -p laer-demo --bench demo -- [--accounts N] [--months M] [--seed S] [--today YYYY-MM-DD] [--in-memory]
//!
//! `--in-memory` holds every event (as `generate` does) instead of counting them as they
//! are generated account by account.
//!
//! The target is the default company (300 accounts, 24 months) well under 5 seconds in a
//! debug build, as `laer demo` runs it from `cargo run`: measure that with
//! `cargo test -p laer-demo --bench demo -- --accounts 300`.

use std::time::Instant;

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate, TimeDelta};
use laer_core::Money;
use laer_core::model::SurveyKind;
use laer_core::retention::{MovementKind, Period, RevenueLine, account_movements, total_movements};
use laer_demo::{ChangeKind, DemoCompany, DemoConfig, generate, generate_records};

fn main() {
    let today = NaiveDate::from_ymd_opt(2025, 6, 15).expect("a valid date");
    let mut config = DemoConfig::new(today);
    let mut in_memory = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--accounts" => config.accounts = value().parse().expect("--accounts N"),
            "--months" => config.months = value().parse().expect("--months M"),
            "--seed" => config.seed = value().parse().expect("--seed S"),
            "--today" => config.today = value().parse().expect("--today YYYY-MM-DD"),
            "--in-memory" => in_memory = true,
            "--bench" => {} // passed by cargo bench
            other => panic!("unknown argument {other}"),
        }
    }
    if in_memory {
        let started = Instant::now();
        let company = generate(&config);
        println!(
            "{} accounts, {} months: {} events in memory, generated in {:.2} s",
            config.accounts,
            config.months,
            company.events.len(),
            started.elapsed().as_secs_f64()
        );
        return;
    }
    let started = Instant::now();
    let (company, usage) = generate_records(&config);
    let records = started.elapsed();
    let events_started = Instant::now();
    let events = usage.events().count();
    let events_time = events_started.elapsed();
    println!(
        "{} accounts, {} months: records in {:.2} s, {} events in {:.2} s (total {:.2} s)",
        config.accounts,
        config.months,
        records.as_secs_f64(),
        events,
        events_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "team {}, coverage {}, contacts {}, product users {}, subscriptions {}, event types {}, support cases {}, \
         meetings {}, survey responses {}, outcomes {}, measurements {}, driver months {}, contract changes {}",
        company.team.len(),
        company.coverage.len(),
        company.contacts.len(),
        company.product_users.len(),
        company.subscriptions.len(),
        company.event_types.len(),
        company.support_cases.len(),
        company.meetings.len(),
        company.survey_responses.len(),
        company.outcomes.len(),
        company.outcome_measurements.len(),
        company.drivers.len(),
        company.contract_changes.len(),
    );
    summary(&config, &company);
}

/// The business the company does, to judge its realism.
fn summary(config: &DemoConfig, company: &DemoCompany) {
    let mut lines: Vec<RevenueLine> = company
        .subscriptions
        .iter()
        .map(|s| RevenueLine {
            account_id: s.account_id,
            start_date: s.start_date,
            end_date: s.end_date,
            mrr: s.mrr,
            bill_period_months: s.bill_period_months,
            original: None,
        })
        .collect();
    lines.sort_by_key(|l| l.account_id);
    let Some(year_ago) = config.today.checked_sub_months(Months::new(12)) else {
        return;
    };
    let year = Period {
        from: year_ago,
        to: config.today,
    };
    let movements = account_movements(&lines, year, &laer_core::fx::Rates::none());
    let total = total_movements(&movements);
    let count = |kind| movements.iter().filter(|m| m.kind == kind).count();
    println!(
        "last 12 months: MRR {} -> {}; new {} ({} accounts), reactivation {} ({}), expansion {} ({}), \
         contraction {} ({}), churn {} ({}); NRR {:.1}%, GRR {:.1}%",
        total.start,
        total.end,
        total.new,
        count(MovementKind::New),
        total.reactivation,
        count(MovementKind::Reactivation),
        total.expansion,
        count(MovementKind::Expansion),
        total.contraction,
        count(MovementKind::Contraction),
        total.churn,
        count(MovementKind::Churn),
        100.0 * total.net_revenue_retention().unwrap_or(0.0),
        100.0 * total.gross_revenue_retention().unwrap_or(0.0),
    );
    let mut changes: BTreeMap<String, usize> = BTreeMap::new();
    for change in &company.contract_changes {
        *changes.entry(format!("{:?}", change.kind)).or_default() += 1;
    }
    println!("contract changes (all time): {changes:?}");
    let customers: BTreeMap<String, usize> = company
        .accounts
        .iter()
        .zip(&company.profiles)
        .filter(|(_, p)| p.seats > 0)
        .fold(BTreeMap::new(), |mut by, (a, _)| {
            *by.entry(a.segment.clone().unwrap_or_default()).or_default() += 1;
            by
        });
    let mrr_today: Money = company
        .subscriptions
        .iter()
        .filter(|s| s.is_active_on(config.today))
        .map(|s| s.mrr)
        .sum();
    println!("customers today by segment {customers:?}, MRR {mrr_today}");
    let due = |days| {
        company
            .profiles
            .iter()
            .filter(|p| p.bill_period_months == Some(12))
            .filter_map(|p| p.renewal_date)
            .filter(|r| *r <= config.today + TimeDelta::days(days))
            .count()
    };
    println!(
        "annual renewals due within 30 days {}, 90 days {}, 180 days {}",
        due(30),
        due(90),
        due(180)
    );
    let nps: Vec<i32> = company
        .survey_responses
        .iter()
        .filter(|s| s.survey == SurveyKind::Nps)
        .map(|s| s.score)
        .collect();
    let share = |f: fn(&i32) -> bool| nps.iter().filter(|s| f(s)).count() as f64 / nps.len().max(1) as f64;
    println!(
        "NPS {:.0} over {} responses",
        100.0 * (share(|s| *s >= 9) - share(|s| *s <= 6)),
        nps.len()
    );
    // Logo churn over the last 12 months, per segment: churned / customers a year ago.
    let segment_of = |account: i64| company.accounts[account as usize].segment.clone().unwrap_or_default();
    let mut rates: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for m in movements.iter().filter(|m| !m.start.is_zero()) {
        let entry = rates.entry(segment_of(m.account_id)).or_default();
        entry.1 += 1;
        if m.kind == MovementKind::Churn {
            entry.0 += 1;
        }
    }
    let rates: Vec<String> = rates
        .iter()
        .map(|(segment, (churned, start))| {
            format!(
                "{segment} {churned}/{start} = {:.0}%",
                100.0 * *churned as f64 / *start as f64
            )
        })
        .collect();
    println!("logo churn over the last 12 months: {}", rates.join(", "));
    let churns = company
        .contract_changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Churn)
        .count();
    println!("churns (all time) {churns}");
}
