//! The load: tracking clients sending batches and single calls, each call with a
//! `messageId` of its own and the current time, retrying a request that got no 200 with
//! the same ids on the next node (as Segment's clients do); logged-in clients reading
//! pages on every node. Every answer's time is kept per kind.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Message ids of usage calls answered 200.
    pub acknowledged: HashSet<String>,
    /// Answer times of successful requests, per kind.
    pub latencies: BTreeMap<String, Vec<Duration>>,
    /// Failed requests (no answer, or not the expected status), per kind.
    pub failures: BTreeMap<String, u64>,
    /// Requests sent again after a failure.
    pub retries: u64,
    /// Requests given up after every attempt failed (their calls unacknowledged).
    pub given_up: u64,
}

/// The accounts of the demo: laer id and external id.
pub async fn accounts(http: &reqwest::Client, url: &str, token: &str) -> Result<Vec<(i64, String)>> {
    let page: Value = http
        .get(format!("{url}/api/v1/accounts?limit=1000"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let accounts: Vec<(i64, String)> = page["accounts"]
        .as_array()
        .context("GET /api/v1/accounts: no accounts")?
        .iter()
        .filter_map(|a| Some((a["id"].as_i64()?, a["external_id"].as_str()?.to_string())))
        .collect();
    if accounts.is_empty() {
        bail!("the demo made no accounts");
    }
    Ok(accounts)
}

#[derive(Clone)]
pub struct Load {
    pub http: reqwest::Client,
    /// The nodes tracking calls go to, and those pages are read from (the same nodes
    /// unless the soak splits them).
    pub track_urls: Vec<String>,
    pub page_urls: Vec<String>,
    pub write_key: String,
    pub run: String,
    pub accounts: Vec<(i64, String)>,
    pub email: String,
    pub password: String,
    pub batch: usize,
    pub deadline: Instant,
}

/// A small deterministic generator (xorshift), one per client.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn record(stats: &Arc<Mutex<Stats>>, f: impl FnOnce(&mut Stats)) {
    f(&mut stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
}

impl Load {
    /// Starts the clients; each ends at the deadline.
    pub fn start(&self, tracking: usize, pages: usize, stats: Arc<Mutex<Stats>>) -> Vec<JoinHandle<()>> {
        let mut workers = Vec::new();
        for client in 0..tracking {
            let (load, stats) = (self.clone(), stats.clone());
            workers.push(tokio::spawn(async move { load.track(client, stats).await }));
        }
        for client in 0..pages {
            let (load, stats) = (self.clone(), stats.clone());
            workers.push(tokio::spawn(async move { load.pages(client, stats).await }));
        }
        workers
    }

    /// Sends `body` to `/v1/{path}` until a node answers 200 (up to 8 attempts, each on
    /// the next node); whether it was acknowledged.
    async fn send(&self, node: &mut usize, path: &str, kind: &str, body: &Value, stats: &Arc<Mutex<Stats>>) -> bool {
        for attempt in 0..8 {
            let url = format!("{}/v1/{path}", self.track_urls[*node % self.track_urls.len()]);
            let started = Instant::now();
            let answer = self
                .http
                .post(&url)
                .basic_auth(&self.write_key, Some(""))
                .json(body)
                .send()
                .await;
            let took = started.elapsed();
            match answer {
                Ok(r) if r.status().is_success() => {
                    record(stats, |s| s.latencies.entry(kind.into()).or_default().push(took));
                    return true;
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    record(stats, |s| {
                        *s.failures.entry(format!("{kind}: HTTP {status}")).or_default() += 1
                    });
                    if status.is_client_error() {
                        eprintln!("soak: {url} answered {status}: {text}");
                        break;
                    }
                }
                Err(_) => record(stats, |s| {
                    *s.failures.entry(format!("{kind}: no answer")).or_default() += 1
                }),
            }
            if attempt < 7 {
                record(stats, |s| s.retries += 1);
            }
            *node += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        record(stats, |s| s.given_up += 1);
        false
    }

    async fn track(&self, client: usize, stats: Arc<Mutex<Stats>>) {
        let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1));
        let mut node = client;
        // Each client's users, linked to an account each before any of their usage.
        let users: Vec<String> = (0..8).map(|u| format!("soak-{}-c{client}-u{u}", self.run)).collect();
        let groups: Vec<Value> = users
            .iter()
            .enumerate()
            .map(|(u, user)| {
                let (_, account) = &self.accounts[(client * 8 + u) % self.accounts.len()];
                json!({
                    "type": "group", "userId": user, "groupId": account,
                    "messageId": format!("soak-{}-c{client}-g{u}", self.run),
                    "timestamp": chrono::Utc::now().to_rfc3339(),
                })
            })
            .collect();
        if !self
            .send(&mut node, "batch", "group batch", &json!({"batch": groups}), &stats)
            .await
        {
            return;
        }
        let mut seq = 0u64;
        while Instant::now() < self.deadline {
            let single = dice.below(4) == 0;
            let n = if single { 1 } else { self.batch };
            let calls: Vec<Value> = (0..n)
                .map(|_| {
                    seq += 1;
                    json!({
                        "type": "track",
                        "userId": users[dice.below(users.len())],
                        "event": if dice.below(3) == 0 { "soak_other" } else { "soak_feature" },
                        "messageId": format!("soak-{}-c{client}-{seq}", self.run),
                        "timestamp": chrono::Utc::now().to_rfc3339(),
                        "properties": {"value": 1},
                    })
                })
                .collect();
            let ids: Vec<String> = calls
                .iter()
                .filter_map(|c| c["messageId"].as_str().map(str::to_string))
                .collect();
            let acknowledged = if single {
                let mut call = calls.into_iter().next().unwrap_or_default();
                if let Some(object) = call.as_object_mut() {
                    object.remove("type");
                }
                self.send(&mut node, "track", "track (single call)", &call, &stats)
                    .await
            } else {
                let kind = format!("batch ({n} calls)");
                self.send(&mut node, "batch", &kind, &json!({"batch": calls}), &stats)
                    .await
            };
            if acknowledged {
                record(&stats, |s| s.acknowledged.extend(ids));
            }
            node += 1;
        }
    }

    /// Logs in (any node: sessions live in the database); the session cookie.
    async fn log_in(&self, node: usize) -> Result<String> {
        let url = &self.page_urls[node % self.page_urls.len()];
        let form = self.http.get(format!("{url}/login")).send().await?;
        let csrf = cookie(&form, "laer_login_csrf").context("the login page set no CSRF cookie")?;
        let answer = self
            .http
            .post(format!("{url}/login"))
            .header("cookie", format!("laer_login_csrf={csrf}"))
            .form(&[
                ("email", self.email.as_str()),
                ("password", self.password.as_str()),
                ("csrf", csrf.as_str()),
                ("next", "/portfolio"),
            ])
            .send()
            .await?;
        cookie(&answer, "laer_session")
            .filter(|s| !s.is_empty())
            .with_context(|| format!("login answered {} without a session", answer.status()))
    }

    async fn pages(&self, client: usize, stats: Arc<Mutex<Stats>>) {
        let mut dice = Dice(0xD1B5_4A32_D192_ED03 ^ (client as u64 + 1));
        let mut node = client;
        let mut session = None;
        while Instant::now() < self.deadline {
            let Some(secret) = session.clone() else {
                match self.log_in(node).await {
                    Ok(s) => session = Some(s),
                    Err(e) => {
                        record(&stats, |s| *s.failures.entry(format!("login: {e}")).or_default() += 1);
                        node += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
                continue;
            };
            let (kind, path) = match dice.below(5) {
                0 => ("page /portfolio".to_string(), "/portfolio".to_string()),
                1 => ("page /work".into(), "/work".into()),
                2 => ("page /renewals".into(), "/renewals".into()),
                3 => ("page /revenue".into(), "/revenue".into()),
                _ => {
                    let (id, _) = self.accounts[dice.below(self.accounts.len())];
                    ("page /accounts/{id}".into(), format!("/accounts/{id}"))
                }
            };
            let url = format!("{}{path}", self.page_urls[node % self.page_urls.len()]);
            let started = Instant::now();
            let answer = self
                .http
                .get(&url)
                .header("cookie", format!("laer_session={secret}"))
                .send()
                .await;
            let took = started.elapsed();
            match answer {
                Ok(r) if r.status() == reqwest::StatusCode::OK => {
                    // The whole page, as a browser reads it.
                    if r.bytes().await.is_ok() {
                        record(&stats, |s| s.latencies.entry(kind).or_default().push(took));
                    }
                }
                Ok(r) => {
                    let status = r.status();
                    record(&stats, |s| {
                        *s.failures.entry(format!("{kind}: HTTP {status}")).or_default() += 1
                    });
                    if status.is_redirection() {
                        session = None;
                    }
                }
                Err(_) => record(&stats, |s| {
                    *s.failures.entry(format!("{kind}: no answer")).or_default() += 1
                }),
            }
            node += 1;
        }
    }
}

/// A cookie's value from an answer's `Set-Cookie` headers.
fn cookie(answer: &reqwest::Response, name: &str) -> Option<String> {
    answer
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (n, value) = pair.split_once('=')?;
            (n.trim() == name).then(|| value.trim().to_string())
        })
}
