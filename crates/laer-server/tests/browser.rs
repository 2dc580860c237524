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

/// Runs a browser script (`node ...`) off the runtime, so that the server keeps answering,
/// and fails the test unless it exits 0 having printed `done`. Its standard output.
pub(crate) async fn run_script(mut command: Command, done: &'static str, what: &str) -> String {
    let output = tokio::task::spawn_blocking(move || command.output().expect("start node"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(done),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// The words a customer never reads (`laer_core::success_plan::internal_words` finds
/// these), as a JSON array for the script.
fn internal_words() -> String {
    let playbooks = laer_core::automation::Playbooks::default().playbooks;
    let mut words: Vec<&str> = laer_core::success_plan::INTERNAL_WORDS.to_vec();
    words.extend(playbooks.iter().map(|p| p.name.as_str()));
    serde_json::to_string(&words).unwrap_or_default()
}

/// The demo company the browser tests walk through: 40 accounts over 24 months.
async fn demo_company(store: &laer_store::Store) -> laer_app::demo::DemoLoad {
    let config = DemoConfig {
        accounts: 40,
        months: 24,
        seed: 7,
        ..DemoConfig::new(chrono::Utc::now().date_naive())
    };
    laer_app::demo::load(
        store,
        &config,
        &laer_core::health::HealthModel::default(),
        crate::common::DEMO_PASSWORD,
    )
    .await
    .unwrap()
}

/// The CSM login with the most open work, so that My work has tasks to do.
async fn busiest_csm(store: &laer_store::Store, load: &laer_app::demo::DemoLoad) -> String {
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
    load.logins
        .iter()
        .filter(|(_, role)| *role == Role::Csm)
        .max_by_key(|(email, _)| work_of(email))
        .map(|(email, _)| email.clone())
        .expect("the demo has a CSM login")
}

#[tokio::test]
async fn a_day_in_the_browser() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let db = laer_store::test_support::sqlite().await;
    let store = &db.store;
    let load = demo_company(store).await;
    let csm = busiest_csm(store, &load).await;
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
        .arg(crate::common::DEMO_PASSWORD)
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

/// The customer records a measurement through a share link where the team allowed it,
/// and is refused where it did not (`tests/browser/share_measure.cjs`).
#[tokio::test]
async fn the_customer_records_a_measurement_through_a_share_link() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let db = laer_store::test_support::sqlite().await;
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let allowed = crate::common::acme(&mut tx, 200, Some(120), 2_000, 20.0).await;
    tx.commit().await.unwrap();
    let outcome = laer_core::entries::OutcomeInput {
        name: "Offices with local breakout",
        unit: "%",
        baseline: "10",
        target: "60",
        ..Default::default()
    };
    let (o, _) = store
        .define_outcome(&outcome.check(allowed, "o-allowed").unwrap(), "kim")
        .await
        .unwrap();
    store.set_customer_measurements(allowed, true, "kim").await.unwrap();
    let open = store.create_share_link(allowed, "kim").await.unwrap();
    // The other plan: a second account, its link not taking measurements.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[laer_core::model::NewAccount {
        external_id: "globex".into(),
        name: Some("Globex".into()),
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: Default::default(),
    }])
    .await
    .unwrap();
    let other = tx.id_lookup(laer_store::IdLookup::Accounts).await.unwrap()["globex"];
    tx.commit().await.unwrap();
    store
        .define_outcome(&outcome.check(other, "o-other").unwrap(), "kim")
        .await
        .unwrap();
    let closed = store.create_share_link(other, "kim").await.unwrap();
    let base = spawn(store).await;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/share_measure.cjs");
    let mut command = Command::new("node");
    command
        .arg(script)
        .arg(&base)
        .arg(format!("/plan/{}", open.secret))
        .arg(format!("/plan/{}", closed.secret))
        .arg(o.id.to_string())
        .env("NODE_PATH", &node_modules)
        .env("LAER_INTERNAL_WORDS", internal_words());
    run_script(command, "share-measure: all steps passed", "the browser test").await;
    let recorded = store.measurements_of(allowed).await.unwrap();
    assert_eq!(recorded.len(), 1, "one measurement, by the customer");
    assert_eq!(recorded[0].fields.value, 42.0);
    assert_eq!(
        recorded[0].fields.recorded_by.as_deref(),
        Some(format!("customer via link {}…", open.record.prefix).as_str())
    );
    assert!(
        store.measurements_of(other).await.unwrap().is_empty(),
        "nothing where refused"
    );
}

