//! Runs the coverage model and the playbooks over assessed accounts and records what they
//! decide. The health engine calls it after each rescoring; `laer demo` replays it over
//! the demo company's history. Reference: docs/automation.md.

use chrono::{NaiveDate, TimeDelta};
use laer_core::automation::coverage::{CoverageError, handoff_task};
use laer_core::automation::playbook::PlaybookError;
use laer_core::automation::playbook::fold_handoff;
use laer_core::automation::preview::{Decided, Preview};
use laer_core::automation::{AccountFacts, CoverageChange, CoverageRules, Playbooks};
use laer_core::health::{Assessment, HealthModel};
use laer_store::{AccountPlan, Accounts, AutomationOutcome, PlannedChange, Store, StoreError};

/// The settings names the admin pages and the CLI save the rules under.
pub const COVERAGE_SETTING: &str = "coverage";
pub const PLAYBOOKS_SETTING: &str = "playbooks";

/// Who records automated decisions in the audit log.
pub const ACTOR: &str = "automation";

#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Coverage(#[from] CoverageError),
    #[error(transparent)]
    Playbooks(#[from] PlaybookError),
}

/// The coverage rules and playbooks in effect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Automation {
    pub coverage: CoverageRules,
    pub playbooks: Playbooks,
}

impl Automation {
    /// As saved (`laer coverage rules --set`, `laer playbooks set`, the admin pages), else
    /// the shipped defaults. Every node reads the same.
    pub async fn in_effect(store: &Store) -> Result<Automation, AutomationError> {
        let coverage = match store.setting(COVERAGE_SETTING).await? {
            Some(s) => CoverageRules::from_toml(&s.body)?,
            None => CoverageRules::default(),
        };
        let playbooks = match store.setting(PLAYBOOKS_SETTING).await? {
            Some(s) => Playbooks::from_toml(&s.body)?,
            None => Playbooks::default(),
        };
        Ok(Automation { coverage, playbooks })
    }
}

/// A playbook as lists show it, with its runs and open work.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlaybookSummary {
    pub name: String,
    pub title: String,
    pub description: String,
    pub enabled: bool,
    /// Its conditions, as text: `utilisation < 0.4 and tenure_days >= 60`.
    pub trigger: String,
    pub once_per: laer_core::automation::playbook::OncePer,
    /// The roles its tasks are for.
    pub roles: Vec<laer_core::model::TeamRole>,
    pub runs: i64,
    pub open_episodes: i64,
    pub open_tasks: i64,
}

/// The playbooks in effect with their counts.
pub async fn playbook_summaries(store: &Store, automation: &Automation) -> Result<Vec<PlaybookSummary>, StoreError> {
    let counts = store.playbook_counts().await?;
    Ok(automation
        .playbooks
        .playbooks
        .iter()
        .map(|p| {
            let laer_store::PlaybookCounts {
                runs,
                open_runs: open_episodes,
                open_tasks,
            } = counts.get(&p.name).copied().unwrap_or_default();
            PlaybookSummary {
                name: p.name.clone(),
                title: p.title.clone(),
                description: p.description.clone(),
                enabled: p.enabled,
                trigger: trigger_text(&p.when),
                once_per: p.once_per,
                roles: {
                    let mut roles: Vec<_> = p.tasks.iter().map(|t| t.role).collect();
                    roles.dedup();
                    roles
                },
                runs,
                open_episodes,
                open_tasks,
            }
        })
        .collect())
}

