//! The `laer` command: serve the web app and API, import data, report.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use laer_import::{ImportReport, Kind, Options, REJECTS_HEADER, Rejects};
use laer_store::{Store, redact};

mod billing;
mod calendars;
mod chat;
mod plans;
mod secrets;
mod singer;
mod sync;
mod table;
mod work;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "laer", version, about = "laer: open-source customer success platform")]
struct Cli {
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB.
    /// Default: an SQLite file laer.db in the data directory ($LAER_DATA_DIR,
    /// else $XDG_DATA_HOME/laer, else ~/.local/share/laer).
    #[arg(long, global = true, env = "LAER_DATABASE_URL", value_name = "URL")]
    db: Option<String>,

    /// The health model file (docs/health.md). Default: the shipped model.
    #[arg(long, global = true, env = "LAER_HEALTH_MODEL", value_name = "FILE")]
    health_model: Option<PathBuf>,

    /// The server key file that seals stored secrets such as webhook secrets
    /// (docs/operations.md). Default: $LAER_SECRET_KEY (the key itself), else secret.key
    /// in the data directory, made on first use.
    #[arg(long, global = true, env = "LAER_SECRET_KEY_FILE", value_name = "FILE")]
    secret_key_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and the REST API.
    Serve(Box<ServeArgs>),
    /// Import a CSV file (with a header row) of one kind, or a Fighting Churn With Data export.
    Import(ImportArgs),
    /// Show how many records of each kind the database holds.
    Status(StatusArgs),
    /// Write keys for the Segment-compatible tracking API (docs/ingest.md).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Revenue and retention reports (definitions: docs/metrics.md).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Fill the database with a realistic demo company (docs/demo.md).
    Demo(DemoArgs),
    /// People who log in to the web app (docs/access.md).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Bearer tokens of API clients (docs/access.md).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The health model: fit it to history, show it, set phases by hand (docs/health.md).
    #[command(subcommand)]
    Health(HealthCommand),
    /// Playbooks: what fires when, and their runs (docs/automation.md).
    #[command(subcommand)]
    Playbooks(work::PlaybooksCommand),
    /// Tasks: work queues, done, snooze, reassign, comment (docs/automation.md).
    #[command(subcommand)]
    Tasks(work::TasksCommand),
    /// The coverage model: who covers which account, and its rules (docs/automation.md).
    #[command(subcommand)]
    Coverage(work::CoverageCommand),
    /// Success plans: show, milestones, share with the customer (docs/success-plans.md).
    #[command(subcommand)]
    Plans(plans::PlansCommand),
    /// Webhook endpoints: events sent as signed HTTP requests (docs/automation.md).
    #[command(subcommand)]
    Webhooks(work::WebhooksCommand),
    /// Slack and Microsoft Teams: hooks playbooks post to, and people's daily digests
    /// (docs/automation.md).
    #[command(subcommand)]
    Chat(chat::ChatCommand),
    /// Team members' calendars (CalDAV, iCalendar feeds): their meetings with customers
    /// become touchpoints (docs/work.md).
    #[command(subcommand)]
    Calendars(calendars::CalendarsCommand),
    /// The outbox: emails, webhook requests and chat messages, sent or waiting
    /// (docs/automation.md).
    Deliveries(work::DeliveriesArgs),
    // Issue 15, secrets and backups (docs/operations.md).
    /// The server key that seals stored secrets: status and rotation.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Copy the SQLite database to FILE while laer runs (PostgreSQL: pg_dump).
    Backup(secrets::BackupArgs),
    /// Connect a billing system (Stripe) whose subscriptions become contract lines
    /// (docs/import.md, "Stripe").
    #[command(subcommand)]
    Connect(billing::ConnectCommand),
    /// Stripe, once connected: sync now, its status, link customers by hand.
    #[command(subcommand)]
    Stripe(billing::StripeCommand),
    /// Singer taps laer runs on a schedule into a mapping (docs/singer.md, "Syncs").
    #[command(subcommand)]
    Sync(sync::SyncCommand),
}

#[derive(Args)]
struct DemoArgs {
    /// How many customer accounts.
    #[arg(long, default_value_t = 300)]
    accounts: usize,
    /// How many months of history, ending today.
    #[arg(long, default_value_t = 24)]
    months: u32,
    /// The same seed gives the same company.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a person, or update the one with this email; the password is read from a
    /// prompt on a terminal, else from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, leader, csm, renewal, expansion, sales or viewer.
        #[arg(long, value_parser = PossibleValuesParser::new(role_names()))]
        role: String,
        /// The team member (external id) this person is, whose accounts are their book.
        #[arg(long, value_name = "EXTERNAL_ID")]
        team_member: Option<String>,
    },
    /// List people.
    List {
        #[arg(long)]
        json: bool,
    },
    // Logins (issue 15): disable, enable, end sessions.
    /// Deactivate a person: they cannot log in, their sessions end at once and their
    /// password links stop working (API tokens are the workspace's, not theirs: revoke
    /// those with `laer tokens revoke`).
    Disable { email: String },
    /// Let a deactivated person log in again with their password.
    Enable { email: String },
    /// End every session of a person (logged out on every device) without deactivating them.
    Logout { email: String },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create an API token with a role; the token is shown once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "viewer", value_parser = PossibleValuesParser::new(role_names()))]
        role: String,
        /// Print `{"token": "...", "id": ...}`.
        #[arg(long)]
        json: bool,
    },
    /// List API tokens (their first characters, never the tokens).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id; requests with it then get 401.
    Revoke { id: i64 },
}

