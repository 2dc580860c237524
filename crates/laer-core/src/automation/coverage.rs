//! The coverage model: which roles cover an account (by phase, segment, ARR band and
//! signals), which accounts are covered tech-touch only, and who of the team takes a role
//! that is free. Definitions: docs/automation.md.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::facts::{AccountFacts, Clause, all_hold, context_summary, days_after, in_words, lower_first};
use super::playbook::TaskDraft;
use crate::lifecycle::Phase;
use crate::model::TeamRole;

/// The shipped coverage rules.
pub const DEFAULT_COVERAGE: &str = include_str!("default-coverage.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageRules {
    #[serde(default)]
    pub tech_touch: TechTouch,
    /// Days a new owner has for the hand-off task.
    #[serde(default = "handoff_days")]
    pub handoff_due_days: u32,
    pub rules: Vec<RoleRule>,
    #[serde(default)]
    pub assignment: Vec<Assignment>,
}

fn handoff_days() -> u32 {
    3
}

/// Accounts covered by automation only: no named owner unless a rule says so.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TechTouch {
    /// Segments covered tech-touch (all of their accounts, or those below `arr_below`).
    #[serde(default)]
    pub segments: Vec<String>,
    /// ARR below which an account of those segments (of any, when no segment is listed)
    /// is covered tech-touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arr_below: Option<f64>,
}

/// A role covers an account when the rule's phase, segment and every condition hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    pub role: TeamRole,
    #[serde(default)]
    pub phases: Vec<Phase>,
    #[serde(default)]
    pub segments: Vec<String>,
    #[serde(default)]
    pub when: Vec<Clause>,
    /// The rule does not apply when any of these holds (an unknown value holds none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<Clause>,
    /// The rule applies to tech-touch accounts too.
    #[serde(default)]
    pub tech_touch: bool,
    /// Why the role covers the account, as the hand-off records it.
    pub reason: String,
}

/// Who takes a role: the listed members (external ids or emails; none listed: every
/// member with the role), for the listed segments (none: any), by the method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub role: TeamRole,
    #[serde(default)]
    pub segments: Vec<String>,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub method: Method,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The member with the fewest accounts in the role (ties: the first listed).
    #[default]
    Balanced,
    /// The member after the one who took the role last.
    RoundRobin,
}

/// What is wrong with a coverage file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CoverageError {
    #[error("coverage rules: {0}")]
    Syntax(String),
    #[error("coverage rules: rule {index} ({role}): {problem}")]
    BadRule {
        index: usize,
        role: TeamRole,
        problem: String,
    },
    #[error("coverage rules: {0}")]
    Bad(String),
}

impl Default for CoverageRules {
    fn default() -> Self {
        // The shipped file is checked by a test; failing here would be a build defect.
        CoverageRules::from_toml(DEFAULT_COVERAGE).unwrap_or_else(|e| panic!("the shipped coverage rules: {e}"))
    }
}

/// A team member as the assignment sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    pub roles: Vec<TeamRole>,
}

/// Who covers an account now in a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub role: TeamRole,
    pub member_id: i64,
    /// Assigned by hand: the rules leave the role alone.
    pub by_hand: bool,
}

/// The team's books: accounts each member covers per role, and who took each role
/// most recently (for round robin). Assignments made in a pass update it, so that one
/// pass over many accounts balances too.
#[derive(Debug, Clone, Default)]
pub struct Books {
    pub counts: HashMap<(i64, TeamRole), usize>,
    /// Members in the order they last took a role, latest last.
    pub recent: Vec<(TeamRole, i64)>,
}

impl Books {
    fn took(&mut self, member: i64, role: TeamRole) {
        *self.counts.entry((member, role)).or_default() += 1;
        self.recent.push((role, member));
    }

    fn left(&mut self, member: i64, role: TeamRole) {
        if let Some(n) = self.counts.get_mut(&(member, role)) {
            *n = n.saturating_sub(1);
        }
    }
}

