//! Issue 15, bounded work and headers, over real HTTP on each backend: a request that asks
//! for more than `laer_core::limits` allows is refused at once with a 400 naming the
//! parameter and the limit, the largest allowed report is the report, pages and exports
//! are never kept by a cache, free text is bounded, and a form's `back` field cannot fail
//! an answer after its change was saved.

use laer_core::access::Role;
use laer_core::limits;
use laer_core::reports::ReportRequest;
use laer_import::{Kind, Options};
use laer_store::Store;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use serde_json::Value;

use crate::common::spawn;
use crate::common::web::{Session, client};

/// Ten accounts in two segments, each with a line since 1999, some ended since.
async fn seed(store: &Store) {
    let mut options = Options {
        actor: "test".into(),
        ..Options::default()
    };
    let accounts = "id,name,segment\n".to_string()
        + &(0..10)
            .map(|i| {
                format!(
                    "acc-{i},Account {i},{}\n",
                    if i % 2 == 0 { "smb" } else { "enterprise" }
                )
            })
            .collect::<String>();
    laer_import::import(store, Kind::Accounts, "a.csv", accounts.as_bytes(), &mut options)
        .await
        .unwrap();
    let subscriptions = "account_id,product,start_date,end_date,mrr\n".to_string()
        + &(0..10)
            .map(|i| {
                let end = if i % 3 == 0 {
                    format!("20{:02}-06-01", 5 + i)
                } else {
                    String::new()
                };
                format!("acc-{i},suite,1999-0{}-01,{end},{}\n", 1 + i % 9, 100 + 10 * i)
            })
            .collect::<String>();
    laer_import::import(
        store,
        Kind::Subscriptions,
        "s.csv",
        subscriptions.as_bytes(),
        &mut options,
    )
    .await
    .unwrap();
}

/// A bearer token's GET: the status, the Cache-Control header and the body as JSON.
async fn get(url: &str, token: &str) -> (u16, String, Value) {
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let cache = response.headers()[CACHE_CONTROL].to_str().unwrap().to_string();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text:.200}"));
    (status, cache, body)
}

