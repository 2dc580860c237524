-- Who used what, per account, day and event type (see 0002 for `day`): one row per
-- distinct user. It lets writers keep `event_type_days.users` exact by counting only
-- users not seen before, and lets adoption count distinct active users over any window.
CREATE TABLE event_user_days (
    account_id    INTEGER NOT NULL,
    day           INTEGER NOT NULL,
    event_type_id INTEGER NOT NULL,
    user_ref      TEXT NOT NULL,
    PRIMARY KEY (account_id, day, event_type_id, user_ref)
) WITHOUT ROWID;

INSERT INTO event_user_days (account_id, day, event_type_id, user_ref)
SELECT DISTINCT account_id,
       CASE WHEN occurred_at > 0 THEN (occurred_at - 1) / 86400000000 + 1
            ELSE 1 - (86400000000 - occurred_at) / 86400000000 END AS day,
       event_type_id, user_ref
FROM events
WHERE user_ref IS NOT NULL;

-- A user's latest identify traits are read back whenever the user is linked.
CREATE INDEX ingest_messages_identify ON ingest_messages(user_key, occurred_at) WHERE kind = 'identify';
