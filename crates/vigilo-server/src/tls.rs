//! TLS for the HTTP server (`[tls]`): the certificate chain and private key
//! read from PEM files into a rustls configuration, and a listener that
//! completes handshakes away from the accept loop.
//!
//! The ring provider is used, the one the HTTP client already builds.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::auth::TlsConfig;

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finished handshakes waiting for the HTTP server to take them.
const READY_QUEUE: usize = 64;

/// Largest certificate or key file read (a chain is a few kilobytes).
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Why the TLS configuration cannot be used. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.{set} is set but tls.{unset} is not: set both, or neither to serve plain HTTP")]
    Incomplete {
        set: &'static str,
        unset: &'static str,
    },
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{what} {} is larger than {MAX_PEM_BYTES} bytes", path.display())]
    TooLarge { what: &'static str, path: PathBuf },
    #[error("{what} {} is not valid PEM: {detail}", path.display())]
    NotPem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("certificate file {} holds no CERTIFICATE section", path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "key file {} holds no private key (PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`){hint}",
        path.display()
    )]
    NoKey { path: PathBuf, hint: &'static str },
    #[error("key file {} holds {count} private keys; keep only the certificate's", path.display())]
    SeveralKeys { path: PathBuf, count: usize },
    #[error("key file {}: unusable private key: {source}", path.display())]
    BadKey {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("certificate file {}: {source}", path.display())]
    BadCertificate {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error(
        "the private key in {} does not match the certificate in {}",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
}

/// The server's TLS configuration, or `None` when `[tls]` sets neither
/// file (plain HTTP).
pub fn load(config: &TlsConfig) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let (cert_path, key_path) = match (&config.cert_file, &config.key_file) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(TlsError::Incomplete {
                set: "cert_file",
                unset: "key_file",
            });
        }
        (None, Some(_)) => {
            return Err(TlsError::Incomplete {
                set: "key_file",
                unset: "cert_file",
            });
        }
        (Some(c), Some(k)) => (c, k),
    };
    let chain = read_chain(cert_path)?;
    let key = read_key(key_path)?;
    server_config(chain, key, cert_path, key_path).map(|c| Some(Arc::new(c)))
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let failed = |source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes))
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// Every PEM section of a file, in order.
fn sections(
    what: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsError> {
    let not_pem = |detail: String| TlsError::NotPem {
        what,
        path: path.to_path_buf(),
        detail,
    };
    let found = <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| not_pem(e.to_string()))?;
    if found.is_empty() && !contains(bytes, b"-----BEGIN ") {
        return Err(not_pem("no -----BEGIN ...----- section".to_string()));
    }
    Ok(found)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file("certificate file", path)?;
    let chain: Vec<CertificateDer<'static>> = sections("certificate file", path, &bytes)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_file("key file", path)?;
    let mut keys: Vec<PrivateKeyDer<'static>> = sections("key file", path, &bytes)?
        .into_iter()
        .filter_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der))
        .collect();
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => Err(TlsError::NoKey {
            path: path.to_path_buf(),
            hint: if contains(&bytes, b"ENCRYPTED PRIVATE KEY") {
                "; encrypted keys are not supported, decrypt it first"
            } else {
                ""
            },
        }),
        count => Err(TlsError::SeveralKeys {
            path: path.to_path_buf(),
            count,
        }),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Check the key against the leaf certificate, then build the config with
/// ALPN for HTTP/2 and HTTP/1.1.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|source| TlsError::BadKey {
            path: key_path.to_path_buf(),
            source,
        })?;
    match CertifiedKey::new(chain.clone(), signing_key).keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::Mismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(TlsError::BadCertificate {
                path: cert_path.to_path_buf(),
                source,
            });
        }
    }
    let bad_cert = |source| TlsError::BadCertificate {
        path: cert_path.to_path_buf(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(bad_cert)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(bad_cert)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A listener for `axum::serve` that yields connections once their TLS
/// handshake is done. A background task accepts TCP connections and runs
/// each handshake in its own task, with a timeout, so a slow or silent
/// client holds up nobody. Dropping the listener (as the graceful shutdown
/// does) stops that task and closes the socket.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Start accepting on `listener` (bound to `local_addr`).
    pub fn new(
        listener: TcpListener,
        local_addr: SocketAddr,
        config: Arc<ServerConfig>,
    ) -> TlsListener {
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        TlsListener { ready, local_addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task only ends once this receiver is gone, so
            // this is not reached; wait rather than hand out nothing.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, addr) = match accepted {
            Ok(conn) => conn,
            Err(e) if per_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: back off a little
                // instead of spinning.
                tracing::error!(error = %e, "accepting a connection failed");
                tokio::select! {
                    _ = tx.closed() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    // Fails only when the server is shutting down: the
                    // connection is then dropped, as a new one would be.
                    let _ = tx.send((stream, addr)).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(client = %addr, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    tracing::debug!(client = %addr, "TLS handshake timed out");
                }
            }
        });
    }
    tracing::debug!("TLS accept loop stopped");
}

