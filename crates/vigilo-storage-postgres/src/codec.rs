//! Conversions between domain values and their stored form, and the
//! helpers every module shares.

use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
use vigilo_storage::{MAX_PAGE_SIZE, Result, StorageError};

/// Map a database error to a [`StorageError`] that says what was being done.
pub(crate) fn db_err<E: std::fmt::Display>(
    context: &'static str,
) -> impl FnOnce(E) -> StorageError {
    move |e| StorageError::Database(format!("{context}: {e}"))
}

/// Read a column, turning a type mismatch into [`StorageError::Corrupt`].
pub(crate) fn col<'r, T>(row: &'r PgRow, name: &str) -> Result<T>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(name)
        .map_err(|e| StorageError::Corrupt(format!("column {name}: {e}")))
}

/// A non-negative BIGINT column as a count.
pub(crate) fn count_col(row: &PgRow, name: &str) -> Result<u64> {
    let v: i64 = col(row, name)?;
    to_count(v, name)
}

pub(crate) fn to_count(v: i64, name: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("{name}: negative count {v}")))
}

pub(crate) fn parse_enum<T: std::str::FromStr>(v: &str, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    v.parse()
        .map_err(|e| StorageError::Corrupt(format!("{column}: {e}")))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(v: &str, column: &str) -> Result<T> {
    serde_json::from_str(v)
        .map_err(|e| StorageError::Corrupt(format!("{column}: invalid JSON: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T, what: &str) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| StorageError::Database(format!("cannot serialize {what}: {e}")))
}

/// A JSONB column read as text (`col::text`) into a value.
pub(crate) fn json_col(row: &PgRow, name: &str) -> Result<serde_json::Value> {
    let text: String = col(row, name)?;
    parse_json(&text, name)
}

/// Effective (page, page_size, offset): page is 1-based (0 means 1), the
/// size is capped at [`MAX_PAGE_SIZE`] (0 means 1).
pub(crate) fn paging(page: u32, page_size: u32) -> (u32, u32, i64) {
    let page = page.max(1);
    let size = page_size.clamp(1, MAX_PAGE_SIZE);
    (page, size, (i64::from(page) - 1) * i64::from(size))
}

/// An `ILIKE` pattern matching `q` anywhere, with `\` as the escape.
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

/// A read-only transaction on one snapshot, for reads of several
/// statements (a page and its total) that must agree.
pub(crate) async fn snapshot(pool: &sqlx::PgPool) -> Result<sqlx::Transaction<'static, Postgres>> {
    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(db_err("begin read"))
}
