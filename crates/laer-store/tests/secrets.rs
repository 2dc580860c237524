//! Secrets at rest, on both backends: a webhook's secret is stored sealed, never as
//! itself; plaintext secrets from before sealing are sealed when a server starts, once
//! even when two nodes start together; a node with another key is refused; rotation
//! re-seals every secret with the new key in one transaction.

use laer_store::test_support::{TestDatabase, secret_box};
use laer_store::{Backend, SecretBox, Store, StoreError, Target};

/// `(id, secret column, key id column)` of every webhook, read past the store.
async fn stored(db: &TestDatabase) -> Vec<(i64, String, Option<String>)> {
    let sql = "SELECT id, secret, secret_key_id FROM webhooks ORDER BY id";
    if db.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    }
}

/// Runs a statement past the store: what a database from before migration 0022 held.
async fn execute(db: &TestDatabase, sql: &'static str) {
    if db.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// Queues a request for every webhook and claims them: the secrets as a sender gets them.
async fn claimed_secrets(store: &Store, db: &TestDatabase) -> Vec<laer_store::StoredSecret> {
    execute(
        db,
        "INSERT INTO deliveries (channel, event, webhook_id, payload, status, next_attempt_at, created_at) \
         SELECT 'webhook', 'task.done', id, '{}', 'pending', 0, 0 FROM webhooks",
    )
    .await;
    let now = chrono::Utc::now();
    let claimed = store
        .claim_deliveries("test", now, now + chrono::TimeDelta::minutes(1), 100)
        .await
        .unwrap();
    execute(db, "DELETE FROM deliveries").await;
    claimed
        .into_iter()
        .map(|d| match d.target {
            Target::Webhook { secret, .. } => secret,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn new_key() -> SecretBox {
    SecretBox::from_text(&SecretBox::generate_key().unwrap()).unwrap()
}

async fn a_webhook_secret_is_stored_sealed(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let store = &db.store;
    let key = secret_box();
    let created = store
        .add_webhook("https://example.com/hook", &["*".into()], "test", &key)
        .await
        .unwrap();
    assert!(created.secret.starts_with("whsec_"));
    let rows = stored(&db).await;
    let (_, value, key_id) = &rows[0];
    assert_ne!(value, &created.secret, "the stored value is not the secret");
    assert!(!value.contains(&created.secret["whsec_".len()..]));
    assert_eq!(key_id.as_deref(), Some(key.sealing_key_id()));
    // The sender opens it with the key; without it, or with another, it says which key
    // it needs and never what the secret is.
    let secret = &claimed_secrets(store, &db).await[0];
    assert!(!format!("{secret:?}").contains(value.as_str()));
    assert_eq!(secret.open(Some(&key)).unwrap(), created.secret);
    for wrong in [None, Some(&new_key())] {
        let err = secret.open(wrong).unwrap_err().to_string();
        assert!(err.contains(key.sealing_key_id()), "{err}");
        assert!(!err.contains(&created.secret), "{err}");
    }
    db.store.close().await;
}

async fn plaintext_secrets_are_sealed_when_a_server_starts(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    // Two webhooks from before sealing: their secrets in plaintext, no key id.
    execute(
        &db,
        "INSERT INTO webhooks (url, secret, events, created_at, created_by) VALUES \
         ('https://a.example/hook', 'whsec_before_a', '*', 0, 'test'), \
         ('https://b.example/hook', 'whsec_before_b', '*', 0, 'test')",
    )
    .await;
    let status = db.store.secrets_status().await.unwrap();
    assert_eq!((status.plaintext, status.database_key), (2, None));
    // Until a server seals them, they sign as they are.
    let before: Vec<String> = claimed_secrets(&db.store, &db)
        .await
        .iter()
        .map(|s| s.open(None).unwrap())
        .collect();
    assert_eq!(before, ["whsec_before_a", "whsec_before_b"]);

    // Two nodes start at once: each value is sealed once, and opens as it was.
    let key = secret_box();
    let node_b = Store::open(&db.url).await.unwrap();
    let (a, b) = tokio::join!(db.store.prepare_secrets(&key), node_b.prepare_secrets(&key));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sealed_now + b.sealed_now, 2, "{a:?} {b:?}");
    assert_eq!(a.database_key, key.sealing_key_id());
    let rows = stored(&db).await;
    for (_, value, key_id) in &rows {
        assert!(!value.contains("whsec_before"), "{value}");
        assert_eq!(key_id.as_deref(), Some(key.sealing_key_id()));
    }
    let after: Vec<String> = claimed_secrets(&db.store, &db)
        .await
        .iter()
        .map(|s| s.open(Some(&key)).unwrap())
        .collect();
    assert_eq!(after, before);
    // Starting again changes nothing.
    assert_eq!(db.store.prepare_secrets(&key).await.unwrap().sealed_now, 0);
    assert_eq!(stored(&db).await, rows);
    let status = db.store.secrets_status().await.unwrap();
    assert_eq!(status.plaintext, 0);
    assert_eq!(status.sealed, vec![(key.sealing_key_id().to_string(), 2)]);
    node_b.close().await;
    db.store.close().await;
}

async fn another_key_is_refused_and_rotation_reseals_everything(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let store = &db.store;
    let old = secret_box();
    store.prepare_secrets(&old).await.unwrap();
    let mut secrets = Vec::new();
    for n in 0..3 {
        let url = format!("https://example.com/hook/{n}");
        secrets.push(
            store
                .add_webhook(&url, &["*".into()], "test", &old)
                .await
                .unwrap()
                .secret,
        );
    }
    execute(
        &db,
        "INSERT INTO webhooks (url, secret, events, created_at, created_by) \
         VALUES ('https://late.example/hook', 'whsec_plain', '*', 0, 'test')",
    )
    .await;
    secrets.push("whsec_plain".into());

    // A node started with a key of its own is refused, naming the key it lacks.
    let new = new_key();
    let err = store.prepare_secrets(&new).await.unwrap_err();
    assert!(matches!(err, StoreError::MissingSecretKeys { .. }), "{err}");
    assert!(err.to_string().contains(old.sealing_key_id()), "{err}");
    assert_eq!(stored(&db).await[3].2, None, "nothing sealed by a refused node");

    // Rotation: every secret re-sealed with the new key, the new key recorded.
    let rotating = old.rotated_to(&new);
    assert_eq!(store.reseal_secrets(&rotating, "cli:test").await.unwrap(), 4);
    let status = store.secrets_status().await.unwrap();
    assert_eq!(status.database_key.as_deref(), Some(new.sealing_key_id()));
    assert_eq!(status.sealed, vec![(new.sealing_key_id().to_string(), 4)]);
    let opened: Vec<String> = claimed_secrets(store, &db)
        .await
        .iter()
        .map(|s| s.open(Some(&new)).unwrap())
        .collect();
    assert_eq!(opened, secrets, "the new key alone opens every secret");
    // Now the new key starts a server; the old one alone is refused.
    assert_eq!(store.prepare_secrets(&new).await.unwrap().sealed_now, 0);
    assert!(store.prepare_secrets(&old).await.is_err());
    // A second rotation to the same key re-seals nothing.
    assert_eq!(store.reseal_secrets(&rotating, "cli:test").await.unwrap(), 0);
    let log = laer_store::test_support::audited(store, "secrets.").await;
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["secrets.rotated", "secrets.rotated"]);
    db.store.close().await;
}

/// Issue 17: the Stripe connection's key and webhook secret are sealed columns like any
/// other — sealed when stored, counted by the status, re-sealed by rotation — and a
/// connection without a webhook secret has nothing to seal there. Its sync is held by
/// one owner at a time.
async fn the_stripe_connection_is_sealed_and_its_sync_held_once(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let store = &db.store;
    let old = secret_box();
    store.prepare_secrets(&old).await.unwrap();
    let mut new_connection = laer_store::NewStripeConnection {
        api_key: None,
        webhook_secret: None,
        api_base: "https://api.stripe.com",
        settings: "{}",
    };
    let refused = store.connect_stripe(&new_connection, &old, "test").await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Refused { ref field, .. } if field == "api_key"),
        "{refused}"
    );
    new_connection.api_key = Some("rk_test_secret_key_1");
    store.connect_stripe(&new_connection, &old, "test").await.unwrap();
    let status = store.secrets_status().await.unwrap();
    assert_eq!(
        (status.sealed.clone(), status.plaintext),
        (vec![(old.sealing_key_id().to_string(), 1)], 0)
    );
    new_connection.api_key = None;
    new_connection.webhook_secret = Some("whsec_signing");
    store.connect_stripe(&new_connection, &old, "test").await.unwrap();
    let connection = store.stripe_connection().await.unwrap().unwrap();
    assert_eq!(
        connection.api_key.open(Some(&old)).unwrap(),
        "rk_test_secret_key_1",
        "the key kept"
    );
    assert_eq!(
        connection.webhook_secret.unwrap().open(Some(&old)).unwrap(),
        "whsec_signing"
    );
    let audit = laer_store::test_support::audited(store, "stripe.").await;
    assert_eq!(audit.len(), 2);
    assert!(
        audit
            .iter()
            .all(|e| !e.details.to_string().contains("whsec_") && !e.details.to_string().contains("rk_test")),
        "no secret in the audit log"
    );

    let new = new_key();
    assert_eq!(
        store.reseal_secrets(&old.rotated_to(&new), "cli:test").await.unwrap(),
        2
    );
    let connection = store.stripe_connection().await.unwrap().unwrap();
    assert_eq!(connection.api_key.open(Some(&new)).unwrap(), "rk_test_secret_key_1");
    assert_eq!(
        connection.webhook_secret.unwrap().open(Some(&new)).unwrap(),
        "whsec_signing"
    );

    // The sync: one holder; another takes over only once its heartbeat is stale; a holder
    // that lost it cannot record progress.
    let finished = connection.sync.finished_at;
    assert!(
        store
            .claim_stripe_sync("a", 1_000, 880, finished)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .claim_stripe_sync("b", 1_010, 890, finished)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .stripe_sync_progress("a", "subscriptions", Some("sub_9"), "{}", 1_050)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_stripe_sync("b", 1_100, 980, finished)
            .await
            .unwrap()
            .is_none(),
        "a's heartbeat is fresh"
    );
    let taken = store
        .claim_stripe_sync("b", 1_200, 1_080, finished)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (taken.stage.as_deref(), taken.cursor.as_deref()),
        (Some("subscriptions"), Some("sub_9"))
    );
    assert!(
        !store
            .stripe_sync_progress("a", "subscriptions", None, "{}", 1_201)
            .await
            .unwrap()
    );
    store.finish_stripe_sync("b", Ok("{}"), 1_300).await.unwrap();
    let sync = store.stripe_connection().await.unwrap().unwrap().sync;
    assert_eq!((sync.owner, sync.stage, sync.finished_at), (None, None, Some(1_300)));
    // A node that saw the sync due before it ran does not run it again.
    assert!(
        store
            .claim_stripe_sync("c", 1_310, 1_190, finished)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.disconnect_stripe("test").await.unwrap());
    assert_eq!(
        store.secrets_status().await.unwrap().sealed,
        Vec::<(String, i64)>::new()
    );
    db.store.close().await;
}

macro_rules! on_both_backends {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $story() {
                super::$story(laer_store::Backend::Sqlite).await;
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $story() {
                super::$story(laer_store::Backend::Postgres).await;
            })+
        }
    };
}

on_both_backends!(
    a_webhook_secret_is_stored_sealed,
    plaintext_secrets_are_sealed_when_a_server_starts,
    another_key_is_refused_and_rotation_reseals_everything,
    the_stripe_connection_is_sealed_and_its_sync_held_once,
);
