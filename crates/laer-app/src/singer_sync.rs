//! Syncs run by laer (docs/singer.md, "Syncs"): a Singer tap from the taps directory,
//! started with its config, catalog and last state in files only laer's user can read,
//! its output imported through the sync's mapping as it comes. One node runs a sync at a
//! time (a lease renewed by a heartbeat). The tap's state is kept in the transaction of
//! the records before it, and handed back on the next run. A failed run is tried again
//! after 1, 2, 4, ... minutes. Every server runs [`run_syncs`]; `laer sync run` runs one
//! now through [`run_sync`].

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use laer_core::singer::sync::{check_tap, keep_tail, next_after_failure, next_after_success};
use laer_import::singer::{KeepState, LoadedMapping, SingerError, SingerOptions, SingerReport, import_singer};
use laer_store::{RunEnd, SecretBox, SecretError, Store, StoreError, SyncClaim, WriteTx};
use tokio::io::{AsyncReadExt, BufReader};

/// A node whose heartbeat is older than this (seconds) has let its sync go.
pub const STALE_AFTER: i64 = 120;
/// How often a running sync renews its lease and shows its progress.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(20);
/// How often a server looks for a sync that is due.
pub const SYNC_POLL: Duration = Duration::from_secs(15);
/// How much of the end of a tap's error output a run keeps.
pub const STDERR_KEPT: usize = 16 * 1024;
/// A tap that writes nothing for this long is stopped and its run failed (a tap that
/// hangs would otherwise hold its sync for ever, its lease renewed).
pub const QUIET_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Where tap programs are: a sync names one of them, never a path.
#[derive(Debug, Clone)]
pub struct Taps {
    pub dir: PathBuf,
}

