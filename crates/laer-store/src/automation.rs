//! What the coverage model and the playbooks decided, kept: owners and their hand-offs,
//! playbook runs once per cause, tasks with their changes and comments, and the rules as
//! edited on the admin pages. Several nodes may decide at once: runs are unique per
//! cause, and changes to one account's coverage run one after the other.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use laer_core::automation::coverage::{IMPORTED_OWNER, handoff_imported};
use laer_core::automation::{Books, CoverageChange, Holder, Member, OpenRun, Recipient, RunChange, TaskDraft};
use laer_core::model::{NewAuditEntry, NewOwner, TaskStatus, TeamRole};
use serde::Serialize;
use serde_json::json;

use crate::decode::Column;
use crate::delivery::{emit, queue_email};
use crate::exec::{Params, params};
use crate::health::Accounts;
use crate::write::{WriteCount, WriteTx};
use crate::{Store, StoreError};

/// The `playbook` of the tasks a change of owner creates.
pub const HANDOFF: &str = "handoff";

/// A coverage change with the task its new owner gets.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    pub change: CoverageChange,
    pub handoff: Option<TaskDraft>,
}

/// Everything decided for one account on one day.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountPlan {
    pub account_id: i64,
    pub coverage: Vec<PlannedChange>,
    pub runs: Vec<RunChange>,
}

impl AccountPlan {
    pub fn is_empty(&self) -> bool {
        self.coverage.is_empty() && self.runs.is_empty()
    }
}

/// What applying plans changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AutomationOutcome {
    pub owners_started: usize,
    pub owners_ended: usize,
    /// Roles the rules ask for that nobody in the team can take.
    pub uncovered: usize,
    pub runs_fired: usize,
    pub runs_closed: usize,
    pub tasks_created: usize,
    pub emails_queued: usize,
    /// Messages to Slack or Teams.
    pub chats_queued: usize,
}

impl std::ops::AddAssign for AutomationOutcome {
    fn add_assign(&mut self, o: AutomationOutcome) {
        self.owners_started += o.owners_started;
        self.owners_ended += o.owners_ended;
        self.uncovered += o.uncovered;
        self.runs_fired += o.runs_fired;
        self.runs_closed += o.runs_closed;
        self.tasks_created += o.tasks_created;
        self.emails_queued += o.emails_queued;
        self.chats_queued += o.chats_queued;
    }
}

/// A setting as last saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub body: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// One task, with what a queue shows of its account and assignee.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: i64,
    pub external_id: String,
    pub account_id: Option<i64>,
    pub account: Option<String>,
    /// The account's MRR today: queues put the larger accounts first.
    pub account_mrr: laer_core::Money,
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
    pub role: Option<TeamRole>,
    pub playbook: Option<String>,
    pub cause: Option<String>,
    pub title: String,
    pub due_on: Option<NaiveDate>,
    pub status: TaskStatus,
    pub snoozed_until: Option<NaiveDate>,
    pub steps: Vec<String>,
    /// Why now in one sentence ([`TaskDraft::reason`]); `None` for tasks of one's own
    /// and those made before reasons were kept.
    pub reason: Option<String>,
    pub context: String,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub assignee_id: Option<i64>,
    /// Only tasks nobody is assigned to.
    pub unassigned: bool,
    pub account_id: Option<i64>,
    pub playbook: Option<String>,
    /// `None`: every status.
    pub status: Option<TaskStatus>,
    /// Leave out tasks snoozed past this day.
    pub awake_on: Option<NaiveDate>,
    /// Only tasks snoozed past this day (My work's Snoozed tab).
    pub asleep_on: Option<NaiveDate>,
    pub limit: Option<i64>,
}

/// A change to a task by a person.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskChange {
    Done,
    /// Done on a past day: work recorded after the fact (the demo's team works so).
    DoneOn(NaiveDate),
    Reopen,
    Cancel,
    Snooze(NaiveDate),
    Reassign(i64),
    Comment(String),
}

impl TaskChange {
    fn action(&self) -> &'static str {
        match self {
            TaskChange::Done | TaskChange::DoneOn(_) => "task.done",
            TaskChange::Reopen => "task.reopened",
            TaskChange::Cancel => "task.cancelled",
            TaskChange::Snooze(_) => "task.snoozed",
            TaskChange::Reassign(_) => "task.reassigned",
            TaskChange::Comment(_) => "task.commented",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskComment {
    pub at: DateTime<Utc>,
    pub author: String,
    pub body: String,
}

/// One playbook run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub playbook: String,
    pub account_id: i64,
    pub cause: String,
    pub evidence: String,
    pub fired_on: NaiveDate,
    pub open: bool,
    pub closed_on: Option<NaiveDate>,
}

/// One coverage assignment: who covered the account in a role, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageRow {
    pub role: TeamRole,
    pub member: String,
    pub since: NaiveDate,
    /// The first day it no longer holds; `None`: still.
    pub until: Option<NaiveDate>,
    pub reason: String,
    /// Assigned by hand: the rules leave it alone.
    pub by_hand: bool,
}

/// What one playbook has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlaybookCounts {
    /// Runs ever fired.
    pub runs: i64,
    /// Runs whose episode is still open.
    pub open_runs: i64,
    /// Open tasks the playbook created.
    pub open_tasks: i64,
}

/// Who covers what on a day: the team, the holders of each chosen account's roles, and
/// the team's books (see [`Store::coverage_state`]).
#[derive(Debug, Clone, Default)]
pub struct CoverageState {
    pub team: Vec<Member>,
    /// The chosen accounts' holders, by account.
    pub holders: HashMap<i64, Vec<Holder>>,
    pub books: Books,
}

/// The rows this module reads, one struct per statement.
mod rows {
    use chrono::NaiveDate;

