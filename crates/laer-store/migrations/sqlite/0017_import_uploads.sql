-- Importing in the browser (docs/import.md#importing-in-the-browser).
-- import_uploads: a file uploaded for import, kept in the database so that any node can
-- preview and import it (nodes share no disk); its bytes are in import_upload_chunks,
-- about 1 MiB each, in order of seq. completed_at is set once the whole file is stored.
-- An upload is deleted when its import commits, or a day after it was made.
CREATE TABLE import_uploads (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    completed_at INTEGER,
    bytes        INTEGER NOT NULL DEFAULT 0,
    chunks       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX import_uploads_created ON import_uploads(created_at);

CREATE TABLE import_upload_chunks (
    upload_id INTEGER NOT NULL REFERENCES import_uploads(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    bytes     BLOB NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

-- import_runs: the history of imports, from the browser and from `laer import`. A running
-- import's node updates rows_done, bytes_done and heartbeat_at every few seconds; a run
-- whose heartbeat stops is shown as failed (laer_core::import_runs). row_errors holds the
-- first rejected rows as JSON ({line, column, message}), error_count all of them.
-- upload_id has no foreign key: the upload is deleted when its import commits.
CREATE TABLE import_runs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    actor        TEXT NOT NULL,
    source       TEXT NOT NULL,
    upload_id    INTEGER,
    status       TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    finished_at  INTEGER,
    bytes_total  INTEGER,
    bytes_done   INTEGER NOT NULL DEFAULT 0,
    rows_done    INTEGER NOT NULL DEFAULT 0,
    written      INTEGER NOT NULL DEFAULT 0,
    unchanged    INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    row_errors   TEXT,
    error_count  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX import_runs_started ON import_runs(started_at);
