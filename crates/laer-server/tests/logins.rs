//! Logins under attack, over real HTTP on each backend (issue 15): wrong guesses are
//! throttled per email and address (the right password too, until the wait is over; an
//! unknown email alike; the same person from another address is not locked out), per
//! email from many addresses and per address, a flood of wrong passwords from one
//! address does not make other people's correct logins fail, failed
//! logins are audited, an admin ends a person's sessions, "Forgot your password?" emails
//! one single-use link with the public URL (or, without SMTP, says to ask an admin), and
//! a demo workspace says so on every page.

use std::time::Duration;

use crate::common::web::{Session, client, hidden, set_cookie};
use laer_core::access::Role;
use laer_server::{Server, Site};
use laer_store::Store;
use reqwest::header::COOKIE;

const KIM: &str = "kim@example.com";
const KIM_PASSWORD: &str = "kim's long password";

async fn person(store: &Store, email: &str, name: &str, role: Role, password: &str) -> i64 {
    let hash = laer_app::auth::hash_password(password).unwrap();
    store.upsert_user(email, name, role, &hash, None).await.unwrap().id
}

/// A server that believes X-Forwarded-For from 127.0.0.1, so that a test can speak from
/// many addresses; its links start with https://cs.example.com.
async fn spawn_behind_proxy(store: &Store, delivery: Option<laer_app::delivery::DeliveryConfig>) -> String {
    let site = Site::new(Some("https://cs.example.com"), &["127.0.0.1".to_string()]).unwrap();
    let mut server = Server::bind("127.0.0.1:0", store.clone())
        .await
        .unwrap()
        .with_site(site);
    if let Some(delivery) = delivery {
        server = server.with_delivery(delivery);
    }
    let base = format!("http://{}", server.local_addr().unwrap());
    tokio::spawn(server.run(std::future::pending()));
    base
}

/// A login form fetched: its CSRF token (also its cookie's value).
async fn login_form(base: &str) -> String {
    let form = client().get(format!("{base}/login")).send().await.unwrap();
    let (cookie, _) = set_cookie(&form, "laer_login_csrf").unwrap();
    let page = form.text().await.unwrap();
    assert!(page.contains("href=\"/login/forgot\""), "the login page offers a reset");
    assert_eq!(hidden(&page, "csrf").unwrap(), cookie);
    cookie
}