fn role_names() -> Vec<&'static str> {
    laer_core::access::Role::ALL.iter().map(|r| r.as_str()).collect()
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a write key; the key is shown once.
    Create {
        /// What the key is for, e.g. the sending service.
        #[arg(long)]
        name: String,
        /// Print `{"write_key": "...", "id": ...}`.
        #[arg(long)]
        json: bool,
    },
    /// List write keys (their first characters, never the keys).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a write key by its id; calls with it then get 401.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Account churn, MRR retention and churn, and optionally activity churn.
    Retention(RetentionArgs),
    /// MRR movements (new, expansion, contraction, churn, reactivation), NRR and GRR.
    Mrr(MrrArgs),
    /// The NRR bridge of calendar quarters (start MRR, new, expansion, contraction,
    /// churn, reactivation, end MRR, NRR, GRR) by LAER phase or by owner.
    NrrBridge(NrrBridgeArgs),
    /// Every account's health, pillars, quadrant, phase and drivers (docs/health.md).
    Health(HealthReportArgs),
    /// Replays the health model over history and measures how well it ranked the
    /// accounts that churned or downsold within 90 days: AUC, lift, calibration.
    HealthValidation(ReplayArgs),
    /// Retention curves: Kaplan–Meier survival of accounts (95 % bands) and of their
    /// starting revenue, by cohort, segment or plan; each cohort's sBG projection.
    Survival(SurvivalArgs),
    /// The renewal forecast of this quarter and the next: each renewal's likelihood,
    /// forecast ARR and calls, the quarters with 90 % intervals, past quarters' accuracy
    /// (docs/forecasts.md).
    RenewalForecast(JsonArgs),
}

#[derive(Args)]
struct JsonArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SurvivalArgs {
    /// Group by all, cohort (the quarter accounts started), segment or plan.
    #[arg(long, default_value = "cohort")]
    by: laer_core::survival::CurveBy,
    /// Months to read the curves to.
    #[arg(long, default_value_t = 36, value_parser = clap::value_parser!(u32).range(1..=120))]
    months: u32,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV: one row per group and month.
    #[arg(long)]
    csv: bool,
}

#[derive(Args)]
struct ReplayArgs {
    /// The first day to replay (month ends from it); default two usage windows after the
    /// first contract.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// The last day to replay; default the horizon before the last day the data speaks
    /// of (what happened next must be known).
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Days after each replayed day in which a churn or downsell counts.
    #[arg(long, value_name = "DAYS", default_value_t = laer_core::health::outcome::HORIZON_DAYS,
          value_parser = clap::value_parser!(i64).range(1..=730))]
    horizon: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum HealthCommand {
    /// Learn weights from history (the book's method) and show them beside the model's.
    Fit(FitArgs),
    /// Print the health model in effect (the shipped default, or --health-model's file).
    Model,
    /// Set an account's LAER phase by hand (audited), or clear it with `auto`.
    SetPhase(SetPhaseArgs),
}

#[derive(Args)]
struct FitArgs {
    #[command(flatten)]
    replay: ReplayArgs,
    /// Write the fitted model to FILE (serve with --health-model FILE to use it).
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// Adopt the fitted model: overwrite the --health-model file with it.
    #[arg(long, requires = "health_model")]
    adopt: bool,
}

#[derive(Args)]
struct SetPhaseArgs {
    /// The account's external id.
    account: String,
    /// land, adopt, expand, renew, churned, or auto to let the rules decide again.
    phase: String,
    /// Why (kept in the audit log).
    #[arg(long)]
    reason: String,
    /// Who sets it (kept in the audit log); default $USER.
    #[arg(long, env = "USER", default_value = "cli")]
    actor: String,
}

