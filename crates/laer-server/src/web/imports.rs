//! Importing CSV files in the browser (`import_data`; docs/import.md): choose a kind and a
//! file; the upload is streamed into the database in chunks (never held in memory, and
//! readable by every node); a preview shows how the header maps onto the kind's columns
//! and the first rows as parsed, writing nothing; committing starts the import as a task
//! of its own on this node, all or nothing, whose progress and outcome any node's page
//! reads from its history row (`import_runs`).

use std::time::Duration;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use laer_core::access::Permission;
use laer_core::import_runs::RunState;
use laer_import::{Kind, Options, PREVIEW_ROWS, Preview, RowError, UploadSource};
use laer_store::{ImportRun, NewImportRun, UPLOAD_CHUNK_BYTES, UPLOAD_KEPT_HOURS, Upload};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Problems};
use super::session::{CsrfForm, CsrfMultipart};
use super::{CurrentUser, Nav, PageError, layout, require};
use crate::AppState;

/// The largest file an upload takes (the route's body limit).
pub(crate) const MAX_UPLOAD_BYTES: usize = 1 << 30;

/// How long an upload may stall (no bytes arriving) before it is given up.
const UPLOAD_IDLE: Duration = Duration::from_secs(60);

/// How many imports the history lists.
const HISTORY_ROWS: i64 = 50;

/// How often a running import's page reloads itself, in seconds.
const REFRESH_SECONDS: u32 = 2;

fn kind_options() -> Vec<(String, String)> {
    Kind::ALL
        .iter()
        .map(|k| (k.name().to_string(), k.name().to_string()))
        .collect()
}

fn when(at: chrono::DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// "12.5 MB": a size for people.
fn size(bytes: i64) -> String {
    let b = bytes as f64;
    if bytes < 1_000 {
        format!("{bytes} B")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB", b / 1e3)
    } else if bytes < 1_000_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// The import page: the upload form and the history.
pub(crate) async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    import_page(&state, &user, "", &Problems::new()).await
}

async fn import_page(
    state: &AppState,
    user: &CurrentUser,
    kind: &str,
    problems: &Problems,
) -> Result<Response, PageError> {
    let runs = state.store.import_runs(HISTORY_ROWS).await?;
    let now = Utc::now();
    let body = html! {
        (super::admin_tabs(user, "/import"))
        h1 { "Import" }
        p.muted {
            "Upload a CSV file with a header row. You see how its columns are read and its first rows before anything is written; "
            "the import then writes all of the file or, if any row is invalid, nothing. The kinds and their columns: "
            code { "docs/import.md" } "."
        }
        section.card {
            h2 { "Upload a file" }
            (form::summary(problems))
            form.stacked #upload method="post" action="/import" enctype="multipart/form-data" {
                // First: the token is checked before the file is read (CsrfMultipart).
                (form::csrf(user))
                (form::select("Kind", "kind", &kind_options(), kind, problems))
                label.field.invalid[problems.at("file").is_some()] {
                    "CSV file"
                    input type="file" name="file" accept=".csv,text/csv" required;
                    @if let Some(message) = problems.at("file") { span.field-problem { (message) } }
                }
                div { button type="submit" { "Upload and preview" } }
            }
        }
        section.card #history {
            h2 { "History" }
            @if runs.is_empty() {
                p.muted { "No imports yet." }
            } @else {
                (history(&runs, now))
            }
        }
    };
    let page = layout("Import", Some(Nav::Admin), user, body);
    Ok(if problems.is_empty() {
        page.into_response()
    } else {
        form::refused(page)
    })
}

fn state_badge(state: RunState) -> Markup {
    let (class, text) = match state {
        RunState::Running => ("badge status-planned", "running"),
        RunState::Done => ("badge status-done", "done"),
        RunState::Failed => ("badge status-late", "failed"),
        RunState::Lost => ("badge status-late", "failed: stopped"),
    };
    html! { span class=(class) { (text) } }
}

fn history(runs: &[ImportRun], now: chrono::DateTime<Utc>) -> Markup {
    html! {
        table.data {
            thead { tr {
                th { "Started" } th { "By" } th { "File" } th { "Kind" }
                th.num { "Rows" } th.num { "Written" } th.num { "Unchanged" } th { "Status" }
            } }
            tbody { @for r in runs { tr {
                td.date { a href={"/import/runs/" (r.id)} { (when(r.started_at)) } }
                td { (r.actor) @if r.source == "cli" { span.muted.small { " (command line)" } } }
                td { (r.file_name) }
                td { (r.kind) }
                td.num { (r.rows) }
                td.num { (r.written) }
                td.num { (r.unchanged) }
                td { (state_badge(r.state(now))) }
            } } }
        }
    }
}

