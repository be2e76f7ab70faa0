//! TLS: the crypto provider, server certificates, handshakes of accepted connections and
//! the starting point of every outbound HTTP client.
//!
//! The crypto provider is `ring`, chosen in one place:
//! - server configurations are built with it explicitly ([`crypto_provider`]), so they never
//!   depend on process-wide state;
//! - `reqwest` (built with `rustls-no-provider`) can only use the process default, so
//!   [`client_builder`], which every outbound client starts from, installs it first
//!   ([`install_crypto_provider`], once per process). Passing the provider to `reqwest`
//!   explicitly would mean building its whole rustls client configuration by hand (roots,
//!   extra CAs, the insecure verifier) and give up `reqwest`'s own TLS options;
//! - tonic clients (`tls-ring`) use the process default when there is one and `ring`
//!   otherwise, which is the same provider either way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Errors reading a server certificate and key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM certificate chain: {reason}")]
    NotPem { path: PathBuf, reason: String },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    /// The key file's content never appears in the error.
    #[error("{path} holds no usable PEM private key")]
    NoKey { path: PathBuf },
    #[error("the certificate and key do not make a TLS identity: {0}")]
    Identity(rustls::Error),
}

/// The process's crypto provider (`ring`), built once.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Makes [`crypto_provider`] the process default, for libraries that only read the default
/// (`reqwest`). Runs once; later calls do nothing.
pub fn install_crypto_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Err means another provider was installed first; rustls then keeps that one.
        if CryptoProvider::install_default((*crypto_provider()).clone()).is_err() {
            tracing::debug!("A TLS crypto provider was already installed.");
        }
    });
}

/// The builder every outbound HTTP client starts from: the crypto provider is in place
/// before `reqwest` looks for it.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// A server's TLS identity: what a listener needs to accept TLS connections.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// Reads and checks a PEM certificate chain and private key. ALPN offers HTTP/2 and
    /// HTTP/1.1 (gRPC needs `h2`).
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<ServerTls, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read(cert_file)?;
        let key_pem = read(key_file)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::NotPem {
                path: cert_file.to_path_buf(),
                reason: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert_file.to_path_buf(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
            path: key_file.to_path_buf(),
        })?;
        Self::from_identity(chain, key)
    }

    /// A server identity from a DER chain and key.
    pub fn from_identity(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<ServerTls, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Identity)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(TlsError::Identity)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }

    /// Runs the server side of a handshake on an accepted connection, giving up after
    /// `timeout` (a client that connects and stays silent must not hold a connection slot).
    pub async fn accept(
        &self,
        tcp: TcpStream,
        timeout: Duration,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.clone());
        match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the TLS handshake timed out",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_and_bad_pem_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let e = ServerTls::load(&cert, &key).expect_err("missing");
        assert!(e.to_string().contains("cert.pem"), "{e}");
        std::fs::write(&cert, "not pem").expect("write");
        std::fs::write(&key, "SECRET-KEY-TEXT").expect("write");
        let e = ServerTls::load(&cert, &key).expect_err("no certificate");
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
    }

    #[test]
    fn a_generated_identity_loads_and_the_key_stays_out_of_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_file, cert.pem()).expect("write");
        std::fs::write(&key_file, signing_key.serialize_pem()).expect("write");
        let tls = ServerTls::load(&cert_file, &key_file).expect("loads");
        assert_eq!(
            tls.config().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        std::fs::write(&key_file, "SECRET-KEY-TEXT").expect("write");
        let e = ServerTls::load(&cert_file, &key_file).expect_err("bad key");
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn installing_the_provider_twice_is_harmless() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(CryptoProvider::get_default().is_some());
    }
}
