//! People as an admin manages them (docs/access.md): invitations and password resets by
//! one-time link, roles, deactivation; and the audited creation and revocation of API
//! tokens and write keys. A link's token is a secret kept only as its SHA-256 hash; a
//! link is used once, on any node (a conditional update), and not after it expires.
//! Every change is audited in its own transaction.

use chrono::{DateTime, Utc};
use laer_core::access::Role;
use serde::Serialize;
use serde_json::json;

use crate::access::sha256_hex;
use crate::decode::Column;
use crate::delivery::queue_email;
use crate::exec::params;
use crate::write::audit;
use crate::{Store, StoreError, User, WriteTx};

/// What a one-time password link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// A person invited: the link sets their first password.
    Invite,
    /// A password reset by an admin.
    Reset,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Invite => "invite",
            LinkKind::Reset => "reset",
        }
    }

    fn parse(text: &str) -> Result<LinkKind, StoreError> {
        match text {
            "invite" => Ok(LinkKind::Invite),
            "reset" => Ok(LinkKind::Reset),
            other => Err(Column("password_links", "kind").unreadable(format!("{other:?}"))),
        }
    }
}

/// A person as the admin pages list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub user: User,
    /// The version an edit of this person must name ([`StoreError::Stale`]).
    pub version: i64,
    /// Whether they have a password (an invited person has none until they use the link).
    pub password_set: bool,
    /// Whether an identity at the OpenID provider is linked to them: they sign in with
    /// single sign-on (docs/access.md, "Single sign-on").
    pub single_sign_on: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Their live (unused, unexpired) link, if any.
    pub pending_link: Option<PendingLink>,
}

impl Person {
    /// Whether they can log in (unless deactivated): with a password or single sign-on.
    pub fn can_log_in(&self) -> bool {
        self.password_set || self.single_sign_on
    }
}

/// A live password link as listed: never its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingLink {
    pub id: i64,
    pub kind: LinkKind,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
}

/// The person a live link is for, found by the link's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHolder {
    pub link_id: i64,
    pub kind: LinkKind,
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

/// A person to invite; the caller has checked each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite<'a> {
    /// Trimmed and in lower case (`laer_core::access::login_email`).
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
}

/// A one-time link about to be made: its token (a secret the caller made with
/// [`new_link_token`] and shows or sends; the store keeps its hash), until when it
/// works, and the email that carries it, when emails go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink<'a> {
    pub token: &'a str,
    pub expires_at: DateTime<Utc>,
    pub email: Option<LinkEmail<'a>>,
}

/// An email carrying a password link, queued in the outbox with the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEmail<'a> {
    pub subject: &'a str,
    pub body: &'a str,
}

/// A fresh link token: 256 random bits as hex.
pub fn new_link_token() -> Result<String, StoreError> {
    Ok(format!("{}{}", crate::random_id()?, crate::random_id()?))
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    team_member_id: Option<i64>,
    disabled_at: Option<i64>,
    version: i64,
    password_set: i64,
    single_sign_on: i64,
    created_at: i64,
    last_login_at: Option<i64>,
}

impl PersonRow {
    fn into_person(self, pending_link: Option<PendingLink>) -> Result<Person, StoreError> {
        Ok(Person {
            user: User {
                role: Column("users", "role").parsed(&self.role)?,
                id: self.id,
                email: self.email,
                name: self.name,
                team_member_id: self.team_member_id,
                disabled: self.disabled_at.is_some(),
            },
            version: self.version,
            password_set: self.password_set != 0,
            single_sign_on: self.single_sign_on != 0,
            created_at: Column("users", "created_at").instant(self.created_at)?,
            last_login_at: Column("users", "last_login_at").opt_instant(self.last_login_at)?,
            pending_link,
        })
    }
}

const PERSON_COLUMNS: &str = "id, email, name, role, team_member_id, disabled_at, version, \
     CAST(CASE WHEN password_hash <> '' THEN 1 ELSE 0 END AS BIGINT) AS password_set, \
     CAST(CASE WHEN EXISTS (SELECT 1 FROM sso_identities s WHERE s.user_id = users.id) THEN 1 ELSE 0 END AS BIGINT) \
     AS single_sign_on, created_at, last_login_at";

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: i64,
    user_id: i64,
    kind: String,
    created_by: String,
    expires_at: i64,
}

/// The lock every change of people takes on PostgreSQL, so that two admins cannot each
/// demote a different last admin at once (SQLite's writers run one at a time).
pub(crate) const PEOPLE_LOCK: &str = "people";

