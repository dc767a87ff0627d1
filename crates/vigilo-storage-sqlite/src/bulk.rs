//! The event insert loop, run directly on the write connection's SQLite
//! handle: one prepared single-row statement stepped once per event with
//! borrowed (not copied) text. Compared with sqlx's multi-row `VALUES`, this
//! avoids a round trip to the connection's worker thread per statement, the
//! copy of every bound value, and the statement journal SQLite keeps for
//! multi-row statements.

use std::ffi::{CStr, c_char, c_int};
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;

/// One row of `events`.
pub(crate) struct EventRow<'a> {
    pub id: i64,
    pub ts: i64,
    pub received_at: i64,
    pub kind: &'a str,
    pub service: Option<&'a str>,
    pub user: Option<&'a str>,
    pub payload: &'a str,
    /// Row of `logsources`.
    pub logsource: i64,
}

const INSERT: &CStr =
    c"INSERT INTO events (id, ts, received_at, kind, service, user, payload, logsource) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Finalizes the statement however the loop ends.
struct Stmt(*mut ffi::sqlite3_stmt);

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful prepare and is
        // finalized exactly once, here.
        unsafe {
            ffi::sqlite3_finalize(self.0);
        }
    }
}

fn errmsg(db: *mut ffi::sqlite3) -> String {
    // SAFETY: `db` is a valid open connection; sqlite3_errmsg returns a
    // NUL-terminated string owned by SQLite, copied out at once.
    unsafe {
        let p = ffi::sqlite3_errmsg(db);
        if p.is_null() {
            "unknown sqlite error".to_string()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// Insert `rows` inside the transaction already open on `db`.
///
/// # Safety
/// `db` must be a valid connection handle that nothing else uses for the
/// duration of the call (sqlx's `LockedSqliteHandle` guarantees both).
pub(crate) unsafe fn insert_events<'a>(
    db: NonNull<ffi::sqlite3>,
    rows: impl Iterator<Item = EventRow<'a>>,
) -> Result<(), String> {
    let db = db.as_ptr();
    let mut raw = ptr::null_mut();
    // SAFETY: valid handle; the SQL is a NUL-terminated constant.
    let rc = unsafe { ffi::sqlite3_prepare_v2(db, INSERT.as_ptr(), -1, &mut raw, ptr::null_mut()) };
    if rc != ffi::SQLITE_OK || raw.is_null() {
        return Err(errmsg(db));
    }
    let stmt = Stmt(raw);
    for row in rows {
        // SAFETY: `stmt` is a live prepared statement with eight
        // parameters. Text is bound SQLITE_STATIC: the borrowed strings
        // outlive the step that reads them, and every parameter is rebound
        // before the next step.
        unsafe {
            let mut rc = ffi::sqlite3_bind_int64(stmt.0, 1, row.id);
            rc |= ffi::sqlite3_bind_int64(stmt.0, 2, row.ts);
            rc |= ffi::sqlite3_bind_int64(stmt.0, 3, row.received_at);
            rc |= bind_text(stmt.0, 4, Some(row.kind))?;
            rc |= bind_text(stmt.0, 5, row.service)?;
            rc |= bind_text(stmt.0, 6, row.user)?;
            rc |= bind_text(stmt.0, 7, Some(row.payload))?;
            rc |= ffi::sqlite3_bind_int64(stmt.0, 8, row.logsource);
            if rc != ffi::SQLITE_OK {
                return Err(errmsg(db));
            }
            let rc = ffi::sqlite3_step(stmt.0);
            if rc != ffi::SQLITE_DONE {
                let msg = errmsg(db);
                ffi::sqlite3_reset(stmt.0);
                return Err(msg);
            }
            ffi::sqlite3_reset(stmt.0);
        }
    }
    Ok(())
}

/// # Safety
/// `stmt` must be a live statement with a parameter at `idx`; `text` must
/// stay valid until the statement is stepped and reset.
unsafe fn bind_text(
    stmt: *mut ffi::sqlite3_stmt,
    idx: c_int,
    text: Option<&str>,
) -> Result<c_int, String> {
    match text {
        // SAFETY: per the function's contract.
        None => Ok(unsafe { ffi::sqlite3_bind_null(stmt, idx) }),
        Some(s) => {
            let len = c_int::try_from(s.len())
                .map_err(|_| format!("value of {} bytes is too large", s.len()))?;
            // SAFETY: per the function's contract; SQLITE_STATIC means
            // SQLite does not copy or free the buffer.
            Ok(unsafe {
                ffi::sqlite3_bind_text(
                    stmt,
                    idx,
                    s.as_ptr() as *const c_char,
                    len,
                    ffi::SQLITE_STATIC(),
                )
            })
        }
    }
}
