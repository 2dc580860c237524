//! laer's retention figures against the reference: the SQL of *Fighting Churn With Data*
//! (PyPI `fightchurn` 1.2.0, `listings/chap2`), run by PostgreSQL over the same data.
//!
//! Needs a PostgreSQL server (`LAER_TEST_POSTGRES_URL`) and the book's listings
//! (`LAER_FIGHTCHURN_LISTINGS`, the `listings/chap2` folder of the installed package;
//! `scripts/test` provides both). With `LAER_TEST_REQUIRE_POSTGRES=1` missing either fails.

use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};
use laer_core::reports::ReportRequest;
use laer_import::Kind;
use laer_store::Store;
use laer_store::test_support::TestDatabase;
use serde_json::Value;
use sqlx::{PgPool, Row};

fn listings() -> Option<PathBuf> {
    let dir = std::env::var("LAER_FIGHTCHURN_LISTINGS")
        .ok()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    match dir {
        Some(dir) if dir.join("listing_2_1_net_retention.sql").is_file() => Some(dir),
        _ if std::env::var("LAER_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("LAER_FIGHTCHURN_LISTINGS must name fightchurn's listings/chap2 folder")
        }
        _ => {
            eprintln!("skipping: set LAER_FIGHTCHURN_LISTINGS to fightchurn's listings/chap2 folder");
            None
        }
    }
}

/// A deterministic generator for subscription histories and events.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const BASE: &str = "2022-01-01";

fn base() -> NaiveDate {
    BASE.parse().unwrap()
}

/// Accounts with monthly, half-yearly and annual lines, upgrades, downgrades, gaps
/// (reactivation), add-ons and open-ended lines, and events, some at exact midnights.
fn dataset(seed: u64) -> (String, String, String) {
    let mut rng = Rng(seed);
    let mut accounts = String::from("id,channel\n");
    let mut subscriptions = String::from("account_id,product,start_date,end_date,mrr,bill_period_months\n");
    let mut events = String::from("account_id,event_time,event_type,user_id\n");
    for a in 0..80 {
        accounts.push_str(&format!(
            "{a},{}\n",
            ["web", "appstore", "sales"][rng.below(3) as usize]
        ));
        let mut day = rng.below(400);
        let mut mrr = 10 + rng.below(500);
        let mut period = [1, 1, 6, 12][rng.below(4) as usize];
        while day < 730 {
            let months = period;
            let start = base() + Days::new(day);
            let end = start.checked_add_months(chrono::Months::new(months as u32)).unwrap();
            let open = rng.below(12) == 0;
            let end_text = if open { String::new() } else { end.to_string() };
            subscriptions.push_str(&format!(
                "{a},plan,{start},{end_text},{}.{:02},{period}\n",
                mrr,
                rng.below(100)
            ));
            if rng.below(5) == 0 {
                subscriptions.push_str(&format!(
                    "{a},addon,{start},{end_text},{},{period}\n",
                    5 + rng.below(50)
                ));
            }
            for _ in 0..rng.below(6) {
                let offset = rng.below(((end - start).num_days().max(1) as u64) * 86_400);
                let time = start.and_hms_opt(0, 0, 0).unwrap() + chrono::TimeDelta::seconds(offset as i64);
                let time = if rng.below(4) == 0 {
                    time.date().and_hms_opt(0, 0, 0).unwrap()
                } else {
                    time
                };
                events.push_str(&format!("{a},{time},use,{}\n", rng.below(5)));
            }
            if open || rng.below(10) == 0 {
                break; // stays, or churns
            }
            day = (end - base()).num_days() as u64 + if rng.below(8) == 0 { 20 + rng.below(90) } else { 0 };
            match rng.below(6) {
                0 => mrr = mrr.saturating_sub(rng.below(mrr)).max(1),
                1 | 2 => mrr += rng.below(200),
                _ => {}
            }
            if rng.below(8) == 0 {
                period = [1, 6, 12][rng.below(3) as usize];
            }
        }
    }
    (accounts, subscriptions, events)
}

