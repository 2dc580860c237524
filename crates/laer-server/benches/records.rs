//! A bulk REST write of 1,000 touchpoints (meetings), committed: the time of the whole
//! request over HTTP (parsing, validation, the upsert in one transaction, the commit),
//! p50 and p95 over many rounds, each round 1,000 new meetings. The target: under 100 ms
//! on SQLite.
//!
//! cargo bench -p laer-server --bench records -- [--rounds 30] [--accounts 300] [--db URL]

use std::time::{Duration, Instant};

use laer_core::access::Role;
use laer_server::Server;
use laer_store::Store;
use serde_json::{Value, json};

struct Args {
    rounds: usize,
    accounts: usize,
    db: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        rounds: 30,
        accounts: 300,
        db: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--rounds" => args.rounds = value().parse().expect("--rounds N"),
            "--accounts" => args.accounts = value().parse().expect("--accounts N"),
            "--db" => args.db = Some(value()),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

/// 1,000 meetings of round `round`, spread over the accounts, with a summary each.
fn meetings(round: usize, accounts: usize) -> Value {
    const TEAMS: [&str; 4] = ["executive", "security", "network", "application"];
    let records: Vec<Value> = (0..1_000)
        .map(|i| {
            json!({
                "external_id": format!("bench-{round}-{i}"),
                "account_id": format!("acct-{}", i % accounts),
                "held_at": format!("2026-{:02}-{:02}T{:02}:30:00Z", 1 + i % 12, 1 + i % 28, 8 + i % 9),
                "stakeholder_team": TEAMS[i % 4],
                "kind": "meeting",
                "duration_minutes": 30 + i % 60,
                "notes": format!("Round {round}, meeting {i}: reviewed adoption and agreed the next step."),
            })
        })
        .collect();
    json!({ "records": records })
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = args
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("laer.db").display()));
    let store = Store::open(&url).await.expect("open");
    let token = store
        .create_api_token("bench", Role::Admin)
        .await
        .expect("token")
        .secret;
    let server = Server::bind("127.0.0.1:0", store.clone()).await.expect("bind");
    let base = format!("http://{}", server.local_addr().expect("address"));
    tokio::spawn(server.run(std::future::pending()));
    let client = reqwest::Client::new();
    let post = |path: &str, body: String| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
    };
    let accounts: Vec<Value> = (0..args.accounts)
        .map(|i| json!({"external_id": format!("acct-{i}"), "name": format!("Account {i}")}))
        .collect();
    let answer = post("/api/v1/records/accounts", json!({ "records": accounts }).to_string())
        .send()
        .await
        .expect("accounts");
    assert!(
        answer.status().is_success(),
        "accounts: {}",
        answer.text().await.unwrap_or_default()
    );

    let mut times = Vec::with_capacity(args.rounds);
    // One warm-up round, not counted.
    for round in 0..=args.rounds {
        let body = meetings(round, args.accounts).to_string();
        let started = Instant::now();
        let answer = post("/api/v1/records/meetings", body).send().await.expect("meetings");
        let status = answer.status();
        let written: Value = answer.json().await.expect("JSON");
        let took = started.elapsed();
        assert!(status.is_success(), "meetings: {written}");
        assert_eq!(written["written"], 1_000, "{written}");
        if round > 0 {
            times.push(took);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    let p50 = quantile(&times, 0.5);
    let p95 = quantile(&times, 0.95);
    println!(
        "bulk write of 1,000 meetings on {} ({} rounds): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (target: under 100 ms)",
        match store.backend() {
            laer_store::Backend::Sqlite => "SQLite",
            laer_store::Backend::Postgres => "PostgreSQL",
        },
        times.len(),
        ms(p50),
        ms(p95),
        ms(*times.last().expect("rounds")),
    );
}
