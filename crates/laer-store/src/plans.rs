//! Success plans: each account's objective and milestones, the records a plan is
//! assembled from (`laer_core::success_plan`), and the links that share a plan with the
//! customer. A link's token is a secret, stored only as its SHA-256 hash (as API tokens
//! are); every change is audited.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use laer_core::activity::{DaySpan, distinct_users};
use laer_core::health::{AccountRecords, Line};
use laer_core::model::{Milestone, MilestoneSide, NewMilestone, NewOutcome, TouchpointKind};
use laer_core::retention::day_number;
use laer_core::success_plan::{
    ACTIVE_DAYS, INTERVENTION_DAYS, InterventionRecord, PlanRecords, Stakeholder, UsageRecords, UsageWindow,
    usage_windows,
};
use serde::Serialize;

use crate::access::sha256_hex;
use crate::decode::Column;
use crate::exec::params;
use crate::write::audit;
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

#[derive(sqlx::FromRow)]
struct MilestoneRow {
    id: i64,
    external_id: Option<String>,
    account_id: i64,
    title: String,
    due_on: NaiveDate,
    done_on: Option<NaiveDate>,
    side: String,
}
const MILESTONE_COLUMNS: &str = "id, external_id, account_id, title, due_on, done_on, side";

fn milestone_of(m: MilestoneRow) -> Result<Milestone, StoreError> {
    Ok(Milestone {
        id: m.id,
        fields: NewMilestone {
            external_id: m.external_id,
            account_id: m.account_id,
            title: m.title,
            due_on: m.due_on,
            done_on: m.done_on,
            side: Column("milestones", "side").parsed::<MilestoneSide>(&m.side)?,
        },
    })
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: i64,
    account_id: i64,
    prefix: String,
    created_by: String,
    created_at: i64,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
}
const LINK_COLUMNS: &str = "id, account_id, token_prefix AS prefix, created_by, created_at, revoked_at, revoked_by";

fn link_of(l: LinkRow) -> Result<ShareLink, StoreError> {
    Ok(ShareLink {
        id: l.id,
        account_id: l.account_id,
        prefix: l.prefix,
        created_by: l.created_by,
        created_at: Column("plan_share_links", "created_at").instant(l.created_at)?,
        revoked_at: Column("plan_share_links", "revoked_at").opt_instant(l.revoked_at)?,
        revoked_by: l.revoked_by,
    })
}

/// The rows a plan is assembled from, one struct per statement.
mod rows {
    use chrono::NaiveDate;

