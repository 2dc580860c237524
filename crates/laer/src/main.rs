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

mod table;

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

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and the REST API.
    Serve(ServeArgs),
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
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,
    /// Fill the database with the demo company first, when it holds no accounts yet.
    #[arg(long)]
    demo: bool,
}

#[derive(Args)]
#[command(after_help = "Formats of every kind: docs/import.md.\n\
    `laer import fightchurn DIR` reads account.csv, event_type.csv, subscription.csv and event.csv \
    from DIR in one transaction.")]
struct ImportArgs {
    /// What the file holds, or `fightchurn` for a directory of the book's four tables.
    #[arg(value_parser = PossibleValuesParser::new(import_kinds()), value_name = "KIND")]
    kind: String,
    /// The CSV file (or, for fightchurn, the directory).
    path: PathBuf,
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
    Kind::ALL.iter().map(|k| k.name()).chain(["fightchurn"]).collect()
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

async fn run(cli: Cli) -> Result<()> {
    let url = database_url(cli.db)?;
    let store = Store::open(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&url)))?;
    let result = match cli.command {
        Command::Serve(args) => serve(&store, args).await,
        Command::Import(args) => import(&store, args).await,
        Command::Status(args) => status(&store, args).await,
        Command::Report(report) => run_report(&store, report).await,
        Command::Keys(keys) => run_keys(&store, keys).await,
        Command::Demo(args) => demo(&store, args).await.map(|_| ()),
        Command::Users(users) => run_users(&store, users).await,
        Command::Tokens(tokens) => run_tokens(&store, tokens).await,
    };
    store.close().await;
    result
}

/// The configured URL, or the default SQLite file in the data directory.
fn database_url(configured: Option<String>) -> Result<String> {
    if let Some(url) = configured.filter(|u| !u.trim().is_empty()) {
        return Ok(url);
    }
    let dir = if let Some(dir) = std::env::var_os("LAER_DATA_DIR") {
        PathBuf::from(dir)
    } else if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        PathBuf::from(dir).join("laer")
    } else if let Some(home) = std::env::var_os("HOME") {
        PathBuf::from(home).join(".local/share/laer")
    } else {
        bail!("no database given and no home directory: pass --db URL or set LAER_DATABASE_URL");
    };
    Ok(format!("sqlite://{}", dir.join("laer.db").display()))
}

async fn serve(store: &Store, args: ServeArgs) -> Result<()> {
    let server = laer_server::Server::bind(&args.listen, store.clone())
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = server.local_addr()?;
    if args.demo {
        if store.counts().await?.accounts == 0 {
            eprintln!("Creating the demo company (about 300 accounts over 24 months)...");
            demo(
                store,
                DemoArgs {
                    accounts: 300,
                    months: 24,
                    seed: 1,
                },
            )
            .await?;
        }
        println!(
            "Demo logins: {} (admin), or any team member shown on the portfolio; password: {}",
            laer_server::demo::DEMO_ADMIN,
            laer_server::demo::DEMO_PASSWORD
        );
    }
    println!("laer is serving on http://{addr}/");
    tracing::info!(%addr, "serving");
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn import(store: &Store, args: ImportArgs) -> Result<()> {
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut name = args.path.clone().into_os_string();
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
    let mut options = Options {
        skip_invalid: args.skip_invalid,
        rejects: rejects_file.as_mut().map(|w| Rejects {
            writer: w as &mut dyn Write,
            path: rejects_path.display().to_string(),
        }),
        actor: format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into())),
    };
    let reports = if args.kind == "fightchurn" {
        if !args.path.is_dir() {
            bail!(
                "{} is not a directory; fightchurn imports a directory holding account.csv, event_type.csv, subscription.csv and event.csv",
                args.path.display()
            );
        }
        laer_import::import_fightchurn(store, &args.path, open_with_progress, &mut options).await?
    } else {
        let kind: Kind = args.kind.parse().map_err(anyhow::Error::msg)?;
        let input = open_with_progress(&args.path)?;
        vec![laer_import::import(store, kind, &args.path.display().to_string(), input, &mut options).await?]
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
            let (key, secret) = store.create_write_key(&name).await?;
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
            if !store.revoke_write_key(id).await? {
                bail!("no write key with id {id}");
            }
            println!("write key {id} revoked");
        }
    }
    Ok(())
}

async fn demo(store: &Store, args: DemoArgs) -> Result<laer_server::demo::DemoLoad> {
    let started = std::time::Instant::now();
    let config = laer_core::demo::DemoConfig {
        accounts: args.accounts,
        months: args.months,
        seed: args.seed,
        ..laer_core::demo::DemoConfig::new(chrono::Utc::now().date_naive())
    };
    let load = laer_server::demo::load(store, &config)
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
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok(password)
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
            let hash = laer_server::auth::hash_password(&password).map_err(anyhow::Error::msg)?;
            let user = store.upsert_user(&email, &name, role, &hash, member).await?;
            println!("user {} ({}) with role {}", user.id, user.email, user.role);
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

async fn run_tokens(store: &Store, command: TokensCommand) -> Result<()> {
    match command {
        TokensCommand::Create { name, role, json } => {
            let role: laer_core::access::Role = role.parse().map_err(anyhow::Error::msg)?;
            let (token, secret) = store.create_api_token(&name, role).await?;
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
            if !store.revoke_api_token(id).await? {
                bail!("no API token with id {id}");
            }
            println!("API token {id} revoked");
        }
    }
    Ok(())
}

async fn run_report(store: &Store, command: ReportCommand) -> Result<()> {
    use laer_core::reports::ReportRequest;
    let request = |p: &PeriodArgs, window: Option<&str>| {
        ReportRequest::parse(&p.from, &p.to, p.every.as_deref(), window).map_err(anyhow::Error::from)
    };
    let (json, report) = match &command {
        ReportCommand::Retention(args) => {
            let request = request(&args.period, args.activity_window.as_deref())?;
            (
                args.period.json,
                laer_server::reports::retention(store, &request, args.by.as_deref()).await?,
            )
        }
        ReportCommand::Mrr(args) => {
            let request = request(&args.period, None)?;
            (
                args.period.json,
                laer_server::reports::mrr(store, &request, args.by.as_deref(), args.accounts).await?,
            )
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        match command {
            ReportCommand::Retention(_) => print!("{}", table::retention(&report)),
            ReportCommand::Mrr(_) => print!("{}", table::mrr(&report)),
        }
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
