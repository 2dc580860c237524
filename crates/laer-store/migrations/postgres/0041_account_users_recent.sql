-- Each user's recent days and department per account (issue 20): the users active in a
-- usage window, and their departments, are a count over one row per user instead of a
-- distinct count over every day's user rows joined to product_users.
-- `last_day` is the user's last activity day (see 0002 for `day`); bit i of `recent` is
-- set when the user was active on day last_day - i, for the 63 days up to it
-- (laer_core::health::RecentDays). `department` follows product_users by the trigger
-- below. Kept by the writers of event_user_days.
ALTER TABLE account_users ADD COLUMN last_day BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_users ADD COLUMN recent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_users ADD COLUMN department TEXT;

UPDATE account_users u SET last_day = r.last_day, recent = r.recent
FROM (SELECT account_id, user_ref, MAX(l) AS last_day,
             CAST(SUM(CASE WHEN l - day < 63 THEN CAST(1 AS BIGINT) << CAST(l - day AS INTEGER) ELSE 0 END) AS BIGINT) AS recent
      FROM (SELECT account_id, user_ref, day, MAX(day) OVER (PARTITION BY account_id, user_ref) AS l
            FROM (SELECT DISTINCT account_id, user_ref, day FROM event_user_days) d) w
      GROUP BY account_id, user_ref) r
WHERE u.account_id = r.account_id AND u.user_ref = r.user_ref;

UPDATE account_users u SET department = p.department FROM product_users p
WHERE p.external_id = u.user_ref AND p.account_id = u.account_id;

CREATE FUNCTION account_users_department() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE'
        AND (OLD.account_id, OLD.external_id) IS DISTINCT FROM (NEW.account_id, NEW.external_id)) THEN
        UPDATE account_users SET department = NULL
        WHERE account_id = OLD.account_id AND user_ref = OLD.external_id AND department IS NOT NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE account_users SET department = NEW.department
        WHERE account_id = NEW.account_id AND user_ref = NEW.external_id
          AND department IS DISTINCT FROM NEW.department;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER account_users_department AFTER INSERT OR UPDATE OF external_id, account_id, department OR DELETE
ON product_users FOR EACH ROW EXECUTE FUNCTION account_users_department();

-- The departments of an account's known users are read from the index alone.
DROP INDEX product_users_account;
CREATE INDEX product_users_account ON product_users(account_id, department);
