//! Stripe connected and live (issue 17, items 1, 4 and 6), over real HTTP on each
//! backend: an admin connects Stripe (localstripe, a stateful fake of Stripe's API) in the
//! admin page — a key Stripe refuses is refused at its field with nothing saved — and a
//! server's own loop runs the first sync; localstripe then sends its events to
//! `/webhooks/stripe`, signed, and a new subscription reaches the account's lines within
//! seconds. Events signed as Stripe's official library signs them are taken once and in
//! any order; forged, altered, stale and unsigned ones are refused and shown on the page.

use std::time::{Duration, Instant};

use laer_app::test_support::LocalStripe;
use laer_core::money::Money;
use laer_store::Store;
use serde_json::{Value, json};

use crate::common::web::{Session, client};

const SECRET: &str = "whsec_laer_live_test";

/// Runs live.py against `stripe`.
fn live(stripe: &LocalStripe, args: &[&str]) -> Value {
    stripe.run(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stripe/live.py"), args)
}

/// The MRR of an account's lines today.
async fn mrr_today(store: &Store, account: i64) -> Money {
    let today = chrono::Utc::now().date_naive();
    store
        .subscription_lines_of(account)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.line.fields.is_active_on(today))
        .map(|l| l.line.fields.mrr)
        .sum()
}

