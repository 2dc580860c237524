-- The revision of the records health is computed from (issue 20): subscription lines,
-- support cases, touchpoints, survey answers, contacts, cadences, outcomes and their
-- measurements, product users' departments, phases set by hand, and accounts. Every
-- write that marks an account's health for computing again, other than tracked events,
-- moves it and lists the account (revision_changes), so that the health engine keeps
-- every account's records between its passes and reads again only those listed.
INSERT INTO revisions (name, n) VALUES ('health_records', 0);
