//! Importing in the browser: uploaded files kept in the database in chunks, so that any
//! node can preview and import them (several nodes share the database, not a disk), and
//! the history of imports (`import_runs`), from the browser and from `laer import`.
//!
//! A running import records its progress and a heartbeat every few seconds. On
//! PostgreSQL that is an update of its row, which any node reads. SQLite has one writer
//! at a time, and the import's own transaction holds it until the end; so on SQLite the
//! progress of imports running in this process is kept beside the pool (`live`) and laid
//! over their rows when they are read. An SQLite database is served by one process, so
//! its pages see every import it runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use laer_core::import_runs::{RunState, RunStatus, run_state};
use serde::Serialize;

use crate::decode::Column;
use crate::exec::params;
use crate::{Backend, Store, StoreError, WriteTx};

/// How many bytes of an upload one chunk holds (the last may hold fewer).
pub const UPLOAD_CHUNK_BYTES: usize = 1 << 20;

/// How long an upload is kept when no import commits it.
pub const UPLOAD_KEPT_HOURS: i64 = 24;

/// A file uploaded for import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub id: i64,
    /// The import kind chosen when it was uploaded.
    pub kind: String,
    pub file_name: String,
    /// Who uploaded it, as the audit log names people.
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
    /// When the whole file was stored; `None` while (or if) the upload is unfinished.
    pub completed_at: Option<DateTime<Utc>>,
    pub bytes: i64,
    pub chunks: i64,
}

/// An import as its history shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportRun {
    pub id: i64,
    pub kind: String,
    pub file_name: String,
    pub actor: String,
    /// `web` or `cli`.
    pub source: String,
    pub upload_id: Option<i64>,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub bytes_total: Option<i64>,
    pub bytes_done: i64,
    pub rows: i64,
    pub written: i64,
    pub unchanged: i64,
    /// What went wrong, in a sentence (a failed run).
    pub error: Option<String>,
    /// The first rejected rows, as the import reported them (`{line, column, message}`).
    pub row_errors: serde_json::Value,
    /// How many rows were rejected in all.
    pub error_count: i64,
}

impl ImportRun {
    /// Where the run stands as of `now`: a running run without a recent heartbeat is lost.
    pub fn state(&self, now: DateTime<Utc>) -> RunState {
        run_state(self.status, self.heartbeat_at, now)
    }
}

/// A run about to start.
#[derive(Debug, Clone)]
pub struct NewImportRun<'a> {
    pub kind: &'a str,
    pub file_name: &'a str,
    pub actor: &'a str,
    /// `web` or `cli`.
    pub source: &'a str,
    pub upload_id: Option<i64>,
    pub bytes_total: Option<i64>,
}

/// How far a running import has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub rows: i64,
    pub bytes: i64,
}

/// What a run wrote, recorded when its transaction commits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOutcome {
    pub rows: i64,
    pub bytes: i64,
    pub written: i64,
    pub unchanged: i64,
}

/// The progress of imports running in this process (SQLite only; see the module's text).
#[derive(Clone, Default)]
pub(crate) struct LiveRuns(Arc<Mutex<HashMap<i64, (i64, RunProgress)>>>);

impl LiveRuns {
    fn set(&self, run: i64, at: i64, progress: RunProgress) {
        if let Ok(mut live) = self.0.lock() {
            live.insert(run, (at, progress));
        }
    }

    fn end(&self, run: i64) {
        if let Ok(mut live) = self.0.lock() {
            live.remove(&run);
        }
    }

    fn overlay(&self, row: &mut RunRow) {
        if row.status != "running" {
            return;
        }
        if let Some((at, progress)) = self.0.lock().ok().and_then(|live| live.get(&row.id).copied()) {
            row.heartbeat_at = row.heartbeat_at.max(at);
            row.rows_done = progress.rows;
            row.bytes_done = progress.bytes;
        }
    }
}

#[derive(sqlx::FromRow)]
struct UploadRow {
    id: i64,
    kind: String,
    file_name: String,
    uploaded_by: String,
    created_at: i64,
    completed_at: Option<i64>,
    bytes: i64,
    chunks: i64,
}

