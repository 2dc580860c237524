//! People who log in, their sessions, and API tokens. Passwords arrive here already
//! hashed (argon2, by the caller); session and token secrets are stored as SHA-256.

use chrono::Utc;
use laer_core::access::Role;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::decode::Column;
use crate::exec::params;
use crate::login_safety::DEMO_MARKS;
use crate::{Store, StoreError, random_id};

/// A person who logs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The team member this person is, whose accounts are their book.
    pub team_member_id: Option<i64>,
    pub disabled: bool,
}

/// A logged-in session, found by its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// Whether the workspace holds the demo's data (pages say so), read in the same
    /// statement so that a logged-in request costs one query.
    pub demo: bool,
}

/// An API token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub role: Role,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A person found by email, with their password hash to check the login against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCandidate {
    pub user: User,
    pub password_hash: String,
}

/// A session just started: its secret (for the cookie, never stored) and CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
}

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;

pub(crate) fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A user as stored, with what a statement reads beside (a password hash, a CSRF
/// token), empty when it reads nothing more.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    team_member_id: Option<i64>,
    disabled_at: Option<i64>,
    extra: String,
}

impl UserRow {
    fn into_user(self) -> Result<(User, String), StoreError> {
        let user = User {
            role: Column("users", "role").parsed(&self.role)?,
            id: self.id,
            email: self.email,
            name: self.name,
            team_member_id: self.team_member_id,
            disabled: self.disabled_at.is_some(),
        };
        Ok((user, self.extra))
    }
}

/// A session's user, CSRF token and whether the workspace is the demo.
#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    user: UserRow,
    demo: i64,
}

const USER_COLUMNS: &str = "u.id, u.email, u.name, u.role, u.team_member_id, u.disabled_at";

