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
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
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
    #[error("cannot build the TLS verifier for tls.ca_file: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    #[error("the crypto provider offers no usable TLS version: {0}")]
    Protocol(rustls::Error),
    #[error("{path} holds no usable CA certificate for checking clients: {reason}")]
    ClientCa { path: PathBuf, reason: String },
}

/// `tls:` of a listener (`server.tls`, `otlp.tls`): serve HTTPS (and gRPC over TLS) with
/// this certificate, and optionally accept only clients presenting a certificate signed by
/// `client_ca_file` (mutual TLS; the connection is refused during the handshake otherwise).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM certificate chain the listener presents (leaf first).
    pub cert_file: PathBuf,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1). Never logged.
    pub key_file: PathBuf,
    /// PEM CA certificate(s). When set, every client must present a certificate signed by
    /// one of them, or the TLS handshake fails (Prometheus's `client_auth_type:
    /// RequireAndVerifyClientCert`). Unset: no client certificate is asked for.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

impl ServerTlsConfig {
    /// Reads and checks the files now, so `vitals check config` and a reload report a
    /// missing file, a bad certificate or key at the field that names it (relative to the
    /// `tls:` section). The files are read again when the listener starts.
    pub fn validate(&self) -> Result<(), Vec<crate::config::FieldError>> {
        use crate::config::FieldError;
        match ServerTls::load(self) {
            Ok(_) => Ok(()),
            Err(e) => {
                let field = match &e {
                    TlsError::Read { path, .. } if *path == self.key_file => "key_file",
                    TlsError::Read { path, .. } if Some(path) == self.client_ca_file.as_ref() => {
                        "client_ca_file"
                    }
                    TlsError::NoKey { .. } => "key_file",
                    TlsError::ClientCa { .. } => "client_ca_file",
                    _ => "cert_file",
                };
                Err(vec![FieldError::new(field, e.to_string())])
            }
        }
    }

    /// Whether clients must prove who they are with a certificate.
    pub fn verifies_clients(&self) -> bool {
        self.client_ca_file.is_some()
    }
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

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Verifies a server against the system roots plus `tls.ca_file`'s certificates and, when that
/// fails, trusts a server that presents exactly one of `tls.ca_file`'s certificates as its own
/// (a self-signed certificate given as its own CA, which WebPKI refuses as
/// `CaUsedAsEndEntity`). Pinning by the whole certificate is safe without a name check: the
/// handshake signature is still verified against that certificate's key, which only its owner
/// holds.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl rustls::client::danger::ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(_)
                if self
                    .pinned
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client configuration trusting the system roots plus `extra` (a probe target's
/// `tls.ca_file`), with [`PinningVerifier`]: a server presenting exactly one of `extra` as its
/// own certificate is trusted even when it is its own CA (self-signed).
pub fn pinning_client_config(
    extra: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots.add_parsable_certificates(extra.iter().cloned());
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()?;
    let verifier = PinningVerifier {
        inner,
        pinned: extra.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Protocol)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
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
    /// Reads and checks a listener's certificate chain, private key and, when set, the CA
    /// its clients' certificates must be signed by. ALPN offers HTTP/2 and HTTP/1.1 (gRPC
    /// needs `h2`).
    pub fn load(c: &ServerTlsConfig) -> Result<ServerTls, TlsError> {
        let tls = Self::load_identity(&c.cert_file, &c.key_file)?;
        let Some(ca_file) = &c.client_ca_file else {
            return Ok(tls);
        };
        let client_ca = |reason: String| TlsError::ClientCa {
            path: ca_file.clone(),
            reason,
        };
        let pem = read(ca_file)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| client_ca(e.to_string()))?;
            roots.add(cert).map_err(|e| client_ca(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(client_ca("no PEM certificate in the file".into()));
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider())
                .build()
                .map_err(|e| client_ca(e.to_string()))?;
        let identity = tls.config;
        let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Identity)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(identity.cert_resolver.clone());
        config.alpn_protocols = identity.alpn_protocols.clone();
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// Reads and checks a PEM certificate chain and private key; no client certificates.
    pub fn load_identity(cert_file: &Path, key_file: &Path) -> Result<ServerTls, TlsError> {
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
        let e = ServerTls::load_identity(&cert, &key).expect_err("missing");
        assert!(e.to_string().contains("cert.pem"), "{e}");
        std::fs::write(&cert, "not pem").expect("write");
        std::fs::write(&key, "SECRET-KEY-TEXT").expect("write");
        let e = ServerTls::load_identity(&cert, &key).expect_err("no certificate");
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
        let tls = ServerTls::load_identity(&cert_file, &key_file).expect("loads");
        assert_eq!(
            tls.config().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        std::fs::write(&key_file, "SECRET-KEY-TEXT").expect("write");
        let e = ServerTls::load_identity(&cert_file, &key_file).expect_err("bad key");
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn installing_the_provider_twice_is_harmless() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(CryptoProvider::get_default().is_some());
    }
}
