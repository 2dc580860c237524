//! The REST API under `/api/v1`, and `/healthz`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
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
use crate::{ApiError, AppState, report_stream};

use laer_core::limits::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_QUERY_TEXT_CHARS};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/accounts", get(list_accounts))
        .route("/api/v1/accounts/{id}", get(get_account))
        .route("/api/v1/accounts/{id}/health", get(get_account_health))
        .route("/api/v1/accounts/{id}/plan", get(get_account_plan))
        .route("/api/v1/reports/retention", get(retention_report))
        .route("/api/v1/reports/mrr", get(mrr_report))
        .route("/api/v1/reports/survival", get(survival_report))
        .merge(crate::work_api::routes())
        // Issue 19: the churn and downsell forecast.
        .merge(crate::forecast_api::routes())
        // Issue 14, REST writes: records of every kind, and the document describing the API.
        .merge(crate::records_api::routes())
        .merge(crate::openapi::routes())
}

/// What answers a path no route serves: a page for a browser asking for a page, the
/// API's JSON error for everything else (the API, the tracking API, scripts).
pub(crate) async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let path = uri.path();
    let api = path.starts_with("/api/") || path.starts_with("/v1/");
    let wants_page = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_page && !api {
        crate::web::PageError::NotFound(format!("page at {path}")).into_response()
    } else {
        ApiError::NotFound("no such endpoint".into()).into_response()
    }
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
    let limit = laer_core::limits::page_size("limit", params.limit.unwrap_or(DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)?;
    if let Some(external_id) = &params.external_id {
        query_text("external_id", external_id)?;
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

/// A text parameter (a name, an id to find) is at most [`MAX_QUERY_TEXT_CHARS`] long.
pub(crate) fn query_text(parameter: &'static str, text: &str) -> Result<(), ApiError> {
    laer_core::parse::bounded(text, MAX_QUERY_TEXT_CHARS).map_err(|message| {
        ApiError::from(laer_core::limits::OverLimit {
            parameter,
            limit: MAX_QUERY_TEXT_CHARS.to_string(),
            message,
        })
    })?;
    Ok(())
}

/// `GET /api/v1/accounts/{id}`: one account by laer id, with its subscription lines.
pub(crate) fn account_id(id: &str) -> Result<i64, ApiError> {
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
    ReportRequest::parse(from, to, every, activity_window).map_err(ApiError::from)
}

/// `GET /api/v1/reports/retention?from=A&to=B[&every=month][&activity_window=DAYS][&by=ATTRIBUTE]`:
/// checked against the limits (`laer_core::limits`) before anything is read, then
/// answered period by period ([`crate::report_stream`]).
async fn retention_report(
    _: ApiCaller<ViewRevenue>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RetentionQuery>,
) -> Result<Response, ApiError> {
    let request = report_request(
        q.from.as_deref(),
        q.to.as_deref(),
        q.every.as_deref(),
        q.activity_window.as_deref(),
    )?;
    let inputs = laer_app::reports::RetentionInputs::load(&state.store, &request, q.by.as_deref()).await?;
    let periods = request.periods.clone();
    // A single period asked for without `every` is its figures alone; else `{"periods": [...]}`.
    let (head, tail) = if request.monthly || periods.len() != 1 {
        ("{\"periods\":[".to_string(), "]}")
    } else {
        (String::new(), "")
    };
    let (response, _) = report_stream::json_periods(head, tail, periods, move |period| inputs.period(&request, period));
    Ok(response)
}

/// `GET /api/v1/reports/mrr?from=A&to=B[&every=month][&by=ATTRIBUTE][&accounts=true]`:
/// checked against the limits before anything is read, then answered period by period.
async fn mrr_report(
    _: ApiCaller<ViewRevenue>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<MrrQuery>,
) -> Result<Response, ApiError> {
    let request = report_request(q.from.as_deref(), q.to.as_deref(), q.every.as_deref(), None)?;
    let accounts = q.accounts.unwrap_or(false);
    let inputs = laer_app::reports::MrrInputs::load(&state.store, &request, q.by.as_deref(), accounts).await?;
    let head = format!("{{\"by\":{},\"periods\":[", json!(q.by));
    let (response, _) = report_stream::json_periods(head, "]}", request.periods, move |period| inputs.period(period));
    Ok(response)
}

/// The parameters of `/api/v1/reports/survival`.
#[derive(Deserialize)]
struct SurvivalQuery {
    by: Option<laer_core::survival::CurveBy>,
    months: Option<u32>,
}

/// `GET /api/v1/reports/survival[?by=cohort|segment|plan|all][&months=N]`: retention
/// curves with their bands, the share of starting revenue, and each cohort's projection.
async fn survival_report(
    _: ApiCaller<ViewRevenue>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SurvivalQuery>,
) -> Result<Json<laer_app::reports::SurvivalReport>, ApiError> {
    let max = laer_app::reports::MAX_SURVIVAL_MONTHS;
    let months = q.months.unwrap_or(36);
    if !(1..=max).contains(&months) {
        return Err(ApiError::bad_request(
            format!("query parameter months: 1 to {max}"),
            json!({"parameter": "months"}),
        ));
    }
    let by = q.by.unwrap_or(laer_core::survival::CurveBy::Cohort);
    let today = chrono::Utc::now().date_naive();
    Ok(Json(
        laer_app::reports::survival(&state.store, &state.health_model.name, by, months, today).await?,
    ))
}
