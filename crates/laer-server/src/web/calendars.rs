//! Calendars (issue 18, item 4): a team member connects their calendar — by CalDAV with
//! the credentials their provider issues, or by the private iCalendar feed address that
//! Google Calendar and Outlook publish — and its meetings with customers become
//! touchpoints, synced every few minutes. Each person sees and manages their own; an
//! admin sees everyone's and may connect one for any team member. The address and the
//! password are sealed when saved and never shown again. Reference: docs/work.md#calendars.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use laer_core::calendar::{CalendarKind, CalendarReport};
use laer_store::{CALENDAR_EVERY_MINUTES, CalendarConnection, NewCalendar, StoreError};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Input, Problems};
use super::session::{CsrfForm, Nothing};
use super::{CurrentUser, Nav, PageError, admin_tabs, layout};
use crate::AppState;

const PATH: &str = "/calendars";

/// The form's values: as sent, or empty. The address and password are never sent back.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CalendarForm {
    #[serde(default)]
    member: String,
    kind: String,
    url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    every: String,
}

/// Whether `user` sees every calendar (an admin) or only their own.
fn sees_all(user: &CurrentUser) -> bool {
    user.role.can(Permission::ImportData)
}

/// Whose calendars `user` manages: every one (an admin), their own (a team member who
/// records work), or none yet (a login that is no team member: the page says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Own(i64),
    Nobody,
}

impl Scope {
    fn of(user: &CurrentUser) -> Result<Scope, PageError> {
        if sees_all(user) {
            return Ok(Scope::All);
        }
        if !user.role.can(Permission::RecordWork) {
            return Err(PageError::Forbidden(Permission::RecordWork, Box::new(user.clone())));
        }
        Ok(user.team_member_id.map_or(Scope::Nobody, Scope::Own))
    }

    /// Its calendars' team member, `None` for all; refused for nobody.
    fn member(self, user: &CurrentUser) -> Result<Option<i64>, PageError> {
        match self {
            Scope::All => Ok(None),
            Scope::Own(id) => Ok(Some(id)),
            Scope::Nobody => Err(PageError::Forbidden(Permission::ImportData, Box::new(user.clone()))),
        }
    }
}

