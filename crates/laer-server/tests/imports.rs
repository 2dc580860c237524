//! Importing CSV files in the browser, over real HTTP on each backend: the upload streamed
//! into the database, the preview (mapping and first rows, writing nothing), the import
//! run in the background, all or nothing, with its errors by line and column, and the
//! history; permissions and CSRF.

use std::time::Duration;

use crate::common::spawn;
use crate::common::web::{Session, client};
use laer_core::access::Role;
use laer_store::Store;
use reqwest::header::{COOKIE, LOCATION};
use reqwest::multipart::{Form, Part};

/// Logs in as a new person of `role`.
async fn login(store: &Store, base: &str, role: Role) -> Session {
    let email = format!("{}@example.com", role.as_str());
    let hash = laer_app::auth::hash_password("a password").unwrap();
    store
        .upsert_user(&email, &format!("Pat {}", role.as_str()), role, &hash, None)
        .await
        .unwrap();
    Session::login(base, &email, "a password").await.unwrap()
}

/// The import form as a browser sends it: the token first, the kind, the file.
fn upload_form(csrf: Option<&str>, kind: &str, file: Part) -> Form {
    let mut form = Form::new();
    if let Some(csrf) = csrf {
        form = form.text("csrf", csrf.to_string());
    }
    form.text("kind", kind.to_string()).part("file", file)
}

fn csv_file(text: &str, name: &str) -> Part {
    Part::bytes(text.as_bytes().to_vec())
        .file_name(name.to_string())
        .mime_str("text/csv")
        .unwrap()
}

