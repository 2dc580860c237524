//! Settings for CS operations (issue 16): a playbook, a coverage rule and the coverage
//! model's general settings edited in forms, field by field, their conditions in the
//! team's words and typed in the units people use (40 %, 120 days); and a preview of what
//! applying would change — owners starting and ending, playbooks firing, tasks created —
//! before a form is saved or the rules are applied. The files stay for those who prefer
//! them (web/settings.rs); both are checked by the same core rules and saved the same way.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use laer_core::access::Permission;
use laer_core::automation::coverage::{Assignment, Method, RoleRule, role_label};
use laer_core::automation::playbook::{ChatTemplate, EmailTemplate, OncePer, Playbook, Recipient, TaskTemplate};
use laer_core::automation::preview::Preview;
use laer_core::automation::wording::{conditions_in_words, scale_of, tidy, value_choice, value_choices};
use laer_core::automation::{Clause, CoverageRules, Member, Playbooks};
use laer_core::lifecycle::Phase;
use laer_core::model::TeamRole;
use laer_store::Setting;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Input, Problems};
use super::session::CsrfForm;
use super::settings::{SettingsFile as File, in_effect_error};
use super::{CurrentUser, Nav, PageError, layout, require};
use crate::AppState;
use laer_app::automation::{Automation, COVERAGE_SETTING, PLAYBOOKS_SETTING};

type Fields = Vec<(String, String)>;

/// Blank condition, task and email rows a form offers besides the filled ones.
const BLANK_ROWS: usize = 2;
/// Rows of one kind a form may send; more are not read.
const MAX_ROWS: usize = 50;
/// Lines of a preview's list shown; the rest are counted.
const PREVIEW_LINES: usize = 50;

/// The fields of a form as sent, by name.
struct Sent<'a>(&'a Fields);

impl Sent<'_> {
    fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.trim())
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The number of rows `prefix-N-field` sent, N from 0.
    fn rows(&self, prefix: &str, field: &str) -> usize {
        (0..MAX_ROWS)
            .take_while(|i| self.has(&format!("{prefix}-{i}-{field}")))
            .count()
    }
}

/// A settings file's version as a form carries it: when it was last saved.
fn version_of(setting: &Option<Setting>) -> String {
    setting.as_ref().map_or_else(
        || "shipped".to_string(),
        |s| s.updated_at.timestamp_micros().to_string(),
    )
}

/// The problem when the file changed since the form was opened; the form is shown again
/// with the new version, so that sending it again saves it over the change.
fn stale(sent_version: &str, setting: &Option<Setting>, what: &str, problems: &mut Problems) {
    if sent_version != version_of(setting) {
        let by = setting
            .as_ref()
            .map(|s| format!(" ({} at {} UTC)", s.updated_by, s.updated_at.format("%Y-%m-%d %H:%M")))
            .unwrap_or_default();
        problems.add(
            "",
            format!(
                "Someone saved the {what} since you opened this form{by}. Your changes are below: \
                 check them against the saved {what} and save again."
            ),
        );
    }
}

fn role_options() -> Vec<(String, String)> {
    TeamRole::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), role_label(*r)))
        .collect()
}

fn phase_options() -> Vec<(String, String)> {
    Phase::ALL
        .iter()
        .map(|p| (p.as_str().to_string(), p.label().to_string()))
        .collect()
}

fn phases_sent(sent: &Sent, problems: &mut Problems) -> Vec<Phase> {
    sent.all("phases")
        .iter()
        .filter_map(|p| problems.check("phases", p.parse::<Phase>().map_err(|e| e.to_string())))
        .collect()
}

