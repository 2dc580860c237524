-- Open tasks by account (issue 16): the portfolio ranks every account by its open and
-- overdue tasks on each request; few tasks are open, so a partial index keeps it a walk
-- of those alone.
CREATE INDEX tasks_open_by_account ON tasks(account_id, due_on) WHERE status = 'open';
CREATE INDEX tasks_open_by_assignee ON tasks(assignee_id, due_on) WHERE status = 'open';
