//! laer-app's integration tests: one test binary with a module per topic.

mod book;
mod demo;
mod stripe;
