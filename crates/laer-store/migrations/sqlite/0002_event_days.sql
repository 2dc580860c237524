-- Daily activity rollup of usage events, kept by every write of events.
-- day: days since 1970-01-01 of the day D whose window (D - 1 day, D] (midnight UTC)
-- holds the events, so that "an event in the w days before D" is days D-w+1..D.
CREATE TABLE event_days (
    account_id INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
) WITHOUT ROWID;

INSERT INTO event_days (account_id, day, events)
SELECT account_id,
       CASE WHEN occurred_at > 0 THEN (occurred_at - 1) / 86400000000 + 1
            ELSE 1 - (86400000000 - occurred_at) / 86400000000 END AS day,
       COUNT(*)
FROM events
GROUP BY 1, 2;
