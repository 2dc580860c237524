//! Success plans: each account's objective and milestones, the records a plan is
//! assembled from (`laer_core::success_plan`), and the links that share a plan with the
//! customer. A link's token is a secret, stored only as its SHA-256 hash (as API tokens
//! are); every change is audited.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use laer_core::health::{AccountRecords, Line};
use laer_core::model::{Milestone, MilestoneSide, NewAuditEntry, NewMilestone, NewOutcome};
use laer_core::retention::day_number;
use laer_core::success_plan::{
    ACTIVE_DAYS, INTERVENTION_DAYS, InterventionRecord, PlanRecords, Stakeholder, UsageRecords, UsageWindow,
    usage_windows,
};
use serde::Serialize;

use crate::access::sha256_hex;
use crate::write::Params;
use crate::{Store, StoreError, random_id};

/// A share link as listed: never its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareLink {
    pub id: i64,
    pub account_id: i64,
    /// The token's first characters, to tell links apart.
    pub prefix: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

/// A change to a milestone by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilestoneChange {
    /// Reached on the day.
    Done(NaiveDate),
    /// Open again.
    Reopen,
    Remove,
}

impl MilestoneChange {
    fn action(self) -> &'static str {
        match self {
            MilestoneChange::Done(_) => "milestone.done",
            MilestoneChange::Reopen => "milestone.reopened",
            MilestoneChange::Remove => "milestone.removed",
        }
    }
}

/// How many characters of a token the lists show.
const PREFIX_CHARS: usize = 10;
/// The objective is a few sentences, not a document.
pub const MAX_OBJECTIVE_CHARS: usize = 2_000;

fn instant(micros: i64, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt(format!("{what}: instant {micros}")))
}

/// (id, external id, account, title, due, done, side)
type MilestoneTuple = (i64, Option<String>, i64, String, NaiveDate, Option<NaiveDate>, String);
const MILESTONE_COLUMNS: &str = "id, external_id, account_id, title, due_on, done_on, side";

fn milestone_of(row: MilestoneTuple) -> Result<Milestone, StoreError> {
    let (id, external_id, account_id, title, due_on, done_on, side) = row;
    Ok(Milestone {
        id,
        fields: NewMilestone {
            external_id,
            account_id,
            title,
            due_on,
            done_on,
            side: side
                .parse::<MilestoneSide>()
                .map_err(|e| StoreError::Corrupt(format!("milestone {id} side: {e}")))?,
        },
    })
}

/// (id, account, prefix, created by, created at, revoked at, revoked by)
type LinkTuple = (i64, i64, String, String, i64, Option<i64>, Option<String>);
const LINK_COLUMNS: &str = "id, account_id, token_prefix, created_by, created_at, revoked_at, revoked_by";

fn link_of(row: LinkTuple) -> Result<ShareLink, StoreError> {
    let (id, account_id, prefix, created_by, created_at, revoked_at, revoked_by) = row;
    Ok(ShareLink {
        id,
        account_id,
        prefix,
        created_by,
        created_at: instant(created_at, "share link")?,
        revoked_at: revoked_at.map(|r| instant(r, "share link")).transpose()?,
        revoked_by,
    })
}

fn audit(actor: &str, action: &str, details: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry {
        at: Utc::now(),
        actor: actor.to_string(),
        action: action.to_string(),
        details,
    }
}

/// The first instant of the day after `day`, in microseconds.
fn end_of(day: NaiveDate) -> i64 {
    (day + TimeDelta::days(1))
        .and_hms_opt(0, 0, 0)
        .map_or(i64::MAX, |t| t.and_utc().timestamp_micros())
}

