//! Retention reports: laer against the book's SQL (fightchurn listings 2.1–2.8) on
//! PostgreSQL, for every month of a dataset, in one run. Asserts identical numbers.
//!
//! cargo bench -p laer-app --bench reports -- --fightchurn DIR --postgres URL \
//!     [--listings DIR] [--book-url URL --book-schema SCHEMA] [--window DAYS] [--runs N]
//!
//! DIR holds the book's four CSV tables. laer imports them into SQLite and into a fresh
//! PostgreSQL database; the book's queries run on the same data in the book's own schema
//! (loaded from DIR with the book's indexes, or an existing one, e.g. the simulator's
//! `churn` database, schema `crm5`). Listings: `LAER_FIGHTCHURN_LISTINGS` or --listings.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{Datelike, Months, NaiveDate};
use laer_core::reports::ReportRequest;
use laer_import::Options;
use laer_store::Store;
use serde_json::Value;
use sqlx::{PgPool, Row};

struct Args {
    data: PathBuf,
    postgres: String,
    listings: PathBuf,
    book_url: Option<String>,
    book_schema: String,
    window: u32,
    runs: usize,
}

fn parse_args() -> Args {
    let mut data = None;
    let mut postgres = std::env::var("LAER_BENCH_POSTGRES_URL").ok();
    let mut listings = std::env::var("LAER_FIGHTCHURN_LISTINGS").ok().map(PathBuf::from);
    let (mut book_url, mut book_schema, mut window, mut runs) = (None, "book".to_string(), 28, 3);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--fightchurn" => data = Some(PathBuf::from(value())),
            "--postgres" => postgres = Some(value()),
            "--listings" => listings = Some(PathBuf::from(value())),
            "--book-url" => book_url = Some(value()),
            "--book-schema" => book_schema = value(),
            "--window" => window = value().parse().expect("--window DAYS"),
            "--runs" => runs = value().parse().expect("--runs N"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    Args {
        data: data.expect("--fightchurn DIR"),
        postgres: postgres.expect("--postgres URL (or LAER_BENCH_POSTGRES_URL)"),
        listings: listings.expect("--listings DIR (or LAER_FIGHTCHURN_LISTINGS)"),
        book_url,
        book_schema,
        window,
        runs: runs.max(1),
    }
}

fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a URL with a database name");
    format!("{base}/{name}")
}

async fn fresh_database(admin: &PgPool, name: &str) {
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(admin)
            .await
            .expect("database");
    }
}

/// The book's tables and indexes in `schema`, filled from the CSV files.
async fn load_book_schema(pool: &PgPool, dir: &Path) {
    let ddl = [
        "CREATE SCHEMA book",
        "CREATE TABLE book.account (id integer PRIMARY KEY, channel text, date_of_birth date, country text)",
        "CREATE TABLE book.event_type (event_type_id integer PRIMARY KEY, event_type_name text UNIQUE)",
        "CREATE TABLE book.subscription (account_id integer NOT NULL, product text NOT NULL, start_date date NOT NULL, \
         end_date date, mrr double precision NOT NULL, quantity double precision, units text, \
         bill_period_months integer NOT NULL, discount double precision)",
        "CREATE TABLE book.event (account_id integer NOT NULL, event_time timestamp(6) NOT NULL, \
         event_type_id integer NOT NULL, user_id integer, event_value numeric)",
    ];
    for sql in ddl {
        sqlx::query(sql).execute(pool).await.expect("book schema");
    }
    for table in ["account", "event_type", "subscription", "event"] {
        let data = std::fs::read(dir.join(format!("{table}.csv"))).expect("read CSV");
        let mut conn = pool.acquire().await.expect("connection");
        let mut copy = conn
            .copy_in_raw(&format!("COPY book.{table} FROM STDIN WITH (FORMAT csv, HEADER)"))
            .await
            .expect("copy");
        for chunk in data.chunks(1 << 20) {
            copy.send(chunk).await.expect("send");
        }
        copy.finish().await.expect("finish");
    }
    let indexes = [
        "CREATE INDEX ON book.subscription (start_date, end_date)",
        "CREATE INDEX ON book.subscription (start_date)",
        "CREATE INDEX ON book.event (account_id)",
        "CREATE INDEX ON book.event (account_id, event_time)",
        "CREATE INDEX ON book.event (event_time)",
        "CREATE INDEX ON book.event (event_type_id)",
        "CREATE INDEX ON book.event (account_id, user_id, event_time)",
        "ANALYZE book.subscription",
        "ANALYZE book.event",
    ];
    for sql in indexes {
        sqlx::query(sql).execute(pool).await.expect("book index");
    }
}

