//! Touchpoints: meetings, calls, emails, notes and business reviews with a customer, with
//! the stakeholder teams they were with, the account's contacts who took part and who
//! from our side (three link tables, written in the same transaction as the touchpoint).
//! Imports upsert them by external id ([`crate::Stored`] for [`NewTouchpoint`]); the web
//! app creates, edits (version-checked) and deletes them, each change audited.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use laer_core::model::{NewAuditEntry, NewTouchpoint};
use serde::Serialize;
use serde_json::json;

use crate::decode::Column;
use crate::exec::{Params, list, params, tuples};
use crate::sql::Feeds;
use crate::{Store, StoreError, WriteTx};

/// A stored touchpoint with who took part, by name, and who logged it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Touchpoint {
    pub id: i64,
    pub record: NewTouchpoint,
    /// The user who logged it in laer; `None` for one imported.
    pub created_by: Option<i64>,
    /// That user's name.
    pub created_by_name: Option<String>,
    /// Incremented by every edit; an edit of an older version is refused
    /// ([`StoreError::Stale`]).
    pub version: i64,
    /// When it was last written in laer; `None` for one imported and never edited.
    pub updated_at: Option<DateTime<Utc>>,
    /// The contacts who took part, by name, in the order of `record.contact_ids`.
    pub contacts: Vec<Named>,
    /// Who from our side took part, by name, in the order of `record.team_member_ids`.
    pub team_members: Vec<Named>,
}

/// A record's id and the name it is shown by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// What a touchpoint of an account can name: the account's contacts and stakeholder
/// teams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TouchpointChoices {
    /// The account's contacts, by team (none last), then name.
    pub contacts: Vec<ContactChoice>,
    /// The teams its contacts, cadences and touchpoints name, sorted.
    pub teams: Vec<String>,
}

/// A contact as a form offers it (a touchpoint's participants, a survey answer's
/// respondent): ids, the name to show (else the email, else the external id), the team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ContactChoice {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub stakeholder_team: Option<String>,
}

