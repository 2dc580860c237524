//! Segment's official client libraries, pointed at a laer server on localhost.
//!
//! Needs `LAER_TEST_SEGMENT_PYTHON` (a Python with segment-analytics-python) and
//! `LAER_TEST_SEGMENT_NODE_MODULES` (a node_modules folder with @segment/analytics-node);
//! `scripts/test` installs both. With `LAER_TEST_REQUIRE_POSTGRES=1` (CI) missing ones fail.

use crate::common::spawn;

use std::path::{Path, PathBuf};
use std::process::Command;

use laer_store::Store;

fn required(var: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(v) => Some(v),
        None if std::env::var("LAER_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => panic!("{var} is not set"),
        None => {
            eprintln!("skipping: set {var}");
            None
        }
    }
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs a client script on a blocking thread while the server answers on this runtime.
async fn run(mut command: Command) {
    let output = tokio::task::spawn_blocking(move || command.output().expect("start the client"))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn the_python_library(store: &Store) {
    let Some(python) = required("LAER_TEST_SEGMENT_PYTHON") else {
        return;
    };
    let key = store.create_write_key("python").await.unwrap().secret;
    let host = spawn(store).await;
    let mut command = Command::new(python);
    command.arg(scripts().join("send.py")).arg(&host).arg(&key);
    run(command).await;

    let acme = store
        .account_by_external_id("py-acme")
        .await
        .unwrap()
        .expect("the group call's account");
    assert_eq!(acme.fields.name.as_deref(), Some("Acme (Python)"));
    assert_eq!(
        acme.fields.attributes.get("industry").map(String::as_str),
        Some("retail")
    );
    let user = store
        .product_user("py-user-1")
        .await
        .unwrap()
        .expect("the identified user");
    assert_eq!(user.account_id, acme.id);
    assert_eq!(user.email.as_deref(), Some("kim@acme.example"));
    assert_eq!(user.name.as_deref(), Some("Kim Py"));
    assert_eq!(user.department.as_deref(), Some("finance"));
    let events = store.events_of(acme.id).await.unwrap();
    let mut names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Report Viewed",
            "Report Viewed",
            "Report Viewed",
            "Signup Started",
            "page:Pricing"
        ]
    );
    let mut values: Vec<f64> = events.iter().filter_map(|e| e.value).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, [1.0, 2.0, 3.0]);
    assert!(events.iter().any(|e| e.user_ref.as_deref() == Some("py-visitor")));
    let age = chrono::Utc::now() - events[0].occurred_at;
    assert!(
        age.num_seconds().abs() < 120,
        "event times are the clients' times: {:?}",
        events[0].occurred_at
    );
}

async fn the_node_library(store: &Store) {
    let Some(node_modules) = required("LAER_TEST_SEGMENT_NODE_MODULES") else {
        return;
    };
    let key = store.create_write_key("node").await.unwrap().secret;
    let host = spawn(store).await;
    let mut command = Command::new("node");
    command
        .arg(scripts().join("send.cjs"))
        .arg(&host)
        .arg(&key)
        .env("NODE_PATH", &node_modules);
    run(command).await;

    let globex = store
        .account_by_external_id("node-globex")
        .await
        .unwrap()
        .expect("the group call's account");
    assert_eq!(globex.fields.name.as_deref(), Some("Globex (Node)"));
    let user = store
        .product_user("node-user-1")
        .await
        .unwrap()
        .expect("the identified user");
    assert_eq!(
        (user.account_id, user.email.as_deref()),
        (globex.id, Some("lee@globex.example"))
    );
    assert_eq!(user.department.as_deref(), Some("sales"));
    let events = store.events_of(globex.id).await.unwrap();
    let mut names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Dashboard Shared",
            "Dashboard Shared",
            "Dashboard Shared",
            "page:Settings"
        ]
    );
    let total: f64 = events.iter().filter_map(|e| e.value).sum();
    assert_eq!(total, 60.0);
}

laer_store::backend_tests!(the_python_library, the_node_library);
