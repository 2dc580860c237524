//! Syncs in the admin area (issue 18, item 3): each Singer tap laer runs on a schedule,
//! with its last run's progress, counts and unmapped records with why, and the end of the
//! tap's error output. *Run now* asks any node to run it. A sync is defined here too:
//! its tap (a program in each server's taps directory), its config (sealed, never shown
//! again), catalog, mapping and schedule. Admins only. Reference: docs/singer.md.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use laer_app::singer_sync::{STALE_AFTER, sync_mapping};
use laer_core::access::Permission;
use laer_core::singer::sync::{SyncDefinitionError, check_json_object, check_name, check_tap, parse_every};
use laer_import::singer::{SHIPPED_MAPPINGS, SingerReport};
use laer_store::{NewSync, SingerSync, SyncRun};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Input, Problems};
use super::session::{CsrfForm, Nothing};
use super::{CurrentUser, Nav, PageError, admin_tabs, layout, require};
use crate::AppState;

const PATH: &str = "/admin/syncs";
/// Runs shown on a sync's page.
const RUNS_SHOWN: i64 = 10;

fn when(at: Option<i64>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn running(sync: &SingerSync, now: i64) -> bool {
    sync.owner.is_some() && sync.heartbeat.unwrap_or(0) >= now - STALE_AFTER
}

fn report_of(run: &SyncRun) -> Option<SingerReport> {
    run.report.as_deref().and_then(|r| serde_json::from_str(r).ok())
}

/// A run's counts in a line.
fn counts(report: &SingerReport) -> Markup {
    let (written, unchanged, unmapped) = report.totals();
    html! {
        (report.records) " records: " (written) " written, " (unchanged) " unchanged, "
        @if unmapped > 0 { strong { (unmapped) " unmapped" } } @else { "0 unmapped" }
    }
}

/// The form's values: as sent, or empty.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SyncForm {
    name: String,
    tap: String,
    config: String,
    #[serde(default)]
    catalog: String,
    mapping: String,
    #[serde(default)]
    mapping_toml: String,
    every: String,
}

fn definition_form(user: &CurrentUser, sent: &SyncForm, problems: &Problems) -> Markup {
    let mut mappings: Vec<(String, String)> = SHIPPED_MAPPINGS
        .iter()
        .map(|(name, _)| (name.to_string(), format!("{name} (shipped)")))
        .collect();
    mappings.push(("file".into(), "The mapping below (TOML)".into()));
    let every = if sent.every.is_empty() {
        "1h"
    } else {
        sent.every.as_str()
    };
    html! {
        section.card.wide #sync-form {
            h2 { "Define a sync" }
            p.muted {
                "The tap is a program in each server's taps directory (laer serve --taps-dir; by default taps in the data directory), such as tap-postgres. Its config holds the source's credentials: it is stored sealed with the server key and shown to nobody. Saving a sync of an existing name changes it; its kept state stays unless the tap changes."
            }
            form method="post" action=(PATH) {
                (form::csrf(user))
                (form::field("Name (letters, digits, - and _)", "name", Input::Text, &sent.name, problems))
                (form::field("Tap (a program in the taps directory)", "tap", Input::Text, &sent.tap, problems))
                (form::text_area("The tap's config (JSON)", "config", "", 6, problems))
                (form::text_area("The tap's catalog (JSON, optional)", "catalog", &sent.catalog, 4, problems))
                (form::select("Mapping", "mapping", &mappings, &sent.mapping, problems))
                (form::text_area("Mapping file (TOML, docs/singer.md), when not a shipped one", "mapping_toml", &sent.mapping_toml, 8, problems))
                (form::field("Runs every (30m, 2h, 1d)", "every", Input::Text, every, problems))
                button type="submit" { "Save the sync" }
            }
        }
    }
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    sent: &SyncForm,
    problems: &Problems,
) -> Result<Markup, PageError> {
    require(user, Permission::ImportData)?;
    let syncs = state.store.syncs().await?;
    let mut last_runs = Vec::with_capacity(syncs.len());
    for sync in &syncs {
        last_runs.push(state.store.sync_runs(sync.id, 1).await?.into_iter().next());
    }
    let now = chrono::Utc::now().timestamp();
    Ok(layout(
        "Syncs",
        Some(Nav::Admin),
        user,
        html! {
            (admin_tabs(user, PATH))
            div.page-head {
                h1 { "Syncs" }
                p.muted {
                    "Each sync runs a Singer tap — the CRM, the helpdesk, the warehouse — and imports its records through a mapping. The tap's last state is kept with the records before it, so every run after the first reads only what changed."
                }
            }
            (form::summary(problems))
            @if syncs.is_empty() {
                p.muted #no-syncs { "No syncs yet." }
            } @else {
                table.data #syncs {
                    thead { tr { th { "Sync" } th { "Tap and mapping" } th { "Last run" } th { "Next" } th { span.visually-hidden { "Run" } } } }
                    tbody { @for (sync, last) in syncs.iter().zip(&last_runs) {
                        tr {
                            td { a href={(PATH) "/" (sync.name)} { (sync.name) } }
                            td { (sync.tap) br; small.muted { (sync.mapping_name) " · every " (sync.every_minutes) " min" } }
                            td {
                                @match last {
                                    None => { span.muted { "never run" } }
                                    Some(run) => {
                                        span class={"outcome " (run.outcome)} { (run.outcome) } " " (when(Some(run.started_at)))
                                        @if let Some(r) = report_of(run) { br; small { (counts(&r)) } }
                                        @if let Some(e) = &run.error { br; small.error { (e) } }
                                    }
                                }
                            }
                            td {
                                @if running(sync, now) { "running on " (sync.owner.as_deref().unwrap_or("")) }
                                @else if sync.requested { "asked for: within seconds" }
                                @else { (when(sync.next_run_at)) }
                                @if sync.failures > 0 { br; small.muted { (sync.failures) " failures in a row: waiting longer each time" } }
                            }
                            td {
                                form.inline method="post" action={(PATH) "/" (sync.name) "/run"} {
                                    (form::csrf(user))
                                    button.secondary type="submit" disabled[running(sync, now) || sync.requested] { "Run now" }
                                }
                            }
                        }
                    } }
                }
            }
            (definition_form(user, sent, problems))
        },
    ))
}

