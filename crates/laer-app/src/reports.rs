//! Reports as both the CLI and the API serve them: load from the store, compute in the core.
//! Each is a typed struct: the API answers with its JSON, the CLI prints it as JSON or
//! makes its table from the fields.

use std::collections::HashMap;

use laer_core::bridge::{BridgeBy, CoverageHistory, Grouping, Quarter, QuarterBridge, quarter_bridges};
use laer_core::fx::Rates;
use laer_core::health::HealthModel;
use laer_core::reports::{
    Breakdown, MrrPeriod, PlanLine, ReportRequest, RequestError, SegmentBy, mrr_period, retention_period,
};
use laer_core::retention::{ActivityDays, Period, Retention, RevenueLine};
use laer_store::{Accounts, Store, StoreError};
use serde::Serialize;

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

/// `laer report retention` and `GET /api/v1/reports/retention`: a single period's
/// figures as one object, or `{"periods": [...]}` monthly or for several periods.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RetentionReport {
    /// One period, asked for without `every`.
    Single(Box<Retention>),
    /// Each period, in order.
    Periods { periods: Vec<Retention> },
}

impl RetentionReport {
    /// Every period, in order: the one of a single-period report too.
    pub fn periods(&self) -> &[Retention] {
        match self {
            RetentionReport::Single(period) => std::slice::from_ref(period.as_ref()),
            RetentionReport::Periods { periods } => periods,
        }
    }
}

/// The retention report; with `by`, each period's figures per segment too.
pub async fn retention(
    store: &Store,
    request: &ReportRequest,
    by: Option<&str>,
) -> Result<RetentionReport, ReportError> {
    let inputs = RetentionInputs::load(store, request, by).await?;
    let mut periods: Vec<Retention> = request.periods.iter().map(|&p| inputs.period(request, p)).collect();
    Ok(if request.monthly || periods.len() != 1 {
        RetentionReport::Periods { periods }
    } else {
        RetentionReport::Single(Box::new(periods.remove(0)))
    })
}

/// What the retention report reads from the store, read once: each period is then
/// computed from it alone ([`RetentionInputs::period`]), so that a caller can compute
/// the periods one by one, send each as it is done and stop when nobody reads them.
pub struct RetentionInputs {
    segments: Option<Segments>,
    lines: Vec<RevenueLine>,
    activity: Vec<ActivityDays>,
}

impl RetentionInputs {
    /// Reads what `request` needs, grouped `by` an attribute if asked.
    pub async fn load(store: &Store, request: &ReportRequest, by: Option<&str>) -> Result<Self, ReportError> {
        let segments = Segments::load(store, by).await?;
        let lines = store.revenue_lines().await?;
        let activity = match request.activity_window {
            Some(_) => store.activity_days().await?,
            None => Vec::new(),
        };
        Ok(RetentionInputs {
            segments,
            lines,
            activity,
        })
    }

    /// The report's figures for one of `request`'s periods.
    pub fn period(&self, request: &ReportRequest, period: Period) -> Retention {
        retention_period(
            &self.lines,
            &self.activity,
            request,
            period,
            self.segments.as_ref().map(Segments::by),
        )
    }
}

/// `laer report mrr` and `GET /api/v1/reports/mrr`: the MRR movements of each period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MrrReport {
    /// The attribute accounts are grouped by into each period's `segments`, if any.
    pub by: Option<String>,
    pub periods: Vec<MrrPeriod>,
}

/// The MRR movements report, per period and, with `by`, per value of that attribute;
/// with `accounts`, every account's net growth (for at most
/// [`laer_core::limits::MAX_REPORT_PERIODS_WITH_ACCOUNTS`] periods).
pub async fn mrr(
    store: &Store,
    request: &ReportRequest,
    by: Option<&str>,
    accounts: bool,
) -> Result<MrrReport, ReportError> {
    let inputs = MrrInputs::load(store, request, by, accounts).await?;
    Ok(MrrReport {
        by: by.map(str::to_string),
        periods: request.periods.iter().map(|&p| inputs.period(p)).collect(),
    })
}

