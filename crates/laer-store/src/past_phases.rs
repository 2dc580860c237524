//! Phases kept for past days (migration 0040): each account's LAER phase on the first day
//! of a quarter the NRR bridge shows, assessed once and kept under the rules that placed
//! it ([`laer_core::health::HealthModel::phase_key`]), so that the revenue page reads it
//! instead of assessing every account on four past days after each write (issue 20).
//!
//! Today's data does not change a past day's phase. A write to an account's own history
//! does: its contracts, coverage or exchange rates (every write that moves the portfolio
//! revision), or events dated on or before a kept day. Such a write marks the account in
//! `phase_stale` in its own transaction; the kept phases are still read as they were
//! until the health engine has assessed the account's kept days again
//! (`laer_app::past_phases`). The marks work as the health engine's do: counted, so that
//! an assessment clears only the marks it has seen, and a write during it leaves the
//! account marked. Several nodes may keep or refresh the same day: the rows are the same
//! either way.

use std::collections::HashMap;

use chrono::NaiveDate;
use laer_core::bridge::PhasesByDay;
use laer_core::lifecycle::Phase;
use laer_core::retention::day_number;

use crate::decode::Column;
use crate::exec::{Params, list, params, tuples};
use crate::sql::json;
use crate::{Accounts, Backend, Listed, Store, StoreError, WriteTx};

/// The phases kept for some days, and how many accounts wait for theirs to be assessed
/// again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptPhases {
    /// Only the days kept under the rules asked for; a day absent was never kept.
    pub phases: PhasesByDay,
    /// Accounts whose history changed on or before a kept day since it was kept: their
    /// phases above are as last assessed.
    pub stale: i64,
}

/// An account marked for its kept phases from `since_day` on (a day number) to be
/// assessed again, as read, with its count of marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StalePhases {
    pub account_id: i64,
    pub since_day: i64,
    pub marks: i64,
}

/// What a keeper read before assessing ([`Store::past_phases_token`]): the portfolio's
/// revision and the count of marks. If either moved by the time the phases are kept, a
/// write came in between, and the kept accounts are marked. (Keeping moves neither, so
/// keepers at once on several nodes do not mark each other's.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhasesToken {
    portfolio: i64,
    marks: i64,
}

const PAGE: usize = 1_000;

/// What a [`PhasesToken`] is made of.
const TOKEN_SQL: &str = "SELECT name, n FROM revisions WHERE name IN ('portfolio', 'phase_marks')";

/// Runs `write` again (up to 3 times in all) when PostgreSQL ends its transaction to
/// break a deadlock with another writer of the same marks or rows: it wrote nothing, and
/// running it again is the remedy (as ingest does).
async fn retrying<F, Fut>(mut write: F) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let mut tries = 1;
    loop {
        match write().await {
            Err(e) if e.is_transient() && tries < 3 => {
                tracing::info!(error = %e, tries, "a past phases transaction was ended by the database; running it again");
                tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
                tries += 1;
            }
            done => return done,
        }
    }
}

/// The token of the revisions read.
fn token_of(revisions: &[(String, i64)]) -> PhasesToken {
    let of = |name: &str| revisions.iter().find(|(n, _)| n == name).map_or(0, |(_, n)| *n);
    PhasesToken {
        portfolio: of("portfolio"),
        marks: of("phase_marks"),
    }
}

impl Store {
    /// Moves whenever phases are kept, assessed again or marked: the kept phases a node
    /// holds in memory are current while it stands.
    pub async fn past_phases_revision(&self) -> Result<i64, StoreError> {
        self.revision(Listed::PastPhases).await
    }

    /// Read before assessing phases to keep ([`Store::keep_phases`]).
    pub async fn past_phases_token(&self) -> Result<PhasesToken, StoreError> {
        let rows: Vec<(String, i64)> = self.fetch_all(TOKEN_SQL, params![]).await?;
        Ok(token_of(&rows))
    }

    /// The phases kept under `rules` for `days`.
    pub async fn kept_phases(&self, rules: &str, days: &[NaiveDate]) -> Result<KeptPhases, StoreError> {
        self.kept_phases_of(rules, days, Accounts::All).await
    }

