-- The agreed meeting cadence per account and customer stakeholder team (Engagement
-- measures the meetings held against it): a meeting every `every_days` days (1 to 366).
-- `stakeholder_team` is the team's label as contacts and meetings store it, compared
-- byte by byte (COLLATE "C") as SQLite compares text, so that both order teams alike.
CREATE TABLE meeting_cadences (
    account_id       BIGINT NOT NULL REFERENCES accounts(id),
    stakeholder_team TEXT COLLATE "C" NOT NULL,
    every_days       INTEGER NOT NULL,
    PRIMARY KEY (account_id, stakeholder_team)
);