async fn load(store: &Store, seed: u64) {
    let (accounts, subscriptions, events) = dataset(seed);
    crate::common::import_csv(
        store,
        vec![
            (Kind::Accounts, accounts),
            (Kind::Subscriptions, subscriptions),
            (Kind::Events, events),
        ],
    )
    .await;
}

/// The book's tables as views over laer's, in a schema of their own.
async fn book_views(pool: &PgPool) {
    for sql in [
        "CREATE SCHEMA book",
        "CREATE VIEW book.subscription AS SELECT account_id, product, start_date, end_date, \
         mrr::double precision / 10000 AS mrr, quantity, units, bill_period_months, discount FROM subscriptions",
        "CREATE VIEW book.event AS SELECT account_id, \
         (timestamp '1970-01-01' + occurred_at * interval '1 microsecond') AS event_time, \
         event_type_id, user_ref AS user_id, value AS event_value FROM events",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
}

/// Runs a listing with its parameters filled in; rows as JSON objects.
async fn listing(pool: &PgPool, dir: &Path, name: &str, params: &[(&str, String)]) -> Vec<Value> {
    let mut sql = std::fs::read_to_string(dir.join(name)).unwrap();
    for (key, value) in params {
        sql = sql.replace(key, value);
    }
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL search_path = book")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SET LOCAL timezone = 'UTC'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    rows.iter()
        .map(|row| {
            let mut object = serde_json::Map::new();
            for (i, column) in row.columns().iter().enumerate() {
                use sqlx::Column;
                let value = row
                    .try_get::<Option<f64>, _>(i)
                    .map(|v| v.map_or(Value::Null, Value::from))
                    .or_else(|_| {
                        row.try_get::<Option<i64>, _>(i)
                            .map(|v| v.map_or(Value::Null, Value::from))
                    })
                    .or_else(|_| {
                        row.try_get::<Option<i32>, _>(i)
                            .map(|v| v.map_or(Value::Null, Value::from))
                    })
                    .or_else(|_| {
                        row.try_get::<Option<NaiveDate>, _>(i)
                            .map(|v| v.map_or(Value::Null, |d| d.to_string().into()))
                    })
                    .or_else(|_| {
                        row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i)
                            .map(|v| v.map_or(Value::Null, |d| d.date_naive().to_string().into()))
                    })
                    .unwrap_or_else(|e| panic!("{name}: column {}: {e}", column.name()));
                object.insert(column.name().to_string(), value);
            }
            Value::Object(object)
        })
        .collect()
}

fn close(context: &str, laer: &Value, book: &Value) {
    match (laer.as_f64(), book.as_f64()) {
        (Some(a), Some(b)) => {
            let scale = a.abs().max(b.abs()).max(1e-300);
            assert!(
                (a - b).abs() / scale <= 1e-9 || (a - b).abs() < 1e-12,
                "{context}: laer {a} vs book {b}"
            );
        }
        _ => assert_eq!(laer, book, "{context}"),
    }
}

