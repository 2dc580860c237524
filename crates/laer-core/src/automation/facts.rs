//! What the coverage rules and the playbooks look at for one account on one day: its
//! phase, segment and every value a condition may name (the health signals, the health
//! score and its pillars, ARR), and the conditions over them.

use chrono::{NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::health::inputs::signal_label;
use crate::health::words::whole as grouped;
use crate::health::{Assessment, Signals};
use crate::lifecycle::{Phase, PhaseRules};
use crate::portfolio::AccountSnapshot;

/// Values beside the health signals that conditions may name.
pub const EXTRA_VALUES: &[(&str, &str)] = &[
    ("health", "Health score"),
    ("adoption_score", "Adoption pillar score"),
    ("experience_score", "Experience pillar score"),
    ("engagement_score", "Engagement pillar score"),
    ("transformation_score", "Transformation pillar score"),
    ("arr", "ARR (MRR × 12)"),
];

/// The label of a value a condition may name; `None` for unknown names.
pub fn value_label(name: &str) -> Option<String> {
    EXTRA_VALUES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, label)| label.to_string())
        .or_else(|| signal_label(name))
}

/// One account on one day, as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountFacts {
    pub account_id: i64,
    pub name: String,
    pub as_of: NaiveDate,
    pub phase: Phase,
    pub segment: Option<String>,
    /// A customer pays today; rules and playbooks leave the others alone.
    pub customer: bool,
    /// Covered by automation only (the coverage rules decide): playbooks create tasks
    /// for it only where a task says so.
    pub tech_touch: bool,
    pub values: Signals,
}

impl AccountFacts {
    pub fn of(assessment: &Assessment, name: &str) -> AccountFacts {
        let mut values = assessment.signals.clone();
        let h = &assessment.health;
        let mut put = |name: &str, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                values.insert(name.to_string(), v);
            }
        };
        put("health", h.score);
        put("adoption_score", h.pillars.adoption);
        put("experience_score", h.pillars.experience);
        put("engagement_score", h.pillars.engagement);
        put("transformation_score", h.pillars.transformation);
        let mrr = assessment.signals.get("mrr").copied();
        put("arr", mrr.map(|m| m * 12.0));
        AccountFacts {
            account_id: assessment.account_id,
            name: name.to_string(),
            as_of: assessment.as_of,
            phase: assessment.phase.phase,
            segment: assessment.segment.clone(),
            customer: mrr.is_some_and(|m| m > 0.0),
            tech_touch: false,
            values,
        }
    }

    pub fn value(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }

    /// The next renewal, when one is known.
    pub fn renewal_on(&self) -> Option<NaiveDate> {
        let days = self.value("days_to_renewal").filter(|d| d.is_finite())?;
        self.as_of.checked_add_signed(TimeDelta::try_days(days.round() as i64)?)
    }

    /// The day the account landed, when it has.
    pub fn landed_on(&self) -> Option<NaiveDate> {
        let days = self.value("tenure_days").filter(|d| d.is_finite())?;
        self.as_of.checked_sub_signed(TimeDelta::try_days(days.round() as i64)?)
    }

    /// Whether a rule limited to `phases` and `segments` (empty: all) applies.
    pub fn in_scope(&self, phases: &[Phase], segments: &[String]) -> bool {
        (phases.is_empty() || phases.contains(&self.phase))
            && (segments.is_empty()
                || self
                    .segment
                    .as_deref()
                    .is_some_and(|s| segments.iter().any(|x| x.eq_ignore_ascii_case(s))))
    }
}

/// The day `days` after `day`, or the calendar's last day when it holds no such day (a
/// task due in more days than a file should say).
pub(crate) fn days_after(day: NaiveDate, days: u32) -> NaiveDate {
    day.checked_add_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

/// One test of a value: it holds when the value is known and within every bound given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    pub signal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
}

