//! The API over real HTTP: a server on a free port, a real client, each backend.

use crate::common::spawn;

use laer_core::access::Role;
use laer_import::{Kind, Options};
use laer_store::Store;
use serde_json::Value;

/// A client with a bearer token of a role.
struct Api {
    token: String,
}

impl Api {
    async fn new(store: &Store, role: Role) -> Api {
        let token = store.create_api_token("test", role).await.unwrap().secret;
        Api { token }
    }

    async fn get(&self, url: &str) -> (u16, Value) {
        send(reqwest::Client::new().get(url).bearer_auth(&self.token)).await
    }
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap();
    (status, body)
}

async fn seed(store: &Store) {
    let mut options = Options {
        actor: "test".into(),
        ..Options::default()
    };
    let accounts = "id,name,segment,tier\n".to_string()
        + &(0..7)
            .map(|i| format!("acc-{i},Account {i},smb,{}\n", i % 2))
            .collect::<String>();
    laer_import::import(store, Kind::Accounts, "a.csv", accounts.as_bytes(), &mut options)
        .await
        .unwrap();
    let subscriptions = "account_id,product,start_date,end_date,mrr\n\
                         acc-1,basic,2020-01-01,,99.95\n\
                         acc-1,addon,2020-01-01,2021-01-01,10\n";
    laer_import::import(
        store,
        Kind::Subscriptions,
        "s.csv",
        subscriptions.as_bytes(),
        &mut options,
    )
    .await
    .unwrap();
}

