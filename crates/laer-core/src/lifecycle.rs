//! The LAER lifecycle: the phase an account is in (Land → Adopt → Expand → Renew, or
//! churned) and the documented rules that place it there (docs/health.md, "Phases"), with
//! a manual override. The rules are part of the health model in use
//! ([`crate::health::HealthModel::phases`]); nothing here has a default of its own.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::model::{TeamRole, text_enum};

text_enum!(
    /// Where an account is in Land → Adopt → Expand → Renew; `churned` once no contract
    /// runs.
    Phase { Land = "land", Adopt = "adopt", Expand = "expand", Renew = "renew", Churned = "churned" }
);

impl Phase {
    /// The phase's name in a sentence: "Land".
    pub fn label(self) -> &'static str {
        match self {
            Phase::Land => "Land",
            Phase::Adopt => "Adopt",
            Phase::Expand => "Expand",
            Phase::Renew => "Renew",
            Phase::Churned => "Churned",
        }
    }

    /// The roles that lead an account in this phase by the coverage model, the first
    /// that covers it leading: the account executive while landing, the expansion
    /// specialist for an expansion, the renewal specialist when one joined the renewal,
    /// else the CSM.
    pub fn leading_roles(self) -> &'static [TeamRole] {
        match self {
            Phase::Land => &[TeamRole::AccountExecutive, TeamRole::Csm],
            Phase::Expand => &[TeamRole::ExpansionSpecialist, TeamRole::Csm],
            Phase::Renew => &[TeamRole::RenewalSpecialist, TeamRole::Csm],
            Phase::Adopt | Phase::Churned => &[TeamRole::Csm, TeamRole::AccountExecutive],
        }
    }
}

/// The documented rules that place an account in its LAER phase (see [`phase`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseRules {
    /// Activated once this share of the seats has used the product since landing (any
    /// use without seats).
    pub activation_share: f64,
    /// Adoption targets for Expand: utilisation and breadth both at least these.
    pub expand_utilisation: f64,
    pub expand_breadth: f64,
    /// A term contract is in Renew this many days before its renewal date, and after it.
    pub renew_days: i64,
    /// Without any usage data in the workspace, landing lasts this long.
    pub land_days_without_usage: i64,
}

/// What the phase rules look at, as of a day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseFacts {
    pub as_of: Option<NaiveDate>,
    /// A contract runs on the day.
    pub customer: bool,
    /// The first day of its first contract.
    pub landed_on: Option<NaiveDate>,
    /// The longest billing period of the contracts running, in months.
    pub term_months: Option<i32>,
    pub renewal_date: Option<NaiveDate>,
    /// Whether the workspace tracks usage at all (any event ever).
    pub usage_tracked: bool,
    pub seats: Option<f64>,
    /// Distinct users since landing.
    pub users_ever: u32,
    pub utilisation: Option<f64>,
    pub breadth: Option<f64>,
    /// An expansion specialist covers the account.
    pub expansion_specialist: bool,
    /// The phase someone set by hand.
    pub set_by_hand: Option<Phase>,
}

/// A phase and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseDecision {
    pub phase: Phase,
    pub reason: String,
}

