//! The coverage model's and the playbooks' records, on both backends: a cause fires once
//! even when two nodes decide at the same time, an open episode blocks a second one until
//! it closes, a role is never taken twice, and every change to a task is audited.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use laer_core::automation::{CoverageChange, Firing, RunChange, TaskDraft};
use laer_core::model::*;
use laer_store::test_support::TestDatabase;
use laer_store::{AccountPlan, Backend, IdLookup, PlannedChange, Store, TaskChange, TaskFilter};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

struct Seeded {
    account: i64,
    csm: i64,
    other_csm: i64,
}

async fn seed(store: &Store) -> Seeded {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount {
        external_id: "acme".into(),
        name: Some("Acme".into()),
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::new(),
    }])
    .await
    .unwrap();
    let member = |id: &str| NewTeamMember {
        external_id: id.into(),
        name: id.into(),
        email: Some(format!("{id}@vendor.example")),
        roles: Some(vec![TeamRole::Csm]),
    };
    tx.upsert(&[member("csm-1"), member("csm-2")]).await.unwrap();
    let accounts = tx.id_lookup(IdLookup::Accounts).await.unwrap();
    let team = tx.id_lookup(IdLookup::TeamMembers).await.unwrap();
    tx.commit().await.unwrap();
    Seeded {
        account: accounts["acme"],
        csm: team["csm-1"],
        other_csm: team["csm-2"],
    }
}

pub(crate) fn draft(title: &str, due: &str) -> TaskDraft {
    TaskDraft {
        role: TeamRole::Csm,
        title: title.into(),
        due_on: day(due),
        steps: vec!["Call them".into()],
        reason: format!("{title}: 5 support cases in the last 14 days"),
        context: "why".into(),
    }
}

fn fire(cause: &str) -> RunChange {
    RunChange::Fire(Firing {
        playbook: "support-spike".into(),
        cause: cause.into(),
        evidence: "cases 5 (at least 3)".into(),
        episode: true,
        tasks: vec![draft("Support spike at Acme", "2026-06-03")],
        emails: vec![laer_core::automation::EmailDraft {
            to: laer_core::automation::Recipient::Owner(TeamRole::Csm),
            subject: "Support spike at Acme".into(),
            body: "Five cases this week.".into(),
        }],
        chats: vec![laer_core::automation::ChatDraft {
            to: "cs-alerts".into(),
            message: laer_core::chat::ChatMessage {
                title: "Support spike: Acme".into(),
                summary: "5 cases in 14 days".into(),
                sections: vec![],
                link: None,
            },
        }],
    })
}

fn plan(s: &Seeded, member: i64, runs: Vec<RunChange>) -> Vec<AccountPlan> {
    vec![AccountPlan {
        account_id: s.account,
        coverage: vec![PlannedChange {
            change: CoverageChange::Start {
                role: TeamRole::Csm,
                member_id: member,
                reason: "Adopt: the CSM owns the relationship".into(),
            },
            handoff: Some(draft("Hand-off: Acme", "2026-06-04")),
        }],
        runs,
    }]
}

async fn count(store: &Store, filter: TaskFilter) -> usize {
    store.tasks(&filter, day("2026-06-01")).await.unwrap().len()
}