impl WriteTx {
    pub(crate) async fn person(&mut self, id: i64) -> Result<Person, StoreError> {
        let row: Option<PersonRow> = self
            .fetch_optional(
                &format!("SELECT {PERSON_COLUMNS} FROM users WHERE id = $1"),
                params![id],
            )
            .await?;
        row.ok_or_else(|| StoreError::NotFound(format!("person {id}")))?
            .into_person(None)
    }

    /// Refuses a change that would leave no active admin who can log in.
    async fn keep_an_admin(&mut self, person: &Person, field: &str, change: &str) -> Result<(), StoreError> {
        if person.user.role != Role::Admin || person.user.disabled || !person.can_log_in() {
            return Ok(());
        }
        let (others,): (i64,) = self
            .fetch_one(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1 \
                 AND (password_hash <> '' OR EXISTS (SELECT 1 FROM sso_identities s WHERE s.user_id = users.id))",
                params![person.user.id],
            )
            .await?;
        if others == 0 {
            return Err(StoreError::Refused {
                field: field.to_string(),
                message: format!(
                    "{} is the last active admin and cannot be {change}: make someone else an admin first",
                    person.user.name
                ),
            });
        }
        Ok(())
    }

    /// Ends the person's unused links and stores a new one, with its email queued.
    async fn add_link(
        &mut self,
        user: &User,
        kind: LinkKind,
        link: &NewLink<'_>,
        actor: &str,
    ) -> Result<PendingLink, StoreError> {
        let now = Utc::now().timestamp_micros();
        self.execute(
            "DELETE FROM password_links WHERE user_id = $1 AND used_at IS NULL",
            params![user.id],
        )
        .await?;
        let (id,): (i64,) = self
            .fetch_one(
                "INSERT INTO password_links (token_hash, user_id, kind, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                params![
                    sha256_hex(link.token),
                    user.id,
                    kind.as_str(),
                    actor,
                    now,
                    link.expires_at.timestamp_micros()
                ],
            )
            .await?;
        if let Some(email) = &link.email {
            let event = match kind {
                LinkKind::Invite => "user.invited",
                LinkKind::Reset => "user.password_reset_requested",
            };
            let key = format!("password-link:{id}");
            queue_email(self, &key, &user.email, event, None, email.subject, email.body).await?;
        }
        Ok(PendingLink {
            id,
            kind,
            created_by: actor.to_string(),
            expires_at: link.expires_at,
        })
    }
}

impl Store {
    /// Everyone who logs in or is invited to, by name, with their live link if any.
    pub async fn people(&self) -> Result<Vec<Person>, StoreError> {
        let rows: Vec<PersonRow> = self
            .fetch_all(
                &format!("SELECT {PERSON_COLUMNS} FROM users ORDER BY LOWER(name), email"),
                params![],
            )
            .await?;
        let links: Vec<LinkRow> = self
            .fetch_all(
                "SELECT id, user_id, kind, created_by, expires_at FROM password_links \
                 WHERE used_at IS NULL AND expires_at > $1 ORDER BY id",
                params![Utc::now().timestamp_micros()],
            )
            .await?;
        let mut live = std::collections::HashMap::new();
        for l in links {
            let link = PendingLink {
                id: l.id,
                kind: LinkKind::parse(&l.kind)?,
                created_by: l.created_by,
                expires_at: Column("password_links", "expires_at").instant(l.expires_at)?,
            };
            live.insert(l.user_id, link);
        }
        rows.into_iter()
            .map(|r| {
                let link = live.remove(&r.id);
                r.into_person(link)
            })
            .collect()
    }

    /// One person, or `None`.
    pub async fn person(&self, id: i64) -> Result<Option<Person>, StoreError> {
        let row: Option<PersonRow> = self
            .fetch_optional(
                &format!("SELECT {PERSON_COLUMNS} FROM users WHERE id = $1"),
                params![id],
            )
            .await?;
        row.map(|r| r.into_person(None)).transpose()
    }

