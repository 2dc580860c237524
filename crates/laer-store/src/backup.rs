//! Online backups of an SQLite database (`laer backup`, docs/operations.md#backups).

use std::path::{Path, PathBuf};

use crate::{Pool, Store, StoreError};

impl Store {
    /// Copies the SQLite database to `target` while laer keeps serving, reading and
    /// writing: `VACUUM INTO` reads one snapshot (every transaction committed when the
    /// copy starts, none after) in a read transaction of its own, which WAL mode lets
    /// writers commit beside. The copy is written beside `target` under a temporary name,
    /// readable by laer's user alone (0600), synced, and then moved to `target`, so
    /// `target` is never a partial copy. An existing `target` is refused unless
    /// `replace`. PostgreSQL databases are refused: pg_dump backs them up.
    pub async fn backup_to(&self, target: &Path, replace: bool) -> Result<(), StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(StoreError::BackupNotSqlite);
        };
        let file_error = |path: &Path| {
            let path = path.display().to_string();
            move |source| StoreError::BackupFile { path, source }
        };
        let exists = |path: &Path| StoreError::BackupExists {
            path: path.display().to_string(),
        };
        if !replace && target.exists() {
            return Err(exists(target));
        }
        let partial = partial_name(target)?;
        crate::files::create_private_file(&partial).map_err(file_error(&partial))?;
        let copied = async {
            // The output must be new or empty: it is the empty file made above.
            sqlx::query("VACUUM INTO $1")
                .bind(partial.display().to_string())
                .execute(pool)
                .await?;
            std::fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(file_error(&partial))?;
            if !replace && target.exists() {
                return Err(exists(target));
            }
            std::fs::rename(&partial, target).map_err(file_error(target))?;
            // The rename itself survives a crash once the directory is synced.
            #[cfg(unix)]
            if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(file_error(dir))?;
            }
            Ok(())
        }
        .await;
        if copied.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        copied
    }
}

/// `target` with `.partial-RANDOM` appended, in the same directory (so moving it to
/// `target` is a rename).
fn partial_name(target: &Path) -> Result<PathBuf, StoreError> {
    let mut name = target.as_os_str().to_owned();
    name.push(format!(".partial-{}", &crate::random_id()?[..8]));
    Ok(PathBuf::from(name))
}
