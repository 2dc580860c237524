//! laer-server's integration tests, over real HTTP on each backend: one test binary, so
//! that the server and its dependencies are linked once, with a module per story.

mod common;

mod api;
mod browser;
mod clients;
mod delivery;
mod health;
mod ingest;
mod plans;
mod records;
mod web;
mod work;
