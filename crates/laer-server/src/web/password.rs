//! The page a one-time password link opens, without a login: the person invited (or
//! whose password an admin reset) checks their name and chooses a password, and is
//! logged in. The link's token is the key; an unknown, used, expired or withdrawn link
//! gets the same answer. Like the login form, the form carries a token that must match a
//! cookie of its own, since there is no session yet.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::{MIN_PASSWORD_CHARS, check_password};
use laer_core::parse::{MAX_LINE_CHARS, bounded};
use laer_store::{LinkHolder, LinkKind};
use maud::html;
use serde::Deserialize;

use super::form::{Input, Problems, field, summary};
use super::session::{SESSION_COOKIE, constant_time_eq, cookie, csrf_refused, set_cookie};
use super::{PageError, bare_page, message_page};
use crate::AppState;

const LINK_CSRF_COOKIE: &str = "laer_link_csrf";

/// The same answer for every link that does not work.
fn gone() -> Response {
    let page = message_page(
        "This link does not work",
        "It has been used, it has expired, or it was withdrawn. Ask an administrator of laer for a new one.",
    );
    (
        StatusCode::NOT_FOUND,
        [
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

fn form_page(holder: &LinkHolder, name: &str, problems: &Problems, status: StatusCode) -> Response {
    let token = match laer_store::random_id() {
        Ok(t) => t,
        Err(e) => return PageError::from(e).into_response(),
    };
    let (title, lead) = match holder.kind {
        LinkKind::Invite => ("Welcome to laer", "Check your name and choose a password to log in."),
        LinkKind::Reset => (
            "Choose a new password",
            "Your current password works until you save a new one.",
        ),
    };
    let body = bare_page(
        title,
        html! {
            section.card.narrow.login #set-password {
                h1 { (title) }
                p.muted { (lead) }
                (summary(problems))
                // The form posts to the address it came from, the link itself.
                form method="post" {
                    input type="hidden" name="csrf" value=(token);
                    p { "Email: " strong { (holder.user.email) } }
                    (field("Name", "name", Input::Text, name, problems))
                    (field(&format!("Password (at least {MIN_PASSWORD_CHARS} characters)"), "password", Input::Password, "", problems))
                    (field("Password again", "password_again", Input::Password, "", problems))
                    button type="submit" { "Save and log in" }
                }
            }
        },
    );
    (
        status,
        [
            (header::SET_COOKIE, set_cookie(LINK_CSRF_COOKIE, &token, 3600)),
            // The address holds the token: never sent on, never cached.
            (header::REFERRER_POLICY, "no-referrer".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// `GET /password/{token}`.
pub(crate) async fn form(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if let Some(off) = super::sso::passwords_off(&state) {
        return off;
    }
    match state.store.password_link(&token).await {
        Ok(Some(holder)) => {
            let name = holder.user.name.clone();
            form_page(&holder, &name, &Problems::new(), StatusCode::OK)
        }
        Ok(None) => gone(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The form as sent; a missing field is an empty one, so that the CSRF check comes first.
#[derive(Deserialize)]
pub(crate) struct SetPassword {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

/// `POST /password/{token}`: logged in and on to the portfolio (303), or the form again
/// with its problems (400).
pub(crate) async fn set(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SetPassword>,
) -> Response {
    if let Some(off) = super::sso::passwords_off(&state) {
        return off;
    }
    let expected = cookie(&headers, LINK_CSRF_COOKIE);
    if !matches!((expected.as_deref(), form.csrf.as_deref()), (Some(e), Some(s)) if constant_time_eq(e.as_bytes(), s.as_bytes()))
    {
        return csrf_refused();
    }
    let holder = match state.store.password_link(&token).await {
        Ok(Some(holder)) => holder,
        Ok(None) => return gone(),
        Err(e) => return PageError::from(e).into_response(),
    };
    let mut problems = Problems::new();
    let name = problems.check(
        "name",
        match form.name.trim() {
            "" => Err("a name is needed".to_string()),
            n => bounded(n, MAX_LINE_CHARS).map(str::to_string),
        },
    );
    problems.check("password", check_password(&form.password));
    if form.password != form.password_again {
        problems.add("password_again", "the two passwords differ");
    }
    let Some(name) = name.filter(|_| problems.is_empty()) else {
        return form_page(&holder, &form.name, &problems, StatusCode::BAD_REQUEST);
    };
    let user = match laer_app::people::use_link(&state.store, &token, &name, &form.password).await {
        Ok(Some(user)) => user,
        // Used by someone else meanwhile.
        Ok(None) => return gone(),
        Err(laer_app::people::PeopleError::Store(e)) => return PageError::from(e).into_response(),
        Err(e) => return PageError::Internal(e.to_string()).into_response(),
    };
    let secret = match state.store.create_session(user.id).await {
        Ok(s) => s.secret,
        Err(e) => return PageError::from(e).into_response(),
    };
    let mut response = Redirect::to("/portfolio").into_response();
    let headers = response.headers_mut();
    for cookie in [
        set_cookie(SESSION_COOKIE, &secret, laer_store::SESSION_HOURS * 3600),
        set_cookie(LINK_CSRF_COOKIE, "", 0),
    ] {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}