fn when(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(|| "—".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// "1 meeting", "2 meetings".
fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

fn report_lines(report: &CalendarReport) -> Markup {
    let n = |v: usize| v as u64;
    html! {
        (count(n(report.meetings), "meeting", "meetings")) " with customers, of " (count(n(report.occurrences), "event", "events"))
        @if report.written + report.removed + report.cancelled > 0 {
            " · " (report.written) " written"
            @if report.removed > 0 { ", " (report.removed) " removed" }
            @if report.cancelled > 0 { ", " (report.cancelled) " cancelled" }
        }
        @if !report.names_people && report.occurrences > 0 {
            br;
            small.down.no-people {
                "No event names its attendees: this feed leaves them out (Outlook's published calendars do), so it can make no meetings. Connect by CalDAV instead, or publish the calendar with details."
            }
        }
        @if report.strangers > 0 {
            br;
            small.muted.strangers {
                (count(n(report.strangers), "person on events is", "people on events are")) " no contact of any account: "
                (report.stranger_examples.join(", "))
                @if report.strangers > report.stranger_examples.len() { ", …" }
                ". Add them as contacts to count their meetings."
            }
        }
        @if report.problems > 0 {
            br;
            small.muted { (count(n(report.problems), "event", "events")) " could not be read: " (report.problem_examples.join("; ")) }
        }
    }
}

fn calendars_table(user: &CurrentUser, calendars: &[CalendarConnection], everyone: bool) -> Markup {
    html! {
        @if calendars.is_empty() {
            p.muted #no-calendars { "No calendars connected yet." }
        } @else {
            table.data #calendars {
                thead { tr {
                    @if everyone { th { "Team member" } }
                    th { "Calendar" } th { "Every" } th { "Last sync" } th { "What it found" }
                    th { span.visually-hidden { "Actions" } }
                } }
                tbody { @for c in calendars {
                    tr {
                        @if everyone { td { (c.team_member) } }
                        td {
                            (c.kind().map_or("?", |k| k.label())) br;
                            small.muted { (c.host) @if let Some(u) = &c.username { " · " (u) } " · " (c.time_zone) }
                        }
                        td { (c.every_minutes) " min" }
                        td {
                            @if c.owner.is_some() { "syncing now" br; }
                            (when(c.last_synced_at))
                            @if let Some(e) = &c.last_error {
                                br; small.down.last-error { (e) }
                                @if c.failures > 1 { br; small.muted { (c.failures) " failures in a row" } }
                            }
                            @if c.requested { br; small.muted { "a sync is asked for" } }
                        }
                        td { @match c.report() { Some(r) => { (report_lines(&r)) } None => { span.muted { "—" } } } }
                        td.actions {
                            form.inline method="post" action={(PATH) "/" (c.id) "/sync"} {
                                (form::csrf(user))
                                button.secondary type="submit" { "Sync now" }
                            }
                            form.inline method="post" action={(PATH) "/" (c.id) "/remove"} data-confirm="Disconnect this calendar? The meetings it made stay." {
                                (form::csrf(user))
                                button.danger type="submit" { "Disconnect" }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn calendar_form(user: &CurrentUser, members: &[(String, String)], sent: &CalendarForm, problems: &Problems) -> Markup {
    let kinds: Vec<(String, String)> = CalendarKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), k.label().to_string()))
        .collect();
    let zone = if sent.time_zone.is_empty() {
        "UTC"
    } else {
        sent.time_zone.as_str()
    };
    let every = if sent.every.is_empty() {
        "15"
    } else {
        sent.every.as_str()
    };
    html! {
        section.card.wide #calendar-form {
            h2 { "Connect a calendar" }
            p.muted {
                "An iCalendar feed: in Google Calendar, Settings → your calendar → \"Secret address in iCal format\"; in Outlook, Settings → Calendar → Shared calendars → Publish a calendar (\"Can view all details\") → the ICS link. "
                "CalDAV: your provider's CalDAV address (a calendar's, or your account's: laer finds its calendars), your user name and an app password — iCloud, Fastmail, Nextcloud and most servers issue one. "
                "laer seals the address and password with the server key and shows them to nobody again."
            }
            p.muted {
                "Events whose attendees include an account's contacts become meetings of that account, with those contacts' stakeholder teams: recurring events each time, cancelled ones removed, internal ones ignored. Meetings of the last six months and the next two are read."
            }
            form method="post" action=(PATH) {
                (form::csrf(user))
                @if !members.is_empty() {
                    (form::select("Whose calendar", "member", members, &sent.member, problems))
                }
                (form::select("Kind", "kind", &kinds, &sent.kind, problems))
                (form::field("Address", "url", Input::Password, "", problems))
                (form::field("User name (CalDAV)", "username", Input::Text, &sent.username, problems))
                (form::field("Password (CalDAV; an app password)", "password", Input::Password, "", problems))
                (form::field("Time zone of events without one (IANA name, e.g. Europe/Berlin)", "time_zone", Input::Text, zone, problems))
                (form::field("Minutes between syncs", "every", Input::Number, every, problems))
                button type="submit" { "Connect" }
            }
        }
    }
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    sent: &CalendarForm,
    problems: &Problems,
) -> Result<Markup, PageError> {
    let scope = Scope::of(user)?;
    let calendars = match scope {
        Scope::All => state.store.calendars(None).await?,
        Scope::Own(id) => state.store.calendars(Some(id)).await?,
        Scope::Nobody => Vec::new(),
    };
    let members: Vec<(String, String)> = match scope {
        Scope::Own(_) | Scope::Nobody => Vec::new(),
        Scope::All => state
            .store
            .team_members()
            .await?
            .into_iter()
            .map(|m| {
                let label = match &m.email {
                    Some(email) => format!("{} ({email})", m.name),
                    None => format!("{} (no email: their own address is not recognized on events)", m.name),
                };
                (m.id.to_string(), label)
            })
            .collect(),
    };
    let everyone = scope == Scope::All;
    Ok(layout(
        "Calendars",
        Some(if everyone { Nav::Admin } else { Nav::Work }),
        user,
        html! {
            @if everyone { (admin_tabs(user, PATH)) }
            div.page-head {
                h1 { @if everyone { "Calendars" } @else { "My calendars" } }
                p.muted {
                    "Meetings with customers come from the calendars they are in: engagement and meeting cadence follow within minutes, with no one logging them by hand."
                    @if everyone { " Each team member connects their own here; an admin sees all of them, and may connect one for anyone." }
                }
            }
            @if scope == Scope::Nobody {
                p.notice #no-member {
                    "Your login (" (user.email) ") is no team member, so there is no calendar of yours to connect: an admin adds you to the team with this email (Admin → People, or the team members import)."
                }
            } @else {
                (form::summary(problems))
                (calendars_table(user, &calendars, everyone))
                (calendar_form(user, &members, sent, problems))
            }
        },
    ))
}

/// `GET /calendars`.
pub(crate) async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    Ok(list_page(&state, &user, &CalendarForm::default(), &Problems::new())
        .await?
        .into_response())
}

/// `POST /calendars`: connects a calendar. Every field is checked first; problems come
/// back at their fields (400), and the address and password are never sent back.
pub(crate) async fn add(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<CalendarForm>,
) -> Result<Response, PageError> {
    let scope = Scope::of(&user)?.member(&user)?;
    let mut problems = Problems::new();
    let member = match scope {
        Some(own) => Some(own),
        None => problems.check(
            "member",
            form.member
                .trim()
                .parse::<i64>()
                .map_err(|_| "choose whose calendar it is".to_string()),
        ),
    };
    let kind = problems.check("kind", form.kind.parse::<CalendarKind>());
    let every = problems.check(
        "every",
        form.every
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|m| CALENDAR_EVERY_MINUTES.contains(m))
            .ok_or_else(|| {
                format!(
                    "{} to {} minutes",
                    CALENDAR_EVERY_MINUTES.start(),
                    CALENDAR_EVERY_MINUTES.end()
                )
            }),
    );
    let Some(secrets) = state.secrets.as_ref() else {
        problems.add(
            "url",
            "this server has no server key to seal the address with (docs/operations.md#secrets-at-rest)",
        );
        return Ok(form::refused(list_page(&state, &user, &form, &problems).await?));
    };
    fn given(v: &str) -> Option<&str> {
        Some(v.trim()).filter(|v| !v.is_empty())
    }
    let new = NewCalendar {
        team_member_id: member.unwrap_or_default(),
        kind: kind.unwrap_or(CalendarKind::Feed),
        url: form.url.trim(),
        username: given(&form.username),
        password: given(&form.password),
        time_zone: given(&form.time_zone).unwrap_or("UTC"),
        every_minutes: every.unwrap_or(*CALENDAR_EVERY_MINUTES.start()),
    };
    // Every field's problem at once; the kind's own only when it was read.
    for (field, message) in new.problems() {
        let kind_rule = matches!(field, "username" | "password");
        if field != "every_minutes" && (kind.is_some() || !kind_rule) {
            problems.add(field, message);
        }
    }
    if member.is_none() || kind.is_none() || every.is_none() || !problems.is_empty() {
        return Ok(form::refused(list_page(&state, &user, &form, &problems).await?));
    }
    match state.store.add_calendar(&new, secrets, &user.actor()).await {
        Ok(_) => Ok(Redirect::to(PATH).into_response()),
        Err(StoreError::Refused { field, message }) => {
            problems.add(&field, message);
            Ok(form::refused(list_page(&state, &user, &form, &problems).await?))
        }
        Err(StoreError::NotFound(_)) => {
            problems.add("member", "no such team member");
            Ok(form::refused(list_page(&state, &user, &form, &problems).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// The calendar `id`, if `user` may manage it.
async fn managed(state: &AppState, user: &CurrentUser, id: i64) -> Result<CalendarConnection, PageError> {
    let scope = Scope::of(user)?.member(user)?;
    match state.store.calendar(id).await? {
        Some(c) if scope.is_none_or(|own| own == c.team_member_id) => Ok(c),
        _ => Err(PageError::NotFound(format!("calendar {id}"))),
    }
}

/// `POST /calendars/{id}/sync`: asks for a sync as soon as a node is free.
pub(crate) async fn sync(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    let c = managed(&state, &user, id).await?;
    state.store.request_calendar(c.id, &user.actor()).await?;
    Ok(Redirect::to(PATH).into_response())
}

/// `POST /calendars/{id}/remove`: disconnects it; the meetings it made stay.
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    let c = managed(&state, &user, id).await?;
    state.store.remove_calendar(c.id, &user.actor()).await?;
    Ok(Redirect::to(PATH).into_response())
}