#[derive(Args)]
struct HealthReportArgs {
    /// The day to compute health as of (YYYY-MM-DD); default today.
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PeriodArgs {
    /// First day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    from: String,
    /// Last day (YYYY-MM-DD); with --every month, the last period's first day.
    #[arg(long, value_name = "DATE")]
    to: String,
    /// `month`: one period per month, starting at --from, --from + 1 month, ... up to --to.
    #[arg(long, value_name = "INTERVAL")]
    every: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RetentionArgs {
    #[command(flatten)]
    period: PeriodArgs,
    /// Add activity churn: accounts with an event in the DAYS before the first day and
    /// none in the DAYS before the last.
    #[arg(long, value_name = "DAYS")]
    activity_window: Option<String>,
    /// Also give the figures per value of an account attribute (segment, channel,
    /// country, an imported attribute, or `plan`: the account's plan in the period).
    #[arg(long, value_name = "ATTRIBUTE")]
    by: Option<String>,
}

#[derive(Args)]
struct MrrArgs {
    #[command(flatten)]
    period: PeriodArgs,
    /// Also break the movements down by an account attribute (segment, channel,
    /// country, an imported attribute, or `plan`: the account's plan in the period).
    #[arg(long, value_name = "ATTRIBUTE")]
    by: Option<String>,
    /// Also list every account's net growth (MRR on the last day over the first).
    #[arg(long)]
    accounts: bool,
}

#[derive(Args)]
struct NrrBridgeArgs {
    /// The first day (YYYY-MM-DD): every calendar quarter with a day from it up to --to.
    /// Default: the four quarters up to --to.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// The day after the last (YYYY-MM-DD). Default: the first day of the quarter the
    /// data's last day falls in, so that every quarter is whole.
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Group accounts by their LAER phase on the quarter's first day, or by their owner
    /// in --role then (an account new or back in the quarter: on the day it began).
    #[arg(long, default_value = "phase", value_parser = PossibleValuesParser::new(["phase", "owner"]))]
    by: String,
    /// With --by owner: whose accounts. Default: csm.
    #[arg(long, value_parser = PossibleValuesParser::new(OWNER_ROLES.map(|r| r.as_str())))]
    role: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The roles an account has an owner in.
const OWNER_ROLES: [laer_core::model::TeamRole; 4] = [
    laer_core::model::TeamRole::Csm,
    laer_core::model::TeamRole::AccountExecutive,
    laer_core::model::TeamRole::RenewalSpecialist,
    laer_core::model::TeamRole::ExpansionSpecialist,
];

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,
    /// Where the Singer taps that syncs run are (programs, or links to them): a sync
    /// names one. Default: `taps` in the data directory (docs/singer.md, "Syncs").
    #[arg(long, env = "LAER_TAPS_DIR", value_name = "DIR")]
    taps_dir: Option<PathBuf>,
    /// Fill the database with the demo company first, when it holds no accounts yet.
    #[arg(long)]
    demo: bool,
    /// The SMTP server playbook emails go out through, e.g. smtps://user:password@mail.example.com
    /// or smtp://localhost:2525 (docs/automation.md). Without it, emails are skipped.
    #[arg(long, env = "LAER_SMTP_URL", value_name = "URL")]
    smtp_url: Option<String>,
    /// The sender of playbook emails.
    #[arg(
        long,
        env = "LAER_SMTP_FROM",
        default_value = "laer <laer@localhost>",
        value_name = "MAILBOX"
    )]
    smtp_from: String,
    /// Requests taking longer than this many seconds are ended with 503.
    #[arg(long, default_value_t = laer_server::DEFAULT_REQUEST_TIMEOUT.as_secs(), value_name = "SECONDS")]
    request_timeout: u64,
    /// The address people reach laer at, e.g. https://cs.example.com: then the only source
    /// of the links laer hands out (share links, password links). Without it, links
    /// follow the request's Host, and Slack and Teams messages carry none.
    #[arg(long, env = "LAER_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// A proxy (address or network, e.g. 10.0.0.0/8; repeat or separate with commas)
    /// whose X-Forwarded-For, -Host and -Proto headers are believed. Without it, those
    /// headers are ignored.
    #[arg(
        long = "trusted-proxy",
        env = "LAER_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "NET"
    )]
    trusted_proxies: Vec<String>,
    // Issue 15, serving: HTTPS, connection limits and shutdown (docs/operations.md).
    /// Serve HTTPS with this certificate chain (PEM; the server's certificate first).
    /// Reloaded without downtime when the file changes or on SIGHUP.
    #[arg(long, env = "LAER_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM), reloaded with it.
    #[arg(long, env = "LAER_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A connection must send a request's headers within this many seconds of opening or
    /// of its previous answer; an idle keep-alive connection is closed after as long.
    #[arg(long, default_value_t = laer_server::Limits::DEFAULT.header_timeout.as_secs(), value_name = "SECONDS")]
    header_timeout: u64,
    /// A request body that sends nothing for this many seconds is ended (an upload for
    /// import has its own stall limit).
    #[arg(long, default_value_t = laer_server::Limits::DEFAULT.body_timeout.as_secs(), value_name = "SECONDS")]
    body_timeout: u64,
    /// Connections served at once; further ones wait in the listen backlog.
    #[arg(long, default_value_t = laer_server::Limits::DEFAULT.max_connections, value_name = "N")]
    max_connections: usize,
    /// On SIGTERM or Ctrl-C, requests in flight get this many seconds to finish (a
    /// second Ctrl-C stops at once).
    #[arg(long, default_value_t = laer_server::Limits::DEFAULT.shutdown_grace.as_secs(), value_name = "SECONDS")]
    shutdown_grace: u64,
    #[command(flatten)]
    sso: SsoArgs,
}

/// Issue 15, single sign-on with OpenID Connect (docs/access.md, "Single sign-on").
#[derive(Args)]
struct SsoArgs {
    /// Sign people in with this OpenID provider (its issuer URL, e.g.
    /// https://example.okta.com). Needs --public-url (the redirect URI is
    /// <public URL>/auth/oidc/callback) and --sso-client-id; the client secret comes from
    /// the environment (LAER_SSO_CLIENT_SECRET) or a file (--sso-client-secret-file), never
    /// from the command line.
    #[arg(long, env = "LAER_SSO_ISSUER", value_name = "URL")]
    sso_issuer: Option<String>,
    /// The client id laer is registered with at the provider.
    #[arg(long, env = "LAER_SSO_CLIENT_ID", value_name = "ID", requires = "sso_issuer")]
    sso_client_id: Option<String>,
    /// A file holding the client secret (instead of LAER_SSO_CLIENT_SECRET).
    #[arg(
        long,
        env = "LAER_SSO_CLIENT_SECRET_FILE",
        value_name = "FILE",
        requires = "sso_issuer"
    )]
    sso_client_secret_file: Option<PathBuf>,
    /// The provider's name on the login page: "Sign in with NAME".
    #[arg(long, env = "LAER_SSO_NAME", default_value = "single sign-on", value_name = "NAME")]
    sso_name: String,
    /// Scopes asked for besides openid (comma-separated).
    #[arg(
        long,
        env = "LAER_SSO_SCOPES",
        value_delimiter = ',',
        default_value = "email,profile",
        value_name = "SCOPE"
    )]
    sso_scopes: Vec<String>,
    /// The ID token claim that carries the role: a string or a list, e.g. laer_role,
    /// groups, roles or realm_access.roles. Without it, roles come from invitations only.
    #[arg(long, env = "LAER_SSO_ROLE_CLAIM", value_name = "CLAIM")]
    sso_role_claim: Option<String>,
    /// Maps a value of the role claim to a role, e.g. laer-admins=admin (repeat or
    /// separate with commas; the first that matches wins). Without any, the claim's
    /// values are role names (admin, leader, csm, renewal, expansion, sales, viewer).
    #[arg(
        long = "sso-role",
        env = "LAER_SSO_ROLES",
        value_delimiter = ',',
        value_name = "VALUE=ROLE"
    )]
    sso_roles: Vec<String>,
    /// Take the provider's email as verified when it does not say (no email_verified
    /// claim, as Entra ID): only for a provider whose emails all belong to you.
    #[arg(long, env = "LAER_SSO_TRUST_EMAIL")]
    sso_trust_email: bool,
    /// Switch password logins off: the login page shows only the single sign-on button,
    /// and password links set no password. A person made with `laer users create` signs
    /// in with the provider under the same, verified email.
    #[arg(long, env = "LAER_SSO_ONLY", requires = "sso_issuer")]
    sso_only: bool,
}