    #[derive(sqlx::FromRow)]
    pub(super) struct Setting {
        pub body: String,
        pub updated_at: i64,
        pub updated_by: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Member {
        pub id: i64,
        pub external_id: String,
        pub name: String,
        pub email: Option<String>,
        pub roles: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Holder {
        pub account_id: i64,
        pub role: String,
        pub team_member_id: i64,
        pub by_hand: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Book {
        pub team_member_id: i64,
        pub role: String,
        pub accounts: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Recent {
        pub role: String,
        pub team_member_id: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct OpenRun {
        pub account_id: i64,
        pub playbook: String,
        pub cause: String,
        pub quiet_since: Option<NaiveDate>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Comment {
        pub at: i64,
        pub author: String,
        pub body: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Run {
        pub id: i64,
        pub playbook: String,
        pub account_id: i64,
        pub cause: String,
        pub evidence: String,
        pub fired_on: NaiveDate,
        pub is_open: i64,
        pub closed_on: Option<NaiveDate>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Coverage {
        pub role: String,
        pub member: String,
        pub since: NaiveDate,
        pub until: Option<NaiveDate>,
        pub reason: String,
        pub by_hand: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct RunCounts {
        pub playbook: String,
        pub runs: i64,
        pub open_runs: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct TaskCount {
        pub playbook: String,
        pub open_tasks: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Recipient {
        pub email: String,
    }
}

impl Store {
    /// A setting (`coverage` or `playbooks`) as last saved on the admin pages.
    pub async fn setting(&self, name: &str) -> Result<Option<Setting>, StoreError> {
        let row: Option<rows::Setting> = self
            .fetch_optional(
                "SELECT body, updated_at, updated_by FROM settings WHERE name = $1",
                params![name],
            )
            .await?;
        row.map(|r| {
            Ok(Setting {
                body: r.body,
                updated_at: Column("settings", "updated_at").instant(r.updated_at)?,
                updated_by: r.updated_by,
            })
        })
        .transpose()
    }

    /// Saves a setting (the caller checked it), audited with the text before.
    pub async fn save_setting(&self, name: &str, body: &str, actor: &str) -> Result<(), StoreError> {
        let before = self.setting(name).await?;
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        tx.execute(
            "INSERT INTO settings (name, body, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
            params![name, body, now.timestamp_micros(), actor],
        )
        .await?;
        tx.append_audit(&NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: format!("settings.{name}"),
            details: serde_json::json!({ "name": name, "body": body, "before": before.map(|b| b.body) }),
        })
        .await?;
        tx.commit().await
    }

    /// The team: every member with their coverage roles.
    pub async fn team_members(&self) -> Result<Vec<Member>, StoreError> {
        let members: Vec<rows::Member> = self
            .fetch_all(
                "SELECT id, external_id, name, email, roles FROM team_members ORDER BY id",
                params![],
            )
            .await?;
        members
            .into_iter()
            .map(|m| {
                let roles = m
                    .roles
                    .split([',', ';', ' '])
                    .filter(|r| !r.trim().is_empty())
                    .map(|r| Column("team_members", "roles").parsed(r))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Member {
                    id: m.id,
                    external_id: m.external_id,
                    name: m.name,
                    email: m.email,
                    roles,
                })
            })
            .collect()
    }

    /// The team, who covers the chosen accounts on `day` in each role, and the team's
    /// books that day (accounts per member and role, and who took each role last).
    pub async fn coverage_state(&self, day: NaiveDate, accounts: Accounts<'_>) -> Result<CoverageState, StoreError> {
        const CURRENT: &str = "since <= $1 AND (until IS NULL OR until > $1)";
        let holders_sql = format!(
            "SELECT account_id, role, team_member_id, by_hand FROM coverage_assignments \
             WHERE {CURRENT} AND {} ORDER BY since, id",
            accounts.condition("account_id")
        );
        let counts_sql = format!(
            "SELECT team_member_id, role, COUNT(*) AS accounts FROM coverage_assignments WHERE {CURRENT} GROUP BY 1, 2"
        );
        let recent_sql = "SELECT role, team_member_id FROM coverage_assignments \
                          GROUP BY role, team_member_id ORDER BY MAX(since), MAX(id)";
        let (team, rows, counts, recent) = tokio::try_join!(
            self.team_members(),
            self.fetch_all::<rows::Holder>(&holders_sql, params![day]),
            self.fetch_all::<rows::Book>(&counts_sql, params![day]),
            self.fetch_all::<rows::Recent>(recent_sql, params![]),
        )?;
        let role = Column("coverage_assignments", "role");
        let mut holders: HashMap<i64, Vec<Holder>> = HashMap::new();
        for h in rows {
            holders.entry(h.account_id).or_default().push(Holder {
                role: role.parsed(&h.role)?,
                member_id: h.team_member_id,
                by_hand: h.by_hand == 1,
            });
        }
        let mut books = Books::default();
        for b in counts {
            books.counts.insert(
                (b.team_member_id, role.parsed(&b.role)?),
                usize::try_from(b.accounts).unwrap_or(usize::MAX),
            );
        }
        for r in recent {
            books.recent.push((role.parsed(&r.role)?, r.team_member_id));
        }
        Ok(CoverageState { team, holders, books })
    }

    /// The open episodes of the chosen accounts' playbook runs.
    pub async fn open_runs(&self, accounts: Accounts<'_>) -> Result<HashMap<i64, Vec<OpenRun>>, StoreError> {
        let rows: Vec<rows::OpenRun> = self
            .fetch_all(
                &format!(
                    "SELECT account_id, playbook, cause, quiet_since FROM playbook_runs WHERE is_open = 1 AND {}",
                    accounts.condition("account_id")
                ),
                params![],
            )
            .await?;
        let mut open: HashMap<i64, Vec<OpenRun>> = HashMap::new();
        for r in rows {
            open.entry(r.account_id).or_default().push(OpenRun {
                playbook: r.playbook,
                cause: r.cause,
                quiet_since: r.quiet_since,
            });
        }
        Ok(open)
    }

    /// The causes the chosen accounts' playbooks have fired for, as (account, playbook,
    /// cause): a firing for one of them again records nothing (a preview leaves them out).
    pub async fn recorded_runs(&self, accounts: Accounts<'_>) -> Result<HashSet<(i64, String, String)>, StoreError> {
        let rows: Vec<(i64, String, String)> = self
            .fetch_all(
                &format!(
                    "SELECT account_id, playbook, cause FROM playbook_runs WHERE {}",
                    accounts.condition("account_id")
                ),
                params![],
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Records what was decided for each account on `day`, in one transaction per batch
    /// of accounts. A run already recorded for its cause (by this node or another) is
    /// left as it is and creates nothing; a role someone took meanwhile is not taken twice.
    /// With `deliver`, the decisions' emails and webhook events are queued too (a replay
    /// of the past records what would have happened, and tells nobody).
    pub async fn apply_automation(
        &self,
        day: NaiveDate,
        plans: &[AccountPlan],
        actor: &str,
        deliver: bool,
    ) -> Result<AutomationOutcome, StoreError> {
        let mut outcome = AutomationOutcome::default();
        for batch in plans.chunks(200) {
            let batch: Vec<&AccountPlan> = batch.iter().filter(|p| !p.is_empty()).collect();
            if batch.is_empty() {
                continue;
            }
            let mut tx = self.begin_write().await?;
            let names: Vec<String> = batch.iter().map(|p| format!("account:{}", p.account_id)).collect();
            tx.lock(names.iter().map(String::as_str)).await?;
            let mut done = AutomationOutcome::default();
            let mut owners_changed = Vec::new();
            for plan in batch {
                let applied = apply_plan(&mut tx, day, plan, actor, deliver).await?;
                if applied.owners_started + applied.owners_ended > 0 {
                    owners_changed.push(plan.account_id);
                }
                done += applied;
            }
            if !owners_changed.is_empty() {
                // Owners change from today on: no past day's phase moves.
                tx.touch_portfolio(Accounts::Only(&owners_changed)).await?;
            }
            tx.commit().await?;
            outcome += done;
        }
        Ok(outcome)
    }

    /// Tasks in queue order: due first (undated last), then the larger accounts.
    pub async fn tasks(&self, filter: &TaskFilter, today: NaiveDate) -> Result<Vec<TaskRow>, StoreError> {
        let mut conditions = vec!["1 = 1".to_string()];
        let mut p = params![today];
        if let Some(a) = filter.assignee_id {
            conditions.push(format!("t.assignee_id = {}", p.placeholder(a)));
        }
        if filter.unassigned {
            conditions.push("t.assignee_id IS NULL".into());
        }
        if let Some(a) = filter.account_id {
            conditions.push(format!("t.account_id = {}", p.placeholder(a)));
        }
        if let Some(pb) = &filter.playbook {
            conditions.push(format!("t.playbook = {}", p.placeholder(pb)));
        }
        if let Some(s) = filter.status {
            conditions.push(format!("t.status = {}", p.placeholder(s.as_str())));
        }
        if let Some(d) = filter.awake_on {
            let day = p.placeholder(d);
            conditions.push(format!("(t.snoozed_until IS NULL OR t.snoozed_until <= {day})"));
        }
        if let Some(d) = filter.asleep_on {
            conditions.push(format!("t.snoozed_until > {}", p.placeholder(d)));
        }
        let limit = filter.limit.map(|l| format!(" LIMIT {}", l.max(0))).unwrap_or_default();
        let sql = format!(
            "SELECT {TASK_COLUMNS}, \
             CAST(COALESCE((SELECT SUM(s.mrr) FROM subscriptions s WHERE s.account_id = t.account_id \
               AND s.start_date <= $1 AND (s.end_date IS NULL OR s.end_date > $1)), 0) AS BIGINT) AS account_mrr \
             FROM tasks t LEFT JOIN accounts a ON a.id = t.account_id LEFT JOIN team_members m ON m.id = t.assignee_id \
             WHERE {} ORDER BY CASE WHEN t.due_on IS NULL THEN 1 ELSE 0 END, t.due_on, account_mrr DESC, t.id{limit}",
            conditions.join(" AND ")
        );
        let rows: Vec<TaskRecord> = self.fetch_all(&sql, p).await?;
        rows.into_iter().map(task_row).collect()
    }

    /// Each account's open work on `today` (account id → open tasks awake that day, and
    /// how many of them are overdue); accounts without any are absent. The portfolio's
    /// "needs attention" (issue 16).
    pub async fn open_work(
        &self,
        today: NaiveDate,
    ) -> Result<HashMap<i64, laer_core::attention::OpenWork>, StoreError> {
        self.open_work_by("account_id", today).await
    }

    /// Each team member's open work on `today` (team member id → open tasks awake that
    /// day, and how many are overdue): the team page (issue 16).
    pub async fn open_work_of_people(
        &self,
        today: NaiveDate,
    ) -> Result<HashMap<i64, laer_core::attention::OpenWork>, StoreError> {
        self.open_work_by("assignee_id", today).await
    }

    /// Open work grouped by `column`, a column of `tasks` named by this file only.
    async fn open_work_by(
        &self,
        column: &'static str,
        today: NaiveDate,
    ) -> Result<HashMap<i64, laer_core::attention::OpenWork>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = self
            .fetch_all(
                &format!(
                    "SELECT {column}, COUNT(*) AS open, \
                     CAST(SUM(CASE WHEN due_on < $1 THEN 1 ELSE 0 END) AS BIGINT) AS overdue FROM tasks \
                     WHERE status = 'open' AND {column} IS NOT NULL \
                     AND (snoozed_until IS NULL OR snoozed_until <= $1) GROUP BY {column}"
                ),
                params![today],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(key, open, overdue)| {
                let count = |n: i64| usize::try_from(n).unwrap_or(0);
                (
                    key,
                    laer_core::attention::OpenWork {
                        open: count(open),
                        overdue: count(overdue),
                    },
                )
            })
            .collect())
    }

    pub async fn task(&self, id: i64) -> Result<Option<TaskRow>, StoreError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS}, CAST(0 AS BIGINT) AS account_mrr FROM tasks t \
             LEFT JOIN accounts a ON a.id = t.account_id LEFT JOIN team_members m ON m.id = t.assignee_id WHERE t.id = $1"
        );
        let row: Option<TaskRecord> = self.fetch_optional(&sql, params![id]).await?;
        row.map(task_row).transpose()
    }

    /// Changes a task, audited with who did what.
    pub async fn update_task(&self, id: i64, change: &TaskChange, actor: &str) -> Result<TaskRow, StoreError> {
        let task = self
            .task(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("task {id}")))?;
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let mut details = serde_json::json!({ "task_id": id, "account_id": task.account_id, "title": task.title });
        match change {
            TaskChange::Done => {
                tx.execute(
                    "UPDATE tasks SET status = 'done', done_at = $1 WHERE id = $2",
                    params![now.timestamp_micros(), id],
                )
                .await?;
            }
            TaskChange::DoneOn(on) => {
                let at = on.and_hms_opt(12, 0, 0).map_or(now, |t| t.and_utc());
                tx.execute(
                    "UPDATE tasks SET status = 'done', done_at = $1 WHERE id = $2",
                    params![at.timestamp_micros(), id],
                )
                .await?;
                details["on"] = serde_json::json!(on);
            }
            TaskChange::Reopen => {
                tx.execute(
                    "UPDATE tasks SET status = 'open', done_at = NULL WHERE id = $1",
                    params![id],
                )
                .await?;
            }
            TaskChange::Cancel => {
                tx.execute(
                    "UPDATE tasks SET status = 'cancelled', done_at = $1 WHERE id = $2",
                    params![now.timestamp_micros(), id],
                )
                .await?;
            }
            TaskChange::Snooze(until) => {
                tx.execute("UPDATE tasks SET snoozed_until = $1 WHERE id = $2", params![*until, id])
                    .await?;
                details["until"] = serde_json::json!(until);
            }
            TaskChange::Reassign(member) => {
                let known: Option<(i64,)> = tx
                    .fetch_optional("SELECT id FROM team_members WHERE id = $1", params![*member])
                    .await?;
                if known.is_none() {
                    tx.rollback().await?;
                    return Err(StoreError::NotFound(format!("team member {member}")));
                }
                tx.execute("UPDATE tasks SET assignee_id = $1 WHERE id = $2", params![*member, id])
                    .await?;
                details["from"] = serde_json::json!(task.assignee_id);
                details["to"] = serde_json::json!(member);
            }
            TaskChange::Comment(body) => {
                if let Err(e) = crate::records::checked_comment(body) {
                    tx.rollback().await?;
                    return Err(e);
                }
                tx.execute(
                    "INSERT INTO task_comments (task_id, at, author, body) VALUES ($1, $2, $3, $4)",
                    params![id, now.timestamp_micros(), actor, body.trim()],
                )
                .await?;
                details["comment"] = serde_json::json!(body.trim());
            }
        }
        let mut data = details.clone();
        data["actor"] = json!(actor);
        emit(&mut tx, change.action(), task.account_id, data, now).await?;
        tx.append_audit(&NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: change.action().to_string(),
            details,
        })
        .await?;
        tx.commit().await?;
        self.task(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("task {id}")))
    }

    pub async fn task_comments(&self, id: i64) -> Result<Vec<TaskComment>, StoreError> {
        let rows: Vec<rows::Comment> = self
            .fetch_all(
                "SELECT at, author, body FROM task_comments WHERE task_id = $1 ORDER BY at, id",
                params![id],
            )
            .await?;
        rows.into_iter()
            .map(|c| {
                Ok(TaskComment {
                    at: Column("task_comments", "at").instant(c.at)?,
                    author: c.author,
                    body: c.body,
                })
            })
            .collect()
    }

    /// Playbook runs, newest first, of one playbook or account, or all.
    pub async fn playbook_runs(
        &self,
        playbook: Option<&str>,
        account_id: Option<i64>,
    ) -> Result<Vec<RunRow>, StoreError> {
        self.newest_playbook_runs(playbook, account_id, None).await
    }

    /// As [`Store::playbook_runs`], the newest `limit` only when a limit is given.
    pub async fn newest_playbook_runs(
        &self,
        playbook: Option<&str>,
        account_id: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<RunRow>, StoreError> {
        let mut sql = "SELECT id, playbook, account_id, cause, evidence, fired_on, is_open, closed_on \
                       FROM playbook_runs WHERE 1 = 1"
            .to_string();
        let mut p = Params::default();
        if let Some(pb) = playbook {
            sql.push_str(&format!(" AND playbook = {}", p.placeholder(pb)));
        }
        if let Some(a) = account_id {
            sql.push_str(&format!(" AND account_id = {}", p.placeholder(a)));
        }
        sql.push_str(" ORDER BY fired_on DESC, id DESC");
        if let Some(limit) = limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let rows: Vec<rows::Run> = self.fetch_all(&sql, p).await?;
        Ok(rows
            .into_iter()
            .map(|r| RunRow {
                id: r.id,
                playbook: r.playbook,
                account_id: r.account_id,
                cause: r.cause,
                evidence: r.evidence,
                fired_on: r.fired_on,
                open: r.is_open == 1,
                closed_on: r.closed_on,
            })
            .collect())
    }

    /// Every coverage assignment of an account, the latest first.
    pub async fn coverage_of_account(&self, account_id: i64) -> Result<Vec<CoverageRow>, StoreError> {
        let rows: Vec<rows::Coverage> = self
            .fetch_all(
                "SELECT c.role, m.name AS member, c.since, c.until, c.reason, c.by_hand FROM coverage_assignments c \
                 JOIN team_members m ON m.id = c.team_member_id WHERE c.account_id = $1 \
                 ORDER BY c.since DESC, c.id DESC",
                params![account_id],
            )
            .await?;
        rows.into_iter()
            .map(|c| {
                Ok(CoverageRow {
                    role: Column("coverage_assignments", "role").parsed(&c.role)?,
                    member: c.member,
                    since: c.since,
                    until: c.until,
                    reason: c.reason,
                    by_hand: c.by_hand == 1,
                })
            })
            .collect()
    }

    /// Gives `role` on the account to `member` by hand (ending whoever holds it), with a
    /// hand-off task; or, with `None`, ends the role's assignment by hand so that the
    /// rules decide again. Audited, and told to webhooks.
    pub async fn assign_by_hand(
        &self,
        account_id: i64,
        role: TeamRole,
        member: Option<(i64, &TaskDraft)>,
        reason: &str,
        actor: &str,
        day: NaiveDate,
    ) -> Result<(), StoreError> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("reason: say why the owner changes".into()));
        }
        let at = Utc::now();
        let mut tx = self.begin_write().await?;
        tx.lock([format!("account:{account_id}").as_str()]).await?;
        let account: Option<(i64,)> = tx
            .fetch_optional("SELECT id FROM accounts WHERE id = $1", params![account_id])
            .await?;
        if account.is_none() {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        if let Some((member_id, _)) = member
            && tx
                .fetch_optional::<(i64,)>("SELECT id FROM team_members WHERE id = $1", params![member_id])
                .await?
                .is_none()
        {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("team member {member_id}")));
        }
        let ended_reason = format!("By hand: {reason}");
        change_owner(&mut tx, account_id, role, member, &ended_reason, actor, day, at).await?;
        // The rules look at the account again at once (coverage is read for each pass:
        // its records did not change).
        tx.mark_accounts_dirty(&[account_id]).await?;
        // From today on: no past day's phase moves.
        tx.touch_portfolio(Accounts::Only(&[account_id])).await?;
        tx.commit().await
    }

