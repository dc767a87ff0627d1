//! Input errors. Every variant that concerns a field names its JSON path.

/// Why an input could not be audited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The bytes are not valid JSON (and do not look like a CSV credential report).
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// A field has the wrong type or an unusable value.
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    /// The document is valid JSON but matches none of the supported formats.
    #[error("unrecognised input: {0}")]
    Unrecognised(String),
    /// A credential report row or header is malformed.
    #[error("credential report line {line}: {message}")]
    CredentialReport { line: usize, message: String },
    /// The exclusions file is malformed.
    #[error("exclusions file: {0}")]
    Exclusions(String),
}

impl InputError {
    pub(crate) fn field(path: &Path<'_>, message: impl Into<String>) -> Self {
        InputError::Field {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// A JSON path under construction, built as a linked list on the stack so that
/// the happy path never allocates for it.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(crate) fn key(&'a self, k: &'a str) -> Path<'a> {
        Path::Key(self, k)
    }
    pub(crate) fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => f.write_str("$"),
            Path::Key(parent, k) => {
                parent.fmt(f)?;
                let simple = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if simple {
                    write!(f, ".{k}")
                } else {
                    write!(f, "[{}]", serde_json::Value::String((*k).to_string()))
                }
            }
            Path::Index(parent, i) => {
                parent.fmt(f)?;
                write!(f, "[{i}]")
            }
        }
    }
}