impl SsoArgs {
    /// The server's single sign-on configuration, if an issuer is given.
    fn config(self) -> Result<Option<laer_server::SsoConfig>> {
        let Some(issuer) = self.sso_issuer else {
            return Ok(None);
        };
        let Some(client_id) = self.sso_client_id else {
            bail!("--sso-issuer needs --sso-client-id (or LAER_SSO_CLIENT_ID)");
        };
        let client_secret = match self.sso_client_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read the client secret file {}", path.display()))?
                    .trim()
                    .to_string(),
            ),
            None => std::env::var("LAER_SSO_CLIENT_SECRET").ok(),
        }
        .filter(|s| !s.is_empty());
        let role_mapping =
            laer_core::sso::RoleMapping::parse(&self.sso_roles).map_err(|e| anyhow::anyhow!("--sso-role: {e}"))?;
        Ok(Some(laer_server::SsoConfig {
            issuer,
            client_id,
            client_secret,
            name: self.sso_name,
            scopes: self
                .sso_scopes
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            role_claim: self.sso_role_claim.filter(|c| !c.trim().is_empty()),
            role_mapping,
            trust_email: self.sso_trust_email,
            password_logins: !self.sso_only,
        }))
    }
}

#[derive(Args)]
#[command(after_help = "Formats of every kind: docs/import.md.\n\
    `laer import fightchurn DIR` reads account.csv, event_type.csv, subscription.csv and event.csv \
    from DIR in one transaction.\n\
    `tap | laer import singer --mapping NAME|FILE` reads a Singer tap's output (docs/singer.md) \
    and prints each state it keeps, as Singer targets do.")]
struct ImportArgs {
    /// What the file holds, `fightchurn` for a directory of the book's four tables, or
    /// `singer` for a Singer tap's output.
    #[arg(value_parser = PossibleValuesParser::new(import_kinds()), value_name = "KIND")]
    kind: String,
    /// The CSV file (or, for fightchurn, the directory; for singer, a file of the tap's
    /// output, standard input when left out).
    path: Option<PathBuf>,
    /// For singer: a shipped mapping's name or a mapping file (TOML).
    #[arg(long, value_name = "NAME|FILE")]
    mapping: Option<String>,
    /// Write the valid rows and report the invalid ones, instead of rejecting the file.
    #[arg(long)]
    skip_invalid: bool,
    /// With --skip-invalid: where to write the rejected rows (default: PATH.rejected.csv).
    #[arg(long, value_name = "FILE", requires = "skip_invalid")]
    rejects: Option<PathBuf>,
    /// Print the import report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StatusArgs {
    /// Print the counts as one JSON object.
    #[arg(long)]
    json: bool,
}

fn import_kinds() -> Vec<&'static str> {
    Kind::ALL
        .iter()
        .map(|k| k.name())
        .chain(["fightchurn", "singer"])
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LAER_LOG").unwrap_or_else(|_| "info,sqlx=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The health model of `--health-model`, or the shipped one.
fn health_model(path: Option<&std::path::Path>) -> Result<laer_core::health::HealthModel> {
    let Some(path) = path else {
        return Ok(laer_core::health::HealthModel::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the health model {}", path.display()))?;
    laer_core::health::HealthModel::from_toml(&text).with_context(|| format!("in {}", path.display()))
}

fn parse_day(text: &str, flag: &str) -> Result<chrono::NaiveDate> {
    text.trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag}: expected a date YYYY-MM-DD, found {text:?}"))
}

async fn run(cli: Cli) -> Result<()> {
    let model = health_model(cli.health_model.as_deref())?;
    let url = database_url(cli.db)?;
    let store = Store::open(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&url)))?;
    let key_file = cli.secret_key_file.as_deref();
    let result = match cli.command {
        Command::Serve(args) => {
            async {
                let keys = secrets::prepare(&store, secrets::load(key_file, data_dir, secrets::Missing::Make)?).await?;
                serve(&store, *args, model, keys).await
            }
            .await
        }
        Command::Import(args) => import(&store, args).await,
        Command::Status(args) => status(&store, args).await,
        Command::Report(report) => run_report(&store, report, &model).await,
        Command::Keys(keys) => run_keys(&store, keys).await,
        Command::Demo(args) => demo(&store, args, &model).await.map(|_| ()),
        Command::Users(users) => run_users(&store, users).await,
        Command::Tokens(tokens) => run_tokens(&store, tokens).await,
        Command::Health(command) => run_health(&store, command, &model, cli.health_model.as_deref()).await,
        Command::Playbooks(command) => work::playbooks(&store, command).await,
        Command::Tasks(command) => work::tasks(&store, command).await,
        Command::Coverage(command) => work::coverage(&store, &model, command).await,
        Command::Plans(command) => plans::plans(&store, command).await,
        Command::Webhooks(command) => work::webhooks(&store, command, key_file, data_dir).await,
        Command::Chat(command) => chat::chat(&store, command, key_file, data_dir).await,
        Command::Calendars(command) => calendars::calendars(&store, command, key_file, data_dir).await,
        Command::Deliveries(args) => work::deliveries(&store, args).await,
        Command::Secrets(command) => secrets::secrets(&store, command, key_file, data_dir).await,
        Command::Backup(args) => secrets::backup(&store, args).await,
        Command::Connect(command) => billing::connect(&store, command, key_file, data_dir).await,
        Command::Stripe(command) => billing::stripe(&store, command, key_file, data_dir).await,
        Command::Sync(command) => sync::sync(&store, command, key_file, data_dir).await,
    };
    store.close().await;
    result
}

