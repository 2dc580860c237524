//! A person's daily digest: their tasks due, the accounts of their book whose health or
//! phase moved since the day before, and their renewals coming up — as a chat message.
//! Pure: the caller reads the tasks, the book and the health of both days.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::attention::Attention;
use crate::chat::{ChatMessage, Item, Link, Section};
use crate::lifecycle::Phase;
use crate::portfolio::AccountSnapshot;
use crate::renewals::{RenewalSort, Window, renewals};

/// A change of health score by at least this many points counts as a move.
pub const MOVE_POINTS: f64 = 10.0;
/// Tasks due within this many days are listed (overdue ones always).
pub const TASK_DAYS: i64 = 7;
/// Renewals within this many days are listed.
pub const RENEWAL_DAYS: i64 = 60;

/// A task of the person's, as the digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueTask {
    pub id: i64,
    pub title: String,
    pub account_id: Option<i64>,
    pub account: Option<String>,
    pub due_on: Option<NaiveDate>,
}

/// An account's health and phase on one day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Standing {
    pub score: Option<f64>,
    pub phase: Phase,
}

/// An account of the person's book whose health or phase moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    pub account_id: i64,
    pub account: String,
    pub before: Standing,
    pub now: Standing,
}

impl Move {
    fn words(&self) -> String {
        let mut parts = Vec::new();
        if let (Some(a), Some(b)) = (self.before.score, self.now.score)
            && (b - a).abs() >= MOVE_POINTS
        {
            let way = if b > a { "rose" } else { "fell" };
            parts.push(format!("health {way} from {a:.0} to {b:.0}"));
        }
        if self.before.phase != self.now.phase {
            parts.push(format!(
                "moved from {} to {}",
                self.before.phase.label(),
                self.now.phase.label()
            ));
        }
        parts.join("; ")
    }
}

/// A renewal of the person's book coming up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComingRenewal {
    pub account_id: i64,
    pub account: String,
    pub on: NaiveDate,
    pub days_left: i64,
    /// Annual recurring revenue, as text with its currency's figures.
    pub arr: String,
}

/// One person's digest for `day`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub person: String,
    pub day: NaiveDate,
    pub tasks: Vec<DueTask>,
    pub moves: Vec<Move>,
    pub renewals: Vec<ComingRenewal>,
}

impl Digest {
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.moves.is_empty() && self.renewals.is_empty()
    }
}

/// The open tasks worth a line: overdue or due within [`TASK_DAYS`], soonest first.
pub fn due_tasks(mut tasks: Vec<DueTask>, day: NaiveDate) -> Vec<DueTask> {
    tasks.retain(|t| t.due_on.is_some_and(|d| (d - day).num_days() <= TASK_DAYS));
    tasks.sort_by(|a, b| a.due_on.cmp(&b.due_on).then(a.id.cmp(&b.id)));
    tasks
}

fn name_of(account: &AccountSnapshot) -> String {
    account.name.clone().unwrap_or_else(|| account.external_id.clone())
}

/// The accounts of `member`'s book whose score moved by [`MOVE_POINTS`] or more, or whose
/// phase changed, between `before` and `now`; the largest moves first.
pub fn moves(
    book: &[AccountSnapshot],
    member: i64,
    before: &HashMap<i64, Standing>,
    now: &HashMap<i64, Standing>,
) -> Vec<Move> {
    let mut moved: Vec<Move> = book
        .iter()
        .filter(|a| a.owners.iter().any(|o| o.member_id == member))
        .filter_map(|a| {
            let (before, now) = (*before.get(&a.id)?, *now.get(&a.id)?);
            let score_moved = match (before.score, now.score) {
                (Some(x), Some(y)) => (y - x).abs() >= MOVE_POINTS,
                _ => false,
            };
            (score_moved || before.phase != now.phase).then(|| Move {
                account_id: a.id,
                account: name_of(a),
                before,
                now,
            })
        })
        .collect();
    let size = |m: &Move| match (m.before.score, m.now.score) {
        (Some(x), Some(y)) => (y - x).abs(),
        _ => 0.0,
    };
    moved.sort_by(|a, b| size(b).total_cmp(&size(a)).then(a.account.cmp(&b.account)));
    moved
}

