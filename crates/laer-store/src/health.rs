//! What the health engine reads: every account's records ([`AccountRecords`]) and its
//! usage counted as of a day ([`UsageOn`]) from the daily rollups, in a few statements
//! for all accounts (or a chosen few, when new data arrived for them).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use sqlx::AssertSqlSafe;

use crate::sql::Dialect;
use crate::{Pool, Store, StoreError};
use laer_core::Money;
use laer_core::health::score::{Driver, PillarScores};
use laer_core::health::{AccountRecords, Assessment, HealthModel, Line, Quadrant, UsageOn, Workspace, assess};
use laer_core::lifecycle::Phase;
use laer_core::model::{NewAuditEntry, NewMeeting, NewOutcome, NewSupportCase, NewSurveyResponse, TeamRole};
use laer_core::retention::{date_of_day_number, day_number};

/// Which accounts to read.
#[derive(Debug, Clone, Copy)]
pub enum Accounts<'a> {
    All,
    Only(&'a [i64]),
}

impl Accounts<'_> {
    /// A condition on `column` (ids are integers: safe to write into the text).
    pub(crate) fn condition(&self, column: &str) -> String {
        match self {
            Accounts::All => "1 = 1".to_string(),
            Accounts::Only([]) => "1 = 0".to_string(),
            Accounts::Only(ids) => {
                let list: Vec<String> = ids.iter().map(i64::to_string).collect();
                format!("{column} IN ({})", list.join(", "))
            }
        }
    }
}

fn instant(micros: i64, what: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    chrono::DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("{what}: instant {micros}")))
}

