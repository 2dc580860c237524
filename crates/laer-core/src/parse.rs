//! Parsers for the field types of imported data. Each returns a message that says
//! what was expected and what was found; the caller adds the line and column.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::money::Money;

/// Calendar date as `YYYY-MM-DD`.
pub fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("expected a date as YYYY-MM-DD, found {text:?}"))
}

/// A point in time, UTC. Accepts RFC 3339 (`2024-03-01T12:00:00Z`, any offset),
/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (as PostgreSQL writes timestamps; read as UTC),
/// the same with `T`, and a bare date (midnight UTC).
pub fn timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let s = text.trim();
    if let Some(t) = fast_naive_timestamp(s) {
        return Ok(t.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Ok(d) = date(s) {
        return Ok(d.and_time(NaiveTime::MIN).and_utc());
    }
    Err(format!(
        "expected a timestamp such as 2024-03-01T12:00:00Z or 2024-03-01 12:00:00, found {text:?}"
    ))
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction, the shape of every row of a large
/// event export, parsed without the general-purpose machinery.
fn fast_naive_timestamp(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || (b[10] != b' ' && b[10] != b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            let value = digits.iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    Some(date.and_time(time))
}

pub fn money(text: &str) -> Result<Money, String> {
    text.parse::<Money>().map_err(|e| e.to_string())
}

pub fn float(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a number, found {text:?}")),
    }
}

pub fn integer(text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| format!("expected a whole number, found {text:?}"))
}

/// A whole number that may be written as a float with no fraction (`12.0`),
/// as spreadsheet exports often do.
pub fn whole_number(text: &str) -> Result<i64, String> {
    if let Ok(i) = integer(text) {
        return Ok(i);
    }
    match text.trim().parse::<f64>() {
        Ok(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(x as i64),
        _ => Err(format!("expected a whole number, found {text:?}")),
    }
}

/// A team or role label as laer compares them: lowercase words joined by underscores
/// (`Executive Sponsor` and `executive-sponsor` are `executive_sponsor`).
pub fn label(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .replace('-', "_")
}

pub fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("expected true or false, found {text:?}")),
    }
}

/// The longest text a person may write into one field (a touchpoint's summary, a note, a
/// comment): about 2,500 words. Longer text is refused with a message, never cut or stored.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// The longest one-line value (a name, a title, a subject).
pub const MAX_LINE_CHARS: usize = 300;

/// `text` if it is at most `max` characters long, else a message saying so (the caller
/// names the field).
pub fn bounded(text: &str, max: usize) -> Result<&str, String> {
    let n = text.chars().count();
    if n > max {
        return Err(format!("expected at most {max} characters, found {n}"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_longer_than_the_bound_is_refused_not_cut() {
        assert_eq!(super::bounded("héllo", 5), Ok("héllo"));
        let long = "x".repeat(100_000);
        assert_eq!(
            super::bounded(&long, super::MAX_TEXT_CHARS),
            Err("expected at most 10000 characters, found 100000".to_string())
        );
    }

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn labels_are_lowercase_words_joined_by_underscores() {
        assert_eq!(label("  Executive Sponsor "), "executive_sponsor");
        assert_eq!(label("executive-sponsor"), "executive_sponsor");
        assert_eq!(label("NETWORK"), "network");
        assert_eq!(label("   "), "");
    }

    #[test]
    fn timestamps_in_every_accepted_shape() {
        let noon = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap();
        for text in [
            "2024-03-01 12:00:00",
            "2024-03-01T12:00:00",
            "2024-03-01T12:00:00Z",
            "2024-03-01T14:00:00+02:00",
            "2024-03-01 12:00",
            "2024-03-01 12:00:00.000",
            "2024-03-01 12:00:00+00",
        ] {
            assert_eq!(timestamp(text), Ok(noon), "{text}");
        }
        assert_eq!(
            timestamp("2024-03-01").unwrap(),
            Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
        );
        let micros = timestamp("2024-03-01 12:00:00.123456").unwrap();
        assert_eq!(micros.timestamp_subsec_micros(), 123_456);
    }

    #[test]
    fn bad_timestamps_and_dates_are_explained() {
        assert!(timestamp("2024-02-30 12:00:00").is_err());
        assert!(timestamp("yesterday").unwrap_err().contains("\"yesterday\""));
        assert!(timestamp("2024-03-01 25:00:00").is_err());
        assert!(date("2024-13-01").unwrap_err().contains("YYYY-MM-DD"));
        assert!(date("01/03/2024").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(whole_number("12.0"), Ok(12));
        assert!(whole_number("12.5").is_err());
        assert!(float("NaN").is_err());
        assert!(float("inf").is_err());
        assert_eq!(float(" 2.5 "), Ok(2.5));
        assert_eq!(boolean("Yes"), Ok(true));
    }
}