/// Two nodes (two stores on one database) decide the same things at the same time.
async fn a_cause_fires_once_from_two_nodes(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let node_a = db.store.clone();
    let node_b = Store::open(&db.url).await.unwrap();
    let s = seed(&node_a).await;
    node_a
        .add_webhook(
            "http://127.0.0.1:9/hook",
            &["*".into()],
            "test",
            &laer_store::test_support::secret_box(),
        )
        .await
        .unwrap();
    let hook = laer_store::NewChatHook {
        name: "cs-alerts",
        kind: laer_core::chat::ChatKind::Slack,
        url: "https://hooks.slack.com/services/T0/B0/secret",
        user_id: None,
        digest_hour: None,
    };
    let hook_id = node_a
        .add_chat_hook(&hook, "test", &laer_store::test_support::secret_box())
        .await
        .unwrap();
    let d = day("2026-06-01");
    for round in 0..5 {
        // Each node believes a different CSM should take the free role.
        let (plan_a, plan_b) = (
            plan(&s, s.csm, vec![fire("from 2026-06-01")]),
            plan(&s, s.other_csm, vec![fire("from 2026-06-01")]),
        );
        let (a, b) = tokio::join!(
            node_a.apply_automation(d, &plan_a, "automation", true),
            node_b.apply_automation(d, &plan_b, "automation", true),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let expected = if round == 0 { 1 } else { 0 };
        assert_eq!(a.runs_fired + b.runs_fired, expected, "round {round}");
        assert_eq!(a.owners_started + b.owners_started, expected, "round {round}");
        assert_eq!(a.chats_queued + b.chats_queued, expected, "round {round}");
    }
    let runs = node_a.playbook_runs(Some("support-spike"), None).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].open);
    let holders = node_a
        .coverage_state(d, laer_store::Accounts::All)
        .await
        .unwrap()
        .holders;
    assert_eq!(holders[&s.account].len(), 1, "one CSM: {:?}", holders[&s.account]);
    let owner = holders[&s.account][0].member_id;
    // One hand-off and one playbook task, the latter for the CSM who took the role.
    let tasks = node_a.tasks(&TaskFilter::default(), d).await.unwrap();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let spike = tasks
        .iter()
        .find(|t| t.playbook.as_deref() == Some("support-spike"))
        .unwrap();
    assert_eq!(spike.assignee_id, Some(owner));
    assert_eq!(spike.cause.as_deref(), Some("from 2026-06-01"));
    assert_eq!(spike.role, Some(TeamRole::Csm));
    let handoff = tasks.iter().find(|t| t.playbook.as_deref() == Some("handoff")).unwrap();
    assert_eq!(handoff.assignee_id, Some(owner));
    // Each email and event queued once: to the owner who took the role.
    let queued = node_a.deliveries(None, 100).await.unwrap();
    let of = |event: &str| queued.iter().filter(|d| d.event == event).collect::<Vec<_>>();
    let emails: Vec<_> = queued.iter().filter(|d| d.channel == "email").collect();
    assert_eq!(emails.len(), 1, "{queued:?}");
    let owner_email = if owner == s.csm {
        "csm-1@vendor.example"
    } else {
        "csm-2@vendor.example"
    };
    assert_eq!(emails[0].recipient.as_deref(), Some(owner_email));
    let chats: Vec<_> = queued.iter().filter(|d| d.channel == "chat").collect();
    assert_eq!(chats.len(), 1, "{queued:?}");
    assert_eq!(chats[0].chat_hook_id, Some(hook_id));
    assert_eq!(of("playbook.fired").len(), 1);
    assert_eq!(of("coverage.started").len(), 1);
    assert_eq!(of("task.created").len(), 2, "the hand-off and the spike's task");

    // Two nodes claiming at once share the outbox: each delivery goes to one of them.
    let now = chrono::Utc::now();
    let lease = now + chrono::TimeDelta::seconds(60);
    let (a, b) = tokio::join!(
        node_a.claim_deliveries("a", now, lease, 3),
        node_b.claim_deliveries("b", now, lease, 100),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), queued.len());
    assert!(a.iter().all(|x| b.iter().all(|y| x.id != y.id)));
    assert!(
        node_a.claim_deliveries("c", now, lease, 100).await.unwrap().is_empty(),
        "leased"
    );

    // While the episode is open, a new cause of the same playbook does not fire.
    let later = plan(&s, s.csm, vec![fire("from 2026-06-05")]);
    let o = node_b
        .apply_automation(day("2026-06-05"), &later, "automation", true)
        .await
        .unwrap();
    assert_eq!(o.runs_fired, 0);
    // Once it closed, it does.
    let close = vec![AccountPlan {
        account_id: s.account,
        coverage: vec![],
        runs: vec![RunChange::Close {
            playbook: "support-spike".into(),
            cause: "from 2026-06-01".into(),
        }],
    }];
    let o = node_a
        .apply_automation(day("2026-06-20"), &close, "automation", true)
        .await
        .unwrap();
    assert_eq!(o.runs_closed, 1);
    let o = node_b
        .apply_automation(
            day("2026-06-25"),
            &plan(&s, s.csm, vec![fire("from 2026-06-25")]),
            "automation",
            true,
        )
        .await
        .unwrap();
    assert_eq!((o.runs_fired, o.owners_started), (1, 0));
    assert_eq!(
        node_a.open_runs(laer_store::Accounts::All).await.unwrap()[&s.account].len(),
        1
    );
    node_b.close().await;
    db.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_cause_fires_once_from_two_nodes() {
    a_cause_fires_once_from_two_nodes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_cause_fires_once_from_two_nodes() {
    a_cause_fires_once_from_two_nodes(Backend::Postgres).await;
}

async fn task_changes_are_audited_and_snoozed_tasks_wait(store: &Store) {
    let s = seed(store).await;
    let d = day("2026-06-01");
    store
        .apply_automation(d, &plan(&s, s.csm, vec![fire("from 2026-06-01")]), "automation", true)
        .await
        .unwrap();
    let open = TaskFilter {
        status: Some(TaskStatus::Open),
        awake_on: Some(d),
        ..Default::default()
    };
    // Queue order: the earlier due date first.
    let queue = store.tasks(&open, d).await.unwrap();
    assert_eq!(
        queue.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(),
        ["Support spike at Acme", "Hand-off: Acme"]
    );
    let spike = queue[0].id;
    assert_eq!(
        queue[0].reason.as_deref(),
        Some("Support spike at Acme: 5 support cases in the last 14 days"),
        "the reason in words is kept"
    );
    store
        .update_task(spike, &TaskChange::Snooze(day("2026-06-10")), "csm-1@vendor.example")
        .await
        .unwrap();
    assert_eq!(count(store, open.clone()).await, 1);
    let woken = TaskFilter {
        awake_on: Some(day("2026-06-10")),
        ..open.clone()
    };
    assert_eq!(count(store, woken).await, 2);
    // The Snoozed tab: only the task asleep that day.
    let asleep = TaskFilter {
        awake_on: None,
        asleep_on: Some(d),
        ..open.clone()
    };
    let snoozed = store.tasks(&asleep, d).await.unwrap();
    assert_eq!(snoozed.iter().map(|t| t.id).collect::<Vec<_>>(), [spike]);
    // The account's open work: the awake task; overdue once its due day has passed.
    let work = store.open_work(d).await.unwrap();
    assert_eq!(work[&s.account], laer_core::attention::OpenWork { open: 1, overdue: 0 });
    let later = store.open_work(day("2027-01-01")).await.unwrap();
    assert_eq!(
        later[&s.account],
        laer_core::attention::OpenWork { open: 2, overdue: 2 }
    );
    let people = store.open_work_of_people(day("2027-01-01")).await.unwrap();
    assert_eq!(people[&s.csm], laer_core::attention::OpenWork { open: 2, overdue: 2 });
    assert_eq!(people.get(&s.other_csm), None);
    let moved = store
        .update_task(spike, &TaskChange::Reassign(s.other_csm), "lead@vendor.example")
        .await
        .unwrap();
    assert_eq!(moved.assignee_id, Some(s.other_csm));
    store
        .update_task(
            spike,
            &TaskChange::Comment("Called them; a config problem".into()),
            "csm-2",
        )
        .await
        .unwrap();
    assert!(
        store
            .update_task(spike, &TaskChange::Comment("  ".into()), "csm-2")
            .await
            .is_err()
    );
    assert!(
        store
            .update_task(spike, &TaskChange::Reassign(999_999), "x")
            .await
            .is_err()
    );
    let done = store.update_task(spike, &TaskChange::Done, "csm-2").await.unwrap();
    assert_eq!(done.status, TaskStatus::Done);
    assert!(done.done_at.is_some());
    assert_eq!(store.task_comments(spike).await.unwrap()[0].author, "csm-2");
    let audit = store.audit_of_account(s.account).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "task.snoozed",
        "task.reassigned",
        "task.commented",
        "task.done",
        "coverage.started",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(store.update_task(12_345, &TaskChange::Done, "x").await.is_err());
}

async fn work_waiting_for_a_role_goes_to_its_new_owner(store: &Store) {
    let s = seed(store).await;
    // The playbook fires before anyone covers the account: its task waits unassigned.
    let fired = vec![AccountPlan {
        account_id: s.account,
        coverage: vec![],
        runs: vec![fire("from 2026-06-01")],
    }];
    store
        .apply_automation(day("2026-06-01"), &fired, "automation", true)
        .await
        .unwrap();
    let waiting = TaskFilter {
        unassigned: true,
        ..Default::default()
    };
    assert_eq!(count(store, waiting.clone()).await, 1);
    // A CSM takes the account: the waiting CSM task is theirs.
    store
        .apply_automation(day("2026-06-02"), &plan(&s, s.other_csm, vec![]), "automation", true)
        .await
        .unwrap();
    assert_eq!(count(store, waiting).await, 0);
    let theirs = TaskFilter {
        assignee_id: Some(s.other_csm),
        ..Default::default()
    };
    assert_eq!(count(store, theirs).await, 2, "the spike's task and the hand-off");
    let audit = store.audit_of_account(s.account).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "tasks.handed_over" && a.details["tasks"] == 1)
    );
}

