//! Work that one node does at a time, under a lease: a table whose rows carry `owner`
//! (the node doing it now), `heartbeat` (when it last said so, Unix seconds), `requested`
//! (someone asked for it now) and the time it is due next. A node takes a row when nobody
//! holds it with a fresh heartbeat, renews it while it works, and writes its results only
//! while it still holds it; a node that stops is taken over once its heartbeat is stale.
//! Singer syncs (`singer_syncs.rs`) and calendars (`calendars.rs`) are such work.

use crate::exec::params;
use crate::{Store, StoreError, WriteTx};

/// A table of leased work and its column of when a row is due next.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leased {
    pub table: &'static str,
    pub due_at: &'static str,
}

impl Leased {
    /// The rows due at `now` — asked for, never done, or at their time — soonest first.
    pub(crate) async fn due(self, store: &Store, now: i64) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT id FROM {table} WHERE requested <> 0 OR {due} IS NULL OR {due} <= $1 \
             ORDER BY COALESCE({due}, 0), id",
            table = self.table,
            due = self.due_at
        );
        let rows: Vec<(i64,)> = store.fetch_all(&sql, params![now]).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Takes row `id` for `owner` (and clears its request) when nobody holds it with a
    /// heartbeat after `stale_before`. False when another node holds it.
    pub(crate) async fn take(
        self,
        tx: &mut WriteTx,
        id: i64,
        owner: &str,
        now: i64,
        stale_before: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {} SET owner = $1, heartbeat = $2, requested = 0 \
             WHERE id = $3 AND (owner IS NULL OR heartbeat IS NULL OR heartbeat < $4)",
            self.table
        );
        Ok(tx.execute(&sql, params![owner, now, id, stale_before]).await? > 0)
    }

    /// Renews `owner`'s lease of row `id`; with `now` `None`, only checks that `owner`
    /// still holds it (in the transaction of what it writes). False when it does not.
    pub(crate) async fn renew(
        self,
        tx: &mut WriteTx,
        id: i64,
        owner: &str,
        now: Option<i64>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {} SET heartbeat = COALESCE($1, heartbeat) WHERE id = $2 AND owner = $3",
            self.table
        );
        Ok(tx.execute(&sql, params![now, id, owner]).await? > 0)
    }

    /// Asks for row `id` to be done as soon as a node is free. False when there is none.
    pub(crate) async fn request(self, tx: &mut WriteTx, id: i64) -> Result<bool, StoreError> {
        let sql = format!("UPDATE {} SET requested = 1 WHERE id = $1", self.table);
        Ok(tx.execute(&sql, params![id]).await? > 0)
    }
}
