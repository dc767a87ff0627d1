//! Helpers every backend shares to turn stored values back into domain
//! values (and a bad stored value into [`StorageError::Corrupt`]), and the
//! paging and pattern rules of the list queries.

use crate::{MAX_PAGE_SIZE, Result, StorageError};

/// A stored count, which is never negative.
pub fn to_count(v: i64, name: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("{name}: negative count {v}")))
}

/// A stored enum name, parsed.
pub fn parse_enum<T: std::str::FromStr>(v: &str, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    v.parse()
        .map_err(|e| StorageError::Corrupt(format!("{column}: {e}")))
}

/// A stored JSON document, parsed.
pub fn parse_json<T: serde::de::DeserializeOwned>(v: &str, column: &str) -> Result<T> {
    serde_json::from_str(v)
        .map_err(|e| StorageError::Corrupt(format!("{column}: invalid JSON: {e}")))
}

/// A value as the JSON text it is stored as.
pub fn to_json<T: serde::Serialize>(v: &T, what: &str) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| StorageError::Database(format!("cannot serialize {what}: {e}")))
}

/// Effective (page, page_size, offset): page is 1-based (0 means 1), the
/// size is capped at [`MAX_PAGE_SIZE`] (0 means 1).
pub fn paging(page: u32, page_size: u32) -> (u32, u32, i64) {
    let page = page.max(1);
    let size = page_size.clamp(1, MAX_PAGE_SIZE);
    (page, size, (i64::from(page) - 1) * i64::from(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_starts_at_one_and_caps_the_size() {
        assert_eq!(paging(0, 0), (1, 1, 0));
        assert_eq!(paging(3, 50), (3, 50, 100));
        assert_eq!(
            paging(2, u32::MAX),
            (2, MAX_PAGE_SIZE, i64::from(MAX_PAGE_SIZE))
        );
    }

    #[test]
    fn bad_stored_values_are_corrupt() {
        assert!(matches!(to_count(-1, "n"), Err(StorageError::Corrupt(_))));
        assert_eq!(to_count(7, "n").unwrap(), 7);
        assert!(matches!(
            parse_json::<u32>("{", "c"),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(
            parse_enum::<u32>("x", "c"),
            Err(StorageError::Corrupt(_))
        ));
    }
}
