-- Meetings become touchpoints: a meeting, call, email, note or business review with the
-- customer, with several stakeholder teams, the contacts who took part and who from our
-- side, a summary and a next step; editable in the web app (version, who logged it).
--
-- The former free-text kind (qbr, ebr, onboarding, check_in, training, ...) is kept as
-- the touchpoint's `purpose`; its kind becomes one of the five kinds: business_review
-- for qbr, ebr and business_review, the kind itself when it already names one, else
-- meeting (the same rule as laer_core::model::TouchpointKind::of_legacy). The single
-- stakeholder team moves to `touchpoint_teams`; the notes become the summary.
CREATE TABLE touchpoints (
    id               INTEGER PRIMARY KEY,
    external_id      TEXT NOT NULL UNIQUE,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    held_at          INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    purpose          TEXT,
    status           TEXT NOT NULL,
    duration_minutes INTEGER,
    summary          TEXT,
    next_step        TEXT,
    created_by       INTEGER REFERENCES users(id),
    version          INTEGER NOT NULL DEFAULT 1,
    updated_at       INTEGER
);

INSERT INTO touchpoints (id, external_id, account_id, held_at, kind, purpose, status, duration_minutes, summary)
SELECT id, external_id, account_id, held_at,
       CASE WHEN kind IN ('qbr', 'ebr', 'business_review') THEN 'business_review'
            WHEN kind IN ('meeting', 'call', 'email', 'note') THEN kind
            ELSE 'meeting' END,
       CASE WHEN kind IN ('meeting', 'call', 'email', 'note', 'business_review') THEN NULL ELSE kind END,
       status, duration_minutes, notes
FROM meetings;

-- The customer's stakeholder teams a touchpoint was with, as labels.
CREATE TABLE touchpoint_teams (
    touchpoint_id    INTEGER NOT NULL REFERENCES touchpoints(id),
    stakeholder_team TEXT NOT NULL,
    PRIMARY KEY (touchpoint_id, stakeholder_team)
);

INSERT INTO touchpoint_teams (touchpoint_id, stakeholder_team)
SELECT id, stakeholder_team FROM meetings WHERE stakeholder_team IS NOT NULL AND stakeholder_team <> '';

DROP TABLE meetings;
CREATE INDEX touchpoints_account ON touchpoints(account_id, held_at);

-- The account's contacts who took part.
CREATE TABLE touchpoint_contacts (
    touchpoint_id INTEGER NOT NULL REFERENCES touchpoints(id),
    contact_id    INTEGER NOT NULL REFERENCES contacts(id),
    PRIMARY KEY (touchpoint_id, contact_id)
);
CREATE INDEX touchpoint_contacts_contact ON touchpoint_contacts(contact_id);

-- Who from our side took part.
CREATE TABLE touchpoint_members (
    touchpoint_id  INTEGER NOT NULL REFERENCES touchpoints(id),
    team_member_id INTEGER NOT NULL REFERENCES team_members(id),
    PRIMARY KEY (touchpoint_id, team_member_id)
);
