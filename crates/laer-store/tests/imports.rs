//! Importing in the browser, on both backends: uploads kept in chunks and read back in
//! order, deleted with their import's transaction or after a day; the history of runs,
//! their progress, outcome and failure.

use chrono::{TimeDelta, Utc};
use laer_core::import_runs::{RunState, RunStatus};
use laer_store::{NewImportRun, RunOutcome, RunProgress, Store};
use serde_json::json;

/// An upload of `chunks` as they arrive, completed.
async fn upload(store: &Store, chunks: &[&[u8]]) -> i64 {
    let id = store
        .create_upload("accounts", "a.csv", "Ada <ada@example.com>")
        .await
        .unwrap();
    for (seq, chunk) in chunks.iter().enumerate() {
        store.add_upload_chunk(id, seq as i64, chunk).await.unwrap();
    }
    let bytes = chunks.iter().map(|c| c.len() as i64).sum();
    store.complete_upload(id, bytes, chunks.len() as i64).await.unwrap();
    id
}

fn web_run(upload: i64) -> NewImportRun<'static> {
    NewImportRun {
        kind: "accounts",
        file_name: "a.csv",
        actor: "Ada <ada@example.com>",
        source: "web",
        upload_id: Some(upload),
        bytes_total: Some(7),
    }
}

async fn chunks_are_stored_and_read_back_in_order(store: &Store) {
    let big = vec![0xAB_u8; 300_000];
    let id = upload(store, &[b"id,name\n", &big, b"\xff\x00tail"]).await;
    let stored = store.upload(id).await.unwrap().expect("the upload");
    assert_eq!((stored.kind.as_str(), stored.file_name.as_str()), ("accounts", "a.csv"));
    assert_eq!((stored.bytes, stored.chunks), (8 + 300_000 + 6, 3));
    assert!(stored.completed_at.is_some());
    assert_eq!(
        store.upload_chunk(id, 0).await.unwrap().as_deref(),
        Some(&b"id,name\n"[..])
    );
    assert_eq!(store.upload_chunk(id, 1).await.unwrap(), Some(big));
    assert_eq!(
        store.upload_chunk(id, 2).await.unwrap().as_deref(),
        Some(&b"\xff\x00tail"[..]),
        "bytes, not text"
    );
    assert_eq!(store.upload_chunk(id, 3).await.unwrap(), None, "past the end");
    // Storing a chunk again (a retried write) replaces it.
    store.add_upload_chunk(id, 0, b"id,name,x\n").await.unwrap();
    assert_eq!(
        store.upload_chunk(id, 0).await.unwrap().as_deref(),
        Some(&b"id,name,x\n"[..])
    );
    store.delete_upload(id).await.unwrap();
    assert_eq!(store.upload(id).await.unwrap(), None);
    assert_eq!(
        store.upload_chunk(id, 1).await.unwrap(),
        None,
        "its chunks went with it"
    );
    store.delete_upload(id).await.unwrap();
}

async fn uploads_older_than_a_day_are_cleaned_up(store: &Store) {
    let old = upload(store, &[b"old"]).await;
    let kept = upload(store, &[b"new"]).await;
    assert_eq!(
        store
            .delete_stale_uploads(Utc::now() - TimeDelta::hours(24))
            .await
            .unwrap(),
        0,
        "both are new"
    );
    // Everything made before a moment from now is stale as of then.
    let cut = Utc::now() + TimeDelta::seconds(1);
    assert_eq!(store.delete_stale_uploads(cut).await.unwrap(), 2);
    assert_eq!(store.upload(old).await.unwrap(), None);
    assert_eq!(store.upload(kept).await.unwrap(), None);
    assert_eq!(store.upload_chunk(old, 0).await.unwrap(), None);
    // A new upload sweeps those older than a day first; a fresh one stays.
    let fresh = upload(store, &[b"x"]).await;
    store.create_upload("events", "e.csv", "Ada").await.unwrap();
    assert!(store.upload(fresh).await.unwrap().is_some());
}

