//! The admin area: people (`manage_users`: invite by a one-time link, change a role,
//! deactivate and reactivate, reset a password by link) and API tokens and write keys
//! (`manage_keys`: create, with the secret shown once on the page that answers, list,
//! revoke). Every change is audited by the store (docs/access.md).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use laer_app::people::{IssuedLink, LinkDelivery};
use laer_core::access::{Permission, Role, login_email};
use laer_core::parse::{MAX_LINE_CHARS, bounded};
use laer_store::{ApiToken, LinkKind, Person, WriteKey};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{Input, Problems, csrf, field, refused, select, summary};
use super::session::{Button, CsrfForm};
use super::{CurrentUser, Nav, PageError, admin_pages, admin_tabs, layout, require};
use crate::AppState;
use crate::site::Origin;

/// `GET /admin`: the first admin page the role may use.
pub(crate) async fn home(user: CurrentUser) -> Result<Response, PageError> {
    let first = admin_pages(&user).next().map(|(href, _, _)| *href);
    match first {
        Some(href) => Ok(Redirect::to(href).into_response()),
        None => Err(PageError::Forbidden(Permission::ManageUsers, Box::new(user))),
    }
}

fn role_options() -> Vec<(String, String)> {
    Role::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), r.as_str().to_string()))
        .collect()
}

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "–".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn micros(at: i64) -> String {
    when(DateTime::from_timestamp_micros(at))
}

/// A page answering a form that made a secret: not kept by the browser's cache.
fn secret_page(page: Markup) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], page).into_response()
}

/// The invite form as sent (or empty), for showing again.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

fn invite_card(user: &CurrentUser, sent: &InviteForm, problems: &Problems) -> Markup {
    let role = if sent.role.is_empty() {
        "csm"
    } else {
        sent.role.as_str()
    };
    html! {
        section.card #invite {
            h2 { "Invite someone" }
            p.muted.small { "They get a link to choose their password, valid for " (laer_app::people::INVITE_DAYS) " days and usable once." }
            (summary(problems))
            form.inline-fields method="post" action="/admin/people/invite" {
                (csrf(user))
                (field("Email", "email", Input::Email, &sent.email, problems))
                (field("Name", "name", Input::Text, &sent.name, problems))
                (select("Role", "role", &role_options(), role, problems))
                button type="submit" { "Invite" }
            }
        }
    }
}

fn state_of(p: &Person) -> Markup {
    html! {
        @if p.user.disabled {
            span.badge.state-off { "deactivated" }
        } @else if !p.can_log_in() {
            span.badge.state-invited { "invited" }
        } @else {
            span.badge.state-on { "active" }
        }
        @if p.single_sign_on { " " span.tag { "single sign-on" } }
        @if let Some(link) = &p.pending_link {
            br;
            small.muted {
                @match link.kind { LinkKind::Invite => "invitation link", LinkKind::Reset => "reset link" }
                " until " (when(Some(link.expires_at))) ", from " (link.created_by)
            }
        }
    }
}

/// Whether `p` is the one active admin who can log in: they keep the role and stay
/// active.
fn last_admin(people: &[Person], p: &Person) -> bool {
    let can_admin = |q: &Person| q.user.role == Role::Admin && !q.user.disabled && q.can_log_in();
    can_admin(p) && people.iter().filter(|q| can_admin(q)).count() == 1
}

fn person_row(user: &CurrentUser, p: &Person, last_admin: bool) -> Markup {
    let action = format!("/admin/people/{}", p.user.id);
    let you = p.user.email == user.email;
    html! {
        tr #{"person-" (p.user.id)} class=@if p.user.disabled { "off" } {
            td { strong { (p.user.name) } @if you { " " span.tag { "you" } } }
            td { (p.user.email) }
            td {
                form.inline method="post" action=(action) {
                    (csrf(user))
                    input type="hidden" name="action" value="role";
                    input type="hidden" name="version" value=(p.version);
                    select name="role" aria-label={"Role of " (p.user.name)} {
                        @for r in Role::ALL { option value=(r.as_str()) selected[*r == p.user.role] { (r.as_str()) } }
                    }
                    button.secondary type="submit" { "Change" }
                }
            }
            td { (state_of(p)) }
            td.date { (when(p.last_login_at)) }
            td { div.actions {
                @if p.user.disabled {
                    form.inline method="post" action=(action) {
                        (csrf(user))
                        button.secondary type="submit" name="action" value="reactivate" { "Reactivate" }
                    }
                } @else {
                    @if p.password_set {
                        form.inline method="post" action=(action) {
                            (csrf(user))
                            button.secondary type="submit" name="action" value="reset" { "Reset password" }
                        }
                        // Logins (issue 15): logged out everywhere, still able to log in.
                        form.inline method="post" action=(action) {
                            (csrf(user))
                            button.secondary type="submit" name="action" value="end_sessions"
                                title="Log them out on every device; they can log in again" { "End sessions" }
                        }
                    } @else if !p.single_sign_on {
                        form.inline method="post" action="/admin/people/invite" {
                            (csrf(user))
                            input type="hidden" name="email" value=(p.user.email);
                            input type="hidden" name="name" value=(p.user.name);
                            input type="hidden" name="role" value=(p.user.role.as_str());
                            button.secondary type="submit" { "New invitation link" }
                        }
                    }
                    @if last_admin {
                        button.secondary.danger type="button" disabled
                            title="The last active admin cannot be deactivated: make someone else an admin first" { "Deactivate" }
                        small.muted { "the last active admin" }
                    } @else {
                        form.inline method="post" action=(action) {
                            (csrf(user))
                            button.secondary.danger type="submit" name="action" value="deactivate" { "Deactivate" }
                        }
                    }
                }
            } }
        }
    }
}