/// The upload: the kind, then the file, streamed into the database chunk by chunk.
pub(crate) async fn upload(
    State(state): State<AppState>,
    CsrfMultipart { user, mut multipart }: CsrfMultipart,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let mut problems = Problems::new();
    let mut kind_text = String::new();
    let mut stored: Option<i64> = None;
    loop {
        let field = match next_field(&mut multipart).await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(message) => {
                problems.add("file", message);
                break;
            }
        };
        match field.name() {
            Some("kind") => {
                kind_text = field
                    .text()
                    .await
                    .map_err(|e| PageError::BadRequest(format!("The kind could not be read: {e}.")))?;
            }
            Some("file") => {
                let Some(kind) = problems.check("kind", kind_text.parse::<Kind>()) else {
                    break;
                };
                let file_name = field.file_name().map(file_name).unwrap_or_default();
                if file_name.is_empty() {
                    problems.add("file", "choose a file");
                    break;
                }
                if let Err(e) = laer_core::parse::bounded(&file_name, laer_core::parse::MAX_LINE_CHARS) {
                    problems.add("file", format!("the file's name: {e}"));
                    break;
                }
                match store_upload(&state, &user, kind, &file_name, field).await? {
                    Ok(id) => stored = Some(id),
                    Err(message) => problems.add("file", message),
                }
                break;
            }
            _ => {}
        }
    }
    match stored {
        Some(id) if problems.is_empty() => Ok(Redirect::to(&format!("/import/uploads/{id}")).into_response()),
        _ => {
            if problems.is_empty() {
                problems.add("file", "choose a file");
            }
            import_page(&state, &user, &kind_text, &problems).await
        }
    }
}

/// The next field of the form, or why the upload broke off.
async fn next_field(multipart: &mut Multipart) -> Result<Option<axum::extract::multipart::Field<'_>>, String> {
    match tokio::time::timeout(UPLOAD_IDLE, multipart.next_field()).await {
        Ok(Ok(field)) => Ok(field),
        Ok(Err(e)) => Err(upload_broke(&e.body_text())),
        Err(_) => Err(stalled()),
    }
}

fn upload_broke(why: &str) -> String {
    if why.contains("length limit") {
        format!(
            "the file is larger than the {} an upload may hold",
            size(MAX_UPLOAD_BYTES as i64)
        )
    } else {
        format!("the upload broke off ({why}); try again")
    }
}

fn stalled() -> String {
    format!(
        "the upload stalled: nothing arrived for {} seconds; try again",
        UPLOAD_IDLE.as_secs()
    )
}

/// The name a browser gave the file, without any folders.
fn file_name(sent: &str) -> String {
    sent.rsplit(['/', '\\']).next().unwrap_or_default().trim().to_string()
}

/// Streams the file's bytes into the database in chunks of [`UPLOAD_CHUNK_BYTES`]; the
/// upload's id, or what went wrong with the file (the upload is then deleted).
async fn store_upload(
    state: &AppState,
    user: &CurrentUser,
    kind: Kind,
    file_name: &str,
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<Result<i64, String>, PageError> {
    let store = &state.store;
    let id = store.create_upload(kind.name(), file_name, &user.actor()).await?;
    let mut buffer: Vec<u8> = Vec::with_capacity(UPLOAD_CHUNK_BYTES);
    let (mut seq, mut bytes) = (0_i64, 0_i64);
    let problem = loop {
        let chunk = match tokio::time::timeout(UPLOAD_IDLE, field.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => break None,
            Ok(Err(e)) => break Some(upload_broke(&e.body_text())),
            Err(_) => break Some(stalled()),
        };
        bytes += chunk.len() as i64;
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let take = rest.len().min(UPLOAD_CHUNK_BYTES - buffer.len());
            buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if buffer.len() == UPLOAD_CHUNK_BYTES {
                store.add_upload_chunk(id, seq, &buffer).await?;
                seq += 1;
                buffer.clear();
            }
        }
    };
    if problem.is_none() && !buffer.is_empty() {
        store.add_upload_chunk(id, seq, &buffer).await?;
        seq += 1;
    }
    let problem = problem.or_else(|| (bytes == 0).then(|| "the file is empty".to_string()));
    if let Some(problem) = problem {
        store.delete_upload(id).await?;
        return Ok(Err(problem));
    }
    store.complete_upload(id, bytes, seq).await?;
    Ok(Ok(id))
}

/// An upload that is whole, else not found.
async fn whole_upload(state: &AppState, id: i64) -> Result<Upload, PageError> {
    match state.store.upload(id).await? {
        Some(upload) if upload.completed_at.is_some() => Ok(upload),
        _ => Err(PageError::NotFound(format!(
            "upload {id}: uploads are kept until they are imported, or for {UPLOAD_KEPT_HOURS} hours"
        ))),
    }
}

