//! A connected Stripe account (issue 17): its read key and webhook secret sealed with the
//! server key (`secrets.rs`), its settings (JSON the caller reads), and its sync as every
//! node sees it. A sync is held by one owner at a time through a lease: claimed by a
//! conditional update, renewed with each page's progress, and taken over by another owner
//! once its heartbeat is stale (the owner stopped). Each page's progress records the stage
//! and the last object read, so a sync that stopped resumes after it. Webhook events are
//! kept by id, so a redelivered one is taken once.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::json;

use crate::exec::params;
use crate::secrets::{STRIPE_KEY, STRIPE_WEBHOOK_SECRET};
use crate::{SecretBox, Store, StoreError, StoredSecret};

/// A connection as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeConnection {
    pub api_key: StoredSecret,
    pub webhook_secret: Option<StoredSecret>,
    pub api_base: String,
    /// `laer_core::billing::connection::ConnectionSettings` as JSON.
    pub settings: String,
    pub connected_at: i64,
    pub connected_by: String,
    pub sync: StripeSync,
    pub webhook_received_at: Option<i64>,
    pub webhook_refused_at: Option<i64>,
    pub webhook_refused_reason: Option<String>,
}

/// Where the connection's sync is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeSync {
    /// Someone asked for a sync (connecting asks for the first).
    pub requested: bool,
    /// Who holds the sync now, and when it last said so.
    pub owner: Option<String>,
    pub heartbeat: Option<i64>,
    pub started_at: Option<i64>,
    /// The stage the running (or stopped) sync reached, and the last object it read there.
    pub stage: Option<String>,
    pub cursor: Option<String>,
    /// The running sync's counts so far (JSON).
    pub progress: Option<String>,
    pub finished_at: Option<i64>,
    /// Why the last sync stopped, if it failed.
    pub error: Option<String>,
    /// The last whole sync's report (JSON).
    pub last_report: Option<String>,
}

/// A connection to store. `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct NewStripeConnection<'a> {
    pub api_key: Option<&'a str>,
    /// `Some("")` removes the webhook secret.
    pub webhook_secret: Option<&'a str>,
    pub api_base: &'a str,
    pub settings: &'a str,
}

/// A claimed sync: where to begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSyncClaim {
    pub stage: Option<String>,
    pub cursor: Option<String>,
    pub progress: Option<String>,
}

/// SELECT list of a connection (see `connection_of`).
const CONNECTION_COLUMNS: &str = "api_key, api_key_key_id, webhook_secret, webhook_secret_key_id, api_base, settings, \
     connected_at, connected_by, sync_requested, sync_owner, sync_heartbeat, sync_started_at, sync_stage, sync_cursor, \
     sync_progress, sync_finished_at, sync_error, last_report, webhook_received_at, webhook_refused_at, \
     webhook_refused_reason";

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    api_key: String,
    api_key_key_id: Option<String>,
    webhook_secret: Option<String>,
    webhook_secret_key_id: Option<String>,
    api_base: String,
    settings: String,
    connected_at: i64,
    connected_by: String,
    sync_requested: i64,
    sync_owner: Option<String>,
    sync_heartbeat: Option<i64>,
    sync_started_at: Option<i64>,
    sync_stage: Option<String>,
    sync_cursor: Option<String>,
    sync_progress: Option<String>,
    sync_finished_at: Option<i64>,
    sync_error: Option<String>,
    last_report: Option<String>,
    webhook_received_at: Option<i64>,
    webhook_refused_at: Option<i64>,
    webhook_refused_reason: Option<String>,
}

