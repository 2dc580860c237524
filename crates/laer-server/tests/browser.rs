//! The web app in a real browser: Debian's Chromium driven by playwright-core
//! (`tests/browser/e2e.cjs`) through a user's day, on the demo company.
//!
//! Needs `LAER_TEST_BROWSER_NODE_MODULES` (a node_modules folder with playwright-core) and
//! Chromium at `/usr/bin/chromium` (or `LAER_TEST_CHROMIUM`); `scripts/test` installs both.
//! Without the folder the test is skipped, unless `LAER_TEST_REQUIRE_BROWSER=1` (CI).
//! With `LAER_SCREENSHOTS=DIR` the script saves screenshots of the pages there.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::common::spawn;
use laer_core::access::Role;
use laer_demo::DemoConfig;

const VIEWER_EMAIL: &str = "viewer@example.com";
const VIEWER_PASSWORD: &str = "viewer password";

pub(crate) fn node_modules() -> Option<String> {
    match std::env::var("LAER_TEST_BROWSER_NODE_MODULES")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(v) => Some(v),
        None if std::env::var("LAER_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1") => {
            panic!("LAER_TEST_REQUIRE_BROWSER=1 but LAER_TEST_BROWSER_NODE_MODULES is not set")
        }
        None => {
            eprintln!("skipping: set LAER_TEST_BROWSER_NODE_MODULES (a node_modules folder with playwright-core)");
            None
        }
    }
}

/// The words a customer never reads (`laer_core::success_plan::internal_words` finds
/// these), as a JSON array for the script.
fn internal_words() -> String {
    let playbooks = laer_core::automation::Playbooks::default().playbooks;
    let mut words: Vec<&str> = laer_core::success_plan::INTERNAL_WORDS.to_vec();
    words.extend(playbooks.iter().map(|p| p.name.as_str()));
    serde_json::to_string(&words).unwrap_or_default()
}

#[tokio::test]
async fn a_day_in_the_browser() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let db = laer_store::test_support::sqlite().await;
    let store = &db.store;
    let config = DemoConfig {
        accounts: 40,
        months: 24,
        seed: 7,
        ..DemoConfig::new(chrono::Utc::now().date_naive())
    };
    let load = laer_app::demo::load(store, &config, &laer_core::health::HealthModel::default())
        .await
        .unwrap();
    // The CSM with the most open work, so that My work has tasks to do.
    let open = laer_store::TaskFilter {
        status: Some(laer_core::model::TaskStatus::Open),
        ..Default::default()
    };
    let tasks = store.tasks(&open, chrono::Utc::now().date_naive()).await.unwrap();
    let team = store.team_members().await.unwrap();
    let work_of = |email: &str| {
        let member = team.iter().find(|m| m.email.as_deref() == Some(email)).map(|m| m.id);
        tasks
            .iter()
            .filter(|t| t.assignee_id.is_some() && t.assignee_id == member)
            .count()
    };
    let csm = load
        .logins
        .iter()
        .filter(|(_, role)| *role == Role::Csm)
        .max_by_key(|(email, _)| work_of(email))
        .map(|(email, _)| email.clone())
        .expect("the demo has a CSM login");
    let hash = laer_app::auth::hash_password(VIEWER_PASSWORD).unwrap();
    store
        .upsert_user(VIEWER_EMAIL, "Vic Viewer", Role::Viewer, &hash, None)
        .await
        .unwrap();
    let base = spawn(store).await;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/e2e.cjs");
    let mut command = Command::new("node");
    command
        .arg(script)
        .arg(&base)
        .arg(&csm)
        .arg(laer_app::demo::DEMO_PASSWORD)
        .arg(VIEWER_EMAIL)
        .arg(VIEWER_PASSWORD)
        .env("NODE_PATH", &node_modules)
        .env("LAER_INTERNAL_WORDS", internal_words());
    // The server answers on this runtime while the browser runs on a blocking thread.
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output().expect("start node"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("e2e: all steps passed"),
        "the script ended early:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "browser test passed in {:.1} s:\n{stdout}",
        started.elapsed().as_secs_f64()
    );
}
