use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("cannot create the database file {path}: {source}")]
    CreateFile { path: String, source: std::io::Error },
    #[error("cannot write the backup {path}: {source}")]
    BackupFile { path: String, source: std::io::Error },
    #[error("{path} exists already: choose another file, or replace it with --force")]
    BackupExists { path: String },
    #[error(
        "laer backup copies an SQLite database; this one is PostgreSQL: back it up with pg_dump \
         (see docs/operations.md, \"Backups\")"
    )]
    BackupNotSqlite,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// An error of a bulk write run straight on SQLite's connection (`execute_each`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the ingest writer has stopped")]
    WriterGone,
    /// A stored value that cannot be read as what its column holds: never replaced by a
    /// default, always this error.
    #[error("stored data is corrupt: {table}.{column}: {reason}")]
    Unreadable {
        table: &'static str,
        column: &'static str,
        /// What was found and, where known, in which row.
        reason: String,
    },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("no randomness from the operating system: {0}")]
    Randomness(getrandom::Error),
    /// An edit made to an older version of a record than the stored one: refused, so that
    /// no one's change is silently overwritten. Editable records carry a `version` that
    /// every update checks (`... WHERE id = $1 AND version = $2`) and increments.
    #[error("{what} was changed by someone else since you opened it; reload it and make your change again")]
    Stale { what: String },
    /// A value a rule of the store refuses (a duplicate email at the same account, ...),
    /// naming the field, so that a form or an API answer can point at it.
    #[error("{field}: {message}")]
    Refused { field: String, message: String },
    #[error("{0}")]
    Invalid(String),
    /// The database holds secrets sealed with keys this server does not have.
    #[error(
        "the database's secrets are sealed with the server key {missing}, which this server's keys ({known}) do not \
         include: give every node the same key file (LAER_SECRET_KEY_FILE), or finish a rotation with the old key \
         still listed (see docs/operations.md, \"Secrets at rest\")"
    )]
    MissingSecretKeys { missing: String, known: String },
    /// A stored secret that does not open (never quoting it).
    #[error("{what}: {source}")]
    Secret {
        what: String,
        #[source]
        source: crate::SecretError,
    },
}

impl StoreError {
    /// A transaction PostgreSQL ended to break a deadlock (40P01) or a serialization
    /// conflict (40001): nothing of it was written, and running it again is the
    /// documented remedy.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => matches!(e.code().as_deref(), Some("40P01" | "40001")),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;
    use crate::exec::params;

    /// Two transactions that lock two rows in turn, in opposite orders: PostgreSQL ends
    /// one of them, and that error reads as transient (to be run again).
    #[tokio::test]
    async fn a_deadlock_is_transient() {
        let Some(db) = crate::test_support::TestDatabase::new(crate::Backend::Postgres).await else {
            return;
        };
        let store = &db.store;
        store
            .execute(
                "INSERT INTO settings (name, body, updated_at, updated_by) VALUES ('a', '', 0, 't'), ('b', '', 0, 't')",
                params![],
            )
            .await
            .unwrap();
        let mut one = store.begin_write().await.unwrap();
        let mut two = store.begin_write().await.unwrap();
        let set = "UPDATE settings SET body = 'x' WHERE name = $1";
        one.execute(set, params!["a"]).await.unwrap();
        two.execute(set, params!["b"]).await.unwrap();
        let (first, second) = tokio::join!(one.execute(set, params!["b"]), two.execute(set, params!["a"]));
        let ended = first.err().or(second.err()).expect("PostgreSQL ends one of them");
        assert!(ended.is_transient(), "{ended}");
        assert!(!StoreError::NotFound("x".into()).is_transient());
        drop((one, two));
        db.store.close().await;
    }
}
