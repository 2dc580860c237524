//! Storing the demo company, on each backend: what the generator knows beyond its
//! records reaches the store.

use chrono::Datelike;
use laer_demo::{DemoConfig, generate_records};
use laer_store::Store;

fn config() -> DemoConfig {
    DemoConfig {
        accounts: 30,
        months: 6,
        seed: 5,
        ..DemoConfig::new("2025-06-30".parse().unwrap())
    }
}

/// Every account's agreed days between meetings per stakeholder team (the generator's
/// profiles) are stored as its meeting cadences, and storing the company again keeps them.
async fn the_profiles_meeting_cadences_are_stored(store: &Store) {
    let config = config();
    let (company, _) = generate_records(&config);
    laer_app::demo::load(
        store,
        &config,
        &laer_core::health::HealthModel::default(),
        "demo test password",
    )
    .await
    .unwrap();

    let ids = store.account_external_ids().await.unwrap();
    let mut stored: Vec<(String, String, i32)> = store
        .meeting_cadences()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (ids[&c.account_id].clone(), c.stakeholder_team, c.every_days))
        .collect();
    stored.sort();
    let mut expected: Vec<(String, String, i32)> = company
        .accounts
        .iter()
        .zip(&company.profiles)
        .flat_map(|(account, profile)| {
            profile
                .meeting_cadence_days
                .iter()
                .map(|(team, days)| (account.external_id.clone(), team.clone(), *days as i32))
        })
        .collect();
    expected.sort();
    assert!(
        expected.len() > company.accounts.len(),
        "the demo has cadences with several teams: {}",
        expected.len()
    );
    assert_eq!(stored, expected);
    let teams: std::collections::BTreeSet<&str> = stored.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(
        teams.into_iter().collect::<Vec<_>>(),
        ["application", "executive", "network", "security"]
    );

    let account = store.account_by_external_id(&expected[0].0).await.unwrap().unwrap();
    let of_account: Vec<(String, i32)> = expected
        .iter()
        .filter(|(a, _, _)| *a == expected[0].0)
        .map(|(_, t, d)| (t.clone(), *d))
        .collect();
    let stored_of_account: Vec<(String, i32)> = store
        .meeting_cadences_of(account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.stakeholder_team, c.every_days))
        .collect();
    assert_eq!(stored_of_account, of_account);

    let counts = store.counts().await.unwrap();
    laer_app::demo::load(
        store,
        &config,
        &laer_core::health::HealthModel::default(),
        "demo test password",
    )
    .await
    .unwrap();
    assert_eq!(
        store.counts().await.unwrap(),
        counts,
        "storing the demo again changes nothing"
    );
    assert_eq!(counts.meeting_cadences, expected.len() as i64);
}

/// Issues 19, items 2 and 5: on the demo company the churn forecast is learned from its
/// own history, checked out of sample, and scored beside the oracle the generator kept —
/// each renewal decision with the true chance of churn it was drawn with.
async fn the_forecast_is_learned_here_and_scored_against_the_oracle(store: &Store) {
    use laer_core::forecast::churn::Source;
    let config = DemoConfig {
        accounts: 250,
        months: 30,
        seed: 7,
        ..DemoConfig::new("2026-06-30".parse().unwrap())
    };
    let (company, _) = generate_records(&config);
    let model = laer_core::health::HealthModel::default();
    laer_app::demo::load(store, &config, &model, "demo test password")
        .await
        .unwrap();
    let oracle = store.demo_oracle().await.unwrap();
    let kept: usize = oracle.values().map(Vec::len).sum();
    let drawn: usize = company.profiles.iter().map(|p| p.renewal_decisions.len()).sum();
    assert_eq!(kept, drawn, "every decision the generator drew is kept");
    assert!(drawn > config.accounts, "{drawn} decisions");
    assert!(oracle.values().flatten().all(|(_, p)| (0.0..=1.0).contains(p)));

    let days = laer_app::health::replay_days(store, &model, config.today, 90)
        .await
        .unwrap();
    let report = laer_app::health::validation(store, &model, &days, config.today, 90)
        .await
        .unwrap();
    let forecast = report.forecast.clone().expect("learned with the validation");
    assert!(
        matches!(forecast.model.source, Source::Learned { .. }),
        "{:?}",
        forecast.model.source
    );
    let e = forecast.evaluation.expect("checked out of sample");
    let o = e.oracle.clone().expect("scored against the oracle");
    assert_eq!(o.cases, e.churn.cases);
    assert!((o.brier - e.churn.brier).abs() < 1e-12);
    assert!(e.churn.auc.unwrap() > 0.7, "{e:#?}");
    assert!(
        e.churn.brier < e.churn.reference_brier,
        "better than the rate alone: {e:#?}"
    );
    assert!(o.oracle_brier < o.brier, "the truth scores better: {o:?}");
    assert!(o.oracle_auc.unwrap() > o.auc.unwrap(), "{o:?}");
    // The kept report reads back with it, as the pages read it.
    let (_, summary) = laer_app::health::latest_validation(store, &model.name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.churn_model(), forecast.model);

    // The renewal forecast replayed over the past quarters: each forecast on its eve
    // (a quarter's eve among the replayed month ends) from what was known then.
    let backtest = report.renewal_backtest.clone().expect("replayed with the validation");
    assert!(!backtest.quarters.is_empty(), "{backtest:?}");
    assert!(
        !backtest.too_early.is_empty(),
        "the first quarters have too little before them"
    );
    for q in &backtest.quarters {
        assert!(days.contains(&q.taken_on), "{q:?}");
        assert!(q.taken_on.succ_opt().unwrap().day0() == 0 && q.renewals > 0, "{q:?}");
        assert!(q.actual_arr > 0.0 && q.error.unwrap() < 0.5, "{q:?}");
        assert!(q.interval.low <= q.interval.expected && q.interval.expected <= q.interval.high);
    }
    assert_eq!(summary.renewal_backtest.as_ref(), Some(&backtest));
    // Leaving follows adoption in the demo company: the Cox model over the replayed
    // months finds it, per 10 points of the pillar's score.
    let hazards = report
        .health_hazards
        .clone()
        .unwrap_or_else(|| panic!("{:?}", report.health_hazards_note));
    let adoption = hazards
        .ratios
        .iter()
        .find(|r| r.covariate.starts_with("Adoption"))
        .expect("adoption is a covariate");
    assert!(adoption.upper < 1.0, "{hazards:#?}");
    assert_eq!(summary.health_hazards, Some(hazards));
}

