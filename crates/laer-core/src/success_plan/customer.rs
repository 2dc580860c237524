//! The customer's words. A success plan is shown to the customer, who bought outcomes,
//! not a place in the vendor's lifecycle: what they see speaks of outcomes, milestones
//! and progress, never of Land, Adopt, Expand or Renew, churn, risk, health scores or
//! playbooks. Interventions are named by what happened ("Training session with your
//! application team"), never by the vendor's task titles or evidence.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::Serialize;

use super::{Effect, InterventionRecord, SuccessPlan};

/// How the customer reads the work of each shipped playbook. The vendor's changes of
/// owner (`handoff`) are not interventions; tasks of other playbooks, or of none, are
/// [`OTHER_TASK`].
const PLAYBOOK_LABELS: &[(&str, &str)] = &[
    ("onboarding", "Kick-off and implementation review"),
    ("adoption-below-target", "User enablement plan"),
    ("renewal-preparation", "Business review"),
    ("renewal-at-risk", "Executive alignment"),
    ("expansion-opportunity", "Wider roll-out discussed"),
    ("executive-sponsor-quiet", "Executive sponsor check-in"),
    ("support-spike", "Support cases reviewed with your team"),
    ("outcome-off-track", "Recovery plan for an outcome"),
];
const HANDOFF: &str = "handoff";
pub(super) const OTHER_TASK: &str = "Follow-up by your success team";

/// Words of the vendor's own view that the customer view never uses (whole words or
/// phrases, any case; a hyphen counts as a space), besides the shipped playbooks' names.
/// Text the customer gave or was written for them (outcome and milestone names, people)
/// is theirs and shown as it is.
pub const INTERNAL_WORDS: &[&str] = &[
    "land",
    "landed",
    "landing",
    "adopt",
    "adopted",
    "adoption",
    "expand",
    "expanded",
    "expansion",
    "renew",
    "renewed",
    "renewal",
    "renewals",
    "churn",
    "churned",
    "churning",
    "risk",
    "risks",
    "at risk",
    // Not "health" alone: customers are clinics and hospitals too ("Maple Health").
    "health score",
    "health scores",
    "playbook",
    "playbooks",
    "evidence",
    "upsell",
    "cross-sell",
    "cs-qualified",
    "save plan",
    "laer",
    "tech-touch",
    "csm",
    "handoff",
    "hand-off",
];

/// Lower case, every run of characters other than letters and digits one space, padded.
fn normalized(text: &str) -> String {
    let mut out = String::from(" ");
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// The [`INTERNAL_WORDS`] and names of shipped playbooks that `text` uses.
pub fn internal_words(text: &str) -> Vec<&'static str> {
    let text = normalized(text);
    let playbooks = PLAYBOOK_LABELS.iter().map(|(name, _)| *name);
    INTERNAL_WORDS
        .iter()
        .copied()
        .chain(playbooks)
        .filter(|word| text.contains(&normalized(word)))
        .collect()
}

/// A stored label ("executive_sponsor") in words ("Executive sponsor").
pub(super) fn words(label: &str) -> String {
    let text = label.replace('_', " ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The intervention in the customer's words; `None` for what is not one (routine
/// check-ins, meetings of no kind, the vendor's changes of owner).
pub(super) fn label_of(record: &InterventionRecord) -> Option<String> {
    match record {
        InterventionRecord::Task { playbook, .. } => match playbook.as_deref() {
            Some(HANDOFF) => None,
            Some(p) => Some(
                PLAYBOOK_LABELS
                    .iter()
                    .find(|(name, _)| *name == p)
                    .map_or(OTHER_TASK, |(_, label)| label)
                    .to_string(),
            ),
            None => Some(OTHER_TASK.to_string()),
        },
        InterventionRecord::Meeting { kind, team, .. } => {
            let kind = kind.as_deref().map(crate::parse::label).unwrap_or_default();
            let label = match kind.as_str() {
                "" | "check_in" | "checkin" | "status" | "sync" => return None,
                "onboarding" | "kickoff" | "kick_off" => "Kick-off meeting",
                "training" | "enablement" => "Training session",
                "workshop" => "Workshop",
                // An executive review is with the executives, whatever the team says.
                "ebr" => return Some("Executive business review".to_string()),
                "qbr" | "business_review" => "Business review",
                _ => "Meeting",
            };
            let team = team.as_deref().map(crate::parse::label).unwrap_or_default();
            Some(if team.is_empty() {
                label.to_string()
            } else {
                format!("{label} with your {} team", team.replace('_', " "))
            })
        }
    }
}

/// The vendor's own record of the intervention, for the team's page only.
pub(super) fn detail_of(record: &InterventionRecord) -> String {
    match record {
        InterventionRecord::Task { title, .. } => title.clone(),
        InterventionRecord::Meeting { kind, team, .. } => format!(
            "Meeting: {}{}",
            kind.as_deref().unwrap_or("no kind"),
            team.as_deref().map(|t| format!(", {t} team")).unwrap_or_default()
        ),
    }
}

/// A success plan as the customer sees it: newest first, one intervention per day and
/// label, in their words only.
pub type CustomerPlan = SuccessPlan<CustomerIntervention>;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerIntervention {
    pub on: NaiveDate,
    pub label: String,
    pub effect: Effect,
}

pub(super) fn view(plan: &SuccessPlan) -> CustomerPlan {
    let mut seen = HashSet::new();
    SuccessPlan {
        account: plan.account.clone(),
        as_of: plan.as_of,
        objective: plan.objective.clone(),
        plan: plan.plan.clone(),
        implement: plan.implement.clone(),
        monitor: plan.monitor.clone(),
        optimize: plan
            .optimize
            .iter()
            .filter(|i| seen.insert((i.on, i.label.clone())))
            .map(|i| CustomerIntervention {
                on: i.on,
                label: i.label.clone(),
                effect: i.effect.clone(),
            })
            .collect(),
    }
}
