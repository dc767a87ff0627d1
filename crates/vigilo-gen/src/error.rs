/// Why generating or sending stopped.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid target url `{url}`: {reason}")]
    Target { url: String, reason: String },
    #[error("http request to {url} errored: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server refused a batch with a client error: the events or the
    /// request are wrong, so retrying cannot help.
    #[error("server rejected a batch with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("server kept answering HTTP {status} after {attempts} attempts: {body}")]
    ServerError {
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error("could not reach {url} after {attempts} attempts: {source}")]
    Unreachable {
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("json error: {0}")]
    Json(#[from] serde_json::Error),
}
