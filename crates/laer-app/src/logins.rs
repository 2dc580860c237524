//! Logging in safely (issue 15; docs/access.md, "Throttling"): before a password is
//! checked, the failures counted for its email from the client's address, for the email
//! from anywhere, and for the address, say whether the client must wait
//! (`laer_core::throttle`); a failure is
//! counted, logged (the email and the address, never the password) and, for a person
//! who exists, audited as `user.login_failed`; a success clears its pair. And the
//! self-service "Forgot your password?": a reset link emailed through the outbox, at
//! most a few per email and per address an hour, with the same answer whether or not
//! the email belongs to anyone.

use std::net::IpAddr;

use chrono::{TimeDelta, Utc};
use laer_core::throttle::{self, ACCOUNT, ADDRESS, PAIR, RESET_ADDRESS, RESET_EMAIL, SSO_ADDRESS};
use laer_store::{LinkEmail, NewLink, Store, StoreError, ThrottleKey, User, new_link_token};
use serde_json::json;

use crate::people::{LinkDelivery, RESET_HOURS, link_path};

/// Why a login must wait, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures for this email, from this address or from anywhere.
    Account(TimeDelta),
    /// Too many failures from this address, whatever the email.
    Address(TimeDelta),
}

impl Throttled {
    /// How long the client must wait.
    pub fn wait(self) -> TimeDelta {
        match self {
            Throttled::Account(w) | Throttled::Address(w) => w,
        }
    }

    /// What the login page says: the same for an email that exists and one that does not.
    pub fn message(self) -> String {
        match self {
            Throttled::Account(w) => format!(
                "Too many failed logins for this account; try again in {}.",
                throttle::wait_words(w)
            ),
            Throttled::Address(w) => format!(
                "Too many failed logins from your network address; try again in {}.",
                throttle::wait_words(w)
            ),
        }
    }
}

/// An email as logins compare it: trimmed, in lower case.
pub fn normal_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The address as logs and audit entries show it: as it is, or `unknown`.
pub fn shown_address(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "unknown".to_string(), |a| a.to_string())
}

/// The address as counted: an IPv6 client by its /64 network (one customer's line), an
/// IPv4 one as it is; `unknown` when the server did not record it.
pub fn address_key(address: Option<IpAddr>) -> String {
    match address {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6.to_canonical().to_string(),
        Some(ip) => ip.to_string(),
        None => "unknown".to_string(),
    }
}

/// The keys a login is counted under: the pair, the account, the address.
fn login_keys(email: &str, address: Option<IpAddr>) -> [ThrottleKey; 3] {
    let email = normal_email(email);
    let address = address_key(address);
    [
        ThrottleKey {
            scope: "login_pair",
            subject: format!("{email}\n{address}"),
        },
        ThrottleKey {
            scope: "login_account",
            subject: email,
        },
        ThrottleKey {
            scope: "login_address",
            subject: address,
        },
    ]
}

/// Whether a login for `email` from `address` must wait now.
pub async fn throttled(store: &Store, email: &str, address: Option<IpAddr>) -> Result<Option<Throttled>, StoreError> {
    let counts = store.throttle_counts(&login_keys(email, address)).await?;
    let now = Utc::now();
    let wait =
        |i: usize, backoff: &throttle::Backoff| counts.get(i).copied().flatten().and_then(|c| backoff.wait(&c, now));
    let account = wait(0, &PAIR).max(wait(1, &ACCOUNT));
    Ok(match (account, wait(2, &ADDRESS)) {
        (Some(a), Some(b)) if b > a => Some(Throttled::Address(b)),
        (Some(a), _) => Some(Throttled::Account(a)),
        (None, Some(b)) => Some(Throttled::Address(b)),
        (None, None) => None,
    })
}

/// Counts a failed login for `email` from `address`, logs it and, when the email is a
/// person's (`user`), audits it as `user.login_failed` in the same transaction.
pub async fn failed(
    store: &Store,
    email: &str,
    address: Option<IpAddr>,
    user: Option<&User>,
) -> Result<(), StoreError> {
    let keys = login_keys(email, address);
    let shown = shown_address(address);
    let entry = user.map(|u| laer_core::model::NewAuditEntry {
        at: Utc::now(),
        actor: format!("login from {shown}"),
        action: "user.login_failed".to_string(),
        details: json!({"user_id": u.id, "email": u.email, "address": shown}),
    });
    let counts = store
        .count_throttled(
            &keys,
            PAIR.window.max(ACCOUNT.window).max(ADDRESS.window),
            Utc::now(),
            entry.as_ref(),
        )
        .await?;
    let failures = counts.first().map_or(0, |c| c.events);
    tracing::warn!(
        email = %normal_email(email),
        address = %shown,
        known = user.is_some(),
        failures,
        "failed login"
    );
    Ok(())
}

/// Clears the failures of `email` from `address` after a successful login (the
/// account's and the address's counts stay).
pub async fn succeeded(store: &Store, email: &str, address: Option<IpAddr>) -> Result<(), StoreError> {
    let [pair, _, _] = login_keys(email, address);
    store.clear_throttled(&[pair]).await
}

