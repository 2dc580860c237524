//! The store's conformance suite: every story runs on SQLite and on PostgreSQL, and
//! both must behave the same.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use laer_core::Money;
use laer_core::model::*;
use laer_store::{IdLookup, Store, WriteCount};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 123_000).unwrap()
}

fn account(external_id: &str) -> NewAccount {
    NewAccount {
        external_id: external_id.into(),
        name: Some(format!("Account {external_id}")),
        segment: Some("smb".into()),
        channel: None,
        country: Some("DE".into()),
        date_of_birth: Some(day("2020-02-29")),
        renewal_date: Some(day("2027-01-31")),
        attributes: BTreeMap::from([("plan".to_string(), "gold".to_string())]),
    }
}

async fn seed_accounts(store: &Store, ids: &[&str]) -> std::collections::HashMap<String, i64> {
    let mut tx = store.begin_write().await.unwrap();
    let rows: Vec<NewAccount> = ids.iter().map(|id| account(id)).collect();
    tx.upsert(&rows).await.unwrap();
    let map = tx.id_lookup(IdLookup::Accounts).await.unwrap();
    tx.commit().await.unwrap();
    map
}

async fn a_fresh_database_is_empty(store: &Store) {
    store.ping().await.unwrap();
    assert_eq!(store.counts().await.unwrap(), EntityCounts::default());
}

async fn accounts_upsert_by_external_id(store: &Store) {
    let fresh = store.portfolio_revision().await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let first = tx.upsert(&[account("a"), account("b")]).await.unwrap();
    assert_eq!(
        first,
        WriteCount {
            written: 2,
            unchanged: 0
        }
    );
    tx.commit().await.unwrap();
    let written = store.portfolio_revision().await.unwrap();
    assert_ne!(written, fresh, "a write of accounts moves the portfolio revision");
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("a")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.portfolio_revision().await.unwrap(),
        written,
        "an unchanged rewrite does not"
    );

    let mut tx = store.begin_write().await.unwrap();
    let mut changed = account("b");
    changed.segment = Some("enterprise".into());
    changed.attributes.insert("region".into(), "emea".into());
    let second = tx.upsert(&[account("a"), changed.clone()]).await.unwrap();
    assert_eq!(
        second,
        WriteCount {
            written: 1,
            unchanged: 1
        }
    );
    tx.commit().await.unwrap();

    let stored = store.account_by_external_id("b").await.unwrap().unwrap();
    assert_eq!(stored.fields, changed);
    assert_eq!(store.account(stored.id).await.unwrap().unwrap(), stored);
    assert_eq!(store.counts().await.unwrap().accounts, 2);
    assert!(store.account_by_external_id("zz").await.unwrap().is_none());
    assert!(store.account(i64::MAX).await.unwrap().is_none());
}

async fn accounts_page_in_id_order(store: &Store) {
    seed_accounts(store, &["a", "b", "c", "d", "e"]).await;
    let first = store.accounts_page(None, 2).await.unwrap();
    assert_eq!(first.total, 5);
    let ids: Vec<&str> = first.accounts.iter().map(|a| a.fields.external_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let mut seen = ids.len();
    let mut after = first.next_after;
    while let Some(cursor) = after {
        let page = store.accounts_page(Some(cursor), 2).await.unwrap();
        assert!(page.accounts.iter().all(|a| a.id > cursor));
        seen += page.accounts.len();
        after = page.next_after;
    }
    assert_eq!(seen, 5);
    let all = store.accounts_page(None, 5).await.unwrap();
    assert_eq!(all.accounts.len(), 5);
    assert_eq!(all.next_after, None);
}

async fn a_dropped_transaction_writes_nothing(store: &Store) {
    {
        let mut tx = store.begin_write().await.unwrap();
        tx.upsert(&[account("a")]).await.unwrap();
    }
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("b")]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(store.counts().await.unwrap().accounts, 0);
}

