-- Stripe read by laer (issue 17). Each state of a subscription as laer saw it, from the
-- moment it saw it: its MRR over time is worked out again from these by the written rules
-- (laer_core::billing), whatever order syncs and events came in. And each Stripe customer
-- with the account it is linked to (by the metadata key, or by hand).
CREATE TABLE stripe_subscription_states (
    subscription_id TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    since           BIGINT NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (subscription_id, since)
);
CREATE TABLE stripe_customers (
    customer_id    TEXT PRIMARY KEY,
    account_id     BIGINT REFERENCES accounts(id),
    linked_by_hand BIGINT NOT NULL DEFAULT 0,
    email          TEXT,
    name           TEXT,
    synced_at      BIGINT NOT NULL
);