/// `GET /admin/syncs`.
pub(crate) async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    Ok(list_page(&state, &user, &SyncForm::default(), &Problems::new())
        .await?
        .into_response())
}

/// `POST /admin/syncs`: defines or changes a sync. Every field is checked first (the
/// config and catalog as JSON objects, the mapping against the import kinds); problems
/// come back at their fields (400) with the rest as sent, and nothing is saved.
pub(crate) async fn save(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<SyncForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let mut problems = Problems::new();
    let field_of = |e: &SyncDefinitionError| match e {
        SyncDefinitionError::Name(_) => "name",
        SyncDefinitionError::Tap(_) => "tap",
        SyncDefinitionError::Every(_) => "every",
        SyncDefinitionError::Config(_) => "config",
        SyncDefinitionError::Catalog(_) => "catalog",
    };
    let mut check = |result: Result<(), SyncDefinitionError>| {
        if let Err(e) = result {
            let message = e.to_string();
            let field = field_of(&e);
            problems.add(field, message.split_once(": ").map_or(message.as_str(), |(_, m)| m));
        }
    };
    check(check_name(form.name.trim()).map(drop));
    check(check_tap(form.tap.trim()).map(drop));
    let every = parse_every(&form.every);
    check(every.as_ref().map(drop).map_err(Clone::clone));
    check(check_json_object(&form.config, SyncDefinitionError::Config));
    let catalog = Some(form.catalog.trim()).filter(|c| !c.is_empty());
    if let Some(catalog) = catalog {
        check(check_json_object(catalog, SyncDefinitionError::Catalog));
    }
    let (mapping_name, mapping_toml) = if form.mapping == "file" {
        (format!("{}.toml", form.name.trim()), Some(form.mapping_toml.as_str()))
    } else {
        (form.mapping.clone(), None)
    };
    if let Err(e) = sync_mapping(&mapping_name, mapping_toml) {
        let field = if mapping_toml.is_some() {
            "mapping_toml"
        } else {
            "mapping"
        };
        problems.add(field, e.to_string());
    }
    let Some(secrets) = state.secrets.as_ref() else {
        problems.add(
            "config",
            "this server has no server key to seal the config with (docs/operations.md#secrets-at-rest)",
        );
        return Ok(form::refused(list_page(&state, &user, &form, &problems).await?));
    };
    let every = match every {
        Ok(every) if problems.is_empty() => every,
        _ => return Ok(form::refused(list_page(&state, &user, &form, &problems).await?)),
    };
    state
        .store
        .save_sync(
            &NewSync {
                name: form.name.trim(),
                tap: form.tap.trim(),
                config: &form.config,
                catalog,
                mapping_name: &mapping_name,
                mapping_toml,
                every_minutes: every,
            },
            secrets,
            &user.actor(),
        )
        .await?;
    Ok(Redirect::to(&format!("{PATH}/{}", form.name.trim())).into_response())
}

