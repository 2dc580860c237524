//! The `laer` binary as a newcomer runs it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use laer_store::Backend;
use laer_store::test_support::TestDatabase;
use serde_json::Value;

fn laer(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_laer"));
    command
        .args(args)
        .env_remove("LAER_DATABASE_URL")
        .env("LAER_LOG", "warn");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run laer")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../laer-import/tests/fixtures/fightchurn")
}

fn status(db: &str) -> Value {
    let out = run(laer(&["--db", db, "status", "--json"]).stdin(Stdio::null()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status --json prints JSON")
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["import", "--help"],
        vec!["status", "--help"],
        vec!["demo", "--help"],
        vec!["users", "create", "--help"],
        vec!["tokens", "create", "--help"],
        vec!["playbooks", "list", "--help"],
        vec!["tasks", "list", "--help"],
        vec!["coverage", "show", "--help"],
        vec!["report", "nrr-bridge", "--help"],
        vec!["plans", "show", "--help"],
        vec!["plans", "milestone", "add", "--help"],
        vec!["connect", "stripe", "--help"],
        vec!["stripe", "sync", "--help"],
        vec!["sync", "add", "--help"],
        vec!["sync", "run", "--help"],
    ] {
        let out = run(&mut laer(&args));
        assert!(out.status.success(), "{args:?}");
        assert!(
            text(&out.stdout).contains("Usage: laer"),
            "{args:?}: {}",
            text(&out.stdout)
        );
    }
    let import = text(&run(&mut laer(&["import", "--help"])).stdout);
    for kind in [
        "accounts",
        "subscriptions",
        "events",
        "meeting-cadences",
        "survey-responses",
        "fightchurn",
        "singer",
    ] {
        assert!(import.contains(kind), "import --help lists {kind}");
    }
}

#[test]
fn without_a_database_url_laer_creates_its_data_directory() {
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("nested/laer-data");
    let out = run(laer(&["status", "--json"]).env("LAER_DATA_DIR", &data_dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(data_dir.join("laer.db").is_file());
    let counts: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "accounts",
        "contacts",
        "product_users",
        "subscriptions",
        "event_types",
        "events",
        "support_cases",
        "meetings",
        "meeting_cadences",
        "survey_responses",
        "outcomes",
        "outcome_measurements",
        "team_members",
        "owners",
        "tasks",
        "audit_entries",
    ] {
        assert_eq!(counts[key], 0, "{key}");
    }
    let out = run(laer(&["status"]).env("LAER_DATA_DIR", &data_dir));
    assert!(text(&out.stdout).contains("SQLite"), "{}", text(&out.stdout));
}

#[test]
fn write_keys_are_created_listed_and_revoked() {
    let home = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", home.path().join("laer.db").display());
    let out = run(&mut laer(&[
        "--db", &db, "keys", "create", "--name", "web-app", "--json",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["write_key"].as_str().unwrap();
    assert!(key.starts_with("lk_") && key.len() > 40, "{key}");
    let listed: Value =
        serde_json::from_slice(&run(&mut laer(&["--db", &db, "keys", "list", "--json"])).stdout).unwrap();
    assert_eq!(listed[0]["name"], "web-app");
    assert!(key.starts_with(listed[0]["prefix"].as_str().unwrap()));
    assert!(
        !text(&run(&mut laer(&["--db", &db, "keys", "list", "--json"])).stdout).contains(key),
        "the key is never listed"
    );
    let id = created["id"].to_string();
    assert!(run(&mut laer(&["--db", &db, "keys", "revoke", &id])).status.success());
    let listed: Value =
        serde_json::from_slice(&run(&mut laer(&["--db", &db, "keys", "list", "--json"])).stdout).unwrap();
    assert!(listed[0]["revoked_at"].is_i64());
    let out = run(&mut laer(&["--db", &db, "keys", "revoke", "999"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no write key with id 999"));
}

#[test]
fn demo_users_and_tokens() {
    let home = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", home.path().join("laer.db").display());
    let out = run(&mut laer(&[
        "--db",
        &db,
        "demo",
        "--accounts",
        "6",
        "--months",
        "4",
        "--seed",
        "2",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("admin@demo.laer"), "{}", text(&out.stderr));
    let counts = status(&db);
    assert_eq!(counts["accounts"], 6);
    assert!(counts["events"].as_i64().unwrap() > 0 && counts["team_members"].as_i64().unwrap() > 0);
    // Storing it again changes nothing.
    assert!(
        run(&mut laer(&[
            "--db",
            &db,
            "demo",
            "--accounts",
            "6",
            "--months",
            "4",
            "--seed",
            "2"
        ]))
        .status
        .success()
    );
    assert_eq!(status(&db), counts);

    // A password comes from standard input, never from an argument.
    let mut create = laer(&[
        "--db",
        &db,
        "users",
        "create",
        "--email",
        "Kim@Example.com",
        "--name",
        "Kim Lee",
        "--role",
        "csm",
    ]);
    let mut child = create
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"long enough secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let users: Value =
        serde_json::from_slice(&run(&mut laer(&["--db", &db, "users", "list", "--json"])).stdout).unwrap();
    let kim = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "kim@example.com")
        .expect("emails in lower case");
    assert_eq!(kim["role"], "csm");
    let mut short = laer(&[
        "--db", &db, "users", "create", "--email", "a@b.c", "--name", "A", "--role", "viewer",
    ]);
    let mut child = short
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success() && text(&out.stderr).contains("at least 8 characters"));
    let out = run(&mut laer(&[
        "--db", &db, "users", "create", "--email", "a@b.c", "--name", "A", "--role", "root",
    ]));
    assert!(!out.status.success() && text(&out.stderr).contains("root"));

    let out = run(&mut laer(&[
        "--db", &db, "tokens", "create", "--name", "bi", "--role", "viewer", "--json",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(token["token"].as_str().unwrap().starts_with("lt_"));
    let listed = text(&run(&mut laer(&["--db", &db, "tokens", "list"])).stdout);
    assert!(listed.contains("viewer") && !listed.contains(token["token"].as_str().unwrap()));
    assert!(
        run(&mut laer(&["--db", &db, "tokens", "revoke", &token["id"].to_string()]))
            .status
            .success()
    );
}

#[test]
fn an_unsupported_database_url_is_named() {
    let out = run(&mut laer(&["--db", "mysql://x", "status"]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unsupported database URL \"mysql://x\""),
        "{}",
        text(&out.stderr)
    );
}

fn fightchurn_import_matches_the_source_counts(db: &TestDatabase) {
    let dir = fixtures().display().to_string();
    let out = run(&mut laer(&["--db", &db.url, "import", "fightchurn", &dir]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = status(&db.url);
    assert_eq!(
        (first["accounts"].as_i64(), first["event_types"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        (first["subscriptions"].as_i64(), first["events"].as_i64()),
        (Some(6), Some(8))
    );

    let out = run(&mut laer(&["--db", &db.url, "import", "fightchurn", &dir, "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reports: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(reports.as_array().unwrap().iter().all(|r| r["written"] == 0));
    assert_eq!(status(&db.url), first, "a second import changes nothing");
}

fn a_bad_file_is_rejected_with_line_and_column(db: &TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accounts.csv");
    std::fs::write(&file, "id,date_of_birth\na,2020-01-01\nb,2020-02-30\nc,\n").unwrap();
    let out = run(&mut laer(&[
        "--db",
        &db.url,
        "import",
        "accounts",
        &file.display().to_string(),
    ]));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("1 invalid row(s), nothing was written"), "{stderr}");
    assert!(
        stderr.contains("line 3, column date_of_birth: expected a date as YYYY-MM-DD, found \"2020-02-30\""),
        "{stderr}"
    );
    assert_eq!(status(&db.url)["accounts"], 0);

    let out = run(&mut laer(&[
        "--db",
        &db.url,
        "import",
        "accounts",
        &file.display().to_string(),
        "--skip-invalid",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 invalid row(s) skipped"),
        "{}",
        text(&out.stderr)
    );
    let rejects = std::fs::read_to_string(dir.path().join("accounts.csv.rejected.csv")).unwrap();
    assert_eq!(rejects.lines().next(), Some("line,column,error"));
    assert!(
        rejects.lines().nth(1).unwrap().starts_with("3,date_of_birth,"),
        "{rejects}"
    );
    assert_eq!(status(&db.url)["accounts"], 2);

    // Both runs are in the history the web app shows, newest first.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs = runtime.block_on(db.store.import_runs(10)).unwrap();
    let summary: Vec<_> = runs
        .iter()
        .map(|r| (r.status.as_str(), r.source.as_str(), r.kind.as_str(), r.rows, r.written))
        .collect();
    assert_eq!(
        summary,
        [("done", "cli", "accounts", 3, 2), ("failed", "cli", "accounts", 3, 0)]
    );
    assert_eq!(runs[1].error_count, 1);
    assert!(runs[1].actor.starts_with("cli:"));
}

fn reports_print_json_and_tables(db: &TestDatabase) {
    let dir = fixtures().display().to_string();
    assert!(
        run(&mut laer(&["--db", &db.url, "import", "fightchurn", &dir]))
            .status
            .success()
    );
    let report = |args: &[&str]| {
        let mut all = vec!["--db", db.url.as_str(), "report"];
        all.extend_from_slice(args);
        run(&mut laer(&all))
    };
    let out = report(&[
        "retention",
        "--from",
        "2022-01-20",
        "--to",
        "2022-03-10",
        "--activity-window",
        "30",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let single: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(single["from"], "2022-01-20");
    // Accounts 0 (lines until 2022-03-05) and 1 (annual) are active on the first day; 0 churns.
    assert_eq!(
        (
            single["accounts"]["start"].as_u64(),
            single["accounts"]["churned"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(single["mrr"]["start"], 590);
    assert_eq!(single["accounts"]["end"], 2);
    assert_eq!(single["activity"]["start"], 2);

    let out = report(&[
        "retention",
        "--from",
        "2022-01-01",
        "--to",
        "2022-03-01",
        "--every",
        "month",
        "--json",
    ]);
    let monthly: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(monthly["periods"].as_array().unwrap().len(), 3);

    let out = report(&["mrr", "--from", "2022-01-01", "--to", "2022-04-01", "--by", "channel"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.lines().next().unwrap().contains("reactivation"), "{table}");
    assert!(table.contains("appstore1"), "{table}");

    let out = report(&["retention", "--from", "2022-03-01", "--to", "2022-02-01"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("to (2022-02-01) must be after from (2022-03-01)"),
        "{}",
        text(&out.stderr)
    );
    let out = report(&["mrr", "--from", "2022-01-01", "--to", "2022-02-01", "--by", "colour"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown attribute \"colour\""),
        "{}",
        text(&out.stderr)
    );
    let out = report(&["retention", "--from", "yesterday", "--to", "2022-02-01"]);
    assert!(
        text(&out.stderr).contains("from must be a date as YYYY-MM-DD, found \"yesterday\""),
        "{}",
        text(&out.stderr)
    );
}

fn serve_answers_health_checks_and_stops_on_sigterm(db: &TestDatabase) {
    let mut child = laer(&["--db", &db.url, "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body: Value = runtime.block_on(async {
        reqwest::get(format!("{url}healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(body["status"], "ok");
    // SIGTERM, as a service manager stops it: the server finishes and exits cleanly.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("laer serve did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "laer serve after SIGTERM: {status}");
}

/// The demo company with 40 accounts over 14 months.
fn store_demo(url: &str, seed: &str) {
    let demo = run(&mut laer(&[
        "--db",
        url,
        "demo",
        "--accounts",
        "40",
        "--months",
        "14",
        "--seed",
        seed,
    ]));
    assert!(demo.status.success(), "{}", text(&demo.stderr));
}

/// What laer prints as JSON with these arguments; it must succeed.
fn json_output(args: &[&str]) -> Value {
    let out = run(&mut laer(args));
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn health_commands_report_validate_fit_and_set_phases(db: &TestDatabase) {
    let url = db.url.as_str();
    store_demo(url, "4");
    let report = json_output(&["--db", url, "report", "health", "--json"]);
    let accounts = report["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 40);
    let scored: Vec<&Value> = accounts.iter().filter(|a| a["health"].is_number()).collect();
    assert!(!scored.is_empty());
    for a in &scored {
        let total: f64 = a["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["contribution"].as_f64().unwrap())
            .sum();
        assert!((total - a["health"].as_f64().unwrap()).abs() < 0.051, "{a}");
        for key in ["account_id", "external_id", "phase", "pillars", "quadrant"] {
            assert!(a.get(key).is_some(), "{key}");
        }
    }
    let first = scored[0]["external_id"].as_str().unwrap().to_string();
    let earlier = json_output(&["--db", url, "report", "health", "--as-of", "2020-01-01", "--json"]);
    assert_eq!(earlier["as_of"], "2020-01-01");
    let table = run(&mut laer(&["--db", url, "report", "health"]));
    assert!(text(&table.stdout).contains("weakest measure"));

    let validation = json_output(&["--db", url, "report", "health-validation", "--json"]);
    assert!(validation["observations"].as_u64().unwrap() > 100, "{validation}");
    let auc = validation["auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc));
    assert!(validation["forecast"]["model"]["churn"].is_object(), "{validation}");
    // The renewal forecast: this quarter and the next, in money.
    let renewals = json_output(&["--db", url, "report", "renewal-forecast", "--json"]);
    assert_eq!(renewals["quarters"].as_array().unwrap().len(), 2, "{renewals}");
    for q in renewals["quarters"].as_array().unwrap() {
        let i = &q["renewed_arr"];
        assert!(i["low"].as_f64().unwrap() <= i["high"].as_f64().unwrap(), "{q}");
    }
    let table = run(&mut laer(&["--db", url, "report", "renewal-forecast"]));
    assert!(text(&table.stdout).contains("renewed ARR (90 %)"));

    let dir = tempfile::tempdir().unwrap();
    let fitted = dir.path().join("fitted.toml");
    let fit = json_output(&[
        "--db",
        url,
        "health",
        "fit",
        "--json",
        "--write",
        fitted.to_str().unwrap(),
    ]);
    assert!(
        fit["fit"]["model"]["measures"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{fit}"
    );
    let model = run(&mut laer(&[
        "--db",
        url,
        "--health-model",
        fitted.to_str().unwrap(),
        "health",
        "model",
    ]));
    assert!(model.status.success(), "{}", text(&model.stderr));
    assert!(
        text(&model.stdout).contains("[calibration]"),
        "a fitted model is calibrated"
    );
    let rescored = json_output(&[
        "--db",
        url,
        "--health-model",
        fitted.to_str().unwrap(),
        "report",
        "health",
        "--json",
    ]);
    assert_eq!(rescored["model"], fit["fit"]["model"]["name"]);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\nengagement_flor = 1\n").unwrap();
    let refused = run(&mut laer(&[
        "--db",
        url,
        "--health-model",
        bad.to_str().unwrap(),
        "health",
        "model",
    ]));
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("engagement_flor"),
        "{}",
        text(&refused.stderr)
    );

    let set = run(&mut laer(&[
        "--db",
        url,
        "health",
        "set-phase",
        &first,
        "expand",
        "--reason",
        "LOI signed",
        "--actor",
        "kim",
    ]));
    assert!(set.status.success(), "{}", text(&set.stderr));
    let report = json_output(&["--db", url, "report", "health", "--json"]);
    let account = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["external_id"] == first.as_str())
        .unwrap();
    assert_eq!(
        (account["phase"].as_str(), account["phase_reason"].as_str()),
        (Some("expand"), Some("set by hand"))
    );
    let unknown = run(&mut laer(&[
        "--db",
        url,
        "health",
        "set-phase",
        "nope",
        "expand",
        "--reason",
        "x",
    ]));
    assert!(text(&unknown.stderr).contains("no account with external id"));
    let cleared = run(&mut laer(&[
        "--db",
        url,
        "health",
        "set-phase",
        &first,
        "auto",
        "--reason",
        "withdrawn",
    ]));
    assert!(cleared.status.success());
}

fn work_queues_follow_the_playbooks_and_the_coverage_model(db: &TestDatabase) {
    let laer_on = |args: &[&str]| {
        let mut all = vec!["--db", db.url.as_str()];
        all.extend_from_slice(args);
        run(&mut laer(&all))
    };
    let json = |args: &[&str]| -> Value {
        let out = laer_on(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    let demo = laer_on(&["demo", "--accounts", "40", "--months", "12", "--seed", "3"]);
    assert!(demo.status.success(), "{}", text(&demo.stderr));
    assert!(text(&demo.stderr).contains("playbook runs"), "{}", text(&demo.stderr));

    // The demo's queues are filled, every task saying where it came from.
    let tasks = json(&["tasks", "list", "--json"]);
    let tasks = tasks["tasks"].as_array().unwrap();
    assert!(!tasks.is_empty());
    for t in tasks {
        for key in ["account_id", "playbook", "cause", "role", "title", "due_on"] {
            assert!(!t[key].is_null(), "{key} of {t}");
        }
        assert_eq!(t["status"], "open");
    }
    let playbooks = json(&["playbooks", "list", "--json"]);
    let playbooks = playbooks.as_array().unwrap();
    assert_eq!(playbooks.len(), 8);
    let fired: Vec<&str> = playbooks
        .iter()
        .filter(|p| p["runs"].as_i64().unwrap() > 0)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(fired.len() >= 5, "{fired:?}");

    // Once per cause: no run twice, and deciding again today adds nothing.
    let runs = json(&["playbooks", "runs", "--json"]);
    let runs = runs.as_array().unwrap();
    let mut causes: Vec<String> = runs
        .iter()
        .map(|r| format!("{} {} {}", r["playbook"], r["account_id"], r["cause"]))
        .collect();
    causes.sort();
    causes.dedup();
    assert_eq!(causes.len(), runs.len());
    // A preview says what applying would change: here nothing, as applying then shows.
    let preview = laer_on(&["coverage", "apply", "--preview"]);
    assert!(preview.status.success(), "{}", text(&preview.stderr));
    assert_eq!(text(&preview.stdout), "Nothing would change.\n");
    let apply = laer_on(&["coverage", "apply"]);
    assert!(apply.status.success(), "{}", text(&apply.stderr));
    assert!(
        text(&apply.stdout).starts_with("0 owners started, 0 ended")
            && text(&apply.stdout).contains(" 0 playbook runs"),
        "{}",
        text(&apply.stdout)
    );

    // An owner assigned by hand stays when the rules run again.
    let any_csm = json(&["coverage", "show", "--json"])["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["owners"].as_array().unwrap().iter().any(|o| o["role"] == "csm"))
        .cloned()
        .unwrap();
    let account = any_csm["external_id"].as_str().unwrap();
    // A CSM's login, as the demo lists them.
    let demo_logins = text(&demo.stderr);
    let csm_email = demo_logins
        .lines()
        .find_map(|l| l.trim().strip_suffix(" csm").map(str::trim))
        .unwrap()
        .to_string();
    let assigned = laer_on(&[
        "coverage",
        "assign",
        account,
        "csm",
        &csm_email,
        "--reason",
        "speaks Dutch",
    ]);
    assert!(assigned.status.success(), "{}", text(&assigned.stderr));
    let again = laer_on(&["coverage", "apply"]);
    assert!(
        text(&again.stdout).starts_with("0 owners started, 0 ended"),
        "{}",
        text(&again.stdout)
    );
    let owners = json(&["coverage", "show", "--account", account, "--json"]);
    let csms: Vec<&Value> = owners["accounts"][0]["owners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["role"] == "csm")
        .collect();
    assert_eq!(csms.len(), 1, "{owners}");
    let back = laer_on(&[
        "coverage",
        "assign",
        account,
        "csm",
        "auto",
        "--reason",
        "back to the book",
    ]);
    assert!(back.status.success(), "{}", text(&back.stderr));
    let bad_role = laer_on(&["coverage", "assign", account, "boss", "auto", "--reason", "x"]);
    assert!(text(&bad_role.stderr).contains("role"), "{}", text(&bad_role.stderr));

    // Owners follow the phases: the account executive or the CSM at Land, the CSM after,
    // nobody after churn.
    let health = json(&["report", "health", "--json"]);
    let coverage = json(&["coverage", "show", "--json"]);
    let roles_of = |id: &Value| -> Vec<String> {
        coverage["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == *id)
            .map(|a| {
                a["owners"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["role"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut covered = 0;
    for a in health["accounts"].as_array().unwrap() {
        let roles = roles_of(&a["account_id"]);
        match a["phase"].as_str().unwrap() {
            // The account executive in the first quarter, the CSM after it.
            "land" => assert!(
                roles.iter().all(|r| r == "account_executive" || r == "csm"),
                "{a} {roles:?}"
            ),
            "churned" => assert!(roles.is_empty(), "{a} {roles:?}"),
            _ => covered += usize::from(roles.contains(&"csm".to_string())),
        }
    }
    assert!(covered > 0);

    // A task is done, commented and snoozed by hand; bad input is named.
    let id = tasks[0]["id"].as_i64().unwrap().to_string();
    assert!(
        laer_on(&["tasks", "comment", &id, "Called the sponsor", "--actor", "kim"])
            .status
            .success()
    );
    assert!(laer_on(&["tasks", "done", &id, "--actor", "kim"]).status.success());
    let done = json(&["tasks", "list", "--status", "done", "--json"]);
    assert!(
        done["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"].as_i64().map(|i| i.to_string()).as_deref() == Some(id.as_str()))
    );
    let bad = laer_on(&["tasks", "snooze", &id, "--until", "soon"]);
    assert!(
        !bad.status.success() && text(&bad.stderr).contains("--until"),
        "{}",
        text(&bad.stderr)
    );
    let nobody = laer_on(&["tasks", "reassign", &id, "--to", "nobody@example.com"]);
    assert!(
        text(&nobody.stderr).contains("nobody@example.com"),
        "{}",
        text(&nobody.stderr)
    );

    // Playbooks are replaced from a file, checked first.
    let shown = text(&laer_on(&["playbooks", "show"]).stdout);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("playbooks.toml");
    std::fs::write(
        &file,
        shown.replacen("name = \"support-spike\"", "name = \"Support Spike\"", 1),
    )
    .unwrap();
    let refused = laer_on(&["playbooks", "set", file.to_str().unwrap()]);
    assert!(
        !refused.status.success() && text(&refused.stderr).contains("Support Spike"),
        "{}",
        text(&refused.stderr)
    );
    let at = shown.find("name = \"support-spike\"").unwrap();
    let disabled = format!(
        "{}{}",
        &shown[..at],
        shown[at..].replacen("enabled = true", "enabled = false", 1)
    );
    std::fs::write(&file, disabled).unwrap();
    assert!(laer_on(&["playbooks", "set", file.to_str().unwrap()]).status.success());
    let after = json(&["playbooks", "list", "--json"]);
    let spike = after
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "support-spike")
        .unwrap()
        .clone();
    assert_eq!(spike["enabled"], false);
}

/// On the demo company, each quarter's bridge adds up to `laer report mrr` for the same
/// days, and its groups to its total, by phase and by owner.
fn nrr_bridge_adds_up_to_the_mrr_report(db: &TestDatabase) {
    use laer_core::Money;
    let url = db.url.as_str();
    store_demo(url, "5");
    let json = |args: &[&str]| -> Value {
        let mut all = vec!["--db", url, "report"];
        all.extend_from_slice(args);
        json_output(&all)
    };
    let money = |v: &Value| -> Money { serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}")) };
    let fields = [
        ("start_mrr", "start"),
        ("new", "new"),
        ("expansion", "expansion"),
        ("contraction", "contraction"),
        ("churn", "churn"),
        ("reactivation", "reactivation"),
        ("end_mrr", "end"),
    ];
    for by in [
        &["--by", "phase"][..],
        &["--by", "owner"],
        &["--by", "owner", "--role", "account_executive"],
    ] {
        let mut args = vec!["nrr-bridge", "--json"];
        args.extend_from_slice(by);
        let bridge = json(&args);
        let quarters = bridge["quarters"].as_array().unwrap();
        assert_eq!(quarters.len(), 4, "the last four whole quarters: {bridge}");
        let mut grouped = false;
        for q in quarters {
            let (start, end) = (q["start"].as_str().unwrap(), q["end"].as_str().unwrap());
            let mrr = json(&["mrr", "--from", start, "--to", end, "--json"]);
            let period = &mrr["periods"][0];
            let groups = q["groups"].as_array().unwrap();
            grouped |= groups.len() > 1;
            for (bridge_field, mrr_field) in fields {
                let total = money(&q["total"][bridge_field]);
                assert_eq!(total, money(&period[mrr_field]), "{by:?} {start} {bridge_field}");
                let sum: Money = groups.iter().map(|g| money(&g[bridge_field])).sum();
                assert_eq!(sum, total, "{by:?} {start}: the groups' {bridge_field}");
            }
            assert_eq!(q["total"]["nrr"], period["net_revenue_retention"]);
            assert_eq!(q["total"]["grr"], period["gross_revenue_retention"]);
            for g in groups {
                let name = g["group"].as_str().unwrap();
                if by[1] == "phase" {
                    assert!(name.parse::<laer_core::lifecycle::Phase>().is_ok(), "{name}");
                } else {
                    assert!(name == "unassigned" || g["team_member"].is_string(), "{g}");
                }
            }
        }
        assert!(grouped, "{by:?}: the demo's accounts fall in several groups");
    }
    // Explicit quarters, and a table.
    let year = json(&["nrr-bridge", "--from", "2025-01-01", "--to", "2025-12-31", "--json"]);
    let names: Vec<&str> = year["quarters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["quarter"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]);
    let table = run(&mut laer(&["--db", url, "report", "nrr-bridge", "--by", "owner"]));
    let table = text(&table.stdout);
    assert!(table.contains("by owner (csm)") && table.contains("total"), "{table}");
    for (args, message) in [
        (&["--role", "csm"][..], "--role: only with --by owner"),
        (
            &["--from", "2025-06-01", "--to", "2025-06-01"],
            "--to (2025-06-01) must be after --from",
        ),
        (&["--from", "soon"], "--from: expected a date"),
    ] {
        let mut all = vec!["--db", url, "report", "nrr-bridge"];
        all.extend_from_slice(args);
        let out = run(&mut laer(&all));
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out.stderr).contains(message), "{args:?}: {}", text(&out.stderr));
    }
}

fn plans_are_shown_shared_and_revoked(db: &TestDatabase) {
    let url = db.url.as_str();
    store_demo(url, "4");
    let on = |args: &[&str]| {
        let mut all = vec!["--db", url, "plans"];
        all.extend_from_slice(args);
        run(&mut laer(&all))
    };
    let ok = |args: &[&str]| {
        let out = on(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let refused = |args: &[&str], message: &str| {
        let out = on(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out.stderr).contains(message), "{args:?}: {}", text(&out.stderr));
    };
    let plan: Value = serde_json::from_str(&ok(&["show", "acct-0001", "--json"])).unwrap();
    assert!(
        plan["plan"]["outcomes"].is_array() && plan["optimize"].is_array(),
        "{plan}"
    );
    let milestones = plan["implement"]["milestones"].as_array().unwrap().len();
    let team_text = ok(&["show", "acct-0001"]);
    for section in ["PLAN", "IMPLEMENT", "MONITOR", "OPTIMIZE"] {
        assert!(team_text.contains(section), "{section}: {team_text}");
    }
    let customer = ok(&["show", "acct-0001", "--customer", "--json"]);
    assert_eq!(
        laer_core::success_plan::internal_words(&customer),
        Vec::<&str>::new(),
        "{customer}"
    );

    let id = ok(&[
        "milestone",
        "add",
        "acct-0001",
        "--title",
        "Pilot site live",
        "--due",
        "2030-01-15",
        "--side",
        "vendor",
        "--actor",
        "kim",
    ]);
    let id = id.trim();
    refused(
        &["milestone", "add", "acct-0001", "--title", "x", "--due", "soon"],
        "--due: expected a date",
    );
    refused(
        &[
            "milestone",
            "add",
            "acct-0001",
            "--title",
            "x",
            "--due",
            "2030-01-15",
            "--side",
            "partner",
        ],
        "--side",
    );
    refused(
        &["milestone", "add", "acct-0001", "--title", " ", "--due", "2030-01-15"],
        "--title",
    );
    refused(
        &["milestone", "add", "nobody", "--title", "x", "--due", "2030-01-15"],
        "no account",
    );
    ok(&["milestone", "done", id, "--on", "2030-01-10"]);
    let plan: Value = serde_json::from_str(&ok(&["show", "acct-0001", "--json"])).unwrap();
    let listed = plan["implement"]["milestones"].as_array().unwrap();
    assert_eq!(listed.len(), milestones + 1);
    let added = listed.iter().find(|m| m["title"] == "Pilot site live").unwrap();
    assert_eq!(
        (added["done_on"].as_str(), added["side"].as_str()),
        (Some("2030-01-10"), Some("vendor"))
    );

    let path = ok(&["share", "acct-0001", "--actor", "kim"]);
    let token = path.trim().strip_prefix("/plan/").expect("the link's path").to_string();
    let links: Value = serde_json::from_str(&ok(&["links", "acct-0001", "--json"])).unwrap();
    let link = &links["links"][0];
    assert_eq!(link["prefix"].as_str(), Some(&token[..10]));
    assert!(link["revoked_at"].is_null());
    assert!(!links.to_string().contains(&token), "links never show tokens");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shared = || runtime.block_on(db.store.shared_plan_account(&token)).unwrap();
    assert!(shared().is_some(), "the link finds the plan");
    ok(&["revoke", &link["id"].to_string(), "--actor", "kim"]);
    assert_eq!(shared(), None, "revoked");
    assert!(ok(&["links", "acct-0001"]).contains("revoked"));
    refused(&["revoke", "99999"], "share link 99999 not found");
}

/// Issue 17: `laer connect stripe` checks the key against Stripe (localstripe) and keeps
/// it sealed, `laer stripe sync` syncs with its progress, `laer stripe status` tells.
fn stripe_is_connected_and_synced_from_the_cli(db: &TestDatabase) {
    let Some(stripe) = laer_app::test_support::LocalStripe::start() else {
        return;
    };
    stripe.run(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../laer-app/tests/stripe/scenario.py"),
        &["0"],
    );
    let data = tempfile::tempdir().unwrap();
    let url = db.url.as_str();
    let on = |key: Option<&str>, args: &[&str]| {
        let mut all = vec!["--db", url];
        all.extend_from_slice(args);
        let mut command = laer(&all);
        command.env("LAER_DATA_DIR", data.path()).env_remove("LAER_SECRET_KEY");
        match key {
            Some(key) => command.env("LAER_STRIPE_KEY", key),
            None => command.env_remove("LAER_STRIPE_KEY"),
        };
        run(&mut command)
    };
    let connect = [
        "connect",
        "stripe",
        "--api-base",
        &stripe.base,
        "--link-rule",
        "create_account",
    ];
    let out = on(None, &connect);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("set LAER_STRIPE_KEY"),
        "{}",
        text(&out.stderr)
    );
    let out = on(Some("rk_test_revoked_key"), &connect);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("Stripe refused the key (401)") && !err.contains("rk_test_revoked"),
        "{err}"
    );
    let out = on(
        Some("sk_test_laer_cli"),
        &[&connect[..], &["--rule", "lots=true"]].concat(),
    );
    assert!(text(&out.stderr).contains("no rule \"lots\""), "{}", text(&out.stderr));
    let out = on(Some("sk_test_laer_cli"), &connect);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Stripe is connected"),
        "{}",
        text(&out.stdout)
    );

    let out = on(None, &["stripe", "sync", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["customers"].as_u64(), report["accounts_created"].as_u64()),
        (Some(10), Some(10))
    );
    assert_eq!(report["subscriptions"].as_u64(), Some(10));
    assert!(
        text(&out.stderr).contains("subscriptions: 10 customers"),
        "progress: {}",
        text(&out.stderr)
    );
    let out = on(None, &["stripe", "status"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("Last sync ended") && shown.contains("make an account for it"),
        "{shown}"
    );
    assert!(!shown.contains("sk_test_laer_cli"));
    assert_eq!(status(url)["accounts"].as_u64(), Some(10), "{}", status(url));
}

fn on_each_backend(story: fn(&TestDatabase)) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = runtime.block_on(TestDatabase::new(backend)) {
            story(&db);
        }
    }
}

#[test]
fn fightchurn_import_on_each_backend() {
    on_each_backend(fightchurn_import_matches_the_source_counts);
}

#[test]
fn bad_files_on_each_backend() {
    on_each_backend(a_bad_file_is_rejected_with_line_and_column);
}

#[test]
fn reports_on_each_backend() {
    on_each_backend(reports_print_json_and_tables);
}

#[test]
fn health_on_each_backend() {
    on_each_backend(health_commands_report_validate_fit_and_set_phases);
}

#[test]
fn nrr_bridge_on_each_backend() {
    on_each_backend(nrr_bridge_adds_up_to_the_mrr_report);
}

#[test]
fn serve_on_each_backend() {
    on_each_backend(serve_answers_health_checks_and_stops_on_sigterm);
}

#[test]
fn work_on_each_backend() {
    on_each_backend(work_queues_follow_the_playbooks_and_the_coverage_model);
}

#[test]
fn stripe_on_each_backend() {
    on_each_backend(stripe_is_connected_and_synced_from_the_cli);
}

#[test]
fn plans_on_each_backend() {
    on_each_backend(plans_are_shown_shared_and_revoked);
}

/// The Singer tap the sync tests run: meltanolabs-tap-postgres, at
/// `LAER_TEST_TAP_POSTGRES` (scripts/test installs it); skipped without it unless
/// `LAER_TEST_REQUIRE_TAP=1`.
fn tap_postgres() -> Option<PathBuf> {
    match std::env::var_os("LAER_TEST_TAP_POSTGRES").filter(|p| !p.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var("LAER_TEST_REQUIRE_TAP").is_ok_and(|v| v == "1") => {
            panic!("LAER_TEST_REQUIRE_TAP=1 but LAER_TEST_TAP_POSTGRES is not set")
        }
        None => {
            eprintln!("skipping: set LAER_TEST_TAP_POSTGRES to meltanolabs-tap-postgres's tap-postgres");
            None
        }
    }
}

/// A "warehouse" database on the test PostgreSQL server, made for one test, with
/// accounts, contracts and support tickets, each row updated a minute after the last.
struct Warehouse {
    runtime: tokio::runtime::Runtime,
    admin: String,
    name: String,
    url: String,
}

impl Warehouse {
    fn create(label: &str) -> Option<Warehouse> {
        let admin = std::env::var("LAER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let name = format!("laer_warehouse_{label}_{}", std::process::id());
        let (base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        let warehouse = Warehouse {
            runtime,
            admin,
            name,
            url,
        };
        warehouse.on(
            &warehouse.admin,
            &[
                &format!("DROP DATABASE IF EXISTS {}", warehouse.name),
                &format!("CREATE DATABASE {}", warehouse.name),
            ],
        );
        warehouse.sql(&[
            "CREATE SCHEMA warehouse",
            "CREATE TABLE warehouse.accounts (id text PRIMARY KEY, name text, segment text, domain text, \
             renewal_date date, updated_at timestamptz NOT NULL)",
            "CREATE TABLE warehouse.contracts (id text PRIMARY KEY, account_id text, product text, start_date date, \
             end_date date, mrr numeric(12,2), seats int, updated_at timestamptz NOT NULL)",
            "CREATE TABLE warehouse.tickets (id bigint PRIMARY KEY, account_id text, opened_at timestamptz, \
             closed_at timestamptz, priority text, subject text, updated_at timestamptz NOT NULL)",
            "INSERT INTO warehouse.accounts VALUES \
             ('a1', 'Acme', 'Enterprise', 'acme.com', '2027-03-01', '2026-11-01 10:00+00'), \
             ('a2', 'Umbra', 'SMB', NULL, NULL, '2026-11-01 10:01+00'), \
             ('a3', 'Nova', 'SMB', 'nova.dev', NULL, '2026-11-01 10:02+00')",
            "INSERT INTO warehouse.contracts VALUES \
             ('c1', 'a1', 'suite', '2025-03-01', NULL, 1200.50, 40, '2026-11-01 10:00+00'), \
             ('c2', 'a2', 'basic', '2026-01-01', NULL, 99, 5, '2026-11-01 10:01+00'), \
             ('c3', 'a3', 'basic', '2026-02-01', NULL, 99, 3, '2026-11-01 10:02+00')",
            "INSERT INTO warehouse.tickets VALUES \
             (1, 'a1', '2026-11-01 10:00+00', NULL, 'urgent', 'Login broken', '2026-11-01 10:00+00'), \
             (2, 'a9', '2026-11-02 10:00+00', '2026-11-03 10:00+00', 'low', 'Unknown account', '2026-11-01 10:01+00'), \
             (3, 'a2', '2026-11-02 11:00+00', NULL, 'normal', 'Export question', '2026-11-01 10:02+00')",
        ]);
        Some(warehouse)
    }

    fn on(&self, url: &str, statements: &[&str]) {
        self.runtime.block_on(async {
            let pool = sqlx::PgPool::connect(url).await.expect("connect to the warehouse");
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
                    .execute(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
            pool.close().await;
        });
    }

    fn sql(&self, statements: &[&str]) {
        self.on(&self.url, statements);
    }

    /// The tap's config for this database.
    fn config(&self) -> Value {
        let rest = self.admin.strip_prefix("postgres://").expect("a postgres:// URL");
        let (credentials, host) = rest.split_once('@').unwrap();
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let host = host.split('/').next().unwrap();
        let (host, port) = host.split_once(':').unwrap_or((host, "5432"));
        serde_json::json!({"host": host, "port": port.parse::<u16>().unwrap(), "user": user, "password": password,
                           "database": self.name, "filter_schemas": ["warehouse"]})
    }
}

impl Drop for Warehouse {
    fn drop(&mut self) {
        self.on(
            &self.admin,
            &[&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)],
        );
    }
}

/// A sync of a real tap (issue 18): meltanolabs-tap-postgres reads the warehouse; the
/// first run imports everything, the second (handed the state) only the rows at its
/// bookmark, the third exactly the rows that changed.
fn a_real_tap_syncs_incrementally(db: &TestDatabase) {
    let Some(tap) = tap_postgres() else { return };
    let label = if db.url.starts_with("postgres") { "pg" } else { "lite" };
    let Some(warehouse) = Warehouse::create(label) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let taps = data.path().join("taps");
    std::fs::create_dir(&taps).unwrap();
    std::os::unix::fs::symlink(&tap, taps.join("tap-postgres")).unwrap();
    let config = data.path().join("warehouse.json");
    std::fs::write(&config, warehouse.config().to_string()).unwrap();
    // The tap's catalog, every stream selected for incremental replication by updated_at.
    let discovered = Command::new(&tap)
        .arg("--config")
        .arg(&config)
        .arg("--discover")
        .output()
        .unwrap();
    assert!(discovered.status.success(), "{}", text(&discovered.stderr));
    let mut catalog: Value = serde_json::from_slice(&discovered.stdout).unwrap();
    for stream in catalog["streams"].as_array_mut().unwrap() {
        for entry in stream["metadata"].as_array_mut().unwrap() {
            if entry["breadcrumb"].as_array().is_some_and(Vec::is_empty) {
                entry["metadata"]["selected"] = true.into();
                entry["metadata"]["replication-method"] = "INCREMENTAL".into();
                entry["metadata"]["replication-key"] = "updated_at".into();
            }
        }
    }
    let catalog_file = data.path().join("catalog.json");
    std::fs::write(&catalog_file, catalog.to_string()).unwrap();
    let mapping = Path::new(env!("CARGO_MANIFEST_DIR")).join("../laer-import/tests/fixtures/singer/warehouse.toml");
    let url = db.url.as_str();
    let on = |args: &[&str]| {
        let mut all = vec!["--db", url];
        all.extend_from_slice(args);
        let mut command = laer(&all);
        command
            .env("LAER_DATA_DIR", data.path())
            .env_remove("LAER_SECRET_KEY")
            .env_remove("LAER_TAPS_DIR");
        run(&mut command)
    };
    let add = [
        "sync",
        "add",
        "warehouse",
        "--tap",
        "tap-postgres",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog_file.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
        "--every",
        "1h",
    ];
    let out = on(&add);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sync = |n: u32| -> Value {
        let out = on(&["sync", "run", "warehouse", "--json"]);
        assert!(out.status.success(), "run {n}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let written = |report: &Value| -> Vec<(String, u64, u64, u64)> {
        report["streams"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(s, r)| {
                (
                    s.clone(),
                    r["records"].as_u64().unwrap(),
                    r["written"].as_u64().unwrap(),
                    r["unmapped"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let first = sync(1);
    assert_eq!(
        written(&first),
        [
            ("warehouse-accounts".into(), 3, 3, 0),
            ("warehouse-contracts".into(), 3, 3, 0),
            ("warehouse-tickets".into(), 3, 2, 1),
        ]
    );
    assert_eq!(status(url)["support_cases"].as_u64(), Some(2));
    // Handed its state, the tap reads from its bookmarks: the last row of each table again
    // (the Meltano SDK's bookmarks include their own row), and laer finds it unchanged.
    let second = sync(2);
    assert_eq!(
        written(&second),
        [
            ("warehouse-accounts".into(), 1, 0, 0),
            ("warehouse-contracts".into(), 1, 0, 0),
            ("warehouse-tickets".into(), 1, 0, 0),
        ]
    );
    warehouse.sql(&[
        "UPDATE warehouse.accounts SET name = 'Umbra Labs', updated_at = '2026-12-01 09:00+00' WHERE id = 'a2'",
        "INSERT INTO warehouse.tickets VALUES (4, 'a3', '2026-12-01 08:00+00', NULL, 'high', 'Billing', '2026-12-01 09:00+00')",
    ]);
    let third = sync(3);
    assert_eq!(
        written(&third),
        [
            ("warehouse-accounts".into(), 2, 1, 0),
            ("warehouse-contracts".into(), 1, 0, 0),
            ("warehouse-tickets".into(), 2, 1, 0),
        ],
        "exactly the changed account and the new ticket"
    );
    assert_eq!(status(url)["support_cases"].as_u64(), Some(3));
    let out = on(&["sync", "show", "warehouse"]);
    let shown = text(&out.stdout);
    assert!(shown.contains("replication_key_value"), "the state is kept: {shown}");
    assert!(
        shown.contains("Beginning sync"),
        "the tap's error output is kept: {shown}"
    );
    let listed = text(&on(&["sync", "list", "--json"]).stdout);
    assert!(
        !shown.contains("\"password\"") && !listed.contains("\"password\""),
        "the config is never shown: {listed}"
    );
    let out = on(&["sync", "list"]);
    assert!(text(&out.stdout).contains("succeeded"), "{}", text(&out.stdout));
}

#[test]
fn a_real_tap_on_each_backend() {
    on_each_backend(a_real_tap_syncs_incrementally);
}

/// `laer chat` as docs/automation.md shows it: the address from standard input, never
/// shown again; a person's hook with its digest hour; a test message queued; removed.
#[test]
fn chat_hooks_are_added_from_standard_input_listed_tested_and_removed() {
    let home = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", home.path().join("laer.db").display());
    // The server key is made in the data directory on first use.
    let data_dir = home.path().to_str().unwrap();
    let with_input = |args: &[&str], input: &str| {
        let mut child = laer(args)
            .env("LAER_DATA_DIR", data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let secret_url = "https://hooks.slack.com/services/T000/B000/s3cretpath";
    let out = with_input(
        &["--db", &db, "chat", "add", "cs-alerts", "--kind", "slack"],
        &format!("{secret_url}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = with_input(
        &["--db", &db, "chat", "add", "bad", "--kind", "teams"],
        "http://example.com/x\n",
    );
    assert!(
        !out.status.success() && text(&out.stderr).contains("https://"),
        "{}",
        text(&out.stderr)
    );
    let out = with_input(&["--db", &db, "chat", "add", "empty", "--kind", "slack"], "");
    assert!(
        !out.status.success() && text(&out.stderr).contains("standard input"),
        "{}",
        text(&out.stderr)
    );
    let out = with_input(
        &[
            "--db",
            &db,
            "chat",
            "add",
            "kim",
            "--kind",
            "teams",
            "--digest-for",
            "nobody@example.com",
        ],
        "https://example.webhook.office.com/x\n",
    );
    assert!(
        !out.status.success() && text(&out.stderr).contains("nobody logs in as"),
        "{}",
        text(&out.stderr)
    );

    let out = run(laer(&["--db", &db, "chat", "list"]).env("LAER_DATA_DIR", data_dir));
    let listed = text(&out.stdout);
    assert!(listed.contains("cs-alerts") && listed.contains("slack"), "{listed}");
    let out = run(laer(&["--db", &db, "chat", "list", "--json"]).env("LAER_DATA_DIR", data_dir));
    assert!(!text(&out.stdout).contains("s3cret"), "never the address");
    let out = run(laer(&["--db", &db, "chat", "test", "cs-alerts"]).env("LAER_DATA_DIR", data_dir));
    assert!(
        out.status.success() && text(&out.stderr).contains("queued"),
        "{}",
        text(&out.stderr)
    );
    let deliveries: Value = serde_json::from_slice(
        &run(laer(&["--db", &db, "deliveries", "--json"]).env("LAER_DATA_DIR", data_dir)).stdout,
    )
    .unwrap();
    assert_eq!(deliveries["deliveries"][0]["channel"], "chat");
    assert_eq!(deliveries["deliveries"][0]["event"], "chat.test");
    let out = run(laer(&["--db", &db, "chat", "remove", "cs-alerts"]).env("LAER_DATA_DIR", data_dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(laer(&["--db", &db, "chat", "list", "--json"]).env("LAER_DATA_DIR", data_dir));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
}
