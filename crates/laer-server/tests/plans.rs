//! Success plans over real HTTP, on each backend, with the demo company as data: the
//! customer reads a shared plan without a login, in their words, until the link is
//! revoked; the team's page needs a login, the manage_plans permission and the CSRF token.

use crate::common::DEMO_PASSWORD;
use crate::common::spawn;
use crate::common::text::visible_text;
use crate::common::web::{Session, client};
use laer_app::demo::DemoLoad;
use laer_core::access::Role;
use laer_core::success_plan::internal_words;
use laer_demo::DemoConfig;
use laer_store::Store;
use reqwest::header::LOCATION;

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

async fn seed(store: &Store) -> DemoLoad {
    let config = DemoConfig {
        accounts: 16,
        months: 12,
        seed: 5,
        ..DemoConfig::new(today())
    };
    laer_app::demo::load(
        store,
        &config,
        &laer_core::health::HealthModel::default(),
        DEMO_PASSWORD,
    )
    .await
    .unwrap()
}

fn login_of(load: &DemoLoad, role: Role) -> String {
    load.logins
        .iter()
        .find(|(_, r)| *r == role)
        .map(|(email, _)| email.clone())
        .unwrap_or_else(|| panic!("the demo has a {role} login"))
}

/// A customer whose plan has outcomes, milestones and interventions: (id, name).
async fn account_with_a_plan(store: &Store) -> (i64, String) {
    let mut ids: Vec<i64> = store.account_names().await.unwrap().into_keys().collect();
    ids.sort();
    for id in ids {
        let r = store.plan_records(id, today()).await.unwrap().unwrap();
        let plan = laer_core::success_plan::assemble(&r, today());
        if !r.outcomes.is_empty() && !r.milestones.is_empty() && !plan.optimize.is_empty() {
            return (id, r.account);
        }
    }
    panic!("no demo account has a plan with outcomes, milestones and interventions");
}

