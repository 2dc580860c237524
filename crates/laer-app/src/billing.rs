//! Stripe connected to laer (issue 17): a sync of the whole account, and its webhook
//! events, into contract lines.
//!
//! - **Customers to accounts**: by the connection's metadata key, else by its link rule
//!   (`laer_core::billing::connection`); a link made by hand is kept.
//! - **Subscriptions**: each state kept as laer saw it (a sync: at the sync's time; an
//!   event: at the event's), and each item's stretches of constant MRR written as contract
//!   lines by the written rules (`laer_core::billing::rules`) beside any other — so that
//!   MRR, movements, renewals and the NRR bridge read Stripe as they read any line.
//! - **The sync** ([`sync_if_due`]) is held by one node at a time (a lease in the
//!   database), reads page by page, and records after each page its stage and the last
//!   object read: a sync that stopped resumes after that page. A sync again with nothing
//!   changed writes nothing.
//! - **Events** ([`apply_event`]) are taken once by id and in any order: a state is kept
//!   at its event's time, so an older event cannot overwrite a newer state.
//!
//! Reference: docs/metrics.md, "MRR from Stripe"; docs/import.md, "Stripe".

use std::collections::HashMap;

use laer_core::billing::connection::{ConnectionSettings, DomainIndex, LinkDecision, LinkRule, link_customer};
use laer_core::billing::invoices::{self, CreditNote, Invoice};
use laer_core::billing::objects::{Customer, List, Subscription};
use laer_core::billing::rules::{self, State, currency_exponent, day_of};
use laer_core::fx::{Currency, Original, Rates};
use laer_core::model::{NewAccount, NewSubscription};
use laer_store::{
    STRIPE_LINE_PREFIX, SecretBox, SecretError, Store, StoreError, StripeConnection, StripeCustomerLink,
    StripeInvoiceRow, StripeSyncClaim,
};
use serde::{Deserialize, Serialize};

use crate::stripe::{HasId, StripeClient, StripeError, StripeKey};

/// The stages of a sync, in order, with the list each reads. Invoices and credit notes
/// come before subscriptions, whose lines are worked out with them.
pub const STAGES: [(&str, &str); 6] = [
    ("customers", "/v1/customers"),
    ("products", "/v1/products"),
    ("prices", "/v1/prices"),
    ("invoices", "/v1/invoices"),
    ("credit_notes", "/v1/credit_notes"),
    ("subscriptions", "/v1/subscriptions"),
];

/// Seconds without a heartbeat after which a sync's holder is taken to have stopped.
pub const STALE_AFTER: i64 = 120;

/// Unreadable objects named in a report, at most.
const NAMED_UNREADABLE: usize = 20;

/// What a sync did (also its progress, while it runs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncReport {
    pub customers: usize,
    pub linked: usize,
    /// Accounts made for customers (the link rule "make an account").
    pub accounts_created: usize,
    /// Customers linked to no account when the sync ended.
    pub unmatched: usize,
    pub products: usize,
    pub subscriptions: usize,
    /// Subscriptions whose state changed since the last sync (all, the first time).
    pub changed: usize,
    /// Subscriptions in a currency other than the reporting one that has no exchange
    /// rate, left out until one is given.
    pub other_currency: usize,
    pub prices: usize,
    pub invoices: usize,
    pub credit_notes: usize,
    /// The lists the Stripe server does not have (404: localstripe lists no prices and no
    /// credit notes), read as empty.
    pub unlisted: Vec<String>,
    /// Objects laer could not read, left out: how many, and the first few with the reason.
    pub unreadable: usize,
    pub unreadable_named: Vec<(String, String)>,
    pub lines_written: u64,
    pub lines_unchanged: u64,
    /// Pages read from Stripe.
    pub pages: usize,
    /// Whether this sync took over from one that had stopped.
    pub resumed: bool,
}

