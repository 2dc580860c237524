//! Settings: the playbooks and the coverage rules, as tables everyone may read and as
//! files the leaders edit (`manage_automation`), checked before they are saved; a
//! playbook can be switched on or off with one click (docs/automation.md).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use laer_core::automation::coverage::role_label;
use laer_core::automation::{CoverageRules, Playbooks};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::Problems;
use super::session::{Button, CsrfForm};
use super::{CurrentUser, Nav, PageError, layout, require};
use crate::AppState;
use laer_app::automation::{Automation, COVERAGE_SETTING, PLAYBOOKS_SETTING, playbook_summaries};
use laer_core::automation::playbook::OncePer;
use laer_core::automation::wording::conditions_in_words;

pub(crate) fn in_effect_error(e: laer_app::automation::AutomationError) -> PageError {
    match e {
        laer_app::automation::AutomationError::Store(e) => e.into(),
        other => PageError::Internal(other.to_string()),
    }
}

fn scope(phases: &[laer_core::lifecycle::Phase], segments: &[String]) -> String {
    let phases: Vec<&str> = phases.iter().map(|p| p.as_str()).collect();
    match (phases.is_empty(), segments.is_empty()) {
        (true, true) => "any account".into(),
        (false, true) => phases.join(", "),
        (true, false) => segments.join(", "),
        (false, false) => format!("{} · {}", phases.join(", "), segments.join(", ")),
    }
}

/// How often a playbook fires, in words.
fn once_per_words(once: OncePer) -> &'static str {
    match once {
        OncePer::Episode => "each time its conditions start holding",
        OncePer::Renewal => "once per renewal",
        OncePer::Landing => "once per landing",
    }
}

/// The editor of a settings file: its text, and the problem of the last try.
fn editor(action: &str, text: &str, problem: Option<&str>, user: &CurrentUser) -> Markup {
    html! {
        @if user.role.can(Permission::ManageAutomation) {
            details.editor open[problem.is_some()] {
                summary { "Edit as a file" }
                @if let Some(p) = problem { p.down { (p) } }
                form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(user.csrf_token);
                    textarea name="body" rows="28" spellcheck="false" { (text) }
                    div.row {
                        button type="submit" name="action" value="save" { "Check and save" }
                        button.secondary type="submit" name="action" value="default" { "Restore the shipped defaults" }
                    }
                }
            }
        }
    }
}

async fn playbooks_page(
    state: &AppState,
    user: &CurrentUser,
    problem: Option<(&str, &str)>,
) -> Result<Response, PageError> {
    require(user, Permission::ViewAccounts)?;
    let automation = Automation::in_effect(&state.store).await.map_err(in_effect_error)?;
    let summaries = playbook_summaries(&state.store, &automation).await?;
    let saved = state.store.setting(PLAYBOOKS_SETTING).await?;
    let can_edit = user.role.can(Permission::ManageAutomation);
    let text = problem.map_or_else(|| automation.playbooks.to_toml(), |(_, body)| body.to_string());
    let body = html! {
        div.page-head {
            h1 { "Playbooks" }
            p.muted {
                @match &saved {
                    Some(s) => { "Saved by " (s.updated_by) " on " (s.updated_at.format("%Y-%m-%d %H:%M")) " UTC" }
                    None => { "The shipped playbooks" }
                }
                " · each fires once per cause · " a href="/settings/coverage" { "Coverage rules" }
            }
            @if can_edit {
                p.actions {
                    a.button href="/settings/playbooks/edit" { "New playbook" }
                    " " a.button.secondary href="/settings/coverage/apply" { "Preview and apply now" }
                }
            }
        }
        table.data #playbooks {
            thead { tr { th { "Playbook" } th { "When" } th { "Fires" } th { "Tasks for" } th { "Emails" } th.num { "Runs" } th.num { "Open" } th.num { "Open tasks" } th { "" } } }
            tbody {
                @for (s, p) in summaries.iter().zip(&automation.playbooks.playbooks) {
                    tr class=@if !s.enabled { "off" } {
                        td {
                            @if can_edit { a href={"/settings/playbooks/edit?name=" (s.name)} { strong { (s.title) } } }
                            @else { strong { (s.title) } }
                            br; small.muted { (scope(&p.phases, &p.segments)) }
                        }
                        td { (conditions_in_words(&p.when)) }
                        td { (once_per_words(s.once_per)) }
                        td { (s.roles.iter().map(|r| role_label(*r)).collect::<Vec<_>>().join(", ")) }
                        td { @for e in &p.emails { (e.to.in_words()) @if e.tech_touch_only { " (tech-touch accounts)" } br; } }
                        td.num { (s.runs) } td.num { (s.open_episodes) }
                        td.num { a href={"/work?show=all&playbook=" (s.name)} { (s.open_tasks) } }
                        td {
                            @if can_edit {
                                form.inline method="post" action="/settings/playbooks/toggle" {
                                    input type="hidden" name="csrf" value=(user.csrf_token);
                                    input type="hidden" name="name" value=(s.name);
                                    button.secondary type="submit" { @if s.enabled { "Switch off" } @else { "Switch on" } }
                                }
                            } @else if !s.enabled { "off" }
                        }
                    }
                }
            }
        }
        (editor("/settings/playbooks", &text, problem.map(|(p, _)| p), user))
    };
    Ok(layout("Playbooks", Some(Nav::Settings), user, body).into_response())
}

