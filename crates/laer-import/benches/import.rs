//! Import speed: a *Fighting Churn With Data* export into SQLite and into PostgreSQL,
//! against PostgreSQL's own COPY of the same event file into an unindexed table.
//!
//! cargo bench -p laer-import --bench import -- [--events N | --fightchurn DIR] [--postgres URL] [--once]
//!
//! `--once` leaves out the second import (of the same files, which changes nothing), for a
//! profile of the first alone (e.g. under `valgrind --tool=callgrind`).
//!
//! Without `--fightchurn`, a dataset of N events (default 2,000,000) in the book's format
//! is generated first. PostgreSQL runs when `--postgres` or `LAER_BENCH_POSTGRES_URL`
//! names a server where the user may create databases.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use laer_import::{ImportReport, Options};
use laer_store::Store;

struct Args {
    events: u64,
    fightchurn: Option<PathBuf>,
    postgres: Option<String>,
    once: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        events: 2_000_000,
        fightchurn: None,
        postgres: std::env::var("LAER_BENCH_POSTGRES_URL").ok().filter(|u| !u.is_empty()),
        once: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--events" => args.events = it.next().and_then(|v| v.parse().ok()).expect("--events N"),
            "--fightchurn" => args.fightchurn = Some(it.next().expect("--fightchurn DIR").into()),
            "--postgres" => args.postgres = Some(it.next().expect("--postgres URL")),
            "--once" => args.once = true,
            "--bench" => {} // passed by cargo bench
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// A small deterministic generator, so that every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes account.csv, event_type.csv, subscription.csv and event.csv (sorted by account
/// and time, as the book's export is) with about `events` events.
fn generate(dir: &Path, events: u64) -> std::io::Result<()> {
    let accounts = (events / 20_000).clamp(10, 5_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut w = BufWriter::new(std::fs::File::create(dir.join("account.csv"))?);
    writeln!(w, "id,channel,date_of_birth,country")?;
    for a in 0..accounts {
        writeln!(
            w,
            "{a},web,19{:02}-0{}-1{},US",
            50 + rng.below(50),
            1 + rng.below(9),
            rng.below(10)
        )?;
    }
    w.flush()?;
    let mut w = BufWriter::new(std::fs::File::create(dir.join("event_type.csv"))?);
    writeln!(w, "event_type_id,event_type_name")?;
    for t in 0..28 {
        writeln!(w, "{t},event_{t}")?;
    }
    w.flush()?;
    let mut w = BufWriter::new(std::fs::File::create(dir.join("subscription.csv"))?);
    writeln!(
        w,
        "account_id,product,start_date,end_date,mrr,quantity,units,bill_period_months,discount"
    )?;
    for a in 0..accounts {
        for month in 1..=12 {
            writeln!(
                w,
                "{a},basic_mthly,2023-{month:02}-01,{},200,10,users,1,0",
                if month == 12 {
                    "2024-01-01".to_string()
                } else {
                    format!("2023-{:02}-01", month + 1)
                }
            )?;
        }
    }
    w.flush()?;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("event.csv"))?);
    writeln!(w, "account_id,event_time,event_type_id,user_id,event_value")?;
    let per_account = events / accounts;
    let year_seconds = 365 * 86_400;
    for a in 0..accounts {
        let mut t = 0;
        let step = year_seconds / per_account.max(1);
        for _ in 0..per_account {
            t += rng.below(2 * step.max(1));
            let (day, second) = (t / 86_400, t % 86_400);
            let date = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap() + chrono::Days::new(day);
            let value = if rng.below(4) == 0 {
                format!("{}.{:02}", rng.below(2000), rng.below(100))
            } else {
                String::new()
            };
            writeln!(
                w,
                "{a},{date} {:02}:{:02}:{:02},{},{},{value}",
                second / 3600,
                second / 60 % 60,
                second % 60,
                rng.below(28),
                rng.below(50)
            )?;
        }
    }
    w.flush()
}

fn count_lines(path: &Path) -> u64 {
    let text = std::fs::read(path).expect("read event.csv");
    text.iter().filter(|&&b| b == b'\n').count() as u64 - 1
}

