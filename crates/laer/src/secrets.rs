//! The server key that seals stored secrets (docs/operations.md#secrets-at-rest): where
//! it comes from, `laer secrets status` and `laer secrets rotate`; and `laer backup`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use laer_store::{SecretBox, Store};

/// The variable holding the keys themselves (for secret managers and containers).
const KEY_VARIABLE: &str = "LAER_SECRET_KEY";
/// The key file made in the data directory when no key is configured.
const DEFAULT_KEY_FILE: &str = "secret.key";

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// This server's keys, the database's key, and the stored secrets by key.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Re-seals every stored secret with the sealing key (the first of the server's keys,
    /// or the key in --new-key-file), in one transaction, and records that key as the
    /// database's. Nodes keep working when each has both keys (docs/operations.md).
    Rotate {
        /// A new key file (made, 0600, with a random key when it does not exist) whose
        /// key seals from now on; the server's keys still open what they sealed.
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct BackupArgs {
    /// The copy to write (a new file; see --force).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// Server keys and where they came from (a path or the variable; never the keys).
pub struct Keys {
    pub secrets: SecretBox,
    pub source: String,
}

/// What [`load`] does when no key is configured and the data directory has no key file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Make one (a server, or a command that seals, on first use).
    Make,
    /// Say so (commands that only read or re-seal what exists).
    Refuse,
}

/// The server keys: `$LAER_SECRET_KEY`, else the key file given (`--secret-key-file`,
/// `$LAER_SECRET_KEY_FILE`), else `secret.key` in the data directory, made (0600, in a
/// 0700 directory) with a new random key when it does not exist and `missing` says so.
pub fn load(key_file: Option<&Path>, data_dir: impl FnOnce() -> Result<PathBuf>, missing: Missing) -> Result<Keys> {
    if let Some(text) = std::env::var(KEY_VARIABLE).ok().filter(|t| !t.trim().is_empty()) {
        if key_file.is_some() {
            bail!("both {KEY_VARIABLE} and a key file are given: keep one of them");
        }
        let secrets = SecretBox::from_text(&text).context(KEY_VARIABLE)?;
        return Ok(Keys {
            secrets,
            source: KEY_VARIABLE.into(),
        });
    }
    let path = match key_file {
        Some(path) => path.to_path_buf(),
        None => {
            let path = data_dir()?.join(DEFAULT_KEY_FILE);
            if !path.exists() {
                if missing == Missing::Refuse {
                    bail!(
                        "no server key: none configured ({KEY_VARIABLE}, --secret-key-file or LAER_SECRET_KEY_FILE) \
                         and no {} yet (laer makes it when it first seals a secret)",
                        path.display()
                    );
                }
                create_key_file(&path)?;
                tracing::info!(
                    path = %path.display(),
                    "made a new server key for stored secrets; back it up apart from the database"
                );
            }
            path
        }
    };
    read_key_file(&path)
}

fn read_key_file(path: &Path) -> Result<Keys> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the server key file {}", path.display()))?;
    if laer_store::readable_by_others(path).ok().flatten() == Some(true) {
        tracing::warn!(
            path = %path.display(),
            "the server key file is readable by other users: chmod 600 it"
        );
    }
    let secrets = SecretBox::from_text(&text).with_context(|| format!("the server key file {}", path.display()))?;
    Ok(Keys {
        secrets,
        source: path.display().to_string(),
    })
}

