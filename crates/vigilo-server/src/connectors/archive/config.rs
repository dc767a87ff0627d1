//! `[archive]` and opening the object store it names.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use url::Url;

use super::ArchiveError;
use crate::config::Secret;

/// `[archive]`: where raw events are archived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Where the archive lives: `file:///var/lib/vigilo/archive` (or a plain
    /// directory path), `s3://bucket/prefix`, and with the matching build
    /// features `gs://bucket/prefix` and `az://container/prefix`. A secret:
    /// a URL may carry credentials. Env: `VIGILO_ARCHIVE__URL`.
    pub url: Option<Secret>,
    /// S3 region (else `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// S3 endpoint of an S3-compatible store, e.g. `http://127.0.0.1:9000`
    /// (else `AWS_ENDPOINT_URL`). Objects are addressed by path
    /// (`endpoint/bucket/key`).
    pub endpoint: Option<String>,
    /// S3 access key id (else `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<Secret>,
    /// S3 secret access key (else `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// Allow a plain `http://` endpoint (a local S3-compatible store).
    pub allow_http: bool,
    /// A file is closed and uploaded once it holds this many bytes of
    /// NDJSON before compression (the in-memory bound of the writer).
    pub max_file_bytes: u64,
    /// A file is closed and uploaded once its first event has waited this
    /// long (`30s`, `5m`, `1h`), so a quiet server still archives.
    pub max_file_age: String,
    /// zstd level, 1 (fast) to 22 (small).
    pub compression_level: i32,
    /// Write the archive. `false` makes a server that only replays from it
    /// (a second server pointed at another's archive must not write there).
    pub write: bool,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            url: None,
            region: None,
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            max_file_bytes: 64 * 1024 * 1024,
            max_file_age: "5m".into(),
            compression_level: 3,
            write: true,
        }
    }
}

/// An opened archive: the store and the prefix of every key in it.
#[derive(Clone)]
pub struct Archive {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    url: Url,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Archive({})", self.display_url())
    }
}

impl Archive {
    /// Open the store `config.url` names (no request is made yet).
    pub fn open(config: &ArchiveConfig) -> Result<Archive, ArchiveError> {
        let raw = config
            .url
            .as_ref()
            .map(|u| u.expose().trim())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ArchiveError::Config("`archive.url` is required".into()))?;
        let url = parse_location(raw)?;
        let (scheme, path) = object_store::ObjectStoreScheme::parse(&url)
            .map_err(|e| ArchiveError::Config(format!("`archive.url`: {e}")))?;
        let prefix = Path::parse(path)
            .map_err(|e| ArchiveError::Config(format!("`archive.url` path: {e}")))?;
        let store: Arc<dyn ObjectStore> = match scheme {
            object_store::ObjectStoreScheme::Local => {
                // The directory must exist for keys to be written under it.
                let dir = url.to_file_path().map_err(|_| {
                    ArchiveError::Config("`archive.url`: not a local directory".into())
                })?;
                std::fs::create_dir_all(dir).map_err(|e| {
                    ArchiveError::Config(format!("`archive.url`: cannot create the directory: {e}"))
                })?;
                Arc::new(object_store::local::LocalFileSystem::new())
            }
            object_store::ObjectStoreScheme::AmazonS3 => Arc::new(s3(config, &url)?),
            #[cfg(feature = "archive-gcp")]
            object_store::ObjectStoreScheme::GoogleCloudStorage => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(url.as_str())
                    .build()?,
            ),
            #[cfg(feature = "archive-azure")]
            object_store::ObjectStoreScheme::MicrosoftAzure => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url.as_str())
                    .build()?,
            ),
            other => {
                return Err(ArchiveError::Config(format!(
                    "`archive.url`: {other:?} stores are not built in; use file://, s3:// \
                     (gs:// and az:// need the archive-gcp and archive-azure features)"
                )));
            }
        };
        Ok(Archive { store, prefix, url })
    }

    /// The URL without any credentials it carried, for logs and reports.
    pub fn display_url(&self) -> String {
        let mut u = self.url.clone();
        let _ = u.set_password(None);
        let _ = u.set_username("");
        u.set_query(None);
        u.to_string()
    }
}

/// A URL, or a plain directory path for the local store.
fn parse_location(raw: &str) -> Result<Url, ArchiveError> {
    if raw.contains("://") {
        return Url::parse(raw).map_err(|e| ArchiveError::Config(format!("`archive.url`: {e}")));
    }
    let path = std::path::Path::new(raw);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| ArchiveError::Config(format!("`archive.url`: {e}")))?
            .join(path)
    };
    Url::from_directory_path(&abs)
        .map_err(|_| ArchiveError::Config("`archive.url`: not a usable directory path".into()))
}

fn s3(config: &ArchiveConfig, url: &Url) -> Result<object_store::aws::AmazonS3, ArchiveError> {
    use object_store::aws::AmazonS3Builder;
    let mut b = AmazonS3Builder::from_env().with_url(url.as_str());
    if let Some(r) = &config.region {
        b = b.with_region(r);
    }
    if let Some(e) = &config.endpoint {
        b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
    }
    if let Some(k) = &config.access_key_id {
        b = b.with_access_key_id(k.expose());
    }
    if let Some(k) = &config.secret_access_key {
        b = b.with_secret_access_key(k.expose());
    }
    if config.allow_http {
        b = b.with_allow_http(true);
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_and_display() {
        let c = ArchiveConfig {
            url: Some(Secret::new("s3://bucket/prefix")),
            access_key_id: Some(Secret::new("AKIDEXAMPLE")),
            secret_access_key: Some(Secret::new("hunter2hunter2")),
            region: Some("eu-west-1".into()),
            ..ArchiveConfig::default()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("AKIDEXAMPLE"),
            "{shown}"
        );
        let a = Archive::open(&c).unwrap();
        assert_eq!(a.prefix.as_ref(), "prefix");
        assert!(!format!("{a:?}").contains("hunter2"));
    }

    #[test]
    fn a_plain_path_is_a_local_directory() {
        let dir = tempfile::tempdir().unwrap();
        let c = ArchiveConfig {
            url: Some(Secret::new(dir.path().join("a/b").to_string_lossy())),
            ..ArchiveConfig::default()
        };
        let a = Archive::open(&c).unwrap();
        assert!(dir.path().join("a/b").is_dir());
        assert!(a.display_url().starts_with("file:///"));
        let missing = ArchiveConfig::default();
        assert!(Archive::open(&missing).is_err());
    }
}
