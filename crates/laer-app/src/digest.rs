//! The daily digest: each person with a chat hook of their own gets, once a day at the
//! hour they chose (UTC), their tasks due, the accounts of their book whose health or
//! phase moved since the day before, and their renewals coming up
//! (docs/automation.md#chat-slack-and-teams). Every node looks; the outbox's dedup key
//! lets one digest per person and day through.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Timelike, Utc};
use laer_core::digest::{self, Digest, DueTask, Standing};
use laer_core::model::TaskStatus;
use laer_store::{Store, StoreError, TaskFilter};

/// How often each node looks for digests due.
pub const DIGEST_TICK: Duration = Duration::from_secs(60);

/// What every digest of a day reads: the accounts, and their health that day and the day
/// before. Read once per pass, whatever the number of people due.
pub struct Book {
    accounts: Vec<laer_core::portfolio::AccountSnapshot>,
    now: HashMap<i64, Standing>,
    before: HashMap<i64, Standing>,
}

impl Book {
    pub async fn read(store: &Store, day: NaiveDate) -> Result<Book, StoreError> {
        let standing = |rows: HashMap<i64, laer_store::HealthRow>| -> HashMap<i64, Standing> {
            rows.into_iter()
                .map(|(id, h)| {
                    (
                        id,
                        Standing {
                            score: h.score,
                            phase: h.phase,
                        },
                    )
                })
                .collect()
        };
        Ok(Book {
            accounts: store.account_snapshots(day).await?,
            now: standing(store.latest_health(day).await?),
            before: standing(store.latest_health(day - TimeDelta::days(1)).await?),
        })
    }
}

/// `person`'s digest for `day`, as team member `member` (none: nothing of theirs).
pub async fn digest_for(
    store: &Store,
    book: &Book,
    person: &str,
    member: Option<i64>,
    day: NaiveDate,
) -> Result<Digest, StoreError> {
    let mut digest = Digest {
        person: person.to_string(),
        day,
        tasks: Vec::new(),
        moves: Vec::new(),
        renewals: Vec::new(),
    };
    let Some(member) = member else {
        return Ok(digest);
    };
    let filter = TaskFilter {
        assignee_id: Some(member),
        status: Some(TaskStatus::Open),
        awake_on: Some(day),
        ..TaskFilter::default()
    };
    let tasks = store
        .tasks(&filter, day)
        .await?
        .into_iter()
        .map(|t| DueTask {
            id: t.id,
            title: t.title,
            account_id: t.account_id,
            account: t.account,
            due_on: t.due_on,
        })
        .collect();
    digest.tasks = digest::due_tasks(tasks, day);
    digest.moves = digest::moves(&book.accounts, member, &book.before, &book.now);
    digest.renewals = digest::coming_renewals(&book.accounts, member, day);
    Ok(digest)
}

/// Queues every digest due now; how many were queued (those with nothing to say are
/// kept as skipped).
pub async fn queue_due_digests(store: &Store, now: chrono::DateTime<Utc>) -> Result<usize, StoreError> {
    let day = now.date_naive();
    let due = store.digests_due(day, now.hour()).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let book = Book::read(store, day).await?;
    let mut queued = 0;
    for due in due {
        let digest = digest_for(store, &book, &due.person, due.team_member_id, day).await?;
        let message = digest::message(&digest);
        if store.queue_digest(due.hook_id, day, message.as_ref()).await? && message.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Looks for digests due every `tick` until the task is dropped.
pub async fn run_digests(store: Store, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = queue_due_digests(&store, Utc::now()).await {
            tracing::warn!("digests: {e}");
        }
    }
}