/// What the MRR report reads from the store, read once: each period is then computed
/// from it alone ([`MrrInputs::period`]); see [`RetentionInputs`].
pub struct MrrInputs {
    segments: Option<Segments>,
    external_ids: Option<HashMap<i64, String>>,
    lines: Vec<RevenueLine>,
    rates: Rates,
}

impl MrrInputs {
    /// Reads what the report needs, grouped `by` an attribute if asked, with every
    /// account's external id when `accounts` are listed. A request that may not list
    /// accounts (too many periods) is refused before anything is read.
    pub async fn load(
        store: &Store,
        request: &ReportRequest,
        by: Option<&str>,
        accounts: bool,
    ) -> Result<Self, ReportError> {
        if accounts {
            request.check_with_accounts()?;
        }
        let segments = Segments::load(store, by).await?;
        let external_ids = if accounts {
            Some(store.account_external_ids().await?)
        } else {
            None
        };
        let lines = store.revenue_lines().await?;
        let rates = store.exchange_rates().await?;
        Ok(MrrInputs {
            segments,
            external_ids,
            lines,
            rates,
        })
    }

    /// The movements of one period.
    pub fn period(&self, period: Period) -> MrrPeriod {
        let breakdown = Breakdown {
            segments: self.segments.as_ref().map(Segments::by),
            accounts: self.external_ids.as_ref(),
        };
        mrr_period(&self.lines, &self.rates, period, breakdown)
    }
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
    let rates = store.exchange_rates().await?;
    let quarters = match by {
        BridgeBy::Phase => {
            let today = chrono::Utc::now().date_naive();
            let past = crate::past_phases::past_phases(store, model, quarters, &lines, today).await?;
            quarter_bridges(&lines, &rates, quarters, Grouping::Phase(&past.phases))
        }
        BridgeBy::Owner(role) => {
            let coverage = CoverageHistory::new(store.coverage_history(role).await?);
            quarter_bridges(&lines, &rates, quarters, Grouping::Owner(role, &coverage))
        }
    };
    Ok(NrrBridge { quarters })
}

#[cfg(test)]
mod tests {
    use laer_core::Money;
    use laer_core::reports::ReportRequest;
    use laer_core::retention::RevenueLine;
    use serde_json::json;

    use super::*;
    use laer_core::reports::{mrr_report, retention_report};

    /// The JSON keeps the shape the API has always answered with: a single period's
    /// figures as one object; several periods, or monthly ones, under `periods`; the MRR
    /// report with `by` and `periods`.
    #[test]
    fn reports_serialize_in_the_api_shapes() {
        let lines = [RevenueLine {
            account_id: 1,
            start_date: "2025-01-01".parse().unwrap(),
            end_date: None,
            mrr: Money::from_units(100).unwrap(),
            bill_period_months: 1,
            original: None,
        }];
        let periods = |every: Option<&str>| {
            let request = ReportRequest::parse("2025-02-01", "2025-04-01", every, None).unwrap();
            (retention_report(&lines, &[], &request, None), request)
        };

        let (single, request) = periods(None);
        assert!(!request.monthly);
        let expected = json!(single[0]);
        let report = RetentionReport::Single(Box::new(single[0].clone()));
        assert_eq!(serde_json::to_value(&report).unwrap(), expected);
        assert_eq!(expected["from"], "2025-02-01");
        assert_eq!(expected["mrr"]["start"], 100);

        let (monthly, request) = periods(Some("month"));
        assert!(request.monthly);
        let report = RetentionReport::Periods {
            periods: monthly.clone(),
        };
        assert_eq!(report.periods(), monthly.as_slice());
        assert_eq!(serde_json::to_value(&report).unwrap(), json!({ "periods": monthly }));

        let request = ReportRequest::parse("2025-02-01", "2025-04-01", Some("month"), None).unwrap();
        let periods = mrr_report(&lines, &Rates::none(), &request, Breakdown::default());
        let report = MrrReport {
            by: None,
            periods: periods.clone(),
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({ "by": null, "periods": periods })
        );
    }
}

