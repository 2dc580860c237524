//! Playbook files: the text read and checked (`Playbooks::from_toml`; the shipped
//! playbooks when the text is empty), written out and read back as the same playbooks,
//! then evaluated for arbitrary accounts with arbitrary open episodes: tasks and emails
//! filled in from the account's values. Nothing may panic.
#![no_main]

use arbitrary::{Result, Unstructured};
use laer_core::automation::{OpenRun, Playbooks, RunChange};
use laer_fuzz::{day, facts, recent_day, split};
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8]) -> Result<()> {
    let (text, rest) = split(data);
    let mut u = Unstructured::new(rest);
    let playbooks = match text {
        Some("") => Playbooks::default(),
        Some(text) => match Playbooks::from_toml(text) {
            Ok(p) => p,
            Err(_) => return Ok(()),
        },
        None => return Ok(()),
    };
    let file = playbooks.to_toml();
    assert_eq!(
        Playbooks::from_toml(&file).as_ref(),
        Ok(&playbooks),
        "accepted playbooks read back from their own file:\n{file}"
    );
    let names: Vec<String> = playbooks.playbooks.iter().map(|p| p.name.clone()).collect();
    for _ in 0..u.int_in_range(1..=4u8)? {
        let facts = facts(&mut u)?;
        let mut open = Vec::new();
        for _ in 0..u.int_in_range(0..=4u8)? {
            open.push(OpenRun {
                playbook: match u.choose(&names) {
                    Ok(name) if u.ratio(7, 8)? => name.clone(),
                    _ => u.arbitrary()?,
                },
                cause: u.arbitrary()?,
                quiet_since: match u.int_in_range(0..=3u8)? {
                    0 => Some(day(&mut u)?),
                    1 => Some(recent_day(&mut u)?),
                    _ => None,
                },
            });
        }
        for change in playbooks.evaluate(&facts, &open) {
            if let RunChange::Fire(firing) = change {
                assert!(names.contains(&firing.playbook));
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
