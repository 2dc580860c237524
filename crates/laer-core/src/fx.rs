//! Exchange rates (issue 17; docs/metrics.md, "Currencies"): MRR is reported in one
//! currency; a contract line billed in another keeps its amount in that currency
//! ([`Original`]), and is worth, on a day, that amount at the rate in force that day —
//! the latest the admin gave on or before it, or before the first, the first.
//!
//! The MRR movements and the NRR bridge measure every movement at the rates of the
//! period's first day (constant currency) and show what the rates did to the MRR of the
//! last day as a movement of its own, so that NRR is not moved by currency swings.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::{Money, fixed_point, write_fixed};
use crate::retention::RevenueLine;

/// An ISO 4217 currency code, kept lowercase as Stripe writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = String;
    /// Three letters, any case: `EUR`, `eur`.
    fn from_str(text: &str) -> Result<Currency, String> {
        let text = text.trim();
        match <[u8; 3]>::try_from(text.as_bytes()) {
            Ok(code) if code.iter().all(u8::is_ascii_alphabetic) => Ok(Currency(code.map(|b| b.to_ascii_lowercase()))),
            _ => Err(format!(
                "a currency is three letters (ISO 4217, such as EUR), found {text:?}"
            )),
        }
    }
}

impl fmt::Display for Currency {
    /// Upper case, as people write it: `EUR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().to_ascii_uppercase())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Digits a rate keeps after the decimal point.
pub const RATE_DECIMALS: u32 = 8;
const RATE_SCALE: i128 = 100_000_000;

/// How much of the reporting currency one unit of another is worth: exact to
/// [`RATE_DECIMALS`] places, positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(i64);

impl Rate {
    /// Its hundred-millionths, as stored.
    pub const fn scaled(self) -> i64 {
        self.0
    }

    /// From hundred-millionths, if positive.
    pub fn from_scaled(scaled: i64) -> Option<Rate> {
        (scaled > 0).then_some(Rate(scaled))
    }

    /// `amount` at this rate, rounded half away from zero to Money's ten-thousandths.
    pub fn convert(self, amount: Money) -> Money {
        let product = i128::from(amount.ten_thousandths()) * i128::from(self.0);
        let half = RATE_SCALE / 2;
        let rounded = if product >= 0 {
            (product + half) / RATE_SCALE
        } else {
            (product - half) / RATE_SCALE
        };
        Money::from_ten_thousandths(i64::try_from(rounded).unwrap_or(if product >= 0 { i64::MAX } else { i64::MIN }))
    }
}

impl FromStr for Rate {
    type Err = String;
    /// A positive decimal with at most [`RATE_DECIMALS`] places: `1.0842`, `0.00671`.
    fn from_str(text: &str) -> Result<Rate, String> {
        let text = text.trim();
        let bad = || format!("a rate is a positive number with at most {RATE_DECIMALS} decimals, found {text:?}");
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        // At most so many places as written, trailing zeros included.
        if fraction.len() > RATE_DECIMALS as usize {
            return Err(bad());
        }
        fixed_point(whole, fraction, RATE_DECIMALS)
            .ok()
            .and_then(Rate::from_scaled)
            .ok_or_else(bad)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, false, self.0.unsigned_abs(), RATE_DECIMALS)
    }
}

/// A line's MRR in the currency it is billed in, when that is not the reporting one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    pub currency: Currency,
    pub mrr: Money,
}

impl Original {
    /// From a line's stored currency and MRR in it, when both are there and readable.
    pub fn stored(currency: Option<&str>, ten_thousandths: Option<i64>) -> Option<Original> {
        Some(Original {
            currency: currency?.parse().ok()?,
            mrr: Money::from_ten_thousandths(ten_thousandths?),
        })
    }
}

/// One exchange rate the admin gave: from `day` on, one `currency` is worth `rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatedRate {
    pub currency: Currency,
    pub day: NaiveDate,
    pub rate: Rate,
}

/// Every exchange rate given, by currency and day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rates {
    by_currency: HashMap<Currency, Vec<(NaiveDate, Rate)>>,
}

