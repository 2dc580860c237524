-- The coverage model and playbooks (docs/automation.md).
-- settings: the coverage rules and playbooks as edited on the admin pages (TOML text);
-- without a row the shipped defaults or the files given to `laer serve` apply.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- Each firing of a playbook for an account, once per cause: the unique key makes a
-- second firing for the same cause a no-op, whichever node tries it; an episode stays
-- open (is_open = 1, at most one per playbook and account) until its condition settles.
CREATE TABLE playbook_runs (
    id          INTEGER PRIMARY KEY,
    playbook    TEXT NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    cause       TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    fired_on    TEXT NOT NULL,
    fired_at    INTEGER NOT NULL,
    is_open     INTEGER NOT NULL,
    quiet_since TEXT,
    closed_on   TEXT,
    UNIQUE (playbook, account_id, cause)
);
CREATE UNIQUE INDEX playbook_runs_open ON playbook_runs(playbook, account_id) WHERE is_open = 1;
CREATE INDEX playbook_runs_account ON playbook_runs(account_id);

-- Tasks know the role they are for, the playbook run that created them and why, their
-- steps (JSON array of text) and context; they can be snoozed and commented.
ALTER TABLE tasks ADD COLUMN role TEXT;
ALTER TABLE tasks ADD COLUMN playbook TEXT;
ALTER TABLE tasks ADD COLUMN run_id INTEGER REFERENCES playbook_runs(id);
ALTER TABLE tasks ADD COLUMN cause TEXT;
ALTER TABLE tasks ADD COLUMN steps TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN context TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN snoozed_until TEXT;
ALTER TABLE tasks ADD COLUMN done_at INTEGER;
CREATE INDEX tasks_status_due ON tasks(status, due_on);

CREATE TABLE task_comments (
    id      INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    at      INTEGER NOT NULL,
    author  TEXT NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX task_comments_task ON task_comments(task_id);