/// Why a sync did not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no sync is named {0:?}")]
    Unknown(String),
    #[error("sync {name} is being run by {owner}")]
    Running { name: String, owner: String },
    #[error("{0}")]
    Definition(#[from] laer_core::singer::sync::SyncDefinitionError),
    #[error("the tap {tap:?} is not in the taps directory {dir}; install it there (a program, or a link to one)")]
    NoTap { tap: String, dir: String },
    #[error("cannot start the tap {tap}: {source}")]
    Spawn {
        tap: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the tap {tap} failed ({status}); the records before its last state were kept")]
    TapFailed { tap: String, status: String },
    #[error("the sync's config does not open: {0}")]
    Secret(#[source] SecretError),
    #[error("writing the tap's files: {0}")]
    Files(#[source] std::io::Error),
    #[error(transparent)]
    Import(#[from] SingerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    pub name: String,
    pub report: SingerReport,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
}

/// The mapping a sync names: shipped, or the text it keeps.
pub fn sync_mapping(name: &str, toml: Option<&str>) -> Result<LoadedMapping, SingerError> {
    match toml {
        Some(text) => laer_import::singer::load_mapping(name, text),
        None => match laer_import::singer::shipped_mapping(name) {
            Some(text) => laer_import::singer::load_mapping(name, text),
            None => Err(SingerError::Kind {
                name: name.to_string(),
                stream: String::new(),
                kind: String::new(),
                message: "no shipped mapping has this name".into(),
            }),
        },
    }
}

/// Runs one sync if one is due (or `only`, now), as `owner`; `heard` sees the report
/// after each batch. `Ok(None)`: nothing was due.
pub async fn run_sync(
    store: &Store,
    secrets: Option<&SecretBox>,
    taps: &Taps,
    owner: &str,
    only: Option<&str>,
    heard: &mut (dyn FnMut(&SingerReport) + Send),
) -> Result<Option<RunOutcome>, SyncError> {
    let now = chrono::Utc::now().timestamp();
    let Some(claim) = store.claim_sync(owner, now, now - STALE_AFTER, only).await? else {
        return match only {
            None => Ok(None),
            Some(name) => match store.sync_named(name).await? {
                None => Err(SyncError::Unknown(name.to_string())),
                Some(sync) => Err(SyncError::Running {
                    name: name.to_string(),
                    owner: sync.owner.unwrap_or_else(|| "another node".into()),
                }),
            },
        };
    };
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (progress, watched) = tokio::sync::watch::channel(None::<String>);
    let heartbeat = {
        let (store, owner) = (store.clone(), owner.to_string());
        let (sync, run) = (claim.sync.id, claim.run);
        let mut watched = watched;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let report = watched.borrow_and_update().clone();
                let now = chrono::Utc::now().timestamp();
                // A failed heartbeat is a late one; a sync whose lease is gone finds out
                // when it keeps its next state, and stops.
                let _ = store.sync_heartbeat(sync, run, &owner, now, report.as_deref()).await;
            }
        })
    };
    let mut report = SingerReport::default();
    let mut on_batch = |r: &SingerReport| {
        let _ = progress.send(serde_json::to_string(r).ok());
        heard(r);
    };
    let result = run_claimed(store, secrets, taps, &claim, owner, &stderr, &mut on_batch, &mut report).await;
    heartbeat.abort();
    let now = chrono::Utc::now().timestamp();
    let every = claim.sync.every_minutes;
    let error = result.as_ref().err().map(ToString::to_string);
    let next_run_at = match &error {
        None => next_after_success(now, every),
        Some(_) => next_after_failure(now, u32::try_from(claim.sync.failures + 1).unwrap_or(u32::MAX), every),
    };
    let kept = stderr
        .lock()
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .unwrap_or_default();
    let report_json = serde_json::to_string(&report).ok();
    store
        .finish_sync(
            &claim,
            owner,
            &RunEnd {
                report: report_json.as_deref(),
                error: error.as_deref(),
                stderr: &kept,
                now,
                next_run_at,
            },
        )
        .await?;
    let (written, unchanged, unmapped) = report.totals();
    match &error {
        None => {
            tracing::info!(sync = %claim.sync.name, records = report.records, written, unchanged, unmapped, "sync ran")
        }
        Some(e) => tracing::warn!(sync = %claim.sync.name, error = %e, "sync failed; it runs again after a wait"),
    }
    Ok(Some(RunOutcome {
        name: claim.sync.name.clone(),
        report,
        error,
    }))
}

/// Runs the tap of a claimed sync into its mapping; `report` holds what was committed.
#[allow(clippy::too_many_arguments)]
async fn run_claimed(
    store: &Store,
    secrets: Option<&SecretBox>,
    taps: &Taps,
    claim: &SyncClaim,
    owner: &str,
    stderr: &Arc<Mutex<Vec<u8>>>,
    on_batch: &mut (dyn FnMut(&SingerReport) + Send),
    report: &mut SingerReport,
) -> Result<(), SyncError> {
    let sync = &claim.sync;
    let mapping = sync_mapping(&sync.mapping_name, sync.mapping_toml.as_deref())?;
    let program = tap_program(taps, &sync.tap)?;
    let config = claim.config.open(secrets).map_err(SyncError::Secret)?;
    // The tap's files, readable by laer's user alone, gone when the run ends.
    let files = tempfile::Builder::new()
        .prefix("laer-sync-")
        .tempdir()
        .map_err(SyncError::Files)?;
    let mut command = tokio::process::Command::new(&program);
    command
        .arg("--config")
        .arg(private_file(files.path(), "config.json", &config)?);
    if let Some(catalog) = &sync.catalog {
        command
            .arg("--catalog")
            .arg(private_file(files.path(), "catalog.json", catalog)?);
    }
    if let Some(state) = &sync.state {
        command
            .arg("--state")
            .arg(private_file(files.path(), "state.json", state)?);
    }
    command
        .current_dir(files.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| SyncError::Spawn {
        tap: sync.tap.clone(),
        source,
    })?;
    let (Some(stdout), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(SyncError::Spawn {
            tap: sync.tap.clone(),
            source: std::io::Error::other("its output is not piped"),
        });
    };
    let tail = stderr.clone();
    let reading_errors = tokio::spawn(async move {
        let mut chunk = vec![0u8; 8192];
        while let Ok(n) = err.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            if let Ok(mut kept) = tail.lock() {
                keep_tail(&mut kept, &chunk[..n], STDERR_KEPT);
            }
        }
    });
    let keeper = Keeper {
        sync: sync.id,
        owner: owner.to_string(),
    };
    let mut options = SingerOptions {
        actor: format!("sync:{}", sync.name),
        keep_state: Some(&keeper),
        on_batch: Some(on_batch),
        ..Default::default()
    };
    let output = Quiet::new(stdout, QUIET_LIMIT);
    let imported = import_singer(store, &mapping, BufReader::with_capacity(1 << 20, output), &mut options).await;
    drop(options);
    let status = match &imported {
        // The tap is told to stop: what it writes now would not be read.
        Err(_) => {
            let _ = child.kill().await;
            None
        }
        Ok(_) => Some(child.wait().await.map_err(|source| SyncError::Spawn {
            tap: sync.tap.clone(),
            source,
        })?),
    };
    let _ = reading_errors.await;
    match imported {
        Ok(done) => *report = done,
        Err(failure) => {
            *report = failure.report;
            return Err(failure.error.into());
        }
    }
    match status {
        Some(status) if !status.success() => Err(SyncError::TapFailed {
            tap: sync.tap.clone(),
            status: status.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The program a sync's tap names, in the taps directory.
pub fn tap_program(taps: &Taps, tap: &str) -> Result<PathBuf, SyncError> {
    let program = taps.dir.join(check_tap(tap)?);
    if program.is_file() {
        Ok(program)
    } else {
        Err(SyncError::NoTap {
            tap: tap.to_string(),
            dir: taps.dir.display().to_string(),
        })
    }
}

/// Writes `text` to `dir/name`, readable by laer's user alone.
fn private_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf, SyncError> {
    let path = dir.join(name);
    let mut file =
        laer_store::create_private_file(&path).map_err(|e| SyncError::Files(std::io::Error::other(e.to_string())))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(SyncError::Files)?;
    Ok(path)
}

/// A tap's output that fails when the tap writes nothing for `limit` ([`QUIET_LIMIT`]).
struct Quiet<R> {
    inner: R,
    limit: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<R> Quiet<R> {
    fn new(inner: R, limit: Duration) -> Quiet<R> {
        Quiet {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

/// A span in words: `90 seconds`, `30 minutes`.
fn span(length: Duration) -> String {
    let seconds = length.as_secs();
    if seconds >= 120 {
        format!("{} minutes", seconds / 60)
    } else {
        format!("{seconds} seconds")
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Quiet<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            std::task::Poll::Ready(result) => {
                let next = tokio::time::Instant::now() + this.limit;
                this.deadline.as_mut().reset(next);
                std::task::Poll::Ready(result)
            }
            std::task::Poll::Pending => match this.deadline.as_mut().poll(cx) {
                std::task::Poll::Ready(()) => std::task::Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the tap wrote nothing for {}", span(this.limit)),
                ))),
                std::task::Poll::Pending => std::task::Poll::Pending,
            },
        }
    }
}

/// Keeps a sync's state in the transaction of its batch, while this node holds it.
struct Keeper {
    sync: i64,
    owner: String,
}

impl KeepState for Keeper {
    fn keep<'t>(
        &'t self,
        tx: &'t mut WriteTx,
        state: &'t serde_json::Value,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 't>> {
        Box::pin(async move { tx.keep_sync_state(self.sync, &self.owner, &state.to_string()).await })
    }
}

/// Every server's loop: every [`SYNC_POLL`], runs a sync that is due (asked for, or at
/// its time) and that no node holds. Errors are recorded with the run and logged.
pub async fn run_syncs(store: Store, secrets: Option<SecretBox>, taps: Taps) {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let owner = format!("node:{}:{started:x}", std::process::id());
    let mut tick = tokio::time::interval(SYNC_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut heard = |_: &SingerReport| {};
        // Run every due sync before waiting again.
        loop {
            match run_sync(&store, secrets.as_ref(), &taps, &owner, None, &mut heard).await {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "a sync could not run");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_tap_is_given_up_after_the_limit() {
        let (mut tap, output) = tokio::io::duplex(64);
        let mut quiet = Quiet::new(output, Duration::from_secs(60));
        let mut buffer = [0u8; 16];
        tap.write_all(b"early").await.unwrap();
        tokio::time::advance(Duration::from_secs(50)).await;
        assert_eq!(quiet.read(&mut buffer).await.unwrap(), 5, "output in time is read");
        // Each read starts the limit again: 50 s more are fine, then silence is not.
        tokio::time::advance(Duration::from_secs(50)).await;
        tap.write_all(b"later").await.unwrap();
        assert_eq!(quiet.read(&mut buffer).await.unwrap(), 5);
        let silent = quiet.read(&mut buffer).await.unwrap_err();
        assert_eq!(silent.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(silent.to_string(), "the tap wrote nothing for 60 seconds");
        assert_eq!(span(QUIET_LIMIT), "30 minutes");
    }
}
