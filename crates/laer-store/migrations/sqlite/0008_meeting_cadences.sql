-- The agreed meeting cadence per account and customer stakeholder team (Engagement
-- measures the meetings held against it): a meeting every `every_days` days (1 to 366).
-- `stakeholder_team` is the team's label as contacts and meetings store it. Clustered by
-- account: one account's cadences are one key range.
CREATE TABLE meeting_cadences (
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    stakeholder_team TEXT NOT NULL,
    every_days       INTEGER NOT NULL,
    PRIMARY KEY (account_id, stakeholder_team)
) WITHOUT ROWID;
