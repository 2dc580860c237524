//! Stripe from the command line (issue 17; docs/import.md, "Stripe"):
//! `laer connect stripe` stores the connection (the key read from `LAER_STRIPE_KEY`, an
//! environment variable, so that it is in no command line or shell history; sealed with
//! the server key), `laer stripe sync` runs its sync now (resuming one that stopped) with
//! its progress, `laer stripe status` tells where it is, and `laer stripe link` links a
//! customer by hand.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use laer_app::billing::{SyncOutcome, SyncReport, check_access, settings_of, sync_if_due};
use laer_app::stripe::{STRIPE_API, StripeClient, StripeKey};
use laer_core::billing::connection::{ConnectionSettings, LinkRule, Unmatched};
use laer_store::{NewStripeConnection, Store};

use crate::secrets::{Missing, load, prepare};

/// The variable that holds the key for `laer connect stripe`.
const KEY_VARIABLE: &str = "LAER_STRIPE_KEY";
/// The variable that holds the webhook signing secret (whsec_…).
const WEBHOOK_VARIABLE: &str = "LAER_STRIPE_WEBHOOK_SECRET";

#[derive(Subcommand)]
pub enum ConnectCommand {
    /// Connect a Stripe account: the key from LAER_STRIPE_KEY (a restricted key with read
    /// access), the webhook signing secret from LAER_STRIPE_WEBHOOK_SECRET; run again to
    /// change settings (the stored key is kept when LAER_STRIPE_KEY is not set).
    Stripe(ConnectArgs),
}

#[derive(Args)]
pub struct ConnectArgs {
    /// The customer metadata key whose value is the laer account's external id.
    #[arg(long)]
    metadata_key: Option<String>,
    /// The reporting currency: subscriptions in another are left out, and counted.
    #[arg(long)]
    currency: Option<String>,
    /// What links a customer its metadata does not: metadata (nothing; an admin links it),
    /// create_account, or email_domain.
    #[arg(long, value_parser = ["metadata", "create_account", "email_domain"])]
    link_rule: Option<String>,
    /// Minutes between reconciliations (whole syncs that catch what a webhook missed).
    #[arg(long)]
    reconcile_minutes: Option<u32>,
    /// An MRR rule, NAME=true|false (docs/metrics.md, "MRR from Stripe"): once_discounts,
    /// repeating_discounts, past_due_counts, paused_collection_counts,
    /// churn_at_period_end, metered. Repeatable.
    #[arg(long = "rule", value_name = "NAME=BOOL")]
    rules: Vec<String>,
    /// Stripe's API (a test server's, for trying laer out).
    #[arg(long)]
    api_base: Option<String>,
    /// Forget the connection (and its key); the lines synced stay.
    #[arg(long, conflicts_with_all = ["metadata_key", "currency", "link_rule", "rules", "api_base"])]
    disconnect: bool,
    /// Who connects, for the audit log.
    #[arg(long, env = "USER", default_value = "cli")]
    actor: String,
}

#[derive(Subcommand)]
pub enum StripeCommand {
    /// Sync now: read every customer, product and subscription and write what changed
    /// (resumes a sync that stopped).
    Sync(SyncArgs),
    /// The connection and its sync: settings, progress, the last outcome, unlinked customers.
    Status(SyncArgs),
    /// Link a Stripe customer to an account by hand (kept by later syncs), or --unlink it
    /// (its metadata key decides again at the next sync).
    Link(LinkArgs),
}

#[derive(Args)]
pub struct LinkArgs {
    /// The Stripe customer's id (cus_…), as `laer stripe status` lists the unlinked.
    customer: String,
    /// The account's external id.
    #[arg(required_unless_present = "unlink")]
    account: Option<String>,
    /// Give the customer back to its metadata key.
    #[arg(long, conflicts_with = "account")]
    unlink: bool,
    /// Who links, for the audit log.
    #[arg(long, env = "USER", default_value = "cli")]
    actor: String,
}

