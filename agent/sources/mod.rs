//! Sources: everything that produces samples and writes them into the store.
//!
//! Today that is the probe scheduler (`probe`); OTLP and CloudWatch join here. A source owns
//! its own schedule and connections and talks to the rest of the pipeline only through
//! [`crate::store::Store::append`].

pub mod otlp;
pub mod probe;

/// Makes `ring` the process's TLS crypto provider (reqwest, tonic and the server share it).
/// Safe to call any number of times.
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
