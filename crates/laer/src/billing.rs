//! `laer stripe sync` (issue 17): reads the Stripe account whose key is in
//! `LAER_STRIPE_KEY` (an environment variable, so that the key is in no command line or
//! shell history) and writes its subscriptions as contract lines (docs/import.md, "Stripe").

use clap::{Args, Subcommand};
use laer_app::billing::{SyncOptions, sync_stripe};
use laer_app::stripe::{STRIPE_API, StripeClient, StripeKey};
use laer_store::Store;

#[derive(Subcommand)]
pub enum StripeCommand {
    /// Read every customer and subscription and write what changed (the key: LAER_STRIPE_KEY).
    Sync(SyncArgs),
    /// Link a Stripe customer to an account by hand (kept by later syncs), or --unlink it
    /// (its metadata key decides again at the next sync).
    Link(LinkArgs),
}

#[derive(Args)]
pub struct LinkArgs {
    /// The Stripe customer's id (cus_…), as `laer stripe sync` lists the unlinked.
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
    /// The customer metadata key whose value is the laer account's external id.
    #[arg(long, default_value = "laer_account")]
    metadata_key: String,
    /// The reporting currency: subscriptions in another are left out, and counted.
    #[arg(long, default_value = "usd")]
    currency: String,
    /// Stripe's API (a test server's, for trying laer out).
    #[arg(long, default_value = STRIPE_API)]
    api_base: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn stripe(store: &Store, command: StripeCommand) -> anyhow::Result<()> {
    let args = match command {
        StripeCommand::Sync(args) => args,
        StripeCommand::Link(args) => return link(store, args).await,
    };
    let key = std::env::var("LAER_STRIPE_KEY")
        .map_err(|_| anyhow::anyhow!("set LAER_STRIPE_KEY to a Stripe restricted key with read access (rk_…)"))?;
    let client = StripeClient::new(&args.api_base, StripeKey::new(&key)?);
    let options = SyncOptions {
        metadata_key: args.metadata_key,
        currency: args.currency.to_ascii_lowercase(),
        ..SyncOptions::default()
    };
    let report = sync_stripe(store, &client, &options, chrono::Utc::now().timestamp()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} customers ({} linked to accounts), {} subscriptions ({} changed since the last sync); \
         contract lines: {} written, {} unchanged",
        report.customers,
        report.linked,
        report.subscriptions,
        report.changed,
        report.lines_written,
        report.lines_unchanged
    );
    if report.other_currency > 0 {
        println!(
            "{} subscriptions in another currency than {} were left out",
            report.other_currency, options.currency
        );
    }
    for (customer, email) in &report.unmatched {
        println!(
            "not linked: {customer} {} (set its metadata {} to an account's external id)",
            email.as_deref().unwrap_or(""),
            options.metadata_key
        );
    }
    Ok(())
}

async fn link(store: &Store, args: LinkArgs) -> anyhow::Result<()> {
    let account = match &args.account {
        Some(external) => Some(
            store
                .account_names()
                .await?
                .into_iter()
                .find(|(_, n)| n.external_id == *external)
                .map(|(id, _)| id)
                .ok_or_else(|| anyhow::anyhow!("no account with the external id {external:?}"))?,
        ),
        None => None,
    };
    store.link_stripe_customer(&args.customer, account, &args.actor).await?;
    match &args.account {
        Some(external) => println!(
            "{} is linked to {external} by hand; the next sync writes its lines",
            args.customer
        ),
        None => println!("{} follows its metadata again from the next sync", args.customer),
    }
    Ok(())
}
