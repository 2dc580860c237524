-- Tracking keys are for usage only (issue 15).
--
-- A messageId is unique per write key, not across keys: the log's key becomes
-- (write_key_id, message_id), so that one key's messageId can no longer drop another
-- key's call. SQLite cannot change a primary key in place: the table is rebuilt with its
-- rows and indexes.
CREATE TABLE ingest_messages_by_key (
    message_id   TEXT NOT NULL,
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
    attributed   INTEGER NOT NULL,
    PRIMARY KEY (write_key_id, message_id)
);
INSERT INTO ingest_messages_by_key
    SELECT message_id, write_key_id, kind, user_key, user_ref, event, value, occurred_at, received_at, payload, attributed
    FROM ingest_messages;
DROP TABLE ingest_messages;
ALTER TABLE ingest_messages_by_key RENAME TO ingest_messages;
CREATE INDEX ingest_messages_pending ON ingest_messages(user_key, occurred_at) WHERE attributed = 0;
CREATE INDEX ingest_messages_identify ON ingest_messages(user_key, occurred_at) WHERE kind = 'identify';

-- What tracking calls last wrote to a field of an account ('account', its external id,
-- 'name' or 'attributes.KEY') or a product user ('product_user', its external id, 'email',
-- 'name', 'department', 'created_at'). A field whose value is still the one tracking
-- wrote is tracking's to change; any other value came from an import, a connector or the
-- app, and tracking may only fill in blanks (laer_core::tracking).
CREATE TABLE tracking_values (
    record_kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (record_kind, external_id, field)
);