/// A change of an account's coverage, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub enum CoverageChange {
    Start {
        role: TeamRole,
        member_id: i64,
        reason: String,
    },
    End {
        role: TeamRole,
        member_id: i64,
        reason: String,
    },
    /// The role should cover the account but nobody in the team can take it.
    Uncovered { role: TeamRole, reason: String },
}

impl CoverageRules {
    pub fn from_toml(text: &str) -> Result<CoverageRules, CoverageError> {
        let rules: CoverageRules = toml::from_str(text).map_err(|e| CoverageError::Syntax(e.to_string()))?;
        rules.check()?;
        Ok(rules)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), CoverageError> {
        for (index, rule) in self.rules.iter().enumerate() {
            let bad = |problem: String| CoverageError::BadRule {
                index: index + 1,
                role: rule.role,
                problem,
            };
            if rule.reason.trim().is_empty() {
                return Err(bad("needs a reason".into()));
            }
            if let Some(problem) = rule.when.iter().chain(&rule.unless).find_map(Clause::problem) {
                return Err(bad(problem));
            }
        }
        if self.tech_touch.arr_below.is_some_and(|a| !a.is_finite() || a < 0.0) {
            return Err(CoverageError::Bad("tech_touch.arr_below must be zero or more".into()));
        }
        Ok(())
    }

    /// The roles the rules manage: coverage in other roles is left as it is.
    pub fn managed_roles(&self) -> Vec<TeamRole> {
        let mut roles: Vec<TeamRole> = self.rules.iter().map(|r| r.role).collect();
        roles.sort_by_key(|r| r.as_str());
        roles.dedup();
        roles
    }

    /// Whether the account is covered by automation only.
    pub fn is_tech_touch(&self, facts: &AccountFacts) -> bool {
        let t = &self.tech_touch;
        if t.segments.is_empty() && t.arr_below.is_none() {
            return false;
        }
        let in_segment = t.segments.is_empty() || facts.in_scope(&[], &t.segments);
        let small = t
            .arr_below
            .is_none_or(|limit| facts.value("arr").is_none_or(|arr| arr < limit));
        in_segment && small
    }

    /// The roles that should cover the account, each with the reason of the first rule
    /// that gives it.
    pub fn required(&self, facts: &AccountFacts) -> BTreeMap<TeamRole, String> {
        let tech_touch = self.is_tech_touch(facts);
        let mut roles = BTreeMap::new();
        for rule in &self.rules {
            if roles.contains_key(&rule.role)
                || (tech_touch && !rule.tech_touch)
                || !facts.in_scope(&rule.phases, &rule.segments)
                || !all_hold(&rule.when, facts)
                || rule.unless.iter().any(|c| c.holds(facts))
            {
                continue;
            }
            let mut reason = rule.reason.clone();
            if !rule.when.is_empty() {
                reason = format!("{reason} ({})", lower_first(&in_words(&rule.when, facts)));
            }
            roles.insert(rule.role, reason);
        }
        roles
    }

    /// The changes that bring the account's coverage in the managed roles to what the
    /// rules require. Owners who still fit keep the account.
    pub fn plan(
        &self,
        facts: &AccountFacts,
        current: &[Holder],
        team: &[Member],
        books: &mut Books,
    ) -> Vec<CoverageChange> {
        let required = self.required(facts);
        let mut changes = Vec::new();
        for role in self.managed_roles() {
            let holders: Vec<&Holder> = current.iter().filter(|h| h.role == role).collect();
            if holders.iter().any(|h| h.by_hand) {
                continue;
            }
            match required.get(&role) {
                Some(reason) if holders.is_empty() => match self.choose(role, facts, team, books) {
                    Some(member_id) => {
                        books.took(member_id, role);
                        changes.push(CoverageChange::Start {
                            role,
                            member_id,
                            reason: reason.clone(),
                        });
                    }
                    None => changes.push(CoverageChange::Uncovered {
                        role,
                        reason: reason.clone(),
                    }),
                },
                Some(_) => {}
                // Conditions decide when a role joins; it stays while its rule's phase
                // and segment hold, so that a score hovering at a threshold does not
                // move the account back and forth.
                None if self.still_in_scope(role, facts) => {}
                None => {
                    let reason = self.why_not(role, facts);
                    for h in holders {
                        books.left(h.member_id, role);
                        changes.push(CoverageChange::End {
                            role,
                            member_id: h.member_id,
                            reason: reason.clone(),
                        });
                    }
                }
            }
        }
        changes
    }

