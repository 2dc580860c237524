//! Success plans on both backends: milestones kept in order with every change audited,
//! share links that find their plan until revoked (tokens kept only as hashes), and the
//! records a plan is assembled from, usage counted per window as the rollups define it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use laer_core::Money;
use laer_core::model::*;
use laer_core::success_plan::{InterventionRecord, UsageWindow, usage_windows};
use laer_store::{IdLookup, MilestoneChange, Store, StoreError, TaskChange};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const TODAY: &str = "2026-06-30";

async fn account(store: &Store, external_id: &str) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount {
        external_id: external_id.into(),
        name: Some(format!("{external_id} Corp")),
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::new(),
    }])
    .await
    .unwrap();
    let id = tx.id_lookup(IdLookup::Accounts).await.unwrap()[external_id];
    tx.commit().await.unwrap();
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

async fn milestones_keep_their_order_and_every_change_is_audited(store: &Store) {
    let acme = account(store, "acme").await;
    let add = |title: &str, due: &str, side| NewMilestone::new(acme, title, day(due), side).unwrap();
    let integration = store
        .add_milestone(
            &add("Directory connected", "2026-03-01", MilestoneSide::Customer),
            "kim",
        )
        .await
        .unwrap();
    let kickoff = store
        .add_milestone(&add("Kick-off", "2026-01-10", MilestoneSide::Vendor), "kim")
        .await
        .unwrap();
    let training = store
        .add_milestone(
            &add("Administrators trained", "2026-03-01", MilestoneSide::Vendor),
            "kim",
        )
        .await
        .unwrap();
    assert_eq!(integration.fields.title, "Directory connected");
    assert_eq!(integration.fields.done_on, None);
    let order: Vec<i64> = store.milestones(acme).await.unwrap().iter().map(|m| m.id).collect();
    assert_eq!(
        order,
        [kickoff.id, integration.id, training.id],
        "by due date, then in the order added"
    );

    let done = store
        .change_milestone(kickoff.id, MilestoneChange::Done(day("2026-01-09")), "kim")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.fields.done_on, Some(day("2026-01-09")));
    let reopened = store
        .change_milestone(kickoff.id, MilestoneChange::Reopen, "lee")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reopened.fields.done_on, None);
    let removed = store
        .change_milestone(training.id, MilestoneChange::Remove, "lee")
        .await
        .unwrap();
    assert_eq!(removed, None);
    assert_eq!(store.milestones(acme).await.unwrap().len(), 2);
    assert_eq!(
        actions(store, acme).await,
        [
            "milestone.added",
            "milestone.added",
            "milestone.added",
            "milestone.done",
            "milestone.reopened",
            "milestone.removed"
        ]
    );
    let audit = store.audit_of_account(acme).await.unwrap();
    assert_eq!(audit[0].actor, "lee");
    assert_eq!(audit[0].details["title"], "Administrators trained");

    // Bad input changes nothing, and says what was wrong.
    let mut blank = add("x", "2026-05-01", MilestoneSide::Customer);
    blank.title = "  ".into();
    match store.add_milestone(&blank, "kim").await {
        Err(StoreError::Invalid(why)) => assert!(why.starts_with("title:"), "{why}"),
        other => panic!("expected an invalid title, got {other:?}"),
    }
    let mut elsewhere = add("Kick-off", "2026-05-01", MilestoneSide::Customer);
    elsewhere.account_id = acme + 100;
    assert!(matches!(
        store.add_milestone(&elsewhere, "kim").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .change_milestone(training.id, MilestoneChange::Reopen, "kim")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(actions(store, acme).await.len(), 6);

    // Milestones from outside are added once; the team's changes stay.
    let demo = |n: u32, due: &str| NewMilestone {
        external_id: Some(format!("m-{n}")),
        account_id: acme,
        title: format!("Step {n}"),
        due_on: day(due),
        done_on: None,
        side: MilestoneSide::Customer,
    };
    let rows = [demo(1, "2026-07-01"), demo(2, "2026-07-01")];
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.upsert_milestones(&rows).await.unwrap().written, 2);
    tx.commit().await.unwrap();
    let listed = store.milestones(acme).await.unwrap();
    let step1 = listed.iter().find(|m| m.fields.title == "Step 1").unwrap().id;
    let titles: Vec<&str> = listed.iter().map(|m| m.fields.title.as_str()).collect();
    assert_eq!(titles[2..], ["Step 1", "Step 2"], "in the order given");
    store
        .change_milestone(step1, MilestoneChange::Done(day("2026-06-29")), "kim")
        .await
        .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.upsert_milestones(&rows).await.unwrap().written, 0);
    tx.commit().await.unwrap();
    let step1 = store.milestone(step1).await.unwrap().unwrap();
    assert_eq!(step1.fields.done_on, Some(day("2026-06-29")));
}