/// Conditions as text: `health < 50 and days_to_renewal <= 120`.
pub fn trigger_text(when: &[laer_core::automation::Clause]) -> String {
    when.iter()
        .map(|c| {
            let mut parts = vec![c.signal.clone()];
            for (bound, word) in [(c.below, "<"), (c.at_most, "<="), (c.above, ">"), (c.at_least, ">=")] {
                if let Some(b) = bound {
                    parts.push(format!("{word} {b}"));
                }
            }
            parts.join(" ")
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// What coverage and playbooks decide for the assessed accounts (all assessed on one
/// day), with the state they were decided against; nothing is written.
struct Decisions {
    day: chrono::NaiveDate,
    names: std::collections::HashMap<i64, String>,
    team: Vec<laer_core::automation::Member>,
    plans: Vec<AccountPlan>,
}

async fn decide(
    store: &Store,
    automation: &Automation,
    assessments: &[Assessment],
) -> Result<Option<Decisions>, StoreError> {
    let Some(day) = assessments.first().map(|a| a.as_of) else {
        return Ok(None);
    };
    let ids: Vec<i64> = assessments.iter().map(|a| a.account_id).collect();
    // A few accounts after their data changed, or everyone when the day turns.
    let chosen = if ids.len() > 1_000 {
        Accounts::All
    } else {
        Accounts::Only(&ids)
    };
    let (
        names,
        laer_store::CoverageState {
            team,
            holders,
            mut books,
        },
        open,
    ) = tokio::try_join!(
        store.account_names_of(chosen),
        store.coverage_state(day, chosen),
        store.open_runs(chosen),
    )?;
    let names: std::collections::HashMap<i64, String> = names
        .into_iter()
        .map(|(id, n)| (id, n.name.unwrap_or(n.external_id)))
        .collect();
    let plans: Vec<AccountPlan> = assessments
        .iter()
        .map(|a| {
            let name = names.get(&a.account_id).cloned().unwrap_or_default();
            let mut facts = AccountFacts::of(a, &name);
            facts.tech_touch = automation.coverage.is_tech_touch(&facts);
            let current = holders.get(&a.account_id).map(Vec::as_slice).unwrap_or(&[]);
            let open_runs = open.get(&a.account_id).map(Vec::as_slice).unwrap_or(&[]);
            let mut runs = automation.playbooks.evaluate(&facts, open_runs);
            let coverage = automation
                .coverage
                .plan(&facts, current, &team, &mut books)
                .into_iter()
                .map(|change| {
                    let handoff = match &change {
                        // One task per person and trigger: a playbook's task for the
                        // same role today carries the hand-off.
                        CoverageChange::Start { role, reason, .. } => fold_handoff(
                            handoff_task(*role, reason, &facts, automation.coverage.handoff_due_days),
                            &mut runs,
                        ),
                        _ => None,
                    };
                    PlannedChange { change, handoff }
                })
                .collect();
            AccountPlan {
                account_id: a.account_id,
                coverage,
                runs,
            }
        })
        .collect();
    Ok(Some(Decisions {
        day,
        names,
        team,
        plans,
    }))
}

/// Decides coverage and playbooks for the assessed accounts (all assessed on one day)
/// and records it; with `deliver`, their emails and webhook events are queued too.
pub async fn run(
    store: &Store,
    automation: &Automation,
    assessments: &[Assessment],
    deliver: bool,
) -> Result<AutomationOutcome, StoreError> {
    match decide(store, automation, assessments).await? {
        Some(d) => store.apply_automation(d.day, &d.plans, ACTOR, deliver).await,
        None => Ok(AutomationOutcome::default()),
    }
}

/// What applying `automation` to every account as `model` assesses it on `day` would
/// change (`laer_core::automation::preview`), and the team it would assign from;
/// nothing is written. The settings pages show it before anything is applied or saved.
pub async fn preview(
    store: &Store,
    model: &HealthModel,
    automation: &Automation,
    day: NaiveDate,
) -> Result<(Preview, Vec<laer_core::automation::Member>), StoreError> {
    let assessments = store.assess(model, day, Accounts::All).await?;
    let Some(d) = decide(store, automation, &assessments).await? else {
        return Ok((Preview::default(), Vec::new()));
    };
    let recorded = store.recorded_runs(Accounts::All).await?;
    let coverage: Vec<Vec<CoverageChange>> = d
        .plans
        .iter()
        .map(|p| p.coverage.iter().map(|c| c.change.clone()).collect())
        .collect();
    let decided = d.plans.iter().zip(&coverage).map(|(p, coverage)| Decided {
        account_id: p.account_id,
        account: d.names.get(&p.account_id).map_or("", String::as_str),
        coverage,
        handoffs: p.coverage.iter().filter(|c| c.handoff.is_some()).count(),
        runs: &p.runs,
    });
    let preview = Preview::of(decided, |account, playbook, cause| {
        recorded.contains(&(account, playbook.to_string(), cause.to_string()))
    });
    Ok((preview, d.team))
}

/// `laer coverage apply` and the coverage settings page's Apply: decides coverage and
/// playbooks for every account as `model` assesses it on `day`, with the rules in effect,
/// and records it, emails and webhooks queued. `None` when there is no account.
pub async fn apply_to_all(
    store: &Store,
    model: &HealthModel,
    day: NaiveDate,
) -> Result<Option<AutomationOutcome>, AutomationError> {
    let automation = Automation::in_effect(store).await?;
    let assessments = store.assess(model, day, Accounts::All).await?;
    if assessments.is_empty() {
        return Ok(None);
    }
    Ok(Some(run(store, &automation, &assessments, true).await?))
}

/// Replays coverage and playbooks every `step_days` from `from` to `to`, as if laer had
/// run all along: owners change on the day the rules say, and playbooks fire on the day
/// their cause arose. Nobody is told: no email or webhook is queued for the past.
pub async fn replay(
    store: &Store,
    model: &HealthModel,
    automation: &Automation,
    from: NaiveDate,
    to: NaiveDate,
    step_days: i64,
) -> Result<AutomationOutcome, StoreError> {
    let mut outcome = AutomationOutcome::default();
    let mut day = from;
    while day <= to {
        let assessments = store.assess(model, day, Accounts::All).await?;
        outcome += run(store, automation, &assessments, false).await?;
        if day == to {
            break;
        }
        day = (day + TimeDelta::days(step_days.max(1))).min(to);
    }
    Ok(outcome)
}
