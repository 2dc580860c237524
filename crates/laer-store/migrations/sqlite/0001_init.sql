-- laer's data model on SQLite. Times are microseconds since the Unix epoch (UTC),
-- dates are YYYY-MM-DD text, money is an integer count of ten-thousandths.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    external_id   TEXT NOT NULL UNIQUE,
    name          TEXT,
    segment       TEXT,
    channel       TEXT,
    country       TEXT,
    date_of_birth TEXT,
    attributes    TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE contacts (
    id               INTEGER PRIMARY KEY,
    external_id      TEXT NOT NULL UNIQUE,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    name             TEXT,
    email            TEXT,
    title            TEXT,
    stakeholder_team TEXT,
    role             TEXT
);
CREATE INDEX contacts_account ON contacts(account_id);

CREATE TABLE product_users (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    email       TEXT,
    name        TEXT,
    department  TEXT,
    created_at  INTEGER
);
CREATE INDEX product_users_account ON product_users(account_id);

CREATE TABLE subscriptions (
    id                 INTEGER PRIMARY KEY,
    external_id        TEXT NOT NULL UNIQUE,
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    product            TEXT NOT NULL,
    start_date         TEXT NOT NULL,
    end_date           TEXT,
    mrr                INTEGER NOT NULL,
    quantity           REAL,
    units              TEXT,
    bill_period_months INTEGER NOT NULL,
    discount           REAL
);
CREATE INDEX subscriptions_account ON subscriptions(account_id, start_date);

CREATE TABLE event_types (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL UNIQUE
);

-- Clustered by account and time: an account's history is one contiguous range, and
-- imports sorted that way append.
CREATE TABLE events (
    account_id    INTEGER NOT NULL,
    occurred_at   INTEGER NOT NULL,
    dedup_key     INTEGER NOT NULL,
    event_type_id INTEGER NOT NULL,
    user_ref      TEXT,
    value         REAL,
    PRIMARY KEY (account_id, occurred_at, dedup_key)
) WITHOUT ROWID;

CREATE TABLE support_cases (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    opened_at   INTEGER NOT NULL,
    closed_at   INTEGER,
    severity    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    subject     TEXT
);
CREATE INDEX support_cases_account ON support_cases(account_id, opened_at);

CREATE TABLE meetings (
    id               INTEGER PRIMARY KEY,
    external_id      TEXT NOT NULL UNIQUE,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    held_at          INTEGER NOT NULL,
    stakeholder_team TEXT,
    kind             TEXT,
    status           TEXT NOT NULL,
    duration_minutes INTEGER,
    notes            TEXT
);
CREATE INDEX meetings_account ON meetings(account_id, held_at);

CREATE TABLE survey_responses (
    id           INTEGER PRIMARY KEY,
    external_id  TEXT NOT NULL UNIQUE,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    contact_ref  TEXT,
    survey       TEXT NOT NULL,
    score        INTEGER NOT NULL,
    responded_at INTEGER NOT NULL,
    comment      TEXT
);
CREATE INDEX survey_responses_account ON survey_responses(account_id, responded_at);

CREATE TABLE outcomes (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    unit        TEXT,
    baseline    REAL NOT NULL,
    target      REAL NOT NULL,
    start_date  TEXT,
    target_date TEXT
);
CREATE INDEX outcomes_account ON outcomes(account_id);

CREATE TABLE outcome_measurements (
    id          INTEGER PRIMARY KEY,
    outcome_id  INTEGER NOT NULL REFERENCES outcomes(id),
    measured_on TEXT NOT NULL,
    value       REAL NOT NULL,
    UNIQUE (outcome_id, measured_on)
);

CREATE TABLE team_members (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    email       TEXT,
    roles       TEXT NOT NULL DEFAULT ''
);

CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    account_id  INTEGER REFERENCES accounts(id),
    assignee_id INTEGER REFERENCES team_members(id),
    title       TEXT NOT NULL,
    due_on      TEXT,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX tasks_account ON tasks(account_id);
CREATE INDEX tasks_assignee ON tasks(assignee_id, status);

CREATE TABLE audit_entries (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
