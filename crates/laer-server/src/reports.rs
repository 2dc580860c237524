//! Reports as both the CLI and the API serve them: load from the store, compute in the core.

use laer_core::reports::{Breakdown, MrrPeriod, ReportRequest, RequestError, mrr_report, retention_report};
use laer_core::retention::Retention;
use laer_store::{Store, StoreError};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The retention report: one object for a single period, `{"periods": [...]}` monthly.
pub async fn retention(store: &Store, request: &ReportRequest) -> Result<Value, ReportError> {
    let lines = store.revenue_lines().await?;
    let activity = match request.activity_window {
        Some(_) => store.activity_days().await?,
        None => Vec::new(),
    };
    let periods: Vec<Retention> = retention_report(&lines, &activity, request);
    Ok(match (request.monthly, periods.as_slice()) {
        (false, [single]) => json!(single),
        _ => json!({ "periods": periods }),
    })
}

/// The MRR movements report, per period and, with `by`, per value of that attribute;
/// with `accounts`, every account's net growth.
pub async fn mrr(
    store: &Store,
    request: &ReportRequest,
    by: Option<&str>,
    accounts: bool,
) -> Result<Value, ReportError> {
    let segments = match by {
        Some(attribute) => Some(
            store
                .account_attribute(attribute)
                .await?
                .ok_or_else(|| RequestError::UnknownAttribute(attribute.to_string()))?,
        ),
        None => None,
    };
    let external_ids = if accounts {
        Some(store.account_external_ids().await?)
    } else {
        None
    };
    let lines = store.revenue_lines().await?;
    let breakdown = Breakdown {
        segments: segments.as_ref(),
        accounts: external_ids.as_ref(),
    };
    let periods: Vec<MrrPeriod> = mrr_report(&lines, request, breakdown);
    Ok(json!({ "by": by, "periods": periods }))
}
