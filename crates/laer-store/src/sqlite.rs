//! SQLite: the embedded default, one file, no server.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreError;

/// Connections for reading; writes have one of their own.
pub(crate) const READ_CONNECTIONS: u32 = 8;

/// Makes the database's directory (0700) and file (0600) when missing, before SQLite
/// opens it: SQLite would make the file readable by everyone (0644).
pub(crate) fn create_files(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir).map_err(|source| StoreError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    // Its -wal and -shm files take the database's mode.
    if path != Path::new(":memory:") {
        match crate::files::create_private_file(path) {
            Ok(_) => {}
            // One made before, or by the operator: its mode is theirs; say if it is open.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if crate::files::readable_by_others(path).ok().flatten() == Some(true) {
                    tracing::warn!(
                        path = %path.display(),
                        "the database file is readable by other users: chmod 600 it (and its -wal and -shm files)"
                    );
                }
            }
            Err(source) => {
                return Err(StoreError::CreateFile {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
    }
    Ok(())
}

pub(crate) async fn connect(path: &Path, connections: u32) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30))
        // 64 MiB page cache per connection keeps large imports off the disk's critical path.
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "memory")
        // Commits do not checkpoint: `checkpoint_in_background` does, off the writers' path.
        .pragma("wal_autocheckpoint", "0");
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        // A local file: no connection goes stale, so no round trip to test it.
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Copies committed pages from the write-ahead log into the database file every
/// `every`, while the pool is open. Passive: it never blocks readers or writers.
pub(crate) async fn checkpoint_in_background(pool: SqlitePool, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!("WAL checkpoint failed: {e}");
        }
    }
}