mod rows {
    #[derive(sqlx::FromRow)]
    pub(super) struct Touchpoint {
        pub id: i64,
        pub external_id: String,
        pub account_id: i64,
        pub held_at: i64,
        pub kind: String,
        pub purpose: Option<String>,
        pub status: String,
        pub duration_minutes: Option<i64>,
        pub summary: Option<String>,
        pub next_step: Option<String>,
        pub created_by: Option<i64>,
        pub created_by_name: Option<String>,
        pub version: i64,
        pub updated_at: Option<i64>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Team {
        pub touchpoint_id: i64,
        pub stakeholder_team: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Link {
        pub touchpoint_id: i64,
        pub id: i64,
        pub name: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct LinkId {
        pub touchpoint_id: i64,
        pub id: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Owner {
        pub id: i64,
        pub account_id: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Seen {
        pub contact_id: i64,
        pub held_at: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct LastTouch {
        pub account_id: i64,
        pub held_at: i64,
    }
}

/// Which touchpoints a read selects: `{t}` stands for the touchpoints table's alias.
enum Which {
    Account(i64),
    One(i64),
}

impl Which {
    fn condition(&self) -> (&'static str, i64) {
        match self {
            Which::Account(id) => ("t.account_id = $1", *id),
            Which::One(id) => ("t.id = $1", *id),
        }
    }
}

impl Store {
    /// The account's touchpoints, latest first, with their teams and people.
    pub async fn touchpoints_of(&self, account_id: i64) -> Result<Vec<Touchpoint>, StoreError> {
        self.read_touchpoints(Which::Account(account_id)).await
    }

    /// One touchpoint, if it exists.
    pub async fn touchpoint(&self, id: i64) -> Result<Option<Touchpoint>, StoreError> {
        Ok(self.read_touchpoints(Which::One(id)).await?.into_iter().next())
    }

    async fn read_touchpoints(&self, which: Which) -> Result<Vec<Touchpoint>, StoreError> {
        let (condition, id) = which.condition();
        let main: Vec<rows::Touchpoint> = self
            .fetch_all(
                &format!(
                    "SELECT t.id, t.external_id, t.account_id, t.held_at, t.kind, t.purpose, t.status, \
                     CAST(t.duration_minutes AS BIGINT) AS duration_minutes, t.summary, t.next_step, t.created_by, \
                     u.name AS created_by_name, t.version, t.updated_at \
                     FROM touchpoints t LEFT JOIN users u ON u.id = t.created_by WHERE {condition} \
                     ORDER BY t.held_at DESC, t.id DESC"
                ),
                params![id],
            )
            .await?;
        if main.is_empty() {
            return Ok(Vec::new());
        }
        let teams: Vec<rows::Team> = self
            .fetch_all(
                &format!(
                    "SELECT tt.touchpoint_id, tt.stakeholder_team FROM touchpoint_teams tt \
                     JOIN touchpoints t ON t.id = tt.touchpoint_id WHERE {condition} ORDER BY 1, 2"
                ),
                params![id],
            )
            .await?;
        let contacts: Vec<rows::Link> = self
            .fetch_all(
                &format!(
                    "SELECT tc.touchpoint_id, c.id, COALESCE(c.name, c.email, c.external_id) AS name \
                     FROM touchpoint_contacts tc JOIN touchpoints t ON t.id = tc.touchpoint_id \
                     JOIN contacts c ON c.id = tc.contact_id WHERE {condition} ORDER BY 1, 2"
                ),
                params![id],
            )
            .await?;
        let members: Vec<rows::Link> = self
            .fetch_all(
                &format!(
                    "SELECT tm.touchpoint_id, m.id, m.name FROM touchpoint_members tm \
                     JOIN touchpoints t ON t.id = tm.touchpoint_id \
                     JOIN team_members m ON m.id = tm.team_member_id WHERE {condition} ORDER BY 1, 2"
                ),
                params![id],
            )
            .await?;
        let mut teams_of: HashMap<i64, Vec<String>> = HashMap::new();
        for t in teams {
            teams_of.entry(t.touchpoint_id).or_default().push(t.stakeholder_team);
        }
        let group = |links: Vec<rows::Link>| {
            let mut of: HashMap<i64, Vec<Named>> = HashMap::new();
            for l in links {
                of.entry(l.touchpoint_id)
                    .or_default()
                    .push(Named { id: l.id, name: l.name });
            }
            of
        };
        let (mut contacts_of, mut members_of) = (group(contacts), group(members));
        let column = |name| Column("touchpoints", name);
        main.into_iter()
            .map(|t| {
                let contacts = contacts_of.remove(&t.id).unwrap_or_default();
                let team_members = members_of.remove(&t.id).unwrap_or_default();
                Ok(Touchpoint {
                    id: t.id,
                    record: NewTouchpoint {
                        external_id: t.external_id,
                        account_id: t.account_id,
                        held_at: column("held_at").instant(t.held_at)?,
                        kind: column("kind").parsed(&t.kind)?,
                        purpose: t.purpose,
                        status: column("status").parsed(&t.status)?,
                        duration_minutes: t
                            .duration_minutes
                            .map(|d| column("duration_minutes").fits(d))
                            .transpose()?,
                        stakeholder_teams: teams_of.remove(&t.id).unwrap_or_default(),
                        contact_ids: contacts.iter().map(|c| c.id).collect(),
                        team_member_ids: team_members.iter().map(|m| m.id).collect(),
                        summary: t.summary,
                        next_step: t.next_step,
                    },
                    created_by: t.created_by,
                    created_by_name: t.created_by_name,
                    version: t.version,
                    updated_at: column("updated_at").opt_instant(t.updated_at)?,
                    contacts,
                    team_members,
                })
            })
            .collect()
    }

    /// The account's contacts and teams a touchpoint can name.
    pub async fn touchpoint_choices(&self, account_id: i64) -> Result<TouchpointChoices, StoreError> {
        let mut contacts: Vec<ContactChoice> = self
            .fetch_all(
                // A deactivated contact stays a choice, marked, so that editing an older
                // touchpoint keeps who took part then.
                "SELECT id, external_id, COALESCE(name, email, external_id) || \
                 CASE WHEN deactivated_at IS NULL THEN '' ELSE ' (inactive)' END AS name, stakeholder_team \
                 FROM contacts WHERE account_id = $1",
                params![account_id],
            )
            .await?;
        contacts.sort_by(|a, b| {
            (a.stakeholder_team.is_none(), &a.stakeholder_team, &a.name).cmp(&(
                b.stakeholder_team.is_none(),
                &b.stakeholder_team,
                &b.name,
            ))
        });
        let teams: Vec<(String,)> = self
            .fetch_all(
                "SELECT stakeholder_team FROM contacts WHERE account_id = $1 AND stakeholder_team IS NOT NULL \
                 UNION SELECT stakeholder_team FROM meeting_cadences WHERE account_id = $1 \
                 UNION SELECT tt.stakeholder_team FROM touchpoint_teams tt JOIN touchpoints t ON t.id = tt.touchpoint_id \
                 WHERE t.account_id = $1 ORDER BY 1",
                params![account_id],
            )
            .await?;
        Ok(TouchpointChoices {
            contacts,
            teams: teams.into_iter().map(|(t,)| t).filter(|t| !t.is_empty()).collect(),
        })
    }

    /// When each contact of the account last took part in a touchpoint held (contact id
    /// → the latest `held_at`); contacts never in one are absent.
    pub async fn last_touchpoint_by_contact(&self, account_id: i64) -> Result<HashMap<i64, DateTime<Utc>>, StoreError> {
        let rows: Vec<rows::Seen> = self
            .fetch_all(
                "SELECT tc.contact_id, MAX(t.held_at) AS held_at FROM touchpoint_contacts tc \
                 JOIN touchpoints t ON t.id = tc.touchpoint_id \
                 WHERE t.account_id = $1 AND t.status = 'held' GROUP BY tc.contact_id",
                params![account_id],
            )
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.contact_id, Column("touchpoints", "held_at").instant(r.held_at)?)))
            .collect()
    }

    /// When each of `accounts` was last in touch with the team (account id → the latest
    /// `held_at` of a touchpoint held, up to `until`); accounts never touched are absent.
    /// The portfolio's "last touch" (issue 16), for the accounts of the page shown: each a
    /// walk of the `(account_id, held_at)` index.
    pub async fn last_touches(
        &self,
        accounts: &[i64],
        until: DateTime<Utc>,
    ) -> Result<HashMap<i64, DateTime<Utc>>, StoreError> {
        if accounts.is_empty() {
            return Ok(HashMap::new());
        }
        let mut p = params![until.timestamp_micros()];
        let ids = accounts
            .iter()
            .map(|id| p.placeholder(*id))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<rows::LastTouch> = self
            .fetch_all(
                &format!(
                    "SELECT account_id, MAX(held_at) AS held_at FROM touchpoints \
                     WHERE account_id IN ({ids}) AND status = 'held' AND held_at <= $1 GROUP BY account_id"
                ),
                p,
            )
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.account_id, Column("touchpoints", "held_at").instant(r.held_at)?)))
            .collect()
    }

