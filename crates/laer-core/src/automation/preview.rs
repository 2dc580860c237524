//! What applying the coverage rules and playbooks would change, before anything changes
//! (issue 16): the owners who would start and end, the roles nobody could take, the
//! playbooks that would fire with the tasks they would create, and the episodes that
//! would end. The settings pages show it before "apply now" and before a rule or a
//! playbook is saved; the same decisions as applying, read and not written.

use std::collections::BTreeMap;

use super::coverage::CoverageChange;
use super::playbook::RunChange;
use crate::model::TeamRole;

/// What would be decided for one account.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub account_id: i64,
    pub account: &'a str,
    pub coverage: &'a [CoverageChange],
    /// Hand-off tasks its new owners would get (those not folded into a playbook's task).
    pub handoffs: usize,
    pub runs: &'a [RunChange],
}

/// A change of owner that would happen.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerLine {
    pub account_id: i64,
    pub account: String,
    pub role: TeamRole,
    /// Who would start or end; `None` for a role nobody could take.
    pub member_id: Option<i64>,
    pub reason: String,
}

/// A playbook that would fire for an account.
#[derive(Debug, Clone, PartialEq)]
pub struct FireLine {
    pub account_id: i64,
    pub account: String,
    pub playbook: String,
    /// Why, in words (its first task's reason), else its evidence.
    pub reason: String,
    /// The roles and titles of the tasks it would create.
    pub tasks: Vec<(TeamRole, String)>,
    pub emails: usize,
}

/// Everything applying would change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preview {
    pub starts: Vec<OwnerLine>,
    pub ends: Vec<OwnerLine>,
    pub uncovered: Vec<OwnerLine>,
    pub fires: Vec<FireLine>,
    /// Episodes whose condition has settled and that would end.
    pub closes: usize,
    /// Hand-off tasks new owners would get.
    pub handoffs: usize,
}

/// Counts per role: (starts, ends, uncovered).
pub type RoleCounts = BTreeMap<TeamRole, (usize, usize, usize)>;