/// Posts a login with the form's token, from `from` (an X-Forwarded-For address) if
/// given: the status and the page.
async fn login(base: &str, csrf: &str, email: &str, password: &str, from: Option<&str>) -> (u16, String) {
    let mut request = client()
        .post(format!("{base}/login"))
        .header(COOKIE, format!("laer_login_csrf={csrf}"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf", csrf),
            ("next", "/portfolio"),
        ]);
    if let Some(from) = from {
        request = request.header("x-forwarded-for", from);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn thirty_wrong_guesses_then_the_right_one_is_refused(store: &Store) {
    person(store, KIM, "Kim Lee", Role::Csm, KIM_PASSWORD).await;
    person(store, "lee@example.com", "Lee Kim", Role::Csm, "lee's long password").await;
    let base = spawn_behind_proxy(store, None).await;
    let csrf = login_form(&base).await;
    let attacker = Some("203.0.113.9");
    let mut statuses = Vec::new();
    for n in 0..30 {
        statuses.push(login(&base, &csrf, KIM, &format!("guess {n}"), attacker).await.0);
    }
    assert_eq!(&statuses[..5], [401; 5], "five free failures");
    assert!(statuses[5..].contains(&429), "then a wait: {statuses:?}");
    let (status, page) = login(&base, &csrf, KIM, KIM_PASSWORD, attacker).await;
    assert_eq!(status, 429, "the right password waits too");
    assert!(
        page.contains("Too many failed logins for this account; try again in"),
        "{page}"
    );
    // An email nobody has is throttled the same way: the answer tells nothing.
    for n in 0..30 {
        login(&base, &csrf, "nobody@example.com", &format!("guess {n}"), attacker).await;
    }
    let (status, unknown) = login(&base, &csrf, "nobody@example.com", "x", attacker).await;
    assert_eq!(status, 429);
    assert!(
        unknown.contains("Too many failed logins for this account; try again in"),
        "{unknown}"
    );
    // Kim from her own address, and a colleague from the attacker's, still log in.
    assert_eq!(
        login(&base, &csrf, KIM, KIM_PASSWORD, Some("198.51.100.20")).await.0,
        303
    );
    assert_eq!(
        login(&base, &csrf, "lee@example.com", "lee's long password", attacker)
            .await
            .0,
        303
    );
    // Each failure checked for a person is in the audit log with the address; the
    // throttled ones were never checked.
    let failed = laer_store::test_support::audited(store, "user.login_failed").await;
    assert!((5..30).contains(&failed.len()), "{}", failed.len());
    assert_eq!(failed[0].actor, "login from 203.0.113.9");
    assert_eq!(failed[0].details["email"], KIM);
}

async fn an_address_guessing_many_emails_is_throttled(store: &Store) {
    person(store, KIM, "Kim Lee", Role::Csm, KIM_PASSWORD).await;
    let base = spawn_behind_proxy(store, None).await;
    let csrf = login_form(&base).await;
    let sprayer = Some("203.0.113.50");
    for n in 0..20 {
        let (status, _) = login(&base, &csrf, &format!("user{n}@example.com"), "Winter2026!", sprayer).await;
        assert_eq!(status, 401, "guess {n}");
    }
    let (status, page) = login(&base, &csrf, KIM, KIM_PASSWORD, sprayer).await;
    assert_eq!(status, 429);
    assert!(
        page.contains("Too many failed logins from your network address; try again in"),
        "{page}"
    );
}

async fn guessing_one_account_from_many_addresses_is_throttled(store: &Store) {
    person(store, KIM, "Kim Lee", Role::Csm, KIM_PASSWORD).await;
    let base = spawn_behind_proxy(store, None).await;
    let csrf = login_form(&base).await;
    // Each guess from an address of its own: no pair or address count ever waits.
    for n in 0..30 {
        let from = format!("198.51.100.{}", n + 100);
        let (status, _) = login(&base, &csrf, KIM, &format!("guess {n}"), Some(&from)).await;
        assert_eq!(status, 401, "guess {n}");
    }
    let (status, page) = login(&base, &csrf, KIM, KIM_PASSWORD, Some("192.0.2.200")).await;
    assert_eq!(status, 429, "the account waits, from anywhere: {page}");
    assert!(
        page.contains("Too many failed logins for this account; try again in "),
        "{page}"
    );
    // Another person is not slowed.
    person(store, "lee@example.com", "Lee Kim", Role::Csm, "lee's long password").await;
    assert_eq!(
        login(
            &base,
            &csrf,
            "lee@example.com",
            "lee's long password",
            Some("192.0.2.200")
        )
        .await
        .0,
        303
    );
}

async fn correct_logins_succeed_during_a_flood_of_wrong_ones(store: &Store) {
    person(store, KIM, "Kim Lee", Role::Csm, KIM_PASSWORD).await;
    let base = spawn_behind_proxy(store, None).await;
    let csrf = login_form(&base).await;
    // Far more wrong passwords at once, from one address, than the four checks a process
    // runs at a time: before this issue, Kim's correct logins were answered 429.
    let mut flood = Vec::new();
    for n in 0..48 {
        let (base, csrf) = (base.clone(), csrf.clone());
        flood.push(tokio::spawn(async move {
            login(
                &base,
                &csrf,
                &format!("guess{n}@example.com"),
                "wrong",
                Some("203.0.113.66"),
            )
            .await
            .0
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut kims = Vec::new();
    for n in 0..4 {
        let (base, csrf) = (base.clone(), csrf.clone());
        kims.push(tokio::spawn(async move {
            let from = format!("192.0.2.{n}");
            login(&base, &csrf, KIM, KIM_PASSWORD, Some(&from)).await.0
        }));
    }
    let mut kim_statuses = Vec::new();
    for k in kims {
        kim_statuses.push(k.await.unwrap());
    }
    let mut flood_statuses = Vec::new();
    for f in flood {
        flood_statuses.push(f.await.unwrap());
    }
    assert_eq!(
        kim_statuses, [303; 4],
        "the right password gets in, queued, not refused"
    );
    assert!(
        flood_statuses.iter().all(|s| [401, 429].contains(s)),
        "{flood_statuses:?}"
    );
    assert!(
        flood_statuses.contains(&429),
        "the flooding address is held back: {flood_statuses:?}"
    );
}

async fn an_admin_ends_a_persons_sessions(store: &Store) {
    person(
        store,
        "ada@example.com",
        "Ada Admin",
        Role::Admin,
        "ada's long password",
    )
    .await;
    let kim_id = person(store, KIM, "Kim Lee", Role::Csm, KIM_PASSWORD).await;
    let base = crate::common::spawn(store).await;
    let admin = Session::login(&base, "ada@example.com", "ada's long password")
        .await
        .unwrap();
    let phone = Session::login(&base, KIM, KIM_PASSWORD).await.unwrap();
    let laptop = Session::login(&base, KIM, KIM_PASSWORD).await.unwrap();
    let (_, people) = admin.get("/admin/people").await;
    assert!(people.contains("value=\"end_sessions\""), "{people}");
    let csrf = admin.csrf().await;
    let status = admin
        .post(
            &format!("/admin/people/{kim_id}"),
            &[("csrf", &csrf), ("action", "end_sessions")],
        )
        .await;
    assert_eq!(status, 303);
    for session in [phone, laptop] {
        assert_eq!(session.get("/portfolio").await.0, 303, "logged out");
    }
    assert_eq!(admin.get("/portfolio").await.0, 200, "the admin's own session stays");
    // Still able to log in: this is not deactivation.
    Session::login(&base, KIM, KIM_PASSWORD).await.unwrap();
    let (_, log) = admin.get("/admin/audit?kind=user.").await;
    assert!(log.contains("user.sessions_ended"), "{log}");
}

/// The forgot-password form: its token, also its cookie's value.
async fn forgot_form(base: &str) -> (String, String) {
    let form = client().get(format!("{base}/login/forgot")).send().await.unwrap();
    let csrf = set_cookie(&form, "laer_forgot_csrf")
        .map(|(c, _)| c)
        .unwrap_or_default();
    (csrf, form.text().await.unwrap())
}

async fn forgot(base: &str, csrf: &str, email: &str, from: &str) -> (u16, String) {
    let response = client()
        .post(format!("{base}/login/forgot"))
        .header(COOKIE, format!("laer_forgot_csrf={csrf}"))
        .header("x-forwarded-for", from)
        .form(&[("email", email), ("csrf", csrf)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The password link in an email's text (quoted-printable undone).
fn link_in(text: &str) -> String {
    let text = text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let at = text
        .find("https://cs.example.com/password/")
        .unwrap_or_else(|| panic!("no link in {text}"));
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/.-".contains(*c))
        .collect()
}

async fn forgot_password_emails_one_single_use_link(store: &Store) {
    person(store, KIM, "Kim Lee", Role::Csm, KIM_PASSWORD).await;
    let smtp = crate::delivery::SmtpSink::start();
    let delivery = laer_app::delivery::DeliveryConfig {
        // Without the sink, the outbox is read here instead of sent.
        smtp_url: Some(smtp.as_ref().map_or("smtp://127.0.0.1:1".to_string(), |s| {
            format!("smtp://127.0.0.1:{}", s.port)
        })),
        tick: if smtp.is_some() {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(3_600)
        },
        ..Default::default()
    };
    let base = spawn_behind_proxy(store, Some(delivery)).await;
    let (csrf, page) = forgot_form(&base).await;
    assert!(page.contains("Email me a link"), "{page}");
    let same = "If an account exists for";
    let (status, answer) = forgot(&base, &csrf, "  KIM@example.com ", "203.0.113.9").await;
    assert_eq!(status, 200);
    assert!(answer.contains(same), "{answer}");
    let (status, nobody) = forgot(&base, &csrf, "nobody@example.com", "203.0.113.9").await;
    assert_eq!(status, 200);
    assert!(nobody.contains(same), "the same answer for no one: {nobody}");
    let (status, _) = forgot(&base, &csrf, "not an email", "203.0.113.9").await;
    assert_eq!(status, 400);
    let forged = client()
        .post(format!("{base}/login/forgot"))
        .header(COOKIE, format!("laer_forgot_csrf={csrf}"))
        .form(&[("email", KIM), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);

    // One email, to Kim, with the public URL.
    let link = match &smtp {
        Some(smtp) => {
            // The server runs on this thread: wait without blocking it.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let message = loop {
                if let Ok(message) = smtp.messages.try_recv() {
                    break message;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no email within 30 s: {:?}",
                    store.deliveries(None, 10).await
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert_eq!(message["to"][0], KIM);
            let data = message["data"].as_str().unwrap();
            assert!(data.contains("Subject: Set a new password for laer"), "{data}");
            let sent = store.deliveries(None, 10).await.unwrap();
            assert_eq!(sent.len(), 1, "one email only: {sent:?}");
            link_in(data)
        }
        None => {
            let now = chrono::Utc::now();
            let queued = store
                .claim_deliveries("test", now, now + chrono::TimeDelta::minutes(1), 10)
                .await
                .unwrap();
            assert_eq!(queued.len(), 1, "{queued:?}");
            assert_eq!(queued[0].target, laer_store::Target::Email { to: KIM.to_string() });
            link_in(queued[0].payload["body"].as_str().unwrap())
        }
    };
    let path = link.trim_start_matches("https://cs.example.com");
    let opened = client().get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(opened.status().as_u16(), 200);
    let (link_csrf, _) = set_cookie(&opened, "laer_link_csrf").unwrap();
    let set = client()
        .post(format!("{base}{path}"))
        .header(COOKIE, format!("laer_link_csrf={link_csrf}"))
        .form(&[
            ("csrf", link_csrf.as_str()),
            ("name", "Kim Lee"),
            ("password", "a brand new password"),
            ("password_again", "a brand new password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 303);
    Session::login(&base, KIM, "a brand new password").await.unwrap();
    assert_eq!(
        client()
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404,
        "used once"
    );

    // A few per email an hour: more requests are answered alike and send nothing.
    for _ in 0..5 {
        let (status, answer) = forgot(&base, &csrf, KIM, "198.51.100.7").await;
        assert_eq!(status, 200);
        assert!(answer.contains(same));
    }
    let links = laer_store::test_support::audited(store, "user.password_reset_requested").await;
    assert_eq!(links.len(), 3, "three links an hour for one email");
    // Each expires a day after it was asked for (the link's expiry itself: the store's
    // tests of password links).
    for entry in &links {
        let expires = chrono::DateTime::parse_from_rfc3339(entry.details["expires_at"].as_str().unwrap()).unwrap();
        let lasts = expires.to_utc() - entry.at;
        assert!(
            (lasts - chrono::TimeDelta::hours(24)).num_seconds().abs() <= 60,
            "{lasts}"
        );
    }
    // And a few per address: then the address is told to wait.
    let mut last = 0;
    for n in 0..12 {
        last = forgot(&base, &csrf, &format!("someone{n}@example.com"), "192.0.2.99")
            .await
            .0;
    }
    assert_eq!(last, 429);
}

async fn without_smtp_forgot_password_says_to_ask_an_admin(store: &Store) {
    let base = crate::common::spawn(store).await;
    let (_, page) = forgot_form(&base).await;
    assert!(page.contains("Ask an administrator of laer"), "{page}");
    assert!(!page.contains("Email me a link"), "{page}");
}

async fn a_demo_workspace_says_so_on_every_page(store: &Store) {
    person(store, KIM, "Kim Lee", Role::Csm, KIM_PASSWORD).await;
    let base = crate::common::spawn(store).await;
    let kim = Session::login(&base, KIM, KIM_PASSWORD).await.unwrap();
    let (_, page) = kim.get("/portfolio").await;
    assert!(!page.contains("demo-banner"), "not a demo");
    store.mark_demo_workspace().await.unwrap();
    for path in ["/portfolio", "/work", "/renewals"] {
        let (status, page) = kim.get(path).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("class=\"demo-banner\"") && page.contains("Demo data"),
            "{path}"
        );
    }
}

laer_store::backend_tests!(
    thirty_wrong_guesses_then_the_right_one_is_refused,
    an_address_guessing_many_emails_is_throttled,
    guessing_one_account_from_many_addresses_is_throttled,
    correct_logins_succeed_during_a_flood_of_wrong_ones,
    an_admin_ends_a_persons_sessions,
    forgot_password_emails_one_single_use_link,
    without_smtp_forgot_password_says_to_ask_an_admin,
    a_demo_workspace_says_so_on_every_page,
);