/// The request of the issue that grew the server past 16 GB is refused at once, as is
/// every report over a limit; the largest allowed reports answer in full, period by
/// period, with exactly the report the CLI computes.
async fn reports_are_bounded(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let token = store.create_api_token("test", Role::Leader).await.unwrap().secret;
    let report = |query: &str| format!("{base}/api/v1/reports/{query}");

    for abusive in [
        "mrr?from=1000-01-01&to=9999-12-01&every=month&accounts=true&by=segment",
        "retention?from=1000-01-01&to=9999-12-01&every=month&by=segment",
    ] {
        let (status, _, body) = get(&report(abusive), &token).await;
        assert_eq!(status, 400, "{abusive}: {body}");
        assert_eq!(body["details"]["parameter"], "from", "{body}");
        assert_eq!(body["details"]["limit"], "1900-01-01..2199-12-31", "{body}");
        assert!(body["error"].as_str().unwrap().contains("1900-01-01"), "{body}");
    }
    let (status, _, body) = get(&report("mrr?from=2000-01-01&to=2020-01-01&every=month"), &token).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"]["parameter"], "to");
    assert_eq!(body["details"]["limit"], limits::MAX_REPORT_PERIODS);
    let (status, _, body) = get(
        &report("mrr?from=2000-01-01&to=2002-12-01&every=month&accounts=true"),
        &token,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"]["parameter"], "accounts");
    assert_eq!(body["details"]["limit"], limits::MAX_REPORT_PERIODS_WITH_ACCOUNTS);

    // The largest allowed: the same JSON as the typed reports (the CLI's).
    let as_text = |v: &dyn erased::Json| serde_json::from_str::<Value>(&v.text()).unwrap();
    let longest = ReportRequest::parse("2000-01-01", "2019-12-01", Some("month"), None).unwrap();
    let (status, cache, streamed) = get(
        &report("mrr?from=2000-01-01&to=2019-12-01&every=month&by=segment"),
        &token,
    )
    .await;
    assert_eq!((status, cache.as_str()), (200, "no-store"));
    assert_eq!(
        streamed["periods"].as_array().unwrap().len(),
        limits::MAX_REPORT_PERIODS
    );
    let expected = laer_app::reports::mrr(store, &longest, Some("segment"), false)
        .await
        .unwrap();
    assert_eq!(streamed, as_text(&expected));

    let (status, _, streamed) = get(
        &report("retention?from=2000-01-01&to=2019-12-01&every=month&by=segment&activity_window=30"),
        &token,
    )
    .await;
    assert_eq!(status, 200);
    let windowed = ReportRequest::parse("2000-01-01", "2019-12-01", Some("month"), Some("30")).unwrap();
    let expected = laer_app::reports::retention(store, &windowed, Some("segment"))
        .await
        .unwrap();
    assert_eq!(streamed, as_text(&expected));

    let two_years = ReportRequest::parse("2004-01-01", "2005-12-01", Some("month"), None).unwrap();
    let (status, _, streamed) = get(
        &report("mrr?from=2004-01-01&to=2005-12-01&every=month&accounts=true"),
        &token,
    )
    .await;
    assert_eq!(status, 200);
    let expected = laer_app::reports::mrr(store, &two_years, None, true).await.unwrap();
    assert_eq!(streamed, as_text(&expected));
    assert_eq!(streamed["periods"][0]["accounts"].as_array().unwrap().len(), 10);

    // A single period is its figures alone, as it always was.
    let (status, _, single) = get(&report("retention?from=1900-01-01&to=2199-12-31"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(single["from"], "1900-01-01", "{single}");
}

/// Serializing a report for the comparison without naming each type.
mod erased {
    pub trait Json {
        fn text(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn text(&self) -> String {
            serde_json::to_string(self).unwrap()
        }
    }
}

/// Every list endpoint's page size has a maximum, and a text parameter a length.
async fn page_sizes_are_bounded(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let token = store.create_api_token("test", Role::Admin).await.unwrap().secret;
    for (path, max) in [
        ("accounts?limit=", limits::MAX_PAGE_SIZE),
        ("tasks?limit=", limits::MAX_TASKS_PER_REQUEST),
        ("playbooks/runs?limit=", limits::MAX_PAGE_SIZE),
    ] {
        for over in [0, max + 1, u32::MAX] {
            let (status, _, body) = get(&format!("{base}/api/v1/{path}{over}"), &token).await;
            assert_eq!(status, 400, "{path}{over}: {body}");
            assert_eq!(body["details"]["parameter"], "limit", "{body}");
            assert_eq!(body["details"]["limit"], max, "{body}");
        }
        let (status, _, body) = get(&format!("{base}/api/v1/{path}{max}"), &token).await;
        assert_eq!(status, 200, "{path}{max}: {body}");
    }
    let long = "x".repeat(laer_core::parse::MAX_LINE_CHARS + 1);
    let (status, _, body) = get(&format!("{base}/api/v1/accounts?external_id={long}"), &token).await;
    assert_eq!(
        (status, &body["details"]["parameter"]),
        (400, &Value::from("external_id"))
    );
}

/// The headers that keep customer data private (issue 15): nothing but the static assets
/// may be kept by a browser or a proxy (pages, exports, API answers, errors and the share
/// page are `no-store`), and every page, export and the share page carries the Content
/// Security Policy (no inline scripts or styles, `frame-ancestors 'none'`), nosniff and a
/// Referrer-Policy; the pages themselves hold no inline script or style the policy would
/// block.
async fn headers_keep_customer_data_private(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let viewer = Session::viewer(store, &base).await;
    let token = store.create_api_token("test", Role::Admin).await.unwrap().secret;
    let account = store.account_by_external_id("acc-1").await.unwrap().unwrap().id;
    let link = store.create_share_link(account, "test").await.unwrap();
    let private = |headers: &reqwest::header::HeaderMap, what: &str, referrer: &str| {
        assert_eq!(headers[CACHE_CONTROL], "no-store", "{what}");
        let policy = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'"), "{what}: {policy}");
        assert!(
            policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
            "{what}: {policy}"
        );
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
        assert_eq!(headers[X_FRAME_OPTIONS], "DENY", "{what}");
        assert_eq!(headers[REFERRER_POLICY], referrer, "{what}");
    };
    let pages = [
        "/portfolio".to_string(),
        "/portfolio.csv".into(),
        "/renewals.csv".into(),
        format!("/accounts/{account}"),
        "/login".into(),
        "/no-such-page".into(),
    ];
    for path in &pages {
        let response = client()
            .get(format!("{base}{path}"))
            .header(COOKIE, &viewer.cookie)
            .send()
            .await
            .unwrap();
        private(response.headers(), path, "same-origin");
        let html = response.text().await.unwrap();
        assert_no_inline_code(path, &html);
    }
    let response = reqwest::Client::new()
        .get(format!("{base}/api/v1/accounts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    private(response.headers(), "the API", "same-origin");
    // The share page, live and unknown: never kept, never framed, never a referrer.
    for (token, status) in [(link.secret.clone(), 200), (format!("sp_{}", "0".repeat(64)), 404)] {
        let share = client().get(format!("{base}/plan/{token}")).send().await.unwrap();
        assert_eq!(share.status().as_u16(), status);
        private(share.headers(), "the share page", "no-referrer");
        assert_no_inline_code("the share page", &share.text().await.unwrap());
    }
    let css = client().get(format!("{base}/static/laer.css")).send().await.unwrap();
    assert_eq!(css.headers()[CACHE_CONTROL], "public, max-age=3600");
    // A page's filter text is bounded too, named by its label and query key.
    let long = "x".repeat(limits::MAX_QUERY_TEXT_CHARS + 1);
    for (path, named) in [
        (format!("/portfolio?q={long}"), "Search (q)"),
        (format!("/portfolio.csv?segment={long}"), "Segment (segment)"),
        (format!("/accounts/{account}?q={long}"), "Search (q)"),
    ] {
        let (status, page) = viewer.get(&path).await;
        assert_eq!(status, 400, "{path:.40}");
        assert!(
            page.contains(named) && page.contains("at most 300 characters"),
            "{page}"
        );
    }
}

/// A page's HTML runs no script but the site's own file, and styles nothing in place: the
/// policy (no `unsafe-inline`) would block either, silently breaking the page.
fn assert_no_inline_code(what: &str, html: &str) {
    for (at, _) in html.match_indices("<script") {
        let tag = &html[at..at + html[at..].find('>').unwrap()];
        assert!(tag.contains(" src="), "{what}: an inline script: {tag}");
    }
    for inline in [
        " style=",
        " onclick=",
        " onload=",
        " onchange=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(!html.contains(inline), "{what}: {inline}");
    }
}

/// A form's `back` that a Location cannot carry goes back to the default page, after
/// the change (issue 15: a CR/LF in it was a 500 after the change was saved); free text
/// over its bound is refused before anything is written.
async fn forms_fail_before_writing_not_after(store: &Store) {
    seed(store).await;
    let base = spawn(store).await;
    let admin = Session::admin(store, &base).await;
    let account = store.account_by_external_id("acc-1").await.unwrap().unwrap().id;
    let task = laer_core::model::NewTask::own("t-1", "Call the sponsor", None, None, Some(account), chrono::Utc::now())
        .unwrap();
    let task = store.create_task(&task, "test").await.unwrap().id;
    let csrf = admin.csrf().await;
    let path = format!("{base}/work/tasks/{task}");
    let post =
        |form: Vec<(&'static str, String)>| client().post(&path).header(COOKIE, &admin.cookie).form(&form).send();
    for back in ["/work\r\nSet-Cookie: a=b", "//evil.example/work", "/work\n"] {
        let response = post(vec![
            ("csrf", csrf.clone()),
            ("action", "comment".into()),
            ("comment", format!("back {back:?}")),
            ("back", back.into()),
        ])
        .await
        .unwrap();
        assert_eq!(response.status().as_u16(), 303, "{back:?}");
        assert_eq!(response.headers()[LOCATION], "/work", "{back:?}");
    }
    assert_eq!(
        store.task_comments(task).await.unwrap().len(),
        3,
        "each change saved once"
    );

    // The 1.9 MB comment, and a reason for a phase over its bound: refused,
    // nothing written.
    let huge = "x".repeat(1_900_000);
    let response = post(vec![
        ("csrf", csrf.clone()),
        ("action", "comment".into()),
        ("comment", huge.clone()),
        ("back", "/work".into()),
    ])
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("comment") && page.contains("at most 10000 characters"),
        "the field and its limit are named: {page:.2000}"
    );
    assert_eq!(store.task_comments(task).await.unwrap().len(), 3);
    let long = "x".repeat(laer_core::parse::MAX_TEXT_CHARS + 1);
    let status = admin
        .post(
            &format!("/accounts/{account}/phase"),
            &[("csrf", &csrf), ("phase", "adopt"), ("reason", &long)],
        )
        .await;
    assert_eq!(status, 400);
    let audit = store.audit_of_account(account).await.unwrap();
    assert!(audit.iter().all(|a| !a.action.contains("phase")), "no phase set");
    let status = admin
        .post(
            &format!("/accounts/{account}/coverage"),
            &[("csrf", &csrf), ("role", "csm"), ("member", "auto"), ("reason", &long)],
        )
        .await;
    assert_eq!(status, 400);
    let (status, page) = admin.get(&format!("/admin/audit?person={}", "x".repeat(301))).await;
    assert_eq!(status, 400);
    assert!(
        page.contains("expected at most 300 characters"),
        "the filter's problem is named"
    );
    let status = admin
        .post(
            "/settings/playbooks",
            &[("csrf", &csrf), ("body", &"# x\n".repeat(limits::MAX_SETTINGS_CHARS))],
        )
        .await;
    assert_eq!(status, 400);
}

laer_store::backend_tests!(
    reports_are_bounded,
    page_sizes_are_bounded,
    headers_keep_customer_data_private,
    forms_fail_before_writing_not_after,
);
