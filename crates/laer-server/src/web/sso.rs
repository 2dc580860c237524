//! Single sign-on with OpenID Connect (docs/access.md, "Single sign-on"): the
//! authorization code flow with PKCE (S256) against a provider found by discovery
//! (`/.well-known/openid-configuration`): Okta, Google, Microsoft Entra ID, Keycloak.
//!
//! `/auth/oidc/start` keeps the sign-in under way in the store (found by its `state`,
//! which the browser also holds in a cookie of its own, so that any node can finish it)
//! and sends the browser to the provider. `/auth/oidc/callback` accepts only the `state`
//! this browser started with, takes the sign-in once, exchanges the code with the PKCE
//! verifier and the client's secret, and verifies the ID token (`openidconnect`: its
//! signature against the provider's keys, issuer, audience, expiry, nonce). Who gets in
//! as whom is `laer_core::sso::decide`, applied by `Store::sso_sign_in`; the session is
//! the one a password login starts. The client secret never appears in logs, URLs or
//! pages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use chrono::{TimeDelta, Utc};
use laer_core::sso::RoleMapping;
use laer_store::{SsoIdentity, SsoLogin};
use maud::{Markup, html};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;

use super::session::{constant_time_eq, cookie, safe_next, set_cookie, signed_in};
use super::{PageError, bare_page, percent_encode};
use crate::site::ClientAddress;
use crate::{AppState, Site};

/// The cookie holding the `state` of the sign-in this browser started.
const STATE_COOKIE: &str = "laer_sso_state";
/// How long a sign-in may take at the provider.
const SIGN_IN_MINUTES: i64 = 10;
/// How long the provider's discovery document and keys are reused (keys are fetched
/// again at once when an ID token is signed with one not known).
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The path the provider sends people back to, after the public URL.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";

/// How laer signs people in with an OpenID provider (`laer serve --sso-*`).
#[derive(Clone)]
pub struct SsoConfig {
    /// The provider's issuer URL, e.g. `https://example.okta.com` (discovery is at
    /// `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// The client's secret (from the environment or a file; never logged).
    pub client_secret: Option<String>,
    /// The provider's name on the login page's button: "Sign in with <name>".
    pub name: String,
    /// Scopes asked for besides `openid` (by default `email profile`).
    pub scopes: Vec<String>,
    /// The ID token's claim that carries the role (`laer_role`, `groups`, `roles`,
    /// `realm_access.roles`), if any.
    pub role_claim: Option<String>,
    /// How the claim's values map to roles.
    pub role_mapping: RoleMapping,
    /// Takes the email as verified when the provider says nothing (`email_verified`
    /// absent), as Entra ID does: only for a provider whose emails all belong to you.
    pub trust_email: bool,
    /// Whether people may also log in with a password.
    pub password_logins: bool,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("role_claim", &self.role_claim)
            .field("trust_email", &self.trust_email)
            .field("password_logins", &self.password_logins)
            .finish()
    }
}

/// A single sign-on configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SsoConfigError {
    #[error("single sign-on needs the public URL people reach laer at (--public-url), to build its redirect URI")]
    NoPublicUrl,
    #[error("the issuer URL {url:?} is not an absolute URL: {reason}")]
    Issuer { url: String, reason: String },
    #[error("the redirect URI {uri:?} is not a URL: {reason}")]
    RedirectUri { uri: String, reason: String },
    #[error("single sign-on needs a client id (--sso-client-id)")]
    NoClientId,
    #[error("cannot make the HTTP client for the provider: {0}")]
    Http(#[source] reqwest::Error),
}

type ProviderClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Single sign-on as the server runs it: the configuration, the redirect URI, and the
/// provider's discovery document and keys while they are fresh.
pub(crate) struct Sso {
    config: SsoConfig,
    issuer: IssuerUrl,
    redirect_uri: RedirectUrl,
    http: reqwest::Client,
    provider: tokio::sync::Mutex<Option<(Instant, Arc<ProviderClient>)>>,
}

