//! The HTTP side every HTTP integration shares: Alertmanager's `http_config` (the minimal
//! part: basic auth, an `Authorization` header, `tls_config.insecure_skip_verify`), the
//! client built from it, and what a response means ([`check`]): 2xx sent; 429, 5xx,
//! timeouts and connection errors retryable (honouring `Retry-After`); other statuses final
//! with the (truncated) body. Error messages never carry the URL (webhook URLs are secrets).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{SendError, secret_of};
use crate::config::{FieldError, Secret};

/// Alertmanager's `http_config`, the part vitals supports.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header (`type` defaults to `Bearer`).
    pub authorization: Option<Authorization>,
    /// TLS options.
    pub tls_config: Option<TlsConfig>,
    /// Whether redirects are followed (Alertmanager's default true).
    pub follow_redirects: Option<bool>,
    /// An HTTP(S) proxy every request goes through (`http://proxy:3128`).
    pub proxy_url: Option<String>,
    /// Whether HTTP/2 may be negotiated (default true; false keeps to HTTP/1.1).
    pub enable_http2: Option<bool>,
}

/// `basic_auth`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password.
    #[serde(default)]
    pub password: Secret,
    /// A file holding the password (instead of `password`).
    pub password_file: Option<PathBuf>,
}

/// `authorization`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme (default `Bearer`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The credentials after the scheme.
    #[serde(default)]
    pub credentials: Secret,
    /// A file holding the credentials (instead of `credentials`).
    pub credentials_file: Option<PathBuf>,
}

/// `tls_config` (Prometheus's common TLS settings).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificates that sign the server's certificate (added to the
    /// system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM file of a client certificate, for servers that ask for one (with `key_file`).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// Name to verify the server's certificate against, when not the host connected to
    /// (email only; HTTP integrations verify the URL's host).
    pub server_name: Option<String>,
    /// Lowest TLS version accepted: `TLS12` or `TLS13` (default TLS 1.2).
    pub min_version: Option<String>,
    /// Accept any server certificate (tests, self-signed peers). Never in production.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// The files of a [`TlsConfig`], read.
#[derive(Debug, Default)]
pub(crate) struct TlsFiles {
    /// The CA bundle's PEM.
    pub ca: Option<Vec<u8>>,
    /// The client certificate's and key's PEM.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// TLS 1.3 only.
    pub tls13_only: bool,
}

impl TlsConfig {
    /// Reads the files; problems are pushed at the field's name.
    pub(crate) fn read(&self, errors: &mut Vec<FieldError>) -> TlsFiles {
        let read = |field: &str, p: &PathBuf, errors: &mut Vec<FieldError>| {
            std::fs::read(p)
                .map_err(|e| {
                    errors.push(FieldError::new(
                        field,
                        format!("cannot read {}: {e}", p.display()),
                    ))
                })
                .ok()
        };
        let ca = self
            .ca_file
            .as_ref()
            .and_then(|p| read("ca_file", p, errors));
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => match (read("cert_file", c, errors), read("key_file", k, errors))
            {
                (Some(c), Some(k)) => Some((c, k)),
                _ => None,
            },
            (None, None) => None,
            _ => {
                errors.push(FieldError::new(
                    "cert_file",
                    "cert_file and key_file go together",
                ));
                None
            }
        };
        let tls13_only = match self.min_version.as_deref() {
            None | Some("TLS12") => false,
            Some("TLS13") => true,
            Some(other) => {
                errors.push(FieldError::new(
                    "min_version",
                    format!("{other:?} is not supported: use TLS12 or TLS13"),
                ));
                false
            }
        };
        TlsFiles {
            ca,
            identity,
            tls13_only,
        }
    }
}

/// A built HTTP client with the credentials resolved.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    auth: Auth,
}

#[derive(Clone, Debug)]
enum Auth {
    None,
    Basic(String, Secret),
    Header(String, Secret),
}