impl Rates {
    /// No rates: every line is worth its stored MRR.
    pub fn none() -> Rates {
        Rates::default()
    }

    pub fn new(rates: impl IntoIterator<Item = DatedRate>) -> Rates {
        let mut by_currency: HashMap<Currency, Vec<(NaiveDate, Rate)>> = HashMap::new();
        for r in rates {
            by_currency.entry(r.currency).or_default().push((r.day, r.rate));
        }
        for days in by_currency.values_mut() {
            days.sort_unstable();
            days.dedup_by_key(|(day, _)| *day);
        }
        Rates { by_currency }
    }

    /// Whether any rate is known for `currency`.
    pub fn knows(&self, currency: Currency) -> bool {
        self.by_currency.contains_key(&currency)
    }

    /// The rate of `currency` in force on `day`: the latest given on or before it; before
    /// the first, the first. `None` when none was given.
    pub fn on(&self, currency: Currency, day: NaiveDate) -> Option<Rate> {
        let days = self.by_currency.get(&currency)?;
        let after = days.partition_point(|(d, _)| *d <= day);
        days.get(after.saturating_sub(1)).map(|(_, rate)| *rate)
    }

    /// What `original` is worth on `day`; `None` without a rate for its currency.
    pub fn value(&self, original: Original, day: NaiveDate) -> Option<Money> {
        self.on(original.currency, day).map(|rate| rate.convert(original.mrr))
    }

    /// What `line` is worth on `day` in the reporting currency: its MRR, or for a line
    /// in another currency its amount at that day's rate (its stored MRR when no rate is
    /// known).
    pub fn line_value(&self, line: &RevenueLine, day: NaiveDate) -> Money {
        match line.original {
            Some(original) => self.value(original, day).unwrap_or(line.mrr),
            None => line.mrr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn rates_are_read_exactly_and_refused_by_name() {
        assert_eq!("1.0842".parse::<Rate>().unwrap().scaled(), 108_420_000);
        assert_eq!(".5".parse::<Rate>().unwrap().to_string(), "0.5");
        assert_eq!("0.00671234".parse::<Rate>().unwrap().to_string(), "0.00671234");
        for bad in ["", "0", "-1.2", "1.123456789", "1,2", "abc", "."] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?}");
        }
        assert_eq!("Eur".parse::<Currency>().unwrap().to_string(), "EUR");
        assert!("EURO".parse::<Currency>().is_err());
        assert!("E1R".parse::<Currency>().is_err());
    }

    #[test]
    fn conversion_rounds_once_half_away_from_zero() {
        let rate: Rate = "1.1".parse().unwrap();
        assert_eq!(rate.convert("100".parse().unwrap()), "110".parse().unwrap());
        // 0.00005 × 1.1 = 0.000055 → 0.0001.
        assert_eq!(
            rate.convert(Money::from_ten_thousandths(1)),
            Money::from_ten_thousandths(1)
        );
        assert_eq!(
            rate.convert(Money::from_ten_thousandths(-5)),
            Money::from_ten_thousandths(-6)
        );
    }

    #[test]
    fn the_rate_in_force_is_the_latest_on_or_before_the_day() {
        let eur: Currency = "eur".parse().unwrap();
        let rates = Rates::new([
            DatedRate {
                currency: eur,
                day: day("2026-02-01"),
                rate: "1.2".parse().unwrap(),
            },
            DatedRate {
                currency: eur,
                day: day("2026-01-01"),
                rate: "1.1".parse().unwrap(),
            },
        ]);
        let at = |d: &str| rates.on(eur, day(d)).unwrap().to_string();
        assert_eq!(at("2025-06-01"), "1.1", "before the first: the first");
        assert_eq!(at("2026-01-31"), "1.1");
        assert_eq!(at("2026-02-01"), "1.2");
        assert_eq!(at("2027-01-01"), "1.2");
        assert_eq!(rates.on("gbp".parse().unwrap(), day("2026-01-01")), None);
    }
}
