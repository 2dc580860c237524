//! What the health engine reads: every account's records ([`AccountRecords`]) and its
//! usage counted as of a day ([`UsageOn`]) from the daily rollups, in a few statements
//! for all accounts (or a chosen few, when new data arrived for them).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::decode::Column;
use crate::exec::{Params, params};
use crate::sql::json;
use crate::{Store, StoreError, WriteTx};
use laer_core::Money;
use laer_core::health::recent::{ActiveUsers, RECENT_DAYS, RecentDays};
use laer_core::health::score::{Driver, PillarScores};
use laer_core::health::{AccountRecords, Assessment, HealthModel, Line, Quadrant, UsageOn, Workspace};
use laer_core::lifecycle::Phase;
use laer_core::model::{NewAuditEntry, NewOutcome, NewSupportCase, NewSurveyResponse, NewTouchpoint, TeamRole};
use laer_core::retention::day_number;

/// Which accounts: to read, or that a change touched ([`crate::Store::changes`]).
#[derive(Debug, Clone, Copy)]
pub enum Accounts<'a> {
    All,
    Only(&'a [i64]),
}

impl Accounts<'_> {
    /// Conditions on `column` that together choose these accounts, in up to `n` parts of
    /// about as many accounts each (for reads of a few hundred accounts or more, split so
    /// that each part runs on a core of its own). `ids` are the least and greatest
    /// account ids, which splits every account into ranges.
    pub(crate) fn parts(&self, column: &str, ids: Option<(i64, i64)>, n: usize) -> Vec<String> {
        const AT_LEAST: usize = 500;
        match (self, ids) {
            (Accounts::All, Some((least, greatest))) if n > 1 && greatest > least => id_ranges(least, greatest, n)
                .into_iter()
                .map(|(from, to)| format!("{column} >= {from} AND {column} < {to}"))
                .collect(),
            (Accounts::Only(ids), _) if n > 1 && ids.len() >= AT_LEAST * 2 => {
                let mut ids = ids.to_vec();
                ids.sort_unstable();
                ids.chunks(ids.len().div_ceil(n))
                    .map(|chunk| Accounts::Only(chunk).condition(column))
                    .collect()
            }
            _ => vec![self.condition(column)],
        }
    }

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

/// `n` ranges `[from, to)` of about equal width that together hold every id from `least`
/// to `greatest`, each once.
fn id_ranges(least: i64, greatest: i64, n: usize) -> Vec<(i64, i64)> {
    let n = i64::try_from(n.max(1)).unwrap_or(1);
    let width = (greatest.saturating_sub(least)) / n + 1;
    (0..n)
        .map(|i| {
            let from = least.saturating_add(i.saturating_mul(width));
            (from, from.saturating_add(width))
        })
        .collect()
}

/// The rows [`Store::health_records`] reads, one struct per statement.
mod rows {
    use chrono::NaiveDate;

    use crate::decode::Real;

    #[derive(sqlx::FromRow)]
    pub(super) struct Renewal {
        pub id: i64,
        pub renewal_date: Option<NaiveDate>,
    }

    /// An account's records of one kind, packed as JSON (`crate::sql::json`).
    #[derive(sqlx::FromRow)]
    pub(super) struct Packed {
        pub account_id: i64,
        pub records: String,
    }

    // The packed records: their fields in the order the statement packs them.

    #[derive(serde::Deserialize)]
    pub(super) struct Line {
        pub product: String,
        pub start_date: NaiveDate,
        pub end_date: Option<NaiveDate>,
        pub mrr: i64,
        pub quantity: Option<Real>,
        pub units: Option<String>,
        pub bill_period_months: i32,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Case {
        pub external_id: String,
        pub opened_at: i64,
        pub closed_at: Option<i64>,
        pub severity: i32,
        pub kind: String,
        pub status: String,
    }