/// The configured URL, or the default SQLite file in the data directory.
fn database_url(configured: Option<String>) -> Result<String> {
    if let Some(url) = configured.filter(|u| !u.trim().is_empty()) {
        return Ok(url);
    }
    let dir = data_dir().context("no database given: pass --db URL or set LAER_DATABASE_URL")?;
    Ok(format!("sqlite://{}", dir.join("laer.db").display()))
}

/// The data directory: $LAER_DATA_DIR, else $XDG_DATA_HOME/laer, else
/// ~/.local/share/laer (created 0700 when laer first writes to it).
fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LAER_DATA_DIR") {
        Ok(PathBuf::from(dir))
    } else if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        Ok(PathBuf::from(dir).join("laer"))
    } else if let Some(home) = std::env::var_os("HOME") {
        Ok(PathBuf::from(home).join(".local/share/laer"))
    } else {
        bail!("no data directory: set LAER_DATA_DIR or HOME");
    }
}

async fn serve(
    store: &Store,
    args: ServeArgs,
    model: laer_core::health::HealthModel,
    secrets: laer_store::SecretBox,
) -> Result<()> {
    let delivery = laer_app::delivery::DeliveryConfig {
        smtp_url: args.smtp_url.clone(),
        from: args.smtp_from.clone(),
        secrets: Some(secrets),
        ..Default::default()
    };
    if let Some(problem) = delivery.problem() {
        bail!("{problem}");
    }
    let site = laer_server::Site::new(args.public_url.as_deref(), &args.trusted_proxies)?;
    let sso = args.sso.config()?;
    let model = std::sync::Arc::new(model);
    let server = laer_server::Server::bind_with(&args.listen, store.clone(), model.clone())
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?
        .with_delivery(delivery)
        .with_taps(sync::taps_dir(args.taps_dir.clone(), data_dir)?)
        .with_site(site)
        .with_request_timeout(std::time::Duration::from_secs(args.request_timeout.max(1)))
        .with_limits(laer_server::Limits {
            header_timeout: std::time::Duration::from_secs(args.header_timeout.max(1)),
            body_timeout: std::time::Duration::from_secs(args.body_timeout.max(1)),
            max_connections: args.max_connections.max(1),
            shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace),
        });
    let server = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => server.with_tls(laer_server::TlsFiles::new(cert, key))?,
        _ => server,
    };
    // Issue 15, single sign-on.
    let server = match sso {
        Some(config) => {
            let issuer = config.issuer.clone();
            let server = server.with_sso(config)?;
            println!(
                "Single sign-on with {issuer}; redirect URI {}",
                server.sso_redirect_uri().unwrap_or_default()
            );
            server
        }
        None => server,
    };
    let addr = server.local_addr()?;
    if args.demo {
        let created = store.counts().await?.accounts == 0;
        if created {
            eprintln!("Creating the demo company (about 300 accounts over 24 months)...");
            demo(
                store,
                DemoArgs {
                    accounts: 300,
                    months: 24,
                    seed: 1,
                },
                &model,
            )
            .await?;
        }
        println!(
            "Demo logins: {} (admin), or any team member shown on the portfolio.",
            laer_app::demo::DEMO_ADMIN
        );
        if !created {
            println!(
                "Their password was printed when the demo was created; to set a new one for the admin: \
                 laer users create --email {} --name \"Demo Admin\" --role admin",
                laer_app::demo::DEMO_ADMIN
            );
        }
    }
    // Ctrl-C or SIGTERM, caught from now on: the requests in flight finish first.
    let stop = laer_server::shutdown_signal();
    let scheme = if server.serves_tls() { "https" } else { "http" };
    println!("laer is serving on {scheme}://{addr}/");
    if let Some(warning) = plain_http_warning(addr, server.serves_tls(), args.public_url.as_deref()) {
        tracing::warn!("{warning}");
    }
    tracing::info!(%addr, scheme, "serving");
    server.run(stop).await?;
    Ok(())
}

/// What to say at start-up when laer serves plain http on an address other people reach
/// and no https public URL says a proxy adds TLS in front: their browsers will drop the
/// `Secure` session cookie, so logging in would fail without a word.
fn plain_http_warning(addr: std::net::SocketAddr, tls: bool, public_url: Option<&str>) -> Option<String> {
    let proxied = public_url.is_some_and(|url| url.trim().to_ascii_lowercase().starts_with("https://"));
    if tls || proxied || addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "laer serves plain http on {addr}. Browsers keep its login cookie only over https \
         (or at http://localhost), so logging in from another machine will not work. \
         Serve https with --tls-cert FILE --tls-key FILE, or put laer behind a proxy that \
         handles https and start it with --public-url https://... and --trusted-proxy ADDRESS \
         (docs/operations.md)."
    ))
}

