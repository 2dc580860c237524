-- Which accounts each change listed under a revision touched, by the revision's name and
-- the number the change moved it to (issue 20): `health` (each save of health) and
-- `portfolio` (accounts, contracts, coverage). Pages keep what they show and, when a
-- revision moves, read again only the accounts listed since, instead of every account.
-- `accounts` is a JSON array of account ids, or NULL when the change touched too many, or
-- did not say which (readers read everything again). Only the latest rows of each
-- revision are kept (WriteTx::bump_listed). It replaces health_changes, which listed
-- health only; readers behind it read everything once.
CREATE TABLE revision_changes (
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    accounts TEXT,
    PRIMARY KEY (name, revision)
);
DROP TABLE health_changes;
