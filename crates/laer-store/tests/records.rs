//! Records entered by hand, on both backends: each is audited once (sending the same
//! form again changes nothing), marks its account's health and the portfolio as an
//! import does, and a change made to an older version of a line or case is refused.

use std::collections::BTreeMap;

use chrono::{TimeDelta, Utc};
use laer_core::Money;
use laer_core::model::*;
use laer_store::{IdLookup, LineChange, OnExisting, Store, StoreError, TaskChange};

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn account(external_id: &str, name: &str) -> NewAccount {
    NewAccount {
        external_id: external_id.into(),
        name: Some(name.into()),
        segment: Some("Enterprise".into()),
        channel: None,
        country: Some("DE".into()),
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::new(),
    }
}

async fn seed(store: &Store) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("acme", "Acme")]).await.unwrap();
    let id = tx.id_lookup(IdLookup::Accounts).await.unwrap()["acme"];
    tx.commit().await.unwrap();
    // What the seed marked is not what these tests look for.
    laer_store::test_support::claim_marked(store).await;
    id
}

async fn actions(store: &Store, account: i64) -> Vec<String> {
    let mut audit: Vec<String> = store
        .audit_of_account(account)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    audit.reverse();
    audit
}

async fn survey_answers_and_cases_are_audited_once_and_mark_health(store: &Store) {
    let acme = seed(store).await;
    let answer = NewSurveyResponse {
        external_id: "web-nps-1".into(),
        account_id: acme,
        contact_ref: None,
        survey: SurveyKind::Nps,
        score: 9,
        responded_at: Utc::now(),
        comment: Some("Great onboarding".into()),
    };
    let created = store
        .create_record(&answer, "web-nps-1", OnExisting::Keep, "survey_response.created", "kim")
        .await
        .unwrap();
    assert!(created.written);
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    let again = store
        .create_record(&answer, "web-nps-1", OnExisting::Keep, "survey_response.created", "kim")
        .await
        .unwrap();
    assert_eq!(
        (again.id, again.written),
        (created.id, false),
        "the same form twice is one answer"
    );
    assert!(laer_store::test_support::claim_marked(store).await.is_empty());

    let case = NewSupportCase {
        external_id: "web-case-1".into(),
        account_id: acme,
        opened_at: Utc::now() - TimeDelta::hours(2),
        closed_at: None,
        severity: 2,
        kind: CaseKind::HowTo,
        status: CaseStatus::Open,
        subject: Some("SSO setup".into()),
    };
    let opened = store
        .create_record(&case, "web-case-1", OnExisting::Keep, "support_case.opened", "kim")
        .await
        .unwrap();
    let stored = store.support_case(opened.id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.fields.status), (1, CaseStatus::Open));
    laer_store::test_support::claim_marked(store).await;
    let closed = store
        .change_case_status(opened.id, 1, CaseStatus::Closed, "kim")
        .await
        .unwrap();
    assert_eq!((closed.version, closed.fields.status), (2, CaseStatus::Closed));
    assert!(closed.fields.closed_at.is_some_and(|c| c >= case.opened_at));
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    // A second person still looking at version 1.
    let stale = store.change_case_status(opened.id, 1, CaseStatus::Pending, "lee").await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    let kept = store.support_case(opened.id).await.unwrap().unwrap();
    assert_eq!((kept.version, kept.fields.status), (2, CaseStatus::Closed));
    let reopened = store
        .change_case_status(opened.id, 2, CaseStatus::Open, "kim")
        .await
        .unwrap();
    assert_eq!((reopened.fields.closed_at, reopened.version), (None, 3));
    assert_eq!(
        actions(store, acme).await,
        [
            "survey_response.created",
            "support_case.opened",
            "support_case.changed",
            "support_case.changed"
        ]
    );
    assert_eq!(store.support_cases_of(acme, 10).await.unwrap().len(), 1);
}

async fn an_account_by_hand_is_created_once_and_keeps_its_external_id(store: &Store) {
    let before = store.portfolio_revision().await.unwrap();
    let globex = account("globex", "Globex");
    let created = store.create_account(&globex, "kim").await.unwrap();
    assert!(created.written);
    assert!(
        store.portfolio_revision().await.unwrap() > before,
        "the portfolio is made again"
    );
    let again = store.create_account(&globex, "kim").await.unwrap();
    assert_eq!((again.id, again.written), (created.id, false));
    let other = store.create_account(&account("globex", "Another Globex"), "lee").await;
    match other {
        Err(StoreError::Refused { field, .. }) => assert_eq!(field, "external_id"),
        other => panic!("expected a refusal naming external_id, got {other:?}"),
    }
    let stored = store.account(created.id).await.unwrap().unwrap();
    assert_eq!(
        stored.fields.name.as_deref(),
        Some("Globex"),
        "the refused one changed nothing"
    );
    assert_eq!(actions(store, created.id).await, ["account.created"]);
}