async fn a_run_is_recorded_with_its_progress_and_outcome(store: &Store) {
    let id = upload(store, &[b"id\nA1\n"]).await;
    let run = store.start_import_run(&web_run(id)).await.unwrap();
    let started = store.import_run(run).await.unwrap().expect("the run");
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(started.state(Utc::now()), RunState::Running);
    assert_eq!((started.rows, started.bytes_done, started.bytes_total), (0, 0, Some(7)));

    store
        .import_heartbeat(run, RunProgress { rows: 1, bytes: 3 })
        .await
        .unwrap();
    let going = store.import_run(run).await.unwrap().unwrap();
    assert_eq!((going.rows, going.bytes_done), (1, 3), "progress shows while it runs");
    assert!(going.heartbeat_at >= started.heartbeat_at);

    // Done in the import's own transaction, with its upload deleted: both or neither.
    let mut tx = store.begin_write().await.unwrap();
    let outcome = RunOutcome {
        rows: 1,
        bytes: 7,
        written: 1,
        unchanged: 0,
    };
    tx.finish_import_run(run, outcome).await.unwrap();
    tx.delete_upload(id).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(store.import_run(run).await.unwrap().unwrap().status, RunStatus::Running);
    assert!(store.upload(id).await.unwrap().is_some(), "rolled back with the run");
    let mut tx = store.begin_write().await.unwrap();
    tx.finish_import_run(run, outcome).await.unwrap();
    tx.delete_upload(id).await.unwrap();
    tx.commit().await.unwrap();
    store.end_live_run(run);

    let done = store.import_run(run).await.unwrap().unwrap();
    assert_eq!(done.status, RunStatus::Done);
    assert_eq!(done.state(Utc::now() + TimeDelta::days(1)), RunState::Done);
    assert_eq!((done.rows, done.written, done.unchanged, done.bytes_done), (1, 1, 0, 7));
    assert!(done.finished_at.is_some());
    assert_eq!(store.upload(id).await.unwrap(), None);
    // A late heartbeat does not bring it back to life.
    store
        .import_heartbeat(run, RunProgress { rows: 9, bytes: 9 })
        .await
        .unwrap();
    assert_eq!(store.import_run(run).await.unwrap().unwrap().rows, 1);
}

async fn a_failed_run_keeps_its_errors_and_a_silent_one_is_lost(store: &Store) {
    let first = store
        .start_import_run(&NewImportRun {
            source: "cli",
            upload_id: None,
            bytes_total: None,
            ..web_run(0)
        })
        .await
        .unwrap();
    let errors = json!([{"line": 3, "column": "mrr", "message": "expected an amount"}]);
    store
        .fail_import_run(
            first,
            RunProgress { rows: 4, bytes: 90 },
            "1 invalid row(s); nothing was written",
            &errors,
            1,
        )
        .await
        .unwrap();
    let second = store.start_import_run(&web_run(5)).await.unwrap();

    let runs = store.import_runs(10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [second, first],
        "newest first"
    );
    let failed = &runs[1];
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!((failed.source.as_str(), failed.rows, failed.error_count), ("cli", 4, 1));
    assert_eq!(failed.error.as_deref(), Some("1 invalid row(s); nothing was written"));
    assert_eq!(failed.row_errors, errors);
    assert_eq!(runs[0].row_errors, json!([]));
    // A running run whose node went silent is shown as failed.
    let later = Utc::now() + TimeDelta::seconds(laer_core::import_runs::LOST_AFTER_SECONDS + 5);
    assert_eq!(runs[0].state(later), RunState::Lost);
    assert_eq!(store.import_runs(1).await.unwrap().len(), 1);
    assert_eq!(store.import_run(second + 100).await.unwrap(), None);
}

laer_store::backend_tests!(
    chunks_are_stored_and_read_back_in_order,
    uploads_older_than_a_day_are_cleaned_up,
    a_run_is_recorded_with_its_progress_and_outcome,
    a_failed_run_keeps_its_errors_and_a_silent_one_is_lost,
);
