//! People's logins from the command line (issue 15): `laer users disable` ends a
//! person's sessions at once and `enable` lets them in again; `laer users logout` ends
//! their sessions only; the demo's logins get a random password, printed once.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use laer_store::Store;

fn laer(db: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_laer"));
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("LAER_DATABASE_URL")
        .env_remove("LAER_DEMO_PASSWORD")
        .env("LAER_LOG", "warn");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn create_kim(db: &str) {
    let mut child = laer(
        db,
        &[
            "users",
            "create",
            "--email",
            "kim@example.com",
            "--name",
            "Kim Lee",
            "--role",
            "csm",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"long enough secret\n")
        .unwrap();
    ok(child.wait_with_output().unwrap());
}

#[tokio::test]
async fn disabling_a_person_ends_their_sessions() {
    let home = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", home.path().join("laer.db").display());
    create_kim(&db);
    let store = Store::open(&db).await.unwrap();
    let kim = store.user_id_by_email("kim@example.com").await.unwrap().unwrap();
    let phone = store.create_session(kim).await.unwrap().secret;
    let laptop = store.create_session(kim).await.unwrap().secret;

    let said = ok(laer(&db, &["users", "disable", "KIM@example.com"]).output().unwrap());
    assert!(said.contains("Kim Lee (kim@example.com) is deactivated"), "{said}");
    for secret in [&phone, &laptop] {
        assert!(store.session(secret).await.unwrap().is_none(), "sessions end at once");
    }
    assert!(store.user_for_login("kim@example.com").await.unwrap().is_none());
    let listed = ok(laer(&db, &["users", "list"]).output().unwrap());
    assert!(listed.contains("disabled"), "{listed}");

    ok(laer(&db, &["users", "enable", "kim@example.com"]).output().unwrap());
    assert!(store.user_for_login("kim@example.com").await.unwrap().is_some());
    let again = store.create_session(kim).await.unwrap().secret;
    let said = ok(laer(&db, &["users", "logout", "kim@example.com"]).output().unwrap());
    assert!(said.starts_with("1 session(s)"), "{said}");
    assert!(store.session(&again).await.unwrap().is_none());
    assert!(
        store.user_for_login("kim@example.com").await.unwrap().is_some(),
        "still active"
    );

    let out = laer(&db, &["users", "disable", "nobody@example.com"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no person with the email \"nobody@example.com\""));
    let log = store
        .audit_log(&laer_store::AuditFilter::default(), None, 100)
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    for action in ["user.deactivated", "user.reactivated", "user.sessions_ended"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    store.close().await;
}

/// The password `laer demo` printed.
fn printed_password(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Demo password (every demo login; shown only now): "))
        .unwrap_or_else(|| panic!("no password in {stdout}"))
        .trim()
        .to_string()
}

#[tokio::test]
async fn the_demo_gets_a_random_password_printed_once() {
    let mut passwords = Vec::new();
    for seed in ["2", "3"] {
        let home = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", home.path().join("laer.db").display());
        let out = laer(&db, &["demo", "--accounts", "4", "--months", "3", "--seed", seed])
            .output()
            .unwrap();
        let stdout = ok(out);
        let password = printed_password(&stdout);
        assert!(password.len() >= 16, "{password}");
        let store = Store::open(&db).await.unwrap();
        let admin = store.user_for_login("admin@demo.laer").await.unwrap().unwrap();
        assert!(laer_app::auth::verify_password(&password, &admin.password_hash));
        assert!(!laer_app::auth::verify_password("demo", &admin.password_hash));
        assert!(
            store.is_demo_workspace().await.unwrap(),
            "the workspace says it is a demo"
        );
        store.close().await;
        passwords.push(password);
    }
    assert_ne!(passwords[0], passwords[1], "each demo its own password");

    // Scripts and tests may choose it.
    let home = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", home.path().join("laer.db").display());
    let stdout = ok(laer(&db, &["demo", "--accounts", "4", "--months", "3"])
        .env("LAER_DEMO_PASSWORD", "chosen demo password")
        .output()
        .unwrap());
    assert!(!stdout.contains("shown only now"), "{stdout}");
    let store = Store::open(&db).await.unwrap();
    let admin = store.user_for_login("admin@demo.laer").await.unwrap().unwrap();
    assert!(laer_app::auth::verify_password(
        "chosen demo password",
        &admin.password_hash
    ));
    store.close().await;
}
