//! Reads: the same SQL on both backends, decoded into the core's types.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use laer_core::Money;
use laer_core::bridge::CoverageSpell;
use laer_core::model::NewMeetingCadence;
use laer_core::model::{Account, EntityCounts, NewAccount, NewProductUser, NewSubscription, Subscription, TeamRole};
use laer_core::portfolio::{AccountSnapshot, Owner};
use laer_core::reports::PlanLine;
use laer_core::retention::{ActivityDays, RevenueLine};
use serde::Serialize;

use crate::decode::Column;
use crate::exec::{list, params};
use crate::sql::{ACTIVITY_DAY, event_type_days_from_events, json};
use crate::{Store, StoreError};

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
        let attributes: BTreeMap<String, String> = Column("accounts", "attributes").json(&self.attributes)?;
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
    currency: Option<String>,
    original_mrr: Option<i64>,
}

/// Every entity's row count, by table (see [`COUNTED_TABLES`]).
#[derive(sqlx::FromRow)]
struct Counts {
    accounts: i64,
    contacts: i64,
    product_users: i64,
    subscriptions: i64,
    event_types: i64,
    events: i64,
    support_cases: i64,
    meetings: i64,
    meeting_cadences: i64,
    survey_responses: i64,
    outcomes: i64,
    outcome_measurements: i64,
    team_members: i64,
    owners: i64,
    tasks: i64,
    exchange_rates: i64,
    audit_entries: i64,
}

#[derive(sqlx::FromRow)]
struct CadenceRow {
    account_id: i64,
    stakeholder_team: String,
    every_days: i32,
}

impl CadenceRow {
    fn into_cadence(self) -> NewMeetingCadence {
        NewMeetingCadence {
            account_id: self.account_id,
            stakeholder_team: self.stakeholder_team,
            every_days: self.every_days,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AccountNameRow {
    id: i64,
    external_id: String,
    name: Option<String>,
}

/// A subscription line packed by `Store::lines`, its fields in that order.
#[derive(serde::Deserialize)]
struct PackedLine {
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    mrr: i64,
    bill_period_months: i32,
    product: String,
    currency: Option<String>,
    original_mrr: Option<i64>,
}

/// An account's external id and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountName {
    pub external_id: String,
    pub name: Option<String>,
}

/// A team member with their roles as stored (comma-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TeamRow {
    pub id: i64,
    pub name: String,
    pub roles: String,
}

const ACCOUNT_COLUMNS: &str = "id, external_id, name, segment, channel, country, date_of_birth, renewal_date, CAST(attributes AS TEXT) AS attributes";

/// Every table `laer status` counts, by its key in [`EntityCounts`].
const COUNTED_TABLES: [&str; 17] = [
    "accounts",
    "contacts",
    "product_users",
    "subscriptions",
    "event_types",
    "events",
    "support_cases",
    "touchpoints AS meetings",
    "meeting_cadences",
    "survey_responses",
    "outcomes",
    "outcome_measurements",
    "team_members",
    // Owners held by hand or given by an import, as the `owners` kind writes them.
    "coverage_assignments WHERE until IS NULL AND by_hand = 1 AS owners",
    "tasks",
    "exchange_rates",
    "audit_entries",
];

impl crate::WriteTx {
    /// Every account, as this transaction sees it.
    pub(crate) async fn all_accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id");
        let rows: Vec<AccountRow> = self.fetch_all(&sql, params![]).await?;
        rows.into_iter().map(AccountRow::into_account).collect()
    }
}

