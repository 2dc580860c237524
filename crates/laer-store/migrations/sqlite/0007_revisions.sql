-- Counters that writers bump when what derived views are made of changes, so that every
-- node can tell with one cheap read whether a view it computed is still current.
-- `portfolio`: accounts, subscriptions, team members, coverage.
CREATE TABLE revisions (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
);
INSERT INTO revisions (name, n) VALUES ('portfolio', 0);
