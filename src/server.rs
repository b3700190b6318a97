//! The listener: the accept loop, the connection cap, the header-read and idle timeouts, and
//! the graceful drain. Written on hyper directly because `axum::serve` has neither a cap nor
//! timeouts.

mod activity;
mod body;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
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
pub use body::{is_timeout as is_body_timeout, BodyLimits};
use body::{LimitedBody, Reading};

use crate::settings::ServerSettings;

/// Most headers in a request head; beyond it, `431`.
const MAX_HEADERS: usize = 100;

/// How many connections may be open, how long they may dawdle, and how much of a request
/// each may make signgate hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The header-read and idle timeouts.
    pub timeouts: Timeouts,
    /// Most open connections (`server.max_connections`); beyond it, new connections wait in
    /// the kernel's backlog until one closes.
    pub max_connections: usize,
    /// Largest request head (`server.max_header_bytes`).
    pub max_header_bytes: usize,
    /// The body deadline and the budget of bodies held at once.
    pub bodies: BodyLimits,
}

impl Limits {
    /// The limits these settings ask for; `largest_body` is the largest body any route accepts.
    pub fn from_settings(server: &ServerSettings, largest_body: usize) -> Self {
        // Settings validation keeps both below 4 GiB.
        let budget = server.max_buffered_body_bytes.min(Semaphore::MAX_PERMITS);
        Self {
            timeouts: Timeouts {
                header_read: server.header_read_timeout(),
                idle: server.idle_timeout(),
            },
            max_connections: server.max_connections,
            max_header_bytes: server.max_header_bytes,
            bodies: BodyLimits {
                timeout: server.body_read_timeout(),
                budget: Arc::new(Semaphore::new(budget)),
                largest: u32::try_from(largest_body).unwrap_or(u32::MAX),
            },
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
    let mut builder = http1::Builder::new();
    // hyper's own header timer restarts as soon as a keep-alive connection goes idle, so it
    // would close idle connections after the header timeout; `Activity` does both instead.
    builder.header_read_timeout(None);
    // A head beyond either limit is answered 431 by hyper, and the connection closed.
    builder.max_buf_size(limits.max_header_bytes);
    builder.max_headers(MAX_HEADERS);
    loop {
        let (stream, peer, slot) = tokio::select! {
            () = stopping.closed() => break,
            next = next_connection(&listener, &slots) => next,
        };
        let connection = serve_connection(
            stream,
            peer,
            router.clone(),
            builder.clone(),
            limits.clone(),
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

/// The size of a request's head as it came: the request line, each header line, the blank line.
fn head_bytes<B>(request: &hyper::Request<B>) -> usize {
    const CRLF: usize = 2;
    let uri = request.uri();
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    // "METHOD target HTTP/1.1": two spaces and eight characters of version.
    let request_line = request.method().as_str().len() + target + 10;
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + CRLF)
        .fold(request_line + CRLF, usize::saturating_add)
}

/// `431` with no body, as hyper answers a head beyond its buffer.
fn head_too_large() -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::empty());
    *response.status_mut() = hyper::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    response
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
    builder: http1::Builder,
    limits: Limits,
    stopping: watch::Sender<()>,
) {
    let Limits {
        timeouts,
        max_header_bytes,
        bodies,
        ..
    } = limits;
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = TokioIo::new(TrackedIo::new(stream, Arc::clone(&activity)));
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_progress = requests.request_started();
        let reading = Arc::new(Reading::default());
        // hyper's own limit is its read buffer, which one read may take past the limit.
        let head_fits = head_bytes(&request) <= max_header_bytes;
        let mut request = request.map(|body| {
            axum::body::Body::new(LimitedBody::new(body, &bodies, Arc::clone(&reading)))
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = head_fits.then(|| router.clone().oneshot(request));
        async move {
            let mut response = match response {
                Some(response) => response.await?,
                None => head_too_large(),
            };
            if reading.finish() || !head_fits {
                // The rest of the body may still come: the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            // The request stays in progress until hyper has written (and dropped) the body.
            Ok::<_, Infallible>(response.map(|body| {
                body.map_frame(move |frame| {
                    let _in_progress = &in_progress;
                    frame
                })
            }))
        }
    });
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
