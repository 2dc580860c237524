//! Syncs: a tap that laer runs on a schedule. What a sync definition may say, when a sync
//! is due, and how long it waits after a failure. Decisions only; running the tap is the
//! application's.

use serde::{Deserialize, Serialize};

/// The shortest and longest schedule, in minutes.
pub const MIN_EVERY_MINUTES: i64 = 5;
pub const MAX_EVERY_MINUTES: i64 = 7 * 24 * 60;
/// The longest wait after failures, in minutes (when the schedule is not shorter).
pub const MAX_BACKOFF_MINUTES: i64 = 6 * 60;

/// Why a sync definition is refused; each names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncDefinitionError {
    #[error("name: {0}")]
    Name(String),
    #[error("tap: {0}")]
    Tap(String),
    #[error("every: {0}")]
    Every(String),
    #[error("config: {0}")]
    Config(String),
    #[error("catalog: {0}")]
    Catalog(String),
}

/// A sync's name: what `laer sync run NAME` and the admin page call it.
pub fn check_name(name: &str) -> Result<&str, SyncDefinitionError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(SyncDefinitionError::Name(format!(
            "{name:?}: use 1 to 64 letters, digits, - and _"
        )))
    }
}

/// A tap is named as a program in the server's taps directory (`--taps-dir`): a name,
/// never a path, so that what a sync runs is only what an operator put there.
pub fn check_tap(tap: &str) -> Result<&str, SyncDefinitionError> {
    let ok = !tap.is_empty()
        && tap.len() <= 100
        && !tap.starts_with('.')
        && tap
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(tap)
    } else {
        Err(SyncDefinitionError::Tap(format!(
            "{tap:?}: name a program in the taps directory (letters, digits, -, _ and .), not a path"
        )))
    }
}

/// The schedule: `30m`, `2h`, `1d` or minutes alone, between 5 minutes and 7 days.
pub fn parse_every(text: &str) -> Result<i64, SyncDefinitionError> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "m"),
    };
    let minutes_per = match unit.trim() {
        "m" | "min" | "minutes" => 1,
        "h" | "hours" => 60,
        "d" | "days" => 24 * 60,
        _ => 0,
    };
    let minutes = number
        .parse::<i64>()
        .ok()
        .filter(|_| minutes_per > 0)
        .and_then(|n| n.checked_mul(minutes_per));
    match minutes {
        Some(m) if (MIN_EVERY_MINUTES..=MAX_EVERY_MINUTES).contains(&m) => Ok(m),
        Some(m) => Err(SyncDefinitionError::Every(format!(
            "{m} minutes; a sync runs every {MIN_EVERY_MINUTES} minutes to 7 days"
        ))),
        None => Err(SyncDefinitionError::Every(format!(
            "{text:?}: write minutes as 30m, hours as 2h, days as 1d"
        ))),
    }
}

/// A tap's config or catalog: a JSON object.
pub fn check_json_object(text: &str, field: fn(String) -> SyncDefinitionError) -> Result<(), SyncDefinitionError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(field("expected a JSON object".into())),
        Err(e) => Err(field(format!("not JSON: {e}"))),
    }
}

/// When a sync runs next, as stored: due when asked for, or at its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Unix seconds; `None`: at once (a new sync).
    pub next_run_at: Option<i64>,
    pub requested: bool,
}

impl Timing {
    pub fn is_due(&self, now: i64) -> bool {
        self.requested || self.next_run_at.is_none_or(|at| at <= now)
    }
}

/// When a sync that succeeded runs next: a schedule's length after it started.
pub fn next_after_success(started: i64, every_minutes: i64) -> i64 {
    started + every_minutes * 60
}

