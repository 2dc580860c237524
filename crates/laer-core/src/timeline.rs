//! An account's timeline: its touchpoints with everything else that happened (contracts,
//! support cases, survey responses), newest first, filtered by kind and stakeholder team
//! and searched by words. The page builds the entries from what it read; which are
//! shown, and in what order, is decided here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::model::{MeetingStatus, NewTouchpoint, TouchpointKind};

/// What an entry is: a touchpoint of its kind, or another record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EntryKind {
    Touchpoint(TouchpointKind),
    /// A contract line started or ended.
    Contract,
    /// A support case opened.
    Case,
    /// A survey response (NPS, CSAT).
    Survey,
    /// A comment on one of the account's tasks.
    Comment,
}

impl EntryKind {
    /// Every kind, in the order the filter offers them.
    pub fn all() -> Vec<EntryKind> {
        let mut all: Vec<EntryKind> = TouchpointKind::ALL.iter().map(|k| EntryKind::Touchpoint(*k)).collect();
        all.extend([
            EntryKind::Contract,
            EntryKind::Case,
            EntryKind::Survey,
            EntryKind::Comment,
        ]);
        all
    }

    /// The kind as the filter names it: a touchpoint kind (`meeting`, `business_review`,
    /// ...), `contract`, `case` or `survey`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Touchpoint(k) => k.as_str(),
            EntryKind::Contract => "contract",
            EntryKind::Case => "case",
            EntryKind::Survey => "survey",
            EntryKind::Comment => "comment",
        }
    }

    /// The kind in words.
    pub fn label(self) -> &'static str {
        match self {
            EntryKind::Touchpoint(k) => k.label(),
            EntryKind::Contract => "Contract",
            EntryKind::Case => "Support case",
            EntryKind::Survey => "Survey response",
            EntryKind::Comment => "Task comment",
        }
    }

    /// The kind the filter value `text` names, if any.
    pub fn named(text: &str) -> Option<EntryKind> {
        EntryKind::all().into_iter().find(|k| k.as_str() == text.trim())
    }
}

/// One thing that happened at the account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    /// One line saying what happened.
    pub title: String,
    /// The stakeholder teams it concerned (touchpoints).
    pub teams: Vec<String>,
    /// Who took part: the customer's contacts, then our side (touchpoints).
    pub people: Vec<String>,
    pub summary: Option<String>,
    pub next_step: Option<String>,
    /// A touchpoint's status.
    pub status: Option<MeetingStatus>,
    /// The touchpoint's id, for its links.
    pub touchpoint: Option<i64>,
}

impl Entry {
    /// An entry of another record than a touchpoint.
    pub fn record(at: DateTime<Utc>, kind: EntryKind, title: impl Into<String>) -> Entry {
        Entry {
            at,
            kind,
            title: title.into(),
            teams: Vec::new(),
            people: Vec::new(),
            summary: None,
            next_step: None,
            status: None,
            touchpoint: None,
        }
    }

    /// A comment on the task titled `task`, by `author`: the comment is the entry's
    /// summary, so that the search finds its words.
    pub fn comment(at: DateTime<Utc>, task: &str, author: &str, body: &str) -> Entry {
        let mut entry = Entry::record(
            at,
            EntryKind::Comment,
            format!("{author} on the task \u{201c}{task}\u{201d}"),
        );
        entry.summary = Some(body.to_string());
        entry
    }

    /// Touchpoint `id`, with the names of who took part (contacts, then our side):
    /// "Business review (qbr) with the executive and security teams".
    pub fn touchpoint(id: i64, t: &NewTouchpoint, people: Vec<String>) -> Entry {
        let mut title = t.kind.label().to_string();
        if let Some(purpose) = &t.purpose {
            title.push_str(&format!(" ({})", purpose.replace('_', " ")));
        }
        match t.stakeholder_teams.as_slice() {
            [] => {}
            [one] => title.push_str(&format!(" with the {} team", one.replace('_', " "))),
            [first @ .., last] => {
                let first: Vec<String> = first.iter().map(|t| t.replace('_', " ")).collect();
                title.push_str(&format!(
                    " with the {} and {} teams",
                    first.join(", "),
                    last.replace('_', " ")
                ));
            }
        }
        Entry {
            at: t.held_at,
            kind: EntryKind::Touchpoint(t.kind),
            title,
            teams: t.stakeholder_teams.clone(),
            people,
            summary: t.summary.clone(),
            next_step: t.next_step.clone(),
            status: Some(t.status),
            touchpoint: Some(id),
        }
    }

    /// Whether every word of `query` occurs in the entry's text (title, teams, people,
    /// summary, next step), ignoring case.
    fn matches(&self, words: &[String]) -> bool {
        if words.is_empty() {
            return true;
        }
        let mut text = self.title.to_lowercase();
        for part in self
            .teams
            .iter()
            .chain(&self.people)
            .chain(&self.summary)
            .chain(&self.next_step)
        {
            text.push('\n');
            text.push_str(&part.to_lowercase());
        }
        words.iter().all(|w| text.contains(w.as_str()))
    }
}

/// What the timeline shows: entries of one kind, with one team, containing some words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub kind: Option<EntryKind>,
    /// A stakeholder team's label; only touchpoints with that team are shown.
    pub team: Option<String>,
    /// Words, each of which must occur (case ignored).
    pub query: String,
}

impl Filter {
    /// The filter the page's parameters ask for: an empty or unknown kind, or an empty
    /// team, filters nothing.
    pub fn from_params(kind: Option<&str>, team: Option<&str>, query: Option<&str>) -> Filter {
        Filter {
            kind: kind.and_then(EntryKind::named),
            team: team.map(crate::parse::label).filter(|t| !t.is_empty()),
            query: query.unwrap_or("").trim().to_string(),
        }
    }