async fn an_owner_assigned_by_hand_stays_until_given_back(store: &Store) {
    let s = seed(store).await;
    let d = day("2026-06-01");
    store
        .apply_automation(d, &plan(&s, s.csm, vec![]), "automation", true)
        .await
        .unwrap();
    let draft = draft("Hand-off: Acme", "2026-06-04");
    assert!(
        store
            .assign_by_hand(s.account, TeamRole::Csm, Some((s.other_csm, &draft)), " ", "lead", d)
            .await
            .is_err(),
        "a reason is needed"
    );
    store
        .assign_by_hand(
            s.account,
            TeamRole::Csm,
            Some((s.other_csm, &draft)),
            "Speaks Dutch",
            "lead",
            d,
        )
        .await
        .unwrap();
    let holders = store
        .coverage_state(d, laer_store::Accounts::All)
        .await
        .unwrap()
        .holders;
    let csm: Vec<_> = holders[&s.account].iter().filter(|h| h.role == TeamRole::Csm).collect();
    assert_eq!(csm.len(), 1);
    assert_eq!((csm[0].member_id, csm[0].by_hand), (s.other_csm, true));
    let handed = TaskFilter {
        assignee_id: Some(s.other_csm),
        playbook: Some("handoff".into()),
        ..Default::default()
    };
    assert_eq!(count(store, handed).await, 1);
    let history = store.coverage_of_account(s.account).await.unwrap();
    assert!(
        history
            .iter()
            .any(|c| c.until == Some(d) && c.reason.contains("ended: By hand: Speaks Dutch"))
    );
    let audit = store.audit_of_account(s.account).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "coverage.ended" && a.actor == "lead")
            .count(),
        1
    );
    // Given back to the rules: the hand assignment ends.
    store
        .assign_by_hand(
            s.account,
            TeamRole::Csm,
            None,
            "Back to the book",
            "lead",
            day("2026-06-10"),
        )
        .await
        .unwrap();
    let holders = store
        .coverage_state(day("2026-06-10"), laer_store::Accounts::All)
        .await
        .unwrap()
        .holders;
    assert!(
        holders
            .get(&s.account)
            .is_none_or(|h| h.iter().all(|h| h.role != TeamRole::Csm))
    );
}