fn parsed<T: std::str::FromStr<Err = String>>(text: &str, what: &str) -> Result<T, StoreError> {
    text.parse().map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

impl Store {
    async fn fetch<T>(&self, sql: &str, binds: &[i64]) -> Result<Vec<T>, StoreError>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        Ok(on_pool!(self, |pool, d| {
            let text = d.placeholders(sql);
            let mut query = sqlx::query_as(AssertSqlSafe(text));
            for b in binds {
                query = query.bind(*b);
            }
            query.fetch_all(pool).await?
        }))
    }

    /// The records of the chosen accounts, ordered by id.
    pub async fn health_records(
        &self,
        accounts: Accounts<'_>,
        today: NaiveDate,
    ) -> Result<Vec<AccountRecords>, StoreError> {
        let ids: Vec<(i64, Option<NaiveDate>)> = self
            .fetch(
                &format!(
                    "SELECT id, renewal_date FROM accounts WHERE {} ORDER BY id",
                    accounts.condition("id")
                ),
                &[],
            )
            .await?;
        let mut records: BTreeMap<i64, AccountRecords> = ids
            .into_iter()
            .map(|(id, renewal_date)| {
                (
                    id,
                    AccountRecords {
                        account_id: id,
                        renewal_date,
                        ..AccountRecords::default()
                    },
                )
            })
            .collect();
        let only = |column: &str| accounts.condition(column);

        type LineRow = (
            i64,
            String,
            NaiveDate,
            Option<NaiveDate>,
            i64,
            Option<f64>,
            Option<String>,
            i64,
        );
        let lines: Vec<LineRow> = self
            .fetch(
                &format!(
                    "SELECT account_id, product, start_date, end_date, mrr, quantity, units, CAST(bill_period_months AS BIGINT) \
                     FROM subscriptions WHERE {} ORDER BY account_id, start_date",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        for (account, product, start_date, end_date, mrr, quantity, units, bill) in lines {
            if let Some(r) = records.get_mut(&account) {
                r.lines.push(Line {
                    product,
                    start_date,
                    end_date,
                    mrr: Money::from_ten_thousandths(mrr),
                    quantity,
                    units,
                    bill_period_months: i32::try_from(bill).unwrap_or(1),
                });
            }
        }

        type CaseRow = (i64, String, i64, Option<i64>, i64, String, String);
        let cases: Vec<CaseRow> = self
            .fetch(
                &format!(
                    "SELECT account_id, external_id, opened_at, closed_at, CAST(severity AS BIGINT), kind, status \
                     FROM support_cases WHERE {} ORDER BY account_id, opened_at",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        for (account, external_id, opened, closed, severity, kind, status) in cases {
            if let Some(r) = records.get_mut(&account) {
                let what = "support case";
                r.relationship.cases.push(NewSupportCase {
                    external_id,
                    account_id: account,
                    opened_at: instant(opened, what)?,
                    closed_at: closed.map(|c| instant(c, what)).transpose()?,
                    severity: i32::try_from(severity).unwrap_or(3),
                    kind: parsed(&kind, what)?,
                    status: parsed(&status, what)?,
                    subject: None,
                });
            }
        }

        type MeetingRow = (i64, String, i64, Option<String>, String);
        let meetings: Vec<MeetingRow> = self
            .fetch(
                &format!(
                    "SELECT account_id, external_id, held_at, stakeholder_team, status FROM meetings \
                     WHERE {} ORDER BY account_id, held_at",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        for (account, external_id, held, stakeholder_team, status) in meetings {
            if let Some(r) = records.get_mut(&account) {
                r.relationship.meetings.push(NewMeeting {
                    external_id,
                    account_id: account,
                    held_at: instant(held, "meeting")?,
                    stakeholder_team,
                    kind: None,
                    status: parsed(&status, "meeting")?,
                    duration_minutes: None,
                    notes: None,
                });
            }
        }

        type SurveyRow = (i64, String, Option<String>, String, i64, i64);
        let surveys: Vec<SurveyRow> = self
            .fetch(
                &format!(
                    "SELECT account_id, external_id, contact_ref, survey, CAST(score AS BIGINT), responded_at \
                     FROM survey_responses WHERE {} ORDER BY account_id, responded_at",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        for (account, external_id, contact_ref, survey, score, at) in surveys {
            if let Some(r) = records.get_mut(&account) {
                r.relationship.surveys.push(NewSurveyResponse {
                    external_id,
                    account_id: account,
                    contact_ref,
                    survey: parsed(&survey, "survey response")?,
                    score: i32::try_from(score).unwrap_or(0),
                    responded_at: instant(at, "survey response")?,
                    comment: None,
                });
            }
        }

        let contacts: Vec<(i64, Option<String>)> = self
            .fetch(
                &format!(
                    "SELECT account_id, stakeholder_team FROM contacts WHERE {} ORDER BY account_id, id",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        for (account, team) in contacts {
            if let Some(r) = records.get_mut(&account) {
                r.relationship.contact_teams.push(team);
            }
        }

        let cadences: Vec<(i64, String, i64)> = self
            .fetch(
                &format!(
                    "SELECT account_id, stakeholder_team, CAST(every_days AS BIGINT) FROM meeting_cadences WHERE {}",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        for (account, team, every) in cadences {
            if let Some(r) = records.get_mut(&account) {
                r.relationship.cadences.insert(team, u32::try_from(every).unwrap_or(0));
            }
        }

        type OutcomeRow = (i64, i64, String, String, f64, f64, Option<NaiveDate>, Option<NaiveDate>);
        let outcomes: Vec<OutcomeRow> = self
            .fetch(
                &format!(
                    "SELECT account_id, id, external_id, name, baseline, target, start_date, target_date FROM outcomes \
                     WHERE {} ORDER BY account_id, id",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        let measurements: Vec<(i64, NaiveDate, f64)> = self
            .fetch(
                &format!(
                    "SELECT m.outcome_id, m.measured_on, m.value FROM outcome_measurements m \
                     JOIN outcomes o ON o.id = m.outcome_id WHERE {} ORDER BY m.outcome_id, m.measured_on",
                    only("o.account_id")
                ),
                &[],
            )
            .await?;
        let mut measured: HashMap<i64, Vec<(NaiveDate, f64)>> = HashMap::new();
        for (outcome, day, value) in measurements {
            measured.entry(outcome).or_default().push((day, value));
        }
        for (account, id, external_id, name, baseline, target, start_date, target_date) in outcomes {
            if let Some(r) = records.get_mut(&account) {
                r.relationship.outcomes.push(NewOutcome {
                    external_id,
                    account_id: account,
                    name,
                    unit: None,
                    baseline,
                    target,
                    start_date,
                    target_date,
                });
                r.relationship
                    .measurements
                    .push(measured.remove(&id).unwrap_or_default());
            }
        }

        let departments: Vec<(i64, i64)> = self
            .fetch(
                &format!(
                    "SELECT account_id, COUNT(DISTINCT department) FROM product_users \
                     WHERE department IS NOT NULL AND {} GROUP BY account_id",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        for (account, n) in departments {
            if let Some(r) = records.get_mut(&account) {
                r.departments = u32::try_from(n).unwrap_or(0);
            }
        }

        // Current coverage, as Store::current_owners reads it, of the chosen accounts.
        let coverage = format!(
            "SELECT c.account_id, c.role FROM coverage_assignments c JOIN team_members m ON m.id = c.team_member_id \
             WHERE c.since <= ? AND (c.until IS NULL OR c.until > ?) AND {}",
            only("c.account_id")
        );
        let roles: Vec<(i64, String)> =
            on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(&coverage)))
                .bind(today)
                .bind(today)
                .fetch_all(pool)
                .await?);
        for (account, role) in roles {
            let role: TeamRole = role
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("coverage role of account {account}: {e}")))?;
            if let Some(r) = records.get_mut(&account) {
                r.expansion_specialist |= role == TeamRole::ExpansionSpecialist;
            }
        }

        let by_hand: Vec<(i64, String)> = self
            .fetch(
                &format!(
                    "SELECT account_id, phase FROM phase_overrides WHERE {}",
                    only("account_id")
                ),
                &[],
            )
            .await?;
        for (account, phase) in by_hand {
            if let Some(r) = records.get_mut(&account) {
                r.set_by_hand = Some(parsed(&phase, "phase override")?);
            }
        }
        Ok(records.into_values().collect())
    }

    /// Usage of the chosen accounts as of `as_of`: the `window_days` ending that day and
    /// the ones before, users since the start, the last day of use; and the workspace's
    /// features. Accounts without use are absent.
    pub async fn usage_on(
        &self,
        as_of: NaiveDate,
        window_days: u32,
        accounts: Accounts<'_>,
    ) -> Result<(HashMap<i64, UsageOn>, Workspace), StoreError> {
        // Activity day D holds the events of the calendar day before it.
        let end = day_number(as_of) + 1;
        let split = end - i64::from(window_days);
        let start = split - i64::from(window_days);
        let only = accounts.condition("a.id");
        let mut usage: HashMap<i64, UsageOn> = HashMap::new();

        // Each active user once per window (the rollup has a row per feature and day),
        // then their departments: half the lookups. The rollups are read by their key,
        // account first, without a join to accounts.
        let users_sql = format!(
            "SELECT w.account_id, w.is_now, COUNT(*), COUNT(DISTINCT p.department) FROM \
             (SELECT DISTINCT u.account_id, CAST(CASE WHEN u.day > ? THEN 1 ELSE 0 END AS BIGINT) AS is_now, \
             u.user_ref FROM event_user_days u WHERE u.day > ? AND u.day <= ? AND {}) w \
             LEFT JOIN product_users p ON p.external_id = w.user_ref AND p.account_id = w.account_id \
             GROUP BY w.account_id, w.is_now",
            accounts.condition("u.account_id")
        );
        let features_sql = format!(
            "SELECT d.account_id, CAST(CASE WHEN d.day > ? THEN 1 ELSE 0 END AS BIGINT), t.name, CAST(SUM(d.events) AS BIGINT) \
             FROM event_type_days d JOIN event_types t ON t.id = d.event_type_id \
             WHERE d.day > ? AND d.day <= ? AND {} GROUP BY 1, 2, 3",
            accounts.condition("d.account_id")
        );
        let ever_sql = format!(
            "SELECT a.id, (SELECT COUNT(DISTINCT u.user_ref) FROM event_user_days u \
             WHERE u.account_id = a.id AND u.day <= ?), \
             (SELECT MAX(e.day) FROM event_days e WHERE e.account_id = a.id AND e.day <= ?) \
             FROM accounts a WHERE {only}"
        );
        // Independent statements, each on a connection of its own: on several cores the
        // wait is the longest of them rather than their sum.
        type Users = Vec<(i64, i64, i64, i64)>;
        type Features = Vec<(i64, i64, String, i64)>;
        type Ever = Vec<(i64, i64, Option<i64>)>;
        let (window, until) = ([split, start, end], [end, end]);
        let (users, features, ever, workspace): (Users, Features, Ever, Workspace) = tokio::try_join!(
            self.fetch(&users_sql, &window),
            self.fetch(&features_sql, &window),
            self.fetch(&ever_sql, &until),
            self.workspace(),
        )?;
        for (account, is_now, active, departments) in users {
            let u = usage.entry(account).or_default();
            let w = if is_now == 1 { &mut u.now } else { &mut u.before };
            w.active_users = u32::try_from(active).unwrap_or(u32::MAX);
            w.active_departments = u32::try_from(departments).unwrap_or(u32::MAX);
        }

        for (account, is_now, feature, events) in features {
            let u = usage.entry(account).or_default();
            let w = if is_now == 1 { &mut u.now } else { &mut u.before };
            *w.events.entry(feature).or_default() += events;
        }

        for (account, users, last) in ever {
            if last.is_none() && users == 0 {
                continue;
            }
            let u = usage.entry(account).or_default();
            u.users_ever = u32::try_from(users).unwrap_or(u32::MAX);
            // The last activity day D holds the use of calendar day D - 1.
            u.last_use_on = last.and_then(|d| date_of_day_number(d - 1));
        }

        Ok((usage, workspace))
    }

    /// What the workspace as a whole says about usage: the features tracked, and whether
    /// any use is. Every account's health depends on it.
    pub async fn workspace(&self) -> Result<Workspace, StoreError> {
        let features: Vec<(String,)> = self.fetch("SELECT name FROM event_types ORDER BY name", &[]).await?;
        let tracked: Vec<(i64,)> = self
            .fetch("SELECT COUNT(*) FROM (SELECT 1 FROM event_days LIMIT 1) x", &[])
            .await?;
        let mut features: Vec<String> = features.into_iter().map(|f| f.0).collect();
        features.dedup();
        Ok(Workspace {
            features,
            usage_tracked: tracked.first().is_some_and(|t| t.0 > 0),
        })
    }
}

/// One stored day of an account's health.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HealthRow {
    pub account_id: i64,
    pub day: NaiveDate,
    pub score: Option<f64>,
    pub pillars: PillarScores,
    pub quadrant: Option<Quadrant>,
    pub phase: Phase,
    pub phase_reason: String,
    pub drivers: Vec<Driver>,
}

/// A phase set by hand.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PhaseOverride {
    pub phase: Phase,
    pub reason: String,
    pub set_by: String,
    pub set_at: chrono::DateTime<chrono::Utc>,
}

type HealthTuple = (
    i64,
    i64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<String>,
    String,
    String,
    String,
);

const HEALTH_COLUMNS: &str =
    "account_id, day, score, adoption, experience, engagement, transformation, quadrant, phase, phase_reason, drivers";

fn health_row(t: HealthTuple) -> Result<HealthRow, StoreError> {
    let (account_id, day, score, adoption, experience, engagement, transformation, quadrant, phase, reason, drivers) =
        t;
    let what = format!("health of account {account_id}");
    Ok(HealthRow {
        account_id,
        day: date_of_day_number(day).ok_or_else(|| StoreError::Corrupt(format!("{what}: day {day}")))?,
        score,
        pillars: PillarScores {
            adoption,
            experience,
            engagement,
            transformation,
        },
        quadrant: quadrant.map(|q| parsed(&q, &what)).transpose()?,
        phase: parsed(&phase, &what)?,
        phase_reason: reason,
        drivers: serde_json::from_str(&drivers).map_err(|e| StoreError::Corrupt(format!("{what}: drivers: {e}")))?,
    })
}

impl Store {
    /// The health of the chosen accounts as of `as_of`, computed now.
    pub async fn assess(
        &self,
        model: &HealthModel,
        as_of: NaiveDate,
        accounts: Accounts<'_>,
    ) -> Result<Vec<Assessment>, StoreError> {
        // Read side by side, on connections of their own.
        let (records, (mut usage, workspace)) = tokio::try_join!(
            self.health_records(accounts, as_of),
            self.usage_on(as_of, model.windows.usage_days, accounts)
        )?;
        Ok(records
            .iter()
            .map(|r| {
                assess(
                    model,
                    r,
                    usage.remove(&r.account_id).unwrap_or_default(),
                    &workspace,
                    as_of,
                )
            })
            .collect())
    }

    /// Keeps these assessments as their accounts' health of their day (replacing what
    /// that day held).
    pub async fn save_health(&self, assessments: &[Assessment]) -> Result<(), StoreError> {
        if assessments.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp_micros();
        let mut tx = self.begin_write().await?;
        for chunk in assessments.chunks(500) {
            let sql = format!(
                "INSERT INTO health_scores ({HEALTH_COLUMNS}, computed_at) VALUES {} \
                 ON CONFLICT (account_id, day) DO UPDATE SET score = excluded.score, adoption = excluded.adoption, \
                 experience = excluded.experience, engagement = excluded.engagement, \
                 transformation = excluded.transformation, quadrant = excluded.quadrant, phase = excluded.phase, \
                 phase_reason = excluded.phase_reason, drivers = excluded.drivers, computed_at = excluded.computed_at",
                vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            tx.exec_text(&sql, |mut p| {
                for a in chunk {
                    let h = &a.health;
                    p = p
                        .int(a.account_id)
                        .int(day_number(a.as_of))
                        .opt_float(h.score)
                        .opt_float(h.pillars.adoption)
                        .opt_float(h.pillars.experience)
                        .opt_float(h.pillars.engagement)
                        .opt_float(h.pillars.transformation)
                        .opt_text(h.quadrant.map(|q| q.as_str()))
                        .text(a.phase.phase.as_str())
                        .text(&a.phase.reason)
                        .text(&serde_json::to_string(&h.drivers).unwrap_or_else(|_| "[]".into()))
                        .int(now);
                }
                p
            })
            .await?;
        }
        tx.exec_text("UPDATE revisions SET n = n + 1 WHERE name = 'health'", |p| p)
            .await?;
        tx.commit().await
    }

    /// Takes the accounts whose data changed since their health was last computed (at
    /// most `limit`; they are no longer marked).
    pub async fn take_health_dirty(&self, limit: i64) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = tx
            .fetch_ints("SELECT account_id FROM health_dirty ORDER BY account_id LIMIT ?", |p| {
                p.int(limit)
            })
            .await?;
        for chunk in ids.chunks(1_000) {
            let sql = format!(
                "DELETE FROM health_dirty WHERE account_id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            tx.exec_text(&sql, |mut p| {
                for id in chunk {
                    p = p.int(*id);
                }
                p
            })
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Marks accounts for their health to be computed again.
    pub async fn mark_health_dirty(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(1_000) {
            let sql = format!(
                "INSERT INTO health_dirty (account_id) VALUES {} ON CONFLICT DO NOTHING",
                vec!["(?)"; chunk.len()].join(", ")
            );
            tx.exec_text(&sql, |mut p| {
                for id in chunk {
                    p = p.int(*id);
                }
                p
            })
            .await?;
        }
        tx.commit().await
    }

    /// The last day the data speaks of, up to `today`: the latest of the last recorded
    /// use and the last start of a subscription line. Imported history may end long before
    /// today, and its lines' recorded ends may lie past its last day (a simulation's
    /// running terms), so ends do not count.
    pub async fn last_data_day(&self, today: NaiveDate) -> Result<Option<NaiveDate>, StoreError> {
        let used = self
            .fetch::<(Option<i64>,)>("SELECT MAX(day) FROM event_days", &[])
            .await?;
        let used = used.first().and_then(|r| r.0).and_then(|d| date_of_day_number(d - 1));
        let started: Vec<(Option<NaiveDate>,)> = on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(
            d.placeholders("SELECT MAX(start_date) FROM subscriptions WHERE start_date <= ?")
        ))
        .bind(today)
        .fetch_all(pool)
        .await?);
        let started = started.first().and_then(|r| r.0);
        Ok([used.map(|d| d.min(today)), started].into_iter().flatten().max())
    }

    /// The first day with any recorded use, if any.
    pub async fn first_use_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        let rows: Vec<(Option<i64>,)> = self.fetch("SELECT MIN(day) FROM event_days", &[]).await?;
        // Activity day D holds the use of calendar day D - 1.
        Ok(rows.first().and_then(|r| r.0).and_then(|d| date_of_day_number(d - 1)))
    }

    /// Changes whenever health is saved.
    pub async fn health_revision(&self) -> Result<i64, StoreError> {
        let rows: Vec<(i64,)> = self.fetch("SELECT n FROM revisions WHERE name = 'health'", &[]).await?;
        Ok(rows.first().map_or(0, |r| r.0))
    }

    /// Each account's latest stored health on or before `day`.
    pub async fn latest_health(&self, day: NaiveDate) -> Result<HashMap<i64, HealthRow>, StoreError> {
        let sql = format!(
            "SELECT {HEALTH_COLUMNS} FROM health_scores h WHERE h.day = \
             (SELECT MAX(l.day) FROM health_scores l WHERE l.account_id = h.account_id AND l.day <= ?)"
        );
        let rows: Vec<HealthTuple> = self.fetch(&sql, &[day_number(day)]).await?;
        rows.into_iter()
            .map(|t| health_row(t).map(|r| (r.account_id, r)))
            .collect()
    }

    /// An account's stored health from `from` to `to`, oldest first.
    pub async fn health_history(
        &self,
        account_id: i64,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<HealthRow>, StoreError> {
        let sql = format!(
            "SELECT {HEALTH_COLUMNS} FROM health_scores WHERE account_id = ? AND day >= ? AND day <= ? ORDER BY day"
        );
        let rows: Vec<HealthTuple> = self
            .fetch(&sql, &[account_id, day_number(from), day_number(to)])
            .await?;
        rows.into_iter().map(health_row).collect()
    }

    /// The days on which health was kept for every account (the backfill looks for gaps).
    pub async fn health_days(&self) -> Result<Vec<(NaiveDate, i64)>, StoreError> {
        let rows: Vec<(i64, i64)> = self
            .fetch("SELECT day, COUNT(*) FROM health_scores GROUP BY day ORDER BY day", &[])
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(d, n)| date_of_day_number(d).map(|d| (d, n)))
            .collect())
    }

    /// The phase set by hand on an account, if any.
    pub async fn phase_override(&self, account_id: i64) -> Result<Option<PhaseOverride>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = self
            .fetch(
                "SELECT phase, reason, set_by, set_at FROM phase_overrides WHERE account_id = ?",
                &[account_id],
            )
            .await?;
        rows.into_iter()
            .next()
            .map(|(phase, reason, set_by, set_at)| {
                Ok(PhaseOverride {
                    phase: parsed(&phase, "phase override")?,
                    reason,
                    set_by,
                    set_at: instant(set_at, "phase override")?,
                })
            })
            .transpose()
    }

    /// Sets (or, with `None`, clears) the phase of an account by hand, and audits it;
    /// the account's health is then computed again.
    pub async fn set_phase(
        &self,
        account_id: i64,
        phase: Option<Phase>,
        reason: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let now = chrono::Utc::now();
        let before = self.phase_override(account_id).await?;
        let mut tx = self.begin_write().await?;
        match phase {
            Some(phase) => {
                tx.exec_text(
                    "INSERT INTO phase_overrides (account_id, phase, reason, set_by, set_at) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (account_id) DO UPDATE SET phase = excluded.phase, reason = excluded.reason, \
                     set_by = excluded.set_by, set_at = excluded.set_at",
                    |p| {
                        p.int(account_id)
                            .text(phase.as_str())
                            .text(reason)
                            .text(actor)
                            .int(now.timestamp_micros())
                    },
                )
                .await?;
            }
            None => {
                tx.exec_text("DELETE FROM phase_overrides WHERE account_id = ?", |p| {
                    p.int(account_id)
                })
                .await?;
            }
        }
        tx.exec_text(
            "INSERT INTO health_dirty (account_id) VALUES (?) ON CONFLICT DO NOTHING",
            |p| p.int(account_id),
        )
        .await?;
        tx.append_audit(&NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: if phase.is_some() { "phase.set" } else { "phase.cleared" }.to_string(),
            details: serde_json::json!({
                "account_id": account_id,
                "phase": phase.map(|p| p.as_str()),
                "before": before.map(|b| b.phase.as_str()),
                "reason": reason,
            }),
        })
        .await?;
        tx.commit().await
    }

    /// Audit entries about one account, newest first.
    pub async fn audit_of_account(&self, account_id: i64) -> Result<Vec<NewAuditEntry>, StoreError> {
        let sql = match self.backend() {
            crate::Backend::Sqlite => {
                "SELECT at, actor, action, details FROM audit_entries \
                 WHERE json_extract(details, '$.account_id') = ? ORDER BY at DESC, id DESC"
            }
            crate::Backend::Postgres => {
                "SELECT at, actor, action, CAST(details AS TEXT) FROM audit_entries \
                 WHERE (details->>'account_id')::BIGINT = ? ORDER BY at DESC, id DESC"
            }
        };
        let rows: Vec<(i64, String, String, String)> = self.fetch(sql, &[account_id]).await?;
        rows.into_iter()
            .map(|(at, actor, action, details)| {
                Ok(NewAuditEntry {
                    at: instant(at, "audit entry")?,
                    actor,
                    action,
                    details: serde_json::from_str(&details)
                        .map_err(|e| StoreError::Corrupt(format!("audit entry: {e}")))?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Keeps a validation report of a model (JSON), replacing older ones of that model.
    pub async fn save_validation(&self, model: &str, report: &serde_json::Value) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.exec_text("DELETE FROM health_validations WHERE model = ?", |p| p.text(model))
            .await?;
        tx.exec_text(
            "INSERT INTO health_validations (model, computed_at, report) VALUES (?, ?, ?)",
            |p| {
                p.text(model)
                    .int(chrono::Utc::now().timestamp_micros())
                    .text(&report.to_string())
            },
        )
        .await?;
        tx.commit().await
    }

    /// The latest validation of a model and when it was made.
    pub async fn validation_of(
        &self,
        model: &str,
    ) -> Result<Option<(chrono::DateTime<chrono::Utc>, serde_json::Value)>, StoreError> {
        let rows: Vec<(i64, String)> = on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(
            "SELECT computed_at, report FROM health_validations WHERE model = ? ORDER BY id DESC LIMIT 1"
        )))
        .bind(model)
        .fetch_all(pool)
        .await?);
        rows.into_iter()
            .next()
            .map(|(at, report)| {
                Ok((
                    instant(at, "health validation")?,
                    serde_json::from_str(&report)
                        .map_err(|e| StoreError::Corrupt(format!("health validation: {e}")))?,
                ))
            })
            .transpose()
    }
}
