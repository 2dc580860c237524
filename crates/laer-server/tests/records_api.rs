//! REST writes of records (`/api/v1/records/{kind}`) and the OpenAPI document, on each
//! backend. Requests go to the router itself, without the health engine, so that what a
//! write marks for rescoring can be seen.

use axum::body::Body;
use axum::http::Request;
use laer_core::access::Role;
use laer_store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A client of the router with a bearer token of a role, named after the role.
struct Client {
    store: Store,
    token: Option<String>,
    /// The audit log's actor for the token's changes.
    actor: String,
}

impl Client {
    async fn new(store: &Store, role: Role) -> Client {
        let name = format!("{role} robot");
        let created = store.create_api_token(&name, role).await.unwrap();
        Client {
            store: store.clone(),
            token: Some(created.secret),
            actor: format!("API token #{} “{name}”", created.record.id),
        }
    }

    fn anonymous(store: &Store) -> Client {
        Client {
            store: store.clone(),
            token: None,
            actor: String::new(),
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<String>) -> (u16, Value, String) {
        let (status, body, text, _) = self.send_with(method, path, body, None).await;
        (status, body, text)
    }

    /// A PUT with an `If-Match` header (when given); the answer with its `ETag`.
    async fn put_if(&self, path: &str, body: Value, if_match: Option<&str>) -> (u16, Value, Option<String>) {
        let (status, body, _, etag) = self.send_with("PUT", path, Some(body.to_string()), if_match).await;
        (status, body, etag)
    }

    async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        if_match: Option<&str>,
    ) -> (u16, Value, String, Option<String>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(version) = if_match {
            request = request.header("if-match", version);
        }
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let response = laer_server::router(self.store.clone()).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), text, etag)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self.send("POST", path, Some(body.to_string())).await;
        (status, body)
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self.send("PUT", path, Some(body.to_string())).await;
        (status, body)
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        let (status, body, _) = self.send("DELETE", path, None).await;
        (status, body)
    }
}