impl SyncReport {
    fn left_out(&mut self, id: &str, problem: String) {
        tracing::warn!(object = %id, %problem, "a Stripe object laer cannot read was left out");
        self.unreadable += 1;
        if self.unreadable_named.len() < NAMED_UNREADABLE {
            self.unreadable_named.push((id.to_string(), problem));
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("Stripe is not connected: connect it in Admin → Stripe or with laer connect stripe")]
    NotConnected,
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored Stripe {what} cannot be opened: {source}")]
    Secret {
        what: &'static str,
        #[source]
        source: SecretError,
    },
    #[error("the stored Stripe settings cannot be read: {0}")]
    Settings(String),
    #[error("another node took over this sync (this one was too slow to report): it stopped here")]
    LeaseLost,
}

impl HasId for serde_json::Value {
    fn id(&self) -> &str {
        self["id"].as_str().unwrap_or_default()
    }
}

/// A stored connection, opened: a client with its key, and its settings.
#[derive(Debug, Clone)]
pub struct Connected {
    pub client: StripeClient,
    pub settings: ConnectionSettings,
}

impl Connected {
    /// Opens the stored key with `secrets`.
    pub fn open(connection: &StripeConnection, secrets: Option<&SecretBox>) -> Result<Connected, SyncError> {
        let key = connection
            .api_key
            .open(secrets)
            .map_err(|source| SyncError::Secret { what: "key", source })?;
        Ok(Connected {
            client: StripeClient::new(&connection.api_base, StripeKey::new(&key)?),
            settings: settings_of(connection)?,
        })
    }
}

/// The connection's settings.
pub fn settings_of(connection: &StripeConnection) -> Result<ConnectionSettings, SyncError> {
    serde_json::from_str(&connection.settings).map_err(|e| SyncError::Settings(e.to_string()))
}

/// Checks a key can read what a sync reads (one object of each list), naming what it
/// may not read. A server that lists no prices or no credit notes at all (404) is no
/// refusal.
pub async fn check_access(client: &StripeClient) -> Result<(), StripeError> {
    for (stage, path) in STAGES {
        match client.get::<serde_json::Value>(path, &[("limit", "1")]).await {
            Err(e) if unlisted(stage, &e) => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// Whether `e` says the server has no such list, for a stage a server may lack (the
/// plans of older API versions, and localstripe's, stand for prices).
fn unlisted(stage: &str, e: &StripeError) -> bool {
    matches!(stage, "prices" | "credit_notes") && matches!(e, StripeError::Api { status: 404, .. })
}

/// Whether a sync ran, and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    Done(SyncReport),
    /// Not asked for, and the last one is recent enough.
    NotDue,
    /// Another holder runs it (its name).
    Running(String),
}

/// Runs the connection's sync as `owner` if it was asked for, is due (its reconciliation
/// interval passed since the last), had stopped (its holder went silent), or `force` —
/// unless another holder runs it. `clock` gives Unix seconds; `heard` hears of each page.
/// The outcome is recorded with the connection either way (a failure's reason for the
/// admin page; the next sync resumes where it stopped).
pub async fn sync_if_due(
    store: &Store,
    secrets: Option<&SecretBox>,
    owner: &str,
    force: bool,
    clock: &(dyn Fn() -> i64 + Sync),
    heard: &mut (dyn FnMut(&str, &SyncReport) + Send),
) -> Result<SyncOutcome, SyncError> {
    let Some(connection) = store.stripe_connection().await? else {
        return Err(SyncError::NotConnected);
    };
    let now = clock();
    let sync = &connection.sync;
    let held = sync
        .owner
        .as_ref()
        .filter(|_| sync.heartbeat.unwrap_or(0) >= now - STALE_AFTER);
    if let Some(holder) = held {
        return Ok(SyncOutcome::Running(holder.clone()));
    }
    let interval = settings_of(&connection)
        .map(|s| i64::from(s.reconcile_minutes) * 60)
        .unwrap_or(3600);
    let due = force
        || sync.requested
        || sync.owner.is_some()
        || sync.finished_at.is_none_or(|finished| now - finished >= interval);
    if !due {
        return Ok(SyncOutcome::NotDue);
    }
    let Some(claim) = store
        .claim_stripe_sync(owner, now, now - STALE_AFTER, sync.finished_at)
        .await?
    else {
        return Ok(SyncOutcome::Running("another node".into()));
    };
    let result = match Connected::open(&connection, secrets) {
        Ok(connected) => run_sync(store, &connected, claim, owner, clock, heard).await,
        Err(e) => Err(e),
    };
    match &result {
        Ok(report) => {
            let json = serde_json::to_string(report).unwrap_or_default();
            store.finish_stripe_sync(owner, Ok(&json), clock()).await?;
            tracing::info!(
                customers = report.customers,
                subscriptions = report.subscriptions,
                changed = report.changed,
                lines_written = report.lines_written,
                "Stripe synced"
            );
        }
        Err(SyncError::LeaseLost) => {}
        Err(e) => {
            tracing::warn!(error = %e, "the Stripe sync stopped; the next one resumes where it did");
            store.finish_stripe_sync(owner, Err(&e.to_string()), clock()).await?;
        }
    }
    result.map(SyncOutcome::Done)
}

/// One sync, from where `claim` says the last one stopped.
async fn run_sync(
    store: &Store,
    connected: &Connected,
    claim: StripeSyncClaim,
    owner: &str,
    clock: &(dyn Fn() -> i64 + Sync),
    heard: &mut (dyn FnMut(&str, &SyncReport) + Send),
) -> Result<SyncReport, SyncError> {
    let mut report: SyncReport = claim
        .progress
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let first = claim
        .stage
        .as_deref()
        .and_then(|s| STAGES.iter().position(|(name, _)| *name == s))
        .unwrap_or(0);
    report.resumed |= claim.stage.is_some();
    let mut cursor = claim.cursor;
    for (i, (stage, path)) in STAGES.iter().enumerate().skip(first) {
        let params: &[(&str, &str)] = if *stage == "subscriptions" {
            &[("status", "all")]
        } else {
            &[]
        };
        loop {
            let page: List<serde_json::Value> = match connected.client.page(path, params, cursor.as_deref()).await {
                Err(e) if unlisted(stage, &e) => {
                    if !report.unlisted.iter().any(|u| u == stage) {
                        report.unlisted.push(stage.to_string());
                    }
                    List {
                        data: Vec::new(),
                        has_more: false,
                    }
                }
                page => page?,
            };
            let now = clock();
            match *stage {
                "customers" => link_page(store, &connected.settings, &page.data, &mut report).await?,
                "products" => products_page(store, &page.data, &mut report).await?,
                "prices" => prices_page(store, &page.data, &mut report).await?,
                // Their subscriptions' lines are written in the subscriptions stage.
                "invoices" => {
                    invoices_page(store, &connected.client, &page.data, &mut report).await?;
                }
                "credit_notes" => {
                    credit_notes_page(store, &page.data, &mut report).await?;
                }
                _ => subscriptions_page(store, &connected.settings, &page.data, now, &mut report).await?,
            }
            report.pages += 1;
            let more = page.has_more && !page.data.is_empty();
            cursor = if more {
                page.data.last().map(|o| o.id().to_string())
            } else {
                None
            };
            // A stage read to its end records the next one, from its start.
            let at = if more {
                *stage
            } else {
                STAGES.get(i + 1).map_or(*stage, |(s, _)| *s)
            };
            let progress = serde_json::to_string(&report).unwrap_or_default();
            if !store
                .stripe_sync_progress(owner, at, cursor.as_deref(), &progress, clock())
                .await?
            {
                return Err(SyncError::LeaseLost);
            }
            heard(stage, &report);
            if !more {
                break;
            }
        }
    }
    report.unmatched = store
        .stripe_customers()
        .await?
        .values()
        .filter(|c| c.account_id.is_none())
        .count();
    Ok(report)
}

/// Links a page of customers to accounts (making accounts where the rule says).
async fn link_page(
    store: &Store,
    settings: &ConnectionSettings,
    page: &[serde_json::Value],
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let mut customers: Vec<Customer> = Vec::new();
    for raw in page {
        match serde_json::from_value::<Customer>(raw.clone()) {
            Ok(c) if !c.deleted => customers.push(c),
            Ok(_) => {}
            Err(e) => report.left_out(raw.id(), e.to_string()),
        }
    }
    let (linked, created) = link_customers(store, settings, &customers).await?;
    report.customers += customers.len();
    report.linked += linked;
    report.accounts_created += created;
    Ok(())
}

/// Links customers as the settings say; returns how many are linked and how many
/// accounts were made.
async fn link_customers(
    store: &Store,
    settings: &ConnectionSettings,
    customers: &[Customer],
) -> Result<(usize, usize), SyncError> {
    let account_ids = |names: HashMap<i64, laer_store::AccountName>| -> HashMap<String, i64> {
        names.into_iter().map(|(id, n)| (n.external_id, id)).collect()
    };
    let mut accounts = account_ids(store.account_names().await?);
    let known = store.stripe_customers().await?;
    let domains = match settings.link_rule {
        LinkRule::EmailDomain => {
            let pairs = store.account_domains().await?;
            DomainIndex::new(pairs.iter().map(|(id, d)| (*id, d.as_str())))
        }
        _ => DomainIndex::default(),
    };
    let decisions: Vec<LinkDecision> = customers
        .iter()
        .map(|c| link_customer(c, settings, &accounts, &domains))
        .collect();
    // Accounts for customers the rule makes one for (unless linked by hand).
    let new_accounts: Vec<NewAccount> = customers
        .iter()
        .zip(&decisions)
        .filter(|(c, d)| **d == LinkDecision::Create && !known.get(&c.id).is_some_and(|k| k.linked_by_hand))
        .map(|(c, _)| {
            let name = c
                .name
                .clone()
                .or_else(|| c.email.clone())
                .unwrap_or_else(|| c.id.clone());
            let mut account = NewAccount::named(&c.id, &name);
            account.attributes.insert("source".into(), "stripe".into());
            account
        })
        .collect();
    if !new_accounts.is_empty() {
        let mut tx = store.begin_write().await?;
        tx.upsert(&new_accounts).await?;
        tx.commit().await?;
        accounts = account_ids(store.account_names().await?);
    }
    let links: Vec<StripeCustomerLink> = customers
        .iter()
        .zip(decisions)
        .map(|(c, decision)| {
            let by_hand = known.get(&c.id).filter(|k| k.linked_by_hand);
            let (account_id, unmatched) = match (by_hand, decision) {
                (Some(k), _) => (k.account_id, None),
                (None, LinkDecision::Account(id)) => (Some(id), None),
                (None, LinkDecision::Create) => (accounts.get(&c.id).copied(), None),
                (None, LinkDecision::Unmatched(why)) => (None, serde_json::to_string(&why).ok()),
            };
            StripeCustomerLink {
                customer_id: c.id.clone(),
                account_id,
                linked_by_hand: by_hand.is_some(),
                email: c.email.clone(),
                name: c.name.clone(),
                unmatched,
            }
        })
        .collect();
    store.link_stripe_customers(&links).await?;
    Ok((
        links.iter().filter(|l| l.account_id.is_some()).count(),
        new_accounts.len(),
    ))
}

async fn products_page(store: &Store, page: &[serde_json::Value], report: &mut SyncReport) -> Result<(), SyncError> {
    let names: Vec<(String, String)> = page
        .iter()
        .map(|p| (p.id().to_string(), p["name"].as_str().unwrap_or(p.id()).to_string()))
        .collect();
    store.upsert_stripe_products(&names).await?;
    report.products += names.len();
    Ok(())
}

/// Keeps a page of prices.
async fn prices_page(store: &Store, page: &[serde_json::Value], report: &mut SyncReport) -> Result<(), SyncError> {
    let prices: Vec<(String, String)> = page
        .iter()
        .map(|p| (p.id().to_string(), serde_json::to_string(p).unwrap_or_default()))
        .collect();
    store.upsert_stripe_prices(&prices).await?;
    report.prices += prices.len();
    Ok(())
}

/// Keeps a page of invoices, each with all its lines (an invoice lists its first lines;
/// the rest are read from its own list). Returns the subscriptions they are for.
async fn invoices_page(
    store: &Store,
    client: &StripeClient,
    page: &[serde_json::Value],
    report: &mut SyncReport,
) -> Result<Vec<String>, SyncError> {
    let mut rows: Vec<StripeInvoiceRow> = Vec::new();
    for raw in page {
        let mut raw = raw.clone();
        if raw["lines"]["has_more"].as_bool() == Some(true) {
            let id = raw.id().to_string();
            let path = format!("/v1/invoices/{id}/lines");
            let lines: Vec<serde_json::Value> = client.all(&path, &[], |_: &[serde_json::Value]| {}).await?;
            raw["lines"] = serde_json::json!({"object": "list", "data": lines, "has_more": false});
        }
        match serde_json::from_value::<Invoice>(raw.clone()) {
            Ok(invoice) => rows.push(StripeInvoiceRow {
                invoice_id: invoice.id,
                subscription_id: invoice.subscription,
                customer_id: invoice.customer,
                created: invoice.created,
                body: serde_json::to_string(&raw).unwrap_or_default(),
            }),
            Err(e) => report.left_out(raw.id(), e.to_string()),
        }
    }
    store.upsert_stripe_invoices(&rows).await?;
    report.invoices += rows.len();
    let mut subscriptions: Vec<String> = rows.into_iter().filter_map(|r| r.subscription_id).collect();
    subscriptions.sort_unstable();
    subscriptions.dedup();
    Ok(subscriptions)
}

/// Keeps a page of credit notes. Returns the subscriptions of the invoices they credit.
async fn credit_notes_page(
    store: &Store,
    page: &[serde_json::Value],
    report: &mut SyncReport,
) -> Result<Vec<String>, SyncError> {
    let mut notes: Vec<(String, String, String)> = Vec::new();
    for raw in page {
        match serde_json::from_value::<CreditNote>(raw.clone()) {
            Ok(note) => notes.push((note.id, note.invoice.0, serde_json::to_string(raw).unwrap_or_default())),
            Err(e) => report.left_out(raw.id(), e.to_string()),
        }
    }
    store.upsert_stripe_credit_notes(&notes).await?;
    report.credit_notes += notes.len();
    let mut subscriptions = Vec::new();
    for (_, invoice, _) in &notes {
        if let Some(sub) = store.stripe_invoice_subscription(invoice).await? {
            subscriptions.push(sub);
        }
    }
    subscriptions.sort_unstable();
    subscriptions.dedup();
    Ok(subscriptions)
}

/// Keeps a page of subscriptions' states as seen at `now`, and writes their lines.
async fn subscriptions_page(
    store: &Store,
    settings: &ConnectionSettings,
    page: &[serde_json::Value],
    now: i64,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let mut ids: Vec<String> = Vec::new();
    for raw in page {
        let sub: Subscription = match serde_json::from_value(raw.clone()) {
            Ok(sub) => sub,
            Err(e) => {
                report.left_out(raw.id(), e.to_string());
                continue;
            }
        };
        let body = serde_json::to_string(raw).unwrap_or_default();
        if store.record_stripe_state(&sub.id, &sub.customer.0, now, &body).await? {
            report.changed += 1;
        }
        ids.push(sub.id);
    }
    report.subscriptions += page.len();
    write_lines(store, settings, &ids, report).await
}

/// Works out the lines of the subscriptions from their states and writes them: a
/// customer linked to no account keeps none.
async fn write_lines(
    store: &Store,
    settings: &ConnectionSettings,
    subscriptions: &[String],
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    if subscriptions.is_empty() {
        return Ok(());
    }
    let account_of: HashMap<String, i64> = store
        .stripe_customers()
        .await?
        .into_values()
        .filter_map(|c| Some((c.customer_id, c.account_id?)))
        .collect();
    let products = store.stripe_product_names().await?;
    let rates = store.exchange_rates().await?;
    let reporting: Option<Currency> = settings.currency.parse().ok();
    let today = chrono::Utc::now().date_naive();
    let mut items: Vec<(String, Vec<NewSubscription>)> = Vec::new();
    for id in subscriptions {
        let mut states: Vec<State> = Vec::new();
        for s in store.stripe_states(id).await? {
            match serde_json::from_str::<Subscription>(&s.body) {
                Ok(subscription) => states.push(State {
                    from: s.since,
                    subscription,
                }),
                Err(e) => report.left_out(id, e.to_string()),
            }
        }
        let (invoices, notes) = store.stripe_billing_of(id).await?;
        let invoices: Vec<Invoice> = read_all(id, &invoices, report);
        let notes: Vec<CreditNote> = read_all(id, &notes, report);
        let mut prices = invoices::known_prices(&states, &invoices);
        let unknown: Vec<String> = invoices::unknown_prices(&invoices, &prices).into_iter().collect();
        if !unknown.is_empty() {
            for body in store.stripe_prices_by_id(&unknown).await? {
                match serde_json::from_str::<laer_core::billing::objects::Price>(&body) {
                    Ok(price) => {
                        prices.insert(price.id.clone(), price);
                    }
                    Err(e) => report.left_out(id, e.to_string()),
                }
            }
        }
        if let Some(first) = states.first() {
            let mut before = invoices::states_before(first, &invoices, &prices);
            before.append(&mut states);
            states = before;
        }
        let Some(latest) = states.last() else { continue };
        // Every item the subscription ever had, and the keys of the metered usage its
        // invoices bill: one removed since (or metered prices no longer counted) keeps no
        // line beyond its stretches.
        let mut item_ids: Vec<String> = states
            .iter()
            .flat_map(|s| s.subscription.items.data.iter().map(|i| i.id.clone()))
            .chain(invoices::metered_keys(id, &invoices, &prices))
            .collect();
        item_ids.sort_unstable();
        item_ids.dedup();
        let Some(account_id) = account_of.get(&latest.subscription.customer.0).copied() else {
            items.extend(item_ids.into_iter().map(|item| (item, Vec::new())));
            continue;
        };
        let segments = match rules::segments(&states, &settings.rules).and_then(|mut segments| {
            let metered =
                invoices::metered_segments(&latest.subscription, &invoices, &notes, &prices, &settings.rules)?;
            segments.extend(metered);
            Ok(segments)
        }) {
            Ok(segments) => segments,
            Err(e) => {
                report.left_out(id, e.to_string());
                continue;
            }
        };
        // In another currency than the reporting one: kept in it, and valued at the
        // latest exchange rate; without any rate for it, left out (and counted) until one
        // is imported.
        let priced = |s: &rules::Segment| -> Option<Conversion> {
            let currency: Currency = s.item.currency.parse().ok()?;
            if Some(currency) == reporting {
                return Some(Conversion::Reporting);
            }
            rates.knows(currency).then_some(Conversion::Rate(currency))
        };
        if segments.iter().any(|s| priced(s).is_none()) {
            report.other_currency += 1;
            continue;
        }
        for item in item_ids {
            let lines = segments
                .iter()
                .filter(|s| s.item.item == item)
                .filter_map(|s| line_of(s, account_id, &products, priced(s)?, &rates, today))
                .collect();
            items.push((item, lines));
        }
    }
    let written = store.replace_stripe_lines(&items).await?;
    report.lines_written += written.written;
    report.lines_unchanged += written.unchanged;
    Ok(())
}

/// Reads each kept JSON object of a subscription's, leaving out (and naming) one laer
/// cannot read.
fn read_all<T: serde::de::DeserializeOwned>(subscription: &str, bodies: &[String], report: &mut SyncReport) -> Vec<T> {
    bodies
        .iter()
        .filter_map(|b| match serde_json::from_str(b) {
            Ok(t) => Some(t),
            Err(e) => {
                report.left_out(subscription, e.to_string());
                None
            }
        })
        .collect()
}

/// Links a customer by hand (`None`: back to the link rules from the next sync) and
/// writes its subscriptions' lines again at once from their kept states, with the
/// connection's settings (the defaults when none is stored). Audited by the store.
pub async fn link_by_hand(
    store: &Store,
    customer_id: &str,
    account_id: Option<i64>,
    actor: &str,
) -> Result<SyncReport, SyncError> {
    store.link_stripe_customer(customer_id, account_id, actor).await?;
    let settings = match store.stripe_connection().await? {
        Some(connection) => settings_of(&connection)?,
        None => ConnectionSettings::default(),
    };
    let subscriptions = store.stripe_subscriptions_of(customer_id).await?;
    let mut report = SyncReport::default();
    write_lines(store, &settings, &subscriptions, &mut report).await?;
    Ok(report)
}

/// How a stretch's value reaches the reporting currency.
#[derive(Clone, Copy)]
enum Conversion {
    /// It is in it.
    Reporting,
    /// At the latest rate of its currency.
    Rate(Currency),
}

/// A stretch of one item's value as a contract line: from its first day (UTC) to the day
/// after its last; none for a stretch within one day. A stretch in another currency keeps
/// its value in it, and its MRR is that at the rate in force `today`.
fn line_of(
    s: &rules::Segment,
    account_id: i64,
    products: &HashMap<String, String>,
    conversion: Conversion,
    rates: &Rates,
    today: chrono::NaiveDate,
) -> Option<NewSubscription> {
    let start_date = day_of(s.from)?;
    let end_date = match s.until {
        Some(until) => Some(day_of(until)?),
        None => None,
    };
    if end_date.is_some_and(|end| end <= start_date) {
        return None;
    }
    let months = s.item.interval_months;
    let amount = s.item.monthly.to_money(currency_exponent(&s.item.currency))?;
    let original = match conversion {
        Conversion::Reporting => None,
        Conversion::Rate(currency) => Some(Original { currency, mrr: amount }),
    };
    let product = products
        .get(&s.item.product)
        .cloned()
        .unwrap_or_else(|| s.item.product.clone());
    Some(NewSubscription {
        external_id: format!("{STRIPE_LINE_PREFIX}{}:{}", s.item.item, s.from),
        account_id,
        // Metered usage shown apart from what was bought.
        product: if s.item.metered {
            format!("{product} (metered)")
        } else {
            product
        },
        start_date,
        end_date,
        mrr: match original {
            Some(original) => rates.value(original, today)?,
            None => amount,
        },
        quantity: Some(s.item.quantity as f64),
        units: None,
        bill_period_months: months.whole_months().unwrap_or(1),
        discount: None,
        original,
    })
}

/// A Stripe event as its webhook delivers it (the fields laer reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// What an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    Applied,
    /// Taken before (a redelivery): nothing done.
    Duplicate,
    /// A kind laer does not read.
    Ignored,
    /// An object laer cannot read: left out, and logged.
    Unreadable,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Applied => "applied",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Ignored => "ignored",
            EventOutcome::Unreadable => "unreadable",
        }
    }
}

