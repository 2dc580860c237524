//! Stores the demo company (`laer_demo`) and gives its team logins, so that a
//! newcomer sees a living customer base the moment laer starts.

use std::collections::HashMap;

use chrono::{NaiveDate, TimeDelta};
use laer_core::access::Role;
use laer_core::health::HealthModel;
use laer_core::model::TaskStatus;
use laer_core::model::{NewCoverageAssignment, NewEvent, NewMeetingCadence, TeamRole};
use laer_demo::{DemoCompany, DemoConfig, generate_records};
use laer_store::{AutomationOutcome, EventLoad, IdLookup, Store, StoreError, TaskChange, TaskFilter, WriteTx};

use crate::automation::Automation;

use crate::auth::hash_password;

/// The demo administrator's login.
pub const DEMO_ADMIN: &str = "admin@demo.laer";

/// What the demo put in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLoad {
    pub accounts: usize,
    pub events: u64,
    /// (email, role) of every login it created, the administrator first.
    pub logins: Vec<(String, Role)>,
    /// What replaying the coverage model and the playbooks over the history did.
    pub automation: AutomationOutcome,
}

/// Weeks of history the coverage model and the playbooks are replayed over.
pub const REPLAY_WEEKS: i64 = 26;
/// Tasks due this many days before today or earlier are done: the demo team works.
const DONE_AFTER_DAYS: i64 = 7;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the demo company refers to {0}, which it does not hold")]
    Dangling(String),
    #[error("cannot hash the demo password: {0}")]
    Password(String),
    #[error("the demo company's meeting cadence is invalid: {0}")]
    Cadence(#[from] laer_core::model::CadenceError),
}

/// The login role of a team member with these coverage roles.
fn login_role(roles: &[TeamRole]) -> Role {
    let has = |r: TeamRole| roles.contains(&r);
    if has(TeamRole::Admin) {
        Role::Admin
    } else if has(TeamRole::CsLeader) || has(TeamRole::CsOps) {
        Role::Leader
    } else if has(TeamRole::RenewalSpecialist) {
        Role::Renewal
    } else if has(TeamRole::ExpansionSpecialist) {
        Role::Expansion
    } else if has(TeamRole::Csm) {
        Role::Csm
    } else {
        Role::Sales
    }
}

/// Generates the demo company for `config` and stores its records in one transaction,
/// then its events account by account, committed every [`EVENTS_PER_COMMIT`] (so that a
/// large company's write-ahead log is checkpointed as it goes rather than growing to
/// the size of the database); then adds a login for the administrator and for every
/// team member, all with `password` — there is no shared default: `laer demo` and
/// `laer serve --demo` make a random one (`logins::random_password`) and print it once;
/// tests pass their own. Marks the workspace as the demo's, so that every page says so.
/// Storing it again changes nothing but the logins' password.
pub async fn load(
    store: &Store,
    config: &DemoConfig,
    model: &HealthModel,
    password: &str,
) -> Result<DemoLoad, DemoError> {
    load_committing_every(store, config, model, password, EVENTS_PER_COMMIT).await
}

