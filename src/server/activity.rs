//! One connection's activity (requests in flight, bytes arriving between requests) and the
//! watchdog that closes the connection when a request head is too slow or it sits idle.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// "No request head is pending" in `Activity::head_since`.
const NONE: u64 = u64::MAX;

/// The two connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From accepting a connection, or from the first byte after an idle spell, to a whole
    /// request head (`server.header_read_timeout_ms`).
    pub header_read: Duration,
    /// With no request in progress and no bytes (`server.idle_timeout_ms`).
    pub idle: Duration,
}

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The request head did not arrive in time.
    HeaderRead,
    /// Nothing happened on a connection with no request in progress.
    Idle,
}

impl Expiry {
    /// The setting that expired, for logs.
    pub fn key(self) -> &'static str {
        match self {
            Self::HeaderRead => "server.header_read_timeout_ms",
            Self::Idle => "server.idle_timeout_ms",
        }
    }
}

/// What one connection is doing, shared by its IO, its requests and its watchdog. Times are
/// milliseconds since the connection was accepted.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    head_since: AtomicU64,
    idle_since: AtomicU64,
    went_idle: Notify,
}

impl Activity {
    /// A connection just accepted: it owes its first request head from now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_since: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            went_idle: Notify::new(),
        })
    }

    /// Marks a request as in progress until the returned guard is dropped (hyper drops the
    /// response body once it is written, or the request when the connection goes away).
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
        RequestGuard(Arc::clone(self))
    }

    /// Resolves when a timeout expires; never while a request is in progress.
    pub async fn expired(&self, timeouts: Timeouts) -> Expiry {
        loop {
            match self.deadline(timeouts) {
                None => self.went_idle.notified().await,
                Some((at, expiry)) if Instant::now() >= at => return expiry,
                Some((at, _)) => tokio::time::sleep_until(at).await,
            }
        }
    }

    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let at = |ms: u64, timeout: Duration| self.epoch + Duration::from_millis(ms) + timeout;
        match self.head_since.load(Ordering::Relaxed) {
            NONE => Some((
                at(self.idle_since.load(Ordering::Relaxed), timeouts.idle),
                Expiry::Idle,
            )),
            since => Some((at(since, timeouts.header_read), Expiry::HeaderRead)),
        }
    }

    /// Bytes arrived: between requests, they start the next request head's clock.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let now = self.now_ms();
            let _ =
                self.head_since
                    .compare_exchange(NONE, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NONE - 1)
    }
}

/// A request in progress on its connection; dropping it ends the request.
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            activity
                .idle_since
                .store(activity.now_ms(), Ordering::Relaxed);
            activity.went_idle.notify_one();
        }
    }
}

/// A stream that reports the bytes it reads to its connection's `Activity`.
#[derive(Debug)]
pub struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> TrackedIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header_read: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_owes_its_first_request_head_within_the_header_timeout() {
        let activity = Activity::new();
        let started = Instant::now();

        let expiry = activity.expired(TIMEOUTS).await;

        assert_eq!(expiry, Expiry::HeaderRead);
        assert_eq!(started.elapsed(), TIMEOUTS.header_read);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_request_is_never_cut_and_the_idle_clock_starts_when_it_ends() {
        let activity = Activity::new();
        let request = activity.request_started();
        let watchdog = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { activity.expired(TIMEOUTS).await }
        });

        tokio::time::sleep(Duration::from_secs(120)).await;
        let cut_while_busy = watchdog.is_finished();
        drop(request);
        let ended = Instant::now();
        let expiry = watchdog.await.unwrap();

        assert!(!cut_while_busy);
        assert_eq!(expiry, Expiry::Idle);
        assert_eq!(ended.elapsed(), TIMEOUTS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_byte_after_an_idle_spell_starts_the_header_clock() {
        let activity = Activity::new();
        drop(activity.request_started());
        tokio::time::sleep(Duration::from_secs(30)).await;

        activity.bytes_read();
        let first_byte = Instant::now();
        let expiry = activity.expired(TIMEOUTS).await;

        assert_eq!(expiry, Expiry::HeaderRead);
        assert_eq!(first_byte.elapsed(), TIMEOUTS.header_read);
    }
}
