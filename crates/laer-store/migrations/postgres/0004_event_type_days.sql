-- Daily usage per account and event type, kept by every write of events (see 0002 for
-- `day`): how many events, the sum of their values (NULL when none had one), and how
-- many distinct users sent them.
CREATE TABLE event_type_days (
    account_id    BIGINT NOT NULL,
    day           BIGINT NOT NULL,
    event_type_id BIGINT NOT NULL,
    events        BIGINT NOT NULL,
    value_sum     DOUBLE PRECISION,
    users         BIGINT NOT NULL,
    PRIMARY KEY (account_id, day, event_type_id)
);

INSERT INTO event_type_days (account_id, day, event_type_id, events, value_sum, users)
SELECT account_id,
       CASE WHEN occurred_at > 0 THEN (occurred_at - 1) / 86400000000 + 1
            ELSE 1 - (86400000000 - occurred_at) / 86400000000 END AS day,
       event_type_id, COUNT(*), SUM(value), COUNT(DISTINCT user_ref)
FROM events
GROUP BY 1, 2, 3;