    /// The phases kept under `rules` for `days` of the chosen accounts (and how many
    /// accounts wait to be assessed again, of all).
    pub async fn kept_phases_of(
        &self,
        rules: &str,
        days: &[NaiveDate],
        accounts: Accounts<'_>,
    ) -> Result<KeptPhases, StoreError> {
        let mut kept = KeptPhases::default();
        if !days.is_empty() {
            let mut p = Params::with_capacity(days.len() + 1);
            p.push(rules);
            for day in days {
                p.push(day_number(*day));
            }
            // A row per day, its accounts' phases packed (crate::sql::json): a row per
            // account and day took several times as long to hand over.
            let backend = self.backend();
            let rows: Vec<(i64, String)> = self
                .fetch_all(
                    &format!(
                        "SELECT day, {} AS phases FROM phase_days WHERE rules = $1 AND day IN ({}) AND {} \
                         GROUP BY day",
                        json::bag(backend, &json::tuple(backend, &["account_id", "phase"])),
                        list(2, days.len()),
                        accounts.condition("account_id")
                    ),
                    p,
                )
                .await?;
            let column = |name| Column("phase_days", name);
            for (number, packed) in rows {
                let phases = column("(phases)")
                    .json::<Vec<(i64, String)>>(&packed)?
                    .into_iter()
                    .map(|(account_id, phase)| Ok((account_id, column("phase").parsed(&phase)?)))
                    .collect::<Result<HashMap<i64, Phase>, StoreError>>()?;
                kept.phases.insert(column("day").day(number)?, phases);
            }
        }
        let (stale,): (i64,) = self.fetch_one("SELECT COUNT(*) FROM phase_stale", params![]).await?;
        kept.stale = stale;
        Ok(kept)
    }

    /// The days with phases kept under `rules`, in order.
    pub async fn kept_phase_days(&self, rules: &str) -> Result<Vec<NaiveDate>, StoreError> {
        let rows: Vec<(i64,)> = self
            .fetch_all(
                "SELECT DISTINCT day FROM phase_days WHERE rules = $1 ORDER BY day",
                params![rules],
            )
            .await?;
        rows.into_iter()
            .map(|(d,)| Column("phase_days", "day").day(d))
            .collect()
    }

    /// Keeps these phases of `day` under `rules` where none is kept yet (one kept by
    /// another node, or already assessed again, stays). If the portfolio or the marks
    /// moved since `token` was read, a write may have come in while they were assessed:
    /// the accounts are marked, and the engine assesses them again.
    pub async fn keep_phases(
        &self,
        rules: &str,
        day: NaiveDate,
        phases: &[(i64, Phase)],
        token: PhasesToken,
    ) -> Result<(), StoreError> {
        retrying(|| self.keep_phases_once(rules, day, phases, token)).await
    }

    async fn keep_phases_once(
        &self,
        rules: &str,
        day: NaiveDate,
        phases: &[(i64, Phase)],
        token: PhasesToken,
    ) -> Result<(), StoreError> {
        if phases.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        tx.put_phases(rules, day, phases, "DO NOTHING").await?;
        let now: Vec<(String, i64)> = tx.fetch_all(TOKEN_SQL, params![]).await?;
        if token_of(&now) != token {
            let day = day_number(day);
            let marks: Vec<(i64, i64)> = phases.iter().map(|(id, _)| (*id, day)).collect();
            tx.mark_past_phases(&marks).await?;
        }
        tx.touch_past_phases(phases.iter().map(|(id, _)| *id)).await?;
        tx.commit().await
    }

    /// Up to `limit` of the accounts marked, by account.
    pub async fn stale_phases(&self, limit: i64) -> Result<Vec<StalePhases>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = self
            .fetch_all(
                "SELECT account_id, since_day, marks FROM phase_stale ORDER BY account_id LIMIT $1",
                params![limit],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(account_id, since_day, marks)| StalePhases {
                account_id,
                since_day,
                marks,
            })
            .collect())
    }

    /// Keeps these phases of `day` under `rules`, assessed again after the accounts were
    /// marked: they replace what was kept.
    pub async fn refresh_phases(&self, rules: &str, day: NaiveDate, phases: &[(i64, Phase)]) -> Result<(), StoreError> {
        retrying(|| self.refresh_phases_once(rules, day, phases)).await
    }

    async fn refresh_phases_once(
        &self,
        rules: &str,
        day: NaiveDate,
        phases: &[(i64, Phase)],
    ) -> Result<(), StoreError> {
        if phases.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        tx.put_phases(rules, day, phases, "DO UPDATE SET phase = excluded.phase")
            .await?;
        tx.touch_past_phases(phases.iter().map(|(id, _)| *id)).await?;
        tx.commit().await
    }

    /// Clears the marks `seen` (those not marked again since) once the accounts' kept days
    /// under `rules` were assessed again. Their phases kept under other rules are dropped:
    /// nothing assesses those again, and should those rules come back, they are assessed
    /// anew when read.
    pub async fn clear_stale_phases(&self, rules: &str, seen: &[StalePhases]) -> Result<(), StoreError> {
        retrying(|| self.clear_stale_phases_once(rules, seen)).await
    }

    async fn clear_stale_phases_once(&self, rules: &str, seen: &[StalePhases]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        // On PostgreSQL a mark a writer holds is being made again: it must stay, so it is
        // skipped rather than waited for (a writer marking several accounts could hold one
        // this waits for while waiting for one this has deleted). SQLite has one writer.
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let mut tx = self.begin_write().await?;
        for chunk in seen.chunks(PAGE) {
            let mut p = Params::with_capacity(chunk.len() * 2);
            for s in chunk {
                p.push(s.account_id);
                p.push(s.marks);
            }
            let values = tuples(chunk.len(), 2);
            tx.execute(
                &format!(
                    "DELETE FROM phase_stale WHERE account_id IN \
                     (SELECT account_id FROM phase_stale WHERE (account_id, marks) IN (VALUES {values}){lock}) \
                     AND (account_id, marks) IN (VALUES {values})"
                ),
                p,
            )
            .await?;
            let mut p = Params::with_capacity(chunk.len() + 1);
            p.push(rules);
            for s in chunk {
                p.push(s.account_id);
            }
            tx.execute(
                &format!(
                    "DELETE FROM phase_days WHERE rules <> $1 AND account_id IN ({})",
                    list(2, chunk.len())
                ),
                p,
            )
            .await?;
        }
        tx.touch_past_phases(seen.iter().map(|s| s.account_id)).await?;
        tx.commit().await
    }
}

