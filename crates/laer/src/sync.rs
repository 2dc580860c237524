//! `laer sync`: Singer taps laer runs on a schedule (docs/singer.md, "Syncs"). `add`
//! defines one (its tap's config sealed with the server key), `list` and `show` tell
//! where each is, `run` runs one now in this process with its progress, `remove` forgets
//! one. Taps are programs in the taps directory (`--taps-dir`, `LAER_TAPS_DIR`, else
//! `taps` in the data directory), named, never given as paths.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use laer_app::singer_sync::{Taps, run_sync, sync_mapping, tap_program};
use laer_core::singer::sync::{SyncDefinitionError, check_json_object, check_name, check_tap, parse_every};
use laer_import::singer::shipped_mapping;
use laer_store::{NewSync, Store};

use crate::secrets::{Missing, load, prepare};

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Define a sync, or change the one of that name: a tap from the taps directory, its
    /// config file (sealed when stored), a catalog, the mapping, and how often it runs.
    Add(AddArgs),
    /// Every sync: its tap, mapping, schedule, last run and next.
    List(ListArgs),
    /// One sync and its last runs, with their reports and the tap's error output.
    Show(ShowArgs),
    /// Run a sync now, in this process, handing the tap its last state.
    Run(RunArgs),
    /// Forget a sync and its runs; what it imported stays.
    Remove(NameArgs),
}

#[derive(Args)]
pub struct AddArgs {
    name: String,
    /// The tap: a program in the taps directory (e.g. tap-postgres).
    #[arg(long)]
    tap: String,
    /// The tap's config file (JSON). Stored sealed: it holds the source's credentials.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The tap's catalog (JSON), for taps that select streams by one.
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
    /// A shipped mapping's name or a mapping file (TOML; its text is stored).
    #[arg(long, value_name = "NAME|FILE")]
    mapping: String,
    /// How often it runs: 30m, 2h, 1d (5 minutes to 7 days).
    #[arg(long, default_value = "1h")]
    every: String,
    /// Who defines it, for the audit log.
    #[arg(long, env = "USER", default_value = "cli")]
    actor: String,
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    name: String,
    /// How many runs to show.
    #[arg(long, default_value_t = 5)]
    runs: i64,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RunArgs {
    name: String,
    /// Print the run's report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct NameArgs {
    name: String,
    #[arg(long, env = "USER", default_value = "cli")]
    actor: String,
}

/// The taps directory: `LAER_TAPS_DIR`, else `taps` in the data directory.
pub fn taps_dir(configured: Option<PathBuf>, data_dir: impl FnOnce() -> Result<PathBuf>) -> Result<Taps> {
    let dir = match configured.or_else(|| std::env::var_os("LAER_TAPS_DIR").map(PathBuf::from)) {
        Some(dir) => dir,
        None => data_dir()?.join("taps"),
    };
    Ok(Taps { dir })
}

pub async fn sync(
    store: &Store,
    command: SyncCommand,
    key_file: Option<&Path>,
    data_dir: impl Fn() -> Result<PathBuf>,
) -> Result<()> {
    match command {
        SyncCommand::Add(args) => add(store, args, key_file, &data_dir).await,
        SyncCommand::List(args) => list(store, args).await,
        SyncCommand::Show(args) => show(store, args).await,
        SyncCommand::Run(args) => run(store, args, key_file, &data_dir).await,
        SyncCommand::Remove(args) => {
            if !store.remove_sync(&args.name, &args.actor).await? {
                bail!("no sync is named {:?}", args.name);
            }
            eprintln!("sync {} removed; what it imported stays", args.name);
            Ok(())
        }
    }
}

async fn add(
    store: &Store,
    args: AddArgs,
    key_file: Option<&Path>,
    data_dir: &dyn Fn() -> Result<PathBuf>,
) -> Result<()> {
    check_name(&args.name)?;
    check_tap(&args.tap)?;
    let every = parse_every(&args.every)?;
    let read = |path: &Path, what: &str| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} {}", path.display()))
    };
    let config = read(&args.config, "config")?;
    check_json_object(&config, SyncDefinitionError::Config)?;
    let catalog = args.catalog.as_deref().map(|p| read(p, "catalog")).transpose()?;
    if let Some(catalog) = &catalog {
        check_json_object(catalog, SyncDefinitionError::Catalog)?;
    }
    // A shipped mapping is kept by name (so that a newer laer's applies); a file, by its text.
    let (mapping_name, mapping_toml) = match shipped_mapping(&args.mapping) {
        Some(_) => (args.mapping.clone(), None),
        None => {
            let text = read(Path::new(&args.mapping), "mapping")?;
            let name = Path::new(&args.mapping)
                .file_name()
                .map_or(args.mapping.clone(), |n| n.to_string_lossy().into_owned());
            (name, Some(text))
        }
    };
    sync_mapping(&mapping_name, mapping_toml.as_deref())?;
    let taps = taps_dir(None, data_dir)?;
    if let Err(e) = tap_program(&taps, &args.tap) {
        eprintln!("warning: {e}");
    }
    let secrets = prepare(store, load(key_file, data_dir, Missing::Make)?).await?;
    store
        .save_sync(
            &NewSync {
                name: &args.name,
                tap: &args.tap,
                config: &config,
                catalog: catalog.as_deref(),
                mapping_name: &mapping_name,
                mapping_toml: mapping_toml.as_deref(),
                every_minutes: every,
            },
            &secrets,
            &args.actor,
        )
        .await?;
    eprintln!(
        "sync {} saved: {} into mapping {mapping_name}, every {every} minutes; a server runs it at once (or: laer sync run {})",
        args.name, args.tap, args.name
    );
    Ok(())
}

