//! Coverage files: the text read and checked (`CoverageRules::from_toml`; the shipped
//! rules when the text is empty), written out and read back as the same rules, then the
//! roles required and the changes planned for arbitrary accounts, current holders and
//! teams. A change never starts a member in a role they do not hold.
#![no_main]

use arbitrary::{Result, Unstructured};
use laer_core::automation::{Books, CoverageChange, CoverageRules, Holder, Member};
use laer_core::model::TeamRole;
use laer_fuzz::{facts, split};
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8]) -> Result<()> {
    let (text, rest) = split(data);
    let mut u = Unstructured::new(rest);
    let rules = match text {
        Some("") => CoverageRules::default(),
        Some(text) => match CoverageRules::from_toml(text) {
            Ok(r) => r,
            Err(_) => return Ok(()),
        },
        None => return Ok(()),
    };
    let file = rules.to_toml();
    assert_eq!(
        CoverageRules::from_toml(&file).as_ref(),
        Ok(&rules),
        "accepted rules read back from their own file:\n{file}"
    );
    let mut team = Vec::new();
    for id in 0..u.int_in_range(0..=6i64)? {
        let mut roles = Vec::new();
        for role in TeamRole::ALL {
            if u.arbitrary()? {
                roles.push(*role);
            }
        }
        team.push(Member {
            id,
            external_id: format!("t{id}"),
            name: u.arbitrary()?,
            email: u.arbitrary()?,
            roles,
        });
    }
    let mut books = Books::default();
    for _ in 0..u.int_in_range(1..=4u8)? {
        let facts = facts(&mut u)?;
        let _ = rules.is_tech_touch(&facts);
        let mut current = Vec::new();
        for _ in 0..u.int_in_range(0..=3u8)? {
            current.push(Holder {
                role: *u.choose(TeamRole::ALL)?,
                member_id: u.int_in_range(-1..=7i64)?,
                by_hand: u.ratio(1, 4)?,
            });
        }
        for change in rules.plan(&facts, &current, &team, &mut books) {
            if let CoverageChange::Start { role, member_id, .. } = change {
                let member = team.iter().find(|m| m.id == member_id);
                assert!(
                    member.is_some_and(|m| m.roles.contains(&role)),
                    "{role:?} to {member_id}"
                );
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