/// Waits (up to a minute) until `check` holds; how long it took.
async fn until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: not within a minute"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Posts `payload` to the webhook with the header live.py signs it with (Stripe's
/// official library) for `secret` at `timestamp`; the status and answer.
async fn deliver(
    stripe: &LocalStripe,
    base: &str,
    payload: &str,
    secret: &str,
    timestamp: i64,
    body: Option<&str>,
) -> (u16, Value) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), payload).unwrap();
    let signed = live(
        stripe,
        &["sign", secret, &timestamp.to_string(), file.path().to_str().unwrap()],
    );
    let response = client()
        .post(format!("{base}/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", signed["header"].as_str().unwrap())
        .body(body.unwrap_or(payload).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn stripe_is_connected_synced_and_live(store: &Store) {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[laer_core::model::NewAccount::named("live-co", "Live Co")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let account = store.account_by_external_id("live-co").await.unwrap().unwrap().id;
    let base = crate::common::spawn_with_secrets(store, None).await;
    let admin = Session::admin(store, &base).await;

    // Not connected: the page offers to connect; events are not taken.
    let (status, page) = admin.get("/admin/stripe").await;
    assert_eq!(status, 200);
    assert!(page.contains("Connect Stripe"), "{page}");
    let (status, _) = deliver(&stripe, &base, "{}", SECRET, chrono::Utc::now().timestamp(), None).await;
    assert_eq!(status, 404);

    // A key Stripe refuses (localstripe takes secret keys only, as Stripe refuses a
    // revoked one): refused at its field, the rest as sent, nothing saved.
    let csrf = admin.csrf().await;
    let form = |key: &'static str, secret: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("api_key", key.to_string()),
            ("webhook_secret", secret.to_string()),
            ("api_base", stripe.base.clone()),
            ("metadata_key", "laer_account".to_string()),
            ("link_rule", "metadata".to_string()),
            ("currency", "USD".to_string()),
            ("reconcile_minutes", "60".to_string()),
            ("past_due_counts", "on".to_string()),
            ("paused_collection_counts", "on".to_string()),
            ("churn_at_period_end", "on".to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let admin = &admin;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            admin.post_page("/admin/stripe/connect", &fields).await
        }
    };
    let (status, page) = post(form("rk_test_revoked_key", SECRET)).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Stripe refused the key (401)"), "{page}");
    assert!(!page.contains("rk_test_revoked_key"), "a key is never shown back");
    assert!(page.contains("value=\"USD\""), "the rest as sent");
    let (status, page) = post(form("sk_test_laer_live", "not-a-secret")).await;
    assert_eq!(status, 400);
    assert!(page.contains("expected a signing secret (whsec_"), "{page}");
    assert!(store.stripe_connection().await.unwrap().is_none(), "nothing saved");

    // Connected: the key is sealed, and a server's loop runs the first sync.
    let (status, _) = post(form("sk_test_laer_live", SECRET)).await;
    assert_eq!(status, 303);
    let connection = store.stripe_connection().await.unwrap().unwrap();
    assert!(connection.api_key.key_id().is_some(), "sealed");
    assert!(connection.sync.requested);
    until("the first sync", || async {
        store
            .stripe_connection()
            .await
            .unwrap()
            .is_some_and(|c| c.sync.finished_at.is_some())
    })
    .await;
    let connection = store.stripe_connection().await.unwrap().unwrap();
    assert_eq!(connection.sync.error, None);
    assert!(connection.settings.contains("\"usd\""), "{}", connection.settings);

    // localstripe sends its events to laer: a new subscription reaches the account.
    let customer = live(
        &stripe,
        &["setup", &format!("{base}/webhooks/stripe"), SECRET, "live-co"],
    );
    let customer = customer["customer"].as_str().unwrap().to_string();
    until("the customer's link", || async {
        store
            .stripe_customers()
            .await
            .unwrap()
            .get(&customer)
            .is_some_and(|c| c.account_id == Some(account))
    })
    .await;
    let subscription = live(&stripe, &["subscribe", &customer, "3"]);
    let subscription = subscription["subscription"].as_str().unwrap().to_string();
    let delay = until("the subscription's lines", || async {
        mrr_today(store, account).await == "300".parse().unwrap()
    })
    .await;
    eprintln!("a new subscription reached the account's MRR in {delay:?} (localstripe waits 1 s before sending)");

    // Events as Stripe's library signs them: taken once, in any order.
    let reader = laer_app::stripe::StripeClient::new(
        &stripe.base,
        laer_app::stripe::StripeKey::new("sk_test_laer_live").unwrap(),
    );
    let object: Value = reader
        .get(&format!("/v1/subscriptions/{subscription}"), &[])
        .await
        .unwrap();
    // localstripe may send more than one event for the new subscription, seconds apart on
    // a busy machine: once it is done, the events below are dated after its last.
    let mut known = store.stripe_states(&subscription).await.unwrap().len();
    let mut quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now_known = store.stripe_states(&subscription).await.unwrap().len();
        if now_known != known {
            (known, quiet) = (now_known, Instant::now());
        }
    }
    let first_seen = store.stripe_states(&subscription).await.unwrap().last().unwrap().since;
    let event = |id: &str, quantity: u64, created: i64| {
        let mut object = object.clone();
        object["items"]["data"][0]["quantity"] = json!(quantity);
        json!({"id": id, "object": "event", "type": "customer.subscription.updated", "created": created,
               "data": {"object": object}})
        .to_string()
    };
    let now = chrono::Utc::now().timestamp();
    let five = event("evt_five", 5, first_seen + 2);
    let (status, answer) = deliver(&stripe, &base, &five, SECRET, now, None).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")), "{answer}");
    assert_eq!(mrr_today(store, account).await, "500".parse().unwrap());
    // The same event again (a redelivery, or a replay within the tolerance): nothing.
    let (status, answer) = deliver(&stripe, &base, &five, SECRET, now, None).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("duplicate")));
    // An older event delivered late: kept in its place, the newer state stands.
    let (status, answer) = deliver(&stripe, &base, &event("evt_two", 2, first_seen + 1), SECRET, now, None).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(mrr_today(store, account).await, "500".parse().unwrap());
    let quantities: Vec<u64> = store
        .stripe_states(&subscription)
        .await
        .unwrap()
        .iter()
        .map(|s| {
            serde_json::from_str::<Value>(&s.body).unwrap()["items"]["data"][0]["quantity"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // localstripe's own states (quantity 3: it may send more than one) come first.
    let (own, ours) = quantities.split_at(quantities.len().saturating_sub(2));
    assert!(!own.is_empty() && own.iter().all(|q| *q == 3), "{quantities:?}");
    assert_eq!(ours, [2, 5], "each state at its event's time");

    // Refused: forged, altered, stale, unsigned. Nothing changes.
    let nine = event("evt_nine", 9, first_seen + 3);
    let (status, answer) = deliver(&stripe, &base, &nine, "whsec_someone_else", now, None).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("no v1 signature matches"),
        "{answer}"
    );
    let altered = event("evt_five", 9, first_seen + 2);
    let (status, _) = deliver(&stripe, &base, &five, SECRET, now, Some(&altered)).await;
    assert_eq!(status, 400);
    let (status, answer) = deliver(&stripe, &base, &nine, SECRET, now - 600, None).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("beyond Stripe's tolerance"),
        "{answer}"
    );
    let unsigned = client()
        .post(format!("{base}/webhooks/stripe"))
        .body(nine.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 400);
    assert_eq!(mrr_today(store, account).await, "500".parse().unwrap());
    assert_eq!(store.stripe_states(&subscription).await.unwrap().len(), 3);
    let (_, page) = admin.get("/admin/stripe").await;
    assert!(
        page.contains("Last refused") && page.contains("no Stripe-Signature header"),
        "{page}"
    );
    assert!(!page.contains(SECRET), "the secret is never shown");

    // An object laer cannot read: taken, left out, and said so.
    let broken = json!({"id": "evt_broken", "object": "event", "type": "customer.subscription.updated",
        "created": now, "data": {"object": {"id": "sub_broken", "object": "subscription"}}})
    .to_string();
    let (status, answer) = deliver(&stripe, &base, &broken, SECRET, now, None).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("unreadable")),
        "{answer}"
    );

    // Linked by hand to another account: the lines move at once.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[laer_core::model::NewAccount::named("other-co", "Other Co")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let other = store.account_by_external_id("other-co").await.unwrap().unwrap().id;
    let status = admin
        .post(
            "/admin/stripe/link",
            &[("csrf", &csrf), ("customer", &customer), ("account", "other-co")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(mrr_today(store, account).await.is_zero());
    assert_eq!(mrr_today(store, other).await, "500".parse().unwrap());

    // Canceled in Stripe: localstripe's event ends the MRR.
    live(&stripe, &["cancel", &subscription]);
    until("the cancellation", || async { mrr_today(store, other).await.is_zero() }).await;

    // Sync now: asked in the page, run by the loop; nothing changed, nothing written.
    let (status, _) = admin.post_page("/admin/stripe/sync", &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    let before = connection.sync.finished_at;
    until("the sync asked for", || async {
        store
            .stripe_connection()
            .await
            .unwrap()
            .is_some_and(|c| c.sync.finished_at != before && !c.sync.requested && c.sync.owner.is_none())
    })
    .await;
    let (_, page) = admin.get("/admin/stripe").await;
    assert!(page.contains("Live customer") && page.contains("Other Co"), "{page}");
}

laer_store::backend_tests!(stripe_is_connected_synced_and_live);