    fn still_in_scope(&self, role: TeamRole, facts: &AccountFacts) -> bool {
        let tech_touch = self.is_tech_touch(facts);
        self.rules
            .iter()
            .any(|r| r.role == role && (!tech_touch || r.tech_touch) && facts.in_scope(&r.phases, &r.segments))
    }

    fn why_not(&self, role: TeamRole, facts: &AccountFacts) -> String {
        if facts.phase == Phase::Churned {
            return "The account churned".into();
        }
        if self.is_tech_touch(facts) {
            return format!("Tech-touch account: no named {}", role_label(role));
        }
        format!("No rule asks for a {} in phase {}", role_label(role), facts.phase)
    }

    /// The member who takes `role` on the account, from the first assignment that fits
    /// its segment (or everyone with the role).
    fn choose(&self, role: TeamRole, facts: &AccountFacts, team: &[Member], books: &Books) -> Option<i64> {
        let assignment = self
            .assignment
            .iter()
            .find(|a| a.role == role && facts.in_scope(&[], &a.segments));
        let pool: Vec<&Member> = match assignment {
            Some(a) if !a.members.is_empty() => a
                .members
                .iter()
                .filter_map(|key| {
                    team.iter().find(|m| {
                        m.external_id == *key || m.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(key))
                    })
                })
                .collect(),
            _ => team.iter().filter(|m| m.roles.contains(&role)).collect(),
        };
        match assignment.map(|a| a.method).unwrap_or_default() {
            Method::Balanced => pool
                .iter()
                .min_by_key(|m| books.counts.get(&(m.id, role)).copied().unwrap_or(0))
                .map(|m| m.id),
            Method::RoundRobin => {
                let last = books
                    .recent
                    .iter()
                    .rev()
                    .find(|(r, id)| *r == role && pool.iter().any(|m| m.id == *id))
                    .and_then(|(_, id)| pool.iter().position(|m| m.id == *id));
                let next = last.map_or(0, |i| (i + 1) % pool.len().max(1));
                pool.get(next).map(|m| m.id)
            }
        }
    }
}

/// The role as people say it: "renewal specialist".
pub fn role_label(role: TeamRole) -> String {
    match role {
        TeamRole::Csm => "CSM".into(),
        TeamRole::CsOps => "CS operations".into(),
        other => other.as_str().replace('_', " "),
    }
}

/// The task of an owner assigned by hand.
pub fn handoff_by_hand(
    role: TeamRole,
    account: &str,
    reason: &str,
    actor: &str,
    today: chrono::NaiveDate,
) -> TaskDraft {
    TaskDraft {
        role,
        title: format!("Hand-off: you now cover {account} as {}", role_label(role)),
        due_on: days_after(today, handoff_days()),
        steps: handoff_steps(),
        reason: format!("Assigned to you by hand by {actor}: {reason}"),
        context: format!("Why now: assigned by hand by {actor}: {reason}"),
    }
}

/// Why an owner an import gives holds the role: the source (a CRM) names them.
pub const IMPORTED_OWNER: &str = "Imported: the account's owner in the source system (the CRM)";

/// The hand-off task of an owner an import gives (the CRM changed the account's owner).
pub fn handoff_imported(role: TeamRole, account: &str, today: chrono::NaiveDate) -> TaskDraft {
    TaskDraft {
        role,
        title: format!("Hand-off: you now cover {account} as {}", role_label(role)),
        due_on: days_after(today, handoff_days()),
        steps: handoff_steps(),
        reason: "You are the account's owner in the CRM, and laer follows it".into(),
        context: "Why now: the account's owner changed in the CRM".into(),
    }
}

