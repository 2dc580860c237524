//! Health's speed on a large demo company: a full recompute of every account's signals
//! and score (and where its time goes), the delay from a tracked event's arrival to the
//! account's updated score in the running server, and a validation replay.
//!
//! cargo bench -p laer-server --bench health -- [--accounts 10000] [--months 12] [--rounds 5]
//!     [--events 20] [--load 0] [--load-accounts 8] [--db URL | --postgres ADMIN_URL]
//!     [--only recompute|replay|forecast|update|automation]
//!
//! --load N: while the update delay is timed, N connections send tracked events as fast
//! as the server takes them (batches of 100, as the ingest bench does), each event for a
//! random one of `--load-accounts` customers (8 by default, as the ingest bench's; 0 for
//! every customer); their rate is reported beside the delays.
//!
//! Without --db, the demo company is generated into a fresh SQLite file first (about a
//! minute for 10,000 accounts); with --db (`sqlite:///path/kept.db` or a PostgreSQL
//! database), a database that already holds it is used as it is, and an empty one is
//! filled. With --postgres, a fresh database is created on that server and dropped after.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use laer_core::health::HealthModel;
use laer_core::portfolio::AccountSnapshot;
use laer_demo::DemoConfig;
use laer_server::Server;
use laer_store::{Accounts, Store};
use serde_json::json;

struct Args {
    accounts: usize,
    months: u32,
    rounds: usize,
    events: usize,
    db: Option<String>,
    postgres: Option<String>,
    only: Option<String>,
    load: usize,
    load_accounts: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        accounts: 10_000,
        months: 12,
        rounds: 5,
        events: 20,
        db: None,
        postgres: None,
        only: None,
        load: 0,
        load_accounts: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--accounts" => args.accounts = value().parse().expect("--accounts N"),
            "--months" => args.months = value().parse().expect("--months N"),
            "--rounds" => args.rounds = value().parse().expect("--rounds N"),
            "--events" => args.events = value().parse().expect("--events N"),
            "--load" => args.load = value().parse().expect("--load N"),
            "--load-accounts" => args.load_accounts = value().parse().expect("--load-accounts N"),
            "--db" => args.db = Some(value()),
            "--postgres" => args.postgres = Some(value()),
            "--only" => {
                let only = value();
                assert!(
                    ["recompute", "replay", "forecast", "update", "automation"].contains(&only.as_str()),
                    "--only recompute, replay, forecast, update or automation"
                );
                args.only = Some(only);
            }
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median and max of some timings, in milliseconds.
fn summary(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    format!(
        "median {:>8.0} ms   max {:>8.0} ms",
        ms(quantile(&sorted, 0.5)),
        ms(*sorted.last().expect("timings"))
    )
}

/// Reads `health_scores.computed_at` straight from the database: the store has no
/// method for it, and the bench must not disturb what it measures.
enum Probe {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Probe {
    async fn connect(url: &str) -> Probe {
        if url.starts_with("sqlite:") {
            Probe::Sqlite(sqlx::SqlitePool::connect(url).await.expect("probe"))
        } else {
            Probe::Postgres(sqlx::PgPool::connect(url).await.expect("probe"))
        }
    }

    /// When the account's health of `day` was last saved (microseconds since the epoch).
    async fn computed_at(&self, account: i64, day: i64) -> Option<i64> {
        let sql = "SELECT computed_at FROM health_scores WHERE account_id = $1 AND day = $2";
        match self {
            Probe::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(account)
                .bind(day)
                .fetch_optional(pool)
                .await
                .expect("probe"),
            Probe::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(account)
                .bind(day)
                .fetch_optional(pool)
                .await
                .expect("probe"),
        }
    }

    /// Whether the account is marked for rescoring (or claimed by a pass not saved yet).
    async fn marked(&self, account: i64) -> bool {
        let sql = "SELECT COUNT(*) FROM health_dirty WHERE account_id = $1";
        let n: i64 = match self {
            Probe::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(account)
                .fetch_one(pool)
                .await
                .expect("probe"),
            Probe::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(account)
                .fetch_one(pool)
                .await
                .expect("probe"),
        };
        n > 0
    }