    /// Whether it filters anything.
    pub fn is_empty(&self) -> bool {
        self.kind.is_none() && self.team.is_none() && self.query.is_empty()
    }
}

/// The entries up to the end of `today` that `filter` lets through, newest first (ties
/// in the order given).
pub fn select(mut entries: Vec<Entry>, filter: &Filter, today: NaiveDate) -> Vec<Entry> {
    let words: Vec<String> = filter.query.split_whitespace().map(str::to_lowercase).collect();
    entries.retain(|e| {
        e.at.date_naive() <= today
            && filter.kind.is_none_or(|k| e.kind == k)
            && filter.team.as_ref().is_none_or(|t| e.teams.contains(t))
            && e.matches(&words)
    });
    entries.sort_by_key(|e| std::cmp::Reverse(e.at));
    entries
}

/// The stakeholder teams the entries name, each once, sorted: the team filter's choices.
pub fn teams(entries: &[Entry]) -> Vec<String> {
    let mut teams: Vec<String> = entries.iter().flat_map(|e| e.teams.iter().cloned()).collect();
    teams.sort();
    teams.dedup();
    teams
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        format!("{s}T10:00:00Z").parse().unwrap()
    }

    fn touchpoint(id: i64, on: &str, kind: TouchpointKind, teams: &[&str], summary: &str) -> Entry {
        let t = NewTouchpoint {
            external_id: format!("t{id}"),
            account_id: 1,
            held_at: at(on),
            kind,
            purpose: None,
            status: MeetingStatus::Held,
            duration_minutes: None,
            stakeholder_teams: teams.iter().map(|t| t.to_string()).collect(),
            contact_ids: vec![],
            team_member_ids: vec![],
            summary: Some(summary.into()),
            next_step: Some("Send the firewall sizing".into()),
        };
        Entry::touchpoint(id, &t, vec!["Dana Smith".into()])
    }

    fn entries() -> Vec<Entry> {
        vec![
            Entry::record(at("2026-01-01"), EntryKind::Contract, "Contract started: Core"),
            touchpoint(
                1,
                "2026-03-01",
                TouchpointKind::Meeting,
                &["executive", "security"],
                "Renewal plans",
            ),
            touchpoint(
                2,
                "2026-04-01",
                TouchpointKind::Email,
                &["network"],
                "Sent the SD-WAN guide",
            ),
            Entry::record(at("2026-05-01"), EntryKind::Case, "Support case opened: VPN drops"),
            touchpoint(
                3,
                "2026-09-01",
                TouchpointKind::Call,
                &["executive"],
                "Not yet: in the future",
            ),
        ]
    }

    fn ids(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.title.as_str()).collect()
    }

    #[test]
    fn everything_up_to_today_newest_first() {
        let shown = select(entries(), &Filter::default(), "2026-06-30".parse().unwrap());
        assert_eq!(
            ids(&shown),
            [
                "Support case opened: VPN drops",
                "Email with the network team",
                "Meeting with the executive and security teams",
                "Contract started: Core",
            ]
        );
    }

    #[test]
    fn filtered_by_kind_team_and_words() {
        let today = "2026-12-31".parse().unwrap();
        let by = |kind: Option<&str>, team: Option<&str>, q: Option<&str>| {
            let shown = select(entries(), &Filter::from_params(kind, team, q), today);
            shown.iter().map(|e| e.touchpoint.unwrap_or(0)).collect::<Vec<_>>()
        };
        assert_eq!(by(Some("meeting"), None, None), [1]);
        assert_eq!(by(Some("case"), None, None), [0]);
        assert_eq!(
            by(None, Some("Executive"), None),
            [3, 1],
            "a team filter shows only touchpoints"
        );
        assert_eq!(by(Some("call"), Some("executive"), None), [3]);
        assert_eq!(by(None, None, Some("sd-wan GUIDE")), [2], "case ignored");
        assert_eq!(
            by(None, None, Some("firewall renewal")),
            [1],
            "every word, in any field"
        );
        assert_eq!(by(None, None, Some("dana")), [3, 2, 1], "people are searched");
        assert_eq!(by(None, None, Some("vpn")), [0]);
        assert_eq!(
            by(Some("nonsense"), Some(" "), Some("")).len(),
            5,
            "unknown kind: no filter"
        );
        assert!(Filter::from_params(Some(""), None, Some("  ")).is_empty());
    }

    #[test]
    fn task_comments_are_entries_found_by_their_words() {
        let mut all = entries();
        all.push(Entry::comment(
            at("2026-06-01"),
            "Prepare the QBR",
            "Kim Lee <kim@vendor.example>",
            "Asked Dana for the outage figures",
        ));
        let today = "2026-12-31".parse().unwrap();
        let shown = select(all.clone(), &Filter::from_params(Some("comment"), None, None), today);
        assert_eq!(
            ids(&shown),
            ["Kim Lee <kim@vendor.example> on the task \u{201c}Prepare the QBR\u{201d}"]
        );
        let found = select(all, &Filter::from_params(None, None, Some("outage figures")), today);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, EntryKind::Comment);
        assert_eq!(EntryKind::named("comment"), Some(EntryKind::Comment));
    }

    #[test]
    fn the_team_filter_offers_the_teams_named() {
        assert_eq!(teams(&entries()), ["executive", "network", "security"]);
        assert_eq!(
            EntryKind::named("business_review"),
            Some(EntryKind::Touchpoint(TouchpointKind::BusinessReview))
        );
    }
}
