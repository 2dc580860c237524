//! laer's application services, between the store and the views: what the server and the
//! CLI both do. Each service loads from the store, decides or computes in the core, and
//! records what it must; none knows about HTTP or the terminal.
//!
//! - `reports`: the retention, MRR and NRR bridge reports as typed structs, which the
//!   CLI's tables and the API's JSON are both made from.
//! - `health`: health as served, replayed history, validation and fitting, and the engine
//!   that keeps it current (`health::run_engine`, which the server starts).
//! - `automation`: the coverage model and playbooks run over assessed accounts.
//! - `delivery`: the outbox sender (emails over SMTP, webhooks signed with HMAC-SHA256).
//! - `demo`: storing the demo company with its logins.
//! - `people`: invitations and password resets by one-time link.
//! - `auth`: password hashing (argon2id).
//! - `logins`: login throttling, failed logins recorded, "Forgot your password?".
//! - `stripe`, `stripe_signature`, `billing`: Stripe read, its webhook signatures, and
//!   its sync and events into contract lines (issue 17).

pub mod auth;
pub mod automation;
pub mod billing;
pub mod calendars;
pub mod delivery;
pub mod demo;
pub mod digest;
pub mod forecast;
pub mod health;
pub mod logins;
pub mod past_phases;
pub mod people;
pub mod reports;
pub mod singer_sync;
pub mod stripe;
pub mod stripe_signature;
#[cfg(feature = "test-support")]
pub mod test_support;
