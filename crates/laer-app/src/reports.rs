//! Reports as both the CLI and the API serve them: load from the store, compute in the core.

use std::collections::HashMap;

use laer_core::bridge::{BridgeBy, CoverageHistory, Grouping, PhasesByDay, Quarter, QuarterBridge, quarter_bridges};
use laer_core::health::HealthModel;
use laer_core::reports::{
    Breakdown, MrrPeriod, PlanLine, ReportRequest, RequestError, SegmentBy, mrr_report, retention_report,
};
use laer_core::retention::Retention;
use laer_store::{Accounts, Store, StoreError};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loaded segment values: an account attribute, or the plans derived from subscriptions.
enum Segments {
    Attribute(HashMap<i64, String>),
    Plan(Vec<PlanLine>),
}

impl Segments {
    /// `by` names an account column or imported attribute; `plan`, unless accounts
    /// carry an attribute of that name, is each account's plan in each period.
    async fn load(store: &Store, by: Option<&str>) -> Result<Option<Segments>, ReportError> {
        let Some(attribute) = by else { return Ok(None) };
        if let Some(values) = store.account_attribute(attribute).await? {
            return Ok(Some(Segments::Attribute(values)));
        }
        if attribute == "plan" {
            return Ok(Some(Segments::Plan(store.plan_lines().await?)));
        }
        Err(RequestError::UnknownAttribute(attribute.to_string()).into())
    }

    fn by(&self) -> SegmentBy<'_> {
        match self {
            Segments::Attribute(values) => SegmentBy::Attribute(values),
            Segments::Plan(lines) => SegmentBy::Plan(lines),
        }
    }
}

/// The retention report: one object for a single period, `{"periods": [...]}` monthly;
/// with `by`, each period's figures per segment too.
pub async fn retention(store: &Store, request: &ReportRequest, by: Option<&str>) -> Result<Value, ReportError> {
    let segments = Segments::load(store, by).await?;
    let lines = store.revenue_lines().await?;
    let activity = match request.activity_window {
        Some(_) => store.activity_days().await?,
        None => Vec::new(),
    };
    let periods: Vec<Retention> = retention_report(&lines, &activity, request, segments.as_ref().map(Segments::by));
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
    let segments = Segments::load(store, by).await?;
    let external_ids = if accounts {
        Some(store.account_external_ids().await?)
    } else {
        None
    };
    let lines = store.revenue_lines().await?;
    let breakdown = Breakdown {
        segments: segments.as_ref().map(Segments::by),
        accounts: external_ids.as_ref(),
    };
    let periods: Vec<MrrPeriod> = mrr_report(&lines, request, breakdown);
    Ok(json!({ "by": by, "periods": periods }))
}

/// `laer report nrr-bridge`: each quarter's bridge.
#[derive(Debug, Clone, Serialize)]
pub struct NrrBridge {
    pub quarters: Vec<QuarterBridge>,
}

/// The NRR bridge of each quarter by phase (as `model`'s rules give it on the quarter's
/// first day) or by owner in a role (docs/metrics.md).
pub async fn nrr_bridge(
    store: &Store,
    model: &HealthModel,
    quarters: &[Quarter],
    by: BridgeBy,
) -> Result<NrrBridge, StoreError> {
    let lines = store.revenue_lines().await?;
    let quarters = match by {
        BridgeBy::Phase => {
            let phases = phases_on(store, model, quarters).await?;
            quarter_bridges(&lines, quarters, Grouping::Phase(&phases))
        }
        BridgeBy::Owner(role) => {
            let coverage = CoverageHistory::new(store.coverage_history(role).await?);
            quarter_bridges(&lines, quarters, Grouping::Owner(role, &coverage))
        }
    };
    Ok(NrrBridge { quarters })
}

/// Every account's phase on each quarter's first day, assessed with `model`.
pub async fn phases_on(store: &Store, model: &HealthModel, quarters: &[Quarter]) -> Result<PhasesByDay, StoreError> {
    let mut phases = HashMap::new();
    for day in quarters.iter().filter_map(|q| q.first_day()) {
        let assessed = store.assess(model, day, Accounts::All).await?;
        phases.insert(day, assessed.iter().map(|a| (a.account_id, a.phase.phase)).collect());
    }
    Ok(phases)
}