#[derive(Args)]
pub struct SyncArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn connect(
    store: &Store,
    command: ConnectCommand,
    key_file: Option<&Path>,
    data_dir: impl FnOnce() -> Result<PathBuf>,
) -> Result<()> {
    let ConnectCommand::Stripe(args) = command;
    if args.disconnect {
        if store.disconnect_stripe(&args.actor).await? {
            println!("Stripe is disconnected: its key is forgotten; the lines it gave stay");
        } else {
            println!("Stripe was not connected");
        }
        return Ok(());
    }
    let current = store.stripe_connection().await?;
    let mut settings = match &current {
        Some(c) => settings_of(c)?,
        None => ConnectionSettings::default(),
    };
    if let Some(key) = args.metadata_key {
        settings.metadata_key = key;
    }
    if let Some(currency) = args.currency {
        settings.currency = currency;
    }
    if let Some(rule) = args.link_rule {
        settings.link_rule = LinkRule::parse(&rule).ok_or_else(|| anyhow!("--link-rule: unknown rule {rule:?}"))?;
    }
    if let Some(minutes) = args.reconcile_minutes {
        settings.reconcile_minutes = minutes;
    }
    settings.rules = with_rules(settings.rules, &args.rules)?;
    let settings = settings
        .checked()
        .map_err(|e| anyhow!("--{}: {}", e.field.replace('_', "-"), e.problem))?;
    let api_base = args
        .api_base
        .or_else(|| current.as_ref().map(|c| c.api_base.clone()))
        .unwrap_or_else(|| STRIPE_API.to_string());
    let key = std::env::var(KEY_VARIABLE).ok().filter(|k| !k.trim().is_empty());
    if key.is_none() && current.is_none() {
        bail!("set {KEY_VARIABLE} to a Stripe restricted key with read access (rk_…) to connect");
    }
    let webhook = std::env::var(WEBHOOK_VARIABLE).ok().filter(|k| !k.trim().is_empty());
    if webhook.as_ref().is_some_and(|s| !s.trim().starts_with("whsec_")) {
        bail!("{WEBHOOK_VARIABLE}: expected a webhook signing secret (whsec_…), as Stripe shows for the endpoint");
    }
    let secrets = prepare(store, load(key_file, data_dir, Missing::Make)?).await?;
    if let Some(key) = &key {
        let client = StripeClient::new(&api_base, StripeKey::new(key)?);
        check_access(&client)
            .await
            .context("the key cannot read what laer needs")?;
    }
    let settings_json = serde_json::to_string(&settings)?;
    store
        .connect_stripe(
            &NewStripeConnection {
                api_key: key.as_deref().map(str::trim),
                webhook_secret: webhook.as_deref().map(str::trim),
                api_base: &api_base,
                settings: &settings_json,
            },
            &secrets,
            &args.actor,
        )
        .await?;
    println!(
        "Stripe is connected ({}); customers link by the metadata {}, else: {}; MRR in {}",
        api_base,
        settings.metadata_key,
        settings.link_rule.describe(),
        settings.currency
    );
    if key.is_some() {
        println!("A server syncs it soon, or run: laer stripe sync");
    }
    if webhook.is_none() && current.as_ref().is_none_or(|c| c.webhook_secret.is_none()) {
        println!(
            "For live changes, add a webhook endpoint in Stripe to https://YOUR-LAER/webhooks/stripe and connect \
             again with {WEBHOOK_VARIABLE} set to its signing secret"
        );
    }
    Ok(())
}

/// `rules` with the `NAME=BOOL` changes given.
fn with_rules(
    rules: laer_core::billing::rules::MrrRules,
    changes: &[String],
) -> Result<laer_core::billing::rules::MrrRules> {
    let mut value = serde_json::to_value(rules)?;
    for change in changes {
        let (name, on) = change
            .split_once('=')
            .ok_or_else(|| anyhow!("--rule {change}: expected NAME=true or NAME=false"))?;
        let on: bool = on
            .trim()
            .parse()
            .map_err(|_| anyhow!("--rule {change}: expected true or false after ="))?;
        let name = name.trim();
        if value.get(name).is_none() {
            let names: Vec<String> = value
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            bail!("--rule {change}: no rule {name:?}; the rules are {}", names.join(", "));
        }
        value[name] = serde_json::Value::Bool(on);
    }
    Ok(serde_json::from_value(value)?)
}

pub async fn stripe(
    store: &Store,
    command: StripeCommand,
    key_file: Option<&Path>,
    data_dir: impl FnOnce() -> Result<PathBuf>,
) -> Result<()> {
    match command {
        StripeCommand::Sync(args) => sync(store, args, key_file, data_dir).await,
        StripeCommand::Status(args) => status(store, args).await,
        StripeCommand::Link(args) => link(store, args).await,
    }
}