impl Store {
    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.execute("SELECT 1", params![]).await?;
        Ok(())
    }

    /// Row counts of every entity.
    pub async fn counts(&self) -> Result<EntityCounts, StoreError> {
        let sql = COUNTED_TABLES
            .iter()
            .map(|t| {
                // A table counted under another key says so: `touchpoints AS meetings`.
                let (table, key) = t.split_once(" AS ").unwrap_or((t, t));
                format!("(SELECT COUNT(*) FROM {table}) AS {key}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {sql}");
        let counts: Counts = self.fetch_one(&sql, params![]).await?;
        let Counts {
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
            owners,
            tasks,
            exchange_rates,
            audit_entries,
        } = counts;
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
            owners,
            tasks,
            exchange_rates,
            audit_entries,
        })
    }

    /// Up to `limit` accounts with an id greater than `after`, in id order.
    pub async fn accounts_page(&self, after: Option<i64>, limit: u32) -> Result<AccountPage, StoreError> {
        let after = after.unwrap_or(i64::MIN);
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2");
        let rows: Vec<AccountRow> = self.fetch_all(&sql, params![after, i64::from(limit) + 1]).await?;
        let (total,): (i64,) = self.fetch_one("SELECT COUNT(*) FROM accounts", params![]).await?;
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
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row: Option<AccountRow> = self.fetch_optional(&sql, params![id]).await?;
        row.map(AccountRow::into_account).transpose()
    }

    pub async fn account_by_external_id(&self, external_id: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE external_id = $1");
        let row: Option<AccountRow> = self.fetch_optional(&sql, params![external_id]).await?;
        row.map(AccountRow::into_account).transpose()
    }

    /// The account's subscription lines, oldest first.
    pub async fn subscriptions_of(&self, account_id: i64) -> Result<Vec<Subscription>, StoreError> {
        let sql = "SELECT id, account_id, external_id, product, start_date, end_date, mrr, quantity, units, \
                   bill_period_months, discount, currency, original_mrr FROM subscriptions WHERE account_id = $1 \
                   ORDER BY start_date, product, id";
        let rows: Vec<SubscriptionRow> = self.fetch_all(sql, params![account_id]).await?;
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
                    original: laer_core::fx::Original::stored(r.currency.as_deref(), r.original_mrr),
                },
            })
            .collect())
    }

    /// One account's agreed meeting cadences, by stakeholder team.
    pub async fn meeting_cadences_of(&self, account_id: i64) -> Result<Vec<NewMeetingCadence>, StoreError> {
        let sql = "SELECT account_id, stakeholder_team, every_days FROM meeting_cadences WHERE account_id = $1 \
                   ORDER BY stakeholder_team";
        let rows: Vec<CadenceRow> = self.fetch_all(sql, params![account_id]).await?;
        Ok(rows.into_iter().map(CadenceRow::into_cadence).collect())
    }

    /// Every account's agreed meeting cadences, by account and stakeholder team.
    pub async fn meeting_cadences(&self) -> Result<Vec<NewMeetingCadence>, StoreError> {
        let sql = "SELECT account_id, stakeholder_team, every_days FROM meeting_cadences \
                   ORDER BY account_id, stakeholder_team";
        let rows: Vec<CadenceRow> = self.fetch_all(sql, params![]).await?;
        Ok(rows.into_iter().map(CadenceRow::into_cadence).collect())
    }

    /// Every account's external id by laer id.
    pub async fn account_external_ids(&self) -> Result<HashMap<i64, String>, StoreError> {
        let rows: Vec<AccountNameRow> = self
            .fetch_all("SELECT id, external_id, NULL AS name FROM accounts", params![])
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.external_id)).collect())
    }

    /// Every account's external id and name.
    pub async fn account_names(&self) -> Result<HashMap<i64, AccountName>, StoreError> {
        self.account_names_of(crate::Accounts::All).await
    }

    /// The chosen accounts' external ids and names.
    pub async fn account_names_of(
        &self,
        accounts: crate::Accounts<'_>,
    ) -> Result<HashMap<i64, AccountName>, StoreError> {
        let sql = format!(
            "SELECT id, external_id, name FROM accounts WHERE {}",
            accounts.condition("id")
        );
        let rows: Vec<AccountNameRow> = self.fetch_all(&sql, params![]).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.id,
                    AccountName {
                        external_id: r.external_id,
                        name: r.name,
                    },
                )
            })
            .collect())
    }

    /// Every subscription line's account, dates and MRR, sorted by account.
    pub async fn revenue_lines(&self) -> Result<Vec<RevenueLine>, StoreError> {
        self.revenue_lines_of(crate::Accounts::All).await
    }

    /// The chosen accounts' subscription lines, as [`Store::revenue_lines`].
    pub async fn revenue_lines_of(&self, accounts: crate::Accounts<'_>) -> Result<Vec<RevenueLine>, StoreError> {
        Ok(self.lines(false, accounts).await?.into_iter().map(|l| l.line).collect())
    }

    /// Every subscription line with its product, sorted by account.
    pub async fn plan_lines(&self) -> Result<Vec<PlanLine>, StoreError> {
        self.lines(true, crate::Accounts::All).await
    }

    /// The chosen accounts' subscription lines, sorted by account, then by start; with
    /// its product if `products`. Packed per account (crate::sql::json): a row per line
    /// took three times as long to hand over.
    async fn lines(&self, products: bool, accounts: crate::Accounts<'_>) -> Result<Vec<PlanLine>, StoreError> {
        let backend = self.backend();
        let item = json::tuple(
            backend,
            &[
                "start_date",
                "end_date",
                "mrr",
                "bill_period_months",
                if products { "product" } else { "''" },
                "currency",
                "original_mrr",
            ],
        );
        let sql = format!(
            "SELECT account_id, {} AS records FROM subscriptions WHERE {} GROUP BY account_id ORDER BY account_id",
            json::list(backend, &item, "start_date, id"),
            accounts.condition("account_id")
        );
        let rows: Vec<(i64, String)> = self.fetch_all(&sql, params![]).await?;
        let column = Column("subscriptions", "(records)");
        let mut lines = Vec::new();
        for (account_id, records) in rows {
            for l in column.packed::<PackedLine>(account_id, &records)? {
                lines.push(PlanLine {
                    line: RevenueLine {
                        account_id,
                        start_date: l.start_date,
                        end_date: l.end_date,
                        mrr: Money::from_ten_thousandths(l.mrr),
                        bill_period_months: l.bill_period_months,
                        original: laer_core::fx::Original::stored(l.currency.as_deref(), l.original_mrr),
                    },
                    product: l.product,
                });
            }
        }
        Ok(lines)
    }

    /// Each account's activity days (see `laer_core::retention::activity_day`), from
    /// the daily rollup.
    pub async fn activity_days(&self) -> Result<Vec<ActivityDays>, StoreError> {
        // One row per account with its days as text: far fewer rows to decode than one
        // per account and day.
        #[derive(sqlx::FromRow)]
        struct Days {
            account_id: i64,
            days: String,
        }
        let sql = "SELECT account_id, string_agg(CAST(day AS TEXT), ',' ORDER BY day) AS days FROM event_days \
                   GROUP BY account_id ORDER BY account_id";
        let rows: Vec<Days> = self.fetch_all(sql, params![]).await?;
        let column = Column("event_days", "day");
        rows.into_iter()
            .map(|Days { account_id, days }| {
                let days = days
                    .split(',')
                    .map(|d| column.day(column.parsed(d)?))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ActivityDays { account_id, days })
            })
            .collect()
    }

    /// Each account's value of an attribute: a column (`segment`, `channel`, `country`,
    /// `name`) or a key of its imported attributes. `None` when no account has it.
    pub async fn account_attribute(&self, attribute: &str) -> Result<Option<HashMap<i64, String>>, StoreError> {
        const COLUMNS: [&str; 4] = ["segment", "channel", "country", "name"];
        #[derive(sqlx::FromRow)]
        struct Attribute {
            id: i64,
            value: Option<String>,
            attributes: String,
        }
        let sql = match COLUMNS.iter().find(|c| **c == attribute) {
            Some(column) => format!("SELECT id, {column} AS value, '{{}}' AS attributes FROM accounts"),
            None => "SELECT id, NULL AS value, CAST(attributes AS TEXT) AS attributes FROM accounts".to_string(),
        };
        let rows: Vec<Attribute> = self.fetch_all(&sql, params![]).await?;
        let mut values = HashMap::new();
        let is_column = COLUMNS.contains(&attribute);
        let mut known = is_column;
        for Attribute { id, value, attributes } in rows {
            let value = match value {
                Some(v) => Some(v),
                None if is_column => None,
                None => {
                    let map: BTreeMap<String, String> = Column("accounts", "attributes")
                        .json(&attributes)
                        .map_err(|e| Column("accounts", "attributes").unreadable(format!("account {id}: {e}")))?;
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
        #[derive(sqlx::FromRow)]
        struct Row {
            external_id: String,
            account_id: i64,
            email: Option<String>,
            name: Option<String>,
            department: Option<String>,
            created_at: Option<i64>,
        }
        let sql = "SELECT external_id, account_id, email, name, department, created_at FROM product_users \
                   WHERE external_id = $1";
        let row: Option<Row> = self.fetch_optional(sql, params![external_id]).await?;
        row.map(|r| {
            Ok(NewProductUser {
                created_at: Column("product_users", "created_at").opt_instant(r.created_at)?,
                external_id: r.external_id,
                account_id: r.account_id,
                email: r.email,
                name: r.name,
                department: r.department,
            })
        })
        .transpose()
    }

    /// Every account as the portfolio shows it on `today`: MRR then and
    /// [`laer_core::portfolio::TREND_DAYS`] before, first contract, current coverage.
    pub async fn account_snapshots(&self, today: NaiveDate) -> Result<Vec<AccountSnapshot>, StoreError> {
        self.account_snapshots_of(today, crate::Accounts::All).await
    }

    /// The chosen accounts as [`Store::account_snapshots`] gives them, in id order.
    pub async fn account_snapshots_of(
        &self,
        today: NaiveDate,
        accounts: crate::Accounts<'_>,
    ) -> Result<Vec<AccountSnapshot>, StoreError> {
        let before = today - chrono::TimeDelta::days(laer_core::portfolio::TREND_DAYS);
        #[derive(sqlx::FromRow)]
        struct Contracts {
            account_id: i64,
            landed_on: Option<NaiveDate>,
            term_months: Option<i32>,
            mrr: i64,
            mrr_before: i64,
        }
        #[derive(sqlx::FromRow)]
        struct Listed {
            id: i64,
            external_id: String,
            name: Option<String>,
            segment: Option<String>,
            renewal_date: Option<NaiveDate>,
        }
        let active = |day: &str| format!("s.start_date <= {day} AND (s.end_date > {day} OR s.end_date IS NULL)");
        // One pass over the subscription lines; PostgreSQL sums BIGINT as NUMERIC.
        let sql = format!(
            "SELECT s.account_id, MIN(s.start_date) AS landed_on, \
             MAX(CASE WHEN {today} THEN s.bill_period_months END) AS term_months, \
             CAST(SUM(CASE WHEN {today} THEN s.mrr ELSE 0 END) AS BIGINT) AS mrr, \
             CAST(SUM(CASE WHEN {before} THEN s.mrr ELSE 0 END) AS BIGINT) AS mrr_before \
             FROM subscriptions s WHERE {chosen} GROUP BY s.account_id",
            today = active("$1"),
            before = active("$2"),
            chosen = accounts.condition("s.account_id"),
        );
        let contracts: Vec<Contracts> = self.fetch_all(&sql, params![today, before]).await?;
        let mut contracts: HashMap<i64, Contracts> = contracts.into_iter().map(|c| (c.account_id, c)).collect();
        let sql = format!(
            "SELECT id, external_id, name, segment, renewal_date FROM accounts WHERE {} ORDER BY id",
            accounts.condition("id")
        );
        let listed: Vec<Listed> = self.fetch_all(&sql, params![]).await?;
        let mut owners = self.current_owners_of(today, accounts).await?;
        Ok(listed
            .into_iter()
            .map(|a| {
                // An account without lines has no contract: no MRR, never landed.
                let c = contracts.remove(&a.id).unwrap_or(Contracts {
                    account_id: a.id,
                    landed_on: None,
                    term_months: None,
                    mrr: 0,
                    mrr_before: 0,
                });
                AccountSnapshot {
                    id: a.id,
                    external_id: a.external_id,
                    name: a.name,
                    segment: a.segment,
                    renewal_date: a.renewal_date,
                    landed_on: c.landed_on,
                    term_months: c.term_months,
                    mrr: Money::from_ten_thousandths(c.mrr),
                    mrr_before: Money::from_ten_thousandths(c.mrr_before),
                    owners: owners.remove(&a.id).unwrap_or_default(),
                    health: None,
                }
            })
            .collect())
    }

    /// A number that changes whenever accounts, subscriptions, team members or coverage
    /// change: views derived from them (the portfolio) are current while it stays.
    pub async fn portfolio_revision(&self) -> Result<i64, StoreError> {
        self.revision(crate::Listed::Portfolio).await
    }

    /// Who covers each account on `today`, by account, in role order.
    pub async fn current_owners(&self, today: NaiveDate) -> Result<HashMap<i64, Vec<Owner>>, StoreError> {
        self.current_owners_of(today, crate::Accounts::All).await
    }

    /// Who covers each of the chosen accounts on `today`, as [`Store::current_owners`].
    async fn current_owners_of(
        &self,
        today: NaiveDate,
        accounts: crate::Accounts<'_>,
    ) -> Result<HashMap<i64, Vec<Owner>>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            account_id: i64,
            role: String,
            member_id: i64,
            name: String,
        }
        let sql = format!(
            "SELECT c.account_id, c.role, m.id AS member_id, m.name FROM coverage_assignments c \
             JOIN team_members m ON m.id = c.team_member_id \
             WHERE c.since <= $1 AND (c.until IS NULL OR c.until > $1) AND {} ORDER BY c.account_id, c.role, m.name",
            accounts.condition("c.account_id")
        );
        let rows: Vec<Row> = self.fetch_all(&sql, params![today]).await?;
        let mut owners: HashMap<i64, Vec<Owner>> = HashMap::new();
        for Row {
            account_id,
            role,
            member_id,
            name,
        } in rows
        {
            let role = Column("coverage_assignments", "role").parsed(&role)?;
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
        self.coverage_history_of(role, crate::Accounts::All).await
    }

    /// The chosen accounts' coverage in `role`, as [`Store::coverage_history`].
    pub async fn coverage_history_of(
        &self,
        role: TeamRole,
        accounts: crate::Accounts<'_>,
    ) -> Result<Vec<CoverageSpell>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Spell {
            account_id: i64,
            member_id: i64,
            name: String,
            external_id: String,
            since: NaiveDate,
            until: Option<NaiveDate>,
        }
        let sql = format!(
            "SELECT c.account_id, m.id AS member_id, m.name, m.external_id, c.since, c.until \
             FROM coverage_assignments c JOIN team_members m ON m.id = c.team_member_id WHERE c.role = $1 AND {} \
             ORDER BY c.account_id, c.since, m.id",
            accounts.condition("c.account_id")
        );
        let rows: Vec<Spell> = self.fetch_all(&sql, params![role.as_str()]).await?;
        Ok(rows
            .into_iter()
            .map(|s| CoverageSpell {
                account_id: s.account_id,
                owner: Owner {
                    role,
                    member_id: s.member_id,
                    name: s.name,
                },
                external_id: s.external_id,
                since: s.since,
                until: s.until,
            })
            .collect())
    }

    /// The id of the team member with this external id.
    pub async fn team_member_id(&self, external_id: &str) -> Result<Option<i64>, StoreError> {
        let id: Option<(i64,)> = self
            .fetch_optional(
                "SELECT id FROM team_members WHERE external_id = $1",
                params![external_id],
            )
            .await?;
        Ok(id.map(|(id,)| id))
    }

    /// Team members with their roles as stored, by name.
    pub async fn team(&self) -> Result<Vec<TeamRow>, StoreError> {
        self.fetch_all("SELECT id, name, roles FROM team_members ORDER BY name", params![])
            .await
    }

    /// An account's usage events, oldest first: event type name, user, value, instant.
    pub async fn events_of(&self, account_id: i64) -> Result<Vec<StoredEvent>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            event: String,
            user_ref: Option<String>,
            value: Option<f64>,
            occurred_at: i64,
        }
        let sql = "SELECT t.name AS event, e.user_ref, e.value, e.occurred_at FROM events e \
                   JOIN event_types t ON t.id = e.event_type_id WHERE e.account_id = $1 ORDER BY e.occurred_at, t.name";
        let rows: Vec<Row> = self.fetch_all(sql, params![account_id]).await?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredEvent {
                    occurred_at: Column("events", "occurred_at").instant(r.occurred_at)?,
                    event: r.event,
                    user_ref: r.user_ref,
                    value: r.value,
                })
            })
            .collect()
    }

    /// An account's daily use of each feature (event type), from the rollup, by date and
    /// name. The date is the UTC day the events happened on, except that an event at
    /// midnight exactly counts in the day that ends then (the rollup's activity day, see
    /// [`laer_core::retention::activity_day`], is the day after).
    pub async fn feature_days(&self, account_id: i64) -> Result<Vec<FeatureDay>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            day: i64,
            feature: String,
            events: i64,
            value_sum: Option<f64>,
            users: i64,
        }
        let sql = "SELECT d.day, t.name AS feature, d.events, d.value_sum, d.users FROM event_type_days d \
                   JOIN event_types t ON t.id = d.event_type_id WHERE d.account_id = $1 ORDER BY d.day, t.name";
        let rows: Vec<Row> = self.fetch_all(sql, params![account_id]).await?;
        rows.into_iter()
            .map(|r| {
                Ok(FeatureDay {
                    day: Column("event_type_days", "day").day(r.day - 1)?,
                    feature: r.feature,
                    events: r.events,
                    value_sum: r.value_sum,
                    users: r.users,
                })
            })
            .collect()
    }

    /// Rows in which the daily rollups (and each user's first day, remembered days and
    /// department per account) and a recount of the events disagree (0 when the rollups
    /// are right).
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
        // Each user's first and last day, the 63 days up to the last, and department.
        let firsts = format!(
            "SELECT g.account_id, g.user_ref, g.first_day, g.last_day, g.recent, p.department FROM ({}) g \
             LEFT JOIN product_users p ON p.external_id = g.user_ref AND p.account_id = g.account_id",
            crate::sql::user_days_grouped(&format!(
                "SELECT DISTINCT account_id, user_ref, {ACTIVITY_DAY} AS day FROM events WHERE user_ref IS NOT NULL"
            ))
        );
        let stored_firsts = "SELECT account_id, user_ref, first_day, last_day, recent, department FROM account_users";
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
                  + (SELECT COUNT(*) FROM ({firsts} EXCEPT {stored_firsts}) g) \
                  + (SELECT COUNT(*) FROM ({stored_firsts} EXCEPT {firsts}) h) \
                  + ({sums})"
        );
        let (mismatches,): (i64,) = self.fetch_one(&sql, params![]).await?;
        Ok(mismatches)
    }

    /// Which of these message ids the ingest log holds.
    pub async fn stored_message_ids(&self, ids: &[String]) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT message_id FROM ingest_messages WHERE message_id IN ({})",
                list(1, chunk.len())
            );
            let mut params = crate::exec::Params::with_capacity(chunk.len());
            for id in chunk {
                params.push(id);
            }
            let rows: Vec<(String,)> = self.fetch_all(&sql, params).await?;
            found.extend(rows.into_iter().map(|(id,)| id));
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
