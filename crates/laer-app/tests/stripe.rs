//! Stripe read as a company's billing system is (issue 17): a real stateful fake of
//! Stripe's API (localstripe, from PyPI) filled by Stripe's official Python library with
//! subscriptions of every interval, quantities, a trial, an upgrade, a downgrade and
//! cancellations; laer's client reads them page by page, and each subscription's MRR now
//! by laer's rules equals the scenario's own computation of the documented rules.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use laer_app::billing::{SyncOptions, sync_stripe};
use laer_app::stripe::{StripeClient, StripeKey};
use laer_core::billing::objects::{Customer, Subscription};
use laer_core::billing::rules::{MrrRules, items_at, total};
use laer_core::money::Money;
use laer_store::Store;

/// localstripe on a free port, stopped when dropped.
struct LocalStripe {
    child: Child,
    base: String,
    python: String,
}

impl LocalStripe {
    fn start() -> Option<LocalStripe> {
        let Some(python) = std::env::var("LAER_TEST_STRIPE_PYTHON").ok().filter(|p| !p.is_empty()) else {
            assert!(
                std::env::var("LAER_TEST_REQUIRE_STRIPE").as_deref() != Ok("1"),
                "LAER_TEST_REQUIRE_STRIPE=1 but LAER_TEST_STRIPE_PYTHON is not set"
            );
            eprintln!("skipping: set LAER_TEST_STRIPE_PYTHON to a Python with localstripe and stripe");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args(["-m", "localstripe", "--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start localstripe");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "localstripe did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(LocalStripe {
            child,
            base: format!("http://127.0.0.1:{port}"),
            python,
        })
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the scenario against `stripe`; its output.
fn scenario(stripe: &LocalStripe, args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stripe/scenario.py");
    let made = Command::new(&stripe.python)
        .arg(script)
        .arg(&stripe.base)
        .args(args)
        .output()
        .expect("run the scenario");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    serde_json::from_slice(&made.stdout).unwrap()
}

/// The MRR of an account's lines on `day`.
async fn mrr_on(store: &Store, account: i64, day: chrono::NaiveDate) -> Money {
    store
        .subscription_lines_of(account)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.line.fields.is_active_on(day))
        .map(|l| l.line.fields.mrr)
        .sum()
}

/// A sync links customers to accounts by metadata, writes each subscription's lines with
/// the documented MRR, writes nothing the second time, and follows a change in Stripe:
/// the old stretch ends, the new one starts.
async fn a_sync_writes_stripe_lines_and_follows_changes(store: &Store) {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    let expected = scenario(&stripe, &["0"]);
    // Every customer of the scenario has an account but elm.
    let names: Vec<String> = expected["by_name"].as_object().unwrap().keys().cloned().collect();
    let accounts: Vec<laer_core::model::NewAccount> = names
        .iter()
        .filter(|n| *n != "elm")
        .map(|n| laer_core::model::NewAccount::named(n, n))
        .collect();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&accounts).await.unwrap();
    tx.commit().await.unwrap();
    let ids: BTreeMap<String, i64> = store
        .account_names()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, n)| (n.external_id, id))
        .collect();

    let client = StripeClient::new(&stripe.base, StripeKey::new("sk_test_laer_reader").unwrap());
    let now = chrono::Utc::now();
    let report = sync_stripe(store, &client, &SyncOptions::default(), now.timestamp())
        .await
        .unwrap();
    assert_eq!((report.customers, report.linked), (10, 9));
    assert_eq!(report.unmatched.len(), 1);
    assert_eq!(report.unmatched[0].1.as_deref(), Some("billing@elm.example"));
    assert_eq!(report.changed, 10, "every subscription is new");
    let today = now.date_naive();
    for (name, sub) in expected["by_name"].as_object().unwrap() {
        let Some(account) = ids.get(name) else { continue };
        let want: Money = expected["subscriptions"][sub.as_str().unwrap()]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(mrr_on(store, *account, today).await, want, "{name}");
    }
    // Nothing changed in Stripe: nothing written.
    let again = sync_stripe(store, &client, &SyncOptions::default(), now.timestamp() + 60)
        .await
        .unwrap();
    assert_eq!((again.changed, again.lines_written), (0, 0), "{again:?}");

    // Acme goes from 3 seats to 6 tomorrow (as laer sees it): the 3-seat line ends, a
    // 6-seat line starts.
    let acme_sub = expected["by_name"]["acme"].as_str().unwrap();
    scenario(&stripe, &["quantity", acme_sub, "6"]);
    let tomorrow = now + chrono::Duration::days(1);
    let changed = sync_stripe(store, &client, &SyncOptions::default(), tomorrow.timestamp())
        .await
        .unwrap();
    assert_eq!(changed.changed, 1);
    let acme = ids["acme"];
    assert_eq!(mrr_on(store, acme, today).await, "300".parse().unwrap());
    assert_eq!(mrr_on(store, acme, tomorrow.date_naive()).await, "600".parse().unwrap());
    let lines = store.subscription_lines_of(acme).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.line.fields.external_id.starts_with("stripe:")));
    assert!(
        lines.iter().all(|l| l.line.fields.product == "Suite"),
        "the product's name"
    );
}

laer_store::backend_tests!(a_sync_writes_stripe_lines_and_follows_changes);

#[tokio::test]
async fn subscriptions_read_from_stripe_have_the_documented_mrr() {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    // 10 named customers and 105 more: more than one page of 100.
    let expected = scenario(&stripe, &["105"]);
    let expected_mrr: BTreeMap<String, Money> = expected["subscriptions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, mrr)| (id.clone(), mrr.as_str().unwrap().parse().unwrap()))
        .collect();

    // localstripe takes secret keys only: a restricted one gets the 401 a revoked key gets.
    let refused = StripeClient::new(&stripe.base, StripeKey::new("rk_test_laer_refused").unwrap());
    let err = refused.all::<Customer>("/v1/customers", &[], |_| {}).await.unwrap_err();
    assert!(matches!(err, laer_app::stripe::StripeError::Unauthorized), "{err:?}");
    assert!(!err.to_string().contains("rk_test"), "the key is never in a message");
    let client = StripeClient::new(&stripe.base, StripeKey::new("sk_test_laer_reader").unwrap());
    let mut pages = 0;
    let subscriptions: Vec<Subscription> = client
        .all("/v1/subscriptions", &[("status", "all")], |_| pages += 1)
        .await
        .unwrap();
    assert_eq!(pages, 2, "115 subscriptions in pages of 100");
    assert_eq!(subscriptions.len(), expected_mrr.len());
    let now = chrono::Utc::now().timestamp();
    let rules = MrrRules::default();
    let mut earning = 0;
    for s in &subscriptions {
        let mrr = total(&items_at(s, now, &rules).unwrap()).to_money(2).unwrap();
        assert_eq!(mrr, expected_mrr[&s.id], "{} ({:?})", s.id, s.status);
        earning += usize::from(!mrr.is_zero());
    }
    assert_eq!(
        earning,
        subscriptions.len() - 2,
        "the trial and the canceled one earn nothing"
    );
    let customers: Vec<Customer> = client.all("/v1/customers", &[], |_| {}).await.unwrap();
    assert_eq!(customers.len() as u64, expected["customers"].as_u64().unwrap());
    assert!(customers.iter().all(|c| c.metadata.contains_key("laer_account")));
}
