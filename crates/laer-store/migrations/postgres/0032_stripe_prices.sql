-- Stripe prices as a sync or an event read them (issue 17): newer API versions name an
-- invoice line's price by its id alone, and a price an item no longer has is found here.
CREATE TABLE stripe_prices (
    price_id TEXT PRIMARY KEY,
    body     TEXT NOT NULL
);
