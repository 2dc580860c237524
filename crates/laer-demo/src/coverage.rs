//! The coverage model applied to one account: who owned it in each phase of its history,
//! and why. (The team's tasks come from laer's own playbooks, replayed over the history.)

use chrono::{NaiveDate, TimeDelta};

use super::catalog::Segment;
use super::dice::{Dice, Stream};
use super::lifecycle::{Story, health};
use super::people::Team;
use super::usage::Observed;
use super::{ChangeKind, CoverageAssignment, CoverageTier, Window};
use laer_core::model::TeamRole;

/// Days before a renewal when the renewal specialist looks at it.
const RENEWAL_LOOKAHEAD_DAYS: i64 = 120;

#[allow(clippy::too_many_arguments)]
pub fn simulate(
    account: usize,
    tier: CoverageTier,
    ordinal: usize,
    story: &Story,
    observed: &[Observed],
    team: &Team,
    window: &Window,
    seed: u64,
) -> Vec<CoverageAssignment> {
    let mut dice = Dice::new(seed, Stream::Coverage, account as u64);
    let mut assignments = Vec::new();
    let assign = |role, member, since, until, reason: String| CoverageAssignment {
        account,
        role,
        member,
        since,
        until,
        reason,
    };
    let executives = team.account_executives.len().max(1);
    // Small businesses go to the pooled CSMs, the rest to named ones; round robin in
    // each group (by `ordinal`, the account's number in its group), so books are even.
    let (group_start, group_size) = match tier {
        CoverageTier::Named => (team.csms.start + team.pooled_csms, team.csms.len() - team.pooled_csms),
        _ => (team.csms.start, team.pooled_csms),
    };
    let group_size = group_size.max(1);
    let executive = team.account_executives.start + account % executives;
    let mut csm = group_start + ordinal % group_size;
    assignments.push(assign(
        TeamRole::AccountExecutive,
        executive,
        story.landed_on,
        None,
        format!("Land: closed the first {} contract", story.segment.name()),
    ));
    for (n, episode) in story.episodes.iter().enumerate() {
        let since = episode.start + TimeDelta::days(if tier == CoverageTier::TechTouch { 0 } else { 14 });
        let reason = match (n, tier) {
            (0, CoverageTier::TechTouch) => "Tech-touch: automated programme; pooled CSM for escalations",
            (0, CoverageTier::Pooled) => "Hand-off from sales to the pooled SMB CSM after kickoff",
            (0, CoverageTier::Named) => "Hand-off from sales to the named CSM after kickoff",
            _ => "Won back after churn: onboarding again",
        };
        let until = episode.end.filter(|e| *e > since);
        let mut start = since;
        // Now and then a book is rebalanced and the account changes hands.
        if until.is_none() && dice.chance(0.12) {
            let days = (window.today - start).num_days();
            if days > 60 {
                let moved = start + TimeDelta::days(dice.int(30, days - 1));
                assignments.push(assign(TeamRole::Csm, csm, start, Some(moved), reason.to_string()));
                csm = group_start + (csm - group_start + 1 + dice.index(group_size - 1)) % group_size;
                start = moved;
                assignments.push(assign(
                    TeamRole::Csm,
                    csm,
                    start,
                    None,
                    "Book of business rebalanced".to_string(),
                ));
                continue;
            }
        }
        assignments.push(assign(TeamRole::Csm, csm, start, until, reason.to_string()));
    }
    // Renewals: annual terms ending in the window or in the next 180 days. At-risk ones
    // bring in the renewal specialist 120 days ahead.
    let mut renewals: Vec<NaiveDate> = story
        .steps
        .iter()
        .filter_map(|s| {
            s.contract
                .as_ref()
                .filter(|c| c.bill_period_months >= 12 && c.term_end == s.to)
                .map(|_| s.to)
        })
        .collect();
    if let Some(c) = story.current.as_ref().filter(|c| c.bill_period_months >= 12)
        && !renewals.contains(&c.term_end)
    {
        renewals.push(c.term_end);
    }
    for renewal in renewals {
        let look = renewal - TimeDelta::days(RENEWAL_LOOKAHEAD_DAYS);
        if look < window.start || look >= window.today {
            continue;
        }
        let Some(step) = story.step_on(look) else {
            continue;
        };
        let seen = observed
            .get(story.steps.partition_point(|s| s.to <= look))
            .copied()
            .unwrap_or_default();
        let at_risk = health(&step.drivers) < 0.5;
        let until = (renewal <= window.today).then_some(renewal);
        if at_risk {
            assignments.push(assign(
                TeamRole::RenewalSpecialist,
                team.renewal_specialist,
                look,
                until,
                format!(
                    "Renewal on {renewal} at risk: {:.0}% of seats active",
                    100.0 * seen.utilisation()
                ),
            ));
        }
    }
    // Expansion: seats nearly all in use brings in the expansion specialist, until the
    // account expands, leaves, or half a year passes.
    let mut open_since: Option<NaiveDate> = None;
    for (step, seen) in story.steps.iter().zip(observed) {
        if let Some(since) = open_since {
            let expanded = story.changes.iter().find(|c| {
                c.on > since && c.on <= step.to && matches!(c.kind, ChangeKind::Expansion | ChangeKind::Churn)
            });
            let stale = step.to >= since + TimeDelta::days(183);
            if let Some(until) = expanded
                .map(|c| c.on)
                .or(stale.then_some(step.to))
                .filter(|u| *u <= window.today)
            {
                if let Some(last) = assignments
                    .last_mut()
                    .filter(|a| a.role == TeamRole::ExpansionSpecialist)
                {
                    last.until = Some(until);
                }
                open_since = None;
            }
            continue;
        }
        if seen.in_window && seen.utilisation() >= 0.85 && step.to < window.today && story.segment != Segment::Smb {
            open_since = Some(step.to);
            assignments.push(assign(
                TeamRole::ExpansionSpecialist,
                team.expansion_specialist,
                step.to,
                None,
                format!(
                    "Expansion opportunity: {:.0}% of seats active",
                    100.0 * seen.utilisation()
                ),
            ));
        }
    }
    assignments
}
