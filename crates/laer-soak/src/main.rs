//! laer's multi-node soak (docs/operations.md, "Multi-node soak"): several `laer serve`
//! nodes on one fresh PostgreSQL database under tracking load (batches and single calls,
//! each with a `messageId`), logged-in page traffic and the engines (health, playbooks,
//! the outbox to an SMTP server and a webhook receiver of its own); one node is killed
//! with SIGKILL halfway and started again. Afterwards it counts: every acknowledged event
//! stored once, no playbook run, email or webhook twice, no account left waiting for its
//! health. It drives the real binary through its command line and HTTP only; the counts
//! are read from the database.

mod health;
mod load;
mod sinks;

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use sqlx::PgPool;

use load::{Load, Stats};

/// Nodes on one PostgreSQL under load, one killed and restarted; then every acknowledged
/// event, run and delivery counted.
#[derive(Parser, Debug, Clone)]
struct Args {
    /// How long the load runs, in seconds.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// A PostgreSQL server (a user that may create databases); a fresh database is made there.
    #[arg(long, env = "LAER_TEST_POSTGRES_URL")]
    postgres: String,
    /// The laer binary (default: `laer` beside this program).
    #[arg(long)]
    laer: Option<PathBuf>,
    /// How many `laer serve` nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Demo accounts to seed.
    #[arg(long, default_value_t = 40)]
    accounts: usize,
    /// Clients sending tracking calls, each waiting for its answer before the next.
    #[arg(long, default_value_t = 4)]
    tracking_clients: usize,
    /// Logged-in clients reading pages.
    #[arg(long, default_value_t = 2)]
    page_clients: usize,
    /// Calls in a batch request.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Seconds an account may wait for its health after the load stops (and after that,
    /// for its stored health to equal a fresh assessment). The accounts a killed node was
    /// rescoring wait for its claim to lapse (`HEALTH_CLAIM_LEASE`, a minute).
    #[arg(long, default_value_t = 90)]
    health_within: u64,
    /// Split the nodes' work: the last node takes every tracking call, the others serve
    /// every page, and no node is killed (issue 20: pages served while another node
    /// ingests, a steady state).
    #[arg(long)]
    split: bool,
    /// Keep the database and the nodes' logs afterwards (their place is printed).
    #[arg(long)]
    keep: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// A `laer serve` process and where it listens.
struct Node {
    index: usize,
    port: u16,
    child: Option<Child>,
}

/// What every `laer` command of the soak shares: the binary, the database, the data
/// directory (one, as nodes of a deployment share their configuration).
struct Laer {
    binary: PathBuf,
    database: String,
    data: PathBuf,
}

impl Laer {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("LAER_DATABASE_URL", &self.database)
            .env("LAER_DATA_DIR", &self.data)
            .env("LAER_LOG", "warn,sqlx=error");
        command
    }

