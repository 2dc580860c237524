//! Work recorded by hand and rights by phase, over real HTTP on each backend: the
//! account executive covering an account in Land writes its plan and shares it, a
//! salesperson who does not cover it is told which right they lack and why; NPS answers,
//! support cases, accounts and contract lines entered on forms refuse bad input naming
//! the field and write nothing, and once saved show in health, renewals and revenue;
//! tasks of one's own are created once per form and their comments show on My work.

use chrono::{NaiveDate, TimeDelta, Utc};
use laer_core::access::Role;
use laer_core::model::*;
use laer_store::Store;
use reqwest::header::LOCATION;

use crate::common::text::visible_text;
use crate::common::web::{Session, client};
use crate::common::{acme, spawn};

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The page's words, whitespace collapsed.
fn words(html: &str) -> String {
    visible_text(html).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a refused form names `field` with `message` in its list of problems.
fn names(html: &str, field: &str, message: &str) -> bool {
    words(html).contains(&format!("{} : {message}", field.replace('_', " ")))
}

struct Seeded {
    account: i64,
    ae: i64,
    base: String,
    /// A salesperson covering Acme as its account executive.
    covering: Session,
    /// A salesperson who covers nothing.
    other: Session,
}

/// Acme landed 10 days ago (Land), covered by the account executive "ae-1"; logins for
/// ae-1 and for another salesperson, ae-2.
async fn seed(store: &Store) -> Seeded {
    let mut tx = store.begin_write().await.unwrap();
    let account = acme(&mut tx, 10, None, 2_000, 20.0).await;
    let member = |id: &str, role: TeamRole| NewTeamMember {
        external_id: id.into(),
        name: id.into(),
        email: Some(format!("{id}@vendor.example")),
        roles: Some(vec![role]),
    };
    tx.upsert(&[
        member("ae-1", TeamRole::AccountExecutive),
        member("ae-2", TeamRole::AccountExecutive),
    ])
    .await
    .unwrap();
    let members = tx.id_lookup(laer_store::IdLookup::TeamMembers).await.unwrap();
    let (ae, other_ae) = (members["ae-1"], members["ae-2"]);
    tx.upsert(&[NewCoverageAssignment {
        account_id: account,
        team_member_id: ae,
        role: TeamRole::AccountExecutive,
        since: today() - TimeDelta::days(10),
        until: None,
        reason: "Land: sold it".into(),
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let hash = laer_app::auth::hash_password("sales password").unwrap();
    for (email, member) in [("ae1@example.com", ae), ("ae2@example.com", other_ae)] {
        store
            .upsert_user(email, email, Role::Sales, &hash, Some(member))
            .await
            .unwrap();
    }
    let base = spawn(store).await;
    let covering = Session::login(&base, "ae1@example.com", "sales password")
        .await
        .unwrap();
    let other = Session::login(&base, "ae2@example.com", "sales password")
        .await
        .unwrap();
    Seeded {
        account,
        ae,
        base,
        covering,
        other,
    }
}

async fn the_account_executive_in_land_writes_the_plan_and_others_are_told_why(store: &Store) {
    let s = seed(store).await;
    let id = s.account;
    let plan = format!("/accounts/{id}/plan");
    let (status, page) = s.covering.get(&plan).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("action=\"{plan}/objective\"")),
        "the AE sees the objective form"
    );
    assert!(page.contains(&format!("action=\"{plan}/links\"")), "and can share");
    let csrf = s.covering.csrf().await;
    let objective = [
        ("csrf", csrf.as_str()),
        ("objective", "Every office on local breakout by June"),
    ];
    assert_eq!(s.covering.post(&format!("{plan}/objective"), &objective).await, 303);
    let milestone = [
        ("csrf", csrf.as_str()),
        ("title", "Directory connected"),
        ("due", "2030-01-15"),
        ("side", "customer"),
    ];
    assert_eq!(s.covering.post(&format!("{plan}/milestones"), &milestone).await, 303);
    let (status, created) = s.covering.post_page(&format!("{plan}/links"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "a share link is made");
    assert!(created.contains("id=\"share-path\""));
    let (_, page) = s.covering.get(&plan).await;
    assert!(page.contains("Every office on local breakout by June") && page.contains("Directory connected"));

    // The other salesperson covers nothing here: told why, in place of the forms.
    let reason = "manage_plans: your role (sales) may edit a success plan and share it only while you cover the account in its current phase (Land)";
    let (status, page) = s.other.get(&plan).await;
    assert_eq!(status, 200);
    assert!(
        !page.contains(&format!("action=\"{plan}/objective\"")),
        "no dead control"
    );
    assert!(words(&page).contains(reason), "the reason is shown");
    let csrf = s.other.csrf().await;
    // The plan's changes in the audit log (the engine may log coverage meanwhile).
    let plan_changes = || async {
        let audit = store.audit_of_account(id).await.unwrap();
        audit
            .iter()
            .filter(|a| a.action.starts_with("plan.") || a.action.starts_with("milestone."))
            .count()
    };
    let audit = plan_changes().await;
    let (status, refused) = s
        .other
        .post_page(
            &format!("{plan}/objective"),
            &[("csrf", &csrf), ("objective", "Mine now")],
        )
        .await;
    assert_eq!(status, 403);
    assert!(words(&refused).contains(reason), "the same reason: {}", words(&refused));
    for path in [format!("{plan}/milestones"), format!("{plan}/links")] {
        assert_eq!(
            s.other
                .post(&path, &[("csrf", &csrf), ("title", "x"), ("due", "2030-01-01")])
                .await,
            403,
            "{path}"
        );
    }
    assert_eq!(plan_changes().await, audit, "nothing changed");
    let (_, page) = s.covering.get(&plan).await;
    assert!(!page.contains("Mine now"));
}

/// The sum of one column of the revenue CSV.
async fn revenue_column(session: &Session, column: &str) -> f64 {
    let (status, csv) = session.get("/revenue.csv").await;
    assert_eq!(status, 200);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == column).unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap().parse::<f64>().unwrap_or(0.0))
        .sum()
}

async fn records_by_hand_refuse_bad_input_and_show_in_health_renewals_and_revenue(store: &Store) {
    let s = seed(store).await;
    let id = s.account;
    let ae = &s.covering;
    let (status, page) = ae.get(&format!("/accounts/{id}/records")).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("action=\"/accounts/{id}/surveys\"")));
    let csrf = ae.csrf().await;
    let counts = || async { store.counts().await.unwrap() };

    // An NPS answer: a score out of range and a comment too long are refused by field.
    let before = counts().await;
    let survey = |score: &'static str, comment: String| {
        vec![
            ("csrf", csrf.clone()),
            ("token", "nps1".to_string()),
            ("survey", "nps".to_string()),
            ("score", score.to_string()),
            ("contact_id", String::new()),
            ("responded_at", today().to_string()),
            ("comment", comment),
        ]
    };
    let post = |path: String, form: Vec<(&'static str, String)>| async move {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ae.post_page(&path, &form).await
    };
    let surveys = format!("/accounts/{id}/surveys");
    let (status, page) = post(surveys.clone(), survey("11", "fine".into())).await;
    assert_eq!(status, 400);
    assert!(
        names(&page, "score", "a nps score runs 0 to 10, found 11"),
        "{}",
        words(&page)
    );
    assert!(
        page.contains("value=\"fine\"") || page.contains(">fine<"),
        "the values as sent"
    );
    let (status, page) = post(surveys.clone(), survey("9", "x".repeat(10_001))).await;
    assert_eq!(status, 400);
    assert!(
        names(&page, "comment", "expected at most 10000 characters"),
        "{}",
        &words(&page)[..300]
    );
    assert_eq!(
        counts().await.survey_responses,
        before.survey_responses,
        "nothing written"
    );
    for _ in 0..2 {
        let (status, _) = post(surveys.clone(), survey("10", "<b>Great</b> onboarding".into())).await;
        assert_eq!(status, 303, "the same form twice");
    }
    assert_eq!(
        counts().await.survey_responses,
        before.survey_responses + 1,
        "one answer"
    );
    let (_, account_page) = ae.get(&format!("/accounts/{id}")).await;
    assert!(words(&account_page).contains("NPS, last 90 days +100"), "health has it");
    assert!(!account_page.contains("<b>Great</b>"), "escaped");

    // A support case: opened, closed, and a stale change refused.
    let cases = format!("/accounts/{id}/cases");
    let case = |severity: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("token", "case1".to_string()),
            ("subject", "SSO login fails".to_string()),
            ("kind", "defect".to_string()),
            ("severity", severity.to_string()),
            ("opened_at", format!("{}T09:30", today() - TimeDelta::days(1))),
        ]
    };
    let (status, page) = post(cases.clone(), case("7")).await;
    assert_eq!(status, 400);
    assert!(
        names(&page, "severity", "expected 1 (critical) to 4 (low), found 7"),
        "{}",
        words(&page)
    );
    assert_eq!(counts().await.support_cases, before.support_cases);
    assert_eq!(post(cases.clone(), case("1")).await.0, 303);
    let opened = store.support_cases_of(id, 10).await.unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].fields.subject.as_deref(), Some("SSO login fails"));
    let change = |version: &'static str, status: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("version", version.to_string()),
            ("status", status.to_string()),
        ]
    };
    let case_path = format!("/accounts/{id}/cases/{}", opened[0].id);
    assert_eq!(post(case_path.clone(), change("1", "closed")).await.0, 303);
    let (status, page) = post(case_path.clone(), change("1", "pending")).await;
    assert_eq!(status, 409, "a stale change is refused");
    assert!(words(&page).contains("changed by someone else"), "{}", words(&page));
    let closed = store.support_case(opened[0].id).await.unwrap().unwrap();
    assert_eq!((closed.fields.status, closed.version), (CaseStatus::Closed, 2));

    // A new account with a line: bad input by field, then in renewals and revenue.
    let account_form = |name: &'static str, external_id: &'static str, renewal: String| {
        vec![
            ("csrf", csrf.clone()),
            ("token", "acct1".to_string()),
            ("name", name.to_string()),
            ("external_id", external_id.to_string()),
            ("segment", "Mid-market".to_string()),
            ("country", "NL".to_string()),
            ("renewal_date", renewal),
        ]
    };
    let renewal = (today() + TimeDelta::days(20)).to_string();
    for (form, field) in [
        (
            account_form("Initech", "", "soon".into()),
            ("renewal_date", "expected a date"),
        ),
        (
            account_form("", "", renewal.clone()),
            ("name", "expected the account's name"),
        ),
        (
            account_form("Initech", "acme", renewal.clone()),
            ("external_id", "\"acme\" already names"),
        ),
    ] {
        let (status, page) = post("/accounts/new".into(), form).await;
        assert_eq!(status, 400);
        assert!(names(&page, field.0, field.1), "{field:?}: {}", words(&page));
    }
    assert_eq!(counts().await.accounts, before.accounts, "nothing written");
    let response = client()
        .post(format!("{}/accounts/new", s.base))
        .header(reqwest::header::COOKIE, &ae.cookie)
        .form(&account_form("Initech", "", renewal.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()[LOCATION].to_str().unwrap().to_string();
    let initech: i64 = location.trim_start_matches("/accounts/").parse().unwrap();

    let new_before = revenue_column(ae, "new").await;
    let line = |mrr: &'static str, start: String, token: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("token", token.to_string()),
            ("product", "suite".to_string()),
            ("mrr", mrr.to_string()),
            ("quantity", "25".to_string()),
            ("units", "seats".to_string()),
            ("bill_period_months", "12".to_string()),
            ("start_date", start),
            ("end_date", String::new()),
        ]
    };
    let contracts = format!("/accounts/{initech}/contracts");
    let started = (today() - TimeDelta::days(45)).to_string();
    let (status, page) = post(contracts.clone(), line("lots", started.clone(), "line1")).await;
    assert_eq!(status, 400);
    assert!(names(&page, "mrr", ""), "{}", words(&page));
    assert_eq!(counts().await.subscriptions, before.subscriptions);
    assert_eq!(
        post(contracts.clone(), line("1234", started.clone(), "line1")).await.0,
        303
    );
    let (_, renewals) = ae.get("/renewals?mine=0").await;
    assert!(
        words(&renewals).contains("Initech"),
        "the new contract renews in 20 days"
    );
    let new_after = revenue_column(ae, "new").await;
    assert!(
        (new_after - new_before - 1234.0).abs() < 1e-6,
        "new MRR {new_before} → {new_after}"
    );

    // Change the line, then a stale change and an end before its start are refused.
    let stored = store.subscription_lines_of(initech).await.unwrap();
    let line_path = format!("{contracts}/{}", stored[0].line.id);
    let (status, page) = ae.get(&line_path).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"version\" value=\"1\""));
    let mut change = line("1500", started.clone(), "");
    change.push(("version", "1".to_string()));
    assert_eq!(post(line_path.clone(), change.clone()).await.0, 303);
    let (status, page) = post(line_path.clone(), change).await;
    assert_eq!(status, 409);
    assert!(words(&page).contains("changed by someone else"));
    let end = |version: &'static str, on: String| {
        vec![
            ("csrf", csrf.clone()),
            ("version", version.to_string()),
            ("end_date", on),
        ]
    };
    let (status, page) = post(format!("{line_path}/end"), end("2", "2001-01-01".into())).await;
    assert_eq!(status, 400);
    assert!(
        names(&page, "end_date", "2001-01-01 is before the start date"),
        "{}",
        words(&page)
    );
    let kept = store.subscription_line(stored[0].line.id).await.unwrap().unwrap();
    assert_eq!((kept.version, kept.line.fields.end_date), (2, None));
    assert_eq!(kept.line.fields.mrr.to_string(), "1500");
}

