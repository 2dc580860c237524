//! What laer's fuzz targets share: splitting an input into a file's text and the bytes
//! that structured inputs are made from, and those structured inputs (an account's facts
//! and signals, days) built with `arbitrary`.

use arbitrary::{Result, Unstructured};
use chrono::NaiveDate;
use laer_core::automation::AccountFacts;
use laer_core::automation::facts::EXTRA_VALUES;
use laer_core::health::Signals;
use laer_core::health::inputs::SIGNALS;
use laer_core::lifecycle::Phase;

/// An input as a file's text (up to its first NUL byte, which no text file laer reads
/// holds) and the bytes after it, from which the target builds structured inputs. Seeds
/// are a file as it is (its text and no bytes), or a file, a NUL and bytes.
pub fn split(data: &[u8]) -> (Option<&str>, &[u8]) {
    let (text, rest) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    (std::str::from_utf8(text).ok(), rest)
}

/// Any day chrono can hold.
pub fn day(u: &mut Unstructured<'_>) -> Result<NaiveDate> {
    let days: i32 = u.arbitrary()?;
    Ok(NaiveDate::from_num_days_from_ce_opt(days).unwrap_or(NaiveDate::MIN))
}

/// A day near now (2000–2054), where real data lives.
pub fn recent_day(u: &mut Unstructured<'_>) -> Result<NaiveDate> {
    let days: u16 = u.arbitrary()?;
    Ok(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN)
        + chrono::TimeDelta::days(i64::from(days) % 20_000))
}

/// A signal's name: mostly one the models and conditions know, sometimes any text.
pub fn signal_name(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => u.arbitrary::<String>()?,
        1 => format!("events_per_month:{}", u.arbitrary::<&str>()?),
        2 | 3 => u.choose(EXTRA_VALUES)?.0.to_string(),
        _ => u.choose(SIGNALS)?.name.to_string(),
    })
}

/// A signal's value: mostly ordinary numbers, sometimes any `f64` (NaN, infinities,
/// extremes).
pub fn value(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => u.arbitrary::<f64>()?,
        1 => f64::from(u.arbitrary::<i16>()?) / 8.0,
        _ => f64::from(u.int_in_range(0..=1000u16)?) / 10.0,
    })
}

/// Named signal values.
pub fn signals(u: &mut Unstructured<'_>) -> Result<Signals> {
    let mut signals = Signals::new();
    for _ in 0..u.int_in_range(0..=40u8)? {
        signals.insert(signal_name(u)?, value(u)?);
    }
    Ok(signals)
}

pub fn phase(u: &mut Unstructured<'_>) -> Result<Phase> {
    Ok(*u.choose(Phase::ALL)?)
}

/// An account's facts as the coverage rules and playbooks see them.
pub fn facts(u: &mut Unstructured<'_>) -> Result<AccountFacts> {
    Ok(AccountFacts {
        account_id: u.arbitrary()?,
        name: u.arbitrary()?,
        as_of: if u.ratio(1, 8)? { day(u)? } else { recent_day(u)? },
        phase: phase(u)?,
        segment: u.arbitrary()?,
        customer: u.ratio(3, 4)?,
        tech_touch: u.arbitrary()?,
        values: signals(u)?,
    })
}
