//! Storing the demo company, on each backend: what the generator knows beyond its
//! records reaches the store.

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

laer_store::backend_tests!(the_profiles_meeting_cadences_are_stored);
