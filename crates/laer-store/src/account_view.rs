//! Everything the account 360 page shows of one account, read in a few statements
//! (its touchpoints are read on their own: `Store::touchpoints_of`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::decode::Column;
use crate::exec::params;
use crate::sql::json;
use crate::{Store, StoreError};
use laer_core::activity::{DaySpan, DayUsers, distinct_users};
use laer_core::model::{Account, Subscription};
use laer_core::retention::day_number;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactRow {
    pub name: Option<String>,
    pub title: Option<String>,
    pub stakeholder_team: Option<String>,
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRow {
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub severity: i64,
    pub kind: String,
    pub status: String,
    pub subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyRow {
    pub survey: String,
    pub score: i64,
    pub responded_at: DateTime<Utc>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRow {
    pub name: String,
    pub unit: Option<String>,
    pub baseline: f64,
    pub target: f64,
    pub direction: laer_core::model::Direction,
    pub target_date: Option<NaiveDate>,
    /// (day, value), oldest first.
    pub measurements: Vec<(NaiveDate, f64)>,
}

/// One account, all its parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountView {
    pub account: Account,
    pub subscriptions: Vec<Subscription>,
    pub contacts: Vec<ContactRow>,
    pub cases: Vec<CaseRow>,
    pub surveys: Vec<SurveyRow>,
    pub outcomes: Vec<OutcomeRow>,
    /// Product users per department, most first.
    pub departments: Vec<DepartmentUsers>,
    /// Use of each feature over the last [`FEATURE_DAYS`] days, most events first.
    pub features: Vec<FeatureUse>,
    /// Events in each 30-day window ending `today - 30 * n`, by n.
    pub events: Vec<WindowCount>,
    /// Distinct active users in each 30-day window ending `today - 30 * n` (n = 0 is the
    /// latest, up to [`ACTIVITY_WINDOWS`]), by n.
    pub active_users: Vec<WindowCount>,
}

/// How many product users a department has.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DepartmentUsers {
    /// `(none)` for users without a department.
    pub department: String,
    pub users: i64,
}

/// One feature's use over the last [`FEATURE_DAYS`] days.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct FeatureUse {
    pub feature: String,
    pub events: i64,
    /// The most users on one day.
    pub peak_users: i64,
}

/// A count in the 30-day window ending `today - 30 * window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WindowCount {
    pub window: i64,
    pub count: i64,
}

/// How many 30-day windows of activity the page shows.
pub const ACTIVITY_WINDOWS: i64 = 12;
/// The span of the features table.
pub const FEATURE_DAYS: i64 = 90;

/// The rows the page reads, one struct per statement.
mod rows {
    use chrono::NaiveDate;