async fn health_reports_the_backend(store: &Store) {
    let base = spawn(store).await;
    let api = Api::new(store, Role::Admin).await;
    let (status, body) = api.get(&format!("{base}/healthz")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let expected = match store.backend() {
        laer_store::Backend::Sqlite => "sqlite",
        laer_store::Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
}

async fn accounts_are_paged(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let api = Api::new(store, Role::Admin).await;
    let (status, first) = api.get(&format!("{base}/api/v1/accounts?limit=3")).await;
    assert_eq!(status, 200);
    assert_eq!(first["total"], 7);
    assert_eq!(first["accounts"].as_array().unwrap().len(), 3);
    assert_eq!(first["accounts"][0]["external_id"], "acc-0");
    assert_eq!(first["accounts"][0]["attributes"]["tier"], "0");
    let mut seen = 3;
    let mut after = first["next_after"].clone();
    while let Some(cursor) = after.as_i64() {
        let (_, page) = api.get(&format!("{base}/api/v1/accounts?limit=3&after={cursor}")).await;
        seen += page["accounts"].as_array().unwrap().len();
        after = page["next_after"].clone();
    }
    assert_eq!(seen, 7);
    let (_, found) = api.get(&format!("{base}/api/v1/accounts?external_id=acc-4")).await;
    assert_eq!(found["accounts"][0]["name"], "Account 4");
}

async fn an_account_comes_with_its_subscriptions_and_mrr(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let api = Api::new(store, Role::Admin).await;
    let (_, found) = api.get(&format!("{base}/api/v1/accounts?external_id=acc-1")).await;
    let id = found["accounts"][0]["id"].as_i64().unwrap();
    let (status, account) = api.get(&format!("{base}/api/v1/accounts/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(account["external_id"], "acc-1");
    assert_eq!(account["subscriptions"].as_array().unwrap().len(), 2);
    // Only the open-ended line is active today.
    assert_eq!(account["mrr"], 99.95);
}

async fn errors_are_json_and_name_the_problem(store: &Store) {
    let base = spawn(store).await;
    let api = Api::new(store, Role::Admin).await;
    let (status, body) = api.get(&format!("{base}/api/v1/accounts/424242")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no account with id 424242");
    let (status, body) = api.get(&format!("{base}/api/v1/accounts/abc")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("whole number"), "{body}");
    let (status, body) = api.get(&format!("{base}/api/v1/accounts?limit=0")).await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["parameter"], "limit");
    let (status, body) = api.get(&format!("{base}/api/v1/accounts?limit=ten")).await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["value"], "ten");
    let (status, body) = api.get(&format!("{base}/api/v1/accounts?page=2")).await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["parameter"], "page");
    let (status, body) = api.get(&format!("{base}/api/v1/nothing")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no such endpoint");
}

async fn reports_answer_with_the_cli_shapes(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let api = Api::new(store, Role::Admin).await;
    let (status, single) = api
        .get(&format!(
            "{base}/api/v1/reports/retention?from=2020-06-01&to=2020-12-01"
        ))
        .await;
    assert_eq!(status, 200, "{single}");
    assert_eq!(single["from"], "2020-06-01");
    assert_eq!(single["accounts"]["start"], 1);
    assert_eq!(single["mrr"]["start"], 109.95);
    assert!(single.get("activity").is_none());
    let (_, with_activity) = api
        .get(&format!(
            "{base}/api/v1/reports/retention?from=2020-06-01&to=2020-12-01&activity_window=30"
        ))
        .await;
    assert_eq!(with_activity["activity"]["start"], 0);
    let (_, monthly) = api
        .get(&format!(
            "{base}/api/v1/reports/retention?from=2020-06-01&to=2020-12-01&every=month"
        ))
        .await;
    assert_eq!(monthly["periods"].as_array().unwrap().len(), 7);
    let (status, mrr) = api
        .get(&format!(
            "{base}/api/v1/reports/mrr?from=2020-06-01&to=2021-06-01&by=tier"
        ))
        .await;
    assert_eq!(status, 200, "{mrr}");
    assert_eq!(mrr["periods"][0]["contraction"], 10);
    assert_eq!(mrr["periods"][0]["segments"][0]["segment"], "1", "{mrr}");
    let (status, survival) = api.get(&format!("{base}/api/v1/reports/survival?by=plan")).await;
    assert_eq!(status, 200, "{survival}");
    assert_eq!(
        (survival["by"].as_str(), survival["months"].as_u64()),
        (Some("plan"), Some(36))
    );
    assert_eq!(survival["curves"][0]["group"], "basic", "{survival}");
    assert_eq!(survival["curves"][0]["accounts"], 1);
    assert_eq!(survival["curves"][0]["points"][0]["survival"], 1.0);
    assert!(survival["hazards"].is_null(), "nobody has left: {survival}");
    assert_eq!(survival["hazards_note"], "no account has ended yet");

    for (query, message) in [
        (
            "retention?from=2020-13-01&to=2021-01-01",
            "from must be a date as YYYY-MM-DD",
        ),
        (
            "retention?from=2021-01-01&to=2020-01-01",
            "to (2020-01-01) must be after from (2021-01-01)",
        ),
        ("retention?from=2020-01-01", "query parameter to is required"),
        (
            "retention?from=2020-01-01&to=2021-01-01&every=week",
            "every must be \"month\"",
        ),
        (
            "retention?from=2020-01-01&to=2021-01-01&activity_window=x",
            "activity window must be",
        ),
        (
            "mrr?from=2020-01-01&to=2021-01-01&by=colour",
            "unknown attribute \"colour\"",
        ),
        (
            "mrr?from=2020-01-01&to=2021-01-01&window=3",
            "unknown query parameter window",
        ),
        ("survival?months=0", "months: 1 to 120"),
        ("survival?by=colour", "by"),
    ] {
        let (status, body) = api.get(&format!("{base}/api/v1/reports/{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].as_str().unwrap().contains(message), "{query}: {body}");
    }
}

/// Every `/api/v1` route wants a live bearer token whose role may read what it asks for.
async fn the_api_wants_a_token_with_the_right_role(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let accounts = format!("{base}/api/v1/accounts");
    let report = format!("{base}/api/v1/reports/mrr?from=2020-06-01&to=2021-06-01");
    let (status, body) = send(reqwest::Client::new().get(&accounts)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    let (status, _) = send(reqwest::Client::new().get(&accounts).bearer_auth("lt_forged")).await;
    assert_eq!(status, 401);
    let viewer = Api::new(store, Role::Viewer).await;
    assert_eq!(viewer.get(&accounts).await.0, 200);
    let (status, body) = viewer.get(&report).await;
    assert_eq!(
        (status, body["details"]["permission"].as_str()),
        (403, Some("view_revenue")),
        "{body}"
    );
    let leader = Api::new(store, Role::Leader).await;
    assert_eq!(leader.get(&report).await.0, 200);
    let tokens = store.api_tokens().await.unwrap();
    let leader_token = tokens.iter().find(|t| t.role == Role::Leader).unwrap();
    assert!(store.revoke_api_token(leader_token.id).await.unwrap());
    assert_eq!(leader.get(&report).await.0, 401, "a revoked token is refused at once");
    assert_eq!(
        send(reqwest::Client::new().get(format!("{base}/healthz"))).await.0,
        200,
        "the health check stays open"
    );
}

laer_store::backend_tests!(
    the_api_wants_a_token_with_the_right_role,
    reports_answer_with_the_cli_shapes,
    health_reports_the_backend,
    accounts_are_paged,
    an_account_comes_with_its_subscriptions_and_mrr,
    errors_are_json_and_name_the_problem,
);