    /// Runs a command to its end, with `input` on its standard input; its standard output.
    fn run(&self, args: &[&str], input: Option<&str>) -> Result<String> {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "laer {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn start(&self, node: &mut Node, smtp_port: u16) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.data.join(format!("node{}.log", node.index)))?;
        let child = self
            .command(&[
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", node.port),
                "--smtp-url",
                &format!("smtp://127.0.0.1:{smtp_port}"),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        node.child = Some(child);
        Ok(())
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_healthy(http: &reqwest::Client, node: &Node) -> Result<()> {
    let url = format!("http://127.0.0.1:{}/healthz", node.port);
    for _ in 0..600 {
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("node {} did not answer /healthz within a minute", node.index)
}

/// The URL of database `name` on the server of `url`.
fn database_url(url: &str, name: &str) -> Result<String> {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let Some(slash) = base.rfind('/').filter(|i| base[..*i].ends_with(|c: char| c != '/')) else {
        bail!("--postgres: expected postgres://user:password@host:port/database");
    };
    Ok(format!(
        "{}/{name}{}",
        &base[..slash],
        query.map(|q| format!("?{q}")).unwrap_or_default()
    ))
}

/// The soak's own playbook: it holds for every customer, so each account's first
/// rescoring fires it once (a task, an email to the CSM), whichever node rescores first.
const SOAK_PLAYBOOK: &str = r#"
[[playbooks]]
name = "soak"
title = "Soak: every customer, once"
when = [{ signal = "health", at_least = 0 }]

[[playbooks.tasks]]
role = "csm"
title = "Soak check at {account}"
due_days = 7

[[playbooks.emails]]
to = "owner:csm"
subject = "Soak check at {account}"
body = "The soak's playbook fired for {account}."
"#;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match soak(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn soak(args: Args) -> Result<bool> {
    let binary = match &args.laer {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("laer"),
    };
    let run = format!("{}{}", chrono::Utc::now().format("%Y%m%d%H%M%S"), std::process::id());
    let name = format!("laer_soak_{run}");
    let admin = PgPool::connect(&args.postgres)
        .await
        .context("cannot connect to --postgres")?;
    // The name is ours: letters, digits and underscores.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    let data = tempfile::Builder::new().prefix("laer-soak-").tempdir()?;
    let laer = Laer {
        binary,
        database: database_url(&args.postgres, &name)?,
        data: data.path().to_path_buf(),
    };
    eprintln!("soak: database {name}, logs in {}", laer.data.display());
    let outcome = soak_on(&args, &laer, &run).await;
    if args.keep {
        let kept = data.keep();
        eprintln!("soak: kept the database {name} and the logs in {}", kept.display());
    } else {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
    }
    outcome
}

async fn soak_on(args: &Args, laer: &Laer, run: &str) -> Result<bool> {
    // Seed: the demo company (team, accounts, contacts, contracts, history), a login, a
    // write key, an API token, a webhook, and the soak's playbook beside the shipped ones.
    let started = Instant::now();
    laer.run(
        &["demo", "--accounts", &args.accounts.to_string(), "--months", "6"],
        None,
    )?;
    eprintln!("soak: demo seeded in {:.0?}", started.elapsed());
    let email = "soak@example.com";
    let password = format!("soak-{run}-password");
    laer.run(
        &["users", "create", "--email", email, "--name", "Soak", "--role", "admin"],
        Some(&format!("{password}\n")),
    )?;
    let key: serde_json::Value =
        serde_json::from_str(&laer.run(&["keys", "create", "--name", "soak", "--json"], None)?)?;
    let write_key = key["write_key"]
        .as_str()
        .context("keys create --json: no write_key")?
        .to_string();
    let token: serde_json::Value = serde_json::from_str(&laer.run(
        &["tokens", "create", "--name", "soak", "--role", "viewer", "--json"],
        None,
    )?)?;
    let token = token["token"]
        .as_str()
        .context("tokens create --json: no token")?
        .to_string();
    let received = Arc::new(Mutex::new(sinks::Received::default()));
    let smtp_port = sinks::smtp(received.clone()).await?;
    let hook = sinks::webhooks(received.clone()).await?;
    laer.run(&["webhooks", "add", &hook], None)?;
    let mut playbooks = laer.run(&["playbooks", "show"], None)?;
    playbooks.push_str(SOAK_PLAYBOOK);
    let file = laer.data.join("playbooks.toml");
    std::fs::write(&file, playbooks)?;
    laer.run(&["playbooks", "set", &file.to_string_lossy()], None)?;

    let mut nodes = Vec::new();
    for index in 0..args.nodes {
        let mut node = Node {
            index,
            port: free_port()?,
            child: None,
        };
        laer.start(&mut node, smtp_port)?;
        nodes.push(node);
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()?;
    for node in &nodes {
        wait_healthy(&http, node).await?;
    }
    let urls: Vec<String> = nodes.iter().map(|n| format!("http://127.0.0.1:{}", n.port)).collect();
    let accounts = load::accounts(&http, &urls[0], &token).await?;
    eprintln!(
        "soak: {} nodes up, {} accounts; load for {} s",
        nodes.len(),
        accounts.len(),
        args.duration
    );

    // The load, with one node killed halfway and started again.
    let load = Load {
        http: http.clone(),
        track_urls: if args.split && urls.len() > 1 {
            urls[urls.len() - 1..].to_vec()
        } else {
            urls.clone()
        },
        page_urls: if args.split && urls.len() > 1 {
            urls[..urls.len() - 1].to_vec()
        } else {
            urls.clone()
        },
        write_key,
        run: run.to_string(),
        accounts,
        email: email.into(),
        password,
        batch: args.batch,
        deadline: Instant::now() + Duration::from_secs(args.duration),
    };
    let stats = Arc::new(Mutex::new(Stats::default()));
    let workers = load.start(args.tracking_clients, args.page_clients, stats.clone());
    let load_started = Instant::now();
    let mut killed = None;
    if nodes.len() > 1 && !args.split {
        tokio::time::sleep(Duration::from_secs(args.duration / 2)).await;
        let victim = &mut nodes[1];
        if let Some(mut child) = victim.child.take() {
            child.kill()?; // SIGKILL
            child.wait()?;
        }
        let at = load_started.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        laer.start(victim, smtp_port)?;
        wait_healthy(&http, victim).await?;
        killed = Some((at, load_started.elapsed()));
        eprintln!(
            "soak: node 1 killed at {:.0?} and serving again at {:.0?}",
            at,
            load_started.elapsed()
        );
    }
    for worker in workers {
        worker.await?;
    }
    let load_time = load_started.elapsed();

    // After the load: the engines catch up, then everything is counted.
    let db = PgPool::connect(&laer.database).await?;
    let health_after = wait_for(&db, "SELECT count(*) FROM health_dirty", Duration::from_secs(120)).await?;
    let outbox_after = wait_for(
        &db,
        "SELECT count(*) FROM deliveries WHERE status = 'pending'",
        Duration::from_secs(200),
    )
    .await?;
    let health = health::wait_current(&laer.database, Duration::from_secs(args.health_within)).await?;
    for node in &mut nodes {
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    let stats = std::mem::take(&mut *stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let received = std::mem::take(&mut *received.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let report = report::Report::count(
        &db,
        run,
        &stats,
        &received,
        &health,
        report::Timing {
            load: load_time,
            killed,
            health_after,
            outbox_after,
            health_within: Duration::from_secs(args.health_within),
        },
    )
    .await?;
    db.close().await;
    print!("{}", report.text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.json())?)?;
    }
    if !report.passed() {
        print_logs(&laer.data);
    }
    Ok(report.passed())
}

/// Waits until `count` reads 0; how long that took (`None`: not within `limit`).
async fn wait_for(db: &PgPool, count: &'static str, limit: Duration) -> Result<Option<Duration>> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let n: i64 = sqlx::query_scalar(count).fetch_one(db).await?;
        if n == 0 {
            return Ok(Some(start.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(None)
}

/// The last lines of each node's log, after a failed soak.
fn print_logs(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- {} (last 20 lines)", path.display());
            for line in &lines[lines.len().saturating_sub(20)..] {
                eprintln!("{line}");
            }
        }
    }
}

mod report;
