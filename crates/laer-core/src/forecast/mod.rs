//! Forecasts proven on history (issue 19): each account's probability of churn and
//! downsell ([`churn`]), and the renewal forecast in money, rolled up by quarter
//! ([`renewal`]).

pub mod churn;
pub mod renewal;