fn list_of(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// What a settings form ends in. Without a problem, `save` saves `candidate` (unless the
/// file changed since the form was opened: `sent_version`) and goes back to the list, and
/// a preview shows the form again with what applying `candidate` would change; with one,
/// the form comes back (400) with the problems at their fields, and nothing is saved.
#[allow(clippy::too_many_arguments)]
async fn conclude(
    state: &AppState,
    user: &CurrentUser,
    file: File,
    intent: &str,
    sent_version: &str,
    setting: &Option<Setting>,
    candidate: Option<Automation>,
    mut problems: Problems,
    page: impl Fn(&Problems, Option<(&Preview, &[Member], &Playbooks)>) -> Markup,
) -> Result<Response, PageError> {
    if intent == "save" {
        stale(sent_version, setting, file.what(), &mut problems);
    }
    match candidate {
        Some(candidate) if problems.is_empty() && intent == "save" => {
            state
                .store
                .save_setting(file.setting(), &file.text(&candidate), &user.actor())
                .await?;
            Ok(Redirect::to(file.list()).into_response())
        }
        Some(candidate) if problems.is_empty() => {
            let (preview, team) = preview_of(state, &candidate).await?;
            Ok(page(&problems, Some((&preview, &team, &candidate.playbooks))).into_response())
        }
        _ => Ok(form::refused(page(&problems, None))),
    }
}

/// Removes one item from a settings file by `remove` (which answers not found when it is
/// gone) and saves the file, unless it changed since the page was opened (`version`).
async fn save_without(
    state: &AppState,
    user: &CurrentUser,
    file: File,
    version: &str,
    remove: impl FnOnce(&mut Automation) -> Result<(), PageError>,
) -> Result<Response, PageError> {
    require(user, Permission::ManageAutomation)?;
    let setting = state.store.setting(file.setting()).await?;
    let mut automation = Automation::in_effect(&state.store).await.map_err(in_effect_error)?;
    remove(&mut automation)?;
    if version != version_of(&setting) {
        return Err(PageError::BadRequest(format!(
            "Someone saved the {} since you opened this page; open it again and delete from there.",
            file.what()
        )));
    }
    state
        .store
        .save_setting(file.setting(), &file.text(&automation), &user.actor())
        .await?;
    Ok(Redirect::to(file.list()).into_response())
}

// ---------------------------------------------------------------------------------
// Conditions

/// How a bound reads on a form, in the order offered.
const BOUNDS: [(&str, &str); 4] = [
    ("at_least", "at least"),
    ("above", "above"),
    ("at_most", "at most"),
    ("below", "below"),
];

/// One condition as a form shows it: what it tests and up to two bounds, in the units
/// people type (a share as a percentage).
#[derive(Debug, Clone, Default, PartialEq)]
struct ConditionRow {
    signal: String,
    op: String,
    value: String,
    op2: String,
    value2: String,
}

impl ConditionRow {
    fn of(c: &Clause) -> ConditionRow {
        let scale = scale_of(&c.signal);
        let bounds: Vec<(String, String)> = [
            (c.at_least, "at_least"),
            (c.above, "above"),
            (c.at_most, "at_most"),
            (c.below, "below"),
        ]
        .iter()
        .filter_map(|(b, op)| b.map(|b| (op.to_string(), tidy(scale.shown(b)))))
        .collect();
        let mut bounds = bounds.into_iter();
        let (op, value) = bounds.next().unwrap_or_default();
        let (op2, value2) = bounds.next().unwrap_or_default();
        ConditionRow {
            signal: c.signal.clone(),
            op,
            value,
            op2,
            value2,
        }
    }

    fn is_blank(&self) -> bool {
        self.signal.is_empty() && self.value.is_empty() && self.value2.is_empty()
    }
}

/// The rows of `clauses` and blank ones to add more.
fn rows_of(clauses: &[Clause]) -> Vec<ConditionRow> {
    let mut rows: Vec<ConditionRow> = clauses.iter().map(ConditionRow::of).collect();
    rows.extend(std::iter::repeat_n(ConditionRow::default(), BLANK_ROWS));
    rows
}

fn rows_sent(sent: &Sent, prefix: &str) -> Vec<ConditionRow> {
    (0..sent.rows(prefix, "signal"))
        .map(|i| {
            let f = |field: &str| sent.get(&format!("{prefix}-{i}-{field}")).to_string();
            ConditionRow {
                signal: f("signal"),
                op: f("op"),
                value: f("value"),
                op2: f("op2"),
                value2: f("value2"),
            }
        })
        .collect()
}

/// The clauses of the rows (blank rows left out), each problem at its field.
fn clauses_of(rows: &[ConditionRow], prefix: &str, what: &str, problems: &mut Problems) -> Vec<Clause> {
    let mut clauses = Vec::new();
    for (i, row) in rows.iter().enumerate().filter(|(_, r)| !r.is_blank()) {
        let label = format!("{what} {}", i + 1);
        let name = |field: &str| format!("{prefix}-{i}-{field}");
        if row.signal.is_empty() {
            problems.add_labelled(&name("signal"), &label, "choose what the condition tests");
            continue;
        }
        let scale = scale_of(&row.signal);
        let mut clause = Clause {
            signal: row.signal.clone(),
            below: None,
            at_most: None,
            above: None,
            at_least: None,
        };
        let mut ok = true;
        for (op, value, field) in [(&row.op, &row.value, "value"), (&row.op2, &row.value2, "value2")] {
            if field == "value2" && op.is_empty() && value.is_empty() {
                continue;
            }
            let number = match value.parse::<f64>() {
                Ok(v) if v.is_finite() => scale.stored(v),
                _ if value.is_empty() => {
                    problems.add_labelled(&name(field), &label, "give a number");
                    ok = false;
                    continue;
                }
                _ => {
                    problems.add_labelled(&name(field), &label, format!("{value:?} is not a number"));
                    ok = false;
                    continue;
                }
            };
            let slot = match op.as_str() {
                "at_least" => &mut clause.at_least,
                "above" => &mut clause.above,
                "at_most" => &mut clause.at_most,
                "below" => &mut clause.below,
                _ => {
                    problems.add_labelled(&name(field), &label, "choose at least, above, at most or below");
                    ok = false;
                    continue;
                }
            };
            if slot.is_some() {
                problems.add_labelled(&name(field), &label, "the second bound repeats the first");
                ok = false;
            }
            *slot = Some(number);
        }
        if !ok {
            continue;
        }
        match clause.problem() {
            Some(problem) => problems.add_labelled(&name("signal"), &label, problem),
            None => clauses.push(clause),
        }
    }
    clauses
}

/// The rows of conditions as a table of fields: what, bound, value, and an optional
/// second bound.
fn conditions_editor(legend: &str, hint: &str, prefix: &str, rows: &[ConditionRow], problems: &Problems) -> Markup {
    let mut choices = vec![(String::new(), "–".to_string())];
    choices.extend(value_choices());
    // A value the list does not offer (a feature's use) stays choosable.
    for r in rows {
        if !r.signal.is_empty() && !choices.iter().any(|(n, _)| *n == r.signal) {
            choices.push((r.signal.clone(), value_choice(&r.signal)));
        }
    }
    let mut second = vec![(String::new(), "–".to_string())];
    second.extend(BOUNDS.iter().map(|(v, l)| (v.to_string(), l.to_string())));
    let first: Vec<(String, String)> = BOUNDS.iter().map(|(v, l)| (v.to_string(), l.to_string())).collect();
    html! {
        fieldset.conditions {
            legend { (legend) }
            p.muted.small { (hint) }
            @for (i, row) in rows.iter().enumerate() {
                @let name = |field: &str| format!("{prefix}-{i}-{field}");
                div.condition {
                    (form::select(&format!("{legend} {}", i + 1), &name("signal"), &choices, &row.signal, problems))
                    (form::select("is", &name("op"), &first, if row.op.is_empty() { "at_least" } else { &row.op }, problems))
                    (form::field("value", &name("value"), Input::Number, &row.value, problems))
                    (form::select("and", &name("op2"), &second, &row.op2, problems))
                    (form::field("value", &name("value2"), Input::Number, &row.value2, problems))
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The preview

/// What applying would change, as a page section.
fn preview_section(preview: &Preview, team: &[Member], playbooks: &Playbooks, heading: &str) -> Markup {
    let who = |id: Option<i64>| {
        id.and_then(|id| team.iter().find(|m| m.id == id))
            .map_or_else(|| "nobody".to_string(), |m| m.name.clone())
    };
    let title = |name: &str| {
        playbooks
            .get(name)
            .map_or_else(|| name.to_string(), |p| p.title.clone())
    };
    let by_role = preview.by_role();
    let by_playbook = preview.by_playbook();
    let owners = |id: &str, caption: &str, lines: &[laer_core::automation::preview::OwnerLine]| {
        html! {
            @if !lines.is_empty() {
                details.preview-list #(id) {
                    summary { (caption) " (" (lines.len()) ")" }
                    table.data {
                        thead { tr { th { "Account" } th { "Role" } th { "Who" } th { "Why" } } }
                        tbody { @for l in lines.iter().take(PREVIEW_LINES) {
                            tr {
                                td { a href={"/accounts/" (l.account_id)} { (l.account) } }
                                td { (role_label(l.role)) }
                                td { (who(l.member_id)) }
                                td { (l.reason) }
                            }
                        } }
                    }
                    @if lines.len() > PREVIEW_LINES { p.muted { "and " (lines.len() - PREVIEW_LINES) " more" } }
                }
            }
        }
    };
    html! {
        section.card #preview {
            h2 { (heading) }
            @if preview.is_empty() {
                p { "Nothing would change: every account is covered as the rules say, and no playbook would fire." }
            } @else {
                p { "Applying the rules and playbooks to every account now would:" }
                ul #preview-summary { @for phrase in preview.in_words() { li { (phrase) } } }
                div.grid2 {
                    @if !by_role.is_empty() {
                        table.data #preview-roles {
                            caption { "Owners by role" }
                            thead { tr { th { "Role" } th.num { "Start" } th.num { "End" } th.num { "Nobody to take it" } } }
                            tbody { @for (role, (start, end, none)) in &by_role {
                                tr { td { (role_label(*role)) } td.num { (start) } td.num { (end) } td.num { (none) } }
                            } }
                        }
                    }
                    @if !by_playbook.is_empty() {
                        table.data #preview-playbooks {
                            caption { "Playbooks that would fire" }
                            thead { tr { th { "Playbook" } th.num { "Accounts" } th.num { "Tasks" } } }
                            tbody { @for (name, fires, tasks) in &by_playbook {
                                tr { td { (title(name)) } td.num { (fires) } td.num { (tasks) } }
                            } }
                        }
                    }
                }
                (owners("preview-starts", "New owners", &preview.starts))
                (owners("preview-ends", "Owners leaving", &preview.ends))
                (owners("preview-uncovered", "Roles nobody can take", &preview.uncovered))
                @if !preview.fires.is_empty() {
                    details.preview-list #preview-fires {
                        summary { "Playbooks firing (" (preview.fires.len()) ")" }
                        table.data {
                            thead { tr { th { "Account" } th { "Playbook" } th { "Why" } th { "Tasks" } } }
                            tbody { @for f in preview.fires.iter().take(PREVIEW_LINES) {
                                tr {
                                    td { a href={"/accounts/" (f.account_id)} { (f.account) } }
                                    td { (title(&f.playbook)) }
                                    td { (f.reason) }
                                    td { (f.tasks.iter().map(|(r, t)| format!("{}: {t}", role_label(*r))).collect::<Vec<_>>().join("; "))
                                         @if f.emails > 0 { " · " (f.emails) " email" @if f.emails > 1 { "s" } } }
                                }
                            } }
                        }
                        @if preview.fires.len() > PREVIEW_LINES { p.muted { "and " (preview.fires.len() - PREVIEW_LINES) " more" } }
                    }
                }
            }
        }
    }
}

async fn preview_of(state: &AppState, automation: &Automation) -> Result<(Preview, Vec<Member>), PageError> {
    Ok(laer_app::automation::preview(&state.store, &state.health_model, automation, super::today()).await?)
}

/// `GET /settings/coverage/apply`: what applying the rules and playbooks in effect to
/// every account would change, and the button that applies them.
pub(crate) async fn apply_preview(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let automation = Automation::in_effect(&state.store).await.map_err(in_effect_error)?;
    let (preview, team) = preview_of(&state, &automation).await?;
    let body = html! {
        div.page-head {
            p { a href="/settings/coverage" { "← Coverage rules" } " · " a href="/settings/playbooks" { "Playbooks" } }
            h1 { "Apply the rules now" }
            p.muted { "The server applies the coverage rules and the playbooks every day and after every change to an account. Applying now does it for every account at once; this is what it would change." }
        }
        (preview_section(&preview, &team, &automation.playbooks, "What would change"))
        form method="post" action="/settings/coverage/apply" {
            (form::csrf(&user))
            button type="submit" disabled[preview.is_empty()] { "Apply these changes now" }
            " " a href="/settings/coverage" { "Cancel" }
        }
    };
    Ok(layout("Apply the rules now", Some(Nav::Settings), &user, body).into_response())
}

// ---------------------------------------------------------------------------------
// A playbook

#[derive(Debug, Clone, Default, PartialEq)]
struct TaskRow {
    role: String,
    title: String,
    due_days: String,
    steps: String,
    tech_touch: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct EmailRow {
    to: String,
    team: String,
    subject: String,
    body: String,
    tech_touch_only: bool,
}

/// A message to a chat hook as its row shows it.
#[derive(Debug, Clone, Default)]
struct ChatRow {
    to: String,
    text: String,
    tech_touch_only: bool,
}

/// A playbook as its form shows it.
#[derive(Debug, Clone, Default)]
struct PlaybookDraft {
    /// The playbook edited; empty for a new one.
    original: String,
    version: String,
    name: String,
    title: String,
    description: String,
    enabled: bool,
    phases: Vec<String>,
    segments: String,
    when: Vec<ConditionRow>,
    once_per: String,
    settle_days: String,
    tasks: Vec<TaskRow>,
    emails: Vec<EmailRow>,
    chats: Vec<ChatRow>,
}

impl PlaybookDraft {
    fn of(p: &Playbook, version: String) -> PlaybookDraft {
        let mut tasks: Vec<TaskRow> = p
            .tasks
            .iter()
            .map(|t| TaskRow {
                role: t.role.as_str().to_string(),
                title: t.title.clone(),
                due_days: t.due_days.to_string(),
                steps: t.steps.join("\n"),
                tech_touch: t.tech_touch,
            })
            .collect();
        tasks.push(TaskRow {
            role: "csm".into(),
            ..TaskRow::default()
        });
        let mut emails: Vec<EmailRow> = p
            .emails
            .iter()
            .map(|e| {
                let (to, team) = match &e.to {
                    Recipient::Contacts(Some(team)) => ("contacts".to_string(), team.clone()),
                    other => (other.to_string(), String::new()),
                };
                EmailRow {
                    to,
                    team,
                    subject: e.subject.clone(),
                    body: e.body.clone(),
                    tech_touch_only: e.tech_touch_only,
                }
            })
            .collect();
        emails.push(EmailRow::default());
        let mut chats: Vec<ChatRow> = p
            .chats
            .iter()
            .map(|c| ChatRow {
                to: c.to.clone(),
                text: c.text.clone(),
                tech_touch_only: c.tech_touch_only,
            })
            .collect();
        chats.push(ChatRow::default());
        PlaybookDraft {
            original: p.name.clone(),
            version,
            name: p.name.clone(),
            title: p.title.clone(),
            description: p.description.clone(),
            enabled: p.enabled,
            phases: p.phases.iter().map(|p| p.as_str().to_string()).collect(),
            segments: p.segments.join(", "),
            when: rows_of(&p.when),
            once_per: serde_plain(&p.once_per),
            settle_days: p.settle_days.to_string(),
            tasks,
            emails,
            chats,
        }
    }

    fn new(version: String) -> PlaybookDraft {
        PlaybookDraft {
            version,
            enabled: true,
            when: rows_of(&[]),
            once_per: "episode".into(),
            settle_days: "14".into(),
            tasks: vec![TaskRow {
                role: "csm".into(),
                due_days: "7".into(),
                ..TaskRow::default()
            }],
            emails: vec![EmailRow::default()],
            chats: vec![ChatRow::default()],
            ..PlaybookDraft::default()
        }
    }

    fn sent(fields: &Fields) -> PlaybookDraft {
        let sent = Sent(fields);
        let tasks = (0..sent.rows("task", "role"))
            .map(|i| {
                let f = |field: &str| sent.get(&format!("task-{i}-{field}")).to_string();
                TaskRow {
                    role: f("role"),
                    title: f("title"),
                    due_days: f("due_days"),
                    steps: f("steps"),
                    tech_touch: sent.has(&format!("task-{i}-tech_touch")),
                }
            })
            .collect();
        let emails = (0..sent.rows("email", "to"))
            .map(|i| {
                let f = |field: &str| sent.get(&format!("email-{i}-{field}")).to_string();
                EmailRow {
                    to: f("to"),
                    team: f("team"),
                    subject: f("subject"),
                    body: f("body"),
                    tech_touch_only: sent.has(&format!("email-{i}-tech_touch_only")),
                }
            })
            .collect();
        let chats = (0..sent.rows("chat", "to"))
            .map(|i| {
                let f = |field: &str| sent.get(&format!("chat-{i}-{field}")).to_string();
                ChatRow {
                    to: f("to"),
                    text: f("text"),
                    tech_touch_only: sent.has(&format!("chat-{i}-tech_touch_only")),
                }
            })
            .collect();
        PlaybookDraft {
            original: sent.get("original").to_string(),
            version: sent.get("version").to_string(),
            name: sent.get("name").to_string(),
            title: sent.get("title").to_string(),
            description: sent.get("description").to_string(),
            enabled: sent.has("enabled"),
            phases: sent.all("phases"),
            segments: sent.get("segments").to_string(),
            when: rows_sent(&sent, "when"),
            once_per: sent.get("once_per").to_string(),
            settle_days: sent.get("settle_days").to_string(),
            tasks,
            emails,
            chats,
        }
    }

    /// The playbook the form describes, each problem at its field.
    fn playbook(&self, fields: &Fields, problems: &mut Problems) -> Playbook {
        let sent = Sent(fields);
        let name = if self.original.is_empty() {
            self.name.clone()
        } else {
            self.original.clone()
        };
        if self.title.is_empty() {
            problems.add("title", "give the playbook a title");
        }
        let when = clauses_of(&self.when, "when", "Condition", problems);
        if when.is_empty() && !problems.iter().any(|p| p.field.starts_with("when-")) {
            problems.add_labelled(
                "when-0-signal",
                "Condition 1",
                "a playbook needs at least one condition",
            );
        }
        let once_per = match self.once_per.as_str() {
            "renewal" => OncePer::Renewal,
            "landing" => OncePer::Landing,
            _ => OncePer::Episode,
        };
        let settle_days = problems
            .check(
                "settle_days",
                self.settle_days
                    .parse::<u32>()
                    .map_err(|_| "a whole number of days".to_string()),
            )
            .unwrap_or(14);
        let mut tasks = Vec::new();
        for (i, t) in self.tasks.iter().enumerate() {
            if t.title.is_empty() && t.steps.is_empty() {
                continue;
            }
            let label = format!("Task {}", i + 1);
            let name = |field: &str| format!("task-{i}-{field}");
            if t.title.is_empty() {
                problems.add_labelled(&name("title"), &label, "give the task a title");
            }
            let role = t.role.parse::<TeamRole>().map_err(|e| e.to_string());
            let due = t
                .due_days
                .parse::<u32>()
                .map_err(|_| "a whole number of days".to_string());
            let (Some(role), Some(due_days)) = (
                problems.check(&name("role"), role),
                match due {
                    Ok(d) => Some(d),
                    Err(m) => {
                        problems.add_labelled(&name("due_days"), &label, m);
                        None
                    }
                },
            ) else {
                continue;
            };
            tasks.push(TaskTemplate {
                role,
                title: t.title.clone(),
                due_days,
                steps: t
                    .steps
                    .lines()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                tech_touch: t.tech_touch,
            });
        }
        let mut emails = Vec::new();
        for (i, e) in self.emails.iter().enumerate() {
            if e.subject.is_empty() && e.body.is_empty() {
                continue;
            }
            let label = format!("Email {}", i + 1);
            let to_text = match (e.to.as_str(), e.team.is_empty()) {
                ("contacts", false) => format!("contacts:{}", e.team),
                (to, _) => to.to_string(),
            };
            match to_text.parse::<Recipient>() {
                Ok(to) => {
                    if e.subject.is_empty() || e.body.is_empty() {
                        problems.add_labelled(
                            &format!("email-{i}-subject"),
                            &label,
                            "an email needs a subject and a body",
                        );
                    }
                    emails.push(EmailTemplate {
                        to,
                        subject: e.subject.clone(),
                        body: e.body.replace("\r\n", "\n"),
                        tech_touch_only: e.tech_touch_only,
                    });
                }
                Err(m) => problems.add_labelled(&format!("email-{i}-to"), &label, m),
            }
        }
        let mut chats = Vec::new();
        for (i, c) in self.chats.iter().enumerate() {
            let to = c.to.trim();
            if to.is_empty() {
                continue;
            }
            if let Err(m) = laer_store::check_hook_name(to) {
                problems.add_labelled(&format!("chat-{i}-to"), &format!("Chat {}", i + 1), m);
                continue;
            }
            chats.push(ChatTemplate {
                to: to.to_string(),
                text: c.text.trim().to_string(),
                tech_touch_only: c.tech_touch_only,
            });
        }
        Playbook {
            name,
            title: self.title.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            phases: phases_sent(&sent, problems),
            segments: list_of(&self.segments),
            when,
            once_per,
            settle_days,
            tasks,
            emails,
            chats,
        }
    }
}

/// An enum's name as its file writes it (`episode`).
fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn recipient_options() -> Vec<(String, String)> {
    let mut options = vec![("contacts".to_string(), "The account's contacts".to_string())];
    options.extend(TeamRole::ALL.iter().map(|r| {
        (
            format!("owner:{}", r.as_str()),
            format!("Whoever covers it as {}", role_label(*r)),
        )
    }));
    options
}

fn playbook_page(
    user: &CurrentUser,
    draft: &PlaybookDraft,
    problems: &Problems,
    preview: Option<(&Preview, &[Member], &Playbooks)>,
) -> Markup {
    let heading = if draft.original.is_empty() {
        "New playbook".to_string()
    } else {
        format!("Playbook: {}", draft.title)
    };
    let once = [
        (
            "episode",
            "Each time the conditions start holding (again after they stopped for the days below)",
        ),
        ("renewal", "Once per renewal, while the conditions hold"),
        ("landing", "Once per landing, while the conditions hold"),
    ]
    .map(|(v, l)| (v.to_string(), l.to_string()));
    let roles = role_options();
    let recipients = recipient_options();
    let body = html! {
        div.page-head {
            p { a href="/settings/playbooks" { "← Playbooks" } }
            h1 { (heading) }
            p.muted { "A playbook fires for an account when its conditions hold, once per cause, and gives each of its tasks to whoever covers the account in the task's role." }
        }
        section.card {
            (form::summary(problems))
            form.stacked.settings-form #playbook-form method="post" action="/settings/playbooks/form" {
                (form::csrf(user))
                input type="hidden" name="original" value=(draft.original);
                input type="hidden" name="version" value=(draft.version);
                @if draft.original.is_empty() {
                    (form::field("Name (lower-case letters, digits and -; tasks and runs refer to it)", "name", Input::Text, &draft.name, problems))
                } @else {
                    p.muted { "Name: " code { (draft.original) } }
                }
                (form::field("Title", "title", Input::Text, &draft.title, problems))
                (form::text_area("What it is for", "description", &draft.description, 2, problems))
                label.check { input type="checkbox" name="enabled" value="on" checked[draft.enabled]; "On (it fires)" }
                (form::checkboxes("Only in these phases (none ticked: any)", "phases", &phase_options(), &draft.phases, problems))
                (form::field("Only in these segments, separated by commas (empty: any)", "segments", Input::Text, &draft.segments, problems))
                (conditions_editor("Condition", "It fires when all of these hold. An account without the value does not match. Shares are typed in per cent (40 for 40%).", "when", &draft.when, problems))
                (form::select("Fires", "once_per", &once, &draft.once_per, problems))
                (form::field("Days the conditions must stop holding before it can fire again", "settle_days", Input::Number, &draft.settle_days, problems))
                fieldset.rows {
                    legend { "Tasks" }
                    p.muted.small { "Each task goes to whoever covers the account in its role. {account}, {renewal_on} and {landed_on} in a title are replaced. Leave a title empty to remove the task." }
                    @for (i, t) in draft.tasks.iter().enumerate() {
                        @let name = |field: &str| format!("task-{i}-{field}");
                        div.row-fields.task {
                            (form::select(&format!("Task {}: for", i + 1), &name("role"), &roles, &t.role, problems))
                            (form::field("Title", &name("title"), Input::Text, &t.title, problems))
                            (form::field("Due in (days)", &name("due_days"), Input::Number, &t.due_days, problems))
                            (form::text_area("Steps, one per line", &name("steps"), &t.steps, 3, problems))
                            label.check { input type="checkbox" name=(name("tech_touch")) value="on" checked[t.tech_touch]; "For tech-touch accounts too" }
                        }
                    }
                }
                fieldset.rows {
                    legend { "Emails" }
                    p.muted.small { "Sent when it fires, through the server's SMTP server. Leave the subject and body empty to remove an email." }
                    @for (i, e) in draft.emails.iter().enumerate() {
                        @let name = |field: &str| format!("email-{i}-{field}");
                        div.row-fields.email {
                            (form::select(&format!("Email {}: to", i + 1), &name("to"), &recipients, &e.to, problems))
                            (form::field("Only contacts of the stakeholder team (optional)", &name("team"), Input::Text, &e.team, problems))
                            (form::field("Subject", &name("subject"), Input::Text, &e.subject, problems))
                            (form::text_area("Body", &name("body"), &e.body, 5, problems))
                            label.check { input type="checkbox" name=(name("tech_touch_only")) value="on" checked[e.tech_touch_only]; "Only for tech-touch accounts" }
                        }
                    }
                }
                fieldset.rows {
                    legend { "Slack and Teams" }
                    p.muted.small { "Posted when it fires to a chat hook, by its name (Admin → Slack and Teams): the playbook, the account, why, and the tasks it made. Leave the hook empty to remove a message." }
                    @for (i, c) in draft.chats.iter().enumerate() {
                        @let name = |field: &str| format!("chat-{i}-{field}");
                        div.row-fields.chat {
                            (form::field(&format!("Chat {}: hook", i + 1), &name("to"), Input::Text, &c.to, problems))
                            (form::field("First line (optional; {account}, {renewal_on} and {landed_on} are filled in)", &name("text"), Input::Text, &c.text, problems))
                            label.check { input type="checkbox" name=(name("tech_touch_only")) value="on" checked[c.tech_touch_only]; "Only for tech-touch accounts" }
                        }
                    }
                }
                div.row {
                    button.secondary type="submit" name="intent" value="preview" { "Preview what it would do" }
                    button type="submit" name="intent" value="save" { "Save" }
                }
            }
            @if !draft.original.is_empty() {
                form method="post" action="/settings/playbooks/delete" data-confirm="Delete this playbook? Its runs and tasks stay; it fires no more." {
                    (form::csrf(user))
                    input type="hidden" name="name" value=(draft.original);
                    input type="hidden" name="version" value=(draft.version);
                    button.danger type="submit" { "Delete this playbook" }
                }
            }
        }
        @if let Some((preview, team, playbooks)) = preview {
            (preview_section(preview, team, playbooks, "If you saved it"))
        }
    };
    layout(&heading, Some(Nav::Settings), user, body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PlaybookQuery {
    name: Option<String>,
}

/// `GET /settings/playbooks/edit?name=NAME` (a new playbook without a name).
pub(crate) async fn edit_playbook(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PlaybookQuery>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let automation = Automation::in_effect(&state.store).await.map_err(in_effect_error)?;
    let version = version_of(&state.store.setting(PLAYBOOKS_SETTING).await?);
    let draft = match q.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => {
            let p = automation
                .playbooks
                .get(name)
                .ok_or_else(|| PageError::NotFound(format!("playbook {name:?}")))?;
            PlaybookDraft::of(p, version)
        }
        None => PlaybookDraft::new(version),
    };
    Ok(playbook_page(&user, &draft, &Problems::new(), None).into_response())
}

/// The playbooks with `edited` in place of the one it edits (or added); `None` when the
/// playbook edited was deleted meanwhile.
fn with_playbook(current: &Playbooks, original: &str, edited: Playbook, problems: &mut Problems) -> Option<Playbooks> {
    let mut all = current.clone();
    match all
        .playbooks
        .iter_mut()
        .find(|p| !original.is_empty() && p.name == original)
    {
        Some(slot) => *slot = edited,
        None if original.is_empty() => all.playbooks.push(edited),
        None => {
            problems.add(
                "",
                format!("The playbook {original:?} was deleted since you opened this form."),
            );
            return None;
        }
    }
    Some(all)
}

/// `POST /settings/playbooks/form`: previews or saves a playbook edited in its form.
pub(crate) async fn save_playbook_form(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let mut draft = PlaybookDraft::sent(&form);
    let automation = Automation::in_effect(&state.store).await.map_err(in_effect_error)?;
    let setting = state.store.setting(PLAYBOOKS_SETTING).await?;
    let mut problems = Problems::new();
    let edited = draft.playbook(&form, &mut problems);
    let candidate = match problems.is_empty() {
        true => with_playbook(&automation.playbooks, &draft.original, edited, &mut problems).and_then(|playbooks| {
            File::Playbooks.checked(
                Automation {
                    playbooks,
                    ..automation
                },
                &mut problems,
            )
        }),
        false => None,
    };
    let sent_version = std::mem::replace(&mut draft.version, version_of(&setting));
    let intent = Sent(&form).get("intent").to_string();
    conclude(
        &state,
        &user,
        File::Playbooks,
        &intent,
        &sent_version,
        &setting,
        candidate,
        problems,
        |problems, preview| playbook_page(&user, &draft, problems, preview),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteNamed {
    name: String,
    version: String,
}

/// `POST /settings/playbooks/delete`: removes a playbook (its runs and tasks stay).
pub(crate) async fn delete_playbook(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<DeleteNamed>,
) -> Result<Response, PageError> {
    save_without(&state, &user, File::Playbooks, &form.version, |a| {
        let before = a.playbooks.playbooks.len();
        a.playbooks.playbooks.retain(|p| p.name != form.name);
        match a.playbooks.playbooks.len() < before {
            true => Ok(()),
            false => Err(PageError::NotFound(format!("playbook {:?}", form.name))),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------
// A coverage rule

#[derive(Debug, Clone, Default)]
struct RuleDraft {
    /// The rule edited, from 1; empty for a new one.
    index: String,
    version: String,
    role: String,
    phases: Vec<String>,
    segments: String,
    when: Vec<ConditionRow>,
    unless: Vec<ConditionRow>,
    tech_touch: bool,
    reason: String,
}

impl RuleDraft {
    fn of(index: usize, r: &RoleRule, version: String) -> RuleDraft {
        RuleDraft {
            index: index.to_string(),
            version,
            role: r.role.as_str().to_string(),
            phases: r.phases.iter().map(|p| p.as_str().to_string()).collect(),
            segments: r.segments.join(", "),
            when: rows_of(&r.when),
            unless: rows_of(&r.unless),
            tech_touch: r.tech_touch,
            reason: r.reason.clone(),
        }
    }

    fn sent(fields: &Fields) -> RuleDraft {
        let sent = Sent(fields);
        RuleDraft {
            index: sent.get("index").to_string(),
            version: sent.get("version").to_string(),
            role: sent.get("role").to_string(),
            phases: sent.all("phases"),
            segments: sent.get("segments").to_string(),
            when: rows_sent(&sent, "when"),
            unless: rows_sent(&sent, "unless"),
            tech_touch: sent.has("tech_touch"),
            reason: sent.get("reason").to_string(),
        }
    }

    fn rule(&self, fields: &Fields, problems: &mut Problems) -> Option<RoleRule> {
        let sent = Sent(fields);
        let role = problems.check("role", self.role.parse::<TeamRole>().map_err(|e| e.to_string()));
        if self.reason.is_empty() {
            problems.add(
                "reason",
                "say why the role covers these accounts: the hand-off records it",
            );
        }
        let rule = RoleRule {
            role: role.unwrap_or(TeamRole::Csm),
            phases: phases_sent(&sent, problems),
            segments: list_of(&self.segments),
            when: clauses_of(&self.when, "when", "Condition", problems),
            unless: clauses_of(&self.unless, "unless", "Exception", problems),
            tech_touch: self.tech_touch,
            reason: self.reason.clone(),
        };
        role.map(|_| rule)
    }
}

fn rule_page(
    user: &CurrentUser,
    draft: &RuleDraft,
    problems: &Problems,
    preview: Option<(&Preview, &[Member], &Playbooks)>,
) -> Markup {
    let heading = if draft.index.is_empty() {
        "New coverage rule".to_string()
    } else {
        format!("Coverage rule {}", draft.index)
    };
    let body = html! {
        div.page-head {
            p { a href="/settings/coverage" { "← Coverage rules" } }
            h1 { (heading) }
            p.muted { "A rule gives a role to the accounts it matches. Once a role has joined, it stays while a rule for the role still matches the account's phase and segment." }
        }
        section.card {
            (form::summary(problems))
            form.stacked.settings-form #rule-form method="post" action="/settings/coverage/rule" {
                (form::csrf(user))
                input type="hidden" name="index" value=(draft.index);
                input type="hidden" name="version" value=(draft.version);
                (form::select("Role", "role", &role_options(), &draft.role, problems))
                (form::checkboxes("In these phases (none ticked: any)", "phases", &phase_options(), &draft.phases, problems))
                (form::field("In these segments, separated by commas (empty: any)", "segments", Input::Text, &draft.segments, problems))
                (conditions_editor("Condition", "The role joins when all of these hold (none: always). Shares are typed in per cent.", "when", &draft.when, problems))
                (conditions_editor("Exception", "The rule does not apply when any of these holds.", "unless", &draft.unless, problems))
                label.check { input type="checkbox" name="tech_touch" value="on" checked[draft.tech_touch]; "For tech-touch accounts too" }
                (form::field("Why (kept with the assignment and told to the new owner)", "reason", Input::Text, &draft.reason, problems))
                div.row {
                    button.secondary type="submit" name="intent" value="preview" { "Preview what it would do" }
                    button type="submit" name="intent" value="save" { "Save" }
                }
            }
            @if !draft.index.is_empty() {
                form method="post" action="/settings/coverage/rule/delete" data-confirm="Delete this rule? Owners it gave keep their accounts until the rules are applied." {
                    (form::csrf(user))
                    input type="hidden" name="index" value=(draft.index);
                    input type="hidden" name="version" value=(draft.version);
                    button.danger type="submit" { "Delete this rule" }
                }
            }
        }
        @if let Some((preview, team, playbooks)) = preview {
            (preview_section(preview, team, playbooks, "If you saved it"))
        }
    };
    layout(&heading, Some(Nav::Settings), user, body)
}

/// The rule at `index` (from 1), or why not.
fn rule_index(text: &str, rules: &CoverageRules) -> Result<usize, PageError> {
    text.parse::<usize>()
        .ok()
        .filter(|i| (1..=rules.rules.len()).contains(i))
        .ok_or_else(|| PageError::NotFound(format!("coverage rule {text:?}")))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RuleQuery {
    n: Option<String>,
}

/// `GET /settings/coverage/rule?n=N` (a new rule without `n`).
pub(crate) async fn edit_rule(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<RuleQuery>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let rules = Automation::in_effect(&state.store)
        .await
        .map_err(in_effect_error)?
        .coverage;
    let version = version_of(&state.store.setting(COVERAGE_SETTING).await?);
    let draft = match q.n.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => {
            let index = rule_index(n, &rules)?;
            RuleDraft::of(index, &rules.rules[index - 1], version)
        }
        None => RuleDraft {
            version,
            role: "csm".into(),
            when: rows_of(&[]),
            unless: rows_of(&[]),
            ..RuleDraft::default()
        },
    };
    Ok(rule_page(&user, &draft, &Problems::new(), None).into_response())
}

/// `POST /settings/coverage/rule`: previews or saves a coverage rule edited in its form.
pub(crate) async fn save_rule_form(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let mut draft = RuleDraft::sent(&form);
    let mut automation = Automation::in_effect(&state.store).await.map_err(in_effect_error)?;
    let setting = state.store.setting(COVERAGE_SETTING).await?;
    let mut problems = Problems::new();
    let candidate = match draft.rule(&form, &mut problems) {
        Some(rule) if problems.is_empty() => {
            let rules = &mut automation.coverage.rules;
            if draft.index.is_empty() {
                rules.push(rule);
            } else {
                let index = rule_index(&draft.index, &automation.coverage)?;
                automation.coverage.rules[index - 1] = rule;
            }
            File::Coverage.checked(automation, &mut problems)
        }
        _ => None,
    };
    let sent_version = std::mem::replace(&mut draft.version, version_of(&setting));
    let intent = Sent(&form).get("intent").to_string();
    conclude(
        &state,
        &user,
        File::Coverage,
        &intent,
        &sent_version,
        &setting,
        candidate,
        problems,
        |problems, preview| rule_page(&user, &draft, problems, preview),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteRule {
    index: String,
    version: String,
}

/// `POST /settings/coverage/rule/delete`: removes a coverage rule.
pub(crate) async fn delete_rule(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<DeleteRule>,
) -> Result<Response, PageError> {
    save_without(&state, &user, File::Coverage, &form.version, |a| {
        let index = rule_index(&form.index, &a.coverage)?;
        a.coverage.rules.remove(index - 1);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------
// Tech-touch, hand-offs and who takes a free role

#[derive(Debug, Clone, Default, PartialEq)]
struct AssignmentRow {
    role: String,
    segments: String,
    members: String,
    method: String,
}

#[derive(Debug, Clone, Default)]
struct GeneralDraft {
    version: String,
    tech_segments: String,
    arr_below: String,
    handoff_due_days: String,
    assignment: Vec<AssignmentRow>,
}

impl GeneralDraft {
    fn of(rules: &CoverageRules, version: String) -> GeneralDraft {
        let mut assignment: Vec<AssignmentRow> = rules
            .assignment
            .iter()
            .map(|a| AssignmentRow {
                role: a.role.as_str().to_string(),
                segments: a.segments.join(", "),
                members: a.members.join(", "),
                method: serde_plain(&a.method),
            })
            .collect();
        assignment.push(AssignmentRow::default());
        GeneralDraft {
            version,
            tech_segments: rules.tech_touch.segments.join(", "),
            arr_below: rules.tech_touch.arr_below.map(tidy).unwrap_or_default(),
            handoff_due_days: rules.handoff_due_days.to_string(),
            assignment,
        }
    }

    fn sent(fields: &Fields) -> GeneralDraft {
        let sent = Sent(fields);
        GeneralDraft {
            version: sent.get("version").to_string(),
            tech_segments: sent.get("tech_segments").to_string(),
            arr_below: sent.get("arr_below").to_string(),
            handoff_due_days: sent.get("handoff_due_days").to_string(),
            assignment: (0..sent.rows("assign", "role"))
                .map(|i| {
                    let f = |field: &str| sent.get(&format!("assign-{i}-{field}")).to_string();
                    AssignmentRow {
                        role: f("role"),
                        segments: f("segments"),
                        members: f("members"),
                        method: f("method"),
                    }
                })
                .collect(),
        }
    }

    /// `rules` with the form's general settings, each problem at its field.
    fn apply(&self, rules: &mut CoverageRules, problems: &mut Problems) {
        rules.tech_touch.segments = list_of(&self.tech_segments);
        rules.tech_touch.arr_below = if self.arr_below.is_empty() {
            None
        } else {
            problems.check(
                "arr_below",
                self.arr_below
                    .parse::<f64>()
                    .ok()
                    .filter(|a| a.is_finite() && *a >= 0.0)
                    .ok_or_else(|| "an amount of zero or more, or empty".to_string()),
            )
        };
        if let Some(days) = problems.check(
            "handoff_due_days",
            self.handoff_due_days
                .parse::<u32>()
                .map_err(|_| "a whole number of days".to_string()),
        ) {
            rules.handoff_due_days = days;
        }
        rules.assignment = self
            .assignment
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.role.is_empty())
            .filter_map(|(i, a)| {
                let role = a.role.parse::<TeamRole>().map_err(|e| e.to_string());
                let role = problems.check(&format!("assign-{i}-role"), role)?;
                Some(Assignment {
                    role,
                    segments: list_of(&a.segments),
                    members: list_of(&a.members),
                    method: if a.method == "round_robin" {
                        Method::RoundRobin
                    } else {
                        Method::Balanced
                    },
                })
            })
            .collect();
    }
}

fn general_page(user: &CurrentUser, draft: &GeneralDraft, problems: &Problems, team: &[Member]) -> Markup {
    let mut roles = vec![(String::new(), "– (no list)".to_string())];
    roles.extend(role_options());
    let methods = [
        ("balanced", "Balanced: the member with the fewest accounts in the role"),
        ("round_robin", "Round robin: the member after the one who took it last"),
    ]
    .map(|(v, l)| (v.to_string(), l.to_string()));
    let body = html! {
        div.page-head {
            p { a href="/settings/coverage" { "← Coverage rules" } }
            h1 { "Tech-touch, hand-offs and who takes a free role" }
        }
        section.card {
            (form::summary(problems))
            form.stacked.settings-form #general-form method="post" action="/settings/coverage/general" {
                (form::csrf(user))
                input type="hidden" name="version" value=(draft.version);
                fieldset.rows {
                    legend { "Tech-touch: accounts covered by automation only" }
                    p.muted.small { "They get no named owner except from rules for tech-touch accounts, and tasks only where a playbook says so. Both empty: no account is tech-touch." }
                    (form::field("Segments, separated by commas (empty: any segment)", "tech_segments", Input::Text, &draft.tech_segments, problems))
                    (form::field("Below an ARR of (empty: any ARR)", "arr_below", Input::Number, &draft.arr_below, problems))
                }
                (form::field("Days a new owner has for the hand-off task", "handoff_due_days", Input::Number, &draft.handoff_due_days, problems))
                fieldset.rows {
                    legend { "Who takes a free role" }
                    p.muted.small {
                        "The first list for the role whose segments include the account's decides. Members by email or external id; none listed: everyone with the role. Without a list: everyone with the role, balanced."
                        @if !team.is_empty() {
                            " The team: " (team.iter().map(|m| m.email.clone().unwrap_or_else(|| m.external_id.clone())).collect::<Vec<_>>().join(", ")) "."
                        }
                    }
                    @for (i, a) in draft.assignment.iter().enumerate() {
                        @let name = |field: &str| format!("assign-{i}-{field}");
                        div.row-fields {
                            (form::select(&format!("List {}: role", i + 1), &name("role"), &roles, &a.role, problems))
                            (form::field("Segments (empty: any)", &name("segments"), Input::Text, &a.segments, problems))
                            (form::field("Members (empty: everyone with the role)", &name("members"), Input::Text, &a.members, problems))
                            (form::select("Method", &name("method"), &methods, if a.method.is_empty() { "balanced" } else { &a.method }, problems))
                        }
                    }
                }
                div.row { button type="submit" { "Save" } }
            }
        }
    };
    layout("Tech-touch and assignment", Some(Nav::Settings), user, body)
}

/// `GET /settings/coverage/general`.
pub(crate) async fn edit_general(State(state): State<AppState>, user: CurrentUser) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let rules = Automation::in_effect(&state.store)
        .await
        .map_err(in_effect_error)?
        .coverage;
    let version = version_of(&state.store.setting(COVERAGE_SETTING).await?);
    let team = state.store.team_members().await?;
    Ok(general_page(&user, &GeneralDraft::of(&rules, version), &Problems::new(), &team).into_response())
}

/// `POST /settings/coverage/general`: saves tech-touch, the hand-off's days and the
/// assignment lists.
pub(crate) async fn save_general(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, PageError> {
    require(&user, Permission::ManageAutomation)?;
    let mut draft = GeneralDraft::sent(&form);
    let setting = state.store.setting(COVERAGE_SETTING).await?;
    let mut automation = Automation::in_effect(&state.store).await.map_err(in_effect_error)?;
    let mut problems = Problems::new();
    draft.apply(&mut automation.coverage, &mut problems);
    let candidate = match problems.is_empty() {
        true => File::Coverage.checked(automation, &mut problems),
        false => None,
    };
    let team = state.store.team_members().await?;
    let sent_version = std::mem::replace(&mut draft.version, version_of(&setting));
    conclude(
        &state,
        &user,
        File::Coverage,
        "save",
        &sent_version,
        &setting,
        candidate,
        problems,
        |problems, _| general_page(&user, &draft, problems, &team),
    )
    .await
}

/// The conditions of a rule in words, with its exceptions: "health below 50 and renews
/// in at most 120 days, unless a customer for at least 90 days".
pub(crate) fn rule_in_words(rule: &RoleRule) -> String {
    let unless = laer_core::automation::wording::exceptions_in_words(&rule.unless);
    match (rule.when.is_empty(), rule.unless.is_empty()) {
        (true, false) => format!("unless {unless}"),
        (_, true) => conditions_in_words(&rule.when),
        (false, false) => format!("{}, unless {unless}", conditions_in_words(&rule.when)),
    }
}