    /// Runs and open tasks per playbook.
    pub async fn playbook_counts(&self) -> Result<HashMap<String, PlaybookCounts>, StoreError> {
        let runs: Vec<rows::RunCounts> = self
            .fetch_all(
                "SELECT playbook, COUNT(*) AS runs, CAST(SUM(is_open) AS BIGINT) AS open_runs FROM playbook_runs \
                 GROUP BY playbook",
                params![],
            )
            .await?;
        let tasks: Vec<rows::TaskCount> = self
            .fetch_all(
                "SELECT playbook, COUNT(*) AS open_tasks FROM tasks WHERE playbook IS NOT NULL AND status = 'open' \
                 GROUP BY playbook",
                params![],
            )
            .await?;
        let mut counts: HashMap<String, PlaybookCounts> = HashMap::new();
        for r in runs {
            let c = counts.entry(r.playbook).or_default();
            c.runs = r.runs;
            c.open_runs = r.open_runs;
        }
        for t in tasks {
            counts.entry(t.playbook).or_default().open_tasks = t.open_tasks;
        }
        Ok(counts)
    }
}

#[derive(sqlx::FromRow)]
struct TaskRecord {
    id: i64,
    external_id: String,
    account_id: Option<i64>,
    account: Option<String>,
    account_mrr: i64,
    assignee_id: Option<i64>,
    assignee: Option<String>,
    role: Option<String>,
    playbook: Option<String>,
    cause: Option<String>,
    title: String,
    due_on: Option<NaiveDate>,
    status: String,
    snoozed_until: Option<NaiveDate>,
    steps: String,
    reason: Option<String>,
    context: String,
    created_at: i64,
    done_at: Option<i64>,
}

