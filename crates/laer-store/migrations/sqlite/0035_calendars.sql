-- Calendars (issue 18, item 4; docs/work.md#calendars): a team member's calendar, reached
-- by CalDAV (a user name and a password) or as a published iCalendar feed. The address
-- (a feed's is all it takes to read the calendar) and the password are sealed like every
-- secret; lists show the host alone. Which node syncs it is a lease renewed by a
-- heartbeat, as a Singer sync's; the last sync's outcome is kept for the page.
CREATE TABLE calendar_connections (
    id               INTEGER PRIMARY KEY,
    team_member_id   INTEGER NOT NULL REFERENCES team_members(id),
    kind             TEXT NOT NULL,
    host             TEXT NOT NULL,
    url              TEXT NOT NULL,
    url_key_id       TEXT,
    username         TEXT,
    password         TEXT,
    password_key_id  TEXT,
    time_zone        TEXT NOT NULL,
    every_minutes    INTEGER NOT NULL,
    next_sync_at     INTEGER,
    requested        INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    owner            TEXT,
    heartbeat        INTEGER,
    last_synced_at   INTEGER,
    last_error       TEXT,
    last_report      TEXT,
    created_at       INTEGER NOT NULL,
    created_by       TEXT NOT NULL
);
CREATE INDEX calendar_connections_member ON calendar_connections(team_member_id);

-- The touchpoints each calendar made (by their external ids): a sync removes those whose
-- event is gone from its calendar, unless another calendar still has the meeting.
CREATE TABLE calendar_touchpoints (
    connection_id  INTEGER NOT NULL REFERENCES calendar_connections(id) ON DELETE CASCADE,
    external_id    TEXT NOT NULL,
    PRIMARY KEY (connection_id, external_id)
);
CREATE INDEX calendar_touchpoints_external ON calendar_touchpoints(external_id);
