-- Accounts marked for rescoring are claimed, not taken (issue 15): a pass sets claim
-- (a random token) and claimed_until (unix seconds), and deletes only the rows still
-- holding its token once their health is saved. A node that dies mid-pass leaves its
-- rows marked; another claims them when claimed_until has passed. Marking an account
-- again clears its claim, so a change made during a pass is scored on the next.
ALTER TABLE health_dirty ADD COLUMN claim BIGINT;
ALTER TABLE health_dirty ADD COLUMN claimed_until BIGINT;
CREATE INDEX health_dirty_claim ON health_dirty(claim);