async fn a_share_link_finds_its_plan_until_it_is_revoked(store: &Store) {
    let acme = account(store, "acme").await;
    let other = account(store, "globex").await;
    let laer_store::Created {
        record: link,
        secret: token,
    } = store.create_share_link(acme, "kim").await.unwrap();
    assert!(token.starts_with("sp_") && token.len() == 67, "{token}");
    assert_eq!(link.prefix, token[..10]);
    assert_eq!((link.account_id, link.created_by.as_str()), (acme, "kim"));
    assert_eq!(link.revoked_at, None);
    assert_eq!(store.shared_plan_account(&token).await.unwrap(), Some(acme));
    let second = store.create_share_link(acme, "kim").await.unwrap().secret;
    let globex = store.create_share_link(other, "lee").await.unwrap().secret;
    assert_ne!(second, token, "every link has a token of its own");
    assert_eq!(store.shared_plan_account(&globex).await.unwrap(), Some(other));
    for unknown in ["", "sp_", &token[..20], &format!("{token}x"), &token.to_uppercase()] {
        assert_eq!(store.shared_plan_account(unknown).await.unwrap(), None, "{unknown}");
    }
    let listed = store.share_links(acme).await.unwrap();
    assert_eq!(listed.len(), 2);
    let text = serde_json::to_string(&listed).unwrap();
    assert!(
        !text.contains(&token) && !text.contains(&second),
        "lists never hold tokens"
    );

    let revoked = store.revoke_share_link(link.id, "lee").await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(revoked.revoked_by.as_deref(), Some("lee"));
    assert_eq!(store.shared_plan_account(&token).await.unwrap(), None, "revoked");
    assert_eq!(
        store.shared_plan_account(&second).await.unwrap(),
        Some(acme),
        "the other link still works"
    );
    let again = store.revoke_share_link(link.id, "kim").await.unwrap();
    assert_eq!(again, revoked, "revoking twice changes nothing");
    assert!(matches!(
        store.revoke_share_link(link.id + 100, "kim").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.create_share_link(other + 100, "kim").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        actions(store, acme).await,
        ["plan.link_created", "plan.link_created", "plan.link_revoked"]
    );
}

async fn a_plan_reads_its_records_and_counts_usage_per_window(store: &Store) {
    let acme = account(store, "acme").await;
    let today = day(TODAY);
    store
        .set_plan_objective(acme, "  Every office online in a day ", "kim")
        .await
        .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewSubscription {
        external_id: "s1".into(),
        account_id: acme,
        product: "Platform".into(),
        start_date: day("2025-01-01"),
        end_date: None,
        mrr: Money::from_units(1000).unwrap(),
        quantity: Some(10.0),
        units: Some("seats".into()),
        bill_period_months: 12,
        discount: None,
        original: None,
    }])
    .await
    .unwrap();
    tx.upsert(&[NewContact {
        external_id: "c1".into(),
        account_id: acme,
        name: Some("Ada Obi".into()),
        email: None,
        phone: None,
        title: Some("CIO".into()),
        stakeholder_team: Some("executive".into()),
        role: Some("executive_sponsor".into()),
    }])
    .await
    .unwrap();
    tx.upsert(&[NewOutcome {
        external_id: "o1".into(),
        account_id: acme,
        name: "Offices with local breakout".into(),
        unit: Some("%".into()),
        baseline: 10.0,
        target: 60.0,
        start_date: Some(day("2026-01-01")),
        target_date: Some(day("2026-12-31")),
        direction: laer_core::model::Direction::Higher,
    }])
    .await
    .unwrap();
    let outcome = tx.id_lookup(IdLookup::Outcomes).await.unwrap()["o1"];
    tx.upsert(&[
        NewOutcomeMeasurement {
            outcome_id: outcome,
            measured_on: day("2026-05-01"),
            value: 30.0,
            source: None,
            note: None,
            recorded_by: None,
        },
        NewOutcomeMeasurement {
            outcome_id: outcome,
            measured_on: day("2026-02-01"),
            value: 12.0,
            source: None,
            note: None,
            recorded_by: None,
        },
    ])
    .await
    .unwrap();
    let meeting = |id: &str, held: &str, kind: &str, status| NewTouchpoint {
        external_id: id.into(),
        account_id: acme,
        held_at: at(held),
        kind: TouchpointKind::Meeting,
        purpose: Some(kind.into()),
        status,
        duration_minutes: None,
        stakeholder_teams: vec!["application".into()],
        contact_ids: vec![],
        team_member_ids: vec![],
        summary: None,
        next_step: None,
    };
    tx.upsert(&[
        meeting("m1", "2026-04-15T10:00:00Z", "training", MeetingStatus::Held),
        meeting("m2", "2026-05-15T10:00:00Z", "training", MeetingStatus::Missed),
        meeting("m3", "2025-01-15T10:00:00Z", "training", MeetingStatus::Held), // over a year ago
    ])
    .await
    .unwrap();
    tx.upsert(&[NewTask {
        external_id: "t1".into(),
        account_id: Some(acme),
        assignee_id: None,
        title: "Adoption plan for acme".into(),
        due_on: Some(day("2026-05-20")),
        status: TaskStatus::Open,
        created_at: at("2026-05-01T09:00:00Z"),
    }])
    .await
    .unwrap();
    let user = |id: &str, department: Option<&str>| NewProductUser {
        external_id: id.into(),
        account_id: acme,
        email: None,
        name: None,
        department: department.map(Into::into),
        created_at: None,
    };
    tx.upsert(&[
        user("u1", Some("sales")),
        user("u2", Some("sales")),
        user("u3", Some("ops")),
        user("u4", None),
        user("u5", Some("finance")),
    ])
    .await
    .unwrap();
    tx.upsert(&[NewEventType {
        external_id: "1".into(),
        name: "report".into(),
    }])
    .await
    .unwrap();
    let report = tx.id_lookup(IdLookup::EventTypesByExternalId).await.unwrap()["1"];
    let events: Vec<NewEvent> = [
        ("u1", "2026-06-29T10:00:00Z"),
        ("u1", "2026-06-29T15:00:00Z"),
        // Midnight belongs to the day before (docs/metrics.md): May 31, not June.
        ("u2", "2026-06-01T00:00:00Z"),
        ("u3", "2026-06-15T12:00:00Z"),
        ("u3", "2026-04-20T12:00:00Z"),
        ("u4", "2026-04-10T12:00:00Z"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (user, when))| NewEvent {
        account_id: acme,
        occurred_at: at(when),
        event_type_id: report,
        user_ref: Some(user.to_string()),
        value: None,
        dedup_key: i as i64,
    })
    .collect();
    tx.add_events(&events).await.unwrap();
    tx.commit().await.unwrap();
    let task = store
        .tasks(
            &laer_store::TaskFilter {
                account_id: Some(acme),
                ..Default::default()
            },
            today,
        )
        .await
        .unwrap()[0]
        .id;
    store
        .update_task(task, &TaskChange::DoneOn(day("2026-05-20")), "kim")
        .await
        .unwrap();
    store
        .add_milestone(
            &NewMilestone::new(acme, "Kick-off", day("2026-01-10"), MilestoneSide::Vendor).unwrap(),
            "kim",
        )
        .await
        .unwrap();

    let r = store.plan_records(acme, today).await.unwrap().unwrap();
    assert_eq!(r.account, "acme Corp");
    assert_eq!(r.objective.as_deref(), Some("Every office online in a day"));
    assert_eq!(r.outcomes.len(), 1);
    assert_eq!(r.outcomes[0].unit.as_deref(), Some("%"));
    assert_eq!(r.outcomes[0].start_date, Some(day("2026-01-01")));
    assert_eq!(
        r.measurements,
        [vec![(day("2026-02-01"), 12.0), (day("2026-05-01"), 30.0)]]
    );
    assert_eq!(r.stakeholders.len(), 1);
    assert_eq!(r.stakeholders[0].role.as_deref(), Some("executive_sponsor"));
    assert_eq!(r.milestones.len(), 1);
    let mut interventions = r.interventions.clone();
    interventions.sort_by_key(|i| i.on());
    assert_eq!(
        interventions,
        [
            InterventionRecord::Meeting {
                on: day("2026-04-15"),
                kind: Some("training".into()),
                team: Some("application".into()),
            },
            InterventionRecord::Task {
                on: day("2026-05-20"),
                title: "Adoption plan for acme".into(),
                playbook: None,
            },
        ],
        "held meetings and done tasks of the last year"
    );
    let u = &r.usage;
    assert_eq!(u.seats, Some(10.0));
    assert_eq!(
        (u.departments_known, u.departments_active),
        (3, 2),
        "sales and ops active in June"
    );
    let asked = usage_windows(&r.interventions, today);
    assert_eq!(u.active_users.len(), asked.len(), "every window asked for is counted");
    let users = |from: &str, until: &str| {
        let w = UsageWindow {
            from: day(from),
            until: day(until),
        };
        u.active_users.iter().find(|(x, _)| *x == w).map(|(_, n)| *n)
    };
    assert_eq!(
        users("2026-06-01", "2026-07-01"),
        Some(2),
        "u1 and u3; u2's midnight is May 31"
    );
    assert_eq!(users("2026-03-16", "2026-04-15"), Some(1), "before the training: u4");
    assert_eq!(users("2026-04-15", "2026-05-15"), Some(1), "after it: u3");
    assert_eq!(users("2026-04-20", "2026-05-20"), Some(1), "before the task: u3");
    assert_eq!(
        users("2026-05-20", "2026-06-19"),
        Some(2),
        "after it: u2 (May 31) and u3"
    );

    // The account page's 30-day windows back from today (June 1-30, May 2-31, April 2 to
    // May 1): each window's distinct users, windows without use absent.
    let view = store.account_view(acme, today).await.unwrap().unwrap();
    let counts = |w: &[laer_store::WindowCount]| w.iter().map(|c| (c.window, c.count)).collect::<Vec<_>>();
    assert_eq!(
        counts(&view.active_users),
        [(0, 2), (1, 1), (2, 2)],
        "u1 (twice) and u3; u2 on May 31; u3 and u4"
    );
    assert_eq!(counts(&view.events), [(0, 3), (1, 1), (2, 2)]);

    let plan = laer_core::success_plan::assemble(&r, today);
    assert_eq!(plan.implement.enablement.active_users, 2);
    assert_eq!(plan.implement.enablement.utilisation, Some(0.2));
    assert_eq!(plan.optimize.len(), 2);

    store.set_plan_objective(acme, "", "kim").await.unwrap();
    let r = store.plan_records(acme, today).await.unwrap().unwrap();
    assert_eq!(r.objective, None, "an empty objective clears it");
    let long = "x".repeat(laer_store::MAX_OBJECTIVE_CHARS + 1);
    assert!(matches!(
        store.set_plan_objective(acme, &long, "kim").await,
        Err(StoreError::Invalid(why)) if why.starts_with("objective:")
    ));
    assert_eq!(store.plan_records(acme + 100, today).await.unwrap(), None);
    assert_eq!(
        actions(store, acme).await,
        ["plan.objective", "task.done", "milestone.added", "plan.objective"]
    );
}

laer_store::backend_tests!(
    milestones_keep_their_order_and_every_change_is_audited,
    a_share_link_finds_its_plan_until_it_is_revoked,
    a_plan_reads_its_records_and_counts_usage_per_window,
);