impl Clause {
    fn bounds(&self) -> [(Option<f64>, &'static str); 4] {
        [
            (self.below, "below"),
            (self.at_most, "at most"),
            (self.above, "above"),
            (self.at_least, "at least"),
        ]
    }

    /// What is wrong with the clause, if anything.
    pub fn problem(&self) -> Option<String> {
        if value_label(&self.signal).is_none() {
            return Some(format!("unknown signal `{}`", self.signal));
        }
        let given: Vec<f64> = self.bounds().iter().filter_map(|(b, _)| *b).collect();
        if given.is_empty() {
            return Some(format!(
                "`{}` needs a bound: below, at_most, above or at_least",
                self.signal
            ));
        }
        if given.iter().any(|b| !b.is_finite()) {
            return Some(format!("`{}`: bounds must be numbers", self.signal));
        }
        None
    }

    pub fn holds(&self, facts: &AccountFacts) -> bool {
        let Some(v) = facts.value(&self.signal) else {
            return false;
        };
        self.below.is_none_or(|b| v < b)
            && self.at_most.is_none_or(|b| v <= b)
            && self.above.is_none_or(|b| v > b)
            && self.at_least.is_none_or(|b| v >= b)
    }

    /// The clause with the account's value, for reasons and evidence:
    /// "Health score 42.5 (below 50)".
    pub fn describe(&self, facts: &AccountFacts) -> String {
        let label = value_label(&self.signal).unwrap_or_else(|| self.signal.clone());
        let bounds: Vec<String> = self
            .bounds()
            .iter()
            .filter_map(|(b, word)| b.map(|b| format!("{word} {}", number(b))))
            .collect();
        match facts.value(&self.signal) {
            Some(v) => format!("{label} {} ({})", number(v), bounds.join(", ")),
            None => format!("{label} unknown ({})", bounds.join(", ")),
        }
    }
}

/// Whether every clause holds (an empty list always does).
pub fn all_hold(clauses: &[Clause], facts: &AccountFacts) -> bool {
    clauses.iter().all(|c| c.holds(facts))
}

/// The clauses with the account's values, joined: the evidence of a decision.
pub fn evidence(clauses: &[Clause], facts: &AccountFacts) -> String {
    clauses.iter().map(|c| c.describe(facts)).collect::<Vec<_>>().join("; ")
}

/// Why the clauses hold, as a person would say it: each signal's value in words
/// ([`crate::health::words::in_words`]), once per signal however many bounds test it:
/// "Health 49; renews in 79 days".
pub fn in_words(clauses: &[Clause], facts: &AccountFacts) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for c in clauses {
        if seen.contains(&c.signal.as_str()) {
            continue;
        }
        seen.push(&c.signal);
        let Some(v) = facts.value(&c.signal) else { continue };
        let words = crate::health::words::in_words(&c.signal, v);
        parts.push(if parts.is_empty() { words } else { lower_first(&words) });
    }
    parts.join("; ")
}

/// "Renews in 5 days" → "renews in 5 days"; "CSAT 3 of 5" and "ARR $9" stay.
pub(crate) fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(text.chars().skip(1)).collect()
        }
        _ => text.to_string(),
    }
}

/// What a new owner or a task's assignee should know first: health, renewal, outcomes
/// and recent cases, as far as known.
pub fn context_summary(facts: &AccountFacts) -> String {
    let mut parts = vec![format!("Phase {}", facts.phase)];
    if let Some(h) = facts.value("health") {
        parts.push(format!("health {}", number(h.round())));
    }
    if let (Some(on), Some(days)) = (facts.renewal_on(), facts.value("days_to_renewal")) {
        parts.push(format!("renewal on {on} (in {} days)", number(days)));
    }
    if let Some(arr) = facts.value("arr") {
        parts.push(format!("ARR {}", grouped(arr.round())));
    }
    if let Some(share) = facts.value("outcomes_on_track") {
        parts.push(format!("outcomes on track {}%", number((share * 100.0).round())));
    }
    if let Some(u) = facts.value("utilisation") {
        parts.push(format!("utilisation {}%", number((u * 100.0).round())));
    }
    if let Some(cases) = facts.value("cases_last_14_days").filter(|c| *c > 0.0) {
        let s = if cases == 1.0 { "" } else { "s" };
        parts.push(format!("{} support case{s} in the last 14 days", number(cases)));
    }
    parts.join(" · ")
}

/// What a task's context says of its account, as the account is now: its phase, kept
/// health, next renewal and ARR, in the words of [`context_summary`], which wrote the
/// task's context as of the day its playbook fired. A page shows the two side by side.
pub fn summary_now(account: &AccountSnapshot, today: NaiveDate, rules: &PhaseRules) -> String {
    let mut parts = vec![format!("Phase {}", account.phase(today, rules))];
    if let Some(h) = account.health_score() {
        parts.push(format!("health {}", number(h.round())));
    }
    if let Some(on) = account.renewal_date.filter(|on| *on >= today) {
        parts.push(format!("renewal on {on} (in {} days)", (on - today).num_days()));
    }
    parts.push(format!("ARR {}", grouped(account.arr().to_f64().round())));
    parts.join(" · ")
}