/// The people page, with the invite form as sent and the problems of the last form.
async fn people_page(
    state: &AppState,
    user: &CurrentUser,
    invite: &InviteForm,
    invite_problems: &Problems,
    problems: &Problems,
) -> Result<Markup, PageError> {
    let people = state.store.people().await?;
    let active = people.iter().filter(|p| !p.user.disabled && p.can_log_in()).count();
    Ok(layout(
        "People",
        Some(Nav::Admin),
        user,
        html! {
            (admin_tabs(user, "/admin/people"))
            div.page-head {
                h1 { "People" }
                p.muted { (active) " of " (people.len()) " can log in · each role's permissions: docs/access.md" }
            }
            (invite_card(user, invite, invite_problems))
            (summary(problems))
            table.data #people {
                thead { tr { th { "Name" } th { "Email" } th { "Role" } th { "State" } th { "Last login" } th { "" } } }
                tbody { @for p in &people { (person_row(user, p, last_admin(&people, p))) } }
            }
        },
    ))
}

/// `GET /admin/people`.
pub(crate) async fn people(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ManageUsers)?;
    let page = people_page(
        &state,
        &user,
        &InviteForm::default(),
        &Problems::new(),
        &Problems::new(),
    )
    .await?;
    Ok(page.into_response())
}

/// The page that shows a link just made, this once.
fn link_page(user: &CurrentUser, issued: &IssuedLink, what: &str) -> Response {
    let body = html! {
        section.card.narrow.wide #new-link {
            h1 { (what) " for " (issued.user.name) }
            p {
                "Give " (issued.user.name) " (" (issued.user.email) ") this link. It works once, until "
                (when(Some(issued.link.expires_at))) ". It is shown only now: laer keeps no copy of it."
            }
            p { input #password-link type="text" readonly value=(issued.url) aria-label="Password link"; }
            @if issued.emailed {
                p { "laer has also emailed it to " (issued.user.email) "." }
            } @else {
                p.muted { "No email server is configured (laer serve --smtp-url), so send it yourself." }
            }
            p { a href="/admin/people" { "Back to people" } }
        }
    };
    secret_page(layout(what, Some(Nav::Admin), user, body))
}

fn delivery<'a>(state: &AppState, origin: &'a str) -> LinkDelivery<'a> {
    LinkDelivery {
        origin,
        email: state.emails,
    }
}

/// `POST /admin/people/invite`: the link page, or the form again with its problems.
pub(crate) async fn invite(
    State(state): State<AppState>,
    Origin(origin): Origin,
    CsrfForm { user, form }: CsrfForm<InviteForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageUsers)?;
    let mut problems = Problems::new();
    let email = problems.check("email", login_email(&form.email));
    let name = problems.check(
        "name",
        match form.name.trim() {
            "" => Err("a name is needed".to_string()),
            n => bounded(n, MAX_LINE_CHARS).map(str::to_string),
        },
    );
    let role = problems.check("role", form.role.parse::<Role>());
    if let (Some(email), Some(name), Some(role)) = (&email, &name, role) {
        let invite = laer_store::NewInvite { email, name, role };
        match laer_app::people::invite(&state.store, &invite, delivery(&state, &origin), &user.actor()).await {
            Ok(issued) => return Ok(link_page(&user, &issued, "Invitation link")),
            Err(e) => problems = Problems::from_store(e)?,
        }
    }
    let page = people_page(&state, &user, &form, &problems, &Problems::new()).await?;
    Ok(refused(page))
}

/// A change to one person: `action` is `role` (with `role` and `version`),
/// `deactivate` (which also ends their sessions), `reactivate`, `reset` or
/// `end_sessions`.
#[derive(Debug, Deserialize)]
pub(crate) struct PersonChange {
    #[serde(default)]
    action: String,
    role: Option<String>,
    version: Option<String>,
}

