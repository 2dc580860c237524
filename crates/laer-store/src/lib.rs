//! laer's persistence: one [`Store`] over SQLite (the embedded default) or PostgreSQL.
//!
//! Everything above this crate uses the same methods whichever backend runs. Every
//! statement runs through one executor (`exec.rs`), on the pool or in a [`WriteTx`],
//! with `$N` placeholders that both engines read; SQL differs between the backends
//! only where the engines do, and each such branch says why.

mod access;
mod account_view;
mod audit;
mod automation;
mod backup;
mod calendars;
mod changes;
mod chat;
mod decode;
mod delivery;
mod demo_oracle;
mod error;
mod exchange_rates;
mod exec;
mod files;
mod handoff_notes;
mod health;
mod imports;
mod ingest;
mod kept_records;
mod lease;
mod login_safety;
mod logins;
mod past_phases;
mod people;
mod plans;
mod postgres;
mod read;
mod record_keys;
mod records;
mod renewal_calls;
mod secrets;
mod singer;
mod singer_syncs;
mod sql;
mod sqlite;
mod sso;
mod stripe;
mod stripe_connection;
mod tables;
mod touchpoints;
mod views;
mod write;

#[cfg(feature = "test-support")]
pub mod test_support;

use std::path::{Path, PathBuf};

use sqlx::{PgPool, SqlitePool};

pub use access::{ApiToken, LoginCandidate, NewSession, SESSION_HOURS, Session, TokenHolder, User};
pub use account_view::{
    ACTIVITY_WINDOWS, AccountView, CaseRow, ContactRow, DepartmentUsers, FEATURE_DAYS, FeatureUse, OutcomeRow,
    SurveyRow, WindowCount,
};
pub use audit::{AuditCursor, AuditFilter, AuditRow};
pub use automation::{
    AccountPlan, AutomationOutcome, CoverageRow, CoverageState, HANDOFF, PlannedChange, PlaybookCounts, RunRow,
    Setting, TaskChange, TaskComment, TaskFilter, TaskRow,
};
pub use calendars::{
    CALENDAR_EVERY_MINUTES, CalendarClaim, CalendarConnection, CalendarEnd, CalendarWrite, NewCalendar,
};
pub use changes::{CHANGES_KEPT, CHANGES_LISTED, Changes, Listed};
pub use chat::{ChatHook, DigestDue, MAX_CHAT_HOOK_NAME, NewChatHook, check_hook_name, digest_key};
pub use delivery::{Delivery, DeliveryOutcome, DeliveryRow, EVENT_TYPES, Target, Webhook};
pub use error::StoreError;
pub use files::{create_private_dir, create_private_file, readable_by_others};
pub use handoff_notes::{HandoffNote, MAX_HANDOFF_NOTE_CHARS};
pub use health::{Accounts, HEALTH_CLAIM_LEASE, HealthClaim, HealthDay, HealthRow, PhaseOverride, Validation};
pub use imports::{ImportRun, NewImportRun, RunOutcome, RunProgress, UPLOAD_CHUNK_BYTES, UPLOAD_KEPT_HOURS, Upload};
pub use ingest::{IngestOutcome, WriteKey, random_id};
pub use kept_records::KeptRecords;
pub use login_safety::ThrottleKey;
pub use logins::{LinkEmail, LinkHolder, LinkKind, NewInvite, NewLink, PendingLink, Person, new_link_token};
pub use past_phases::{KeptPhases, PhasesToken, StalePhases};
pub use people::{Contact, CustomerWrite, Measurement, Outcome, RateLimit, SharedPlan, Written, new_external_id};
pub use plans::{MAX_OBJECTIVE_CHARS, MilestoneChange, ShareLink};
pub use read::{AccountName, AccountPage, FeatureDay, StoredEvent, TeamRow};
pub use record_keys::{KeyPart, accounts_of};
pub use records::{AccountTaskComment, CreatedRecord, LineChange, OnExisting, VersionedCase, VersionedLine};
pub use renewal_calls::MAX_CALL_REASON_CHARS;
pub use secrets::{PreparedSecrets, Sealed, SecretBox, SecretError, SecretKeyError, SecretsStatus, StoredSecret};
pub use singer_syncs::{NewSync, RunEnd, SingerSync, SyncClaim, SyncRun};
pub use sql::Table;
pub use sso::{SsoIdentity, SsoLogin};
pub use stripe::{STRIPE_LINE_PREFIX, StripeCustomerLink, StripeInvoiceRow, StripeState};
pub use stripe_connection::{NewStripeConnection, StripeConnection, StripeSync, StripeSyncClaim};
pub use tables::{Stored, TableRow};
pub use touchpoints::{ContactChoice, Named, Touchpoint, TouchpointChoices};
pub use views::{MAX_VIEW_NAME_CHARS, MAX_VIEW_QUERY_CHARS, MAX_VIEWS, SavedView};
pub use write::{EventLoad, IdLookup, WriteCount, WriteTx};

/// Something just created with its secret (a write key, an API token, a share link's
/// token, a webhook's signing secret): the secret is shown only now; the store keeps it
/// only as a hash, or sealed with the server key (`secrets.rs`) for signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created<T> {
    pub record: T,
    pub secret: String,
}

/// Which database engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to laer's database, migrated to the current schema.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// SQLite writes one transaction at a time; this process's writers wait their turn
    /// here, for a connection of their own, which readers never hold up.
    sqlite_writer: sqlite::WriterTurn,
    ingest_queue: ingest::IngestQueue,
    /// SQLite: the progress of imports running in this process (`imports.rs`).
    live_runs: imports::LiveRuns,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH` or `postgres://...`), creating an
    /// SQLite file and its directory when missing, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let sqlite_writer: sqlite::WriterTurn = Default::default();
        let pool = if let Some(path) = sqlite_path(url) {
            sqlite::create_files(&path)?;
            let pool = sqlite::connect(&path, sqlite::READ_CONNECTIONS).await?;
            *sqlite_writer.lock().await = Some(sqlite::connect(&path, 1).await?);
            tokio::spawn(sqlite::checkpoint_in_background(
                pool.clone(),
                sqlite_writer.clone(),
                std::time::Duration::from_secs(1),
                sqlite::WAL_FRAMES_BEFORE_TRUNCATE,
            ));
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(postgres::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        let store = Store {
            pool,
            sqlite_writer,
            ingest_queue: Default::default(),
            live_runs: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Closes every connection; an SQLite file is checkpointed.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => {
                if let Some(writer) = self.sqlite_writer.lock().await.as_ref() {
                    writer.close().await;
                }
                pool.close().await
            }
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// The file path of an `sqlite:` URL, or `None` for another scheme.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    Some(Path::new(path).to_path_buf())
}

/// The URL with any password replaced, for error messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(sqlite_path("sqlite:///tmp/a.db"), Some(PathBuf::from("/tmp/a.db")));
        assert_eq!(sqlite_path("sqlite://data/a.db"), Some(PathBuf::from("data/a.db")));
        assert_eq!(sqlite_path("sqlite:a.db?mode=rwc"), Some(PathBuf::from("a.db")));
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://laer:secret@db:5432/laer"),
            "postgres://laer:***@db:5432/laer"
        );
        assert_eq!(redact("postgres://db/laer"), "postgres://db/laer");
    }
}
