//! The worker's connections, bounded before anything else sees them (before TLS, before the
//! token check): at most `max` at once (more are closed at once, so idle sockets cannot use
//! up the process's files); a connection must send its HTTP/2 greeting within `HANDSHAKE`
//! (or the idle timeout, if shorter)
//! (a client trickling bytes, slowloris-style, is cut then); after that, one that sends
//! nothing for `idle` is closed. A coordinator's connection is never idle that long: it sends
//! HTTP/2 pings every heartbeat and renews its session every few seconds.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long a new connection has to send the HTTP/2 client preface.
pub const HANDSHAKE: Duration = Duration::from_secs(5);

/// How long a connection may send nothing, unless `--idle-timeout` says otherwise.
pub const IDLE: Duration = Duration::from_secs(30);

/// The bytes of the HTTP/2 client preface (`PRI * HTTP/2.0...`).
const PREFACE_BYTES: u64 = 24;

/// The default bound on connections: half the files the process may open, at most 1024.
pub fn default_max() -> usize {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    #[allow(unsafe_code)]
    // SAFETY: `getrlimit` writes one `rlimit` that we own.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut rl) } == 0;
    let files = if ok { usize::try_from(rl.rlim_cur).unwrap_or(usize::MAX) } else { 1024 };
    (files / 2).clamp(8, 1024)
}

/// Admits connections: a permit each, while there are any.
#[derive(Clone)]
pub struct Gate {
    permits: Arc<Semaphore>,
    idle: Duration,
    refused: Arc<std::sync::atomic::AtomicU64>,
}

impl Gate {
    pub fn new(max: usize, idle: Duration) -> Gate {
        Gate {
            permits: Arc::new(Semaphore::new(max.max(1))),
            idle,
            refused: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// The connection, guarded; `None` (and the socket closed) when there are too many.
    pub fn admit(&self, stream: TcpStream) -> Option<Guarded> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Some(Guarded {
                inner: stream,
                _permit: permit,
                deadline: Box::pin(tokio::time::sleep(HANDSHAKE.min(self.idle))),
                idle: self.idle,
                received: 0,
            }),
            Err(_) => {
                let n = self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n.is_power_of_two() {
                    eprintln!(
                        "daphne-worker: refused a connection from {}: too many open ({} refused so far)",
                        stream.peer_addr().map_or_else(|_| "an unknown peer".to_owned(), |a| a.to_string()),
                        n + 1
                    );
                }
                None
            }
        }
    }
}

/// A connection the worker serves: it holds a permit of the gate while open.
pub struct Guarded {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    /// When the connection is closed unless it sends something (the preface first).
    deadline: Pin<Box<Sleep>>,
    idle: Duration,
    received: u64,
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = (buf.filled().len() - before) as u64;
                self.received += n;
                // Until the preface is in, the handshake deadline stands; then every read
                // pushes the idle deadline on.
                if self.received >= PREFACE_BYTES && n > 0 {
                    let idle = self.idle;
                    self.deadline.as_mut().reset(Instant::now() + idle);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let why = if self.received < PREFACE_BYTES { "no HTTP/2 greeting" } else { "idle" };
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, format!("connection closed: {why}"))))
                }
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Connected for Guarded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}
