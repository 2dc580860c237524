//! Single sign-on's records (OpenID Connect): the sign-ins under way between the redirect
//! to the provider and its return, and the provider identities linked to people. What a
//! sign-in decides is `laer_core::sso::decide`; this module reads its facts and applies
//! it in one transaction, audited.

use chrono::{DateTime, Utc};
use laer_core::access::Role;
use laer_core::sso::{KnownPerson, SignIn, SignInFacts, SignInRefusal, decide};
use serde_json::json;

use crate::access::sha256_hex;
use crate::decode::Column;
use crate::exec::params;
use crate::logins::PEOPLE_LOCK;
use crate::write::audit;
use crate::{Store, StoreError, User, WriteTx};

/// A sign-in under way, as kept until the provider sends the person back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLogin {
    /// The value the ID token's `nonce` must have.
    pub nonce: String,
    /// The PKCE code verifier whose S256 challenge went to the provider.
    pub pkce_verifier: String,
    /// Where to go after signing in (a path on this site, checked by the caller).
    pub next: String,
}

/// Who the provider says is signing in, with its ID token verified by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoIdentity<'a> {
    /// The provider's issuer URL.
    pub issuer: &'a str,
    /// The person's subject (`sub`) at the provider.
    pub subject: &'a str,
    /// Their email, in lower case, when the provider vouches for it (`email_verified`).
    pub verified_email: Option<&'a str>,
    /// Their name, for a person made now (else the email's local part).
    pub name: Option<&'a str>,
    /// The role the provider's role claim gives, if any.
    pub claimed_role: Option<Role>,
}

/// How the audit log names single sign-on as the actor of a role it set.
const SSO_ACTOR: &str = "single sign-on";

#[derive(sqlx::FromRow)]
struct KnownRow {
    id: i64,
    role: String,
    disabled_at: Option<i64>,
}

impl KnownRow {
    fn known(self) -> Result<KnownPerson, StoreError> {
        Ok(KnownPerson {
            user_id: self.id,
            role: Column("users", "role").parsed(&self.role)?,
            disabled: self.disabled_at.is_some(),
        })
    }
}

