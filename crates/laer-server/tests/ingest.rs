//! The Segment-compatible tracking API over real HTTP, on each backend.

use crate::common::spawn;

use base64::Engine;
use laer_store::Store;
use serde_json::{Value, json};

struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    async fn new(store: &Store) -> Client {
        let key = store.create_write_key("test").await.unwrap().secret;
        Client {
            base: spawn(store).await,
            key,
            http: reqwest::Client::new(),
        }
    }

    /// Posts as the official clients do: the write key as the Basic user name.
    async fn post(&self, call: &str, body: &Value) -> (u16, Value) {
        self.post_raw(call, body.to_string(), Some(&self.key)).await
    }

    async fn post_raw(&self, call: &str, body: String, key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/v1/{call}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
            request = request.header("authorization", format!("Basic {basic}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn keys_authenticate_calls(store: &Store) {
    let client = Client::new(store).await;
    let track = json!({"userId": "u1", "event": "Login"});
    assert_eq!(client.post("track", &track).await.0, 200);
    let (status, body) = client.post_raw("track", track.to_string(), Some("lk_unknown")).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap().contains("write key")),
        (401, true)
    );
    assert_eq!(client.post_raw("track", track.to_string(), None).await.0, 401);
    // The key in the body works too.
    let with_key = json!({"userId": "u1", "event": "Login", "writeKey": client.key});
    assert_eq!(client.post_raw("track", with_key.to_string(), None).await.0, 200);
    let keys = store.write_keys().await.unwrap();
    assert!(store.revoke_write_key(keys[0].id).await.unwrap());
    assert_eq!(client.post("track", &track).await.0, 401);
}

async fn users_and_events_reach_their_accounts(store: &Store) {
    let client = Client::new(store).await;
    let ok = |r: (u16, Value)| assert_eq!(r.0, 200, "{}", r.1);
    // Before the user is linked to an account: kept, not yet attributed.
    ok(client
        .post(
            "identify",
            &json!({"userId": "u1", "traits": {"email": "kim@acme.example", "department": "finance"}}),
        )
        .await);
    ok(client
        .post(
            "track",
            &json!({"userId": "u1", "event": "Report Viewed", "properties": {"value": 2}, "messageId": "m1"}),
        )
        .await);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.accounts, counts.product_users), (0, 0, 0));
    // The group call links the user: the account is created with its traits, the user
    // becomes a product user, the earlier event is attributed.
    ok(client
        .post(
            "group",
            &json!({"userId": "u1", "groupId": "acme", "traits": {"name": "Acme", "industry": "retail"}}),
        )
        .await);
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    assert_eq!(acme.fields.name.as_deref(), Some("Acme"));
    assert_eq!(
        acme.fields.attributes.get("industry").map(String::as_str),
        Some("retail")
    );
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.accounts, counts.product_users), (1, 1, 1));
    // Later events of a linked user go straight to the account; context.groupId links too.
    ok(client.post("page", &json!({"userId": "u1", "name": "Pricing"})).await);
    ok(client
        .post(
            "track",
            &json!({"anonymousId": "a9", "event": "Export", "context": {"groupId": "globex"}}),
        )
        .await);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.accounts), (3, 2));
    // A repeated messageId changes nothing.
    ok(client
        .post(
            "track",
            &json!({"userId": "u1", "event": "Report Viewed", "messageId": "m1"}),
        )
        .await);
    assert_eq!(store.counts().await.unwrap().events, 3);
    // The daily activity rollup follows the ingested events.
    let today = chrono::Utc::now().date_naive();
    let request = laer_core::reports::ReportRequest::parse(
        &(today + chrono::Days::new(1)).to_string(),
        &(today + chrono::Days::new(2)).to_string(),
        None,
        Some("1"),
    )
    .unwrap();
    let report = laer_app::reports::retention(store, &request, None).await.unwrap();
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0);
    let laer_app::reports::RetentionReport::Single(period) = &report else {
        panic!("one period, one object: {report:?}")
    };
    let activity = period.activity.as_ref().map(|a| a.start);
    assert_eq!(activity, Some(2), "both accounts were active today: {report:?}");
}

async fn batches_are_all_or_nothing(store: &Store) {
    let client = Client::new(store).await;
    let good = json!({"batch": [
        {"type": "group", "userId": "u1", "groupId": "acme"},
        {"type": "track", "userId": "u1", "event": "A", "messageId": "b1"},
        {"type": "track", "userId": "u1", "event": "B", "messageId": "b2", "timestamp": "2024-01-01T00:00:00Z"},
    ], "sentAt": "2024-01-01T00:00:01Z"});
    assert_eq!(client.post("batch", &good).await.0, 200);
    assert_eq!(store.counts().await.unwrap().events, 2);
    let bad = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "C", "messageId": "b3"},
        {"type": "track", "userId": "u1", "event": "D", "messageId": "b4"},
        {"type": "track", "userId": "u1", "messageId": "b5"},
    ]});
    let (status, body) = client.post("batch", &bad).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "batch[2]: event is required in a track call");
    assert_eq!(body["details"]["index"], 2);
    assert_eq!(
        store.counts().await.unwrap().events,
        2,
        "a rejected batch writes nothing"
    );
    // Resending the good batch creates no duplicates.
    assert_eq!(client.post("batch", &good).await.0, 200);
    assert_eq!(store.counts().await.unwrap().events, 2);
}

