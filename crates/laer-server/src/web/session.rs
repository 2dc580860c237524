//! Logging in and out: session cookies, the current user, and CSRF tokens. A session's
//! secret lives only in its cookie (HttpOnly, SameSite=Lax, Secure); the store keeps its
//! hash. Every form carries the session's CSRF token; the login form, before there is a
//! session, a token that must match a cookie of its own.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use laer_core::access::Role;
use maud::html;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{PageError, bare_page, percent_encode};
use crate::AppState;
use crate::site::ClientAddress;
use laer_app::auth::{decoy_hash, verify_password};

pub(crate) const SESSION_COOKIE: &str = "laer_session";
const LOGIN_CSRF_COOKIE: &str = "laer_login_csrf";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        // Logins (issue 15): "Forgot your password?".
        .route("/login/forgot", get(super::forgot::page).post(super::forgot::request))
}

/// The logged-in person of a page request.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser {
    /// The user's id (who logged a touchpoint).
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub team_member_id: Option<i64>,
    pub csrf_token: String,
    /// Whether the workspace holds the demo company: every page says so.
    pub demo: bool,
    /// The session's secret, to end it.
    secret: String,
}

/// The value of a cookie in the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
}

pub(crate) fn set_cookie(name: &str, value: &str, max_age_seconds: i64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age={max_age_seconds}")
}

/// Where to go after logging in: a path on this site only.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    // Only plain path-and-query characters: browsers drop tabs and newlines from a
    // Location, which could turn "/\t/evil.example" into "//evil.example".
    let plain = |c: char| c.is_ascii_alphanumeric() || "/?=&-_.~%+,:".contains(c);
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && n.chars().all(plain) => n.to_string(),
        _ => "/portfolio".to_string(),
    }
}

/// Sends a request without a live session to the login page (and back afterwards).
pub(crate) struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        let next = percent_encode(&self.0, "/");
        Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let here = parts
            .uri
            .path_and_query()
            .map_or("/portfolio", |p| p.as_str())
            .to_string();
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(LoginRedirect(here).into_response());
        };
        match state.store.session(&secret).await {
            Ok(Some(session)) => Ok(CurrentUser {
                demo: session.demo,
                id: session.user.id,
                name: session.user.name,
                email: session.user.email,
                role: session.user.role,
                team_member_id: session.user.team_member_id,
                csrf_token: session.csrf_token,
                secret,
            }),
            Ok(None) => Err(LoginRedirect(here).into_response()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

impl CurrentUser {
    /// How the audit log names the user: "Kim Lee <kim@example.com>".
    pub(crate) fn actor(&self) -> String {
        format!("{} <{}>", self.name, self.email)
    }

    /// Whether a form carries this session's CSRF token.
    fn carries_csrf(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| constant_time_eq(t.as_bytes(), self.csrf_token.as_bytes()))
    }
}

/// The fields of a form that posts nothing but its CSRF token (a button: run now,
/// remove, send a test): `CsrfForm<Nothing>`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Nothing {}

/// A form posted by the logged-in user, accepted only when it carries the session's CSRF
/// token in its `csrf` field: every handler of a POST form takes one, so none can forget
/// the check. Without a session the request goes to the login page; without the token it
/// is refused with a page (403) and the handler never runs; a form whose fields do not
/// read as `T` gets a 400 naming the problem.
pub(crate) struct CsrfForm<T> {
    pub user: CurrentUser,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let user = CurrentUser::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        #[derive(Deserialize)]
        struct Token {
            csrf: Option<String>,
        }
        let token = serde_urlencoded::from_bytes::<Token>(&bytes).map_or(None, |t| t.csrf);
        if !user.carries_csrf(token.as_deref()) {
            return Err(csrf_refused());
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::BadRequest(format!("The form could not be read: {e}.")).into_response())?;
        Ok(CsrfForm { user, form })
    }
}

/// A multipart form (a file upload) posted by the logged-in user, accepted only when its
/// first field is `csrf` with the session's token: the same check as [`CsrfForm`], made
/// before any of the body past the token is read. The form puts the hidden `csrf` field
/// first (browsers send fields in the form's order); the handler reads the remaining
/// fields from `multipart`. Without a session the request goes to the login page; a body
/// that is not multipart, or lacks the token, is refused with 403.
pub(crate) struct CsrfMultipart {
    pub user: CurrentUser,
    pub multipart: axum::extract::Multipart,
}

