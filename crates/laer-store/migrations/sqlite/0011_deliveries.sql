-- Emails and webhooks (docs/automation.md#emails-and-webhooks).
-- webhooks: endpoints subscribed to event types (comma-separated, or *); the secret signs
-- each request (HMAC-SHA256), so it is kept as given.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    disabled_at INTEGER
);

-- The outbox: every email and webhook request to send, written in the same transaction
-- as the change it tells of. A node claims due ones for a while (claimed_until), sends
-- them, and records the outcome; failures are retried with backoff until they give up.
-- dedup_key makes an email of a playbook run unique per recipient.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    event           TEXT NOT NULL,
    webhook_id      INTEGER REFERENCES webhooks(id),
    recipient       TEXT,
    account_id      INTEGER,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    dedup_key       TEXT UNIQUE
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
