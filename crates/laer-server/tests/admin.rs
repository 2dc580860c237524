//! Admin in the browser over real HTTP, on each backend: people invited by a one-time
//! link who set their password and are logged in, roles changed, people deactivated
//! (their sessions end at once) and the last admin kept; API tokens and write keys made
//! with the secret shown once, and revoked; the audit log filtered. Every form refuses
//! a role without the permission (403 naming it) and bad input (400 naming the field,
//! nothing written). And in a real browser: an admin invites a colleague who sets a
//! password through the link and logs in.

use std::path::Path;
use std::process::Command;

use crate::common::spawn;
use crate::common::web::{Session, client, set_cookie};
use laer_core::access::Role;
use laer_store::{AuditFilter, Store};
use reqwest::header::{CACHE_CONTROL, COOKIE, LOCATION};

/// A form's fields, but its CSRF token.
type Fields<'a> = Vec<(&'a str, &'a str)>;

const ADMIN_EMAIL: &str = "ada@example.com";
const ADMIN_PASSWORD: &str = "ada password";

async fn person(store: &Store, email: &str, name: &str, role: Role, password: &str) -> i64 {
    let hash = laer_app::auth::hash_password(password).unwrap();
    store.upsert_user(email, name, role, &hash, None).await.unwrap().id
}

/// An admin and a CSM, each logged in.
async fn admin_and_csm(store: &Store, base: &str) -> (Session, Session, i64) {
    person(store, ADMIN_EMAIL, "Ada Admin", Role::Admin, ADMIN_PASSWORD).await;
    let csm = person(store, "cy@example.com", "Cy <Csm>", Role::Csm, "cy password").await;
    let admin = Session::login(base, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let cy = Session::login(base, "cy@example.com", "cy password").await.unwrap();
    (admin, cy, csm)
}

async fn audit_count(store: &Store) -> usize {
    store
        .audit_log(&AuditFilter::default(), None, 1_000)
        .await
        .unwrap()
        .len()
}

/// The value of the element with `id` in a page (an input's `value`).
fn value_of(page: &str, id: &str) -> String {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let tag = &page[page[..at].rfind('<').unwrap()..at + page[at..].find('>').unwrap()];
    let value = tag.split("value=\"").nth(1).unwrap();
    value[..value.find('"').unwrap()].replace("&amp;", "&")
}

async fn forms_need_their_permission(store: &Store) {
    let base = spawn(store).await;
    let (admin, cy, cy_id) = admin_and_csm(store, &base).await;
    let (_, page) = admin.get("/portfolio").await;
    assert!(page.contains("href=\"/admin/people\""), "admins see the admin area");
    let (_, page) = cy.get("/portfolio").await;
    assert!(!page.contains("/admin/"), "a CSM sees no admin area");
    person(store, "lee@example.com", "Lee Leader", Role::Leader, "lee password").await;
    let lee = Session::login(&base, "lee@example.com", "lee password").await.unwrap();
    let (_, page) = lee.get("/portfolio").await;
    assert!(page.contains("href=\"/admin/audit\""), "a leader sees the audit log");
    assert_eq!(lee.get("/admin").await.0, 303);

    for (path, permission) in [
        ("/admin", "manage_users"),
        ("/admin/people", "manage_users"),
        ("/admin/keys", "manage_keys"),
        ("/admin/audit", "view_audit"),
    ] {
        let (status, page) = cy.get(path).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains(permission), "{path}: {page}");
    }
    let csrf = cy.csrf().await;
    let before = audit_count(store).await;
    let cy_path = format!("/admin/people/{cy_id}");
    let forms: Vec<(&str, Fields, &str)> = vec![
        (
            "/admin/people/invite",
            vec![("email", "x@example.com"), ("name", "X"), ("role", "admin")],
            "manage_users",
        ),
        (&cy_path, vec![("action", "role"), ("role", "admin")], "manage_users"),
        (&cy_path, vec![("action", "reset")], "manage_users"),
        (
            "/admin/keys/tokens",
            vec![("name", "mine"), ("role", "admin")],
            "manage_keys",
        ),
        ("/admin/keys/write-keys", vec![("name", "mine")], "manage_keys"),
        ("/admin/keys/tokens/1/revoke", vec![], "manage_keys"),
        ("/admin/keys/write-keys/1/revoke", vec![], "manage_keys"),
    ];
    for (path, fields, permission) in forms {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let (status, page) = cy.post_page(path, &form).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains(permission), "{path}: {page}");
    }
    assert_eq!(audit_count(store).await, before, "nothing changed");
    assert_eq!(store.person(cy_id).await.unwrap().unwrap().user.role, Role::Csm);
    assert_eq!(store.people().await.unwrap().len(), 3);
    assert!(store.api_tokens().await.unwrap().is_empty());
}