impl Store {
    /// Adds a person, or updates the one with this email (name, role, password, team
    /// member). Emails compare in lower case.
    pub async fn upsert_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
        team_member_id: Option<i64>,
    ) -> Result<User, StoreError> {
        let email = email.trim().to_lowercase();
        let mut tx = self.begin_write().await?;
        let sql = "INSERT INTO users (email, name, role, password_hash, team_member_id, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO UPDATE SET name = excluded.name, \
                   role = excluded.role, password_hash = excluded.password_hash, \
                   team_member_id = excluded.team_member_id, disabled_at = NULL RETURNING id";
        let (id,): (i64,) = tx
            .fetch_one(
                sql,
                params![
                    &email,
                    name,
                    role.as_str(),
                    password_hash,
                    team_member_id,
                    Utc::now().timestamp_micros()
                ],
            )
            .await?;
        // A new password (or role) ends the person's sessions, and the links to set one.
        tx.execute("DELETE FROM sessions WHERE user_id = $1", params![id])
            .await?;
        tx.execute(
            "DELETE FROM password_links WHERE user_id = $1 AND used_at IS NULL",
            params![id],
        )
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            email,
            name: name.to_string(),
            role,
            team_member_id,
            disabled: false,
        })
    }

    /// Everyone, by email.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS}, '' AS extra FROM users u ORDER BY u.email");
        let rows: Vec<UserRow> = self.fetch_all(&sql, params![]).await?;
        rows.into_iter().map(|r| r.into_user().map(|(user, _)| user)).collect()
    }

    /// The enabled person with this email and their password hash; not someone invited
    /// who has not set a password yet.
    pub async fn user_for_login(&self, email: &str) -> Result<Option<LoginCandidate>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, u.password_hash AS extra FROM users u WHERE u.email = $1 AND u.disabled_at IS NULL \
             AND u.password_hash <> ''"
        );
        let row: Option<UserRow> = self.fetch_optional(&sql, params![email.trim().to_lowercase()]).await?;
        row.map(|r| {
            r.into_user()
                .map(|(user, password_hash)| LoginCandidate { user, password_hash })
        })
        .transpose()
    }

    /// Starts a session for the user.
    pub async fn create_session(&self, user_id: i64) -> Result<NewSession, StoreError> {
        let secret = format!("{}{}", random_id()?, random_id()?);
        let csrf = random_id()?;
        let now = Utc::now().timestamp_micros();
        let expires = now + SESSION_HOURS * 3_600_000_000;
        let mut tx = self.begin_write().await?;
        tx.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            params![sha256_hex(&secret), user_id, &csrf, now, expires],
        )
        .await?;
        // Expired sessions go as new ones come.
        tx.execute("DELETE FROM sessions WHERE expires_at < $1", params![now])
            .await?;
        tx.execute(
            "UPDATE users SET last_login_at = $1 WHERE id = $2",
            params![now, user_id],
        )
        .await?;
        tx.commit().await?;
        Ok(NewSession {
            secret,
            csrf_token: csrf,
        })
    }

    /// The live session with this secret, with its enabled user.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.csrf_token AS extra, ({DEMO_MARKS}) AS demo \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL"
        );
        let row: Option<SessionRow> = self
            .fetch_optional(&sql, params![sha256_hex(secret), Utc::now().timestamp_micros()])
            .await?;
        row.map(|r| {
            let demo = r.demo > 0;
            r.user
                .into_user()
                .map(|(user, csrf_token)| Session { user, csrf_token, demo })
        })
        .transpose()
    }

    /// Ends the session with this secret, if any.
    pub async fn end_session(&self, secret: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "DELETE FROM sessions WHERE token_hash = $1",
            params![sha256_hex(secret)],
        )
        .await?;
        tx.commit().await
    }

    /// Creates an API token with a role; returns it with the token, stored only as a hash.
    /// Not audited: for setting up and tests; people's changes go through
    /// [`Store::create_api_token_as`].
    pub async fn create_api_token(&self, name: &str, role: Role) -> Result<crate::Created<ApiToken>, StoreError> {
        self.issue_api_token(name, role, None).await
    }

    /// Creates an API token, audited as `token.created` by `actor`.
    pub async fn create_api_token_as(
        &self,
        name: &str,
        role: Role,
        actor: &str,
    ) -> Result<crate::Created<ApiToken>, StoreError> {
        self.issue_api_token(name, role, Some(actor)).await
    }

    async fn issue_api_token(
        &self,
        name: &str,
        role: Role,
        actor: Option<&str>,
    ) -> Result<crate::Created<ApiToken>, StoreError> {
        let token = format!("lt_{}{}", random_id()?, random_id()?);
        let prefix: String = token.chars().take(11).collect();
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO api_tokens (name, token_hash, token_prefix, role, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                params![name, sha256_hex(&token), &prefix, role.as_str(), now],
            )
            .await?;
        if let Some(actor) = actor {
            tx.append_audit(&laer_core::model::NewAuditEntry {
                at: Utc::now(),
                actor: actor.to_string(),
                action: "token.created".into(),
                details: serde_json::json!({"token_id": id, "name": name, "role": role.as_str(), "prefix": prefix}),
            })
            .await?;
        }
        tx.commit().await?;
        let listed = ApiToken {
            id,
            name: name.to_string(),
            prefix,
            role,
            created_at: now,
            revoked_at: None,
        };
        Ok(crate::Created {
            record: listed,
            secret: token,
        })
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            name: String,
            prefix: String,
            role: String,
            created_at: i64,
            revoked_at: Option<i64>,
        }
        let sql = "SELECT id, name, token_prefix AS prefix, role, created_at, revoked_at FROM api_tokens ORDER BY id";
        let rows: Vec<Row> = self.fetch_all(sql, params![]).await?;
        rows.into_iter()
            .map(|r| {
                Ok(ApiToken {
                    role: Column("api_tokens", "role").parsed(&r.role)?,
                    id: r.id,
                    name: r.name,
                    prefix: r.prefix,
                    created_at: r.created_at,
                    revoked_at: r.revoked_at,
                })
            })
            .collect()
    }

    /// Revokes a token by id; `false` when there is no such token. Not audited: see
    /// [`Store::revoke_api_token_as`].
    pub async fn revoke_api_token(&self, id: i64) -> Result<bool, StoreError> {
        self.end_api_token(id, None).await
    }

    /// Revokes a token by id, audited as `token.revoked` by `actor`; `false` when there
    /// is no such token. Revoking it again changes nothing.
    pub async fn revoke_api_token_as(&self, id: i64, actor: &str) -> Result<bool, StoreError> {
        self.end_api_token(id, Some(actor)).await
    }

    async fn end_api_token(&self, id: i64, actor: Option<&str>) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        let revoked: Option<(String, String)> = tx
            .fetch_optional(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING name, token_prefix",
                params![now, id],
            )
            .await?;
        let found = match (revoked, actor) {
            (Some((name, prefix)), Some(actor)) => {
                tx.append_audit(&laer_core::model::NewAuditEntry {
                    at: Utc::now(),
                    actor: actor.to_string(),
                    action: "token.revoked".into(),
                    details: serde_json::json!({"token_id": id, "name": name, "prefix": prefix}),
                })
                .await?;
                true
            }
            (Some(_), None) => true,
            (None, _) => tx
                .fetch_optional::<(i64,)>("SELECT id FROM api_tokens WHERE id = $1", params![id])
                .await?
                .is_some(),
        };
        tx.commit().await?;
        Ok(found)
    }

    /// The name and role of the live API token `token`, or `None` for an unknown or
    /// revoked one.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<Option<TokenHolder>, StoreError> {
        let sql = "SELECT id, name, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL";
        let row: Option<(i64, String, String)> = self.fetch_optional(sql, params![sha256_hex(token)]).await?;
        row.map(|(id, name, role)| {
            Ok(TokenHolder {
                role: Column("api_tokens", "role").parsed(&role)?,
                id,
                name,
            })
        })
        .transpose()
    }
}

/// Who calls the REST API: a live API token's id, name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

impl TokenHolder {
    /// The audit log's actor for the token's changes, naming the token by id and name:
    /// `API token #7 “CRM sync”` (ids stay unique when names repeat or change).
    pub fn actor(&self) -> String {
        format!("API token #{} “{}”", self.id, self.name)
    }
}
