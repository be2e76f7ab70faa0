//! A response body written by a blocking renderer and read by the connection a chunk at a
//! time, gzip-compressed on the way when the client accepts it: how `/metrics` and
//! `/federate` answer for any number of series in bounded memory.
//!
//! The renderer runs on the blocking pool and writes into a [`ChunkWriter`], which hands
//! [`CHUNK_BYTES`] pieces to the connection over a channel of [`CHUNKS_IN_FLIGHT`]. When the
//! channel is full the renderer waits for the client to read: a slow scraper slows its own
//! render and never makes the agent hold more than the chunks in flight. A client that takes
//! no chunk for [`SEND_TIMEOUT`] is given up on, and at most [`EXPOSITIONS_AT_ONCE`] renders
//! run at once (the API's handlers wait for a slot), so clients that stop reading cannot tie
//! up the blocking pool the query API and the checkpoints share. When the client goes away
//! the next send fails and the renderer stops. A render that fails for any other reason ends
//! the body with an error, so the client sees a broken response, never a short one that
//! parses.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// Bytes the renderer gathers before handing a chunk to the connection.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks between the renderer and the connection. Full: the renderer waits for the client.
pub const CHUNKS_IN_FLIGHT: usize = 4;
/// How long the renderer waits for the client to take a chunk before giving up on it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Renders (`/metrics`, `/federate`) running at once; more wait for a slot.
pub const EXPOSITIONS_AT_ONCE: usize = 4;

type Item = Result<Bytes, io::Error>;

/// Collects output into [`CHUNK_BYTES`] pieces and sends each to the body.
struct ChunkWriter {
    pending: Vec<u8>,
    tx: mpsc::Sender<Item>,
    /// The runtime, to wait for the channel with a timeout from the blocking thread.
    runtime: tokio::runtime::Handle,
    send_timeout: Duration,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        let sent = self.runtime.block_on(tokio::time::timeout(
            self.send_timeout,
            self.tx.send(Ok(chunk)),
        ));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took no data for the send timeout",
            )),
        }
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Starts `render` on the blocking pool and returns the body it writes; `gzip` compresses it.
/// `render`'s error, unless the client went away, is logged and ends the body with an error.
/// Call it within the runtime.
pub fn stream<F>(gzip: bool, render: F) -> Body
where
    F: FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
{
    stream_with_timeout(gzip, SEND_TIMEOUT, render)
}

fn stream_with_timeout<F>(gzip: bool, send_timeout: Duration, render: F) -> Body
where
    F: FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let error_tx = tx.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            pending: Vec::with_capacity(CHUNK_BYTES),
            tx,
            runtime: runtime.clone(),
            send_timeout,
        };
        let result = if gzip {
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            render(&mut enc).and_then(|()| enc.finish()?.flush())
        } else {
            render(&mut out).and_then(|()| out.flush())
        };
        let e = match result {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                tracing::warn!(
                    timeout_s = send_timeout.as_secs(),
                    "A client stopped reading an exposition; it is cut off."
                );
                e
            }
            Err(e) => {
                tracing::error!(error = %e, "Writing an exposition failed; the response is cut off.");
                e
            }
        };
        // Bounded like every chunk: a client that reads nothing does not hold this thread.
        let _ = runtime.block_on(tokio::time::timeout(send_timeout, error_tx.send(Err(e))));
    });
    Body::new(ChannelBody { rx })
}

/// The reading end: each chunk is a data frame; the channel closing ends the body.
struct ChannelBody {
    rx: mpsc::Receiver<Item>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    async fn collect(body: Body) -> Result<Vec<u8>, axum::Error> {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .map(|b| b.to_vec())
    }

    fn big(out: &mut dyn Write) -> io::Result<()> {
        for i in 0..100_000 {
            writeln!(out, "line_{i} {i}")?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_long_render_arrives_whole_plain_and_gzipped() {
        let mut want = Vec::new();
        big(&mut want).unwrap();
        assert!(want.len() > CHUNK_BYTES * (CHUNKS_IN_FLIGHT + 2));
        assert_eq!(collect(stream(false, big)).await.unwrap(), want);
        let gz = collect(stream(true, big)).await.unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, want);
    }

    #[tokio::test]
    async fn a_failed_render_ends_the_body_with_an_error() {
        let body = stream(false, |out| {
            out.write_all(b"# TYPE a gauge\n")?;
            Err(io::Error::other("boom"))
        });
        assert!(collect(body).await.is_err());
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_given_up_on() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let body = stream_with_timeout(false, Duration::from_millis(200), move |out| {
            let r = big(out).and_then(|()| big(out));
            let _ = done_tx.send(r.map_err(|e| e.kind()));
            Ok(())
        });
        // The body is held but never read.
        let r = tokio::task::spawn_blocking(move || done_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r, Err(io::ErrorKind::TimedOut));
        drop(body);
    }

    #[tokio::test]
    async fn a_client_that_goes_away_stops_the_render() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let body = stream(false, move |out| {
            let r = big(out).and_then(|()| big(out)).and_then(|()| big(out));
            let _ = done_tx.send(r.map_err(|e| e.kind()));
            Ok(())
        });
        drop(body);
        let r = tokio::task::spawn_blocking(move || done_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r, Err(io::ErrorKind::BrokenPipe));
    }
}