impl Store {
    /// Everything the account's success plan is made from, as of `today`; `None` for no
    /// such account.
    pub async fn plan_records(&self, account_id: i64, today: NaiveDate) -> Result<Option<PlanRecords>, StoreError> {
        let Some(account) = self.account(account_id).await? else {
            return Ok(None);
        };
        let id = || Params::default().int(account_id);
        let objective: Vec<(String,)> = self
            .fetch_with("SELECT objective FROM success_plans WHERE account_id = ?", id())
            .await?;
        type OutcomeTuple = (
            i64,
            String,
            String,
            Option<String>,
            f64,
            f64,
            Option<NaiveDate>,
            Option<NaiveDate>,
        );
        let outcome_rows: Vec<OutcomeTuple> = self
            .fetch_with(
                "SELECT id, external_id, name, unit, baseline, target, start_date, target_date FROM outcomes \
                 WHERE account_id = ? ORDER BY id",
                id(),
            )
            .await?;
        let measured: Vec<(i64, NaiveDate, f64)> = self
            .fetch_with(
                "SELECT m.outcome_id, m.measured_on, m.value FROM outcome_measurements m \
                 JOIN outcomes o ON o.id = m.outcome_id WHERE o.account_id = ? ORDER BY m.measured_on",
                id(),
            )
            .await?;
        let mut outcomes = Vec::new();
        let mut measurements = Vec::new();
        for (outcome_id, external_id, name, unit, baseline, target, start_date, target_date) in outcome_rows {
            outcomes.push(NewOutcome {
                external_id,
                account_id,
                name,
                unit,
                baseline,
                target,
                start_date,
                target_date,
            });
            measurements.push(
                measured
                    .iter()
                    .filter(|m| m.0 == outcome_id)
                    .map(|m| (m.1, m.2))
                    .collect(),
            );
        }
        type ContactTuple = (Option<String>, Option<String>, Option<String>, Option<String>);
        let contacts: Vec<ContactTuple> = self
            .fetch_with(
                "SELECT name, title, stakeholder_team, role FROM contacts WHERE account_id = ? ORDER BY id",
                id(),
            )
            .await?;
        let since = end_of(today - TimeDelta::days(INTERVENTION_DAYS + 1));
        let tasks: Vec<(i64, String, Option<String>)> = self
            .fetch_with(
                "SELECT done_at, title, playbook FROM tasks WHERE account_id = ? AND status = 'done' \
                 AND done_at >= ? AND done_at < ?",
                id().int(since).int(end_of(today)),
            )
            .await?;
        let meetings: Vec<(i64, Option<String>, Option<String>)> = self
            .fetch_with(
                "SELECT held_at, kind, stakeholder_team FROM meetings WHERE account_id = ? AND status = 'held' \
                 AND held_at >= ? AND held_at < ?",
                id().int(since).int(end_of(today)),
            )
            .await?;
        let mut interventions = Vec::with_capacity(tasks.len() + meetings.len());
        for (at, title, playbook) in tasks {
            interventions.push(InterventionRecord::Task {
                on: instant(at, "task")?.date_naive(),
                title,
                playbook,
            });
        }
        for (at, kind, team) in meetings {
            interventions.push(InterventionRecord::Meeting {
                on: instant(at, "meeting")?.date_naive(),
                kind,
                team,
            });
        }
        let usage = self.plan_usage(account_id, &interventions, today).await?;
        Ok(Some(PlanRecords {
            account: account.fields.name.unwrap_or(account.fields.external_id),
            objective: objective.into_iter().next().map(|o| o.0),
            outcomes,
            measurements,
            stakeholders: contacts
                .into_iter()
                .map(|(name, title, team, role)| Stakeholder {
                    name,
                    title,
                    team,
                    role,
                })
                .collect(),
            milestones: self.milestones(account_id).await?,
            interventions,
            usage,
        }))
    }

    /// Seats, departments and the distinct active users of every window the plan needs.
    async fn plan_usage(
        &self,
        account_id: i64,
        interventions: &[InterventionRecord],
        today: NaiveDate,
    ) -> Result<UsageRecords, StoreError> {
        let lines = self
            .subscriptions_of(account_id)
            .await?
            .into_iter()
            .map(|s| Line {
                product: s.fields.product,
                start_date: s.fields.start_date,
                end_date: s.fields.end_date,
                mrr: s.fields.mrr,
                quantity: s.fields.quantity,
                units: s.fields.units,
                bill_period_months: s.fields.bill_period_months,
            })
            .collect();
        let seats = AccountRecords {
            lines,
            ..AccountRecords::default()
        }
        .seats_on(today);
        // Activity day D holds the events of the calendar day before it: calendar days
        // [from, until) are activity days (from, until].
        let activity = |w: &UsageWindow| (day_number(w.from), day_number(w.until));
        let windows = usage_windows(interventions, today);
        let mut active_users = Vec::with_capacity(windows.len());
        // One statement for all windows, a few dozen index ranges of one account.
        for chunk in windows.chunks(100) {
            let mut sql = Vec::with_capacity(chunk.len());
            let mut params = Params::default();
            for (i, w) in chunk.iter().enumerate() {
                sql.push(format!(
                    "SELECT CAST({i} AS BIGINT), COUNT(DISTINCT user_ref) FROM event_user_days \
                     WHERE account_id = ? AND day > ? AND day <= ?"
                ));
                let (from, until) = activity(w);
                params = params.int(account_id).int(from).int(until);
            }
            let counts: Vec<(i64, i64)> = self.fetch_with(&sql.join(" UNION ALL "), params).await?;
            for (i, users) in counts {
                if let Some(w) = usize::try_from(i).ok().and_then(|i| chunk.get(i)) {
                    active_users.push((*w, u32::try_from(users).unwrap_or(u32::MAX)));
                }
            }
        }
        let recent = activity(&UsageWindow {
            from: today + TimeDelta::days(1 - ACTIVE_DAYS),
            until: today + TimeDelta::days(1),
        });
        let departments: Vec<(i64, i64)> = self
            .fetch_with(
                "SELECT (SELECT COUNT(DISTINCT department) FROM product_users WHERE account_id = ?), \
                 (SELECT COUNT(DISTINCT p.department) FROM product_users p JOIN \
                   (SELECT DISTINCT user_ref FROM event_user_days WHERE account_id = ? AND day > ? AND day <= ?) u \
                   ON u.user_ref = p.external_id WHERE p.account_id = ?)",
                Params::default()
                    .int(account_id)
                    .int(account_id)
                    .int(recent.0)
                    .int(recent.1)
                    .int(account_id),
            )
            .await?;
        let (known, active) = departments.into_iter().next().unwrap_or_default();
        Ok(UsageRecords {
            seats,
            departments_known: u32::try_from(known).unwrap_or(0),
            departments_active: u32::try_from(active).unwrap_or(0),
            active_users,
        })
    }