impl Store {
    /// Connects Stripe, or changes the connection: the key and webhook secret sealed with
    /// `secrets`' sealing key. A new key asks for a whole sync from the start. Audited,
    /// without the secrets.
    pub async fn connect_stripe(
        &self,
        new: &NewStripeConnection<'_>,
        secrets: &SecretBox,
        actor: &str,
    ) -> Result<(), StoreError> {
        let seal = |purpose: &'static str, value: &str, what: &str| {
            secrets.seal(purpose, value).map_err(|source| StoreError::Secret {
                what: what.into(),
                source,
            })
        };
        let key = new
            .api_key
            .map(|k| seal(STRIPE_KEY.purpose, k, "Stripe's key"))
            .transpose()?;
        let webhook = match new.webhook_secret {
            None => None,
            Some("") => Some(None),
            Some(s) => Some(Some(seal(STRIPE_WEBHOOK_SECRET.purpose, s, "Stripe's webhook secret")?)),
        };
        let now = Utc::now().timestamp();
        let mut tx = self.begin_write().await?;
        let exists: Option<(i64,)> = tx
            .fetch_optional("SELECT id FROM stripe_connection WHERE id = 1", params![])
            .await?;
        match (&exists, &key) {
            (None, None) => {
                return Err(StoreError::Refused {
                    field: "api_key".into(),
                    message: "give a Stripe restricted key to connect".into(),
                });
            }
            (None, Some(key)) => {
                tx.execute(
                    "INSERT INTO stripe_connection (id, api_key, api_key_key_id, api_base, settings, connected_at, \
                     connected_by, sync_requested) VALUES (1, $1, $2, $3, $4, $5, $6, 1)",
                    params![&key.ciphertext, &key.key_id, new.api_base, new.settings, now, actor],
                )
                .await?;
            }
            (Some(_), Some(key)) => {
                // Another key may read another Stripe account: a whole sync from the start.
                tx.execute(
                    "UPDATE stripe_connection SET api_key = $1, api_key_key_id = $2, connected_at = $3, \
                     connected_by = $4, sync_requested = 1, sync_stage = NULL, sync_cursor = NULL, \
                     sync_progress = NULL, sync_error = NULL WHERE id = 1",
                    params![&key.ciphertext, &key.key_id, now, actor],
                )
                .await?;
            }
            (Some(_), None) => {}
        }
        tx.execute(
            "UPDATE stripe_connection SET api_base = $1, settings = $2 WHERE id = 1",
            params![new.api_base, new.settings],
        )
        .await?;
        if let Some(webhook) = &webhook {
            tx.execute(
                "UPDATE stripe_connection SET webhook_secret = $1, webhook_secret_key_id = $2 WHERE id = 1",
                params![
                    webhook.as_ref().map(|s| s.ciphertext.clone()),
                    webhook.as_ref().map(|s| s.key_id.clone())
                ],
            )
            .await?;
        }
        let settings: serde_json::Value = serde_json::from_str(new.settings).unwrap_or_default();
        tx.append_audit(&crate::write::audit(
            actor,
            "stripe.connected",
            json!({
                "api_base": new.api_base,
                "key_changed": key.is_some(),
                "webhook_secret": webhook.as_ref().map(|w| if w.is_some() { "set" } else { "removed" }),
                "settings": settings,
            }),
        ))
        .await?;
        tx.commit().await
    }

    /// Forgets the connection (its key and secret); the lines and states synced stay.
    /// Audited. Whether there was one.
    pub async fn disconnect_stripe(&self, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let removed = tx
            .execute("DELETE FROM stripe_connection WHERE id = 1", params![])
            .await?;
        if removed > 0 {
            tx.append_audit(&crate::write::audit(actor, "stripe.disconnected", json!({})))
                .await?;
        }
        tx.commit().await?;
        Ok(removed > 0)
    }

    /// The connection, if Stripe is connected.
    pub async fn stripe_connection(&self) -> Result<Option<StripeConnection>, StoreError> {
        let row: Option<ConnectionRow> = self
            .fetch_optional(
                &format!("SELECT {CONNECTION_COLUMNS} FROM stripe_connection WHERE id = 1"),
                params![],
            )
            .await?;
        Ok(row.map(connection_of))
    }

    /// Asks for a sync as soon as a node can run one.
    pub async fn request_stripe_sync(&self) -> Result<(), StoreError> {
        self.execute(
            "UPDATE stripe_connection SET sync_requested = 1 WHERE id = 1",
            params![],
        )
        .await?;
        Ok(())
    }

    /// Takes the sync for `owner` at `now` if nobody holds it (or its holder's heartbeat
    /// is older than `stale_before`) and the last sync finished at `finished_at` still —
    /// so two nodes that both saw a sync due run it once. Where to begin, if taken.
    pub async fn claim_stripe_sync(
        &self,
        owner: &str,
        now: i64,
        stale_before: i64,
        finished_at: Option<i64>,
    ) -> Result<Option<StripeSyncClaim>, StoreError> {
        let mut tx = self.begin_write().await?;
        let taken = tx
            .execute(
                "UPDATE stripe_connection SET sync_owner = $1, sync_heartbeat = $2, sync_requested = 0, \
                 sync_error = NULL, sync_started_at = CASE WHEN sync_stage IS NULL THEN $2 ELSE sync_started_at END \
                 WHERE id = 1 AND (sync_owner IS NULL OR sync_heartbeat < $3) \
                 AND COALESCE(sync_finished_at, -1) = $4",
                params![owner, now, stale_before, finished_at.unwrap_or(-1)],
            )
            .await?;
        if taken == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let (stage, cursor, progress): (Option<String>, Option<String>, Option<String>) = tx
            .fetch_one(
                "SELECT sync_stage, sync_cursor, sync_progress FROM stripe_connection WHERE id = 1",
                params![],
            )
            .await?;
        tx.commit().await?;
        Ok(Some(StripeSyncClaim {
            stage,
            cursor,
            progress,
        }))
    }

    /// Records a page read by `owner`'s sync: its stage, the last object read, its counts;
    /// renews the lease. False when `owner` no longer holds the sync (it must stop).
    pub async fn stripe_sync_progress(
        &self,
        owner: &str,
        stage: &str,
        cursor: Option<&str>,
        progress: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let held = self
            .execute(
                "UPDATE stripe_connection SET sync_stage = $1, sync_cursor = $2, sync_progress = $3, \
                 sync_heartbeat = $4 WHERE id = 1 AND sync_owner = $5",
                params![stage, cursor, progress, now, owner],
            )
            .await?;
        Ok(held > 0)
    }

    /// Ends `owner`'s sync: done (its report kept, the next one starts from the
    /// beginning) or failed (the reason kept; the next one resumes where this stopped).
    pub async fn finish_stripe_sync(
        &self,
        owner: &str,
        outcome: Result<&str, &str>,
        now: i64,
    ) -> Result<(), StoreError> {
        match outcome {
            Ok(report) => {
                self.execute(
                    "UPDATE stripe_connection SET sync_owner = NULL, sync_stage = NULL, sync_cursor = NULL, \
                     sync_progress = NULL, sync_finished_at = $1, sync_error = NULL, last_report = $2 \
                     WHERE id = 1 AND sync_owner = $3",
                    params![now, report, owner],
                )
                .await?;
            }
            Err(error) => {
                self.execute(
                    "UPDATE stripe_connection SET sync_owner = NULL, sync_finished_at = $1, sync_error = $2 \
                     WHERE id = 1 AND sync_owner = $3",
                    params![now, error, owner],
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Whether the event was taken before.
    pub async fn stripe_event_taken(&self, event_id: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> = self
            .fetch_optional(
                "SELECT event_id FROM stripe_events WHERE event_id = $1",
                params![event_id],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Records an event as taken (after applying it: applying is idempotent, so a
    /// delivery that fails between the two is applied again the same way), and the
    /// connection's last webhook. False if it had been taken already.
    pub async fn record_stripe_event(
        &self,
        event_id: &str,
        event_type: &str,
        created: i64,
        outcome: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let kept = tx
            .execute(
                "INSERT INTO stripe_events (event_id, type, created, received_at, outcome) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (event_id) DO NOTHING",
                params![event_id, event_type, created, now, outcome],
            )
            .await?;
        tx.execute(
            "UPDATE stripe_connection SET webhook_received_at = $1 WHERE id = 1",
            params![now],
        )
        .await?;
        tx.commit().await?;
        Ok(kept > 0)
    }

    /// Records a refused webhook delivery (a bad signature, a stale one...), for the admin page.
    pub async fn record_stripe_webhook_refused(&self, reason: &str, now: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE stripe_connection SET webhook_refused_at = $1, webhook_refused_reason = $2 WHERE id = 1",
            params![now, reason],
        )
        .await?;
        Ok(())
    }

    /// Keeps product names (for the lines' product).
    pub async fn upsert_stripe_products(&self, products: &[(String, String)]) -> Result<(), StoreError> {
        self.execute_each(
            "INSERT INTO stripe_products (product_id, name) VALUES ($1, $2) ON CONFLICT (product_id) \
             DO UPDATE SET name = excluded.name",
            products,
            |(id, name)| params![id, name],
        )
        .await
    }

    /// Product names by id.
    pub async fn stripe_product_names(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = self
            .fetch_all("SELECT product_id, name FROM stripe_products", params![])
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// The subscriptions laer has seen of a customer.
    pub async fn stripe_subscriptions_of(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                "SELECT DISTINCT subscription_id FROM stripe_subscription_states WHERE customer_id = $1 \
                 ORDER BY subscription_id",
                params![customer_id],
            )
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

fn connection_of(r: ConnectionRow) -> StripeConnection {
    StripeConnection {
        api_key: StoredSecret::new(&STRIPE_KEY, r.api_key, r.api_key_key_id),
        webhook_secret: r
            .webhook_secret
            .map(|s| StoredSecret::new(&STRIPE_WEBHOOK_SECRET, s, r.webhook_secret_key_id)),
        api_base: r.api_base,
        settings: r.settings,
        connected_at: r.connected_at,
        connected_by: r.connected_by,
        sync: StripeSync {
            requested: r.sync_requested == 1,
            owner: r.sync_owner,
            heartbeat: r.sync_heartbeat,
            started_at: r.sync_started_at,
            stage: r.sync_stage,
            cursor: r.sync_cursor,
            progress: r.sync_progress,
            finished_at: r.sync_finished_at,
            error: r.sync_error,
            last_report: r.last_report,
        },
        webhook_received_at: r.webhook_received_at,
        webhook_refused_at: r.webhook_refused_at,
        webhook_refused_reason: r.webhook_refused_reason,
    }
}