/// The phase, by the first rule that applies:
/// 1. no contract running: churned (land before the first one starts);
/// 2. set by hand: that phase;
/// 3. a term of 12 months or more renewing within `renew_days`, or overdue: renew;
/// 4. landed and not yet activated (usage tracked: `activation_share` of the seats, or
///    anyone without seats, used it since landing; untracked: landed under
///    `land_days_without_usage` ago): land;
/// 5. adoption targets met (utilisation and breadth) or an expansion specialist on it:
///    expand;
/// 6. a monthly contract: renew — its renewal is continuous;
/// 7. adopt.
pub fn phase(facts: &PhaseFacts, rules: &PhaseRules) -> PhaseDecision {
    let decide = |phase: Phase, reason: String| PhaseDecision { phase, reason };
    let Some(today) = facts.as_of else {
        return decide(Phase::Land, "no date".into());
    };
    if !facts.customer {
        return match facts.landed_on {
            Some(landed) if landed <= today => decide(Phase::Churned, "no contract runs".into()),
            _ => decide(Phase::Land, "the first contract has not started".into()),
        };
    }
    if let Some(phase) = facts.set_by_hand {
        return decide(phase, "set by hand".into());
    }
    let term = facts.term_months.unwrap_or(1);
    if let Some(renewal) = facts.renewal_date.filter(|_| term >= 12) {
        let days = (renewal - today).num_days();
        if days < 0 {
            return decide(Phase::Renew, format!("renewal overdue since {renewal}"));
        }
        if days <= rules.renew_days {
            return decide(Phase::Renew, format!("renews on {renewal}, in {days} days"));
        }
    }
    let activated = if facts.usage_tracked {
        let needed = facts
            .seats
            .filter(|s| *s > 0.0)
            .map_or(1.0, |s| (s * rules.activation_share).ceil().max(1.0));
        f64::from(facts.users_ever) >= needed
    } else {
        facts
            .landed_on
            .is_none_or(|l| (today - l).num_days() >= rules.land_days_without_usage)
    };
    if !activated {
        let why = if facts.usage_tracked {
            format!("{} of the seats have not used it yet", percent(rules.activation_share))
        } else {
            format!("landed under {} days ago", rules.land_days_without_usage)
        };
        return decide(Phase::Land, why);
    }
    let targets_met = facts.utilisation.is_some_and(|u| u >= rules.expand_utilisation)
        && facts.breadth.is_some_and(|b| b >= rules.expand_breadth);
    if targets_met {
        return decide(Phase::Expand, "adoption targets met".into());
    }
    if facts.expansion_specialist {
        return decide(Phase::Expand, "an expansion specialist covers it".into());
    }
    if term < 12 {
        return decide(Phase::Renew, "a monthly contract renews continuously".into());
    }
    decide(Phase::Adopt, "activated, adoption targets not yet met".into())
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::model::HealthModel;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// An annual customer landed a year ago with 10 seats, 5 users, renewing in 200 days.
    fn annual() -> PhaseFacts {
        PhaseFacts {
            as_of: Some(day("2026-06-01")),
            customer: true,
            landed_on: Some(day("2025-06-01")),
            term_months: Some(12),
            renewal_date: Some(day("2026-12-18")),
            usage_tracked: true,
            seats: Some(10.0),
            users_ever: 5,
            utilisation: Some(0.5),
            breadth: Some(0.4),
            expansion_specialist: false,
            set_by_hand: None,
        }
    }

    fn phase_of(facts: PhaseFacts) -> Phase {
        phase(&facts, &HealthModel::default().phases).phase
    }

    #[test]
    fn the_rules_in_order() {
        assert_eq!(phase_of(annual()), Phase::Adopt);
        let renewing = PhaseFacts {
            renewal_date: Some(day("2026-09-29")),
            ..annual()
        };
        assert_eq!(phase_of(renewing.clone()), Phase::Renew, "120 days before");
        let overdue = PhaseFacts {
            renewal_date: Some(day("2026-05-01")),
            ..annual()
        };
        assert_eq!(phase_of(overdue), Phase::Renew);
        assert_eq!(
            phase_of(PhaseFacts {
                users_ever: 2,
                ..annual()
            }),
            Phase::Land,
            "3 of 10 seats are needed to activate"
        );
        assert_eq!(
            phase_of(PhaseFacts {
                users_ever: 2,
                ..renewing.clone()
            }),
            Phase::Renew,
            "the renewal comes first"
        );
        let adopted = PhaseFacts {
            utilisation: Some(0.85),
            breadth: Some(0.5),
            ..annual()
        };
        assert_eq!(phase_of(adopted.clone()), Phase::Expand);
        assert_eq!(
            phase_of(PhaseFacts {
                expansion_specialist: true,
                ..annual()
            }),
            Phase::Expand
        );
        let monthly = PhaseFacts {
            term_months: Some(1),
            renewal_date: None,
            ..annual()
        };
        assert_eq!(phase_of(monthly.clone()), Phase::Renew);
        assert_eq!(
            phase_of(PhaseFacts {
                users_ever: 0,
                ..monthly.clone()
            }),
            Phase::Land
        );
        assert_eq!(
            phase_of(PhaseFacts {
                utilisation: Some(0.9),
                breadth: Some(0.9),
                ..monthly
            }),
            Phase::Expand
        );
        assert_eq!(
            phase_of(PhaseFacts {
                customer: false,
                ..annual()
            }),
            Phase::Churned
        );
        assert_eq!(
            phase_of(PhaseFacts {
                customer: false,
                landed_on: Some(day("2026-07-01")),
                ..annual()
            }),
            Phase::Land,
            "booked, not started"
        );
    }

    #[test]
    fn without_usage_data_landing_lasts_a_while_and_without_seats_one_user_activates() {
        let untracked = PhaseFacts {
            usage_tracked: false,
            users_ever: 0,
            ..annual()
        };
        assert_eq!(phase_of(untracked.clone()), Phase::Adopt);
        assert_eq!(
            phase_of(PhaseFacts {
                landed_on: Some(day("2026-04-01")),
                ..untracked
            }),
            Phase::Land
        );
        let seatless = PhaseFacts {
            seats: None,
            users_ever: 1,
            ..annual()
        };
        assert_eq!(phase_of(seatless), Phase::Adopt);
    }

    #[test]
    fn a_phase_set_by_hand_wins_until_the_contract_ends() {
        let by_hand = PhaseFacts {
            set_by_hand: Some(Phase::Expand),
            renewal_date: Some(day("2026-07-01")),
            ..annual()
        };
        let decided = phase(&by_hand, &HealthModel::default().phases);
        assert_eq!((decided.phase, decided.reason.as_str()), (Phase::Expand, "set by hand"));
        assert_eq!(
            phase_of(PhaseFacts {
                customer: false,
                ..by_hand
            }),
            Phase::Churned
        );
    }
}
