//! The operator's side of the binary (docs/operations.md): the data directory and the
//! database are private to laer's user; webhook secrets are sealed with a server key
//! made on first use, checked at start-up and rotated; `laer backup` copies a database.

use std::path::Path;
use std::process::{Command, Output};

use laer_store::Backend;
use laer_store::test_support::TestDatabase;
use serde_json::Value;

fn laer(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_laer"));
    command
        .args(args)
        .env_remove("LAER_DATABASE_URL")
        .env_remove("LAER_SECRET_KEY")
        .env_remove("LAER_SECRET_KEY_FILE")
        .env("LAER_DATA_DIR", data_dir)
        .env("LAER_LOG", "warn");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run laer")
}

fn ok(command: &mut Command) -> String {
    let out = run(command);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(command: &mut Command) -> String {
    let out = run(command);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_the_database_are_laers_alone() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("nested/data");
    ok(&mut laer(&data, &["status"]));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&root.path().join("nested")), 0o700);
    assert_eq!(mode(&data.join("laer.db")), 0o600);
    for wal in ["laer.db-wal", "laer.db-shm"] {
        let path = data.join(wal);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{wal}");
        }
    }
}

#[test]
fn webhook_secrets_are_sealed_with_a_key_made_on_first_use_and_rotated() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let added: Value = serde_json::from_str(&ok(&mut laer(
        &data,
        &["webhooks", "add", "https://example.com/hook", "--events", "*", "--json"],
    )))
    .unwrap();
    let secret = added["secret"].as_str().unwrap().to_string();
    let key_file = data.join("secret.key");
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    // Not in the database file as itself (nor anywhere in the data directory but the
    // output it was shown in).
    ok(&mut laer(
        &data,
        &["backup", root.path().join("copy.db").to_str().unwrap()],
    ));
    for file in [data.join("laer.db"), root.path().join("copy.db")] {
        let bytes = std::fs::read(&file).unwrap();
        let hex = &secret["whsec_".len()..];
        assert!(
            !bytes.windows(hex.len()).any(|w| w == hex.as_bytes()),
            "{} holds the secret",
            file.display()
        );
    }
    let status: Value = serde_json::from_str(&ok(&mut laer(&data, &["secrets", "status", "--json"]))).unwrap();
    let old_key = status["server_keys"][0].as_str().unwrap().to_string();
    assert_eq!(status["database_key"], old_key.as_str());
    assert_eq!(status["sealed"][0]["secrets"], 1);

    // Another key is refused, naming the key it lacks: the server does not start.
    let stranger = root.path().join("stranger.key");
    std::fs::write(&stranger, "sxgZMjUvjXdlclHIe5a2TwMAzpfY5/lvIIEanBL7SpQ=\n").unwrap();
    let err = failed(laer(&data, &["serve", "--listen", "127.0.0.1:0"]).env("LAER_SECRET_KEY_FILE", &stranger));
    assert!(err.contains(&old_key) && err.contains("stranger.key"), "{err}");
    assert!(!err.contains("sxgZMjUvjXdlclHIe5a2"), "no key in messages: {err}");

    // Rotation to a new key file, made 0600.
    let new_key = root.path().join("new.key");
    let out = ok(&mut laer(
        &data,
        &["secrets", "rotate", "--new-key-file", new_key.to_str().unwrap()],
    ));
    assert!(out.contains("re-sealed 1 secrets"), "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&new_key), 0o600);
    let err = failed(&mut laer(
        &data,
        &["webhooks", "add", "https://example.com/2", "--events", "*"],
    ));
    assert!(err.contains("do not include"), "{err}");
    let status: Value = serde_json::from_str(&ok(
        laer(&data, &["secrets", "status", "--json"]).env("LAER_SECRET_KEY_FILE", &new_key)
    ))
    .unwrap();
    assert_ne!(status["database_key"], old_key.as_str());
    assert_eq!(status["database_key"], status["server_keys"][0]);
    // The key itself in LAER_SECRET_KEY works as the file does.
    let key_text = std::fs::read_to_string(&new_key).unwrap();
    ok(laer(&data, &["webhooks", "add", "https://example.com/3", "--events", "*"]).env("LAER_SECRET_KEY", &key_text));

    // Rotation by key ring, as several nodes do it: a ring whose first key is a fresh one
    // seals with it and still opens what the old key sealed; `rotate` with no argument
    // re-seals the rest under it; then the fresh key alone opens everything.
    let fresh = "Q2hhbmdlIG1lISBBIGZyZXNoIGtleSBmb3IgdGVzdHM=";
    let ring = root.path().join("ring.key");
    std::fs::write(&ring, format!("{fresh}\n{key_text}")).unwrap();
    let with = |file: &Path, args: &[&str]| {
        let mut command = laer(&data, args);
        command.env("LAER_SECRET_KEY_FILE", file);
        command
    };
    let out = run(&mut with(
        &ring,
        &["webhooks", "add", "https://example.com/4", "--events", "*"],
    ));
    assert!(out.status.success());
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(warned.contains("rotation is under way"), "{warned}");
    let out = ok(&mut with(&ring, &["secrets", "rotate"]));
    assert!(out.contains("re-sealed 2 secrets"), "{out}");
    let only_fresh = root.path().join("fresh.key");
    std::fs::write(&only_fresh, format!("{fresh}\n")).unwrap();
    let status: Value = serde_json::from_str(&ok(&mut with(&only_fresh, &["secrets", "status", "--json"]))).unwrap();
    assert_eq!(status["database_key"], status["server_keys"][0]);
    assert_eq!(status["sealed"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["sealed"][0]["secrets"], 3, "{status}");
    assert_eq!(status["plaintext"], 0);
    ok(&mut with(
        &only_fresh,
        &["webhooks", "add", "https://example.com/5", "--events", "*"],
    ));
    let err = failed(&mut with(
        &new_key,
        &["webhooks", "add", "https://example.com/6", "--events", "*"],
    ));
    assert!(err.contains("do not include"), "{err}");
}

#[test]
fn a_backup_is_a_new_private_file_and_postgres_is_pointed_to_pg_dump() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    ok(&mut laer(&data, &["demo", "--accounts", "5", "--months", "3"]));
    let copy = root.path().join("laer-backup.db");
    let out = ok(&mut laer(&data, &["backup", copy.to_str().unwrap()]));
    assert!(out.contains("laer-backup.db"), "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&copy), 0o600);
    let counts =
        |db: &str| -> Value { serde_json::from_str(&ok(&mut laer(&data, &["--db", db, "status", "--json"]))).unwrap() };
    let original = counts(&format!("sqlite://{}", data.join("laer.db").display()));
    assert_eq!(counts(&format!("sqlite://{}", copy.display())), original);
    assert!(original["accounts"].as_i64().unwrap() >= 5);
    let err = failed(&mut laer(&data, &["backup", copy.to_str().unwrap()]));
    assert!(err.contains("--force"), "{err}");
    ok(&mut laer(&data, &["backup", "--force", copy.to_str().unwrap()]));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    if let Some(db) = runtime.block_on(TestDatabase::new(Backend::Postgres)) {
        let target = root.path().join("pg.db");
        let err = failed(&mut laer(&data, &["--db", &db.url, "backup", target.to_str().unwrap()]));
        assert!(err.contains("pg_dump") && err.contains("pg_restore"), "{err}");
        assert!(!target.exists());
        runtime.block_on(db.store.close());
    }
}
