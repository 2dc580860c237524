-- The renewal forecast (docs/forecasts.md). The owner's call on a renewal: a category
-- and the ARR they expect to renew (ten-thousandths, as money everywhere), with why; one
-- per account and renewal date, replaced when made again, audited.
CREATE TABLE renewal_calls (
    account_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    renewal_date BIGINT NOT NULL,
    category     TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    set_by       TEXT NOT NULL,
    set_at       BIGINT NOT NULL,
    PRIMARY KEY (account_id, renewal_date)
);

-- Each quarter's forecast as made at its start (JSON: laer_core::forecast::renewal::
-- Snapshot), kept once, compared with what happened once the quarter has closed.
CREATE TABLE renewal_forecasts (
    quarter  TEXT PRIMARY KEY,
    taken_on BIGINT NOT NULL,
    snapshot TEXT NOT NULL
);
