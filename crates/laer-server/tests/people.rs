//! Stakeholders and outcomes through the web app's forms, on each backend: a CSM adds,
//! edits and deactivates contacts and sets cadences; defines outcomes and records
//! measurements; bad input comes back (400) with the field named and nothing written;
//! roles without the permission are refused. The customer records a measurement through a
//! share link only where the plan allows it, with the link's form token, limited in rate.

use crate::common::spawn;
use crate::common::text::visible_text;
use crate::common::web::{Session, client, hidden, set_cookie};
use laer_core::access::Role;
use laer_core::success_plan::internal_words;
use laer_store::Store;
use reqwest::header::{COOKIE, LOCATION};

async fn seed(store: &Store) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    let id = crate::common::acme(&mut tx, 200, Some(120), 2_000, 20.0).await;
    tx.commit().await.unwrap();
    id
}

async fn login(store: &Store, base: &str, email: &str, role: Role) -> Session {
    let hash = laer_app::auth::hash_password("pass word").unwrap();
    store.upsert_user(email, email, role, &hash, None).await.unwrap();
    Session::login(base, email, "pass word").await.unwrap()
}

async fn audit_count(store: &Store) -> i64 {
    store.counts().await.unwrap().audit_entries
}

async fn contacts_and_cadences_through_the_forms(store: &Store) {
    let id = seed(store).await;
    let base = spawn(store).await;
    let csm = login(store, &base, "csm@vendor.example", Role::Csm).await;
    let viewer = Session::viewer(store, &base).await;
    let csrf = csm.csrf().await;
    let account = format!("/accounts/{id}");

    let (status, page) = csm.get(&account).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("href=\"{account}/contacts/new\"")),
        "the add link"
    );
    let (_, page) = viewer.get(&account).await;
    assert!(
        visible_text(&page).contains("record_work: your role (viewer) may not record work with customers"),
        "a viewer is told why, not shown a dead control"
    );
    assert_eq!(csm.get(&format!("{account}/contacts/new")).await.0, 200);

    // Bad input: 400, each field named, the values kept, nothing written.
    let before = audit_count(store).await;
    let long = "x".repeat(100_000);
    let (status, page) = csm
        .post_page(
            &format!("{account}/contacts"),
            &[
                ("csrf", &csrf),
                ("name", &long),
                ("email", "ada at acme"),
                ("phone", "call me"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    let text = visible_text(&page);
    for named in ["name", "email", "phone", "at most 300 characters, found 100000"] {
        assert!(text.contains(named), "{named} in {text}");
    }
    assert!(page.contains("value=\"ada at acme\""), "the values as sent");
    assert!(store.contacts_of(id).await.unwrap().is_empty());
    assert_eq!(audit_count(store).await, before);

    let add = |name: &'static str, email: &'static str| {
        let csrf = csrf.clone();
        let csm = &csm;
        let account = account.clone();
        async move {
            csm.post_page(
                &format!("{account}/contacts"),
                &[
                    ("csrf", csrf.as_str()),
                    ("name", name),
                    ("email", email),
                    ("phone", "+1 555 0100"),
                    ("title", "CIO"),
                    ("stakeholder_team", "Executive"),
                    ("role", "executive_sponsor"),
                ],
            )
            .await
        }
    };
    assert_eq!(add("Ada Obi", "ada@acme.example").await.0, 303);
    let contacts = store.contacts_of(id).await.unwrap();
    assert_eq!(contacts.len(), 1);
    let ada = &contacts[0];
    assert!(
        ada.fields.external_id.starts_with("laer-contact-"),
        "{}",
        ada.fields.external_id
    );
    assert_eq!(ada.fields.stakeholder_team.as_deref(), Some("executive"));
    let (_, page) = csm.get(&account).await;
    assert!(
        page.contains("href=\"mailto:ada@acme.example\""),
        "the email as a mailto link"
    );
    assert!(page.contains("+1 555 0100"), "the phone");

    // The same email in other case: refused at the field.
    let (status, page) = add("Ada Again", "ADA@acme.example").await;
    assert_eq!(status, 400);
    assert!(visible_text(&page).contains("already the address of Ada Obi"), "{page}");
    assert_eq!(store.contacts_of(id).await.unwrap().len(), 1);

    // An edit on the version opened; then a stale one refused with a message.
    let edit = format!("{account}/contacts/{}", ada.id);
    let (_, form) = csm.get(&format!("{edit}/edit")).await;
    assert_eq!(hidden(&form, "version").as_deref(), Some("1"));
    let fields = |title: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("version", "1".to_string()),
            ("name", "Ada Obi".to_string()),
            ("email", "ada@acme.example".to_string()),
            ("title", title.to_string()),
            ("stakeholder_team", "executive".to_string()),
            ("role", "executive_sponsor".to_string()),
        ]
    };
    let as_refs = |v: &[(&'static str, String)]| v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let post = |form: Vec<(&'static str, String)>| {
        let csm = &csm;
        let edit = edit.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            csm.post_page(&edit, &form).await
        }
    };
    assert_eq!(post(as_refs(&fields("CTO"))).await.0, 303);
    assert_eq!(
        post(as_refs(&fields("CTO"))).await.0,
        303,
        "the same edit again is harmless"
    );
    let (status, page) = post(as_refs(&fields("CFO"))).await;
    assert_eq!(status, 400);
    assert!(visible_text(&page).contains("changed by someone else"), "{page}");
    let stored = store.contact(ada.id).await.unwrap().unwrap();
    assert_eq!((stored.fields.title.as_deref(), stored.version), (Some("CTO"), 2));

    // Deactivated: still listed, marked inactive.
    let active = format!("{edit}/active");
    assert_eq!(
        csm.post(&active, &[("csrf", &csrf), ("version", "2"), ("active", "false")])
            .await,
        303
    );
    assert!(!store.contact(ada.id).await.unwrap().unwrap().active());
    let (_, page) = csm.get(&account).await;
    assert!(page.contains("Reactivate") && visible_text(&page).contains("inactive"));

    // Cadences: a bad number of days is named; set, then removed.
    let (status, page) = csm
        .post_page(
            &format!("{account}/cadences"),
            &[("csrf", &csrf), ("stakeholder_team", "Network"), ("every_days", "0")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(visible_text(&page).contains("every days"), "{page}");
    assert!(store.meeting_cadences_of(id).await.unwrap().is_empty());
    assert_eq!(
        csm.post(
            &format!("{account}/cadences"),
            &[("csrf", &csrf), ("stakeholder_team", "Network"), ("every_days", "30")]
        )
        .await,
        303
    );
    assert_eq!(store.meeting_cadences_of(id).await.unwrap()[0].every_days, 30);
    let (_, page) = csm.get(&account).await;
    assert!(page.contains("id=\"cadence\""), "the cadence table");
    assert_eq!(
        csm.post(
            &format!("{account}/cadences/remove"),
            &[("csrf", &csrf), ("stakeholder_team", "network")]
        )
        .await,
        303
    );
    assert!(store.meeting_cadences_of(id).await.unwrap().is_empty());

    // A viewer changes nothing.
    let before = audit_count(store).await;
    let viewer_csrf = viewer.csrf().await;
    for (path, form) in [
        (format!("{account}/contacts"), vec![("name", "Eve")]),
        (format!("{edit}/active"), vec![("version", "3"), ("active", "true")]),
        (
            format!("{account}/cadences"),
            vec![("stakeholder_team", "x"), ("every_days", "9")],
        ),
    ] {
        let mut form = form.clone();
        form.push(("csrf", &viewer_csrf));
        assert_eq!(viewer.post(&path, &form).await, 403, "{path}");
    }
    assert_eq!(audit_count(store).await, before);
}

async fn outcomes_and_measurements_through_the_forms(store: &Store) {
    let id = seed(store).await;
    let base = spawn(store).await;
    let csm = login(store, &base, "csm@vendor.example", Role::Csm).await;
    let sales = login(store, &base, "ae@vendor.example", Role::Sales).await;
    let csrf = csm.csrf().await;
    let plan = format!("/accounts/{id}/plan");

    // A target on the wrong side for the direction chosen: named, nothing written.
    let outcome = |target: &'static str, direction: &'static str| {
        vec![
            ("name", "Days to open a branch"),
            ("unit", "days"),
            ("baseline", "30"),
            ("target", target),
            ("direction", direction),
            ("start_date", "2026-01-01"),
            ("target_date", "2026-12-31"),
        ]
    };
    let with = |csrf: &str, fields: Vec<(&'static str, &'static str)>| {
        let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf.to_string())];
        form.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
        form
    };
    let post = |session: &Session, path: String, form: Vec<(String, String)>| {
        let session = Session {
            base: session.base.clone(),
            cookie: session.cookie.clone(),
        };
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            session.post_page(&path, &form).await
        }
    };
    let before = audit_count(store).await;
    let (status, page) = post(&csm, format!("{plan}/outcomes"), with(&csrf, outcome("5", "higher"))).await;
    assert_eq!(status, 400);
    assert!(
        visible_text(&page).contains("higher is better, so the target is expected"),
        "{page}"
    );
    assert!(store.outcomes_of(id).await.unwrap().is_empty());
    assert_eq!(audit_count(store).await, before);
    // A seller may record work but not define the plan's outcomes.
    let sales_csrf = sales.csrf().await;
    assert_eq!(
        post(&sales, format!("{plan}/outcomes"), with(&sales_csrf, outcome("5", "")))
            .await
            .0,
        403
    );
    assert_eq!(
        post(&csm, format!("{plan}/outcomes"), with(&csrf, outcome("5", "")))
            .await
            .0,
        303
    );
    let outcomes = store.outcomes_of(id).await.unwrap();
    assert_eq!(outcomes[0].fields.direction, laer_core::model::Direction::Lower);
    let o = outcomes[0].id.to_string();

    let (_, page) = sales.get(&plan).await;
    assert!(
        visible_text(&page).contains("manage_plans: your role (sales) may edit a success plan and share it only while you cover the account in its current phase"),
        "{}",
        visible_text(&page)
    );
    // Measurements: a bad value and a future day are named; the seller records one.
    let measure = |session: &Session, csrf: &str, value: &str, day: &str| {
        let form = vec![
            ("csrf".to_string(), csrf.to_string()),
            ("outcome".to_string(), o.clone()),
            ("measured_on".to_string(), day.to_string()),
            ("value".to_string(), value.to_string()),
            ("source".to_string(), "branch report".to_string()),
        ];
        post(session, format!("{plan}/measurements"), form)
    };
    let today = chrono::Utc::now().date_naive();
    let tomorrow = (today + chrono::TimeDelta::days(1)).to_string();
    let (status, page) = measure(&sales, &sales_csrf, "lots", &tomorrow).await;
    assert_eq!(status, 400);
    let text = visible_text(&page);
    assert!(text.contains("value") && text.contains("measured on"), "{text}");
    assert!(store.measurements_of(id).await.unwrap().is_empty());
    assert_eq!(measure(&sales, &sales_csrf, "17", &today.to_string()).await.0, 303);
    let stored = store.measurements_of(id).await.unwrap();
    assert_eq!(stored[0].fields.value, 17.0);
    assert_eq!(
        stored[0].fields.recorded_by.as_deref(),
        Some("ae@vendor.example <ae@vendor.example>")
    );
    // The plan shows it at once, in the outcome's direction: 30 → 5, at 17 is 52%.
    let (_, page) = csm.get(&plan).await;
    let text = visible_text(&page);
    assert!(
        text.contains("lower is better") && text.contains("branch report"),
        "{text}"
    );
    assert!(text.contains("52% of the way"), "{text}");

    // An edit on a stale version is refused with a message.
    let edit = format!("{plan}/outcomes/{o}");
    let mut fields = with(&csrf, outcome("3", "lower"));
    fields.push(("version".into(), "1".into()));
    assert_eq!(post(&csm, edit.clone(), fields.clone()).await.0, 303);
    let mut stale = with(&csrf, outcome("4", "lower"));
    stale.push(("version".into(), "1".into()));
    let (status, page) = post(&csm, edit, stale).await;
    assert_eq!(status, 400);
    assert!(visible_text(&page).contains("changed by someone else"));
    assert_eq!(store.outcome(outcomes[0].id).await.unwrap().unwrap().fields.target, 3.0);

    // The customer's switch needs manage_plans.
    let switch = format!("{plan}/customer-measurements");
    assert_eq!(
        post(&sales, switch.clone(), with(&sales_csrf, vec![("on", "true")]))
            .await
            .0,
        403
    );
    assert!(!store.customer_measurements(id).await.unwrap());
    assert_eq!(post(&csm, switch, with(&csrf, vec![("on", "true")])).await.0, 303);
    assert!(store.customer_measurements(id).await.unwrap());
}