/// [`load`], committing the events every `events_per_commit` (tests commit often).
pub async fn load_committing_every(
    store: &Store,
    config: &DemoConfig,
    model: &HealthModel,
    password: &str,
    events_per_commit: usize,
) -> Result<DemoLoad, DemoError> {
    let batch_size = events_per_commit.clamp(1, 50_000);
    let (company, usage) = generate_records(config);
    // Once the rules have run over the demo, coverage is theirs: loading the demo again
    // must not bring back what they ended.
    let replayed = !store.playbook_counts().await?.is_empty();
    let mut tx = store.begin_write().await?;
    let ids = store_records(&mut tx, &company, (!replayed).then_some(config.today)).await?;
    tx.commit().await?;
    let mut events: u64 = 0;
    // Events go in as an import's do: in batches, added to the daily rollups as they go
    // (SQLite) or at each commit (PostgreSQL; see `WriteTx::load_events`). Stored again,
    // a company adds only the events it lacks.
    let mut tx = store.begin_write().await?;
    let mut load = EventLoad::default();
    let mut in_tx: usize = 0;
    let mut pending: Vec<NewEvent> = Vec::new();
    for account in 0..usage.accounts() {
        let Some(&account_id) = ids.accounts.get(account) else {
            continue;
        };
        let mut batch: Vec<NewEvent> = usage.events_of(account);
        for e in &mut batch {
            e.account_id = account_id;
            e.event_type_id = lookup(&ids.event_types, e.event_type_id, "an event type")?;
        }
        events += batch.len() as u64;
        pending.extend(batch);
        if pending.len() >= batch_size {
            in_tx += pending.len();
            tx.load_events(&mut load, std::mem::take(&mut pending)).await?;
            if in_tx >= events_per_commit {
                tx.finish_event_load(std::mem::take(&mut load)).await?;
                tx.commit().await?;
                tx = store.begin_write().await?;
                in_tx = 0;
            }
        }
    }
    tx.load_events(&mut load, pending).await?;
    tx.finish_event_load(load).await?;
    tx.commit().await?;
    drop(usage);
    // The oracle: each renewal decision's true chance of churn (docs/forecasts.md).
    let mut oracle = Vec::new();
    for (account, profile) in company.profiles.iter().enumerate() {
        let account_id = lookup(&ids.accounts, account as i64, "an account")?;
        oracle.extend(
            profile
                .renewal_decisions
                .iter()
                .map(|d| (account_id, d.on, d.churn_probability)),
        );
    }
    store.save_demo_oracle(&oracle).await?;

    store.mark_demo_workspace().await?;
    let hash = hash_password(password).map_err(DemoError::Password)?;
    let mut logins = vec![(DEMO_ADMIN.to_string(), Role::Admin)];
    store
        .upsert_user(DEMO_ADMIN, "Demo Admin", Role::Admin, &hash, None)
        .await?;
    for (member, record) in company.team.iter().enumerate() {
        let Some(email) = &record.email else { continue };
        let role = login_role(record.roles.as_deref().unwrap_or_default());
        let member_id = ids.team.get(member).copied();
        store.upsert_user(email, &record.name, role, &hash, member_id).await?;
        logins.push((email.clone(), role));
    }
    let accounts = company.accounts.len();
    // The replay assesses every account weekly: the records need not be held beside it.
    drop(company);
    let automation = if replayed {
        AutomationOutcome::default()
    } else {
        replay_automation(store, config.today, model).await?
    };
    Ok(DemoLoad {
        accounts,
        events,
        logins,
        automation,
    })
}

/// Runs the shipped coverage model and playbooks weekly over the last half year, so
/// that owners follow the phases and the work queues hold what the playbooks would have
/// created; the tasks due more than a week ago were done by their assignees, on their
/// due day.
async fn replay_automation(
    store: &Store,
    today: NaiveDate,
    model: &HealthModel,
) -> Result<AutomationOutcome, DemoError> {
    let from = replay_start(today);
    let outcome = crate::automation::replay(store, model, &Automation::default(), from, today, 7).await?;
    let past = TaskFilter {
        status: Some(TaskStatus::Open),
        ..Default::default()
    };
    let done_before = today - TimeDelta::days(DONE_AFTER_DAYS);
    for task in store.tasks(&past, today).await? {
        if let Some(due) = task.due_on.filter(|d| *d < done_before) {
            let actor = task.assignee.as_deref().unwrap_or("demo team");
            // On its due day, as a working team would have: success plans show what
            // changed after each piece of work.
            store.update_task(task.id, &TaskChange::DoneOn(due), actor).await?;
        }
    }
    Ok(outcome)
}

/// Events stored in one transaction of [`load`]: SQLite's write-ahead log holds at most
/// about one such transaction's pages, since the store empties it between commits.
pub const EVENTS_PER_COMMIT: usize = 1_000_000;

fn replay_start(today: NaiveDate) -> NaiveDate {
    today - TimeDelta::weeks(REPLAY_WEEKS)
}

/// laer ids by the demo's indices.
struct Ids {
    accounts: Vec<i64>,
    team: Vec<i64>,
    event_types: Vec<i64>,
}

fn lookup(ids: &[i64], index: i64, what: &str) -> Result<i64, DemoError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| ids.get(i).copied())
        .ok_or_else(|| DemoError::Dangling(format!("{what} #{index}")))
}