    /// A touchpoint with one of its teams, or with none when it has none.
    #[derive(serde::Deserialize)]
    pub(super) struct TouchpointTeam {
        pub id: i64,
        pub external_id: String,
        pub held_at: i64,
        pub kind: String,
        pub status: String,
        pub team: Option<String>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Survey {
        pub external_id: String,
        pub contact_ref: Option<String>,
        pub survey: String,
        pub score: i32,
        pub responded_at: i64,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Cadence {
        pub stakeholder_team: String,
        pub every_days: i64,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Outcome {
        pub external_id: String,
        pub name: String,
        pub baseline: Real,
        pub target: Real,
        pub start_date: Option<NaiveDate>,
        pub target_date: Option<NaiveDate>,
        pub direction: String,
        /// `null` when none (PostgreSQL).
        pub measurements: Option<Vec<(NaiveDate, Real)>>,
    }

    /// A count per account.
    #[derive(sqlx::FromRow)]
    pub(super) struct Count {
        pub account_id: i64,
        pub n: i64,
    }

    /// A text per account: a role, a phase.
    #[derive(sqlx::FromRow)]
    pub(super) struct Text {
        pub account_id: i64,
        pub text: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct WindowUsers {
        pub account_id: i64,
        pub is_now: i64,
        pub users: i64,
        pub departments: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Health {
        pub account_id: i64,
        pub day: i64,
        pub score: Option<f64>,
        pub adoption: Option<f64>,
        pub experience: Option<f64>,
        pub engagement: Option<f64>,
        pub transformation: Option<f64>,
        pub quadrant: Option<String>,
        pub phase: String,
        pub phase_reason: String,
        pub drivers: String,
        pub next_renewal: Option<i64>,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Override {
        pub phase: String,
        pub reason: String,
        pub set_by: String,
        pub set_at: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Audit {
        pub at: i64,
        pub actor: String,
        pub action: String,
        pub details: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct Validation {
        pub computed_at: i64,
        pub report: String,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct HealthDay {
        pub day: i64,
        pub accounts: i64,
    }
}

impl Store {
    /// The records of the chosen accounts, ordered by id; support cases and survey
    /// answers only from `experience_from` on (cases opened or closed then or later: see
    /// [`laer_core::health::experience_from`]), or all of them when `None`.
    pub async fn health_records(
        &self,
        accounts: Accounts<'_>,
        today: NaiveDate,
        experience_from: Option<NaiveDate>,
    ) -> Result<Vec<AccountRecords>, StoreError> {
        let mut records = self.kept_health_records(accounts, experience_from).await?;
        let covered = self.expansion_specialists(accounts, today).await?;
        set_specialists(&mut records, &covered);
        Ok(records)
    }

    /// What [`Store::health_records`] reads that does not depend on the day: all but
    /// whether an expansion specialist covers the account
    /// ([`Store::expansion_specialists`]). Read with an earlier `experience_from`,
    /// the records give the same health as with a later one (cases and answers before it
    /// change no signal), so they can be kept from day to day; the writes that change
    /// them list their accounts under [`crate::Listed::HealthRecords`].
    pub async fn kept_health_records(
        &self,
        accounts: Accounts<'_>,
        experience_from: Option<NaiveDate>,
    ) -> Result<Vec<AccountRecords>, StoreError> {
        let only = |column: &str| accounts.condition(column);
        let from = experience_from
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(i64::MIN, |t| t.and_utc().timestamp_micros());
        let ids: Vec<rows::Renewal> = self
            .fetch_all(
                &format!("SELECT id, renewal_date FROM accounts WHERE {} ORDER BY id", only("id")),
                params![],
            )
            .await?;
        let mut records: BTreeMap<i64, AccountRecords> = ids
            .into_iter()
            .map(|r| {
                (
                    r.id,
                    AccountRecords {
                        account_id: r.id,
                        renewal_date: r.renewal_date,
                        ..AccountRecords::default()
                    },
                )
            })
            .collect();

        // Each kind of record in one statement, packed per account (crate::sql::json).
        let backend = self.backend();
        let tuple = |values: &[&str]| json::tuple(backend, values);
        let list = |item: &str, order: &str| json::list(backend, item, order);
        let real = |column: &str| json::real(backend, column);
        let packed = |table: &str, item: String, order: &str, filter: &str| {
            format!(
                "SELECT account_id, {} AS records FROM {table} WHERE {filter} AND {} GROUP BY account_id",
                list(&item, order),
                only("account_id")
            )
        };

        let lines = packed(
            "subscriptions",
            tuple(&[
                "product",
                "start_date",
                "end_date",
                "mrr",
                &real("quantity"),
                "units",
                "bill_period_months",
            ]),
            "start_date, id",
            "1 = 1",
        );
        let column = Column("subscriptions", "(records)");
        for row in self.fetch_all::<rows::Packed>(&lines, params![]).await? {
            let Some(r) = records.get_mut(&row.account_id) else {
                continue;
            };
            for l in column.packed::<rows::Line>(row.account_id, &row.records)? {
                r.lines.push(Line {
                    product: l.product,
                    start_date: l.start_date,
                    end_date: l.end_date,
                    mrr: Money::from_ten_thousandths(l.mrr),
                    quantity: l.quantity.map(|q| q.0),
                    units: l.units,
                    bill_period_months: l.bill_period_months,
                });
            }
        }

        let cases = packed(
            "support_cases",
            tuple(&["external_id", "opened_at", "closed_at", "severity", "kind", "status"]),
            "opened_at, id",
            "(opened_at >= $1 OR closed_at >= $1)",
        );
        let column = |name| Column("support_cases", name);
        for row in self.fetch_all::<rows::Packed>(&cases, params![from]).await? {
            let Some(r) = records.get_mut(&row.account_id) else {
                continue;
            };
            for c in column("(records)").packed::<rows::Case>(row.account_id, &row.records)? {
                r.relationship.cases.push(NewSupportCase {
                    external_id: c.external_id,
                    account_id: row.account_id,
                    opened_at: column("opened_at").instant(c.opened_at)?,
                    closed_at: column("closed_at").opt_instant(c.closed_at)?,
                    severity: c.severity,
                    kind: column("kind").parsed(&c.kind)?,
                    status: column("status").parsed(&c.status)?,
                    subject: None,
                });
            }
        }

        // Every touchpoint with its teams; the core decides which keep a cadence
        // (laer_core::model::NewTouchpoint::keeps_cadence). A touchpoint comes once per
        // team (once without a team when it has none), in order: joined rather than each
        // touchpoint's teams packed by a subquery, which took half as long again.
        let touchpoints = format!(
            "SELECT t.account_id, {} AS records FROM touchpoints t \
             LEFT JOIN touchpoint_teams tt ON tt.touchpoint_id = t.id WHERE {} GROUP BY t.account_id",
            list(
                &tuple(&[
                    "t.id",
                    "t.external_id",
                    "t.held_at",
                    "t.kind",
                    "t.status",
                    "tt.stakeholder_team"
                ]),
                "t.held_at, t.id, tt.stakeholder_team"
            ),
            only("t.account_id")
        );
        let column = |name| Column("touchpoints", name);
        for row in self.fetch_all::<rows::Packed>(&touchpoints, params![]).await? {
            let Some(r) = records.get_mut(&row.account_id) else {
                continue;
            };
            let mut last_id = None;
            for t in column("(records)").packed::<rows::TouchpointTeam>(row.account_id, &row.records)? {
                if last_id != Some(t.id) {
                    last_id = Some(t.id);
                    r.relationship.touchpoints.push(NewTouchpoint {
                        external_id: t.external_id,
                        account_id: row.account_id,
                        held_at: column("held_at").instant(t.held_at)?,
                        kind: column("kind").parsed(&t.kind)?,
                        purpose: None,
                        status: column("status").parsed(&t.status)?,
                        duration_minutes: None,
                        stakeholder_teams: Vec::new(),
                        contact_ids: Vec::new(),
                        team_member_ids: Vec::new(),
                        summary: None,
                        next_step: None,
                    });
                }
                if let (Some(team), Some(touchpoint)) = (t.team, r.relationship.touchpoints.last_mut()) {
                    touchpoint.stakeholder_teams.push(team);
                }
            }
        }

        let surveys = packed(
            "survey_responses",
            tuple(&["external_id", "contact_ref", "survey", "score", "responded_at"]),
            "responded_at, id",
            "responded_at >= $1",
        );
        let column = |name| Column("survey_responses", name);
        for row in self.fetch_all::<rows::Packed>(&surveys, params![from]).await? {
            let Some(r) = records.get_mut(&row.account_id) else {
                continue;
            };
            for s in column("(records)").packed::<rows::Survey>(row.account_id, &row.records)? {
                r.relationship.surveys.push(NewSurveyResponse {
                    external_id: s.external_id,
                    account_id: row.account_id,
                    contact_ref: s.contact_ref,
                    survey: column("survey").parsed(&s.survey)?,
                    score: s.score,
                    responded_at: column("responded_at").instant(s.responded_at)?,
                    comment: None,
                });
            }
        }

        // A deactivated contact no longer counts (docs/health.md).
        let contacts = packed("contacts", "stakeholder_team".into(), "id", "deactivated_at IS NULL");
        let column = Column("contacts", "(records)");
        for row in self.fetch_all::<rows::Packed>(&contacts, params![]).await? {
            let Some(r) = records.get_mut(&row.account_id) else {
                continue;
            };
            r.relationship.contact_teams = column.packed::<Option<String>>(row.account_id, &row.records)?;
        }

        let cadences = packed(
            "meeting_cadences",
            tuple(&["stakeholder_team", "every_days"]),
            "stakeholder_team",
            "1 = 1",
        );
        let column = |name| Column("meeting_cadences", name);
        for row in self.fetch_all::<rows::Packed>(&cadences, params![]).await? {
            let Some(r) = records.get_mut(&row.account_id) else {
                continue;
            };
            for c in column("(records)").packed::<rows::Cadence>(row.account_id, &row.records)? {
                let every = column("every_days").fits(c.every_days)?;
                r.relationship.cadences.insert(c.stakeholder_team, every);
            }
        }

        let measurements = json::nested_list(
            backend,
            &tuple(&["m.measured_on", &real("m.value")]),
            "FROM outcome_measurements m WHERE m.outcome_id = outcomes.id",
            "m.measured_on",
        );
        let outcomes = packed(
            "outcomes",
            tuple(&[
                "external_id",
                "name",
                &real("baseline"),
                &real("target"),
                "start_date",
                "target_date",
                "direction",
                &measurements,
            ]),
            "id",
            "1 = 1",
        );
        let column = |name| Column("outcomes", name);
        for row in self.fetch_all::<rows::Packed>(&outcomes, params![]).await? {
            let Some(r) = records.get_mut(&row.account_id) else {
                continue;
            };
            for o in column("(records)").packed::<rows::Outcome>(row.account_id, &row.records)? {
                r.relationship.outcomes.push(NewOutcome {
                    external_id: o.external_id,
                    account_id: row.account_id,
                    name: o.name,
                    unit: None,
                    baseline: o.baseline.0,
                    target: o.target.0,
                    start_date: o.start_date,
                    target_date: o.target_date,
                    direction: column("direction").parsed(&o.direction)?,
                });
                // An outcome not measured yet has no measurements.
                r.relationship.measurements.push(
                    o.measurements
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(day, value)| (day, value.0))
                        .collect(),
                );
            }
        }

        let departments: Vec<rows::Count> = self
            .fetch_all(
                &format!(
                    "SELECT account_id, COUNT(*) AS n FROM (SELECT DISTINCT account_id, department \
                     FROM product_users WHERE department IS NOT NULL AND {}) x GROUP BY account_id",
                    only("account_id")
                ),
                params![],
            )
            .await?;
        for d in departments {
            if let Some(r) = records.get_mut(&d.account_id) {
                r.departments = u32::try_from(d.n).unwrap_or(u32::MAX);
            }
        }

        let by_hand: Vec<rows::Text> = self
            .fetch_all(
                &format!(
                    "SELECT account_id, phase AS text FROM phase_overrides WHERE {}",
                    only("account_id")
                ),
                params![],
            )
            .await?;
        for row in by_hand {
            if let Some(r) = records.get_mut(&row.account_id) {
                r.set_by_hand = Some(Column("phase_overrides", "phase").parsed(&row.text)?);
            }
        }
        Ok(records.into_values().collect())
    }

    /// Of `accounts`, those an expansion specialist covers on `today`, in id order: the
    /// current coverage as [`Store::current_owners`] reads it.
    pub async fn expansion_specialists(
        &self,
        accounts: Accounts<'_>,
        today: NaiveDate,
    ) -> Result<Vec<i64>, StoreError> {
        let coverage = format!(
            "SELECT DISTINCT c.account_id FROM coverage_assignments c \
             JOIN team_members m ON m.id = c.team_member_id \
             WHERE c.since <= $1 AND (c.until IS NULL OR c.until > $1) AND c.role = $2 AND {} \
             ORDER BY c.account_id",
            accounts.condition("c.account_id")
        );
        let covered: Vec<(i64,)> = self
            .fetch_all(&coverage, params![today, TeamRole::ExpansionSpecialist.as_str()])
            .await?;
        Ok(covered.into_iter().map(|(id,)| id).collect())
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

        // Users active per window and their departments, and users ever: from each user's
        // row (first day, remembered days, department), through
        // laer_core::health::recent::ActiveUsers. Both windows lie within the 63 days a
        // user's row remembers unless the account has use after `as_of` (a day replayed)
        // or the windows are longer: then its users are counted from the day rows, each
        // active user once per window (the rollup has a row per feature and day), then
        // their departments.
        let remembered = 2 * i64::from(window_days) <= RECENT_DAYS;
        // The two large reads (users, feature days) go in parts, side by side, on SQLite;
        // PostgreSQL counts them itself, and spreads a statement over its cores as it sees
        // fit (a part would scan all of `account_users` again).
        let parts = match self.backend() {
            crate::Backend::Sqlite => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            crate::Backend::Postgres => 1,
        };
        let ids = match accounts {
            Accounts::All if parts > 1 => {
                let (least, greatest): (Option<i64>, Option<i64>) = self
                    .fetch_one("SELECT MIN(id), MAX(id) FROM accounts", params![])
                    .await?;
                least.zip(greatest)
            }
            _ => None,
        };
        let windows = (start, split, end);
        // Each account's users (active per window, and ever): SQLite hands over each
        // user's row and the core folds them; PostgreSQL counts them itself, grouped by
        // account and department, through the core's masks of the windows' days (sending
        // every row over its socket took three times as long as reading them), and the
        // core adds up the groups.
        let recent_sql: Vec<String> = accounts
            .parts("u.account_id", ids, parts)
            .into_iter()
            .map(|condition| match self.backend() {
                crate::Backend::Sqlite => format!(
                    "SELECT u.account_id, u.last_day, u.recent, u.department, u.first_day \
                     FROM account_users u WHERE {condition}"
                ),
                crate::Backend::Postgres => {
                    // The masks (one per day from `start + 1` to `end`) as two arrays
                    // indexed by a row's last day less `start`, PostgreSQL's arrays
                    // starting at 1: an index past either end is NULL and meets no user, as
                    // does every row when windows longer than the days remembered are
                    // counted from the day rows (no masks then). Indexing a constant array
                    // costs PostgreSQL less than joining a list of rows to each user's row
                    // (0.37-0.49 s against 0.60-0.78 s over 1.2 million rows on this machine).
                    let masks = if remembered {
                        ActiveUsers::masks(windows)
                    } else {
                        Vec::new()
                    };
                    debug_assert!(masks.iter().zip(start + 1..).all(|(&(day, _, _), at)| day == at));
                    // Integers of the core's: safe to write into the text.
                    let (now, before): (Vec<String>, Vec<String>) = masks
                        .iter()
                        .map(|&(_, now, before)| (now.to_string(), before.to_string()))
                        .unzip();
                    let array = |bits: Vec<String>| format!("(CAST(ARRAY[{}] AS BIGINT[]))", bits.join(", "));
                    let (now, before) = (array(now), array(before));
                    format!(
                        "SELECT u.account_id, u.department, \
                         COUNT(*) FILTER (WHERE u.recent & {now}[u.last_day - {start}] <> 0) AS now_users, \
                         COUNT(*) FILTER (WHERE u.recent & {before}[u.last_day - {start}] <> 0) AS before_users, \
                         COUNT(*) FILTER (WHERE u.first_day <= $1) AS ever, MAX(u.last_day) AS last_day \
                         FROM account_users u WHERE {condition} GROUP BY u.account_id, u.department"
                    )
                }
            })
            .collect();
        let scanned_sql = |accounts: Accounts<'_>| {
            format!(
                "SELECT w.account_id, w.is_now, COUNT(*) AS users, COUNT(DISTINCT p.department) AS departments FROM \
                 (SELECT DISTINCT u.account_id, CAST(CASE WHEN u.day > $1 THEN 1 ELSE 0 END AS BIGINT) AS is_now, \
                 u.user_ref FROM accounts a CROSS JOIN event_user_days u \
                 WHERE u.account_id = a.id AND u.day > $2 AND u.day <= $3 AND {}) w \
                 LEFT JOIN product_users p ON p.external_id = w.user_ref AND p.account_id = w.account_id \
                 GROUP BY w.account_id, w.is_now",
                accounts.condition("a.id")
            )
        };
        let users = async {
            let active = match self.backend() {
                crate::Backend::Sqlite => {
                    self.scan_parts(
                        &recent_sql,
                        params![],
                        move |active: &mut HashMap<i64, ActiveUsers>, row| {
                            let days = RecentDays {
                                last_day: row.int(1)?,
                                bits: row.int(2)?,
                            };
                            let user = (days, row.int(4)?);
                            active.entry(row.int(0)?).or_default().add(user, row.text(3)?, windows);
                            Ok(())
                        },
                    )
                    .await?
                }
                crate::Backend::Postgres => {
                    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
                    self.scan_parts(
                        &recent_sql,
                        params![end],
                        move |active: &mut HashMap<i64, ActiveUsers>, row| {
                            let users = (count(row.int(2)?), count(row.int(3)?), count(row.int(4)?));
                            active
                                .entry(row.int(0)?)
                                .or_default()
                                .add_counted(row.text(1)?, users, row.int(5)?);
                            Ok(())
                        },
                    )
                    .await?
                }
            };
            let mut counted = Vec::new();
            let mut ever = Vec::new();
            let mut later = Vec::new();
            for (account_id, users) in active.into_iter().flatten() {
                ever.push((account_id, users.ever));
                if !remembered {
                    continue;
                }
                if users.last_day > end || users.unanswered {
                    later.push(account_id);
                    continue;
                }
                for (is_now, window) in [(1, &users.now), (0, &users.before)] {
                    if window.users > 0 {
                        counted.push(rows::WindowUsers {
                            account_id,
                            is_now,
                            users: i64::from(window.users),
                            departments: i64::from(window.departments()),
                        });
                    }
                }
            }
            later.sort_unstable();
            let rescan = match (remembered, later.is_empty()) {
                (false, _) => Some(accounts),
                (true, false) => Some(Accounts::Only(&later)),
                (true, true) => None,
            };
            if let Some(rescan) = rescan {
                let scanned: Vec<rows::WindowUsers> =
                    self.fetch_all(&scanned_sql(rescan), params![split, start, end]).await?;
                counted.extend(scanned);
            }
            Ok::<_, StoreError>((counted, ever))
        };
        // Each account's rows of the windows' days, summed per feature and window. SQLite
        // reads them by their key, account by account (it would otherwise scan every day of
        // every account), and they are summed as they are read: grouping them in SQL sorts
        // every row. PostgreSQL sums them itself.
        let features_sql: Vec<String> = accounts
            .parts("a.id", ids, parts)
            .into_iter()
            .map(|condition| match self.backend() {
                crate::Backend::Sqlite => format!(
                    "SELECT a.id, d.event_type_id, CASE WHEN d.day > $3 THEN d.events ELSE 0 END, \
                     CASE WHEN d.day > $3 THEN 0 ELSE d.events END \
                     FROM accounts a CROSS JOIN event_type_days d \
                     WHERE d.account_id = a.id AND d.day > $1 AND d.day <= $2 AND {condition}"
                ),
                // By their key too, account by account: faster than scanning every day and
                // sorting the windows' rows to group them.
                crate::Backend::Postgres => format!(
                    "SELECT a.id, s.event_type_id, s.now, s.before FROM accounts a CROSS JOIN LATERAL \
                     (SELECT d.event_type_id, CAST(SUM(CASE WHEN d.day > $3 THEN d.events ELSE 0 END) AS BIGINT) AS now, \
                     CAST(SUM(CASE WHEN d.day > $3 THEN 0 ELSE d.events END) AS BIGINT) AS before \
                     FROM event_type_days d WHERE d.account_id = a.id AND d.day > $1 AND d.day <= $2 \
                     GROUP BY d.event_type_id) s WHERE {condition}"
                ),
            })
            .collect();
        // (type, events in the later window, events in the earlier), a few per account.
        let features = self.scan_parts(
            &features_sql,
            params![start, end, split],
            move |sums: &mut HashMap<i64, Vec<(i64, i64, i64)>>, row| {
                let (account_id, type_id, now, before) = (row.int(0)?, row.int(1)?, row.int(2)?, row.int(3)?);
                let sums = sums.entry(account_id).or_default();
                match sums.iter_mut().find(|s| s.0 == type_id) {
                    Some(sum) => {
                        sum.1 += now;
                        sum.2 += before;
                    }
                    None => sums.push((type_id, now, before)),
                }
                Ok(())
            },
        );
        let last_use_sql = format!(
            "SELECT a.id AS account_id, \
             (SELECT MAX(e.day) FROM event_days e WHERE e.account_id = a.id AND e.day <= $1) AS last_day \
             FROM accounts a WHERE {only}"
        );
        // Independent statements, each on a connection of its own: on several cores the
        // wait is the longest of them rather than their sum.
        let ((users, ever), features, type_names, last_use, workspace) = tokio::try_join!(
            users,
            features,
            self.fetch_all::<(i64, String)>("SELECT id, name FROM event_types", params![]),
            self.fetch_all::<(i64, Option<i64>)>(&last_use_sql, params![end]),
            self.workspace(),
        )?;
        for r in users {
            let u = usage.entry(r.account_id).or_default();
            let w = if r.is_now == 1 { &mut u.now } else { &mut u.before };
            w.active_users = u32::try_from(r.users).unwrap_or(u32::MAX);
            w.active_departments = u32::try_from(r.departments).unwrap_or(u32::MAX);
        }

        // Types of one name are one feature.
        let names: HashMap<i64, String> = type_names.into_iter().collect();
        for (account_id, sums) in features.into_iter().flatten() {
            let u = usage.entry(account_id).or_default();
            for (type_id, now, before) in sums {
                let Some(name) = names.get(&type_id) else {
                    continue;
                };
                for (w, events) in [(&mut u.now, now), (&mut u.before, before)] {
                    if events > 0 {
                        *w.events.entry(name.clone()).or_default() += events;
                    }
                }
            }
        }

        for (account_id, users) in ever {
            if users > 0 {
                usage.entry(account_id).or_default().users_ever = users;
            }
        }
        for (account_id, last_day) in last_use {
            if let Some(day) = last_day {
                // The last activity day D holds the use of calendar day D - 1.
                usage.entry(account_id).or_default().last_use_on = Some(Column("event_days", "day").day(day - 1)?);
            }
        }

        Ok((usage, workspace))
    }

    /// What the workspace as a whole says about usage: the features tracked, and whether
    /// any use is. Every account's health depends on it.
    pub async fn workspace(&self) -> Result<Workspace, StoreError> {
        let features: Vec<(String,)> = self
            .fetch_all("SELECT name FROM event_types ORDER BY name", params![])
            .await?;
        let (tracked,): (i64,) = self
            .fetch_one("SELECT COUNT(*) FROM (SELECT 1 FROM event_days LIMIT 1) x", params![])
            .await?;
        let mut features: Vec<String> = features.into_iter().map(|f| f.0).collect();
        features.dedup();
        Ok(Workspace {
            features,
            usage_tracked: tracked > 0,
        })
    }
}

/// How long a pass may hold the accounts it claimed for rescoring before another may take
/// them: far longer than rescoring every account takes (a pass that takes longer only
/// means the work is done twice), short enough that a dead node's accounts wait a minute.
pub const HEALTH_CLAIM_LEASE: TimeDelta = TimeDelta::minutes(1);

/// Accounts claimed for rescoring by one pass ([`Store::claim_health_dirty`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthClaim {
    token: i64,
    /// The claimed accounts, in id order.
    pub accounts: Vec<i64>,
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
    /// The next renewal as known that day ([`laer_core::health::inputs::next_renewal`]).
    pub next_renewal: Option<NaiveDate>,
}

/// How many accounts have their health kept for a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HealthDay {
    pub day: NaiveDate,
    pub accounts: i64,
}

/// A model's latest validation report and when it was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Validation {
    pub computed_at: chrono::DateTime<chrono::Utc>,
    pub report: serde_json::Value,
}

/// A phase set by hand.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PhaseOverride {
    pub phase: Phase,
    pub reason: String,
    pub set_by: String,
    pub set_at: chrono::DateTime<chrono::Utc>,
}

const HEALTH_COLUMNS: &str = "account_id, day, score, adoption, experience, engagement, transformation, quadrant, phase, phase_reason, drivers, \
     next_renewal";

fn health_row(h: rows::Health) -> Result<HealthRow, StoreError> {
    let column = |name| Column("health_scores", name);
    Ok(HealthRow {
        account_id: h.account_id,
        day: column("day").day(h.day)?,
        score: h.score,
        pillars: PillarScores {
            adoption: h.adoption,
            experience: h.experience,
            engagement: h.engagement,
            transformation: h.transformation,
        },
        quadrant: h.quadrant.map(|q| column("quadrant").parsed(&q)).transpose()?,
        phase: column("phase").parsed(&h.phase)?,
        phase_reason: h.phase_reason,
        drivers: column("drivers").json(&h.drivers)?,
        next_renewal: h.next_renewal.map(|d| column("next_renewal").day(d)).transpose()?,
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
        // Side by side: since both come packed per account (crate::sql::json), most of
        // the time is the database's, on connections of their own (at 10,000 accounts on
        // two cores, 1.48 s for a full recompute against 1.79 s one after the other; when
        // each row was handed over on its own, it was the other way round).
        let experience_from = laer_core::health::experience_from(as_of, &model.windows);
        let (records, (usage, workspace)) = tokio::try_join!(
            self.health_records(accounts, as_of, Some(experience_from)),
            self.usage_on(as_of, model.windows.usage_days, accounts)
        )?;
        Ok(laer_core::health::assess_each(
            model, &records, usage, &workspace, as_of,
        ))
    }

    /// Keeps these assessments as their accounts' health of their day, replacing what
    /// that day held unless it was computed from data read later: `read_at` is when the
    /// data behind them was read (before [`Store::assess`]), kept as `computed_at`. So when
    /// two nodes rescore one account at once, the later reading stays, whichever saves last.
    pub async fn save_health(&self, assessments: &[Assessment], read_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.save_health_releasing(assessments, read_at, &[]).await
    }

    /// [`Store::save_health`], releasing the claims of the pass that made the
    /// assessments in the same transaction ([`Store::release_health_claim`]): under a
    /// stream of events, each write of a pass waits its turn behind ingest on SQLite.
    pub async fn save_health_releasing(
        &self,
        assessments: &[Assessment],
        read_at: DateTime<Utc>,
        claims: &[HealthClaim],
    ) -> Result<(), StoreError> {
        if assessments.is_empty() && claims.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        if !assessments.is_empty() {
            save_health_in(&mut tx, assessments, read_at).await?;
        }
        for claim in claims {
            release_in(&mut tx, claim).await?;
        }
        tx.commit().await
    }

    /// Claims up to `limit` of the accounts whose data changed since their health was last
    /// computed and that no live pass holds: they stay marked until
    /// [`Store::release_health_claim`] after their health is saved. If the pass never
    /// ends (its node died), the claim lapses after [`HEALTH_CLAIM_LEASE`] and another pass
    /// takes them. Safe on several nodes at once: a row goes to one claim.
    pub async fn claim_health_dirty(&self, limit: i64, now: DateTime<Utc>) -> Result<HealthClaim, StoreError> {
        let mut token = [0u8; 8];
        getrandom::getrandom(&mut token).map_err(StoreError::Randomness)?;
        let token = i64::from_le_bytes(token);
        let now_s = now.timestamp();
        let until = (now + HEALTH_CLAIM_LEASE).timestamp();
        // On PostgreSQL a claim skips the rows other transactions hold (another claim, or
        // a write marking them again), so it never waits for one that may wait for it;
        // SQLite has one writer at a time. The outer condition is checked again on each
        // row as it is updated, so no row goes to two claims.
        // The engine asks several times a second: when nothing waits, a read answers
        // without taking SQLite's one writer from ingest.
        let (waiting,): (i64,) = self
            .fetch_one(
                "SELECT COUNT(*) FROM (SELECT 1 FROM health_dirty \
                 WHERE claim IS NULL OR claimed_until <= $1 LIMIT 1) x",
                params![now_s],
            )
            .await?;
        if waiting == 0 {
            return Ok(HealthClaim {
                token,
                accounts: Vec::new(),
            });
        }
        let lock = match self.backend() {
            crate::Backend::Sqlite => "",
            crate::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let mut tx = self.begin_write().await?;
        let rows: Vec<(i64,)> = tx
            .fetch_all(
                &format!(
                    "UPDATE health_dirty SET claim = $1, claimed_until = $2 \
                     WHERE account_id IN (SELECT account_id FROM health_dirty \
                                          WHERE claim IS NULL OR claimed_until <= $3 \
                                          ORDER BY account_id LIMIT $4{lock}) \
                       AND (claim IS NULL OR claimed_until <= $3) \
                     RETURNING account_id"
                ),
                params![token, until, now_s, limit],
            )
            .await?;
        tx.commit().await?;
        let mut accounts: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
        accounts.sort_unstable();
        Ok(HealthClaim { token, accounts })
    }

    /// Unmarks the claimed accounts that were not marked again since the claim (those are
    /// left for the next pass), once their health is saved.
    pub async fn release_health_claim(&self, claim: &HealthClaim) -> Result<(), StoreError> {
        // A row another transaction holds on PostgreSQL is being marked again (or, its
        // claim lapsed, claimed again): either way it must stay, so it is skipped rather
        // than waited for. Were it waited for, a writer marking several accounts could
        // hold one this waits for while waiting for one this has deleted.
        let mut tx = self.begin_write().await?;
        release_in(&mut tx, claim).await?;
        tx.commit().await
    }

    /// Marks accounts for their health to be computed again, their records unchanged
    /// (after a failed pass, whose claim this clears).
    pub async fn mark_health_dirty(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.mark_accounts_dirty(ids).await?;
        tx.commit().await
    }

    /// The last day the data is known to speak of, up to `today`
    /// ([`laer_core::health::outcome::last_known_day`]: the earlier of the last recorded
    /// use and the last start of a subscription line). Imported history may end long
    /// before today, and its lines' recorded ends may lie past its last day (a
    /// simulation's running terms), so ends do not count.
    pub async fn last_data_day(&self, today: NaiveDate) -> Result<Option<NaiveDate>, StoreError> {
        let (used,): (Option<i64>,) = self.fetch_one("SELECT MAX(day) FROM event_days", params![]).await?;
        // Activity day D holds the use of calendar day D - 1.
        let used = used.map(|d| Column("event_days", "day").day(d - 1)).transpose()?;
        let (started,): (Option<NaiveDate>,) = self
            .fetch_one(
                "SELECT MAX(start_date) FROM subscriptions WHERE start_date <= $1",
                params![today],
            )
            .await?;
        Ok(laer_core::health::outcome::last_known_day(used, started, today))
    }

    /// The first day with any recorded use, if any.
    pub async fn first_use_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        let (first,): (Option<i64>,) = self.fetch_one("SELECT MIN(day) FROM event_days", params![]).await?;
        // Activity day D holds the use of calendar day D - 1.
        first.map(|d| Column("event_days", "day").day(d - 1)).transpose()
    }

    /// Changes whenever health is saved.
    pub async fn health_revision(&self) -> Result<i64, StoreError> {
        self.revision(crate::Listed::Health).await
    }

    /// Each account's latest stored health on or before `day`.
    pub async fn health_briefs(
        &self,
        day: NaiveDate,
    ) -> Result<HashMap<i64, laer_core::portfolio::HealthBrief>, StoreError> {
        self.health_briefs_of(day, Accounts::All).await
    }

    /// The chosen accounts' latest stored health on or before `day` (those without any
    /// are absent).
    pub async fn health_briefs_of(
        &self,
        day: NaiveDate,
        accounts: Accounts<'_>,
    ) -> Result<HashMap<i64, laer_core::portfolio::HealthBrief>, StoreError> {
        Ok(self
            .latest_health_of(day, accounts)
            .await?
            .into_iter()
            .map(|(id, h)| {
                (
                    id,
                    laer_core::portfolio::HealthBrief {
                        day: h.day,
                        score: h.score,
                        phase: h.phase,
                        phase_reason: h.phase_reason,
                        quadrant: h.quadrant,
                        top_driver: laer_core::attention::top_driver(&h.drivers).cloned(),
                        next_renewal: h.next_renewal,
                    },
                )
            })
            .collect())
    }

    /// Each account's latest kept health as of `day`.
    pub async fn latest_health(&self, day: NaiveDate) -> Result<HashMap<i64, HealthRow>, StoreError> {
        self.latest_health_of(day, Accounts::All).await
    }

    async fn latest_health_of(
        &self,
        day: NaiveDate,
        accounts: Accounts<'_>,
    ) -> Result<HashMap<i64, HealthRow>, StoreError> {
        // Each account's latest day from the key's index, then that row: a subquery per
        // stored row instead took 8 times as long (357 vs 44 ms for 10,000 accounts with
        // 13 kept days each, SQLite).
        let sql = format!(
            "SELECT {HEALTH_COLUMNS} FROM (SELECT account_id, MAX(day) AS day FROM health_scores WHERE day <= $1 \
             AND {} GROUP BY account_id) latest JOIN health_scores USING (account_id, day)",
            accounts.condition("account_id")
        );
        let rows: Vec<rows::Health> = self.fetch_all(&sql, params![day_number(day)]).await?;
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
            "SELECT {HEALTH_COLUMNS} FROM health_scores WHERE account_id = $1 AND day >= $2 AND day <= $3 ORDER BY day"
        );
        let rows: Vec<rows::Health> = self
            .fetch_all(&sql, params![account_id, day_number(from), day_number(to)])
            .await?;
        rows.into_iter().map(health_row).collect()
    }

    /// The days on which health was kept for every account (the backfill looks for gaps).
    pub async fn health_days(&self) -> Result<Vec<HealthDay>, StoreError> {
        let rows: Vec<rows::HealthDay> = self
            .fetch_all(
                "SELECT day, COUNT(*) AS accounts FROM health_scores GROUP BY day ORDER BY day",
                params![],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(HealthDay {
                    day: Column("health_scores", "day").day(r.day)?,
                    accounts: r.accounts,
                })
            })
            .collect()
    }

    /// The phase set by hand on an account, if any.
    pub async fn phase_override(&self, account_id: i64) -> Result<Option<PhaseOverride>, StoreError> {
        let row: Option<rows::Override> = self
            .fetch_optional(
                "SELECT phase, reason, set_by, set_at FROM phase_overrides WHERE account_id = $1",
                params![account_id],
            )
            .await?;
        row.map(|o| {
            Ok(PhaseOverride {
                phase: Column("phase_overrides", "phase").parsed(&o.phase)?,
                reason: o.reason,
                set_by: o.set_by,
                set_at: Column("phase_overrides", "set_at").instant(o.set_at)?,
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
                tx.execute(
                    "INSERT INTO phase_overrides (account_id, phase, reason, set_by, set_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (account_id) DO UPDATE SET phase = excluded.phase, reason = excluded.reason, \
                     set_by = excluded.set_by, set_at = excluded.set_at",
                    params![account_id, phase.as_str(), reason, actor, now.timestamp_micros()],
                )
                .await?;
            }
            None => {
                tx.execute("DELETE FROM phase_overrides WHERE account_id = $1", params![account_id])
                    .await?;
            }
        }
        tx.mark_health_dirty(crate::sql::Feeds::Account, &[account_id]).await?;
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
                "SELECT at, actor, action, details FROM audit_entries WHERE account_id = $1 ORDER BY at DESC, id DESC"
            }
            crate::Backend::Postgres => {
                "SELECT at, actor, action, CAST(details AS TEXT) AS details FROM audit_entries \
                 WHERE account_id = $1 ORDER BY at DESC, id DESC"
            }
        };
        let rows: Vec<rows::Audit> = self.fetch_all(sql, params![account_id]).await?;
        rows.into_iter()
            .map(|a| {
                Ok(NewAuditEntry {
                    at: Column("audit_entries", "at").instant(a.at)?,
                    actor: a.actor,
                    action: a.action,
                    details: Column("audit_entries", "details").json(&a.details)?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Keeps a validation report of a model (JSON), replacing older ones of that model.
    pub async fn save_validation(&self, model: &str, report: &serde_json::Value) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.execute("DELETE FROM health_validations WHERE model = $1", params![model])
            .await?;
        tx.execute(
            "INSERT INTO health_validations (model, computed_at, report) VALUES ($1, $2, $3)",
            params![model, chrono::Utc::now().timestamp_micros(), report.to_string()],
        )
        .await?;
        tx.commit().await
    }

    /// The latest validation of a model and when it was made.
    pub async fn validation_of(&self, model: &str) -> Result<Option<Validation>, StoreError> {
        let row: Option<rows::Validation> = self
            .fetch_optional(
                "SELECT computed_at, report FROM health_validations WHERE model = $1 ORDER BY id DESC LIMIT 1",
                params![model],
            )
            .await?;
        row.map(|v| {
            Ok(Validation {
                computed_at: Column("health_validations", "computed_at").instant(v.computed_at)?,
                report: Column("health_validations", "report").json(&v.report)?,
            })
        })
        .transpose()
    }
}

/// Sets whether an expansion specialist covers each of `records`: those in `covered`
/// ([`Store::expansion_specialists`], in id order).
pub(crate) fn set_specialists<'a>(records: impl IntoIterator<Item = &'a mut AccountRecords>, covered: &[i64]) {
    for r in records {
        r.expansion_specialist = covered.binary_search(&r.account_id).is_ok();
    }
}

/// Upserts the assessments in `tx` ([`Store::save_health`]).
async fn save_health_in(
    tx: &mut WriteTx,
    assessments: &[Assessment],
    read_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = read_at.timestamp_micros();
    for chunk in assessments.chunks(500) {
        let sql = format!(
            "INSERT INTO health_scores ({HEALTH_COLUMNS}, computed_at) VALUES {} \
             ON CONFLICT (account_id, day) DO UPDATE SET score = excluded.score, adoption = excluded.adoption, \
             experience = excluded.experience, engagement = excluded.engagement, \
             transformation = excluded.transformation, quadrant = excluded.quadrant, phase = excluded.phase, \
             phase_reason = excluded.phase_reason, drivers = excluded.drivers, \
             next_renewal = excluded.next_renewal, computed_at = excluded.computed_at \
             WHERE health_scores.computed_at <= excluded.computed_at",
            crate::exec::tuples(chunk.len(), 13)
        );
        let mut p = Params::with_capacity(chunk.len() * 13);
        for a in chunk {
            let h = &a.health;
            p.push(a.account_id);
            p.push(day_number(a.as_of));
            p.push(h.score);
            p.push(h.pillars.adoption);
            p.push(h.pillars.experience);
            p.push(h.pillars.engagement);
            p.push(h.pillars.transformation);
            p.push(h.quadrant.map(|q| q.as_str()));
            p.push(a.phase.phase.as_str());
            p.push(&a.phase.reason);
            p.push(stored_drivers(&h.drivers));
            p.push(a.next_renewal().map(day_number));
            p.push(now);
        }
        tx.execute(&sql, p).await?;
    }
    // Which accounts this save changed, for the pages' kept health (Store::changes).
    let accounts: Vec<i64> = assessments.iter().map(|a| a.account_id).collect();
    tx.bump_listed(crate::Listed::Health, Accounts::Only(&accounts)).await?;
    Ok(())
}

/// `drivers` as `health_scores.drivers` keeps them: each an array of its fields in
/// [`Driver`]'s order, which serde reads back as it reads an object (rows saved before
/// 2026-12-07 hold objects). Half the bytes of objects: about 1 KB a row where objects
/// took 2 KB, which PostgreSQL compressed as it wrote them.
fn stored_drivers(drivers: &[Driver]) -> String {
    let fields: Vec<_> = drivers
        .iter()
        .map(|d| (&d.measure, d.pillar, d.value, d.score, d.contribution, d.possible))
        .collect();
    serde_json::to_string(&fields).unwrap_or_else(|_| "[]".into())
}

/// Deletes the marks `claim` holds that were not made again since, in `tx`
/// ([`Store::release_health_claim`]).
async fn release_in(tx: &mut WriteTx, claim: &HealthClaim) -> Result<(), StoreError> {
    let lock = match tx.backend() {
        crate::Backend::Sqlite => "",
        crate::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    tx.execute(
        &format!(
            "DELETE FROM health_dirty WHERE account_id IN \
             (SELECT account_id FROM health_dirty WHERE claim = $1{lock}) AND claim = $1"
        ),
        params![claim.token],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_are_read_back_as_stored_and_as_stored_before() {
        let drivers = vec![
            Driver {
                measure: "utilisation".into(),
                pillar: laer_core::health::Pillar::Adoption,
                value: 0.526_315_789_473_684_2,
                score: 54.385_964_912_280_684,
                contribution: 3.559_808_612_440_19,
                possible: 6.545_454_545_454_545,
            },
            Driver {
                measure: "nps".into(),
                pillar: laer_core::health::Pillar::Experience,
                value: -25.0,
                score: 0.0,
                contribution: 0.0,
                possible: 5.142_857_142_857_142,
            },
        ];
        let stored = stored_drivers(&drivers);
        assert!(
            stored.starts_with(r#"[["utilisation","adoption",0.5263157894736842,"#),
            "{stored}"
        );
        let read: Vec<Driver> = Column("health_scores", "drivers").json(&stored).unwrap();
        assert_eq!(read, drivers);
        // As objects, the way rows were kept before.
        let before = serde_json::to_string(&drivers).unwrap();
        assert!(before.len() > stored.len() * 3 / 2);
        let read: Vec<Driver> = Column("health_scores", "drivers").json(&before).unwrap();
        assert_eq!(read, drivers);
    }

    #[test]
    fn id_ranges_hold_every_id_once() {
        for (least, greatest) in [(1, 2), (1, 10), (5, 10_004), (-3, 7), (1, 1)] {
            for n in 1..6 {
                let ranges = id_ranges(least, greatest, n);
                assert_eq!(ranges.len(), n);
                for id in least..=greatest {
                    let holding = ranges.iter().filter(|(from, to)| *from <= id && id < *to).count();
                    assert_eq!(holding, 1, "{id} in {ranges:?}");
                }
            }
        }
    }
}