async fn an_invited_colleague_sets_a_password_through_the_link(store: &Store) {
    let base = spawn(store).await;
    let (admin, _, _) = admin_and_csm(store, &base).await;
    let csrf = admin.csrf().await;
    let invite = |email: &'static str, name: &'static str, role: &'static str| {
        let csrf = csrf.clone();
        let admin = &admin;
        async move {
            admin
                .post_page(
                    "/admin/people/invite",
                    &[("csrf", &csrf), ("email", email), ("name", name), ("role", role)],
                )
                .await
        }
    };
    for (email, name, role, field) in [
        ("kim", "Kim Lee", "csm", "email"),
        ("kim@example.com", "", "csm", "name"),
        ("kim@example.com", "Kim Lee", "boss", "role"),
        ("cy@example.com", "Cy", "csm", "email"),
    ] {
        let (status, page) = invite(email, name, role).await;
        assert_eq!(status, 400, "{email} {name} {role}: {page}");
        assert!(page.contains("Nothing was saved"), "{page}");
        assert!(page.contains(&format!("<strong>{field}</strong>")), "{field}: {page}");
    }
    assert_eq!(store.people().await.unwrap().len(), 2, "nothing written");

    let (status, page) = invite(" Kim@Example.com ", "Kim <Lee>", "csm").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Kim &lt;Lee&gt;"), "escaped: {page}");
    assert!(page.contains("No email server is configured"), "{page}");
    let url = value_of(&page, "password-link");
    let path = url
        .split_once("/password/")
        .map(|(_, t)| format!("/password/{t}"))
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (_, people) = admin.get("/admin/people").await;
    assert!(
        people.contains("kim@example.com") && people.contains("invited"),
        "{people}"
    );
    assert!(!people.contains(&path), "the link is shown only once");

    // The invited person opens the link, without a login.
    let http = client();
    let opened = http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(opened.status().as_u16(), 200);
    assert_eq!(opened.headers()["referrer-policy"], "no-referrer");
    assert_eq!(opened.headers()[CACHE_CONTROL], "no-store");
    let (cookie, _) = set_cookie(&opened, "laer_link_csrf").expect("the form's CSRF cookie");
    let page = opened.text().await.unwrap();
    assert!(
        page.contains("Welcome to laer") && page.contains("value=\"Kim &lt;Lee&gt;\""),
        "{page}"
    );
    let token = crate::common::web::hidden(&page, "csrf").unwrap();
    let post = |fields: Vec<(&'static str, String)>, with_cookie: bool| {
        let http = http.clone();
        let url = format!("{base}{path}");
        let cookie = cookie.clone();
        async move {
            let mut request = http.post(url).form(&fields);
            if with_cookie {
                request = request.header(COOKIE, format!("laer_link_csrf={cookie}"));
            }
            request.send().await.unwrap()
        }
    };
    let fields = |csrf: &str, name: &str, password: &str, again: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("name", name.to_string()),
            ("password", password.to_string()),
            ("password_again", again.to_string()),
        ]
    };
    let forged = post(fields("guess", "Kim", "long enough", "long enough"), true).await;
    assert_eq!(forged.status().as_u16(), 403);
    for (name, password, again, field) in [
        ("Kim Lee", "short", "short", "password"),
        ("Kim Lee", "long enough", "long enuff", "password again"),
        ("  ", "long enough", "long enough", "name"),
    ] {
        let answer = post(fields(&token, name, password, again), true).await;
        assert_eq!(answer.status().as_u16(), 400, "{field}");
        let page = answer.text().await.unwrap();
        assert!(page.contains(&format!("<strong>{field}</strong>")), "{field}: {page}");
    }
    assert!(
        store.user_for_login("kim@example.com").await.unwrap().is_none(),
        "nothing written"
    );

    let done = post(fields(&token, "Kim Lee", "kim's password", "kim's password"), true).await;
    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(done.headers()[LOCATION], "/portfolio");
    let (secret, _) = set_cookie(&done, "laer_session").expect("logged in");
    let kim = Session {
        base: base.clone(),
        cookie: format!("laer_session={secret}"),
    };
    let (status, page) = kim.get("/portfolio").await;
    assert_eq!(status, 200);
    assert!(page.contains("Kim Lee · CSM"), "{page}");
    assert!(Session::login(&base, "kim@example.com", "kim's password").await.is_ok());

    // Used once: the same answer as an unknown link.
    let again = post(fields(&token, "Eve", "eve's password", "eve's password"), true).await;
    assert_eq!(again.status().as_u16(), 404);
    assert_eq!(
        client()
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let unknown = client().get(format!("{base}/password/nothing")).send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    let (_, log) = admin.get("/admin/audit?kind=user.").await;
    assert!(
        log.contains("user.invited") && log.contains("user.password_set"),
        "{log}"
    );
}