/// Accounts acme and globex; returns acme's id.
async fn seed(store: &Store) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    let acme = crate::common::acme(&mut tx, 400, Some(90), 1_000, 10.0).await;
    tx.commit().await.unwrap();
    let admin = Client::new(store, Role::Admin).await;
    let (status, body) = admin
        .post(
            "/api/v1/records/accounts",
            json!({"records": [{"external_id": "globex", "name": "Globex", "tier": "gold"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // What seeding marked is not what the tests look at.
    laer_store::test_support::claim_marked(store).await;
    acme
}

fn meeting(id: &str, account: &str) -> Value {
    json!({"external_id": id, "account_id": account, "held_at": "2026-11-02T10:00:00Z",
           "team": "Executive", "kind": "business review", "notes": "Agreed the next quarter's outcomes"})
}

async fn a_bulk_write_upserts_and_a_repeat_changes_nothing(store: &Store) {
    let acme = seed(store).await;
    let csm = Client::new(store, Role::Csm).await;
    let body = json!({"records": [meeting("m-1", "acme"), meeting("m-2", "acme")]});
    let (status, first) = csm.post("/api/v1/records/meetings", body.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (
            first["kind"].as_str(),
            first["written"].as_u64(),
            first["unchanged"].as_u64()
        ),
        (Some("meetings"), Some(2), Some(0))
    );
    let ids: Vec<i64> = first["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    // Health is marked for rescoring, as an import marks it, and the write is audited
    // with the token's id and name.
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    let audit = store.audit_of_account(acme).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        (csm.actor.as_str(), "meetings.write")
    );

    let (status, again) = csm.post("/api/v1/records/meetings", body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["written"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(again["ids"], first["ids"], "the same records");
    assert!(
        laer_store::test_support::claim_marked(store).await.is_empty(),
        "a repeat marks nothing"
    );
    assert_eq!(
        store.audit_of_account(acme).await.unwrap().len(),
        1,
        "a repeat leaves no trace"
    );

    // A change of one record writes that one.
    let mut changed = meeting("m-2", "acme");
    changed["notes"] = json!("Moved to December");
    let (status, third) = csm
        .post(
            "/api/v1/records/meetings",
            json!({"records": [meeting("m-1", "acme"), changed]}),
        )
        .await;
    assert_eq!(
        (status, third["written"].as_u64(), third["unchanged"].as_u64()),
        (200, Some(1), Some(1)),
        "{third}"
    );

    // Contracts bump the portfolio revision, as an import does.
    let sales = Client::new(store, Role::Sales).await;
    let before = store.portfolio_revision().await.unwrap();
    let line = json!({"records": [{"external_id": "acme-2", "account_id": "acme", "product": "addon",
                                   "start_date": "2026-01-01", "mrr": 120.5, "seats": 5}]});
    let (status, body) = sales.post("/api/v1/records/subscriptions", line.clone()).await;
    assert_eq!((status, body["written"].as_u64()), (200, Some(1)), "{body}");
    assert!(store.portfolio_revision().await.unwrap() > before);
    let after = store.portfolio_revision().await.unwrap();
    assert_eq!(
        sales.post("/api/v1/records/subscriptions", line).await.1["unchanged"],
        1
    );
    assert_eq!(store.portfolio_revision().await.unwrap(), after);
}

async fn a_bulk_write_is_all_or_nothing_naming_index_and_field(store: &Store) {
    let acme = seed(store).await;
    let csm = Client::new(store, Role::Csm).await;
    let mut late = meeting("m-2", "acme");
    late["held_at"] = json!("yesterday");
    let body = json!({"records": [meeting("m-1", "acme"), late, meeting("m-3", "initech"), "not an object"]});
    let (status, body) = csm.post("/api/v1/records/meetings", body).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "3 invalid record(s), nothing was written");
    let details = body["details"].as_array().unwrap();
    let named: Vec<(u64, Option<&str>)> = details
        .iter()
        .map(|d| (d["index"].as_u64().unwrap(), d["field"].as_str()))
        .collect();
    assert_eq!(named, [(1, Some("held_at")), (2, Some("account_id")), (3, None)]);
    assert!(details[1]["message"].as_str().unwrap().contains("initech"), "{body}");
    assert!(laer_store::test_support::claim_marked(store).await.is_empty());
    assert!(store.audit_of_account(acme).await.unwrap().is_empty());
    // The valid record was not written: writing it alone now writes it.
    let (status, alone) = csm
        .post("/api/v1/records/meetings", json!({"records": [meeting("m-1", "acme")]}))
        .await;
    assert_eq!((status, alone["written"].as_u64()), (200, Some(1)), "{alone}");

    // More than a thousand records are refused before any is read.
    let many: Vec<Value> = (0..1_001).map(|i| meeting(&format!("x-{i}"), "acme")).collect();
    let (status, body) = csm.post("/api/v1/records/meetings", json!({"records": many})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "records");
    assert!(body["error"].as_str().unwrap().contains("at most 1000"), "{body}");
    let thousand: Vec<Value> = (0..1_000).map(|i| meeting(&format!("x-{i}"), "acme")).collect();
    let (status, body) = csm.post("/api/v1/records/meetings", json!({"records": thousand})).await;
    assert_eq!((status, body["written"].as_u64()), (200, Some(1_000)));
}

async fn bad_input_is_a_400_naming_the_field(store: &Store) {
    seed(store).await;
    let csm = Client::new(store, Role::Csm).await;
    let path = "/api/v1/records/meetings";
    let field_of = |body: &Value| body["details"][0]["field"].as_str().map(str::to_string);

    let mut unknown = meeting("m-1", "acme");
    unknown["attendees"] = json!("Ann");
    let (status, body) = csm.post(path, json!({"records": [unknown]})).await;
    assert_eq!((status, field_of(&body).as_deref()), (400, Some("attendees")), "{body}");

    let mut nested = meeting("m-1", "acme");
    nested["notes"] = json!({"text": "hi"});
    let (status, body) = csm.post(path, json!({"records": [nested]})).await;
    // Named as the document names it: `notes` is another name of a touchpoint's summary.
    assert_eq!((status, field_of(&body).as_deref()), (400, Some("summary")), "{body}");

    let mut long = meeting("m-1", "acme");
    long.as_object_mut().unwrap().remove("notes");
    long["summary"] = json!("x".repeat(100_000));
    let (status, body) = csm.post(path, json!({"records": [long]})).await;
    assert_eq!((status, field_of(&body).as_deref()), (400, Some("summary")), "{body}");
    assert!(
        body["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 10000"),
        "{body}"
    );

    let mut nul = meeting("m-1", "acme");
    nul["kind"] = json!("call\u{0}");
    let (status, body) = csm.post(path, json!({"records": [nul]})).await;
    assert_eq!((status, field_of(&body).as_deref()), (400, Some("kind")), "{body}");

    let mut wrong = meeting("m-1", "acme");
    wrong["duration_minutes"] = json!("an hour");
    let (status, body) = csm.post(path, json!({"records": [wrong]})).await;
    assert_eq!(
        (status, field_of(&body).as_deref()),
        (400, Some("duration_minutes")),
        "{body}"
    );

    let (status, body, _) = csm.send("POST", path, Some("{\"records\": [".into())).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("body is not JSON"),
        "{body}"
    );
    let (status, body) = csm.post(path, json!([meeting("m-1", "acme")])).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = csm.post(path, json!({"records": [], "dry_run": true})).await;
    assert_eq!((status, field_of(&body).as_deref()), (400, Some("dry_run")), "{body}");
    let (status, body) = csm.post(path, json!({"records": {}})).await;
    assert_eq!((status, field_of(&body).as_deref()), (400, Some("records")), "{body}");

    // Nothing of it was written.
    assert!(laer_store::test_support::claim_marked(store).await.is_empty());
}

async fn one_record_is_put_by_its_key_and_deleted(store: &Store) {
    let acme = seed(store).await;
    let csm = Client::new(store, Role::Csm).await;
    let mut body = meeting("m-9", "acme");
    body.as_object_mut().unwrap().remove("external_id");
    let (status, put) = csm.put("/api/v1/records/meetings/m-9", body.clone()).await;
    assert_eq!((status, put["written"].as_u64()), (200, Some(1)), "{put}");
    let (status, again) = csm.put("/api/v1/records/meetings/m-9", body.clone()).await;
    assert_eq!((status, again["unchanged"].as_u64()), (200, Some(1)), "{again}");
    assert_eq!(again["ids"], put["ids"]);
    let (status, clash) = csm.put("/api/v1/records/meetings/m-9", meeting("m-8", "acme")).await;
    assert_eq!(
        (status, clash["details"][0]["field"].as_str()),
        (400, Some("external_id")),
        "{clash}"
    );
    laer_store::test_support::claim_marked(store).await;

    let (status, deleted) = csm.delete("/api/v1/records/meetings/m-9").await;
    assert_eq!((status, deleted["deleted"].as_bool()), (200, Some(true)), "{deleted}");
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    let audit = store.audit_of_account(acme).await.unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("meetings.delete", csm.actor.as_str())
    );
    assert_eq!(csm.delete("/api/v1/records/meetings/m-9").await.0, 404);

    // Kinds without an external id are named by their key.
    let (status, cadence) = csm
        .put(
            "/api/v1/records/meeting-cadences/acme/Executive",
            json!({"every_days": 30}),
        )
        .await;
    assert_eq!((status, cadence["written"].as_u64()), (200, Some(1)), "{cadence}");
    assert_eq!(cadence["ids"], json!([null]));
    let (status, _) = csm.delete("/api/v1/records/meeting-cadences/acme/executive").await;
    assert_eq!(status, 200);
    assert_eq!(
        csm.delete("/api/v1/records/meeting-cadences/acme/executive").await.0,
        404
    );

    let outcome = json!({"records": [{"external_id": "o-1", "account_id": "acme", "name": "Offices online",
                                      "unit": "%", "baseline": 10, "target": 90}]});
    assert_eq!(csm.post("/api/v1/records/outcomes", outcome).await.0, 200);
    let (status, measured) = csm
        .put(
            "/api/v1/records/outcome-measurements/o-1/2026-11-01",
            json!({"value": 42.5}),
        )
        .await;
    assert_eq!((status, measured["written"].as_u64()), (200, Some(1)), "{measured}");
    let (status, body) = csm.delete("/api/v1/records/outcome-measurements/o-1/November").await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (400, Some("measured_on")),
        "{body}"
    );
    assert_eq!(
        csm.delete("/api/v1/records/outcome-measurements/o-1/2026-11-01")
            .await
            .0,
        200
    );

    // Records others refer to are not deleted through the API.
    let (status, _) = csm.delete("/api/v1/records/outcomes/o-1").await;
    assert_eq!(status, 405);
}

/// Two clients change the same touchpoint: the one who changed a version someone else
/// changed since is refused (412) and nothing of theirs is applied.
async fn a_stale_put_is_refused_not_applied(store: &Store) {
    let acme = seed(store).await;
    let (kim, lee) = (
        Client::new(store, Role::Csm).await,
        Client::new(store, Role::Renewal).await,
    );
    let path = "/api/v1/records/meetings/m-5";
    let with_notes = |notes: &str| {
        let mut body = meeting("m-5", "acme");
        body["notes"] = json!(notes);
        body
    };
    let (status, _, etag) = kim.put_if(path, with_notes("First notes"), None).await;
    assert_eq!((status, etag.as_deref()), (200, Some("\"1\"")));
    // Both read version 1; Lee saves first.
    let (status, _, etag) = lee.put_if(path, with_notes("Lee's notes"), Some("\"1\"")).await;
    assert_eq!((status, etag.as_deref()), (200, Some("\"2\"")));
    let (status, body, _) = kim.put_if(path, with_notes("Kim's notes"), Some("\"1\"")).await;
    assert_eq!(status, 412, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("changed since version 1"),
        "{body}"
    );
    let stored = store.touchpoints_of(acme).await.unwrap();
    let m5 = stored.iter().find(|t| t.record.external_id == "m-5").unwrap();
    assert_eq!(
        m5.record.summary.as_deref(),
        Some("Lee's notes"),
        "the stale change is not applied"
    );
    // Sent again with the version Lee's write gave, Kim's change is made.
    let (status, _, etag) = kim.put_if(path, with_notes("Kim's notes"), Some("\"2\"")).await;
    assert_eq!((status, etag.as_deref()), (200, Some("\"3\"")));
    // An If-Match that does not read, or for a kind without versions: 400 naming it.
    let (status, body, _) = kim.put_if(path, with_notes("x"), Some("yesterday")).await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (400, Some("If-Match")),
        "{body}"
    );
    let admin = Client::new(store, Role::Admin).await;
    let (status, body, _) = admin
        .put_if("/api/v1/records/accounts/acme", json!({"name": "Acme"}), Some("\"1\""))
        .await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (400, Some("If-Match")),
        "{body}"
    );
    // A record not stored yet has no version to match.
    let (status, _, _) = kim
        .put_if(
            "/api/v1/records/meetings/m-404",
            meeting("m-404", "acme"),
            Some("\"1\""),
        )
        .await;
    assert_eq!(status, 412);
}

