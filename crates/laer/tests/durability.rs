//! A 200 from the tracking API means durable: kill the server with SIGKILL in the middle
//! of a sustained load, and every acknowledged messageId is in the database.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use laer_store::Backend;
use laer_store::test_support::TestDatabase;
use serde_json::{Value, json};

fn laer(db: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_laer"));
    command.arg("--db").arg(db).args(args).env("LAER_LOG", "warn");
    command
}

async fn acknowledged_calls_survive_sigkill(db: &TestDatabase) {
    let out = laer(&db.url, &["keys", "create", "--name", "load", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = key["write_key"].as_str().unwrap().to_string();

    let mut server = laer(&db.url, &["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let http = reqwest::Client::new();
    let mut senders = Vec::new();
    for sender in 0..6 {
        let (http, url, key, acknowledged) = (http.clone(), url.clone(), key.clone(), acknowledged.clone());
        senders.push(tokio::spawn(async move {
            for round in 0.. {
                let ids: Vec<String> = (0..20).map(|i| format!("s{sender}-r{round}-{i}")).collect();
                let batch: Vec<Value> = ids
                    .iter()
                    .map(|id| {
                        json!({"type": "track", "userId": format!("u{sender}"), "event": "Load",
                                     "messageId": id, "context": {"groupId": "load-account"}})
                    })
                    .collect();
                let sent = http
                    .post(format!("{url}/v1/batch"))
                    .basic_auth(&key, Some(""))
                    .json(&json!({"batch": batch}))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => acknowledged.lock().unwrap().extend(ids),
                    Ok(response) => panic!("unexpected status {}", response.status()),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Kill while the load runs: once a few hundred calls are acknowledged (a slow machine
    // gets up to 20 seconds to get there).
    let started = std::time::Instant::now();
    while acknowledged.lock().unwrap().len() < 400 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }

    let acknowledged: Vec<String> = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 100,
        "the load ran: {} calls acknowledged",
        acknowledged.len()
    );
    // Reopen the database as a restarted server would.
    let store = laer_store::Store::open(&db.url).await.unwrap();
    let stored = store.stored_message_ids(&acknowledged).await.unwrap();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged calls lost, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(5)]
    );
    let unique: HashSet<&String> = acknowledged.iter().collect();
    assert!(store.counts().await.unwrap().events >= unique.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_call() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = TestDatabase::new(backend).await {
            acknowledged_calls_survive_sigkill(&db).await;
        }
    }
}
