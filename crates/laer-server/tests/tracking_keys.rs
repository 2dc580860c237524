//! Tracking keys are for usage only (issue 15), over real HTTP on each backend: a group
//! call with a write key (which web pages embed, so anyone has it) cannot rename an
//! imported account or overwrite its attributes, only fill in blanks, and what it changes
//! is audited naming the key; a `messageId` is unique per key; a time outside the window
//! is refused with 400 naming the field (a batch holding one: the whole batch, naming
//! the call's index); admins see and change the setting that widens what tracking may
//! change, audited. With Segment's official Python library as well, where installed.

use crate::common::spawn;
use crate::common::web::Session;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use laer_core::access::Role;
use laer_core::model::NewAccount;
use laer_store::Store;
use serde_json::{Value, json};

/// Posts a call as the official clients do: the key as the Basic user name.
async fn post(base: &str, key: &str, call: &str, body: &Value) -> (u16, Value) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/{call}"))
        .header("authorization", format!("Basic {basic}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// "crm-acme", named and with a plan as a CRM import leaves it.
async fn imported_account(store: &Store, external_id: &str) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount {
        external_id: external_id.into(),
        name: Some("Acme Corp".into()),
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::from([("plan".to_string(), "enterprise".to_string())]),
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store.account_by_external_id(external_id).await.unwrap().unwrap().id
}

async fn tracking_audit(store: &Store) -> Vec<laer_store::AuditRow> {
    laer_store::test_support::audited(store, "tracking").await
}

async fn a_write_key_cannot_rename_an_imported_account(store: &Store) {
    let base = spawn(store).await;
    let made = store.create_write_key("marketing site").await.unwrap();
    let acme = imported_account(store, "crm-acme").await;
    let group = json!({"userId": "visitor", "groupId": "crm-acme",
                       "traits": {"name": "Pwned Inc", "plan": "free", "website": "acme.example"}});
    let (status, body) = post(&base, &made.secret, "group", &group).await;
    assert_eq!(status, 200, "{body}");
    let account = store.account_by_external_id("crm-acme").await.unwrap().unwrap();
    assert_eq!(account.fields.name.as_deref(), Some("Acme Corp"));
    assert_eq!(account.fields.attributes["plan"], "enterprise");
    assert_eq!(
        account.fields.attributes["website"], "acme.example",
        "a blank is filled"
    );
    let log = tracking_audit(store).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].account_id, Some(acme));
    assert_eq!(log[0].actor, format!("write key marketing site (#{})", made.record.id));
    assert_eq!(log[0].details["write_key_id"], made.record.id);
    assert_eq!(
        log[0].details["changes"],
        json!({"attributes.website": {"before": null, "after": "acme.example"}})
    );
    assert!(!serde_json::to_string(&log[0]).unwrap().contains(&made.secret));
}