fn ids_of(
    by_external_id: &HashMap<String, i64>,
    external_ids: impl Iterator<Item = String>,
) -> Result<Vec<i64>, DemoError> {
    external_ids
        .map(|x| by_external_id.get(&x).copied().ok_or(DemoError::Dangling(x)))
        .collect()
}

/// Stores the company; its simulated coverage too unless `coverage_until` is `None`.
async fn store_records(tx: &mut WriteTx, c: &DemoCompany, coverage_until: Option<NaiveDate>) -> Result<Ids, DemoError> {
    tx.upsert(&c.accounts).await?;
    tx.upsert(&c.team).await?;
    tx.upsert(&c.event_types).await?;
    let ids = Ids {
        accounts: ids_of(
            &tx.id_lookup(IdLookup::Accounts).await?,
            c.accounts.iter().map(|a| a.external_id.clone()),
        )?,
        team: ids_of(
            &tx.id_lookup(IdLookup::TeamMembers).await?,
            c.team.iter().map(|t| t.external_id.clone()),
        )?,
        event_types: ids_of(
            &tx.id_lookup(IdLookup::EventTypesByExternalId).await?,
            c.event_types.iter().map(|t| t.external_id.clone()),
        )?,
    };
    let account = |i: i64| lookup(&ids.accounts, i, "an account");
    macro_rules! with_account {
        ($rows:expr) => {
            $rows
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.account_id = account(r.account_id)?;
                    Ok::<_, DemoError>(r)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
    }
    tx.upsert(&with_account!(c.contacts)).await?;
    tx.upsert(&with_account!(c.product_users)).await?;
    tx.upsert(&with_account!(c.subscriptions)).await?;
    tx.upsert(&with_account!(c.support_cases)).await?;
    let contact_ids = ids_of(
        &tx.id_lookup(IdLookup::Contacts).await?,
        c.contacts.iter().map(|x| x.external_id.clone()),
    )?;
    let mut meetings = with_account!(c.meetings);
    for m in &mut meetings {
        m.contact_ids = m
            .contact_ids
            .iter()
            .map(|&i| lookup(&contact_ids, i, "a contact"))
            .collect::<Result<_, _>>()?;
    }
    tx.upsert(&meetings).await?;
    let mut cadences = Vec::new();
    for (account, profile) in c.profiles.iter().enumerate() {
        let account_id = lookup(&ids.accounts, account as i64, "an account")?;
        for (team, days) in &profile.meeting_cadence_days {
            cadences.push(NewMeetingCadence::new(account_id, team, i64::from(*days))?);
        }
    }
    tx.upsert(&cadences).await?;
    tx.upsert(&with_account!(c.survey_responses)).await?;
    tx.upsert(&with_account!(c.outcomes)).await?;
    let outcome_ids = ids_of(
        &tx.id_lookup(IdLookup::Outcomes).await?,
        c.outcomes.iter().map(|o| o.external_id.clone()),
    )?;
    let measurements = c
        .outcome_measurements
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.outcome_id = lookup(&outcome_ids, m.outcome_id, "an outcome")?;
            Ok(m)
        })
        .collect::<Result<Vec<_>, DemoError>>()?;
    tx.upsert(&measurements).await?;
    tx.upsert_milestones(&with_account!(c.milestones)).await?;
    // The simulated coverage is the history before laer's own rules take over (the
    // replay): what it decided later is left to them.
    let Some(today) = coverage_until else { return Ok(ids) };
    let rules_from = replay_start(today);
    let coverage = c
        .coverage
        .iter()
        .filter(|a| a.since < rules_from)
        .map(|a| {
            Ok(NewCoverageAssignment {
                account_id: lookup(&ids.accounts, a.account as i64, "an account")?,
                team_member_id: lookup(&ids.team, a.member as i64, "a team member")?,
                role: a.role,
                since: a.since,
                until: a.until.filter(|u| *u < rules_from),
                reason: a.reason.clone(),
            })
        })
        .collect::<Result<Vec<_>, DemoError>>()?;
    tx.upsert(&coverage).await?;
    Ok(ids)
}
