//! Stripe read as a company's billing system is (issue 17): a real stateful fake of
//! Stripe's API (localstripe, from PyPI) filled by Stripe's official Python library with
//! subscriptions of every interval, quantities, a trial, an upgrade, a downgrade and
//! cancellations; laer's client reads them page by page, and each subscription's MRR now
//! by laer's rules equals the scenario's own computation of the documented rules.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use laer_app::stripe::{StripeClient, StripeKey};
use laer_core::billing::objects::{Customer, Subscription};
use laer_core::billing::rules::{MrrRules, items_at, total};
use laer_core::money::Money;

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

#[tokio::test]
async fn subscriptions_read_from_stripe_have_the_documented_mrr() {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    // 10 named customers and 105 more: more than one page of 100.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stripe/scenario.py");
    let made = Command::new(&stripe.python)
        .args([script, &stripe.base, "105"])
        .output()
        .expect("run the scenario");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let expected: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
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