/// The columns of a [`TaskRecord`] but the MRR, from `tasks t`, `accounts a` and
/// `team_members m`.
const TASK_COLUMNS: &str = "t.id, t.external_id, t.account_id, a.name AS account, t.assignee_id, \
     m.name AS assignee, t.role, t.playbook, t.cause, t.title, t.due_on, t.status, t.snoozed_until, t.steps, \
     t.reason, t.context, t.created_at, t.done_at";

fn task_row(t: TaskRecord) -> Result<TaskRow, StoreError> {
    let id = t.id;
    let column = |name| Column("tasks", name);
    Ok(TaskRow {
        id,
        external_id: t.external_id,
        account_id: t.account_id,
        account: t.account,
        account_mrr: laer_core::Money::from_ten_thousandths(t.account_mrr),
        assignee_id: t.assignee_id,
        assignee: t.assignee,
        role: t.role.as_deref().map(|r| column("role").parsed(r)).transpose()?,
        playbook: t.playbook,
        cause: t.cause,
        title: t.title,
        due_on: t.due_on,
        status: column("status").parsed(&t.status)?,
        snoozed_until: t.snoozed_until,
        steps: column("steps")
            .json(&t.steps)
            .map_err(|e| column("steps").unreadable(format!("task {id}: {e}")))?,
        reason: t.reason,
        context: t.context,
        created_at: column("created_at").instant(t.created_at)?,
        done_at: column("done_at").opt_instant(t.done_at)?,
    })
}

