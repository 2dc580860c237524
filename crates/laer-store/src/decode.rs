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

    /// A whole number that must fit a narrower type (a count, a number of days).
    pub(crate) fn fits<T: TryFrom<i64>>(self, n: i64) -> Result<T, StoreError> {
        T::try_from(n).map_err(|_| self.unreadable(format!("{n} out of range")))
    }
}