/// How long a CSRF token may be; anything longer is not one.
const CSRF_FIELD_LIMIT: usize = 256;

impl FromRequest<AppState> for CsrfMultipart {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let user = CurrentUser::from_request_parts(&mut parts, state).await?;
        let mut multipart = axum::extract::Multipart::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| csrf_refused())?;
        let mut token = Vec::new();
        match multipart.next_field().await {
            Ok(Some(mut field)) if field.name() == Some("csrf") => {
                while let Ok(Some(chunk)) = field.chunk().await {
                    token.extend_from_slice(&chunk);
                    if token.len() > CSRF_FIELD_LIMIT {
                        return Err(csrf_refused());
                    }
                }
            }
            _ => return Err(csrf_refused()),
        }
        if !user.carries_csrf(std::str::from_utf8(&token).ok()) {
            return Err(csrf_refused());
        }
        Ok(CsrfMultipart { user, multipart })
    }
}

/// A form that has no fields but its CSRF token: a button.
#[derive(Debug, Deserialize)]
pub(crate) struct Button {}

pub(crate) fn csrf_refused() -> Response {
    let body = bare_page(
        "Refused",
        html! {
            section.card.narrow {
                h1 { "Refused" }
                p { "The form did not carry this session's security token, so nothing was changed. Reload the page and try again." }
            }
        },
    );
    (StatusCode::FORBIDDEN, body).into_response()
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::site::PlainHttp(plain_http): crate::site::PlainHttp,
    Query(q): Query<LoginQuery>,
) -> Response {
    // Already logged in: straight on.
    if let Some(secret) = cookie(&headers, SESSION_COOKIE)
        && let Ok(Some(_)) = state.store.session(&secret).await
    {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    login_page_noted(&state, q.next.as_deref(), None, StatusCode::OK, plain_http.as_deref())
}

fn login_page(state: &AppState, next: Option<&str>, error: Option<&str>, status: StatusCode) -> Response {
    login_page_noted(state, next, error, status, None)
}

/// The login page; `plain_http`: the host it was reached at over plain http, where
/// logging in cannot work (`web/plain_http.rs`).
fn login_page_noted(
    state: &AppState,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
    plain_http: Option<&str>,
) -> Response {
    // Single sign-on (web/sso.rs): its button, and the password form only if allowed.
    let sso = state.sso.as_deref();
    let passwords = sso.is_none_or(|sso| sso.password_logins());
    let token = match laer_store::random_id() {
        Ok(t) => t,
        Err(e) => return PageError::from(e).into_response(),
    };
    let body = bare_page(
        "Log in",
        html! {
            section.card.narrow.login {
                h1 { "laer" }
                p.muted { "Customer success: Land, Adopt, Expand, Renew." }
                @if let Some(error) = error { p.error role="alert" { (error) } }
                @if let Some(host) = plain_http { (super::plain_http::notice(host)) }
                @if let Some(sso) = sso {
                    (sso.button(&safe_next(next)))
                    @if passwords { p.or.muted { "or with your email and password" } }
                }
                @if passwords { form method="post" action="/login" {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="next" value=(safe_next(next));
                    label { "Email" input type="email" name="email" autocomplete="username" required autofocus; }
                    label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                    button type="submit" { "Log in" }
                }
                p.forgot { a href="/login/forgot" { "Forgot your password?" } } }
            }
        },
    );
    (
        status,
        [(header::SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, &token, 3600))],
        body,
    )
        .into_response()
}

/// The login form. Every field may be missing, so that the CSRF check comes first
/// whatever was sent; a missing email or password is a wrong one.
#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    csrf: Option<String>,
    next: Option<String>,
}

