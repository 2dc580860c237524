//! What the team records by hand about a customer's people and outcomes: contacts (added,
//! edited, deactivated), each stakeholder team's agreed meeting cadence, outcomes and
//! their measurements — and the measurements a customer records through a share link,
//! where the plan allows it, limited in rate.
//!
//! Every change is one transaction with its audit entry and the account's health marked
//! for computing again. Editable records carry a `version`: an edit of an older version
//! is refused ([`StoreError::Stale`]); an edit that asks for what is stored already
//! changes nothing and succeeds, so that sending a form twice is harmless.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use laer_core::model::{NewContact, NewMeetingCadence, NewOutcome, NewOutcomeMeasurement, NewTeamMember};
use serde::Serialize;

use crate::access::sha256_hex;
use crate::decode::Column;
use crate::exec::params;
use crate::sql::Feeds;
use crate::write::WriteCount;
use crate::write::audit;
use crate::{Store, StoreError, WriteTx, random_id};

/// A contact as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    pub id: i64,
    pub version: i64,
    /// When the contact was deactivated; `None` while active.
    pub deactivated_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub fields: NewContact,
}

impl Contact {
    pub fn active(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

/// An outcome as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub id: i64,
    pub version: i64,
    #[serde(flatten)]
    pub fields: NewOutcome,
}

/// A measurement as stored, with who recorded it and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    #[serde(flatten)]
    pub fields: NewOutcomeMeasurement,
    /// When it was recorded in laer; `None` for measurements imported before laer kept it.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// What a write did to the one record it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    Created,
    Changed,
    /// Stored as asked already: nothing written, nothing audited.
    Unchanged,
}

/// A live share link as the customer's page needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedPlan {
    pub account_id: i64,
    pub link_id: i64,
    /// The token's first characters, to name the link in the audit log.
    pub prefix: String,
    /// Whether the plan lets the customer record measurements.
    pub customer_measurements: bool,
}

impl SharedPlan {
    /// Who a measurement through this link is recorded as.
    pub fn recorded_by(&self) -> String {
        format!("customer via link {}…", self.prefix)
    }
}

/// How many measurements one share link may record in a window of time, counted in the
/// database so that every node applies the same limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub writes: i64,
    pub window: TimeDelta,
}

impl RateLimit {
    /// At most 20 measurements per link per hour: far more than a person records, far
    /// fewer than a script would.
    pub const CUSTOMER: RateLimit = RateLimit {
        writes: 20,
        window: TimeDelta::hours(1),
    };
}

/// The answer to a customer's measurement through a share link.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerWrite {
    Recorded(Written),
    /// The plan does not let the customer record measurements (or the link is revoked):
    /// nothing written.
    NotAllowed,
    /// The outcome is not one of the plan's.
    UnknownOutcome,
    /// The link's writes in the current window are used up; the next window starts then.
    TooMany {
        retry_after: DateTime<Utc>,
    },
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: i64,
    version: i64,
    deactivated_at: Option<i64>,
    external_id: String,
    account_id: i64,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    stakeholder_team: Option<String>,
    role: Option<String>,
}
const CONTACT_COLUMNS: &str =
    "id, version, deactivated_at, external_id, account_id, name, email, phone, title, stakeholder_team, role";

fn contact_of(r: ContactRow) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: r.id,
        version: r.version,
        deactivated_at: Column("contacts", "deactivated_at").opt_instant(r.deactivated_at)?,
        fields: NewContact {
            external_id: r.external_id,
            account_id: r.account_id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            title: r.title,
            stakeholder_team: r.stakeholder_team,
            role: r.role,
        },
    })
}

#[derive(sqlx::FromRow)]
struct OutcomeRow {
    id: i64,
    version: i64,
    external_id: String,
    account_id: i64,
    name: String,
    unit: Option<String>,
    baseline: f64,
    target: f64,
    start_date: Option<NaiveDate>,
    target_date: Option<NaiveDate>,
    direction: String,
}
const OUTCOME_COLUMNS: &str =
    "id, version, external_id, account_id, name, unit, baseline, target, start_date, target_date, direction";