async fn a_role_without_the_right_is_told_which_and_why(store: &Store) {
    let s = seed(store).await;
    let id = s.account;
    let viewer = Session::viewer(store, &s.base).await;
    let (status, page) = viewer.get(&format!("/accounts/{id}/records")).await;
    assert_eq!(status, 200);
    let reason = "record_work: your role (viewer) may not record work with customers";
    assert!(words(&page).contains(reason), "{}", words(&page));
    assert!(
        !page.contains(&format!("action=\"/accounts/{id}/surveys\"")),
        "no dead control"
    );
    let csrf = viewer.csrf().await;
    let before = store.counts().await.unwrap();
    let (status, page) = viewer
        .post_page(
            &format!("/accounts/{id}/surveys"),
            &[
                ("csrf", &csrf),
                ("token", "v1"),
                ("survey", "nps"),
                ("score", "0"),
                ("responded_at", "2026-01-01"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert!(words(&page).contains(reason));
    let (status, page) = viewer
        .post_page("/work/tasks", &[("csrf", &csrf), ("token", "v2"), ("title", "Mine")])
        .await;
    assert_eq!(status, 403);
    assert!(words(&page).contains("work_tasks: your role (viewer) may not work on tasks"));
    let (_, account) = viewer.get(&format!("/accounts/{id}")).await;
    assert!(
        words(&account).contains("work_tasks: your role (viewer)"),
        "in place of the new task form"
    );
    assert!(
        words(&account).contains("set_phase: your role (viewer)"),
        "in place of setting the phase"
    );

    // A CSM records work but does not edit contracts.
    let hash = laer_app::auth::hash_password("csm password").unwrap();
    store
        .upsert_user("csm@example.com", "Cass", Role::Csm, &hash, None)
        .await
        .unwrap();
    let csm = Session::login(&s.base, "csm@example.com", "csm password")
        .await
        .unwrap();
    let csrf = csm.csrf().await;
    let (status, page) = csm
        .post_page(
            &format!("/accounts/{id}/contracts"),
            &[
                ("csrf", &csrf),
                ("token", "c1"),
                ("product", "x"),
                ("mrr", "1"),
                ("start_date", "2026-01-01"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        words(&page)
            .contains("edit_contracts: your role (csm) may not create accounts and change their contract lines")
    );
    let (_, page) = csm.get(&format!("/accounts/{id}/records")).await;
    assert!(words(&page).contains("edit_contracts: your role (csm)"));
    assert!(
        page.contains(&format!("action=\"/accounts/{id}/cases\"")),
        "the CSM records cases"
    );
    let after = store.counts().await.unwrap();
    assert_eq!(
        (after.survey_responses, after.subscriptions),
        (before.survey_responses, before.subscriptions),
        "nothing written"
    );
    let tasks = store.tasks(&Default::default(), today()).await.unwrap();
    assert!(!tasks.iter().any(|t| t.title == "Mine"), "no task written");
}

async fn tasks_of_ones_own_are_made_once_and_their_comments_show(store: &Store) {
    let s = seed(store).await;
    let (id, ae) = (s.account, &s.covering);
    let (status, work) = ae.get("/work").await;
    assert_eq!(status, 200);
    assert!(work.contains("action=\"/work/tasks\""), "My work has the new task form");
    assert!(
        work.contains(&format!("<option value=\"{}\" selected>ae-1 (me)</option>", s.ae)),
        "me by default"
    );
    let csrf = ae.csrf().await;
    let ae_id = s.ae.to_string();
    let task = |title: &'static str, account: &'static str| {
        vec![
            ("csrf", csrf.as_str()),
            ("token", "task1"),
            ("title", title),
            ("due", "2030-02-01"),
            ("assignee", ae_id.as_str()),
            ("account", account),
            ("back", "/work"),
        ]
    };
    let (status, page) = ae.post_page("/work/tasks", &task("  ", "Acme")).await;
    assert_eq!(status, 400);
    assert!(names(&page, "title", "expected a title"), "{}", words(&page));
    let (status, page) = ae.post_page("/work/tasks", &task("Call the sponsor", "Globex")).await;
    assert_eq!(status, 400);
    assert!(
        names(&page, "account", "no account is named \"Globex\""),
        "{}",
        words(&page)
    );
    assert!(page.contains("value=\"Call the sponsor\""), "the values as sent");
    // Counted by title: the engine's playbooks may create tasks of their own meanwhile.
    let calls = || async {
        let all = store
            .tasks(
                &laer_store::TaskFilter {
                    account_id: Some(id),
                    ..Default::default()
                },
                today(),
            )
            .await
            .unwrap();
        all.into_iter()
            .filter(|t| t.title == "Call the sponsor")
            .collect::<Vec<_>>()
    };
    assert!(calls().await.is_empty(), "nothing written");
    for _ in 0..2 {
        assert_eq!(ae.post("/work/tasks", &task("Call the sponsor", "acme")).await, 303);
    }
    let tasks = calls().await;
    assert_eq!(tasks.len(), 1, "one task for the same form");
    let mine = tasks.iter().find(|t| t.title == "Call the sponsor").unwrap();
    assert_eq!((mine.assignee_id, mine.playbook.as_deref()), (Some(s.ae), None));

    // From the account page: the account is fixed, and back to it.
    let (_, account_page) = ae.get(&format!("/accounts/{id}")).await;
    assert!(account_page.contains(&format!("name=\"account_id\" value=\"{id}\"")));
    let response = client()
        .post(format!("{}/work/tasks", s.base))
        .header(reqwest::header::COOKIE, &ae.cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", "task2"),
            ("title", "Send the onboarding plan"),
            ("assignee", ""),
            ("account_id", &id.to_string()),
            ("back", &format!("/accounts/{id}#work")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], format!("/accounts/{id}#work").as_str());

    // A comment shows under its task on My work, and for the account's timeline.
    let comment = [
        ("csrf", csrf.as_str()),
        ("action", "comment"),
        ("comment", "Left a voicemail <script>"),
        ("back", "/work"),
    ];
    assert_eq!(ae.post(&format!("/work/tasks/{}", mine.id), &comment).await, 303);
    let (_, work) = ae.get("/work").await;
    assert!(words(&work).contains("1 comment"), "{}", words(&work));
    assert!(work.contains("Left a voicemail &lt;script&gt;"), "shown, escaped");
    let timeline = store.task_comments_of_account(id).await.unwrap();
    assert_eq!(
        (timeline[0].task_title.as_str(), timeline[0].body.as_str()),
        ("Call the sponsor", "Left a voicemail <script>")
    );
}

laer_store::backend_tests!(
    the_account_executive_in_land_writes_the_plan_and_others_are_told_why,
    records_by_hand_refuse_bad_input_and_show_in_health_renewals_and_revenue,
    a_role_without_the_right_is_told_which_and_why,
    tasks_of_ones_own_are_made_once_and_their_comments_show,
);