async fn a_message_id_is_unique_per_key(store: &Store) {
    let base = spawn(store).await;
    let web = store.create_write_key("web").await.unwrap().secret;
    let server = store.create_write_key("server").await.unwrap().secret;
    let track =
        |event: &str| json!({"userId": "u1", "event": event, "messageId": "same-id", "context": {"groupId": "acme"}});
    assert_eq!(post(&base, &web, "track", &track("Login")).await.0, 200);
    assert_eq!(post(&base, &server, "track", &track("Invoice Paid")).await.0, 200);
    // A retry under the same key is acknowledged and stored once.
    assert_eq!(post(&base, &web, "track", &track("Login")).await.0, 200);
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    let mut events: Vec<String> = store
        .events_of(acme.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    events.sort();
    assert_eq!(events, ["Invoice Paid", "Login"]);
}

async fn times_outside_the_window_get_400(store: &Store) {
    let base = spawn(store).await;
    let key = store.create_write_key("web").await.unwrap().secret;
    for (body, field) in [
        (
            json!({"userId": "u", "event": "x", "timestamp": "9999-12-31T23:59:59Z"}),
            "timestamp",
        ),
        (
            json!({"userId": "u", "event": "x", "timestamp": "0001-01-01T00:00:00Z"}),
            "timestamp",
        ),
        (
            json!({"userId": "u", "event": "x", "originalTimestamp": "1999-01-01T00:00:00Z"}),
            "originalTimestamp",
        ),
        (
            json!({"userId": "u", "event": "x", "timestamp": chrono::Utc::now().to_rfc3339(),
                   "sentAt": "1980-01-01T00:00:00Z"}),
            "sentAt",
        ),
    ] {
        let (status, answer) = post(&base, &key, "track", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["details"]["field"], field, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.starts_with(field) && error.contains("outside the accepted window"),
            "{error}"
        );
    }
    // A batch with one call out of the window is refused whole, naming the call.
    let batch = json!({"batch": [
        {"type": "track", "userId": "u", "event": "ok", "context": {"groupId": "acme"}},
        {"type": "track", "userId": "u", "event": "late", "timestamp": "9999-01-01T00:00:00Z"},
    ]});
    let (status, answer) = post(&base, &key, "batch", &batch).await;
    assert_eq!(status, 400);
    assert_eq!(answer["details"], json!({"index": 1, "field": "timestamp"}));
    assert_eq!(
        store.counts().await.unwrap().events,
        0,
        "nothing of a refused batch is written"
    );
    // A time inside the window: stored.
    let yesterday = (chrono::Utc::now() - chrono::TimeDelta::days(1)).to_rfc3339();
    let ok = json!({"userId": "u", "event": "x", "timestamp": yesterday, "context": {"groupId": "acme"}});
    assert_eq!(post(&base, &key, "track", &ok).await.0, 200);
    assert_eq!(store.counts().await.unwrap().events, 1);
}

async fn admins_widen_what_tracking_may_change(store: &Store) {
    let base = spawn(store).await;
    let hash = laer_app::auth::hash_password("ada password").unwrap();
    store
        .upsert_user("ada@example.com", "Ada Admin", Role::Admin, &hash, None)
        .await
        .unwrap();
    let admin = Session::login(&base, "ada@example.com", "ada password").await.unwrap();
    let (status, page) = admin.get("/admin/keys").await;
    assert_eq!(status, 200);
    assert!(page.contains("What tracking calls may change"), "{page}");
    assert!(page.contains("The default: never set."), "{page}");
    let csrf = admin.csrf().await;
    assert_eq!(
        admin
            .post("/admin/keys/tracking", &[("csrf", &csrf), ("updates", "everything")])
            .await,
        400
    );
    assert_eq!(
        admin
            .post("/admin/keys/tracking", &[("csrf", &csrf), ("updates", "update")])
            .await,
        303
    );
    let (_, page) = admin.get("/admin/keys").await;
    assert!(page.contains("Set by Ada Admin"), "{page}");
    let changes = laer_store::test_support::audited(store, "settings.tracking_updates").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].actor, "Ada Admin <ada@example.com>");
    // Now a group call may rename the imported account: audited with the key.
    imported_account(store, "crm-acme").await;
    let key = store.create_write_key("backend").await.unwrap().secret;
    let group = json!({"userId": "u", "groupId": "crm-acme", "traits": {"name": "Acme Inc"}});
    assert_eq!(post(&base, &key, "group", &group).await.0, 200);
    let account = store.account_by_external_id("crm-acme").await.unwrap().unwrap();
    assert_eq!(account.fields.name.as_deref(), Some("Acme Inc"));
    assert_eq!(tracking_audit(store).await[0].action, "tracking.account_changed");
    // A CSM may not change it.
    let cy_hash = laer_app::auth::hash_password("cy password").unwrap();
    store
        .upsert_user("cy@example.com", "Cy Csm", Role::Csm, &cy_hash, None)
        .await
        .unwrap();
    let cy = Session::login(&base, "cy@example.com", "cy password").await.unwrap();
    let csrf = cy.csrf().await;
    let (status, page) = cy
        .post_page("/admin/keys/tracking", &[("csrf", &csrf), ("updates", "fill-blanks")])
        .await;
    assert_eq!(status, 403);
    assert!(page.contains("manage_keys"), "{page}");
    assert_eq!(store.tracking_updates().await.unwrap().0.as_str(), "update");
}

/// Segment's official Python library: its group call cannot rename an imported
/// account, and its track call with a time in year 9999 fails with the 400.
async fn the_python_library_cannot_rename(store: &Store) {
    let Some(python) = std::env::var("LAER_TEST_SEGMENT_PYTHON").ok().filter(|v| !v.is_empty()) else {
        // CI installs it (scripts/test): there, missing is a failure.
        assert!(
            !std::env::var("LAER_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1"),
            "LAER_TEST_SEGMENT_PYTHON is not set"
        );
        eprintln!("skipping: set LAER_TEST_SEGMENT_PYTHON");
        return;
    };
    let key = store.create_write_key("python").await.unwrap().secret;
    imported_account(store, "py-crm").await;
    let host = spawn(store).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/untrusted.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&host)
            .arg(&key)
            .output()
            .expect("start the client")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The library reports the refused call; the rest were accepted.
    assert!(stdout.contains("refused: 400"), "{stdout}");
    assert!(stdout.contains("timestamp"), "{stdout}");
    let account = store.account_by_external_id("py-crm").await.unwrap().unwrap();
    assert_eq!(account.fields.name.as_deref(), Some("Acme Corp"));
    assert_eq!(account.fields.attributes["plan"], "enterprise");
    assert_eq!(account.fields.attributes["industry"], "retail");
    let events = store.events_of(account.id).await.unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["Report Viewed"], "the event in year 9999 is not stored");
}

laer_store::backend_tests!(
    a_write_key_cannot_rename_an_imported_account,
    a_message_id_is_unique_per_key,
    times_outside_the_window_get_400,
    admins_widen_what_tracking_may_change,
    the_python_library_cannot_rename,
);