/// Issue 16: the open work of someone who no longer covers the account in `role` does not
/// stay with them. It goes to whoever holds the role now, else to the account's CSM, else
/// to nobody (the Unassigned queue, where a new holder of the role picks it up), audited
/// as `tasks.handed_over` with the count and to whom.
#[allow(clippy::too_many_arguments)]
async fn hand_over_open_work(
    tx: &mut WriteTx,
    account: i64,
    role: TeamRole,
    member: i64,
    day: NaiveDate,
    at: DateTime<Utc>,
    actor: &str,
    change: &CoverageChange,
) -> Result<(), StoreError> {
    let successor = match holder(tx, account, role, day).await? {
        Some(m) if m != member => Some(m),
        _ if role != TeamRole::Csm => holder(tx, account, TeamRole::Csm, day).await?.filter(|m| *m != member),
        _ => None,
    };
    let moved = tx
        .execute(
            "UPDATE tasks SET assignee_id = $1 WHERE account_id = $2 AND role = $3 AND status = 'open' \
             AND assignee_id = $4",
            params![successor, account, role.as_str(), member],
        )
        .await?;
    if moved > 0 {
        let mut entry = coverage_audit(at, actor, "tasks.handed_over", account, change);
        entry.details["tasks"] = serde_json::json!(moved);
        entry.details["to_team_member_id"] = serde_json::json!(successor);
        tx.append_audit(&entry).await?;
    }
    Ok(())
}

