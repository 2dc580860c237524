//! Rights on one account (docs/access.md, "Rights by phase"): whether the person may use
//! a permission there, by their role and by whether they cover the account in its
//! current phase (`laer_core::access::Role::may`). A control the person may not use is
//! shown as the reason instead ([`note`]), and its POST handler refuses with the same
//! reason ([`require_on`], 403).

use laer_core::access::{Permission, Refusal, Standing};
use maud::{Markup, html};

use super::{CurrentUser, PageError, today};
use crate::AppState;

/// Where the user stands with the account today: its phase, and whether their team
/// member leads it in that phase (from the portfolio's snapshots, which carry current
/// coverage). `None` for an account the snapshots do not know.
pub(crate) async fn standing(
    state: &AppState,
    user: &CurrentUser,
    account_id: i64,
) -> Result<Option<Standing>, PageError> {
    let today = today();
    let snapshots = state.cache.snapshots(&state.store, today).await?;
    Ok(snapshots
        .iter()
        .find(|a| a.id == account_id)
        .map(|a| a.standing_of(user.team_member_id, today, &state.health_model.phases)))
}

/// Whether the user may use `permission` on the account.
pub(crate) async fn may_on(
    state: &AppState,
    user: &CurrentUser,
    permission: Permission,
    account_id: i64,
) -> Result<Result<(), Refusal>, PageError> {
    if user.role.can(permission) {
        return Ok(Ok(()));
    }
    Ok(user.role.may(permission, standing(state, user, account_id).await?))
}

/// Requires `permission` on the account; else the refusal, as a page (403).
pub(crate) async fn require_on(
    state: &AppState,
    user: &CurrentUser,
    permission: Permission,
    account_id: i64,
) -> Result<(), PageError> {
    may_on(state, user, permission, account_id)
        .await?
        .map_err(|refusal| PageError::Refused(refusal, Box::new(user.clone())))
}

/// Requires a permission of the user's role, the refusal saying which and why.
pub(crate) fn require_role(user: &CurrentUser, permission: Permission) -> Result<(), PageError> {
    user.role
        .may(permission, None)
        .map_err(|refusal| PageError::Refused(refusal, Box::new(user.clone())))
}

/// In place of a control the user may not use: why not.
pub(crate) fn note(refusal: &Refusal) -> Markup {
    html! { p.muted.refusal { "Not available to you: " (refusal) "." } }
}