/// `POST /admin/syncs/{name}/run`: asks any node to run the sync now.
pub(crate) async fn run_now(
    State(state): State<AppState>,
    Path(name): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    if !state.store.request_sync(&name, &user.actor()).await? {
        return Err(PageError::NotFound(format!("sync {name:?}")));
    }
    Ok(Redirect::to(&format!("{PATH}/{name}")).into_response())
}

/// `POST /admin/syncs/{name}/remove`: forgets the sync and its runs.
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    if !state.store.remove_sync(&name, &user.actor()).await? {
        return Err(PageError::NotFound(format!("sync {name:?}")));
    }
    Ok(Redirect::to(PATH).into_response())
}

fn run_part(run: &SyncRun) -> Markup {
    let report = report_of(run);
    html! {
        article.card.run id={"run-" (run.id)} {
            h3 {
                span class={"outcome " (run.outcome)} { (run.outcome) } " "
                (when(Some(run.started_at)))
                @if let Some(ended) = run.ended_at { " – " (when(Some(ended))) }
                " on " (run.node)
            }
            @if let Some(error) = &run.error { p.error { (error) } }
            @if let Some(r) = &report {
                p { (counts(r)) " in " (r.batches) " batches." }
                @for warning in &r.warnings { p.muted.small { "Warning: " (warning) } }
                table.data {
                    thead { tr { th { "Stream" } th.num { "Records" } th.num { "Written" } th.num { "Unchanged" } th.num { "Skipped" } th.num { "Unmapped" } } }
                    tbody { @for (stream, s) in &r.streams {
                        tr {
                            td { code { (stream) } }
                            td.num { (s.records) } td.num { (s.written) } td.num { (s.unchanged) } td.num { (s.skipped) } td.num { (s.unmapped) }
                        }
                        @if !s.reasons.is_empty() {
                            tr.reasons { td colspan="6" {
                                ul { @for reason in &s.reasons {
                                    li {
                                        strong { (reason.count) } " "
                                        @if !reason.kind.is_empty() { (reason.kind) " " }
                                        @if !reason.column.is_empty() { code { (reason.column) } ": " }
                                        (reason.reason)
                                        small.muted { " — first at line " (reason.line) ": " (reason.example) }
                                    }
                                } }
                            } }
                        }
                    } }
                }
            }
            @if let Some(stderr) = run.stderr.as_deref().filter(|s| !s.trim().is_empty()) {
                details {
                    summary { "The tap's error output (its end)" }
                    pre.output { (stderr) }
                }
            }
        }
    }
}

/// `GET /admin/syncs/{name}`: the sync and its last runs.
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    user: CurrentUser,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let Some(sync) = state.store.sync_named(&name).await? else {
        return Err(PageError::NotFound(format!("sync {name:?}")));
    };
    let runs = state.store.sync_runs(sync.id, RUNS_SHOWN).await?;
    let now = chrono::Utc::now().timestamp();
    Ok(layout(
        &format!("Sync {}", sync.name),
        Some(Nav::Admin),
        &user,
        html! {
            (admin_tabs(&user, PATH))
            div.page-head {
                p { a href=(PATH) { "← Syncs" } }
                h1 { "Sync " (sync.name) }
            }
            section.card #sync-definition {
                div.card-head {
                    h2 { "Definition" }
                    form.inline method="post" action={(PATH) "/" (sync.name) "/run"} {
                        (form::csrf(&user))
                        button type="submit" disabled[running(&sync, now) || sync.requested] { "Run now" }
                    }
                }
                dl {
                    dt { "Tap" } dd { code { (sync.tap) } }
                    dt { "Mapping" } dd { (sync.mapping_name) @if sync.mapping_toml.is_none() { " (shipped)" } }
                    dt { "Runs" } dd { "every " (sync.every_minutes) " minutes" }
                    dt { "Now" }
                    dd {
                        @if running(&sync, now) { "running on " (sync.owner.as_deref().unwrap_or("")) ": reload to follow it" }
                        @else if sync.requested { "asked for: a server starts it within seconds" }
                        @else { "next run " (when(sync.next_run_at)) }
                        @if sync.failures > 0 { " (" (sync.failures) " failures in a row)" }
                    }
                    dt { "State kept" }
                    dd { @if sync.state.is_some() { "yes: the next run reads only what changed" } @else { "none yet: the next run reads everything" } }
                    dt { "Defined" } dd { (when(Some(sync.created_at))) " by " (sync.created_by) }
                }
                form.inline method="post" action={(PATH) "/" (sync.name) "/remove"} {
                    (form::csrf(&user))
                    button.secondary.danger type="submit" data-confirm="Remove this sync? What it imported stays." { "Remove" }
                }
            }
            h2 { "Runs" }
            @if runs.is_empty() { p.muted { "Not run yet." } }
            @for run in &runs { (run_part(run)) }
        },
    )
    .into_response())
}