async fn contract_lines_are_added_changed_and_ended_without_lost_updates(store: &Store) {
    let acme = seed(store).await;
    let line = NewSubscription {
        external_id: "web-line-1".into(),
        account_id: acme,
        product: "suite".into(),
        start_date: day("2026-01-01"),
        end_date: None,
        mrr: Money::from_units(1_000).unwrap(),
        quantity: Some(50.0),
        units: Some("seats".into()),
        bill_period_months: 12,
        discount: None,
        original: None,
    };
    let revision = store.portfolio_revision().await.unwrap();
    let added = store
        .create_record(&line, "web-line-1", OnExisting::Keep, "subscription.added", "kim")
        .await
        .unwrap();
    assert!(store.portfolio_revision().await.unwrap() > revision);
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    let repeat = store
        .create_record(&line, "web-line-1", OnExisting::Keep, "subscription.added", "kim")
        .await
        .unwrap();
    assert!(!repeat.written);
    assert_eq!(store.subscriptions_of(acme).await.unwrap().len(), 1);

    let more = NewSubscription {
        mrr: Money::from_units(1_500).unwrap(),
        quantity: Some(75.0),
        ..line.clone()
    };
    let revision = store.portfolio_revision().await.unwrap();
    let changed = store
        .change_subscription(added.id, 1, &LineChange::Change(more.clone()), "kim")
        .await
        .unwrap();
    assert_eq!((changed.version, changed.line.fields.mrr), (2, more.mrr));
    assert!(store.portfolio_revision().await.unwrap() > revision);
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    // Lee opened the line before Kim's change: refused, Kim's change stays.
    let lees = NewSubscription {
        mrr: Money::from_units(800).unwrap(),
        ..line.clone()
    };
    let stale = store
        .change_subscription(added.id, 1, &LineChange::Change(lees), "lee")
        .await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    let kept = store.subscription_line(added.id).await.unwrap().unwrap();
    assert_eq!((kept.version, kept.line.fields.mrr), (2, more.mrr));

    let early = store
        .change_subscription(added.id, 2, &LineChange::End(day("2025-12-31")), "kim")
        .await;
    match early {
        Err(StoreError::Refused { field, .. }) => assert_eq!(field, "end_date"),
        other => panic!("expected a refusal naming end_date, got {other:?}"),
    }
    let ended = store
        .change_subscription(added.id, 2, &LineChange::End(day("2026-07-01")), "kim")
        .await
        .unwrap();
    assert_eq!(
        (ended.line.fields.end_date, ended.version),
        (Some(day("2026-07-01")), 3)
    );
    assert_eq!(ended.line.fields.mrr, more.mrr, "ending keeps the rest");

    // An import that changes the line moves its version too: an edit opened before it
    // cannot undo it.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewSubscription {
        external_id: "web-line-1".into(),
        quantity: Some(80.0),
        ..ended.line.fields.clone()
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.subscription_line(added.id).await.unwrap().unwrap().version, 4);
    let after_import = store
        .change_subscription(added.id, 3, &LineChange::End(day("2026-08-01")), "kim")
        .await;
    assert!(
        matches!(after_import, Err(StoreError::Stale { .. })),
        "{after_import:?}"
    );
    assert_eq!(
        actions(store, acme).await,
        ["subscription.added", "subscription.changed", "subscription.ended"]
    );
    assert_eq!(store.subscription_lines_of(acme).await.unwrap()[0].version, 4);
}

async fn tasks_of_ones_own_and_their_comments(store: &Store) {
    let acme = seed(store).await;
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: "kim".into(),
        name: "Kim".into(),
        email: Some("kim@vendor.example".into()),
        roles: Some(vec![TeamRole::AccountExecutive]),
    }])
    .await
    .unwrap();
    let kim = tx.id_lookup(IdLookup::TeamMembers).await.unwrap()["kim"];
    tx.commit().await.unwrap();
    let task = NewTask::own(
        "web-task-1",
        "Send the onboarding plan",
        Some(day("2026-07-01")),
        Some(kim),
        Some(acme),
        Utc::now(),
    )
    .unwrap();
    let created = store.create_task(&task, "Kim <kim@vendor.example>").await.unwrap();
    assert!(created.written);
    let again = store.create_task(&task, "Kim <kim@vendor.example>").await.unwrap();
    assert_eq!((again.id, again.written), (created.id, false));
    let row = store.task(created.id).await.unwrap().unwrap();
    assert_eq!(
        (row.title.as_str(), row.assignee_id, row.playbook.as_deref(), row.status),
        ("Send the onboarding plan", Some(kim), None, TaskStatus::Open)
    );
    let stranger = NewTask::own("web-task-2", "x", None, Some(kim + 99), None, Utc::now()).unwrap();
    match store.create_task(&stranger, "kim").await {
        Err(StoreError::Refused { field, .. }) => assert_eq!(field, "assignee"),
        other => panic!("expected a refusal naming the assignee, got {other:?}"),
    }

    for body in ["Called the sponsor", "Plan sent"] {
        store
            .update_task(
                created.id,
                &TaskChange::Comment(body.into()),
                "Kim <kim@vendor.example>",
            )
            .await
            .unwrap();
    }
    let long = store
        .update_task(created.id, &TaskChange::Comment("x".repeat(10_001)), "kim")
        .await;
    match long {
        Err(StoreError::Refused { field, message }) => {
            assert_eq!(field, "comment");
            assert!(message.contains("at most 10000"), "{message}");
        }
        other => panic!("expected a refusal naming the comment, got {other:?}"),
    }
    let of_task = store.task_comments_of(&[created.id, created.id + 99]).await.unwrap();
    let bodies: Vec<&str> = of_task[&created.id].iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["Called the sponsor", "Plan sent"]);
    let timeline = store.task_comments_of_account(acme).await.unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(
        (
            timeline[0].body.as_str(),
            timeline[0].task_title.as_str(),
            timeline[0].author.as_str(),
            timeline[0].task_id
        ),
        (
            "Plan sent",
            "Send the onboarding plan",
            "Kim <kim@vendor.example>",
            created.id
        ),
        "newest first, with the task's title"
    );
    assert_eq!(
        actions(store, acme).await,
        ["task.created", "task.commented", "task.commented"]
    );
}

laer_store::backend_tests!(
    survey_answers_and_cases_are_audited_once_and_mark_health,
    an_account_by_hand_is_created_once_and_keeps_its_external_id,
    contract_lines_are_added_changed_and_ended_without_lost_updates,
    tasks_of_ones_own_and_their_comments,
);
