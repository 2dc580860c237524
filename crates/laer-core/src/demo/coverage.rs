//! The coverage model applied to one account (who owns it in each phase, and why), and
//! the tasks the team worked on.

use chrono::{NaiveDate, TimeDelta};

use super::catalog::Segment;
use super::dice::{Dice, Stream};
use super::lifecycle::{Story, health};
use super::people::Team;
use super::usage::{Observed, at};
use super::{ChangeKind, CoverageAssignment, CoverageTier, Window};
use crate::model::{MeetingStatus, NewMeeting, NewSupportCase, NewTask, TaskStatus, TeamRole};

pub struct Coverage {
    pub assignments: Vec<CoverageAssignment>,
    pub tasks: Vec<NewTask>,
}

/// Days before a renewal when the renewal specialist looks at it.
const RENEWAL_LOOKAHEAD_DAYS: i64 = 120;

#[allow(clippy::too_many_arguments)]
pub fn simulate(
    account: usize,
    name: &str,
    tier: CoverageTier,
    ordinal: usize,
    story: &Story,
    observed: &[Observed],
    cases: &[NewSupportCase],
    meetings: &[NewMeeting],
    team: &Team,
    window: &Window,
    seed: u64,
) -> Coverage {
    let mut dice = Dice::new(seed, Stream::Coverage, account as u64);
    let mut assignments = Vec::new();
    let mut tasks: Vec<(NaiveDate, Option<usize>, String, NaiveDate, TaskStatus)> = Vec::new();
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
        if episode.start >= window.start && episode.start < window.today {
            let due = episode.start + TimeDelta::days(7);
            let status = if due < window.today {
                TaskStatus::Done
            } else {
                TaskStatus::Open
            };
            tasks.push((
                episode.start,
                Some(csm),
                format!("Kick-off meeting with {name}"),
                due,
                status,
            ));
        }
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
        let owner = if at_risk { team.renewal_specialist } else { csm };
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
        let due = renewal - TimeDelta::days(30);
        let status = if renewal <= window.today {
            TaskStatus::Done
        } else {
            TaskStatus::Open
        };
        tasks.push((
            look,
            Some(owner),
            format!("Prepare the renewal of {name} due {renewal}"),
            due,
            status,
        ));
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
            let due = step.to + TimeDelta::days(21);
            let status = if due < window.today {
                TaskStatus::Done
            } else {
                TaskStatus::Open
            };
            tasks.push((
                step.to,
                Some(team.expansion_specialist),
                format!("Qualify the expansion at {name}"),
                due,
                status,
            ));
        }
    }
    // Critical cases go to the CS leader.
    for case in cases.iter().filter(|c| c.severity == 1) {
        let opened = case.opened_at.date_naive();
        let status = if case.closed_at.is_some() {
            TaskStatus::Done
        } else {
            TaskStatus::Open
        };
        tasks.push((
            opened,
            Some(team.cs_leader),
            format!("Executive escalation: critical case {} at {name}", case.external_id),
            opened + TimeDelta::days(2),
            status,
        ));
    }
    // Two executive meetings missed in a row: re-engage the sponsor.
    let executive_meetings: Vec<&NewMeeting> = meetings
        .iter()
        .filter(|m| m.stakeholder_team.as_deref() == Some("executive") && m.status != MeetingStatus::Scheduled)
        .collect();
    for pair in executive_meetings.windows(2) {
        if pair.iter().all(|m| m.status != MeetingStatus::Held) {
            let day = pair[1].held_at.date_naive();
            let due = day + TimeDelta::days(14);
            let status = if due >= window.today {
                TaskStatus::Open
            } else if dice.chance(0.8) {
                TaskStatus::Done
            } else {
                TaskStatus::Cancelled
            };
            tasks.push((
                day,
                Some(csm),
                format!("Re-engage the executive sponsor at {name}"),
                due,
                status,
            ));
        }
    }
    tasks.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
    let tasks = tasks
        .into_iter()
        .enumerate()
        .filter_map(|(i, (created, assignee, title, due, status))| {
            Some(NewTask {
                external_id: format!("task-{:04}-{:03}", account + 1, i + 1),
                account_id: Some(account as i64),
                assignee_id: assignee.map(|a| a as i64),
                title,
                due_on: Some(due),
                status,
                created_at: at(created, 17 * 60)?,
            })
        })
        .collect();
    Coverage { assignments, tasks }
}