/// `member`'s renewals within [`RENEWAL_DAYS`] of `day`, soonest first (the renewals
/// page's rule, [`renewals`]).
pub fn coming_renewals(book: &[AccountSnapshot], member: i64, day: NaiveDate) -> Vec<ComingRenewal> {
    renewals(
        book,
        day,
        Window::Days(RENEWAL_DAYS),
        Some(member),
        &Attention::default(),
        RenewalSort::Renewal,
        false,
    )
    .rows
    .into_iter()
    .map(|r| ComingRenewal {
        account_id: r.account.id,
        account: name_of(r.account),
        on: r.on,
        days_left: r.days_left,
        arr: r.account.arr().to_string(),
    })
    .collect()
}

/// The digest as a chat message, its links relative to laer's address
/// ([`ChatMessage::resolved`]); `None` when there is nothing to say.
pub fn message(digest: &Digest) -> Option<ChatMessage> {
    if digest.is_empty() {
        return None;
    }
    let account_url = |id: i64| Some(format!("/accounts/{id}"));
    let mut sections = Vec::new();
    if !digest.tasks.is_empty() {
        sections.push(Section {
            heading: format!("Your tasks due ({})", digest.tasks.len()),
            items: digest
                .tasks
                .iter()
                .map(|t| Item {
                    text: match &t.account {
                        Some(account) => format!("{} — {account}", t.title),
                        None => t.title.clone(),
                    },
                    url: match t.account_id {
                        Some(id) => account_url(id),
                        None => Some("/work".into()),
                    },
                    detail: t.due_on.map(|d| due_words(d, digest.day)),
                })
                .collect(),
        });
    }
    if !digest.moves.is_empty() {
        sections.push(Section {
            heading: format!("Accounts that moved ({})", digest.moves.len()),
            items: digest
                .moves
                .iter()
                .map(|m| Item {
                    text: m.account.clone(),
                    url: account_url(m.account_id),
                    detail: Some(m.words()),
                })
                .collect(),
        });
    }
    if !digest.renewals.is_empty() {
        sections.push(Section {
            heading: format!("Renewals in the next {RENEWAL_DAYS} days ({})", digest.renewals.len()),
            items: digest
                .renewals
                .iter()
                .map(|r| Item {
                    text: r.account.clone(),
                    url: account_url(r.account_id),
                    detail: Some(format!("{} ({}), ARR {}", r.on, days_words(r.days_left), r.arr)),
                })
                .collect(),
        });
    }
    let counts = [
        (digest.tasks.len(), "task due", "tasks due"),
        (digest.moves.len(), "account moved", "accounts moved"),
        (digest.renewals.len(), "renewal coming up", "renewals coming up"),
    ];
    let summary = counts
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| format!("{n} {}", if *n == 1 { one } else { many }))
        .collect::<Vec<_>>()
        .join(", ");
    Some(ChatMessage {
        title: format!("{}'s day in laer, {}", digest.person, digest.day.format("%A %-d %B")),
        summary,
        sections,
        link: Some(Link {
            label: "Open my work".into(),
            url: "/work".into(),
        }),
    })
}

fn due_words(due: NaiveDate, day: NaiveDate) -> String {
    match (due - day).num_days() {
        d if d < 0 => format!("overdue since {due}"),
        0 => "due today".into(),
        1 => "due tomorrow".into(),
        _ => format!("due {due}"),
    }
}

