//! Calendars (migration 0035): team members' calendars, reached by CalDAV or as a
//! published iCalendar feed. A calendar's address and password are sealed (`secrets.rs`);
//! lists show its host alone. Which node syncs it is a lease renewed by a heartbeat, as a
//! Singer sync's; a sync writes its meetings as touchpoints, in one transaction with
//! the removal of those whose event is gone (the rules are `laer_core::calendar`'s).

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use laer_core::calendar::{self, Attendee, CalendarKind, CalendarMeeting, Edited, Gone, People, Window};
use laer_core::model::{NewAuditEntry, NewTouchpoint, TouchpointKind};
use serde::Serialize;
use serde_json::json;

use crate::decode::Column;
use crate::exec::{Params, list, params};
use crate::lease::Leased;
use crate::record_keys::KeyPart;
use crate::secrets::{CALENDAR_PASSWORD, CALENDAR_URL};
use crate::sql::Feeds;
use crate::{SecretBox, Store, StoreError, StoredSecret, WriteTx};

/// Minutes between syncs, at least and at most.
pub const CALENDAR_EVERY_MINUTES: std::ops::RangeInclusive<i64> = 5..=1_440;

/// A calendar to connect.
#[derive(Debug, Clone, Copy)]
pub struct NewCalendar<'a> {
    pub team_member_id: i64,
    pub kind: CalendarKind,
    /// The CalDAV address (a calendar, or the account's address to find its calendars
    /// from) or the feed's: a secret, sealed when stored.
    pub url: &'a str,
    /// CalDAV's user name and password (sealed); a feed has none.
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    /// The zone of the calendar's floating times and whole days (IANA name).
    pub time_zone: &'a str,
    pub every_minutes: i64,
}

/// A calendar as lists show it: never its address or password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CalendarConnection {
    pub id: i64,
    pub team_member_id: i64,
    /// The team member's name.
    pub team_member: String,
    pub kind: String,
    pub host: String,
    pub username: Option<String>,
    pub time_zone: String,
    pub every_minutes: i64,
    /// Unix seconds; `None`: at once.
    pub next_sync_at: Option<i64>,
    pub requested: bool,
    /// Failures in a row.
    pub failures: i64,
    /// The node that syncs it now (while its heartbeat is fresh).
    pub owner: Option<String>,
    pub heartbeat: Option<i64>,
    pub last_synced_at: Option<i64>,
    /// Why the last sync failed; `None` when it succeeded.
    pub last_error: Option<String>,
    /// The last sync's report (JSON, `laer_core::calendar::CalendarReport`).
    pub last_report: Option<String>,
    pub created_at: i64,
    pub created_by: String,
}

impl CalendarConnection {
    pub fn kind(&self) -> Result<CalendarKind, StoreError> {
        Column("calendar_connections", "kind").parsed(&self.kind)
    }

    pub fn report(&self) -> Option<calendar::CalendarReport> {
        self.last_report.as_deref().and_then(|r| serde_json::from_str(r).ok())
    }
}

/// A calendar a node has taken to sync: its row and its sealed secrets.
#[derive(Debug)]
pub struct CalendarClaim {
    pub connection: CalendarConnection,
    pub url: StoredSecret,
    pub password: Option<StoredSecret>,
}

/// How a sync ended.
#[derive(Debug, Clone)]
pub struct CalendarEnd<'a> {
    pub now: i64,
    /// `None`: it succeeded.
    pub error: Option<&'a str>,
    pub report: Option<&'a str>,
    pub next_sync_at: i64,
}

/// What writing a sync's meetings did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarWrite {
    pub written: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub cancelled: u64,
}

/// Calendars are leased work: one node syncs one at a time.
const CALENDARS: Leased = Leased {
    table: "calendar_connections",
    due_at: "next_sync_at",
};

const COLUMNS: &str = "c.id, c.team_member_id, m.name AS team_member, c.kind, c.host, c.username, c.time_zone, \
     c.every_minutes, c.next_sync_at, c.requested <> 0 AS requested, c.failures, c.owner, c.heartbeat, \
     c.last_synced_at, c.last_error, c.last_report, c.created_at, c.created_by";

const FROM: &str = "calendar_connections c JOIN team_members m ON m.id = c.team_member_id";

fn invalid(field: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Refused {
        field: field.into(),
        message: message.to_string(),
    }
}

