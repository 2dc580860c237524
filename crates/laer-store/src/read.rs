//! Reads: the same SQL on both backends, decoded into the core's types.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use laer_core::Money;
use laer_core::bridge::CoverageSpell;
use laer_core::model::{Account, EntityCounts, NewAccount, NewProductUser, NewSubscription, Subscription, TeamRole};
use laer_core::portfolio::{AccountSnapshot, Owner};
use laer_core::reports::PlanLine;
use laer_core::retention::{ActivityDays, RevenueLine, date_of_day_number};
use serde::Serialize;

use sqlx::AssertSqlSafe;

use crate::sql::{ACTIVITY_DAY, Dialect, event_type_days_from_events};
use crate::{Pool, Store, StoreError};

/// One page of accounts, in id order, and where the next page starts.
#[derive(Debug, Clone, Serialize)]
pub struct AccountPage {
    pub accounts: Vec<Account>,
    /// Pass as `after` to fetch the next page; `None` on the last page.
    pub next_after: Option<i64>,
    pub total: i64,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    external_id: String,
    name: Option<String>,
    segment: Option<String>,
    channel: Option<String>,
    country: Option<String>,
    date_of_birth: Option<NaiveDate>,
    renewal_date: Option<NaiveDate>,
    attributes: String,
}

impl AccountRow {
    fn into_account(self) -> Result<Account, StoreError> {
        let attributes: BTreeMap<String, String> = serde_json::from_str(&self.attributes)
            .map_err(|e| StoreError::Corrupt(format!("attributes of account {}: {e}", self.id)))?;
        Ok(Account {
            id: self.id,
            fields: NewAccount {
                external_id: self.external_id,
                name: self.name,
                segment: self.segment,
                channel: self.channel,
                country: self.country,
                date_of_birth: self.date_of_birth,
                renewal_date: self.renewal_date,
                attributes,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: i64,
    account_id: i64,
    external_id: String,
    product: String,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    mrr: i64,
    quantity: Option<f64>,
    units: Option<String>,
    bill_period_months: i32,
    discount: Option<f64>,
}

const ACCOUNT_COLUMNS: &str = "id, external_id, name, segment, channel, country, date_of_birth, renewal_date, CAST(attributes AS TEXT) AS attributes";

/// Every table `laer status` counts, by its key in [`EntityCounts`].
const COUNTED_TABLES: [&str; 15] = [
    "accounts",
    "contacts",
    "product_users",
    "subscriptions",
    "event_types",
    "events",
    "support_cases",
    "meetings",
    "meeting_cadences",
    "survey_responses",
    "outcomes",
    "outcome_measurements",
    "team_members",
    "tasks",
    "audit_entries",
];

impl Store {
    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool, _d| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Row counts of every entity.
    pub async fn counts(&self) -> Result<EntityCounts, StoreError> {
        let sql = COUNTED_TABLES
            .iter()
            .map(|t| format!("(SELECT COUNT(*) FROM {t}) AS {t}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {sql}");
        let values: Vec<i64> = on_pool!(self, |pool, _d| {
            let row = sqlx::query(AssertSqlSafe(sql.as_str())).fetch_one(pool).await?;
            use sqlx::Row;
            (0..COUNTED_TABLES.len())
                .map(|i| row.try_get::<i64, _>(i))
                .collect::<Result<_, _>>()?
        });
        let [
            accounts,
            contacts,
            product_users,
            subscriptions,
            event_types,
            events,
            support_cases,
            meetings,
            meeting_cadences,
            survey_responses,
            outcomes,
            outcome_measurements,
            team_members,
            tasks,
            audit_entries,
        ] = values[..]
        else {
            return Err(StoreError::Corrupt(
                "count query returned the wrong number of columns".into(),
            ));
        };
        Ok(EntityCounts {
            accounts,
            contacts,
            product_users,
            subscriptions,
            event_types,
            events,
            support_cases,
            meetings,
            meeting_cadences,
            survey_responses,
            outcomes,
            outcome_measurements,
            team_members,
            tasks,
            audit_entries,
        })
    }

    /// Up to `limit` accounts with an id greater than `after`, in id order.
    pub async fn accounts_page(&self, after: Option<i64>, limit: u32) -> Result<AccountPage, StoreError> {
        let after = after.unwrap_or(i64::MIN);
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ? ORDER BY id LIMIT ?");
        let (rows, total): (Vec<AccountRow>, i64) = on_pool!(self, |pool, d| {
            let rows = sqlx::query_as(AssertSqlSafe(d.placeholders(&sql)))
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await?;
            let total = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                .fetch_one(pool)
                .await?;
            (rows, total)
        });
        let mut accounts = rows
            .into_iter()
            .map(AccountRow::into_account)
            .collect::<Result<Vec<_>, _>>()?;
        let next_after = if accounts.len() > limit as usize {
            accounts.truncate(limit as usize);
            accounts.last().map(|a| a.id)
        } else {
            None
        };
        Ok(AccountPage {
            accounts,
            next_after,
            total,
        })
    }

    pub async fn account(&self, id: i64) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?");
        let row: Option<AccountRow> = on_pool!(self, |pool, d| {
            sqlx::query_as(AssertSqlSafe(d.placeholders(&sql)))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(AccountRow::into_account).transpose()
    }

    pub async fn account_by_external_id(&self, external_id: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE external_id = ?");
        let row: Option<AccountRow> = on_pool!(self, |pool, d| {
            sqlx::query_as(AssertSqlSafe(d.placeholders(&sql)))
                .bind(external_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(AccountRow::into_account).transpose()
    }

    /// The account's subscription lines, oldest first.
    pub async fn subscriptions_of(&self, account_id: i64) -> Result<Vec<Subscription>, StoreError> {
        let sql = "SELECT id, account_id, external_id, product, start_date, end_date, mrr, quantity, units, \
                   bill_period_months, discount FROM subscriptions WHERE account_id = ? \
                   ORDER BY start_date, product, id";
        let rows: Vec<SubscriptionRow> = on_pool!(self, |pool, d| {
            sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
                .bind(account_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| Subscription {
                id: r.id,
                fields: NewSubscription {
                    external_id: r.external_id,
                    account_id: r.account_id,
                    product: r.product,
                    start_date: r.start_date,
                    end_date: r.end_date,
                    mrr: Money::from_ten_thousandths(r.mrr),
                    quantity: r.quantity,
                    units: r.units,
                    bill_period_months: r.bill_period_months,
                    discount: r.discount,
                },
            })
            .collect())
    }

    /// One account's agreed meeting cadences: (stakeholder team, days between meetings),
    /// by team.
    pub async fn meeting_cadences_of(&self, account_id: i64) -> Result<Vec<(String, i32)>, StoreError> {
        let sql = "SELECT stakeholder_team, every_days FROM meeting_cadences WHERE account_id = ? \
                   ORDER BY stakeholder_team";
        Ok(on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(
            d.placeholders(sql)
        ))
        .bind(account_id)
        .fetch_all(pool)
        .await?))
    }

    /// Every account's agreed meeting cadences: (account id, stakeholder team, days
    /// between meetings), by account and team.
    pub async fn meeting_cadences(&self) -> Result<Vec<(i64, String, i32)>, StoreError> {
        let sql = "SELECT account_id, stakeholder_team, every_days FROM meeting_cadences \
                   ORDER BY account_id, stakeholder_team";
        Ok(on_pool!(self, |pool, _d| sqlx::query_as(sql).fetch_all(pool).await?))
    }

    /// Every account's external id by laer id.
    pub async fn account_external_ids(&self) -> Result<HashMap<i64, String>, StoreError> {
        let rows: Vec<(i64, String)> =
            on_pool!(self, |pool, _d| sqlx::query_as("SELECT id, external_id FROM accounts")
                .fetch_all(pool)
                .await?);
        Ok(rows.into_iter().collect())
    }

    /// Every account's external id and name.
    pub async fn account_names(&self) -> Result<HashMap<i64, (String, Option<String>)>, StoreError> {
        self.account_names_of(crate::Accounts::All).await
    }

    /// The chosen accounts' external ids and names.
    pub async fn account_names_of(
        &self,
        accounts: crate::Accounts<'_>,
    ) -> Result<HashMap<i64, (String, Option<String>)>, StoreError> {
        let sql = format!(
            "SELECT id, external_id, name FROM accounts WHERE {}",
            accounts.condition("id")
        );
        let rows: Vec<(i64, String, Option<String>)> = on_pool!(self, |pool, _d| sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(|(id, e, n)| (id, (e, n))).collect())
    }

    /// Every subscription line's account, dates and MRR, sorted by account.
    pub async fn revenue_lines(&self) -> Result<Vec<RevenueLine>, StoreError> {
        let sql = "SELECT account_id, start_date, end_date, mrr, bill_period_months FROM subscriptions \
                   ORDER BY account_id, start_date";
        let rows: Vec<(i64, NaiveDate, Option<NaiveDate>, i64, i32)> =
            on_pool!(self, |pool, _d| sqlx::query_as(sql).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(account_id, start_date, end_date, mrr, bill_period_months)| RevenueLine {
                    account_id,
                    start_date,
                    end_date,
                    mrr: Money::from_ten_thousandths(mrr),
                    bill_period_months,
                },
            )
            .collect())
    }

    /// Every subscription line with its product, sorted by account.
    pub async fn plan_lines(&self) -> Result<Vec<PlanLine>, StoreError> {
        let sql = "SELECT account_id, start_date, end_date, mrr, bill_period_months, product FROM subscriptions \
                   ORDER BY account_id, start_date";
        let rows: Vec<(i64, NaiveDate, Option<NaiveDate>, i64, i32, String)> =
            on_pool!(self, |pool, _d| sqlx::query_as(sql).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(account_id, start_date, end_date, mrr, bill_period_months, product)| PlanLine {
                    line: RevenueLine {
                        account_id,
                        start_date,
                        end_date,
                        mrr: Money::from_ten_thousandths(mrr),
                        bill_period_months,
                    },
                    product,
                },
            )
            .collect())
    }

    /// Each account's activity days (see `laer_core::retention::activity_day`), from
    /// the daily rollup.
    pub async fn activity_days(&self) -> Result<Vec<ActivityDays>, StoreError> {
        // One row per account with its days as text: far fewer rows to decode than one
        // per account and day.
        let sql = "SELECT account_id, string_agg(CAST(day AS TEXT), ',' ORDER BY day) FROM event_days \
                   GROUP BY account_id ORDER BY account_id";
        let rows: Vec<(i64, String)> = on_pool!(self, |pool, _d| sqlx::query_as(sql).fetch_all(pool).await?);
        rows.into_iter()
            .map(|(account_id, days)| {
                let corrupt = || StoreError::Corrupt(format!("activity days of account {account_id}"));
                let days = days
                    .split(',')
                    .map(|d| d.parse::<i64>().ok().and_then(date_of_day_number).ok_or_else(corrupt))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ActivityDays { account_id, days })
            })
            .collect()
    }

    /// Each account's value of an attribute: a column (`segment`, `channel`, `country`,
    /// `name`) or a key of its imported attributes. `None` when no account has it.
    pub async fn account_attribute(&self, attribute: &str) -> Result<Option<HashMap<i64, String>>, StoreError> {
        const COLUMNS: [&str; 4] = ["segment", "channel", "country", "name"];
        let rows: Vec<(i64, Option<String>, String)> = if let Some(column) = COLUMNS.iter().find(|c| **c == attribute) {
            let sql = format!("SELECT id, {column}, '{{}}' FROM accounts");
            on_pool!(self, |pool, _d| sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?)
        } else {
            let sql = "SELECT id, NULL, CAST(attributes AS TEXT) FROM accounts";
            on_pool!(self, |pool, _d| sqlx::query_as(sql).fetch_all(pool).await?)
        };
        let mut values = HashMap::new();
        let is_column = COLUMNS.contains(&attribute);
        let mut known = is_column;
        for (id, column_value, attributes) in rows {
            let value = match column_value {
                Some(v) => Some(v),
                None if is_column => None,
                None => {
                    let map: BTreeMap<String, String> = serde_json::from_str(&attributes)
                        .map_err(|e| StoreError::Corrupt(format!("attributes of account {id}: {e}")))?;
                    map.get(attribute).cloned()
                }
            };
            if let Some(v) = value {
                known = true;
                values.insert(id, v);
            }
        }
        Ok(known.then_some(values))
    }

    /// A product user by external id.
    pub async fn product_user(&self, external_id: &str) -> Result<Option<NewProductUser>, StoreError> {
        let sql = "SELECT external_id, account_id, email, name, department, created_at FROM product_users \
                   WHERE external_id = ?";
        type Row = (String, i64, Option<String>, Option<String>, Option<String>, Option<i64>);
        let row: Option<Row> = on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
            .bind(external_id)
            .fetch_optional(pool)
            .await?);
        Ok(row.map(
            |(external_id, account_id, email, name, department, created_at)| NewProductUser {
                external_id,
                account_id,
                email,
                name,
                department,
                created_at: created_at.and_then(chrono::DateTime::from_timestamp_micros),
            },
        ))
    }

    /// Every account as the portfolio shows it on `today`: MRR then and
    /// [`laer_core::portfolio::TREND_DAYS`] before, first contract, current coverage.
    pub async fn account_snapshots(&self, today: NaiveDate) -> Result<Vec<AccountSnapshot>, StoreError> {
        let before = today - chrono::TimeDelta::days(laer_core::portfolio::TREND_DAYS);
        let active = "s.start_date <= ? AND (s.end_date > ? OR s.end_date IS NULL)";
        // One pass over the subscription lines; PostgreSQL sums BIGINT as NUMERIC.
        let sql = format!(
            "SELECT s.account_id, MIN(s.start_date), \
             MAX(CASE WHEN {today} THEN s.bill_period_months END), \
             CAST(SUM(CASE WHEN {today} THEN s.mrr ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN {before} THEN s.mrr ELSE 0 END) AS BIGINT) \
             FROM subscriptions s GROUP BY s.account_id",
            today = active,
            before = active,
        );
        type Contracts = (i64, Option<NaiveDate>, Option<i32>, i64, i64);
        let contracts: Vec<Contracts> = on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(&sql)))
            .bind(today)
            .bind(today)
            .bind(today)
            .bind(today)
            .bind(before)
            .bind(before)
            .fetch_all(pool)
            .await?);
        let mut contracts: HashMap<i64, Contracts> = contracts.into_iter().map(|c| (c.0, c)).collect();
        let sql = "SELECT id, external_id, name, segment, renewal_date FROM accounts ORDER BY id";
        type AccountRow = (i64, String, Option<String>, Option<String>, Option<NaiveDate>);
        let accounts: Vec<AccountRow> = on_pool!(self, |pool, _d| sqlx::query_as(sql).fetch_all(pool).await?);
        let mut owners = self.current_owners(today).await?;
        Ok(accounts
            .into_iter()
            .map(|(id, external_id, name, segment, renewal_date)| {
                let (_, landed_on, term_months, mrr, mrr_before) =
                    contracts.remove(&id).unwrap_or((id, None, None, 0, 0));
                AccountSnapshot {
                    id,
                    external_id,
                    name,
                    segment,
                    renewal_date,
                    landed_on,
                    term_months,
                    mrr: Money::from_ten_thousandths(mrr),
                    mrr_before: Money::from_ten_thousandths(mrr_before),
                    owners: owners.remove(&id).unwrap_or_default(),
                    health: None,
                }
            })
            .collect())
    }

    /// A number that changes whenever accounts, subscriptions, team members or coverage
    /// change: views derived from them (the portfolio) are current while it stays.
    pub async fn portfolio_revision(&self) -> Result<i64, StoreError> {
        let sql = "SELECT n FROM revisions WHERE name = 'portfolio'";
        Ok(on_pool!(self, |pool, _d| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await?))
    }

    /// Who covers each account on `today`, by account, in role order.
    pub async fn current_owners(&self, today: NaiveDate) -> Result<HashMap<i64, Vec<Owner>>, StoreError> {
        let sql = "SELECT c.account_id, c.role, m.id, m.name FROM coverage_assignments c \
                   JOIN team_members m ON m.id = c.team_member_id \
                   WHERE c.since <= ? AND (c.until IS NULL OR c.until > ?) ORDER BY c.account_id, c.role, m.name";
        let rows: Vec<(i64, String, i64, String)> =
            on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
                .bind(today)
                .bind(today)
                .fetch_all(pool)
                .await?);
        let mut owners: HashMap<i64, Vec<Owner>> = HashMap::new();
        for (account_id, role, member_id, name) in rows {
            let role = role
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("coverage role of account {account_id}: {e}")))?;
            owners
                .entry(account_id)
                .or_default()
                .push(Owner { role, member_id, name });
        }
        Ok(owners)
    }

    /// Every coverage of an account in `role`, past and present: who covered which
    /// account when, for the owner on any day (the NRR bridge).
    pub async fn coverage_history(&self, role: TeamRole) -> Result<Vec<CoverageSpell>, StoreError> {
        let sql = "SELECT c.account_id, m.id, m.name, m.external_id, c.since, c.until FROM coverage_assignments c \
                   JOIN team_members m ON m.id = c.team_member_id WHERE c.role = ? ORDER BY c.account_id, c.since, m.id";
        type SpellRow = (i64, i64, String, String, NaiveDate, Option<NaiveDate>);
        let rows: Vec<SpellRow> = on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
            .bind(role.as_str())
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(
                |(account_id, member_id, name, external_id, since, until)| CoverageSpell {
                    account_id,
                    owner: Owner { role, member_id, name },
                    external_id,
                    since,
                    until,
                },
            )
            .collect())
    }

    /// The id of the team member with this external id.
    pub async fn team_member_id(&self, external_id: &str) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT id FROM team_members WHERE external_id = ?";
        Ok(on_pool!(self, |pool, d| sqlx::query_scalar(AssertSqlSafe(
            d.placeholders(sql)
        ))
        .bind(external_id)
        .fetch_optional(pool)
        .await?))
    }

    /// Team members: (id, name, roles), by name.
    pub async fn team(&self) -> Result<Vec<(i64, String, String)>, StoreError> {
        let sql = "SELECT id, name, roles FROM team_members ORDER BY name";
        Ok(on_pool!(self, |pool, _d| sqlx::query_as(sql).fetch_all(pool).await?))
    }

    /// An account's usage events, oldest first: event type name, user, value, instant.
    pub async fn events_of(&self, account_id: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = "SELECT t.name, e.user_ref, e.value, e.occurred_at FROM events e \
                   JOIN event_types t ON t.id = e.event_type_id WHERE e.account_id = ? ORDER BY e.occurred_at, t.name";
        let rows: Vec<(String, Option<String>, Option<f64>, i64)> =
            on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
                .bind(account_id)
                .fetch_all(pool)
                .await?);
        rows.into_iter()
            .map(|(event, user_ref, value, micros)| {
                let occurred_at = chrono::DateTime::from_timestamp_micros(micros)
                    .ok_or_else(|| StoreError::Corrupt(format!("event time {micros} of account {account_id}")))?;
                Ok(StoredEvent {
                    event,
                    user_ref,
                    value,
                    occurred_at,
                })
            })
            .collect()
    }

    /// An account's daily use of each feature (event type), from the rollup, by date and
    /// name. The date is the UTC day the events happened on, except that an event at
    /// midnight exactly counts in the day that ends then (the rollup's activity day, see
    /// [`laer_core::retention::activity_day`], is the day after).
    pub async fn feature_days(&self, account_id: i64) -> Result<Vec<FeatureDay>, StoreError> {
        let sql = "SELECT d.day, t.name, d.events, d.value_sum, d.users FROM event_type_days d \
                   JOIN event_types t ON t.id = d.event_type_id WHERE d.account_id = ? ORDER BY d.day, t.name";
        let rows: Vec<(i64, String, i64, Option<f64>, i64)> =
            on_pool!(self, |pool, d| sqlx::query_as(AssertSqlSafe(d.placeholders(sql)))
                .bind(account_id)
                .fetch_all(pool)
                .await?);
        rows.into_iter()
            .map(|(day, feature, events, value_sum, users)| {
                Ok(FeatureDay {
                    day: date_of_day_number(day - 1)
                        .ok_or_else(|| StoreError::Corrupt(format!("rollup day {day} of account {account_id}")))?,
                    feature,
                    events,
                    value_sum,
                    users,
                })
            })
            .collect()
    }

    /// Rows in which the daily rollups and a recount of the events disagree (0 when the
    /// rollups are right).
    pub async fn rollup_mismatches(&self) -> Result<i64, StoreError> {
        let days = format!("SELECT account_id, {ACTIVITY_DAY} AS day, COUNT(*) AS events FROM events GROUP BY 1, 2");
        let stored_days = "SELECT account_id, day, events FROM event_days";
        let by_type = event_type_days_from_events("");
        let counted = format!("SELECT account_id, day, event_type_id, events, users FROM ({by_type}) t");
        let stored_counted = "SELECT account_id, day, event_type_id, events, users FROM event_type_days";
        let users = format!(
            "SELECT DISTINCT account_id, {ACTIVITY_DAY} AS day, event_type_id, user_ref FROM events \
             WHERE user_ref IS NOT NULL"
        );
        let stored_users = "SELECT account_id, day, event_type_id, user_ref FROM event_user_days";
        // Sums kept by adding up may differ from a fresh SUM in the last bits.
        let sums = format!(
            "SELECT COUNT(*) FROM event_type_days s JOIN ({by_type}) r \
             ON s.account_id = r.account_id AND s.day = r.day AND s.event_type_id = r.event_type_id \
             WHERE (s.value_sum IS NULL) <> (r.value_sum IS NULL) \
             OR ABS(s.value_sum - r.value_sum) > 1e-9 * (1 + ABS(r.value_sum))"
        );
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM ({stored_days} EXCEPT {days}) a) \
                  + (SELECT COUNT(*) FROM ({days} EXCEPT {stored_days}) b) \
                  + (SELECT COUNT(*) FROM ({stored_counted} EXCEPT {counted}) c) \
                  + (SELECT COUNT(*) FROM ({counted} EXCEPT {stored_counted}) d) \
                  + (SELECT COUNT(*) FROM ({stored_users} EXCEPT {users}) e) \
                  + (SELECT COUNT(*) FROM ({users} EXCEPT {stored_users}) f) \
                  + ({sums})"
        );
        Ok(on_pool!(self, |pool, _d| sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(pool)
            .await?))
    }

    /// Which of these message ids the ingest log holds.
    pub async fn stored_message_ids(&self, ids: &[String]) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT message_id FROM ingest_messages WHERE message_id IN ({placeholders})");
            let rows: Vec<String> = on_pool!(self, |pool, d| {
                let mut query = sqlx::query_scalar(AssertSqlSafe(d.placeholders(&sql)));
                for id in chunk {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows);
        }
        Ok(found)
    }
}

/// One day's use of one feature by an account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDay {
    pub day: NaiveDate,
    pub feature: String,
    pub events: i64,
    /// The sum of the events' values; `None` when none had one.
    pub value_sum: Option<f64>,
    /// Distinct users.
    pub users: i64,
}

/// A usage event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub event: String,
    pub user_ref: Option<String>,
    pub value: Option<f64>,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}
