//! Imports as their history shows them: a run is running, done or failed, and a run
//! whose node stopped sending signs of life is shown as failed rather than running
//! forever. The node running an import writes a heartbeat every [`HEARTBEAT_SECONDS`];
//! after [`LOST_AFTER_SECONDS`] without one the run is lost.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// How often the node running an import records its progress and that it is alive.
pub const HEARTBEAT_SECONDS: i64 = 5;

/// How long a running import may go without a heartbeat before it is shown as failed:
/// long enough for a busy database to delay a few heartbeats.
pub const LOST_AFTER_SECONDS: i64 = 120;

/// Where a run stands, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Done,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<RunStatus, String> {
        match s {
            "running" => Ok(RunStatus::Running),
            "done" => Ok(RunStatus::Done),
            "failed" => Ok(RunStatus::Failed),
            other => Err(format!(
                "unknown import status {other:?}; expected running, done or failed"
            )),
        }
    }
}

/// Where a run stands as of `now`, as a page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Done,
    Failed,
    /// Stored as running, but no heartbeat for [`LOST_AFTER_SECONDS`]: the node running it
    /// stopped, and with it the import's transaction, so nothing of it was written.
    Lost,
}

impl RunState {
    /// Whether the run has ended (a page showing it need not refresh).
    pub fn ended(self) -> bool {
        self != RunState::Running
    }
}

/// The state of a run stored with `status` whose last heartbeat was at `heartbeat_at`.
pub fn run_state(status: RunStatus, heartbeat_at: DateTime<Utc>, now: DateTime<Utc>) -> RunState {
    match status {
        RunStatus::Done => RunState::Done,
        RunStatus::Failed => RunState::Failed,
        RunStatus::Running if now - heartbeat_at > TimeDelta::seconds(LOST_AFTER_SECONDS) => RunState::Lost,
        RunStatus::Running => RunState::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_without_heartbeats_is_lost() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let at = |s: i64| start + TimeDelta::seconds(s);
        assert_eq!(run_state(RunStatus::Running, start, at(10)), RunState::Running);
        assert_eq!(
            run_state(RunStatus::Running, start, at(LOST_AFTER_SECONDS)),
            RunState::Running
        );
        assert_eq!(
            run_state(RunStatus::Running, start, at(LOST_AFTER_SECONDS + 1)),
            RunState::Lost
        );
        assert_eq!(run_state(RunStatus::Done, start, at(10_000)), RunState::Done);
        assert_eq!(run_state(RunStatus::Failed, start, at(10_000)), RunState::Failed);
        assert!(!RunState::Running.ended() && RunState::Lost.ended());
    }

    #[test]
    fn statuses_read_back() {
        for s in [RunStatus::Running, RunStatus::Done, RunStatus::Failed] {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
        }
        assert!("paused".parse::<RunStatus>().unwrap_err().contains("paused"));
    }
}
