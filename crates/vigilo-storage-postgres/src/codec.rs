//! Conversions between domain values and their stored form, and the
//! helpers every module shares.

use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
pub(crate) use vigilo_storage::codec::{paging, parse_enum, parse_json, to_count, to_json};
use vigilo_storage::{Result, StorageError};

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

/// A JSONB column read as text (`col::text`) into a value.
pub(crate) fn json_col(row: &PgRow, name: &str) -> Result<serde_json::Value> {
    let text: String = col(row, name)?;
    parse_json(&text, name)
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
