//! laer-server's integration tests, over real HTTP on each backend: one test binary, so
//! that the server and its dependencies are linked once, with a module per story.

mod common;

mod admin;
mod api;
// Issue 18: Slack and Teams.
mod chat;
// Issue 15: bounded work per request, cache headers, bounded fields.
mod bounded;
mod browser;
// Issue 18: calendars by CalDAV (Radicale) and iCalendar feeds.
mod calendars;
mod clients;
mod delivery;
mod health;
mod imports;
mod ingest;
mod logins;
mod people;
mod plans;
mod records;
mod records_api;
mod sso;
// Issue 17: Stripe connected, synced by the server, and live by its webhooks.
mod stripe;
mod syncs;

mod serving;
mod touchpoints;
mod touchpoints_browser;
mod tracking_keys;
mod web;
mod work;