/// The addresses an email goes to: the owner's, or the account's contacts' (of a team).
async fn recipients(tx: &mut WriteTx, account: i64, to: &Recipient, day: NaiveDate) -> Result<Vec<String>, StoreError> {
    let rows: Vec<rows::Recipient> = match to {
        Recipient::Owner(role) => match holder(tx, account, *role, day).await? {
            Some(member) => {
                tx.fetch_all(
                    "SELECT email FROM team_members WHERE id = $1 AND email IS NOT NULL",
                    params![member],
                )
                .await?
            }
            None => Vec::new(),
        },
        Recipient::Contacts(team) => {
            tx.fetch_all(
                "SELECT email FROM contacts WHERE account_id = $1 AND email IS NOT NULL \
                 AND ($2 IS NULL OR LOWER(stakeholder_team) = LOWER($2)) ORDER BY id",
                params![account, team.as_deref()],
            )
            .await?
        }
    };
    let mut addresses: Vec<String> = rows
        .into_iter()
        .map(|r| r.email.trim().to_string())
        .filter(|e| e.contains('@'))
        .collect();
    addresses.dedup();
    Ok(addresses)
}

impl WriteTx {
    /// Gives each account's role to the team member a source names (a CRM's account
    /// owner), held as by hand: the coverage rules leave it alone. An owner who already
    /// holds the role so is counted unchanged; a new one ends the role's holder and gets
    /// a hand-off task. The import checked that the accounts and members exist.
    pub async fn set_owners(&mut self, owners: &[NewOwner]) -> Result<WriteCount, StoreError> {
        let at = Utc::now();
        let day = at.date_naive();
        let mut count = WriteCount::default();
        let mut changed = Vec::new();
        // Accounts locked in one order, so that two imports at once wait rather than deadlock.
        let mut owners: Vec<&NewOwner> = owners.iter().collect();
        owners.sort_by_key(|o| o.account_id);
        for owner in owners {
            self.lock([format!("account:{}", owner.account_id).as_str()]).await?;
            let current: Option<(i64, i64)> = self
                .fetch_optional(
                    "SELECT team_member_id, by_hand FROM coverage_assignments WHERE account_id = $1 \
                     AND role = $2 AND since <= $3 AND (until IS NULL OR until > $3) \
                     ORDER BY since DESC, id DESC LIMIT 1",
                    params![owner.account_id, owner.role.as_str(), day],
                )
                .await?;
            if current == Some((owner.team_member_id, 1)) {
                count.unchanged += 1;
                continue;
            }
            let (name,): (String,) = self
                .fetch_one(
                    "SELECT COALESCE(name, external_id) FROM accounts WHERE id = $1",
                    params![owner.account_id],
                )
                .await?;
            let draft = handoff_imported(owner.role, &name, day);
            change_owner(
                self,
                owner.account_id,
                owner.role,
                Some((owner.team_member_id, &draft)),
                IMPORTED_OWNER,
                "import",
                day,
                at,
            )
            .await?;
            count.written += 1;
            changed.push(owner.account_id);
        }
        if !changed.is_empty() {
            changed.sort_unstable();
            changed.dedup();
            self.mark_accounts_dirty(&changed).await?;
            // Owners imported from today on: no past day's phase moves.
            self.touch_portfolio(Accounts::Only(&changed)).await?;
        }
        Ok(count)
    }
}

/// Gives `role` on the account to `member` as held by hand (ending whoever holds it, with
/// a hand-off task for the newcomer), or with `None` ends the role's assignment by hand.
/// Audited and told to webhooks as `actor`, the changes kept with `ended_reason`. The
/// caller holds the account's lock and has checked that the account and member exist.
#[allow(clippy::too_many_arguments)]
async fn change_owner(
    tx: &mut WriteTx,
    account_id: i64,
    role: TeamRole,
    member: Option<(i64, &TaskDraft)>,
    ended_reason: &str,
    actor: &str,
    day: NaiveDate,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Everyone holding the role by hand, or anyone when a new owner comes, leaves it.
    let leaving: Vec<(i64,)> = tx
        .fetch_all(
            "SELECT team_member_id FROM coverage_assignments WHERE account_id = $1 AND role = $2 \
                 AND since <= $3 AND (until IS NULL OR until > $3) AND (by_hand = 1 OR $4 = 1)",
            params![account_id, role.as_str(), day, i64::from(member.is_some())],
        )
        .await?;
    for (leaver,) in leaving {
        if member.is_some_and(|(m, _)| m == leaver) {
            continue;
        }
        let change = CoverageChange::End {
            role,
            member_id: leaver,
            reason: ended_reason.to_string(),
        };
        tx.execute(
            "UPDATE coverage_assignments SET until = $1, reason = reason || ' — ended: ' || $2 \
                 WHERE account_id = $3 AND role = $4 AND team_member_id = $5 AND since <= $1 \
                 AND (until IS NULL OR until > $1)",
            params![day, ended_reason, account_id, role.as_str(), leaver],
        )
        .await?;
        let entry = coverage_audit(at, actor, "coverage.ended", account_id, &change);
        emit(tx, "coverage.ended", Some(account_id), entry.details.clone(), at).await?;
        tx.append_audit(&entry).await?;
    }
    if let Some((member_id, draft)) = member {
        let already = holder(tx, account_id, role, day).await? == Some(member_id);
        if !already {
            let (id,): (i64,) = tx
                    .fetch_one(
                        "INSERT INTO coverage_assignments (account_id, team_member_id, role, since, until, reason, by_hand) \
                         VALUES ($1, $2, $3, $4, NULL, $5, 1) RETURNING id",
                        params![account_id, member_id, role.as_str(), day, ended_reason],
                    )
                    .await?;
            let draft = with_written_note(tx, account_id, draft).await?;
            let task = NewTaskOf {
                external_id: format!("handoff:{id}"),
                account: account_id,
                assignee: Some(member_id),
                playbook: Some(HANDOFF),
                run: None,
                cause: Some(ended_reason),
                draft: &draft,
            };
            insert_task(tx, task, at.timestamp_micros()).await?;
        } else {
            // Already theirs: from now on by hand.
            tx.execute(
                "UPDATE coverage_assignments SET by_hand = 1 WHERE account_id = $1 AND role = $2 \
                     AND team_member_id = $3 AND since <= $4 AND (until IS NULL OR until > $4)",
                params![account_id, role.as_str(), member_id, day],
            )
            .await?;
        }
        let change = CoverageChange::Start {
            role,
            member_id,
            reason: ended_reason.to_string(),
        };
        let entry = coverage_audit(at, actor, "coverage.started", account_id, &change);
        emit(tx, "coverage.started", Some(account_id), entry.details.clone(), at).await?;
        tx.append_audit(&entry).await?;
    }
    Ok(())
}

