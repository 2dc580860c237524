//! Web page timings on a large demo company: every page, many times, p50 and p95.
//!
//! cargo bench -p laer-server --bench pages -- [--accounts 10000] [--months 24] [--rounds 40]
//!     [--db sqlite:///path/to/kept.db] [--concurrent 200]
//!
//! Then the first request to the revenue, portfolio and renewals pages after each of three
//! writes (a back-dated contract, a change of owner, an event in a past quarter), and the
//! largest account's page asked for by `--concurrent` clients at once (three
//! times): how long each waited, p50 and p95, and the whole burst. A page over the
//! server's time limit (503) is reported and skipped.
//!
//! Without --db, the demo company is generated into a fresh SQLite file first (minutes
//! for 10,000 accounts); with --db, a database that already holds it is used as it is.

use std::time::{Duration, Instant};

use laer_demo::DemoConfig;
use laer_server::Server;
use laer_store::Store;

/// The demo logins' password in this bench.
const DEMO_PASSWORD: &str = "bench";

struct Args {
    accounts: usize,
    months: u32,
    rounds: usize,
    db: Option<String>,
    concurrent: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        accounts: 10_000,
        months: 24,
        rounds: 40,
        db: None,
        concurrent: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--accounts" => args.accounts = value().parse().expect("--accounts N"),
            "--months" => args.months = value().parse().expect("--months N"),
            "--rounds" => args.rounds = value().parse().expect("--rounds N"),
            "--db" => args.db = Some(value()),
            "--concurrent" => args.concurrent = value().parse().expect("--concurrent N"),
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

#[tokio::main]
async fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = args
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("laer.db").display()));
    let store = Store::open(&url).await.expect("open");
    if store.counts().await.expect("counts").accounts == 0 {
        let started = Instant::now();
        let config = DemoConfig {
            accounts: args.accounts,
            months: args.months,
            seed: 1,
            ..DemoConfig::new(chrono::Utc::now().date_naive())
        };
        let load = laer_app::demo::load(
            &store,
            &config,
            &laer_core::health::HealthModel::default(),
            DEMO_PASSWORD,
        )
        .await
        .expect("demo");
        println!(
            "demo company: {} accounts, {} events in {:.0} s",
            load.accounts,
            load.events,
            started.elapsed().as_secs_f64()
        );
    }
    let model = laer_core::health::HealthModel::default();
    let server = Server::bind("127.0.0.1:0", store.clone()).await.expect("bind");
    let base = format!("http://{}", server.local_addr().expect("address"));
    tokio::spawn(server.run(std::future::pending()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // Log in as the demo administrator, through the login form.
    let form = http.get(format!("{base}/login")).send().await.expect("login form");
    let csrf_cookie = form
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("laer_login_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("login CSRF cookie")
        .to_string();
    let login = http
        .post(format!("{base}/login"))
        .header(reqwest::header::COOKIE, format!("laer_login_csrf={csrf_cookie}"))
        .form(&[
            ("email", laer_app::demo::DEMO_ADMIN),
            ("password", DEMO_PASSWORD),
            ("csrf", &csrf_cookie),
        ])
        .send()
        .await
        .expect("login");
    let session = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("laer_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();

    // The engine keeps the past days' phases the revenue page shows when it starts (and
    // when the day turns), before any request needs them.
    let started = Instant::now();
    let shown: Vec<chrono::NaiveDate> = laer_core::bridge::begun_quarters(chrono::Utc::now().date_naive())
        .iter()
        .filter_map(|q| q.first_day())
        .collect();
    loop {
        let kept = kept_days(&store, &model).await;
        if shown.iter().all(|d| kept.contains(d)) {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            println!("the engine has not kept the shown days' phases in 10 minutes");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "past phases of {} days kept by the engine {:.1} s after it started",
        shown.len(),
        started.elapsed().as_secs_f64()
    );

    // The ten largest accounts (the most data) and a spread of the rest.
    let mut accounts = store
        .account_snapshots(chrono::Utc::now().date_naive())
        .await
        .expect("accounts");
    accounts.sort_by_key(|a| std::cmp::Reverse(a.mrr));
    let sample: Vec<i64> = accounts
        .iter()
        .take(10)
        .chain(accounts.iter().skip(10).step_by(accounts.len() / 30 + 1))
        .map(|a| a.id)
        .collect();
    let pages: Vec<(&str, Vec<String>)> = vec![
        ("portfolio", vec!["/portfolio".into()]),
        (
            "portfolio filtered",
            vec!["/portfolio?owner=all&segment=Enterprise&sort=arr&desc=1&page=2".into()],
        ),
        ("portfolio search", vec!["/portfolio?owner=all&q=acorn".into()]),
        ("portfolio CSV", vec!["/portfolio.csv?owner=all".into()]),
        (
            "account 360",
            sample.iter().map(|id| format!("/accounts/{id}")).collect(),
        ),
        ("revenue", vec!["/revenue".into()]),
        ("revenue CSV", vec!["/revenue.csv".into()]),
        ("renewals", vec!["/renewals?within=180".into()]),
        // Issue 16: the pages it added or reworked.
        (
            "renewals quarter",
            vec![format!(
                "/renewals?quarter={}&sort=risk",
                laer_core::bridge::Quarter::containing(chrono::Utc::now().date_naive())
            )],
        ),
        ("work, everyone's", vec!["/work?show=all".into()]),
        ("team", vec!["/team".into()]),
        ("search", vec!["/search?q=acorn".into()]),
        (
            "revenue drill-down",
            vec![format!(
                "/revenue/accounts?quarter={}&by=phase&kind=churn",
                laer_core::bridge::Quarter::containing(chrono::Utc::now().date_naive())
            )],
        ),
    ];
    println!(
        "{:<20} {:>8} {:>8} {:>8} {:>10}",
        "page", "p50 ms", "p95 ms", "max ms", "KB"
    );
    for (name, paths) in pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        for round in 0..args.rounds {
            let path = &paths[round % paths.len()];
            let started = Instant::now();
            let response = get(&http, &format!("{base}{path}"), &session).await;
            if !response.status().is_success() {
                // A page over the server's time limit would take it again every round.
                println!(
                    "{name:<20} {path}: {} after {:.1} s; the page is skipped",
                    response.status(),
                    started.elapsed().as_secs_f64()
                );
                break;
            }
            bytes = response.bytes().await.expect("body").len();
            times.push(started.elapsed());
        }
        if times.is_empty() {
            continue;
        }
        times.sort();
        println!(
            "{name:<20} {:>8.1} {:>8.1} {:>8.1} {:>10.0}",
            quantile(&times, 0.5).as_secs_f64() * 1e3,
            quantile(&times, 0.95).as_secs_f64() * 1e3,
            times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
            bytes as f64 / 1024.0
        );
    }

    // Issue 20: the first request after a write, from any node, to what the pages show:
    // a back-dated contract (its account's kept past phases are assessed again), a change
    // of owner, and an event dated in a past quarter.
    let members = store.team_members().await.expect("team");
    let csm: Vec<i64> = members
        .iter()
        .filter(|m| m.roles.contains(&laer_core::model::TeamRole::Csm))
        .map(|m| m.id)
        .collect();
    let event_type = {
        let mut tx = store.begin_write().await.expect("write");
        let types = tx
            .id_lookup(laer_store::IdLookup::EventTypesByName)
            .await
            .expect("event types");
        tx.rollback().await.expect("rollback");
        types.into_values().min().expect("an event type")
    };
    let today = chrono::Utc::now().date_naive();
    // Each run's writes are new, on a kept database too: a write that changes nothing
    // moves no revision.
    let run = chrono::Utc::now().timestamp();
    let after = ["/revenue", "/portfolio", "/renewals?within=180"];
    println!();
    println!(
        "{:<34} {:>8} {:>8} {:>8}",
        "first request after a write", "p50 ms", "p95 ms", "max ms"
    );
    for write in ["contract, back-dated", "owner", "event in a past quarter"] {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); after.len()];
        for round in 0..args.rounds.min(20) {
            let account = sample[round % sample.len()];
            let mut tx = store.begin_write().await.expect("write");
            match write {
                "contract, back-dated" => {
                    tx.upsert(&[laer_core::model::NewSubscription {
                        external_id: format!("bench-after-write-{run}-{round}"),
                        account_id: account,
                        product: "bench".into(),
                        start_date: today - chrono::Months::new(7),
                        end_date: None,
                        mrr: laer_core::Money::from_units(10 + round as i64).expect("money"),
                        quantity: None,
                        units: None,
                        bill_period_months: 12,
                        discount: None,
                        original: None,
                    }])
                    .await
                    .expect("contract");
                }
                "owner" => {
                    // Another CSM than the one covering it now.
                    let now = store.current_owners(today).await.expect("owners");
                    let covering: Vec<i64> = now
                        .get(&account)
                        .map(|o| o.iter().map(|o| o.member_id).collect())
                        .unwrap_or_default();
                    let next = csm
                        .iter()
                        .cycle()
                        .skip(round)
                        .find(|m| !covering.contains(m))
                        .copied()
                        .expect("another CSM");
                    tx.set_owners(&[laer_core::model::NewOwner {
                        account_id: account,
                        team_member_id: next,
                        role: laer_core::model::TeamRole::Csm,
                    }])
                    .await
                    .expect("owner");
                }
                _ => {
                    let events = [laer_core::model::NewEvent {
                        account_id: account,
                        occurred_at: (today - chrono::Months::new(4))
                            .and_hms_opt(12, 0, 0)
                            .expect("noon")
                            .and_utc(),
                        event_type_id: event_type,
                        user_ref: Some(format!("bench-late-{round}")),
                        value: None,
                        dedup_key: run * 1_000 + round as i64,
                    }];
                    tx.add_events(&events).await.expect("event and its rollups");
                }
            }
            tx.commit().await.expect("commit");
            for (i, path) in after.iter().enumerate() {
                let started = Instant::now();
                let response = get(&http, &format!("{base}{path}"), &session).await;
                assert!(response.status().is_success(), "{path}: {}", response.status());
                response.bytes().await.expect("body");
                times[i].push(started.elapsed());
            }
        }
        for (path, mut times) in after.iter().zip(times) {
            times.sort();
            println!(
                "{:<34} {:>8.1} {:>8.1} {:>8.1}",
                format!("{write}: {path}"),
                quantile(&times, 0.5).as_secs_f64() * 1e3,
                quantile(&times, 0.95).as_secs_f64() * 1e3,
                times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
            );
        }
    }

    // A burst: the largest account's page asked for by many clients at once.
    let largest = format!("{base}/accounts/{}", sample[0]);
    println!();
    println!(
        "{:<20} {:>8} {:>8} {:>8} {:>10}",
        format!("{} at once", args.concurrent),
        "p50 ms",
        "p95 ms",
        "max ms",
        "burst ms"
    );
    for burst in 1..=3 {
        let started = Instant::now();
        let clients: Vec<_> = (0..args.concurrent)
            .map(|_| {
                let (http, url, session) = (http.clone(), largest.clone(), session.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    let response = get(&http, &url, &session).await;
                    let answered = response.status().is_success();
                    response.bytes().await.expect("body");
                    (started.elapsed(), answered)
                })
            })
            .collect();
        let mut times = Vec::with_capacity(clients.len());
        let mut failed = 0;
        for client in clients {
            let (time, answered) = client.await.expect("client");
            times.push(time);
            failed += usize::from(!answered);
        }
        let burst_time = started.elapsed();
        times.sort();
        println!(
            "{:<20} {:>8.1} {:>8.1} {:>8.1} {:>10.1}{}",
            format!("account 360, #{burst}"),
            quantile(&times, 0.5).as_secs_f64() * 1e3,
            quantile(&times, 0.95).as_secs_f64() * 1e3,
            times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
            burst_time.as_secs_f64() * 1e3,
            if failed > 0 {
                format!("  ({failed} not answered: over the time limit)")
            } else {
                String::new()
            }
        );
    }
}

/// The days whose phases are kept under `model`'s rules.
async fn kept_days(store: &Store, model: &laer_core::health::HealthModel) -> Vec<chrono::NaiveDate> {
    store.kept_phase_days(&model.phase_key()).await.unwrap_or_default()
}

/// A page, logged in with `session`.
async fn get(http: &reqwest::Client, url: &str, session: &str) -> reqwest::Response {
    http.get(url)
        .header(reqwest::header::COOKIE, session)
        .send()
        .await
        .expect("page")
}