/// Issue 16: an account executive's implementation task does not stay with her once she no
/// longer covers the account: it goes to the CSM, or waits unassigned without one.
async fn open_work_leaves_with_its_owner(store: &Store) {
    let s = seed(store).await;
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: "ae-1".into(),
        name: "ae-1".into(),
        email: None,
        roles: Some(vec![TeamRole::AccountExecutive]),
    }])
    .await
    .unwrap();
    let ae = tx.id_lookup(IdLookup::TeamMembers).await.unwrap()["ae-1"];
    tx.commit().await.unwrap();
    let start = |role, member_id| PlannedChange {
        change: CoverageChange::Start {
            role,
            member_id,
            reason: "covers it".into(),
        },
        handoff: None,
    };
    let end = |role, member_id| PlannedChange {
        change: CoverageChange::End {
            role,
            member_id,
            reason: "the phase moved on".into(),
        },
        handoff: None,
    };
    let kickoff = |cause: &str| {
        let mut draft = draft("Kick-off with Acme", "2026-06-03");
        draft.role = TeamRole::AccountExecutive;
        RunChange::Fire(Firing {
            playbook: "onboarding".into(),
            cause: cause.into(),
            evidence: String::new(),
            episode: false,
            tasks: vec![draft],
            emails: Vec::new(),
            chats: Vec::new(),
        })
    };
    let apply = |d: &'static str, coverage: Vec<PlannedChange>, runs: Vec<RunChange>| {
        let plan = vec![AccountPlan {
            account_id: s.account,
            coverage,
            runs,
        }];
        async move {
            store
                .apply_automation(day(d), &plan, "automation", false)
                .await
                .unwrap()
        }
    };
    apply(
        "2026-06-01",
        vec![start(TeamRole::AccountExecutive, ae), start(TeamRole::Csm, s.csm)],
        vec![kickoff("landed")],
    )
    .await;
    let assignee = |title: &'static str| async move {
        store
            .tasks(&TaskFilter::default(), day("2026-06-01"))
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.title == title)
            .map(|t| t.assignee_id)
    };
    assert_eq!(assignee("Kick-off with Acme").await, Some(Some(ae)));
    // The AE's coverage ends; the CSM covers the account: the task goes to the CSM.
    apply("2026-06-10", vec![end(TeamRole::AccountExecutive, ae)], vec![]).await;
    assert_eq!(assignee("Kick-off with Acme").await, Some(Some(s.csm)));
    let audit = store.audit_of_account(s.account).await.unwrap();
    let handed = audit.iter().find(|a| a.action == "tasks.handed_over").expect("audited");
    assert_eq!(handed.details["tasks"], 1);
    assert_eq!(handed.details["to_team_member_id"], s.csm);
    // Without a CSM, a leaving AE's tasks wait unassigned: the one the returning AE took
    // back and the new one.
    apply(
        "2026-06-11",
        vec![end(TeamRole::Csm, s.csm), start(TeamRole::AccountExecutive, ae)],
        vec![kickoff("again")],
    )
    .await;
    let open = TaskFilter {
        status: Some(TaskStatus::Open),
        unassigned: true,
        ..Default::default()
    };
    apply("2026-06-12", vec![end(TeamRole::AccountExecutive, ae)], vec![]).await;
    let waiting = store.tasks(&open, day("2026-06-12")).await.unwrap();
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    assert!(waiting.iter().all(|t| t.role == Some(TeamRole::AccountExecutive)));
}

laer_store::backend_tests!(
    open_work_leaves_with_its_owner,
    an_owner_assigned_by_hand_stays_until_given_back,
    task_changes_are_audited_and_snoozed_tasks_wait,
    work_waiting_for_a_role_goes_to_its_new_owner,
);