/// Retention curves (`laer report survival`, `/api/v1/reports/survival`): every account's
/// life up to the data's last known day, as survival curves grouped `by`.
#[derive(Debug, Clone, Serialize)]
pub struct SurvivalReport {
    pub by: laer_core::survival::CurveBy,
    /// The data's last known day: accounts still customers then are censored there.
    pub known_until: chrono::NaiveDate,
    pub months: u32,
    pub curves: Vec<laer_core::survival::SurvivalCurve>,
    /// The Cox model of leaving on plan, segment and starting MRR, over every account;
    /// `None` when it cannot be fitted, and `hazards_note` says why.
    pub hazards: Option<laer_core::survival::HazardModel>,
    pub hazards_note: Option<String>,
    /// The Cox model of leaving on health as it changed, fitted with the latest validation
    /// of the health model in effect (none before one); or why it could not be.
    pub health_hazards: Option<laer_core::survival::HazardModel>,
    pub health_hazards_note: Option<String>,
}

impl SurvivalReport {
    /// As CSV rows, the header first: one per group and month — `group, month, accounts,
    /// at_risk, survival, lower, upper, revenue, projected` (the cohort's projection at
    /// each whole quarter, also past the observed months).
    pub fn csv_rows(&self) -> Vec<Vec<String>> {
        use laer_core::survival::PERIOD_MONTHS;
        let mut rows = vec![
            [
                "group",
                "month",
                "accounts",
                "at_risk",
                "survival",
                "lower",
                "upper",
                "revenue",
                "projected",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        for c in &self.curves {
            let observed = c.points.last().map_or(0, |p| p.month);
            let projected_to = c
                .projection
                .as_ref()
                .map_or(0, |p| (p.survival.len() as u32 * PERIOD_MONTHS).min(self.months));
            for month in 0..=observed.max(projected_to) {
                let point = c.points.iter().find(|p| p.month == month);
                let projected = c.projection.as_ref().and_then(|p| {
                    let quarter = month / PERIOD_MONTHS;
                    (month % PERIOD_MONTHS == 0 && quarter >= 1)
                        .then(|| p.survival.get(quarter as usize - 1).copied())
                        .flatten()
                });
                if point.is_none() && projected.is_none() {
                    continue;
                }
                rows.push(vec![
                    c.group.clone(),
                    month.to_string(),
                    c.accounts.to_string(),
                    point.map_or(String::new(), |p| p.at_risk.to_string()),
                    f(point.map(|p| p.survival)),
                    f(point.map(|p| p.lower)),
                    f(point.map(|p| p.upper)),
                    f(point.map(|p| p.revenue)),
                    f(projected),
                ]);
            }
        }
        rows
    }
}

/// The longest curve read, in months.
pub const MAX_SURVIVAL_MONTHS: u32 = 120;

pub async fn survival(
    store: &Store,
    health_model: &str,
    by: laer_core::survival::CurveBy,
    months: u32,
    today: chrono::NaiveDate,
) -> Result<SurvivalReport, StoreError> {
    let known_until = store.last_data_day(today).await?.unwrap_or(today);
    let records = store.health_records(Accounts::All, known_until, None).await?;
    let lifetimes: Vec<laer_core::survival::Lifetime> = records
        .iter()
        .filter_map(|r| laer_core::survival::lifetime(r, known_until))
        .collect();
    let months = months.min(MAX_SURVIVAL_MONTHS);
    let (hazards, hazards_note) = match laer_core::survival::hazards(&lifetimes) {
        Ok(model) => (Some(model), None),
        Err(why) => (None, Some(why)),
    };
    let validation = crate::health::latest_validation(store, health_model)
        .await?
        .map(|(_, v)| v);
    let (health_hazards, health_hazards_note) = match validation {
        Some(v) => (v.health_hazards, v.health_hazards_note),
        None => (
            None,
            Some("the health model has not been validated on this history yet".to_string()),
        ),
    };
    Ok(SurvivalReport {
        by,
        known_until,
        months,
        curves: laer_core::survival::survival_curves(&lifetimes, by, months, known_until),
        hazards,
        hazards_note,
        health_hazards,
        health_hazards_note,
    })
}
