-- Health (docs/health.md).
-- A phase set by hand wins over the rules until cleared; every change is also written
-- to audit_entries with who, when and why.
CREATE TABLE phase_overrides (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    phase      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    set_by     TEXT NOT NULL,
    set_at     INTEGER NOT NULL
);

-- Health per account and calendar day (days since 1970-01-01): the latest computation
-- of that day. drivers: JSON array of {measure, pillar, value, score, contribution, possible}.
CREATE TABLE health_scores (
    account_id     INTEGER NOT NULL,
    day            INTEGER NOT NULL,
    score          REAL,
    adoption       REAL,
    experience     REAL,
    engagement     REAL,
    transformation REAL,
    quadrant       TEXT,
    phase          TEXT NOT NULL,
    phase_reason   TEXT NOT NULL,
    drivers        TEXT NOT NULL,
    computed_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
);
CREATE INDEX health_scores_day ON health_scores(day);

-- Accounts whose data changed since their health was last computed.
CREATE TABLE health_dirty (
    account_id INTEGER PRIMARY KEY
);

INSERT INTO revisions (name, n) VALUES ('health', 0);

-- The latest validations of health models on history (laer report health-validation):
-- the report as JSON, per model name.
CREATE TABLE health_validations (
    id          INTEGER PRIMARY KEY,
    model       TEXT NOT NULL,
    computed_at INTEGER NOT NULL,
    report      TEXT NOT NULL
);
