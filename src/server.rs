//! The listener: the accept loop, the connection cap, the header-read and idle timeouts, and
//! the graceful drain. Written on hyper directly because `axum::serve` has neither a cap nor
//! timeouts.

mod activity;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

pub use activity::Timeouts;
use activity::{Activity, TrackedIo};

use crate::settings::ServerSettings;

/// How many connections may be open, and how long they may dawdle.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The header-read and idle timeouts.
    pub timeouts: Timeouts,
    /// Most open connections (`server.max_connections`); beyond it, new connections wait in
    /// the kernel's backlog until one closes.
    pub max_connections: usize,
}

impl Limits {
    /// The limits these settings ask for.
    pub fn from_settings(server: &ServerSettings) -> Self {
        Self {
            timeouts: Timeouts {
                header_read: server.header_read_timeout(),
                idle: server.idle_timeout(),
            },
            max_connections: server.max_connections,
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves; then closes the listener (new
/// connections are refused), lets each open connection finish its request in progress, and
/// returns once the last connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    // Every connection holds a clone of `stopping`; its `closed()` resolves on stop. Every
    // connection also holds a clone of `open`, so `all_closed.closed()` waits for the last.
    let (stopping, stop_watch) = watch::channel(());
    tokio::spawn(async move {
        stop.await;
        drop(stop_watch);
    });
    let (all_closed, open) = watch::channel(());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer, slot) = tokio::select! {
            () = stopping.closed() => break,
            next = next_connection(&listener, &slots) => next,
        };
        let connection = serve_connection(
            stream,
            peer,
            router.clone(),
            limits.timeouts,
            stopping.clone(),
        );
        let open = open.clone();
        tokio::spawn(async move {
            connection.await;
            drop(slot);
            drop(open);
        });
    }
    drop(listener);
    drop(open);
    all_closed.closed().await;
}

/// Waits for a free connection slot, then for a connection: while every slot is taken, new
/// connections stay in the kernel's backlog.
async fn next_connection(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
        // The semaphore is never closed.
        return std::future::pending().await;
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return (stream, peer, slot),
            Err(error) => accept_failed(error).await,
        }
    }
}

/// A connection that died before it was accepted is skipped; anything else (no file
/// descriptors left, for one) is retried after a pause, so the loop does not spin.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %error, "Cannot accept a connection; retrying in one second.");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until the client closes it, a timeout expires, or, after a stop,
/// its request in progress is answered.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    stopping: watch::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = TokioIo::new(TrackedIo::new(stream, Arc::clone(&activity)));
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let in_progress = requests.request_started();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = router.clone().oneshot(request);
        async move {
            let response = response.await?;
            // The request stays in progress until hyper has written (and dropped) the body.
            Ok::<_, Infallible>(response.map(|body| {
                body.map_frame(move |frame| {
                    let _in_progress = &in_progress;
                    frame
                })
            }))
        }
    });
    let mut builder = http1::Builder::new();
    // hyper's own header timer restarts as soon as a keep-alive connection goes idle, so it
    // would close idle connections after the header timeout; `Activity` does both instead.
    builder.header_read_timeout(None);
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut expired = pin!(activity.expired(timeouts));
    let mut stopped = pin!(stopping.closed());
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, error = %error, "A connection ended with an error.");
                }
                return;
            }
            expiry = &mut expired => {
                tracing::debug!(%peer, timeout = expiry.key(), "Closed a slow or idle connection.");
                return;
            }
            () = &mut stopped, if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
