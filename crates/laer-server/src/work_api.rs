//! The REST API of coverage, playbooks and tasks (docs/api.md): read with
//! `view_accounts`; changing a task needs `work_tasks`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{NaiveDate, Utc};
use laer_core::model::TaskStatus;
use laer_store::{RunRow, StoreError, TaskChange, TaskComment, TaskFilter, TaskRow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::extract::{ApiCaller, ApiQuery, ViewAccounts, WorkTasks};
use crate::{ApiError, AppState};
use laer_app::automation::{Automation, PlaybookSummary, playbook_summaries};
use laer_core::limits::{MAX_PAGE_SIZE, MAX_TASKS_PER_REQUEST};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tasks", get(list_tasks))
        .route("/api/v1/tasks/{id}", get(get_task).post(change_task))
        .route("/api/v1/playbooks", get(list_playbooks))
        .route("/api/v1/playbooks/runs", get(list_runs))
        .route("/api/v1/accounts/{id}/coverage", get(account_coverage))
}

#[derive(Serialize)]
struct Tasks {
    tasks: Vec<TaskRow>,
}

/// The parameters of `GET /api/v1/tasks`.
#[derive(Deserialize)]
struct TasksQuery {
    assignee_id: Option<i64>,
    /// `1` or `true`: only tasks nobody is assigned to.
    unassigned: Option<String>,
    account_id: Option<i64>,
    playbook: Option<String>,
    /// open (the default), done, cancelled or all.
    status: Option<String>,
    limit: Option<i64>,
}

/// `limit` (or `default`) between 1 and `max`, else 400 naming `limit` and the maximum.
fn page_size(limit: Option<i64>, default: u32, max: u32) -> Result<u32, ApiError> {
    let asked = limit.unwrap_or(i64::from(default));
    // A value beyond u32 is over every maximum: stated as the maximum plus one.
    let asked = u32::try_from(asked.max(0)).unwrap_or(max.saturating_add(1));
    Ok(laer_core::limits::page_size("limit", asked, max)?)
}

/// `GET /api/v1/tasks?assignee_id=&unassigned=1&account_id=&playbook=&status=open|done|cancelled|all&limit=`
async fn list_tasks(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<TasksQuery>,
) -> Result<Json<Tasks>, ApiError> {
    let status = match params.status.as_deref() {
        None => Some(TaskStatus::Open),
        Some("all") => None,
        Some(s) => Some(s.parse::<TaskStatus>().map_err(|e| {
            ApiError::bad_request(
                format!("status: {e}, or all"),
                json!({"parameter": "status", "value": s}),
            )
        })?),
    };
    let today = Utc::now().date_naive();
    let filter = TaskFilter {
        assignee_id: params.assignee_id,
        unassigned: params.unassigned.is_some_and(|v| v == "1" || v == "true"),
        account_id: params.account_id,
        playbook: params.playbook,
        status,
        awake_on: None,
        asleep_on: None,
        limit: Some(i64::from(page_size(params.limit, 500, MAX_TASKS_PER_REQUEST)?)),
    };
    Ok(Json(Tasks {
        tasks: state.store.tasks(&filter, today).await?,
    }))
}

#[derive(Serialize)]
struct TaskDetail {
    #[serde(flatten)]
    task: TaskRow,
    comments: Vec<TaskComment>,
}

fn task_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("task id must be a whole number", json!({"id": id})))
}

/// `GET /api/v1/tasks/{id}`: one task with its comments.
async fn get_task(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskDetail>, ApiError> {
    let id = task_id(&id)?;
    let task = state
        .store
        .task(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no task with id {id}")))?;
    let comments = state.store.task_comments(id).await?;
    Ok(Json(TaskDetail { task, comments }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskAction {
    /// done, reopen, cancel, snooze, reassign or comment.
    action: String,
    until: Option<NaiveDate>,
    assignee_id: Option<i64>,
    comment: Option<String>,
}

/// `POST /api/v1/tasks/{id}` with `{"action": "done"}` (or reopen, cancel, snooze with
/// `until`, reassign with `assignee_id`, comment with `comment`): the task after it.
async fn change_task(
    caller: ApiCaller<WorkTasks>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<TaskDetail>, ApiError> {
    let id = task_id(&id)?;
    let action: TaskAction = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("body: {e}"), json!({"expected": "{\"action\": \"done\"}"})))?;
    let missing = |field: &str| {
        ApiError::bad_request(
            format!("{field} is required for {}", action.action),
            json!({"field": field}),
        )
    };
    let change = match action.action.as_str() {
        "done" => TaskChange::Done,
        "reopen" => TaskChange::Reopen,
        "cancel" => TaskChange::Cancel,
        "snooze" => TaskChange::Snooze(action.until.ok_or_else(|| missing("until"))?),
        "reassign" => TaskChange::Reassign(action.assignee_id.ok_or_else(|| missing("assignee_id"))?),
        "comment" => TaskChange::Comment(action.comment.clone().ok_or_else(|| missing("comment"))?),
        other => {
            return Err(ApiError::bad_request(
                format!("unknown action {other:?}"),
                json!({"expected": ["done", "reopen", "cancel", "snooze", "reassign", "comment"]}),
            ));
        }
    };
    let task = state.store.update_task(id, &change, &caller.actor).await?;
    let comments = state.store.task_comments(id).await?;
    Ok(Json(TaskDetail { task, comments }))
}

#[derive(Serialize)]
struct PlaybookList {
    playbooks: Vec<PlaybookSummary>,
}

/// `GET /api/v1/playbooks`: the playbooks in effect, with runs and open tasks.
async fn list_playbooks(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
) -> Result<Json<PlaybookList>, ApiError> {
    let automation = Automation::in_effect(&state.store).await.map_err(|e| match e {
        laer_app::automation::AutomationError::Store(e) => ApiError::Store(e),
        // Rules are checked when saved: one that no longer reads is stored data gone bad.
        other => ApiError::Store(StoreError::Corrupt(other.to_string())),
    })?;
    Ok(Json(PlaybookList {
        playbooks: playbook_summaries(&state.store, &automation).await?,
    }))
}

#[derive(Serialize)]
struct Runs {
    runs: Vec<RunRow>,
}

/// The parameters of `GET /api/v1/playbooks/runs`.
#[derive(Deserialize)]
struct RunsQuery {
    playbook: Option<String>,
    account_id: Option<i64>,
    /// The newest this many (500 unless asked; at most `MAX_PAGE_SIZE`).
    limit: Option<i64>,
}

/// `GET /api/v1/playbooks/runs?playbook=&account_id=&limit=`: the newest runs first.
async fn list_runs(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<RunsQuery>,
) -> Result<Json<Runs>, ApiError> {
    Ok(Json(Runs {
        runs: state
            .store
            .newest_playbook_runs(
                params.playbook.as_deref(),
                params.account_id,
                Some(page_size(params.limit, 500, MAX_PAGE_SIZE)?),
            )
            .await?,
    }))
}

/// `GET /api/v1/accounts/{id}/coverage`: who covers the account now.
async fn account_coverage(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("account id must be a whole number", json!({"id": id})))?;
    if state.store.account(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no account with id {id}")));
    }
    let owners = state.store.current_owners(Utc::now().date_naive()).await?;
    let owners: Vec<serde_json::Value> = owners
        .get(&id)
        .map(|os| {
            os.iter()
                .map(|o| json!({"role": o.role, "team_member_id": o.member_id, "name": o.name}))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({"account_id": id, "owners": owners})))
}