    /// Accounts whose health of `day` was saved at or after `since`.
    async fn saved_since(&self, day: i64, since: i64) -> i64 {
        let sql = "SELECT COUNT(*) FROM health_scores WHERE day = $1 AND computed_at >= $2";
        match self {
            Probe::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(day)
                .bind(since)
                .fetch_one(pool)
                .await
                .expect("probe"),
            Probe::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(day)
                .bind(since)
                .fetch_one(pool)
                .await
                .expect("probe"),
        }
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A database of its own on the PostgreSQL server at `admin_url`.
async fn fresh_postgres(admin_url: &str) -> (String, String) {
    let admin = sqlx::PgPool::connect(admin_url).await.expect("connect");
    let name = format!("laer_health_bench_{}", std::process::id());
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
    (format!("{base}/{name}"), name)
}

async fn drop_postgres(admin_url: &str, name: &str) {
    let admin = sqlx::PgPool::connect(admin_url).await.expect("connect");
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await {
        eprintln!("could not drop {name}: {e}");
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().expect("temporary directory");
    let (url, created) = match (&args.db, &args.postgres) {
        (Some(url), _) => (url.clone(), None),
        (None, Some(admin)) => {
            let (url, name) = fresh_postgres(admin).await;
            (url, Some(name))
        }
        (None, None) => (format!("sqlite://{}", dir.path().join("laer.db").display()), None),
    };
    let today = chrono::Utc::now().date_naive();
    let store = Store::open(&url).await.expect("open");
    let mut accounts = store.counts().await.expect("counts").accounts;
    if accounts == 0 {
        let started = Instant::now();
        let config = DemoConfig {
            accounts: args.accounts,
            months: args.months,
            seed: 1,
            ..DemoConfig::new(today)
        };
        let load = laer_app::demo::load(&store, &config, &laer_core::health::HealthModel::default(), "bench")
            .await
            .expect("demo");
        accounts = load.accounts as i64;
        println!(
            "demo company: {} accounts, {} months, {} events, stored in {:.0} s ({:?}); \
             its coverage and playbooks replayed over {} weeks: {} runs, {} tasks",
            load.accounts,
            args.months,
            load.events,
            started.elapsed().as_secs_f64(),
            store.backend(),
            laer_app::demo::REPLAY_WEEKS,
            load.automation.runs_fired,
            load.automation.tasks_created
        );
    } else {
        println!("kept database: {accounts} accounts ({:?})", store.backend());
    }
    let model = HealthModel::default();
    let run = |section: &str| args.only.as_deref().is_none_or(|only| only == section);
    // The account whose updates are timed: a current customer of middling size.
    let mut snapshots = store.account_snapshots(today).await.expect("accounts");
    snapshots.retain(|a| a.mrr > laer_core::Money::ZERO);
    snapshots.sort_by_key(|a| std::cmp::Reverse(a.mrr));
    let target = snapshots[snapshots.len() / 2].clone();
    if run("recompute") {
        full_recompute(&store, &model, today, args.rounds, &target).await;
    }
    if run("replay") {
        replay(&store, &model, today).await;
    }
    if run("forecast") {
        forecasts(&store, &model, today, args.rounds).await;
    }
    if run("update") {
        // Spread through the book, not the largest customers only.
        let every = match args.load_accounts {
            0 => 1,
            n => (snapshots.len() / n).max(1),
        };
        let customers: Vec<String> = snapshots
            .iter()
            .step_by(every)
            .filter(|a| a.id != target.id)
            .map(|a| a.external_id.clone())
            .collect();
        let load = Load {
            connections: args.load,
            customers: &customers,
        };
        update_delay(&store, &url, today, accounts, &target, args.events, load).await;
    }
    if run("automation") {
        automation(&store, &model, today, args.rounds).await;
    }
    if let (Some(admin), Some(name)) = (&args.postgres, &created) {
        store.close().await;
        drop_postgres(admin, name).await;
    }
}

/// Coverage and playbooks over every account, as the engine runs them after the day's
/// full recompute (most decisions already made: the demo replayed half a year), and a
/// replay of four weeks, as `laer demo` makes it.
async fn automation(store: &Store, model: &HealthModel, today: NaiveDate, rounds: usize) {
    use laer_app::automation::{Automation, replay, run};
    println!("\ncoverage and playbooks, {rounds} rounds:");
    let rules = Automation::default();
    let assessments = store.assess(model, today, Accounts::All).await.expect("assess");
    let mut passes = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        run(store, &rules, &assessments, false).await.expect("automation");
        passes.push(started.elapsed());
    }
    println!("  a pass over {} accounts      {}", assessments.len(), summary(&passes));
    let started = Instant::now();
    let outcome = replay(store, model, &rules, today - chrono::TimeDelta::weeks(4), today, 7)
        .await
        .expect("replay");
    // The demo replayed these days already: what fires again are episodes that have
    // since ended (a replay reads today's open episodes), so the count is not the point.
    println!(
        "  a replay of 5 weekly days (assess included): {:.1} s ({} runs)",
        started.elapsed().as_secs_f64(),
        outcome.runs_fired
    );
}

/// A full recompute, as the engine makes it when the day turns (the records kept from
/// its pass before) and as anything else makes it (Store::assess of every account, plus
/// save_health); then the latter again piece by piece. And the engine's work for one
/// changed account.
async fn full_recompute(store: &Store, model: &HealthModel, today: NaiveDate, rounds: usize, target: &AccountSnapshot) {
    println!("\nfull recompute of every account as of {today}, {rounds} rounds:");
    let mut totals = Vec::new();
    let (mut records_t, mut usage_t, mut compute_t, mut save_t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut accounts = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let assessments = store.assess(model, today, Accounts::All).await.expect("assess");
        store.save_health(&assessments, chrono::Utc::now()).await.expect("save");
        totals.push(started.elapsed());
        accounts = assessments.len();

        let started = Instant::now();
        let from = laer_core::health::experience_from(today, &model.windows);
        let records = store
            .health_records(Accounts::All, today, Some(from))
            .await
            .expect("records");
        records_t.push(started.elapsed());
        let started = Instant::now();
        let (usage, workspace) = store
            .usage_on(today, model.windows.usage_days, Accounts::All)
            .await
            .expect("usage");
        usage_t.push(started.elapsed());
        let started = Instant::now();
        let assessments = laer_core::health::assess_each(model, &records, usage, &workspace, today);
        compute_t.push(started.elapsed());
        let started = Instant::now();
        store.save_health(&assessments, chrono::Utc::now()).await.expect("save");
        save_t.push(started.elapsed());
    }
    // The engine's pass over every account (the day turning, or every account marked):
    // its records kept from the pass before, only those listed since read again.
    let mut kept = laer_store::KeptRecords::default();
    kept.assess(store, model, today, Accounts::All)
        .await
        .expect("keep records");
    let mut engine = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let assessments = kept.assess(store, model, today, Accounts::All).await.expect("assess");
        store.save_health(&assessments, chrono::Utc::now()).await.expect("save");
        engine.push(started.elapsed());
    }
    println!("  {accounts} accounts");
    println!("  the engine's pass, records kept {}", summary(&engine));
    println!("  assess + save_health        {}", summary(&totals));
    println!("    read health_records       {}", summary(&records_t));
    println!("    read usage_on             {}", summary(&usage_t));
    println!("    compute (core assess)     {}", summary(&compute_t));
    println!("    save_health               {}", summary(&save_t));

    // The engine's work for one changed account: assess it and save it. The update
    // delay is this plus the wait for the engine's next half-second tick.
    let mut one = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let assessments = store
            .assess(model, today, Accounts::Only(&[target.id]))
            .await
            .expect("assess");
        store.save_health(&assessments, chrono::Utc::now()).await.expect("save");
        one.push(started.elapsed());
    }
    println!(
        "  one account ({}): assess + save_health {}",
        target.external_id,
        summary(&one)
    );
}

/// The forecasts as the pages compute them (issue 19): every customer's chances of
/// churn and downsell from the kept health, and the renewal forecast of this quarter and
/// the next with its simulations; the model learned with the last validation (`replay`
/// times the learning within it), else the shipped one.
async fn forecasts(store: &Store, model: &HealthModel, today: NaiveDate, rounds: usize) {
    let churn = laer_app::forecast::churn_model(store, &model.name)
        .await
        .expect("model");
    let accounts = laer_app::forecast::accounts(store, today).await.expect("accounts");
    let attention = laer_core::attention::Attention {
        churn: Some(churn.clone()),
        ..Default::default()
    };
    let (mut chances, mut renewals) = (Vec::new(), Vec::new());
    let mut counts = (0, 0);
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        counts.0 = accounts.iter().filter_map(|a| attention.outlook(a)).count();
        chances.push(started.elapsed());
        let started = Instant::now();
        let outlook = laer_app::forecast::renewal_outlook(store, &churn, None, &accounts, today, None)
            .await
            .expect("renewal outlook");
        renewals.push(started.elapsed());
        counts.1 = outlook.renewals.len();
    }
    chances.sort();
    renewals.sort();
    println!(
        "\nforecasts ({}): churn and downsell chances of {} customers {:.1} ms; the renewal forecast of {} renewals \
         (two quarters, {} simulations each, calls and kept quarters read) {:.0} ms (medians of {})",
        match churn.source {
            laer_core::forecast::churn::Source::Learned { cases, .. } => format!("learned from {cases} account-days"),
            laer_core::forecast::churn::Source::Shipped { .. } => "the shipped model".to_string(),
        },
        counts.0,
        chances[chances.len() / 2].as_secs_f64() * 1e3,
        counts.1,
        laer_core::forecast::renewal::SIMULATIONS,
        renewals[renewals.len() / 2].as_secs_f64() * 1e3,
        rounds.max(1)
    );
}

/// Validation's replay over every month end, as `laer report health-validation`.
async fn replay(store: &Store, model: &HealthModel, today: NaiveDate) {
    let started = Instant::now();
    let horizon = laer_core::health::outcome::HORIZON_DAYS;
    let days = laer_app::health::replay_days(store, model, today, horizon)
        .await
        .expect("replay days");
    let days_t = started.elapsed();
    let report = laer_app::health::validation(store, model, &days, today, horizon)
        .await
        .expect("validation");
    let replay = started.elapsed();
    let started = Instant::now();
    for &day in &days {
        store
            .usage_on(day, model.windows.usage_days, Accounts::All)
            .await
            .expect("usage");
    }
    let replay_usage = started.elapsed();
    println!(
        "\nvalidation replay ({} month ends, {} accounts assessed, AUC {:.3}): {:.1} s, of which replay_days {:.1} s \
         and usage_on {:.1} s per day",
        days.len(),
        report.observations,
        report.auc.unwrap_or(f64::NAN),
        replay.as_secs_f64(),
        days_t.as_secs_f64(),
        replay_usage.as_secs_f64() / days.len().max(1) as f64
    );
}

/// Tracked events sent while the update delay is timed: `connections` senders, each
/// event for one of `customers` (external ids).
struct Load<'a> {
    connections: usize,
    customers: &'a [String],
}

