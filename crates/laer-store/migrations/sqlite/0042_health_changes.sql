-- Which accounts each save of health changed, by the health revision the save moved to
-- (issue 20): the pages keep every account's latest health and, when the revision moves,
-- read again only the accounts saved since, instead of every account. `accounts` is a
-- JSON array of account ids, or NULL when a save changed so many that reading them all
-- again is as quick. The save keeps the latest rows only (Store::save_health); a page
-- further behind reads everything again.
CREATE TABLE health_changes (
    revision INTEGER PRIMARY KEY,
    accounts TEXT
);
