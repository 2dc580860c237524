-- Exchange rates the admin gives (issue 17; the import kind exchange-rates): from day on,
-- one unit of currency (ISO 4217, lowercase) is worth rate hundred-millionths of the
-- reporting currency. And a contract line billed in another currency keeps that currency
-- and its MRR in it (ten-thousandths); its mrr is then at the latest rate, and the MRR
-- movements and the NRR bridge value it at each day's (laer_core::fx).
CREATE TABLE exchange_rates (
    currency TEXT NOT NULL,
    day      TEXT NOT NULL,
    rate     INTEGER NOT NULL CHECK (rate > 0),
    PRIMARY KEY (currency, day)
);
ALTER TABLE subscriptions ADD COLUMN currency TEXT;
ALTER TABLE subscriptions ADD COLUMN original_mrr INTEGER;