/// The delay from a tracked event to the account's updated score, in a running server
/// whose health engine keeps scores current.
async fn update_delay(
    store: &Store,
    url: &str,
    today: NaiveDate,
    accounts: i64,
    target: &AccountSnapshot,
    events: usize,
    load: Load<'_>,
) {
    let Load {
        connections: load,
        customers,
    } = load;
    let probe = Probe::connect(url).await;
    let today_n = laer_core::retention::day_number(today);
    let started_at = now_micros();
    let started = Instant::now();
    let server = Server::bind("127.0.0.1:0", store.clone()).await.expect("bind");
    let base = format!("http://{}", server.local_addr().expect("address"));
    tokio::spawn(server.run(std::future::pending()));
    while probe.saved_since(today_n, started_at).await < accounts {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "\nserver started; the engine's first full pass saved every account after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Then it fills in weekly history, when missing; wait for that to end too.
    let oldest = today - chrono::TimeDelta::days(7 * laer_app::health::BACKFILL_WEEKS);
    loop {
        let days = store.health_days().await.expect("days");
        if days.iter().any(|d| d.day == oldest && d.accounts >= accounts) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "weekly history ({} weeks) in place after {:.1} s",
        laer_app::health::BACKFILL_WEEKS,
        started.elapsed().as_secs_f64()
    );

    // Its user is linked to the account by a group call first.
    let key = store.create_write_key("health bench").await.expect("key").secret;
    let http = reqwest::Client::new();
    let post = |call: &'static str, body: serde_json::Value| {
        http.post(format!("{base}/v1/{call}"))
            .basic_auth(&key, Some(""))
            .json(&body)
            .send()
    };
    let user = format!("health-bench-{}", std::process::id());
    let response = post("group", json!({"userId": user, "groupId": target.external_id}))
        .await
        .expect("group");
    assert!(response.status().is_success(), "group: {}", response.status());
    // Let the recompute the group call caused pass.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // The load, if any: tracked events for random customers until the timing ends.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loaders = Vec::new();
    for connection in 0..load {
        let (base, key, stop) = (base.clone(), key.clone(), stop.clone());
        let customers = customers.to_vec();
        loaders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut sent = 0_u64;
            let mut pick = 0x9E37_79B9_7F4A_7C15_u64 ^ connection as u64;
            for round in 0_u64.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let calls: Vec<serde_json::Value> = (0..100)
                    .map(|i| {
                        // xorshift: a different customer for each event.
                        pick ^= pick << 13;
                        pick ^= pick >> 7;
                        pick ^= pick << 17;
                        let customer = &customers[(pick % customers.len() as u64) as usize];
                        json!({"type": "track", "userId": format!("load-{customer}-{}", pick % 5),
                               "event": "Dashboard viewed",
                               "messageId": format!("load-{}-{connection}-{round}-{i}", std::process::id()),
                               "context": {"groupId": customer}})
                    })
                    .collect();
                let response = http
                    .post(format!("{base}/v1/batch"))
                    .basic_auth(&key, Some(""))
                    .json(&json!({"batch": calls}))
                    .send()
                    .await
                    .expect("batch");
                assert!(response.status().is_success(), "batch: {}", response.status());
                sent += 100;
            }
            sent
        }));
    }
    let loaded = Instant::now();
    if load > 0 {
        // Let the engine meet the stream before timing.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    let mut delays = Vec::new();
    let mut acks = Vec::new();
    for i in 0..events {
        // "Dashboard viewed" is a feature of the demo's catalogue: no new event type.
        // Arrive at different points of the engine's tick.
        tokio::time::sleep(Duration::from_millis(700 + (i as u64 * 137) % 500)).await;
        let sent = Instant::now();
        let sent_at = now_micros();
        let response = post(
            "track",
            json!({"userId": user, "event": "Dashboard viewed", "messageId": format!("{user}-{i}")}),
        )
        .await
        .expect("track");
        assert!(response.status().is_success(), "track: {}", response.status());
        acks.push(sent.elapsed());
        // The event's transaction marked the account before the answer came. The mark
        // goes only with the health of a pass that claimed it after that, saved in the
        // same transaction (Store::save_health_releasing): a score that includes the
        // event. That pass may have read its data before the answer reached this side,
        // so its `computed_at` is compared with the sending, not the answer.
        loop {
            if !probe.marked(target.id).await
                && probe
                    .computed_at(target.id, today_n)
                    .await
                    .is_some_and(|at| at > sent_at)
            {
                break;
            }
            assert!(sent.elapsed() < Duration::from_secs(60), "no update within a minute");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        delays.push(sent.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut loaded_events = 0;
    for loader in loaders {
        loaded_events += loader.await.expect("load");
    }
    if load > 0 {
        println!(
            "under load: {load} connections sent {loaded_events} events for random customers, {:.0} events/s",
            loaded_events as f64 / loaded.elapsed().as_secs_f64()
        );
    }
    delays.sort();
    acks.sort();
    println!(
        "update delay, event sent to {}'s score saved, {} events: median {:.0} ms, p95 {:.0} ms, max {:.0} ms \
         (the track call's own p50 {:.1} ms)",
        target.external_id,
        delays.len(),
        ms(quantile(&delays, 0.5)),
        ms(quantile(&delays, 0.95)),
        ms(*delays.last().expect("delays")),
        ms(quantile(&acks, 0.5)),
    );
    let stored = store
        .events_of(target.id)
        .await
        .expect("events")
        .iter()
        .filter(|e| e.user_ref.as_deref() == Some(user.as_str()))
        .count();
    assert_eq!(stored, events, "every tracked event is stored with the account");
}
