//! Syncs in the admin area (issue 18): an admin defines one — every field checked, the
//! config sealed and never shown — and asks for a run, which the server's own loop takes
//! and records, with why it failed when the tap is not installed on the node.

use std::time::{Duration, Instant};

use laer_store::Store;

use crate::common::web::Session;

const MAPPING: &str = "[[streams]]\nstream = \"warehouse-accounts\"\nkind = \"accounts\"\n\
                       [streams.fields]\nexternal_id = \"id\"\nname = \"name\"\n";

async fn an_admin_defines_a_sync_and_the_server_runs_it(store: &Store) {
    let taps = tempfile::tempdir().unwrap();
    let base = crate::common::spawn_with_secrets(store, Some(taps.path())).await;
    let admin = Session::admin(store, &base).await;

    let (status, page) = admin.get("/admin/syncs").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("No syncs yet") && page.contains("Define a sync"),
        "{page}"
    );

    // Every problem at its field, nothing saved.
    let csrf = admin.csrf().await;
    let (status, page) = admin
        .post_page(
            "/admin/syncs",
            &[
                ("csrf", &csrf),
                ("name", "my warehouse"),
                ("tap", "../bin/sh"),
                ("config", "{not json"),
                ("catalog", ""),
                ("mapping", "file"),
                ("mapping_toml", "[[streams]]\nstream = \"x\"\nkind = \"deals\"\n"),
                ("every", "1m"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    for expected in [
        "use 1 to 64 letters",
        "not a path",
        "not JSON",
        "unknown kind \\\"deals\\\"",
        "5 minutes to 7 days",
    ] {
        assert!(page.contains(&expected.replace("\\\"", "&quot;")), "{expected}: {page}");
    }
    assert!(store.syncs().await.unwrap().is_empty());

    let config = r#"{"host": "localhost", "password": "s3cret-pass"}"#;
    let status = admin
        .post(
            "/admin/syncs",
            &[
                ("csrf", &csrf),
                ("name", "warehouse"),
                ("tap", "tap-postgres"),
                ("config", config),
                ("catalog", ""),
                ("mapping", "file"),
                ("mapping_toml", MAPPING),
                ("every", "2h"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let sync = store.sync_named("warehouse").await.unwrap().unwrap();
    assert_eq!(
        (sync.every_minutes, sync.mapping_name.as_str()),
        (120, "warehouse.toml")
    );
    let (status, page) = admin.get("/admin/syncs/warehouse").await;
    assert_eq!(status, 200);
    assert!(page.contains("none yet: the next run reads everything"), "{page}");
    assert!(!page.contains("s3cret-pass"), "the config is never shown");

    // A new sync is due at once; the server's loop runs it. The tap is not installed on
    // this node: the run fails, saying so, and waits before the next try.
    let started = Instant::now();
    let run = loop {
        let runs = store.sync_runs(sync.id, 1).await.unwrap();
        if let Some(run) = runs.into_iter().next().filter(|r| r.outcome != "running") {
            break run;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the server runs the sync");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(run.outcome, "failed");
    let error = run.error.unwrap_or_default();
    assert!(
        error.contains("\"tap-postgres\" is not in the taps directory"),
        "{error}"
    );
    let (_, page) = admin.get("/admin/syncs/warehouse").await;
    assert!(
        page.contains("is not in the taps directory") && page.contains("1 failures in a row"),
        "{page}"
    );
    let sync = store.sync_named("warehouse").await.unwrap().unwrap();
    assert!(
        sync.next_run_at.unwrap() > chrono::Utc::now().timestamp(),
        "it waits before the next try"
    );

    // Run now asks any node; a CSM may not.
    assert_eq!(admin.post("/admin/syncs/warehouse/run", &[("csrf", &csrf)]).await, 303);
    // Asked for, or already taken by the loop (which starts a second run).
    let asked = store.sync_named("warehouse").await.unwrap().unwrap().requested;
    assert!(asked || store.sync_runs(sync.id, 5).await.unwrap().len() >= 2);
    assert_eq!(admin.post("/admin/syncs/nothing/run", &[("csrf", &csrf)]).await, 404);
    let viewer = Session::viewer(store, &base).await;
    assert_eq!(viewer.get("/admin/syncs").await.0, 403);
    let token = viewer.csrf().await;
    assert_eq!(
        viewer.post("/admin/syncs/warehouse/remove", &[("csrf", &token)]).await,
        403
    );
    assert_eq!(
        admin.post("/admin/syncs/warehouse/remove", &[("csrf", &csrf)]).await,
        303
    );
    assert!(store.syncs().await.unwrap().is_empty());
}

laer_store::backend_tests!(an_admin_defines_a_sync_and_the_server_runs_it);