/// Counts a single sign-on started from `address`: whether it is within
/// [`SSO_ADDRESS`] (beyond, nothing is started and the client waits).
pub async fn sso_start_allowed(store: &Store, address: Option<IpAddr>) -> Result<bool, StoreError> {
    let key = ThrottleKey {
        scope: "sso_address",
        subject: address_key(address),
    };
    let counts = store
        .count_throttled(std::slice::from_ref(&key), SSO_ADDRESS.window, Utc::now(), None)
        .await?;
    let allowed = counts.first().is_some_and(|c| SSO_ADDRESS.allows(c));
    if !allowed {
        let shown = shown_address(address);
        tracing::warn!(address = %shown, "single sign-on refused: too many sign-ins started from this address");
    }
    Ok(allowed)
}

/// What came of a "Forgot your password?" request. The person asking sees the same
/// answer for [`ResetRequest::Answered`] whatever happened behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetRequest {
    /// Answered alike: a link was emailed if the email is an active person's and the
    /// email's limit allowed it.
    Answered {
        /// Whether an email was queued (for logs and tests, never shown).
        emailed: bool,
    },
    /// Too many requests from this address: nothing was looked up.
    TooManyFromAddress,
}

/// Handles a "Forgot your password?" request for `email` from `address`: counts it per
/// email and per address, and — within both limits, for an active person — queues an
/// email with a reset link valid for [`RESET_HOURS`] (the same single-use link an admin
/// issues: `Store::request_password_reset`). `delivery.email` must be true: without an
/// SMTP server nothing can be sent and the page says to ask an admin instead.
pub async fn request_reset(
    store: &Store,
    email: &str,
    address: Option<IpAddr>,
    delivery: LinkDelivery<'_>,
) -> Result<ResetRequest, StoreError> {
    let email = normal_email(email);
    let shown = shown_address(address);
    let keys = [
        ThrottleKey {
            scope: "reset_address",
            subject: address_key(address),
        },
        ThrottleKey {
            scope: "reset_email",
            subject: email.clone(),
        },
    ];
    let counts = store
        .count_throttled(&keys, RESET_ADDRESS.window.max(RESET_EMAIL.window), Utc::now(), None)
        .await?;
    let allowed = |i: usize, limit: &throttle::RequestLimit| counts.get(i).is_some_and(|c| limit.allows(c));
    if !allowed(0, &RESET_ADDRESS) {
        tracing::warn!(address = %shown, "password reset requests refused: too many from this address");
        return Ok(ResetRequest::TooManyFromAddress);
    }
    if !allowed(1, &RESET_EMAIL) || !delivery.email {
        tracing::warn!(email = %email, address = %shown, "password reset request not sent: too many for this email, or no SMTP server");
        return Ok(ResetRequest::Answered { emailed: false });
    }
    let person = match store.user_id_by_email(&email).await? {
        Some(id) => store.person(id).await?,
        None => None,
    };
    let Some(person) = person.filter(|p| !p.user.disabled) else {
        tracing::info!(email = %email, address = %shown, "password reset requested for no active person");
        return Ok(ResetRequest::Answered { emailed: false });
    };
    let token = new_link_token()?;
    let url = format!("{}{}", delivery.origin, link_path(&token));
    let expires_at = Utc::now() + TimeDelta::hours(RESET_HOURS);
    let subject = "Set a new password for laer";
    let body = format!(
        "Hello {name},\n\nSomeone (we hope you) asked laer for a new password for {email}, from the \
         address {shown}.\n\nChoose it here (the link works once, until {expires} UTC):\n{url}\n\n\
         If it was not you, ignore this email: your current password keeps working.\n",
        name = person.user.name,
        expires = expires_at.format("%Y-%m-%d %H:%M"),
    );
    let link = NewLink {
        token: &token,
        expires_at,
        email: Some(LinkEmail { subject, body: &body }),
    };
    let actor = format!(
        "{} <{}> (forgot password, from {shown})",
        person.user.name, person.user.email
    );
    store.request_password_reset(person.user.id, &link, &actor).await?;
    tracing::info!(email = %email, address = %shown, "password reset link emailed");
    Ok(ResetRequest::Answered { emailed: true })
}

/// A random password for the demo's logins: 16 letters and digits from the operating
/// system's generator (about 93 bits), printed once when the demo is created.
pub fn random_password() -> Result<String, StoreError> {
    // random_id is 128 random bits as hex: each of its 16 bytes picks one of 57 letters
    // and digits that cannot be mistaken for each other (no l, I, O, 0, 1).
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let hex = laer_store::random_id()?;
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    Ok(bytes
        .iter()
        .take(16)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        assert_eq!(address_key(Some(a)), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(address_key(Some(mapped)), "203.0.113.9");
        assert_eq!(address_key(None), "unknown");
    }

    #[test]
    fn throttle_messages_name_the_wait_not_the_person() {
        let m = Throttled::Account(TimeDelta::seconds(200)).message();
        assert_eq!(m, "Too many failed logins for this account; try again in 4 minutes.");
    }

    #[test]
    fn random_passwords_differ() {
        let a = random_password().unwrap();
        assert_eq!(a.chars().count(), 16);
        assert_ne!(a, random_password().unwrap());
    }
}