    /// Invites a person: adds them without a password (they cannot log in yet) and
    /// stores a link for them to set one, audited as `user.invited`. Inviting someone
    /// invited before who has not set a password yet gives them a new link (the old one
    /// ends) with the name and role given now; an email that already has a login, or
    /// belongs to a deactivated person, is refused (field `email`). The person is the
    /// team member with the same email, if there is one.
    pub async fn invite_user(
        &self,
        invite: &NewInvite<'_>,
        link: &NewLink<'_>,
        actor: &str,
    ) -> Result<(User, PendingLink), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.lock([PEOPLE_LOCK]).await?;
        let existing: Option<PersonRow> = tx
            .fetch_optional(
                &format!("SELECT {PERSON_COLUMNS} FROM users WHERE email = $1"),
                params![invite.email],
            )
            .await?;
        let id = match existing.map(|r| r.into_person(None)).transpose()? {
            Some(p) if p.user.disabled => {
                return Err(StoreError::Refused {
                    field: "email".into(),
                    message: format!(
                        "{} belongs to {}, who is deactivated: reactivate them instead",
                        invite.email, p.user.name
                    ),
                });
            }
            Some(p) if p.can_log_in() => {
                return Err(StoreError::Refused {
                    field: "email".into(),
                    message: format!(
                        "{} already has a login ({}): reset their password instead",
                        invite.email, p.user.name
                    ),
                });
            }
            Some(p) => {
                tx.execute(
                    "UPDATE users SET name = $1, role = $2, version = version + 1 WHERE id = $3",
                    params![invite.name, invite.role.as_str(), p.user.id],
                )
                .await?;
                p.user.id
            }
            None => {
                let (id,): (i64,) = tx
                    .fetch_one(
                        "INSERT INTO users (email, name, role, password_hash, team_member_id, created_at) \
                         VALUES ($1, $2, $3, '', (SELECT MIN(id) FROM team_members WHERE LOWER(email) = $1), $4) \
                         RETURNING id",
                        params![
                            invite.email,
                            invite.name,
                            invite.role.as_str(),
                            Utc::now().timestamp_micros()
                        ],
                    )
                    .await?;
                id
            }
        };
        let user = tx.person(id).await?.user;
        let pending = tx.add_link(&user, LinkKind::Invite, link, actor).await?;
        tx.append_audit(&audit(
            actor,
            "user.invited",
            json!({
                "user_id": id, "email": user.email, "name": user.name, "role": user.role.as_str(),
                "link_id": pending.id, "expires_at": pending.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "emailed": link.email.is_some(),
            }),
        ))
        .await?;
        tx.commit().await?;
        Ok((user, pending))
    }

    /// Gives a person a link to set a new password, audited as
    /// `user.password_reset_requested`; their password and sessions stay until the link
    /// is used. A deactivated person gets none (field `""`).
    pub async fn request_password_reset(
        &self,
        user_id: i64,
        link: &NewLink<'_>,
        actor: &str,
    ) -> Result<PendingLink, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.lock([PEOPLE_LOCK]).await?;
        let person = tx.person(user_id).await?;
        if person.user.disabled {
            return Err(StoreError::Refused {
                field: String::new(),
                message: format!("{} is deactivated: reactivate them first", person.user.name),
            });
        }
        let pending = tx.add_link(&person.user, LinkKind::Reset, link, actor).await?;
        tx.append_audit(&audit(
            actor,
            "user.password_reset_requested",
            json!({
                "user_id": user_id, "email": person.user.email, "link_id": pending.id,
                "expires_at": pending.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "emailed": link.email.is_some(),
            }),
        ))
        .await?;
        tx.commit().await?;
        Ok(pending)
    }

    /// The person a live link is for: unused, unexpired, and its person not deactivated.
    pub async fn password_link(&self, token: &str) -> Result<Option<LinkHolder>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            link_id: i64,
            kind: String,
            expires_at: i64,
            user_id: i64,
        }
        let row: Option<Row> = self
            .fetch_optional(
                "SELECT l.id AS link_id, l.kind, l.expires_at, l.user_id FROM password_links l \
                 JOIN users u ON u.id = l.user_id \
                 WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2 AND u.disabled_at IS NULL",
                params![sha256_hex(token), Utc::now().timestamp_micros()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(person) = self.person(row.user_id).await? else {
            return Ok(None);
        };
        Ok(Some(LinkHolder {
            link_id: row.link_id,
            kind: LinkKind::parse(&row.kind)?,
            user: person.user,
            expires_at: Column("password_links", "expires_at").instant(row.expires_at)?,
        }))
    }

    /// Uses a link: sets the person's name and password (an argon2 hash) and ends their
    /// sessions, audited as `user.password_set`. The link is taken by a conditional
    /// update, so that of two uses at once, on any nodes, one wins; `None` when the link
    /// is unknown, used, expired or its person deactivated.
    pub async fn use_password_link(
        &self,
        token: &str,
        name: &str,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        let taken: Option<(i64, i64, String)> = tx
            .fetch_optional(
                "UPDATE password_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
                 AND expires_at > $1 AND user_id IN (SELECT id FROM users WHERE disabled_at IS NULL) \
                 RETURNING id, user_id, kind",
                params![now, sha256_hex(token)],
            )
            .await?;
        let Some((link_id, user_id, kind)) = taken else {
            return Ok(None);
        };
        let kind = LinkKind::parse(&kind)?;
        tx.execute(
            "UPDATE users SET name = $1, password_hash = $2, version = version + 1 WHERE id = $3",
            params![name, password_hash, user_id],
        )
        .await?;
        tx.execute("DELETE FROM sessions WHERE user_id = $1", params![user_id])
            .await?;
        tx.execute(
            "DELETE FROM password_links WHERE user_id = $1 AND used_at IS NULL",
            params![user_id],
        )
        .await?;
        let user = tx.person(user_id).await?.user;
        let actor = format!("{} <{}>", user.name, user.email);
        tx.append_audit(&audit(
            &actor,
            "user.password_set",
            json!({"user_id": user_id, "email": user.email, "link_id": link_id, "kind": kind.as_str()}),
        ))
        .await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    /// Changes a person's role, audited as `user.role_changed`; `version` (if given) must
    /// be the person's. The last active admin keeps the role (refused, field `role`).
    /// The same role again changes nothing. The role applies to their next request.
    pub async fn set_user_role(
        &self,
        user_id: i64,
        role: Role,
        version: Option<i64>,
        actor: &str,
    ) -> Result<Person, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.lock([PEOPLE_LOCK]).await?;
        let person = tx.person(user_id).await?;
        if version.is_some_and(|v| v != person.version) {
            return Err(StoreError::Stale {
                what: format!("{} ({})", person.user.name, person.user.email),
            });
        }
        if person.user.role == role {
            return Ok(person);
        }
        if role != Role::Admin {
            tx.keep_an_admin(&person, "role", "given another role").await?;
        }
        tx.execute(
            "UPDATE users SET role = $1, version = version + 1 WHERE id = $2",
            params![role.as_str(), user_id],
        )
        .await?;
        tx.append_audit(&audit(
            actor,
            "user.role_changed",
            json!({"user_id": user_id, "email": person.user.email, "from": person.user.role.as_str(), "to": role.as_str()}),
        ))
        .await?;
        let changed = tx.person(user_id).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Deactivates a person: they cannot log in, their sessions end at once and their
    /// links stop working; audited as `user.deactivated`. The last active admin cannot
    /// be deactivated (refused, field `""`). Deactivating again changes nothing.
    pub async fn deactivate_user(&self, user_id: i64, actor: &str) -> Result<Person, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.lock([PEOPLE_LOCK]).await?;
        let person = tx.person(user_id).await?;
        if person.user.disabled {
            return Ok(person);
        }
        tx.keep_an_admin(&person, "", "deactivated").await?;
        tx.execute(
            "UPDATE users SET disabled_at = $1, version = version + 1 WHERE id = $2",
            params![Utc::now().timestamp_micros(), user_id],
        )
        .await?;
        tx.execute("DELETE FROM sessions WHERE user_id = $1", params![user_id])
            .await?;
        tx.execute(
            "DELETE FROM password_links WHERE user_id = $1 AND used_at IS NULL",
            params![user_id],
        )
        .await?;
        tx.append_audit(&audit(
            actor,
            "user.deactivated",
            json!({"user_id": user_id, "email": person.user.email}),
        ))
        .await?;
        let changed = tx.person(user_id).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Lets a deactivated person log in again with their password, audited as
    /// `user.reactivated`. Reactivating an active person changes nothing.
    pub async fn reactivate_user(&self, user_id: i64, actor: &str) -> Result<Person, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.lock([PEOPLE_LOCK]).await?;
        let person = tx.person(user_id).await?;
        if !person.user.disabled {
            return Ok(person);
        }
        tx.execute(
            "UPDATE users SET disabled_at = NULL, version = version + 1 WHERE id = $1",
            params![user_id],
        )
        .await?;
        tx.append_audit(&audit(
            actor,
            "user.reactivated",
            json!({"user_id": user_id, "email": person.user.email}),
        ))
        .await?;
        let changed = tx.person(user_id).await?;
        tx.commit().await?;
        Ok(changed)
    }
}
