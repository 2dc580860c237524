//! Syncs (Singer taps laer runs), on both backends: one node at a time under a lease, the
//! tap's state kept only by the node that holds it, each run's outcome and the backoff.

use laer_store::test_support::{audited, secret_box};
use laer_store::{NewSync, RunEnd, Store};

fn definition(every_minutes: i64) -> NewSync<'static> {
    NewSync {
        name: "warehouse",
        tap: "tap-postgres",
        config: r#"{"host": "db", "password": "hunter2"}"#,
        catalog: None,
        mapping_name: "warehouse.toml",
        mapping_toml: Some("[[streams]]\nstream = \"a\"\nkind = \"accounts\"\nfields = { external_id = \"id\" }\n"),
        every_minutes,
    }
}

async fn one_node_runs_a_sync_and_keeps_its_state(store: &Store) {
    let secrets = secret_box();
    store.save_sync(&definition(60), &secrets, "admin").await.unwrap();
    let now = 1_800_000_000;
    // New: due at once. One node takes it; the other finds nothing to run.
    let claim = store
        .claim_sync("node-a", now, now - 120, None)
        .await
        .unwrap()
        .expect("due");
    assert_eq!(
        claim.config.open(Some(&secrets)).unwrap(),
        r#"{"host": "db", "password": "hunter2"}"#
    );
    assert!(
        store
            .claim_sync("node-b", now, now - 120, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_sync("node-b", now, now - 120, Some("warehouse"))
            .await
            .unwrap()
            .is_none(),
        "not even by name"
    );

    // The holder keeps the state with its batch; another node may not.
    let mut tx = store.begin_write().await.unwrap();
    tx.keep_sync_state(claim.sync.id, "node-a", r#"{"bookmarks": {"a": 1}}"#)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let refused = tx
        .keep_sync_state(claim.sync.id, "node-b", r#"{"bookmarks": {"a": 9}}"#)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("another node took this sync over"),
        "{refused}"
    );
    drop(tx);
    assert!(
        store
            .sync_heartbeat(claim.sync.id, claim.run, "node-a", now + 20, Some("{\"records\": 5}"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .sync_heartbeat(claim.sync.id, claim.run, "node-b", now + 20, None)
            .await
            .unwrap()
    );

    store
        .finish_sync(
            &claim,
            "node-a",
            &RunEnd {
                report: None,
                error: None,
                stderr: "INFO done",
                now: now + 30,
                next_run_at: now + 3600,
            },
        )
        .await
        .unwrap();
    let sync = store.sync_named("warehouse").await.unwrap().unwrap();
    assert_eq!(sync.state.as_deref(), Some(r#"{"bookmarks": {"a": 1}}"#));
    assert_eq!(
        (sync.owner, sync.next_run_at, sync.failures, sync.requested),
        (None, Some(now + 3600), 0, false)
    );
    let runs = store.sync_runs(sync.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (
            runs[0].outcome.as_str(),
            runs[0].report.as_deref(),
            runs[0].stderr.as_deref()
        ),
        ("succeeded", Some("{\"records\": 5}"), Some("INFO done"))
    );

    // Not due before its time; asked for, it is.
    assert!(
        store
            .claim_sync("node-b", now + 60, now - 60, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.request_sync("warehouse", "admin").await.unwrap());
    assert!(!store.request_sync("nothing", "admin").await.unwrap());
    let again = store
        .claim_sync("node-b", now + 60, now - 60, None)
        .await
        .unwrap()
        .expect("asked for");
    // node-b's run fails: counted, and the next is later.
    store
        .finish_sync(
            &again,
            "node-b",
            &RunEnd {
                report: None,
                error: Some("the tap failed"),
                stderr: "",
                now: now + 70,
                next_run_at: now + 130,
            },
        )
        .await
        .unwrap();
    let sync = store.sync_named("warehouse").await.unwrap().unwrap();
    assert_eq!((sync.failures, sync.next_run_at), (1, Some(now + 130)));
    assert_eq!(
        store.sync_runs(sync.id, 1).await.unwrap()[0].error.as_deref(),
        Some("the tap failed")
    );
    assert_eq!(audited(store, "sync.").await.len(), 2, "saved and requested");
}

async fn a_stale_holder_is_taken_over_and_its_run_closed(store: &Store) {
    let secrets = secret_box();
    store.save_sync(&definition(60), &secrets, "admin").await.unwrap();
    let now = 1_800_000_000;
    let first = store.claim_sync("node-a", now, now - 120, None).await.unwrap().unwrap();
    // node-a stops without a word; after its lease goes stale, node-b may run it by name.
    let later = now + 500;
    let taken = store
        .claim_sync("node-b", later, later - 120, Some("warehouse"))
        .await
        .unwrap()
        .expect("taken over");
    assert_ne!(taken.run, first.run);
    let runs = store.sync_runs(taken.sync.id, 10).await.unwrap();
    let left = runs.iter().find(|r| r.id == first.run).unwrap();
    assert_eq!(left.outcome, "failed");
    assert!(left.error.as_deref().unwrap_or("").contains("heartbeat went stale"));
    // node-a, back, finds the sync is no longer its own.
    let mut tx = store.begin_write().await.unwrap();
    assert!(tx.keep_sync_state(first.sync.id, "node-a", "{}").await.is_err());
}

async fn a_changed_definition_keeps_the_state_unless_the_tap_changes(store: &Store) {
    let secrets = secret_box();
    store.save_sync(&definition(60), &secrets, "admin").await.unwrap();
    let claim = store.claim_sync("n", 1, -200, None).await.unwrap().unwrap();
    let mut tx = store.begin_write().await.unwrap();
    tx.keep_sync_state(claim.sync.id, "n", "{\"s\": 1}").await.unwrap();
    tx.commit().await.unwrap();
    store
        .finish_sync(
            &claim,
            "n",
            &RunEnd {
                report: None,
                error: None,
                stderr: "",
                now: 2,
                next_run_at: 3600,
            },
        )
        .await
        .unwrap();
    store.save_sync(&definition(30), &secrets, "admin").await.unwrap();
    let sync = store.sync_named("warehouse").await.unwrap().unwrap();
    assert_eq!(
        (sync.every_minutes, sync.state.as_deref(), sync.requested),
        (30, Some("{\"s\": 1}"), true)
    );
    store
        .save_sync(
            &NewSync {
                tap: "tap-mysql",
                ..definition(30)
            },
            &secrets,
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(
        store.sync_named("warehouse").await.unwrap().unwrap().state,
        None,
        "another tap's state means nothing"
    );
    assert!(store.remove_sync("warehouse", "admin").await.unwrap());
    assert!(store.syncs().await.unwrap().is_empty());
    assert!(!store.remove_sync("warehouse", "admin").await.unwrap());
}

laer_store::backend_tests!(
    one_node_runs_a_sync_and_keeps_its_state,
    a_stale_holder_is_taken_over_and_its_run_closed,
    a_changed_definition_keeps_the_state_unless_the_tap_changes,
);
