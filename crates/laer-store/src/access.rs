//! People who log in, their sessions, and API tokens. Passwords arrive here already
//! hashed (argon2, by the caller); session and token secrets are stored as SHA-256.

use chrono::Utc;
use laer_core::access::Role;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use crate::sql::Dialect;
use crate::{Pool, Store, StoreError, random_id};

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

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;

pub(crate) fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

type UserRow = (i64, String, String, String, Option<i64>, Option<i64>);

fn user_of(row: UserRow) -> Result<User, StoreError> {
    let (id, email, name, role, team_member_id, disabled_at) = row;
    let role = role
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("role of user {id}: {e}")))?;
    Ok(User {
        id,
        email,
        name,
        role,
        team_member_id,
        disabled: disabled_at.is_some(),
    })
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
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET name = excluded.name, \
                   role = excluded.role, password_hash = excluded.password_hash, \
                   team_member_id = excluded.team_member_id, disabled_at = NULL RETURNING id";
        let id: i64 = tx
            .fetch_scalar(sql, |q| {
                q.text(&email)
                    .text(name)
                    .text(role.as_str())
                    .text(password_hash)
                    .opt_int(team_member_id)
                    .int(Utc::now().timestamp_micros())
            })
            .await?;
        // A new password (or role) ends the person's sessions.
        tx.exec_text("DELETE FROM sessions WHERE user_id = ?", |q| q.int(id))
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
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.email");
        let rows: Vec<UserRow> = on_pool!(self, |pool, _d| sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(user_of).collect()
    }

    /// The enabled person with this email and their password hash.
    pub async fn user_for_login(&self, email: &str) -> Result<Option<(User, String)>, StoreError> {
        let sql =
            format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = ? AND u.disabled_at IS NULL");
        type Row = (i64, String, String, String, Option<i64>, Option<i64>, String);
        let row: Option<Row> = on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(&sql)))
            .bind(email.trim().to_lowercase())
            .fetch_optional(pool)
            .await?);
        row.map(|(id, email, name, role, member, disabled, hash)| {
            user_of((id, email, name, role, member, disabled)).map(|u| (u, hash))
        })
        .transpose()
    }

    /// Starts a session for the user; returns its secret (for the cookie) and CSRF token.
    pub async fn create_session(&self, user_id: i64) -> Result<(String, String), StoreError> {
        let secret = format!("{}{}", random_id()?, random_id()?);
        let csrf = random_id()?;
        let now = Utc::now().timestamp_micros();
        let expires = now + SESSION_HOURS * 3_600_000_000;
        let mut tx = self.begin_write().await?;
        tx.exec_text(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            |q| {
                q.text(&sha256_hex(&secret))
                    .int(user_id)
                    .text(&csrf)
                    .int(now)
                    .int(expires)
            },
        )
        .await?;
        // Expired sessions go as new ones come.
        tx.exec_text("DELETE FROM sessions WHERE expires_at < ?", |q| q.int(now))
            .await?;
        tx.commit().await?;
        Ok((secret, csrf))
    }

    /// The live session with this secret, with its enabled user.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL"
        );
        type Row = (i64, String, String, String, Option<i64>, Option<i64>, String);
        let row: Option<Row> = on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(&sql)))
            .bind(sha256_hex(secret))
            .bind(Utc::now().timestamp_micros())
            .fetch_optional(pool)
            .await?);
        row.map(|(id, email, name, role, member, disabled, csrf_token)| {
            user_of((id, email, name, role, member, disabled)).map(|user| Session { user, csrf_token })
        })
        .transpose()
    }

    /// Ends the session with this secret, if any.
    pub async fn end_session(&self, secret: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.exec_text("DELETE FROM sessions WHERE token_hash = ?", |q| {
            q.text(&sha256_hex(secret))
        })
        .await?;
        tx.commit().await
    }

    /// Creates an API token with a role; returns it with the token, stored only as a hash.
    pub async fn create_api_token(&self, name: &str, role: Role) -> Result<(ApiToken, String), StoreError> {
        let token = format!("lt_{}{}", random_id()?, random_id()?);
        let prefix: String = token.chars().take(11).collect();
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        let id: i64 = tx
            .fetch_scalar(
                "INSERT INTO api_tokens (name, token_hash, token_prefix, role, created_at) VALUES (?, ?, ?, ?, ?) \
                 RETURNING id",
                |q| {
                    q.text(name)
                        .text(&sha256_hex(&token))
                        .text(&prefix)
                        .text(role.as_str())
                        .int(now)
                },
            )
            .await?;
        tx.commit().await?;
        let listed = ApiToken {
            id,
            name: name.to_string(),
            prefix,
            role,
            created_at: now,
            revoked_at: None,
        };
        Ok((listed, token))
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let sql = "SELECT id, name, token_prefix, role, created_at, revoked_at FROM api_tokens ORDER BY id";
        type Row = (i64, String, String, String, i64, Option<i64>);
        let rows: Vec<Row> = on_pool!(self, |pool, _d| sqlx::query_as(sql).fetch_all(pool).await?);
        rows.into_iter()
            .map(|(id, name, prefix, role, created_at, revoked_at)| {
                Ok(ApiToken {
                    id,
                    name,
                    prefix,
                    role: role
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("role of API token {id}: {e}")))?,
                    created_at,
                    revoked_at,
                })
            })
            .collect()
    }

    /// Revokes a token by id; `false` when there is no such token.
    pub async fn revoke_api_token(&self, id: i64) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        let changed = tx
            .exec_text(
                "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                |q| q.int(now).int(id),
            )
            .await?;
        tx.commit().await?;
        Ok(changed > 0)
    }

    /// The role of the live API token `token`, or `None` for an unknown or revoked one.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<Option<Role>, StoreError> {
        let sql = "SELECT role FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL";
        let role: Option<String> = on_pool!(self, |pool, d| sqlx::query_scalar(AssertSqlSafe(d.placeholders(sql)))
            .bind(sha256_hex(token))
            .fetch_optional(pool)
            .await?);
        role.map(|r| {
            r.parse()
                .map_err(|e| StoreError::Corrupt(format!("role of an API token: {e}")))
        })
        .transpose()
    }
}
