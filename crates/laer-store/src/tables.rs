//! The record kinds the store writes, each declared once: its table (columns, key, what a
//! write does to a stored record, what else it touches) and how one record binds to the
//! table's columns. [`WriteTx::upsert`] writes any of them; a new kind is one [`Stored`]
//! implementation here.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use laer_core::model::{
    NewAccount, NewContact, NewCoverageAssignment, NewEvent, NewEventType, NewMeetingCadence, NewMilestone, NewOutcome,
    NewOutcomeMeasurement, NewProductUser, NewSubscription, NewSupportCase, NewSurveyResponse, NewTask, NewTeamMember,
    NewTouchpoint,
};

use crate::exec::{Params, Value, list};
use crate::sql::{Feeds, OnConflict, Table};
use crate::{StoreError, WriteCount, WriteTx, postgres, touchpoints};

/// A record kind the store writes: where its records go, and how one record binds to
/// that table's columns.
pub trait Stored: Sized + Sync {
    /// The table records of this kind are written to.
    const TABLE: &'static Table;

    /// The record's values, one per column of [`Stored::TABLE`], in the table's order.
    fn row(&self) -> TableRow<'_>;

    /// Writes records of this kind in one or more multi-row upserts. Kinds whose writes
    /// need more (events, meeting cadences) say so here.
    fn write(tx: &mut WriteTx, records: &[Self]) -> impl Future<Output = Result<WriteCount, StoreError>> + Send {
        tx.write_rows(Self::TABLE, records.iter().map(Self::row).collect())
    }
}

/// One record's values, in the order of its table's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow<'a>(pub(crate) Vec<Value<'a>>);

/// A [`TableRow`] of values of any type [`Value`] converts from.
macro_rules! row {
    ($($value:expr),* $(,)?) => {
        TableRow(vec![$(Value::from($value)),*])
    };
}

/// An instant as stored: microseconds since the epoch.
fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value<'static> {
    Value::Int(t.map(|t| t.timestamp_micros()))
}

impl Stored for NewAccount {
    const TABLE: &'static Table = &Table {
        name: "accounts",
        columns: &[
            "external_id",
            "name",
            "segment",
            "channel",
            "country",
            "date_of_birth",
            "renewal_date",
            "attributes",
        ],
        json_columns: &["attributes"],
        key: &["external_id"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Nothing,
        portfolio: true,
    };

    fn row(&self) -> TableRow<'_> {
        let attributes = serde_json::to_string(&self.attributes).unwrap_or_else(|_| "{}".to_string());
        row![
            &self.external_id,
            &self.name,
            &self.segment,
            &self.channel,
            &self.country,
            self.date_of_birth,
            self.renewal_date,
            attributes,
        ]
    }
}

impl Stored for NewContact {
    const TABLE: &'static Table = &Table {
        name: "contacts",
        columns: &[
            "external_id",
            "account_id",
            "name",
            "email",
            "phone",
            "title",
            "stakeholder_team",
            "role",
        ],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::UpdateVersioned,
        feeds: Feeds::Account,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            &self.external_id,
            self.account_id,
            &self.name,
            &self.email,
            &self.phone,
            &self.title,
            &self.stakeholder_team,
            &self.role,
        ]
    }
}

impl Stored for NewProductUser {
    const TABLE: &'static Table = &Table {
        name: "product_users",
        columns: &["external_id", "account_id", "email", "name", "department", "created_at"],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Account,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            &self.external_id,
            self.account_id,
            &self.email,
            &self.name,
            &self.department,
            time(self.created_at),
        ]
    }
}

impl Stored for NewSubscription {
    const TABLE: &'static Table = &Table {
        name: "subscriptions",
        columns: &[
            "external_id",
            "account_id",
            "product",
            "start_date",
            "end_date",
            "mrr",
            "quantity",
            "units",
            "bill_period_months",
            "discount",
            "currency",
            "original_mrr",
        ],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::UpdateVersioned,
        feeds: Feeds::Account,
        portfolio: true,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            &self.external_id,
            self.account_id,
            &self.product,
            self.start_date,
            self.end_date,
            self.mrr.ten_thousandths(),
            self.quantity,
            &self.units,
            self.bill_period_months,
            self.discount,
            self.original.as_ref().map(|o| o.currency.as_str()),
            self.original.map(|o| o.mrr.ten_thousandths()),
        ]
    }
}

impl Stored for NewEventType {
    const TABLE: &'static Table = &Table {
        name: "event_types",
        columns: &["external_id", "name"],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Nothing,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![&self.external_id, &self.name]
    }
}

