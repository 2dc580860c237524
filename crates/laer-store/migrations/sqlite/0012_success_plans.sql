-- Success plans (docs/success-plans.md): what the customer wants to achieve, the
-- milestones on the way, and the links that share the plan with the customer.
CREATE TABLE success_plans (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    objective  TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- Implementation milestones: whose work they are (side: customer or vendor), and their
-- order among those due the same day (position). external_id is set for milestones from
-- outside (the demo), NULL for those added in laer.
CREATE TABLE milestones (
    id          INTEGER PRIMARY KEY,
    external_id TEXT UNIQUE,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    title       TEXT NOT NULL,
    due_on      TEXT NOT NULL,
    done_on     TEXT,
    side        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX milestones_account ON milestones(account_id, due_on);

-- A share link's token is a secret in a URL: stored only as its SHA-256 hash (as API
-- tokens are), with its first characters to tell links apart. A revoked link stays
-- listed but finds nothing.
CREATE TABLE plan_share_links (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    token_hash   TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    revoked_by   TEXT
);
CREATE INDEX plan_share_links_account ON plan_share_links(account_id);
