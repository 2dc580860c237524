-- Admin in the browser (docs/access.md).
-- password_links: one-time links to set a password, sent to a person invited (kind
-- 'invite') or whose password an admin reset (kind 'reset'). The token is kept only as
-- its SHA-256 hash; a link is used once (used_at) and not after expires_at.
CREATE TABLE password_links (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_links_user ON password_links(user_id);

-- When each person last logged in; the version every edit of a person checks.
ALTER TABLE users ADD COLUMN last_login_at INTEGER;
ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- The account an audit entry is about (its details' account_id), as a column of its own
-- so that the audit log filters by account with an index on both engines.
ALTER TABLE audit_entries ADD COLUMN account_id INTEGER;
UPDATE audit_entries SET account_id = json_extract(details, '$.account_id')
    WHERE json_type(details, '$.account_id') = 'integer';
CREATE INDEX audit_entries_at ON audit_entries(at, id);
CREATE INDEX audit_entries_account ON audit_entries(account_id, at, id) WHERE account_id IS NOT NULL;
