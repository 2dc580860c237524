//! Conditions in the team's words (issue 16): "renews in 30 to 120 days and health below
//! 50" rather than `days_to_renewal >= 30 and health < 50`, and the scale each value is
//! typed in on a form (a share as a percentage, a day count in days), so that CS
//! operations edit rules and playbooks without the file's vocabulary.

use super::facts::{Clause, EXTRA_VALUES};
use crate::health::inputs::SIGNALS;
use crate::health::words::whole;

/// How a value is shown and typed: a share of one as a percentage, a change of a share
/// in percentage points, a relative change as a percentage, days, money or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Share,
    Points,
    Relative,
    Days,
    Money,
    Number,
}

impl Scale {
    /// The value as a form shows it (a share 0.4 as 40).
    pub fn shown(self, stored: f64) -> f64 {
        match self {
            Scale::Share | Scale::Points | Scale::Relative => stored * 100.0,
            _ => stored,
        }
    }

    /// The value as the rules keep it from what a form was given (40 as 0.4; to nine
    /// decimals, so that 33.3 is kept as 0.333 and not 0.33299999999999996).
    pub fn stored(self, shown: f64) -> f64 {
        match self {
            Scale::Share | Scale::Points | Scale::Relative => (shown * 1e7).round() / 1e9,
            _ => shown,
        }
    }

    /// The unit a form writes beside the value.
    pub fn unit(self) -> &'static str {
        match self {
            Scale::Share | Scale::Relative => "%",
            Scale::Points => "points",
            Scale::Days => "days",
            Scale::Money => "in currency units",
            Scale::Number => "",
        }
    }

    /// A kept value in words: 40%, 120 days, $250,000.
    fn amount(self, stored: f64) -> String {
        let n = tidy(self.shown(stored));
        match self {
            Scale::Share | Scale::Relative => format!("{n}%"),
            Scale::Points if n == "1" || n == "-1" => format!("{n} point"),
            Scale::Points => format!("{n} points"),
            Scale::Days if n == "1" => "1 day".into(),
            Scale::Days => format!("{n} days"),
            Scale::Money if stored.abs() >= 1000.0 => format!("${}", whole(stored)),
            Scale::Money => format!("${n}"),
            Scale::Number => n,
        }
    }
}

/// A number as a form shows it: at most six decimals, no trailing zeros (0.4 × 100 is
/// 40, not 40.00000000000001).
pub fn tidy(x: f64) -> String {
    let rounded = (x * 1e6).round() / 1e6;
    if rounded == 0.0 {
        "0".into()
    } else {
        format!("{rounded}")
    }
}

/// What a condition on `signal` reads as, with `{}` where its bounds go, and its scale.
fn phrase(signal: &str) -> (String, Scale) {
    if let Some(feature) = signal.strip_prefix("events_per_month:") {
        return (format!("{feature} uses a month {{}}"), Scale::Number);
    }
    let (text, scale) = match signal {
        "utilisation" => ("seats in use {}", Scale::Share),
        "utilisation_change" => ("change in seats in use {}", Scale::Points),
        "breadth" => ("features in use {}", Scale::Share),
        "breadth_change" => ("change in features in use {}", Scale::Points),
        "depth" => ("uses a month per active person {}", Scale::Number),
        "depth_change" => ("change in use per person {}", Scale::Relative),
        "spread" => ("departments using it {}", Scale::Share),
        "spread_change" => ("change in departments using it {}", Scale::Points),
        "active_users" => ("people using it {}", Scale::Number),
        "active_users_change" => ("change in people using it {}", Scale::Relative),
        "events_per_month" => ("uses a month {}", Scale::Number),
        "events_change" => ("change in use {}", Scale::Relative),
        "days_since_last_use" => ("not used for {}", Scale::Days),
        "tenure_days" => ("a customer for {}", Scale::Days),
        "mrr" => ("MRR {}", Scale::Money),
        "mrr_change" => ("change in revenue over 90 days {}", Scale::Relative),
        "units" => ("units bought {}", Scale::Number),
        "days_to_renewal" => ("renews in {}", Scale::Days),
        "cases_per_active_user" => ("support cases per active person {}", Scale::Number),
        "cases_per_month" => ("{} support cases a month", Scale::Number),
        "cases_last_14_days" => ("{} support cases in the last 14 days", Scale::Number),
        "case_severity" => ("mean case severity (1 critical, 4 low) {}", Scale::Number),
        "days_to_resolve" => ("time to resolve a case {}", Scale::Days),
        "how_to_share" => ("how-to questions among cases {}", Scale::Share),
        "csat" => ("CSAT (1–5) {}", Scale::Number),
        "nps" => ("NPS {}", Scale::Number),
        "cadence_kept" => ("meeting cadence kept {}", Scale::Share),
        "days_since_executive_meeting" => ("no executive meeting for {}", Scale::Days),
        "contacts_engaged" => ("contacts engaged {}", Scale::Number),
        "outcomes_on_track" => ("outcomes on track {}", Scale::Share),
        "outcome_progress" => ("outcome progress against plan {}", Scale::Share),
        "health" => ("health {}", Scale::Number),
        "adoption_score" => ("adoption {}", Scale::Number),
        "experience_score" => ("experience {}", Scale::Number),
        "engagement_score" => ("engagement {}", Scale::Number),
        "transformation_score" => ("transformation {}", Scale::Number),
        "arr" => ("ARR {}", Scale::Money),
        other => return (format!("{other} {{}}"), Scale::Number),
    };
    (text.to_string(), scale)
}

