//! Response compression for `/api/v1/*`, as Prometheus's API compresses: gzip when the
//! client's `Accept-Encoding` lists it (Grafana's and promtool's Go clients always do), so a
//! large matrix crosses the network at a tenth of its size. Small answers go as they are;
//! large ones are compressed on the blocking pool.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::io::Write;

/// Bodies smaller than this are not worth compressing.
const MIN_BYTES: usize = 1024;
/// Bodies from this size on are compressed off the async workers.
const BLOCKING_BYTES: usize = 64 * 1024;

/// Whether `Accept-Encoding` lists gzip (with a non-zero quality).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let zero_q = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero_q
        })
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8),
        flate2::Compression::fast(),
    );
    enc.write_all(data)?;
    enc.finish()
}

/// Middleware: gzips the answer when the client accepts it.
pub async fn layer(req: Request, next: Next) -> Response {
    let wanted = accepts_gzip(req.headers());
    let resp = next.run(req).await;
    if !wanted || resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "Reading an API answer to compress it failed.");
            return Response::from_parts(parts, Body::empty());
        }
    };
    parts
        .headers
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if bytes.len() < MIN_BYTES {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let compressed = if bytes.len() >= BLOCKING_BYTES {
        let data = bytes.clone();
        tokio::task::spawn_blocking(move || gzip(&data))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
    } else {
        gzip(&bytes)
    };
    match compressed {
        Ok(gz) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(gz))
        }
        Err(e) => {
            tracing::warn!(error = %e, "Compressing an API answer failed; sending it uncompressed.");
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(header::ACCEPT_ENCODING, v);
        }
        h
    }

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("deflate, gzip;q=0.5")));
        assert!(accepts_gzip(&headers("GZIP")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn gzip_round_trips() {
        let data = br#"{"status":"success"}"#.repeat(1000);
        let gz = gzip(&data).unwrap_or_default();
        assert!(gz.len() < data.len() / 10);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap_or_default();
        assert_eq!(back, data);
    }
}
