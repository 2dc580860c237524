//! Tracking keys are for usage only (issue 15), on both backends: a `messageId` is unique
//! per write key (another key's call with the same id is stored; a repeat under the same
//! key is a duplicate, also from two nodes at once); group and identify calls fill in
//! blanks but keep what imports wrote unless the workspace allows more; every change a
//! call makes is audited naming the key.

use std::collections::BTreeMap;

use chrono::Utc;
use laer_core::model::{NewAccount, NewProductUser};
use laer_core::segment::{Call, CallKind, Envelope, parse_call};
use laer_core::tracking::TrackingUpdates;
use laer_store::{AuditRow, Backend, IngestOutcome, Store};
use serde_json::{Value, json};

/// One call as the tracking API validates it.
fn call(kind: CallKind, body: Value) -> Call {
    let envelope = Envelope {
        endpoint: Some(kind),
        batch_sent_at: None,
        batch_context: None,
        received_at: Utc::now(),
        fresh_message_id: &|| laer_store::random_id().unwrap(),
        may_hold_nul: true,
    };
    parse_call(body, &envelope).unwrap()
}

fn track(user: &str, event: &str, message_id: &str) -> Call {
    call(
        CallKind::Track,
        json!({"userId": user, "event": event, "messageId": message_id}),
    )
}

fn outcome(accepted: u64, duplicates: u64) -> IngestOutcome {
    IngestOutcome { accepted, duplicates }
}

async fn event_names(store: &Store, external_id: &str) -> Vec<String> {
    let account = store.account_by_external_id(external_id).await.unwrap().unwrap();
    let mut names: Vec<String> = store
        .events_of(account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    names.sort();
    names
}

async fn tracking_audit(store: &Store) -> Vec<AuditRow> {
    let mut log = laer_store::test_support::audited(store, "tracking").await;
    log.reverse();
    log
}

async fn a_message_id_is_unique_per_key(store: &Store) {
    let web = store.create_write_key("web").await.unwrap().record.id;
    let backend = store.create_write_key("backend").await.unwrap().record.id;
    let group = call(CallKind::Group, json!({"userId": "u1", "groupId": "acme"}));
    store.ingest(web, vec![group]).await.unwrap();
    // The same messageId under two keys: two calls.
    assert_eq!(
        store.ingest(web, vec![track("u1", "Login", "m1")]).await.unwrap(),
        outcome(1, 0)
    );
    assert_eq!(
        store
            .ingest(backend, vec![track("u1", "Invoice Sent", "m1")])
            .await
            .unwrap(),
        outcome(1, 0),
        "another key's messageId must not drop this call"
    );
    // A repeat under the same key is acknowledged and ignored, also twice in one request.
    assert_eq!(
        store.ingest(web, vec![track("u1", "Login", "m1")]).await.unwrap(),
        outcome(0, 1)
    );
    assert_eq!(
        store
            .ingest(backend, vec![track("u1", "Export", "m2"), track("u1", "Export", "m2")])
            .await
            .unwrap(),
        outcome(1, 1)
    );
    assert_eq!(event_names(store, "acme").await, ["Export", "Invoice Sent", "Login"]);

    // Waiting for their account, both keys' calls with one messageId are kept, and both
    // are attributed when the link arrives.
    store.ingest(web, vec![track("u2", "Login", "w1")]).await.unwrap();
    store
        .ingest(backend, vec![track("u2", "Invoice Sent", "w1")])
        .await
        .unwrap();
    let link = call(CallKind::Group, json!({"userId": "u2", "groupId": "globex"}));
    store.ingest(backend, vec![link]).await.unwrap();
    assert_eq!(event_names(store, "globex").await, ["Invoice Sent", "Login"]);
    assert_eq!(
        store.ingest(web, vec![track("u2", "Login", "w1")]).await.unwrap(),
        outcome(0, 1)
    );
    assert_eq!(event_names(store, "globex").await.len(), 2);
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0);
}