/// When a sync that failed for the `failures`th time in a row runs again: after 1, 2, 4,
/// ... minutes, at most the schedule's length or [`MAX_BACKOFF_MINUTES`].
pub fn next_after_failure(now: i64, failures: u32, every_minutes: i64) -> i64 {
    let doubled = 1i64 << failures.saturating_sub(1).min(20);
    now + doubled.min(every_minutes.min(MAX_BACKOFF_MINUTES)) * 60
}

/// The last `max` bytes of a tap's error output, cut at a character boundary: what the
/// admin page shows of a run.
pub fn keep_tail(kept: &mut Vec<u8>, more: &[u8], max: usize) {
    kept.extend_from_slice(more);
    if kept.len() > max {
        let mut cut = kept.len() - max;
        // Not inside a UTF-8 character: continuation bytes are 10xxxxxx.
        while cut < kept.len() && (kept[cut] & 0xC0) == 0x80 {
            cut += 1;
        }
        kept.drain(..cut);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn definitions_are_checked_field_by_field() {
        assert!(check_name("warehouse_pg-1").is_ok());
        assert_eq!(
            check_name("my sync").unwrap_err().to_string(),
            "name: \"my sync\": use 1 to 64 letters, digits, - and _"
        );
        assert!(check_tap("tap-postgres").is_ok());
        for bad in ["../tap", "/usr/bin/tap", "tap postgres", ".hidden", ""] {
            assert!(check_tap(bad).unwrap_err().to_string().starts_with("tap: "), "{bad}");
        }
        assert_eq!(parse_every("30m"), Ok(30));
        assert_eq!(parse_every("2h"), Ok(120));
        assert_eq!(parse_every("1d"), Ok(1440));
        assert_eq!(parse_every("90"), Ok(90));
        assert!(
            parse_every("1m")
                .unwrap_err()
                .to_string()
                .contains("5 minutes to 7 days")
        );
        assert!(parse_every("8d").is_err());
        assert!(parse_every("soon").unwrap_err().to_string().contains("30m"));
        assert!(parse_every("99999999999999999999d").is_err());
        assert!(check_json_object("{\"host\": \"db\"}", SyncDefinitionError::Config).is_ok());
        assert_eq!(
            check_json_object("[1]", SyncDefinitionError::Config)
                .unwrap_err()
                .to_string(),
            "config: expected a JSON object"
        );
    }

    #[test]
    fn failures_back_off_up_to_the_schedule() {
        let now = 1_000_000;
        let waits: Vec<i64> = (1..=10).map(|n| (next_after_failure(now, n, 60) - now) / 60).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!((next_after_failure(now, 40, 7 * 1440) - now) / 60, MAX_BACKOFF_MINUTES);
        assert_eq!(next_after_success(now, 60), now + 3600);
        let timing = Timing {
            next_run_at: Some(now + 1),
            requested: false,
        };
        assert!(!timing.is_due(now) && timing.is_due(now + 1));
        assert!(
            Timing {
                requested: true,
                ..timing
            }
            .is_due(now)
        );
        assert!(
            Timing {
                next_run_at: None,
                requested: false
            }
            .is_due(now)
        );
    }

    #[test]
    fn the_tail_keeps_whole_characters() {
        let mut kept = Vec::new();
        keep_tail(&mut kept, "ab€".as_bytes(), 3);
        assert_eq!(String::from_utf8(kept.clone()).unwrap(), "€");
        keep_tail(&mut kept, b"xy", 3);
        assert_eq!(String::from_utf8(kept).unwrap(), "xy");
    }

    proptest! {
        #[test]
        fn the_tail_is_bounded_and_is_the_end(chunks in proptest::collection::vec("\\PC{0,20}", 0..20), max in 4usize..64) {
            let mut kept = Vec::new();
            let mut all = String::new();
            for chunk in &chunks {
                keep_tail(&mut kept, chunk.as_bytes(), max);
                all.push_str(chunk);
            }
            prop_assert!(kept.len() <= max);
            let text = String::from_utf8(kept).unwrap();
            prop_assert!(all.ends_with(&text));
        }
    }
}
