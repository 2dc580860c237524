//! Validation of tracking calls (`laer_core::segment`), as `/v1/{call}` runs it: the
//! body's JSON parsed, then checked as a batch (first byte 0 or 1) or as a call of one
//! endpoint. A call it accepts has a message id, a user, its kind's required fields and
//! no NUL anywhere (PostgreSQL text cannot hold one).
#![no_main]

use std::cell::Cell;

use chrono::{TimeZone, Utc};
use laer_core::segment::{CallKind, Envelope, parse_batch, parse_call, text_may_hold_nul};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const ENDPOINTS: [&str; 6] = ["track", "identify", "group", "page", "screen", "alias"];

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let endpoint = match first % 8 {
        0 | 1 => None,
        n => CallKind::parse(ENDPOINTS[usize::from(n - 2)]),
    };
    let Some(received_at) = Utc.timestamp_opt(1_780_000_000, 0).single() else {
        return;
    };
    let issued = Cell::new(0u32);
    let fresh = || {
        issued.set(issued.get() + 1);
        format!("fresh-{}", issued.get())
    };
    let envelope = Envelope {
        endpoint,
        batch_sent_at: None,
        batch_context: None,
        received_at,
        fresh_message_id: &fresh,
        // As the server does: the calls are searched for NUL only when their text may
        // hold one, so the assertion below checks that shortcut too.
        may_hold_nul: text_may_hold_nul(body),
    };
    let calls = match endpoint {
        None => parse_batch(value, body.len(), &envelope),
        Some(_) => parse_call(value, &envelope).map(|call| vec![call]),
    };
    let Ok(calls) = calls else {
        return;
    };
    for call in calls {
        assert!(!call.message_id.is_empty(), "a message id");
        assert!(!call.user_key().is_empty(), "a user");
        assert!(endpoint.is_none_or(|e| e == call.kind), "the endpoint's kind");
        match call.kind {
            CallKind::Group => assert!(call.group_id.is_some()),
            CallKind::Alias => assert!(call.previous_id.is_some()),
            kind if kind.is_usage() => assert!(call.event.as_ref().is_some_and(|e| !e.trim().is_empty())),
            _ => {}
        }
        assert!(!has_nul(&call.payload), "no NUL in {:?}", call.payload);
        for text in [
            &call.user_id,
            &call.anonymous_id,
            &call.group_id,
            &call.event,
            &call.previous_id,
        ]
        .into_iter()
        .flatten()
        .chain([&call.message_id])
        {
            assert!(!text.contains('\0'));
        }
        let _ = call.value();
        assert!(serde_json::to_vec(&call.payload).is_ok());
    }
});
