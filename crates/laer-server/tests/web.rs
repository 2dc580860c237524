//! The web app over real HTTP, on each backend: logins, sessions, CSRF, roles, pages and
//! their CSV downloads, with the demo company as data.

mod common;

use common::spawn;
use common::web::{Session, client, set_cookie};
use laer_core::access::Role;
use laer_core::demo::DemoConfig;
use laer_store::Store;
use reqwest::header::{COOKIE, LOCATION};

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

async fn seed(store: &Store) -> laer_server::demo::DemoLoad {
    let config = DemoConfig {
        accounts: 12,
        months: 8,
        seed: 3,
        ..DemoConfig::new(today())
    };
    laer_server::demo::load(store, &config).await.unwrap()
}

async fn pages_need_a_login(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let response = client().get(format!("{base}/accounts/1?tab=x")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/login?next=/accounts/1%3Ftab%3Dx");
    assert_eq!(
        Session::login(&base, laer_server::demo::DEMO_ADMIN, "wrong")
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        Session::login(&base, "nobody@example.com", "demo").await.err(),
        Some(401)
    );
    // A login form posted without the token of its own cookie is refused.
    let forged = client()
        .post(format!("{base}/login"))
        .form(&[
            ("email", laer_server::demo::DEMO_ADMIN),
            ("password", "demo"),
            ("csrf", "guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    assert!(set_cookie(&forged, "laer_session").is_none());
}

async fn an_admin_sees_every_page(store: &Store) {
    let load = seed(store).await;
    let base = spawn(store).await;
    let admin = Session::login(&base, laer_server::demo::DEMO_ADMIN, "demo")
        .await
        .unwrap();
    let (status, portfolio) = admin.get("/portfolio").await;
    assert_eq!(status, 200);
    assert!(portfolio.contains("All accounts"), "an admin sees everyone's accounts");
    assert_eq!(portfolio.matches("href=\"/accounts/").count(), load.accounts);
    // A change made anywhere shows on the next request: pages never serve stale views.
    let mut tx = store.begin_write().await.unwrap();
    let mut newcomer = laer_core::demo::generate_records(&DemoConfig {
        accounts: 1,
        months: 2,
        seed: 9,
        ..DemoConfig::new(today())
    })
    .0
    .accounts
    .remove(0);
    newcomer.external_id = "newcomer".into();
    newcomer.name = Some("Newcomer Ltd".into());
    tx.upsert_accounts(&[newcomer]).await.unwrap();
    tx.commit().await.unwrap();
    let (_, portfolio) = admin.get("/portfolio").await;
    assert!(portfolio.contains("Newcomer Ltd"), "the new account is listed at once");
    for path in [
        "/renewals",
        "/renewals?within=180",
        "/revenue",
        "/portfolio?sort=arr&desc=1&phase=adopt",
    ] {
        let (status, page) = admin.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains("<html"), "{path}");
    }
    let (_, revenue) = admin.get("/revenue").await;
    assert!(revenue.contains("<svg") && revenue.contains("MRR movements per month"));
    let first_account = portfolio.split("href=\"/accounts/").nth(1).unwrap();
    let id: i64 = first_account[..first_account.find('"').unwrap()].parse().unwrap();
    let (status, account) = admin.get(&format!("/accounts/{id}")).await;
    assert_eq!(status, 200);
    for part in [
        "MRR history",
        "Active users per 30 days",
        "Users by department",
        "Contracts",
        "Timeline",
    ] {
        assert!(account.contains(part), "the account page shows {part}");
    }
    assert_eq!(admin.get("/accounts/987654").await.0, 404);
    let (status, csv) = admin.get("/portfolio.csv?owner=all").await;
    assert_eq!(status, 200);
    assert_eq!(
        csv.lines().count(),
        load.accounts + 2,
        "a header and every account, the newcomer too"
    );
    assert!(csv.starts_with("external_id,name,phase,health,segment,owner,arr,renewal_date,trend_90d"));
}

/// Waits until the server's health engine has kept today's health of every account.
async fn health_kept(store: &Store, accounts: usize) {
    for _ in 0..300 {
        if store.latest_health(today()).await.unwrap().len() >= accounts {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the health engine kept no health within 30 s");
}

async fn health_shows_with_its_reasons_and_phases_are_set_by_hand(store: &Store) {
    let load = seed(store).await;
    let base = spawn(store).await;
    health_kept(store, load.accounts).await;
    let admin = Session::login(&base, laer_server::demo::DEMO_ADMIN, "demo")
        .await
        .unwrap();
    let (_, portfolio) = admin.get("/portfolio?sort=health").await;
    assert!(portfolio.contains("sort=health"), "a health column to sort by");
    assert!(portfolio.contains("badge health-"), "scores as badges");
    assert!(
        portfolio.contains("health model “laer default”"),
        "which model scored them"
    );
    let customer = store
        .account_snapshots(today())
        .await
        .unwrap()
        .into_iter()
        .find(|a| !a.mrr.is_zero())
        .unwrap();
    let path = format!("/accounts/{}", customer.id);
    let (status, page) = admin.get(&path).await;
    assert_eq!(status, 200);
    for part in [
        "id=\"health\"",
        "Drivers",
        "Since last week",
        "Adoption",
        "Transformation",
        "id=\"accuracy\"",
    ] {
        assert!(page.contains(part), "the account page shows {part}");
    }
    if !store.meeting_cadences_of(customer.id).await.unwrap().is_empty() {
        assert!(
            page.contains("Meeting cadence"),
            "the agreed cadence per team, kept or not"
        );
    }
    let csrf = admin.csrf().await;
    let set = |phase: &'static str, reason: &'static str, csrf: String| {
        let admin = &admin;
        let path = format!("{path}/phase");
        async move {
            admin
                .post(&path, &[("csrf", csrf.as_str()), ("phase", phase), ("reason", reason)])
                .await
        }
    };
    assert_eq!(set("expand", "", csrf.clone()).await, 400, "a reason is needed");
    assert_eq!(set("expand", "LOI signed", "forged".into()).await, 403);
    assert_eq!(set("sideways", "LOI signed", csrf.clone()).await, 400);
    assert_eq!(
        store.phase_override(customer.id).await.unwrap(),
        None,
        "nothing changed"
    );
    assert_eq!(set("expand", "LOI signed", csrf.clone()).await, 303);
    let set_by_hand = store.phase_override(customer.id).await.unwrap().unwrap();
    assert_eq!(set_by_hand.phase, laer_core::portfolio::Phase::Expand);
    assert!(set_by_hand.set_by.contains(laer_server::demo::DEMO_ADMIN));
    let (_, page) = admin.get(&path).await;
    assert!(page.contains("Phase set by hand to"), "the page says so");
    assert!(page.contains("set by hand"), "and the phase's reason too");
    // The newest phase entry (the coverage model may already have acted on the phase).
    let audit = store.audit_of_account(customer.id).await.unwrap();
    let entry = audit.iter().find(|a| a.action.starts_with("phase.")).unwrap();
    assert_eq!(entry.action, "phase.set");
    assert_eq!(entry.details["reason"], "LOI signed");
    assert_eq!(set("auto", "LOI withdrawn", csrf).await, 303);
    assert_eq!(store.phase_override(customer.id).await.unwrap(), None);

    // A viewer sees health but may not set phases.
    let viewer = Session::viewer(store, &base).await;
    let (_, page) = viewer.get(&path).await;
    assert!(page.contains("Drivers") && !page.contains("Set the phase by hand"));
    let token = viewer.csrf().await;
    assert_eq!(
        viewer
            .post(
                &format!("{path}/phase"),
                &[("csrf", token.as_str()), ("phase", "renew"), ("reason", "x")]
            )
            .await,
        403
    );
}

async fn a_csm_lands_on_their_book_and_a_viewer_sees_no_revenue(store: &Store) {
    let load = seed(store).await;
    let base = spawn(store).await;
    let csm = load.logins.iter().find(|(_, role)| *role == Role::Csm).unwrap();
    let session = Session::login(&base, &csm.0, "demo").await.unwrap();
    let (_, mine) = session.get("/portfolio").await;
    assert!(mine.contains("My accounts"), "a CSM lands on their own book");
    let (_, everyone) = session.get("/portfolio?owner=all").await;
    assert!(everyone.matches("href=\"/accounts/").count() >= mine.matches("href=\"/accounts/").count());
    let (_, all_renewals) = session.get("/renewals.csv?within=180").await;
    let (_, my_renewals) = session.get("/renewals.csv?within=180&mine=1").await;
    assert!(my_renewals.lines().count() <= all_renewals.lines().count());
    for line in my_renewals.lines().skip(1) {
        assert!(all_renewals.contains(line), "my renewals are among everyone's: {line}");
    }

    let viewer = Session::viewer(store, &base).await;
    let (status, page) = viewer.get("/revenue").await;
    assert_eq!(status, 403);
    assert!(page.contains("view_revenue"), "the refusal names the permission");
    assert_eq!(viewer.get("/revenue.csv").await.0, 403);
    let (_, portfolio) = viewer.get("/portfolio").await;
    assert!(
        !portfolio.contains("href=\"/revenue\""),
        "no link to what the role cannot open"
    );
    assert_eq!(viewer.get("/renewals").await.0, 200);
}

async fn logout_needs_the_csrf_token_and_ends_the_session(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let admin = Session::login(&base, laer_server::demo::DEMO_ADMIN, "demo")
        .await
        .unwrap();
    assert_eq!(admin.post("/logout", &[]).await, 403, "a forged logout is refused");
    assert_eq!(admin.post("/logout", &[("csrf", "not-the-token")]).await, 403);
    assert_eq!(admin.get("/portfolio").await.0, 200, "and changes nothing");
    let token = admin.csrf().await;
    assert_eq!(admin.post("/logout", &[("csrf", &token)]).await, 303);
    assert_eq!(admin.get("/portfolio").await.0, 303, "the session has ended");
}

/// The revenue page's numbers are the MRR report's.
async fn revenue_figures_match_the_mrr_report(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let admin = Session::login(&base, laer_server::demo::DEMO_ADMIN, "demo")
        .await
        .unwrap();
    let (status, csv) = admin.get("/revenue.csv").await;
    assert_eq!(status, 200);
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let mut compared = 0;
    for row in rows.records() {
        let row = row.unwrap();
        let from = chrono::NaiveDate::parse_from_str(&format!("{}-01", &row[0]), "%Y-%m-%d").unwrap();
        let to = from.checked_add_months(chrono::Months::new(1)).unwrap();
        let request = laer_core::reports::ReportRequest::parse(&from.to_string(), &to.to_string(), None, None).unwrap();
        let report = laer_server::reports::mrr(store, &request, None, false).await.unwrap();
        for (column, field) in [
            (1, "start"),
            (2, "new"),
            (3, "expansion"),
            (4, "reactivation"),
            (5, "contraction"),
            (6, "churn"),
            (7, "end"),
        ] {
            let page: f64 = row[column].parse().unwrap();
            let reported = report["periods"][0][field].as_f64().unwrap();
            assert!(
                (page - reported).abs() < 1e-6,
                "{} {field}: page {page}, report {reported}",
                &row[0]
            );
        }
        compared += 1;
    }
    assert_eq!(compared, 24, "two years of months");
}

async fn my_work_lists_a_members_tasks_and_changes_them(store: &Store) {
    let load = seed(store).await;
    assert!(load.automation.tasks_created > 0, "the demo's playbooks created tasks");
    let base = spawn(store).await;
    let open = laer_store::TaskFilter {
        status: Some(laer_core::model::TaskStatus::Open),
        ..Default::default()
    };
    let tasks = store.tasks(&open, today()).await.unwrap();
    // A member with open tasks, and their login.
    let team = store.team_members().await.unwrap();
    let (task, email) = tasks
        .iter()
        .find_map(|t| {
            let member = team.iter().find(|m| Some(m.id) == t.assignee_id)?;
            Some((t.clone(), member.email.clone()?))
        })
        .expect("an assigned open task");
    let session = Session::login(&base, &email, "demo").await.unwrap();
    let (status, page) = session.get("/work").await;
    assert_eq!(status, 200);
    assert!(page.contains("My work"));
    let escaped = task.title.replace('&', "&amp;").replace('\'', "&#39;");
    assert!(page.contains(&escaped), "{} on their queue", task.title);
    let mine = tasks.iter().filter(|t| t.assignee_id == task.assignee_id).count();
    assert_eq!(
        page.matches("<li class=\"task").count(),
        mine,
        "exactly their open tasks"
    );

    let path = format!("/work/tasks/{}", task.id);
    assert_eq!(
        session.post(&path, &[("action", "done")]).await,
        403,
        "no CSRF token: refused"
    );
    let csrf = session.csrf().await;
    assert_eq!(
        session
            .post(&path, &[("csrf", &csrf), ("action", "snooze"), ("until", "someday")])
            .await,
        400
    );
    assert_eq!(session.post(&path, &[("csrf", &csrf), ("action", "done")]).await, 303);
    let done = store.task(task.id).await.unwrap().unwrap();
    assert_eq!(done.status, laer_core::model::TaskStatus::Done);
    let (_, after) = session.get("/work").await;
    assert!(
        !after.contains(&format!("action=\"/work/tasks/{}\"", task.id)),
        "done tasks leave the queue"
    );
    let audit = store.audit_of_account(task.account_id.unwrap()).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "task.done" && a.actor.contains(&email))
    );

    // A viewer sees queues but changes nothing.
    let viewer = Session::viewer(store, &base).await;
    let (status, everyone) = viewer.get("/work?show=all").await;
    assert_eq!(status, 200);
    assert!(!everyone.contains("value=\"done\""), "no buttons without work_tasks");
    let csrf = viewer.csrf().await;
    assert_eq!(viewer.post(&path, &[("csrf", &csrf), ("action", "reopen")]).await, 403);
}

/// Whole currency units as the pages show them: "$12,345".
fn dollars(m: laer_core::Money) -> String {
    let units = m.to_f64().round() as i64;
    let digits = units.unsigned_abs().to_string();
    let mut out = String::from(if units < 0 { "-$" } else { "$" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The revenue page's NRR bridges, by phase and by CSM, are those of `laer report
/// nrr-bridge` for the last four whole quarters.
async fn revenue_bridges_are_the_nrr_bridge_report(store: &Store) {
    use laer_core::bridge::{BridgeBy, report_quarters};
    seed(store).await;
    let base = spawn(store).await;
    let admin = Session::login(&base, laer_server::demo::DEMO_ADMIN, "demo")
        .await
        .unwrap();
    let (status, page) = admin.get("/revenue").await;
    assert_eq!(status, 200);
    let quarters = report_quarters(None, None, today());
    let model = laer_core::health::HealthModel::default();
    for (id, by) in [
        ("bridge-phase", BridgeBy::Phase),
        ("bridge-csm", BridgeBy::Owner(laer_core::model::TeamRole::Csm)),
    ] {
        let start = page
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("#{id} on the page"));
        let section = &page[start..start + page[start..].find("</section>").unwrap()];
        let report = laer_server::reports::nrr_bridge(store, &model, &quarters, by)
            .await
            .unwrap();
        assert_eq!(report.quarters.len(), 4);
        for q in &report.quarters {
            let caption = format!("{}: MRR on {} to MRR on {}", q.quarter, q.start, q.end);
            let table = &section[section.find(&caption).unwrap_or_else(|| panic!("{id}: {caption}"))..];
            let table = &table[..table.find("</table>").unwrap()];
            for g in &q.groups {
                assert!(
                    table.contains(&format!(">{}<", g.group)),
                    "{id} {}: {}",
                    q.quarter,
                    g.group
                );
            }
            let total = &table[table.find("<tfoot>").unwrap()..];
            for amount in [q.total.start_mrr, q.total.end_mrr, q.total.new, q.total.churn] {
                assert!(
                    total.contains(&dollars(amount)),
                    "{id} {}: {}",
                    q.quarter,
                    dollars(amount)
                );
            }
        }
        let latest = report.quarters.last().unwrap();
        assert!(
            !latest.groups.is_empty(),
            "the demo has revenue in the last whole quarter"
        );
    }
}

async fn leaders_edit_playbooks_and_coverage_rules(store: &Store) {
    let load = seed(store).await;
    let base = spawn(store).await;
    let admin = Session::login(&base, laer_server::demo::DEMO_ADMIN, "demo")
        .await
        .unwrap();
    let (status, page) = admin.get("/settings/playbooks").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("support-spike") && page.contains("cases_last_14_days &gt;= 3"),
        "{page}"
    );
    let csrf = admin.csrf().await;
    let toggle = [("csrf", csrf.as_str()), ("name", "support-spike")];
    assert_eq!(admin.post("/settings/playbooks/toggle", &toggle).await, 303);
    let in_effect = laer_server::automation::Automation::in_effect(store).await.unwrap();
    assert!(!in_effect.playbooks.get("support-spike").unwrap().enabled);
    // A file that does not read is refused, saying why, and changes nothing.
    let bad = in_effect
        .playbooks
        .to_toml()
        .replacen("cases_last_14_days", "cases_last_fortnight", 1);
    let refused = client()
        .post(format!("{base}/settings/playbooks"))
        .header(COOKIE, &admin.cookie)
        .form(&[("csrf", csrf.as_str()), ("action", "save"), ("body", bad.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert!(refused.text().await.unwrap().contains("cases_last_fortnight"));
    assert_eq!(
        laer_server::automation::Automation::in_effect(store).await.unwrap(),
        in_effect
    );
    let (status, rules) = admin.get("/settings/coverage").await;
    assert_eq!(status, 200);
    assert!(rules.contains("Renewal at risk"), "{rules}");
    assert_eq!(admin.post("/settings/coverage/apply", &[("csrf", &csrf)]).await, 303);

    // An owner assigned by hand on the account page.
    let account_id = *store.account_names().await.unwrap().keys().min().unwrap();
    let team = store.team_members().await.unwrap();
    let member = team
        .iter()
        .find(|m| m.roles.contains(&laer_core::model::TeamRole::Csm))
        .unwrap()
        .id
        .to_string();
    let path = format!("/accounts/{account_id}/coverage");
    let assign = |reason: &'static str| {
        let (csrf, member, path) = (csrf.clone(), member.clone(), path.clone());
        let admin = &admin;
        async move {
            admin
                .post(
                    &path,
                    &[
                        ("csrf", csrf.as_str()),
                        ("role", "csm"),
                        ("member", member.as_str()),
                        ("reason", reason),
                    ],
                )
                .await
        }
    };
    assert_eq!(assign("").await, 400, "a reason is needed");
    assert_eq!(assign("Speaks Dutch").await, 303);
    let holders = store
        .coverage_state(today(), laer_store::Accounts::All)
        .await
        .unwrap()
        .holders;
    assert!(
        holders[&account_id]
            .iter()
            .any(|h| h.member_id.to_string() == member && h.by_hand)
    );
    let (_, page) = admin.get(&format!("/accounts/{account_id}")).await;
    assert!(page.contains("by hand"), "the page marks the owner set by hand");
    let audit = store.audit_of_account(account_id).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "coverage.started" && a.details["reason"] == "By hand: Speaks Dutch")
    );

    // A CSM reads the playbooks but changes nothing.
    let csm = load.logins.iter().find(|(_, role)| *role == Role::Csm).unwrap();
    let session = Session::login(&base, &csm.0, "demo").await.unwrap();
    let (status, page) = session.get("/settings/playbooks").await;
    assert_eq!(status, 200);
    assert!(!page.contains("Switch on"), "no buttons without manage_automation");
    let csrf = session.csrf().await;
    let toggle = [("csrf", csrf.as_str()), ("name", "support-spike")];
    assert_eq!(session.post("/settings/playbooks/toggle", &toggle).await, 403);
    let assign = [
        ("csrf", csrf.as_str()),
        ("role", "csm"),
        ("member", "auto"),
        ("reason", "mine"),
    ];
    assert_eq!(session.post(&path, &assign).await, 403);
}

laer_store::backend_tests!(
    leaders_edit_playbooks_and_coverage_rules,
    my_work_lists_a_members_tasks_and_changes_them,
    pages_need_a_login,
    an_admin_sees_every_page,
    a_csm_lands_on_their_book_and_a_viewer_sees_no_revenue,
    logout_needs_the_csrf_token_and_ends_the_session,
    revenue_figures_match_the_mrr_report,
    revenue_bridges_are_the_nrr_bridge_report,
    health_shows_with_its_reasons_and_phases_are_set_by_hand,
);
