//! Revisions whose changes list the accounts they touched (issue 20): the pages keep
//! every account's health and snapshot, its contracts and coverage, and when a revision
//! moves they read again only the accounts listed since ([`Store::changes`]), not every
//! account. A change that touched too many, or cannot say which, lists none, and readers
//! read everything again.

use crate::decode::Column;
use crate::exec::params;
use crate::{Accounts, Store, StoreError, WriteTx};

/// How many accounts a change lists; beyond, readers read every account again, which is
/// as quick.
pub const CHANGES_LISTED: usize = 2_000;
/// How many changes of each revision are kept (health is saved at most ten times a
/// second while events stream in: minutes of them). A reader further behind reads
/// everything again.
pub const CHANGES_KEPT: i64 = 1_000;

/// A revision whose changes list their accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Each save of health ([`Store::save_health`]).
    Health,
    /// Accounts, subscription lines, team members and coverage: what the portfolio's
    /// snapshots, the revenue lines and the owners on past days are made of.
    Portfolio,
    /// The phases kept for past days and their marks ([`crate::KeptPhases`]).
    PastPhases,
    /// The records health is computed from, read by [`Store::kept_health_records`]:
    /// every write that marks an account's health for computing again, other than
    /// tracked events; accounts written list none.
    HealthRecords,
}

impl Listed {
    /// Its row in `revisions` (and its name in `revision_changes`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Listed::Health => "health",
            Listed::Portfolio => "portfolio",
            Listed::PastPhases => "past_phases",
            Listed::HealthRecords => "health_records",
        }
    }
}

/// The accounts a revision's changes touched since an earlier one ([`Store::changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The revision they go up to.
    pub revision: i64,
    /// In id order; `None` when not known: every account is to be read again.
    pub accounts: Option<Vec<i64>>,
}

impl WriteTx {
    /// Moves the revision `listed` in this transaction and lists `accounts` under the new
    /// number, which it gives back; `Accounts::All` (a change that cannot say which) and
    /// more than [`CHANGES_LISTED`] list none. Changes beyond the latest
    /// [`CHANGES_KEPT`] are forgotten. The revision's row stays locked until the
    /// transaction ends, so changes commit in order: a reader that sees revision n sees
    /// every list up to n.
    pub(crate) async fn bump_listed(&mut self, listed: Listed, accounts: Accounts<'_>) -> Result<i64, StoreError> {
        let revision = self.bump_revision(listed.name()).await?;
        let ids = match accounts {
            Accounts::Only(ids) if ids.len() <= CHANGES_LISTED => {
                let mut ids = ids.to_vec();
                ids.sort_unstable();
                ids.dedup();
                serde_json::to_string(&ids).ok()
            }
            _ => None,
        };
        self.execute(
            "INSERT INTO revision_changes (name, revision, accounts) VALUES ($1, $2, $3)",
            params![listed.name(), revision, ids],
        )
        .await?;
        self.execute(
            "DELETE FROM revision_changes WHERE name = $1 AND revision <= $2",
            params![listed.name(), revision - CHANGES_KEPT],
        )
        .await?;
        Ok(revision)
    }
}

impl Store {
    /// The revision `listed` is at now.
    pub async fn revision(&self, listed: Listed) -> Result<i64, StoreError> {
        let (n,): (i64,) = self
            .fetch_one("SELECT n FROM revisions WHERE name = $1", params![listed.name()])
            .await?;
        Ok(n)
    }

    /// The accounts the changes to `listed` after revision `since` touched: `accounts` is
    /// `None` when they are not known (too many, a change that did not list them, or
    /// `since` older than the changes kept or newer than the revision), and then every
    /// account is to be read again. Exact on several nodes: changes commit in order.
    pub async fn changes(&self, listed: Listed, since: i64) -> Result<Changes, StoreError> {
        let revision = self.revision(listed).await?;
        let unknown = Changes {
            revision,
            accounts: None,
        };
        if revision < since {
            return Ok(unknown);
        }
        let rows: Vec<(i64, Option<String>)> = self
            .fetch_all(
                "SELECT revision, accounts FROM revision_changes WHERE name = $1 AND revision > $2 \
                 AND revision <= $3 ORDER BY revision",
                params![listed.name(), since, revision],
            )
            .await?;
        if i64::try_from(rows.len()).ok() != Some(revision - since) {
            return Ok(unknown);
        }
        let column = Column("revision_changes", "accounts");
        let mut accounts = Vec::new();
        for (n, ids) in rows {
            let Some(ids) = ids else {
                return Ok(unknown);
            };
            accounts.extend(
                serde_json::from_str::<Vec<i64>>(&ids)
                    .map_err(|e| column.unreadable(format!("{} revision {n}: {e}", listed.name())))?,
            );
            if accounts.len() > CHANGES_LISTED {
                return Ok(unknown);
            }
        }
        accounts.sort_unstable();
        accounts.dedup();
        Ok(Changes {
            revision,
            accounts: Some(accounts),
        })
    }
}