impl Stored for NewEvent {
    /// An event already stored (same account, instant and key) is kept.
    const TABLE: &'static Table = &Table {
        name: "events",
        columns: &[
            "account_id",
            "occurred_at",
            "dedup_key",
            "event_type_id",
            "user_ref",
            "value",
        ],
        json_columns: &[],
        key: &["account_id", "occurred_at", "dedup_key"],
        on_conflict: OnConflict::Ignore,
        feeds: Feeds::Nothing,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        TableRow(event_values(self).into())
    }

    async fn write(tx: &mut WriteTx, records: &[Self]) -> Result<WriteCount, StoreError> {
        // Events feed no health or portfolio mark of their own (their rollups do).
        let changed = match tx {
            WriteTx::Postgres(tx) => postgres::write_events(tx, records).await?,
            WriteTx::Sqlite(tx) => crate::exec::sqlite_each(tx, Self::TABLE.sqlite_rows(), records).await?,
        };
        Ok(WriteCount::of(&changed))
    }
}

impl Stored for NewSupportCase {
    const TABLE: &'static Table = &Table {
        name: "support_cases",
        columns: &[
            "external_id",
            "account_id",
            "opened_at",
            "closed_at",
            "severity",
            "kind",
            "status",
            "subject",
        ],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::UpdateVersioned,
        feeds: Feeds::Account,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            &self.external_id,
            self.account_id,
            time(Some(self.opened_at)),
            time(self.closed_at),
            self.severity,
            self.kind.as_str(),
            self.status.as_str(),
            &self.subject,
        ]
    }
}

impl Stored for NewTouchpoint {
    /// Touchpoints from outside; who logged one in laer, its version and when it was
    /// edited are the web app's (see `touchpoints.rs`). Its teams, contacts and team
    /// members go to the link tables in the same transaction.
    const TABLE: &'static Table = &Table {
        name: "touchpoints",
        columns: &[
            "external_id",
            "account_id",
            "held_at",
            "kind",
            "purpose",
            "status",
            "duration_minutes",
            "summary",
            "next_step",
        ],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::UpdateVersioned,
        feeds: Feeds::Account,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            &self.external_id,
            self.account_id,
            time(Some(self.held_at)),
            self.kind.as_str(),
            &self.purpose,
            self.status.as_str(),
            self.duration_minutes.map(i64::from),
            &self.summary,
            &self.next_step,
        ]
    }

    /// Upserts the touchpoints, then makes their links those given (a contact must be
    /// one of the touchpoint's account's). A touchpoint whose only change is its links
    /// counts as written, and its account's health is marked.
    async fn write(tx: &mut WriteTx, records: &[Self]) -> Result<WriteCount, StoreError> {
        let records: Vec<NewTouchpoint> = records.iter().cloned().map(NewTouchpoint::normalized).collect();
        touchpoints::check_people(tx, &records).await?;
        let mut count = tx
            .write_rows(Self::TABLE, records.iter().map(Self::row).collect())
            .await?;
        let mut ids: HashMap<String, i64> = HashMap::new();
        for chunk in records.chunks(1_000) {
            let rows: Vec<(String, i64)> = tx
                .fetch_all(
                    &format!(
                        "SELECT external_id, id FROM touchpoints WHERE external_id IN ({})",
                        list(1, chunk.len())
                    ),
                    {
                        let mut params = Params::with_capacity(chunk.len());
                        for r in chunk {
                            params.push(r.external_id.as_str());
                        }
                        params
                    },
                )
                .await?;
            ids.extend(rows);
        }
        let pairs: Vec<(i64, &NewTouchpoint)> = records
            .iter()
            .filter_map(|r| ids.get(&r.external_id).map(|id| (*id, r)))
            .collect();
        let changed = touchpoints::replace_people(tx, &pairs).await?;
        if !changed.is_empty() {
            let changed: HashSet<i64> = changed.into_iter().collect();
            let mut accounts: Vec<i64> = pairs
                .iter()
                .filter(|(id, _)| changed.contains(id))
                .map(|(_, r)| r.account_id)
                .collect();
            accounts.sort_unstable();
            accounts.dedup();
            tx.mark_health_dirty(Feeds::Account, &accounts).await?;
            // Links changed where the row itself did not: those count as written too.
            let moved = (changed.len() as u64).min(count.unchanged);
            count.unchanged -= moved;
            count.written += moved;
        }
        Ok(count)
    }
}

impl Stored for NewMeetingCadence {
    const TABLE: &'static Table = &Table {
        name: "meeting_cadences",
        columns: &["account_id", "stakeholder_team", "every_days"],
        json_columns: &[],
        key: &["account_id", "stakeholder_team"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Account,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![self.account_id, &self.stakeholder_team, i64::from(self.every_days)]
    }

    /// Replaces the cadence stored for the same account and team. Rows are applied in
    /// order: a later row for the same account and team replaces an earlier one.
    async fn write(tx: &mut WriteTx, records: &[Self]) -> Result<WriteCount, StoreError> {
        // PostgreSQL refuses a statement that updates one row twice: a repeated key
        // starts another run of rows.
        let mut count = WriteCount::default();
        let mut run: Vec<TableRow<'_>> = Vec::new();
        let mut keys: HashSet<(i64, &str)> = HashSet::new();
        for c in records {
            if !keys.insert((c.account_id, &c.stakeholder_team)) {
                count += tx.write_rows(Self::TABLE, std::mem::take(&mut run)).await?;
                keys.clear();
                keys.insert((c.account_id, &c.stakeholder_team));
            }
            run.push(c.row());
        }
        count += tx.write_rows(Self::TABLE, run).await?;
        Ok(count)
    }
}

