-- The web app: the contract renewal date of an account, who covers each account in
-- which role (the coverage model), the people who log in, their sessions, and the
-- bearer tokens of API clients. Secrets are stored only as SHA-256 (tokens) or argon2
-- (passwords) hashes.
ALTER TABLE accounts ADD COLUMN renewal_date TEXT;
CREATE INDEX accounts_renewal ON accounts(renewal_date) WHERE renewal_date IS NOT NULL;

CREATE TABLE coverage_assignments (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    team_member_id INTEGER NOT NULL REFERENCES team_members(id),
    role           TEXT NOT NULL,
    since          TEXT NOT NULL,
    until          TEXT,
    reason         TEXT NOT NULL DEFAULT '',
    UNIQUE (account_id, role, team_member_id, since)
);
CREATE INDEX coverage_current ON coverage_assignments(team_member_id, role) WHERE until IS NULL;

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    team_member_id INTEGER REFERENCES team_members(id),
    created_at     INTEGER NOT NULL,
    disabled_at    INTEGER
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
