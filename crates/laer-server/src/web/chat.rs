//! Slack and Microsoft Teams in the admin area (issue 18, item 5): the chat hooks that
//! playbooks post to by name, and people's own hooks with their daily digest. A hook's
//! address is its credential: it is sealed when saved and never shown again. Each hook
//! can be sent a test message; the outbox's last messages to chat show how they went.
//! Reference: docs/automation.md#chat-slack-and-teams.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use laer_core::chat::{self, ChatKind};
use laer_store::{ChatHook, DeliveryRow, NewChatHook, StoreError, check_hook_name};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Input, Problems};
use super::session::{CsrfForm, Nothing};
use super::{CurrentUser, Nav, PageError, admin_tabs, layout, require};
use crate::AppState;

const PATH: &str = "/admin/chat";
/// Chat messages shown from the outbox.
const RECENT: i64 = 200;
const SHOWN: usize = 15;

/// The form's values: as sent, or empty. The address is never sent back.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HookForm {
    name: String,
    kind: String,
    url: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    hour: String,
}

fn when(micros: Option<i64>) -> String {
    micros
        .and_then(chrono::DateTime::from_timestamp_micros)
        .map_or_else(|| "—".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// `people`: each person's id and how the form names their own hook.
fn hook_form(user: &CurrentUser, people: &[(String, String)], sent: &HookForm, problems: &Problems) -> Markup {
    let kinds: Vec<(String, String)> = ChatKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), k.label().to_string()))
        .collect();
    let mut whose = vec![(String::new(), "Shared: playbooks post here by its name".to_string())];
    whose.extend(people.iter().cloned());
    let hour = if sent.hour.is_empty() { "8" } else { sent.hour.as_str() };
    html! {
        section.card.wide #hook-form {
            h2 { "Add a chat hook" }
            p.muted {
                "In Slack, add an incoming webhook to a channel (or to a person's own messages); in Teams, a channel's incoming webhook or a Workflows \"post to a channel when a webhook request is received\". Paste the address it gives: laer seals it with the server key and shows it to nobody again."
            }
            form method="post" action=(PATH) {
                (form::csrf(user))
                (form::field("Name (letters, digits, -, _ and .)", "name", Input::Text, &sent.name, problems))
                (form::select("Posts to", "kind", &kinds, &sent.kind, problems))
                (form::field("The incoming webhook's address", "url", Input::Password, "", problems))
                (form::select("Whose", "person", &whose, &sent.person, problems))
                (form::field("Digest hour (UTC, 0-23), for a person's own", "hour", Input::Number, hour, problems))
                button type="submit" { "Add the hook" }
            }
        }
    }
}

