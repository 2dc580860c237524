//! An account's success plan (docs/success-plans.md): the team's page with its forms
//! (objective, milestones, share links), a preview of the customer's view, and the
//! customer's view itself at `/plan/{token}`, which needs no login: the link's token is
//! the key, and an unknown or revoked one gets the same "not available".

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use laer_core::access::{Permission, Refusal};
use laer_core::model::{MilestoneSide, NewMilestone};
use laer_core::success_plan::{MilestoneView, SuccessPlan, assemble, internal_words};
use laer_store::{MilestoneChange, ShareLink};
use maud::{Markup, html};
use serde::Deserialize;

use super::plan_view::{self, Audience, EFFECT_HEADERS};
use super::session::{Button, CsrfForm};
use super::{CurrentUser, PageError, layout, require, rights, today};
use crate::AppState;
use crate::site::Origin;

/// Longer paths are no token of ours; answered without a look in the database.
pub(super) const MAX_TOKEN_CHARS: usize = 100;

pub(super) async fn plan_of(state: &AppState, id: i64) -> Result<SuccessPlan, PageError> {
    let today = today();
    let records = state
        .store
        .plan_records(id, today)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("account {id}")))?;
    Ok(assemble(&records, today))
}

/// Refuses a form from someone who may not edit this account's plan: a role without
/// manage_plans, unless they cover the account in its current phase (rights by phase,
/// docs/access.md). Nothing changes; the page says which right and why (403).
async fn editing(state: &AppState, user: &CurrentUser, id: i64) -> Result<(), PageError> {
    rights::require_on(state, user, Permission::ManagePlans, id).await
}

/// After a change: the plan's page, at the section that changed.
fn back_to(id: i64, section: &str) -> Response {
    Redirect::to(&format!("/accounts/{id}/plan#{section}")).into_response()
}

/// A note when text the customer will read uses the team's own words.
fn customer_sees(text: &str) -> Markup {
    let words = internal_words(text);
    html! {
        @if !words.is_empty() {
            span.warn title="Text you write for the plan is shown to the customer as it is." {
                "The customer sees: " (words.join(", "))
            }
        }
    }
}

/// `GET /accounts/{id}/plan`: the plan with the team's records and forms.
pub(crate) async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    let plan = plan_of(&state, id).await?;
    let links = state.store.share_links(id).await?;
    let right = rights::may_on(&state, &user, Permission::ManagePlans, id).await?;
    let can_edit = right.is_ok();
    let refused = right.err();
    // Outcomes with their forms, measurements, the customer's switch (web/outcomes.rs).
    let outcomes_work = super::outcomes::team_section(&state, &user, id).await?;
    let base = format!("/accounts/{id}/plan");
    let milestone_actions = |m: &MilestoneView| {
        html! {
            form.inline method="post" action={(base) "/milestones/" (m.id)} {
                input type="hidden" name="csrf" value=(user.csrf_token);
                @if m.done_on.is_some() {
                    button.secondary type="submit" name="action" value="reopen" { "Reopen" }
                } @else {
                    button type="submit" name="action" value="done" { "Done" }
                }
                button.secondary type="submit" name="action" value="remove" data-confirm="Remove this milestone from the plan?" { "Remove" }
            }
            (customer_sees(&m.title))
        }
    };
    let body = html! {
        div.page-head {
            p { a href={"/accounts/" (id)} { "← " (plan.account) } }
            h1 { "Success plan: " (plan.account) }
            p.muted {
                "Plan, Implement, Monitor, Optimize: what the customer sees at a share link, with your own records. "
                a href={(base) "/preview"} { "See it as the customer does" } " · " a href="#share" { "Share with the customer" }
            }
        }
        section.card #objective {
            h2 { "Objective" }
            @if let Some(o) = &plan.objective { p.objective { (o) } (customer_sees(o)) }
            @else { p.muted { "No objective written yet: say in a sentence or two what the customer wants to achieve." } }
            @if can_edit {
                details {
                    summary { "Edit the objective" }
                    form.stacked method="post" action={(base) "/objective"} {
                        input type="hidden" name="csrf" value=(user.csrf_token);
                        label { "Objective, in the customer's words"
                            textarea name="objective" rows="3" maxlength=(laer_store::MAX_OBJECTIVE_CHARS) {
                                (plan.objective.as_deref().unwrap_or("")) } }
                        button type="submit" { "Save" }
                    }
                }
            } @else if let Some(r) = &refused { (rights::note(r)) }
        }
        (plan_view::plan_section(&plan.plan, None))
        (outcomes_work)
        section.card.pimo #implement {
            h2 { span.step { "Implement" } "Milestones and user enablement" }
            (plan_view::milestones_table(&plan.implement.milestones, Audience::Team, can_edit.then_some(&milestone_actions as &dyn Fn(&MilestoneView) -> Markup)))
            @if can_edit {
                form.inline.add-milestone method="post" action={(base) "/milestones"} {
                    input type="hidden" name="csrf" value=(user.csrf_token);
                    label { "Milestone" input type="text" name="title" required maxlength=(NewMilestone::MAX_TITLE_CHARS) placeholder="First team trained"; }
                    label { "Due" input type="date" name="due" required; }
                    label { "Who"
                        select name="side" {
                            option value="customer" { "Customer" }
                            option value="vendor" { "Us" }
                        }
                    }
                    button type="submit" { "Add milestone" }
                }
            } @else if let Some(r) = &refused { (rights::note(r)) }
            (plan_view::enablement(&plan.implement.enablement))
        }
        (plan_view::monitor_section(&plan.monitor))
        section.card.pimo #optimize {
            h2 { span.step { "Optimize" } "Interventions and what changed after" }
            @if plan.optimize.is_empty() { p.muted { "No tasks done or meetings held in the last year." } }
            @else {
                table.data #interventions {
                    thead { tr { th { "Date" } th { "The customer reads" } th { "Your record" } th.num { (EFFECT_HEADERS[0]) } th.num { (EFFECT_HEADERS[1]) } } }
                    tbody { @for i in &plan.optimize { tr {
                        td.date { (i.on) } td { (i.label) }
                        td { (i.detail) @if let Some(p) = &i.playbook { " " span.tag { (p) } } }
                        (plan_view::effect_cells(&i.effect, i.on))
                    } } }
                }
            }
        }
        (share_section(id, &links, &user, refused.as_ref()))
    };
    Ok(layout(&format!("Success plan · {}", plan.account), None, &user, body).into_response())
}