impl UploadRow {
    fn into_upload(self) -> Result<Upload, StoreError> {
        Ok(Upload {
            created_at: Column("import_uploads", "created_at").instant(self.created_at)?,
            completed_at: Column("import_uploads", "completed_at").opt_instant(self.completed_at)?,
            id: self.id,
            kind: self.kind,
            file_name: self.file_name,
            uploaded_by: self.uploaded_by,
            bytes: self.bytes,
            chunks: self.chunks,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    kind: String,
    file_name: String,
    actor: String,
    source: String,
    upload_id: Option<i64>,
    status: String,
    started_at: i64,
    heartbeat_at: i64,
    finished_at: Option<i64>,
    bytes_total: Option<i64>,
    bytes_done: i64,
    rows_done: i64,
    written: i64,
    unchanged: i64,
    error: Option<String>,
    row_errors: Option<String>,
    error_count: i64,
}

const RUN_COLUMNS: &str = "id, kind, file_name, actor, source, upload_id, status, started_at, heartbeat_at, \
     finished_at, bytes_total, bytes_done, rows_done, written, unchanged, error, row_errors, error_count";

impl RunRow {
    fn into_run(self) -> Result<ImportRun, StoreError> {
        let column = |name| Column("import_runs", name);
        Ok(ImportRun {
            status: column("status").parsed(&self.status)?,
            started_at: column("started_at").instant(self.started_at)?,
            heartbeat_at: column("heartbeat_at").instant(self.heartbeat_at)?,
            finished_at: column("finished_at").opt_instant(self.finished_at)?,
            row_errors: match &self.row_errors {
                Some(text) => column("row_errors").json(text)?,
                None => serde_json::Value::Array(Vec::new()),
            },
            id: self.id,
            kind: self.kind,
            file_name: self.file_name,
            actor: self.actor,
            source: self.source,
            upload_id: self.upload_id,
            bytes_total: self.bytes_total,
            bytes_done: self.bytes_done,
            rows: self.rows_done,
            written: self.written,
            unchanged: self.unchanged,
            error: self.error,
            error_count: self.error_count,
        })
    }
}

impl Store {
    /// External id (or name) to laer id, read outside any transaction: what a preview of
    /// an import resolves references against ([`WriteTx::id_lookup`] for the import).
    pub async fn id_lookup(&self, lookup: crate::IdLookup) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<crate::write::KeyId> = self.fetch_all(lookup.sql(), params![]).await?;
        Ok(rows.into_iter().map(|r| (r.key, r.id)).collect())
    }

    /// Starts an upload; its chunks follow ([`Store::add_upload_chunk`]). Uploads older
    /// than [`UPLOAD_KEPT_HOURS`] are deleted first, so that abandoned ones do not pile up.
    pub async fn create_upload(&self, kind: &str, file_name: &str, uploaded_by: &str) -> Result<i64, StoreError> {
        let now = Utc::now();
        self.delete_stale_uploads(now - chrono::TimeDelta::hours(UPLOAD_KEPT_HOURS))
            .await?;
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO import_uploads (kind, file_name, uploaded_by, created_at) VALUES ($1, $2, $3, $4) \
                 RETURNING id",
                params![kind, file_name, uploaded_by, now.timestamp_micros()],
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Stores the `seq`th chunk of an upload (from 0), in a transaction of its own: a long
    /// upload never holds the database's writer for longer than one chunk. Storing the
    /// same chunk again replaces it.
    pub async fn add_upload_chunk(&self, upload: i64, seq: i64, bytes: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "INSERT INTO import_upload_chunks (upload_id, seq, bytes) VALUES ($1, $2, $3) \
             ON CONFLICT (upload_id, seq) DO UPDATE SET bytes = excluded.bytes",
            params![upload, seq, bytes],
        )
        .await?;
        tx.commit().await
    }

    /// Marks an upload whole: `bytes` in `chunks` chunks.
    pub async fn complete_upload(&self, upload: i64, bytes: i64, chunks: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                "UPDATE import_uploads SET completed_at = $2, bytes = $3, chunks = $4 WHERE id = $1",
                params![upload, Utc::now().timestamp_micros(), bytes, chunks],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("upload {upload}")));
        }
        tx.commit().await
    }

    pub async fn upload(&self, id: i64) -> Result<Option<Upload>, StoreError> {
        let row: Option<UploadRow> = self
            .fetch_optional(
                "SELECT id, kind, file_name, uploaded_by, created_at, completed_at, bytes, chunks \
                 FROM import_uploads WHERE id = $1",
                params![id],
            )
            .await?;
        row.map(UploadRow::into_upload).transpose()
    }

    /// The `seq`th chunk of an upload, or `None` past its end.
    pub async fn upload_chunk(&self, upload: i64, seq: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = self
            .fetch_optional(
                "SELECT bytes FROM import_upload_chunks WHERE upload_id = $1 AND seq = $2",
                params![upload, seq],
            )
            .await?;
        Ok(row.map(|(bytes,)| bytes))
    }

    /// Deletes an upload and its chunks (nothing when there is none).
    pub async fn delete_upload(&self, id: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.delete_upload(id).await?;
        tx.commit().await
    }

    /// Deletes the uploads made before `before`, with their chunks; how many.
    pub async fn delete_stale_uploads(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        // Chunks first: a cascade would do it, but the statement says what goes.
        tx.execute(
            "DELETE FROM import_upload_chunks WHERE upload_id IN \
             (SELECT id FROM import_uploads WHERE created_at < $1)",
            params![before.timestamp_micros()],
        )
        .await?;
        let deleted = tx
            .execute(
                "DELETE FROM import_uploads WHERE created_at < $1",
                params![before.timestamp_micros()],
            )
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Records that an import starts; its id.
    pub async fn start_import_run(&self, run: &NewImportRun<'_>) -> Result<i64, StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO import_runs (kind, file_name, actor, source, upload_id, status, started_at, \
                 heartbeat_at, bytes_total) VALUES ($1, $2, $3, $4, $5, 'running', $6, $6, $7) RETURNING id",
                params![
                    run.kind,
                    run.file_name,
                    run.actor,
                    run.source,
                    run.upload_id,
                    now,
                    run.bytes_total
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records a running import's progress, and that it is alive.
    pub async fn import_heartbeat(&self, run: i64, progress: RunProgress) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_micros();
        match self.backend() {
            // The import's transaction holds SQLite's one writer: keep it beside the pool.
            Backend::Sqlite => {
                self.live_runs.set(run, now, progress);
                Ok(())
            }
            Backend::Postgres => {
                self.execute(
                    "UPDATE import_runs SET heartbeat_at = $2, rows_done = $3, bytes_done = $4 \
                     WHERE id = $1 AND status = 'running'",
                    params![run, now, progress.rows, progress.bytes],
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Records that an import failed (its transaction rolled back): why, and the first
    /// rejected rows (`row_errors`, a JSON list) out of `error_count`.
    pub async fn fail_import_run(
        &self,
        run: i64,
        progress: RunProgress,
        error: &str,
        row_errors: &serde_json::Value,
        error_count: i64,
    ) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        tx.execute(
            "UPDATE import_runs SET status = 'failed', finished_at = $2, heartbeat_at = $2, rows_done = $3, \
             bytes_done = $4, error = $5, row_errors = $6, error_count = $7 WHERE id = $1",
            params![
                run,
                now,
                progress.rows,
                progress.bytes,
                error,
                row_errors.to_string(),
                error_count
            ],
        )
        .await?;
        tx.commit().await?;
        self.live_runs.end(run);
        Ok(())
    }

    /// The most recent imports, newest first.
    pub async fn import_runs(&self, limit: i64) -> Result<Vec<ImportRun>, StoreError> {
        let rows: Vec<RunRow> = self
            .fetch_all(
                &format!("SELECT {RUN_COLUMNS} FROM import_runs ORDER BY started_at DESC, id DESC LIMIT $1"),
                params![limit],
            )
            .await?;
        rows.into_iter()
            .map(|mut row| {
                self.live_runs.overlay(&mut row);
                row.into_run()
            })
            .collect()
    }

    pub async fn import_run(&self, id: i64) -> Result<Option<ImportRun>, StoreError> {
        let row: Option<RunRow> = self
            .fetch_optional(
                &format!("SELECT {RUN_COLUMNS} FROM import_runs WHERE id = $1"),
                params![id],
            )
            .await?;
        row.map(|mut row| {
            self.live_runs.overlay(&mut row);
            row.into_run()
        })
        .transpose()
    }

    /// Forgets this process's progress of a run once its outcome is committed.
    pub fn end_live_run(&self, run: i64) {
        self.live_runs.end(run);
    }
}

impl WriteTx {
    /// Records, in the import's own transaction, that it is done: the history shows it
    /// exactly when its rows are committed.
    pub async fn finish_import_run(&mut self, run: i64, outcome: RunOutcome) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_micros();
        self.execute(
            "UPDATE import_runs SET status = 'done', finished_at = $2, heartbeat_at = $2, rows_done = $3, \
             bytes_done = $4, written = $5, unchanged = $6 WHERE id = $1",
            params![
                run,
                now,
                outcome.rows,
                outcome.bytes,
                outcome.written,
                outcome.unchanged
            ],
        )
        .await?;
        Ok(())
    }

    /// Deletes an upload and its chunks, in this transaction (an import that commits
    /// deletes its upload with it).
    pub async fn delete_upload(&mut self, id: i64) -> Result<(), StoreError> {
        self.execute("DELETE FROM import_upload_chunks WHERE upload_id = $1", params![id])
            .await?;
        self.execute("DELETE FROM import_uploads WHERE id = $1", params![id])
            .await?;
        Ok(())
    }
}