async fn import(store: &Store, args: ImportArgs) -> Result<()> {
    if args.kind == "singer" {
        return singer::import(store, &args).await;
    }
    if args.mapping.is_some() {
        bail!("--mapping goes with `laer import singer`");
    }
    let Some(path) = args.path.clone() else {
        bail!("give the file to import: laer import {} FILE", args.kind);
    };
    let path = &path;
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut name = path.clone().into_os_string();
        name.push(".rejected.csv");
        PathBuf::from(name)
    });
    let mut rejects_file = if args.skip_invalid {
        let file = File::create(&rejects_path)
            .with_context(|| format!("cannot create the rejects file {}", rejects_path.display()))?;
        let mut writer = BufWriter::new(file);
        writeln!(writer, "{REJECTS_HEADER}")?;
        Some(writer)
    } else {
        None
    };
    // What the run reads is checked before its history row is made.
    let input = if args.kind == "fightchurn" {
        if !path.is_dir() {
            bail!(
                "{} is not a directory; fightchurn imports a directory holding account.csv, event_type.csv, subscription.csv and event.csv",
                path.display()
            );
        }
        None
    } else {
        let kind: Kind = args.kind.parse().map_err(anyhow::Error::msg)?;
        Some((kind, open_with_progress(path)?))
    };
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    // The history the web app shows lists this import too (docs/import.md).
    let run = store
        .start_import_run(&laer_store::NewImportRun {
            kind: &args.kind,
            file_name: &path.display().to_string(),
            actor: &actor,
            source: "cli",
            upload_id: None,
            bytes_total: std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| i64::try_from(m.len()).ok()),
        })
        .await?;
    let mut options = Options {
        skip_invalid: args.skip_invalid,
        rejects: rejects_file.as_mut().map(|w| Rejects {
            writer: w as &mut (dyn Write + Send),
            path: rejects_path.display().to_string(),
        }),
        actor,
        run: Some(run),
        upload: None,
    };
    let reports = match input {
        None => laer_import::import_fightchurn(store, path, open_with_progress, &mut options).await?,
        Some((kind, input)) => {
            vec![laer_import::import(store, kind, &path.display().to_string(), input, &mut options).await?]
        }
    };
    drop(options);
    if let Some(mut writer) = rejects_file {
        writer.flush()?;
    }
    print_reports(&reports, args.json)?;
    let rejected: u64 = reports.iter().map(|r| r.rejected).sum();
    if rejected > 0 {
        eprintln!(
            "{rejected} invalid row(s) skipped; details in {}",
            rejects_path.display()
        );
    } else if args.skip_invalid {
        // Nothing was rejected: leave no empty rejects file behind.
        let _ = std::fs::remove_file(&rejects_path);
    }
    Ok(())
}

/// Opens a file for reading, with a progress bar on a terminal.
fn open_with_progress(path: &Path) -> std::io::Result<Box<dyn std::io::Read>> {
    let file =
        File::open(path).map_err(|e| std::io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
    let len = file.metadata()?.len();
    let reader = BufReader::with_capacity(1 << 20, file);
    if !std::io::stderr().is_terminal() {
        return Ok(Box::new(reader));
    }
    let bar = ProgressBar::new(len).with_message(
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    bar.set_style(
        ProgressStyle::with_template("{msg:>18} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    Ok(Box::new(bar.wrap_read(reader)))
}

fn print_reports(reports: &[ImportReport], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(reports)?);
        return Ok(());
    }
    for r in reports {
        println!(
            "{:<20} {:>10} rows  {:>10} written  {:>10} unchanged  {:>6} rejected  {}",
            r.kind, r.rows, r.written, r.unchanged, r.rejected, r.file
        );
    }
    Ok(())
}

async fn run_keys(store: &Store, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create { name, json } => {
            let laer_store::Created { record: key, secret } = store.create_write_key_as(&name, &cli_actor()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"write_key": secret, "id": key.id, "name": key.name})
                );
            } else {
                println!("write key {} ({}): {secret}", key.id, key.name);
            }
        }
        KeysCommand::List { json } => {
            let keys = store.write_keys().await?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                for k in keys {
                    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                    println!("{:>4}  {:<14} {:<8} {}", k.id, format!("{}…", k.prefix), state, k.name);
                }
            }
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_write_key_as(id, &cli_actor()).await? {
                bail!("no write key with id {id}");
            }
            println!("write key {id} revoked");
        }
    }
    Ok(())
}

/// Stores the demo company; its half year of coverage and playbooks is replayed with the
/// health model in use (`--health-model`).
async fn demo(
    store: &Store,
    args: DemoArgs,
    model: &laer_core::health::HealthModel,
) -> Result<laer_app::demo::DemoLoad> {
    let started = std::time::Instant::now();
    let config = laer_demo::DemoConfig {
        accounts: args.accounts,
        months: args.months,
        seed: args.seed,
        ..laer_demo::DemoConfig::new(chrono::Utc::now().date_naive())
    };
    // No shared default password: a random one, printed once below, unless the caller
    // sets one (scripts and tests: LAER_DEMO_PASSWORD).
    let (password, chosen) = match std::env::var("LAER_DEMO_PASSWORD").ok().filter(|p| !p.is_empty()) {
        Some(p) => (p, true),
        None => (laer_app::logins::random_password()?, false),
    };
    let load = laer_app::demo::load(store, &config, model, &password)
        .await
        .context("cannot store the demo company")?;
    eprintln!(
        "demo company: {} accounts, {} events, {} logins in {:.1} s",
        load.accounts,
        load.events,
        load.logins.len(),
        started.elapsed().as_secs_f64()
    );
    for (email, role) in &load.logins {
        eprintln!("  {email:<36} {role}");
    }
    if chosen {
        println!("Demo password: the one in LAER_DEMO_PASSWORD.");
    } else {
        // Standard output, once: laer keeps only its hash.
        println!("Demo password (every demo login; shown only now): {password}");
    }
    let a = &load.automation;
    eprintln!(
        "coverage and playbooks replayed over {} weeks: {} playbook runs, {} tasks, {} owners started, {} ended",
        laer_app::demo::REPLAY_WEEKS,
        a.runs_fired,
        a.tasks_created,
        a.owners_started,
        a.owners_ended
    );
    Ok(load)
}