fn share_section(id: i64, links: &[ShareLink], user: &CurrentUser, refused: Option<&Refusal>) -> Markup {
    let can_edit = refused.is_none();
    html! {
        section.card #share {
            h2 { "Share with the customer" }
            p.muted { "A share link opens a read-only view of this plan without a login, in the customer's words: outcomes, milestones and progress; no phases, health or playbooks. Anyone with the link can read it until it is revoked." }
            @if can_edit {
                form.inline method="post" action={"/accounts/" (id) "/plan/links"} {
                    input type="hidden" name="csrf" value=(user.csrf_token);
                    button type="submit" { "Create a share link" }
                }
            } @else if let Some(r) = refused { (rights::note(r)) }
            @if !links.is_empty() {
                table.data #links {
                    thead { tr { th { "Link" } th { "Created" } th { "By" } th { "Status" } @if can_edit { th {} } } }
                    tbody { @for l in links { tr {
                        td { code { "/plan/" (l.prefix) "…" } }
                        td.date { (l.created_at.format("%Y-%m-%d %H:%M")) } td { (l.created_by) }
                        td { @match (&l.revoked_at, &l.revoked_by) {
                            (Some(at), by) => { span.down { "revoked " (at.format("%Y-%m-%d")) } @if let Some(by) = by { " by " (by) } }
                            (None, _) => { span.up { "live" } }
                        } }
                        @if can_edit { td { @if l.revoked_at.is_none() {
                            form.inline method="post" action={"/accounts/" (id) "/plan/links/" (l.id) "/revoke"} {
                                input type="hidden" name="csrf" value=(user.csrf_token);
                                button.secondary type="submit" data-confirm="Revoke this link? The customer can no longer open the plan with it." { "Revoke" }
                            }
                        } } }
                    } } }
                }
            }
        }
    }
}

