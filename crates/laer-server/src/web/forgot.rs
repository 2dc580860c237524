//! "Forgot your password?" (issue 15): a person who cannot log in asks for a reset
//! link by email. The answer is the same page whether or not the email belongs to
//! anyone; the link (the single-use, expiring link an admin can also issue) goes out
//! through the outbox with the public URL (`site::Origin`), at most a few times an hour
//! per email and per address (`laer_app::logins::request_reset`). Without an SMTP
//! server, the page says to ask an admin instead. Like the login form, the form carries
//! a token that must match a cookie of its own, since there is no session.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use laer_app::logins::ResetRequest;
use laer_app::people::{LinkDelivery, RESET_HOURS};
use laer_core::access::login_email;
use maud::html;
use serde::Deserialize;

use super::form::{Input, Problems, field, summary};
use super::session::{constant_time_eq, cookie, csrf_refused, set_cookie};
use super::{PageError, bare_page};
use crate::AppState;
use crate::site::{ClientAddress, Origin};

const FORGOT_CSRF_COOKIE: &str = "laer_forgot_csrf";

/// The link back to the login page, under each card.
fn back() -> maud::Markup {
    html! { p { a href="/login" { "Back to the login page" } } }
}

/// Without an SMTP server: who to ask instead.
fn no_email_page() -> Response {
    let body = bare_page(
        "Forgot your password?",
        html! {
            section.card.narrow.login #forgot {
                h1 { "Forgot your password?" }
                p { "This laer cannot send emails (no SMTP server is configured), so it cannot send you a link." }
                p { "Ask an administrator of laer: they can give you a link to set a new password (Admin → People → Reset password)." }
                (back())
            }
        },
    );
    (StatusCode::OK, body).into_response()
}

fn form_page(email: &str, problems: &Problems, status: StatusCode) -> Response {
    let token = match laer_store::random_id() {
        Ok(t) => t,
        Err(e) => return PageError::from(e).into_response(),
    };
    let body = bare_page(
        "Forgot your password?",
        html! {
            section.card.narrow.login #forgot {
                h1 { "Forgot your password?" }
                p.muted { "Enter the email you log in with. If it has an account, laer emails it a link to choose a new password." }
                (summary(problems))
                form method="post" action="/login/forgot" {
                    input type="hidden" name="csrf" value=(token);
                    (field("Email", "email", Input::Email, email, problems))
                    button type="submit" { "Email me a link" }
                }
                (back())
            }
        },
    );
    (
        status,
        [(header::SET_COOKIE, set_cookie(FORGOT_CSRF_COOKIE, &token, 3600))],
        body,
    )
        .into_response()
}

/// `GET /login/forgot`.
pub(crate) async fn page(State(state): State<AppState>) -> Response {
    if !state.emails {
        return no_email_page();
    }
    form_page("", &Problems::new(), StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct ForgotForm {
    csrf: Option<String>,
    #[serde(default)]
    email: String,
}

/// `POST /login/forgot`: the same answer for any well-formed email (200); the form again
/// for one that is not an email (400); 429 when this address asked too often.
pub(crate) async fn request(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> Response {
    let expected = cookie(&headers, FORGOT_CSRF_COOKIE);
    if !matches!((expected.as_deref(), form.csrf.as_deref()), (Some(e), Some(s)) if constant_time_eq(e.as_bytes(), s.as_bytes()))
    {
        return csrf_refused();
    }
    if !state.emails {
        return no_email_page();
    }
    let mut problems = Problems::new();
    let Some(email) = problems.check("email", login_email(&form.email)) else {
        return form_page(&form.email, &problems, StatusCode::BAD_REQUEST);
    };
    let delivery = LinkDelivery {
        origin: &origin,
        email: state.emails,
    };
    let (status, heading, text) = match laer_app::logins::request_reset(&state.store, &email, address, delivery).await {
        Ok(ResetRequest::Answered { .. }) => (
            StatusCode::OK,
            "Check your email",
            format!(
                "If an account exists for {email}, a link to choose a new password is on its way. \
                 It works once, for {RESET_HOURS} hours. Nothing arrived? Check your spam folder, or ask an administrator of laer."
            ),
        ),
        Ok(ResetRequest::TooManyFromAddress) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Too many password reset requests from your network address; try again in an hour, or ask an administrator of laer."
                .to_string(),
        ),
        Err(e) => return PageError::from(e).into_response(),
    };
    let body = bare_page(
        heading,
        html! {
            section.card.narrow.login #forgot-sent {
                h1 { (heading) }
                p role="status" { (text) }
                (back())
            }
        },
    );
    (
        status,
        [(header::SET_COOKIE, set_cookie(FORGOT_CSRF_COOKIE, "", 0))],
        body,
    )
        .into_response()
}