async fn sync(
    store: &Store,
    args: SyncArgs,
    key_file: Option<&Path>,
    data_dir: impl FnOnce() -> Result<PathBuf>,
) -> Result<()> {
    let secrets = prepare(store, load(key_file, data_dir, Missing::Refuse)?).await?;
    let owner = format!("cli:{}", std::process::id());
    let clock = || chrono::Utc::now().timestamp();
    let mut heard = |stage: &str, report: &SyncReport| {
        eprintln!(
            "{stage}: {} customers, {} products, {} invoices, {} credit notes, {} subscriptions read ({} pages)",
            report.customers, report.products, report.invoices, report.credit_notes, report.subscriptions, report.pages
        );
    };
    let outcome = sync_if_due(store, Some(&secrets), &owner, true, &clock, &mut heard).await?;
    let report = match outcome {
        SyncOutcome::Done(report) => report,
        SyncOutcome::Running(holder) => bail!("a sync is running already ({holder}); see laer stripe status"),
        SyncOutcome::NotDue => bail!("no sync was run"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_report(&report);
    let connection = store
        .stripe_connection()
        .await?
        .ok_or_else(|| anyhow!("Stripe is not connected"))?;
    print_unmatched(store, &settings_of(&connection)?.metadata_key).await
}

fn print_report(report: &SyncReport) {
    println!(
        "{} customers ({} linked to accounts, {} accounts made), {} products, {} prices, {} invoices, {} credit notes, \
         {} subscriptions ({} changed since the last sync); contract lines: {} written, {} unchanged{}",
        report.customers,
        report.linked,
        report.accounts_created,
        report.products,
        report.prices,
        report.invoices,
        report.credit_notes,
        report.subscriptions,
        report.changed,
        report.lines_written,
        report.lines_unchanged,
        if report.resumed {
            " (resumed a sync that had stopped)"
        } else {
            ""
        }
    );
    if !report.unlisted.is_empty() {
        println!(
            "this Stripe server lists no {}: read as none",
            report.unlisted.join(", ").replace('_', " ")
        );
    }
    if report.other_currency > 0 {
        println!(
            "{} subscriptions in a currency without an exchange rate were left out: laer import exchange-rates FILE",
            report.other_currency
        );
    }
    if report.unreadable > 0 {
        println!("{} objects laer could not read were left out:", report.unreadable);
        for (id, problem) in &report.unreadable_named {
            println!("  {id}: {problem}");
        }
    }
}

async fn print_unmatched(store: &Store, metadata_key: &str) -> Result<()> {
    let mut unmatched: Vec<_> = store
        .stripe_customers()
        .await?
        .into_values()
        .filter(|c| c.account_id.is_none())
        .collect();
    unmatched.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    for c in unmatched {
        let why = c
            .unmatched
            .as_deref()
            .and_then(|u| serde_json::from_str::<Unmatched>(u).ok())
            .map_or_else(|| format!("its metadata has no {metadata_key}"), |u| u.to_string());
        println!(
            "not linked: {} {} ({why}; link it: laer stripe link {} ACCOUNT)",
            c.customer_id,
            c.email.as_deref().unwrap_or(""),
            c.customer_id
        );
    }
    Ok(())
}

async fn status(store: &Store, args: SyncArgs) -> Result<()> {
    let Some(c) = store.stripe_connection().await? else {
        bail!("Stripe is not connected: run laer connect stripe (the key in {KEY_VARIABLE})");
    };
    let settings = settings_of(&c)?;
    let report: Option<SyncReport> = c.sync.last_report.as_deref().and_then(|r| serde_json::from_str(r).ok());
    let progress: Option<SyncReport> = c.sync.progress.as_deref().and_then(|r| serde_json::from_str(r).ok());
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "api_base": c.api_base,
                "settings": settings,
                "webhook_secret": c.webhook_secret.is_some(),
                "sync": {
                    "running": c.sync.owner,
                    "stage": c.sync.stage,
                    "progress": progress,
                    "finished_at": c.sync.finished_at,
                    "error": c.sync.error,
                    "last_report": report,
                },
            }))?
        );
        return Ok(());
    }
    let when = |t: Option<i64>| {
        t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
    };
    println!(
        "Connected to {} since {} by {}; webhook secret {}",
        c.api_base,
        when(Some(c.connected_at)),
        c.connected_by,
        if c.webhook_secret.is_some() { "set" } else { "not set" }
    );
    println!(
        "Customers link by the metadata {}, else: {}; MRR in {}; reconciled every {} minutes",
        settings.metadata_key,
        settings.link_rule.describe(),
        settings.currency,
        settings.reconcile_minutes
    );
    if let (Some(owner), Some(progress)) = (&c.sync.owner, &progress) {
        println!(
            "Syncing now ({owner}, at {}): {} customers, {} subscriptions read",
            c.sync.stage.as_deref().unwrap_or("the start"),
            progress.customers,
            progress.subscriptions
        );
    }
    println!("Last sync ended {}", when(c.sync.finished_at));
    if let Some(error) = &c.sync.error {
        println!(
            "It failed: {error} (the next one resumes at {})",
            c.sync.stage.as_deref().unwrap_or("the start")
        );
    }
    if let Some(report) = &report {
        print_report(report);
    }
    if let (Some(at), Some(why)) = (c.webhook_refused_at, &c.webhook_refused_reason) {
        println!("Last webhook refused {}: {why}", when(Some(at)));
    }
    println!("Last webhook event {}", when(c.webhook_received_at));
    print_unmatched(store, &settings.metadata_key).await
}

async fn link(store: &Store, args: LinkArgs) -> Result<()> {
    let account = match &args.account {
        Some(external) => Some(
            store
                .account_by_external_id(external)
                .await?
                .map(|a| a.id)
                .ok_or_else(|| anyhow!("no account with the external id {external:?}"))?,
        ),
        None => None,
    };
    let written = laer_app::billing::link_by_hand(store, &args.customer, account, &args.actor).await?;
    match &args.account {
        Some(external) => println!(
            "{} is linked to {external} by hand; contract lines: {} written, {} unchanged",
            args.customer, written.lines_written, written.lines_unchanged
        ),
        None => println!("{} follows its metadata again from the next sync", args.customer),
    }
    Ok(())
}
