//! A hand-off note drafted from the records (issue 16), pure: what a new owner should know
//! first — the customer's goals, the promises made in recent touchpoints, the risks, and
//! the people to meet — so that an account changes hands with its context.

use chrono::NaiveDate;

use crate::health::words::in_words;

/// An outcome the customer agreed, as the note reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal<'a> {
    pub name: &'a str,
    /// The target as written: "60%", "7 hours".
    pub target: String,
    pub by: Option<NaiveDate>,
    /// Share of the way from the baseline to the target, when measured.
    pub progress: Option<f64>,
}

/// A contact as the note reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Person<'a> {
    pub name: &'a str,
    pub title: Option<&'a str>,
    /// Their role towards us: `executive_sponsor`, `champion`, `decision_maker`, `user`...
    pub role: Option<&'a str>,
}

/// What the note is drafted from.
#[derive(Debug, Clone, PartialEq)]
pub struct Records<'a> {
    pub today: NaiveDate,
    pub goals: Vec<Goal<'a>>,
    /// Touchpoints held, with their next step: (day, next step).
    pub next_steps: Vec<(NaiveDate, &'a str)>,
    /// Health drivers: (measure, value, points it could still bring).
    pub drivers: Vec<(&'a str, f64, f64)>,
    pub open_cases: usize,
    pub renewal: Option<NaiveDate>,
    pub people: Vec<Person<'a>>,
}

/// The note: each part a list of sentences, empty when the records say nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Note {
    pub goals: Vec<String>,
    pub promises: Vec<String>,
    pub risks: Vec<String>,
    pub people: Vec<String>,
}

/// How many lines each part holds at most.
const LINES: usize = 5;
/// Promises older than this many days are left out.
const PROMISE_DAYS: i64 = 120;
/// A renewal this near is a risk to name.
const RENEWAL_DAYS: i64 = 120;

/// The roles a new owner meets first, in order.
const FIRST_ROLES: &[&str] = &["executive_sponsor", "decision_maker", "champion"];

/// Drafts the note from the records.
pub fn draft(r: &Records<'_>) -> Note {
    let goals = r
        .goals
        .iter()
        .take(LINES)
        .map(|g| {
            let mut line = format!("{}: to {}", g.name, g.target);
            if let Some(by) = g.by {
                line.push_str(&format!(" by {by}"));
            }
            if let Some(p) = g.progress {
                line.push_str(&format!(" ({:.0}% of the way)", p * 100.0));
            }
            line
        })
        .collect();
    let mut steps: Vec<&(NaiveDate, &str)> = r
        .next_steps
        .iter()
        .filter(|(day, step)| !step.trim().is_empty() && (r.today - *day).num_days() <= PROMISE_DAYS && *day <= r.today)
        .collect();
    steps.sort_by_key(|s| std::cmp::Reverse(s.0));
    let promises = steps
        .into_iter()
        .take(LINES)
        .map(|(day, step)| format!("{day}: {}", step.trim()))
        .collect();
    let mut drivers: Vec<&(&str, f64, f64)> = r.drivers.iter().filter(|(_, _, gap)| *gap >= 1.0).collect();
    drivers.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut risks: Vec<String> = Vec::new();
    if let Some(on) = r.renewal.filter(|on| (*on - r.today).num_days() <= RENEWAL_DAYS) {
        let days = (on - r.today).num_days();
        risks.push(if days < 0 {
            format!("The renewal was due on {on}, {} days ago", -days)
        } else {
            format!("Renews on {on}, in {days} days")
        });
    }
    if r.open_cases > 0 {
        let s = if r.open_cases == 1 { "" } else { "s" };
        risks.push(format!("{} open support case{s}", r.open_cases));
    }
    risks.extend(
        drivers
            .into_iter()
            .take(3)
            .map(|(measure, value, _)| in_words(measure, *value)),
    );
    let rank = |p: &Person<'_>| {
        p.role
            .and_then(|role| FIRST_ROLES.iter().position(|r| *r == role))
            .unwrap_or(FIRST_ROLES.len())
    };
    let mut people: Vec<&Person<'_>> = r.people.iter().collect();
    people.sort_by_key(|p| rank(p));
    let people = people
        .into_iter()
        .take(LINES)
        .map(|p| {
            let mut line = p.name.to_string();
            if let Some(t) = p.title.filter(|t| !t.is_empty()) {
                line.push_str(&format!(", {t}"));
            }
            if let Some(role) = p.role.filter(|r| !r.is_empty()) {
                line.push_str(&format!(" ({})", role.replace('_', " ")));
            }
            line
        })
        .collect();
    Note {
        goals,
        promises,
        risks,
        people,
    }
}

/// Who wrote a note, as a page names them: "Ada Lovelace" of "Ada Lovelace <ada@x>".
pub fn author_name(actor: &str) -> &str {
    actor.split(" <").next().unwrap_or(actor)
}

/// A hand-off task's context with the note the account's previous owner wrote for the
/// next (issue 16): the owner's words come with the task, beside what the records say.
pub fn context_with_note(context: &str, author: &str, body: &str) -> String {
    format!("{context} Note from {}: {body}", author_name(author))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_note_joins_the_handoff_task() {
        assert_eq!(author_name("Ada Lovelace <ada@x.example>"), "Ada Lovelace");
        assert_eq!(author_name("automation"), "automation");
        assert_eq!(
            context_with_note("Phase adopt.", "Ada <ada@x>", "The CFO signs."),
            "Phase adopt. Note from Ada: The CFO signs."
        );
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_note_drafted_from_the_records() {
        let records = Records {
            today: day("2026-12-03"),
            goals: vec![Goal {
                name: "Self-service resolution rate",
                target: "58%".into(),
                by: Some(day("2027-04-21")),
                progress: Some(0.4),
            }],
            next_steps: vec![
                (day("2026-11-20"), "Send the security roadmap"),
                (day("2026-12-01"), "Book the QBR with the CIO"),
                (day("2026-05-01"), "Too old to be a live promise"),
                (day("2026-11-25"), "  "),
            ],
            drivers: vec![("csat", 2.0, 6.0), ("utilisation", 0.4, 9.0), ("nps", 40.0, 0.5)],
            open_cases: 2,
            renewal: Some(day("2027-01-10")),
            people: vec![
                Person {
                    name: "Ann User",
                    title: None,
                    role: Some("user"),
                },
                Person {
                    name: "Wei Russo",
                    title: Some("CIO"),
                    role: Some("executive_sponsor"),
                },
            ],
        };
        let note = draft(&records);
        assert_eq!(
            note.goals,
            ["Self-service resolution rate: to 58% by 2027-04-21 (40% of the way)"]
        );
        assert_eq!(
            note.promises,
            [
                "2026-12-01: Book the QBR with the CIO",
                "2026-11-20: Send the security roadmap"
            ],
            "newest first; old and empty ones left out"
        );
        assert_eq!(
            note.risks,
            [
                "Renews on 2027-01-10, in 38 days",
                "2 open support cases",
                "40% of seats in use",
                "CSAT 2 of 5"
            ],
            "the renewal, cases, then the drivers costing the most points"
        );
        assert_eq!(note.people, ["Wei Russo, CIO (executive sponsor)", "Ann User (user)"]);
        let empty = draft(&Records {
            goals: Vec::new(),
            next_steps: Vec::new(),
            drivers: Vec::new(),
            open_cases: 0,
            renewal: None,
            people: Vec::new(),
            ..records
        });
        assert_eq!(empty, Note::default());
    }
}