    /// One activity day's users, packed (`crate::sql::json::bag`).
    #[derive(sqlx::FromRow)]
    pub(super) struct DayUsers {
        pub day: i64,
        pub users: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Contact {
        pub name: Option<String>,
        pub title: Option<String>,
        pub stakeholder_team: Option<String>,
        pub role: Option<String>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Case {
        pub opened_at: i64,
        pub closed_at: Option<i64>,
        pub severity: i32,
        pub kind: String,
        pub status: String,
        pub subject: Option<String>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Survey {
        pub survey: String,
        pub score: i32,
        pub responded_at: i64,
        pub comment: Option<String>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Outcome {
        pub id: i64,
        pub name: String,
        pub unit: Option<String>,
        pub baseline: f64,
        pub target: f64,
        pub target_date: Option<NaiveDate>,
        pub direction: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Measurement {
        pub outcome_id: i64,
        pub measured_on: NaiveDate,
        pub value: f64,
    }
}

impl Store {
    /// Each activity day's users of the account, for the days after `after` up to and
    /// including `through`: a row per day, its users packed, so that the distinct users
    /// of any windows within are counted in memory (`laer_core::activity`).
    pub(crate) async fn users_by_day(&self, id: i64, after: i64, through: i64) -> Result<Vec<DayUsers>, StoreError> {
        let sql = format!(
            "SELECT day, {} AS users FROM event_user_days WHERE account_id = $1 AND day > $2 AND day <= $3 GROUP BY day",
            json::bag(self.backend(), "user_ref")
        );
        let rows: Vec<rows::DayUsers> = self.fetch_all(&sql, params![id, after, through]).await?;
        let column = Column("event_user_days", "user_ref");
        rows.into_iter()
            .map(|r| {
                Ok(DayUsers {
                    day: r.day,
                    users: column.packed(id, &r.users)?,
                })
            })
            .collect()
    }

    /// The account with id `id` and everything the 360 page shows, as of `today`.
    pub async fn account_view(&self, id: i64, today: NaiveDate) -> Result<Option<AccountView>, StoreError> {
        let Some(account) = self.account(id).await? else {
            return Ok(None);
        };
        let subscriptions = self.subscriptions_of(id).await?;
        let contacts: Vec<rows::Contact> = self
            .fetch_all(
                "SELECT name, title, stakeholder_team, role FROM contacts WHERE account_id = $1 \
                 ORDER BY stakeholder_team, name",
                params![id],
            )
            .await?;
        let cases: Vec<rows::Case> = self
            .fetch_all(
                "SELECT opened_at, closed_at, severity, kind, status, subject FROM support_cases \
                 WHERE account_id = $1 ORDER BY opened_at DESC",
                params![id],
            )
            .await?;
        let surveys: Vec<rows::Survey> = self
            .fetch_all(
                "SELECT survey, score, responded_at, comment FROM survey_responses WHERE account_id = $1 \
                 ORDER BY responded_at DESC",
                params![id],
            )
            .await?;
        let outcomes: Vec<rows::Outcome> = self
            .fetch_all(
                "SELECT id, name, unit, baseline, target, target_date, direction FROM outcomes WHERE account_id = $1 \
                 ORDER BY id",
                params![id],
            )
            .await?;
        let measurements: Vec<rows::Measurement> = self
            .fetch_all(
                "SELECT m.outcome_id, m.measured_on, m.value FROM outcome_measurements m \
                 JOIN outcomes o ON o.id = m.outcome_id WHERE o.account_id = $1 ORDER BY m.measured_on",
                params![id],
            )
            .await?;
        let departments: Vec<DepartmentUsers> = self
            .fetch_all(
                "SELECT COALESCE(department, '(none)') AS department, COUNT(*) AS users FROM product_users \
                 WHERE account_id = $1 GROUP BY 1 ORDER BY 2 DESC, 1",
                params![id],
            )
            .await?;
        // Activity day D holds the events of the calendar day before it.
        let today_day = day_number(today) + 1;
        let oldest = today_day - 30 * ACTIVITY_WINDOWS;
        let spans: Vec<DaySpan> = (0..ACTIVITY_WINDOWS)
            .map(|n| DaySpan {
                after: today_day - 30 * (n + 1),
                through: today_day - 30 * n,
            })
            .collect();
        let days = self.users_by_day(id, oldest, today_day).await?;
        // As a count grouped in SQL gives them: windows without use are absent.
        let active_users: Vec<WindowCount> = distinct_users(&days, &spans)
            .into_iter()
            .zip(0..)
            .filter(|(count, _)| *count > 0)
            .map(|(count, window)| WindowCount {
                window,
                count: i64::from(count),
            })
            .collect();
        let events: Vec<WindowCount> = self
            .fetch_all(
                "SELECT ($1 - day) / 30 AS \"window\", CAST(SUM(events) AS BIGINT) AS count FROM event_days \
                 WHERE account_id = $2 AND day <= $1 AND day > $3 GROUP BY 1 ORDER BY 1",
                params![today_day, id, oldest],
            )
            .await?;
        let features: Vec<FeatureUse> = self
            .fetch_all(
                "SELECT t.name AS feature, CAST(SUM(d.events) AS BIGINT) AS events, MAX(d.users) AS peak_users \
                 FROM event_type_days d JOIN event_types t ON t.id = d.event_type_id \
                 WHERE d.account_id = $1 AND d.day <= $2 AND d.day > $3 GROUP BY t.name ORDER BY 2 DESC, 1",
                params![id, today_day, today_day - FEATURE_DAYS],
            )
            .await?;
        let column = |table, name| Column(table, name);
        Ok(Some(AccountView {
            account,
            subscriptions,
            contacts: contacts
                .into_iter()
                .map(|c| ContactRow {
                    name: c.name,
                    title: c.title,
                    stakeholder_team: c.stakeholder_team,
                    role: c.role,
                })
                .collect(),
            cases: cases
                .into_iter()
                .map(|c| {
                    Ok(CaseRow {
                        opened_at: column("support_cases", "opened_at").instant(c.opened_at)?,
                        closed_at: column("support_cases", "closed_at").opt_instant(c.closed_at)?,
                        severity: i64::from(c.severity),
                        kind: c.kind,
                        status: c.status,
                        subject: c.subject,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            surveys: surveys
                .into_iter()
                .map(|s| {
                    Ok(SurveyRow {
                        survey: s.survey,
                        score: i64::from(s.score),
                        responded_at: column("survey_responses", "responded_at").instant(s.responded_at)?,
                        comment: s.comment,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            outcomes: outcomes
                .into_iter()
                .map(|o| {
                    Ok(OutcomeRow {
                        direction: column("outcomes", "direction").parsed(&o.direction)?,
                        measurements: measurements
                            .iter()
                            .filter(|m| m.outcome_id == o.id)
                            .map(|m| (m.measured_on, m.value))
                            .collect(),
                        name: o.name,
                        unit: o.unit,
                        baseline: o.baseline,
                        target: o.target,
                        target_date: o.target_date,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            departments,
            features,
            events,
            active_users,
        }))
    }
}