/// The share link's path on the page that created it.
fn share_path(page: &str) -> String {
    let at = page
        .find("id=\"share-path\" href=\"")
        .expect("the page shows the new link")
        + 22;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

async fn get_public(base: &str, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = client().get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn a_shared_plan_is_read_without_a_login_until_revoked(store: &Store) {
    let load = seed(store).await;
    let (id, name) = account_with_a_plan(store).await;
    let base = spawn(store).await;
    let csm = Session::login(&base, &login_of(&load, Role::Csm), DEMO_PASSWORD)
        .await
        .unwrap();
    let (status, account_page) = csm.get(&format!("/accounts/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        account_page.contains(&format!("href=\"/accounts/{id}/plan\"")),
        "the account page links to the plan"
    );
    let (status, team_page) = csm.get(&format!("/accounts/{id}/plan")).await;
    assert_eq!(status, 200);
    for part in [
        "Plan",
        "Implement",
        "Monitor",
        "Optimize",
        "Share with the customer",
        "Create a share link",
    ] {
        assert!(team_page.contains(part), "{part}");
    }

    // Without the session's token nothing is created.
    let links = format!("/accounts/{id}/plan/links");
    assert_eq!(csm.post(&links, &[("csrf", "forged")]).await, 403);
    assert!(store.share_links(id).await.unwrap().is_empty());
    let csrf = csm.csrf().await;
    let (status, created) = csm.post_page(&links, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    let path = share_path(&created);
    let token = path.strip_prefix("/plan/").unwrap();
    assert!(token.starts_with("sp_") && token.len() > 60, "{token}");
    assert!(created.contains(&format!("value=\"http://{}", base.trim_start_matches("http://"))));

    // The customer: no cookie, no login.
    let (status, headers, page) = get_public(&base, &path).await;
    assert_eq!(status, 200);
    assert!(headers["x-robots-tag"].to_str().unwrap().contains("noindex"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(page.contains(r#"<meta name="robots" content="noindex, nofollow">"#));
    let title = format!("<title>{} · Success plan</title>", name.replace('&', "&amp;"));
    assert!(page.contains(&title), "{title}");
    let text = visible_text(&page);
    assert_eq!(
        internal_words(&text),
        Vec::<&str>::new(),
        "the customer's page:\n{text}"
    );
    let records = store.plan_records(id, today()).await.unwrap().unwrap();
    for outcome in &records.outcomes {
        assert!(text.contains(&outcome.name), "the outcome {} is shown", outcome.name);
    }
    for m in &records.milestones {
        assert!(
            text.contains(&m.fields.title),
            "the milestone {} is shown",
            m.fields.title
        );
    }
    for i in &records.interventions {
        if let laer_core::success_plan::InterventionRecord::Task { title, .. } = i {
            assert!(!text.contains(title.as_str()), "the team's task {title} is not shown");
        }
    }
    assert!(page.contains("<svg"), "charts of the measurements");
    assert!(page.contains("Print / save as PDF"));
    let (_, _, stylesheet) = get_public(&base, "/static/laer.css").await;
    assert!(stylesheet.contains("@media print"), "printing gives a clean document");
    assert!(!page.contains("name=\"csrf\""), "no forms of the team's");

    // Unknown and revoked links get the same answer.
    let (unknown_status, _, unknown) = get_public(&base, &format!("/plan/sp_{}", "0".repeat(64))).await;
    assert_eq!(unknown_status, 404);
    let (status, _, _) = get_public(&base, &format!("/plan/{}", "x".repeat(500))).await;
    assert_eq!(status, 404);
    let link = store.share_links(id).await.unwrap()[0].id;
    let revoke = format!("/accounts/{id}/plan/links/{link}/revoke");
    assert_eq!(csm.post(&revoke, &[]).await, 403, "not without the token");
    assert_eq!(get_public(&base, &path).await.0, 200);
    assert_eq!(csm.post(&revoke, &[("csrf", &csrf)]).await, 303);
    let (status, headers, revoked) = get_public(&base, &path).await;
    assert_eq!(status, 404);
    assert_eq!(revoked, unknown, "a revoked link answers as an unknown one");
    assert!(headers["x-robots-tag"].to_str().unwrap().contains("noindex"));
    assert_eq!(internal_words(&visible_text(&revoked)), Vec::<&str>::new());
    let (_, team_page) = csm.get(&format!("/accounts/{id}/plan")).await;
    assert!(team_page.contains("revoked"), "the list shows the link revoked");
    let audit = store.audit_of_account(id).await.unwrap();
    let shared: Vec<&str> = audit
        .iter()
        .filter(|a| a.action.starts_with("plan.link"))
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(shared, ["plan.link_revoked", "plan.link_created"]);
    assert!(audit[0].actor.contains(&login_of(&load, Role::Csm)));
}

async fn the_team_page_needs_a_login_the_permission_and_the_csrf_token(store: &Store) {
    let load = seed(store).await;
    let (id, _) = account_with_a_plan(store).await;
    let base = spawn(store).await;
    let plan = format!("/accounts/{id}/plan");
    let milestones = format!("{plan}/milestones");

    let anonymous = client().get(format!("{base}{plan}")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 303);
    assert_eq!(
        anonymous.headers()[LOCATION],
        format!("/login?next=/accounts/{id}/plan")
    );
    let anonymous = client()
        .post(format!("{base}{milestones}"))
        .form(&[("title", "Sneaky"), ("due", "2030-01-01")])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 303, "to the login form");
    let before = store.milestones(id).await.unwrap().len();

    // Sales sees plans but does not edit them.
    let sales = Session::login(&base, &login_of(&load, Role::Sales), DEMO_PASSWORD)
        .await
        .unwrap();
    let (status, page) = sales.get(&plan).await;
    assert_eq!(status, 200);
    assert!(!page.contains("Create a share link") && !page.contains("Add milestone"));
    let csrf = sales.csrf().await;
    let (status, refused) = sales
        .post_page(
            &milestones,
            &[("csrf", &csrf), ("title", "Go live"), ("due", "2030-01-01")],
        )
        .await;
    assert_eq!(status, 403);
    assert!(refused.contains("manage_plans"));
    assert_eq!(sales.post(&format!("{plan}/links"), &[("csrf", &csrf)]).await, 403);

    let csm = Session::login(&base, &login_of(&load, Role::Csm), DEMO_PASSWORD)
        .await
        .unwrap();
    let csrf = csm.csrf().await;
    let add = |title: &'static str, due: &'static str| [("title", title), ("due", due), ("side", "customer")];
    assert_eq!(
        csm.post(&milestones, &add("Go live", "2030-01-01")).await,
        403,
        "no token"
    );
    let with = |form: [(&'static str, &'static str); 3]| {
        let mut f = vec![("csrf", csrf.as_str())];
        f.extend(form);
        f
    };
    let (status, page) = csm.post_page(&milestones, &with(add("  ", "2030-01-01"))).await;
    assert_eq!(status, 400);
    assert!(page.contains("title: expected a title"), "{page}");
    let (status, page) = csm.post_page(&milestones, &with(add("Go live", "soon"))).await;
    assert_eq!(status, 400);
    assert!(page.contains("due: expected a date"), "{page}");
    assert_eq!(store.milestones(id).await.unwrap().len(), before, "nothing was added");

    assert_eq!(
        csm.post(&milestones, &with(add("Pilot site live", "2030-01-01"))).await,
        303
    );
    let added = store
        .milestones(id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.fields.title == "Pilot site live")
        .expect("the milestone is stored");
    let (_, page) = csm.get(&plan).await;
    assert!(page.contains("Pilot site live"));
    let change = format!("{milestones}/{}", added.id);
    assert_eq!(csm.post(&change, &[("csrf", &csrf), ("action", "done")]).await, 303);
    assert_eq!(
        store.milestone(added.id).await.unwrap().unwrap().fields.done_on,
        Some(today())
    );
    assert_eq!(
        csm.post(
            &format!("/accounts/{}/plan/milestones/{}", id + 1, added.id),
            &[("csrf", &csrf), ("action", "remove")]
        )
        .await,
        404,
        "a milestone only through its own account"
    );
    assert_eq!(csm.post(&change, &[("csrf", &csrf), ("action", "explode")]).await, 400);

    let objective = "Every branch office online the day it opens";
    assert_eq!(
        csm.post(
            &format!("{plan}/objective"),
            &[("csrf", &csrf), ("objective", objective)]
        )
        .await,
        303
    );
    let (status, preview) = csm.get(&format!("{plan}/preview")).await;
    assert_eq!(status, 200);
    let text = visible_text(&preview);
    assert!(text.contains(objective) && text.contains("Pilot site live"));
    assert_eq!(internal_words(&text), Vec::<&str>::new(), "{text}");
    assert_eq!(csm.post(&change, &[("csrf", &csrf), ("action", "remove")]).await, 303);
    assert_eq!(store.milestone(added.id).await.unwrap(), None);
    let audit = store.audit_of_account(id).await.unwrap();
    let actions: Vec<&str> = audit.iter().take(4).map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "milestone.removed",
            "plan.objective",
            "milestone.done",
            "milestone.added"
        ]
    );
}

async fn api_get(url: String, token: Option<String>) -> (u16, serde_json::Value) {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn the_api_gives_the_plan_for_the_team_or_the_customer(store: &Store) {
    seed(store).await;
    let (id, name) = account_with_a_plan(store).await;
    let base = spawn(store).await;
    let token = store.create_api_token("plans", Role::Viewer).await.unwrap().secret;
    let get = |path: String, token: Option<String>| {
        let url = format!("{base}{path}");
        async move { api_get(url, token).await }
    };
    let path = format!("/api/v1/accounts/{id}/plan");
    let (status, team) = get(path.clone(), Some(token.clone())).await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["account"], name.as_str());
    for section in ["plan", "implement", "monitor", "optimize"] {
        assert!(!team[section].is_null(), "{section}");
    }
    assert!(
        team["optimize"][0]["detail"].is_string(),
        "the team sees its own records"
    );
    let (status, customer) = get(format!("{path}?view=customer"), Some(token.clone())).await;
    assert_eq!(status, 200);
    assert!(customer["optimize"][0]["detail"].is_null());
    assert_eq!(internal_words(&customer.to_string()), Vec::<&str>::new());
    let (status, error) = get(format!("{path}?view=board"), Some(token.clone())).await;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().unwrap().starts_with("view:"), "{error}");
    assert_eq!(
        get(format!("/api/v1/accounts/{}/plan", id + 1000), Some(token)).await.0,
        404
    );
    assert_eq!(get(path, None).await.0, 401);
}

laer_store::backend_tests!(
    a_shared_plan_is_read_without_a_login_until_revoked,
    the_team_page_needs_a_login_the_permission_and_the_csrf_token,
    the_api_gives_the_plan_for_the_team_or_the_customer,
);