fn when(unix: Option<i64>) -> String {
    unix.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

async fn list(store: &Store, args: ListArgs) -> Result<()> {
    let syncs = store.syncs().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&syncs)?);
        return Ok(());
    }
    if syncs.is_empty() {
        eprintln!("no syncs; define one with laer sync add");
    }
    for s in syncs {
        let last = store.sync_runs(s.id, 1).await?.into_iter().next();
        let last = last.map_or_else(
            || "never run".into(),
            |r| format!("{} {}", r.outcome, when(Some(r.started_at))),
        );
        println!(
            "{:<20} {:<20} {:<24} every {:>5} min  last: {last:<30} next: {}{}",
            s.name,
            s.tap,
            s.mapping_name,
            s.every_minutes,
            if s.requested {
                "asked for".into()
            } else {
                when(s.next_run_at)
            },
            if s.failures > 0 {
                format!("  ({} failures in a row)", s.failures)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

async fn show(store: &Store, args: ShowArgs) -> Result<()> {
    let Some(sync) = store.sync_named(&args.name).await? else {
        bail!("no sync is named {:?}", args.name);
    };
    let runs = store.sync_runs(sync.id, args.runs.clamp(1, 100)).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"sync": sync, "runs": runs}))?
        );
        return Ok(());
    }
    println!(
        "{}: {} into {}, every {} minutes",
        sync.name, sync.tap, sync.mapping_name, sync.every_minutes
    );
    println!(
        "state kept: {}",
        sync.state
            .as_deref()
            .unwrap_or("none yet (the next run reads everything)")
    );
    for run in runs {
        println!(
            "run {} {} on {}: {}{}",
            run.id,
            when(Some(run.started_at)),
            run.node,
            run.outcome,
            run.error.map(|e| format!(": {e}")).unwrap_or_default()
        );
        if let Some(report) = run.report {
            println!("  report: {report}");
        }
        if let Some(stderr) = run.stderr.filter(|s| !s.trim().is_empty()) {
            println!("  the tap's error output (its end):\n{}", indent(&stderr));
        }
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

async fn run(
    store: &Store,
    args: RunArgs,
    key_file: Option<&Path>,
    data_dir: &dyn Fn() -> Result<PathBuf>,
) -> Result<()> {
    let secrets = prepare(store, load(key_file, data_dir, Missing::Refuse)?).await?;
    let taps = taps_dir(None, data_dir)?;
    let owner = format!("cli:{}", std::process::id());
    let mut heard = |r: &laer_import::singer::SingerReport| {
        let (written, unchanged, unmapped) = r.totals();
        eprintln!(
            "{} records in {} batches: {written} written, {unchanged} unchanged, {unmapped} unmapped",
            r.records, r.batches
        );
    };
    let outcome = run_sync(store, Some(&secrets), &taps, &owner, Some(&args.name), &mut heard)
        .await?
        .context("the sync did not run")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome.report)?);
    } else {
        crate::singer::print_report(&outcome.report, false)?;
    }
    match outcome.error {
        Some(e) => bail!(
            "sync {} failed: {e} (laer sync show {} has the tap's error output)",
            outcome.name,
            outcome.name
        ),
        None => Ok(()),
    }
}
