//! A statement of a bulk write on SQLite, prepared and run through SQLite's own calls
//! on the connection sqlx lends ([`super::write_chunk`]).
//!
//! rusqlite binds every text as `SQLITE_TRANSIENT`: SQLite copies it into memory of its
//! own, and frees that again when the parameter is bound next. Rows of a bulk write
//! live longer than the statement's run, so a text they lend (a [`Cow::Borrowed`]
//! value) is bound as `SQLITE_STATIC` instead and read in place; only a value made for
//! the call (an owned text, a date written out) is copied. On the book's crm5 events
//! the copies and their frees were about a tenth of the writer's work.
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ffi::{CStr, c_int};
use std::ptr::NonNull;

use rusqlite::ffi;

use super::Value;
use crate::StoreError;

/// A prepared statement, finalized when it drops. It must not outlive the connection
/// it was prepared on, nor run while another thread uses that connection: the caller
/// holds sqlx's lock on the connection for the statement's whole life.
pub(super) struct Statement<'r> {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
    /// Texts and blobs bound in place borrow from rows that live for `'r`.
    rows: std::marker::PhantomData<&'r ()>,
}

impl<'r> Statement<'r> {
    /// Prepares `sql` (one statement, `?` placeholders) on connection `db`.
    pub(super) fn prepare(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<Self, StoreError> {
        let length = c_int::try_from(sql.len())
            .map_err(|_| StoreError::Corrupt(format!("a statement of {} bytes is too long for SQLite", sql.len())))?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `sql` is valid for `length` bytes (SQLite reads no further, nor needs a
        // NUL); `db` is an open connection the caller holds.
        let code = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr().cast(),
                length,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if code != ffi::SQLITE_OK {
            return Err(failure(db, code));
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| StoreError::Corrupt("an empty statement".to_string()))?;
        Ok(Statement {
            db,
            stmt,
            rows: std::marker::PhantomData,
        })
    }

    /// Binds `value` to parameter `at` (from 1). A text or blob it borrows for `'r` is
    /// read in place when the statement runs.
    pub(super) fn bind(&mut self, at: usize, value: &Value<'r>) -> Result<(), StoreError> {
        let at = c_int::try_from(at).map_err(|_| StoreError::Corrupt(format!("parameter {at} of a statement")))?;
        let stmt = self.stmt.as_ptr();
        // SAFETY: `stmt` is a live statement. A text or blob bound `SQLITE_STATIC` is
        // borrowed for `'r`, which outlives this statement (`Statement<'r>`): SQLite reads
        // it while the statement runs, at the latest until it is finalized. Others are
        // copied (`SQLITE_TRANSIENT`) before the call returns.
        let code = unsafe {
            match value {
                Value::Int(Some(v)) => ffi::sqlite3_bind_int64(stmt, at, *v),
                Value::Float(Some(v)) => ffi::sqlite3_bind_double(stmt, at, *v),
                Value::Text(Some(text)) => {
                    let (ptr, len, keep) = match text {
                        Cow::Borrowed(t) => (t.as_ptr(), t.len(), ffi::SQLITE_STATIC()),
                        Cow::Owned(t) => (t.as_ptr(), t.len(), ffi::SQLITE_TRANSIENT()),
                    };
                    ffi::sqlite3_bind_text64(stmt, at, ptr.cast(), len as u64, keep, ffi::SQLITE_UTF8 as u8)
                }
                // As sqlx writes a date on SQLite: ISO 8601 text.
                Value::Date(Some(day)) => {
                    let text = day.format("%F").to_string();
                    ffi::sqlite3_bind_text64(
                        stmt,
                        at,
                        text.as_ptr().cast(),
                        text.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                        ffi::SQLITE_UTF8 as u8,
                    )
                }
                Value::Bytes(Some(bytes)) => {
                    let (ptr, len, keep) = match bytes {
                        Cow::Borrowed(b) => (b.as_ptr(), b.len(), ffi::SQLITE_STATIC()),
                        Cow::Owned(b) => (b.as_ptr(), b.len(), ffi::SQLITE_TRANSIENT()),
                    };
                    ffi::sqlite3_bind_blob64(stmt, at, ptr.cast(), len as u64, keep)
                }
                Value::Int(None) | Value::Float(None) | Value::Text(None) | Value::Date(None) | Value::Bytes(None) => {
                    ffi::sqlite3_bind_null(stmt, at)
                }
            }
        };
        if code == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(failure(self.db, code))
        }
    }

    /// Runs the statement with the values bound, and makes it ready to run again: the
    /// rows it changed. A failed statement changes nothing (SQLite undoes it).
    pub(super) fn execute(&mut self) -> Result<usize, StoreError> {
        // SAFETY: `stmt` is a live statement of `db`, which no other thread uses meanwhile.
        let (stepped, reset) = unsafe {
            let stepped = ffi::sqlite3_step(self.stmt.as_ptr());
            let error = (stepped != ffi::SQLITE_DONE).then(|| failure(self.db, stepped));
            (error, ffi::sqlite3_reset(self.stmt.as_ptr()))
        };
        if let Some(error) = stepped {
            return Err(error);
        }
        if reset != ffi::SQLITE_OK {
            return Err(failure(self.db, reset));
        }
        // SAFETY: as above.
        let changes = unsafe { ffi::sqlite3_changes64(self.db.as_ptr()) };
        Ok(usize::try_from(changes).unwrap_or(0))
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // SAFETY: `stmt` is live and finalized once; its connection is still open.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The error SQLite gives for result `code` of a call on `db`, with its message, as
/// rusqlite reports one (so a constraint failure is recognised the same way).
fn failure(db: NonNull<ffi::sqlite3>, code: c_int) -> StoreError {
    if code == ffi::SQLITE_ROW {
        return StoreError::Sqlite(rusqlite::Error::ExecuteReturnedResults);
    }
    // SAFETY: `db` is open; the message is copied before any other call on it.
    let message = unsafe {
        let text = ffi::sqlite3_errmsg(db.as_ptr());
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    StoreError::Sqlite(rusqlite::Error::SqliteFailure(ffi::Error::new(code), message))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn connection() -> rusqlite::Connection {
        let connection = rusqlite::Connection::open_in_memory().expect("an in-memory database");
        connection
            .execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c REAL, d TEXT, e BLOB)")
            .expect("a table");
        connection
    }

    /// A row of `t`: (a, b, c, d, e).
    type Stored = (i64, Option<String>, Option<f64>, Option<String>, Option<Vec<u8>>);

    fn rows(connection: &rusqlite::Connection) -> Vec<Stored> {
        let mut read = connection
            .prepare("SELECT a, b, c, d, e FROM t ORDER BY a")
            .expect("a query");
        read.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows read")
    }

    #[test]
    fn values_borrowed_or_owned_are_stored_as_bound_and_a_conflict_changes_nothing() {
        let connection = connection();
        // SAFETY: the connection outlives the statement, and this thread alone uses it.
        let db = NonNull::new(unsafe { connection.handle() }).expect("a handle");
        let borrowed = String::from("lent by the row");
        let blob = vec![0_u8, 1, 2];
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).expect("a date");
        let mut statement =
            Statement::prepare(db, "INSERT INTO t VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)").expect("prepared");
        let first = [
            Value::from(1_i64),
            Value::from(&borrowed),
            Value::from(2.5),
            Value::from(day),
            Value::from(blob.as_slice()),
        ];
        for (at, value) in first.iter().enumerate() {
            statement.bind(at + 1, value).expect("bound");
        }
        {
            // Made for the call and gone before the statement runs: copied when bound.
            let second = [
                Value::from(2_i64),
                Value::from(String::from("made for the call")),
                Value::Float(None),
                Value::Date(None),
                Value::Bytes(Some(Cow::Owned(vec![9_u8; 40]))),
            ];
            for (at, value) in second.iter().enumerate() {
                statement.bind(at + 6, value).expect("bound");
            }
        }
        assert_eq!(statement.execute().expect("inserted"), 2);
        let stored = vec![
            (
                1,
                Some(borrowed.clone()),
                Some(2.5),
                Some("2026-12-07".to_string()),
                Some(blob.clone()),
            ),
            (
                2,
                Some("made for the call".to_string()),
                None,
                None,
                Some(vec![9_u8; 40]),
            ),
        ];
        assert_eq!(rows(&connection), stored);

        // The same rows again: the key is taken, and the statement changes nothing.
        match statement.execute() {
            Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, Some(message)))) => {
                assert_eq!(e.code, rusqlite::ErrorCode::ConstraintViolation);
                assert!(message.contains("UNIQUE constraint failed: t.a"), "{message}");
            }
            other => panic!("expected a constraint failure, got {other:?}"),
        }
        assert_eq!(rows(&connection), stored);

        // Ready to run again with values bound anew.
        statement.bind(1, &Value::from(3_i64)).expect("bound");
        statement.bind(6, &Value::from(4_i64)).expect("bound");
        assert_eq!(statement.execute().expect("inserted"), 2);
        assert_eq!(rows(&connection).len(), 4);
        assert!(matches!(
            statement.bind(11, &Value::from(1_i64)),
            Err(StoreError::Sqlite(_))
        ));
        drop(statement);
        assert!(Statement::prepare(db, "INSERT INTO missing VALUES (?)").is_err());
    }
}