/// Posts the form; the status, where it redirects, and the page.
async fn post_upload(session: &Session, form: Form) -> (u16, Option<String>, String) {
    let response = client()
        .post(format!("{}/import", session.base))
        .header(COOKIE, &session.cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    (status, location, response.text().await.unwrap())
}

/// Uploads a file of `kind`; the preview's path.
async fn upload(session: &Session, kind: &str, text: &str) -> String {
    let csrf = session.csrf().await;
    let (status, location, page) =
        post_upload(session, upload_form(Some(&csrf), kind, csv_file(text, "data.csv"))).await;
    assert_eq!(status, 303, "{page}");
    location.expect("the preview")
}

/// Commits the upload at `preview` as `kind`; the run's path.
async fn commit(session: &Session, preview: &str, kind: &str) -> String {
    let csrf = session.csrf().await;
    let response = client()
        .post(format!("{}{preview}/commit", session.base))
        .header(COOKIE, &session.cookie)
        .form(&[("csrf", csrf.as_str()), ("kind", kind)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    response.headers()[LOCATION].to_str().unwrap().to_string()
}

/// The run's page once the import has ended (it runs in the background).
async fn ended(session: &Session, run: &str) -> String {
    for _ in 0..1200 {
        let (status, page) = session.get(run).await;
        assert_eq!(status, 200, "{page}");
        if !page.contains(">running<") {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import at {run} did not end");
}

const ACCOUNTS: &str = "id,account_name,tier\nA1,Acme,gold\nA2,Bolt,silver\n";

async fn a_preview_shows_the_mapping_and_rows_and_writes_nothing(store: &Store) {
    let base = spawn(store).await;
    let admin = login(store, &base, Role::Admin).await;
    let before = store.counts().await.unwrap();
    let preview = upload(
        &admin,
        "subscriptions",
        "account,plan,start_date,mrr,colour\nA1,basic,2024-01-01,10,red\n",
    )
    .await;
    let (status, page) = admin.get(&preview).await;
    assert_eq!(status, 200, "{page}");
    // Each file column with what it is read as: an alias resolved, an unknown one named.
    assert!(page.contains("<td>account</td><td>account_id"), "{page}");
    assert!(page.contains("<td>plan</td><td>product"), "{page}");
    assert!(page.contains("unknown to subscriptions"), "{page}");
    assert!(page.contains("Unknown columns: colour"), "{page}");
    // The row as parsed: account A1 is not known yet.
    assert!(
        page.contains("line 2, column <strong>account_id</strong>: unknown account"),
        "{page}"
    );

    // Read as accounts instead: the first rows, checked, with nothing missing.
    let upload2 = upload(&admin, "accounts", ACCOUNTS).await;
    let (_, page) = admin.get(&upload2).await;
    assert!(
        page.contains("<td>tier</td><td><span class=\"muted\">kept as an attribute"),
        "{page}"
    );
    assert!(
        page.contains("<td>A2</td><td>Bolt</td><td>silver</td><td><span class=\"up\">ok"),
        "{page}"
    );
    assert!(!page.contains("Missing required columns"), "{page}");
    let (_, page) = admin.get(&format!("{upload2}?kind=contacts")).await;
    assert!(page.contains("Missing required columns: account_id"), "{page}");

    let after = store.counts().await.unwrap();
    assert_eq!(
        (after.accounts, after.subscriptions, after.audit_entries),
        (before.accounts, before.subscriptions, before.audit_entries)
    );
    // The history is empty: nothing was imported.
    let (_, page) = admin.get("/import").await;
    assert!(page.contains("No imports yet."), "{page}");
}

async fn a_bad_row_is_shown_by_line_and_column_and_nothing_is_written(store: &Store) {
    let base = spawn(store).await;
    let admin = login(store, &base, Role::Admin).await;
    let text = format!("{ACCOUNTS}A3,Core,gold,\nA4,Dash,gold\n");
    let preview = upload(&admin, "accounts", &text).await;
    let run = commit(&admin, &preview, "accounts").await;
    let page = ended(&admin, &run).await;
    assert!(page.contains("failed"), "{page}");
    assert!(page.contains("Nothing was written: 1 invalid row(s)"), "{page}");
    assert!(page.contains("<td class=\"num\">4</td>"), "the line: {page}");
    assert!(page.contains("has 4 fields, the header has 3"), "{page}");
    assert_eq!(store.counts().await.unwrap().accounts, 0, "all or nothing");
    // The upload is kept to try again; the history lists the failure.
    assert!(page.contains("Preview the file again"), "{page}");
    let (_, history) = admin.get("/import").await;
    assert!(
        history.contains("data.csv") && history.contains(">failed<"),
        "{history}"
    );

    // An error naming a column.
    let preview = upload(
        &admin,
        "subscriptions",
        "account_id,plan,start_date,mrr\nA1,basic,2024-01-01,lots\n",
    )
    .await;
    let page = ended(&admin, &commit(&admin, &preview, "subscriptions").await).await;
    assert!(page.contains("<td class=\"num\">2</td><td>account_id</td>"), "{page}");
    assert_eq!(store.counts().await.unwrap().subscriptions, 0);
}

async fn a_good_file_imports_and_shows_in_the_history(store: &Store) {
    let base = spawn(store).await;
    let admin = login(store, &base, Role::Admin).await;
    let preview = upload(&admin, "accounts", ACCOUNTS).await;
    let upload_id: i64 = preview.rsplit('/').next().unwrap().parse().unwrap();
    let run = commit(&admin, &preview, "accounts").await;
    let page = ended(&admin, &run).await;
    assert!(page.contains("2 rows: 2 written, 0 unchanged."), "{page}");
    assert_eq!(store.counts().await.unwrap().accounts, 2);
    assert_eq!(
        store.upload(upload_id).await.unwrap(),
        None,
        "the upload goes with the commit"
    );
    assert_eq!(admin.get(&preview).await.0, 404);

    let runs = store.import_runs(10).await.unwrap();
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(
        (r.kind.as_str(), r.file_name.as_str(), r.source.as_str()),
        ("accounts", "data.csv", "web")
    );
    assert_eq!((r.rows, r.written, r.unchanged), (2, 2, 0));
    assert_eq!(r.actor, "Pat admin <admin@example.com>");
    let (_, history) = admin.get("/import").await;
    assert!(history.contains("Pat admin &lt;admin@example.com&gt;"), "{history}");
    assert!(history.contains(">done<"), "{history}");

    // The same file again changes nothing.
    let run = commit(&admin, &upload(&admin, "accounts", ACCOUNTS).await, "accounts").await;
    assert!(ended(&admin, &run).await.contains("2 rows: 0 written, 2 unchanged."));
}

async fn only_import_data_may_import_and_every_post_needs_the_token(store: &Store) {
    let base = spawn(store).await;
    let csm = login(store, &base, Role::Csm).await;
    let (status, page) = csm.get("/import").await;
    assert_eq!(status, 403);
    assert!(page.contains("import_data"), "{page}");
    assert!(
        !page.contains("href=\"/import\""),
        "no Import link in the navigation: {page}"
    );
    let csrf = csm.csrf().await;
    let (status, _, page) = post_upload(&csm, upload_form(Some(&csrf), "accounts", csv_file(ACCOUNTS, "a.csv"))).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("import_data"), "{page}");

    let admin = login(store, &base, Role::Admin).await;
    let (_, page) = admin.get("/admin/people").await;
    assert!(
        page.contains("href=\"/import\""),
        "the admin area's tabs link the import: {page}"
    );
    // Without the token, or with a forged one, nothing is stored.
    for csrf in [None, Some("forged")] {
        let (status, _, page) = post_upload(&admin, upload_form(csrf, "accounts", csv_file(ACCOUNTS, "a.csv"))).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("security token"), "{page}");
    }
    // The token after the file is no token: it must come first.
    let csrf = admin.csrf().await;
    let late = Form::new()
        .text("kind", "accounts")
        .part("file", csv_file(ACCOUNTS, "a.csv"))
        .text("csrf", csrf.clone());
    assert_eq!(post_upload(&admin, late).await.0, 403);
    let preview = upload(&admin, "accounts", ACCOUNTS).await;
    for path in [format!("{preview}/commit"), format!("{preview}/discard")] {
        assert_eq!(admin.post(&path, &[("kind", "accounts")]).await, 403, "{path}");
    }
    assert!(store.import_runs(10).await.unwrap().is_empty());
    assert_eq!(store.counts().await.unwrap().accounts, 0);

    // Bad input: no file, an unknown kind, an empty file.
    let (status, _, page) = post_upload(&admin, upload_form(Some(&csrf), "accounts", csv_file("", ""))).await;
    assert_eq!(status, 400);
    assert!(page.contains("choose a file"), "{page}");
    let (status, _, page) = post_upload(&admin, upload_form(Some(&csrf), "widgets", csv_file(ACCOUNTS, "a.csv"))).await;
    assert_eq!(status, 400);
    assert!(page.contains("unknown kind"), "{page}");
    let (status, _, page) = post_upload(&admin, upload_form(Some(&csrf), "accounts", csv_file("", "empty.csv"))).await;
    assert_eq!(status, 400);
    assert!(page.contains("the file is empty"), "{page}");
    // Discarding an upload deletes it.
    assert_eq!(admin.post(&format!("{preview}/discard"), &[("csrf", &csrf)]).await, 303);
    assert_eq!(admin.get(&preview).await.0, 404);
}

/// 20 MB of events, made as they are sent: the server stores them in 1 MiB chunks as they
/// arrive and imports them from the database.
async fn a_large_file_is_streamed_in_chunks_and_imported(store: &Store) {
    let base = spawn(store).await;
    let admin = login(store, &base, Role::Admin).await;
    let run = commit(&admin, &upload(&admin, "accounts", ACCOUNTS).await, "accounts").await;
    ended(&admin, &run).await;

    const TARGET: usize = 20 << 20;
    const PIECE_ROWS: usize = 5_000;
    let line = |i: usize| {
        let at = chrono::DateTime::from_timestamp(1_700_000_000 + (i as i64) * 7, 0).unwrap();
        format!(
            "A{},{},feature_{},user_{}\n",
            1 + i % 2,
            at.format("%Y-%m-%dT%H:%M:%SZ"),
            i % 13,
            i % 97
        )
    };
    let row_bytes = line(0).len();
    let rows = TARGET / row_bytes;
    let pieces = rows.div_ceil(PIECE_ROWS);
    let stream = futures_util::stream::iter((0..=pieces).map(move |p| {
        let text = if p == 0 {
            "account_id,event_time,event_type,user_id\n".to_string()
        } else {
            ((p - 1) * PIECE_ROWS..(p * PIECE_ROWS).min(rows)).map(line).collect()
        };
        Ok::<_, std::io::Error>(text.into_bytes())
    }));
    let file = Part::stream(reqwest::Body::wrap_stream(stream))
        .file_name("events.csv")
        .mime_str("text/csv")
        .unwrap();
    let csrf = admin.csrf().await;
    let (status, preview, page) = post_upload(&admin, upload_form(Some(&csrf), "events", file)).await;
    assert_eq!(status, 303, "{page}");
    let preview = preview.unwrap();
    let upload_id: i64 = preview.rsplit('/').next().unwrap().parse().unwrap();
    let stored = store.upload(upload_id).await.unwrap().unwrap();
    let bytes = "account_id,event_time,event_type,user_id\n".len() + (0..rows).map(|i| line(i).len()).sum::<usize>();
    assert!(bytes >= TARGET - 2 * row_bytes, "{bytes}");
    assert_eq!(stored.bytes as usize, bytes);
    assert_eq!(
        stored.chunks as usize,
        bytes.div_ceil(laer_store::UPLOAD_CHUNK_BYTES),
        "1 MiB chunks"
    );
    assert!(stored.chunks >= 20);

    let (_, page) = admin.get(&preview).await;
    assert!(page.contains("the file has more"), "{page}");
    let run = commit(&admin, &preview, "events").await;
    let page = ended(&admin, &run).await;
    assert!(page.contains(&format!("{rows} rows: {rows} written")), "{page}");
    assert_eq!(store.counts().await.unwrap().events as usize, rows);
    let done = store.import_runs(1).await.unwrap().remove(0);
    assert_eq!((done.bytes_total, done.rows as usize), (Some(bytes as i64), rows));
}

laer_store::backend_tests!(
    a_preview_shows_the_mapping_and_rows_and_writes_nothing,
    a_bad_row_is_shown_by_line_and_column_and_nothing_is_written,
    a_good_file_imports_and_shows_in_the_history,
    only_import_data_may_import_and_every_post_needs_the_token,
    a_large_file_is_streamed_in_chunks_and_imported,
);

/// In a real browser (see `browser.rs` for what it needs): a CSV upload with a bad row
/// shows the line and writes nothing; a good one imports and shows in the history.
#[tokio::test]
async fn importing_in_the_browser() {
    let Some(node_modules) = crate::browser::node_modules() else {
        return;
    };
    let db = laer_store::test_support::sqlite().await;
    let base = spawn(&db.store).await;
    login(&db.store, &base, Role::Admin).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/import.cjs");
    let mut command = std::process::Command::new("node");
    command
        .arg(script)
        .arg(&base)
        .arg("admin@example.com")
        .arg("a password")
        .env("NODE_PATH", &node_modules);
    // The server answers on this runtime while the browser runs on a blocking thread.
    let output = tokio::task::spawn_blocking(move || command.output().expect("start node"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("import: all steps passed"), "{stdout}\n{stderr}");
    assert_eq!(db.store.counts().await.unwrap().accounts, 3);
}