    /// Logs a touchpoint made in laer by the user `created_by` (`actor` names them in the
    /// audit log): refused naming the field when a value is over its bound, a contact is
    /// not one of the account's, or a team member does not exist. Its id.
    pub async fn create_touchpoint(
        &self,
        record: &NewTouchpoint,
        created_by: Option<i64>,
        actor: &str,
    ) -> Result<i64, StoreError> {
        refuse_problems(record)?;
        let record = record.clone().normalized();
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        check_people(&mut tx, std::slice::from_ref(&record)).await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO touchpoints (external_id, account_id, held_at, kind, purpose, status, duration_minutes, \
                 summary, next_step, created_by, version, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11) RETURNING id",
                params![
                    &record.external_id,
                    record.account_id,
                    record.held_at.timestamp_micros(),
                    record.kind.as_str(),
                    &record.purpose,
                    record.status.as_str(),
                    record.duration_minutes.map(i64::from),
                    &record.summary,
                    &record.next_step,
                    created_by,
                    now.timestamp_micros(),
                ],
            )
            .await?;
        replace_people(&mut tx, &[(id, &record)]).await?;
        tx.mark_health_dirty(Feeds::Account, &[record.account_id]).await?;
        tx.append_audit(&audit(now, actor, "touchpoint.created", id, &record))
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Changes touchpoint `id`, last read at `version`, to `record` (its account, external
    /// id and who logged it stay): [`StoreError::Stale`] when someone changed it since,
    /// [`StoreError::NotFound`] when it is gone. Refused as [`Store::create_touchpoint`].
    pub async fn update_touchpoint(
        &self,
        id: i64,
        version: i64,
        record: &NewTouchpoint,
        actor: &str,
    ) -> Result<(), StoreError> {
        refuse_problems(record)?;
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let Some((account_id,)): Option<(i64,)> = tx
            .fetch_optional("SELECT account_id FROM touchpoints WHERE id = $1", params![id])
            .await?
        else {
            return Err(StoreError::NotFound(format!("touchpoint {id}")));
        };
        let record = NewTouchpoint {
            account_id,
            ..record.clone().normalized()
        };
        check_people(&mut tx, std::slice::from_ref(&record)).await?;
        let changed = tx
            .execute(
                "UPDATE touchpoints SET held_at = $3, kind = $4, purpose = $5, status = $6, duration_minutes = $7, \
                 summary = $8, next_step = $9, updated_at = $10, version = version + 1 \
                 WHERE id = $1 AND version = $2",
                params![
                    id,
                    version,
                    record.held_at.timestamp_micros(),
                    record.kind.as_str(),
                    &record.purpose,
                    record.status.as_str(),
                    record.duration_minutes.map(i64::from),
                    &record.summary,
                    &record.next_step,
                    now.timestamp_micros(),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Stale {
                what: format!("touchpoint {id}"),
            });
        }
        let external_id: (String,) = tx
            .fetch_one("SELECT external_id FROM touchpoints WHERE id = $1", params![id])
            .await?;
        let record = NewTouchpoint {
            external_id: external_id.0,
            ..record
        };
        replace_people(&mut tx, &[(id, &record)]).await?;
        tx.mark_health_dirty(Feeds::Account, &[account_id]).await?;
        tx.append_audit(&audit(now, actor, "touchpoint.updated", id, &record))
            .await?;
        tx.commit().await
    }

    /// Deletes touchpoint `id`, last read at `version`, with its links: [`StoreError::Stale`]
    /// when someone changed it since, [`StoreError::NotFound`] when it is gone.
    pub async fn delete_touchpoint(&self, id: i64, version: i64, actor: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let Some(stored) = self.touchpoint(id).await? else {
            return Err(StoreError::NotFound(format!("touchpoint {id}")));
        };
        for table in ["touchpoint_teams", "touchpoint_contacts", "touchpoint_members"] {
            tx.execute(&format!("DELETE FROM {table} WHERE touchpoint_id = $1"), params![id])
                .await?;
        }
        let deleted = tx
            .execute(
                "DELETE FROM touchpoints WHERE id = $1 AND version = $2",
                params![id, version],
            )
            .await?;
        if deleted == 0 {
            // Rolled back with the transaction: the links stay.
            return Err(StoreError::Stale {
                what: format!("touchpoint {id}"),
            });
        }
        tx.mark_health_dirty(Feeds::Account, &[stored.record.account_id])
            .await?;
        tx.append_audit(&audit(now, actor, "touchpoint.deleted", id, &stored.record))
            .await?;
        tx.commit().await
    }
}

/// The audit entry of a change to touchpoint `id`.
fn audit(at: DateTime<Utc>, actor: &str, action: &str, id: i64, t: &NewTouchpoint) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor: actor.to_string(),
        action: action.to_string(),
        details: json!({
            "touchpoint": id,
            "external_id": t.external_id,
            "account_id": t.account_id,
            "kind": t.kind,
            "held_at": t.held_at,
            "status": t.status,
            "stakeholder_teams": t.stakeholder_teams,
            "contacts": t.contact_ids,
            "team_members": t.team_member_ids,
        }),
    }
}

