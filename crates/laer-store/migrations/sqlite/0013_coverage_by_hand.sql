-- An owner assigned by hand (`laer coverage assign`, the account page) keeps the role
-- until someone changes it: the coverage rules leave roles held by hand alone.
ALTER TABLE coverage_assignments ADD COLUMN by_hand INTEGER NOT NULL DEFAULT 0;