    /// The account's milestones, by due date, then in the order they were added.
    pub async fn milestones(&self, account_id: i64) -> Result<Vec<Milestone>, StoreError> {
        let rows: Vec<MilestoneTuple> = self
            .fetch_with(
                &format!(
                    "SELECT {MILESTONE_COLUMNS} FROM milestones WHERE account_id = ? ORDER BY due_on, position, id"
                ),
                Params::default().int(account_id),
            )
            .await?;
        rows.into_iter().map(milestone_of).collect()
    }

    pub async fn milestone(&self, id: i64) -> Result<Option<Milestone>, StoreError> {
        let rows: Vec<MilestoneTuple> = self
            .fetch_with(
                &format!("SELECT {MILESTONE_COLUMNS} FROM milestones WHERE id = ?"),
                Params::default().int(id),
            )
            .await?;
        rows.into_iter().next().map(milestone_of).transpose()
    }

    /// Adds a milestone (checked by the caller, e.g. [`NewMilestone::new`]) after the
    /// account's others, audited.
    pub async fn add_milestone(&self, m: &NewMilestone, actor: &str) -> Result<Milestone, StoreError> {
        let title =
            NewMilestone::checked_title(&m.title).map_err(|e| StoreError::Invalid(format!("{}: {e}", e.field())))?;
        if self.account(m.account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {}", m.account_id)));
        }
        let mut tx = self.begin_write().await?;
        let id = tx
            .fetch_scalar(
                "INSERT INTO milestones (external_id, account_id, title, due_on, done_on, side, position, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, \
                 (SELECT COALESCE(MAX(position), 0) + 1 FROM milestones WHERE account_id = ?), ?) RETURNING id",
                |p| {
                    p.opt_text(m.external_id.as_deref())
                        .int(m.account_id)
                        .text(&title)
                        .date(m.due_on)
                        .opt_date(m.done_on)
                        .text(m.side.as_str())
                        .int(m.account_id)
                        .int(Utc::now().timestamp_micros())
                },
            )
            .await?;
        tx.append_audit(&audit(
            actor,
            "milestone.added",
            serde_json::json!({
                "milestone_id": id, "account_id": m.account_id, "title": title,
                "due_on": m.due_on, "side": m.side,
            }),
        ))
        .await?;
        tx.commit().await?;
        self.milestone(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("milestone {id}")))
    }

    /// Changes a milestone, audited; returns it as it is now (`None` once removed).
    pub async fn change_milestone(
        &self,
        id: i64,
        change: MilestoneChange,
        actor: &str,
    ) -> Result<Option<Milestone>, StoreError> {
        let m = self
            .milestone(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("milestone {id}")))?;
        let mut tx = self.begin_write().await?;
        let mut details = serde_json::json!({
            "milestone_id": id, "account_id": m.fields.account_id, "title": m.fields.title,
        });
        match change {
            MilestoneChange::Done(on) => {
                tx.exec_text("UPDATE milestones SET done_on = ? WHERE id = ?", |p| p.date(on).int(id))
                    .await?;
                details["done_on"] = serde_json::json!(on);
            }
            MilestoneChange::Reopen => {
                tx.exec_text("UPDATE milestones SET done_on = NULL WHERE id = ?", |p| p.int(id))
                    .await?;
            }
            MilestoneChange::Remove => {
                tx.exec_text("DELETE FROM milestones WHERE id = ?", |p| p.int(id))
                    .await?;
                details["due_on"] = serde_json::json!(m.fields.due_on);
            }
        }
        tx.append_audit(&audit(actor, change.action(), details)).await?;
        tx.commit().await?;
        self.milestone(id).await
    }

    /// Sets what the customer wants to achieve (empty: none), audited with the text before.
    pub async fn set_plan_objective(&self, account_id: i64, objective: &str, actor: &str) -> Result<(), StoreError> {
        let objective = objective.trim();
        let chars = objective.chars().count();
        if chars > MAX_OBJECTIVE_CHARS {
            return Err(StoreError::Invalid(format!(
                "objective: expected at most {MAX_OBJECTIVE_CHARS} characters, found {chars}"
            )));
        }
        let before: Vec<(String,)> = self
            .fetch_with(
                "SELECT objective FROM success_plans WHERE account_id = ?",
                Params::default().int(account_id),
            )
            .await?;
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        let mut tx = self.begin_write().await?;
        if objective.is_empty() {
            tx.exec_text("DELETE FROM success_plans WHERE account_id = ?", |p| p.int(account_id))
                .await?;
        } else {
            tx.exec_text(
                "INSERT INTO success_plans (account_id, objective, updated_at, updated_by) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (account_id) DO UPDATE SET objective = excluded.objective, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                |p| {
                    p.int(account_id)
                        .text(objective)
                        .int(Utc::now().timestamp_micros())
                        .text(actor)
                },
            )
            .await?;
        }
        tx.append_audit(&audit(
            actor,
            "plan.objective",
            serde_json::json!({
                "account_id": account_id, "objective": objective,
                "before": before.into_iter().next().map(|b| b.0),
            }),
        ))
        .await?;
        tx.commit().await
    }

    /// Creates a link that shows the account's plan to whoever has it; returns it with
    /// its token, which is not kept and cannot be shown again.
    pub async fn create_share_link(&self, account_id: i64, actor: &str) -> Result<(ShareLink, String), StoreError> {
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        // 256 random bits: not to be guessed.
        let token = format!("sp_{}{}", random_id()?, random_id()?);
        let prefix: String = token.chars().take(PREFIX_CHARS).collect();
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let id = tx
            .fetch_scalar(
                "INSERT INTO plan_share_links (account_id, token_hash, token_prefix, created_by, created_at) \
                 VALUES (?, ?, ?, ?, ?) RETURNING id",
                |p| {
                    p.int(account_id)
                        .text(&sha256_hex(&token))
                        .text(&prefix)
                        .text(actor)
                        .int(now.timestamp_micros())
                },
            )
            .await?;
        tx.append_audit(&audit(
            actor,
            "plan.link_created",
            serde_json::json!({ "link_id": id, "account_id": account_id, "prefix": prefix }),
        ))
        .await?;
        tx.commit().await?;
        let link = self
            .share_link(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("share link {id}")))?;
        Ok((link, token))
    }

    /// The account's share links, the newest first, revoked ones included.
    pub async fn share_links(&self, account_id: i64) -> Result<Vec<ShareLink>, StoreError> {
        let rows: Vec<LinkTuple> = self
            .fetch_with(
                &format!("SELECT {LINK_COLUMNS} FROM plan_share_links WHERE account_id = ? ORDER BY id DESC"),
                Params::default().int(account_id),
            )
            .await?;
        rows.into_iter().map(link_of).collect()
    }

    pub async fn share_link(&self, id: i64) -> Result<Option<ShareLink>, StoreError> {
        let rows: Vec<LinkTuple> = self
            .fetch_with(
                &format!("SELECT {LINK_COLUMNS} FROM plan_share_links WHERE id = ?"),
                Params::default().int(id),
            )
            .await?;
        rows.into_iter().next().map(link_of).transpose()
    }

    /// Revokes a link: from now on it finds nothing. Revoking it again changes nothing.
    pub async fn revoke_share_link(&self, id: i64, actor: &str) -> Result<ShareLink, StoreError> {
        let link = self
            .share_link(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("share link {id}")))?;
        let mut tx = self.begin_write().await?;
        let changed = tx
            .exec_text(
                "UPDATE plan_share_links SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                |p| p.int(Utc::now().timestamp_micros()).text(actor).int(id),
            )
            .await?;
        if changed > 0 {
            let details = serde_json::json!({ "link_id": id, "account_id": link.account_id, "prefix": link.prefix });
            tx.append_audit(&audit(actor, "plan.link_revoked", details)).await?;
        }
        tx.commit().await?;
        self.share_link(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("share link {id}")))
    }

    /// The account whose plan the live link with this token shares; `None` for an
    /// unknown or revoked token alike.
    pub async fn shared_plan_account(&self, token: &str) -> Result<Option<i64>, StoreError> {
        let rows: Vec<(i64,)> = self
            .fetch_with(
                "SELECT account_id FROM plan_share_links WHERE token_hash = ? AND revoked_at IS NULL",
                Params::default().text(&sha256_hex(token)),
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| r.0))
    }
}
