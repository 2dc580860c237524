//! Playbooks: a condition over an account's signals and the tasks it starts. Each fires
//! once per cause: once per episode of its condition (it fires again only after the
//! condition stopped holding for `settle_days`), or once per renewal or landing.
//! Definitions: docs/automation.md.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::coverage::role_label;
use super::facts::{AccountFacts, Clause, all_hold, context_summary, days_after, evidence, in_words, lower_first};
use crate::chat::{ChatMessage, Item, Link, Section};
use crate::lifecycle::Phase;
use crate::model::TeamRole;

/// The shipped playbooks.
pub const DEFAULT_PLAYBOOKS: &str = include_str!("default-playbooks.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbooks {
    pub playbooks: Vec<Playbook>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Stable identifier: lower-case letters, digits and `-`; runs and tasks refer to it.
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub phases: Vec<Phase>,
    #[serde(default)]
    pub segments: Vec<String>,
    /// Every clause must hold for the playbook to fire.
    pub when: Vec<Clause>,
    #[serde(default)]
    pub once_per: OncePer,
    /// Days the condition must stop holding before an episode ends (and a new one can
    /// fire).
    #[serde(default = "settle_days")]
    pub settle_days: u32,
    #[serde(default)]
    pub tasks: Vec<TaskTemplate>,
    #[serde(default)]
    pub emails: Vec<EmailTemplate>,
    /// Messages to Slack or Teams (chat hooks, by name) when it fires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chats: Vec<ChatTemplate>,
}

fn yes() -> bool {
    true
}

fn settle_days() -> u32 {
    14
}

/// What makes one firing different from the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OncePer {
    /// Once each time the condition starts holding.
    #[default]
    Episode,
    /// Once per renewal date while the condition holds.
    Renewal,
    /// Once per landing while the condition holds.
    Landing,
}

/// A task a playbook creates; `{account}`, `{renewal_on}` and `{landed_on}` in the
/// title are replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    pub role: TeamRole,
    pub title: String,
    #[serde(default)]
    pub due_days: u32,
    #[serde(default)]
    pub steps: Vec<String>,
    /// Created for tech-touch accounts too (they get no tasks otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tech_touch: bool,
}

/// An email a playbook sends when it fires; `{account}`, `{renewal_on}` and
/// `{landed_on}` in the subject and body are replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplate {
    pub to: Recipient,
    pub subject: String,
    pub body: String,
    /// Sent only for tech-touch accounts (named owners reach out themselves).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tech_touch_only: bool,
}

/// A message to a chat hook (`laer chat add`, Admin → Chat) when the playbook fires: the
/// playbook, the account, why, and the tasks it made, with `text` (the same placeholders
/// as an email's) as its first line when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatTemplate {
    /// The hook's name.
    pub to: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Posted only for tech-touch accounts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tech_touch_only: bool,
}

/// A chat message of a firing, for the hook named `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatDraft {
    pub to: String,
    pub message: ChatMessage,
}

/// Who an email goes to: `owner:ROLE` (whoever covers the account in the role),
/// `contacts` (the account's contacts with an email) or `contacts:TEAM` (those of one
/// stakeholder team).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Owner(TeamRole),
    Contacts(Option<String>),
}

impl std::str::FromStr for Recipient {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("owner", role)) => role.parse().map(Recipient::Owner).map_err(|e| format!("owner: {e}")),
            Some(("contacts", team)) if !team.trim().is_empty() => {
                Ok(Recipient::Contacts(Some(team.trim().to_string())))
            }
            None if s == "contacts" => Ok(Recipient::Contacts(None)),
            _ => Err(format!("expected owner:ROLE, contacts or contacts:TEAM, found {s:?}")),
        }
    }
}

impl Recipient {
    /// Who it is, in words: "the renewal specialist", "the account's contacts".
    pub fn in_words(&self) -> String {
        match self {
            Recipient::Owner(role) => format!("the {}", super::coverage::role_label(*role)),
            Recipient::Contacts(None) => "the account's contacts".into(),
            Recipient::Contacts(Some(team)) => format!("the account's {team} contacts"),
        }
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipient::Owner(role) => write!(f, "owner:{role}"),
            Recipient::Contacts(None) => f.write_str("contacts"),
            Recipient::Contacts(Some(team)) => write!(f, "contacts:{team}"),
        }
    }
}

