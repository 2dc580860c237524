//! Sends the outbox: emails over SMTP and webhook requests signed with HMAC-SHA256,
//! retried with exponential backoff. Any number of nodes may run it: each claims its
//! deliveries for a while before sending them (docs/automation.md#emails-and-webhooks).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::Mac;
use laer_core::chat::{self, ChatMessage};
use laer_store::{Delivery, DeliveryOutcome, Store, Target};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

/// Where emails go out and how failures are retried.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// An SMTP server URL as lettre reads it: `smtp://host:25` (STARTTLS when offered is
    /// not tried; add `?tls=required`), `smtps://user:password@host` (TLS). `None`: emails
    /// are skipped.
    pub smtp_url: Option<String>,
    /// The sender of every email.
    pub from: String,
    /// The wait before the first retry; it doubles with each failure, up to an hour.
    pub retry_base: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: i64,
    /// How often the outbox is looked at.
    pub tick: Duration,
    /// The server keys that open webhook secrets (docs/operations.md#secrets-at-rest);
    /// without them, a sealed secret cannot sign and its requests wait and are retried.
    pub secrets: Option<laer_store::SecretBox>,
    /// laer's public address (`--public-url`): chat messages link into laer with it, and
    /// carry no links without it.
    pub public_url: Option<String>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            smtp_url: None,
            from: "laer <laer@localhost>".into(),
            retry_base: Duration::from_secs(30),
            max_attempts: 8,
            tick: Duration::from_secs(1),
            secrets: None,
            public_url: None,
        }
    }
}

impl DeliveryConfig {
    /// What is wrong with the SMTP URL or the sender, naming which.
    pub fn problem(&self) -> Option<String> {
        if let Some(url) = &self.smtp_url
            && let Err(e) = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        {
            return Some(format!("--smtp-url: {e}"));
        }
        self.from
            .parse::<Mailbox>()
            .err()
            .map(|e| format!("--smtp-from: expected a mailbox such as \"laer <cs@example.com>\": {e}"))
    }
}

/// How long a node holds its claim on deliveries it is sending.
const LEASE: TimeDelta = TimeDelta::seconds(120);
const BATCH: i64 = 20;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature header of a webhook request: `t=UNIX_SECONDS,v1=HEX`, where HEX is the
/// HMAC-SHA256 of `"{t}.{body}"` under the webhook's secret.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let code: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={code}")
}

/// The wait after the `attempts`-th failure.
fn backoff(base: Duration, attempts: i64) -> Duration {
    let factor = 2u32.saturating_pow(u32::try_from(attempts.clamp(0, 20)).unwrap_or(20));
    base.saturating_mul(factor).min(Duration::from_secs(3600))
}

/// Sends due deliveries until the task is dropped.
pub async fn run_deliveries(store: Store, config: DeliveryConfig) {
    let node = laer_store::random_id().unwrap_or_else(|_| format!("node-{}", std::process::id()));
    let http = match reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("deliveries: no HTTP client: {e}");
            return;
        }
    };
    let smtp = match config
        .smtp_url
        .as_deref()
        .map(AsyncSmtpTransport::<Tokio1Executor>::from_url)
    {
        Some(Ok(builder)) => Some(builder.build()),
        Some(Err(e)) => {
            tracing::error!("deliveries: the SMTP URL does not read: {e}");
            None
        }
        None => None,
    };
    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Utc::now();
        let claimed = match store.claim_deliveries(&node, now, now + LEASE, BATCH).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("deliveries: {e}");
                continue;
            }
        };
        for delivery in claimed {
            let result = send(&http, smtp.as_ref(), &config, &delivery).await;
            let outcome = match &result {
                Ok(()) => DeliveryOutcome::Sent,
                Err(Problem::Skip(why)) => DeliveryOutcome::Skipped(why),
                Err(Problem::Fail(error)) => {
                    tracing::warn!("delivery {} ({}) failed for good: {error}", delivery.id, delivery.event);
                    DeliveryOutcome::Failed { error, retry_at: None }
                }
                Err(Problem::Retry(error)) => {
                    let attempts = delivery.attempts + 1;
                    let retry_at: Option<DateTime<Utc>> = (attempts < config.max_attempts).then(|| {
                        Utc::now() + TimeDelta::from_std(backoff(config.retry_base, attempts - 1)).unwrap_or(LEASE)
                    });
                    tracing::warn!("delivery {} ({}) failed: {error}", delivery.id, delivery.event);
                    DeliveryOutcome::Failed { error, retry_at }
                }
            };
            if let Err(e) = store.finish_delivery(delivery.id, outcome).await {
                tracing::warn!("delivery {}: {e}", delivery.id);
            }
        }
    }
}

