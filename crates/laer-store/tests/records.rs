//! Records entered by hand, on both backends: each is audited once (sending the same
//! form again changes nothing), marks its account's health and the portfolio as an
//! import does, and a change made to an older version of a line or case is refused.

use std::collections::BTreeMap;

use chrono::{TimeDelta, Utc};
use laer_core::Money;
use laer_core::bridge::CoverageHistory;
use laer_core::model::*;
use laer_core::portfolio::replace_accounts;
use laer_store::{Accounts, IdLookup, KeyPart, LineChange, Listed, OnExisting, Store, StoreError, TaskChange};

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

/// Every account's snapshot, subscription lines and CSM coverage: the views the pages
/// keep of the portfolio.
async fn portfolio_views(
    store: &Store,
    today: chrono::NaiveDate,
    accounts: Accounts<'_>,
) -> (
    Vec<laer_core::portfolio::AccountSnapshot>,
    Vec<laer_core::retention::RevenueLine>,
    Vec<laer_core::bridge::CoverageSpell>,
) {
    (
        store.account_snapshots_of(today, accounts).await.unwrap(),
        store.revenue_lines_of(accounts).await.unwrap(),
        store.coverage_history_of(TeamRole::Csm, accounts).await.unwrap(),
    )
}

/// The pages keep the portfolio's views and, when it moves, read again only the accounts
/// its changes list (Store::changes): each way of writing contracts and coverage lists
/// the accounts it changed, so that the kept views with those accounts read again are
/// what reading everything again gives; a write that cannot say which lists none.
async fn each_portfolio_change_lists_the_accounts_it_changed(store: &Store) {
    let acme = seed(store).await;
    let today = Utc::now().date_naive();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("globex", "Globex"), account("initech", "Initech")])
        .await
        .unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: "kim".into(),
        name: "Kim".into(),
        email: None,
        roles: Some(vec![TeamRole::Csm]),
    }])
    .await
    .unwrap();
    let ids = tx.id_lookup(IdLookup::Accounts).await.unwrap();
    let (globex, initech) = (ids["globex"], ids["initech"]);
    let kim = tx.id_lookup(IdLookup::TeamMembers).await.unwrap()["kim"];
    tx.commit().await.unwrap();
    let line = |external_id: &str, account_id, mrr| NewSubscription {
        external_id: external_id.into(),
        account_id,
        product: "suite".into(),
        start_date: today - TimeDelta::days(200),
        end_date: None,
        mrr: Money::from_units(mrr).unwrap(),
        quantity: None,
        units: None,
        bill_period_months: 12,
        discount: None,
        original: None,
    };
    let start = store.revision(Listed::Portfolio).await.unwrap();
    let (mut snapshots, mut lines, spells) = portfolio_views(store, today, Accounts::All).await;
    let mut coverage = CoverageHistory::new(spells);
    let listed_since = |since| async move { store.changes(Listed::Portfolio, since).await.unwrap() };
    assert_eq!(
        listed_since(start).await.accounts,
        Some(vec![]),
        "nothing written since"
    );

    // A line by hand.
    let mut at = start;
    let added = store
        .create_record(
            &line("web-1", acme, 1_000),
            "web-1",
            OnExisting::Keep,
            "subscription.added",
            "kim",
        )
        .await
        .unwrap();
    let now = listed_since(at).await;
    assert_eq!(now.accounts, Some(vec![acme]), "a line by hand");
    at = now.revision;
    // Its change.
    store
        .change_subscription(added.id, 1, &LineChange::End(today - TimeDelta::days(3)), "kim")
        .await
        .unwrap();
    assert_eq!(listed_since(at).await.accounts, Some(vec![acme]), "a line changed");
    at = store.revision(Listed::Portfolio).await.unwrap();
    // An import of lines and coverage.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[line("crm-1", globex, 500), line("crm-2", initech, 700)])
        .await
        .unwrap();
    tx.upsert(&[NewCoverageAssignment {
        account_id: globex,
        team_member_id: kim,
        role: TeamRole::Csm,
        since: today - TimeDelta::days(30),
        until: None,
        reason: "imported".into(),
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        listed_since(at).await.accounts,
        Some(vec![globex, initech]),
        "an import"
    );
    at = store.revision(Listed::Portfolio).await.unwrap();
    // An owner by hand, and owners a CRM names.
    let draft = crate::automation::draft("Hand-off: Initech", &(today + TimeDelta::days(3)).to_string());
    store
        .assign_by_hand(initech, TeamRole::Csm, Some((kim, &draft)), "takes over", "lead", today)
        .await
        .unwrap();
    assert_eq!(listed_since(at).await.accounts, Some(vec![initech]), "an owner by hand");
    at = store.revision(Listed::Portfolio).await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    tx.set_owners(&[NewOwner {
        account_id: acme,
        team_member_id: kim,
        role: TeamRole::Csm,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        listed_since(at).await.accounts,
        Some(vec![acme]),
        "an owner a CRM names"
    );
    at = store.revision(Listed::Portfolio).await.unwrap();
    // A line deleted through the API.
    let mut tx = store.begin_write().await.unwrap();
    tx.delete::<NewSubscription>(&[KeyPart::Text("crm-1")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(listed_since(at).await.accounts, Some(vec![globex]), "a line deleted");

    // The views kept at the start, with the accounts listed since read again, are the
    // views read again in full.
    let changes = listed_since(start).await;
    let changed = changes.accounts.expect("every change listed");
    assert_eq!(changed, {
        let mut all = vec![acme, globex, initech];
        all.sort_unstable();
        all
    });
    let (fresh_snapshots, fresh_lines, fresh_spells) = portfolio_views(store, today, Accounts::Only(&changed)).await;
    replace_accounts(&mut snapshots, &changed, fresh_snapshots, |a| a.id);
    replace_accounts(&mut lines, &changed, fresh_lines, |l| l.account_id);
    coverage.replace(&changed, fresh_spells);
    let (all_snapshots, all_lines, all_spells) = portfolio_views(store, today, Accounts::All).await;
    assert_eq!(snapshots, all_snapshots);
    assert!(
        snapshots.iter().any(|a| a.id == initech && !a.owners.is_empty()),
        "{snapshots:?}"
    );
    assert_eq!(lines, all_lines);
    assert_eq!(coverage, CoverageHistory::new(all_spells));

    // Accounts written (an import does not know their ids before): every account.
    let at = store.revision(Listed::Portfolio).await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("hooli", "Hooli")]).await.unwrap();
    tx.commit().await.unwrap();
    let after = listed_since(at).await;
    assert_eq!((after.revision, after.accounts), (at + 1, None));
    assert_eq!(listed_since(after.revision).await.accounts, Some(vec![]));
}

laer_store::backend_tests!(
    survey_answers_and_cases_are_audited_once_and_mark_health,
    an_account_by_hand_is_created_once_and_keeps_its_external_id,
    contract_lines_are_added_changed_and_ended_without_lost_updates,
    tasks_of_ones_own_and_their_comments,
    each_portfolio_change_lists_the_accounts_it_changed,
);
