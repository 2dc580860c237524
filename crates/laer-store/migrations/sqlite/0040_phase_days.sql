-- Each account's LAER phase on a past day (the first day of a quarter the NRR bridge
-- shows), kept once by the rules that placed it (`rules`: the health model's phase key)
-- instead of assessed again on every look (issue 20). Today's data does not change a
-- past day's phase; a write to an account's own history does, and marks it in
-- phase_stale until the engine has assessed its kept days again.
CREATE TABLE phase_days (
    rules      TEXT NOT NULL,
    day        INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    phase      TEXT NOT NULL,
    PRIMARY KEY (rules, day, account_id)
) WITHOUT ROWID;
CREATE INDEX phase_days_day ON phase_days(day);

-- Accounts whose history changed on or before a kept day: their kept phases from
-- `since_day` on wait for the engine. `marks` counts the writes, so that a re-assessment
-- clears only the marks it has seen (as health_dirty's claims do).
CREATE TABLE phase_stale (
    account_id INTEGER PRIMARY KEY,
    since_day  INTEGER NOT NULL,
    marks      INTEGER NOT NULL
);

-- `past_phases`: the kept phases and their marks; `phase_marks`: the marks alone (a
-- keeper compares it with what it read before assessing).
INSERT INTO revisions (name, n) VALUES ('past_phases', 0);
INSERT INTO revisions (name, n) VALUES ('phase_marks', 0);