fn hooks_table(user: &CurrentUser, hooks: &[ChatHook]) -> Markup {
    html! {
        @if hooks.is_empty() {
            p.muted #no-hooks { "No chat hooks yet." }
        } @else {
            table.data #hooks {
                thead { tr { th { "Hook" } th { "Posts to" } th { "What comes" } th { "Added" } th { span.visually-hidden { "Actions" } } } }
                tbody { @for h in hooks {
                    tr {
                        td { code { (h.name) } }
                        td { (h.kind.label()) }
                        td {
                            @match (&h.user_email, h.digest_hour) {
                                (Some(email), Some(hour)) => { (email) "'s daily digest at " (format!("{hour:02}:00")) " UTC" }
                                _ => { "Playbooks that name it" }
                            }
                        }
                        td { (h.created_at.format("%Y-%m-%d")) br; small.muted { (h.created_by) } }
                        td.actions {
                            form.inline method="post" action={(PATH) "/" (h.name) "/test"} {
                                (form::csrf(user))
                                button.secondary type="submit" { "Send a test" }
                            }
                            form.inline method="post" action={(PATH) "/" (h.name) "/remove"} data-confirm={"Remove the hook " (h.name) "? Playbooks that name it post nothing more."} {
                                (form::csrf(user))
                                button.danger type="submit" { "Remove" }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn outbox_table(hooks: &[ChatHook], recent: &[DeliveryRow]) -> Markup {
    let name_of = |id: Option<i64>| {
        hooks
            .iter()
            .find(|h| Some(h.id) == id)
            .map_or_else(|| "a removed hook".to_string(), |h| h.name.clone())
    };
    html! {
        section.card.wide #chat-outbox {
            h2 { "Last messages" }
            @if recent.is_empty() {
                p.muted { "Nothing posted yet." }
            } @else {
                table.data {
                    thead { tr { th { "Queued" } th { "Hook" } th { "What" } th { "Outcome" } } }
                    tbody { @for d in recent {
                        tr {
                            td { (when(Some(d.created_at))) }
                            td { code { (name_of(d.chat_hook_id)) } }
                            td { (d.event) }
                            td {
                                span class={"outcome " (d.status)} { (d.status) }
                                @if d.attempts > 1 { " after " (d.attempts) " attempts" }
                                @if let Some(e) = &d.last_error { br; small.muted { (e) } }
                            }
                        }
                    } }
                }
            }
        }
    }
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    sent: &HookForm,
    problems: &Problems,
) -> Result<Markup, PageError> {
    require(user, Permission::ManageAutomation)?;
    let hooks = state.store.chat_hooks().await?;
    let people: Vec<(String, String)> = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| !u.disabled)
        .map(|u| {
            let label = match u.team_member_id {
                Some(_) => format!("{}'s own: their daily digest", u.email),
                // Their book and tasks are a team member's: without one, nothing to say.
                None => format!("{}'s own: their daily digest (no team member: empty)", u.email),
            };
            (u.id.to_string(), label)
        })
        .collect();
    let recent: Vec<DeliveryRow> = state
        .store
        .deliveries(None, RECENT)
        .await?
        .into_iter()
        .filter(|d| d.channel == "chat")
        .take(SHOWN)
        .collect();
    Ok(layout(
        "Slack and Teams",
        Some(Nav::Admin),
        user,
        html! {
            (admin_tabs(user, PATH))
            div.page-head {
                h1 { "Slack and Teams" }
                p.muted {
                    "Chat hooks post to Slack (Block Kit) or Microsoft Teams (an Adaptive Card): playbooks name a shared hook in their \"Slack and Teams\" messages, and a person's own hook brings them their daily digest — their tasks due, the accounts of their book whose health or phase moved, and their renewals in the next 60 days. Messages go through the outbox and are retried when the chat is down."
                }
            }
            (form::summary(problems))
            (hooks_table(user, &hooks))
            (hook_form(user, &people, sent, problems))
            (outbox_table(&hooks, &recent))
        },
    ))
}

/// `GET /admin/chat`.
pub(crate) async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    Ok(list_page(&state, &user, &HookForm::default(), &Problems::new())
        .await?
        .into_response())
}

/// `POST /admin/chat`: adds a hook. Every field is checked first; problems come back at
/// their fields (400), and the address is never sent back.
pub(crate) async fn add(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<HookForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let mut problems = Problems::new();
    let name = form.name.trim();
    if let Err(m) = check_hook_name(name) {
        problems.add("name", m.trim_start_matches("name: "));
    }
    let kind = problems.check("kind", form.kind.parse::<ChatKind>());
    if let Some(kind) = kind
        && let Err(m) = kind.check_url(&form.url)
    {
        problems.add("url", m);
    }
    let user_id = match form.person.trim() {
        "" => None,
        id => problems.check("person", id.parse::<i64>().map_err(|_| "choose a person".to_string())),
    };
    let hour = match user_id {
        Some(_) => problems.check(
            "hour",
            form.hour
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|h| *h <= 23)
                .ok_or_else(|| "an hour from 0 to 23 (UTC)".to_string()),
        ),
        None => None,
    };
    let Some(secrets) = state.secrets.as_ref() else {
        problems.add(
            "url",
            "this server has no server key to seal the address with (docs/operations.md#secrets-at-rest)",
        );
        return Ok(form::refused(list_page(&state, &user, &form, &problems).await?));
    };
    let Some(kind) = kind.filter(|_| problems.is_empty()) else {
        return Ok(form::refused(list_page(&state, &user, &form, &problems).await?));
    };
    let hook = NewChatHook {
        name,
        kind,
        url: form.url.trim(),
        user_id,
        digest_hour: hour,
    };
    match state.store.add_chat_hook(&hook, &user.actor(), secrets).await {
        Ok(_) => Ok(Redirect::to(PATH).into_response()),
        Err(StoreError::Refused { field, message }) => {
            problems.add(&field, message);
            Ok(form::refused(list_page(&state, &user, &form, &problems).await?))
        }
        Err(StoreError::Invalid(message)) => {
            let (field, message) = message.split_once(": ").unwrap_or(("name", message.as_str()));
            problems.add(field, message);
            Ok(form::refused(list_page(&state, &user, &form, &problems).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/chat/{name}/test`: queues a test message to the hook.
pub(crate) async fn test(
    State(state): State<AppState>,
    Path(name): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let message = chat::test_message(&name, &user.name);
    match state.store.post_to_chat_hook(&name, &message).await {
        Ok(_) => Ok(Redirect::to(&format!("{PATH}#chat-outbox")).into_response()),
        Err(StoreError::NotFound(_)) => Err(PageError::NotFound(format!("chat hook {name:?}"))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/chat/{name}/remove`: stops posting to the hook.
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    match state.store.remove_chat_hook(&name, &user.actor()).await {
        Ok(()) => Ok(Redirect::to(PATH).into_response()),
        Err(StoreError::NotFound(_)) => Err(PageError::NotFound(format!("chat hook {name:?}"))),
        Err(e) => Err(e.into()),
    }
}
