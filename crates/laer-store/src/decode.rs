//! Reading stored values into the core's types: one rule for a value that cannot be
//! read, an error naming its table and column ([`StoreError::Unreadable`]), never a
//! silent default.

use chrono::{DateTime, NaiveDate, Utc};
use laer_core::retention::date_of_day_number;

use crate::StoreError;

/// Where a stored value comes from: its table and column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column(pub &'static str, pub &'static str);

impl Column {
    /// The error for a value of this column that cannot be read.
    pub(crate) fn unreadable(self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Unreadable {
            table: self.0,
            column: self.1,
            reason: reason.to_string(),
        }
    }

    /// An instant stored as microseconds since the Unix epoch.
    pub(crate) fn instant(self, micros: i64) -> Result<DateTime<Utc>, StoreError> {
        DateTime::from_timestamp_micros(micros).ok_or_else(|| self.unreadable(format!("instant {micros} out of range")))
    }

    /// An optional instant stored as microseconds.
    pub(crate) fn opt_instant(self, micros: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
        micros.map(|m| self.instant(m)).transpose()
    }

    /// A day stored as its number (`laer_core::retention::day_number`).
    pub(crate) fn day(self, number: i64) -> Result<NaiveDate, StoreError> {
        date_of_day_number(number).ok_or_else(|| self.unreadable(format!("day number {number} out of range")))
    }

    /// A value stored as the text its type parses from (a role, a phase, a status).
    pub(crate) fn parsed<T>(self, text: &str) -> Result<T, StoreError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        text.parse().map_err(|e| self.unreadable(format!("{text:?}: {e}")))
    }

    /// A JSON document stored as text.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(self, text: &str) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|e| self.unreadable(e))
    }

    /// Each account's records packed as one JSON array of records (`crate::sql::json`),
    /// each record a struct whose fields come in the order they were packed.
    pub(crate) fn packed<T: serde::de::DeserializeOwned>(
        self,
        account_id: i64,
        text: &str,
    ) -> Result<Vec<T>, StoreError> {
        serde_json::from_str(text).map_err(|e| self.unreadable(format!("the records of account {account_id}: {e}")))
    }

    /// A whole number that must fit a narrower type (a count, a number of days).
    pub(crate) fn fits<T: TryFrom<i64>>(self, n: i64) -> Result<T, StoreError> {
        T::try_from(n).map_err(|_| self.unreadable(format!("{n} out of range")))
    }
}

/// A floating-point value packed in JSON (`crate::sql::json::real`): a number, or the
/// exact text SQLite's `quote` writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Real(pub f64);

impl<'de> serde::Deserialize<'de> for Real {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Real, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Real;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or a number's text")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Real, E> {
                Ok(Real(v))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Real, E> {
                Ok(Real(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Real, E> {
                Ok(Real(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Real, E> {
                v.parse()
                    .map(Real)
                    .map_err(|_| E::custom(format!("{v:?} is not a number")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::Real;

    #[test]
    fn a_packed_real_reads_back_exactly_from_either_form() {
        let exact = 0.1_f64 + 0.2;
        let quoted = format!("[{exact}, \"{exact:e}\", \"1.0\", 3, null]");
        let read: (Real, Real, Real, Real, Option<Real>) = serde_json::from_str(&quoted).unwrap();
        assert_eq!(read, (Real(exact), Real(exact), Real(1.0), Real(3.0), None));
        assert!(serde_json::from_str::<Real>("\"one\"").is_err());
    }
}
