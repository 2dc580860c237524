//! Billing systems' subscriptions as laer's contract lines (issue 17): Stripe's objects
//! ([`objects`]) and the written rules that turn them into MRR over time ([`rules`]).
//! Pure: the connector that reads Stripe and the store that keeps the lines are
//! elsewhere. Reference: docs/metrics.md, "MRR from Stripe".

pub mod connection;
pub mod invoices;
pub mod objects;
pub mod rules;