async fn coverage_page(
    state: &AppState,
    user: &CurrentUser,
    problem: Option<(&str, &str)>,
) -> Result<Response, PageError> {
    require(user, Permission::ViewAccounts)?;
    let automation = Automation::in_effect(&state.store).await.map_err(in_effect_error)?;
    let rules = &automation.coverage;
    let saved = state.store.setting(COVERAGE_SETTING).await?;
    let laer_store::CoverageState { team, books, .. } = state
        .store
        .coverage_state(super::today(), laer_store::Accounts::Only(&[]))
        .await?;
    let text = problem.map_or_else(|| rules.to_toml(), |(_, body)| body.to_string());
    let can_edit = user.role.can(Permission::ManageAutomation);
    let tech_touch = match (&rules.tech_touch.segments[..], rules.tech_touch.arr_below) {
        ([], None) => "No account is covered tech-touch.".to_string(),
        ([], Some(arr)) => format!("Accounts below an ARR of {arr} are covered tech-touch (automation only)."),
        (segments, None) => format!(
            "Accounts of {} are covered tech-touch (automation only).",
            segments.join(", ")
        ),
        (segments, Some(arr)) => format!(
            "Accounts of {} below an ARR of {arr} are covered tech-touch (automation only).",
            segments.join(", ")
        ),
    };
    let body = html! {
        div.page-head {
            h1 { "Coverage rules" }
            p.muted {
                @match &saved {
                    Some(s) => { "Saved by " (s.updated_by) " on " (s.updated_at.format("%Y-%m-%d %H:%M")) " UTC" }
                    None => { "The shipped rules" }
                }
                " · " a href="/settings/playbooks" { "Playbooks" }
            }
        }
        section.card {
            p { (tech_touch) " A new owner gets a hand-off task due in " (rules.handoff_due_days) " days."
                @if can_edit { " " a href="/settings/coverage/general" { "Change" } } }
            @if can_edit {
                p.actions {
                    a.button href="/settings/coverage/rule" { "New rule" }
                    " " a.button.secondary href="/settings/coverage/general" { "Tech-touch and who takes a free role" }
                }
            }
            table.data #coverage-rules {
                thead { tr { th { "Role" } th { "Covers" } th { "When" } th { "Why" } th { "Tech-touch too" } } }
                tbody { @for (i, r) in rules.rules.iter().enumerate() {
                    tr {
                        td {
                            @if can_edit { a href={"/settings/coverage/rule?n=" (i + 1)} { (role_label(r.role)) } }
                            @else { (role_label(r.role)) }
                        }
                        td { (scope(&r.phases, &r.segments)) }
                        td { (super::settings_forms::rule_in_words(r)) }
                        td { (r.reason) }
                        td { @if r.tech_touch { "yes" } @else { "no" } }
                    }
                } }
            }
            h3 { "Who takes a free role" }
            table.data {
                thead { tr { th { "Role" } th { "Segments" } th { "Members" } th { "Method" } } }
                tbody {
                    @for a in &rules.assignment {
                        tr { td { (role_label(a.role)) } td { (if a.segments.is_empty() { "any".to_string() } else { a.segments.join(", ") }) }
                             td { (if a.members.is_empty() { "everyone with the role".to_string() } else { a.members.join(", ") }) }
                             td { (format!("{:?}", a.method).to_lowercase()) } }
                    }
                    tr.muted { td colspan="4" { "Any other role: the team member with the role and the fewest accounts in it." } }
                }
            }
            h3 { "The team and their books" }
            table.data #team {
                thead { tr { th { "Member" } th { "Roles" } th { "Accounts covered now" } } }
                tbody { @for m in &team {
                    @let covered: Vec<String> = laer_core::model::TeamRole::ALL.iter()
                        .filter_map(|r| books.counts.get(&(m.id, *r)).filter(|n| **n > 0).map(|n| format!("{n} as {}", role_label(*r))))
                        .collect();
                    tr {
                        td { (m.name) }
                        td { (m.roles.iter().map(|r| role_label(*r)).collect::<Vec<_>>().join(", ")) }
                        td { @if covered.is_empty() { "–" } @else { (covered.join(", ")) } }
                    }
                } }
            }
            @if can_edit {
                p {
                    a.button href="/settings/coverage/apply" { "Preview and apply the rules to every account now" }
                    span.muted { " (the server does it every day and after every change)" }
                }
            }
        }
        (editor("/settings/coverage", &text, problem.map(|(p, _)| p), user))
    };
    Ok(layout("Coverage rules", Some(Nav::Settings), user, body).into_response())
}

