-- A task's reason in one sentence a person would say ("No executive meeting for 93 days"),
-- beside its context: what the work queue shows first (issue 16). NULL for tasks made
-- before it, and for tasks of one's own.
ALTER TABLE tasks ADD COLUMN reason TEXT;
