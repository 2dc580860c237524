//! What the soak found: the counts in the database against what the clients were told
//! and what the sinks received, the throughput and the answer times.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::health::Freshness;
use crate::load::Stats;
use crate::sinks::Received;

/// How long things took.
pub struct Timing {
    pub load: Duration,
    /// When the node was killed, and when it served again (from the load's start).
    pub killed: Option<(Duration, Duration)>,
    /// From the load's end until no account waited for its health (`None`: not in time).
    pub health_after: Option<Duration>,
    /// ... and until the outbox was empty.
    pub outbox_after: Option<Duration>,
    pub health_within: Duration,
}

/// One check, passed or not, with what was counted.
struct Check {
    name: &'static str,
    passed: bool,
    detail: String,
}

pub struct Report {
    checks: Vec<Check>,
    figures: Value,
    text: String,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

impl Report {
    pub async fn count(
        db: &PgPool,
        run: &str,
        stats: &Stats,
        received: &Received,
        health: &Freshness,
        timing: Timing,
    ) -> Result<Report> {
        let prefix = format!("soak-{run}-%");
        // Every tracking call of the soak the database holds, with whether its event is
        // stored (usage calls) — acknowledged or not (a request can be committed and its
        // answer lost with its node).
        let stored: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT message_id, kind, attributed FROM ingest_messages WHERE message_id LIKE $1")
                .bind(&prefix)
                .fetch_all(db)
                .await?;
        let mut seen = HashSet::new();
        let repeated = stored.iter().filter(|(id, _, _)| !seen.insert(id.as_str())).count();
        let usage_stored: HashSet<&str> = stored
            .iter()
            .filter(|(_, kind, attributed)| kind == "track" && *attributed != 0)
            .map(|(id, _, _)| id.as_str())
            .collect();
        let lost: Vec<&String> = stats
            .acknowledged
            .iter()
            .filter(|id| !usage_stored.contains(id.as_str()))
            .collect();
        let events: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE event_type_id IN \
             (SELECT id FROM event_types WHERE name IN ('soak_feature', 'soak_other'))",
        )
        .fetch_one(db)
        .await?;
        let rollup: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(events), 0)::BIGINT FROM event_type_days WHERE event_type_id IN \
             (SELECT id FROM event_types WHERE name IN ('soak_feature', 'soak_other'))",
        )
        .fetch_one(db)
        .await?;
        // Playbook runs: each (playbook, account, cause) once by the schema; the soak's
        // playbook fires once per account, and its task and email are made once per run.
        let runs: (i64, i64) =
            sqlx::query_as("SELECT count(*), count(DISTINCT account_id) FROM playbook_runs WHERE playbook = 'soak'")
                .fetch_one(db)
                .await?;
        let tasks: (i64, i64) =
            sqlx::query_as("SELECT count(*), count(DISTINCT account_id) FROM tasks WHERE title LIKE 'Soak check at %'")
                .fetch_one(db)
                .await?;
        let all_runs: i64 = sqlx::query_scalar("SELECT count(*) FROM playbook_runs WHERE fired_at > 0")
            .fetch_one(db)
            .await?;
        let outbox: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status ORDER BY 1, 2")
                .fetch_all(db)
                .await?;
        let delivered = |channel: &str| {
            outbox
                .iter()
                .filter(|(c, s, _)| c == channel && s == "delivered")
                .map(|(_, _, n)| *n)
                .sum::<i64>()
        };
        let (emails_delivered, webhooks_delivered) = (delivered("email"), delivered("webhook"));
        let emails_received: u32 = received.emails.values().sum();
        let emails_twice: u32 = received.emails.values().map(|n| n - 1).sum();
        let webhooks_received: u32 = received.webhooks.values().sum();
        let webhooks_twice: u32 = received.webhooks.values().map(|n| n - 1).sum();

        let server_errors: u64 = stats
            .failures
            .iter()
            .filter(|(what, _)| what.ends_with("HTTP 500 Internal Server Error"))
            .map(|(_, n)| *n)
            .sum();
        let usage_messages = stored.iter().filter(|(_, kind, _)| kind == "track").count() as i64;
        let checks = vec![
            Check {
                name: "acknowledged events stored",
                passed: lost.is_empty() && !stats.acknowledged.is_empty(),
                detail: format!(
                    "{} acknowledged, {} missing{}",
                    stats.acknowledged.len(),
                    lost.len(),
                    lost.first().map(|id| format!(" (e.g. {id})")).unwrap_or_default()
                ),
            },
            Check {
                name: "no event stored twice",
                passed: repeated == 0 && events == usage_stored.len() as i64 && rollup == events,
                detail: format!(
                    "{usage_messages} usage calls logged ({} with their event), {events} events, {rollup} in the daily rollup, {repeated} message ids twice",
                    usage_stored.len()
                ),
            },
            Check {
                name: "no playbook run twice",
                // An account without a CSM gets the run but no task.
                passed: runs.0 == runs.1 && tasks.0 == tasks.1 && tasks.0 <= runs.0 && runs.0 > 0,
                detail: format!(
                    "soak playbook: {} runs for {} accounts, {} tasks for {} accounts ({all_runs} runs of all playbooks)",
                    runs.0, runs.1, tasks.0, tasks.1
                ),
            },
            Check {
                name: "no email sent twice",
                passed: emails_twice == 0 && i64::from(emails_received) == emails_delivered,
                detail: format!(
                    "{emails_received} received by the SMTP server ({emails_twice} repeats), {emails_delivered} delivered by the outbox"
                ),
            },
            Check {
                name: "no webhook sent twice",
                passed: webhooks_twice == 0 && i64::from(webhooks_received) == webhooks_delivered,
                detail: format!(
                    "{webhooks_received} received ({webhooks_twice} repeated delivery ids), {webhooks_delivered} delivered by the outbox"
                ),
            },
            Check {
                name: "no server errors",
                // A killed node leaves requests unanswered; no node may answer one with
                // 500 (a deadlock between nodes' writes, say).
                passed: server_errors == 0,
                detail: format!("{server_errors} requests answered 500 Internal Server Error"),
            },
            Check {
                name: "outbox sent",
                passed: timing.outbox_after.is_some(),
                detail: match timing.outbox_after {
                    Some(t) => format!("nothing pending {:.1} s after the load", t.as_secs_f64()),
                    None => "deliveries still pending".into(),
                },
            },
            Check {
                name: "health current",
                passed: timing.health_after.is_some_and(|t| t <= timing.health_within),
                detail: match timing.health_after {
                    Some(t) => format!("no account waiting {:.1} s after the load", t.as_secs_f64()),
                    None => "accounts still waiting for their health".into(),
                },
            },
            Check {
                name: "health as the data says",
                passed: health.stale.is_empty() && health.accounts > 0,
                detail: match health.after {
                    Some(t) => format!(
                        "every account's stored health ({}) equals a fresh assessment, {:.1} s after none waited",
                        health.accounts,
                        t.as_secs_f64()
                    ),
                    None => format!(
                        "{} of {} accounts' stored health differs from a fresh assessment (e.g. account {})",
                        health.stale.len(),
                        health.accounts,
                        health.stale.first().copied().unwrap_or_default()
                    ),
                },
            },
        ];

        let seconds = timing.load.as_secs_f64().max(0.001);
        let mut kinds = BTreeMap::new();
        let mut text = String::new();
        let _ = writeln!(text, "\nlaer soak: {:.0} s of load", seconds);
        if let Some((at, back)) = timing.killed {
            let _ = writeln!(
                text,
                "node 1 killed (SIGKILL) at {:.0} s, serving again at {:.0} s",
                at.as_secs_f64(),
                back.as_secs_f64()
            );
        }
        let pages: usize = stats
            .latencies
            .iter()
            .filter(|(k, _)| k.starts_with("page"))
            .map(|(_, v)| v.len())
            .sum();
        let _ = writeln!(
            text,
            "tracking: {} events acknowledged, {:.0} events/s; pages: {pages} read, {:.1} pages/s; {} retries, {} requests given up",
            stats.acknowledged.len(),
            stats.acknowledged.len() as f64 / seconds,
            pages as f64 / seconds,
            stats.retries,
            stats.given_up
        );
        let _ = writeln!(
            text,
            "\n{:<28} {:>8} {:>10} {:>10} {:>10}",
            "kind", "answers", "per s", "p50 ms", "p99 ms"
        );
        for (kind, latencies) in &stats.latencies {
            let mut sorted = latencies.clone();
            sorted.sort_unstable();
            let (p50, p99) = (percentile(&sorted, 0.5), percentile(&sorted, 0.99));
            let _ = writeln!(
                text,
                "{kind:<28} {:>8} {:>10.1} {:>10.1} {:>10.1}",
                sorted.len(),
                sorted.len() as f64 / seconds,
                ms(p50),
                ms(p99)
            );
            kinds.insert(
                kind.clone(),
                json!({"answers": sorted.len(), "per_second": sorted.len() as f64 / seconds, "p50_ms": ms(p50), "p99_ms": ms(p99)}),
            );
        }
        if !stats.failures.is_empty() {
            let _ = writeln!(
                text,
                "\nfailed requests (retried on another node; expected while a node is down):"
            );
            for (what, n) in &stats.failures {
                let _ = writeln!(text, "  {n:>6}  {what}");
            }
        }
        let _ = writeln!(
            text,
            "\noutbox: {}",
            outbox
                .iter()
                .map(|(c, s, n)| format!("{c} {s} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(text);
        for check in &checks {
            let _ = writeln!(
                text,
                "{} {}: {}",
                if check.passed { "PASS" } else { "FAIL" },
                check.name,
                check.detail
            );
        }
        let figures = json!({
            "load_seconds": seconds,
            "killed_at_seconds": timing.killed.map(|(a, _)| a.as_secs_f64()),
            "serving_again_at_seconds": timing.killed.map(|(_, b)| b.as_secs_f64()),
            "events_acknowledged": stats.acknowledged.len(),
            "events_per_second": stats.acknowledged.len() as f64 / seconds,
            "pages": pages,
            "pages_per_second": pages as f64 / seconds,
            "retries": stats.retries,
            "given_up": stats.given_up,
            "kinds": kinds,
            "failures": stats.failures,
            "outbox": outbox.iter().map(|(c, s, n)| json!({"channel": c, "status": s, "count": n})).collect::<Vec<_>>(),
            "checks": checks.iter().map(|c| json!({"name": c.name, "passed": c.passed, "detail": c.detail})).collect::<Vec<_>>(),
        });
        Ok(Report { checks, figures, text })
    }

    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn json(&self) -> &Value {
        &self.figures
    }
}
