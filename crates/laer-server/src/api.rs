//! The REST API under `/api/v1`, and `/healthz`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use laer_core::Money;
use laer_core::model::{Account, Subscription, mrr_on};
use laer_core::reports::ReportRequest;
use laer_store::{AccountPage, Backend};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::extract::{ApiCaller, ApiQuery, ViewAccounts, ViewRevenue};
use crate::{ApiError, AppState};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/accounts", get(list_accounts))
        .route("/api/v1/accounts/{id}", get(get_account))
        .route("/api/v1/accounts/{id}/health", get(get_account_health))
        .route("/api/v1/accounts/{id}/plan", get(get_account_plan))
        .route("/api/v1/reports/retention", get(retention_report))
        .route("/api/v1/reports/mrr", get(mrr_report))
        .merge(crate::work_api::routes())
        // Issue 14, REST writes: records of every kind, and the document describing the API.
        .merge(crate::records_api::routes())
        .merge(crate::openapi::routes())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    let database = match state.store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    Ok(Json(json!({"status": "ok", "database": database})))
}

#[derive(Deserialize)]
struct AccountsQuery {
    limit: Option<u32>,
    after: Option<i64>,
    external_id: Option<String>,
}

/// `GET /api/v1/accounts?limit=N&after=ID[&external_id=X]`: accounts in id order.
async fn list_accounts(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AccountsQuery>,
) -> Result<Json<AccountPage>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("limit must be between 1 and {MAX_PAGE}"),
            json!({"parameter": "limit", "value": limit}),
        ));
    }
    if let Some(external_id) = &params.external_id {
        let accounts: Vec<Account> = state
            .store
            .account_by_external_id(external_id)
            .await?
            .into_iter()
            .collect();
        let total = accounts.len() as i64;
        return Ok(Json(AccountPage {
            accounts,
            next_after: None,
            total,
        }));
    }
    Ok(Json(state.store.accounts_page(params.after, limit).await?))
}

#[derive(Serialize)]
struct AccountDetail {
    #[serde(flatten)]
    account: Account,
    /// MRR today: the sum over subscription lines active today.
    mrr: Money,
    subscriptions: Vec<Subscription>,
}

/// `GET /api/v1/accounts/{id}`: one account by laer id, with its subscription lines.
fn account_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::bad_request(
            "account id must be a whole number (laer's id; find by external id with /api/v1/accounts?external_id=)",
            json!({"id": id}),
        )
    })
}

/// The account's health now (computed on request, so always current), with its
/// pillars, quadrant, drivers and what moved since a week ago.
async fn get_account_health(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<laer_app::health::AccountHealthNow>, ApiError> {
    let id = account_id(&id)?;
    let health = laer_app::health::account_now(&state.store, &state.health_model, id, Utc::now().date_naive())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account with id {id}")))?;
    Ok(Json(health))
}

/// A success plan as one audience sees it.
#[derive(Serialize)]
#[serde(untagged)]
enum PlanView {
    Team(laer_core::success_plan::SuccessPlan),
    Customer(laer_core::success_plan::CustomerPlan),
}

#[derive(Deserialize)]
struct PlanQuery {
    view: Option<String>,
}

/// The account's success plan as the team sees it (docs/success-plans.md); `?view=customer`
/// for what a share link shows.
async fn get_account_plan(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<PlanQuery>,
) -> Result<Json<PlanView>, ApiError> {
    let id = account_id(&id)?;
    let today = Utc::now().date_naive();
    let records = state
        .store
        .plan_records(id, today)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account with id {id}")))?;
    let plan = laer_core::success_plan::assemble(&records, today);
    match params.view.as_deref() {
        None | Some("team") => Ok(Json(PlanView::Team(plan))),
        Some("customer") => Ok(Json(PlanView::Customer(plan.for_customer()))),
        Some(other) => Err(ApiError::bad_request(
            format!("view: expected team or customer, found {other:?}"),
            json!({"parameter": "view"}),
        )),
    }
}

async fn get_account(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AccountDetail>, ApiError> {
    let id = account_id(&id)?;
    let account = state
        .store
        .account(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account with id {id}")))?;
    let subscriptions = state.store.subscriptions_of(id).await?;
    let mrr = mrr_on(subscriptions.iter().map(|s| &s.fields), Utc::now().date_naive());
    Ok(Json(AccountDetail {
        account,
        mrr,
        subscriptions,
    }))
}

/// The parameters of `/api/v1/reports/retention`.
#[derive(Deserialize)]
struct RetentionQuery {
    from: Option<String>,
    to: Option<String>,
    every: Option<String>,
    activity_window: Option<String>,
    by: Option<String>,
}

/// The parameters of `/api/v1/reports/mrr`.
#[derive(Deserialize)]
struct MrrQuery {
    from: Option<String>,
    to: Option<String>,
    every: Option<String>,
    by: Option<String>,
    accounts: Option<bool>,
}

fn report_request(
    from: Option<&str>,
    to: Option<&str>,
    every: Option<&str>,
    activity_window: Option<&str>,
) -> Result<ReportRequest, ApiError> {
    fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, ApiError> {
        value.ok_or_else(|| {
            ApiError::bad_request(
                format!("query parameter {name} is required (YYYY-MM-DD)"),
                json!({"parameter": name}),
            )
        })
    }
    let (from, to) = (required(from, "from")?, required(to, "to")?);
    ReportRequest::parse(from, to, every, activity_window)
        .map_err(|e| ApiError::bad_request(e.to_string(), Value::Null))
}

/// `GET /api/v1/reports/retention?from=A&to=B[&every=month][&activity_window=DAYS][&by=ATTRIBUTE]`
async fn retention_report(
    _: ApiCaller<ViewRevenue>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RetentionQuery>,
) -> Result<Json<laer_app::reports::RetentionReport>, ApiError> {
    let request = report_request(
        q.from.as_deref(),
        q.to.as_deref(),
        q.every.as_deref(),
        q.activity_window.as_deref(),
    )?;
    Ok(Json(
        laer_app::reports::retention(&state.store, &request, q.by.as_deref()).await?,
    ))
}

/// `GET /api/v1/reports/mrr?from=A&to=B[&every=month][&by=ATTRIBUTE][&accounts=true]`
async fn mrr_report(
    _: ApiCaller<ViewRevenue>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<MrrQuery>,
) -> Result<Json<laer_app::reports::MrrReport>, ApiError> {
    let request = report_request(q.from.as_deref(), q.to.as_deref(), q.every.as_deref(), None)?;
    let accounts = q.accounts.unwrap_or(false);
    Ok(Json(
        laer_app::reports::mrr(&state.store, &request, q.by.as_deref(), accounts).await?,
    ))
}