/// Why a sign-in failed after the provider sent the person back.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot read the provider's discovery document or keys")]
    Discovery(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the provider has no token endpoint")]
    NoTokenEndpoint,
    #[error("the provider refused the code")]
    Token(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the provider's answer carries no ID token")]
    NoIdToken,
    #[error("the ID token is not valid")]
    IdToken(#[source] ClaimsVerificationError),
}

/// An error with its sources, for the log.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Sso {
    /// Checks the configuration; the redirect URI is `<public URL>/auth/oidc/callback`.
    pub(crate) fn new(config: SsoConfig, site: &Site) -> Result<Sso, SsoConfigError> {
        let public_url = site.public_url().ok_or(SsoConfigError::NoPublicUrl)?;
        if config.client_id.trim().is_empty() {
            return Err(SsoConfigError::NoClientId);
        }
        let issuer =
            IssuerUrl::new(config.issuer.trim_end_matches('/').to_string()).map_err(|e| SsoConfigError::Issuer {
                url: config.issuer.clone(),
                reason: e.to_string(),
            })?;
        let uri = format!("{}{CALLBACK_PATH}", public_url.as_str().trim_end_matches('/'));
        let redirect_uri = RedirectUrl::new(uri.clone()).map_err(|e| SsoConfigError::RedirectUri {
            uri,
            reason: e.to_string(),
        })?;
        // No redirects: the provider's endpoints are taken as discovery names them.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(SsoConfigError::Http)?;
        Ok(Sso {
            config,
            issuer,
            redirect_uri,
            http,
            provider: Default::default(),
        })
    }

    /// `<public URL>/auth/oidc/callback`, where the provider sends people back.
    pub(crate) fn redirect_uri(&self) -> &str {
        self.redirect_uri.as_str()
    }

    /// The provider's name on the login page.
    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether password logins are on beside single sign-on.
    pub(crate) fn password_logins(&self) -> bool {
        self.config.password_logins
    }

    /// The login page's button, back to `next` afterwards.
    pub(crate) fn button(&self, next: &str) -> Markup {
        html! {
            a.button.sso href={ "/auth/oidc/start?next=" (percent_encode(next, "/")) } {
                "Sign in with " (self.name())
            }
        }
    }

    /// The provider's client, discovered again when `fresh` or when the last discovery
    /// is older than [`DISCOVERY_TTL`].
    async fn client(&self, fresh: bool) -> Result<Arc<ProviderClient>, Failure> {
        let mut cached = self.provider.lock().await;
        if let Some((at, client)) = cached.as_ref()
            && !fresh
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(client.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| Failure::Discovery(Box::new(e)))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect_uri.clone());
        let client = Arc::new(client);
        *cached = Some((Instant::now(), client.clone()));
        Ok(client)
    }

    /// Exchanges the code and verifies the ID token; the identity it names.
    async fn verify(&self, code: String, login: SsoLogin) -> Result<Verified, Failure> {
        let client = self.client(false).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| Failure::NoTokenEndpoint)?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| Failure::Token(Box::new(e)))?;
        let id_token = token.id_token().ok_or(Failure::NoIdToken)?;
        let nonce = Nonce::new(login.nonce);
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // The provider may have rotated its keys since they were read.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(true).await?;
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(Failure::IdToken)?
                    .clone()
            }
            Err(e) => return Err(Failure::IdToken(e)),
        };
        // The claims beyond the standard ones (the role claim), read from the token whose
        // signature was just verified.
        let payload = id_token
            .to_string()
            .split('.')
            .nth(1)
            .and_then(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok())
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .unwrap_or_default();
        let role_values = self
            .config
            .role_claim
            .as_deref()
            .map(|claim| claim_values(&payload, claim))
            .unwrap_or_default();
        let verified = match claims.email_verified() {
            Some(verified) => verified,
            None => self.config.trust_email,
        };
        let email = claims
            .email()
            .filter(|_| verified)
            .and_then(|e| laer_core::access::login_email(e.as_str()).ok());
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().chars().take(laer_core::parse::MAX_LINE_CHARS).collect());
        Ok(Verified {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email,
            name,
            claimed_role: self.config.role_mapping.role(&role_values),
        })
    }
}

/// The identity an ID token names, verified.
struct Verified {
    issuer: String,
    subject: String,
    /// Only when the provider vouches for it.
    email: Option<String>,
    name: Option<String>,
    claimed_role: Option<laer_core::access::Role>,
}