async fn subscriptions_keep_money_and_dates_exact(store: &Store) {
    let ids = seed_accounts(store, &["a"]).await;
    let line = |external_id: &str, mrr: &str, end: Option<&str>| NewSubscription {
        external_id: external_id.into(),
        account_id: ids["a"],
        product: "premier_annual".into(),
        start_date: day("2024-01-31"),
        end_date: end.map(day),
        mrr: mrr.parse().unwrap(),
        quantity: Some(25.0),
        units: Some("seats".into()),
        bill_period_months: 12,
        discount: Some(0.15000000000000002),
        original: None,
    };
    let lines = vec![line("s1", "1799.9999", Some("2025-01-31")), line("s2", "0.0001", None)];
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.upsert(&lines).await.unwrap().written, 2);
    assert_eq!(tx.upsert(&lines).await.unwrap().unchanged, 2);
    tx.commit().await.unwrap();
    let stored: Vec<NewSubscription> = store
        .subscriptions_of(ids["a"])
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.fields)
        .collect();
    assert_eq!(stored, lines);
    assert_eq!(mrr_on(&stored, day("2024-06-01")), "1800".parse::<Money>().unwrap());
}

async fn events_are_kept_once(store: &Store) {
    let ids = seed_accounts(store, &["a", "b"]).await;
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewEventType {
        external_id: "0".into(),
        name: "login".into(),
    }])
    .await
    .unwrap();
    let types = tx.id_lookup(IdLookup::EventTypesByExternalId).await.unwrap();
    let events: Vec<NewEvent> = (0..2_500)
        .map(|i| NewEvent {
            account_id: if i % 2 == 0 { ids["a"] } else { ids["b"] },
            occurred_at: at(i / 3),
            event_type_id: types["0"],
            user_ref: (i % 5 != 0).then(|| format!("user\t{}\\x", i % 7)),
            value: (i % 4 == 0).then_some(i as f64 / 8.0),
            dedup_key: i,
        })
        .collect();
    assert_eq!(
        tx.upsert(&events).await.unwrap(),
        WriteCount {
            written: 2_500,
            unchanged: 0
        }
    );
    assert_eq!(
        tx.upsert(&events[..100]).await.unwrap(),
        WriteCount {
            written: 0,
            unchanged: 100
        }
    );
    tx.commit().await.unwrap();
    assert_eq!(store.counts().await.unwrap().events, 2_500);
    assert_eq!(store.counts().await.unwrap().event_types, 1);
}

/// Large batches (PostgreSQL copies them) and small ones (inserted) keep one event per key.
async fn batches_of_any_size_keep_one_event_per_key(store: &Store) {
    let ids = seed_accounts(store, &["a"]).await;
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewEventType {
        external_id: "0".into(),
        name: "login".into(),
    }])
    .await
    .unwrap();
    let types = tx.id_lookup(IdLookup::EventTypesByExternalId).await.unwrap();
    let event = |i: i64| NewEvent {
        account_id: ids["a"],
        occurred_at: at(i),
        event_type_id: types["0"],
        user_ref: None,
        value: None,
        dedup_key: i,
    };
    let mut big: Vec<NewEvent> = (0..3_000).map(event).collect();
    big.push(event(7));
    assert_eq!(
        tx.upsert(&big).await.unwrap(),
        WriteCount {
            written: 3_000,
            unchanged: 1
        }
    );
    let small: Vec<NewEvent> = vec![event(1), event(5_000), event(5_000)];
    assert_eq!(
        tx.upsert(&small).await.unwrap(),
        WriteCount {
            written: 1,
            unchanged: 2
        }
    );
    // A large batch over stored events' span keeps them (PostgreSQL finds the overlap
    // and stages the batch) ...
    let over: Vec<NewEvent> = (2_000..4_500).map(event).collect();
    assert_eq!(
        tx.upsert(&over).await.unwrap(),
        WriteCount {
            written: 1_500,
            unchanged: 1_000
        }
    );
    // ... and one past every stored event is written straight (copied on PostgreSQL).
    let after: Vec<NewEvent> = (6_000..8_000).map(event).collect();
    assert_eq!(
        tx.upsert(&after).await.unwrap(),
        WriteCount {
            written: 2_000,
            unchanged: 0
        }
    );
    tx.commit().await.unwrap();
    assert_eq!(store.counts().await.unwrap().events, 6_501);
}