impl Serialize for Recipient {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Recipient {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An email to send, rendered; the store finds the addresses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailDraft {
    pub to: Recipient,
    pub subject: String,
    pub body: String,
}

/// A task to create: for whoever covers the account in `role`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskDraft {
    pub role: TeamRole,
    pub title: String,
    pub due_on: NaiveDate,
    pub steps: Vec<String>,
    /// Why now, in one sentence a person would say: "No executive meeting for 93 days".
    pub reason: String,
    /// Why now, and what the assignee should know.
    pub context: String,
}

/// A playbook's episode that has fired and not ended.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRun {
    pub playbook: String,
    pub cause: String,
    /// The first day its condition no longer held, when it does not.
    pub quiet_since: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub playbook: String,
    /// Names the occurrence: a playbook fires once per (account, cause).
    pub cause: String,
    pub evidence: String,
    /// An episode stays open until its condition has settled.
    pub episode: bool,
    pub tasks: Vec<TaskDraft>,
    pub emails: Vec<EmailDraft>,
    pub chats: Vec<ChatDraft>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunChange {
    Fire(Firing),
    /// The episode's condition stopped holding today.
    Quiet {
        playbook: String,
        cause: String,
    },
    /// It holds again before the episode ended.
    Resume {
        playbook: String,
        cause: String,
    },
    /// It has not held for `settle_days`: the episode ended.
    Close {
        playbook: String,
        cause: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlaybookError {
    #[error("playbooks: {0}")]
    Syntax(String),
    #[error("playbooks: playbook {index} (`{name}`): {problem}")]
    Bad {
        index: usize,
        name: String,
        problem: String,
    },
}

impl Default for Playbooks {
    fn default() -> Self {
        // The shipped file is checked by a test; failing here would be a build defect.
        Playbooks::from_toml(DEFAULT_PLAYBOOKS).unwrap_or_else(|e| panic!("the shipped playbooks: {e}"))
    }
}

impl Playbooks {
    pub fn from_toml(text: &str) -> Result<Playbooks, PlaybookError> {
        let playbooks: Playbooks = toml::from_str(text).map_err(|e| PlaybookError::Syntax(e.to_string()))?;
        playbooks.check()?;
        Ok(playbooks)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), PlaybookError> {
        for (index, p) in self.playbooks.iter().enumerate() {
            let bad = |problem: String| PlaybookError::Bad {
                index: index + 1,
                name: p.name.clone(),
                problem,
            };
            let well_named = !p.name.is_empty()
                && p.name.len() <= 64
                && p.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !well_named {
                return Err(bad("name: use lower-case letters, digits and -".into()));
            }
            if self.playbooks[..index].iter().any(|q| q.name == p.name) {
                return Err(bad("name: used by an earlier playbook".into()));
            }
            if p.title.trim().is_empty() {
                return Err(bad("needs a title".into()));
            }
            if p.when.is_empty() {
                return Err(bad("when: needs at least one condition".into()));
            }
            if let Some(problem) = p.when.iter().find_map(Clause::problem) {
                return Err(bad(format!("when: {problem}")));
            }
            if let Some(t) = p.tasks.iter().find(|t| t.title.trim().is_empty()) {
                return Err(bad(format!("a {} task needs a title", t.role)));
            }
            if let Some(e) = p
                .emails
                .iter()
                .find(|e| e.subject.trim().is_empty() || e.body.trim().is_empty())
            {
                return Err(bad(format!("the email to {} needs a subject and a body", e.to)));
            }
            if let Some(c) = p.chats.iter().find(|c| !chat_hook_name(&c.to)) {
                return Err(bad(format!(
                    "chats: {:?} is not a chat hook's name (letters, digits, -, _ and .)",
                    c.to
                )));
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| p.name == name)
    }

    /// What the enabled playbooks do for one account today, given its open episodes.
    pub fn evaluate(&self, facts: &AccountFacts, open: &[OpenRun]) -> Vec<RunChange> {
        let mut changes = Vec::new();
        for p in self.playbooks.iter().filter(|p| p.enabled) {
            let holds = facts.customer && facts.in_scope(&p.phases, &p.segments) && all_hold(&p.when, facts);
            let fire = |cause: String, episode: bool| {
                let tasks: Vec<TaskDraft> = p
                    .tasks
                    .iter()
                    .filter(|t| t.tech_touch || !facts.tech_touch)
                    .map(|t| task(p, t, facts))
                    .collect();
                let chats = p
                    .chats
                    .iter()
                    .filter(|c| facts.tech_touch || !c.tech_touch_only)
                    .map(|c| ChatDraft {
                        to: c.to.clone(),
                        message: chat_message(p, c, facts, &tasks),
                    })
                    .collect();
                RunChange::Fire(Firing {
                    playbook: p.name.clone(),
                    cause,
                    evidence: evidence(&p.when, facts),
                    episode,
                    tasks,
                    chats,
                    emails: p
                        .emails
                        .iter()
                        .filter(|e| facts.tech_touch || !e.tech_touch_only)
                        .map(|e| EmailDraft {
                            to: e.to.clone(),
                            subject: fill(&e.subject, facts),
                            body: fill(&e.body, facts),
                        })
                        .collect(),
                })
            };
            match p.once_per {
                OncePer::Episode => {
                    let run = open.iter().find(|r| r.playbook == p.name);
                    let named = |r: &OpenRun| (p.name.clone(), r.cause.clone());
                    match (holds, run) {
                        (true, None) => changes.push(fire(format!("from {}", facts.as_of), true)),
                        (true, Some(r)) if r.quiet_since.is_some() => {
                            let (playbook, cause) = named(r);
                            changes.push(RunChange::Resume { playbook, cause });
                        }
                        (false, Some(r)) => {
                            let (playbook, cause) = named(r);
                            match r.quiet_since {
                                None => changes.push(RunChange::Quiet { playbook, cause }),
                                Some(q) if (facts.as_of - q).num_days() >= i64::from(p.settle_days) => {
                                    changes.push(RunChange::Close { playbook, cause })
                                }
                                Some(_) => {}
                            }
                        }
                        _ => {}
                    }
                }
                OncePer::Renewal => {
                    if let Some(on) = facts.renewal_on().filter(|_| holds) {
                        changes.push(fire(format!("renewal on {on}"), false));
                    }
                }
                OncePer::Landing => {
                    if let Some(on) = facts.landed_on().filter(|_| holds) {
                        changes.push(fire(format!("landed on {on}"), false));
                    }
                }
            }
        }
        changes
    }
}

/// Whether `name` can name a chat hook (the store's rule for a hook's name).
fn chat_hook_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A firing as a chat message: the playbook and account, the text or why it fired, and
/// the tasks it made, linking to the account.
fn chat_message(p: &Playbook, c: &ChatTemplate, facts: &AccountFacts, tasks: &[TaskDraft]) -> ChatMessage {
    let why = in_words(&p.when, facts);
    let summary = match fill(&c.text, facts) {
        text if text.trim().is_empty() => why,
        text => format!("{text}\n{why}"),
    };
    let account = format!("/accounts/{}", facts.account_id);
    let sections = if tasks.is_empty() {
        Vec::new()
    } else {
        vec![Section {
            heading: "Tasks it made".into(),
            items: tasks
                .iter()
                .map(|t| Item {
                    text: t.title.clone(),
                    url: Some(account.clone()),
                    detail: Some(format!("{}, due {}", role_label(t.role), t.due_on)),
                })
                .collect(),
        }]
    };
    ChatMessage {
        title: format!("{}: {}", p.title, facts.name),
        summary,
        sections,
        link: Some(Link {
            label: format!("Open {}", facts.name),
            url: account,
        }),
    }
}

/// A template with the account's name and dates in place.
fn fill(template: &str, facts: &AccountFacts) -> String {
    let day = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "?".into());
    template
        .replace("{account}", &facts.name)
        .replace("{renewal_on}", &day(facts.renewal_on()))
        .replace("{landed_on}", &day(facts.landed_on()))
}

fn task(p: &Playbook, t: &TaskTemplate, facts: &AccountFacts) -> TaskDraft {
    TaskDraft {
        role: t.role,
        title: fill(&t.title, facts),
        due_on: days_after(facts.as_of, t.due_days),
        steps: t.steps.clone(),
        reason: in_words(&p.when, facts),
        context: format!("{}: {}. {}", p.title, evidence(&p.when, facts), context_summary(facts)),
    }
}

/// One task per account, person and trigger (issue 16): when the same pass gives a role a
/// hand-off and a playbook's task on one account, the hand-off's steps join the
/// playbook's task (first, each once) and no separate hand-off task is made. `None`
/// when it was folded; the hand-off itself otherwise.
pub fn fold_handoff(handoff: TaskDraft, runs: &mut [RunChange]) -> Option<TaskDraft> {
    let task = runs.iter_mut().find_map(|r| match r {
        RunChange::Fire(f) => f.tasks.iter_mut().find(|t| t.role == handoff.role),
        _ => None,
    });
    let Some(task) = task else {
        return Some(handoff);
    };
    let mut steps: Vec<String> = handoff.steps;
    steps.retain(|s| !task.steps.contains(s));
    steps.append(&mut task.steps);
    task.steps = steps;
    // The hand-off's reason already names the values the playbook's does, as a rule
    // with the same condition would.
    task.reason = if handoff.reason.contains(&lower_first(&task.reason)) || handoff.reason.contains(&task.reason) {
        handoff.reason
    } else {
        format!("{}; {}", handoff.reason, task.reason)
    };
    task.due_on = task.due_on.min(handoff.due_on);
    task.context = format!("{} {}", handoff.context, task.context);
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::facts::tests::facts;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, d).unwrap()
    }

    #[test]
    fn a_handoff_and_a_playbook_task_for_one_role_become_one_task() {
        let draft = |role, title: &str, steps: &[&str], due: u32, reason: &str| TaskDraft {
            role,
            title: title.into(),
            due_on: day(due),
            steps: steps.iter().map(|s| s.to_string()).collect(),
            reason: reason.into(),
            context: format!("{title}."),
        };
        let save = draft(
            TeamRole::RenewalSpecialist,
            "Save plan",
            &["Call the sponsor"],
            10,
            "Health 35",
        );
        let mut runs = vec![RunChange::Fire(Firing {
            playbook: "renewal-at-risk".into(),
            cause: "from 2026-06-01".into(),
            evidence: String::new(),
            episode: true,
            tasks: vec![save],
            emails: Vec::new(),
            chats: Vec::new(),
        })];
        let handoff = draft(
            TeamRole::RenewalSpecialist,
            "Hand-off",
            &["Meet the previous owner", "Call the sponsor"],
            4,
            "You now cover it as renewal specialist",
        );
        assert_eq!(fold_handoff(handoff, &mut runs), None, "folded");
        let RunChange::Fire(f) = &runs[0] else { panic!() };
        let task = &f.tasks[0];
        assert_eq!(task.title, "Save plan");
        assert_eq!(
            task.steps,
            ["Meet the previous owner", "Call the sponsor"],
            "each step once"
        );
        assert_eq!(task.due_on, day(4), "the sooner due date");
        assert_eq!(task.reason, "You now cover it as renewal specialist; Health 35");
        // A hand-off whose reason already says the same values says it once.
        let mut again = runs.clone();
        let RunChange::Fire(f) = &mut again[0] else { panic!() };
        f.tasks[0].reason = "Health 35".into();
        let same = draft(
            TeamRole::RenewalSpecialist,
            "Hand-off",
            &[],
            4,
            "You now cover it: at risk (health 35)",
        );
        assert_eq!(fold_handoff(same, &mut again), None);
        let RunChange::Fire(f) = &again[0] else { panic!() };
        assert_eq!(f.tasks[0].reason, "You now cover it: at risk (health 35)");
        // Another role's hand-off stays a task of its own.
        let csm = draft(TeamRole::Csm, "Hand-off", &[], 4, "You now cover it as CSM");
        assert_eq!(fold_handoff(csm.clone(), &mut runs), Some(csm));
    }

    fn fired(changes: &[RunChange]) -> Vec<(&str, &str)> {
        changes
            .iter()
            .filter_map(|c| match c {
                RunChange::Fire(f) => Some((f.playbook.as_str(), f.cause.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Found by the fuzz target `playbooks` (docs/fuzzing.md): a task due in more days
    /// than the calendar holds panicked when the playbook fired.
    #[test]
    fn a_task_due_beyond_the_calendar_is_due_on_its_last_day() {
        let text = "[[playbooks]]\nname = 'far'\ntitle = 'Far'\nwhen = [{ signal = 'health', at_least = 0 }]\n\
                    [[playbooks.tasks]]\nrole = 'csm'\ntitle = 'Far off'\ndue_days = 4294967295\n";
        let p = Playbooks::from_toml(text).unwrap();
        let changes = p.evaluate(&facts(Phase::Adopt, &[("health", 50.0)]), &[]);
        let [RunChange::Fire(firing)] = &changes[..] else {
            panic!("it fires: {changes:?}");
        };
        assert_eq!(firing.tasks[0].due_on, NaiveDate::MAX);
    }

    #[test]
    fn a_firing_posts_to_its_chat_hooks_with_why_and_its_tasks() {
        let text = "[[playbooks]]\nname = 'risk'\ntitle = 'At risk'\nwhen = [{ signal = 'health', below = 50 }]\n\
                    [[playbooks.tasks]]\nrole = 'csm'\ntitle = 'Call {account}'\ndue_days = 2\n\
                    [[playbooks.chats]]\nto = 'cs-alerts'\ntext = 'Look at {account}'\n\
                    [[playbooks.chats]]\nto = 'digital'\ntech_touch_only = true\n";
        let p = Playbooks::from_toml(text).unwrap();
        assert_eq!(Playbooks::from_toml(&p.to_toml()).unwrap(), p, "chats read back");
        let changes = p.evaluate(&facts(Phase::Adopt, &[("health", 42.0)]), &[]);
        let [RunChange::Fire(firing)] = &changes[..] else {
            panic!("it fires: {changes:?}");
        };
        assert_eq!(firing.chats.len(), 1, "the tech-touch-only one is left out");
        let chat = &firing.chats[0];
        assert_eq!(chat.to, "cs-alerts");
        assert_eq!(chat.message.title, "At risk: Acme");
        assert!(
            chat.message.summary.starts_with("Look at Acme\n"),
            "{}",
            chat.message.summary
        );
        let task = &chat.message.sections[0].items[0];
        assert_eq!(task.text, "Call Acme");
        assert_eq!(task.url.as_deref(), Some("/accounts/7"));
        assert_eq!(task.detail.as_deref(), Some("CSM, due 2026-06-03"));
        assert_eq!(chat.message.link.as_ref().unwrap().url, "/accounts/7");
        let bad = text.replace("to = 'digital'", "to = 'no spaces please'");
        assert!(
            Playbooks::from_toml(&bad)
                .unwrap_err()
                .to_string()
                .contains("chat hook")
        );
    }

    #[test]
    fn the_shipped_playbooks_read_and_cover_the_classic_moments() {
        let p = Playbooks::default();
        assert_eq!(Playbooks::from_toml(&p.to_toml()).unwrap(), p);
        for name in [
            "onboarding",
            "adoption-below-target",
            "renewal-preparation",
            "renewal-at-risk",
            "expansion-opportunity",
            "executive-sponsor-quiet",
            "support-spike",
        ] {
            let playbook = p.get(name).unwrap_or_else(|| panic!("{name} ships"));
            assert!(!playbook.tasks.is_empty(), "{name} creates tasks");
        }
    }

    #[test]
    fn an_episode_fires_once_then_settles_before_it_can_fire_again() {
        let p = Playbooks::default();
        let mut spike = facts(Phase::Adopt, &[("cases_last_14_days", 5.0), ("health", 70.0)]);
        spike.as_of = day(1);
        let first = p.evaluate(&spike, &[]);
        assert_eq!(fired(&first), vec![("support-spike", "from 2026-06-01")]);
        let open = |quiet_since| OpenRun {
            playbook: "support-spike".into(),
            cause: "from 2026-06-01".into(),
            quiet_since,
        };
        // Still holding: nothing new.
        spike.as_of = day(2);
        assert!(p.evaluate(&spike, &[open(None)]).is_empty());
        // Calm: quiet, then closed after the settling days.
        let mut calm = spike.clone();
        calm.values.insert("cases_last_14_days".into(), 0.0);
        assert_eq!(
            p.evaluate(&calm, &[open(None)]),
            vec![RunChange::Quiet {
                playbook: "support-spike".into(),
                cause: "from 2026-06-01".into()
            }]
        );
        calm.as_of = day(10);
        assert!(p.evaluate(&calm, &[open(Some(day(2)))]).is_empty());
        calm.as_of = day(16);
        assert!(matches!(
            p.evaluate(&calm, &[open(Some(day(2)))])[..],
            [RunChange::Close { .. }]
        ));
        // A spike before the episode ended resumes it rather than firing again.
        spike.as_of = day(12);
        assert!(matches!(
            p.evaluate(&spike, &[open(Some(day(2)))])[..],
            [RunChange::Resume { .. }]
        ));
    }

    #[test]
    fn calendar_playbooks_name_their_renewal_or_landing() {
        let p = Playbooks::default();
        let renewing = facts(
            Phase::Renew,
            &[("days_to_renewal", 100.0), ("health", 80.0), ("tenure_days", 400.0)],
        );
        assert_eq!(
            fired(&p.evaluate(&renewing, &[])),
            vec![("renewal-preparation", "renewal on 2026-09-09")]
        );
        let landed = facts(Phase::Land, &[("tenure_days", 3.0), ("health", 60.0)]);
        let changes = p.evaluate(&landed, &[]);
        assert_eq!(fired(&changes), vec![("onboarding", "landed on 2026-05-29")]);
        let RunChange::Fire(f) = &changes[0] else {
            unreachable!()
        };
        assert!(f.tasks.iter().any(|t| t.title.contains("Acme")), "{:?}", f.tasks);
        assert!(f.tasks.iter().all(|t| t.due_on >= landed.as_of));
        let mut automated = landed.clone();
        automated.tech_touch = true;
        let RunChange::Fire(f) = &p.evaluate(&automated, &[])[0] else {
            unreachable!()
        };
        assert!(f.tasks.is_empty(), "tech-touch accounts get no tasks: {:?}", f.tasks);
        let mut former = landed.clone();
        former.customer = false;
        assert!(p.evaluate(&former, &[]).is_empty());
    }

    #[test]
    fn recipients_read_back_and_bad_ones_are_named() {
        for text in ["owner:renewal_specialist", "contacts", "contacts:executive"] {
            let r: Recipient = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        assert!("owner:boss".parse::<Recipient>().unwrap_err().contains("owner"));
        assert!("everyone".parse::<Recipient>().is_err());
        let err = Playbooks::from_toml(&DEFAULT_PLAYBOOKS.replacen("to = \"contacts\"", "to = \"customers\"", 1))
            .unwrap_err();
        assert!(err.to_string().contains("customers"), "{err}");
    }

    #[test]
    fn bad_playbooks_are_refused_naming_the_playbook() {
        let err =
            Playbooks::from_toml(&DEFAULT_PLAYBOOKS.replacen("name = \"onboarding\"", "name = \"On boarding\"", 1))
                .unwrap_err();
        assert!(err.to_string().contains("On boarding"), "{err}");
        let err =
            Playbooks::from_toml(&DEFAULT_PLAYBOOKS.replacen("signal = \"tenure_days\"", "signal = \"tenure\"", 1))
                .unwrap_err();
        assert!(err.to_string().contains("tenure"), "{err}");
    }
}