async fn each_kind_needs_its_permission(store: &Store) {
    seed(store).await;
    let viewer = Client::new(store, Role::Viewer).await;
    let (status, body) = viewer
        .post("/api/v1/records/meetings", json!({"records": [meeting("m-1", "acme")]}))
        .await;
    assert_eq!(
        (status, body["details"]["permission"].as_str()),
        (403, Some("record_work")),
        "{body}"
    );
    let (status, body) = viewer.delete("/api/v1/records/meetings/m-1").await;
    assert_eq!(
        (status, body["details"]["permission"].as_str()),
        (403, Some("record_work")),
        "{body}"
    );
    let csm = Client::new(store, Role::Csm).await;
    let (status, body) = csm
        .put("/api/v1/records/accounts/initech", json!({"name": "Initech"}))
        .await;
    assert_eq!(
        (status, body["details"]["permission"].as_str()),
        (403, Some("edit_contracts")),
        "{body}"
    );
    let (status, body) = csm
        .post(
            "/api/v1/records/team-members",
            json!({"records": [{"external_id": "t-1", "name": "Ann"}]}),
        )
        .await;
    assert_eq!(
        (status, body["details"]["permission"].as_str()),
        (403, Some("manage_users")),
        "{body}"
    );
    let (status, _) = Client::anonymous(store)
        .post("/api/v1/records/meetings", json!({"records": []}))
        .await;
    assert_eq!(status, 401);
    // Nothing was written by the refused calls.
    let admin = Client::new(store, Role::Admin).await;
    let (status, body) = admin
        .post("/api/v1/records/meetings", json!({"records": [meeting("m-1", "acme")]}))
        .await;
    assert_eq!((status, body["written"].as_u64()), (200, Some(1)), "{body}");
}

