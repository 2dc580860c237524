-- Each user's recent days and department per account (issue 20): the users active in a
-- usage window, and their departments, are a count over one row per user instead of a
-- distinct count over every day's user rows joined to product_users.
-- `last_day` is the user's last activity day (see 0002 for `day`); bit i of `recent` is
-- set when the user was active on day last_day - i, for the 63 days up to it
-- (laer_core::health::RecentDays). `department` follows product_users by the triggers
-- below. Kept by the writers of event_user_days.
ALTER TABLE account_users ADD COLUMN last_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_users ADD COLUMN recent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_users ADD COLUMN department TEXT;

-- Rebuilt from the day rows in key order: a user's first row gives the first day, each
-- later day moves the remembered days along.
DELETE FROM account_users;
INSERT INTO account_users (account_id, user_ref, first_day, last_day, recent)
SELECT account_id, user_ref, day, day, 1 FROM event_user_days WHERE true ORDER BY account_id, day
ON CONFLICT (account_id, user_ref) DO UPDATE SET
    recent = CASE WHEN excluded.last_day - account_users.last_day >= 63 THEN 1
             ELSE ((account_users.recent << (excluded.last_day - account_users.last_day)) & 9223372036854775807) | 1 END,
    last_day = excluded.last_day
WHERE excluded.last_day > account_users.last_day;

UPDATE account_users SET department = (SELECT p.department FROM product_users p
    WHERE p.external_id = account_users.user_ref AND p.account_id = account_users.account_id);

CREATE TRIGGER account_users_department_insert AFTER INSERT ON product_users BEGIN
    UPDATE account_users SET department = NEW.department
    WHERE account_id = NEW.account_id AND user_ref = NEW.external_id AND department IS NOT NEW.department;
END;
CREATE TRIGGER account_users_department_update AFTER UPDATE OF external_id, account_id, department ON product_users BEGIN
    UPDATE account_users SET department = NULL
    WHERE account_id = OLD.account_id AND user_ref = OLD.external_id AND department IS NOT NULL
      AND (OLD.account_id IS NOT NEW.account_id OR OLD.external_id IS NOT NEW.external_id);
    UPDATE account_users SET department = NEW.department
    WHERE account_id = NEW.account_id AND user_ref = NEW.external_id AND department IS NOT NEW.department;
END;
CREATE TRIGGER account_users_department_delete AFTER DELETE ON product_users BEGIN
    UPDATE account_users SET department = NULL
    WHERE account_id = OLD.account_id AND user_ref = OLD.external_id AND department IS NOT NULL;
END;

-- The departments of an account's known users are read from the index alone.
DROP INDEX product_users_account;
CREATE INDEX product_users_account ON product_users(account_id, department);
