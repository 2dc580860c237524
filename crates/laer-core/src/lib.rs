//! laer's functional core: the domain types and every computation over them.
//! Pure functions over plain data: no I/O, no async, no database.

pub mod access;
pub mod activity;
pub mod attention;
pub mod automation;
pub mod billing;
pub mod bridge;
pub mod calendar;
pub mod chat;
pub mod dedup;
pub mod digest;
pub mod entries;
pub mod figures;
pub mod forecast;
pub mod fx;
pub mod handoff;
pub mod health;
pub mod import_runs;
pub mod lifecycle;
pub mod limits;
pub mod model;
pub mod money;
pub mod parse;
pub mod portfolio;
pub mod renewals;
pub mod reports;
pub mod retention;
pub mod segment;
pub mod signals;
pub mod singer;
pub mod sso;
pub mod stats;
pub mod success_plan;
pub mod survival;
pub mod team;
pub mod throttle;
pub mod timeline;
pub mod tracking;

pub use money::Money;