/// The member covering the account in `role` on `day`, inside the transaction.
async fn holder(tx: &mut WriteTx, account: i64, role: TeamRole, day: NaiveDate) -> Result<Option<i64>, StoreError> {
    let member: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT team_member_id FROM coverage_assignments WHERE account_id = $1 AND role = $2 \
             AND since <= $3 AND (until IS NULL OR until > $3) ORDER BY since DESC, id DESC LIMIT 1",
            params![account, role.as_str(), day],
        )
        .await?;
    Ok(member.map(|(id,)| id))
}

struct NewTaskOf<'a> {
    external_id: String,
    account: i64,
    assignee: Option<i64>,
    playbook: Option<&'a str>,
    run: Option<i64>,
    cause: Option<&'a str>,
    draft: &'a TaskDraft,
}

/// A hand-off task with the note the account's owner wrote for the next, if any.
async fn with_written_note(tx: &mut WriteTx, account: i64, draft: &TaskDraft) -> Result<TaskDraft, StoreError> {
    let note: Option<(String, String)> = tx
        .fetch_optional(
            "SELECT body, written_by FROM handoff_notes WHERE account_id = $1",
            params![account],
        )
        .await?;
    let mut draft = draft.clone();
    if let Some((body, author)) = note {
        draft.context = laer_core::handoff::context_with_note(&draft.context, &author, &body);
    }
    Ok(draft)
}

async fn insert_task(tx: &mut WriteTx, t: NewTaskOf<'_>, created_at: i64) -> Result<(), StoreError> {
    let steps = serde_json::to_string(&t.draft.steps).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT INTO tasks (external_id, account_id, assignee_id, title, due_on, status, created_at, \
         role, playbook, run_id, cause, steps, context, reason) \
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (external_id) DO NOTHING",
        params![
            &t.external_id,
            t.account,
            t.assignee,
            &t.draft.title,
            t.draft.due_on,
            created_at,
            t.draft.role.as_str(),
            t.playbook,
            t.run,
            t.cause,
            steps,
            &t.draft.context,
            (!t.draft.reason.is_empty()).then_some(t.draft.reason.as_str())
        ],
    )
    .await?;
    Ok(())
}

/// The instant of a decision made for `day`: now when it is today, else the day's noon
/// (a replay of history records when things would have happened).
fn decided_at(day: NaiveDate) -> DateTime<Utc> {
    let now = Utc::now();
    if day >= now.date_naive() {
        now
    } else {
        day.and_hms_opt(12, 0, 0).map_or(now, |t| t.and_utc())
    }
}

fn coverage_audit(
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    account: i64,
    change: &CoverageChange,
) -> NewAuditEntry {
    let (role, member_id, reason) = match change {
        CoverageChange::Start {
            role,
            member_id,
            reason,
        }
        | CoverageChange::End {
            role,
            member_id,
            reason,
        } => (Some(*role), Some(*member_id), reason.as_str()),
        CoverageChange::Uncovered { role, reason } => (Some(*role), None, reason.as_str()),
    };
    NewAuditEntry {
        at,
        actor: actor.to_string(),
        action: action.to_string(),
        details: serde_json::json!({
            "account_id": account, "role": role, "team_member_id": member_id, "reason": reason,
        }),
    }
}