/// A number as people read it: whole when whole, else up to two decimals.
pub(crate) fn number(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn facts(phase: Phase, values: &[(&str, f64)]) -> AccountFacts {
        AccountFacts {
            account_id: 7,
            name: "Acme".into(),
            as_of: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            phase,
            segment: Some("Enterprise".into()),
            customer: true,
            tech_touch: false,
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    fn clause(text: &str) -> Clause {
        toml::from_str(text).unwrap()
    }

    /// Found by the fuzz target `playbooks` (docs/fuzzing.md): a value beyond any day
    /// panicked in `TimeDelta::days` instead of giving no day.
    #[test]
    fn clauses_in_words_say_each_signal_once() {
        let clause = |signal: &str, below: Option<f64>, at_least: Option<f64>| Clause {
            signal: signal.into(),
            below,
            at_most: None,
            above: None,
            at_least,
        };
        let f = facts(
            Phase::Renew,
            &[("health", 48.65), ("days_to_renewal", 58.0), ("csat", 2.5)],
        );
        let clauses = [
            clause("health", Some(50.0), None),
            clause("days_to_renewal", Some(120.0), None),
            clause("days_to_renewal", None, Some(30.0)),
            clause("csat", Some(3.0), None),
            clause("nps", Some(0.0), None),
        ];
        assert_eq!(
            in_words(&clauses, &f),
            "Health 49; renews in 58 days; CSAT 2.5 of 5",
            "once per signal, rounded, unknown values left out"
        );
        assert_eq!(in_words(&[], &f), "");
    }

    #[test]
    fn days_beyond_the_calendar_give_no_renewal_or_landing_day() {
        for days in [1e300, -1e300, f64::INFINITY, f64::NAN, 4e12] {
            let f = facts(Phase::Adopt, &[("days_to_renewal", days), ("tenure_days", days)]);
            assert_eq!(f.renewal_on(), None, "{days}");
            assert_eq!(f.landed_on(), None, "{days}");
        }
        let f = facts(Phase::Adopt, &[("days_to_renewal", 30.0), ("tenure_days", 1.0)]);
        assert_eq!(f.renewal_on(), NaiveDate::from_ymd_opt(2026, 7, 1));
        assert_eq!(f.landed_on(), NaiveDate::from_ymd_opt(2026, 5, 31));
    }

    #[test]
    fn a_clause_holds_within_every_bound_and_never_on_an_unknown_value() {
        let f = facts(Phase::Adopt, &[("health", 40.0)]);
        assert!(clause("signal = 'health'\nbelow = 50").holds(&f));
        assert!(!clause("signal = 'health'\nbelow = 40").holds(&f));
        assert!(clause("signal = 'health'\nat_most = 40").holds(&f));
        assert!(clause("signal = 'health'\nabove = 30\nbelow = 45").holds(&f));
        assert!(!clause("signal = 'health'\nat_least = 40.5").holds(&f));
        assert!(!clause("signal = 'utilisation'\nbelow = 2").holds(&f));
        assert_eq!(
            clause("signal = 'health'\nbelow = 50").describe(&f),
            "Health score 40 (below 50)"
        );
    }

    #[test]
    fn a_bad_clause_is_named() {
        assert!(
            clause("signal = 'healht'\nbelow = 1")
                .problem()
                .unwrap()
                .contains("healht")
        );
        assert!(clause("signal = 'health'").problem().unwrap().contains("needs a bound"));
        assert_eq!(clause("signal = 'utilisation'\nat_least = 0.9").problem(), None);
        assert!(toml::from_str::<Clause>("signal = 'health'\nunder = 3").is_err());
    }

    #[test]
    fn dates_follow_from_the_signals() {
        let f = facts(Phase::Renew, &[("days_to_renewal", 90.0), ("tenure_days", 31.0)]);
        assert_eq!(f.renewal_on(), NaiveDate::from_ymd_opt(2026, 8, 30));
        assert_eq!(f.landed_on(), NaiveDate::from_ymd_opt(2026, 5, 1));
        assert!(f.in_scope(&[], &["enterprise".into()]));
        assert_eq!(grouped(1_234_567.0), "1,234,567");
        assert_eq!(grouped(-800.0), "-800");
        assert!(!f.in_scope(&[Phase::Land], &[]));
    }
}
