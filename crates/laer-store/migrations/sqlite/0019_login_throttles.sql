-- Logins (issue 15; docs/access.md, "Throttling"). throttles: failed logins and password
-- reset requests counted per subject, in the database so that every node applies the
-- same limits. scope says what is counted ('login_pair': an email from one address,
-- 'login_address': an address, 'reset_email', 'reset_address'); subject is the SHA-256
-- hex of the email and/or address, never the text itself. A count starts over once its
-- last event is older than the scope's window; rows that old are pruned as new ones come.
CREATE TABLE throttles (
    scope   TEXT NOT NULL,
    subject TEXT NOT NULL,
    events  INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX throttles_last_at ON throttles(last_at);