/// Large requests go into the log many rows per statement: one that meets a call stored
/// already (a client sending a batch again after a timeout, with new calls after it)
/// still stores each new call once and counts each repeat.
async fn a_large_batch_sent_again_stores_only_its_new_calls(store: &Store) {
    let key = store.create_write_key("web").await.unwrap().record.id;
    let group = call(CallKind::Group, json!({"userId": "u1", "groupId": "acme"}));
    store.ingest(key, vec![group]).await.unwrap();
    let batch = |ids: std::ops::Range<usize>| -> Vec<Call> {
        ids.map(|i| track("u1", &format!("Feature {}", i % 7), &format!("m{i}")))
            .collect()
    };
    assert_eq!(store.ingest(key, batch(0..700)).await.unwrap(), outcome(700, 0));
    // The first 700 again, 600 new ones, and one of those twice.
    let mut again = batch(0..1_300);
    again.push(track("u1", "Feature 0", "m1000"));
    assert_eq!(store.ingest(key, again).await.unwrap(), outcome(600, 701));
    let account = store.account_by_external_id("acme").await.unwrap().unwrap();
    assert_eq!(store.events_of(account.id).await.unwrap().len(), 1_300);
    // New calls after them go many at a time again.
    assert_eq!(store.ingest(key, batch(1_300..2_000)).await.unwrap(), outcome(700, 0));
    assert_eq!(store.events_of(account.id).await.unwrap().len(), 2_000);
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0);
}