#[derive(Deserialize)]
pub(crate) struct PreviewQuery {
    kind: Option<String>,
}

/// The preview of an upload as a kind (the one chosen at upload, or `?kind=`).
pub(crate) async fn preview(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(query): Query<PreviewQuery>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let upload = whole_upload(&state, id).await?;
    let chosen = query.kind.as_deref().unwrap_or(&upload.kind);
    let kind: Kind = chosen.parse().map_err(PageError::BadRequest)?;
    let preview = laer_import::preview(
        &state.store,
        kind,
        UploadSource::new(&state.store, &upload),
        PREVIEW_ROWS,
    )
    .await;
    let body = html! {
        p { a href="/import" { "← Import" } }
        h1 { "Preview: " (upload.file_name) }
        p.muted {
            (size(upload.bytes)) " uploaded by " (upload.uploaded_by) " at " (when(upload.created_at))
            ". Nothing has been written yet."
        }
        form.row #kind method="get" action={"/import/uploads/" (id)} {
            (form::select("Read as", "kind", &kind_options(), kind.name(), &Problems::new()))
            button.secondary type="submit" { "Preview as this kind" }
        }
        @match &preview {
            Ok(preview) => (preview_sections(preview)),
            Err(e) => p.error role="alert" { "The file cannot be read as CSV: " (e.to_string()) },
        }
        section.card #commit {
            h2 { "Import" }
            @if preview.as_ref().map_or(true, Preview::has_errors) {
                p.down { "The rows shown have problems: the import will fail and write nothing. Importing lists every problem in the file, by line and column." }
            } @else {
                p.muted { "The rows shown are fine. The import reads the whole file; if any row is invalid, it writes nothing and lists the problems by line and column." }
            }
            div.row {
                form.inline method="post" action={"/import/uploads/" (id) "/commit"} {
                    (form::csrf(&user))
                    input type="hidden" name="kind" value=(kind.name());
                    button type="submit" { "Import " (kind.name()) }
                }
                form.inline method="post" action={"/import/uploads/" (id) "/discard"} {
                    (form::csrf(&user))
                    button.secondary type="submit" { "Discard the upload" }
                }
            }
        }
    };
    Ok(layout("Import preview", Some(Nav::Admin), &user, body).into_response())
}

fn row_error(e: &RowError) -> Markup {
    html! {
        "line " (e.line) @if let Some(column) = &e.column { ", column " strong { (column) } } ": " (e.message)
    }
}