/// Every page at 1366×900 and 390×844 (`tests/browser/pages.cjs`): the expected status,
/// no sideways scrolling, a navigation folded on the phone, and no accessibility violation
/// axe-core rates serious or critical; as an administrator (every page) and as the CSM with
/// the most work (their own queue and book). Screenshots for docs/ with
/// `LAER_SCREENSHOTS=DIR`.
#[tokio::test]
async fn every_page_fits_a_laptop_and_a_phone() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let db = laer_store::test_support::sqlite().await;
    let store = &db.store;
    let load = demo_company(store).await;
    let admin = load.logins[0].0.clone();
    assert_eq!(load.logins[0].1, Role::Admin, "the administrator first");
    let csm = busiest_csm(store, &load).await;
    // The largest account, with a share link for the customer's page.
    let today = chrono::Utc::now().date_naive();
    let account = store
        .account_snapshots(today)
        .await
        .unwrap()
        .into_iter()
        .max_by_key(|a| a.mrr)
        .expect("demo accounts");
    let link = store.create_share_link(account.id, "test").await.unwrap();
    let base = spawn(store).await;
    let a = format!("/accounts/{}", account.id);
    let quarter = laer_core::bridge::Quarter::containing(today);
    let search = account.display_name().split(' ').next().unwrap_or("a").to_string();
    let page = |path: &str, name: &str| serde_json::json!({"path": path, "name": name});
    let admin_pages = serde_json::json!([
        page("/work?show=all", "work-everyone"),
        page("/portfolio?owner=all", "portfolio-all"),
        page("/renewals", "renewals"),
        page("/revenue", "revenue"),
        page(
            &format!("/revenue/accounts?quarter={quarter}&kind=churn"),
            "revenue-drill"
        ),
        page(&a, "account"),
        page(&format!("{a}/plan"), "plan-team"),
        page(&format!("{a}/records"), "records"),
        page(&format!("{a}/touchpoints/new"), "touchpoint-new"),
        page(&format!("{a}/contacts/new"), "contact-new"),
        page("/work/tasks/new", "task-new"),
        page("/settings/playbooks", "playbooks"),
        page("/settings/coverage", "coverage"),
        page("/settings/playbooks/edit?name=renewal-at-risk", "playbook-edit"),
        page("/settings/coverage/rule?n=4", "coverage-rule"),
        page("/settings/coverage/general", "coverage-general"),
        page("/settings/coverage/apply", "coverage-apply"),
        page("/team", "team"),
        page("/health/model", "health-model"),
        page("/admin/people", "admin-people"),
        page("/admin/keys", "admin-keys"),
        page("/admin/audit", "admin-audit"),
        page("/admin/stripe", "admin-stripe"),
        page("/admin/syncs", "admin-syncs"),
        page("/admin/chat", "admin-chat"),
        page("/import", "import"),
        page(&format!("/search?q={search}"), "search"),
        serde_json::json!({"path": "/no-such-page", "name": "not-found", "status": 404}),
        serde_json::json!({"path": format!("/plan/{}", link.secret), "name": "plan", "public": true}),
        serde_json::json!({"path": "/login", "name": "login", "public": true}),
    ]);
    let csm_pages = serde_json::json!([
        page("/work", "work"),
        page("/work?view=list", "work-list"),
        page("/work?show=snoozed", "work-snoozed"),
        page("/portfolio", "portfolio"),
        page("/renewals", "renewals-mine"),
    ]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/pages.cjs");
    for (email, pages) in [(admin, admin_pages), (csm, csm_pages)] {
        let mut command = Command::new("node");
        command
            .arg(&script)
            .arg(&base)
            .arg(&email)
            .arg(crate::common::DEMO_PASSWORD)
            .arg(pages.to_string())
            .env("NODE_PATH", &node_modules);
        run_script(command, "pages: all passed", &format!("the pages test for {email}")).await;
    }
}