/// The record's first problem ([`NewTouchpoint::problems`]) as a refusal naming its field.
fn refuse_problems(record: &NewTouchpoint) -> Result<(), StoreError> {
    match record.problems().into_iter().next() {
        Some((field, message)) => Err(StoreError::Refused {
            field: field.to_string(),
            message,
        }),
        None => Ok(()),
    }
}

/// Refuses a contact who is not one of the touchpoint's account's, and a team member who
/// does not exist, naming the field (`contacts`, `team_members`).
pub(crate) async fn check_people(tx: &mut WriteTx, records: &[NewTouchpoint]) -> Result<(), StoreError> {
    let contacts: BTreeSet<i64> = records.iter().flat_map(|r| r.contact_ids.iter().copied()).collect();
    let contacts: Vec<i64> = contacts.into_iter().collect();
    let mut account_of: HashMap<i64, i64> = HashMap::new();
    for chunk in contacts.chunks(1_000) {
        let found: Vec<rows::Owner> = tx
            .fetch_all(
                &format!(
                    "SELECT id, account_id FROM contacts WHERE id IN ({})",
                    list(1, chunk.len())
                ),
                crate::write::ints(chunk),
            )
            .await?;
        account_of.extend(found.into_iter().map(|o| (o.id, o.account_id)));
    }
    for r in records {
        if let Some(c) = r.contact_ids.iter().find(|c| account_of.get(c) != Some(&r.account_id)) {
            return Err(StoreError::Refused {
                field: "contacts".into(),
                message: format!(
                    "contact {c} is not a contact of this account (touchpoint {:?})",
                    r.external_id
                ),
            });
        }
    }
    let members: BTreeSet<i64> = records.iter().flat_map(|r| r.team_member_ids.iter().copied()).collect();
    let members: Vec<i64> = members.into_iter().collect();
    let mut known: BTreeSet<i64> = BTreeSet::new();
    for chunk in members.chunks(1_000) {
        let found: Vec<(i64,)> = tx
            .fetch_all(
                &format!("SELECT id FROM team_members WHERE id IN ({})", list(1, chunk.len())),
                crate::write::ints(chunk),
            )
            .await?;
        known.extend(found.into_iter().map(|(id,)| id));
    }
    if let Some(m) = members.iter().find(|m| !known.contains(m)) {
        return Err(StoreError::Refused {
            field: "team_members".into(),
            message: format!("team member {m} does not exist"),
        });
    }
    Ok(())
}