impl WriteTx {
    async fn put_phases(
        &mut self,
        rules: &str,
        day: NaiveDate,
        phases: &[(i64, Phase)],
        on_conflict: &str,
    ) -> Result<(), StoreError> {
        let day = day_number(day);
        // In account order, so that two nodes keeping the same day lock its rows in one
        // order.
        let mut phases = phases.to_vec();
        phases.sort_unstable_by_key(|(account, _)| *account);
        for chunk in phases.chunks(PAGE) {
            let mut p = Params::with_capacity(chunk.len() * 4);
            for (account_id, phase) in chunk {
                p.push(rules);
                p.push(day);
                p.push(*account_id);
                p.push(phase.as_str());
            }
            self.execute(
                &format!(
                    "INSERT INTO phase_days (rules, day, account_id, phase) VALUES {} \
                     ON CONFLICT (rules, day, account_id) {on_conflict}",
                    tuples(chunk.len(), 4)
                ),
                p,
            )
            .await?;
        }
        Ok(())
    }

    /// Moves the `past_phases` revision, listing the `accounts` whose kept phases or
    /// marks changed ([`Store::changes`]).
    async fn touch_past_phases(&mut self, accounts: impl Iterator<Item = i64>) -> Result<(), StoreError> {
        let ids: Vec<i64> = accounts.collect();
        self.bump_listed(Listed::PastPhases, Accounts::Only(&ids))
            .await
            .map(drop)
    }

    /// Marks the kept phases of these accounts from each one's day (a day number; one
    /// entry per account) on for assessing again, where any day from there on is kept at
    /// all: a write to the present, after every kept day, costs one indexed look.
    pub(crate) async fn mark_past_phases(&mut self, marks: &[(i64, i64)]) -> Result<(), StoreError> {
        let Some(earliest) = marks.iter().map(|(_, since)| *since).min() else {
            return Ok(());
        };
        let kept: Option<(i64,)> = self
            .fetch_optional("SELECT day FROM phase_days WHERE day >= $1 LIMIT 1", params![earliest])
            .await?;
        if kept.is_none() {
            return Ok(());
        }
        let least = match self.backend() {
            Backend::Sqlite => "MIN",
            Backend::Postgres => "LEAST",
        };
        let mut marks = marks.to_vec();
        // In account order, as every writer marks (see mark_health_dirty).
        marks.sort_unstable();
        marks.dedup_by_key(|(account, _)| *account);
        let mut marked = 0;
        for chunk in marks.chunks(PAGE) {
            let mut p = Params::with_capacity(chunk.len() * 2);
            for (account, since) in chunk {
                p.push(*account);
                p.push(*since);
            }
            marked += self
                .execute(
                    &format!(
                        "WITH marked (account_id, since_day) AS (VALUES {}) \
                         INSERT INTO phase_stale (account_id, since_day, marks) \
                         SELECT account_id, since_day, 1 FROM marked \
                         WHERE EXISTS (SELECT 1 FROM phase_days d WHERE d.day >= marked.since_day) \
                         ORDER BY account_id \
                         ON CONFLICT (account_id) DO UPDATE SET \
                         since_day = {least}(phase_stale.since_day, excluded.since_day), \
                         marks = phase_stale.marks + 1",
                        tuples(chunk.len(), 2)
                    ),
                    p,
                )
                .await?;
        }
        if marked > 0 {
            self.touch_past_phases(marks.iter().map(|(account, _)| *account))
                .await?;
            self.bump_revision("phase_marks").await?;
        }
        Ok(())
    }
}
