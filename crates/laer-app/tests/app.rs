//! laer-app's integration tests: one test binary with a module per topic.

mod book;
mod common;
// Issue 19: a day is judged only when its whole horizon is known.
mod censoring;
mod demo;
mod stripe;
