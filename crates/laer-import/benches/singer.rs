//! Singer target speed: a generated tap output of N records (default 1,000,000) into
//! SQLite (and PostgreSQL), with the peak memory the process reached.
//!
//! cargo bench -p laer-import --bench singer -- [--records N] [--postgres URL]
//!
//! The stream is what meltanolabs-tap-postgres writes for a warehouse of accounts,
//! support tickets and product events (docs/singer.md): a SCHEMA per stream, a STATE
//! every 1,000 records, 1 account for every 200 records, 1 ticket for every 20, and
//! events for the rest, in time order over a year. PostgreSQL runs when `--postgres` or `LAER_BENCH_POSTGRES_URL`
//! names a server where the user may create databases.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use laer_import::singer::{SingerOptions, import_singer, load_mapping};
use laer_store::Store;

const MAPPING: &str = r#"
[[streams]]
stream = "warehouse-accounts"
kind = "accounts"
[streams.fields]
external_id = "id"
name = "name"
segment = "segment"

[[streams]]
stream = "warehouse-tickets"
kind = "support-cases"
account = { path = "account_id", by = "external_id" }
[streams.fields]
external_id = "id"
opened_at = { path = "opened_at", as = "datetime" }
severity = { path = "priority", map = { urgent = "1", high = "2", normal = "3", low = "4" } }
subject = "subject"

[[streams]]
stream = "warehouse-events"
kind = "events"
account = { path = "account_id", by = "external_id" }
[streams.fields]
event_time = "occurred_at"
event_type = "event"
user_id = "user_id"
event_value = "value"
"#;

fn schema(w: &mut impl Write, stream: &str, properties: &str) -> std::io::Result<()> {
    writeln!(
        w,
        r#"{{"type":"SCHEMA","stream":"{stream}","key_properties":["id"],"schema":{{"type":"object","properties":{{{properties}}}}}}}"#
    )
}

/// Writes a tap's output of `records` records.
fn generate(path: &Path, records: u64) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let accounts = (records / 200).max(1);
    let tickets = records / 20;
    let events = records - accounts - tickets;
    let mut written = 0u64;
    let mut state = |w: &mut BufWriter<std::fs::File>, stream: &str, n: u64| -> std::io::Result<()> {
        written += 1;
        if written.is_multiple_of(1_000) {
            writeln!(
                w,
                r#"{{"type":"STATE","value":{{"bookmarks":{{"{stream}":{{"replication_key":"id","replication_key_value":{n}}}}}}}}}"#
            )?;
        }
        Ok(())
    };
    schema(
        &mut w,
        "warehouse-accounts",
        r#""id":{"type":"string"},"name":{"type":"string"},"segment":{"type":"string"}"#,
    )?;
    for a in 0..accounts {
        let segment = ["SMB", "Mid-Market", "Enterprise"][(a % 3) as usize];
        writeln!(
            w,
            r#"{{"type":"RECORD","stream":"warehouse-accounts","record":{{"id":"a{a}","name":"Account {a}","segment":"{segment}"}},"time_extracted":"2026-12-01T00:00:00+00:00"}}"#
        )?;
        state(&mut w, "warehouse-accounts", a)?;
    }
    schema(
        &mut w,
        "warehouse-tickets",
        r#""id":{"type":"integer"},"account_id":{"type":"string"},"opened_at":{"type":"string","format":"date-time"},"priority":{"type":"string"},"subject":{"type":"string"}"#,
    )?;
    for t in 0..tickets {
        let priority = ["urgent", "high", "normal", "low"][(t % 4) as usize];
        writeln!(
            w,
            r#"{{"type":"RECORD","stream":"warehouse-tickets","record":{{"id":{t},"account_id":"a{}","opened_at":"2026-{:02}-{:02}T10:{:02}:00.000000+00:00","priority":"{priority}","subject":"Ticket {t}"}},"time_extracted":"2026-12-01T00:00:00+00:00"}}"#,
            t % accounts,
            1 + t % 11,
            1 + t % 28,
            t % 60
        )?;
        state(&mut w, "warehouse-tickets", t)?;
    }
    schema(
        &mut w,
        "warehouse-events",
        r#""id":{"type":"integer"},"account_id":{"type":"string"},"occurred_at":{"type":"string","format":"date-time"},"event":{"type":"string"},"user_id":{"type":"string"},"value":{"type":["number","null"]}"#,
    )?;
    // In time order over a year, as an incremental tap reads an events table.
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let step_ms = (365 * 86_400_000 / events.max(1)) as i64;
    for e in 0..events {
        let at = start + chrono::TimeDelta::milliseconds(e as i64 * step_ms);
        writeln!(
            w,
            r#"{{"type":"RECORD","stream":"warehouse-events","record":{{"id":{e},"account_id":"a{}","occurred_at":"{}","event":"event_{}","user_id":"u{}","value":{}}},"time_extracted":"2026-12-01T00:00:00+00:00"}}"#,
            e % accounts,
            at.format("%Y-%m-%d %H:%M:%S%.3f"),
            e % 28,
            e % 50,
            if e % 4 == 0 {
                format!("{}.5", e % 2000)
            } else {
                "null".into()
            }
        )?;
        state(&mut w, "warehouse-events", e)?;
    }
    w.flush()
}

