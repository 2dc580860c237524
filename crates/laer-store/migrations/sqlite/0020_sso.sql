-- Single sign-on with OpenID Connect (docs/access.md, "Single sign-on").
-- sso_identities: a provider's identity (its issuer and the person's subject there)
-- linked to the person it signs in as; linked at the first sign-in, by a verified email
-- (claiming an invitation) or by a role claim (a new person).
CREATE TABLE sso_identities (
    id            INTEGER PRIMARY KEY,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX sso_identities_user ON sso_identities(user_id);

-- sso_logins: sign-ins under way, between the redirect to the provider and its return:
-- found by the SHA-256 of their `state` (which the browser also holds in a cookie), used
-- once and not after expires_at, with the nonce the ID token must carry, the PKCE
-- verifier, and the page to go to afterwards.
CREATE TABLE sso_logins (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX sso_logins_expiry ON sso_logins(expires_at);