fn days_words(days: i64) -> String {
    match days {
        0 => "today".into(),
        1 => "tomorrow".into(),
        d => format!("in {d} days"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TeamRole;
    use crate::money::Money;
    use crate::portfolio::Owner;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn account(id: i64, member: i64, renewal: Option<&str>, mrr: i64) -> AccountSnapshot {
        AccountSnapshot {
            id,
            external_id: format!("a{id}"),
            name: Some(format!("Account {id}")),
            segment: None,
            renewal_date: renewal.map(day),
            landed_on: None,
            term_months: Some(12),
            mrr: Money::from_units(mrr).unwrap(),
            mrr_before: Money::from_units(mrr).unwrap(),
            owners: vec![Owner {
                role: TeamRole::Csm,
                member_id: member,
                name: "Kim".into(),
            }],
            health: None,
        }
    }

    fn standing(score: f64, phase: Phase) -> Standing {
        Standing {
            score: Some(score),
            phase,
        }
    }

    #[test]
    fn moves_are_ten_points_or_a_new_phase_on_the_persons_book_only() {
        let book = [
            account(1, 7, None, 100),
            account(2, 7, None, 100),
            account(3, 7, None, 100),
            account(4, 8, None, 100),
        ];
        let before = HashMap::from([
            (1, standing(70.0, Phase::Adopt)),
            (2, standing(70.0, Phase::Adopt)),
            (3, standing(70.0, Phase::Adopt)),
            (4, standing(90.0, Phase::Adopt)),
        ]);
        let now = HashMap::from([
            (1, standing(58.0, Phase::Adopt)),
            (2, standing(75.0, Phase::Expand)),
            (3, standing(79.9, Phase::Adopt)),
            (4, standing(10.0, Phase::Adopt)),
        ]);
        let moved = moves(&book, 7, &before, &now);
        assert_eq!(moved.iter().map(|m| m.account_id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(moved[0].words(), "health fell from 70 to 58");
        assert_eq!(moved[1].words(), "moved from Adopt to Expand");
    }

    #[test]
    fn renewals_and_tasks_within_their_windows() {
        let today = day("2026-12-04");
        let book = [
            account(1, 7, Some("2027-01-15"), 1000),
            account(2, 7, Some("2027-06-01"), 1000),
            account(3, 8, Some("2026-12-20"), 1000),
        ];
        let coming = coming_renewals(&book, 7, today);
        assert_eq!(coming.len(), 1);
        assert_eq!(
            (coming[0].account_id, coming[0].days_left, coming[0].arr.as_str()),
            (1, 42, "12000")
        );
        let task = |id: i64, due: Option<&str>| DueTask {
            id,
            title: format!("Task {id}"),
            account_id: None,
            account: None,
            due_on: due.map(day),
        };
        let due = due_tasks(
            vec![
                task(1, Some("2026-12-20")),
                task(2, Some("2026-12-01")),
                task(3, None),
                task(4, Some("2026-12-11")),
            ],
            today,
        );
        assert_eq!(due.iter().map(|t| t.id).collect::<Vec<_>>(), [2, 4]);
    }

    #[test]
    fn the_message_says_what_is_due_with_links_and_nothing_when_empty() {
        let today = day("2026-12-04");
        let mut digest = Digest {
            person: "Kim".into(),
            day: today,
            tasks: vec![DueTask {
                id: 9,
                title: "Call the sponsor".into(),
                account_id: Some(5),
                account: Some("Acme".into()),
                due_on: Some(today),
            }],
            moves: vec![],
            renewals: vec![ComingRenewal {
                account_id: 3,
                account: "Globex".into(),
                on: day("2027-01-15"),
                days_left: 42,
                arr: "12000".into(),
            }],
        };
        let message = message(&digest).unwrap().resolved(Some("https://laer.example/"));
        assert_eq!(message.title, "Kim's day in laer, Friday 4 December");
        assert_eq!(message.summary, "1 task due, 1 renewal coming up");
        assert_eq!(message.sections[0].items[0].text, "Call the sponsor — Acme");
        assert_eq!(
            message.sections[0].items[0].url.as_deref(),
            Some("https://laer.example/accounts/5")
        );
        assert_eq!(message.sections[0].items[0].detail.as_deref(), Some("due today"));
        assert_eq!(
            message.sections[1].items[0].detail.as_deref(),
            Some("2027-01-15 (in 42 days), ARR 12000")
        );
        assert_eq!(message.link.unwrap().url, "https://laer.example/work");
        digest.tasks.clear();
        digest.renewals.clear();
        assert_eq!(super::message(&digest), None);
    }
}