async fn single_periods(store: &Store, pool: &PgPool, dir: &Path, seed: u64) {
    let mut rng = Rng(seed ^ 0xfeed);
    for _ in 0..12 {
        let from = base() + Days::new(rng.below(700));
        let to = from + Days::new(1 + rng.below(200));
        let window = 1 + rng.below(60) as u32;
        let request =
            ReportRequest::parse(&from.to_string(), &to.to_string(), None, Some(&window.to_string())).unwrap();
        // Compared as the API serves it, as the book's rows are.
        let laer = serde_json::to_value(laer_app::reports::retention(store, &request, None).await.unwrap()).unwrap();
        let p = |s: &str| {
            vec![
                ("%from_yyyy-mm-dd", from.to_string()),
                ("%to_yyyy-mm-dd", to.to_string()),
                ("%max_inactive", s.to_string()),
            ]
        };
        let ctx = format!("{from}..{to}");
        let accounts = &laer["accounts"];
        if accounts["start"].as_u64() == Some(0) {
            continue; // the book's queries divide by zero
        }
        let churn = &listing(pool, dir, "listing_2_2_churn_rate.sql", &p("")).await[0];
        close(&ctx, &accounts["start"], &churn["n_start"]);
        close(&ctx, &accounts["churned"], &churn["n_churn"]);
        close(&ctx, &accounts["churn_rate"], &churn["churn_rate"]);
        close(&ctx, &accounts["retention_rate"], &churn["retention_rate"]);
        let scaled = &listing(pool, dir, "listing_2_5_churn_rate_scaled.sql", &p("")).await[0];
        close(&ctx, &accounts["annual_churn_rate"], &scaled["annual_churn"]);
        close(&ctx, &accounts["monthly_churn_rate"], &scaled["monthly_churn"]);
        let mrr = &laer["mrr"];
        let nrr = &listing(pool, dir, "listing_2_1_net_retention.sql", &p("")).await[0];
        close(&ctx, &mrr["start"], &nrr["start_mrr"]);
        close(&ctx, &mrr["retained"], &nrr["retain_mrr"]);
        close(&ctx, &mrr["net_retention_rate"], &nrr["net_mrr_retention_rate"]);
        let mrr_churn = &listing(pool, dir, "listing_2_4_mrr_churn.sql", &p("")).await[0];
        close(&ctx, &mrr["downsell"], &mrr_churn["downsell_mrr"]);
        // The book's churn_mrr is NULL when no account churned; laer says 0.
        if !mrr_churn["churn_mrr"].is_null() {
            close(&ctx, &mrr["churned"], &mrr_churn["churn_mrr"]);
            close(&ctx, &mrr["churn_rate"], &mrr_churn["mrr_churn_rate"]);
        } else {
            assert_eq!(mrr["churned"], 0, "{ctx}");
        }
        let activity = &laer["activity"];
        let book = &listing(
            pool,
            dir,
            "listing_2_3_activity_churn.sql",
            &p(&format!("{window} days")),
        )
        .await[0];
        let ctx = format!("{ctx} activity window {window}");
        close(&ctx, &activity["start"], &book["n_start"]);
        close(&ctx, &activity["churned"], &book["n_churn"]);
        close(&ctx, &activity["churn_rate"], &book["churn_rate"]);
    }
}

async fn monthly_series(store: &Store, pool: &PgPool, dir: &Path) {
    for (from, to) in [
        ("2022-01-01", "2023-12-01"),
        ("2022-03-31", "2023-06-30"),
        ("2023-07-15", "2023-09-15"),
    ] {
        let request = ReportRequest::parse(from, to, Some("month"), None).unwrap();
        // Compared as the API serves it, as the book's rows are.
        let laer = serde_json::to_value(laer_app::reports::retention(store, &request, None).await.unwrap()).unwrap();
        let periods = laer["periods"].as_array().unwrap();
        let p = vec![
            ("%from_yyyy-mm-dd", from.to_string()),
            ("%to_yyyy-mm-dd", to.to_string()),
        ];
        let churn = listing(pool, dir, "listing_2_6_churn_rate_multi.sql", &p).await;
        let mrr = listing(pool, dir, "listing_2_7_mrr_churn_multi.sql", &p).await;
        let nrr = listing(pool, dir, "listing_2_8_net_retention_multi.sql", &p).await;
        let find = |rows: &[Value], start: &Value| rows.iter().find(|r| &r["start_date"] == start).cloned();
        let mut compared = 0;
        for period in periods {
            let ctx = format!("month from {}", period["from"]);
            // 2.6 lists only months with churn; 2.8 only months with retained MRR.
            if let Some(book) = find(&churn, &period["from"]) {
                close(&ctx, &period["to"], &book["end_date"]);
                close(&ctx, &period["accounts"]["start"], &book["n_start"]);
                close(&ctx, &period["accounts"]["churned"], &book["n_churn"]);
                close(&ctx, &period["accounts"]["churn_rate"], &book["churn_rate"]);
                close(
                    &ctx,
                    &period["accounts"]["annual_churn_rate"],
                    &book["annual_churn_rate"],
                );
                compared += 1;
            } else {
                assert_eq!(
                    period["accounts"]["churned"], 0,
                    "{ctx}: the book lists every month with churn"
                );
            }
            // The series listings have no monthly rate; listing 2.5 defines it for the month.
            let month_params = vec![
                ("%from_yyyy-mm-dd", period["from"].as_str().unwrap().to_string()),
                ("%to_yyyy-mm-dd", period["to"].as_str().unwrap().to_string()),
            ];
            if period["accounts"]["start"].as_u64() > Some(0) {
                let scaled = &listing(pool, dir, "listing_2_5_churn_rate_scaled.sql", &month_params).await[0];
                close(
                    &ctx,
                    &period["accounts"]["monthly_churn_rate"],
                    &scaled["monthly_churn"],
                );
            }
            if let Some(book) = find(&mrr, &period["from"]) {
                let m = &period["mrr"];
                close(&ctx, &m["start"], &book["start_mrr"]);
                close(&ctx, &m["churned"], &book["churn_mrr"]);
                close(&ctx, &m["downsell"], &book["downsell_mrr"]);
                close(&ctx, &m["extension"], &book["extension_mrr"]);
                close(&ctx, &m["churn_rate"], &book["mrr_churn_rate"]);
                close(&ctx, &m["annual_churn_rate"], &book["annual_mrr_churn_rate"]);
                close(&ctx, &m["extension_rate"], &book["mrr_extension_rate"]);
                close(&ctx, &m["annual_extension_rate"], &book["annual_mrr_extension_rate"]);
                compared += 1;
            }
            if let Some(book) = find(&nrr, &period["from"]) {
                let m = &period["mrr"];
                close(&ctx, &m["retained"], &book["retained_mrr"]);
                close(&ctx, &m["net_retention_rate"], &book["net_retention_rate"]);
                close(
                    &ctx,
                    &m["annual_net_retention_rate"],
                    &book["annual_net_retention_rate"],
                );
                compared += 1;
            }
        }
        assert!(
            compared > periods.len(),
            "{from}..{to}: the book's series were compared ({compared})"
        );
    }
}