/// A password from a prompt on a terminal, else the first line of standard input.
fn read_password() -> Result<String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    laer_core::access::check_password(&password).map_err(anyhow::Error::msg)?;
    Ok(password)
}

/// How the audit log names a change made from the command line: `cli:USER`.
fn cli_actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

async fn run_users(store: &Store, command: UsersCommand) -> Result<()> {
    match command {
        UsersCommand::Create {
            email,
            name,
            role,
            team_member,
        } => {
            if !email.contains('@') {
                bail!("--email {email:?} is not an email address");
            }
            let role: laer_core::access::Role = role.parse().map_err(anyhow::Error::msg)?;
            let member = match team_member {
                Some(external_id) => Some(
                    store
                        .team_member_id(&external_id)
                        .await?
                        .with_context(|| format!("no team member with external id {external_id:?}"))?,
                ),
                None => None,
            };
            let password = read_password()?;
            let hash = laer_app::auth::hash_password(&password).map_err(anyhow::Error::msg)?;
            let user = store.upsert_user(&email, &name, role, &hash, member).await?;
            println!("user {} ({}) with role {}", user.id, user.email, user.role);
        }
        UsersCommand::Disable { email } => {
            let id = user_id(store, &email).await?;
            let person = store.deactivate_user(id, &cli_actor()).await?;
            println!(
                "{} ({}) is deactivated; their sessions have ended",
                person.user.name, person.user.email
            );
        }
        UsersCommand::Enable { email } => {
            let id = user_id(store, &email).await?;
            let person = store.reactivate_user(id, &cli_actor()).await?;
            println!("{} ({}) can log in again", person.user.name, person.user.email);
        }
        UsersCommand::Logout { email } => {
            let id = user_id(store, &email).await?;
            let ended = store.end_sessions_of(id, &cli_actor()).await?.unwrap_or(0);
            println!("{ended} session(s) of {email} ended");
        }
        UsersCommand::List { json } => {
            let users = store.users().await?;
            if json {
                println!("{}", serde_json::to_string(&users)?);
            } else {
                for u in users {
                    let state = if u.disabled { "disabled" } else { "active" };
                    println!(
                        "{:>4}  {:<36} {:<10} {:<8} {}",
                        u.id,
                        u.email,
                        u.role.as_str(),
                        state,
                        u.name
                    );
                }
            }
        }
    }
    Ok(())
}

/// The id of the person with this email, or an error naming it.
async fn user_id(store: &Store, email: &str) -> Result<i64> {
    store
        .user_id_by_email(email)
        .await?
        .with_context(|| format!("no person with the email {email:?} (laer users list)"))
}

async fn run_tokens(store: &Store, command: TokensCommand) -> Result<()> {
    match command {
        TokensCommand::Create { name, role, json } => {
            let role: laer_core::access::Role = role.parse().map_err(anyhow::Error::msg)?;
            let laer_store::Created { record: token, secret } =
                store.create_api_token_as(&name, role, &cli_actor()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"token": secret, "id": token.id, "name": token.name, "role": role.as_str()})
                );
            } else {
                println!("API token {} ({}, {}): {secret}", token.id, token.name, role);
            }
        }
        TokensCommand::List { json } => {
            let tokens = store.api_tokens().await?;
            if json {
                println!("{}", serde_json::to_string(&tokens)?);
            } else {
                for t in tokens {
                    let state = if t.revoked_at.is_some() { "revoked" } else { "active" };
                    println!(
                        "{:>4}  {:<14} {:<10} {:<8} {}",
                        t.id,
                        format!("{}…", t.prefix),
                        t.role.as_str(),
                        state,
                        t.name
                    );
                }
            }
        }
        TokensCommand::Revoke { id } => {
            if !store.revoke_api_token_as(id, &cli_actor()).await? {
                bail!("no API token with id {id}");
            }
            println!("API token {id} revoked");
        }
    }
    Ok(())
}

async fn report_health(store: &Store, args: &HealthReportArgs, model: &laer_core::health::HealthModel) -> Result<()> {
    let as_of = match &args.as_of {
        Some(day) => parse_day(day, "--as-of")?,
        None => chrono::Utc::now().date_naive(),
    };
    let report = laer_app::health::report(store, model, as_of).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table::health(&report));
    }
    Ok(())
}

async fn replay_days(
    store: &Store,
    args: &ReplayArgs,
    model: &laer_core::health::HealthModel,
) -> Result<Vec<chrono::NaiveDate>> {
    let today = chrono::Utc::now().date_naive();
    let default = laer_app::health::replay_days(store, model, today, args.horizon).await?;
    let from = match &args.from {
        Some(d) => parse_day(d, "--from")?,
        None => default.first().copied().unwrap_or(today),
    };
    let to = match &args.to {
        Some(d) => parse_day(d, "--to")?,
        None => default.last().copied().unwrap_or(today),
    };
    let days = laer_app::health::month_ends(from, to);
    if days.is_empty() {
        bail!(
            "no month end to replay between {from} and {to}: the history is too short (90 days after each replayed day must be known)"
        );
    }
    Ok(days)
}

async fn report_validation(store: &Store, args: &ReplayArgs, model: &laer_core::health::HealthModel) -> Result<()> {
    let days = replay_days(store, args, model).await?;
    let report =
        laer_app::health::validation(store, model, &days, chrono::Utc::now().date_naive(), args.horizon).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table::validation(&report));
    }
    Ok(())
}

