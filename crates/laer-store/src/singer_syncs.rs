//! Syncs (migration 0033): Singer taps laer runs on a schedule. A sync's definition with
//! its tap's config sealed; the tap's last state, written by [`WriteTx::keep_sync_state`]
//! in the transaction of the records before it; which node runs it, a lease renewed by
//! a heartbeat; and each run with its report and the end of the tap's error output.

use chrono::Utc;
use laer_core::model::NewAuditEntry;
use serde_json::json;

use crate::exec::params;
use crate::lease::Leased;
use crate::secrets::SINGER_CONFIG;
use crate::{SecretBox, Store, StoreError, StoredSecret, WriteTx};

/// A sync as an admin defines it.
#[derive(Debug, Clone, Copy)]
pub struct NewSync<'a> {
    pub name: &'a str,
    /// A program in the taps directory.
    pub tap: &'a str,
    /// The tap's config (JSON), sealed when stored.
    pub config: &'a str,
    /// The tap's catalog (JSON), for taps that select streams by one.
    pub catalog: Option<&'a str>,
    /// A shipped mapping's name, or a mapping file's name when `mapping_toml` is its text.
    pub mapping_name: &'a str,
    pub mapping_toml: Option<&'a str>,
    pub every_minutes: i64,
}

/// A sync as stored, without its config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SingerSync {
    pub id: i64,
    pub name: String,
    pub tap: String,
    pub catalog: Option<String>,
    pub mapping_name: String,
    pub mapping_toml: Option<String>,
    pub every_minutes: i64,
    /// The tap's last state kept (JSON).
    pub state: Option<String>,
    /// Unix seconds; `None`: at once.
    pub next_run_at: Option<i64>,
    pub requested: bool,
    /// Failures in a row.
    pub failures: i64,
    /// The node that runs it now (while its heartbeat is fresh).
    pub owner: Option<String>,
    pub heartbeat: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
}

/// One run of a sync.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SyncRun {
    pub id: i64,
    pub sync_id: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub node: String,
    /// `running`, `succeeded` or `failed`.
    pub outcome: String,
    /// The import's report so far (JSON).
    pub report: Option<String>,
    pub error: Option<String>,
    /// The end of the tap's error output.
    pub stderr: Option<String>,
}

/// A sync a node has taken to run: the definition, its sealed config and the run's row.
#[derive(Debug)]
pub struct SyncClaim {
    pub sync: SingerSync,
    pub config: StoredSecret,
    pub run: i64,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunEnd<'a> {
    pub report: Option<&'a str>,
    /// `None`: it succeeded.
    pub error: Option<&'a str>,
    pub stderr: &'a str,
    pub now: i64,
    /// When the sync runs next.
    pub next_run_at: i64,
}

/// Syncs are leased work: one node runs one at a time.
const SYNCS: Leased = Leased {
    table: "singer_syncs",
    due_at: "next_run_at",
};

const SYNC_COLUMNS: &str = "id, name, tap, catalog, mapping_name, mapping_toml, every_minutes, state, next_run_at, \
     requested <> 0 AS requested, failures, owner, heartbeat, created_at, created_by";