/// First days of the months from the month after the first subscription start to the
/// month of the last start (the simulator writes lines until its last day).
async fn months(store: &Store) -> (NaiveDate, NaiveDate) {
    let lines = store.revenue_lines().await.expect("lines");
    let first = lines.iter().map(|l| l.start_date).min().expect("subscriptions");
    let last = lines.iter().map(|l| l.start_date).max().expect("subscriptions");
    let from = first
        .with_day(1)
        .and_then(|d| d.checked_add_months(Months::new(1)))
        .expect("date");
    (from, last.with_day(1).expect("date"))
}

/// Every report for every month, from laer.
async fn laer_reports(store: &Store, from: NaiveDate, to: NaiveDate, window: u32) -> (Value, Value) {
    let request = ReportRequest::parse(
        &from.to_string(),
        &to.to_string(),
        Some("month"),
        Some(&window.to_string()),
    )
    .expect("request");
    let retention = laer_app::reports::retention(store, &request, None)
        .await
        .expect("retention");
    let mrr = laer_app::reports::mrr(store, &request, None, false).await.expect("mrr");
    // Compared as the API serves them, as the book's rows are.
    (
        serde_json::to_value(retention).expect("retention as JSON"),
        serde_json::to_value(mrr).expect("MRR as JSON"),
    )
}

/// Every listing for every month, from PostgreSQL: 2.1–2.5 per month, 2.6–2.8 once.
async fn book_reports(
    pool: &PgPool,
    schema: &str,
    listings: &Path,
    from: NaiveDate,
    to: NaiveDate,
    window: u32,
) -> Vec<(String, NaiveDate, Vec<sqlx::postgres::PgRow>)> {
    let read = |name: &str| std::fs::read_to_string(listings.join(name)).expect("listing");
    let singles = [
        "listing_2_1_net_retention.sql",
        "listing_2_2_churn_rate.sql",
        "listing_2_3_activity_churn.sql",
        "listing_2_4_mrr_churn.sql",
        "listing_2_5_churn_rate_scaled.sql",
    ];
    let multis = [
        "listing_2_6_churn_rate_multi.sql",
        "listing_2_7_mrr_churn_multi.sql",
        "listing_2_8_net_retention_multi.sql",
    ];
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path = {schema}")))
        .execute(&mut *conn)
        .await
        .expect("path");
    sqlx::query("SET timezone = 'UTC'")
        .execute(&mut *conn)
        .await
        .expect("timezone");
    let mut results = Vec::new();
    let mut month = from;
    while month <= to {
        let end = month.checked_add_months(Months::new(1)).expect("date");
        for name in singles {
            let sql = read(name)
                .replace("%from_yyyy-mm-dd", &month.to_string())
                .replace("%to_yyyy-mm-dd", &end.to_string())
                .replace("%max_inactive", &format!("{window} days"));
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await
                .expect(name);
            results.push((name.to_string(), month, rows));
        }
        month = end;
    }
    for name in multis {
        let sql = read(name)
            .replace("%from_yyyy-mm-dd", &from.to_string())
            .replace("%to_yyyy-mm-dd", &to.to_string());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .expect(name);
        results.push((name.to_string(), from, rows));
    }
    results
}

fn assert_close(context: &str, laer: &Value, book: Option<f64>) {
    let (Some(a), Some(b)) = (laer.as_f64(), book) else {
        assert!(
            laer.is_null() || book.is_none() || laer.as_f64() == Some(0.0),
            "{context}: laer {laer} vs book {book:?}"
        );
        return;
    };
    let scale = a.abs().max(b.abs());
    assert!(
        scale == 0.0 || (a - b).abs() / scale <= 1e-9,
        "{context}: laer {a} vs book {b}"
    );
}

fn get_f64(row: &sqlx::postgres::PgRow, column: &str) -> Option<f64> {
    row.try_get::<Option<f64>, _>(column)
        .ok()
        .flatten()
        .or_else(|| row.try_get::<Option<i64>, _>(column).ok().flatten().map(|v| v as f64))
}