fn handoff_steps() -> Vec<String> {
    vec![
        "Read the account's health drivers, open cases and outcomes".into(),
        "Meet the previous owner or read their notes".into(),
        "Introduce yourself to the customer's main contacts".into(),
    ]
}

/// The task a new owner gets: why now, and what they should know.
pub fn handoff_task(role: TeamRole, reason: &str, facts: &AccountFacts, due_days: u32) -> TaskDraft {
    TaskDraft {
        role,
        title: format!("Hand-off: you now cover {} as {}", facts.name, role_label(role)),
        due_on: days_after(facts.as_of, due_days),
        steps: handoff_steps(),
        reason: format!("You now cover it: {reason}"),
        context: format!("Why now: {reason}. {}", context_summary(facts)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::facts::tests::facts;

    fn team() -> Vec<Member> {
        let m = |id: i64, roles: Vec<TeamRole>| Member {
            id,
            external_id: format!("tm-{id}"),
            name: format!("Member {id}"),
            email: Some(format!("m{id}@vendor.example")),
            roles,
        };
        vec![
            m(1, vec![TeamRole::AccountExecutive]),
            m(2, vec![TeamRole::Csm]),
            m(3, vec![TeamRole::Csm]),
            m(4, vec![TeamRole::RenewalSpecialist]),
            m(5, vec![TeamRole::ExpansionSpecialist]),
        ]
    }

    #[test]
    fn the_shipped_rules_read_and_round_trip() {
        let rules = CoverageRules::default();
        assert_eq!(CoverageRules::from_toml(&rules.to_toml()).unwrap(), rules);
        assert!(rules.managed_roles().contains(&TeamRole::RenewalSpecialist));
    }

    #[test]
    fn owners_follow_the_phases() {
        let rules = CoverageRules::default();
        let land = facts(
            Phase::Land,
            &[("arr", 50_000.0), ("health", 70.0), ("tenure_days", 10.0)],
        );
        let roles: Vec<TeamRole> = rules.required(&land).into_keys().collect();
        assert_eq!(roles, vec![TeamRole::AccountExecutive]);
        let adopt = facts(Phase::Adopt, &[("arr", 50_000.0), ("health", 70.0)]);
        assert_eq!(
            rules.required(&adopt).into_keys().collect::<Vec<_>>(),
            vec![TeamRole::Csm]
        );
        let at_risk = facts(
            Phase::Renew,
            &[("arr", 50_000.0), ("health", 35.0), ("days_to_renewal", 80.0)],
        );
        let required = rules.required(&at_risk);
        assert!(required.contains_key(&TeamRole::RenewalSpecialist), "{required:?}");
        assert!(
            required[&TeamRole::RenewalSpecialist].ends_with(" (health 35; renews in 80 days)"),
            "the reason in words: {required:?}"
        );
        let churned = facts(Phase::Churned, &[]);
        assert!(rules.required(&churned).is_empty());
        // Not activated a quarter after landing: the CSM joins, and stays as long as the
        // account is in land or beyond, so that it does not change hands each year.
        let slow = facts(Phase::Land, &[("arr", 50_000.0), ("tenure_days", 400.0)]);
        let required = rules.required(&slow);
        assert!(required[&TeamRole::Csm].contains("Not activated"), "{required:?}");
        assert!(!required.contains_key(&TeamRole::AccountExecutive), "{required:?}");
        let csm = [Holder {
            role: TeamRole::Csm,
            member_id: 2,
            by_hand: false,
        }];
        let after_renewal = facts(Phase::Land, &[("arr", 50_000.0), ("tenure_days", 40.0)]);
        assert!(
            rules
                .plan(&after_renewal, &csm, &[], &mut Books::default())
                .iter()
                .all(|c| !matches!(
                    c,
                    CoverageChange::End {
                        role: TeamRole::Csm,
                        ..
                    }
                ))
        );
    }

    #[test]
    fn a_hand_off_moves_the_account_and_keeps_owners_who_still_fit() {
        let rules = CoverageRules::default();
        let team = team();
        let mut books = Books::default();
        let adopt = facts(Phase::Adopt, &[("arr", 50_000.0), ("health", 70.0)]);
        let current = [Holder {
            role: TeamRole::AccountExecutive,
            member_id: 1,
            by_hand: false,
        }];
        let changes = rules.plan(&adopt, &current, &team, &mut books);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(matches!(
            changes[0],
            CoverageChange::End {
                role: TeamRole::AccountExecutive,
                member_id: 1,
                ..
            }
        ));
        assert!(matches!(
            changes[1],
            CoverageChange::Start {
                role: TeamRole::Csm,
                member_id: 2,
                ..
            }
        ));
        let kept = [Holder {
            role: TeamRole::Csm,
            member_id: 3,
            by_hand: false,
        }];
        assert!(rules.plan(&adopt, &kept, &team, &mut books).is_empty());
        // An account executive kept on by hand stays, whatever the phase.
        let by_hand = [
            Holder {
                role: TeamRole::AccountExecutive,
                member_id: 1,
                by_hand: true,
            },
            kept[0],
        ];
        assert!(rules.plan(&adopt, &by_hand, &team, &mut books).is_empty());
    }

    #[test]
    fn books_are_balanced_and_round_robin_rotates() {
        let mut rules = CoverageRules::default();
        let team = team();
        let adopt = facts(Phase::Adopt, &[("arr", 50_000.0)]);
        let mut books = Books::default();
        books.counts.insert((2, TeamRole::Csm), 5);
        let started = |changes: Vec<CoverageChange>| match changes.as_slice() {
            [CoverageChange::Start { member_id, .. }] => *member_id,
            other => panic!("{other:?}"),
        };
        assert_eq!(started(rules.plan(&adopt, &[], &team, &mut books)), 3);
        rules.assignment = vec![Assignment {
            role: TeamRole::Csm,
            segments: vec![],
            members: vec!["tm-2".into(), "m3@vendor.example".into()],
            method: Method::RoundRobin,
        }];
        let picks: Vec<i64> = (0..3)
            .map(|_| started(rules.plan(&adopt, &[], &team, &mut books)))
            .collect();
        assert_eq!(picks, vec![2, 3, 2]);
    }

    #[test]
    fn tech_touch_accounts_get_no_named_csm() {
        let rules =
            CoverageRules::from_toml(&DEFAULT_COVERAGE.replace("[tech_touch]", "[tech_touch]\nsegments = [\"SMB\"]"))
                .unwrap();
        let mut small = facts(Phase::Adopt, &[("arr", 2_000.0)]);
        small.segment = Some("SMB".into());
        assert!(rules.is_tech_touch(&small));
        assert!(rules.required(&small).is_empty());
        let mut changes = rules.plan(
            &small,
            &[Holder {
                role: TeamRole::Csm,
                member_id: 2,
                by_hand: false,
            }],
            &team(),
            &mut Books::default(),
        );
        match changes.pop() {
            Some(CoverageChange::End { reason, .. }) => assert!(reason.contains("Tech-touch"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nobody_to_take_a_role_is_reported() {
        let rules = CoverageRules::default();
        let adopt = facts(Phase::Adopt, &[("arr", 50_000.0)]);
        let changes = rules.plan(&adopt, &[], &team()[..1], &mut Books::default());
        assert!(matches!(
            changes[0],
            CoverageChange::Uncovered {
                role: TeamRole::Csm,
                ..
            }
        ));
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule() {
        let err = CoverageRules::from_toml(&DEFAULT_COVERAGE.replacen("signal = \"health\"", "signal = \"heath\"", 1))
            .unwrap_err();
        assert!(
            err.to_string().contains("heath") && err.to_string().contains("rule"),
            "{err}"
        );
        assert!(CoverageRules::from_toml("rules = []\nbogus = 1").is_err());
    }
}
