//! `Store::backup_to`: a consistent copy of an SQLite database taken while a task keeps
//! writing; the copy opens as a store of its own and holds every row committed before the
//! backup started, passes SQLite's integrity check, and is readable by its owner alone.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use laer_core::model::NewAccount;
use laer_store::test_support::TestDatabase;
use laer_store::{Backend, Store, StoreError};

fn account(external_id: String) -> NewAccount {
    NewAccount {
        external_id,
        name: Some("Backup Test Ltd".into()),
        segment: Some("smb".into()),
        channel: None,
        country: Some("DE".into()),
        date_of_birth: None,
        renewal_date: None,
        attributes: Default::default(),
    }
}

/// Writes accounts `w0`, `w1`, ... one transaction each until told to stop; `committed`
/// counts those committed.
async fn keep_writing(store: Store, committed: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let mut tx = store.begin_write().await.unwrap();
        tx.upsert(&[account(format!("w{n}"))]).await.unwrap();
        tx.commit().await.unwrap();
        n += 1;
        committed.store(n, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
}

/// `(rows written by the writer, highest writer index + 1, integrity check)` of a copy.
async fn inspect(path: &Path) -> (i64, i64, String) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&pool).await.unwrap();
    let (count, top): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(CAST(SUBSTR(external_id, 2) AS INTEGER)) + 1 FROM accounts WHERE external_id LIKE 'w%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    (count, top.unwrap_or(0), check)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_writes_holds_every_row_committed_before_it() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let store = &db.store;
    // Enough data that copying it takes a while.
    let mut tx = store.begin_write().await.unwrap();
    let seeded: Vec<NewAccount> = (0..20_000).map(|i| account(format!("seed-{i}"))).collect();
    tx.upsert(&seeded).await.unwrap();
    tx.commit().await.unwrap();

    let committed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_writing(store.clone(), committed.clone(), stop.clone()));
    while committed.load(Ordering::SeqCst) < 50 {
        tokio::task::yield_now().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let before = committed.load(Ordering::SeqCst);
    store.backup_to(&copy, false).await.unwrap();
    let after = committed.load(Ordering::SeqCst);
    // The writer goes on after the backup: nothing waits for it.
    while committed.load(Ordering::SeqCst) < after + 20 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    eprintln!("writes committed during the backup: {}", after - before);
    // The backup held up no writer: they committed while it copied (hundreds, typically).
    assert!(after > before, "no write committed during the backup");

    let (count, top, check) = inspect(&copy).await;
    assert_eq!(check, "ok");
    // A consistent snapshot: the writer's rows w0..w{count-1}, with no gap, including
    // every one committed before the backup started and none after it ended.
    assert_eq!(count, top, "no gaps");
    let count = u64::try_from(count).unwrap();
    assert!(before <= count && count <= after, "{before} <= {count} <= {after}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // Restored: a store opens on the copy and counts what it holds.
    let restored = Store::open(&format!("sqlite://{}", copy.display())).await.unwrap();
    let accounts = restored.counts().await.unwrap().accounts;
    assert_eq!(u64::try_from(accounts).unwrap(), 20_000 + count);
    restored.close().await;

    // An existing file is refused unless replacing it is asked for.
    let err = store.backup_to(&copy, false).await.unwrap_err();
    assert!(matches!(err, StoreError::BackupExists { .. }), "{err}");
    store.backup_to(&copy, true).await.unwrap();
    let (count_again, _, _) = inspect(&copy).await;
    assert_eq!(u64::try_from(count_again).unwrap(), committed.load(Ordering::SeqCst));
    store.close().await;
}

#[tokio::test]
async fn postgres_is_backed_up_with_pg_dump() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let err = db.store.backup_to(&dir.path().join("x.db"), false).await.unwrap_err();
    assert!(err.to_string().contains("pg_dump"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    db.store.close().await;
}

/// A new database, its directory and its write-ahead files are readable by their owner
/// alone.
#[cfg(unix)]
#[tokio::test]
async fn a_new_database_is_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let path = dir.join("laer.db");
    let store = Store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("a".into())]).await.unwrap();
    tx.commit().await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&path), 0o600);
    for suffix in ["-wal", "-shm"] {
        let file = dir.join(format!("laer.db{suffix}"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    store.close().await;
}