impl HttpConfig {
    /// Builds the client; problems are pushed at `http_config.*`.
    pub(crate) fn client(&self, timeout: Duration, errors: &mut Vec<FieldError>) -> Client {
        let mut local = Vec::new();
        let auth = match (&self.basic_auth, &self.authorization) {
            (Some(_), Some(_)) => {
                local.push(FieldError::new(
                    "",
                    "set at most one of basic_auth and authorization",
                ));
                Auth::None
            }
            (Some(b), None) => {
                let mut es = Vec::new();
                let p = secret_of("password", &b.password, b.password_file.as_ref(), &mut es);
                local.extend(es.into_iter().map(|e| e.under("basic_auth")));
                Auth::Basic(b.username.clone(), p)
            }
            (None, Some(a)) => {
                let mut es = Vec::new();
                let c = secret_of(
                    "credentials",
                    &a.credentials,
                    a.credentials_file.as_ref(),
                    &mut es,
                );
                local.extend(es.into_iter().map(|e| e.under("authorization")));
                let kind = a.kind.clone().unwrap_or_else(|| "Bearer".to_string());
                if kind.eq_ignore_ascii_case("basic") {
                    local.push(FieldError::new(
                        "authorization.type",
                        "use basic_auth for Basic authentication",
                    ));
                }
                Auth::Header(kind, c)
            }
            (None, None) => Auth::None,
        };
        errors.extend(local.into_iter().map(|e| e.under("http_config")));
        let tls = self.tls_config.clone().unwrap_or_default();
        let insecure = tls.insecure_skip_verify;
        let mut tls_errors = Vec::new();
        let files = tls.read(&mut tls_errors);
        if tls.server_name.is_some() {
            tls_errors.push(FieldError::new(
                "server_name",
                "not supported for HTTP integrations: the URL's host is verified",
            ));
        }
        let redirect = if self.follow_redirects.unwrap_or(true) {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = crate::net::tls::client_builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .tls_danger_accept_invalid_certs(insecure)
            .redirect(redirect)
            .user_agent(concat!("vitals/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &files.ca {
            match reqwest::Certificate::from_pem_bundle(ca) {
                Ok(certs) if !certs.is_empty() => {
                    for c in certs {
                        builder = builder.add_root_certificate(c);
                    }
                }
                Ok(_) => {
                    tls_errors.push(FieldError::new("ca_file", "no PEM certificate in the file"))
                }
                Err(e) => tls_errors.push(FieldError::new(
                    "ca_file",
                    format!("not PEM certificates: {e}"),
                )),
            }
        }
        if let Some((cert, key)) = &files.identity {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            match reqwest::Identity::from_pem(&pem) {
                Ok(id) => builder = builder.identity(id),
                Err(e) => tls_errors.push(FieldError::new(
                    "cert_file",
                    format!("the certificate and key do not load: {e}"),
                )),
            }
        }
        if files.tls13_only {
            builder = builder.min_tls_version(reqwest::tls::Version::TLS_1_3);
        }
        if let Some(p) = &self.proxy_url {
            match reqwest::Proxy::all(p) {
                Ok(proxy) => builder = builder.proxy(proxy),
                Err(e) => errors.push(FieldError::new(
                    "http_config.proxy_url",
                    format!("not a proxy URL: {}", e.without_url()),
                )),
            }
        }
        if self.enable_http2 == Some(false) {
            builder = builder.http1_only();
        }
        errors.extend(
            tls_errors
                .into_iter()
                .map(|e| e.under("http_config.tls_config")),
        );
        let http = builder.build();
        let http = match http {
            Ok(h) => h,
            Err(e) => {
                errors.push(FieldError::new(
                    "http_config",
                    format!("cannot build an HTTP client: {}", e.without_url()),
                ));
                reqwest::Client::new()
            }
        };
        Client { http, auth }
    }
}

impl Client {
    /// A POST to `url` with the configured credentials.
    pub(crate) fn post(&self, url: &str) -> reqwest::RequestBuilder {
        let b = self.http.post(url);
        match &self.auth {
            Auth::None => b,
            Auth::Basic(u, p) => b.basic_auth(u, Some(p.expose())),
            Auth::Header(kind, c) => b.header(
                http::header::AUTHORIZATION,
                format!("{kind} {}", c.expose()),
            ),
        }
    }

    /// A POST of `body` as JSON (`application/json`).
    pub(crate) fn post_json(&self, url: &str, body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }

    /// Sends `req` and classifies the outcome.
    pub(crate) async fn send(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<(), SendError> {
        match req.send().await {
            Ok(resp) => check(what, resp).await,
            Err(e) => Err(transport_error(what, e)),
        }
    }
}

/// The longest response body quoted in an error.
const BODY_QUOTE: usize = 512;

/// What a response means: 2xx sent, 429/5xx retryable (with `Retry-After`), others final.
pub(crate) async fn check(what: &str, resp: reqwest::Response) -> Result<(), SendError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let after = crate::net::retry::retry_after(resp.headers(), SystemTime::now());
    let body = resp.text().await.unwrap_or_default();
    let body = super::truncate(body.trim(), BODY_QUOTE);
    let message = if body.is_empty() {
        format!("{what}: HTTP {status}")
    } else {
        format!("{what}: HTTP {status}: {body}")
    };
    if status.as_u16() == 429 || status.is_server_error() {
        Err(SendError::retryable(message, after))
    } else {
        Err(SendError::fatal(message))
    }
}

/// A request that got no response: timeouts and connection errors are retryable; the URL
/// is left out of the message.
pub(crate) fn transport_error(what: &str, e: reqwest::Error) -> SendError {
    let final_ = e.is_builder();
    let e = e.without_url();
    let mut message = format!("{what}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    if final_ {
        SendError::fatal(message)
    } else {
        SendError::retryable(message, None)
    }
}

/// Checks a URL field: present and http(s).
pub(crate) fn check_url(field: &str, url: &str, errors: &mut Vec<FieldError>) {
    if url.is_empty() {
        errors.push(FieldError::new(field, "missing"));
        return;
    }
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        // The URL itself may hold a token: it is never quoted.
        Ok(_) => errors.push(FieldError::new(field, "must be an http:// or https:// URL")),
        Err(e) => errors.push(FieldError::new(field, format!("not a URL: {e}"))),
    }
}
