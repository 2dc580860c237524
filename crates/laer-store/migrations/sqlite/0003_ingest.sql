-- Segment-compatible ingest: write keys, the log of every accepted call (deduplicated
-- by messageId), and which account each user belongs to.
CREATE TABLE write_keys (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE ingest_messages (
    message_id   TEXT PRIMARY KEY,
    write_key_id INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    user_key     TEXT NOT NULL,
    user_ref     TEXT,
    event        TEXT,
    value        REAL,
    occurred_at  INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    payload      TEXT NOT NULL,
    -- usage calls: 0 until the event is stored for the user's account
    attributed   INTEGER NOT NULL
);
CREATE INDEX ingest_messages_pending ON ingest_messages(user_key, occurred_at) WHERE attributed = 0;

CREATE TABLE user_accounts (
    user_key   TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id)
);
