//! Reading Stripe (issue 17): its list endpoints page by page with `starting_after`, a
//! restricted read key sent only in the `Authorization` header (never in a URL, a log or
//! an error), Stripe's rate limit (429) answered by waiting — its `Retry-After`, else a
//! doubling wait — and every failure a typed error that says what to do. The objects are
//! read as `laer_core::billing::objects` declares them; their MRR by docs/metrics.md, "MRR from Stripe".

use std::time::Duration;

use laer_core::billing::objects::List;
use serde::de::DeserializeOwned;

/// Stripe's API.
pub const STRIPE_API: &str = "https://api.stripe.com";
/// Objects per page (Stripe's largest).
pub const PAGE: usize = 100;
/// Tries of one request while Stripe answers 429 or 5xx.
const TRIES: u32 = 6;

/// A key for Stripe's API: shown to nobody, not even in a debug print.
#[derive(Clone)]
pub struct StripeKey(String);

impl StripeKey {
    /// A key as an admin gave it: `sk_` or `rk_` (restricted), live or test.
    pub fn new(key: &str) -> Result<StripeKey, StripeError> {
        let key = key.trim();
        let known = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"];
        if !known.iter().any(|p| key.starts_with(p)) || key.len() < 12 || key.chars().any(char::is_whitespace) {
            return Err(StripeError::NotAKey);
        }
        Ok(StripeKey(key.to_string()))
    }

    /// The key's own text, for sealing it at rest.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StripeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeKey(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("that is not a Stripe secret or restricted key (sk_… or rk_…, live or test)")]
    NotAKey,
    #[error("Stripe refused the key (401): it is wrong or was revoked; connect again with a current restricted key")]
    Unauthorized,
    #[error("the key may not read {what} (403): give the restricted key read access to {what}")]
    Forbidden { what: String },
    #[error("Stripe answered {status} for {what}: {message}")]
    Api { status: u16, what: String, message: String },
    #[error("Stripe still answered 429 (too many requests) for {what} after {tries} tries; the sync resumes later")]
    RateLimited { what: String, tries: u32 },
    #[error("could not reach Stripe at {base}")]
    Unreachable {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Stripe's answer for {what} could not be read: {problem}")]
    Unreadable { what: String, problem: String },
}

/// How long to wait before try `attempt` (from 1) after a 429 or a 5xx: Stripe's
/// `Retry-After` when it gives one (at most a minute), else half a second doubling, at
/// most 30 s.
pub fn retry_wait(attempt: u32, retry_after: Option<u64>) -> Duration {
    match retry_after {
        Some(seconds) => Duration::from_secs(seconds.min(60)),
        None => Duration::from_millis(500u64.saturating_mul(1 << attempt.saturating_sub(1).min(6)))
            .min(Duration::from_secs(30)),
    }
}

/// A reader of one Stripe account.
#[derive(Clone, Debug)]
pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    key: StripeKey,
}

impl StripeClient {
    /// A client of Stripe's API at `base` (Stripe's own, or a test server's).
    pub fn new(base: &str, key: StripeKey) -> StripeClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        StripeClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    /// One page of `path` (`/v1/subscriptions`), after the object `starting_after`.
    pub async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
        starting_after: Option<&str>,
    ) -> Result<List<T>, StripeError> {
        let limit = PAGE.to_string();
        let mut query: Vec<(&str, &str)> = params.to_vec();
        query.push(("limit", &limit));
        if let Some(after) = starting_after {
            query.push(("starting_after", after));
        }
        self.get(path, &query).await
    }

    /// Every object of `path`, page after page; `seen` hears of each page as it comes
    /// (the last object's id is where a stopped sync resumes).
    pub async fn all<T: DeserializeOwned + HasId>(
        &self,
        path: &str,
        params: &[(&str, &str)],
        mut seen: impl FnMut(&[T]),
    ) -> Result<Vec<T>, StripeError> {
        let mut all: Vec<T> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page: List<T> = self.page(path, params, after.as_deref()).await?;
            seen(&page.data);
            let last = page.data.last().map(|o| o.id().to_string());
            all.extend(page.data);
            match (page.has_more, last) {
                (true, Some(last)) => after = Some(last),
                _ => return Ok(all),
            }
        }
    }

    /// One object: `GET path`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, StripeError> {
        let what = path.trim_start_matches("/v1/").to_string();
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self
                .http
                .get(&url)
                .bearer_auth(self.key.expose())
                .query(query)
                .send()
                .await
                .map_err(|source| StripeError::Unreachable {
                    base: self.base.clone(),
                    source: source.without_url(),
                })?;
            let status = response.status().as_u16();
            if status == 429 || status >= 500 {
                if attempt >= TRIES {
                    return Err(match status {
                        429 => StripeError::RateLimited { what, tries: attempt },
                        _ => StripeError::Api {
                            status,
                            what,
                            message: "Stripe's servers failed; the sync resumes later".into(),
                        },
                    });
                }
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                tracing::info!(what = %what, status, attempt, "Stripe asks to wait");
                tokio::time::sleep(retry_wait(attempt, retry_after)).await;
                continue;
            }
            let body = response.text().await.map_err(|source| StripeError::Unreachable {
                base: self.base.clone(),
                source: source.without_url(),
            })?;
            return match status {
                200 => serde_json::from_str(&body).map_err(|e| StripeError::Unreadable {
                    what,
                    problem: e.to_string(),
                }),
                401 => Err(StripeError::Unauthorized),
                403 => Err(StripeError::Forbidden { what }),
                _ => Err(StripeError::Api {
                    status,
                    what,
                    message: error_message(&body),
                }),
            };
        }
    }
}

/// Stripe's error message in an error answer (`{"error": {"message": ...}}`).
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(String::from))
        .unwrap_or_else(|| "no message".into())
}

/// An object with a Stripe id, for paging.
pub trait HasId {
    fn id(&self) -> &str;
}

impl HasId for laer_core::billing::objects::Subscription {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for laer_core::billing::objects::Customer {
    fn id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_stripe_then_double() {
        assert_eq!(retry_wait(1, Some(3)), Duration::from_secs(3));
        assert_eq!(retry_wait(1, Some(3600)), Duration::from_secs(60), "at most a minute");
        assert_eq!(retry_wait(1, None), Duration::from_millis(500));
        assert_eq!(retry_wait(3, None), Duration::from_secs(2));
        assert_eq!(retry_wait(20, None), Duration::from_secs(30));
    }

    #[test]
    fn a_key_is_checked_and_never_shown() {
        assert!(matches!(
            StripeKey::new("pk_test_abc123456789"),
            Err(StripeError::NotAKey)
        ));
        assert!(matches!(
            StripeKey::new("sk_test_ab cd efgh"),
            Err(StripeError::NotAKey)
        ));
        let key = StripeKey::new(" rk_test_51Hsecretsecret ").unwrap();
        assert_eq!(key.expose(), "rk_test_51Hsecretsecret");
        let client = StripeClient::new(STRIPE_API, key);
        assert!(!format!("{client:?}").contains("secret"), "{client:?}");
        assert!(!StripeError::Unauthorized.to_string().contains("rk_"));
    }
}