async fn every_entity_round_trips_its_count(store: &Store) {
    let ids = seed_accounts(store, &["a"]).await;
    let a = ids["a"];
    let mut tx = store.begin_write().await.unwrap();
    let contact = NewContact {
        external_id: "c1".into(),
        account_id: a,
        name: Some("Ada".into()),
        email: Some("ada@example.com".into()),
        phone: None,
        title: Some("CIO".into()),
        stakeholder_team: Some("executive".into()),
        role: Some("executive_sponsor".into()),
    };
    assert_eq!(tx.upsert(&[contact]).await.unwrap().written, 1);
    let user = NewProductUser {
        external_id: "u1".into(),
        account_id: a,
        email: None,
        name: None,
        department: Some("finance".into()),
        created_at: Some(at(0)),
    };
    assert_eq!(tx.upsert(&[user]).await.unwrap().written, 1);
    let case = NewSupportCase {
        external_id: "k1".into(),
        account_id: a,
        opened_at: at(0),
        closed_at: Some(at(3600)),
        severity: 2,
        kind: CaseKind::HowTo,
        status: CaseStatus::Closed,
        subject: Some("How do I export?".into()),
    };
    assert_eq!(tx.upsert(&[case]).await.unwrap().written, 1);
    let meeting = NewTouchpoint {
        external_id: "m1".into(),
        account_id: a,
        held_at: at(0),
        kind: TouchpointKind::BusinessReview,
        purpose: Some("qbr".into()),
        status: MeetingStatus::Held,
        duration_minutes: Some(45),
        stakeholder_teams: vec!["security".into()],
        contact_ids: vec![],
        team_member_ids: vec![],
        summary: None,
        next_step: None,
    };
    assert_eq!(tx.upsert(&[meeting]).await.unwrap().written, 1);
    let cadence = NewMeetingCadence::new(a, "security", 60).unwrap();
    assert_eq!(tx.upsert(&[cadence]).await.unwrap().written, 1);
    let survey = NewSurveyResponse {
        external_id: "r1".into(),
        account_id: a,
        contact_ref: Some("c1".into()),
        survey: SurveyKind::Nps,
        score: 9,
        responded_at: at(10),
        comment: Some("great".into()),
    };
    assert_eq!(tx.upsert(&[survey]).await.unwrap().written, 1);
    let outcome = NewOutcome {
        external_id: "o1".into(),
        account_id: a,
        name: "Offices with local breakout".into(),
        unit: Some("%".into()),
        baseline: 10.0,
        target: 90.0,
        start_date: Some(day("2024-01-01")),
        target_date: Some(day("2024-12-31")),
        direction: laer_core::model::Direction::Higher,
    };
    assert_eq!(tx.upsert(&[outcome]).await.unwrap().written, 1);
    let outcomes = tx.id_lookup(IdLookup::Outcomes).await.unwrap();
    let measurement = NewOutcomeMeasurement {
        outcome_id: outcomes["o1"],
        measured_on: day("2024-03-01"),
        value: 25.0,
        source: None,
        note: None,
        recorded_by: None,
    };
    assert_eq!(tx.upsert(std::slice::from_ref(&measurement)).await.unwrap().written, 1);
    assert_eq!(tx.upsert(&[measurement]).await.unwrap().unchanged, 1);
    let member = NewTeamMember {
        external_id: "t1".into(),
        name: "Grace".into(),
        email: None,
        roles: Some(vec![TeamRole::Csm, TeamRole::RenewalSpecialist]),
    };
    assert_eq!(tx.upsert(&[member]).await.unwrap().written, 1);
    let members = tx.id_lookup(IdLookup::TeamMembers).await.unwrap();
    let task = NewTask {
        external_id: "task1".into(),
        account_id: Some(a),
        assignee_id: Some(members["t1"]),
        title: "Plan the QBR".into(),
        due_on: Some(day("2024-04-01")),
        status: TaskStatus::Open,
        created_at: at(0),
    };
    assert_eq!(tx.upsert(&[task]).await.unwrap().written, 1);
    tx.append_audit(&NewAuditEntry {
        at: at(0),
        actor: "test".into(),
        action: "import".into(),
        details: serde_json::json!({"rows": 1}),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts,
        EntityCounts {
            accounts: 1,
            contacts: 1,
            product_users: 1,
            subscriptions: 0,
            event_types: 0,
            events: 0,
            support_cases: 1,
            meetings: 1,
            meeting_cadences: 1,
            survey_responses: 1,
            outcomes: 1,
            outcome_measurements: 1,
            team_members: 1,
            owners: 0,
            tasks: 1,
            exchange_rates: 0,
            audit_entries: 1,
        }
    );
}

fn cadence(account_id: i64, team: &str, every_days: i64) -> NewMeetingCadence {
    NewMeetingCadence::new(account_id, team, every_days).unwrap()
}

async fn meeting_cadences_are_kept_per_account_and_team(store: &Store) {
    let ids = seed_accounts(store, &["a", "b", "c"]).await;
    let (a, b) = (ids["a"], ids["b"]);
    let mut tx = store.begin_write().await.unwrap();
    let first = [
        cadence(b, "network", 30),
        cadence(b, "Executive", 90),
        cadence(a, "application", 30),
        // Byte order puts "app_owners" first; a linguistic collation would not.
        cadence(a, "app_owners", 60),
    ];
    assert_eq!(
        tx.upsert(&first).await.unwrap(),
        WriteCount {
            written: 4,
            unchanged: 0
        }
    );
    tx.commit().await.unwrap();
    let all = |rows: &[(i64, &str, i32)]| -> Vec<(i64, String, i32)> {
        rows.iter().map(|(a, t, d)| (*a, t.to_string(), *d)).collect()
    };
    let of = |cadences: Vec<NewMeetingCadence>| -> Vec<(String, i32)> {
        cadences
            .into_iter()
            .map(|c| (c.stakeholder_team, c.every_days))
            .collect()
    };
    assert_eq!(
        store
            .meeting_cadences()
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.account_id, c.stakeholder_team, c.every_days))
            .collect::<Vec<_>>(),
        all(&[
            (a, "app_owners", 60),
            (a, "application", 30),
            (b, "executive", 90),
            (b, "network", 30),
        ]),
        "by account, then team"
    );

    // Storing the same again changes nothing; a new cadence for a team replaces its old one.
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(
        tx.upsert(&first).await.unwrap(),
        WriteCount {
            written: 0,
            unchanged: 4
        }
    );
    let second = [cadence(b, "network", 45), cadence(b, "executive", 90)];
    assert_eq!(
        tx.upsert(&second).await.unwrap(),
        WriteCount {
            written: 1,
            unchanged: 1
        }
    );
    // Later rows for the same account and team replace earlier ones, on both backends.
    let repeated = [cadence(a, "application", 10), cadence(a, "application", 20)];
    assert_eq!(tx.upsert(&repeated).await.unwrap().written, 2);
    assert_eq!(
        tx.upsert::<NewMeetingCadence>(&[]).await.unwrap(),
        WriteCount::default()
    );
    tx.commit().await.unwrap();

    assert_eq!(
        of(store.meeting_cadences_of(b).await.unwrap()),
        [("executive".to_string(), 90), ("network".to_string(), 45)]
    );
    assert_eq!(
        of(store.meeting_cadences_of(a).await.unwrap()),
        [("app_owners".to_string(), 60), ("application".to_string(), 20)]
    );
    assert_eq!(store.meeting_cadences_of(ids["c"]).await.unwrap(), []);
    assert_eq!(store.counts().await.unwrap().meeting_cadences, 4);

    // A cadence must belong to a stored account.
    let mut tx = store.begin_write().await.unwrap();
    let orphan = cadence(a + b + ids["c"] + 1, "network", 30);
    assert!(tx.upsert(&[orphan]).await.is_err());
    drop(tx);
    assert_eq!(store.counts().await.unwrap().meeting_cadences, 4);
}

