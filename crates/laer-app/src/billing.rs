//! A sync of Stripe into laer (issue 17): customers linked to accounts by a metadata key
//! (the value: the account's external id), every subscription's state kept as laer saw
//! it, and the contract lines its states give by the written rules
//! (`laer_core::billing::rules`) written beside any other — so that MRR, movements,
//! renewals and the NRR bridge read Stripe as they read any contract line. A sync again
//! with nothing changed in Stripe writes nothing. Reference: docs/metrics.md, "MRR from
//! Stripe"; docs/import.md, "Stripe".

use std::collections::HashMap;

use laer_core::billing::objects::{Customer, Subscription};
use laer_core::billing::rules::{self, MrrRules, State, currency_exponent, day_of};
use laer_core::model::NewSubscription;
use laer_store::{STRIPE_LINE_PREFIX, Store, StoreError, StripeCustomerLink};
use serde::Serialize;

use crate::stripe::{HasId, StripeClient, StripeError};

/// How a sync links and counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// The customer metadata key whose value is the account's external id.
    pub metadata_key: String,
    /// The currency laer reports in: subscriptions in another wait for exchange rates.
    pub currency: String,
    pub rules: MrrRules,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            metadata_key: "laer_account".into(),
            currency: "usd".into(),
            rules: MrrRules::default(),
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub customers: usize,
    pub linked: usize,
    /// Customers linked to no account: (id, email).
    pub unmatched: Vec<(String, Option<String>)>,
    pub subscriptions: usize,
    /// Subscriptions whose state changed since the last sync (all, the first time).
    pub changed: usize,
    /// Subscriptions in another currency than the reporting one, left out.
    pub other_currency: usize,
    pub lines_written: u64,
    pub lines_unchanged: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Stripe's subscription {id} could not be read: {problem}")]
    Unreadable { id: String, problem: String },
}

impl HasId for serde_json::Value {
    fn id(&self) -> &str {
        self["id"].as_str().unwrap_or_default()
    }
}

/// Reads every customer and subscription of the Stripe account `client` reads, as of
/// `now` (Unix seconds), and writes what changed.
pub async fn sync_stripe(
    store: &Store,
    client: &StripeClient,
    options: &SyncOptions,
    now: i64,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    // Customers to accounts.
    let accounts: HashMap<String, i64> = store
        .account_names()
        .await?
        .into_iter()
        .map(|(id, n)| (n.external_id, id))
        .collect();
    let customers: Vec<Customer> = client.all("/v1/customers", &[], |_| {}).await?;
    let known = store.stripe_customers().await?;
    let mut links: Vec<StripeCustomerLink> = Vec::new();
    for c in customers.iter().filter(|c| !c.deleted) {
        let by_hand = known.get(&c.id).filter(|k| k.linked_by_hand);
        let account_id = by_hand.map_or_else(
            || {
                c.metadata
                    .get(&options.metadata_key)
                    .and_then(|external| accounts.get(external.trim()).copied())
            },
            |k| k.account_id,
        );
        if account_id.is_none() {
            report.unmatched.push((c.id.clone(), c.email.clone()));
        }
        links.push(StripeCustomerLink {
            customer_id: c.id.clone(),
            account_id,
            linked_by_hand: by_hand.is_some(),
            email: c.email.clone(),
            name: c.name.clone(),
        });
    }
    report.customers = links.len();
    report.linked = links.iter().filter(|l| l.account_id.is_some()).count();
    store.link_stripe_customers(&links).await?;
    let account_of: HashMap<&str, i64> = links
        .iter()
        .filter_map(|l| Some((l.customer_id.as_str(), l.account_id?)))
        .collect();
    // Product names for the lines.
    let products: Vec<serde_json::Value> = client.all("/v1/products", &[], |_| {}).await?;
    let product_names: HashMap<String, String> = products
        .iter()
        .map(|p| (p.id().to_string(), p["name"].as_str().unwrap_or(p.id()).to_string()))
        .collect();
    // Subscriptions: their states, then their lines.
    let subscriptions: Vec<serde_json::Value> = client.all("/v1/subscriptions", &[("status", "all")], |_| {}).await?;
    report.subscriptions = subscriptions.len();
    let mut items: Vec<(String, Vec<NewSubscription>)> = Vec::new();
    for raw in &subscriptions {
        let id = raw.id().to_string();
        let unreadable = |e: serde_json::Error| SyncError::Unreadable {
            id: id.clone(),
            problem: e.to_string(),
        };
        let sub: Subscription = serde_json::from_value(raw.clone()).map_err(unreadable)?;
        let body = serde_json::to_string(raw).map_err(unreadable)?;
        if store.record_stripe_state(&sub.id, &sub.customer.0, now, &body).await? {
            report.changed += 1;
        }
        let mut states: Vec<State> = Vec::new();
        for s in store.stripe_states(&sub.id).await? {
            let subscription: Subscription = serde_json::from_str(&s.body).map_err(unreadable)?;
            states.push(State {
                from: s.since,
                subscription,
            });
        }
        // Every item the subscription ever had: one removed since keeps no line beyond
        // its stretches.
        let mut ids: Vec<&str> = states
            .iter()
            .flat_map(|s| s.subscription.items.data.iter().map(|i| i.id.as_str()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let Some(account_id) = account_of.get(sub.customer.0.as_str()).copied() else {
            // A customer linked to no account (any more) has no lines.
            items.extend(ids.iter().map(|id| (id.to_string(), Vec::new())));
            continue;
        };
        let segments = rules::segments(&states, &options.rules).map_err(|e| SyncError::Unreadable {
            id: id.clone(),
            problem: e.to_string(),
        })?;
        if segments
            .iter()
            .any(|s| !s.item.currency.eq_ignore_ascii_case(&options.currency))
        {
            report.other_currency += 1;
            continue;
        }
        for item in ids {
            let lines = segments
                .iter()
                .filter(|s| s.item.item == item)
                .filter_map(|s| line_of(s, account_id, &product_names))
                .collect();
            items.push((item.to_string(), lines));
        }
    }
    let written = store.replace_stripe_lines(&items).await?;
    report.lines_written = written.written;
    report.lines_unchanged = written.unchanged;
    Ok(report)
}

/// A stretch of one item's value as a contract line: from its first day (UTC) to the day
/// after its last; none for a stretch within one day.
fn line_of(s: &rules::Segment, account_id: i64, products: &HashMap<String, String>) -> Option<NewSubscription> {
    let start_date = day_of(s.from)?;
    let end_date = match s.until {
        Some(until) => Some(day_of(until)?),
        None => None,
    };
    if end_date.is_some_and(|end| end <= start_date) {
        return None;
    }
    let months = s.item.interval_months;
    Some(NewSubscription {
        external_id: format!("{STRIPE_LINE_PREFIX}{}:{}", s.item.item, s.from),
        account_id,
        product: products
            .get(&s.item.product)
            .cloned()
            .unwrap_or_else(|| s.item.product.clone()),
        start_date,
        end_date,
        mrr: s.item.monthly.to_money(currency_exponent(&s.item.currency))?,
        quantity: Some(s.item.quantity as f64),
        units: None,
        bill_period_months: months.whole_months().unwrap_or(1),
        discount: None,
    })
}
