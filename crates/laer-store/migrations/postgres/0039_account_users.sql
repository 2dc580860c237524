-- Each user's first activity day per account (see 0002 for `day`): the users an account
-- has had by a day are a count of these rows, not a distinct count over every day's
-- user rows (issue 20). Kept by the writers of event_user_days, always its MIN(day).
CREATE TABLE account_users (
    account_id BIGINT NOT NULL,
    user_ref   TEXT NOT NULL,
    first_day  BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_ref)
);
CREATE INDEX account_users_first_day ON account_users(account_id, first_day);

INSERT INTO account_users (account_id, user_ref, first_day)
SELECT account_id, user_ref, MIN(day) FROM event_user_days GROUP BY account_id, user_ref;
