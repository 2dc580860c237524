//! Views derived from the store that many pages share, computed once per store revision
//! and day: the account snapshots (portfolio, renewals) and the subscription lines
//! (revenue). Every use asks the store for its revision (one small read), so a node never
//! serves a view older than the data; a change on any node shows on the next request.

use std::sync::Arc;

use chrono::NaiveDate;
use laer_core::portfolio::AccountSnapshot;
use laer_core::retention::RevenueLine;
use laer_store::{Store, StoreError};
use tokio::sync::Mutex;

#[derive(Default)]
pub(crate) struct PageCache {
    snapshots: Mutex<Option<Cached<Vec<AccountSnapshot>>>>,
    lines: Mutex<Option<Cached<Vec<RevenueLine>>>>,
}

struct Cached<T> {
    revision: i64,
    day: NaiveDate,
    value: Arc<T>,
}

impl PageCache {
    /// Every account as of `today`.
    pub(crate) async fn snapshots(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<Vec<AccountSnapshot>>, StoreError> {
        current(&self.snapshots, store, today, || store.account_snapshots(today)).await
    }

    /// Every subscription line, sorted by account.
    pub(crate) async fn revenue_lines(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> Result<Arc<Vec<RevenueLine>>, StoreError> {
        current(&self.lines, store, today, || store.revenue_lines()).await
    }
}

/// The view in `slot` if the store's revision and the day are still those it was made
/// for; else `load`s it again.
async fn current<T, F, Fut>(
    slot: &Mutex<Option<Cached<T>>>,
    store: &Store,
    today: NaiveDate,
    load: F,
) -> Result<Arc<T>, StoreError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let revision = store.portfolio_revision().await?;
    // Held while loading: concurrent requests wait for one load.
    let mut slot = slot.lock().await;
    if let Some(c) = slot.as_ref().filter(|c| c.revision == revision && c.day == today) {
        return Ok(c.value.clone());
    }
    let value = Arc::new(load().await?);
    *slot = Some(Cached {
        revision,
        day: today,
        value: value.clone(),
    });
    Ok(value)
}