fn outcome_of(r: OutcomeRow) -> Result<Outcome, StoreError> {
    Ok(Outcome {
        id: r.id,
        version: r.version,
        fields: NewOutcome {
            external_id: r.external_id,
            account_id: r.account_id,
            name: r.name,
            unit: r.unit,
            baseline: r.baseline,
            target: r.target,
            start_date: r.start_date,
            target_date: r.target_date,
            direction: Column("outcomes", "direction").parsed(&r.direction)?,
        },
    })
}

#[derive(sqlx::FromRow)]
struct MeasurementRow {
    outcome_id: i64,
    measured_on: NaiveDate,
    value: f64,
    source: Option<String>,
    note: Option<String>,
    recorded_by: Option<String>,
    recorded_at: Option<i64>,
}
const MEASUREMENT_COLUMNS: &str =
    "m.outcome_id, m.measured_on, m.value, m.source, m.note, m.recorded_by, m.recorded_at";

fn measurement_of(r: MeasurementRow) -> Result<Measurement, StoreError> {
    Ok(Measurement {
        fields: NewOutcomeMeasurement {
            outcome_id: r.outcome_id,
            measured_on: r.measured_on,
            value: r.value,
            source: r.source,
            note: r.note,
            recorded_by: r.recorded_by,
        },
        recorded_at: Column("outcome_measurements", "recorded_at").opt_instant(r.recorded_at)?,
    })
}

/// A new external id for a record created in laer's own forms: `laer-{kind}-` and 64
/// random bits.
pub fn new_external_id(kind: &str) -> Result<String, StoreError> {
    let random = random_id()?;
    Ok(format!("laer-{kind}-{}", &random[..16]))
}

/// The contact fields a person edits (all but the ids).
fn same_contact(a: &NewContact, b: &NewContact) -> bool {
    (&a.name, &a.email, &a.phone, &a.title, &a.stakeholder_team, &a.role)
        == (&b.name, &b.email, &b.phone, &b.title, &b.stakeholder_team, &b.role)
}

fn same_outcome(a: &NewOutcome, b: &NewOutcome) -> bool {
    a.name == b.name
        && a.unit == b.unit
        && a.baseline == b.baseline
        && a.target == b.target
        && a.start_date == b.start_date
        && a.target_date == b.target_date
        && a.direction == b.direction
}

async fn contact_in(tx: &mut WriteTx, id: i64) -> Result<Option<Contact>, StoreError> {
    let row: Option<ContactRow> = tx
        .fetch_optional(
            &format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1"),
            params![id],
        )
        .await?;
    row.map(contact_of).transpose()
}

async fn outcome_in(tx: &mut WriteTx, id: i64) -> Result<Option<Outcome>, StoreError> {
    let row: Option<OutcomeRow> = tx
        .fetch_optional(
            &format!("SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE id = $1"),
            params![id],
        )
        .await?;
    row.map(outcome_of).transpose()
}

/// Refuses an email another contact of the account has, whatever its case. Runs inside
/// the write transaction, after the account's lock (PostgreSQL; SQLite writers run one
/// at a time), so that two people adding the same address at once cannot both succeed.
async fn refuse_used_email(tx: &mut WriteTx, c: &NewContact, except: Option<i64>) -> Result<(), StoreError> {
    let Some(email) = c.email.as_deref() else {
        return Ok(());
    };
    let other: Option<(Option<String>, Option<i64>)> = tx
        .fetch_optional(
            "SELECT name, deactivated_at FROM contacts WHERE account_id = $1 AND LOWER(email) = LOWER($2) \
             AND id <> $3 LIMIT 1",
            params![c.account_id, email, except.unwrap_or(0)],
        )
        .await?;
    match other {
        None => Ok(()),
        Some((name, deactivated)) => Err(StoreError::Refused {
            field: "email".into(),
            message: format!(
                "{email} is already the address of {}{} at this account",
                name.as_deref().unwrap_or("another contact"),
                if deactivated.is_some() {
                    " (inactive: reactivate them instead)"
                } else {
                    ""
                }
            ),
        }),
    }
}

