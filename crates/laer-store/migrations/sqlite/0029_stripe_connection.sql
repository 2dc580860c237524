-- A connected Stripe account (issue 17, items 1, 2 and 4): its read key and webhook
-- signing secret sealed with the server key (secrets.rs, SEALED_COLUMNS), how it links
-- and counts (settings, JSON), and its sync as every node sees it — which node holds it
-- (a lease renewed by a heartbeat), the stage and page it reached (where an interrupted
-- sync resumes), its counts, and how the last one ended. One row.
CREATE TABLE stripe_connection (
    id                     INTEGER PRIMARY KEY CHECK (id = 1),
    api_key                TEXT NOT NULL,
    api_key_key_id         TEXT,
    webhook_secret         TEXT,
    webhook_secret_key_id  TEXT,
    api_base               TEXT NOT NULL,
    settings               TEXT NOT NULL,
    connected_at           INTEGER NOT NULL,
    connected_by           TEXT NOT NULL,
    sync_requested         INTEGER NOT NULL DEFAULT 1,
    sync_owner             TEXT,
    sync_heartbeat         INTEGER,
    sync_started_at        INTEGER,
    sync_stage             TEXT,
    sync_cursor            TEXT,
    sync_progress          TEXT,
    sync_finished_at       INTEGER,
    sync_error             TEXT,
    last_report            TEXT,
    webhook_received_at    INTEGER,
    webhook_refused_at     INTEGER,
    webhook_refused_reason TEXT
);
-- Each Stripe event laer has taken, by id: a redelivered event is taken once.
CREATE TABLE stripe_events (
    event_id    TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    created     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    outcome     TEXT NOT NULL
);
-- Product names, for the contract lines' product.
CREATE TABLE stripe_products (
    product_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL
);
-- Why a customer is linked to no account (JSON, laer_core::billing::connection::Unmatched).
ALTER TABLE stripe_customers ADD COLUMN unmatched TEXT;
CREATE INDEX stripe_states_customer ON stripe_subscription_states(customer_id);