/// With an SMTP server configured, the link is emailed through the outbox as well as
/// shown.
async fn with_emails_the_link_goes_to_the_outbox_too(store: &Store) {
    let delivery = laer_app::delivery::DeliveryConfig {
        smtp_url: Some("smtp://127.0.0.1:1".into()),
        // The outbox is read here, not sent.
        tick: std::time::Duration::from_secs(3_600),
        ..Default::default()
    };
    let server = laer_server::Server::bind("127.0.0.1:0", store.clone())
        .await
        .unwrap()
        .with_delivery(delivery);
    let base = format!("http://{}", server.local_addr().unwrap());
    tokio::spawn(server.run(std::future::pending()));
    let (admin, _, cy_id) = admin_and_csm(store, &base).await;
    let csrf = admin.csrf().await;
    let (status, page) = admin
        .post_page(
            "/admin/people/invite",
            &[
                ("csrf", &csrf),
                ("email", "kim@example.com"),
                ("name", "Kim Lee"),
                ("role", "csm"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("laer has also emailed it to kim@example.com"), "{page}");
    let url = value_of(&page, "password-link");
    let (status, _) = admin
        .post_page(
            &format!("/admin/people/{cy_id}"),
            &[("csrf", &csrf), ("action", "reset")],
        )
        .await;
    assert_eq!(status, 200);
    let now = chrono::Utc::now();
    let queued = store
        .claim_deliveries("test", now, now + chrono::TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2, "{queued:?}");
    let to: Vec<_> = queued
        .iter()
        .map(|d| match &d.target {
            laer_store::Target::Email { to } => (to.as_str(), d.event.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        to,
        [
            ("kim@example.com", "user.invited"),
            ("cy@example.com", "user.password_reset_requested")
        ]
    );
    let body = queued[0].payload["body"].as_str().unwrap();
    assert!(body.contains(&url) && body.contains("Kim Lee"), "{body}");
}

async fn roles_deactivation_and_resets(store: &Store) {
    let base = spawn(store).await;
    let (admin, cy, cy_id) = admin_and_csm(store, &base).await;
    let csrf = admin.csrf().await;
    let ada_id = store.user_for_login(ADMIN_EMAIL).await.unwrap().unwrap().user.id;
    let cy_path = format!("/admin/people/{cy_id}");
    let version = store.person(cy_id).await.unwrap().unwrap().version.to_string();

    let (status, page) = admin
        .post_page(&cy_path, &[("csrf", &csrf), ("action", "role"), ("role", "boss")])
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("<strong>role</strong>"), "{page}");
    let (status, page) = admin
        .post_page(&cy_path, &[("csrf", &csrf), ("action", "promote")])
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("<strong>action</strong>"), "{page}");
    let role = [
        ("csrf", csrf.as_str()),
        ("action", "role"),
        ("role", "renewal"),
        ("version", version.as_str()),
    ];
    assert_eq!(admin.post(&cy_path, &role).await, 303);
    assert_eq!(store.person(cy_id).await.unwrap().unwrap().user.role, Role::Renewal);
    let (_, page) = cy.get("/portfolio").await;
    assert!(
        page.contains("· Renewal specialist"),
        "the new role applies at once: {page}"
    );
    // The same form again names a version changed since: refused.
    let (status, page) = admin
        .post_page(
            &cy_path,
            &[
                ("csrf", &csrf),
                ("action", "role"),
                ("role", "viewer"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("changed by someone else"), "{page}");

    // The last admin keeps the role and stays active.
    let ada_path = format!("/admin/people/{ada_id}");
    let (status, page) = admin
        .post_page(&ada_path, &[("csrf", &csrf), ("action", "role"), ("role", "csm")])
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("last active admin"), "{page}");
    let (status, page) = admin
        .post_page(&ada_path, &[("csrf", &csrf), ("action", "deactivate")])
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("last active admin"), "{page}");
    assert_eq!(admin.get("/admin/people").await.0, 200, "still an admin");

    // Deactivated: their session ends at once.
    assert_eq!(cy.get("/portfolio").await.0, 200);
    assert_eq!(
        admin.post(&cy_path, &[("csrf", &csrf), ("action", "deactivate")]).await,
        303
    );
    let (status, _) = cy.get("/portfolio").await;
    assert_eq!(status, 303, "sent to the login page");
    assert_eq!(
        Session::login(&base, "cy@example.com", "cy password").await.err(),
        Some(401)
    );
    let (_, people) = admin.get("/admin/people").await;
    assert!(
        people.contains("deactivated") && people.contains("Reactivate"),
        "{people}"
    );
    assert!(people.contains("Cy &lt;Csm&gt;"), "escaped");
    assert_eq!(
        admin.post(&cy_path, &[("csrf", &csrf), ("action", "reactivate")]).await,
        303
    );
    assert!(Session::login(&base, "cy@example.com", "cy password").await.is_ok());

    // A reset: the link shown once; the old password works until the new one is set.
    let (status, page) = admin.post_page(&cy_path, &[("csrf", &csrf), ("action", "reset")]).await;
    assert_eq!(status, 200, "{page}");
    let url = value_of(&page, "password-link");
    assert!(url.contains("/password/"), "{url}");
    assert!(Session::login(&base, "cy@example.com", "cy password").await.is_ok());
    let path = &url[url.find("/password/").unwrap()..];
    let (_, form) = Session {
        base: base.clone(),
        cookie: String::new(),
    }
    .get(path)
    .await;
    assert!(form.contains("Choose a new password"), "{form}");
    assert_eq!(
        admin
            .post("/admin/people/999", &[("csrf", &csrf), ("action", "deactivate")])
            .await,
        404
    );
    let actions: Vec<String> = store
        .audit_log(&AuditFilter::default(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .rev()
        .collect();
    assert_eq!(
        actions,
        [
            "user.role_changed",
            "user.deactivated",
            "user.reactivated",
            "user.password_reset_requested"
        ]
    );
}

async fn tokens_and_keys_are_shown_once_and_revoked(store: &Store) {
    let base = spawn(store).await;
    let (admin, _, _) = admin_and_csm(store, &base).await;
    let csrf = admin.csrf().await;
    for (path, form, field) in [
        ("/admin/keys/tokens", vec![("name", " "), ("role", "viewer")], "name"),
        ("/admin/keys/tokens", vec![("name", "crm"), ("role", "root")], "role"),
        ("/admin/keys/write-keys", vec![("name", "")], "name"),
    ] {
        let mut sent = vec![("csrf", csrf.as_str())];
        sent.extend(form);
        let (status, page) = admin.post_page(path, &sent).await;
        assert_eq!(status, 400, "{path}");
        assert!(page.contains(&format!("<strong>{field}</strong>")), "{path}: {page}");
    }
    let long = "n".repeat(301);
    let (status, _) = admin
        .post_page("/admin/keys/write-keys", &[("csrf", &csrf), ("name", &long)])
        .await;
    assert_eq!(status, 400);
    assert!(store.api_tokens().await.unwrap().is_empty() && store.write_keys().await.unwrap().is_empty());

    // A token: shown on the page that answers, never again; it works until revoked.
    let response = client()
        .post(format!("{base}/admin/keys/tokens"))
        .header(COOKIE, &admin.cookie)
        .form(&[("csrf", csrf.as_str()), ("name", "CRM <sync>"), ("role", "viewer")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let page = response.text().await.unwrap();
    let token = value_of(&page, "secret");
    assert!(token.starts_with("lt_"), "{token}");
    assert!(page.contains("CRM &lt;sync&gt;"), "escaped");
    let (_, listed) = admin.get("/admin/keys").await;
    assert!(
        !listed.contains(&token) && listed.contains(&token[..11]),
        "listed by its prefix only"
    );
    let api = |token: String| {
        let base = base.clone();
        async move {
            client()
                .get(format!("{base}/api/v1/accounts"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(api(token.clone()).await, 200);
    let id = store.api_tokens().await.unwrap()[0].id;
    let revoke = format!("/admin/keys/tokens/{id}/revoke");
    assert_eq!(admin.post(&revoke, &[("csrf", &csrf)]).await, 303);
    assert_eq!(api(token.clone()).await, 401);
    assert_eq!(
        admin.post(&revoke, &[("csrf", &csrf)]).await,
        303,
        "again: nothing more"
    );
    assert_eq!(
        admin.post("/admin/keys/tokens/999/revoke", &[("csrf", &csrf)]).await,
        404
    );

    // A write key likewise.
    let (status, page) = admin
        .post_page("/admin/keys/write-keys", &[("csrf", &csrf), ("name", "website")])
        .await;
    assert_eq!(status, 200);
    let key = value_of(&page, "secret");
    assert!(key.starts_with("lk_"), "{key}");
    let id = store.write_keys().await.unwrap()[0].id;
    assert_eq!(store.authenticate(&key).await.unwrap(), Some(id));
    let (_, listed) = admin.get("/admin/keys").await;
    assert!(!listed.contains(&key));
    assert_eq!(
        admin
            .post(&format!("/admin/keys/write-keys/{id}/revoke"), &[("csrf", &csrf)])
            .await,
        303
    );
    assert_eq!(store.authenticate(&key).await.unwrap(), None);
    let (_, listed) = admin.get("/admin/keys").await;
    assert!(listed.contains("revoked"), "{listed}");

    let log = store.audit_log(&AuditFilter::default(), None, 100).await.unwrap();
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains(&token) && !text.contains(&key),
        "no secret in the audit log"
    );
    assert_eq!(log.len(), 4, "{text}");
}

async fn the_audit_log_filters_by_person_account_and_kind(store: &Store) {
    let base = spawn(store).await;
    let mut tx = store.begin_write().await.unwrap();
    let acme = crate::common::acme(&mut tx, 100, None, 1_000, 10.0).await;
    tx.commit().await.unwrap();
    person(store, "lee@example.com", "Lee Leader", Role::Leader, "lee password").await;
    let lee = Session::login(&base, "lee@example.com", "lee password").await.unwrap();
    store
        .set_phase(
            acme,
            Some(laer_core::lifecycle::Phase::Expand),
            "<b>LOI</b> signed",
            "Lee Leader <lee@example.com>",
        )
        .await
        .unwrap();
    store.create_write_key_as("website", "cli:root").await.unwrap();

    let (status, page) = lee.get("/admin/audit").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("phase.set") && page.contains("write_key.created"),
        "{page}"
    );
    assert!(
        page.contains("&lt;b&gt;LOI&lt;/b&gt; signed"),
        "details escaped: {page}"
    );
    assert!(
        page.contains("href=\"/accounts/") && page.contains(">Acme<"),
        "the account named: {page}"
    );
    for (query, shows, hides) in [
        ("?account=acme", "phase.set", "write_key.created"),
        (&format!("?account={acme}") as &str, "phase.set", "write_key.created"),
        ("?person=CLI%3A", "write_key.created", "phase.set"),
        ("?kind=phase", "phase.set", "write_key.created"),
        ("?kind=write_key.created", "write_key.created", "phase.set"),
    ] {
        let (status, page) = lee.get(&format!("/admin/audit{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert!(page.contains(shows) && !page.contains(hides), "{query}: {page}");
    }
    let (status, page) = lee.get("/admin/audit?account=nobody").await;
    assert_eq!(status, 400);
    assert!(page.contains("<strong>account</strong>"), "{page}");
    let (status, page) = lee.get("/admin/audit?after=yesterday").await;
    assert_eq!(status, 400);
    assert!(page.contains("<strong>after</strong>"), "{page}");
}

/// In a real browser: the admin invites a colleague from the People page, the colleague
/// opens the link, chooses a password and lands in laer; later logs in with it.
#[tokio::test]
async fn an_admin_invites_a_colleague_in_the_browser() {
    let Some(node_modules) = crate::browser::node_modules() else {
        return;
    };
    let db = laer_store::test_support::sqlite().await;
    let store = &db.store;
    person(store, ADMIN_EMAIL, "Ada Admin", Role::Admin, ADMIN_PASSWORD).await;
    let base = spawn(store).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/admin.cjs");
    let mut command = Command::new("node");
    command
        .arg(script)
        .arg(&base)
        .arg(ADMIN_EMAIL)
        .arg(ADMIN_PASSWORD)
        .env("NODE_PATH", &node_modules);
    crate::browser::run_script(command, "admin: all steps passed", "the browser test").await;
    let kim = store
        .user_for_login("kim@example.com")
        .await
        .unwrap()
        .expect("Kim has a login");
    assert_eq!((kim.user.name.as_str(), kim.user.role), ("Kim Lee", Role::Csm));
}

laer_store::backend_tests!(
    forms_need_their_permission,
    an_invited_colleague_sets_a_password_through_the_link,
    with_emails_the_link_goes_to_the_outbox_too,
    roles_deactivation_and_resets,
    tokens_and_keys_are_shown_once_and_revoked,
    the_audit_log_filters_by_person_account_and_kind,
);
