-- Syncs (issue 18, item 3): a Singer tap laer runs on a schedule into a mapping. The tap
-- is a program in the server's taps directory; its config (which holds the source's
-- credentials) is sealed with the server key (secrets.rs, SEALED_COLUMNS); the mapping is
-- a shipped one's name or the text of a mapping file. The tap's last state is kept here,
-- written in the same transaction as the records before it, and handed back on the next
-- run. Which node runs it is a lease renewed by a heartbeat, as the Stripe sync's.
CREATE TABLE singer_syncs (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    tap            TEXT NOT NULL,
    config         TEXT NOT NULL,
    config_key_id  TEXT,
    catalog        TEXT,
    mapping_name   TEXT NOT NULL,
    mapping_toml   TEXT,
    every_minutes  INTEGER NOT NULL,
    state          TEXT,
    next_run_at    INTEGER,
    requested      INTEGER NOT NULL DEFAULT 0,
    failures       INTEGER NOT NULL DEFAULT 0,
    owner          TEXT,
    heartbeat      INTEGER,
    created_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL
);
-- Each run of a sync: when, by which node, how it ended, its report (JSON: records,
-- written, unmapped and why, per stream) and the end of the tap's error output.
CREATE TABLE singer_sync_runs (
    id          INTEGER PRIMARY KEY,
    sync_id     INTEGER NOT NULL REFERENCES singer_syncs(id) ON DELETE CASCADE,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    node        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    report      TEXT,
    error       TEXT,
    stderr      TEXT
);
CREATE INDEX singer_sync_runs_sync ON singer_sync_runs(sync_id, started_at);