async fn the_openapi_document_is_served_and_rendered(store: &Store) {
    let anonymous = Client::anonymous(store);
    let (status, doc, _) = anonymous.send("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let (status, _, page) = anonymous.send("GET", "/api/docs", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("POST /api/v1/records/meetings"), "{page}");
    assert!(page.contains("<code>held_at</code>"));
    assert!(!page.contains("<script>"), "no inline script on the reference page");

    // Every documented operation is routed: without a token it answers 401 (200 for the
    // open ones), never 404 or 405.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let concrete = path
                .replace("{id}", "1")
                .replace("{external_id}", "x")
                .replace("{account_id}", "x")
                .replace("{stakeholder_team}", "x")
                .replace("{outcome_id}", "x")
                .replace("{measured_on}", "2026-01-01");
            let body = (method != "get" && method != "delete").then(|| "{}".to_string());
            let (status, _, _) = anonymous.send(&method.to_uppercase(), &concrete, body).await;
            let open = operation["security"] == json!([]);
            let expected = if open { 200 } else { 401 };
            assert_eq!(status, expected, "{method} {path}");
        }
    }
}

/// Every API route in the server's source (`.route("/api/...", get(...).post(...))`) is
/// in the OpenAPI document with each of its methods, so that a route added without
/// documentation fails here. (The record routes are made from the same kinds as their
/// documentation; `records_api.rs` builds their paths.)
#[test]
fn the_openapi_document_lists_every_route_of_the_api() {
    let doc: Value = serde_json::from_str(&laer_server::openapi_json()).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            // The routes of the server, not of its unit tests.
            let served = source.split("#[cfg(test)]").next().unwrap_or("");
            routes_in(served, &mut found);
        }
    }
    let api: Vec<&(String, String)> = found
        .iter()
        .filter(|(path, _)| path.starts_with("/api/v1/") || path == "/healthz")
        .collect();
    assert!(api.len() >= 14, "the scan found the API's routes: {api:?}");
    for (path, method) in api {
        assert!(
            doc["paths"][path.as_str()][method.as_str()].is_object(),
            "{} {path} is routed but not in the OpenAPI document (src/openapi.rs)",
            method.to_uppercase()
        );
    }
    // And the scan sees routes: the reference page's own is one of them.
    assert!(found.iter().any(|(p, m)| p == "/api/docs" && m == "get"));
}

/// The `(path, method)` of each `.route("PATH", METHODS)` in `source`.
fn routes_in(source: &str, found: &mut Vec<(String, String)>) {
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let trimmed = rest.trim_start();
        let Some(literal) = trimmed.strip_prefix('"') else {
            continue;
        };
        let Some(end) = literal.find('"') else { break };
        let path = &literal[..end];
        // The method router: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let mut close = literal.len();
        for (i, c) in literal[end..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = end + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let methods = &literal[end + 1..close];
        for method in ["get", "post", "put", "delete", "patch"] {
            let called = methods
                .match_indices(&format!("{method}("))
                .any(|(i, _)| i == 0 || !methods[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if called {
                found.push((path.to_string(), method.to_string()));
            }
        }
    }
}

laer_store::backend_tests!(
    a_bulk_write_upserts_and_a_repeat_changes_nothing,
    a_bulk_write_is_all_or_nothing_naming_index_and_field,
    bad_input_is_a_400_naming_the_field,
    one_record_is_put_by_its_key_and_deleted,
    a_stale_put_is_refused_not_applied,
    each_kind_needs_its_permission,
    the_openapi_document_is_served_and_rendered,
);
