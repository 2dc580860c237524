//! The churn and downsell forecast in the REST API (laer_core::forecast::churn): every
//! customer's chances, page by page, with the model and its out-of-sample check; and one
//! account's, with the reasons. docs/api.md and docs/forecasts.md describe them.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{NaiveDate, Utc};
use laer_core::forecast::churn::{ChurnModel, Evaluation, Held, Outlook, Source, outlook, reasons};
use laer_core::limits::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use serde::{Deserialize, Serialize};

use crate::extract::{ApiCaller, ApiQuery, ViewAccounts, ViewRevenue};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/forecasts/churn", get(list))
        .route("/api/v1/accounts/{id}/forecast", get(one))
        .route("/api/v1/forecasts/renewals", get(renewals))
}

/// The forecast in use and its check ([`laer_app::forecast::learning_in_use`]).
async fn model_in_use(state: &AppState) -> Result<(ChurnModel, Option<Evaluation>), ApiError> {
    let learning = laer_app::forecast::learning_in_use(&state.store, &state.health_model.name).await?;
    Ok((learning.model, learning.evaluation))
}

/// Where the forecast comes from, and how it did out of sample.
#[derive(Serialize)]
struct ModelOut {
    horizon_days: i64,
    source: Source,
    evaluation: Option<Evaluation>,
}

#[derive(Serialize)]
struct AccountForecast {
    account_id: i64,
    external_id: String,
    name: Option<String>,
    health: Option<f64>,
    next_renewal: Option<NaiveDate>,
    #[serde(flatten)]
    outlook: Outlook,
}

#[derive(Serialize)]
struct ForecastPage {
    model: ModelOut,
    accounts: Vec<AccountForecast>,
    next_after: Option<i64>,
    total: usize,
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<u32>,
    after: Option<i64>,
}

/// `GET /api/v1/forecasts/churn?limit=N&after=ID`: every customer with kept health, in id
/// order, with its chances of churn and downsell within the horizon.
async fn list(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ForecastPage>, ApiError> {
    let limit = laer_core::limits::page_size("limit", q.limit.unwrap_or(DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)? as usize;
    let today = Utc::now().date_naive();
    let (snapshots, (model, evaluation)) = tokio::try_join!(
        async { Ok(state.cache.snapshots(&state.store, today).await?) },
        model_in_use(&state)
    )?;
    let attention = laer_core::attention::Attention {
        churn: Some(model.clone()),
        ..Default::default()
    };
    let mut all: Vec<AccountForecast> = snapshots
        .iter()
        .filter_map(|a| {
            let o = attention.outlook(a)?;
            Some(AccountForecast {
                account_id: a.id,
                external_id: a.external_id.clone(),
                name: a.name.clone(),
                health: a.health_score(),
                next_renewal: a.health.as_ref().and_then(|h| h.next_renewal),
                outlook: o,
            })
        })
        .collect();
    all.sort_by_key(|f| f.account_id);
    let total = all.len();
    let mut accounts: Vec<AccountForecast> = all
        .into_iter()
        .filter(|f| q.after.is_none_or(|after| f.account_id > after))
        .take(limit + 1)
        .collect();
    let next_after = if accounts.len() > limit {
        accounts.truncate(limit);
        accounts.last().map(|f| f.account_id)
    } else {
        None
    };
    Ok(Json(ForecastPage {
        model: ModelOut {
            horizon_days: model.horizon_days,
            source: model.source,
            evaluation,
        },
        accounts,
        next_after,
        total,
    }))
}

#[derive(Serialize)]
struct OneForecast {
    account_id: i64,
    #[serde(flatten)]
    outlook: Outlook,
    days_to_renewal: Option<f64>,
    reasons: Vec<String>,
    source: Source,
}

/// `GET /api/v1/accounts/{id}/forecast`: the account's chances of churn and downsell now,
/// from its health computed on request, with the reasons in words.
async fn one(
    _: ApiCaller<ViewAccounts>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OneForecast>, ApiError> {
    let id = crate::api::account_id(&id)?;
    let today = Utc::now().date_naive();
    let (now, (model, _)) = tokio::try_join!(
        async { Ok(laer_app::health::account_now(&state.store, &state.health_model, id, today).await?) },
        model_in_use(&state)
    )?;
    let now = now.ok_or_else(|| ApiError::NotFound(format!("no account with id {id}")))?;
    if !now.customer {
        return Err(ApiError::NotFound(format!(
            "account {id} is not a customer today: a forecast is for customers"
        )));
    }
    let o = outlook(&model, now.forecast);
    let held = now.health.drivers.iter().map(|d| Held {
        measure: &d.measure,
        value: d.value,
        gap: d.possible - d.contribution,
    });
    let reasons = reasons(&model, &o, &now.forecast, held);
    Ok(Json(OneForecast {
        account_id: id,
        outlook: o,
        days_to_renewal: now.forecast.days_to_renewal,
        reasons,
        source: model.source,
    }))
}

/// `GET /api/v1/forecasts/renewals`: this quarter's and the next's renewals forecast in
/// money — each renewal's likelihood, forecast ARR and the system's and owner's calls —
/// rolled up with 90 % intervals, and each closed quarter's kept forecast against what
/// happened.
async fn renewals(
    _: ApiCaller<ViewRevenue>,
    State(state): State<AppState>,
) -> Result<Json<laer_app::forecast::RenewalOutlook>, ApiError> {
    let today = Utc::now().date_naive();
    let (snapshots, (model, _), replayed) = tokio::try_join!(
        async { Ok(state.cache.snapshots(&state.store, today).await?) },
        model_in_use(&state),
        async { Ok::<_, ApiError>(laer_app::forecast::backtest_in_use(&state.store, &state.health_model.name).await?) }
    )?;
    Ok(Json(
        laer_app::forecast::renewal_outlook(
            &state.store,
            &model,
            replayed,
            &snapshots,
            today,
            Some(&state.cache.renewal_quarters),
        )
        .await?,
    ))
}
