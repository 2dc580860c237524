//! The API over real HTTP: a server on a free port, a real client, each backend.

mod common;

use common::spawn;

use laer_import::{Kind, Options};
use laer_store::Store;
use serde_json::Value;

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
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
    let (status, body) = get(&format!("{base}/healthz")).await;
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
    let (status, first) = get(&format!("{base}/api/v1/accounts?limit=3")).await;
    assert_eq!(status, 200);
    assert_eq!(first["total"], 7);
    assert_eq!(first["accounts"].as_array().unwrap().len(), 3);
    assert_eq!(first["accounts"][0]["external_id"], "acc-0");
    assert_eq!(first["accounts"][0]["attributes"]["tier"], "0");
    let mut seen = 3;
    let mut after = first["next_after"].clone();
    while let Some(cursor) = after.as_i64() {
        let (_, page) = get(&format!("{base}/api/v1/accounts?limit=3&after={cursor}")).await;
        seen += page["accounts"].as_array().unwrap().len();
        after = page["next_after"].clone();
    }
    assert_eq!(seen, 7);
    let (_, found) = get(&format!("{base}/api/v1/accounts?external_id=acc-4")).await;
    assert_eq!(found["accounts"][0]["name"], "Account 4");
}

async fn an_account_comes_with_its_subscriptions_and_mrr(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let (_, found) = get(&format!("{base}/api/v1/accounts?external_id=acc-1")).await;
    let id = found["accounts"][0]["id"].as_i64().unwrap();
    let (status, account) = get(&format!("{base}/api/v1/accounts/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(account["external_id"], "acc-1");
    assert_eq!(account["subscriptions"].as_array().unwrap().len(), 2);
    // Only the open-ended line is active today.
    assert_eq!(account["mrr"], 99.95);
}

async fn errors_are_json_and_name_the_problem(store: &Store) {
    let base = spawn(store).await;
    let (status, body) = get(&format!("{base}/api/v1/accounts/424242")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no account with id 424242");
    let (status, body) = get(&format!("{base}/api/v1/accounts/abc")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("whole number"), "{body}");
    let (status, body) = get(&format!("{base}/api/v1/accounts?limit=0")).await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["parameter"], "limit");
    let (status, body) = get(&format!("{base}/api/v1/accounts?limit=ten")).await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["value"], "ten");
    let (status, body) = get(&format!("{base}/api/v1/accounts?page=2")).await;
    assert_eq!(status, 400);
    assert_eq!(body["details"]["parameter"], "page");
    let (status, body) = get(&format!("{base}/api/v1/nothing")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no such endpoint");
}

async fn reports_answer_with_the_cli_shapes(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let (status, single) = get(&format!(
        "{base}/api/v1/reports/retention?from=2020-06-01&to=2020-12-01"
    ))
    .await;
    assert_eq!(status, 200, "{single}");
    assert_eq!(single["from"], "2020-06-01");
    assert_eq!(single["accounts"]["start"], 1);
    assert_eq!(single["mrr"]["start"], 109.95);
    assert!(single.get("activity").is_none());
    let (_, with_activity) = get(&format!(
        "{base}/api/v1/reports/retention?from=2020-06-01&to=2020-12-01&activity_window=30"
    ))
    .await;
    assert_eq!(with_activity["activity"]["start"], 0);
    let (_, monthly) = get(&format!(
        "{base}/api/v1/reports/retention?from=2020-06-01&to=2020-12-01&every=month"
    ))
    .await;
    assert_eq!(monthly["periods"].as_array().unwrap().len(), 7);
    let (status, mrr) = get(&format!(
        "{base}/api/v1/reports/mrr?from=2020-06-01&to=2021-06-01&by=tier"
    ))
    .await;
    assert_eq!(status, 200, "{mrr}");
    assert_eq!(mrr["periods"][0]["contraction"], 10);
    assert_eq!(mrr["periods"][0]["segments"][0]["segment"], "1", "{mrr}");

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
    ] {
        let (status, body) = get(&format!("{base}/api/v1/reports/{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].as_str().unwrap().contains(message), "{query}: {body}");
    }
}

laer_store::backend_tests!(
    reports_answer_with_the_cli_shapes,
    health_reports_the_backend,
    accounts_are_paged,
    an_account_comes_with_its_subscriptions_and_mrr,
    errors_are_json_and_name_the_problem,
);