/// Applies a webhook event once: a subscription's state kept at the event's time and its
/// lines written again; a customer linked again (and its subscriptions' lines written
/// again); a product's name kept. `connected` re-reads a subscription when two events
/// of the same second disagree (their order is then unknown; Stripe's current object
/// decides).
pub async fn apply_event(
    store: &Store,
    connected: &Connected,
    event: &Event,
    now: i64,
) -> Result<EventOutcome, SyncError> {
    if store.stripe_event_taken(&event.id).await? {
        return Ok(EventOutcome::Duplicate);
    }
    let settings = &connected.settings;
    let object = &event.data.object;
    let mut report = SyncReport::default();
    let outcome = match event.kind.as_str() {
        kind if kind.starts_with("customer.subscription.") => {
            match serde_json::from_value::<Subscription>(object.clone()) {
                Ok(sub) => {
                    let body = serde_json::to_string(object).unwrap_or_default();
                    store
                        .record_stripe_state(&sub.id, &sub.customer.0, event.created, &body)
                        .await?;
                    let states = store.stripe_states(&sub.id).await?;
                    let same_second_differs = states
                        .last()
                        .is_some_and(|s| s.since == event.created && s.body != body);
                    if same_second_differs {
                        let current: serde_json::Value = connected
                            .client
                            .get(&format!("/v1/subscriptions/{}", sub.id), &[])
                            .await?;
                        let current = serde_json::to_string(&current).unwrap_or_default();
                        store.replace_stripe_state(&sub.id, event.created, &current).await?;
                    }
                    write_lines(store, settings, &[sub.id], &mut report).await?;
                    EventOutcome::Applied
                }
                Err(e) => {
                    report.left_out(object.id(), e.to_string());
                    EventOutcome::Unreadable
                }
            }
        }
        "customer.created" | "customer.updated" => match serde_json::from_value::<Customer>(object.clone()) {
            Ok(customer) => {
                link_customers(store, settings, std::slice::from_ref(&customer)).await?;
                let subscriptions = store.stripe_subscriptions_of(&customer.id).await?;
                write_lines(store, settings, &subscriptions, &mut report).await?;
                EventOutcome::Applied
            }
            Err(e) => {
                report.left_out(object.id(), e.to_string());
                EventOutcome::Unreadable
            }
        },
        "product.created" | "product.updated" => {
            products_page(store, std::slice::from_ref(object), &mut report).await?;
            EventOutcome::Applied
        }
        "price.created" | "price.updated" => {
            prices_page(store, std::slice::from_ref(object), &mut report).await?;
            EventOutcome::Applied
        }
        kind if kind.starts_with("invoice.") && kind != "invoice.upcoming" && object["object"] == "invoice" => {
            let subscriptions =
                invoices_page(store, &connected.client, std::slice::from_ref(object), &mut report).await?;
            write_lines(store, settings, &subscriptions, &mut report).await?;
            if report.unreadable > 0 {
                EventOutcome::Unreadable
            } else {
                EventOutcome::Applied
            }
        }
        kind if kind.starts_with("credit_note.") => {
            let subscriptions = credit_notes_page(store, std::slice::from_ref(object), &mut report).await?;
            write_lines(store, settings, &subscriptions, &mut report).await?;
            if report.unreadable > 0 {
                EventOutcome::Unreadable
            } else {
                EventOutcome::Applied
            }
        }
        _ => EventOutcome::Ignored,
    };
    let first = store
        .record_stripe_event(&event.id, &event.kind, event.created, outcome.as_str(), now)
        .await?;
    Ok(if first { outcome } else { EventOutcome::Duplicate })
}

/// How often a node looks whether a sync is asked for or due.
pub const SYNC_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps a connected Stripe account current from this node until aborted: every
/// [`SYNC_POLL`], runs the sync if it was asked for (connecting, *Sync now*), is due (the
/// reconciliation interval passed) or had stopped — unless another node runs it. With
/// nothing connected it only looks.
pub async fn run_syncs(store: Store, secrets: Option<SecretBox>) {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let owner = format!("node:{}:{started:x}", std::process::id());
    let clock = || chrono::Utc::now().timestamp();
    let mut tick = tokio::time::interval(SYNC_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut heard = |_: &str, _: &SyncReport| {};
        match sync_if_due(&store, secrets.as_ref(), &owner, false, &clock, &mut heard).await {
            Ok(_) | Err(SyncError::NotConnected) => {}
            // Recorded with the connection and logged by `sync_if_due` already.
            Err(SyncError::Stripe(_) | SyncError::Secret { .. } | SyncError::Settings(_) | SyncError::LeaseLost) => {}
            Err(e) => tracing::warn!(error = %e, "the Stripe sync could not run"),
        }
    }
}