/// Holds the account's lock for the rest of the transaction.
async fn lock_account(tx: &mut WriteTx, account_id: i64) -> Result<(), StoreError> {
    let name = format!("account:{account_id}");
    tx.lock([name.as_str()]).await
}

impl Store {
    /// The account's contacts: the active ones first, then by team and name.
    pub async fn contacts_of(&self, account_id: i64) -> Result<Vec<Contact>, StoreError> {
        let rows: Vec<ContactRow> = self
            .fetch_all(
                &format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = $1 \
                     ORDER BY CASE WHEN deactivated_at IS NULL THEN 0 ELSE 1 END, stakeholder_team, name, id"
                ),
                params![account_id],
            )
            .await?;
        rows.into_iter().map(contact_of).collect()
    }

    /// Up to `limit` active contacts whose name, email or title holds `text` (any case),
    /// by name: the header's search (issue 16).
    pub async fn search_contacts(&self, text: &str, limit: i64) -> Result<Vec<Contact>, StoreError> {
        let pattern = format!("%{}%", crate::audit::like_literal(&text.trim().to_lowercase()));
        let rows: Vec<ContactRow> = self
            .fetch_all(
                &format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE deactivated_at IS NULL AND \
                     (LOWER(COALESCE(name, '')) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE $1 ESCAPE '\\' \
                      OR LOWER(COALESCE(title, '')) LIKE $1 ESCAPE '\\') \
                     ORDER BY name, id LIMIT $2"
                ),
                params![pattern, limit],
            )
            .await?;
        rows.into_iter().map(contact_of).collect()
    }

    pub async fn contact(&self, id: i64) -> Result<Option<Contact>, StoreError> {
        let row: Option<ContactRow> = self
            .fetch_optional(
                &format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1"),
                params![id],
            )
            .await?;
        row.map(contact_of).transpose()
    }

    /// Adds a contact (checked by the caller, e.g. `laer_core::entries::ContactInput`),
    /// audited. Its external id names it: adding the same contact again changes nothing;
    /// the same external id with other values is refused. An email another contact of
    /// the account has is refused, naming the field.
    pub async fn add_contact(&self, c: &NewContact, actor: &str) -> Result<(Contact, Written), StoreError> {
        if self.account(c.account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {}", c.account_id)));
        }
        let mut tx = self.begin_write().await?;
        lock_account(&mut tx, c.account_id).await?;
        let stored: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM contacts WHERE external_id = $1",
                params![&c.external_id],
            )
            .await?;
        if let Some((id,)) = stored {
            let found = contact_in(&mut tx, id).await?;
            tx.rollback().await?;
            return match found {
                Some(found) if found.fields.account_id == c.account_id && same_contact(&found.fields, c) => {
                    Ok((found, Written::Unchanged))
                }
                _ => Err(StoreError::Refused {
                    field: "external_id".into(),
                    message: format!("{:?} is already the id of another contact", c.external_id),
                }),
            };
        }
        refuse_used_email(&mut tx, c, None).await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO contacts (external_id, account_id, name, email, phone, title, stakeholder_team, role) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                params![
                    &c.external_id,
                    c.account_id,
                    &c.name,
                    &c.email,
                    &c.phone,
                    &c.title,
                    &c.stakeholder_team,
                    &c.role
                ],
            )
            .await?;
        tx.mark_health_dirty(Feeds::Account, &[c.account_id]).await?;
        tx.append_audit(&audit(
            actor,
            "contact.added",
            serde_json::json!({ "contact_id": id, "account_id": c.account_id, "contact": c }),
        ))
        .await?;
        let contact = contact_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
        tx.commit().await?;
        Ok((contact, Written::Created))
    }

    /// Changes a contact's name, email, phone, title, team and role (its ids stay), if it
    /// is still at `version`; audited with the values before.
    pub async fn edit_contact(
        &self,
        id: i64,
        version: i64,
        c: &NewContact,
        actor: &str,
    ) -> Result<(Contact, Written), StoreError> {
        let mut tx = self.begin_write().await?;
        let before = contact_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
        let account_id = before.fields.account_id;
        lock_account(&mut tx, account_id).await?;
        if same_contact(&before.fields, c) {
            tx.rollback().await?;
            return Ok((before, Written::Unchanged));
        }
        let c = NewContact {
            external_id: before.fields.external_id.clone(),
            account_id,
            ..c.clone()
        };
        refuse_used_email(&mut tx, &c, Some(id)).await?;
        let changed = tx
            .execute(
                "UPDATE contacts SET name = $1, email = $2, phone = $3, title = $4, stakeholder_team = $5, role = $6, \
                 version = version + 1 WHERE id = $7 AND version = $8",
                params![
                    &c.name,
                    &c.email,
                    &c.phone,
                    &c.title,
                    &c.stakeholder_team,
                    &c.role,
                    id,
                    version
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Stale {
                what: format!(
                    "contact {}",
                    before.fields.name.as_deref().unwrap_or(&before.fields.external_id)
                ),
            });
        }
        tx.mark_health_dirty(Feeds::Account, &[account_id]).await?;
        tx.append_audit(&audit(
            actor,
            "contact.edited",
            serde_json::json!({ "contact_id": id, "account_id": account_id, "contact": c, "before": before.fields }),
        ))
        .await?;
        let contact = contact_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
        tx.commit().await?;
        Ok((contact, Written::Changed))
    }

    /// Deactivates a contact (`active` false) or makes it active again, if it is still
    /// at `version`; audited. A deactivated contact stays listed but no longer counts for
    /// health. Asking for the state it is in changes nothing.
    pub async fn set_contact_active(
        &self,
        id: i64,
        version: i64,
        active: bool,
        actor: &str,
    ) -> Result<(Contact, Written), StoreError> {
        let mut tx = self.begin_write().await?;
        let before = contact_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
        if before.active() == active {
            tx.rollback().await?;
            return Ok((before, Written::Unchanged));
        }
        let at = (!active).then(|| Utc::now().timestamp_micros());
        let changed = tx
            .execute(
                "UPDATE contacts SET deactivated_at = $1, version = version + 1 WHERE id = $2 AND version = $3",
                params![at, id, version],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Stale {
                what: format!(
                    "contact {}",
                    before.fields.name.as_deref().unwrap_or(&before.fields.external_id)
                ),
            });
        }
        let account_id = before.fields.account_id;
        tx.mark_health_dirty(Feeds::Account, &[account_id]).await?;
        let action = if active {
            "contact.reactivated"
        } else {
            "contact.deactivated"
        };
        tx.append_audit(&audit(
            actor,
            action,
            serde_json::json!({ "contact_id": id, "account_id": account_id, "name": before.fields.name }),
        ))
        .await?;
        let contact = contact_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
        tx.commit().await?;
        Ok((contact, Written::Changed))
    }

    /// Sets a stakeholder team's agreed meeting cadence (replacing the one it had),
    /// audited with the days before.
    pub async fn set_meeting_cadence(&self, c: &NewMeetingCadence, actor: &str) -> Result<Written, StoreError> {
        if self.account(c.account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {}", c.account_id)));
        }
        let mut tx = self.begin_write().await?;
        let before: Option<(i32,)> = tx
            .fetch_optional(
                "SELECT every_days FROM meeting_cadences WHERE account_id = $1 AND stakeholder_team = $2",
                params![c.account_id, &c.stakeholder_team],
            )
            .await?;
        let before = before.map(|(d,)| d);
        if before == Some(c.every_days) {
            tx.rollback().await?;
            return Ok(Written::Unchanged);
        }
        tx.execute(
            "INSERT INTO meeting_cadences (account_id, stakeholder_team, every_days) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id, stakeholder_team) DO UPDATE SET every_days = excluded.every_days",
            params![c.account_id, &c.stakeholder_team, c.every_days],
        )
        .await?;
        tx.mark_health_dirty(Feeds::Account, &[c.account_id]).await?;
        tx.append_audit(&audit(
            actor,
            "cadence.set",
            serde_json::json!({
                "account_id": c.account_id, "stakeholder_team": c.stakeholder_team,
                "every_days": c.every_days, "before": before,
            }),
        ))
        .await?;
        tx.commit().await?;
        Ok(if before.is_some() {
            Written::Changed
        } else {
            Written::Created
        })
    }

    /// Removes a stakeholder team's agreed cadence, audited; removing one that is not
    /// there changes nothing.
    pub async fn remove_meeting_cadence(
        &self,
        account_id: i64,
        team: &str,
        actor: &str,
    ) -> Result<Written, StoreError> {
        let mut tx = self.begin_write().await?;
        let before: Option<(i32,)> = tx
            .fetch_optional(
                "SELECT every_days FROM meeting_cadences WHERE account_id = $1 AND stakeholder_team = $2",
                params![account_id, team],
            )
            .await?;
        let Some((every_days,)) = before else {
            tx.rollback().await?;
            return Ok(Written::Unchanged);
        };
        tx.execute(
            "DELETE FROM meeting_cadences WHERE account_id = $1 AND stakeholder_team = $2",
            params![account_id, team],
        )
        .await?;
        tx.mark_health_dirty(Feeds::Account, &[account_id]).await?;
        tx.append_audit(&audit(
            actor,
            "cadence.removed",
            serde_json::json!({ "account_id": account_id, "stakeholder_team": team, "before": every_days }),
        ))
        .await?;
        tx.commit().await?;
        Ok(Written::Changed)
    }

    /// The account's outcomes, in the order they were defined.
    pub async fn outcomes_of(&self, account_id: i64) -> Result<Vec<Outcome>, StoreError> {
        let rows: Vec<OutcomeRow> = self
            .fetch_all(
                &format!("SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE account_id = $1 ORDER BY id"),
                params![account_id],
            )
            .await?;
        rows.into_iter().map(outcome_of).collect()
    }

    pub async fn outcome(&self, id: i64) -> Result<Option<Outcome>, StoreError> {
        let row: Option<OutcomeRow> = self
            .fetch_optional(
                &format!("SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE id = $1"),
                params![id],
            )
            .await?;
        row.map(outcome_of).transpose()
    }

    /// The measurements of the account's outcomes, the latest first.
    pub async fn measurements_of(&self, account_id: i64) -> Result<Vec<Measurement>, StoreError> {
        let rows: Vec<MeasurementRow> = self
            .fetch_all(
                &format!(
                    "SELECT {MEASUREMENT_COLUMNS} FROM outcome_measurements m JOIN outcomes o ON o.id = m.outcome_id \
                     WHERE o.account_id = $1 ORDER BY m.measured_on DESC, m.outcome_id"
                ),
                params![account_id],
            )
            .await?;
        rows.into_iter().map(measurement_of).collect()
    }

    /// Defines an outcome (checked by the caller, e.g. `laer_core::entries::OutcomeInput`),
    /// audited. Defining the same outcome again changes nothing; its external id with
    /// other values is refused.
    pub async fn define_outcome(&self, o: &NewOutcome, actor: &str) -> Result<(Outcome, Written), StoreError> {
        if self.account(o.account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {}", o.account_id)));
        }
        let mut tx = self.begin_write().await?;
        let stored: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM outcomes WHERE external_id = $1",
                params![&o.external_id],
            )
            .await?;
        if let Some((id,)) = stored {
            let found = outcome_in(&mut tx, id).await?;
            tx.rollback().await?;
            return match found {
                Some(found) if found.fields.account_id == o.account_id && same_outcome(&found.fields, o) => {
                    Ok((found, Written::Unchanged))
                }
                _ => Err(StoreError::Refused {
                    field: "external_id".into(),
                    message: format!("{:?} is already the id of another outcome", o.external_id),
                }),
            };
        }
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO outcomes (external_id, account_id, name, unit, baseline, target, start_date, target_date, \
                 direction) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                params![
                    &o.external_id,
                    o.account_id,
                    &o.name,
                    &o.unit,
                    o.baseline,
                    o.target,
                    o.start_date,
                    o.target_date,
                    o.direction.as_str()
                ],
            )
            .await?;
        tx.mark_health_dirty(Feeds::Account, &[o.account_id]).await?;
        tx.append_audit(&audit(
            actor,
            "outcome.defined",
            serde_json::json!({ "outcome_id": id, "account_id": o.account_id, "outcome": o }),
        ))
        .await?;
        let outcome = outcome_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("outcome {id}")))?;
        tx.commit().await?;
        Ok((outcome, Written::Created))
    }

    /// Changes an outcome's name, unit, baseline, target, dates and direction (its ids
    /// stay), if it is still at `version`; audited with the values before.
    pub async fn edit_outcome(
        &self,
        id: i64,
        version: i64,
        o: &NewOutcome,
        actor: &str,
    ) -> Result<(Outcome, Written), StoreError> {
        let mut tx = self.begin_write().await?;
        let before = outcome_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("outcome {id}")))?;
        if same_outcome(&before.fields, o) {
            tx.rollback().await?;
            return Ok((before, Written::Unchanged));
        }
        let changed = tx
            .execute(
                "UPDATE outcomes SET name = $1, unit = $2, baseline = $3, target = $4, start_date = $5, \
                 target_date = $6, direction = $7, version = version + 1 WHERE id = $8 AND version = $9",
                params![
                    &o.name,
                    &o.unit,
                    o.baseline,
                    o.target,
                    o.start_date,
                    o.target_date,
                    o.direction.as_str(),
                    id,
                    version
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Stale {
                what: format!("outcome {}", before.fields.name),
            });
        }
        let account_id = before.fields.account_id;
        tx.mark_health_dirty(Feeds::Account, &[account_id]).await?;
        tx.append_audit(&audit(
            actor,
            "outcome.edited",
            serde_json::json!({ "outcome_id": id, "account_id": account_id, "outcome": o, "before": before.fields }),
        ))
        .await?;
        let outcome = outcome_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("outcome {id}")))?;
        tx.commit().await?;
        Ok((outcome, Written::Changed))
    }

    /// Records a measurement (checked by the caller, e.g.
    /// `laer_core::entries::MeasurementInput`), audited as `actor`. An outcome has one
    /// value per day: a second measurement of the same day replaces the first (the audit
    /// entry keeps the value before); the same measurement again changes nothing.
    pub async fn record_measurement(&self, m: &NewOutcomeMeasurement, actor: &str) -> Result<Written, StoreError> {
        let mut tx = self.begin_write().await?;
        let written = record_in(&mut tx, m, actor).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Lets the customer record measurements through the plan's share links, or stops
    /// it; audited. Asking for what is set already changes nothing.
    pub async fn set_customer_measurements(
        &self,
        account_id: i64,
        on: bool,
        actor: &str,
    ) -> Result<Written, StoreError> {
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        if self.customer_measurements(account_id).await? == on {
            return Ok(Written::Unchanged);
        }
        let now = Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        // A plan without a row yet gets one with no objective.
        tx.execute(
            "INSERT INTO success_plans (account_id, objective, updated_at, updated_by, customer_measurements_since) \
             VALUES ($1, '', $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET \
             customer_measurements_since = excluded.customer_measurements_since",
            params![account_id, now, actor, on.then_some(now)],
        )
        .await?;
        let action = if on {
            "plan.customer_measurements_on"
        } else {
            "plan.customer_measurements_off"
        };
        tx.append_audit(&audit(actor, action, serde_json::json!({ "account_id": account_id })))
            .await?;
        tx.commit().await?;
        Ok(Written::Changed)
    }

    /// Whether the account's plan lets the customer record measurements.
    pub async fn customer_measurements(&self, account_id: i64) -> Result<bool, StoreError> {
        let row: Option<(Option<i64>,)> = self
            .fetch_optional(
                "SELECT customer_measurements_since FROM success_plans WHERE account_id = $1",
                params![account_id],
            )
            .await?;
        Ok(matches!(row, Some((Some(_),))))
    }

    /// The live share link with this token and what its plan allows; `None` for an
    /// unknown or revoked token alike.
    pub async fn shared_plan(&self, token: &str) -> Result<Option<SharedPlan>, StoreError> {
        let row: Option<(i64, i64, String, Option<i64>)> = self
            .fetch_optional(
                "SELECT l.account_id, l.id, l.token_prefix, p.customer_measurements_since FROM plan_share_links l \
                 LEFT JOIN success_plans p ON p.account_id = l.account_id \
                 WHERE l.token_hash = $1 AND l.revoked_at IS NULL",
                params![sha256_hex(token)],
            )
            .await?;
        Ok(row.map(|(account_id, link_id, prefix, since)| SharedPlan {
            account_id,
            link_id,
            prefix,
            customer_measurements: since.is_some(),
        }))
    }

    /// Records a customer's measurement through a share link: only while the link is live
    /// and its plan allows it, only of one of the plan's outcomes, and at most
    /// `limit.writes` per link in a window of `limit.window` (every attempt counts, a
    /// repeat too). All checked again inside the transaction that writes, so that a
    /// switch turned off or a link revoked a moment before is obeyed.
    pub async fn record_customer_measurement(
        &self,
        link: &SharedPlan,
        m: &NewOutcomeMeasurement,
        limit: RateLimit,
    ) -> Result<CustomerWrite, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let allowed: Option<(Option<i64>,)> = tx
            .fetch_optional(
                "SELECT p.customer_measurements_since FROM plan_share_links l \
                 JOIN success_plans p ON p.account_id = l.account_id WHERE l.id = $1 AND l.revoked_at IS NULL",
                params![link.link_id],
            )
            .await?;
        if !matches!(allowed, Some((Some(_),))) {
            tx.rollback().await?;
            return Ok(CustomerWrite::NotAllowed);
        }
        let outcome = outcome_in(&mut tx, m.outcome_id).await?;
        if outcome.is_none_or(|o| o.fields.account_id != link.account_id) {
            tx.rollback().await?;
            return Ok(CustomerWrite::UnknownOutcome);
        }
        // One statement counts the attempt and tells whether the window has room: a new
        // window starts once the last one is over. Rows are locked by the update on
        // PostgreSQL, so nodes counting at once cannot both take the last write.
        let window_over = (now - limit.window).timestamp_micros();
        let counted = tx
            .execute(
                "UPDATE plan_share_links SET \
                 customer_window_start = CASE WHEN customer_window_start IS NULL OR customer_window_start <= $2 \
                   THEN $3 ELSE customer_window_start END, \
                 customer_writes = CASE WHEN customer_window_start IS NULL OR customer_window_start <= $2 \
                   THEN 1 ELSE customer_writes + 1 END \
                 WHERE id = $1 AND (customer_window_start IS NULL OR customer_window_start <= $2 OR customer_writes < $4)",
                params![link.link_id, window_over, now.timestamp_micros(), limit.writes],
            )
            .await?;
        if counted == 0 {
            let (start,): (Option<i64>,) = tx
                .fetch_one(
                    "SELECT customer_window_start FROM plan_share_links WHERE id = $1",
                    params![link.link_id],
                )
                .await?;
            tx.rollback().await?;
            let start = Column("plan_share_links", "customer_window_start").opt_instant(start)?;
            return Ok(CustomerWrite::TooMany {
                retry_after: start.unwrap_or(now) + limit.window,
            });
        }
        let m = NewOutcomeMeasurement {
            recorded_by: Some(link.recorded_by()),
            ..m.clone()
        };
        let written = record_in(&mut tx, &m, &link.recorded_by()).await?;
        tx.commit().await?;
        Ok(CustomerWrite::Recorded(written))
    }
}