enum Problem {
    /// It cannot be sent at all.
    Skip(String),
    /// It may go through later.
    Retry(String),
    /// The other side refused it for good (a chat hook revoked or its message refused).
    Fail(String),
}

async fn send(
    http: &reqwest::Client,
    smtp: Option<&AsyncSmtpTransport<Tokio1Executor>>,
    config: &DeliveryConfig,
    delivery: &Delivery,
) -> Result<(), Problem> {
    match &delivery.target {
        Target::Webhook {
            webhook_id,
            url,
            secret,
        } => {
            // A key this node lacks: another node, or this one given the key, signs it
            // on a later attempt. The message names the key, never the secret.
            let secret = secret
                .open(config.secrets.as_ref())
                .map_err(|e| Problem::Retry(format!("webhook {webhook_id}'s secret: {e}")))?;
            let body = delivery.payload.to_string();
            let signed = signature(&secret, Utc::now().timestamp(), &body);
            let response = http
                .post(url)
                .header("content-type", "application/json")
                .header("laer-event", &delivery.event)
                .header("laer-delivery", delivery.id.to_string())
                .header("laer-signature", signed)
                .body(body)
                .send()
                .await
                .map_err(|e| Problem::Retry(format!("POST {url}: {e}")))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(Problem::Retry(format!(
                    "POST {url}: HTTP {}",
                    response.status().as_u16()
                )))
            }
        }
        Target::Chat {
            hook_id,
            name,
            kind,
            url,
        } => {
            // The address is the hook's credential: messages name the hook, never it.
            let url = url
                .open(config.secrets.as_ref())
                .map_err(|e| Problem::Retry(format!("chat hook {name} ({hook_id})'s address: {e}")))?;
            let message: ChatMessage = serde_json::from_value(delivery.payload.clone())
                .map_err(|e| Problem::Skip(format!("chat hook {name}: the message does not read: {e}")))?;
            let body = chat::payload(*kind, &message.resolved(config.public_url.as_deref())).to_string();
            let response = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| Problem::Retry(format!("chat hook {name}: {}", causes(&e.without_url()))))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            // Slack says why in the body ("no_service", "invalid_blocks"); Teams too. Its
            // first kilobyte is enough, whatever the other side sends.
            let mut response = response;
            let mut body = Vec::new();
            while body.len() < 1024
                && let Ok(Some(chunk)) = response.chunk().await
            {
                body.extend_from_slice(&chunk);
            }
            let said: String = String::from_utf8_lossy(&body).trim().chars().take(200).collect();
            let error = format!(
                "chat hook {name}: {} answered HTTP {} {said}",
                kind.label(),
                status.as_u16()
            );
            if status.as_u16() == 429 || status.is_server_error() {
                Err(Problem::Retry(error))
            } else {
                Err(Problem::Fail(error))
            }
        }
        Target::Email { to } => {
            let Some(smtp) = smtp else {
                return Err(Problem::Skip(
                    "no SMTP server configured (laer serve --smtp-url)".into(),
                ));
            };
            let email = EmailPayload::deserialize(&delivery.payload).unwrap_or_default();
            let to: Mailbox = to
                .parse()
                .map_err(|e| Problem::Skip(format!("recipient {to:?}: {e}")))?;
            let from: Mailbox = config
                .from
                .parse()
                .map_err(|e| Problem::Skip(format!("sender {:?}: {e}", config.from)))?;
            let message = Message::builder()
                .from(from)
                .to(to)
                .subject(email.subject)
                .body(email.body.trim().to_string())
                .map_err(|e| Problem::Skip(format!("message: {e}")))?;
            smtp.send(message)
                .await
                .map(|_| ())
                .map_err(|e| Problem::Retry(format!("SMTP: {e}")))
        }
    }
}

/// An error and its causes, as "sending failed: connect: connection refused". A chat
/// hook's request error has had its address taken out first (`without_url`); what
/// remains names at most the host, never the address's secret path.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// What an email's delivery holds besides its recipient, as the outbox stores it; a field
/// it lacks is empty.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EmailPayload {
    subject: String,
    body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_documented_recipe() {
        // Python: hmac.new(b"whsec_test", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            signature("whsec_test", 1_700_000_000, "{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 0), Duration::from_secs(30));
        assert_eq!(backoff(base, 3), Duration::from_secs(240));
        assert_eq!(backoff(base, 30), Duration::from_secs(3600));
    }
}