/// Writes a new key to `path` (which must not exist), 0600, in a 0700 directory.
fn create_key_file(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        laer_store::create_private_dir(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let key = SecretBox::generate_key()?;
    let mut file = laer_store::create_private_file(path)
        .with_context(|| format!("cannot create the key file {}", path.display()))?;
    writeln!(
        file,
        "# laer's server key: seals the webhook secrets (and connector keys) stored in the database.\n\
         # Keep it apart from database backups. docs/operations.md, \"Secrets at rest\".\n{key}"
    )
    .and_then(|()| file.sync_all())
    .with_context(|| format!("cannot write the key file {}", path.display()))?;
    Ok(())
}

/// The keys of a server about to use stored secrets, checked against the database and
/// with any plaintext secret from before sealing sealed (`Store::prepare_secrets`).
pub async fn prepare(store: &Store, keys: Keys) -> Result<SecretBox> {
    let prepared = store
        .prepare_secrets(&keys.secrets)
        .await
        .with_context(|| format!("with the server keys of {}", keys.source))?;
    if prepared.sealed_now > 0 {
        tracing::info!(
            secrets = prepared.sealed_now,
            "sealed secrets stored before sealing existed"
        );
    }
    if prepared.database_key != keys.secrets.sealing_key_id() {
        tracing::warn!(
            database_key = %prepared.database_key,
            this_key = %keys.secrets.sealing_key_id(),
            "this server seals with a key other than the database's (it has both): a rotation is under way; \
             finish it as docs/operations.md, \"Rotation\", says"
        );
    }
    Ok(keys.secrets)
}

pub async fn secrets(
    store: &Store,
    command: SecretsCommand,
    key_file: Option<&Path>,
    data_dir: impl FnOnce() -> Result<PathBuf>,
) -> Result<()> {
    match command {
        SecretsCommand::Status { json } => {
            let keys = load(key_file, data_dir, Missing::Refuse)?;
            let status = store.secrets_status().await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "server_keys": keys.secrets.key_ids(),
                        "source": keys.source,
                        "database_key": status.database_key,
                        "sealed": status.sealed.iter().map(|(k, n)| serde_json::json!({"key_id": k, "secrets": n})).collect::<Vec<_>>(),
                        "plaintext": status.plaintext,
                    })
                );
            } else {
                println!(
                    "server keys: {} (from {}; the first seals)",
                    keys.secrets.key_ids().join(", "),
                    keys.source
                );
                println!(
                    "database key: {}",
                    status
                        .database_key
                        .as_deref()
                        .unwrap_or("none yet (no server has started)")
                );
                for (key, count) in &status.sealed {
                    println!("secrets sealed with {key}: {count}");
                }
                println!("secrets not sealed yet: {}", status.plaintext);
            }
        }
        SecretsCommand::Rotate { new_key_file } => {
            let current = load(key_file, data_dir, Missing::Refuse)?;
            let (rotating, sources) = match &new_key_file {
                Some(path) => {
                    if !path.exists() {
                        create_key_file(path)?;
                    }
                    let new = read_key_file(path)?;
                    let sources = format!("{} and {}", current.source, new.source);
                    (current.secrets.rotated_to(&new.secrets), sources)
                }
                None => (current.secrets.clone(), current.source.clone()),
            };
            let count = store
                .reseal_secrets(&rotating, &crate::cli_actor())
                .await
                .with_context(|| format!("with the server keys of {sources}"))?;
            println!(
                "re-sealed {count} secrets with the key {}; it is the database's key now.",
                rotating.sealing_key_id()
            );
            if let Some(path) = &new_key_file {
                println!(
                    "Now give every node that key first (LAER_SECRET_KEY_FILE={}, or its line first in {}) and \
                     restart it; a node that lacks it cannot sign webhooks until then (docs/operations.md).",
                    path.display(),
                    current.source
                );
            }
        }
    }
    Ok(())
}

/// `laer backup FILE`: an online copy of an SQLite database.
pub async fn backup(store: &Store, args: BackupArgs) -> Result<()> {
    if store.backend() == laer_store::Backend::Postgres {
        bail!(
            "laer backup copies an SQLite database; this one is PostgreSQL. Back it up with PostgreSQL's tools: \
             `pg_dump --format=custom --file=laer.dump DATABASE_URL`, restored with pg_restore; for \
             point-in-time recovery, WAL archiving and base backups (docs/operations.md, \"Backups\")"
        );
    }
    store.backup_to(&args.file, args.force).await?;
    println!(
        "copied the database to {} (restore: docs/operations.md, \"Backups\")",
        args.file.display()
    );
    Ok(())
}