fn preview_sections(preview: &Preview) -> Markup {
    html! {
        @if let Some(e) = &preview.header_error {
            p.error role="alert" { "The header cannot be imported as " (preview.kind) ": " (row_error(e)) }
        }
        section.card #mapping {
            h2 { "Columns" }
            table.data {
                thead { tr { th { "In the file" } th { "Read as" } } }
                tbody { @for c in &preview.columns { tr {
                    td { (c.name) }
                    td { @match c.column {
                        Some(column) => { (column) @if c.required { span.muted.small { " (required)" } } }
                        None if preview.keeps_unknown => span.muted { "kept as an attribute" },
                        None => span.down { "unknown to " (preview.kind) },
                    } }
                } } }
            }
            @if !preview.missing.is_empty() {
                p.down #missing { "Missing required columns: " (preview.missing.join(", ")) }
            }
            @if !preview.unknown.is_empty() && !preview.keeps_unknown {
                p.down #unknown { "Unknown columns: " (preview.unknown.join(", ")) }
            }
        }
        section.card #rows {
            h2 { "First rows" }
            @if preview.rows.is_empty() {
                p.muted { "The file has no rows under its header." }
            } @else {
                div.scroll { table.data {
                    thead { tr { th { "Line" } @for c in &preview.columns { th { (c.name) } } th { "Check" } } }
                    tbody { @for r in &preview.rows { tr {
                        td.num { (r.line) }
                        @for f in &r.fields { td { (f) } }
                        td { @match &r.error {
                            Some(e) => span.down { (row_error(e)) },
                            None if r.checked => span.up { "ok" },
                            None => span.muted { "not checked" },
                        } }
                    } } }
                } }
                @if preview.more { p.muted.small { "The first " (preview.rows.len()) " rows; the file has more." } }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CommitForm {
    kind: String,
}

/// Starts importing an upload: records the run and runs it in a task of its own on this
/// node, so that it is not bound by the request's time limit; the run's page follows it.
pub(crate) async fn commit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<CommitForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let kind: Kind = form.kind.parse().map_err(PageError::BadRequest)?;
    let upload = whole_upload(&state, id).await?;
    // Importing the same upload twice at once would only repeat the work: follow the run.
    let now = Utc::now();
    if let Some(running) = state
        .store
        .import_runs(HISTORY_ROWS)
        .await?
        .into_iter()
        .find(|r| r.upload_id == Some(id) && r.state(now) == RunState::Running)
    {
        return Ok(Redirect::to(&format!("/import/runs/{}", running.id)).into_response());
    }
    let actor = user.actor();
    let run = state
        .store
        .start_import_run(&NewImportRun {
            kind: kind.name(),
            file_name: &upload.file_name,
            actor: &actor,
            source: "web",
            upload_id: Some(id),
            bytes_total: Some(upload.bytes),
        })
        .await?;
    let store = state.store.clone();
    tokio::spawn(async move {
        let mut options = Options {
            actor,
            run: Some(run),
            upload: Some(upload.id),
            ..Options::default()
        };
        let source = UploadSource::new(&store, &upload);
        // The outcome is in the run's row either way; the log says it too.
        match laer_import::import_from(&store, kind, &upload.file_name, source, &mut options).await {
            Ok(report) => tracing::info!(run, rows = report.rows, written = report.written, "import done"),
            Err(e) => tracing::warn!(run, "import failed: {e}"),
        }
    });
    Ok(Redirect::to(&format!("/import/runs/{run}")).into_response())
}

/// Deletes an upload that is not to be imported.
pub(crate) async fn discard(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<super::session::Button>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    state.store.delete_upload(id).await?;
    Ok(Redirect::to("/import").into_response())
}

/// One import: its progress while it runs (the page reloads itself), then its outcome,
/// with the rejected rows of a failed one.
pub(crate) async fn run(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let run = state
        .store
        .import_run(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("import {id}")))?;
    let now = Utc::now();
    let run_state = run.state(now);
    let row_errors: Vec<RowError> = serde_json::from_value(run.row_errors.clone()).unwrap_or_default();
    let upload_kept = match run.upload_id {
        Some(upload) if run_state != RunState::Done => state.store.upload(upload).await?.is_some(),
        _ => false,
    };
    let body = html! {
        p { a href="/import" { "← Import" } }
        h1 { "Import of " (run.file_name) }
        p.muted {
            (run.kind) " · started " (when(run.started_at)) " by " (run.actor)
            @if let Some(at) = run.finished_at { " · ended " (when(at)) }
        }
        section.card #run {
            p { (state_badge(run_state)) }
            @match run_state {
                RunState::Running => {
                    @if let Some(total) = run.bytes_total.filter(|t| *t > 0) {
                        progress max=(total) value=(run.bytes_done) {}
                        p { (size(run.bytes_done)) " of " (size(total)) " read · " (run.rows) " rows" }
                    } @else {
                        p { (run.rows) " rows read" }
                    }
                    p.muted.small { "Nothing is visible until the whole file is written. This page reloads itself." }
                }
                RunState::Done => {
                    p #outcome { (run.rows) " rows: " (run.written) " written, " (run.unchanged) " unchanged." }
                }
                RunState::Failed => {
                    p.error role="alert" #outcome { "Nothing was written: " (run.error.as_deref().unwrap_or("the import failed")) }
                    @if !row_errors.is_empty() {
                        table.data #errors {
                            thead { tr { th { "Line" } th { "Column" } th { "Problem" } } }
                            tbody { @for e in &row_errors { tr {
                                td.num { (e.line) } td { (e.column.as_deref().unwrap_or("")) } td { (e.message) }
                            } } }
                        }
                        @if run.error_count > row_errors.len() as i64 {
                            p.muted { "… and " (run.error_count - row_errors.len() as i64) " more." }
                        }
                    }
                }
                RunState::Lost => {
                    p.error role="alert" #outcome {
                        "Nothing was written: the node running this import stopped (no sign of it since "
                        (when(run.heartbeat_at)) "), and its transaction ended with it."
                    }
                }
            }
            @if upload_kept {
                @if let Some(upload) = run.upload_id {
                    p { a href={"/import/uploads/" (upload) "?kind=" (run.kind)} { "Preview the file again" } }
                }
            }
        }
    };
    let page = layout("Import", Some(Nav::Admin), &user, body);
    Ok(if run_state == RunState::Running {
        ([(header::REFRESH, REFRESH_SECONDS.to_string())], page).into_response()
    } else {
        page.into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_folders() {
        assert_eq!(file_name("C:\\Users\\kim\\accounts.csv"), "accounts.csv");
        assert_eq!(file_name("/tmp/x/events.csv"), "events.csv");
        assert_eq!(file_name(" plain.csv "), "plain.csv");
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size(999), "999 B");
        assert_eq!(size(12_500_000), "12.5 MB");
        assert_eq!(size(1 << 30), "1.07 GB");
    }
}