/// Coverage in one role, past and present, gives the owner of any account on any day.
async fn coverage_history_names_the_owner_on_any_day(store: &Store) {
    let accounts = seed_accounts(store, &["a", "b", "c"]).await;
    let mut tx = store.begin_write().await.unwrap();
    let member = |external_id: &str, name: &str| NewTeamMember {
        external_id: external_id.into(),
        name: name.into(),
        email: None,
        roles: Some(vec![TeamRole::Csm, TeamRole::AccountExecutive]),
    };
    tx.upsert(&[member("t1", "Kim"), member("t2", "Ana"), member("t3", "Bo")])
        .await
        .unwrap();
    let members = tx.id_lookup(IdLookup::TeamMembers).await.unwrap();
    let cover = |account: &str, member: &str, role, since: &str, until: Option<&str>| NewCoverageAssignment {
        account_id: accounts[account],
        team_member_id: members[member],
        role,
        since: day(since),
        until: until.map(day),
        reason: "test".into(),
    };
    tx.upsert(&[
        cover("a", "t1", TeamRole::Csm, "2025-01-01", Some("2026-02-01")),
        cover("a", "t2", TeamRole::Csm, "2026-02-01", None),
        cover("b", "t3", TeamRole::Csm, "2025-06-01", None),
        cover("b", "t2", TeamRole::AccountExecutive, "2025-01-01", None),
        cover("c", "t1", TeamRole::AccountExecutive, "2025-01-01", None),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let spells = store.coverage_history(TeamRole::Csm).await.unwrap();
    assert_eq!(spells.len(), 3, "only the role's coverage");
    assert!(spells.iter().all(|s| s.owner.role == TeamRole::Csm));
    let first = &spells[0];
    assert_eq!(
        (first.account_id, first.owner.name.as_str(), first.external_id.as_str()),
        (accounts["a"], "Kim", "t1")
    );
    assert_eq!((first.since, first.until), (day("2025-01-01"), Some(day("2026-02-01"))));
    let history = laer_core::bridge::CoverageHistory::new(spells);
    let owner = |account: &str, on: &str| {
        history
            .owner_on(accounts[account], day(on))
            .map(|s| s.owner.name.clone())
    };
    assert_eq!(owner("a", "2026-01-31").as_deref(), Some("Kim"));
    assert_eq!(owner("a", "2026-02-01").as_deref(), Some("Ana"));
    assert_eq!(owner("b", "2025-05-31"), None);
    assert_eq!(owner("b", "2026-01-01").as_deref(), Some("Bo"));
    assert_eq!(owner("c", "2026-01-01"), None, "an account executive is no CSM");
    let executives = store.coverage_history(TeamRole::AccountExecutive).await.unwrap();
    assert_eq!(executives.len(), 2);
    assert!(
        store
            .coverage_history(TeamRole::RenewalSpecialist)
            .await
            .unwrap()
            .is_empty()
    );
}

laer_store::backend_tests!(
    a_fresh_database_is_empty,
    records_are_named_by_their_key_and_deleted,
    accounts_upsert_by_external_id,
    accounts_page_in_id_order,
    a_dropped_transaction_writes_nothing,
    subscriptions_keep_money_and_dates_exact,
    events_are_kept_once,
    batches_of_any_size_keep_one_event_per_key,
    every_entity_round_trips_its_count,
    meeting_cadences_are_kept_per_account_and_team,
    coverage_history_names_the_owner_on_any_day,
);

#[tokio::test]
async fn reopening_keeps_data_and_applied_migrations() {
    for backend in [laer_store::Backend::Sqlite, laer_store::Backend::Postgres] {
        let Some(db) = laer_store::test_support::TestDatabase::new(backend).await else {
            continue;
        };
        assert_eq!(db.store.backend(), backend);
        seed_accounts(&db.store, &["a"]).await;
        let again = Store::open(&db.url).await.unwrap();
        assert_eq!(again.counts().await.unwrap().accounts, 1, "{backend:?}");
    }
}

#[tokio::test]
async fn unsupported_urls_are_named() {
    let err = Store::open("mysql://root:pw@localhost/x")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unsupported database URL"), "{err}");
    assert!(!err.contains("pw"), "{err}");
}

/// Issue 14, REST writes: the ids of records just written, and deleting one by its key,
/// which marks its account's health as a write does.
async fn records_are_named_by_their_key_and_deleted(store: &Store) {
    use laer_store::KeyPart;
    let ids = seed_accounts(store, &["a", "b"]).await;
    let (a, b) = (ids["a"], ids["b"]);
    let answer = |external_id: &str, account_id: i64| NewSurveyResponse {
        external_id: external_id.into(),
        account_id,
        contact_ref: None,
        survey: SurveyKind::Nps,
        score: 9,
        responded_at: at(0),
        comment: Some("Great onboarding".into()),
    };
    let mut tx = store.begin_write().await.unwrap();
    let answers = [answer("s1", a), answer("s2", b)];
    tx.upsert(&answers).await.unwrap();
    let stored = tx.ids_of(&answers).await.unwrap();
    assert!(stored.iter().all(Option::is_some), "{stored:?}");
    assert_ne!(stored[0], stored[1]);
    assert_eq!(tx.ids_of(&[answer("nobody", a)]).await.unwrap(), [None]);
    assert_eq!(laer_store::accounts_of(&answers), {
        let mut both = vec![a, b];
        both.sort_unstable();
        both
    });
    let cadence = NewMeetingCadence::new(a, "Executive", 30).unwrap();
    tx.upsert(std::slice::from_ref(&cadence)).await.unwrap();
    assert_eq!(
        tx.ids_of(&[cadence]).await.unwrap(),
        [None],
        "a cadence has no id of its own"
    );
    tx.commit().await.unwrap();
    laer_store::test_support::claim_marked(store).await;

    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(
        tx.delete::<NewSurveyResponse>(&[KeyPart::Text("s1")]).await.unwrap(),
        [a]
    );
    assert!(
        tx.delete::<NewSurveyResponse>(&[KeyPart::Text("s1")])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        tx.delete::<NewMeetingCadence>(&[KeyPart::Int(b), KeyPart::Text("executive")])
            .await
            .unwrap(),
        Vec::<i64>::new(),
        "b has no cadence"
    );
    assert_eq!(
        tx.delete::<NewMeetingCadence>(&[KeyPart::Int(a), KeyPart::Text("executive")])
            .await
            .unwrap(),
        [a]
    );
    assert!(
        tx.delete::<NewSurveyResponse>(&[KeyPart::Int(a), KeyPart::Text("x")])
            .await
            .is_err(),
        "a key of the wrong length"
    );
    tx.commit().await.unwrap();
    assert_eq!(laer_store::test_support::claim_marked(store).await, [a]);
    let mut tx = store.begin_write().await.unwrap();
    let left = tx.ids_of(&[answer("s1", a), answer("s2", b)]).await.unwrap();
    assert_eq!((left[0], left[1].is_some()), (None, true));
}
