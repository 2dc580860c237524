-- Issue 14, stakeholders and outcomes (docs/success-plans.md, docs/health.md).
--
-- Contacts: a phone number; deactivated contacts stay listed (inactive) but no longer
-- count for health (deactivated_at, microseconds, NULL while active); `version` for
-- edits that must not overwrite a change made since the form was opened.
ALTER TABLE contacts ADD COLUMN phone TEXT;
ALTER TABLE contacts ADD COLUMN deactivated_at INTEGER;
ALTER TABLE contacts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- Outcomes: which way is better, explicit; existing rows get what their baseline and
-- target imply (a target below the baseline: lower is better).
ALTER TABLE outcomes ADD COLUMN direction TEXT NOT NULL DEFAULT 'higher';
UPDATE outcomes SET direction = 'lower' WHERE target < baseline;
ALTER TABLE outcomes ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- Measurements: where the value comes from, a note, who recorded it (a person, or the
-- customer through a share link) and when. One value per outcome and day stays the
-- rule: a second measurement of the same day replaces the first.
ALTER TABLE outcome_measurements ADD COLUMN source TEXT;
ALTER TABLE outcome_measurements ADD COLUMN note TEXT;
ALTER TABLE outcome_measurements ADD COLUMN recorded_by TEXT;
ALTER TABLE outcome_measurements ADD COLUMN recorded_at INTEGER;

-- A plan whose customer may record measurements through its share links: since when
-- (NULL: not allowed, the default). A plan row may now exist with an empty objective.
ALTER TABLE success_plans ADD COLUMN customer_measurements_since INTEGER;

-- The rate limit of a link's writes, shared by every node: the writes counted in the
-- window that began at customer_window_start.
ALTER TABLE plan_share_links ADD COLUMN customer_window_start INTEGER;
ALTER TABLE plan_share_links ADD COLUMN customer_writes INTEGER NOT NULL DEFAULT 0;
