//! Conversions between domain values and their stored form.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
pub(crate) use vigilo_storage::codec::{paging, parse_enum, parse_json, to_json};
use vigilo_storage::{Result, StorageError};

pub(crate) const MICROS_PER_MINUTE: i64 = 60_000_000;

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Epoch seconds of the start of the minute holding `t`.
pub(crate) fn minute_of(t_micros: i64) -> i64 {
    t_micros.div_euclid(MICROS_PER_MINUTE) * 60
}

pub(crate) fn time_from_micros(v: i64, column: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StorageError::Corrupt(format!("{column}: timestamp {v} is out of range")))
}

pub(crate) fn time_from_secs(v: i64, column: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(v, 0)
        .ok_or_else(|| StorageError::Corrupt(format!("{column}: time {v} is out of range")))
}

/// Read a column, turning a type mismatch into [`StorageError::Corrupt`].
pub(crate) fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| StorageError::Corrupt(format!("column {name}: {e}")))
}

pub(crate) fn time_col(row: &SqliteRow, name: &str) -> Result<DateTime<Utc>> {
    time_from_micros(col(row, name)?, name)
}

pub(crate) fn count_col(row: &SqliteRow, name: &str) -> Result<u64> {
    vigilo_storage::codec::to_count(col(row, name)?, name)
}

/// A `LIKE` pattern matching `q` anywhere, with `\` as the escape.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Column access shared by the read path's sqlx rows and the write path's
/// rusqlite rows, so each table has one decoder.
pub(crate) trait Cols {
    fn int(&self, name: &str) -> Result<i64>;
    fn text(&self, name: &str) -> Result<&str>;
    fn opt_text(&self, name: &str) -> Result<Option<&str>>;

    fn time(&self, name: &str) -> Result<DateTime<Utc>> {
        time_from_micros(self.int(name)?, name)
    }
}

impl Cols for SqliteRow {
    fn int(&self, name: &str) -> Result<i64> {
        col(self, name)
    }
    fn text(&self, name: &str) -> Result<&str> {
        col(self, name)
    }
    fn opt_text(&self, name: &str) -> Result<Option<&str>> {
        col(self, name)
    }
}

fn mismatch(name: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("column {name}: {e}"))
}

fn raw_col<'a>(row: &'a rusqlite::Row<'_>, name: &str) -> Result<rusqlite::types::ValueRef<'a>> {
    row.get_ref(name).map_err(|e| mismatch(name, e))
}

impl Cols for rusqlite::Row<'_> {
    fn int(&self, name: &str) -> Result<i64> {
        raw_col(self, name)?.as_i64().map_err(|e| mismatch(name, e))
    }
    fn text(&self, name: &str) -> Result<&str> {
        raw_col(self, name)?.as_str().map_err(|e| mismatch(name, e))
    }
    fn opt_text(&self, name: &str) -> Result<Option<&str>> {
        raw_col(self, name)?
            .as_str_or_null()
            .map_err(|e| mismatch(name, e))
    }
}
