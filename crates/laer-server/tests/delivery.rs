//! Emails and webhooks end to end, on each backend: a playbook fires on a running server,
//! its emails arrive at a real SMTP server (aiosmtpd), and its webhook request arrives at
//! an HTTP endpoint that fails once, is retried, and carries a signature the endpoint
//! verifies with the webhook's secret.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{NaiveDate, TimeDelta, Utc};
use hmac::Mac;
use laer_app::delivery::DeliveryConfig;
use laer_core::model::*;
use laer_server::Server;
use laer_store::Store;
use serde_json::Value;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A customer that landed three days ago, two contacts with email, its account executive.
async fn seed(store: &Store) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    let id = crate::common::acme(&mut tx, 3, None, 1_000, 10.0).await;
    let contact = |n: u32, team: &str| NewContact {
        external_id: format!("c{n}"),
        account_id: id,
        name: Some(format!("Contact {n}")),
        email: Some(format!("contact{n}@acme.example")),
        phone: None,
        title: None,
        stakeholder_team: Some(team.into()),
        role: None,
    };
    tx.upsert(&[contact(1, "executive"), contact(2, "it")]).await.unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: "ae".into(),
        name: "Ada Executive".into(),
        email: Some("ada@vendor.example".into()),
        roles: Some(vec![TeamRole::AccountExecutive]),
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

/// The aiosmtpd server, stopped when dropped.
pub(crate) struct SmtpSink {
    child: Child,
    pub(crate) port: u16,
    pub(crate) messages: std::sync::mpsc::Receiver<Value>,
}

impl SmtpSink {
    pub(crate) fn start() -> Option<SmtpSink> {
        let Some(python) = std::env::var("LAER_TEST_SMTP_PYTHON").ok().filter(|p| !p.is_empty()) else {
            assert!(
                std::env::var("LAER_TEST_REQUIRE_SMTP").as_deref() != Ok("1"),
                "LAER_TEST_REQUIRE_SMTP=1 but LAER_TEST_SMTP_PYTHON is not set"
            );
            eprintln!("skipping the email half: set LAER_TEST_SMTP_PYTHON to a Python with aiosmtpd");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        let (send, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if send.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        Some(SmtpSink { child, port, messages })
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take().map(|mut s| s.write_all(b"")));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, String)>>>);

/// The endpoint fails its first request, then accepts.
async fn endpoint(State(received): State<Received>, headers: HeaderMap, body: String) -> StatusCode {
    let mut all = received.0.lock().unwrap();
    all.push((headers, body));
    if all.len() == 1 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

fn verify(secret: &str, header: &str, body: &str) -> bool {
    let Some((t, v1)) = header.split_once(',') else {
        return false;
    };
    let (Some(t), Some(v1)) = (t.strip_prefix("t="), v1.strip_prefix("v1=")) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    expected == v1
}

async fn a_playbooks_emails_and_webhooks_arrive(store: &Store) {
    let account = seed(store).await;
    let smtp = SmtpSink::start();

    let received = Received::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(endpoint))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let secret = store
        .add_webhook(
            &hook_url,
            &["playbook.fired".into()],
            "test",
            &laer_store::test_support::secret_box(),
        )
        .await
        .unwrap()
        .secret;

    let server = Server::bind("127.0.0.1:0", store.clone())
        .await
        .unwrap()
        .with_delivery(DeliveryConfig {
            smtp_url: smtp.as_ref().map(|s| format!("smtp://127.0.0.1:{}", s.port)),
            from: "Skyline CS <cs@vendor.example>".into(),
            retry_base: Duration::from_millis(200),
            max_attempts: 5,
            tick: Duration::from_millis(100),
            secrets: Some(laer_store::test_support::secret_box()),
            public_url: None,
        });
    tokio::spawn(server.run(std::future::pending()));

    // The webhook: failed once, retried, signed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.0.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the webhook was retried within a minute");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let requests = received.0.lock().unwrap().clone();
    assert_eq!(requests[0].1, requests[1].1, "the retry sends the same event");
    let (headers, body) = &requests[1];
    let signature = headers["laer-signature"].to_str().unwrap();
    assert!(verify(&secret, signature, body), "{signature}");
    assert!(!verify("whsec_other", signature, body));
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(headers["laer-event"], "playbook.fired");
    assert_eq!(event["type"], "playbook.fired");
    assert_eq!(event["data"]["playbook"], "onboarding");
    assert_eq!(event["data"]["account_id"], account);
    assert_eq!(
        event["data"]["cause"],
        format!("landed on {}", today() - TimeDelta::days(3))
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let delivered = store.deliveries(Some("delivered"), 50).await.unwrap();
        if let Some(hook) = delivered.iter().find(|d| d.channel == "webhook") {
            assert_eq!(hook.attempts, 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook delivery is recorded as delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The welcome email, once to each contact.
    if let Some(smtp) = smtp {
        let mut to: Vec<String> = Vec::new();
        for _ in 0..2 {
            let message = smtp
                .messages
                .recv_timeout(Duration::from_secs(30))
                .expect("an email within 30 s");
            assert_eq!(message["from"], "cs@vendor.example");
            let data = message["data"].as_str().unwrap();
            assert!(
                data.contains("Subject: Welcome aboard, Acme: your first steps"),
                "{data}"
            );
            assert!(data.contains("Welcome aboard, and thank you"), "{data}");
            to.extend(
                message["to"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string()),
            );
        }
        to.sort();
        assert_eq!(to, ["contact1@acme.example", "contact2@acme.example"]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(smtp.messages.try_recv().is_err(), "each email once");
    }
}

laer_store::backend_tests!(a_playbooks_emails_and_webhooks_arrive);
