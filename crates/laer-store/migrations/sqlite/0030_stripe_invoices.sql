-- Stripe invoices and credit notes as a sync or an event read them (issue 17): each
-- invoice's JSON with all its line items (service periods, prices, quantities,
-- prorations), and each credit note's. A subscription's history before laer first saw it
-- and its metered (usage) MRR are worked out from these by the written rules
-- (laer_core::billing::invoices).
CREATE TABLE stripe_invoices (
    invoice_id      TEXT PRIMARY KEY,
    subscription_id TEXT,
    customer_id     TEXT,
    created         INTEGER NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX stripe_invoices_subscription ON stripe_invoices(subscription_id);
CREATE TABLE stripe_credit_notes (
    credit_note_id TEXT PRIMARY KEY,
    invoice_id     TEXT NOT NULL,
    body           TEXT NOT NULL
);
CREATE INDEX stripe_credit_notes_invoice ON stripe_credit_notes(invoice_id);