impl Stored for NewSurveyResponse {
    const TABLE: &'static Table = &Table {
        name: "survey_responses",
        columns: &[
            "external_id",
            "account_id",
            "contact_ref",
            "survey",
            "score",
            "responded_at",
            "comment",
        ],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Account,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            &self.external_id,
            self.account_id,
            &self.contact_ref,
            self.survey.as_str(),
            self.score,
            time(Some(self.responded_at)),
            &self.comment,
        ]
    }
}

impl Stored for NewOutcome {
    const TABLE: &'static Table = &Table {
        name: "outcomes",
        columns: &[
            "external_id",
            "account_id",
            "name",
            "unit",
            "baseline",
            "target",
            "start_date",
            "target_date",
            "direction",
        ],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::UpdateVersioned,
        feeds: Feeds::Account,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            &self.external_id,
            self.account_id,
            &self.name,
            &self.unit,
            self.baseline,
            self.target,
            self.start_date,
            self.target_date,
            self.direction.as_str(),
        ]
    }
}

impl Stored for NewOutcomeMeasurement {
    const TABLE: &'static Table = &Table {
        name: "outcome_measurements",
        columns: &["outcome_id", "measured_on", "value", "source", "note", "recorded_by"],
        json_columns: &[],
        key: &["outcome_id", "measured_on"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Outcome,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            self.outcome_id,
            self.measured_on,
            self.value,
            &self.source,
            &self.note,
            &self.recorded_by
        ]
    }
}

impl Stored for NewTeamMember {
    const TABLE: &'static Table = &Table {
        name: "team_members",
        columns: &["external_id", "name", "email", "roles"],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Nothing,
        portfolio: true,
    };

    fn row(&self) -> TableRow<'_> {
        // No roles given: none. `WriteTx::upsert_team_members` first keeps the stored ones.
        let roles: Vec<&str> = self.roles.iter().flatten().map(|r| r.as_str()).collect();
        row![&self.external_id, &self.name, &self.email, roles.join(",")]
    }
}

impl Stored for NewTask {
    const TABLE: &'static Table = &Table {
        name: "tasks",
        columns: &[
            "external_id",
            "account_id",
            "assignee_id",
            "title",
            "due_on",
            "status",
            "created_at",
        ],
        json_columns: &[],
        key: &["external_id"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Nothing,
        portfolio: false,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            &self.external_id,
            self.account_id,
            self.assignee_id,
            &self.title,
            self.due_on,
            self.status.as_str(),
            time(Some(self.created_at)),
        ]
    }
}

impl Stored for NewCoverageAssignment {
    const TABLE: &'static Table = &Table {
        name: "coverage_assignments",
        columns: &["account_id", "team_member_id", "role", "since", "until", "reason"],
        json_columns: &[],
        key: &["account_id", "role", "team_member_id", "since"],
        on_conflict: OnConflict::Update,
        feeds: Feeds::Account,
        portfolio: true,
    };

    fn row(&self) -> TableRow<'_> {
        row![
            self.account_id,
            self.team_member_id,
            self.role.as_str(),
            self.since,
            self.until,
            &self.reason,
        ]
    }
}

/// Milestones from outside. Not a [`Stored`] kind: a row also holds the milestone's
/// position among those given and the time it is stored (see
/// [`WriteTx::upsert_milestones`]).
pub(crate) const MILESTONES: &Table = &Table {
    name: "milestones",
    columns: &[
        "external_id",
        "account_id",
        "title",
        "due_on",
        "done_on",
        "side",
        "position",
        "created_at",
    ],
    json_columns: &[],
    key: &["external_id"],
    // A milestone from outside, once stored, is the team's to change.
    on_conflict: OnConflict::Ignore,
    feeds: Feeds::Nothing,
    portfolio: false,
};

/// The `position`th milestone given, stored now.
pub(crate) fn milestone_row(position: usize, m: &NewMilestone) -> TableRow<'_> {
    row![
        &m.external_id,
        m.account_id,
        m.title.as_str(),
        m.due_on,
        m.done_on,
        m.side.as_str(),
        Value::Int(i64::try_from(position).ok()),
        time(Some(chrono::Utc::now())),
    ]
}

/// An event's values in the order of its table's columns, without allocating.
fn event_values(e: &NewEvent) -> [Value<'_>; 6] {
    [
        Value::from(e.account_id),
        Value::from(e.occurred_at.timestamp_micros()),
        Value::from(e.dedup_key),
        Value::from(e.event_type_id),
        Value::from(&e.user_ref),
        Value::from(e.value),
    ]
}

impl crate::exec::BulkRow for NewEvent {
    fn with_values<'r, T>(&'r self, bind: impl FnOnce(&[Value<'r>]) -> T) -> T {
        bind(&event_values(self))
    }
}