/// What a touchpoint links to: its teams, contacts and team members.
#[derive(Debug, Default, PartialEq, Eq)]
struct Links {
    teams: BTreeSet<String>,
    contacts: BTreeSet<i64>,
    members: BTreeSet<i64>,
}

impl Links {
    fn of(r: &NewTouchpoint) -> Links {
        Links {
            teams: r.stakeholder_teams.iter().cloned().collect(),
            contacts: r.contact_ids.iter().copied().collect(),
            members: r.team_member_ids.iter().copied().collect(),
        }
    }
}

/// Makes the link rows of each (touchpoint id, record) those of the record, rewriting
/// only the touchpoints whose links differ; the ids of those.
pub(crate) async fn replace_people(
    tx: &mut WriteTx,
    touchpoints: &[(i64, &NewTouchpoint)],
) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<i64> = touchpoints.iter().map(|(id, _)| *id).collect();
    let mut stored: BTreeMap<i64, Links> = BTreeMap::new();
    for chunk in ids.chunks(1_000) {
        let inside = list(1, chunk.len());
        let teams: Vec<rows::Team> = tx
            .fetch_all(
                &format!(
                    "SELECT touchpoint_id, stakeholder_team FROM touchpoint_teams WHERE touchpoint_id IN ({inside})"
                ),
                crate::write::ints(chunk),
            )
            .await?;
        for t in teams {
            stored
                .entry(t.touchpoint_id)
                .or_default()
                .teams
                .insert(t.stakeholder_team);
        }
        for (table, column, is_contact) in [
            ("touchpoint_contacts", "contact_id", true),
            ("touchpoint_members", "team_member_id", false),
        ] {
            let links: Vec<rows::LinkId> = tx
                .fetch_all(
                    &format!("SELECT touchpoint_id, {column} AS id FROM {table} WHERE touchpoint_id IN ({inside})"),
                    crate::write::ints(chunk),
                )
                .await?;
            for l in links {
                let entry = stored.entry(l.touchpoint_id).or_default();
                match is_contact {
                    true => entry.contacts.insert(l.id),
                    false => entry.members.insert(l.id),
                };
            }
        }
    }
    let empty = Links::default();
    let changed: Vec<(i64, Links)> = touchpoints
        .iter()
        .map(|(id, r)| (*id, Links::of(r)))
        .filter(|(id, links)| stored.get(id).unwrap_or(&empty) != links)
        .collect();
    let changed_ids: Vec<i64> = changed.iter().map(|(id, _)| *id).collect();
    for chunk in changed_ids.chunks(1_000) {
        for table in ["touchpoint_teams", "touchpoint_contacts", "touchpoint_members"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE touchpoint_id IN ({})", list(1, chunk.len())),
                crate::write::ints(chunk),
            )
            .await?;
        }
    }
    let teams: Vec<(i64, &str)> = changed
        .iter()
        .flat_map(|(id, l)| l.teams.iter().map(move |t| (*id, t.as_str())))
        .collect();
    for chunk in teams.chunks(1_000) {
        let mut params = Params::with_capacity(chunk.len() * 2);
        for (id, team) in chunk {
            params.push(*id);
            params.push(*team);
        }
        tx.execute(
            &format!(
                "INSERT INTO touchpoint_teams (touchpoint_id, stakeholder_team) VALUES {}",
                tuples(chunk.len(), 2)
            ),
            params,
        )
        .await?;
    }
    for (table, column, pick) in [
        (
            "touchpoint_contacts",
            "contact_id",
            (|l: &Links| &l.contacts) as fn(&Links) -> &BTreeSet<i64>,
        ),
        ("touchpoint_members", "team_member_id", |l: &Links| &l.members),
    ] {
        let pairs: Vec<i64> = changed
            .iter()
            .flat_map(|(id, l)| pick(l).iter().flat_map(move |x| [*id, *x]))
            .collect();
        for chunk in pairs.chunks(2_000) {
            tx.execute(
                &format!(
                    "INSERT INTO {table} (touchpoint_id, {column}) VALUES {}",
                    tuples(chunk.len() / 2, 2)
                ),
                crate::write::ints(chunk),
            )
            .await?;
        }
    }
    Ok(changed_ids)
}