async fn run_health(
    store: &Store,
    command: HealthCommand,
    model: &laer_core::health::HealthModel,
    model_path: Option<&std::path::Path>,
) -> Result<()> {
    match command {
        HealthCommand::Model => print!("{}", model.to_toml()),
        HealthCommand::Fit(args) => {
            let days = replay_days(store, &args.replay, model).await?;
            let outcome = laer_app::health::fit(
                store,
                model,
                &days,
                chrono::Utc::now().date_naive(),
                args.replay.horizon,
            )
            .await?;
            if args.replay.json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                print!("{}", table::fit(model, &outcome));
            }
            let mut targets: Vec<&std::path::Path> = args.write.as_deref().into_iter().collect();
            if args.adopt {
                targets.extend(model_path);
            }
            for path in targets {
                let text = format!(
                    "# Fitted by `laer health fit` on {} replayed accounts ({} churned or downsold).\n{}",
                    outcome.fit.observations,
                    outcome.fit.churned,
                    outcome.fit.model.to_toml()
                );
                std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote the fitted model to {}", path.display());
            }
        }
        HealthCommand::SetPhase(args) => {
            let account = store
                .account_by_external_id(&args.account)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with external id {:?}", args.account))?;
            let phase = match args.phase.trim() {
                "auto" => None,
                other => Some(
                    other
                        .parse::<laer_core::lifecycle::Phase>()
                        .map_err(|e| anyhow::anyhow!("phase: {e}, or auto"))?,
                ),
            };
            if args.reason.trim().is_empty() {
                bail!("--reason: say why, for the audit log");
            }
            store
                .set_phase(account.id, phase, args.reason.trim(), &args.actor)
                .await?;
            match phase {
                Some(p) => println!("{} is now in {p} (set by hand)", args.account),
                None => println!("{}: the phase rules decide again", args.account),
            }
        }
    }
    Ok(())
}

async fn run_report(store: &Store, command: ReportCommand, model: &laer_core::health::HealthModel) -> Result<()> {
    use laer_core::reports::ReportRequest;
    let request = |p: &PeriodArgs, window: Option<&str>| {
        ReportRequest::parse(&p.from, &p.to, p.every.as_deref(), window).map_err(anyhow::Error::from)
    };
    match command {
        ReportCommand::Retention(args) => {
            let request = request(&args.period, args.activity_window.as_deref())?;
            let report = laer_app::reports::retention(store, &request, args.by.as_deref()).await?;
            print_report(args.period.json, &report, table::retention)
        }
        ReportCommand::Mrr(args) => {
            let request = request(&args.period, None)?;
            let report = laer_app::reports::mrr(store, &request, args.by.as_deref(), args.accounts).await?;
            print_report(args.period.json, &report, table::mrr)
        }
        ReportCommand::Health(args) => report_health(store, &args, model).await,
        ReportCommand::HealthValidation(args) => report_validation(store, &args, model).await,
        ReportCommand::NrrBridge(args) => report_nrr_bridge(store, &args, model).await,
        ReportCommand::RenewalForecast(args) => {
            let today = chrono::Utc::now().date_naive();
            let replayed = laer_app::forecast::backtest_in_use(store, &model.name).await?;
            let model = laer_app::forecast::churn_model(store, &model.name).await?;
            let accounts = laer_app::forecast::accounts(store, today).await?;
            let report = laer_app::forecast::renewal_outlook(store, &model, replayed, &accounts, today, None).await?;
            print_report(args.json, &report, table::renewal_forecast)
        }
        ReportCommand::Survival(args) => {
            let today = chrono::Utc::now().date_naive();
            let report = laer_app::reports::survival(store, &model.name, args.by, args.months, today).await?;
            if args.csv {
                print!("{}", table::survival_csv(&report)?);
                Ok(())
            } else {
                print_report(args.json, &report, table::survival)
            }
        }
    }
}

/// A report as pretty JSON with `--json`, else as its table.
fn print_report<R: serde::Serialize>(json: bool, report: &R, table: fn(&R) -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", table(report));
    }
    Ok(())
}

async fn report_nrr_bridge(store: &Store, args: &NrrBridgeArgs, model: &laer_core::health::HealthModel) -> Result<()> {
    use laer_core::bridge::{BridgeBy, Quarter, report_quarters};
    let by = match (args.by.as_str(), args.role.as_deref()) {
        ("phase", None) => BridgeBy::Phase,
        ("phase", Some(_)) => bail!("--role: only with --by owner"),
        (_, role) => BridgeBy::Owner(
            role.unwrap_or("csm")
                .parse()
                .map_err(|e| anyhow::anyhow!("--role: {e}"))?,
        ),
    };
    let from = args.from.as_deref().map(|d| parse_day(d, "--from")).transpose()?;
    let to = args.to.as_deref().map(|d| parse_day(d, "--to")).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        bail!("--to ({to}) must be after --from ({from})");
    }
    let today = chrono::Utc::now().date_naive();
    let last_day = store.last_data_day(today).await?.unwrap_or(today);
    let quarters = report_quarters(from, to, last_day);
    if quarters.is_empty() {
        let whole_until = Quarter::containing(last_day).first_day().unwrap_or(last_day);
        bail!(
            "--from {}: the data's last whole quarter ends on {whole_until} (its last day is {last_day}); pass --to as well",
            args.from.as_deref().unwrap_or_default()
        );
    }
    let report = laer_app::reports::nrr_bridge(store, model, &quarters, by).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table::nrr_bridge(&report));
    }
    Ok(())
}

async fn status(store: &Store, args: StatusArgs) -> Result<()> {
    let counts = store.counts().await?;
    if args.json {
        println!("{}", serde_json::to_string(&counts)?);
        return Ok(());
    }
    let value = serde_json::to_value(counts)?;
    println!(
        "database: {}",
        match store.backend() {
            laer_store::Backend::Sqlite => "SQLite",
            laer_store::Backend::Postgres => "PostgreSQL",
        }
    );
    if let Some(map) = value.as_object() {
        for (name, count) in map {
            println!("{name:<22} {count:>12}");
        }
    }
    Ok(())
}