/// Errors that concern one connection only; the next accept may succeed.
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cert: Option<&str>, key: Option<&str>) -> TlsConfig {
        TlsConfig {
            cert_file: cert.map(PathBuf::from),
            key_file: key.map(PathBuf::from),
        }
    }

    #[test]
    fn neither_file_is_plain_http() {
        assert!(matches!(load(&config(None, None)), Ok(None)));
    }

    #[test]
    fn one_file_alone_is_refused() {
        let e = load(&config(Some("c.pem"), None))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "tls.cert_file is set but tls.key_file is not: set both, or neither to serve plain HTTP"
            )
        );
        let e = load(&config(None, Some("k.pem")))
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("tls.key_file is set")));
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = std::env::temp_dir().join("vigilo-tls-missing-file-test");
        let cert = dir.join("nope.crt");
        let key = dir.join("nope.key");
        let e = load(&TlsConfig {
            cert_file: Some(cert.clone()),
            key_file: Some(key),
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.starts_with(&format!("cannot read certificate file {}", cert.display())),
            "{e}"
        );
    }

    /// The DER value (contents) of the element starting at `at`, and the
    /// offset just past it; short and one- or two-byte long lengths.
    fn der_element(der: &[u8], at: usize) -> (usize, usize) {
        let first = der[at + 1] as usize;
        let (len, start) = match first {
            0x81 => (der[at + 2] as usize, at + 3),
            0x82 => (((der[at + 2] as usize) << 8) | der[at + 3] as usize, at + 4),
            n => (n, at + 2),
        };
        (start, start + len)
    }

    /// The SEC1 `ECPrivateKey` inside a PKCS#8 P-256 key: the third
    /// element (the OCTET STRING) of the outer SEQUENCE.
    fn sec1_of(pkcs8: &[u8]) -> Vec<u8> {
        let (inner, _) = der_element(pkcs8, 0);
        let (_, after_version) = der_element(pkcs8, inner);
        let (_, after_algorithm) = der_element(pkcs8, after_version);
        assert_eq!(pkcs8[after_algorithm], 0x04, "OCTET STRING");
        let (start, end) = der_element(pkcs8, after_algorithm);
        pkcs8[start..end].to_vec()
    }

    fn pem_of(label: &str, der: &[u8]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn pkcs8_and_sec1_keys_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let made =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, made.cert.pem()).expect("write");
        let pkcs8 = dir.path().join("pkcs8.pem");
        std::fs::write(&pkcs8, made.signing_key.serialize_pem()).expect("write");
        let sec1 = dir.path().join("sec1.pem");
        let sec1_der = sec1_of(&made.signing_key.serialize_der());
        std::fs::write(&sec1, pem_of("EC PRIVATE KEY", &sec1_der)).expect("write");

        for (key, want_sec1) in [(&pkcs8, false), (&sec1, true)] {
            let read = read_key(key).expect("read key");
            assert_eq!(matches!(read, PrivateKeyDer::Sec1(_)), want_sec1);
            let config = load(&TlsConfig {
                cert_file: Some(cert.clone()),
                key_file: Some(key.clone()),
            })
            .expect("usable")
            .expect("tls on");
            assert_eq!(
                config.alpn_protocols,
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            );
        }
    }

    #[test]
    fn pkcs1_keys_are_recognised() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("rsa.pem");
        std::fs::write(
            &key,
            pem_of("RSA PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]),
        )
        .expect("write");
        assert!(matches!(read_key(&key), Ok(PrivateKeyDer::Pkcs1(_))));
    }

    #[test]
    fn encrypted_keys_get_a_hint() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("enc.pem");
        std::fs::write(&key, pem_of("ENCRYPTED PRIVATE KEY", &[0x30, 0x00])).expect("write");
        let e = read_key(&key)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("encrypted keys are not supported"), "{e}");
    }

    #[test]
    fn text_without_sections_is_not_pem() {
        let e = sections("key file", Path::new("k.pem"), b"hello")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("key file k.pem is not valid PEM: no -----BEGIN ...----- section")
        );
    }
}
