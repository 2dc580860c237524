//! Health in the team's words (issue 16): each signal's value as a sentence a CSM would
//! say ("No executive meeting for 93 days"), a plain name for it, and what a CSM can do
//! about it. The lists, the work queue and the account page speak through these; the
//! model file and the API keep the signal names.

use crate::health::inputs::signal_label;

/// A signal's plain name and what a CSM can do when it holds the score down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain {
    pub name: &'static str,
    pub advice: &'static str,
}

const fn plain(name: &'static str, advice: &'static str) -> Plain {
    Plain { name, advice }
}

/// The plain name and advice of a signal or condition value; `None` for unknown names.
pub fn plain_of(signal: &str) -> Option<Plain> {
    if signal.starts_with("events_per_month:") {
        return Some(plain(
            "Use of a key feature",
            "Show the people who should use this feature how it serves their goals.",
        ));
    }
    Some(match signal {
        "utilisation" => plain(
            "Seats in use",
            "Find the teams with unused seats and run an onboarding session with them.",
        ),
        "utilisation_change" => plain(
            "Change in seats in use",
            "Ask the champion what changed for the people who stopped.",
        ),
        "breadth" => plain(
            "Features in use",
            "Show the features they do not use yet that serve their outcomes.",
        ),
        "breadth_change" => plain("Change in features in use", "Ask which features they dropped, and why."),
        "depth" => plain(
            "Use per person",
            "Coach the champions on the workflows that make daily use worthwhile.",
        ),
        "depth_change" => plain(
            "Change in use per person",
            "Ask the champion what changed in their daily work.",
        ),
        "spread" => plain(
            "Departments using it",
            "Ask the executive sponsor to introduce the departments that do not use it yet.",
        ),
        "spread_change" => plain(
            "Change in departments using it",
            "Find out which department stopped, and why.",
        ),
        "active_users" => plain(
            "People using it",
            "Invite the people it was bought for to a kick-off; check sign-on and provisioning.",
        ),
        "active_users_change" => plain(
            "Change in people using it",
            "Ask the champion why people stopped using it.",
        ),
        "events_per_month" => plain("Use", "Review their use with the champion."),
        "events_change" => plain("Change in use", "Ask the champion what changed in their use."),
        "days_since_last_use" => plain("Last use", "Call the champion: something stopped them using it."),
        "tenure_days" => plain(
            "Time as a customer",
            "New customers need onboarding attention: check the implementation plan.",
        ),
        "mrr" => plain("Monthly revenue", "Plan the next step of the account's growth."),
        "mrr_change" => plain(
            "Change in revenue",
            "Ask what drove the change in spend; plan the expansion or the save.",
        ),
        "units" => plain("Units bought", "Check that what they bought matches what they use."),
        "days_to_renewal" => plain(
            "Renewal",
            "Start the renewal conversation: value delivered, decision-makers, timeline.",
        ),
        "cases_per_active_user" | "cases_per_month" | "cases_last_14_days" => plain(
            "Support cases",
            "Review the open cases with support and offer a call on the worst.",
        ),
        "case_severity" => plain("Severity of cases", "Escalate the open critical cases with support."),
        "days_to_resolve" => plain(
            "Time to resolve cases",
            "Escalate the cases waiting longest with support.",
        ),
        "how_to_share" => plain(
            "How-to questions",
            "Offer training: many of their cases are questions a session would answer.",
        ),
        "csat" => plain(
            "Support satisfaction (CSAT)",
            "Follow up the latest low ratings with the people who gave them.",
        ),
        "nps" => plain(
            "Recommendation (NPS)",
            "Call the detractors and hear what would change their answer.",
        ),
        "cadence_kept" => plain(
            "Meeting cadence",
            "Book the meetings due with the stakeholder teams you have not met.",
        ),
        "days_since_executive_meeting" => plain(
            "Executive meetings",
            "Book an executive meeting to review outcomes with the sponsor.",
        ),
        "contacts_engaged" => plain(
            "Contacts engaged",
            "Meet more people there: a single contact is a single point of failure.",
        ),
        "outcomes_on_track" => plain(
            "Outcomes on track",
            "Review the success plan with the customer and agree how to recover the outcomes behind.",
        ),
        "outcome_progress" => plain(
            "Progress to outcomes",
            "Review the success plan with the customer and agree how to recover the outcomes behind.",
        ),
        "health" => plain("Health", "Open the account's health to see what holds it down."),
        "adoption_score" => plain("Adoption", "See the account's adoption drivers."),
        "experience_score" => plain("Experience", "See the account's support and survey drivers."),
        "engagement_score" => plain("Engagement", "See the account's meetings and contacts."),
        "transformation_score" => plain("Transformation", "See the account's outcomes."),
        "arr" => plain("ARR", "Larger accounts first."),
        _ => return None,
    })
}