impl NewCalendar<'_> {
    /// What is wrong with it, one (field, message) per field, all of them: a form shows
    /// each at its field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Err(m) = calendar::address(self.url) {
            out.push(("url", m));
        }
        if let Err(m) = calendar::zone(self.time_zone) {
            out.push(("time_zone", m));
        }
        if !CALENDAR_EVERY_MINUTES.contains(&self.every_minutes) {
            out.push((
                "every_minutes",
                format!(
                    "{} to {} minutes between syncs",
                    CALENDAR_EVERY_MINUTES.start(),
                    CALENDAR_EVERY_MINUTES.end()
                ),
            ));
        }
        let given = |v: Option<&str>| v.map(str::trim).is_some_and(|v| !v.is_empty());
        match self.kind {
            CalendarKind::Caldav => {
                if !given(self.username) {
                    out.push(("username", "CalDAV needs the user name your provider gives".into()));
                } else if self.username.is_some_and(|u| u.chars().count() > 256) {
                    out.push(("username", "at most 256 characters".into()));
                }
                if !given(self.password) {
                    out.push((
                        "password",
                        "CalDAV needs a password (an app password, where your provider issues them)".into(),
                    ));
                }
            }
            CalendarKind::Feed => {
                if given(self.username) || given(self.password) {
                    out.push((
                        "username",
                        "a feed's address is its credential: it takes no user name or password".into(),
                    ));
                }
            }
        }
        out
    }
}

