//! People and names: the vendor's team, customer names and domains, customer contacts.

use std::collections::BTreeSet;
use std::ops::Range;

use super::catalog::{
    FIRST_NAMES, LAST_NAMES, NAME_ENDINGS, NAME_STEMS, NAME_VARIANTS, STAKEHOLDER_TEAMS, Segment, TITLES, VENDOR_DOMAIN,
};
use super::dice::{Dice, Stream};
use laer_core::model::{NewContact, NewTeamMember, TeamRole};

/// The vendor's customer-facing team, and where each role sits in `members`.
pub struct Team {
    pub members: Vec<NewTeamMember>,
    pub account_executives: Range<usize>,
    /// Pooled CSMs (small businesses) first, then named CSMs.
    pub csms: Range<usize>,
    pub pooled_csms: usize,
    pub renewal_specialist: usize,
    pub expansion_specialist: usize,
}

/// A team sized for the book: an account executive per ~70 accounts, a CSM per ~45
/// (a quarter of them pooled, for small businesses, the rest named).
pub fn team(accounts: usize, seed: u64) -> Team {
    let mut dice = Dice::new(seed, Stream::People, u64::MAX);
    let executives = accounts.div_ceil(70).clamp(2, 150);
    let csms = accounts.div_ceil(45).clamp(3, 250);
    let mut roles: Vec<Vec<TeamRole>> = Vec::new();
    roles.extend((0..executives).map(|_| vec![TeamRole::AccountExecutive]));
    roles.extend((0..csms).map(|_| vec![TeamRole::Csm]));
    roles.push(vec![TeamRole::RenewalSpecialist]);
    roles.push(vec![TeamRole::ExpansionSpecialist]);
    roles.push(vec![TeamRole::CsLeader, TeamRole::Admin]);
    let mut emails = BTreeSet::new();
    let mut used_names = BTreeSet::new();
    let members = roles
        .into_iter()
        .enumerate()
        .map(|(i, roles)| {
            // Colleagues with distinct first and last names, while the lists last.
            let mut name = person_name(&mut dice);
            for _ in 0..20 {
                if !used_names.contains(name.0) && !used_names.contains(name.1) {
                    break;
                }
                name = person_name(&mut dice);
            }
            let (first, last) = name;
            used_names.extend([first, last]);
            NewTeamMember {
                external_id: format!("team-{:03}", i + 1),
                name: format!("{first} {last}"),
                email: Some(unique_email(&mut emails, first, last, VENDOR_DOMAIN)),
                roles: Some(roles),
            }
        })
        .collect();
    let csm_start = executives;
    let specialists = csm_start + csms;
    Team {
        members,
        account_executives: 0..executives,
        csms: csm_start..specialists,
        pooled_csms: csms.div_ceil(4).min(csms - 1),
        renewal_specialist: specialists,
        expansion_specialist: specialists + 1,
    }
}

pub fn person_name(dice: &mut Dice) -> (&'static str, &'static str) {
    (*dice.pick(&FIRST_NAMES), *dice.pick(&LAST_NAMES))
}

/// `first.last@domain`, with a number when the address is taken.
pub fn unique_email(taken: &mut BTreeSet<String>, first: &str, last: &str, domain: &str) -> String {
    let local = format!("{}.{}", slug(first, ""), slug(last, ""));
    let mut email = format!("{local}@{domain}");
    let mut n = 2;
    while !taken.insert(email.clone()) {
        email = format!("{local}{n}@{domain}");
        n += 1;
    }
    email
}

/// Lower-case ASCII letters and digits, words joined by `separator`.
fn slug(text: &str, separator: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(separator)
}

/// A customer's name, industry and e-mail domain.
pub struct Identity {
    pub name: String,
    pub industry: &'static str,
    pub domain: String,
}

/// Unique names for `count` accounts: stems and endings in a seeded order, then with
/// variants ("Group", "Holdings", ...), then numbered.
pub fn identities(count: usize, seed: u64) -> Vec<Identity> {
    let mut dice = Dice::new(seed, Stream::Company, 0);
    let mut pairs: Vec<(usize, usize)> = (0..NAME_STEMS.len())
        .flat_map(|s| (0..NAME_ENDINGS.len()).map(move |e| (s, e)))
        .collect();
    dice.shuffle(&mut pairs);
    let per_round = pairs.len() * NAME_VARIANTS.len();
    (0..count)
        .map(|i| {
            let (stem, ending) = pairs[i % pairs.len()];
            let variant = NAME_VARIANTS[(i / pairs.len()) % NAME_VARIANTS.len()];
            let round = i / per_round;
            let number = if round > 0 {
                format!(" {}", round + 1)
            } else {
                String::new()
            };
            let (ending_name, industry) = NAME_ENDINGS[ending];
            let name = format!("{} {ending_name}{variant}{number}", NAME_STEMS[stem]);
            let domain = format!("{}.example", slug(&name, "-"));
            Identity { name, industry, domain }
        })
        .collect()
}

/// The people at a customer: stakeholder teams by segment, one champion, an executive
/// sponsor, decision makers and users. External ids "contact-AAAA-NN".
pub fn contacts(account: usize, segment: Segment, domain: &str, seed: u64) -> Vec<NewContact> {
    let mut dice = Dice::new(seed, Stream::People, account as u64);
    // People per stakeholder team (same order as STAKEHOLDER_TEAMS).
    let sizes: [i64; 4] = match segment {
        Segment::Enterprise => [2, dice.int(2, 3), 2, dice.int(2, 4)],
        Segment::MidMarket => [1, dice.int(1, 2), 1, dice.int(2, 3)],
        Segment::Smb => [1, 0, 0, dice.int(1, 2)],
    };
    let champion_team = if segment == Segment::Smb || dice.chance(0.6) {
        3
    } else {
        1
    };
    let mut emails = BTreeSet::new();
    let mut contacts = Vec::new();
    for (team, size) in sizes.into_iter().enumerate() {
        for n in 0..size {
            let role = match (team, n) {
                (0, 0) => "executive_sponsor",
                (0, _) => "decision_maker",
                (t, 0) if t == champion_team => "champion",
                (_, 0) if segment != Segment::Smb => "decision_maker",
                _ => "user",
            };
            let title = if n == 0 {
                TITLES[team][0]
            } else {
                *dice.pick(&TITLES[team][1..])
            };
            let (first, last) = person_name(&mut dice);
            contacts.push(NewContact {
                external_id: format!("contact-{:04}-{:02}", account + 1, contacts.len() + 1),
                account_id: account as i64,
                name: Some(format!("{first} {last}")),
                email: Some(unique_email(&mut emails, first, last, domain)),
                phone: None,
                title: Some(title.to_string()),
                stakeholder_team: Some(STAKEHOLDER_TEAMS[team].0.to_string()),
                role: Some(role.to_string()),
            });
        }
    }
    contacts
}