/// The scale a value is typed in on a form.
pub fn scale_of(signal: &str) -> Scale {
    phrase(signal).1
}

/// The name of a value in a list of choices: "Renews in (days)", "Seats in use (%)".
pub fn value_choice(signal: &str) -> String {
    let (text, scale) = phrase(signal);
    let name = upper_first(text.replace("{}", "").trim());
    match scale.unit() {
        "" => name,
        unit => format!("{name} ({unit})"),
    }
}

/// Every value a condition may name, as (name, choice), in the order of the health
/// signals and then the scores and ARR.
pub fn value_choices() -> Vec<(String, String)> {
    let mut choices: Vec<(String, String)> = EXTRA_VALUES
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(SIGNALS.iter().map(|s| s.name.to_string()))
        .map(|name| {
            let choice = value_choice(&name);
            (name, choice)
        })
        .collect();
    choices.sort_by_key(|(_, choice)| choice.to_lowercase());
    choices
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One condition in words: "renews in 30 to 120 days", "seats in use below 40%".
pub fn clause_in_words(clause: &Clause) -> String {
    let (text, scale) = phrase(&clause.signal);
    let bounds = match (clause.at_least, clause.at_most, clause.above, clause.below) {
        (Some(low), Some(high), None, None) if low <= high => {
            let low = match scale {
                // "30 to 120 days", but "40% to 80%".
                Scale::Days => tidy(low),
                _ => scale.amount(low),
            };
            format!("{low} to {}", scale.amount(high))
        }
        _ => [
            (clause.below, "below"),
            (clause.at_most, "at most"),
            (clause.above, "above"),
            (clause.at_least, "at least"),
        ]
        .iter()
        .filter_map(|(bound, word)| bound.map(|b| format!("{word} {}", scale.amount(b))))
        .collect::<Vec<_>>()
        .join(" and "),
    };
    text.replace("{}", &bounds)
}

/// Conditions that must all hold, in words ("always" when there is none); two on one
/// value read as one ("renews in 30 to 120 days").
pub fn conditions_in_words(clauses: &[Clause]) -> String {
    if clauses.is_empty() {
        return "always".into();
    }
    let mut merged: Vec<Clause> = Vec::new();
    for c in clauses {
        let free = |m: &Clause| {
            m.signal == c.signal
                && (c.below.is_none() || m.below.is_none())
                && (c.at_most.is_none() || m.at_most.is_none())
                && (c.above.is_none() || m.above.is_none())
                && (c.at_least.is_none() || m.at_least.is_none())
        };
        match merged.iter_mut().find(|m| free(m)) {
            Some(m) => {
                m.below = m.below.or(c.below);
                m.at_most = m.at_most.or(c.at_most);
                m.above = m.above.or(c.above);
                m.at_least = m.at_least.or(c.at_least);
            }
            None => merged.push(c.clone()),
        }
    }
    merged.iter().map(clause_in_words).collect::<Vec<_>>().join(" and ")
}

/// Conditions any of which stops a rule, in words.
pub fn exceptions_in_words(clauses: &[Clause]) -> String {
    clauses.iter().map(clause_in_words).collect::<Vec<_>>().join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(signal: &str, bounds: [Option<f64>; 4]) -> Clause {
        let [below, at_most, above, at_least] = bounds;
        Clause {
            signal: signal.into(),
            below,
            at_most,
            above,
            at_least,
        }
    }

    #[test]
    fn conditions_read_as_the_team_says_them() {
        let renewal = clause("days_to_renewal", [None, Some(120.0), None, Some(30.0)]);
        let health = clause("health", [Some(50.0), None, None, None]);
        let seats = clause("utilisation", [Some(0.4), None, None, None]);
        let quiet = clause("days_since_executive_meeting", [None, None, None, Some(90.0)]);
        let arr = clause("arr", [None, None, None, Some(250_000.0)]);
        assert_eq!(clause_in_words(&renewal), "renews in 30 to 120 days");
        let within = clause("days_to_renewal", [None, Some(120.0), None, None]);
        let after = clause("days_to_renewal", [None, None, None, Some(30.0)]);
        assert_eq!(
            conditions_in_words(&[within.clone(), health.clone(), after]),
            "renews in 30 to 120 days and health below 50",
            "two conditions on one value read as one"
        );
        assert_eq!(
            conditions_in_words(&[within.clone(), within]),
            "renews in at most 120 days and renews in at most 120 days"
        );
        assert_eq!(
            clause_in_words(&clause("cases_last_14_days", [None, None, None, Some(3.0)])),
            "at least 3 support cases in the last 14 days"
        );
        assert_eq!(
            conditions_in_words(&[health.clone(), seats]),
            "health below 50 and seats in use below 40%"
        );
        assert_eq!(clause_in_words(&quiet), "no executive meeting for at least 90 days");
        assert_eq!(clause_in_words(&arr), "ARR at least $250,000");
        assert_eq!(
            clause_in_words(&clause("utilisation_change", [Some(-0.1), None, None, None])),
            "change in seats in use below -10 points"
        );
        assert_eq!(
            clause_in_words(&clause("health", [None, Some(70.0), Some(40.0), None])),
            "health at most 70 and above 40",
            "other pairs of bounds are listed"
        );
        assert_eq!(
            clause_in_words(&clause("events_per_month:reports", [None, None, None, Some(3.0)])),
            "reports uses a month at least 3"
        );
        assert_eq!(conditions_in_words(&[]), "always");
        assert_eq!(
            exceptions_in_words(&[health.clone(), health]),
            "health below 50 or health below 50"
        );
    }

    #[test]
    fn a_share_is_typed_as_a_percentage_and_kept_as_a_share() {
        for kept in [0.4, 0.57, 0.333, -0.1, 0.0, 1.0] {
            let scale = scale_of("utilisation");
            let typed: f64 = tidy(scale.shown(kept)).parse().unwrap();
            assert_eq!(scale.stored(typed), kept, "{kept} round-trips through the form");
        }
        assert_eq!(tidy(0.57 * 100.0), "57");
        assert_eq!(scale_of("days_to_renewal").shown(120.0), 120.0);
        assert_eq!(scale_of("health").unit(), "");
    }

    #[test]
    fn every_value_has_a_distinct_choice() {
        let choices = value_choices();
        assert_eq!(choices.len(), EXTRA_VALUES.len() + SIGNALS.len());
        let mut names: Vec<&str> = choices.iter().map(|(_, c)| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), choices.len(), "two values read the same: {names:?}");
        for (name, choice) in &choices {
            assert!(!choice.contains('_'), "{name} is shown in the file's words: {choice}");
        }
        assert_eq!(value_choice("days_to_renewal"), "Renews in (days)");
        assert_eq!(value_choice("utilisation"), "Seats in use (%)");
    }
}
