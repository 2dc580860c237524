//! Stripe in the admin area (issue 17): connecting it (a restricted read key and the
//! webhook signing secret, sealed with the server key; how customers link and MRR
//! counts), its sync as it runs or ended (*Sync now* asks any node to run one), its
//! webhook deliveries, and the customers it brought — the unlinked first with why, each
//! linked to an account by hand here (kept by later syncs) or given back to its metadata
//! key. Admins only. Reference: docs/import.md, "Stripe".

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use laer_app::billing::{SyncReport, check_access, settings_of};
use laer_app::stripe::{STRIPE_API, StripeClient, StripeError, StripeKey};
use laer_core::access::Permission;
use laer_core::billing::connection::{ConnectionSettings, LinkRule, Unmatched};
use laer_core::billing::rules::MrrRules;
use laer_store::{NewStripeConnection, StripeConnection};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Input, Problems};
use super::session::{CsrfForm, Nothing};
use super::{CurrentUser, Nav, PageError, admin_tabs, layout, require};
use crate::AppState;
use crate::site::Origin;

const PATH: &str = "/admin/stripe";

/// The MRR rules offered on the form: (field, label).
const RULES: [(&str, &str); 6] = [
    (
        "once_discounts",
        "A coupon of duration once lowers MRR in the period it applies to",
    ),
    ("repeating_discounts", "A repeating coupon lowers MRR while it lasts"),
    ("past_due_counts", "A past-due subscription keeps its MRR"),
    (
        "paused_collection_counts",
        "A subscription whose collection is paused keeps its MRR",
    ),
    (
        "churn_at_period_end",
        "A cancellation ends MRR at the end of the period paid for",
    ),
    ("metered", "Metered (usage) prices count"),
];

fn rule(rules: &MrrRules, name: &str) -> bool {
    match name {
        "once_discounts" => rules.once_discounts,
        "repeating_discounts" => rules.repeating_discounts,
        "past_due_counts" => rules.past_due_counts,
        "paused_collection_counts" => rules.paused_collection_counts,
        "churn_at_period_end" => rules.churn_at_period_end,
        _ => rules.metered,
    }
}

/// The connection's settings as the form shows them: stored, or as sent.
struct Shown {
    api_base: String,
    metadata_key: String,
    currency: String,
    link_rule: String,
    reconcile_minutes: String,
    rules: MrrRules,
}

impl Shown {
    fn of(api_base: &str, settings: &ConnectionSettings) -> Shown {
        Shown {
            api_base: api_base.to_string(),
            metadata_key: settings.metadata_key.clone(),
            currency: settings.currency.clone(),
            link_rule: settings.link_rule.as_str().to_string(),
            reconcile_minutes: settings.reconcile_minutes.to_string(),
            rules: settings.rules,
        }
    }
}