pub(crate) async fn playbooks(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    playbooks_page(&state, &user, None).await
}

pub(crate) async fn coverage(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    coverage_page(&state, &user, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct FileForm {
    action: Option<String>,
    body: Option<String>,
}

/// The two settings files: where each is kept, what it is called, where its page is, its
/// shipped text, and how it is checked — for the file edited whole and for the forms
/// (web/settings_forms.rs).
#[derive(Clone, Copy)]
pub(crate) enum SettingsFile {
    Playbooks,
    Coverage,
}

impl SettingsFile {
    pub(crate) fn setting(self) -> &'static str {
        match self {
            SettingsFile::Playbooks => PLAYBOOKS_SETTING,
            SettingsFile::Coverage => COVERAGE_SETTING,
        }
    }

    pub(crate) fn what(self) -> &'static str {
        match self {
            SettingsFile::Playbooks => "playbooks",
            SettingsFile::Coverage => "coverage rules",
        }
    }

    pub(crate) fn list(self) -> &'static str {
        match self {
            SettingsFile::Playbooks => "/settings/playbooks",
            SettingsFile::Coverage => "/settings/coverage",
        }
    }

    /// The file's text in `automation`, checked as a file sent whole is: `None` with the
    /// problem at the top of the form when it does not read or is too long to keep.
    pub(crate) fn checked(self, automation: Automation, problems: &mut Problems) -> Option<Automation> {
        let text = self.text(&automation);
        if text.len() > laer_core::limits::MAX_SETTINGS_CHARS {
            problems.add(
                "",
                format!("The {} would be too long to keep; shorten them.", self.what()),
            );
            return None;
        }
        let read = match self {
            SettingsFile::Playbooks => Playbooks::from_toml(&text)
                .map(|playbooks| Automation {
                    playbooks,
                    ..automation
                })
                .map_err(|e| e.to_string()),
            SettingsFile::Coverage => CoverageRules::from_toml(&text)
                .map(|coverage| Automation { coverage, ..automation })
                .map_err(|e| e.to_string()),
        };
        read.map_err(|message| problems.add("", message)).ok()
    }

    fn shipped(self) -> &'static str {
        match self {
            SettingsFile::Playbooks => laer_core::automation::playbook::DEFAULT_PLAYBOOKS,
            SettingsFile::Coverage => laer_core::automation::coverage::DEFAULT_COVERAGE,
        }
    }

    /// A file's text as saved (normalised), or why it does not read.
    fn check(self, text: &str) -> Result<String, String> {
        match self {
            SettingsFile::Playbooks => Playbooks::from_toml(text)
                .map(|p| p.to_toml())
                .map_err(|e| e.to_string()),
            SettingsFile::Coverage => CoverageRules::from_toml(text)
                .map(|r| r.to_toml())
                .map_err(|e| e.to_string()),
        }
    }

    pub(crate) fn text(self, automation: &Automation) -> String {
        match self {
            SettingsFile::Playbooks => automation.playbooks.to_toml(),
            SettingsFile::Coverage => automation.coverage.to_toml(),
        }
    }
}