/// A login refused before its password was checked, with a `Retry-After`.
fn login_refused(
    state: &AppState,
    next: Option<&str>,
    message: &str,
    status: StatusCode,
    retry_after: i64,
) -> Response {
    let mut response = login_page(state, next, Some(message), status);
    if let Ok(value) = retry_after.max(1).to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `POST /login`. Throttled first (`laer_app::logins`: failures counted in the database
/// per email and address, per email and per address), then queued for a turn to check the
/// password (`login_queue`), then checked; a failure is counted, logged and audited.
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE);
    let sent = form.csrf.as_deref();
    if !matches!((expected.as_deref(), sent), (Some(e), Some(s)) if constant_time_eq(e.as_bytes(), s.as_bytes())) {
        return csrf_refused();
    }
    if let Some(sso) = state.sso.as_deref().filter(|sso| !sso.password_logins()) {
        let message = format!("Password logins are switched off: sign in with {}.", sso.name());
        return login_page(&state, form.next.as_deref(), Some(&message), StatusCode::FORBIDDEN);
    }
    let next = form.next.as_deref();
    // Waiting out a throttle, even with the right password: otherwise it throttles nothing.
    match laer_app::logins::throttled(&state.store, &form.email, address).await {
        Ok(Some(throttled)) => {
            tracing::warn!(
                email = %laer_app::logins::normal_email(&form.email),
                address = %laer_app::logins::shown_address(address),
                wait_seconds = throttled.wait().num_seconds(),
                "login refused: throttled"
            );
            return login_refused(
                &state,
                next,
                &throttled.message(),
                StatusCode::TOO_MANY_REQUESTS,
                throttled.wait().num_seconds() + 1,
            );
        }
        Ok(None) => {}
        Err(e) => return PageError::from(e).into_response(),
    }
    // Each check costs tens of MiB and milliseconds of argon2: a few at a time, the
    // rest wait their turn briefly.
    let turn = match super::login_queue::turn(address).await {
        Ok(turn) => turn,
        Err(super::login_queue::Busy::Address) => {
            return login_refused(
                &state,
                next,
                "Too many logins from your network address at once. Try again in a moment.",
                StatusCode::TOO_MANY_REQUESTS,
                2,
            );
        }
        Err(super::login_queue::Busy::Queue) => {
            tracing::warn!("login refused: no turn to check the password within the queue's wait");
            return login_refused(
                &state,
                next,
                "laer is busy checking many logins right now. Try again in a moment.",
                StatusCode::SERVICE_UNAVAILABLE,
                5,
            );
        }
    };
    let found = match state.store.user_for_login(&form.email).await {
        Ok(found) => found,
        Err(e) => return PageError::from(e).into_response(),
    };
    let password = form.password;
    // Verify against a decoy when the email is unknown: the same work either way.
    let (user, hash) = match found {
        Some(found) => (Some(found.user), found.password_hash),
        None => (None, decoy_hash().to_string()),
    };
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    drop(turn);
    if !verified {
        let known = user.as_ref();
        if let Err(e) = laer_app::logins::failed(&state.store, &form.email, address, known).await {
            return PageError::from(e).into_response();
        }
    }
    let Some(user) = user.filter(|_| verified) else {
        return login_page(
            &state,
            form.next.as_deref(),
            Some("Wrong email or password."),
            StatusCode::UNAUTHORIZED,
        );
    };
    if let Err(e) = laer_app::logins::succeeded(&state.store, &form.email, address).await {
        return PageError::from(e).into_response();
    }
    signed_in(&state, user.id, next, LOGIN_CSRF_COOKIE).await
}

/// Starts a session for a person just logged in (by password or single sign-on): its
/// cookie set, the login's own cookie `done_cookie` cleared, and on to `next`.
pub(crate) async fn signed_in(state: &AppState, user_id: i64, next: Option<&str>, done_cookie: &str) -> Response {
    let secret = match state.store.create_session(user_id).await {
        Ok(s) => s.secret,
        Err(e) => return PageError::from(e).into_response(),
    };
    let max_age = laer_store::SESSION_HOURS * 3600;
    let mut response = Redirect::to(&safe_next(next)).into_response();
    let headers = response.headers_mut();
    for cookie in [
        set_cookie(SESSION_COOKIE, &secret, max_age),
        set_cookie(done_cookie, "", 0),
    ] {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

async fn logout(State(state): State<AppState>, CsrfForm { user, .. }: CsrfForm<Button>) -> Response {
    if let Err(e) = state.store.end_session(&user.secret).await {
        return PageError::from(e).into_response();
    }
    (
        [(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0))],
        Redirect::to("/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_come_next() {
        assert_eq!(safe_next(Some("/accounts/3?x=1")), "/accounts/3?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/portfolio");
        assert_eq!(safe_next(Some("https://evil.example")), "/portfolio");
        assert_eq!(safe_next(Some("/\\evil.example")), "/portfolio");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/portfolio");
        assert_eq!(safe_next(Some("/x\n")), "/portfolio");
        assert_eq!(
            safe_next(Some("/portfolio?owner=all&q=acme%20co")),
            "/portfolio?owner=all&q=acme%20co"
        );
        assert_eq!(safe_next(None), "/portfolio");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; laer_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "laer_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
