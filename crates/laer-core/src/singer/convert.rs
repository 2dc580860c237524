//! The conversions a mapping applies to a tap's values before laer reads them as the
//! text of an import column: dates from timestamps or Unix time, money from minor units,
//! domains from addresses, durations in minutes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::billing::connection::{email_domain, normalise_domain};
use crate::parse;

/// How a value becomes a column's text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convert {
    /// As it is: text, a number's digits, true or false.
    #[default]
    Text,
    /// `YYYY-MM-DD`, from a date, a timestamp (its UTC day) or Unix time.
    Date,
    /// A UTC timestamp (RFC 3339), from a timestamp in any offset, a date or Unix time.
    Datetime,
    /// A number, checked.
    Number,
    /// An exact amount, checked (`49.90`).
    Money,
    /// An amount in minor units (cents) as an exact amount: `4990` is `49.90`.
    Cents,
    /// true or false, from true/false, yes/no, 1/0.
    Bool,
    /// In lower case.
    Lower,
    /// The domain of a web address or a domain (`https://www.acme.com/` is `acme.com`).
    Domain,
    /// The domain of an email address.
    EmailDomain,
    /// Whole minutes from milliseconds.
    MillisecondsToMinutes,
    /// Whole minutes from seconds.
    SecondsToMinutes,
}

/// Unix time above this is in milliseconds (as seconds it would be after the year 5000).
const MILLISECONDS_ABOVE: i64 = 100_000_000_000;

/// A scalar's text: a string as it is, a number's digits, true or false; `None` for null.
/// An array or an object has no text.
pub fn text(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => {
            Err("expected text, a number or true/false, found a list or an object".into())
        }
    }
}

impl Convert {
    /// Converts one scalar's text; the message says what was expected and what was found.
    pub fn apply(self, text: &str) -> Result<String, String> {
        Ok(match self {
            Convert::Text => text.to_string(),
            Convert::Date => instant(text)?.date_naive().to_string(),
            Convert::Datetime => instant(text)?.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            Convert::Number => {
                parse::float(text)?;
                text.trim().to_string()
            }
            Convert::Money => parse::money(text)?.to_string(),
            Convert::Cents => {
                let cents = parse::integer(text).map_err(|_| format!("expected an amount in cents, found {text:?}"))?;
                let sign = if cents < 0 { "-" } else { "" };
                let cents = cents.unsigned_abs();
                parse::money(&format!("{sign}{}.{:02}", cents / 100, cents % 100))?.to_string()
            }
            Convert::Bool => parse::boolean(text)?.to_string(),
            Convert::Lower => text.to_lowercase(),
            Convert::Domain => normalise_domain(text).ok_or_else(|| format!("expected a domain, found {text:?}"))?,
            Convert::EmailDomain => {
                email_domain(text).ok_or_else(|| format!("expected an email address, found {text:?}"))?
            }
            Convert::MillisecondsToMinutes => minutes(text, 60_000.0)?,
            Convert::SecondsToMinutes => minutes(text, 60.0)?,
        })
    }
}

/// A point in time from a timestamp, a date, or Unix time in seconds or milliseconds
/// (digits alone, as some CRMs write them in text).
fn instant(text: &str) -> Result<DateTime<Utc>, String> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix('-').unwrap_or(trimmed);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = trimmed
            .parse()
            .map_err(|_| format!("expected a date or a time, found {text:?}"))?;
        let at = if n.abs() > MILLISECONDS_ABOVE {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
        return at.ok_or_else(|| format!("expected a date or a time, found {text:?}"));
    }
    parse::timestamp(trimmed)
}

fn minutes(text: &str, per_minute: f64) -> Result<String, String> {
    let amount = parse::float(text)?;
    if amount < 0.0 {
        return Err(format!("expected a duration, 0 or more, found {text:?}"));
    }
    Ok(format!("{}", (amount / per_minute).round()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn dates_come_from_timestamps_and_unix_time() {
        assert_eq!(Convert::Date.apply("2026-03-01").unwrap(), "2026-03-01");
        assert_eq!(Convert::Date.apply("2026-03-01T23:30:00-02:00").unwrap(), "2026-03-02");
        assert_eq!(Convert::Date.apply("1772323200").unwrap(), "2026-03-01");
        assert_eq!(Convert::Date.apply("1772323200000").unwrap(), "2026-03-01");
        assert_eq!(
            Convert::Datetime.apply("2026-03-01 10:00:00").unwrap(),
            "2026-03-01T10:00:00Z"
        );
        assert_eq!(
            Convert::Datetime.apply("2026-03-01T10:00:00.250+01:00").unwrap(),
            "2026-03-01T09:00:00.250Z"
        );
        assert!(
            Convert::Date
                .apply("next tuesday")
                .unwrap_err()
                .contains("next tuesday")
        );
    }

    #[test]
    fn amounts_are_exact() {
        assert_eq!(Convert::Cents.apply("4990").unwrap(), "49.9");
        assert_eq!(Convert::Cents.apply("-5").unwrap(), "-0.05");
        assert_eq!(Convert::Money.apply("1200.50").unwrap(), "1200.5");
        assert!(Convert::Cents.apply("49.90").is_err());
        assert!(Convert::Money.apply("lots").is_err());
    }

    #[test]
    fn other_conversions() {
        assert_eq!(Convert::Domain.apply("https://www.Acme.com/about").unwrap(), "acme.com");
        assert_eq!(Convert::EmailDomain.apply("Ann@Acme.COM").unwrap(), "acme.com");
        assert!(Convert::EmailDomain.apply("ann").is_err());
        assert_eq!(Convert::MillisecondsToMinutes.apply("1830000").unwrap(), "31");
        assert_eq!(Convert::SecondsToMinutes.apply("90").unwrap(), "2");
        assert!(Convert::SecondsToMinutes.apply("-1").is_err());
        assert_eq!(Convert::Bool.apply("yes").unwrap(), "true");
        assert_eq!(text(&json!(12.5)).unwrap().as_deref(), Some("12.5"));
        assert_eq!(text(&json!(null)).unwrap(), None);
        assert!(text(&json!([1])).is_err());
    }

    proptest! {
        #[test]
        fn no_text_makes_a_conversion_panic(s in "\\PC{0,40}") {
            for convert in [Convert::Date, Convert::Datetime, Convert::Number, Convert::Money, Convert::Cents,
                            Convert::Bool, Convert::Domain, Convert::EmailDomain, Convert::MillisecondsToMinutes] {
                let _ = convert.apply(&s);
            }
        }

        #[test]
        fn cents_and_money_agree(cents in -10_000_000_000i64..10_000_000_000) {
            let from_cents = Convert::Cents.apply(&cents.to_string()).unwrap();
            let units = format!("{}{}.{:02}", if cents < 0 { "-" } else { "" }, cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
            prop_assert_eq!(from_cents, Convert::Money.apply(&units).unwrap());
        }
    }
}
