//! Fresh databases for tests, on each backend.
//!
//! SQLite always runs. PostgreSQL runs when `LAER_TEST_POSTGRES_URL` names a server
//! where the user may create databases; each test gets a database of its own. With
//! `LAER_TEST_REQUIRE_POSTGRES=1` (as in CI) a missing URL fails the test instead of
//! skipping the PostgreSQL half.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Backend, SecretBox, Store};

/// A server key for tests that seal secrets.
pub fn secret_box() -> SecretBox {
    SecretBox::from_text("dGVzdCBrZXkgb2YgbGFlcidzIHRlc3Qgc3RvcmVzISE=").expect("the test key reads")
}

/// Claims the accounts marked for rescoring (as a health pass does, now) and returns them
/// in id order: they stay claimed, so they are not returned again until marked again.
pub async fn claim_marked(store: &Store) -> Vec<i64> {
    store
        .claim_health_dirty(1_000, chrono::Utc::now())
        .await
        .expect("marks are claimed")
        .accounts
}

/// The audit entries whose action is `action` or starts with it (a family such as
/// `tracking`), newest first.
pub async fn audited(store: &Store, action: &str) -> Vec<crate::AuditRow> {
    let filter = crate::AuditFilter {
        action: Some(action.into()),
        ..crate::AuditFilter::default()
    };
    store
        .audit_log(&filter, None, 1_000)
        .await
        .expect("the audit log reads")
}

/// A store on a database that exists only for one test.
pub struct TestDatabase {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// For PostgreSQL: the server's URL and the database to drop afterwards.
    drop_from: Option<(String, String)>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.drop_from.take() else {
            return;
        };
        // Drop cannot await: clean up on a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = sqlx::PgPool::connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await.ok()?;
                admin.close().await;
                Some(())
            })
        });
        let _ = cleanup.join();
    }
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => Some(sqlite().await),
            Backend::Postgres => postgres().await,
        }
    }
}

pub async fn sqlite() -> TestDatabase {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("laer.db").display());
    let store = Store::open(&url).await.expect("open a fresh SQLite database");
    TestDatabase {
        store,
        url,
        _dir: Some(dir),
        drop_from: None,
    }
}

/// A fresh, migrated PostgreSQL database, or `None` when no test server is configured.
pub async fn postgres() -> Option<TestDatabase> {
    let Some(admin_url) = std::env::var("LAER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
        if std::env::var("LAER_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("LAER_TEST_REQUIRE_POSTGRES=1 but LAER_TEST_POSTGRES_URL is not set");
        }
        eprintln!("skipping the PostgreSQL run: set LAER_TEST_POSTGRES_URL to run it");
        return None;
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "laer_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    );
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("connect to LAER_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create a test database");
    admin.close().await;
    let url = with_database(&admin_url, &name);
    let store = Store::open(&url).await.expect("open the test database");
    Some(TestDatabase {
        store,
        url,
        _dir: None,
        drop_from: Some((admin_url, name)),
    })
}

/// The URL with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Defines one `#[tokio::test]` per backend that runs `$story(&Store)`.
#[macro_export]
macro_rules! backend_tests {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $story() {
                    let db = $crate::test_support::TestDatabase::new($crate::Backend::Sqlite).await.unwrap();
                    super::$story(&db.store).await;
                    db.store.close().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $story() {
                    if let Some(db) = $crate::test_support::TestDatabase::new($crate::Backend::Postgres).await {
                        super::$story(&db.store).await;
                        // Before the database is dropped: a connection still opening
                        // (a server's background task) would hold the drop up.
                        db.store.close().await;
                    }
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::with_database("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            super::with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