impl Store {
    /// Defines a sync, or changes the one of that name (its kept state stays, unless the
    /// tap changed: another tap's state means nothing to it). Audited without the config.
    pub async fn save_sync(&self, new: &NewSync<'_>, secrets: &SecretBox, actor: &str) -> Result<i64, StoreError> {
        let sealed = secrets
            .seal(SINGER_CONFIG.purpose, new.config)
            .map_err(|source| StoreError::Secret {
                what: format!("sync {}'s config", new.name),
                source,
            })?;
        let now = Utc::now().timestamp();
        let mut tx = self.begin_write().await?;
        let existing: Option<(i64, String)> = tx
            .fetch_optional("SELECT id, tap FROM singer_syncs WHERE name = $1", params![new.name])
            .await?;
        let id = match existing {
            Some((id, tap)) => {
                let reset_state = i64::from(tap != new.tap);
                tx.execute(
                    "UPDATE singer_syncs SET tap = $1, config = $2, config_key_id = $3, catalog = $4, \
                     mapping_name = $5, mapping_toml = $6, every_minutes = $7, requested = 1, failures = 0, \
                     state = CASE WHEN $8 = 1 THEN NULL ELSE state END WHERE id = $9",
                    params![
                        new.tap,
                        &sealed.ciphertext,
                        &sealed.key_id,
                        new.catalog,
                        new.mapping_name,
                        new.mapping_toml,
                        new.every_minutes,
                        reset_state,
                        id
                    ],
                )
                .await?;
                id
            }
            None => {
                let (id,): (i64,) = tx
                    .fetch_one(
                        "INSERT INTO singer_syncs (name, tap, config, config_key_id, catalog, mapping_name, \
                         mapping_toml, every_minutes, requested, created_at, created_by) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10) RETURNING id",
                        params![
                            new.name,
                            new.tap,
                            &sealed.ciphertext,
                            &sealed.key_id,
                            new.catalog,
                            new.mapping_name,
                            new.mapping_toml,
                            new.every_minutes,
                            now,
                            actor
                        ],
                    )
                    .await?;
                id
            }
        };
        tx.append_audit(&NewAuditEntry {
            at: Utc::now(),
            actor: actor.to_string(),
            action: "sync.saved".into(),
            details: json!({"name": new.name, "tap": new.tap, "mapping": new.mapping_name,
                            "every_minutes": new.every_minutes}),
        })
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every sync, by name.
    pub async fn syncs(&self) -> Result<Vec<SingerSync>, StoreError> {
        let sql = format!("SELECT {SYNC_COLUMNS} FROM singer_syncs ORDER BY name");
        self.fetch_all(&sql, params![]).await
    }

    pub async fn sync_named(&self, name: &str) -> Result<Option<SingerSync>, StoreError> {
        let sql = format!("SELECT {SYNC_COLUMNS} FROM singer_syncs WHERE name = $1");
        self.fetch_optional(&sql, params![name]).await
    }

    /// A sync's runs, newest first.
    pub async fn sync_runs(&self, sync_id: i64, limit: i64) -> Result<Vec<SyncRun>, StoreError> {
        self.fetch_all(
            "SELECT id, sync_id, started_at, ended_at, node, outcome, report, error, stderr FROM singer_sync_runs \
             WHERE sync_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
            params![sync_id, limit],
        )
        .await
    }

    /// Asks for a run as soon as a node is free (the admin page's *Run now*). False when
    /// no sync has the name.
    pub async fn request_sync(&self, name: &str, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let found = tx
            .execute("UPDATE singer_syncs SET requested = 1 WHERE name = $1", params![name])
            .await?;
        if found > 0 {
            tx.append_audit(&NewAuditEntry {
                at: Utc::now(),
                actor: actor.to_string(),
                action: "sync.requested".into(),
                details: json!({"name": name}),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(found > 0)
    }

    /// Forgets a sync and its runs (what it imported stays). False when none has the name.
    pub async fn remove_sync(&self, name: &str, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: Option<(i64,)> = tx
            .fetch_optional("SELECT id FROM singer_syncs WHERE name = $1", params![name])
            .await?;
        let Some((id,)) = id else {
            tx.rollback().await?;
            return Ok(false);
        };
        tx.execute("DELETE FROM singer_sync_runs WHERE sync_id = $1", params![id])
            .await?;
        tx.execute("DELETE FROM singer_syncs WHERE id = $1", params![id])
            .await?;
        tx.append_audit(&NewAuditEntry {
            at: Utc::now(),
            actor: actor.to_string(),
            action: "sync.removed".into(),
            details: json!({"name": name}),
        })
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes a sync to run for `owner`: the first due one (asked for, or at its time)
    /// that no node holds with a heartbeat after `stale_before`; with `only`, that sync
    /// whether due or not. The run's row is written in the same transaction.
    pub async fn claim_sync(
        &self,
        owner: &str,
        now: i64,
        stale_before: i64,
        only: Option<&str>,
    ) -> Result<Option<SyncClaim>, StoreError> {
        let candidates: Vec<i64> = match only {
            Some(name) => {
                let found: Vec<(i64,)> = self
                    .fetch_all("SELECT id FROM singer_syncs WHERE name = $1", params![name])
                    .await?;
                found.into_iter().map(|(id,)| id).collect()
            }
            None => SYNCS.due(self, now).await?,
        };
        for id in candidates {
            let mut tx = self.begin_write().await?;
            if !SYNCS.take(&mut tx, id, owner, now, stale_before).await? {
                tx.rollback().await?;
                continue;
            }
            // A run the last holder left behind ended with it.
            tx.execute(
                "UPDATE singer_sync_runs SET outcome = 'failed', ended_at = $1, \
                 error = 'the node running it stopped (its heartbeat went stale)' \
                 WHERE sync_id = $2 AND outcome = 'running'",
                params![now, id],
            )
            .await?;
            let sql = format!("SELECT {SYNC_COLUMNS} FROM singer_syncs WHERE id = $1");
            let sync: SingerSync = tx.fetch_one(&sql, params![id]).await?;
            let (config, key_id): (String, Option<String>) = tx
                .fetch_one(
                    "SELECT config, config_key_id FROM singer_syncs WHERE id = $1",
                    params![id],
                )
                .await?;
            let (run,): (i64,) = tx
                .fetch_one(
                    "INSERT INTO singer_sync_runs (sync_id, started_at, node, outcome) VALUES ($1, $2, $3, 'running') \
                     RETURNING id",
                    params![id, now, owner],
                )
                .await?;
            tx.commit().await?;
            return Ok(Some(SyncClaim {
                sync,
                config: StoredSecret::new(&SINGER_CONFIG, config, key_id),
                run,
            }));
        }
        Ok(None)
    }

    /// Renews `owner`'s lease and records the run's report so far. False when `owner`
    /// no longer holds the sync (it must stop).
    pub async fn sync_heartbeat(
        &self,
        sync_id: i64,
        run: i64,
        owner: &str,
        now: i64,
        report: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let held = SYNCS.renew(&mut tx, sync_id, owner, Some(now)).await?;
        if held && report.is_some() {
            tx.execute(
                "UPDATE singer_sync_runs SET report = $1 WHERE id = $2",
                params![report, run],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(held)
    }

    /// Ends `owner`'s run: its outcome, report and error output; when the sync runs next;
    /// the lease let go. A failure counts toward the backoff; a success resets it.
    pub async fn finish_sync(&self, claim: &SyncClaim, owner: &str, end: &RunEnd<'_>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let failed = i64::from(end.error.is_some());
        tx.execute(
            "UPDATE singer_syncs SET owner = NULL, heartbeat = NULL, next_run_at = $1, \
             failures = CASE WHEN $2 = 1 THEN failures + 1 ELSE 0 END WHERE id = $3 AND owner = $4",
            params![end.next_run_at, failed, claim.sync.id, owner],
        )
        .await?;
        tx.execute(
            "UPDATE singer_sync_runs SET ended_at = $1, outcome = $2, report = COALESCE($3, report), error = $4, \
             stderr = $5 WHERE id = $6",
            params![
                end.now,
                if failed == 1 { "failed" } else { "succeeded" },
                end.report,
                end.error,
                end.stderr,
                claim.run
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl WriteTx {
    /// Keeps a tap's state for `sync_id` in this transaction, the one of the records
    /// before it. Refused when `owner` no longer holds the sync, so that a node that lost
    /// its lease writes nothing.
    pub async fn keep_sync_state(&mut self, sync_id: i64, owner: &str, state: &str) -> Result<(), StoreError> {
        let held = self
            .execute(
                "UPDATE singer_syncs SET state = $1 WHERE id = $2 AND owner = $3",
                params![state, sync_id, owner],
            )
            .await?;
        if held == 0 {
            return Err(StoreError::Refused {
                field: "sync".into(),
                message: "another node took this sync over (this node's lease went stale); its batch is not kept"
                    .into(),
            });
        }
        Ok(())
    }
}