/// The share link's page and its form: the cookie and the token it sets.
async fn share_page(base: &str, path: &str) -> (u16, String, Option<String>) {
    let response = client().get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    let cookie = set_cookie(&response, "laer_plan_csrf").map(|(value, attributes)| {
        // `Secure` too, except on plain http within this machine, as here (site.rs).
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/plan/"] {
            assert!(attributes.contains(attribute), "{attributes}");
        }
        value
    });
    (status, response.text().await.unwrap(), cookie)
}

async fn post_share(
    base: &str,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, String, Option<String>) {
    let mut request = client().post(format!("{base}{path}")).form(form);
    if let Some(c) = cookie {
        request = request.header(COOKIE, format!("laer_plan_csrf={c}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_string());
    (status, response.text().await.unwrap(), location)
}

async fn the_customer_records_a_measurement_through_a_share_link(store: &Store) {
    let id = seed(store).await;
    let (outcome, _) = store
        .define_outcome(
            &laer_core::entries::OutcomeInput {
                name: "Offices with local breakout",
                unit: "%",
                baseline: "10",
                target: "60",
                ..Default::default()
            }
            .check(id, "o-1")
            .unwrap(),
            "kim",
        )
        .await
        .unwrap();
    let link = store.create_share_link(id, "kim").await.unwrap();
    let base = spawn(store).await;
    let path = format!("/plan/{}", link.secret);
    let post_path = format!("{path}/measurements");
    let o = outcome.id.to_string();
    let today = chrono::Utc::now().date_naive().to_string();

    // Off (the default): no form, no cookie; a post is refused and writes nothing.
    let (status, page, cookie) = share_page(&base, &path).await;
    assert_eq!(status, 200);
    assert!(!page.contains("id=\"record\""), "no form");
    assert_eq!(cookie, None);
    let before = audit_count(store).await;
    let form = |csrf: &'static str, value: &'static str| {
        vec![
            ("csrf", csrf),
            ("outcome", "OUTCOME"),
            ("measured_on", "TODAY"),
            ("value", value),
            ("note", "From our inventory"),
        ]
    };
    let fill = |f: Vec<(&'static str, &'static str)>| -> Vec<(String, String)> {
        f.into_iter()
            .map(|(k, v)| {
                let v = match v {
                    "OUTCOME" => o.clone(),
                    "TODAY" => today.clone(),
                    v => v.to_string(),
                };
                (k.to_string(), v)
            })
            .collect()
    };
    let send = |cookie: Option<String>, form: Vec<(String, String)>| {
        let base = base.clone();
        let post_path = post_path.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post_share(&base, &post_path, cookie.as_deref(), &form).await
        }
    };
    let token = "0123456789abcdef0123456789abcdef";
    let (status, page, _) = send(Some(token.into()), fill(form(token, "25"))).await;
    assert_eq!(status, 403, "{page}");
    assert!(visible_text(&page).contains("does not take figures"), "{page}");
    assert!(store.measurements_of(id).await.unwrap().is_empty());
    assert_eq!(audit_count(store).await, before);

    // On: the form, in the customer's words, with a token matching its cookie.
    store.set_customer_measurements(id, true, "kim").await.unwrap();
    let (status, page, cookie) = share_page(&base, &path).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("the page sets the form's token cookie");
    assert_eq!(hidden(&page, "csrf").as_deref(), Some(cookie.as_str()));
    let text = visible_text(&page);
    assert!(text.contains("Send us a new figure"), "{text}");
    assert_eq!(internal_words(&text), Vec::<&str>::new(), "{text}");

    // Without the cookie, or with a token of another: refused, nothing written.
    let (status, page, _) = send(None, fill(form(token, "25"))).await;
    assert_eq!(status, 403);
    assert!(page.contains("security token"));
    let (status, _, _) = send(Some(cookie.clone()), fill(form(token, "25"))).await;
    assert_eq!(status, 403);
    assert!(store.measurements_of(id).await.unwrap().is_empty());

    // Bad input: the page again with the field named (400), nothing written.
    let with_token = |value: &'static str| {
        let mut f = fill(form("x", value));
        f[0].1 = cookie.clone();
        f
    };
    let (status, page, _) = send(Some(cookie.clone()), with_token("plenty")).await;
    assert_eq!(status, 400);
    assert!(visible_text(&page).contains("expected a number"), "{page}");
    assert!(store.measurements_of(id).await.unwrap().is_empty());

    // Recorded as the customer's, audited, shown on the plan at once.
    let (status, _, location) = send(Some(cookie.clone()), with_token("35")).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(format!("{path}?recorded=1#record").as_str()));
    let stored = store.measurements_of(id).await.unwrap();
    let who = format!("customer via link {}…", link.record.prefix);
    assert_eq!(stored[0].fields.recorded_by.as_deref(), Some(who.as_str()));
    assert_eq!(stored[0].fields.note.as_deref(), Some("From our inventory"));
    let audit = store.audit_of_account(id).await.unwrap();
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        (who.as_str(), "measurement.recorded")
    );
    let (_, page, _) = share_page(&base, &format!("{path}?recorded=1")).await;
    let text = visible_text(&page).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("your figure is recorded") && text.contains("Now 35%"),
        "{text}"
    );

    // Limited in rate across nodes: the link's writes are counted in the database.
    let mut last = 0;
    for _ in 0..laer_store::RateLimit::CUSTOMER.writes {
        let (status, page, _) = send(Some(cookie.clone()), with_token("36")).await;
        last = status;
        if status == 429 {
            assert!(visible_text(&page).contains("Too many figures"), "{page}");
            break;
        }
    }
    assert_eq!(
        last,
        429,
        "the limit of {} per hour",
        laer_store::RateLimit::CUSTOMER.writes
    );
}

laer_store::backend_tests!(
    contacts_and_cadences_through_the_forms,
    outcomes_and_measurements_through_the_forms,
    the_customer_records_a_measurement_through_a_share_link,
);