/// Writes a measurement in `tx`: see [`Store::record_measurement`].
async fn record_in(tx: &mut WriteTx, m: &NewOutcomeMeasurement, actor: &str) -> Result<Written, StoreError> {
    let outcome = outcome_in(tx, m.outcome_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("outcome {}", m.outcome_id)))?;
    let before: Option<MeasurementRow> = tx
        .fetch_optional(
            &format!(
                "SELECT {MEASUREMENT_COLUMNS} FROM outcome_measurements m WHERE m.outcome_id = $1 AND m.measured_on = $2"
            ),
            params![m.outcome_id, m.measured_on],
        )
        .await?;
    let before = before.map(measurement_of).transpose()?;
    if let Some(b) = &before
        && b.fields.value == m.value
        && b.fields.source == m.source
        && b.fields.note == m.note
    {
        return Ok(Written::Unchanged);
    }
    tx.execute(
        "INSERT INTO outcome_measurements (outcome_id, measured_on, value, source, note, recorded_by, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (outcome_id, measured_on) DO UPDATE SET \
         value = excluded.value, source = excluded.source, note = excluded.note, \
         recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at",
        params![
            m.outcome_id,
            m.measured_on,
            m.value,
            &m.source,
            &m.note,
            &m.recorded_by,
            Utc::now().timestamp_micros()
        ],
    )
    .await?;
    let account_id = outcome.fields.account_id;
    tx.mark_health_dirty(Feeds::Account, &[account_id]).await?;
    tx.append_audit(&audit(
        actor,
        "measurement.recorded",
        serde_json::json!({
            "account_id": account_id, "outcome_id": m.outcome_id, "outcome": outcome.fields.name,
            "measured_on": m.measured_on, "value": m.value, "source": m.source, "note": m.note,
            "before": before.as_ref().map(|b| b.fields.value),
        }),
    ))
    .await?;
    Ok(if before.is_some() {
        Written::Changed
    } else {
        Written::Created
    })
}

impl WriteTx {
    /// Writes team members; one given without roles (`None`: a source that does not
    /// know them, such as a CRM's owners) keeps the roles stored for it.
    pub async fn upsert_team_members(&mut self, members: &[NewTeamMember]) -> Result<WriteCount, StoreError> {
        if members.iter().all(|m| m.roles.is_some()) {
            return self.upsert(members).await;
        }
        let stored: Vec<(String, String)> = self
            .fetch_all("SELECT external_id, roles FROM team_members", params![])
            .await?;
        let stored: HashMap<String, String> = stored.into_iter().collect();
        let mut filled = Vec::with_capacity(members.len());
        for member in members {
            let mut member = member.clone();
            if member.roles.is_none() {
                let roles = stored.get(&member.external_id).map(String::as_str).unwrap_or_default();
                member.roles = Some(
                    roles
                        .split([',', ';', ' '])
                        .filter(|r| !r.trim().is_empty())
                        .map(|r| Column("team_members", "roles").parsed(r))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            filled.push(member);
        }
        self.upsert(&filled).await
    }
}
