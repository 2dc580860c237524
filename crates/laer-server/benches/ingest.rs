//! Tracking API load: batches of 100 track calls over keep-alive connections, for a
//! fixed time; sustained events per second and p50/p99 latency of acknowledged batches.
//!
//! cargo bench -p laer-server --bench ingest -- [--url URL --key KEY] [--postgres URL]
//!     [--connections 16] [--seconds 10] [--batch 100]
//!
//! Without --url, a server runs in this process on a fresh SQLite file (or, with
//! --postgres, a fresh database on that server) and shares the machine with the load.

use std::time::{Duration, Instant};

use laer_server::Server;
use laer_store::Store;
use serde_json::{Value, json};

struct Args {
    url: Option<String>,
    key: Option<String>,
    postgres: Option<String>,
    connections: usize,
    seconds: u64,
    batch: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        url: None,
        key: None,
        postgres: None,
        connections: 16,
        seconds: 10,
        batch: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => args.url = Some(value()),
            "--key" => args.key = Some(value()),
            "--postgres" => args.postgres = Some(value()),
            "--connections" => args.connections = value().parse().expect("--connections N"),
            "--seconds" => args.seconds = value().parse().expect("--seconds N"),
            "--batch" => args.batch = value().parse().expect("--batch N"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

async fn local_server(postgres: Option<&str>, dir: &std::path::Path) -> (String, String, Store) {
    let url = match postgres {
        Some(admin_url) => {
            let admin = sqlx::PgPool::connect(admin_url).await.expect("connect");
            let name = format!("laer_ingest_bench_{}", std::process::id());
            for sql in [
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&admin)
                    .await
                    .expect("database");
            }
            let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database name");
            format!("{base}/{name}")
        }
        None => format!("sqlite://{}", dir.join("laer.db").display()),
    };
    let store = Store::open(&url).await.expect("open");
    let key = store.create_write_key("bench").await.expect("key").secret;
    let server = Server::bind("127.0.0.1:0", store.clone()).await.expect("bind");
    let addr = server.local_addr().expect("address");
    tokio::spawn(server.run(std::future::pending()));
    (format!("http://{addr}"), key, store)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().expect("temporary directory");
    let (url, key, store) = match (&args.url, &args.key) {
        (Some(url), Some(key)) => (url.clone(), key.clone(), None),
        _ => {
            let (url, key, store) = local_server(args.postgres.as_deref(), dir.path()).await;
            (url, key, Some(store))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    for connection in 0..args.connections {
        let (url, key, batch) = (url.clone(), key.clone(), args.batch);
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut latencies = Vec::new();
            let mut events = 0u64;
            for round in 0u64.. {
                if Instant::now() >= deadline {
                    break;
                }
                let calls: Vec<Value> = (0..batch)
                    .map(|i| {
                        json!({"type": "track", "userId": format!("user-{connection}-{}", i % 10),
                               "event": "Feature Used", "properties": {"value": i},
                               "messageId": format!("c{connection}-r{round}-{i}"),
                               "context": {"groupId": format!("account-{}", connection % 8)}})
                    })
                    .collect();
                let started = Instant::now();
                let response = http
                    .post(format!("{url}/v1/batch"))
                    .basic_auth(&key, Some(""))
                    .json(&json!({"batch": calls}))
                    .send()
                    .await
                    .expect("request");
                assert!(response.status().is_success(), "status {}", response.status());
                latencies.push(started.elapsed());
                events += batch as u64;
            }
            (events, latencies)
        }));
    }
    let started = Instant::now();
    let mut events = 0;
    let mut latencies = Vec::new();
    for worker in workers {
        let (n, l) = worker.await.expect("worker");
        events += n;
        latencies.extend(l);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let quantile = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{} connections, batches of {}: {events} events in {seconds:.1} s = {:.0} events/s; batch latency p50 {:?}, p99 {:?}",
        args.connections,
        args.batch,
        events as f64 / seconds,
        quantile(0.5),
        quantile(0.99)
    );
    if let Some(store) = store {
        let stored = store.counts().await.expect("counts").events;
        assert_eq!(stored as u64, events, "every acknowledged event is stored");
        println!("stored events: {stored}");
    }
}
