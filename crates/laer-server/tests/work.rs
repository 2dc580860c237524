//! Coverage, playbooks and tasks on running servers: two laer nodes on one database each
//! run their engine, and every playbook still fires once per cause, the free role is
//! taken once, and the work lands in the right queue; the tasks API reads and changes it.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeDelta, Utc};
use laer_core::access::Role;
use laer_core::model::*;
use laer_store::test_support::TestDatabase;
use laer_store::{Backend, Store, TaskFilter};
use serde_json::{Value, json};

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A customer renewing in 60 days, landed 300 days ago, with four support cases opened
/// this week; a CSM and a renewal specialist in the team.
async fn seed(store: &Store) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    let id = crate::common::acme(&mut tx, 300, Some(60), 5_000, 50.0).await;
    let member = |id: &str, role: TeamRole| NewTeamMember {
        external_id: id.into(),
        name: id.into(),
        email: Some(format!("{id}@vendor.example")),
        roles: Some(vec![role]),
    };
    tx.upsert(&[
        member("csm-1", TeamRole::Csm),
        member("csm-2", TeamRole::Csm),
        member("renewals", TeamRole::RenewalSpecialist),
    ])
    .await
    .unwrap();
    let cases: Vec<NewSupportCase> = (0..4)
        .map(|n| NewSupportCase {
            external_id: format!("case-{n}"),
            account_id: id,
            opened_at: Utc::now() - TimeDelta::days(n + 1),
            closed_at: None,
            severity: 2,
            kind: CaseKind::Defect,
            status: CaseStatus::Open,
            subject: None,
        })
        .collect();
    tx.upsert(&cases).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn two_nodes_fire_each_playbook_once(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let account = seed(&db.store).await;
    let second = Store::open(&db.url).await.unwrap();
    crate::common::spawn(&db.store).await;
    crate::common::spawn(&second).await;

    // Both engines score the account and decide; wait for the spike's run.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = db
            .store
            .playbook_runs(Some("support-spike"), Some(account))
            .await
            .unwrap();
        if !runs.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the support spike fired within a minute");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // New data makes both engines decide again: still one run per cause.
    let mut tx = db.store.begin_write().await.unwrap();
    tx.upsert(&[NewSupportCase {
        external_id: "case-late".into(),
        account_id: account,
        opened_at: Utc::now(),
        closed_at: None,
        severity: 1,
        kind: CaseKind::Defect,
        status: CaseStatus::Open,
        subject: None,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let runs = db.store.playbook_runs(None, Some(account)).await.unwrap();
    let mut fired: Vec<(&str, &str)> = runs.iter().map(|r| (r.playbook.as_str(), r.cause.as_str())).collect();
    fired.sort();
    let before = fired.len();
    fired.dedup();
    assert_eq!(fired.len(), before, "one run per cause: {fired:?}");
    let names: Vec<&str> = fired.iter().map(|(p, _)| *p).collect();
    for expected in ["support-spike", "renewal-preparation"] {
        assert_eq!(
            names.iter().filter(|n| **n == expected).count(),
            1,
            "{expected} in {names:?}"
        );
    }
    let renewal = runs.iter().find(|r| r.playbook == "renewal-preparation").unwrap();
    assert_eq!(renewal.cause, format!("renewal on {}", today() + TimeDelta::days(60)));

    // One CSM took the account, and its tasks went to them.
    let holders = db
        .store
        .coverage_state(today(), laer_store::Accounts::All)
        .await
        .unwrap()
        .holders;
    let csms: Vec<i64> = holders[&account]
        .iter()
        .filter(|h| h.role == TeamRole::Csm)
        .map(|h| h.member_id)
        .collect();
    assert_eq!(csms.len(), 1, "{holders:?}");
    let tasks = db.store.tasks(&TaskFilter::default(), today()).await.unwrap();
    let per_run = |playbook: &str| tasks.iter().filter(|t| t.playbook.as_deref() == Some(playbook)).count();
    assert_eq!(per_run("support-spike"), 1);
    assert_eq!(per_run("renewal-preparation"), 1);
    // A hand-off per owner, but one trigger gives a person one task: a role that got a
    // playbook's task the same day has the hand-off's steps in it instead.
    let with_playbook_task: Vec<TeamRole> = tasks
        .iter()
        .filter(|t| t.playbook.as_deref() != Some("handoff"))
        .filter_map(|t| t.role)
        .collect();
    let unfolded = holders[&account]
        .iter()
        .filter(|h| !with_playbook_task.contains(&h.role))
        .count();
    assert_eq!(
        per_run("handoff"),
        unfolded,
        "a hand-off per owner without a playbook task"
    );
    if unfolded < holders[&account].len() {
        assert!(
            tasks
                .iter()
                .any(|t| t.steps.iter().any(|s| s.contains("previous owner"))
                    && t.playbook.as_deref() != Some("handoff")),
            "the folded hand-off's steps are in the playbook's task"
        );
    }
    for t in tasks.iter().filter(|t| t.role == Some(TeamRole::Csm)) {
        assert_eq!(t.assignee_id, Some(csms[0]), "{t:?}");
    }
    second.close().await;
    db.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_nodes_fire_each_playbook_once() {
    two_nodes_fire_each_playbook_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_fire_each_playbook_once() {
    two_nodes_fire_each_playbook_once(Backend::Postgres).await;
}

async fn request(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn the_tasks_api_reads_and_changes_work(store: &Store) {
    let account = seed(store).await;
    let base = crate::common::spawn(store).await;
    let viewer = store.create_api_token("reader", Role::Viewer).await.unwrap().secret;
    let csm_token = store.create_api_token("crm sync", Role::Csm).await.unwrap();
    let csm = csm_token.secret;
    let deadline = Instant::now() + Duration::from_secs(60);
    let tasks = loop {
        let (status, body) = request(
            reqwest::Method::GET,
            &format!("{base}/api/v1/tasks?account_id={account}"),
            &viewer,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let tasks = body["tasks"].as_array().cloned().unwrap_or_default();
        if tasks.iter().any(|t| t["playbook"] == "support-spike") {
            break tasks;
        }
        assert!(Instant::now() < deadline, "tasks within a minute: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for t in &tasks {
        for key in ["account_id", "playbook", "cause", "role"] {
            assert!(!t[key].is_null(), "{key} of {t}");
        }
    }
    let id = tasks[0]["id"].as_i64().unwrap();
    let url = format!("{base}/api/v1/tasks/{id}");
    let done = json!({"action": "done"});
    let (status, body) = request(reqwest::Method::POST, &url, &viewer, Some(done.clone())).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = request(reqwest::Method::POST, &url, &csm, Some(json!({"action": "snooze"}))).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("until"), "{body}");
    let (status, body) = request(
        reqwest::Method::POST,
        &url,
        &csm,
        Some(json!({"action": "done", "x": 1})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let comment = json!({"action": "comment", "comment": "Spoke to their admin"});
    let (status, body) = request(reqwest::Method::POST, &url, &csm, Some(comment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["comments"][0]["body"], "Spoke to their admin");
    let (status, body) = request(reqwest::Method::POST, &url, &csm, Some(done)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("done")), "{body}");
    // The audit log names the token that made each change, by id and name.
    let actor = format!("API token #{} “crm sync”", csm_token.record.id);
    let audit = store.audit_of_account(account).await.unwrap();
    for action in ["task.commented", "task.done"] {
        let entry = audit.iter().find(|e| e.action == action).expect(action);
        assert_eq!(entry.actor, actor, "{action}");
    }
    let (status, _) = request(
        reqwest::Method::POST,
        &format!("{base}/api/v1/tasks/999999"),
        &csm,
        Some(json!({"action": "done"})),
    )
    .await;
    assert_eq!(status, 404);

    let (status, body) = request(reqwest::Method::GET, &format!("{base}/api/v1/playbooks"), &viewer, None).await;
    assert_eq!(status, 200);
    let spike = body["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "support-spike")
        .unwrap();
    assert_eq!(spike["runs"], 1);
    let (_, runs) = request(
        reqwest::Method::GET,
        &format!("{base}/api/v1/playbooks/runs?account_id={account}"),
        &viewer,
        None,
    )
    .await;
    assert!(
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["playbook"] == "support-spike")
    );
    let (status, coverage) = request(
        reqwest::Method::GET,
        &format!("{base}/api/v1/accounts/{account}/coverage"),
        &viewer,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        coverage["owners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["role"] == "csm"),
        "{coverage}"
    );
}

laer_store::backend_tests!(the_tasks_api_reads_and_changes_work);
