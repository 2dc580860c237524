//! People and their one-time password links: inviting a person and resetting a
//! password make a link (a fresh token whose hash the store keeps), queue the email that
//! carries it when emails go out, and give the link back for the admin to see; using a
//! link sets the password (argon2id) once.

use chrono::{DateTime, TimeDelta, Utc};
use laer_store::{LinkEmail, NewInvite, NewLink, PendingLink, Store, StoreError, User, new_link_token};

/// How long an invitation's link works.
pub const INVITE_DAYS: i64 = 7;
/// How long a password reset's link works.
pub const RESET_HOURS: i64 = 24;

#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Where links point and whether they are emailed.
#[derive(Debug, Clone, Copy)]
pub struct LinkDelivery<'a> {
    /// This server's address as people reach it: `https://laer.example.com`.
    pub origin: &'a str,
    /// Whether an SMTP server is configured: the link is then emailed too.
    pub email: bool,
}

/// A link just made: its address (shown now, never again) and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLink {
    pub user: User,
    pub url: String,
    pub link: PendingLink,
    /// Whether the email carrying it was queued.
    pub emailed: bool,
}

/// The path a link's token opens: the page that sets the password.
pub fn link_path(token: &str) -> String {
    format!("/password/{token}")
}

fn expiry(hours: i64) -> DateTime<Utc> {
    Utc::now() + TimeDelta::hours(hours)
}

/// Invites a person (`Store::invite_user`): a link valid for [`INVITE_DAYS`].
pub async fn invite(
    store: &Store,
    invite: &NewInvite<'_>,
    delivery: LinkDelivery<'_>,
    actor: &str,
) -> Result<IssuedLink, StoreError> {
    let token = new_link_token()?;
    let url = format!("{}{}", delivery.origin, link_path(&token));
    let expires_at = expiry(INVITE_DAYS * 24);
    let subject = "You are invited to laer".to_string();
    let body = format!(
        "Hello {name},\n\n{actor} invited you to laer, the customer success workspace, as {role}.\n\n\
         Choose your password here (the link works once, until {expires} UTC):\n{url}\n",
        name = invite.name,
        role = invite.role,
        expires = expires_at.format("%Y-%m-%d %H:%M"),
    );
    let link = NewLink {
        token: &token,
        expires_at,
        email: delivery.email.then_some(LinkEmail {
            subject: &subject,
            body: &body,
        }),
    };
    let (user, pending) = store.invite_user(invite, &link, actor).await?;
    Ok(IssuedLink {
        user,
        url,
        link: pending,
        emailed: delivery.email,
    })
}

/// Gives a person a link to set a new password (`Store::request_password_reset`),
/// valid for [`RESET_HOURS`].
pub async fn reset(
    store: &Store,
    user_id: i64,
    delivery: LinkDelivery<'_>,
    actor: &str,
) -> Result<IssuedLink, StoreError> {
    let person = store
        .person(user_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("person {user_id}")))?;
    let token = new_link_token()?;
    let url = format!("{}{}", delivery.origin, link_path(&token));
    let expires_at = expiry(RESET_HOURS);
    let subject = "Set a new password for laer".to_string();
    let body = format!(
        "Hello {name},\n\n{actor} asked laer for a new password for you.\n\n\
         Choose it here (the link works once, until {expires} UTC):\n{url}\n\n\
         Your current password works until you do.\n",
        name = person.user.name,
        expires = expires_at.format("%Y-%m-%d %H:%M"),
    );
    let link = NewLink {
        token: &token,
        expires_at,
        email: delivery.email.then_some(LinkEmail {
            subject: &subject,
            body: &body,
        }),
    };
    let pending = store.request_password_reset(user_id, &link, actor).await?;
    Ok(IssuedLink {
        user: person.user,
        url,
        link: pending,
        emailed: delivery.email,
    })
}

/// Uses a link: hashes the password (checked by the caller with
/// `laer_core::access::check_password`) and sets it with the name; `None` when the link
/// no longer works.
pub async fn use_link(store: &Store, token: &str, name: &str, password: &str) -> Result<Option<User>, PeopleError> {
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|e| PeopleError::Hash(e.to_string()))?
        .map_err(PeopleError::Hash)?;
    Ok(store.use_password_link(token, name, &hash).await?)
}
