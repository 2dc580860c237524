-- Records entered by hand (issue 14): contract lines and support cases can be changed
-- on their forms, so each carries a version that every update checks and increments
-- (a stale edit is refused, StoreError::Stale); an import that changes a row
-- increments it too.
ALTER TABLE subscriptions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE support_cases ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
