//! Exact money: an integer count of ten-thousandths of a currency unit.
//!
//! Four decimal places hold every price in the usual currencies and sub-cent
//! unit rates. An amount with more decimals is rejected, never rounded.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of decimal places [`Money`] keeps.
pub const MONEY_DECIMALS: u32 = 4;
const SCALE: i64 = 10_i64.pow(MONEY_DECIMALS);

/// An exact amount of money in ten-thousandths of a currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("expected a decimal amount such as 1250 or 99.95, found {0:?}")]
    NotANumber(String),
    #[error("{0:?} has more than {MONEY_DECIMALS} decimal places; laer keeps money exact and does not round")]
    TooPrecise(String),
    #[error("{0:?} is too large")]
    Overflow(String),
}

impl Money {
    pub const ZERO: Money = Money(0);

    /// The amount in ten-thousandths of a unit.
    pub const fn from_ten_thousandths(units: i64) -> Money {
        Money(units)
    }

    pub const fn ten_thousandths(self) -> i64 {
        self.0
    }

    /// A whole number of currency units.
    pub fn from_units(units: i64) -> Option<Money> {
        units.checked_mul(SCALE).map(Money)
    }

    /// The amount as a float, for ratios and display only.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `n` times the amount, saturating at the largest amount (far beyond any real sum).
    pub fn times(self, n: i64) -> Money {
        Money(self.0.saturating_mul(n))
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Money, MoneyError> {
        let s = text.trim();
        let not_a_number = || MoneyError::NotANumber(text.to_string());
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let magnitude = fixed_point(whole, fraction, MONEY_DECIMALS).map_err(|e| match e {
            FixedError::NotANumber => not_a_number(),
            FixedError::TooPrecise => MoneyError::TooPrecise(text.to_string()),
            FixedError::Overflow => MoneyError::Overflow(text.to_string()),
        })?;
        Ok(Money(if negative { -magnitude } else { magnitude }))
    }
}

impl fmt::Display for Money {
    /// Shortest exact decimal: `1250`, `99.95`, `-0.0001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, self.0 < 0, self.0.unsigned_abs(), MONEY_DECIMALS)
    }
}

/// Why text is not an exact decimal of so many places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FixedError {
    NotANumber,
    /// More fraction digits than the places kept.
    TooPrecise,
    Overflow,
}

/// The unsigned decimal `whole.fraction` (either part may be empty, not both) in units of
/// 10^-`decimals`, exactly: shared by money and exchange rates. Trailing zeros say
/// nothing (`1.50000` is exactly 1.5); a digit beyond `decimals` places is refused.
pub(crate) fn fixed_point(whole: &str, fraction: &str, decimals: u32) -> Result<i64, FixedError> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(FixedError::NotANumber);
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > decimals as usize {
        return Err(FixedError::TooPrecise);
    }
    let whole_value: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| FixedError::Overflow)?
    };
    let mut fraction_value: i64 = 0;
    for (i, b) in fraction.bytes().enumerate() {
        fraction_value += i64::from(b - b'0') * 10_i64.pow(decimals - 1 - i as u32);
    }
    whole_value
        .checked_mul(10_i64.pow(decimals))
        .and_then(|v| v.checked_add(fraction_value))
        .ok_or(FixedError::Overflow)
}

/// Writes `magnitude` units of 10^-`decimals` as the shortest exact decimal: `1250`,
/// `99.95`, `-0.0001`.
pub(crate) fn write_fixed(f: &mut fmt::Formatter<'_>, negative: bool, magnitude: u64, decimals: u32) -> fmt::Result {
    let sign = if negative { "-" } else { "" };
    let scale = 10_u64.pow(decimals);
    let (whole, fraction) = (magnitude / scale, magnitude % scale);
    if fraction == 0 {
        write!(f, "{sign}{whole}")
    } else {
        let digits = format!("{fraction:0width$}", width = decimals as usize);
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money(self.0 + other.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, other: Money) {
        self.0 += other.0;
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, other: Money) -> Money {
        Money(self.0 - other.0)
    }
}

impl SubAssign for Money {
    fn sub_assign(&mut self, other: Money) {
        self.0 -= other.0;
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

/// JSON carries money as a number with at most four decimals, e.g. `99.95`.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % SCALE == 0 {
            serializer.serialize_i64(self.0 / SCALE)
        } else {
            serializer.serialize_f64(self.to_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let text = match Repr::deserialize(deserializer)? {
            Repr::Int(i) => i.to_string(),
            // Shortest round-trip formatting recovers what the sender wrote, e.g. 99.95.
            Repr::Float(x) => x.to_string(),
            Repr::Text(s) => s,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!("1250".parse::<Money>().unwrap().ten_thousandths(), 12_500_000);
        assert_eq!("99.95".parse::<Money>().unwrap().ten_thousandths(), 999_500);
        assert_eq!("9.99".parse::<Money>().unwrap().ten_thousandths(), 99_900);
        assert_eq!("-0.0001".parse::<Money>().unwrap().ten_thousandths(), -1);
        assert_eq!("100.0".parse::<Money>().unwrap().ten_thousandths(), 1_000_000);
        assert_eq!(".5".parse::<Money>().unwrap().ten_thousandths(), 5_000);
        assert_eq!("1.23450000".parse::<Money>().unwrap().ten_thousandths(), 12_345);
    }

    #[test]
    fn rejects_what_it_cannot_keep_exactly() {
        assert!(matches!("1.00001".parse::<Money>(), Err(MoneyError::TooPrecise(_))));
        assert!(matches!("abc".parse::<Money>(), Err(MoneyError::NotANumber(_))));
        assert!(matches!("".parse::<Money>(), Err(MoneyError::NotANumber(_))));
        assert!(matches!(".".parse::<Money>(), Err(MoneyError::NotANumber(_))));
        assert!(matches!("1e3".parse::<Money>(), Err(MoneyError::NotANumber(_))));
        assert!(matches!(
            "99999999999999999999".parse::<Money>(),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[test]
    fn displays_shortest_exact_form() {
        assert_eq!(Money::from_ten_thousandths(999_500).to_string(), "99.95");
        assert_eq!(Money::from_ten_thousandths(12_500_000).to_string(), "1250");
        assert_eq!(Money::from_ten_thousandths(-1).to_string(), "-0.0001");
    }

    #[test]
    fn json_round_trip() {
        let m: Money = serde_json::from_str("99.95").unwrap();
        assert_eq!(m.ten_thousandths(), 999_500);
        assert_eq!(serde_json::to_string(&m).unwrap(), "99.95");
        let whole: Money = serde_json::from_str("\"1250\"").unwrap();
        assert_eq!(serde_json::to_string(&whole).unwrap(), "1250");
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(units in -1_000_000_000_000_i64..1_000_000_000_000) {
            let m = Money::from_ten_thousandths(units);
            prop_assert_eq!(m.to_string().parse::<Money>().unwrap(), m);
        }
    }
}