#[tokio::test]
async fn laer_equals_the_books_queries() {
    let Some(dir) = listings() else { return };
    let Some(db) = TestDatabase::new(laer_store::Backend::Postgres).await else {
        return;
    };
    let pool = PgPool::connect(&db.url).await.unwrap();
    book_views(&pool).await;
    for seed in [1, 2, 3] {
        sqlx::query("TRUNCATE events, event_days, subscriptions, accounts CASCADE")
            .execute(&pool)
            .await
            .unwrap();
        load(&db.store, seed).await;
        single_periods(&db.store, &pool, &dir, seed).await;
        monthly_series(&db.store, &pool, &dir).await;
    }
    pool.close().await;
}

/// SQLite and PostgreSQL give the same reports for the same data.
#[tokio::test]
async fn both_backends_report_the_same() {
    let Some(postgres) = TestDatabase::new(laer_store::Backend::Postgres).await else {
        return;
    };
    let sqlite = TestDatabase::new(laer_store::Backend::Sqlite).await.unwrap();
    load(&postgres.store, 7).await;
    load(&sqlite.store, 7).await;
    for (every, window) in [(None, Some("30")), (Some("month"), Some("7"))] {
        let request = ReportRequest::parse("2022-02-01", "2023-10-01", every, window).unwrap();
        let on_postgres = laer_app::reports::retention(&postgres.store, &request, Some("plan"))
            .await
            .unwrap();
        let on_sqlite = laer_app::reports::retention(&sqlite.store, &request, Some("plan"))
            .await
            .unwrap();
        assert_eq!(on_postgres, on_sqlite);
        let on_postgres = laer_app::reports::mrr(&postgres.store, &request, Some("channel"), true)
            .await
            .unwrap();
        let on_sqlite = laer_app::reports::mrr(&sqlite.store, &request, Some("channel"), true)
            .await
            .unwrap();
        assert_eq!(on_postgres, on_sqlite);
        let on_sqlite = serde_json::to_string(&on_sqlite).unwrap();
        assert!(on_sqlite.contains("\"segment\":\"web\""), "{on_sqlite}");
    }
}