/// The most memory the process has held (Linux's VmHWM), in MiB.
fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn run(label: &str, url: &str, path: &Path, records: u64) {
    let store = Store::open(url).await.expect("open");
    let mapping = load_mapping("bench", MAPPING).expect("mapping");
    for pass in ["first", "again"] {
        let file = tokio::fs::File::open(path).await.expect("open the stream");
        let input = tokio::io::BufReader::with_capacity(1 << 20, file);
        let mut options = SingerOptions {
            actor: "bench".into(),
            ..Default::default()
        };
        let started = Instant::now();
        let report = import_singer(&store, &mapping, input, &mut options)
            .await
            .expect("import");
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(report.records, records, "every record is read");
        let (written, unchanged, unmapped) = report.totals();
        assert_eq!(unmapped, 0, "every record maps: {:?}", report.streams);
        println!(
            "{label:<12} {pass:<6} {seconds:>7.2} s {:>10.0} records/s  {written} written, {unchanged} unchanged, {} batches, peak {:.0} MiB",
            records as f64 / seconds,
            report.batches,
            peak_mib().unwrap_or(f64::NAN)
        );
    }
    store.close().await;
}

async fn fresh_postgres_database(admin_url: &str) -> (sqlx::PgPool, String, String) {
    let name = format!("laer_singer_bench_{}", std::process::id());
    let admin = sqlx::PgPool::connect(admin_url).await.expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create");
    let (base, _) = admin_url.rsplit_once('/').expect("URL with a database name");
    let url = format!("{base}/{name}");
    (admin, name, url)
}

#[tokio::main]
async fn main() {
    let mut records = 1_000_000u64;
    let mut postgres = std::env::var("LAER_BENCH_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => records = args.next().and_then(|v| v.parse().ok()).expect("--records N"),
            "--postgres" => postgres = Some(args.next().expect("--postgres URL")),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let work = tempfile::tempdir().expect("temporary directory");
    let stream = work.path().join("tap.jsonl");
    let started = Instant::now();
    generate(&stream, records).expect("generate the stream");
    let bytes = std::fs::metadata(&stream).map(|m| m.len()).unwrap_or(0);
    println!(
        "a tap's output of {records} records ({:.0} MiB) generated in {:.1} s; peak {:.0} MiB before importing",
        bytes as f64 / f64::from(1 << 20),
        started.elapsed().as_secs_f64(),
        peak_mib().unwrap_or(f64::NAN)
    );
    let sqlite = format!("sqlite://{}", work.path().join("laer.db").display());
    run("SQLite", &sqlite, &stream, records).await;
    match postgres {
        Some(admin_url) => {
            let (admin, name, url) = fresh_postgres_database(&admin_url).await;
            run("PostgreSQL", &url, &stream, records).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await
            .expect("drop the benchmark database");
        }
        None => println!("(PostgreSQL skipped: pass --postgres URL or set LAER_BENCH_POSTGRES_URL)"),
    }
}
