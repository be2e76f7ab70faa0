//! TLS for the OTLP listeners: certificate and key read once at start.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What both listeners need: PEM text for tonic, a rustls config for the HTTP listener.
#[derive(Clone)]
pub struct TlsMaterial {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub rustls: Arc<rustls::ServerConfig>,
}

/// Reads and checks the certificate chain and key.
pub fn load((cert_file, key_file): &(PathBuf, PathBuf)) -> Result<TlsMaterial, String> {
    crate::sources::install_crypto_provider();
    let cert_pem = std::fs::read(cert_file)
        .map_err(|e| format!("cannot read {}: {e}", cert_file.display()))?;
    let key_pem =
        std::fs::read(key_file).map_err(|e| format!("cannot read {}: {e}", key_file.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "{} is not a PEM certificate chain: {e}",
                cert_file.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", cert_file.display()));
    }
    // The key file's content never appears in an error.
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| format!("{} holds no usable PEM private key", key_file.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        cert_pem,
        key_pem,
        rustls: Arc::new(config),
    })
}
