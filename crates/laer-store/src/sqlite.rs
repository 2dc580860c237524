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
        .pragma("wal_autocheckpoint", "0")
        // Rows a statement may read ahead of the task taking them: a large read (the
        // health engine's) then wakes the task less often than once a row.
        .row_buffer_size(1024);
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        // A local file: no connection goes stale, so no round trip to test it.
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Frames the write-ahead log may hold (256 MiB of 4 KiB pages) before a checkpoint
/// waits for the readers on it to finish and truncates it. Under a steady stream of
/// writes with some read always under way, passive checkpoints copy the pages but the
/// log never starts over, so it grows without end: 56 GB in 7 minutes of ingest spread
/// over 10,000 accounts with the health engine reading beside it.
pub(crate) const WAL_FRAMES_BEFORE_TRUNCATE: i64 = 65_536;

/// The writer's connection, and whose turn it is to write: held for a write
/// transaction (`Store::begin_write`), and by a checkpoint that empties the log.
pub(crate) type WriterTurn = std::sync::Arc<tokio::sync::Mutex<Option<SqlitePool>>>;

/// Copies committed pages from the write-ahead log into the database file every
/// `every`, while the pool is open: passively, never blocking readers or writers, until
/// the log holds more than `max_frames` ([`WAL_FRAMES_BEFORE_TRUNCATE`]); then it takes
/// the writers' `turn` (after the write under way; the next waits), waits for the
/// readers still on the log to finish, and empties the log.
pub(crate) async fn checkpoint_in_background(pool: SqlitePool, turn: WriterTurn, every: Duration, max_frames: i64) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if pool.is_closed() {
            return;
        }
        let passive = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let result = match passive {
            Ok((_, frames, _)) if frames > max_frames => {
                // In the writers' queue: a writer that begins again as soon as it has
                // committed would otherwise never leave SQLite's write lock to the
                // checkpoint (the demo's 100,000 accounts grew the log past 7 GB).
                let _turn = turn.lock().await;
                let started = std::time::Instant::now();
                let truncated = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&pool)
                    .await;
                if let Ok((busy, _, _)) = truncated {
                    tracing::info!(
                        "write-ahead log of {frames} frames {} in {} ms",
                        if busy == 0 {
                            "truncated"
                        } else {
                            "not truncated (readers stayed)"
                        },
                        started.elapsed().as_millis()
                    );
                }
                truncated.map(|_| ())
            }
            other => other.map(|_| ()),
        };
        if let Err(e) = result {
            if pool.is_closed() {
                return;
            }
            tracing::warn!("WAL checkpoint failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a reader holding a snapshot, passive checkpoints cannot start the log over;
    /// once it is past its limit, the next checkpoint waits for that reader and empties it.
    #[tokio::test]
    async fn a_long_log_is_emptied_once_its_readers_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let pool = connect(&path, 3).await.unwrap();
        sqlx::query("CREATE TABLE t (x BLOB)").execute(&pool).await.unwrap();
        let mut reader = pool.begin().await.unwrap();
        let _: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        for _ in 0..300 {
            sqlx::query("INSERT INTO t VALUES (zeroblob(4000))")
                .execute(&pool)
                .await
                .unwrap();
        }
        let wal = dir.path().join("wal.db-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(size() > 300 * 4000, "the log holds the writes");
        tokio::spawn(checkpoint_in_background(
            pool.clone(),
            Default::default(),
            Duration::from_millis(20),
            100,
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(size() > 300 * 4000, "not while the reader is on it");
        reader.rollback().await.unwrap();
        let started = std::time::Instant::now();
        while size() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "emptied once the reader finished"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        pool.close().await;
    }

    /// A writer that begins again as soon as it commits still leaves the log to the
    /// checkpoint: it is emptied while the writes go on.
    #[tokio::test]
    async fn a_writer_without_pause_lets_the_log_be_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let pool = connect(&path, 2).await.unwrap();
        let turn: WriterTurn = std::sync::Arc::new(tokio::sync::Mutex::new(Some(connect(&path, 1).await.unwrap())));
        sqlx::query("CREATE TABLE t (x BLOB)").execute(&pool).await.unwrap();
        tokio::spawn(checkpoint_in_background(
            pool.clone(),
            turn.clone(),
            Duration::from_millis(20),
            100,
        ));
        let wal = dir.path().join("wal.db-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let (mut emptied, mut largest) = (0, 0);
        for round in 0..400 {
            // As `Store::begin_write` does: the turn, then the transaction.
            let writer = turn.lock().await;
            // A checkpoint that emptied the log ran just before this turn.
            emptied += usize::from(round > 0 && size() == 0);
            let mut tx = writer.as_ref().unwrap().begin_with("BEGIN IMMEDIATE").await.unwrap();
            for _ in 0..10 {
                sqlx::query("INSERT INTO t VALUES (zeroblob(4000))")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
            drop(writer);
            largest = largest.max(size());
        }
        // Emptied again and again while the writes went on. How large the log grows
        // between two checkpoints depends on how the machine schedules the two tasks (a
        // loaded CI machine saw 9.9 MB), so only that it was emptied is asserted, and
        // that it never held every commit (400 of 10 pages: 16 MB without checkpoints).
        assert!(
            emptied >= 2,
            "the log was emptied {emptied} times; it grew to {largest} bytes"
        );
        assert!(largest < 400 * 10 * 4000, "the log grew to {largest} bytes");
        pool.close().await;
    }
}