/// The revenue page's phases on past quarters' first days (issue 20) are those an
/// assessment gives, kept once; a change to an account's contracts back then marks it,
/// and its kept phase is read as it was until the engine's refresh assesses it again.
async fn past_phases_are_kept_once_and_assessed_again_after_history_changes(store: &Store) {
    use laer_core::bridge::shown_quarters;
    use laer_core::lifecycle::Phase;
    use laer_store::Accounts;
    use std::collections::HashMap;

    let config = config();
    let model = laer_core::health::HealthModel::default();
    laer_app::demo::load(store, &config, &model, "demo test password")
        .await
        .unwrap();
    let quarters = shown_quarters(config.today);
    let days: Vec<chrono::NaiveDate> = quarters.iter().filter_map(|q| q.first_day()).collect();
    let model = &model;
    let assessed = |day| async move {
        store
            .assess(model, day, Accounts::All)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.account_id, a.phase.phase))
            .collect::<HashMap<i64, Phase>>()
    };
    let (quarters, today) = (&quarters, config.today);
    let past = |lines: Vec<laer_core::retention::RevenueLine>| async move {
        laer_app::past_phases::past_phases(store, model, quarters, &lines, today)
            .await
            .unwrap()
    };
    let lines = store.revenue_lines().await.unwrap();
    let first = past(lines.clone()).await;
    assert_eq!(first.stale, 0);
    for day in &days {
        assert_eq!(first.phases[day], assessed(*day).await, "{day}");
    }
    assert_eq!(store.kept_phase_days(&model.phase_key()).await.unwrap(), days);

    // A customer on the last kept day has its contracts then ended on that day, as a
    // correction of its history: it had left by then.
    let day = *days.last().unwrap();
    let customers = laer_core::retention::mrr_by_account(&lines, day);
    let (&account, _) = customers.iter().next().expect("a customer on the last kept day");
    let before = first.phases[&day][&account];
    assert_ne!(before, Phase::Churned);
    let ended: Vec<laer_core::model::NewSubscription> = store
        .subscription_lines_of(account)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.line.fields)
        .filter(|l| l.is_active_on(day))
        .map(|l| laer_core::model::NewSubscription {
            end_date: Some(day),
            ..l
        })
        .collect();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&ended).await.unwrap();
    tx.commit().await.unwrap();
    let lines = store.revenue_lines().await.unwrap();
    let marked = past(lines.clone()).await;
    assert_eq!(marked.stale, 1);
    assert_eq!(marked.phases, first.phases, "read as kept until assessed again");
    let now = assessed(day).await[&account];
    assert!(matches!(now, Phase::Churned | Phase::Land), "{before:?} became {now:?}");

    assert_eq!(laer_app::past_phases::refresh(store, model).await.unwrap(), 1);
    let refreshed = past(lines).await;
    assert_eq!(refreshed.stale, 0);
    for day in &days {
        assert_eq!(refreshed.phases[day], assessed(*day).await, "{day}");
    }
    assert_eq!(refreshed.phases[&day][&account], now);
    assert_eq!(laer_app::past_phases::refresh(store, model).await.unwrap(), 0);
}

/// The events go in over many commits, every one stored once with its rollups exact;
/// storing the company again adds none.
async fn events_committed_in_parts_are_all_stored_once(store: &Store) {
    let config = config();
    let model = laer_core::health::HealthModel::default();
    let load = laer_app::demo::load_committing_every(store, &config, &model, "demo test password", 2_000)
        .await
        .unwrap();
    assert!(load.events > 20_000, "several commits: {} events", load.events);
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.events as u64, load.events);
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0);

    laer_app::demo::load_committing_every(store, &config, &model, "demo test password", 3_000)
        .await
        .unwrap();
    assert_eq!(store.counts().await.unwrap().events, counts.events);
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0);
}

laer_store::backend_tests!(
    events_committed_in_parts_are_all_stored_once,
    the_profiles_meeting_cadences_are_stored,
    the_forecast_is_learned_here_and_scored_against_the_oracle,
    past_phases_are_kept_once_and_assessed_again_after_history_changes,
);