async fn bad_input_gets_400(store: &Store) {
    let client = Client::new(store).await;
    let big = json!({"userId": "u", "event": "x", "properties": {"blob": "x".repeat(33 * 1024)}});
    let (status, body) = client.post("track", &big).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("larger than 32768 bytes"),
        "{body}"
    );
    let calls: Vec<Value> = (0..20).map(|i| json!({"type": "track", "userId": "u", "event": "x", "properties": {"blob": "y".repeat(30_000), "i": i}})).collect();
    let (status, body) = client.post("batch", &json!({"batch": calls})).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("512000"), "{body}");
    let (status, body) = client
        .post_raw("track", "{\"userId\": ".to_string(), Some(&client.key))
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().starts_with("malformed JSON"), "{body}");
    for (call, payload, message) in [
        ("track", json!({"event": "x"}), "userId or anonymousId is required"),
        ("track", json!({"userId": "u"}), "event is required in a track call"),
        (
            "identify",
            json!({"userId": "u", "traits": "vip"}),
            "traits must be an object",
        ),
        ("group", json!({"userId": "u"}), "groupId is required in a group call"),
        (
            "identify",
            json!({"userId": "u", "traits": {"name": "a\u{0}b"}}),
            "traits.name contains a NUL character (\\u0000)",
        ),
        (
            "alias",
            json!({"userId": "u"}),
            "previousId is required in an alias call",
        ),
    ] {
        let (status, body) = client.post(call, &payload).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(message)),
            "{call} {payload}"
        );
    }
    assert_eq!(store.counts().await.unwrap().events, 0);
}

async fn gzipped_bodies_are_accepted(store: &Store) {
    use std::io::Write;
    let client = Client::new(store).await;
    let body = json!({"batch": [{"type": "track", "userId": "u", "event": "Zip", "context": {"groupId": "acme"}}]});
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body.to_string().as_bytes()).unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:", client.key));
    let response = client
        .http
        .post(format!("{}/v1/batch", client.base))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("authorization", format!("Basic {basic}"))
        .body(encoder.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(store.counts().await.unwrap().events, 1);
}

async fn an_alias_carries_the_account_over(store: &Store) {
    let client = Client::new(store).await;
    let ok = |r: (u16, Value)| assert_eq!(r.0, 200, "{}", r.1);
    ok(client
        .post("track", &json!({"anonymousId": "visitor-1", "event": "Signup Started"}))
        .await);
    ok(client.post("group", &json!({"userId": "u7", "groupId": "acme"})).await);
    assert_eq!(store.counts().await.unwrap().events, 0);
    ok(client
        .post("alias", &json!({"previousId": "visitor-1", "userId": "u7"}))
        .await);
    assert_eq!(store.counts().await.unwrap().events, 1);
}

/// Per account, day and feature: counts and value sums add up across requests, and a
/// user counts once however many requests name them.
async fn feature_rollups_count_each_user_once(store: &Store) {
    let client = Client::new(store).await;
    let track = |user: &str, value: Option<f64>, id: &str| {
        let mut call = json!({"type": "track", "userId": user, "event": "Export", "messageId": id,
                              "timestamp": "2026-03-04T10:00:00Z", "context": {"groupId": "acme"}});
        if let Some(v) = value {
            call["properties"] = json!({"value": v});
        }
        call
    };
    let first =
        json!({"batch": [track("ann", Some(1.5), "e1"), track("bob", None, "e2"), track("ann", Some(2.0), "e3")]});
    let second = json!({"batch": [track("bob", Some(0.25), "e4"), track("cem", None, "e5"), track("ann", None, "e1")]});
    assert_eq!(client.post("batch", &first).await.0, 200);
    assert_eq!(client.post("batch", &second).await.0, 200);
    // Bob again under another message id (another use: an event per message) and a
    // user new to the day.
    let third = json!({"batch": [track("bob", None, "e6"), track("dan", Some(1.0), "e7")]});
    assert_eq!(client.post("batch", &third).await.0, 200);
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    let days = store.feature_days(acme.id).await.unwrap();
    assert_eq!(days.len(), 1, "{days:?}");
    let day = &days[0];
    assert_eq!(day.day, chrono::NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
    assert_eq!((day.feature.as_str(), day.events, day.users), ("Export", 7, 4));
    assert_eq!(day.value_sum, Some(4.75));
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0);
}

/// Calls sent at the same time as the link that attributes them are never lost.
async fn concurrent_calls_and_links_agree(store: &Store) {
    let client = std::sync::Arc::new(Client::new(store).await);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            if i == 20 {
                client
                    .post("group", &json!({"userId": "busy", "groupId": "acme"}))
                    .await
                    .0
            } else {
                client
                    .post(
                        "track",
                        &json!({"userId": "busy", "event": "Click", "messageId": format!("c{i}")}),
                    )
                    .await
                    .0
            }
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    assert_eq!(store.events_of(acme.id).await.unwrap().len(), 39);
    assert_eq!(
        store.rollup_mismatches().await.unwrap(),
        0,
        "the rollup agrees with the events"
    );
}

laer_store::backend_tests!(
    concurrent_calls_and_links_agree,
    feature_rollups_count_each_user_once,
    keys_authenticate_calls,
    users_and_events_reach_their_accounts,
    batches_are_all_or_nothing,
    bad_input_gets_400,
    an_alias_carries_the_account_over,
    gzipped_bodies_are_accepted,
);