impl Store {
    /// Connects a calendar of a team member, its address and password sealed with
    /// `secrets`; it syncs as soon as a node is free. Audited without either secret.
    pub async fn add_calendar(
        &self,
        new: &NewCalendar<'_>,
        secrets: &SecretBox,
        actor: &str,
    ) -> Result<i64, StoreError> {
        if let Some((field, message)) = new.problems().into_iter().next() {
            return Err(invalid(field, message));
        }
        let address = calendar::address(new.url).map_err(|m| invalid("url", m))?;
        let seal = |purpose: &'static str, value: &str, what: &str| {
            secrets.seal(purpose, value).map_err(|source| StoreError::Secret {
                what: what.into(),
                source,
            })
        };
        let url = seal(CALENDAR_URL.purpose, &address.url, "a calendar's address")?;
        let password = match new.kind {
            CalendarKind::Caldav => new
                .password
                .map(|p| seal(CALENDAR_PASSWORD.purpose, p, "a calendar's password"))
                .transpose()?,
            CalendarKind::Feed => None,
        };
        let username = match new.kind {
            CalendarKind::Caldav => new.username.map(str::trim),
            CalendarKind::Feed => None,
        };
        let now = Utc::now().timestamp();
        let mut tx = self.begin_write().await?;
        let member: Option<(String,)> = tx
            .fetch_optional(
                "SELECT name FROM team_members WHERE id = $1",
                params![new.team_member_id],
            )
            .await?;
        if member.is_none() {
            return Err(StoreError::NotFound(format!("team member {}", new.team_member_id)));
        }
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO calendar_connections (team_member_id, kind, host, url, url_key_id, username, password, \
                 password_key_id, time_zone, every_minutes, requested, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12) RETURNING id",
                params![
                    new.team_member_id,
                    new.kind.as_str(),
                    &address.host,
                    &url.ciphertext,
                    &url.key_id,
                    username,
                    password.as_ref().map(|p| p.ciphertext.as_str()),
                    password.as_ref().map(|p| p.key_id.as_str()),
                    new.time_zone.trim(),
                    new.every_minutes,
                    now,
                    actor
                ],
            )
            .await?;
        tx.append_audit(&NewAuditEntry {
            at: Utc::now(),
            actor: actor.to_string(),
            action: "calendar.added".into(),
            details: json!({"id": id, "team_member_id": new.team_member_id, "kind": new.kind.as_str(),
                            "host": address.host, "every_minutes": new.every_minutes}),
        })
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every calendar, or a team member's, by team member and id.
    pub async fn calendars(&self, team_member_id: Option<i64>) -> Result<Vec<CalendarConnection>, StoreError> {
        match team_member_id {
            Some(member) => {
                let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.team_member_id = $1 ORDER BY c.id");
                self.fetch_all(&sql, params![member]).await
            }
            None => {
                let sql = format!("SELECT {COLUMNS} FROM {FROM} ORDER BY m.name, c.id");
                self.fetch_all(&sql, params![]).await
            }
        }
    }

    pub async fn calendar(&self, id: i64) -> Result<Option<CalendarConnection>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1");
        self.fetch_optional(&sql, params![id]).await
    }

    /// Asks for a sync as soon as a node is free. False when no calendar has the id.
    pub async fn request_calendar(&self, id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let found = CALENDARS.request(&mut tx, id).await?;
        if found {
            tx.append_audit(&NewAuditEntry {
                at: Utc::now(),
                actor: actor.to_string(),
                action: "calendar.requested".into(),
                details: json!({"id": id}),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Disconnects a calendar (the meetings it made stay). False when none has the id.
    pub async fn remove_calendar(&self, id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.execute("DELETE FROM calendar_touchpoints WHERE connection_id = $1", params![id])
            .await?;
        let found = tx
            .execute("DELETE FROM calendar_connections WHERE id = $1", params![id])
            .await?;
        if found == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.append_audit(&NewAuditEntry {
            at: Utc::now(),
            actor: actor.to_string(),
            action: "calendar.removed".into(),
            details: json!({"id": id}),
        })
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes a calendar to sync for `owner`: the first due one (asked for, or at its
    /// time) that no node holds with a heartbeat after `stale_before`; with `only`, that
    /// calendar whether due or not.
    pub async fn claim_calendar(
        &self,
        owner: &str,
        now: i64,
        stale_before: i64,
        only: Option<i64>,
    ) -> Result<Option<CalendarClaim>, StoreError> {
        let candidates = match only {
            Some(id) => vec![id],
            None => CALENDARS.due(self, now).await?,
        };
        for id in candidates {
            let mut tx = self.begin_write().await?;
            if !CALENDARS.take(&mut tx, id, owner, now, stale_before).await? {
                tx.rollback().await?;
                continue;
            }
            let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1");
            let connection: CalendarConnection = tx.fetch_one(&sql, params![id]).await?;
            let (url, url_key, password, password_key): (String, Option<String>, Option<String>, Option<String>) = tx
                .fetch_one(
                    "SELECT url, url_key_id, password, password_key_id FROM calendar_connections WHERE id = $1",
                    params![id],
                )
                .await?;
            tx.commit().await?;
            return Ok(Some(CalendarClaim {
                connection,
                url: StoredSecret::new(&CALENDAR_URL, url, url_key),
                password: password.map(|p| StoredSecret::new(&CALENDAR_PASSWORD, p, password_key)),
            }));
        }
        Ok(None)
    }

    /// Renews `owner`'s lease. False when `owner` no longer holds the calendar.
    pub async fn calendar_heartbeat(&self, id: i64, owner: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let held = CALENDARS.renew(&mut tx, id, owner, Some(now)).await?;
        tx.commit().await?;
        Ok(held)
    }

    /// Ends `owner`'s sync: its outcome and report, when it syncs next, the lease let go.
    /// A failure counts toward the backoff and keeps the last good report; a success
    /// resets it.
    pub async fn finish_calendar(&self, id: i64, owner: &str, end: &CalendarEnd<'_>) -> Result<(), StoreError> {
        let failed = i64::from(end.error.is_some());
        self.execute(
            "UPDATE calendar_connections SET owner = NULL, heartbeat = NULL, next_sync_at = $1, last_synced_at = $2, \
             last_error = $3, last_report = COALESCE($4, last_report), \
             failures = CASE WHEN $5 = 1 THEN failures + 1 ELSE 0 END WHERE id = $6 AND owner = $7",
            params![end.next_sync_at, end.now, end.error, end.report, failed, id, owner],
        )
        .await?;
        Ok(())
    }

    /// Who events' people are: contacts and team members by address, and the vendor's
    /// own domains ([`calendar::own_domains`]).
    pub async fn calendar_people(&self) -> Result<People, StoreError> {
        let contacts: Vec<(i64, i64, String, Option<String>)> = self
            .fetch_all(
                "SELECT id, account_id, LOWER(TRIM(email)), stakeholder_team FROM contacts \
                 WHERE email IS NOT NULL AND email <> '' ORDER BY id",
                params![],
            )
            .await?;
        let team: Vec<(i64, String)> = self
            .fetch_all(
                "SELECT id, LOWER(TRIM(email)) FROM team_members WHERE email IS NOT NULL AND email <> '' ORDER BY id",
                params![],
            )
            .await?;
        let users: Vec<(String,)> = self
            .fetch_all("SELECT LOWER(TRIM(email)) FROM users", params![])
            .await?;
        let own_domains = calendar::own_domains(
            team.iter()
                .map(|(_, e)| e.as_str())
                .chain(users.iter().map(|(e,)| e.as_str())),
            contacts.iter().map(|(_, _, e, _)| e.as_str()),
        );
        let mut by_address: HashMap<String, Vec<Attendee>> = HashMap::new();
        for (contact_id, account_id, email, stakeholder_team) in contacts {
            by_address.entry(email).or_default().push(Attendee {
                contact_id,
                account_id,
                stakeholder_team: stakeholder_team.filter(|t| !t.is_empty()),
            });
        }
        Ok(People {
            own_domains,
            contacts: by_address,
            team: team.into_iter().map(|(id, email)| (email, id)).collect(),
        })
    }

    /// Writes a sync's meetings of calendar `id` as touchpoints ([`calendar::touchpoint`]:
    /// what a person wrote on one in laer stays), and removes or cancels
    /// ([`calendar::gone`]) those this calendar made in `window` whose event is gone,
    /// unless another calendar still has them: all in one transaction, refused when
    /// `owner` no longer holds the calendar.
    pub async fn write_calendar_meetings(
        &self,
        id: i64,
        owner: &str,
        window: &Window,
        meetings: &[CalendarMeeting],
    ) -> Result<CalendarWrite, StoreError> {
        let mut tx = self.begin_write().await?;
        if !CALENDARS.renew(&mut tx, id, owner, None).await? {
            return Err(StoreError::Refused {
                field: "calendar".into(),
                message: "another node took this calendar over (this node's lease went stale); its sync is not kept"
                    .into(),
            });
        }
        let edited = edited_in_laer(&mut tx, meetings).await?;
        let records: Vec<NewTouchpoint> = meetings
            .iter()
            .map(|m| calendar::touchpoint(m, edited.get(&m.external_id)))
            .collect();
        let count = tx.upsert(&records).await?;
        for chunk in meetings.chunks(500) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${})", i + 2)).collect();
            let mut params = Params::with_capacity(chunk.len() + 1);
            params.push(id);
            for m in chunk {
                params.push(m.external_id.as_str());
            }
            tx.execute(
                &format!(
                    "INSERT INTO calendar_touchpoints (connection_id, external_id) VALUES {} ON CONFLICT DO NOTHING",
                    values.join(", ")
                ),
                params,
            )
            .await?;
        }
        let seen: HashSet<&str> = meetings.iter().map(|m| m.external_id.as_str()).collect();
        #[derive(sqlx::FromRow)]
        struct Made {
            external_id: String,
            account_id: Option<i64>,
            held_at: Option<i64>,
            edited: Option<bool>,
            status: Option<String>,
            others: i64,
        }
        let made: Vec<Made> = tx
            .fetch_all(
                "SELECT ct.external_id, t.account_id, t.held_at, t.updated_at IS NOT NULL AS edited, t.status, \
                 (SELECT COUNT(*) FROM calendar_touchpoints o WHERE o.external_id = ct.external_id \
                  AND o.connection_id <> ct.connection_id) AS others \
                 FROM calendar_touchpoints ct LEFT JOIN touchpoints t ON t.external_id = ct.external_id \
                 WHERE ct.connection_id = $1",
                params![id],
            )
            .await?;
        let (from, to) = (window.from.timestamp_micros(), window.to.timestamp_micros());
        let mut done = CalendarWrite {
            written: count.written,
            unchanged: count.unchanged,
            ..CalendarWrite::default()
        };
        for m in made.iter().filter(|m| !seen.contains(m.external_id.as_str())) {
            // A meeting from before the window stays: the calendar no longer lists it.
            let in_window = m.held_at.is_some_and(|at| at >= from && at < to);
            if m.held_at.is_some() && !in_window {
                continue;
            }
            tx.execute(
                "DELETE FROM calendar_touchpoints WHERE connection_id = $1 AND external_id = $2",
                params![id, m.external_id.as_str()],
            )
            .await?;
            let (Some(account_id), true) = (m.account_id, m.others == 0) else {
                continue;
            };
            match calendar::gone(m.edited.unwrap_or(false)) {
                Gone::Delete => {
                    tx.delete::<NewTouchpoint>(&[KeyPart::Text(&m.external_id)]).await?;
                    done.removed += 1;
                }
                Gone::Cancel if m.status.as_deref() != Some("cancelled") => {
                    tx.execute(
                        "UPDATE touchpoints SET status = 'cancelled', version = version + 1 WHERE external_id = $1",
                        params![m.external_id.as_str()],
                    )
                    .await?;
                    tx.mark_health_dirty(Feeds::Account, &[account_id]).await?;
                    done.cancelled += 1;
                }
                Gone::Cancel => {}
            }
        }
        tx.commit().await?;
        Ok(done)
    }
}

/// What people wrote in laer on the touchpoints these meetings are, by external id.
async fn edited_in_laer(tx: &mut WriteTx, meetings: &[CalendarMeeting]) -> Result<HashMap<String, Edited>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        external_id: String,
        kind: String,
        purpose: Option<String>,
        summary: Option<String>,
        next_step: Option<String>,
    }
    let mut out = HashMap::new();
    for chunk in meetings.chunks(1_000) {
        let mut params = Params::with_capacity(chunk.len());
        for m in chunk {
            params.push(m.external_id.as_str());
        }
        let rows: Vec<Row> = tx
            .fetch_all(
                &format!(
                    "SELECT external_id, kind, purpose, summary, next_step FROM touchpoints \
                     WHERE updated_at IS NOT NULL AND external_id IN ({})",
                    list(1, chunk.len())
                ),
                params,
            )
            .await?;
        for r in rows {
            let kind: TouchpointKind = Column("touchpoints", "kind").parsed(&r.kind)?;
            out.insert(
                r.external_id,
                Edited {
                    kind,
                    purpose: r.purpose,
                    summary: r.summary,
                    next_step: r.next_step,
                },
            );
        }
    }
    Ok(out)
}