async fn import(store: &Store, dir: &Path) -> (f64, Vec<ImportReport>) {
    let mut options = Options {
        actor: "bench".into(),
        ..Options::default()
    };
    let started = Instant::now();
    let open = |p: &Path| std::fs::File::open(p).map(|f| std::io::BufReader::with_capacity(1 << 20, f));
    let reports = laer_import::import_fightchurn(store, dir, open, &mut options)
        .await
        .expect("import");
    (started.elapsed().as_secs_f64(), reports)
}

fn line(label: &str, events: u64, seconds: f64) {
    println!(
        "{label:<44} {seconds:>8.2} s  {:>12.0} event rows/s",
        events as f64 / seconds
    );
}

async fn run_backend(label: &str, url: &str, dir: &Path, events: u64, once: bool) -> f64 {
    let store = Store::open(url).await.expect("open");
    let (first, reports) = import(&store, dir).await;
    assert_eq!(reports[3].written, events, "every event row is stored");
    line(&format!("laer import fightchurn, {label}"), events, first);
    if !once {
        let (again, reports) = import(&store, dir).await;
        assert_eq!(reports[3].written, 0, "a second import changes nothing");
        line(&format!("laer import fightchurn again, {label}"), events, again);
    }
    store.close().await;
    first
}

/// PostgreSQL's own COPY of event.csv into an unindexed table of the book's schema.
async fn postgres_copy(url: &str, dir: &Path, events: u64) -> f64 {
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    sqlx::query(
        "CREATE TABLE bench_event (account_id integer NOT NULL, event_time timestamp(6) NOT NULL, \
         event_type_id integer NOT NULL, user_id integer, event_value numeric)",
    )
    .execute(&pool)
    .await
    .expect("create table");
    let data = std::fs::read(dir.join("event.csv")).expect("read event.csv");
    let started = Instant::now();
    let mut conn = pool.acquire().await.expect("connection");
    let mut copy = conn
        .copy_in_raw("COPY bench_event FROM STDIN WITH (FORMAT csv, HEADER)")
        .await
        .expect("copy");
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await.expect("send");
    }
    let copied = copy.finish().await.expect("finish");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(copied, events);
    line("PostgreSQL COPY into an unindexed table", events, seconds);
    seconds
}

async fn fresh_postgres_database(admin_url: &str) -> String {
    let name = format!("laer_bench_{}", std::process::id());
    let admin = sqlx::PgPool::connect(admin_url).await.expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
        .execute(&admin)
        .await
        .expect("drop");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create");
    let (base, _) = admin_url.rsplit_once('/').expect("URL with a database name");
    format!("{base}/{name}")
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let work = tempfile::tempdir().expect("temporary directory");
    let dir = match &args.fightchurn {
        Some(dir) => dir.clone(),
        None => {
            let dir = work.path().join("data");
            std::fs::create_dir_all(&dir).expect("data directory");
            let started = Instant::now();
            generate(&dir, args.events).expect("generate the dataset");
            eprintln!(
                "generated {} events in {:.1} s",
                args.events,
                started.elapsed().as_secs_f64()
            );
            dir
        }
    };
    let events = count_lines(&dir.join("event.csv"));
    println!("dataset {} with {events} event rows", dir.display());
    let sqlite_url = format!("sqlite://{}", work.path().join("laer.db").display());
    run_backend("SQLite", &sqlite_url, &dir, events, args.once).await;
    if let Some(admin_url) = &args.postgres {
        let url = fresh_postgres_database(admin_url).await;
        let laer = run_backend("PostgreSQL", &url, &dir, events, args.once).await;
        let copy = postgres_copy(&url, &dir, events).await;
        println!(
            "laer into PostgreSQL takes {:.2}x the time of PostgreSQL's own COPY",
            laer / copy
        );
        let admin = sqlx::PgPool::connect(admin_url).await.expect("connect to PostgreSQL");
        let name = url.rsplit('/').next().unwrap_or_default();
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&admin)
            .await
            .expect("drop the benchmark database");
    } else {
        println!("(PostgreSQL skipped: pass --postgres URL or set LAER_BENCH_POSTGRES_URL)");
    }
}