/// The values of a claim: a string, or an array's strings. A name not found as it is is
/// followed as a path through objects (`realm_access.roles`).
fn claim_values(payload: &serde_json::Value, claim: &str) -> Vec<String> {
    let found = payload
        .get(claim)
        .or_else(|| claim.split('.').try_fold(payload, |value, key| value.get(key)));
    match found {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/start", get(start))
        .route(CALLBACK_PATH, get(callback))
}

/// A page saying why the sign-in did not happen.
fn failure(status: StatusCode, title: &str, message: &str) -> Response {
    let body = bare_page(
        title,
        html! {
            section.card.narrow {
                h1 { (title) }
                p role="alert" { (message) }
                p { a href="/login" { "Back to the login page" } }
            }
        },
    );
    (status, [(header::SET_COOKIE, set_cookie(STATE_COOKIE, "", 0))], body).into_response()
}

/// With password logins switched off, what a password link's page answers instead: no
/// password is set and nobody is logged in; the person signs in with the provider, and
/// their verified email claims the invitation.
pub(crate) fn passwords_off(state: &AppState) -> Option<Response> {
    let sso = state.sso.as_deref().filter(|sso| !sso.password_logins())?;
    let body = bare_page(
        "Sign in with single sign-on",
        html! {
            section.card.narrow.login {
                h1 { "Password logins are switched off" }
                p { "This laer signs people in with " (sso.name()) " only. Sign in there with the email address this link was sent to." }
                (sso.button("/"))
            }
        },
    );
    Some((StatusCode::FORBIDDEN, [(header::REFERRER_POLICY, "no-referrer")], body).into_response())
}

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

/// Sends the browser to the provider, with the sign-in kept for its return.
async fn start(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(sso) = state.sso.clone() else {
        return PageError::NotFound("single sign-on".into()).into_response();
    };
    match laer_app::logins::sso_start_allowed(&state.store, address).await {
        Ok(true) => {}
        Ok(false) => {
            let wait = laer_core::throttle::SSO_ADDRESS.window;
            let mut refused = failure(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ins",
                &format!(
                    "Too many sign-ins were started from your network address; try again in {}.",
                    laer_core::throttle::wait_words(wait)
                ),
            );
            refused
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(wait.num_seconds()));
            return refused;
        }
        Err(e) => return PageError::from(e).into_response(),
    }
    let client = match sso.client(false).await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(issuer = %sso.issuer.as_str(), error = %chain(&e), "single sign-on: provider unreachable");
            return failure(
                StatusCode::BAD_GATEWAY,
                "Sign-in unavailable",
                &format!("laer cannot reach {} just now. Try again in a moment.", sso.name()),
            );
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in sso.config.scopes.iter().filter(|s| s.as_str() != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.set_pkce_challenge(challenge).url();
    let login = SsoLogin {
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        next: safe_next(q.next.as_deref()),
    };
    let expires = Utc::now() + TimeDelta::minutes(SIGN_IN_MINUTES);
    if let Err(e) = state.store.begin_sso_login(csrf.secret(), &login, expires).await {
        return PageError::from(e).into_response();
    }
    (
        [(
            header::SET_COOKIE,
            set_cookie(STATE_COOKIE, csrf.secret(), SIGN_IN_MINUTES * 60),
        )],
        Redirect::to(url.as_str()),
    )
        .into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// The issuer that answers (RFC 9207), when the provider says.
    iss: Option<String>,
}

/// The provider sends the browser back here: checks the state, verifies the ID token,
/// signs the person in.
async fn callback(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<CallbackQuery>) -> Response {
    let Some(sso) = state.sso.clone() else {
        return PageError::NotFound("single sign-on".into()).into_response();
    };
    const START_AGAIN: &str = "This sign-in was not started in this browser, was already used, or took too long. Start again from the login page.";
    let expected = cookie(&headers, STATE_COOKIE).filter(|c| !c.is_empty());
    let sent = q.state.as_deref().unwrap_or_default();
    if !matches!(&expected, Some(e) if constant_time_eq(e.as_bytes(), sent.as_bytes())) {
        tracing::warn!("single sign-on refused: the state does not match this browser's");
        return failure(StatusCode::BAD_REQUEST, "Sign-in refused", START_AGAIN);
    }
    let login = match state.store.take_sso_login(sent).await {
        Ok(Some(login)) => login,
        Ok(None) => {
            tracing::warn!("single sign-on refused: no sign-in under way with this state");
            return failure(StatusCode::BAD_REQUEST, "Sign-in refused", START_AGAIN);
        }
        Err(e) => return PageError::from(e).into_response(),
    };
    if let Some(error) = q.error.as_deref() {
        tracing::info!(error, "single sign-on: the provider answered with an error");
        return failure(
            StatusCode::UNAUTHORIZED,
            "Sign-in not completed",
            &format!("{} did not sign you in ({error}).", sso.name()),
        );
    }
    if q.iss
        .as_deref()
        .is_some_and(|iss| iss.trim_end_matches('/') != sso.issuer.as_str().trim_end_matches('/'))
    {
        tracing::warn!("single sign-on refused: the answer names another issuer");
        return failure(StatusCode::BAD_REQUEST, "Sign-in refused", START_AGAIN);
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return failure(StatusCode::BAD_REQUEST, "Sign-in refused", START_AGAIN);
    };
    let verified = match sso.verify(code, login.clone()).await {
        Ok(verified) => verified,
        Err(e) => {
            tracing::warn!(issuer = %sso.issuer.as_str(), error = %chain(&e), "single sign-on refused");
            // What was wrong with an ID token is shown (it names no secret); the
            // provider's other answers only in the log.
            let why = match &e {
                Failure::IdToken(reason) => format!("{e} ({reason})"),
                _ => e.to_string(),
            };
            return failure(
                StatusCode::UNAUTHORIZED,
                "Sign-in refused",
                &format!(
                    "laer could not confirm your sign-in with {}: {why}. Start again from the login page; if it keeps failing, tell an admin of laer.",
                    sso.name()
                ),
            );
        }
    };
    let identity = SsoIdentity {
        issuer: &verified.issuer,
        subject: &verified.subject,
        verified_email: verified.email.as_deref(),
        name: verified.name.as_deref(),
        claimed_role: verified.claimed_role,
    };
    let user = match state.store.sso_sign_in(&identity).await {
        Ok(Ok(user)) => user,
        Ok(Err(refusal)) => {
            tracing::warn!(
                issuer = %verified.issuer, subject = %verified.subject, reason = refusal.as_str(),
                "single sign-on refused"
            );
            return failure(StatusCode::FORBIDDEN, "No access to laer", refusal.message());
        }
        Err(e) => return PageError::from(e).into_response(),
    };
    tracing::info!(user_id = user.id, issuer = %verified.issuer, "signed in with single sign-on");
    signed_in(&state, user.id, Some(&login.next), STATE_COOKIE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_claims_are_strings_arrays_or_paths() {
        let payload = serde_json::json!({
            "laer_role": "csm",
            "groups": ["staff", "laer-admins", 3],
            "realm_access": {"roles": ["leader"]},
            "https://example.com/roles": ["viewer"],
        });
        assert_eq!(claim_values(&payload, "laer_role"), ["csm"]);
        assert_eq!(claim_values(&payload, "groups"), ["staff", "laer-admins"]);
        assert_eq!(claim_values(&payload, "realm_access.roles"), ["leader"]);
        assert_eq!(claim_values(&payload, "https://example.com/roles"), ["viewer"]);
        assert!(claim_values(&payload, "missing").is_empty());
    }

    #[test]
    fn the_secret_is_not_in_the_debug_text() {
        let config = SsoConfig {
            issuer: "https://idp.example".into(),
            client_id: "laer".into(),
            client_secret: Some("very-secret-value".into()),
            name: "Okta".into(),
            scopes: vec![],
            role_claim: None,
            role_mapping: RoleMapping::default(),
            trust_email: false,
            password_logins: true,
        };
        assert!(!format!("{config:?}").contains("very-secret-value"));
        assert!(matches!(
            Sso::new(config, &Site::default()),
            Err(SsoConfigError::NoPublicUrl)
        ));
    }
}