/// Saves a settings file when it reads; else shows its page again with the reason (400),
/// and nothing changes.
async fn save_file(
    state: &AppState,
    user: &CurrentUser,
    form: FileForm,
    file: SettingsFile,
) -> Result<Response, PageError> {
    require(user, Permission::ManageAutomation)?;
    let text = match form.action.as_deref() {
        Some("default") => file.shipped().to_string(),
        _ => form.body.unwrap_or_default(),
    };
    let checked = laer_core::parse::bounded(&text, laer_core::limits::MAX_SETTINGS_CHARS)
        .map_err(|message| format!("the file is too long: {message}"))
        .and_then(|text| file.check(text));
    match checked {
        Ok(saved) => {
            state.store.save_setting(file.setting(), &saved, &user.actor()).await?;
            Ok(Redirect::to(file.list()).into_response())
        }
        Err(problem) => {
            let shown = Some((problem.as_str(), text.as_str()));
            let mut page = match file {
                SettingsFile::Playbooks => playbooks_page(state, user, shown).await?,
                SettingsFile::Coverage => coverage_page(state, user, shown).await?,
            };
            *page.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(page)
        }
    }
}

/// `POST /settings/playbooks`: saves the playbooks when they read, else shows why.
pub(crate) async fn save_playbooks(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<FileForm>,
) -> Result<Response, PageError> {
    save_file(&state, &user, form, SettingsFile::Playbooks).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToggleForm {
    name: String,
}

/// `POST /settings/playbooks/toggle`: switches one playbook on or off.
pub(crate) async fn toggle_playbook(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<ToggleForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let mut playbooks = Automation::in_effect(&state.store)
        .await
        .map_err(in_effect_error)?
        .playbooks;
    let Some(p) = playbooks.playbooks.iter_mut().find(|p| p.name == form.name) else {
        return Err(PageError::NotFound(format!("playbook {:?}", form.name)));
    };
    p.enabled = !p.enabled;
    state
        .store
        .save_setting(PLAYBOOKS_SETTING, &playbooks.to_toml(), &user.actor())
        .await?;
    Ok(Redirect::to("/settings/playbooks").into_response())
}

/// `POST /settings/coverage`: saves the rules when they read, else shows why.
pub(crate) async fn save_coverage(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<FileForm>,
) -> Result<Response, PageError> {
    save_file(&state, &user, form, SettingsFile::Coverage).await
}

/// `POST /settings/coverage/apply`: decides coverage and playbooks for every account now.
pub(crate) async fn apply_coverage(
    State(state): State<AppState>,
    CsrfForm { user, .. }: CsrfForm<Button>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    laer_app::automation::apply_to_all(&state.store, &state.health_model, super::today())
        .await
        .map_err(in_effect_error)?;
    Ok(Redirect::to("/settings/coverage").into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct AssignForm {
    role: String,
    /// A team member's id, or `auto`.
    member: String,
    reason: Option<String>,
}

/// `POST /accounts/{id}/coverage`: gives a role to a team member by hand, or back to the
/// rules (`auto`); audited.
pub(crate) async fn assign_owner(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    CsrfForm { user, form }: CsrfForm<AssignForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let role: laer_core::model::TeamRole = form
        .role
        .parse()
        .map_err(|e| PageError::BadRequest(format!("Role: {e}")))?;
    let reason = form.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(PageError::BadRequest(
            "Say why the owner changes: it is kept with the assignment.".into(),
        ));
    }
    laer_core::parse::bounded(reason, laer_core::parse::MAX_TEXT_CHARS)
        .map_err(|message| PageError::BadRequest(format!("Why: {message}.")))?;
    let account = state
        .store
        .account(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
    let name = account
        .fields
        .name
        .clone()
        .unwrap_or_else(|| account.fields.external_id.clone());
    let who = user.actor();
    let today = super::today();
    if form.member == "auto" {
        state.store.assign_by_hand(id, role, None, reason, &who, today).await?;
    } else {
        let member: i64 = form
            .member
            .parse()
            .map_err(|_| PageError::BadRequest("Choose a team member, or auto.".into()))?;
        let draft = laer_core::automation::coverage::handoff_by_hand(role, &name, reason, &who, today);
        state
            .store
            .assign_by_hand(id, role, Some((member, &draft)), reason, &who, today)
            .await?;
    }
    Ok(Redirect::to(&format!("/accounts/{id}#work")).into_response())
}