/// `POST /admin/people/{id}`: back to the people page (303), the reset link's page, or
/// the people page with the problem (400).
pub(crate) async fn change_person(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Origin(origin): Origin,
    CsrfForm { user, form }: CsrfForm<PersonChange>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageUsers)?;
    let actor = user.actor();
    let mut problems = Problems::new();
    let done = match form.action.as_str() {
        "role" => {
            let role = problems.check("role", form.role.as_deref().unwrap_or("").parse::<Role>());
            let version = match form.version.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(v) => problems.check(
                    "version",
                    v.parse::<i64>()
                        .map_err(|_| format!("expected a whole number, found {v:?}")),
                ),
            };
            match role {
                Some(role) if problems.is_empty() => {
                    Some(state.store.set_user_role(id, role, version, &actor).await.map(|_| ()))
                }
                _ => None,
            }
        }
        "deactivate" => Some(state.store.deactivate_user(id, &actor).await.map(|_| ())),
        "reactivate" => Some(state.store.reactivate_user(id, &actor).await.map(|_| ())),
        "end_sessions" => Some(state.store.end_sessions_of(id, &actor).await.and_then(|ended| {
            ended
                .map(|_| ())
                .ok_or_else(|| laer_store::StoreError::NotFound(format!("person {id}")))
        })),
        "reset" => match laer_app::people::reset(&state.store, id, delivery(&state, &origin), &actor).await {
            Ok(issued) => return Ok(link_page(&user, &issued, "Password reset link")),
            Err(e) => Some(Err(e)),
        },
        other => {
            problems.add(
                "action",
                format!("expected role, deactivate, reactivate, reset or end_sessions, found {other:?}"),
            );
            None
        }
    };
    match done {
        Some(Ok(())) => return Ok(Redirect::to(&format!("/admin/people#person-{id}")).into_response()),
        Some(Err(laer_store::StoreError::NotFound(what))) => return Err(PageError::NotFound(what)),
        Some(Err(e)) => problems = Problems::from_store(e)?,
        None => {}
    }
    let page = people_page(&state, &user, &InviteForm::default(), &Problems::new(), &problems).await?;
    Ok(refused(page))
}

/// A token or key just made, shown once above the lists.
enum Made {
    Token(laer_store::Created<ApiToken>),
    WriteKey(laer_store::Created<WriteKey>),
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WriteKeyForm {
    #[serde(default)]
    name: String,
}

/// What the keys page shows besides the lists: a secret just made, or a form as sent
/// with its problems.
#[derive(Default)]
struct KeysForms {
    made: Option<Made>,
    token: TokenForm,
    token_problems: Problems,
    key: WriteKeyForm,
    key_problems: Problems,
}

fn made_card(made: &Made) -> Markup {
    let (what, name, secret, usage) = match made {
        Made::Token(t) => (
            "API token",
            &t.record.name,
            &t.secret,
            "Send it as Authorization: Bearer … to /api/v1 (docs/api.md).",
        ),
        Made::WriteKey(k) => (
            "Write key",
            &k.record.name,
            &k.secret,
            "Use it as the write key of a Segment library, or as the Basic auth user of /v1 (docs/ingest.md).",
        ),
    };
    html! {
        section.card.made #new-secret role="status" {
            h2 { (what) " " (name) " created" }
            p { "Copy it now: it is shown only this once, and laer keeps only its hash." }
            p { input #secret type="text" readonly value=(secret) aria-label=(what); }
            p.muted.small { (usage) }
        }
    }
}

fn revoke_button(user: &CurrentUser, action: String, revoked_at: Option<i64>) -> Markup {
    html! {
        @match revoked_at {
            Some(at) => { span.muted { "revoked " (micros(at)) } }
            None => {
                form.inline method="post" action=(action) {
                    (csrf(user))
                    button.secondary.danger type="submit" data-confirm="Revoke it? Whatever uses it stops working at once." { "Revoke" }
                }
            }
        }
    }
}

async fn keys_page(state: &AppState, user: &CurrentUser, forms: &KeysForms) -> Result<Markup, PageError> {
    let tokens = state.store.api_tokens().await?;
    let keys = state.store.write_keys().await?;
    let tracking = super::tracking_settings::card(state, user).await?;
    let token_role = if forms.token.role.is_empty() {
        "viewer"
    } else {
        forms.token.role.as_str()
    };
    Ok(layout(
        "API tokens and write keys",
        Some(Nav::Admin),
        user,
        html! {
            (admin_tabs(user, "/admin/keys"))
            div.page-head {
                h1 { "API tokens and write keys" }
                p.muted { "API tokens read and write through /api/v1 with their role's permissions; write keys send product usage to the tracking API (/v1)." }
            }
            @if let Some(made) = &forms.made { (made_card(made)) }
            section.card #tokens {
                h2 { "API tokens" }
                (summary(&forms.token_problems))
                form.inline-fields method="post" action="/admin/keys/tokens" {
                    (csrf(user))
                    (field("Name", "name", Input::Text, &forms.token.name, &forms.token_problems))
                    (select("Role", "role", &role_options(), token_role, &forms.token_problems))
                    button type="submit" { "Create token" }
                }
                table.data {
                    thead { tr { th { "Name" } th { "Role" } th { "Token" } th { "Created" } th { "" } } }
                    tbody {
                        @for t in &tokens {
                            tr #{"token-" (t.id)} class=@if t.revoked_at.is_some() { "off" } {
                                td { (t.name) } td { (t.role.as_str()) } td { code { (t.prefix) "…" } }
                                td.date { (micros(t.created_at)) }
                                td { (revoke_button(user, format!("/admin/keys/tokens/{}/revoke", t.id), t.revoked_at)) }
                            }
                        }
                        @if tokens.is_empty() { tr { td.muted colspan="5" { "No API tokens yet." } } }
                    }
                }
            }
            section.card #write-keys {
                h2 { "Write keys" }
                (summary(&forms.key_problems))
                form.inline-fields method="post" action="/admin/keys/write-keys" {
                    (csrf(user))
                    (field("Name", "name", Input::Text, &forms.key.name, &forms.key_problems))
                    button type="submit" { "Create write key" }
                }
                table.data {
                    thead { tr { th { "Name" } th { "Key" } th { "Created" } th { "" } } }
                    tbody {
                        @for k in &keys {
                            tr #{"write-key-" (k.id)} class=@if k.revoked_at.is_some() { "off" } {
                                td { (k.name) } td { code { (k.prefix) "…" } }
                                td.date { (micros(k.created_at)) }
                                td { (revoke_button(user, format!("/admin/keys/write-keys/{}/revoke", k.id), k.revoked_at)) }
                            }
                        }
                        @if keys.is_empty() { tr { td.muted colspan="4" { "No write keys yet." } } }
                    }
                }
            }
            (tracking)
        },
    ))
}