async fn apply_plan(
    tx: &mut WriteTx,
    day: NaiveDate,
    plan: &AccountPlan,
    actor: &str,
    deliver: bool,
) -> Result<AutomationOutcome, StoreError> {
    let mut outcome = AutomationOutcome::default();
    let at = decided_at(day);
    let account = plan.account_id;
    for PlannedChange { change, handoff } in &plan.coverage {
        match change {
            CoverageChange::Start {
                role,
                member_id,
                reason,
            } => {
                // Another node may have filled the role since this one looked.
                if holder(tx, account, *role, day).await?.is_some() {
                    continue;
                }
                let (id,): (i64,) = tx
                    .fetch_one(
                        "INSERT INTO coverage_assignments (account_id, team_member_id, role, since, until, reason) \
                         VALUES ($1, $2, $3, $4, NULL, $5) RETURNING id",
                        params![account, *member_id, role.as_str(), day, reason],
                    )
                    .await?;
                outcome.owners_started += 1;
                let entry = coverage_audit(at, actor, "coverage.started", account, change);
                if deliver {
                    emit(tx, "coverage.started", Some(account), entry.details.clone(), at).await?;
                }
                tx.append_audit(&entry).await?;
                // The role's open work on the account that nobody holding the role has
                // (it waited unassigned, or its owner left the role) goes to the new owner.
                let moved = tx
                    .execute(
                        "UPDATE tasks SET assignee_id = $1 WHERE account_id = $2 AND role = $3 AND status = 'open' \
                         AND (assignee_id IS NULL OR assignee_id NOT IN (SELECT team_member_id FROM coverage_assignments \
                         WHERE account_id = $2 AND role = $3 AND since <= $4 AND (until IS NULL OR until > $4)))",
                        params![*member_id, account, role.as_str(), day],
                    )
                    .await?;
                if moved > 0 {
                    let mut entry = coverage_audit(at, actor, "tasks.handed_over", account, change);
                    entry.details["tasks"] = serde_json::json!(moved);
                    tx.append_audit(&entry).await?;
                }
                if let Some(draft) = handoff {
                    let draft = &with_written_note(tx, account, draft).await?;
                    let task = NewTaskOf {
                        external_id: format!("handoff:{id}"),
                        account,
                        assignee: Some(*member_id),
                        playbook: Some(HANDOFF),
                        run: None,
                        cause: Some(reason),
                        draft,
                    };
                    insert_task(tx, task, at.timestamp_micros()).await?;
                    outcome.tasks_created += 1;
                    if deliver {
                        let data = json!({"account_id": account, "playbook": HANDOFF, "role": role,
                            "assignee_id": member_id, "title": draft.title, "due_on": draft.due_on});
                        emit(tx, "task.created", Some(account), data, at).await?;
                    }
                }
            }
            CoverageChange::End {
                role,
                member_id,
                reason,
            } => {
                let ended = tx
                    .execute(
                        "UPDATE coverage_assignments SET until = $1, \
                         reason = CASE WHEN reason = '' THEN $2 ELSE reason || ' — ended: ' || $2 END \
                         WHERE account_id = $3 AND role = $4 AND team_member_id = $5 AND since <= $1 \
                         AND (until IS NULL OR until > $1)",
                        params![day, reason, account, role.as_str(), *member_id],
                    )
                    .await?;
                if ended > 0 {
                    outcome.owners_ended += 1;
                    let entry = coverage_audit(at, actor, "coverage.ended", account, change);
                    if deliver {
                        emit(tx, "coverage.ended", Some(account), entry.details.clone(), at).await?;
                    }
                    tx.append_audit(&entry).await?;
                    hand_over_open_work(tx, account, *role, *member_id, day, at, actor, change).await?;
                }
            }
            CoverageChange::Uncovered { .. } => outcome.uncovered += 1,
        }
    }
    for change in &plan.runs {
        match change {
            RunChange::Fire(f) => {
                let inserted: Option<(i64,)> = tx
                    .fetch_optional(
                        "INSERT INTO playbook_runs (playbook, account_id, cause, evidence, fired_on, fired_at, is_open) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
                        params![
                            &f.playbook,
                            account,
                            &f.cause,
                            &f.evidence,
                            day,
                            at.timestamp_micros(),
                            i64::from(f.episode)
                        ],
                    )
                    .await?;
                let Some((run,)) = inserted else {
                    continue;
                };
                outcome.runs_fired += 1;
                let mut created = Vec::new();
                for (n, draft) in f.tasks.iter().enumerate() {
                    let assignee = holder(tx, account, draft.role, day).await?;
                    created.push(
                        json!({"role": draft.role, "assignee_id": assignee, "title": draft.title,
                        "due_on": draft.due_on}),
                    );
                    let task = NewTaskOf {
                        external_id: format!("playbook:{run}:{}", n + 1),
                        account,
                        assignee,
                        playbook: Some(&f.playbook),
                        run: Some(run),
                        cause: Some(&f.cause),
                        draft,
                    };
                    insert_task(tx, task, at.timestamp_micros()).await?;
                    outcome.tasks_created += 1;
                }
                if deliver {
                    for (n, email) in f.emails.iter().enumerate() {
                        for to in recipients(tx, account, &email.to, day).await? {
                            let key = format!("run:{run}:email:{}:{to}", n + 1);
                            if queue_email(tx, &key, &to, &f.playbook, Some(account), &email.subject, &email.body)
                                .await?
                            {
                                outcome.emails_queued += 1;
                            }
                        }
                    }
                    // A hook by a name no hook has (any more) gets nothing: the playbook
                    // page says which hooks exist.
                    for (n, chat) in f.chats.iter().enumerate() {
                        if let Some(hook) = tx.chat_hook_id(&chat.to).await? {
                            let key = format!("run:{run}:chat:{}:{hook}", n + 1);
                            if tx
                                .queue_chat(&key, hook, &f.playbook, Some(account), &chat.message)
                                .await?
                            {
                                outcome.chats_queued += 1;
                            }
                        } else {
                            tracing::warn!(
                                "playbook {} posts to chat hook {:?}, which does not exist",
                                f.playbook,
                                chat.to
                            );
                        }
                    }
                    let data = json!({"run_id": run, "account_id": account, "playbook": f.playbook,
                        "cause": f.cause, "evidence": f.evidence, "fired_on": day, "tasks": created});
                    emit(tx, "playbook.fired", Some(account), data, at).await?;
                    for task in created {
                        let mut data = task;
                        data["account_id"] = json!(account);
                        data["playbook"] = json!(f.playbook);
                        emit(tx, "task.created", Some(account), data, at).await?;
                    }
                }
            }
            RunChange::Quiet { playbook, cause } => {
                tx.execute(
                    "UPDATE playbook_runs SET quiet_since = $1 WHERE playbook = $2 AND account_id = $3 AND cause = $4 \
                     AND is_open = 1 AND quiet_since IS NULL",
                    params![day, playbook, account, cause],
                )
                .await?;
            }
            RunChange::Resume { playbook, cause } => {
                tx.execute(
                    "UPDATE playbook_runs SET quiet_since = NULL WHERE playbook = $1 AND account_id = $2 \
                     AND cause = $3 AND is_open = 1",
                    params![playbook, account, cause],
                )
                .await?;
            }
            RunChange::Close { playbook, cause } => {
                let closed = tx
                    .execute(
                        "UPDATE playbook_runs SET is_open = 0, closed_on = $1 WHERE playbook = $2 AND account_id = $3 \
                         AND cause = $4 AND is_open = 1",
                        params![day, playbook, account, cause],
                    )
                    .await? as usize;
                outcome.runs_closed += closed;
                if deliver && closed > 0 {
                    let data = json!({"account_id": account, "playbook": playbook, "cause": cause, "ended_on": day});
                    emit(tx, "playbook.ended", Some(account), data, at).await?;
                }
            }
        }
    }
    Ok(outcome)
}
