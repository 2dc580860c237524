//! Shared by the integration tests: a real server on a free port, a logged-in browser
//! over HTTP (`web`), the text a reader sees of a page (`text`).

pub mod text;
pub mod web;

use laer_server::Server;
use laer_store::Store;

/// The demo logins' password in these tests (the product has none: `laer demo` makes a
/// random one).
#[allow(dead_code)]
pub const DEMO_PASSWORD: &str = "demo";

/// Starts a server on 127.0.0.1 with a free port and returns its base URL.
#[allow(dead_code)] // not every test binary serves with the defaults
pub async fn spawn(store: &Store) -> String {
    let server = Server::bind("127.0.0.1:0", store.clone()).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));
    format!("http://{addr}")
}

/// Starts a server on a free port whose stored secrets are sealed with the test key (and
/// that runs syncs from `taps`, when given); returns its base URL.
#[allow(dead_code)]
pub async fn spawn_with_secrets(store: &Store, taps: Option<&std::path::Path>) -> String {
    let mut server =
        Server::bind("127.0.0.1:0", store.clone())
            .await
            .unwrap()
            .with_delivery(laer_app::delivery::DeliveryConfig {
                secrets: Some(laer_store::test_support::secret_box()),
                ..laer_app::delivery::DeliveryConfig::default()
            });
    if let Some(dir) = taps {
        server = server.with_taps(laer_app::singer_sync::Taps { dir: dir.to_path_buf() });
    }
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));
    format!("http://{addr}")
}

/// A customer "acme" named Acme, landed `landed_days_ago`, renewing in `renews_in_days`
/// (agreed date; `None`: by its term), on one annual line of `seats` seats at `mrr` a
/// month. Returns its id; the transaction stays open for more.
#[allow(dead_code)] // not every test binary seeds a customer
pub async fn acme(
    tx: &mut laer_store::WriteTx,
    landed_days_ago: i64,
    renews_in_days: Option<i64>,
    mrr: i64,
    seats: f64,
) -> i64 {
    use chrono::{TimeDelta, Utc};
    use laer_core::model::{NewAccount, NewSubscription};
    let today = Utc::now().date_naive();
    tx.upsert(&[NewAccount {
        external_id: "acme".into(),
        name: Some("Acme".into()),
        segment: Some("Enterprise".into()),
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: renews_in_days.map(|d| today + TimeDelta::days(d)),
        attributes: Default::default(),
    }])
    .await
    .unwrap();
    let id = tx.id_lookup(laer_store::IdLookup::Accounts).await.unwrap()["acme"];
    tx.upsert(&[NewSubscription {
        external_id: "acme-1".into(),
        account_id: id,
        product: "suite".into(),
        start_date: today - TimeDelta::days(landed_days_ago),
        end_date: None,
        mrr: laer_core::Money::from_units(mrr).unwrap(),
        quantity: Some(seats),
        units: Some("seats".into()),
        bill_period_months: 12,
        discount: None,
        original: None,
    }])
    .await
    .unwrap();
    id
}