/// Checks laer's per-month figures against the single-period listings.
fn compare(retention: &Value, book: &[(String, NaiveDate, Vec<sqlx::postgres::PgRow>)]) -> usize {
    let periods = retention["periods"].as_array().expect("periods");
    let mut checked = 0;
    for (name, month, rows) in book {
        let Some(period) = periods.iter().find(|p| p["from"] == month.to_string()) else {
            continue;
        };
        let Some(row) = rows.first() else { continue };
        let ctx = format!("{name} {month}");
        let (a, m, act) = (&period["accounts"], &period["mrr"], &period["activity"]);
        let pairs: Vec<(&Value, &str)> = match name.as_str() {
            "listing_2_1_net_retention.sql" => vec![
                (&m["start"], "start_mrr"),
                (&m["retained"], "retain_mrr"),
                (&m["net_retention_rate"], "net_mrr_retention_rate"),
            ],
            "listing_2_2_churn_rate.sql" => vec![
                (&a["start"], "n_start"),
                (&a["churned"], "n_churn"),
                (&a["churn_rate"], "churn_rate"),
            ],
            "listing_2_3_activity_churn.sql" => vec![
                (&act["start"], "n_start"),
                (&act["churned"], "n_churn"),
                (&act["churn_rate"], "churn_rate"),
            ],
            "listing_2_4_mrr_churn.sql" => vec![(&m["start"], "start_mrr"), (&m["churned"], "churn_mrr")],
            _ => vec![],
        };
        for (value, column) in pairs {
            assert_close(&format!("{ctx} {column}"), value, get_f64(row, column));
            checked += 1;
        }
    }
    checked
}

async fn time<T, F: std::future::Future<Output = T>>(runs: usize, mut f: impl FnMut() -> F) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let out = f().await;
        best = best.min(started.elapsed().as_secs_f64());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let admin = PgPool::connect(&args.postgres).await.expect("connect to PostgreSQL");
    let name = format!("laer_reports_bench_{}", std::process::id());
    fresh_database(&admin, &name).await;
    let url = with_database(&args.postgres, &name);
    let work = tempfile::tempdir().expect("temporary directory");
    let sqlite_url = format!("sqlite://{}", work.path().join("laer.db").display());

    eprintln!("importing {} into laer (SQLite and PostgreSQL)...", args.data.display());
    let open = |p: &Path| std::fs::File::open(p).map(|f| std::io::BufReader::with_capacity(1 << 20, f));
    let mut stores = Vec::new();
    for (label, url) in [("SQLite", sqlite_url.as_str()), ("PostgreSQL", url.as_str())] {
        let store = Store::open(url).await.expect("open");
        let mut options = Options {
            actor: "bench".into(),
            ..Options::default()
        };
        laer_import::import_fightchurn(&store, &args.data, open, &mut options)
            .await
            .expect("import");
        stores.push((label, store));
    }
    let book_pool = match &args.book_url {
        Some(book_url) => PgPool::connect(book_url).await.expect("connect to the book's database"),
        None => {
            eprintln!("loading the book's schema with its indexes...");
            let pool = PgPool::connect(&url).await.expect("connect");
            load_book_schema(&pool, &args.data).await;
            pool
        }
    };
    let (from, to) = months(&stores[0].1).await;
    let month_count = ReportRequest::parse(&from.to_string(), &to.to_string(), Some("month"), None)
        .expect("months")
        .periods
        .len();
    println!(
        "{month_count} months from {from} to {to}, activity window {} days, best of {} runs",
        args.window, args.runs
    );

    let (book_seconds, book) = time(args.runs, || {
        book_reports(&book_pool, &args.book_schema, &args.listings, from, to, args.window)
    })
    .await;
    println!(
        "{:<40} {book_seconds:>9.3} s",
        "book SQL on PostgreSQL (listings 2.1-2.8)"
    );
    for (label, store) in &stores {
        let (seconds, (retention, _mrr)) = time(args.runs, || laer_reports(store, from, to, args.window)).await;
        let checked = compare(&retention, &book);
        println!(
            "{:<40} {seconds:>9.3} s  {:>7.1}x faster, {checked} figures identical",
            format!("laer on {label}"),
            book_seconds / seconds
        );
    }
    for (_, store) in stores {
        store.close().await;
    }
    book_pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .expect("drop the benchmark database");
}
