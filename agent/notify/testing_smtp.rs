//! A small SMTP server on 127.0.0.1 for tests (EHLO, STARTTLS with a self-signed
//! certificate, AUTH PLAIN/LOGIN, MAIL/RCPT/DATA). Shared by `notify`'s unit tests and the
//! black-box tests (`tests/common/mod.rs` includes this file); the includer provides
//! `ServerTls` in the parent module.

use std::sync::Arc;

use parking_lot::Mutex;

/// One mail an [`SmtpPeer`] accepted.
#[derive(Clone, Debug, Default)]
pub struct Mail {
    pub ehlo: String,
    pub tls: bool,
    /// `user:password` from AUTH PLAIN or LOGIN.
    pub auth: Option<String>,
    pub from: String,
    pub rcpts: Vec<String>,
    pub data: String,
}

/// An SMTP server on 127.0.0.1: EHLO, STARTTLS (with a self-signed certificate) when
/// `starttls`, AUTH PLAIN/LOGIN checked against `auth`, MAIL/RCPT/DATA; recipients at
/// `refused.example` get 550.
pub struct SmtpPeer {
    pub addr: std::net::SocketAddr,
    /// The PEM of its self-signed certificate (for `localhost`), when it offers STARTTLS.
    pub cert_pem: Option<String>,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpPeer {
    pub async fn start(starttls: bool, auth: Option<(&str, &str)>) -> SmtpPeer {
        let mut cert_pem = None;
        let tls = starttls.then(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let rcgen::CertifiedKey { cert, signing_key } =
                rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
            let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
            std::fs::write(&c, cert.pem()).expect("write");
            std::fs::write(&k, signing_key.serialize_pem()).expect("write");
            cert_pem = Some(cert.pem());
            let tls = super::ServerTls::load_identity(&c, &k).expect("tls");
            tokio_rustls::TlsAcceptor::from(tls.config())
        });
        let auth = auth.map(|(u, p)| format!("{u}:{p}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let m = mails.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (tls, auth, m) = (tls.clone(), auth.clone(), m.clone());
                tokio::spawn(async move {
                    let mut state = Mail::default();
                    let Some(stream) = session(stream, &mut state, tls.is_some(), &auth, &m).await
                    else {
                        return;
                    };
                    let Some(acceptor) = tls else { return };
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    state.tls = true;
                    let _ = session(stream, &mut state, false, &auth, &m).await;
                });
            }
        });
        SmtpPeer {
            addr,
            cert_pem,
            mails,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().clone()
    }
}

/// Speaks SMTP on `stream`; returns the stream when the client asked for STARTTLS.
async fn session<S>(
    stream: S,
    st: &mut Mail,
    offer_tls: bool,
    auth: &Option<String>,
    mails: &Mutex<Vec<Mail>>,
) -> Option<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut s = BufReader::new(stream);
    if !st.tls {
        s.write_all(b"220 peer ESMTP test\r\n").await.ok()?;
    }
    async fn read<R: tokio::io::AsyncBufRead + Unpin>(s: &mut R) -> Option<String> {
        let mut line = String::new();
        if s.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        Some(line.trim_end().to_string())
    }
    loop {
        let cmd = read(&mut s).await?;
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            st.ehlo = cmd.get(5..).unwrap_or_default().trim().to_string();
            let mut r = String::from("250-peer\r\n");
            if offer_tls {
                r.push_str("250-STARTTLS\r\n");
            }
            if auth.is_some() {
                r.push_str("250-AUTH PLAIN LOGIN\r\n");
            }
            r.push_str("250 8BITMIME\r\n");
            r
        } else if upper == "STARTTLS" && offer_tls {
            s.write_all(b"220 go ahead\r\n").await.ok()?;
            s.flush().await.ok()?;
            return Some(s.into_inner());
        } else if let Some(rest) = upper.strip_prefix("AUTH PLAIN") {
            let b64 = if rest.trim().is_empty() {
                s.write_all(b"334 \r\n").await.ok()?;
                read(&mut s).await?
            } else {
                cmd[10..].trim().to_string()
            };
            let raw = b64_decode(&b64);
            let parts: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            let got = format!(
                "{}:{}",
                String::from_utf8_lossy(parts.get(1).copied().unwrap_or_default()),
                String::from_utf8_lossy(parts.get(2).copied().unwrap_or_default())
            );
            auth_reply(st, auth, got)
        } else if upper.starts_with("AUTH LOGIN") {
            s.write_all(b"334 VXNlcm5hbWU6\r\n").await.ok()?;
            let u = b64_decode(&read(&mut s).await?);
            s.write_all(b"334 UGFzc3dvcmQ6\r\n").await.ok()?;
            let p = b64_decode(&read(&mut s).await?);
            let got = format!(
                "{}:{}",
                String::from_utf8_lossy(&u),
                String::from_utf8_lossy(&p)
            );
            auth_reply(st, auth, got)
        } else if upper.starts_with("MAIL FROM:") {
            if auth.is_some() && st.auth.is_none() {
                "530 authentication required\r\n".into()
            } else {
                st.from = addr_of(&cmd[10..]);
                "250 ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            let a = addr_of(&cmd[8..]);
            if a.ends_with("@refused.example") {
                "550 no such user\r\n".into()
            } else {
                st.rcpts.push(a);
                "250 ok\r\n".into()
            }
        } else if upper == "DATA" {
            s.write_all(b"354 end with .\r\n").await.ok()?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if s.read_line(&mut l).await.ok()? == 0 {
                    return None;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(
                    l.strip_prefix('.')
                        .filter(|_| l.starts_with(".."))
                        .unwrap_or(&l),
                );
            }
            st.data = data;
            mails.lock().push(st.clone());
            st.rcpts.clear();
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            s.write_all(b"221 bye\r\n").await.ok()?;
            return None;
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".into()
        } else {
            "502 unknown\r\n".into()
        };
        s.write_all(reply.as_bytes()).await.ok()?;
        s.flush().await.ok()?;
    }
}

fn auth_reply(st: &mut Mail, auth: &Option<String>, got: String) -> String {
    if auth.as_deref() == Some(got.as_str()) {
        st.auth = Some(got);
        "235 ok\r\n".into()
    } else {
        "535 authentication failed\r\n".into()
    }
}

fn addr_of(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or(s);
    s.trim_start_matches('<').trim_end_matches('>').to_string()
}

fn b64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = A.iter().position(|&x| x == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