    #[derive(sqlx::FromRow)]
    pub(super) struct Outcome {
        pub id: i64,
        pub external_id: String,
        pub name: String,
        pub unit: Option<String>,
        pub baseline: f64,
        pub target: f64,
        pub start_date: Option<NaiveDate>,
        pub target_date: Option<NaiveDate>,
        pub direction: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Measurement {
        pub outcome_id: i64,
        pub measured_on: NaiveDate,
        pub value: f64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Contact {
        pub name: Option<String>,
        pub title: Option<String>,
        pub stakeholder_team: Option<String>,
        pub role: Option<String>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct DoneTask {
        pub done_at: i64,
        pub title: String,
        pub playbook: Option<String>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct HeldMeeting {
        pub held_at: i64,
        pub kind: String,
        pub purpose: Option<String>,
        pub stakeholder_team: Option<String>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Departments {
        pub known: i64,
        pub active: i64,
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
        let objective: Option<(String,)> = self
            .fetch_optional(
                "SELECT objective FROM success_plans WHERE account_id = $1 AND objective <> ''",
                params![account_id],
            )
            .await?;
        let outcome_rows: Vec<rows::Outcome> = self
            .fetch_all(
                "SELECT id, external_id, name, unit, baseline, target, start_date, target_date, direction FROM outcomes \
                 WHERE account_id = $1 ORDER BY id",
                params![account_id],
            )
            .await?;
        let measured: Vec<rows::Measurement> = self
            .fetch_all(
                "SELECT m.outcome_id, m.measured_on, m.value FROM outcome_measurements m \
                 JOIN outcomes o ON o.id = m.outcome_id WHERE o.account_id = $1 ORDER BY m.measured_on",
                params![account_id],
            )
            .await?;
        let mut outcomes = Vec::new();
        let mut measurements = Vec::new();
        for o in outcome_rows {
            measurements.push(
                measured
                    .iter()
                    .filter(|m| m.outcome_id == o.id)
                    .map(|m| (m.measured_on, m.value))
                    .collect(),
            );
            outcomes.push(NewOutcome {
                external_id: o.external_id,
                account_id,
                name: o.name,
                unit: o.unit,
                baseline: o.baseline,
                target: o.target,
                start_date: o.start_date,
                target_date: o.target_date,
                direction: Column("outcomes", "direction").parsed(&o.direction)?,
            });
        }
        let contacts: Vec<rows::Contact> = self
            .fetch_all(
                // Deactivated contacts are no longer involved.
                "SELECT name, title, stakeholder_team, role FROM contacts WHERE account_id = $1 \
                 AND deactivated_at IS NULL ORDER BY id",
                params![account_id],
            )
            .await?;
        let since = end_of(today - TimeDelta::days(INTERVENTION_DAYS + 1));
        let tasks: Vec<rows::DoneTask> = self
            .fetch_all(
                "SELECT done_at, title, playbook FROM tasks WHERE account_id = $1 AND status = 'done' \
                 AND done_at >= $2 AND done_at < $3",
                params![account_id, since, end_of(today)],
            )
            .await?;
        let meetings: Vec<rows::HeldMeeting> = self
            .fetch_all(
                "SELECT t.held_at, t.kind, t.purpose, \
                 (SELECT MIN(tt.stakeholder_team) FROM touchpoint_teams tt WHERE tt.touchpoint_id = t.id) AS stakeholder_team \
                 FROM touchpoints t WHERE t.account_id = $1 AND t.status = 'held' \
                 AND t.held_at >= $2 AND t.held_at < $3",
                params![account_id, since, end_of(today)],
            )
            .await?;
        let mut interventions = Vec::with_capacity(tasks.len() + meetings.len());
        for t in tasks {
            interventions.push(InterventionRecord::Task {
                on: Column("tasks", "done_at").instant(t.done_at)?.date_naive(),
                title: t.title,
                playbook: t.playbook,
            });
        }
        // Conversations only, as for the cadence: an email or a note is no meeting.
        for m in meetings {
            let kind: TouchpointKind = Column("touchpoints", "kind").parsed(&m.kind)?;
            if !kind.counts_for_cadence() {
                continue;
            }
            interventions.push(InterventionRecord::Meeting {
                on: Column("touchpoints", "held_at").instant(m.held_at)?.date_naive(),
                // What it was for (ebr, training...); a business review without one is
                // named so; a plain meeting or call without one is routine.
                kind: m
                    .purpose
                    .or_else(|| (kind == TouchpointKind::BusinessReview).then(|| kind.as_str().to_string())),
                team: m.stakeholder_team,
            });
        }
        let usage = self.plan_usage(account_id, &interventions, today).await?;
        Ok(Some(PlanRecords {
            account: account.fields.name.unwrap_or(account.fields.external_id),
            objective: objective.map(|(o,)| o),
            outcomes,
            measurements,
            stakeholders: contacts
                .into_iter()
                .map(|c| Stakeholder {
                    name: c.name,
                    title: c.title,
                    team: c.stakeholder_team,
                    role: c.role,
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
        let spans: Vec<DaySpan> = windows
            .iter()
            .map(|w| {
                let (after, through) = activity(w);
                DaySpan { after, through }
            })
            .collect();
        // Every window's days read once, a row per day (`Store::users_by_day`).
        let active_users = match (
            spans.iter().map(|s| s.after).min(),
            spans.iter().map(|s| s.through).max(),
        ) {
            (Some(after), Some(through)) => {
                let days = self.users_by_day(account_id, after, through).await?;
                windows.iter().copied().zip(distinct_users(&days, &spans)).collect()
            }
            _ => Vec::new(),
        };
        let recent = activity(&UsageWindow {
            from: today + TimeDelta::days(1 - ACTIVE_DAYS),
            until: today + TimeDelta::days(1),
        });
        let departments: rows::Departments = self
            .fetch_one(
                "SELECT (SELECT COUNT(DISTINCT department) FROM product_users WHERE account_id = $1) AS known, \
                 (SELECT COUNT(DISTINCT p.department) FROM product_users p JOIN \
                   (SELECT DISTINCT user_ref FROM event_user_days WHERE account_id = $1 AND day > $2 AND day <= $3) u \
                   ON u.user_ref = p.external_id WHERE p.account_id = $1) AS active",
                params![account_id, recent.0, recent.1],
            )
            .await?;
        Ok(UsageRecords {
            seats,
            departments_known: u32::try_from(departments.known).unwrap_or(u32::MAX),
            departments_active: u32::try_from(departments.active).unwrap_or(u32::MAX),
            active_users,
        })
    }

    /// The account's milestones, by due date, then in the order they were added.
    pub async fn milestones(&self, account_id: i64) -> Result<Vec<Milestone>, StoreError> {
        let rows: Vec<MilestoneRow> = self
            .fetch_all(
                &format!(
                    "SELECT {MILESTONE_COLUMNS} FROM milestones WHERE account_id = $1 ORDER BY due_on, position, id"
                ),
                params![account_id],
            )
            .await?;
        rows.into_iter().map(milestone_of).collect()
    }

    pub async fn milestone(&self, id: i64) -> Result<Option<Milestone>, StoreError> {
        let row: Option<MilestoneRow> = self
            .fetch_optional(
                &format!("SELECT {MILESTONE_COLUMNS} FROM milestones WHERE id = $1"),
                params![id],
            )
            .await?;
        row.map(milestone_of).transpose()
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
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO milestones (external_id, account_id, title, due_on, done_on, side, position, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, \
                 (SELECT COALESCE(MAX(position), 0) + 1 FROM milestones WHERE account_id = $2), $7) RETURNING id",
                params![
                    m.external_id.as_deref(),
                    m.account_id,
                    &title,
                    m.due_on,
                    m.done_on,
                    m.side.as_str(),
                    Utc::now().timestamp_micros()
                ],
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
                tx.execute("UPDATE milestones SET done_on = $1 WHERE id = $2", params![on, id])
                    .await?;
                details["done_on"] = serde_json::json!(on);
            }
            MilestoneChange::Reopen => {
                tx.execute("UPDATE milestones SET done_on = NULL WHERE id = $1", params![id])
                    .await?;
            }
            MilestoneChange::Remove => {
                tx.execute("DELETE FROM milestones WHERE id = $1", params![id]).await?;
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
        let before: Option<(String,)> = self
            .fetch_optional(
                "SELECT objective FROM success_plans WHERE account_id = $1",
                params![account_id],
            )
            .await?;
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        let mut tx = self.begin_write().await?;
        // An empty objective is kept as empty text: the plan's row also holds whether the
        // customer may record measurements.
        tx.execute(
            "INSERT INTO success_plans (account_id, objective, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id) DO UPDATE SET objective = excluded.objective, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            params![account_id, objective, Utc::now().timestamp_micros(), actor],
        )
        .await?;
        tx.append_audit(&audit(
            actor,
            "plan.objective",
            serde_json::json!({
                "account_id": account_id, "objective": objective,
                "before": before.map(|(b,)| b).filter(|b| !b.is_empty()),
            }),
        ))
        .await?;
        tx.commit().await
    }

    /// Creates a link that shows the account's plan to whoever has it; returns it with
    /// its token, which is not kept and cannot be shown again.
    pub async fn create_share_link(
        &self,
        account_id: i64,
        actor: &str,
    ) -> Result<crate::Created<ShareLink>, StoreError> {
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        // 256 random bits: not to be guessed.
        let token = format!("sp_{}{}", random_id()?, random_id()?);
        let prefix: String = token.chars().take(PREFIX_CHARS).collect();
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO plan_share_links (account_id, token_hash, token_prefix, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                params![account_id, sha256_hex(&token), &prefix, actor, now.timestamp_micros()],
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
        Ok(crate::Created {
            record: link,
            secret: token,
        })
    }

    /// The account's share links, the newest first, revoked ones included.
    pub async fn share_links(&self, account_id: i64) -> Result<Vec<ShareLink>, StoreError> {
        let rows: Vec<LinkRow> = self
            .fetch_all(
                &format!("SELECT {LINK_COLUMNS} FROM plan_share_links WHERE account_id = $1 ORDER BY id DESC"),
                params![account_id],
            )
            .await?;
        rows.into_iter().map(link_of).collect()
    }

    pub async fn share_link(&self, id: i64) -> Result<Option<ShareLink>, StoreError> {
        let row: Option<LinkRow> = self
            .fetch_optional(
                &format!("SELECT {LINK_COLUMNS} FROM plan_share_links WHERE id = $1"),
                params![id],
            )
            .await?;
        row.map(link_of).transpose()
    }

    /// Revokes a link: from now on it finds nothing. Revoking it again changes nothing.
    pub async fn revoke_share_link(&self, id: i64, actor: &str) -> Result<ShareLink, StoreError> {
        let link = self
            .share_link(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("share link {id}")))?;
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                "UPDATE plan_share_links SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
                params![Utc::now().timestamp_micros(), actor, id],
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
        let row: Option<(i64,)> = self
            .fetch_optional(
                "SELECT account_id FROM plan_share_links WHERE token_hash = $1 AND revoked_at IS NULL",
                params![sha256_hex(token)],
            )
            .await?;
        Ok(row.map(|(id,)| id))
    }
}
