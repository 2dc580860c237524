//! The import's row parser: a CSV file of any kind (or, with the first byte's high bit
//! set, one JSON object as a REST write sends it) checked as an import reads it, against
//! a context that knows one record of everything rows refer to (`a1`, `c1`, `o1`, `t1`,
//! `e1`). It must answer the rows or the errors, never panic.
#![no_main]

use laer_import::{Context, ImportError, Kind, Refers, check_csv, check_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let kind = Kind::ALL[usize::from(first & 0x7f) % Kind::ALL.len()];
    let mut cx = Context::none()
        .knowing(Refers::Accounts, "a1", 1)
        .knowing(Refers::Contacts, "c1", 1)
        .knowing(Refers::Outcomes, "o1", 1)
        .knowing(Refers::TeamMembers, "t1", 1)
        .knowing(Refers::EventTypes, "e1", 1);
    if first & 0x80 != 0 {
        if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(rest) {
            if let Err(e) = check_json(kind, &object, &mut cx) {
                assert!(!e.message.is_empty());
            }
        }
        return;
    }
    match check_csv(kind, rest, &mut cx) {
        Ok(_) | Err(ImportError::Csv { .. }) => {}
        Err(ImportError::Rejected { count, errors, .. }) => {
            assert!(count >= 1 && !errors.is_empty() && errors.len() as u64 <= count);
            assert!(errors.iter().all(|e| e.line >= 1 && !e.message.is_empty()));
        }
        Err(other) => panic!("only row and CSV errors without a store: {other}"),
    }
});
