//! Everything the account 360 page shows of one account, read in a few statements.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::sql::Dialect;
use crate::{Pool, Store, StoreError};
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
pub struct MeetingRow {
    pub held_at: DateTime<Utc>,
    pub stakeholder_team: Option<String>,
    pub kind: Option<String>,
    pub status: String,
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
    pub meetings: Vec<MeetingRow>,
    pub surveys: Vec<SurveyRow>,
    pub outcomes: Vec<OutcomeRow>,
    /// (department, product users), most first.
    pub departments: Vec<(String, i64)>,
    /// Per feature over the last [`FEATURE_DAYS`] days: (feature, events, most users on
    /// one day), most events first.
    pub features: Vec<(String, i64, i64)>,
    /// Events in each 30-day window ending `today - 30 * n`: (n, events).
    pub events: Vec<(i64, i64)>,
    /// Distinct active users in each 30-day window ending `today - 30 * n` (n = 0 is the
    /// latest, up to [`ACTIVITY_WINDOWS`]): (n, users).
    pub active_users: Vec<(i64, i64)>,
}

/// How many 30-day windows of activity the page shows.
pub const ACTIVITY_WINDOWS: i64 = 12;
/// The span of the features table.
pub const FEATURE_DAYS: i64 = 90;

fn instant(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt(format!("instant {micros}")))
}

impl Store {
    /// The account with id `id` and everything the 360 page shows, as of `today`.
    pub async fn account_view(&self, id: i64, today: NaiveDate) -> Result<Option<AccountView>, StoreError> {
        let Some(account) = self.account(id).await? else {
            return Ok(None);
        };
        let subscriptions = self.subscriptions_of(id).await?;
        let contacts: Vec<(Option<String>, Option<String>, Option<String>, Option<String>)> =
            self.rows_of("SELECT name, title, stakeholder_team, role FROM contacts WHERE account_id = ? ORDER BY stakeholder_team, name", id).await?;
        let cases: Vec<(i64, Option<i64>, i64, String, String, Option<String>)> = self
            .rows_of(
                "SELECT opened_at, closed_at, CAST(severity AS BIGINT), kind, status, subject FROM support_cases WHERE account_id = ? ORDER BY opened_at DESC",
                id,
            )
            .await?;
        let meetings: Vec<(i64, Option<String>, Option<String>, String)> = self
            .rows_of("SELECT held_at, stakeholder_team, kind, status FROM meetings WHERE account_id = ? ORDER BY held_at DESC", id)
            .await?;
        let surveys: Vec<(String, i64, i64, Option<String>)> = self
            .rows_of(
                "SELECT survey, CAST(score AS BIGINT), responded_at, comment FROM survey_responses WHERE account_id = ? ORDER BY responded_at DESC",
                id,
            )
            .await?;
        let outcomes: Vec<(i64, String, Option<String>, f64, f64, Option<NaiveDate>)> = self
            .rows_of(
                "SELECT id, name, unit, baseline, target, target_date FROM outcomes WHERE account_id = ? ORDER BY id",
                id,
            )
            .await?;
        let measurements: Vec<(i64, NaiveDate, f64)> = self
            .rows_of(
                "SELECT m.outcome_id, m.measured_on, m.value FROM outcome_measurements m JOIN outcomes o ON o.id = m.outcome_id \
                 WHERE o.account_id = ? ORDER BY m.measured_on",
                id,
            )
            .await?;
        let departments: Vec<(String, i64)> = self
            .rows_of(
                "SELECT COALESCE(department, '(none)'), COUNT(*) FROM product_users WHERE account_id = ? GROUP BY 1 ORDER BY 2 DESC, 1",
                id,
            )
            .await?;
        // Activity day D holds the events of the calendar day before it.
        let today_day = day_number(today) + 1;
        let oldest = today_day - 30 * ACTIVITY_WINDOWS;
        let windows = |table: &str, value: &str| {
            format!(
                "SELECT (? - day) / 30 AS window_index, {value} FROM {table} \
                 WHERE account_id = ? AND day <= ? AND day > ? GROUP BY 1 ORDER BY 1"
            )
        };
        let mut by_window = Vec::new();
        for sql in [
            windows("event_user_days", "COUNT(DISTINCT user_ref)"),
            windows("event_days", "CAST(SUM(events) AS BIGINT)"),
        ] {
            let rows: Vec<(i64, i64)> = on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(&sql)))
                .bind(today_day)
                .bind(id)
                .bind(today_day)
                .bind(oldest)
                .fetch_all(pool)
                .await?);
            by_window.push(rows);
        }
        let events = by_window.pop().unwrap_or_default();
        let active_users = by_window.pop().unwrap_or_default();
        let sql = "SELECT t.name, CAST(SUM(d.events) AS BIGINT), MAX(d.users) FROM event_type_days d \
                   JOIN event_types t ON t.id = d.event_type_id \
                   WHERE d.account_id = ? AND d.day <= ? AND d.day > ? GROUP BY t.name ORDER BY 2 DESC, 1";
        let features: Vec<(String, i64, i64)> =
            on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
                .bind(id)
                .bind(today_day)
                .bind(today_day - FEATURE_DAYS)
                .fetch_all(pool)
                .await?);
        Ok(Some(AccountView {
            account,
            subscriptions,
            contacts: contacts
                .into_iter()
                .map(|(name, title, stakeholder_team, role)| ContactRow {
                    name,
                    title,
                    stakeholder_team,
                    role,
                })
                .collect(),
            cases: cases
                .into_iter()
                .map(|(opened, closed, severity, kind, status, subject)| {
                    Ok(CaseRow {
                        opened_at: instant(opened)?,
                        closed_at: closed.map(instant).transpose()?,
                        severity,
                        kind,
                        status,
                        subject,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            meetings: meetings
                .into_iter()
                .map(|(held, stakeholder_team, kind, status)| {
                    Ok(MeetingRow {
                        held_at: instant(held)?,
                        stakeholder_team,
                        kind,
                        status,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            surveys: surveys
                .into_iter()
                .map(|(survey, score, at, comment)| {
                    Ok(SurveyRow {
                        survey,
                        score,
                        responded_at: instant(at)?,
                        comment,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            outcomes: outcomes
                .into_iter()
                .map(|(oid, name, unit, baseline, target, target_date)| OutcomeRow {
                    name,
                    unit,
                    baseline,
                    target,
                    target_date,
                    measurements: measurements.iter().filter(|m| m.0 == oid).map(|m| (m.1, m.2)).collect(),
                })
                .collect(),
            departments,
            features,
            events,
            active_users,
        }))
    }

    /// The rows of a statement with one parameter, the account id.
    async fn rows_of<T>(&self, sql: &str, account_id: i64) -> Result<Vec<T>, StoreError>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        Ok(on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(
            d.placeholders(sql)
        ))
        .bind(account_id)
        .fetch_all(pool)
        .await?))
    }
}