impl Store {
    /// Keeps a sign-in under way until `expires_at`, found by its `state` (kept only as
    /// its SHA-256). Sign-ins past their time are deleted as new ones come.
    pub async fn begin_sso_login(
        &self,
        state: &str,
        login: &SsoLogin,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        tx.execute("DELETE FROM sso_logins WHERE expires_at < $1", params![now])
            .await?;
        tx.execute(
            "INSERT INTO sso_logins (state_hash, nonce, pkce_verifier, next, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                sha256_hex(state),
                &login.nonce,
                &login.pkce_verifier,
                &login.next,
                now,
                expires_at.timestamp_micros()
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Takes the sign-in under way with this `state`: once, on any node (a delete), and
    /// only before it expires; `None` otherwise.
    pub async fn take_sso_login(&self, state: &str) -> Result<Option<SsoLogin>, StoreError> {
        let mut tx = self.begin_write().await?;
        let taken: Option<(String, String, String, i64)> = tx
            .fetch_optional(
                "DELETE FROM sso_logins WHERE state_hash = $1 RETURNING nonce, pkce_verifier, next, expires_at",
                params![sha256_hex(state)],
            )
            .await?;
        tx.commit().await?;
        Ok(taken
            .filter(|(.., expires_at)| *expires_at > Utc::now().timestamp_micros())
            .map(|(nonce, pkce_verifier, next, _)| SsoLogin {
                nonce,
                pkce_verifier,
                next,
            }))
    }

    /// Signs a person in by their provider identity (`laer_core::sso::decide`), in one
    /// transaction: the first time, links the identity to the person with the verified
    /// email (an invitation is claimed: its unused links end), audited as
    /// `user.sso_linked`, or makes a new person with the claim's role, audited as
    /// `user.created_by_sso`; a role claim that differs from the person's role replaces
    /// it, audited as `user.role_changed`. A refusal changes nothing.
    pub async fn sso_sign_in(&self, identity: &SsoIdentity<'_>) -> Result<Result<User, SignInRefusal>, StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        tx.lock([PEOPLE_LOCK]).await?;
        let linked: Option<KnownRow> = tx
            .fetch_optional(
                "SELECT u.id, u.role, u.disabled_at FROM sso_identities i JOIN users u ON u.id = i.user_id \
                 WHERE i.issuer = $1 AND i.subject = $2",
                params![identity.issuer, identity.subject],
            )
            .await?;
        let by_email: Option<KnownRow> = match identity.verified_email {
            Some(email) => {
                tx.fetch_optional(
                    "SELECT id, role, disabled_at FROM users WHERE email = $1",
                    params![email],
                )
                .await?
            }
            None => None,
        };
        let facts = SignInFacts {
            linked: linked.map(KnownRow::known).transpose()?,
            verified_email: identity.verified_email.is_some(),
            by_email: by_email.map(KnownRow::known).transpose()?,
            claimed_role: identity.claimed_role,
        };
        let user_id = match decide(facts) {
            SignIn::Refused(refusal) => return Ok(Err(refusal)),
            SignIn::Known { user_id, link, role } => {
                if let Some(role) = role {
                    set_role(&mut tx, user_id, role).await?;
                }
                if link {
                    link_identity(&mut tx, identity, user_id, now, "user.sso_linked").await?;
                    tx.execute(
                        "DELETE FROM password_links WHERE user_id = $1 AND used_at IS NULL",
                        params![user_id],
                    )
                    .await?;
                }
                user_id
            }
            SignIn::New { role } => {
                let email = identity.verified_email.unwrap_or_default();
                let name = identity
                    .name
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| email.split('@').next().unwrap_or(email));
                let (id,): (i64,) = tx
                    .fetch_one(
                        "INSERT INTO users (email, name, role, password_hash, team_member_id, created_at) \
                         VALUES ($1, $2, $3, '', (SELECT MIN(id) FROM team_members WHERE LOWER(email) = $1), $4) \
                         RETURNING id",
                        params![email, name, role.as_str(), now],
                    )
                    .await?;
                link_identity(&mut tx, identity, id, now, "user.created_by_sso").await?;
                id
            }
        };
        tx.execute(
            "UPDATE sso_identities SET last_login_at = $1 WHERE issuer = $2 AND subject = $3",
            params![now, identity.issuer, identity.subject],
        )
        .await?;
        let user = tx.person(user_id).await?.user;
        tx.commit().await?;
        Ok(Ok(user))
    }
}

async fn set_role(tx: &mut WriteTx, user_id: i64, role: Role) -> Result<(), StoreError> {
    let before = tx.person(user_id).await?.user;
    tx.execute(
        "UPDATE users SET role = $1, version = version + 1 WHERE id = $2",
        params![role.as_str(), user_id],
    )
    .await?;
    tx.append_audit(&audit(
        SSO_ACTOR,
        "user.role_changed",
        json!({"user_id": user_id, "email": before.email, "from": before.role.as_str(), "to": role.as_str(), "by": "role claim"}),
    ))
    .await
}

async fn link_identity(
    tx: &mut WriteTx,
    identity: &SsoIdentity<'_>,
    user_id: i64,
    now: i64,
    action: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO sso_identities (issuer, subject, user_id, created_at, last_login_at) VALUES ($1, $2, $3, $4, $4)",
        params![identity.issuer, identity.subject, user_id, now],
    )
    .await?;
    let user = tx.person(user_id).await?.user;
    tx.append_audit(&audit(
        &format!("{} <{}>", user.name, user.email),
        action,
        json!({"user_id": user_id, "email": user.email, "role": user.role.as_str(), "issuer": identity.issuer, "subject": identity.subject}),
    ))
    .await
}
