//! The simulator's listener: TCP connections that a handler can reset without answering.
//!
//! axum gives a handler no access to its socket, so every accepted stream carries a
//! `KillSwitch`, handed to handlers as `ConnectInfo<Conn>`. Once the switch is thrown, the
//! stream's next write fails before a byte of the answer leaves: hyper drops the connection,
//! and with `SO_LINGER` 0 the kernel sends a TCP reset, as a crashed vendor process would.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Resets one connection when thrown.
#[derive(Debug, Clone, Default)]
pub(super) struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    /// The connection's next write fails, and the connection is reset.
    pub(super) fn throw(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn thrown(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a handler learns about its connection: the switch that resets it.
#[derive(Debug, Clone)]
pub(super) struct Conn(pub(super) KillSwitch);

impl Connected<IncomingStream<'_, SimListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        Self(stream.io().kill.clone())
    }
}

/// A TCP listener whose streams carry a `KillSwitch`.
pub(super) struct SimListener(pub(super) TcpListener);

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimStream, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((io, addr)) => {
                    // Small answers should not wait for Nagle's algorithm.
                    let _ = io.set_nodelay(true);
                    let kill = KillSwitch::default();
                    return (SimStream { io, kill }, addr);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "The simulator could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// An accepted connection that fails its writes once its switch is thrown.
pub(super) struct SimStream {
    io: TcpStream,
    kill: KillSwitch,
}

impl SimStream {
    /// The error to return once killed; arranges for the close to be a reset.
    fn killed(&self) -> io::Error {
        let _ = self.io.set_zero_linger();
        io::Error::new(io::ErrorKind::ConnectionReset, "reset by the simulator")
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.thrown() {
            return Poll::Ready(Err(self.killed()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.kill.thrown() {
            return Poll::Ready(Err(self.killed()));
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.thrown() {
            return Poll::Ready(Err(self.killed()));
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.thrown() {
            return Poll::Ready(Err(self.killed()));
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