fn when(at: Option<i64>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).map_or_else(
        || "never".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

fn counts(report: &SyncReport) -> Markup {
    html! {
        (report.customers) " customers (" (report.linked) " linked"
        @if report.accounts_created > 0 { ", " (report.accounts_created) " accounts made" }
        "), " (report.products) " products, " (report.prices) " prices, " (report.invoices) " invoices, "
        (report.credit_notes) " credit notes, "
        (report.subscriptions) " subscriptions (" (report.changed) " changed); contract lines: "
        (report.lines_written) " written, " (report.lines_unchanged) " unchanged"
        @if !report.unlisted.is_empty() { " (this Stripe server lists no " (report.unlisted.join(", ").replace('_', " ")) ")" }
    }
}

/// The connection: its sync, its webhooks, and its settings form.
fn connection_part(
    c: Option<&StripeConnection>,
    shown: &Shown,
    user: &CurrentUser,
    problems: &Problems,
    origin: &str,
) -> Markup {
    let now = chrono::Utc::now().timestamp();
    let report: Option<SyncReport> = c
        .and_then(|c| c.sync.last_report.as_deref())
        .and_then(|r| serde_json::from_str(r).ok());
    let progress: Option<SyncReport> = c
        .and_then(|c| c.sync.progress.as_deref())
        .and_then(|r| serde_json::from_str(r).ok());
    let running = c.is_some_and(|c| {
        c.sync.owner.is_some() && c.sync.heartbeat.unwrap_or(0) >= now - laer_app::billing::STALE_AFTER
    });
    let link_rules: Vec<(String, String)> = LinkRule::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), format!("Otherwise, {}", r.describe())))
        .collect();
    html! {
        @if let Some(c) = c {
            section.card #stripe-sync {
                div.card-head {
                    h2 { "Sync" }
                    form.inline method="post" action={(PATH) "/sync"} {
                        (form::csrf(user))
                        button type="submit" disabled[running] { "Sync now" }
                    }
                }
                dl {
                    dt { "Connected" } dd { (c.api_base) " since " (when(Some(c.connected_at))) " by " (c.connected_by) }
                    dt { "Now" }
                    dd {
                        @if running {
                            "Syncing " (c.sync.stage.as_deref().unwrap_or("customers")) " (started " (when(c.sync.started_at)) "): "
                            @if let Some(p) = &progress { (counts(p)) " so far." }
                            " Reload to follow it."
                        } @else if c.sync.requested {
                            "A sync is asked for: a server starts it within seconds."
                        } @else {
                            "Idle. The next reconciliation runs " (settings_of(c).map_or(60, |s| s.reconcile_minutes)) " minutes after the last sync."
                        }
                    }
                    dt { "Last sync" }
                    dd {
                        (when(c.sync.finished_at))
                        @if let (Some(r), None) = (&report, &c.sync.error) { ": " (counts(r)) "." }
                    }
                    @if let Some(r) = &report {
                        @if r.other_currency > 0 {
                            dt { "Other currencies" } dd { (r.other_currency) " subscriptions in a currency other than " (shown.currency) " without an exchange rate were left out: "
                                a href="/import" { "import exchange rates" } " (exchange-rates) and they follow." }
                        }
                        @if r.unreadable > 0 {
                            dt { "Not understood" }
                            dd {
                                (r.unreadable) " objects laer could not read were left out:"
                                ul { @for (id, why) in &r.unreadable_named { li { code { (id) } ": " (why) } } }
                            }
                        }
                    }
                }
                @if let Some(error) = &c.sync.error {
                    p.error #stripe-sync-error {
                        "The last sync stopped: " (error) ". The next one resumes at "
                        (c.sync.stage.as_deref().unwrap_or("the start")) "; nothing it read was lost."
                    }
                }
            }
            section.card #stripe-webhooks {
                h2 { "Live changes (webhooks)" }
                p {
                    "In Stripe's dashboard (Developers → Webhooks), add the endpoint "
                    code { (origin) "/webhooks/stripe" }
                    " for the events customer.*, customer.subscription.* and product.*, and paste its signing secret below."
                }
                dl {
                    dt { "Signing secret" } dd { @if c.webhook_secret.is_some() { "set" } @else { strong { "not set" } ": events are refused until it is" } }
                    dt { "Last event" } dd { (when(c.webhook_received_at)) }
                    @if let Some(reason) = &c.webhook_refused_reason {
                        dt { "Last refused" } dd { (when(c.webhook_refused_at)) ": " (reason) }
                    }
                }
            }
        }
        section.card.wide #stripe-connect {
            h2 { @if c.is_some() { "Settings" } @else { "Connect Stripe" } }
            @if c.is_none() {
                p.muted {
                    "Create a restricted key in Stripe (Developers → API keys) with read access to customers, products, prices, subscriptions, invoices and credit notes, and paste it here. It is stored sealed with the server key and shown to nobody."
                }
            }
            form method="post" action={(PATH) "/connect"} {
                (form::csrf(user))
                (form::field(
                    if c.is_some() { "Restricted key (leave empty to keep the stored one)" } else { "Restricted key (rk_…)" },
                    "api_key", Input::Password, "", problems))
                (form::field(
                    if c.is_some_and(|c| c.webhook_secret.is_some()) { "Webhook signing secret (leave empty to keep the stored one)" } else { "Webhook signing secret (whsec_…, optional)" },
                    "webhook_secret", Input::Password, "", problems))
                (form::field("Customer metadata key naming the account's external id", "metadata_key", Input::Text, &shown.metadata_key, problems))
                (form::select("A customer the metadata does not link", "link_rule", &link_rules, &shown.link_rule, problems))
                (form::field("Reporting currency", "currency", Input::Text, &shown.currency, problems))
                (form::field("Minutes between reconciliations", "reconcile_minutes", Input::Number, &shown.reconcile_minutes, problems))
                fieldset.checkboxes {
                    legend { "MRR rules (docs/metrics.md, \"MRR from Stripe\")" }
                    @for (name, label) in RULES {
                        label.check { input type="checkbox" name=(name) value="on" checked[rule(&shown.rules, name)]; (label) }
                    }
                }
                details {
                    summary { "Stripe's address" }
                    (form::field("API base", "api_base", Input::Text, &shown.api_base, problems))
                }
                button type="submit" { @if c.is_some() { "Save" } @else { "Connect" } }
            }
            @if c.is_some() {
                form.inline method="post" action={(PATH) "/disconnect"} {
                    (form::csrf(user))
                    button.secondary.danger type="submit" data-confirm="Disconnect Stripe? Its key is forgotten; the lines it gave stay." { "Disconnect" }
                }
            }
        }
    }
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    origin: &str,
    problems: &Problems,
    sent: Option<Shown>,
    typed: Option<(&str, &str)>,
) -> Result<Markup, PageError> {
    require(user, Permission::ImportData)?;
    let (connection, customers, names) = tokio::try_join!(
        state.store.stripe_connection(),
        state.store.stripe_customers(),
        state.store.account_names()
    )?;
    let settings = connection
        .as_ref()
        .and_then(|c| settings_of(c).ok())
        .unwrap_or_default();
    let shown = sent.unwrap_or_else(|| {
        Shown::of(
            connection.as_ref().map_or(STRIPE_API, |c| c.api_base.as_str()),
            &settings,
        )
    });
    let mut customers: Vec<_> = customers.into_values().collect();
    customers.sort_by(|a, b| {
        a.account_id
            .is_some()
            .cmp(&b.account_id.is_some())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    let unlinked = customers.iter().filter(|c| c.account_id.is_none()).count();
    let why = |u: Option<&str>| -> String {
        u.and_then(|u| serde_json::from_str::<Unmatched>(u).ok())
            .map_or_else(|| "not linked".to_string(), |u| format!("not linked: {u}"))
    };
    Ok(layout(
        "Stripe",
        Some(Nav::Admin),
        user,
        html! {
            (admin_tabs(user, PATH))
            div.page-head {
                h1 { "Stripe" }
                p.muted {
                    "Each Stripe subscription becomes its customer's account's contract lines, by the rules of docs/metrics.md (\"MRR from Stripe\"): a sync reads everything, and webhooks bring each change as it happens."
                }
            }
            (form::summary(problems))
            (connection_part(connection.as_ref(), &shown, user, problems, origin))
            h2 { "Customers" }
            @if customers.is_empty() {
                p.muted { "No Stripe customers yet: the first sync brings them." }
            } @else {
                p {
                    strong { (customers.len()) } " customers, " strong { (unlinked) } " linked to no account. A link made by hand is kept by later syncs."
                }
                table.data #stripe-customers {
                    thead { tr { th { "Customer" } th { "Account" } th { "Link" } } }
                    tbody { @for c in &customers {
                        tr {
                            td {
                                (c.name.as_deref().unwrap_or("(no name)")) br;
                                small.muted { (c.email.as_deref().unwrap_or("")) " · " (c.customer_id) }
                            }
                            td {
                                @match c.account_id.and_then(|id| names.get(&id).map(|n| (id, n))) {
                                    Some((id, n)) => {
                                        a href={"/accounts/" (id)} { (n.name.as_deref().unwrap_or(&n.external_id)) }
                                        @if c.linked_by_hand { " " span.muted.small { "(by hand)" } }
                                    }
                                    None => { span.muted { (why(c.unmatched.as_deref())) } }
                                }
                            }
                            td {
                                form.inline method="post" action={(PATH) "/link"} {
                                    (form::csrf(user))
                                    input type="hidden" name="customer" value=(c.customer_id);
                                    label.field {
                                        "Account (external id)"
                                        input type="text" name="account" required
                                            value=(typed.filter(|(id, _)| *id == c.customer_id).map_or("", |(_, a)| a));
                                    }
                                    button.secondary type="submit" { "Link" }
                                }
                                @if c.linked_by_hand {
                                    form.inline method="post" action={(PATH) "/link"} {
                                        (form::csrf(user))
                                        input type="hidden" name="customer" value=(c.customer_id);
                                        button.secondary type="submit" { "Follow the metadata again" }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
        },
    ))
}

/// `GET /admin/stripe`.
pub(crate) async fn customers(
    State(state): State<AppState>,
    Origin(origin): Origin,
    user: CurrentUser,
) -> Result<Response, PageError> {
    Ok(page(&state, &user, &origin, &Problems::new(), None, None)
        .await?
        .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct LinkForm {
    customer: String,
    /// An account's external id; absent: back to the metadata.
    account: Option<String>,
}

/// `POST /admin/stripe/link`: links a customer to an account by hand, or gives it back
/// to its metadata key; an unknown account shows the page again with the problem (400).
pub(crate) async fn link(
    State(state): State<AppState>,
    Origin(origin): Origin,
    CsrfForm { user, form }: CsrfForm<LinkForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let typed = form.account.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let account = match typed {
        Some(external) => {
            let found = state.store.account_by_external_id(external).await?.map(|a| a.id);
            match found {
                Some(id) => Some(id),
                None => {
                    let mut problems = Problems::new();
                    problems.add("account", format!("no account has the external id {external:?}"));
                    let page = page(
                        &state,
                        &user,
                        &origin,
                        &problems,
                        None,
                        Some((&form.customer, external)),
                    )
                    .await?;
                    return Ok(form::refused(page));
                }
            }
        }
        None => None,
    };
    match laer_app::billing::link_by_hand(&state.store, &form.customer, account, &user.actor()).await {
        Ok(_) => Ok(Redirect::to(PATH).into_response()),
        Err(laer_app::billing::SyncError::Store(e)) => Err(e.into()),
        Err(e) => Err(PageError::Internal(e.to_string())),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConnectForm {
    api_key: Option<String>,
    webhook_secret: Option<String>,
    api_base: Option<String>,
    metadata_key: String,
    currency: String,
    link_rule: String,
    reconcile_minutes: String,
    once_discounts: Option<String>,
    repeating_discounts: Option<String>,
    past_due_counts: Option<String>,
    paused_collection_counts: Option<String>,
    churn_at_period_end: Option<String>,
    metered: Option<String>,
}

/// `POST /admin/stripe/connect`: connects Stripe or changes its settings. The key is
/// tried against Stripe first (each list a sync reads); a key Stripe refuses, one that
/// may not read a list, a secret that is not one, or a setting out of range comes back
/// at its field (400) with the rest as sent, and nothing is saved.
pub(crate) async fn connect(
    State(state): State<AppState>,
    Origin(origin): Origin,
    CsrfForm { user, form }: CsrfForm<ConnectForm>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    let rules = MrrRules {
        once_discounts: form.once_discounts.is_some(),
        repeating_discounts: form.repeating_discounts.is_some(),
        past_due_counts: form.past_due_counts.is_some(),
        paused_collection_counts: form.paused_collection_counts.is_some(),
        churn_at_period_end: form.churn_at_period_end.is_some(),
        metered: form.metered.is_some(),
    };
    let api_base = form
        .api_base
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(STRIPE_API)
        .trim_end_matches('/')
        .to_string();
    let shown = Shown {
        api_base: api_base.clone(),
        metadata_key: form.metadata_key.clone(),
        currency: form.currency.clone(),
        link_rule: form.link_rule.clone(),
        reconcile_minutes: form.reconcile_minutes.clone(),
        rules,
    };
    let mut problems = Problems::new();
    let link_rule = problems.check(
        "link_rule",
        LinkRule::parse(&form.link_rule).ok_or_else(|| format!("unknown rule {:?}", form.link_rule)),
    );
    let reconcile_minutes = problems.check(
        "reconcile_minutes",
        form.reconcile_minutes
            .trim()
            .parse::<u32>()
            .map_err(|_| "expected a whole number of minutes".to_string()),
    );
    let settings = match (link_rule, reconcile_minutes) {
        (Some(link_rule), Some(reconcile_minutes)) => {
            let checked = ConnectionSettings {
                metadata_key: form.metadata_key.clone(),
                currency: form.currency.clone(),
                link_rule,
                rules,
                reconcile_minutes,
            }
            .checked();
            match checked {
                Ok(settings) => Some(settings),
                Err(e) => {
                    problems.add(e.field, e.problem);
                    None
                }
            }
        }
        _ => None,
    };
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        problems.add("api_base", "expected an http:// or https:// address");
    }
    let key = form.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty());
    let webhook = form.webhook_secret.as_deref().map(str::trim).filter(|k| !k.is_empty());
    if webhook.is_some_and(|w| !w.starts_with("whsec_")) {
        problems.add(
            "webhook_secret",
            "expected a signing secret (whsec_…), as Stripe shows for the endpoint",
        );
    }
    let connected = state.store.stripe_connection().await?.is_some();
    let client = match key.map(StripeKey::new) {
        None if !connected => {
            problems.add("api_key", "give a Stripe restricted key to connect");
            None
        }
        None => None,
        Some(Err(e)) => {
            problems.add("api_key", e.to_string());
            None
        }
        Some(Ok(key)) => Some(StripeClient::new(&api_base, key)),
    };
    if let Some(client) = client.as_ref().filter(|_| problems.is_empty())
        && let Err(e) = check_access(client).await
    {
        tracing::warn!(error = %e, "a Stripe key was tried and refused");
        let field = match e {
            StripeError::Unreachable { .. } => "api_base",
            _ => "api_key",
        };
        problems.add(field, e.to_string());
    }
    let Some(secrets) = state.secrets.as_ref() else {
        problems.add(
            "api_key",
            "this server has no server key to seal the key with (docs/operations.md#secrets-at-rest)",
        );
        let page = page(&state, &user, &origin, &problems, Some(shown), None).await?;
        return Ok(form::refused(page));
    };
    let Some(settings) = settings.filter(|_| problems.is_empty()) else {
        let page = page(&state, &user, &origin, &problems, Some(shown), None).await?;
        return Ok(form::refused(page));
    };
    let settings_json = serde_json::to_string(&settings).map_err(|e| PageError::Internal(e.to_string()))?;
    state
        .store
        .connect_stripe(
            &NewStripeConnection {
                api_key: key,
                webhook_secret: webhook,
                api_base: &api_base,
                settings: &settings_json,
            },
            secrets,
            &user.actor(),
        )
        .await?;
    Ok(Redirect::to(PATH).into_response())
}

/// `POST /admin/stripe/sync`: asks for a sync; any node's loop starts it within seconds.
pub(crate) async fn sync_now(
    State(state): State<AppState>,
    CsrfForm { user, .. }: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    state.store.request_stripe_sync().await?;
    Ok(Redirect::to(PATH).into_response())
}

/// `POST /admin/stripe/disconnect`: forgets the key and secret; the lines stay.
pub(crate) async fn disconnect(
    State(state): State<AppState>,
    CsrfForm { user, .. }: CsrfForm<Nothing>,
) -> Result<Response, PageError> {
    require(&user, Permission::ImportData)?;
    state.store.disconnect_stripe(&user.actor()).await?;
    Ok(Redirect::to(PATH).into_response())
}