impl Preview {
    /// The preview of `decided`; a firing for which `recorded(account, playbook, cause)`
    /// already holds is left out, as applying would leave it (once per cause).
    pub fn of<'a>(
        decided: impl IntoIterator<Item = Decided<'a>>,
        recorded: impl Fn(i64, &str, &str) -> bool,
    ) -> Preview {
        let mut preview = Preview::default();
        for d in decided {
            preview.handoffs += d.handoffs;
            for change in d.coverage {
                let (list, role, member_id, reason) = match change {
                    CoverageChange::Start {
                        role,
                        member_id,
                        reason,
                    } => (&mut preview.starts, role, Some(*member_id), reason),
                    CoverageChange::End {
                        role,
                        member_id,
                        reason,
                    } => (&mut preview.ends, role, Some(*member_id), reason),
                    CoverageChange::Uncovered { role, reason } => (&mut preview.uncovered, role, None, reason),
                };
                list.push(OwnerLine {
                    account_id: d.account_id,
                    account: d.account.to_string(),
                    role: *role,
                    member_id,
                    reason: reason.clone(),
                });
            }
            for run in d.runs {
                match run {
                    RunChange::Fire(f) if !recorded(d.account_id, &f.playbook, &f.cause) => {
                        preview.fires.push(FireLine {
                            account_id: d.account_id,
                            account: d.account.to_string(),
                            playbook: f.playbook.clone(),
                            reason: f.tasks.first().map_or_else(|| f.evidence.clone(), |t| t.reason.clone()),
                            tasks: f.tasks.iter().map(|t| (t.role, t.title.clone())).collect(),
                            emails: f.emails.len(),
                        })
                    }
                    RunChange::Close { .. } => preview.closes += 1,
                    _ => {}
                }
            }
        }
        preview
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
            && self.ends.is_empty()
            && self.uncovered.is_empty()
            && self.fires.is_empty()
            && self.closes == 0
    }

    /// What would change, one phrase per kind of change that would happen: "start 7
    /// owners, with 7 hand-off tasks".
    pub fn in_words(&self) -> Vec<String> {
        let n = |count: usize, one: &str, many: &str| {
            if count == 1 {
                format!("1 {one}")
            } else {
                format!("{count} {many}")
            }
        };
        let mut phrases = Vec::new();
        if !self.starts.is_empty() {
            let mut phrase = format!("start {}", n(self.starts.len(), "owner", "owners"));
            if self.handoffs > 0 {
                phrase += &format!(", with {}", n(self.handoffs, "hand-off task", "hand-off tasks"));
            }
            phrases.push(phrase);
        }
        if !self.ends.is_empty() {
            phrases.push(format!("end {}", n(self.ends.len(), "owner", "owners")));
        }
        if !self.uncovered.is_empty() {
            phrases.push(format!(
                "leave {} with nobody in the team to take {}",
                n(self.uncovered.len(), "role", "roles"),
                if self.uncovered.len() == 1 { "it" } else { "them" }
            ));
        }
        if !self.fires.is_empty() {
            phrases.push(format!(
                "fire playbooks for {}, creating {}",
                n(self.fires.len(), "cause", "causes"),
                n(self.tasks(), "task", "tasks")
            ));
        }
        if self.closes > 0 {
            phrases.push(format!(
                "end {} whose conditions have settled",
                n(self.closes, "episode", "episodes")
            ));
        }
        phrases
    }

    /// The tasks the firings would create.
    pub fn tasks(&self) -> usize {
        self.fires.iter().map(|f| f.tasks.len()).sum()
    }

    /// Owners starting, ending and roles left uncovered, per role.
    pub fn by_role(&self) -> RoleCounts {
        let mut counts = RoleCounts::new();
        for l in &self.starts {
            counts.entry(l.role).or_default().0 += 1;
        }
        for l in &self.ends {
            counts.entry(l.role).or_default().1 += 1;
        }
        for l in &self.uncovered {
            counts.entry(l.role).or_default().2 += 1;
        }
        counts
    }

    /// Firings and the tasks they would create, per playbook, most firings first.
    pub fn by_playbook(&self) -> Vec<(String, usize, usize)> {
        let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for f in &self.fires {
            let c = counts.entry(&f.playbook).or_default();
            c.0 += 1;
            c.1 += f.tasks.len();
        }
        let mut list: Vec<(String, usize, usize)> = counts
            .into_iter()
            .map(|(name, (fires, tasks))| (name.to_string(), fires, tasks))
            .collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::playbook::{Firing, TaskDraft};
    use chrono::NaiveDate;

    fn fire(playbook: &str, cause: &str) -> RunChange {
        RunChange::Fire(Firing {
            playbook: playbook.into(),
            cause: cause.into(),
            evidence: "Health score 42 (below 50)".into(),
            episode: true,
            tasks: vec![TaskDraft {
                role: TeamRole::Csm,
                title: "Call them".into(),
                due_on: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
                steps: vec![],
                reason: "Health 42".into(),
                context: String::new(),
            }],
            emails: vec![],
            chats: Vec::new(),
        })
    }

    #[test]
    fn a_preview_counts_what_applying_would_change_and_skips_what_is_recorded() {
        let coverage = [
            CoverageChange::Start {
                role: TeamRole::Csm,
                member_id: 3,
                reason: "Adopt".into(),
            },
            CoverageChange::End {
                role: TeamRole::AccountExecutive,
                member_id: 4,
                reason: "Left land".into(),
            },
        ];
        let runs_a = [
            fire("renewal-preparation", "renewal on 2026-09-01"),
            fire("support-spike", "from 2026-06-01"),
        ];
        let runs_b = [
            RunChange::Close {
                playbook: "support-spike".into(),
                cause: "from 2026-05-01".into(),
            },
            fire("support-spike", "from 2026-06-01"),
        ];
        let uncovered = [CoverageChange::Uncovered {
            role: TeamRole::RenewalSpecialist,
            reason: "At risk".into(),
        }];
        let decided = [
            Decided {
                account_id: 1,
                account: "Acme",
                coverage: &coverage,
                handoffs: 1,
                runs: &runs_a,
            },
            Decided {
                account_id: 2,
                account: "Birch",
                coverage: &uncovered,
                handoffs: 0,
                runs: &runs_b,
            },
        ];
        let preview = Preview::of(decided, |account, playbook, cause| {
            account == 1 && playbook == "renewal-preparation" && cause == "renewal on 2026-09-01"
        });
        assert_eq!(preview.starts.len(), 1);
        assert_eq!(preview.ends[0].member_id, Some(4));
        assert_eq!(preview.uncovered[0].member_id, None);
        assert_eq!(preview.fires.len(), 2, "the renewal already prepared is not counted");
        assert_eq!(preview.fires[0].reason, "Health 42");
        assert_eq!(preview.closes, 1);
        assert_eq!(preview.tasks(), 2);
        assert_eq!(preview.by_playbook(), vec![("support-spike".to_string(), 2, 2)]);
        assert_eq!(preview.by_role()[&TeamRole::Csm], (1, 0, 0));
        assert_eq!(preview.by_role()[&TeamRole::RenewalSpecialist], (0, 0, 1));
        assert!(!preview.is_empty());
        assert_eq!(
            preview.in_words(),
            vec![
                "start 1 owner, with 1 hand-off task",
                "end 1 owner",
                "leave 1 role with nobody in the team to take it",
                "fire playbooks for 2 causes, creating 2 tasks",
                "end 1 episode whose conditions have settled",
            ]
        );
        assert!(Preview::of([], |_, _, _| false).is_empty());
    }
}
