//! The REST API under `/api/v1`, and `/healthz`.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use laer_core::Money;
use laer_core::access::Permission;
use laer_core::model::{Account, Subscription, mrr_on};
use laer_core::reports::ReportRequest;
use laer_store::{AccountPage, Backend};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1_000;

pub(crate) fn routes(state: AppState) -> Router<AppState> {
    let accounts = Router::new()
        .route("/api/v1/accounts", get(list_accounts))
        .route("/api/v1/accounts/{id}", get(get_account))
        .route("/api/v1/accounts/{id}/health", get(get_account_health))
        .route("/api/v1/accounts/{id}/plan", get(get_account_plan))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_accounts));
    let reports = Router::new()
        .route("/api/v1/reports/retention", get(retention_report))
        .route("/api/v1/reports/mrr", get(mrr_report))
        .route_layer(middleware::from_fn_with_state(state, require_revenue));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(accounts)
        .merge(reports)
        .merge(crate::work_api::routes())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
}

async fn require_accounts(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    bearer(&state, request.headers().clone(), Permission::ViewAccounts).await?;
    Ok(next.run(request).await)
}

async fn require_revenue(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    bearer(&state, request.headers().clone(), Permission::ViewRevenue).await?;
    Ok(next.run(request).await)
}

/// Requires `Authorization: Bearer TOKEN` of a live API token whose role may use the API
/// and has `permission`.
pub(crate) async fn bearer(state: &AppState, headers: HeaderMap, permission: Permission) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let role = state
        .store
        .authenticate_api_token(token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    for needed in [Permission::UseApi, permission] {
        if !role.can(needed) {
            return Err(ApiError::Forbidden(needed));
        }
    }
    Ok(())
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    let database = match state.store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    Ok(Json(json!({"status": "ok", "database": database})))
}

/// Parses an optional numeric query parameter, naming it when it does not parse.
pub(crate) fn query_number<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<T>().map_err(|_| {
                ApiError::bad_request(
                    format!("query parameter {name} must be a whole number"),
                    json!({"parameter": name, "value": v}),
                )
            })
        })
        .transpose()
}

/// `GET /api/v1/accounts?limit=N&after=ID[&external_id=X]`: accounts in id order.
async fn list_accounts(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AccountPage>, ApiError> {
    only_parameters(&params, &["limit", "after", "external_id"])?;
    let limit = query_number::<u32>(&params, "limit")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("limit must be between 1 and {MAX_PAGE}"),
            json!({"parameter": "limit", "value": limit}),
        ));
    }
    let after = query_number::<i64>(&params, "after")?;
    if let Some(external_id) = params.get("external_id") {
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
    Ok(Json(state.store.accounts_page(after, limit).await?))
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

/// The account's success plan as the team sees it (docs/success-plans.md); `?view=customer`
/// for what a share link shows.
async fn get_account_plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<PlanView>, ApiError> {
    only_parameters(&params, &["view"])?;
    let id = account_id(&id)?;
    let today = Utc::now().date_naive();
    let records = state
        .store
        .plan_records(id, today)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account with id {id}")))?;
    let plan = laer_core::success_plan::assemble(&records, today);
    match params.get("view").map(String::as_str) {
        None | Some("team") => Ok(Json(PlanView::Team(plan))),
        Some("customer") => Ok(Json(PlanView::Customer(plan.for_customer()))),
        Some(other) => Err(ApiError::bad_request(
            format!("view: expected team or customer, found {other:?}"),
            json!({"parameter": "view"}),
        )),
    }
}

async fn get_account(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<AccountDetail>, ApiError> {
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

/// Checks that only known query parameters are given.
pub(crate) fn only_parameters(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|name| !known.contains(&name.as_str())) {
        Some(name) => Err(ApiError::bad_request(
            format!("unknown query parameter {name}; expected {}", known.join(", ")),
            json!({"parameter": name}),
        )),
        None => Ok(()),
    }
}

fn report_request(params: &HashMap<String, String>) -> Result<ReportRequest, ApiError> {
    let required = |name: &str| {
        params.get(name).ok_or_else(|| {
            ApiError::bad_request(
                format!("query parameter {name} is required (YYYY-MM-DD)"),
                json!({"parameter": name}),
            )
        })
    };
    let (from, to) = (required("from")?, required("to")?);
    ReportRequest::parse(
        from,
        to,
        params.get("every").map(String::as_str),
        params.get("activity_window").map(String::as_str),
    )
    .map_err(|e| ApiError::bad_request(e.to_string(), Value::Null))
}

/// `GET /api/v1/reports/retention?from=A&to=B[&every=month][&activity_window=DAYS][&by=ATTRIBUTE]`
async fn retention_report(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<laer_app::reports::RetentionReport>, ApiError> {
    only_parameters(&params, &["from", "to", "every", "activity_window", "by"])?;
    let request = report_request(&params)?;
    let by = params.get("by").map(String::as_str);
    Ok(Json(laer_app::reports::retention(&state.store, &request, by).await?))
}

/// `GET /api/v1/reports/mrr?from=A&to=B[&every=month][&by=ATTRIBUTE][&accounts=true]`
async fn mrr_report(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<laer_app::reports::MrrReport>, ApiError> {
    only_parameters(&params, &["from", "to", "every", "by", "accounts"])?;
    let request = report_request(&params)?;
    let accounts = match params.get("accounts").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "accounts must be true or false",
                json!({"parameter": "accounts", "value": other}),
            ));
        }
    };
    let by = params.get("by").map(String::as_str);
    Ok(Json(
        laer_app::reports::mrr(&state.store, &request, by, accounts).await?,
    ))
}