/// `GET /admin/keys`.
pub(crate) async fn keys(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ManageKeys)?;
    Ok(keys_page(&state, &user, &KeysForms::default()).await?.into_response())
}

/// A token's or key's name: one line, not empty.
fn key_name(problems: &mut Problems, name: &str) -> Option<String> {
    problems.check(
        "name",
        match name.trim() {
            "" => Err("a name is needed, to tell it apart later".to_string()),
            n => bounded(n, MAX_LINE_CHARS).map(str::to_string),
        },
    )
}

/// `POST /admin/keys/tokens`: the keys page with the new token, shown this once.
pub(crate) async fn create_token(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<TokenForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageKeys)?;
    let mut problems = Problems::new();
    let name = key_name(&mut problems, &form.name);
    let role = problems.check("role", form.role.parse::<Role>());
    if let (Some(name), Some(role)) = (name, role) {
        let made = state.store.create_api_token_as(&name, role, &user.actor()).await?;
        let forms = KeysForms {
            made: Some(Made::Token(made)),
            ..Default::default()
        };
        return Ok(secret_page(keys_page(&state, &user, &forms).await?));
    }
    let forms = KeysForms {
        token: form,
        token_problems: problems,
        ..Default::default()
    };
    Ok(refused(keys_page(&state, &user, &forms).await?))
}

/// `POST /admin/keys/write-keys`: the keys page with the new key, shown this once.
pub(crate) async fn create_write_key(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<WriteKeyForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageKeys)?;
    let mut problems = Problems::new();
    if let Some(name) = key_name(&mut problems, &form.name) {
        let made = state.store.create_write_key_as(&name, &user.actor()).await?;
        let forms = KeysForms {
            made: Some(Made::WriteKey(made)),
            ..Default::default()
        };
        return Ok(secret_page(keys_page(&state, &user, &forms).await?));
    }
    let forms = KeysForms {
        key: form,
        key_problems: problems,
        ..Default::default()
    };
    Ok(refused(keys_page(&state, &user, &forms).await?))
}

/// `POST /admin/keys/tokens/{id}/revoke`.
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<Button>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageKeys)?;
    if !state.store.revoke_api_token_as(id, &user.actor()).await? {
        return Err(PageError::NotFound(format!("API token {id}")));
    }
    Ok(Redirect::to(&format!("/admin/keys#token-{id}")).into_response())
}

/// `POST /admin/keys/write-keys/{id}/revoke`.
pub(crate) async fn revoke_write_key(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<Button>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageKeys)?;
    if !state.store.revoke_write_key_as(id, &user.actor()).await? {
        return Err(PageError::NotFound(format!("write key {id}")));
    }
    Ok(Redirect::to(&format!("/admin/keys#write-key-{id}")).into_response())
}
