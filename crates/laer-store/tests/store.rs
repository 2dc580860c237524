//! laer-store's integration tests, each story on SQLite and PostgreSQL: one test binary, so
//! that the store and sqlx are linked once, with a module per topic.

mod automation;
mod backup;
mod calendars;
mod conformance;
mod handoff_notes;
mod health;
mod imports;
mod login_safety;
mod logins;
mod people;
mod plans;
mod records;
mod schema;
mod secrets;
mod sso;
mod syncs;
mod touchpoints;
mod tracking;
mod views;