async fn import(store: &Store) {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount {
        external_id: "acme".into(),
        name: Some("Acme Corp".into()),
        segment: Some("enterprise".into()),
        channel: None,
        country: Some("DE".into()),
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::from([("plan".to_string(), "enterprise".to_string())]),
    }])
    .await
    .unwrap();
    let acme = store_id(&mut tx).await;
    tx.upsert(&[NewProductUser {
        external_id: "kim".into(),
        account_id: acme,
        email: Some("kim@acme.example".into()),
        name: Some("Kim Lee".into()),
        department: None,
        created_at: None,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn store_id(tx: &mut laer_store::WriteTx) -> i64 {
    tx.id_lookup(laer_store::IdLookup::Accounts).await.unwrap()["acme"]
}

async fn tracking_fills_blanks_and_keeps_imported_values(store: &Store) {
    import(store).await;
    let key = store.create_write_key("web page").await.unwrap().record.id;
    let group = call(
        CallKind::Group,
        json!({"userId": "kim", "groupId": "acme",
               "traits": {"name": "Hacked", "plan": "free", "industry": "retail"}}),
    );
    let identify = call(
        CallKind::Identify,
        json!({"userId": "kim", "traits": {"email": "evil@example.com", "name": "Someone", "department": "finance"}}),
    );
    store.ingest(key, vec![group, identify]).await.unwrap();
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    assert_eq!(
        acme.fields.name.as_deref(),
        Some("Acme Corp"),
        "the imported name stays"
    );
    let attributes: Vec<(&str, &str)> = acme
        .fields
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        attributes,
        [("industry", "retail"), ("plan", "enterprise")],
        "a blank attribute is filled, a set one kept"
    );
    assert_eq!(
        (acme.fields.segment.as_deref(), acme.fields.country.as_deref()),
        (Some("enterprise"), Some("DE"))
    );
    let kim = store.product_user("kim").await.unwrap().unwrap();
    assert_eq!(
        (kim.email.as_deref(), kim.name.as_deref(), kim.department.as_deref()),
        (Some("kim@acme.example"), Some("Kim Lee"), Some("finance"))
    );
    // What changed is audited, naming the key by id and name, never the key itself.
    let log = tracking_audit(store).await;
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["tracking.account_changed", "tracking.product_user_changed"]);
    assert_eq!(log[0].actor, format!("write key web page (#{key})"));
    assert_eq!(log[0].account_id, Some(acme.id));
    assert_eq!(log[0].details["write_key_id"], key);
    assert_eq!(log[0].details["write_key"], "web page");
    assert_eq!(
        log[0].details["changes"],
        json!({"attributes.industry": {"before": null, "after": "retail"}})
    );
    assert_eq!(
        log[1].details["changes"],
        json!({"department": {"before": null, "after": "finance"}})
    );
    assert!(!log[0].details.to_string().contains("lk_"), "{}", log[0].details);
    // The same calls again change nothing and audit nothing.
    let again = call(
        CallKind::Group,
        json!({"userId": "kim", "groupId": "acme", "traits": {"name": "Hacked", "industry": "retail"}}),
    );
    store.ingest(key, vec![again]).await.unwrap();
    assert_eq!(tracking_audit(store).await.len(), 2);

    // An account tracking created is tracking's: its values may change, until an import
    // sets one.
    let create = |name: &str| {
        call(
            CallKind::Group,
            json!({"userId": "lee", "groupId": "newco", "traits": {"name": name, "tier": "1"}}),
        )
    };
    store.ingest(key, vec![create("NewCo")]).await.unwrap();
    store.ingest(key, vec![create("NewCo Inc")]).await.unwrap();
    let newco = store.account_by_external_id("newco").await.unwrap().unwrap();
    assert_eq!(newco.fields.name.as_deref(), Some("NewCo Inc"));
    let log = tracking_audit(store).await;
    assert_eq!(log[2].action, "tracking.account_created");
    assert_eq!(log[2].details["name"], "NewCo");
    assert_eq!(
        log[3].details["changes"],
        json!({"name": {"before": "NewCo", "after": "NewCo Inc"}})
    );
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount {
        name: Some("NewCo Ltd".into()),
        ..newco.fields.clone()
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store.ingest(key, vec![create("NewCo 2")]).await.unwrap();
    let newco = store.account_by_external_id("newco").await.unwrap().unwrap();
    assert_eq!(newco.fields.name.as_deref(), Some("NewCo Ltd"));

    // The workspace may let tracking update names and attributes: audited when set.
    store
        .set_tracking_updates(TrackingUpdates::Update, "Ada Admin <ada@example.com>")
        .await
        .unwrap();
    assert_eq!(store.tracking_updates().await.unwrap().0, TrackingUpdates::Update);
    let setting = laer_store::test_support::audited(store, "settings.tracking_updates").await;
    assert_eq!(setting.len(), 1);
    assert_eq!(setting[0].details["body"], "update");
    let rename = call(
        CallKind::Group,
        json!({"userId": "kim", "groupId": "acme", "traits": {"name": "Acme Inc", "plan": "pro"}}),
    );
    store.ingest(key, vec![rename]).await.unwrap();
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    assert_eq!(acme.fields.name.as_deref(), Some("Acme Inc"));
    assert_eq!(acme.fields.attributes["plan"], "pro");
    let last = tracking_audit(store).await.pop().unwrap();
    assert_eq!(
        last.details["changes"],
        json!({"name": {"before": "Acme Corp", "after": "Acme Inc"},
               "attributes.plan": {"before": "enterprise", "after": "pro"}})
    );
}

/// A group call does not move an imported product user to another account (usage is
/// still counted where the call says); a product user tracking made moves, audited.
async fn an_imported_product_user_stays_in_its_account(store: &Store) {
    import(store).await;
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap().id;
    let key = store.create_write_key("web page").await.unwrap().record.id;
    let elsewhere = call(CallKind::Group, json!({"userId": "kim", "groupId": "elsewhere"}));
    store.ingest(key, vec![elsewhere]).await.unwrap();
    assert_eq!(store.product_user("kim").await.unwrap().unwrap().account_id, acme);
    let actions: Vec<String> = tracking_audit(store).await.into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["tracking.account_created"]);

    store
        .ingest(
            key,
            vec![call(CallKind::Group, json!({"userId": "max", "groupId": "acme"}))],
        )
        .await
        .unwrap();
    assert_eq!(store.product_user("max").await.unwrap().unwrap().account_id, acme);
    store
        .ingest(
            key,
            vec![call(CallKind::Group, json!({"userId": "max", "groupId": "elsewhere"}))],
        )
        .await
        .unwrap();
    let elsewhere = store.account_by_external_id("elsewhere").await.unwrap().unwrap().id;
    assert_eq!(store.product_user("max").await.unwrap().unwrap().account_id, elsewhere);
    let moved = tracking_audit(store).await.pop().unwrap();
    assert_eq!(moved.action, "tracking.product_user_changed");
    assert_eq!(
        moved.details["changes"],
        json!({"account_id": {"before": acme, "after": elsewhere}})
    );
}

/// Applies `calls` while `import` (a transaction that wrote but has not committed) is
/// open, and commits it once the ingest has had time to reach what the import writes.
async fn ingest_during(store: &Store, key: i64, import: laer_store::WriteTx, calls: Vec<Call>) -> IngestOutcome {
    let ingest = {
        let store = store.clone();
        tokio::spawn(async move { store.ingest(key, calls).await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    import.commit().await.unwrap();
    ingest.await.unwrap()
}

/// An import that commits while group and identify calls are applied (from another
/// node, or a request holding its transaction) keeps its values: tracking compares with
/// what the import wrote, never writes back what it read before, and merges into an
/// account or product user created meanwhile instead of replacing it. (On SQLite the
/// ingest simply waits for the import's transaction.)
async fn an_import_during_tracking_calls_stands(store: &Store) {
    import(store).await;
    let key = store.create_write_key("web page").await.unwrap().record.id;

    // A stored account changed by the import meanwhile.
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    let mut import = store.begin_write().await.unwrap();
    import
        .upsert(&[NewAccount {
            segment: Some("smb".into()),
            ..acme.fields.clone()
        }])
        .await
        .unwrap();
    let group = call(
        CallKind::Group,
        json!({"userId": "kim", "groupId": "acme", "traits": {"industry": "retail"}}),
    );
    assert_eq!(ingest_during(store, key, import, vec![group]).await, outcome(1, 0));
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    assert_eq!(
        acme.fields.segment.as_deref(),
        Some("smb"),
        "the import's segment stands"
    );
    assert_eq!(acme.fields.attributes["industry"], "retail");

    // An account the import creates meanwhile.
    let mut import = store.begin_write().await.unwrap();
    import
        .upsert(&[NewAccount {
            external_id: "globex".into(),
            name: Some("Globex".into()),
            segment: None,
            channel: None,
            country: None,
            date_of_birth: None,
            renewal_date: None,
            attributes: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
        }])
        .await
        .unwrap();
    let group = call(
        CallKind::Group,
        json!({"userId": "ann", "groupId": "globex", "traits": {"name": "Globex Trial", "plan": "free"}}),
    );
    assert_eq!(ingest_during(store, key, import, vec![group]).await, outcome(1, 0));
    let globex = store.account_by_external_id("globex").await.unwrap().unwrap();
    assert_eq!(globex.fields.name.as_deref(), Some("Globex"));
    assert_eq!(globex.fields.attributes["plan"], "pro");

    // A product user the import creates meanwhile.
    let mut import = store.begin_write().await.unwrap();
    import
        .upsert(&[NewProductUser {
            external_id: "lee".into(),
            account_id: globex.id,
            email: None,
            name: Some("Lee Imported".into()),
            department: None,
            created_at: None,
        }])
        .await
        .unwrap();
    let calls = vec![
        call(
            CallKind::Identify,
            json!({"userId": "lee", "traits": {"name": "Lee Tracked", "email": "lee@globex.example"}}),
        ),
        call(CallKind::Group, json!({"userId": "lee", "groupId": "acme"})),
    ];
    assert_eq!(ingest_during(store, key, import, calls).await, outcome(2, 0));
    let lee = store.product_user("lee").await.unwrap().unwrap();
    assert_eq!(
        (lee.account_id, lee.name.as_deref(), lee.email.as_deref()),
        (globex.id, Some("Lee Imported"), Some("lee@globex.example"))
    );

    let actions: Vec<String> = tracking_audit(store).await.into_iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        ["tracking.account_changed", "tracking.product_user_changed"],
        "tracking created nothing the import made"
    );
}

laer_store::backend_tests!(
    a_message_id_is_unique_per_key,
    a_large_batch_sent_again_stores_only_its_new_calls,
    tracking_fills_blanks_and_keeps_imported_values,
    an_imported_product_user_stays_in_its_account,
    an_import_during_tracking_calls_stands,
);

/// Two nodes (two stores on one database) receive the same calls at once, as a client
/// retrying against a load balancer does: each (key, messageId) is stored once, the
/// other key's call with the same messageId too.
async fn two_nodes_store_each_message_once(backend: Backend) {
    let Some(db) = laer_store::test_support::TestDatabase::new(backend).await else {
        return;
    };
    let first = &db.store;
    let second = Store::open(&db.url).await.unwrap();
    let web = first.create_write_key("web").await.unwrap().record.id;
    let backend_key = first.create_write_key("backend").await.unwrap().record.id;
    let group = call(CallKind::Group, json!({"userId": "u1", "groupId": "acme"}));
    first.ingest(web, vec![group]).await.unwrap();
    let mut sends = Vec::new();
    for round in 0..8 {
        for (store, key) in [
            (first, web),
            (&second, web),
            (first, backend_key),
            (&second, backend_key),
        ] {
            let calls: Vec<Call> = (0..20).map(|i| track("u1", "Login", &format!("m{i}"))).collect();
            let store = store.clone();
            sends.push(tokio::spawn(
                async move { (round, store.ingest(key, calls).await.unwrap()) },
            ));
        }
    }
    let mut accepted = 0;
    for send in sends {
        accepted += send.await.unwrap().1.accepted;
    }
    assert_eq!(accepted, 40, "20 messages under each of two keys");
    assert_eq!(event_names(first, "acme").await.len(), 40);
    assert_eq!(first.rollup_mismatches().await.unwrap(), 0);
    second.close().await;
    db.store.close().await;
}

#[tokio::test]
async fn two_nodes_store_each_message_once_sqlite() {
    two_nodes_store_each_message_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn two_nodes_store_each_message_once_postgres() {
    two_nodes_store_each_message_once(Backend::Postgres).await;
}

/// Two nodes receive the first calls naming a new event while an import writes the same
/// event type under an id of its own: every call is stored, the event type once (a soak
/// saw `event_types_name_key` refuse a node's insert with a 500).
async fn two_nodes_create_a_new_event_type_at_once(backend: Backend) {
    let Some(db) = laer_store::test_support::TestDatabase::new(backend).await else {
        return;
    };
    let first = &db.store;
    let second = Store::open(&db.url).await.unwrap();
    let key = first.create_write_key("web").await.unwrap().record.id;
    let group = call(CallKind::Group, json!({"userId": "u1", "groupId": "acme"}));
    first.ingest(key, vec![group]).await.unwrap();
    for round in 0..20 {
        let mut sends = Vec::new();
        for (n, store) in [first, &second, first, &second].into_iter().enumerate() {
            let call = track("u1", &format!("Feature {round}"), &format!("r{round}-{n}"));
            let store = store.clone();
            sends.push(tokio::spawn(async move { store.ingest(key, vec![call]).await }));
        }
        let import = {
            let store = second.clone();
            tokio::spawn(async move {
                let mut tx = store.begin_write().await?;
                tx.upsert(&[laer_core::model::NewEventType {
                    external_id: format!("et-{round}"),
                    name: format!("Feature {round}"),
                }])
                .await?;
                tx.commit().await
            })
        };
        for send in sends {
            let outcome = send.await.unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(outcome.accepted, 1);
        }
        // The import may lose to the calls (its external id then names nothing new): a
        // refusal naming the name is its answer, never a lost call.
        if let Err(e) = import.await.unwrap() {
            assert!(
                e.to_string().contains("event_types") || e.to_string().contains("name"),
                "round {round}: {e}"
            );
        }
    }
    let names = event_names(first, "acme").await;
    assert_eq!(names.len(), 80);
    let mut types = names.clone();
    types.dedup();
    assert_eq!(types.len(), 20, "each new event type once");
    second.close().await;
    db.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_create_a_new_event_type_at_once_sqlite() {
    two_nodes_create_a_new_event_type_at_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_create_a_new_event_type_at_once_postgres() {
    two_nodes_create_a_new_event_type_at_once(Backend::Postgres).await;
}
