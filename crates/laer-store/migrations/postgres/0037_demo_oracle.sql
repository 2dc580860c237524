-- The demo company's renewal decisions and the true chance that each customer would
-- leave at them (the generator's latent state): the oracle laer's churn forecast is
-- scored against (docs/forecasts.md). Only `laer demo` writes it; elsewhere it is empty.
CREATE TABLE demo_oracle (
    account_id        BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    decided_on        BIGINT NOT NULL,
    churn_probability DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (account_id, decided_on)
);