/// A whole number with thousands separated: 82,800.
pub(crate) fn whole(x: f64) -> String {
    let digits = (x.abs().round() as i64).to_string();
    let mut out = String::from(if x < 0.0 { "-" } else { "" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `x` with one decimal when under 10 and not whole, else whole.
fn short(x: f64) -> String {
    if x.abs() < 10.0 && (x - x.round()).abs() >= 0.05 {
        format!("{x:.1}")
    } else {
        whole(x)
    }
}

fn percent(share: f64) -> String {
    format!("{}%", whole(share * 100.0))
}

/// "up 12%" / "down 12%" / "unchanged" for a relative change.
fn moved(change: f64, unit: &str) -> String {
    let amount = (change * 100.0).abs().round();
    if amount == 0.0 {
        "unchanged".into()
    } else if change > 0.0 {
        format!("up {}{unit}", whole(amount))
    } else {
        format!("down {}{unit}", whole(amount))
    }
}

fn plural(n: f64, one: &str, many: &str) -> String {
    if n.round() == 1.0 {
        format!("1 {one}")
    } else {
        format!("{} {many}", short(n))
    }
}

/// The value of a signal (or condition value) as a sentence a CSM would say, without a
/// full stop: "No executive meeting for 93 days", "17% of seats in use".
pub fn in_words(signal: &str, value: f64) -> String {
    if let Some(feature) = signal.strip_prefix("events_per_month:") {
        return format!("{feature} used {} times a month", short(value));
    }
    match signal {
        "utilisation" => format!("{} of seats in use", percent(value)),
        "utilisation_change" => format!("Seats in use {} since the month before", moved(value, " points")),
        "breadth" => format!("{} of the features in use", percent(value)),
        "breadth_change" => format!("Features in use {} since the month before", moved(value, " points")),
        "depth" => format!("{} uses a month per active person", short(value)),
        "depth_change" => format!("Use per person {}", moved(value, "%")),
        "spread" => format!("{} of departments using it", percent(value)),
        "spread_change" => format!("Departments using it {}", moved(value, " points")),
        "active_users" => format!("{} using it", plural(value, "person", "people")),
        "active_users_change" => format!("People using it {}", moved(value, "%")),
        "events_per_month" => format!("{} uses a month", short(value)),
        "events_change" => format!("Use {}", moved(value, "%")),
        "days_since_last_use" if value.round() == 0.0 => "Used today".into(),
        "days_since_last_use" => format!("Not used for {}", plural(value, "day", "days")),
        "tenure_days" => format!("A customer for {}", plural(value, "day", "days")),
        "mrr" => format!("MRR ${}", whole(value)),
        "mrr_change" => format!("Revenue {} over 90 days", moved(value, "%")),
        "units" => format!("{} bought", plural(value, "unit", "units")),
        "days_to_renewal" if value < 0.0 => format!("Renewal {} overdue", plural(-value, "day", "days")),
        "days_to_renewal" => format!("Renews in {}", plural(value, "day", "days")),
        "cases_per_active_user" => format!("{} per active person", plural(value, "support case", "support cases")),
        "cases_per_month" => format!("{} a month", plural(value, "support case", "support cases")),
        "cases_last_14_days" => format!("{} in the last 14 days", plural(value, "support case", "support cases")),
        "case_severity" => format!("Cases of severity {} on average (1 critical, 4 low)", short(value)),
        "days_to_resolve" => format!("Cases take {} to resolve", plural(value, "day", "days")),
        "how_to_share" => format!("{} of cases are how-to questions", percent(value)),
        "csat" => format!("CSAT {} of 5", short(value)),
        "nps" => format!("NPS {}", whole(value)),
        "cadence_kept" => format!("Meeting cadence kept with {} of stakeholder teams", percent(value)),
        "days_since_executive_meeting" => format!("No executive meeting for {}", plural(value, "day", "days")),
        "contacts_engaged" => format!("{} engaged", plural(value, "contact", "contacts")),
        "outcomes_on_track" => format!("{} of outcomes on track", percent(value)),
        "outcome_progress" if (value * 100.0).round() == 0.0 => "Outcomes on plan".into(),
        "outcome_progress" if value > 0.0 => format!("Outcomes {} ahead of plan", percent(value)),
        "outcome_progress" => format!("Outcomes {} behind plan", percent(-value)),
        "health" => format!("Health {}", whole(value)),
        "adoption_score" => format!("Adoption {}", whole(value)),
        "experience_score" => format!("Experience {}", whole(value)),
        "engagement_score" => format!("Engagement {}", whole(value)),
        "transformation_score" => format!("Transformation {}", whole(value)),
        "arr" => format!("ARR ${}", whole(value)),
        other => format!(
            "{} {}",
            signal_label(other).unwrap_or_else(|| other.to_string()),
            short(value)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::facts::EXTRA_VALUES;
    use crate::health::inputs::SIGNALS;

    #[test]
    fn values_read_as_sentences() {
        assert_eq!(
            in_words("days_since_executive_meeting", 93.0),
            "No executive meeting for 93 days"
        );
        assert_eq!(in_words("utilisation", 0.1749), "17% of seats in use");
        assert_eq!(in_words("days_to_renewal", 58.0), "Renews in 58 days");
        assert_eq!(in_words("days_to_renewal", -3.0), "Renewal 3 days overdue");
        assert_eq!(in_words("health", 42.81), "Health 43", "never unrounded");
        assert_eq!(
            in_words("cases_last_14_days", 1.0),
            "1 support case in the last 14 days"
        );
        assert_eq!(in_words("active_users_change", -0.274), "People using it down 27%");
        assert_eq!(in_words("csat", 3.46), "CSAT 3.5 of 5");
        assert_eq!(in_words("arr", 1234567.0), "ARR $1,234,567");
        assert_eq!(
            in_words("events_per_month:reports", 12.0),
            "reports used 12 times a month"
        );
        assert_eq!(in_words("outcome_progress", -0.2), "Outcomes 20% behind plan");
    }

    #[test]
    fn every_signal_and_value_has_a_plain_name_and_advice() {
        let names = SIGNALS
            .iter()
            .map(|s| s.name)
            .chain(EXTRA_VALUES.iter().map(|(n, _)| *n));
        for name in names {
            let p = plain_of(name).unwrap_or_else(|| panic!("{name} has no plain name"));
            assert!(!p.name.is_empty() && p.advice.ends_with('.'), "{name}");
            let words = in_words(name, 12.0);
            assert!(!words.contains('_') && !words.contains("12.00"), "{name}: {words}");
        }
        assert!(plain_of("events_per_month:x").is_some());
        assert_eq!(plain_of("nonsense"), None);
    }
}
