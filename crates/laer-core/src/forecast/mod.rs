//! Forecasts proven on history (issue 19): each account's probability of churn and
//! downsell ([`churn`]).

pub mod churn;
