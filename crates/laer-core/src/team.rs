//! A leader's view of the team (issue 16), pure: per person, the accounts they cover and
//! lead, the ARR of those accounts, their open and overdue tasks and the health mix of
//! their book; and whose load is out of line with the rest of the team.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::attention::{Attention, OpenWork, Urgency};
use crate::lifecycle::PhaseRules;
use crate::model::TeamRole;
use crate::money::Money;
use crate::portfolio::AccountSnapshot;

/// A book this many times the median of the others' is flagged as too large. (Small books
/// are not flagged: specialists and account executives cover a few accounts by design.)
pub const IMBALANCE_TIMES: f64 = 1.5;

/// One person's load.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub member_id: i64,
    pub name: String,
    /// The roles they cover accounts in, each once.
    pub roles: Vec<TeamRole>,
    /// Accounts they cover in any role.
    pub accounts: usize,
    /// Accounts they lead in the account's current phase.
    pub leads: usize,
    /// The ARR of the accounts they cover.
    pub arr: Money,
    pub urgent: usize,
    pub watch: usize,
    pub steady: usize,
    pub unscored: usize,
    pub work: OpenWork,
    /// Set when their book is out of line with the others'.
    pub imbalance: Option<Imbalance>,
}

/// A book out of line: how many times the others' median it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Imbalance {
    pub times: f64,
    pub median_of_others: f64,
}

/// Each person who covers an account, or has open work, by name. `names` gives the team
/// members' names; `work` their open work by assignee.
pub fn loads(
    accounts: &[AccountSnapshot],
    names: &HashMap<i64, String>,
    work: &HashMap<i64, OpenWork>,
    attention: &Attention,
    today: NaiveDate,
    rules: &PhaseRules,
) -> Vec<Load> {
    let mut by_member: HashMap<i64, Load> = HashMap::new();
    let blank = |id: i64, name: &str| Load {
        member_id: id,
        name: name.to_string(),
        roles: Vec::new(),
        accounts: 0,
        leads: 0,
        arr: Money::default(),
        urgent: 0,
        watch: 0,
        steady: 0,
        unscored: 0,
        work: work.get(&id).copied().unwrap_or_default(),
        imbalance: None,
    };
    for a in accounts {
        let lead = a.phase_owner(today, rules).map(|o| o.member_id);
        let mut seen: Vec<i64> = Vec::new();
        for o in &a.owners {
            let load = by_member
                .entry(o.member_id)
                .or_insert_with(|| blank(o.member_id, &o.name));
            if !load.roles.contains(&o.role) {
                load.roles.push(o.role);
            }
            if seen.contains(&o.member_id) {
                continue;
            }
            seen.push(o.member_id);
            load.accounts += 1;
            load.arr = load.arr.checked_add(a.arr()).unwrap_or(load.arr);
            if lead == Some(o.member_id) {
                load.leads += 1;
            }
            match attention.urgency(a.health_score()) {
                Some(Urgency::Urgent) => load.urgent += 1,
                Some(Urgency::Watch) => load.watch += 1,
                Some(Urgency::Steady) => load.steady += 1,
                None => load.unscored += 1,
            }
        }
    }
    for (id, w) in work {
        if w.open > 0 {
            let name = names.get(id).map_or("?", String::as_str);
            by_member.entry(*id).or_insert_with(|| blank(*id, name));
        }
    }
    let mut loads: Vec<Load> = by_member.into_values().collect();
    for load in &mut loads {
        if let Some(name) = names.get(&load.member_id) {
            load.name.clone_from(name);
        }
        load.roles.sort_by_key(|r| r.as_str());
    }
    let books: Vec<(i64, usize)> = loads
        .iter()
        .filter(|l| l.accounts > 0)
        .map(|l| (l.member_id, l.accounts))
        .collect();
    for load in loads.iter_mut().filter(|l| l.accounts > 0) {
        let mut others: Vec<f64> = books
            .iter()
            .filter(|(id, _)| *id != load.member_id)
            .map(|(_, n)| *n as f64)
            .collect();
        let Some(median) = crate::stats::median(&mut others) else {
            continue;
        };
        let times = load.accounts as f64 / median;
        if times >= IMBALANCE_TIMES {
            load.imbalance = Some(Imbalance {
                times,
                median_of_others: median,
            });
        }
    }
    loads.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.member_id.cmp(&b.member_id))
    });
    loads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portfolio::Owner;

    fn account(id: i64, owners: &[(i64, TeamRole)], mrr: i64) -> AccountSnapshot {
        AccountSnapshot {
            id,
            external_id: format!("a{id}"),
            name: None,
            segment: None,
            renewal_date: None,
            landed_on: Some("2024-01-01".parse().unwrap()),
            term_months: Some(12),
            mrr: Money::from_units(mrr).unwrap(),
            mrr_before: Money::from_units(mrr).unwrap(),
            owners: owners
                .iter()
                .map(|(m, r)| Owner {
                    role: *r,
                    member_id: *m,
                    name: format!("m{m}"),
                })
                .collect(),
            health: None,
        }
    }

    #[test]
    fn a_book_out_of_line_with_the_others_is_flagged() {
        // Three CSMs with 26, 27 and 26 accounts; a renewal specialist on 71 of them.
        let mut accounts = Vec::new();
        let mut id = 0;
        for (csm, n) in [(1, 26), (2, 27), (3, 26)] {
            for i in 0..n {
                id += 1;
                let mut owners = vec![(csm, TeamRole::Csm)];
                if i < 24 {
                    owners.push((9, TeamRole::RenewalSpecialist));
                }
                if csm == 1 && i < 3 {
                    owners.push((6, TeamRole::ExpansionSpecialist));
                }
                accounts.push(account(id, &owners, 100));
            }
        }
        let names: HashMap<i64, String> = [(1, "Ann"), (2, "Bo"), (3, "Cy"), (9, "Isa"), (5, "Eve"), (6, "Xan")]
            .into_iter()
            .map(|(id, n)| (id, n.to_string()))
            .collect();
        let mut work = HashMap::new();
        work.insert(5, OpenWork { open: 2, overdue: 1 });
        work.insert(1, OpenWork { open: 3, overdue: 0 });
        let rules = crate::health::HealthModel::default().phases;
        let today = "2026-12-03".parse().unwrap();
        let loads = loads(&accounts, &names, &work, &Attention::default(), today, &rules);
        let of = |name: &str| loads.iter().find(|l| l.name == name).unwrap();
        assert_eq!(of("Isa").accounts, 72);
        let flag = of("Isa").imbalance.expect("flagged");
        assert!(
            (flag.median_of_others - 26.0).abs() < 1e-9 && flag.times > 2.7,
            "{flag:?}"
        );
        assert_eq!(of("Ann").imbalance, None);
        assert_eq!(
            (of("Xan").accounts, of("Xan").imbalance),
            (3, None),
            "a small book is not flagged"
        );
        assert_eq!(of("Ann").work.open, 3);
        assert_eq!(of("Ann").arr, Money::from_units(26 * 1200).unwrap());
        assert_eq!(of("Ann").unscored, 26, "no health yet");
        // Someone with open work but no book is listed, without a flag.
        assert_eq!(
            (of("Eve").accounts, of("Eve").work.overdue, of("Eve").imbalance),
            (0, 1, None)
        );
        assert_eq!(
            loads.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["Ann", "Bo", "Cy", "Eve", "Isa", "Xan"]
        );
    }
}