/// `GET /accounts/{id}/plan/preview`: the customer's view, for the team.
pub(crate) async fn preview(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    require(&user, Permission::ViewAccounts)?;
    let plan = plan_of(&state, id).await?;
    let back = format!("/accounts/{id}/plan");
    Ok(plan_view::customer_page(&plan.for_customer(), Some(&back), None).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ObjectiveForm {
    #[serde(default)]
    objective: String,
}

/// `POST /accounts/{id}/plan/objective`.
pub(crate) async fn set_objective(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<ObjectiveForm>,
) -> Result<Response, Response> {
    editing(&state, &user, id).await?;
    state
        .store
        .set_plan_objective(id, &form.objective, &user.actor())
        .await
        .map_err(PageError::from)?;
    Ok(back_to(id, "objective"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MilestoneForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    due: String,
    side: Option<String>,
}

/// `POST /accounts/{id}/plan/milestones`: adds one, audited.
pub(crate) async fn add_milestone(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<MilestoneForm>,
) -> Result<Response, Response> {
    editing(&state, &user, id).await?;
    let due: NaiveDate = form
        .due
        .trim()
        .parse()
        .map_err(|_| PageError::BadRequest(format!("due: expected a date YYYY-MM-DD, found {:?}.", form.due)))?;
    let side: MilestoneSide = form
        .side
        .as_deref()
        .unwrap_or("customer")
        .parse()
        .map_err(|e| PageError::BadRequest(format!("side: {e}.")))?;
    let milestone = NewMilestone::new(id, &form.title, due, side)
        .map_err(|e| PageError::BadRequest(format!("{}: {e}.", e.field())))?;
    state
        .store
        .add_milestone(&milestone, &user.actor())
        .await
        .map_err(PageError::from)?;
    Ok(back_to(id, "implement"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChangeForm {
    action: String,
}

/// `POST /accounts/{id}/plan/milestones/{milestone}`: done, reopen or remove, audited.
pub(crate) async fn change_milestone(
    State(state): State<AppState>,
    Path((id, milestone)): Path<(i64, i64)>,
    CsrfForm { user, form }: CsrfForm<ChangeForm>,
) -> Result<Response, Response> {
    editing(&state, &user, id).await?;
    let change = match form.action.as_str() {
        "done" => MilestoneChange::Done(today()),
        "reopen" => MilestoneChange::Reopen,
        "remove" => MilestoneChange::Remove,
        other => {
            let why = format!("action: expected done, reopen or remove, found {other:?}.");
            return Err(PageError::BadRequest(why).into());
        }
    };
    // Only a milestone of this account, so that the URL says what changes.
    let found = state.store.milestone(milestone).await.map_err(PageError::from)?;
    if found.is_none_or(|m| m.fields.account_id != id) {
        return Err(PageError::NotFound(format!("milestone {milestone} of account {id}")).into());
    }
    state
        .store
        .change_milestone(milestone, change, &user.actor())
        .await
        .map_err(PageError::from)?;
    Ok(back_to(id, "implement"))
}

/// `POST /accounts/{id}/plan/links`: a new share link, its address shown this once.
pub(crate) async fn create_link(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Origin(origin): Origin,
    CsrfForm { user, .. }: CsrfForm<Button>,
) -> Result<Response, Response> {
    editing(&state, &user, id).await?;
    let laer_store::Created {
        record: link,
        secret: token,
    } = state
        .store
        .create_share_link(id, &user.actor())
        .await
        .map_err(PageError::from)?;
    let path = format!("/plan/{token}");
    let url = format!("{origin}{path}");
    let body = html! {
        section.card.narrow.wide #new-link {
            h1 { "Share link created" }
            p { "Send this address to the customer. It is shown only now: laer keeps no copy of it. Anyone with it can read the plan until you revoke the link." }
            p { input #share-url type="text" readonly value=(url) aria-label="Share link"; }
            p { a #share-path href=(path) { "Open it as the customer" } " · link " code { (link.prefix) "…" } }
            p { a href={"/accounts/" (id) "/plan#share"} { "Back to the plan" } }
        }
    };
    // Not kept by the browser's cache: the token is in the page.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        layout("Share link created", None, &user, body),
    )
        .into_response())
}

/// `POST /accounts/{id}/plan/links/{link}/revoke`.
pub(crate) async fn revoke_link(
    State(state): State<AppState>,
    Path((id, link)): Path<(i64, i64)>,
    CsrfForm { user, .. }: CsrfForm<Button>,
) -> Result<Response, Response> {
    editing(&state, &user, id).await?;
    let found = state.store.share_link(link).await.map_err(PageError::from)?;
    if found.is_none_or(|l| l.account_id != id) {
        return Err(PageError::NotFound(format!("share link {link} of account {id}")).into());
    }
    state
        .store
        .revoke_share_link(link, &user.actor())
        .await
        .map_err(PageError::from)?;
    Ok(back_to(id, "share"))
}
