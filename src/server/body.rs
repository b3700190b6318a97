//! A request body as the handlers read it: it must arrive within `server.body_read_timeout_ms`
//! of signgate starting to read it, and it holds its share of `server.max_buffered_body_bytes`
//! from then until its request is answered.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// The limits every request body shares.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// `server.body_read_timeout_ms`.
    pub timeout: Duration,
    /// `server.max_buffered_body_bytes`, as permits of one byte each.
    pub budget: Arc<Semaphore>,
    /// The largest body any route accepts: what a body of unknown length reserves.
    pub largest: u32,
}

/// The error a body yields when it did not arrive in time; handlers find it in the cause chain
/// of their body rejection (`is_timeout`).
#[derive(Debug)]
pub struct BodyTimedOut;

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl Error for BodyTimedOut {}

/// Whether `error` (a body rejection, say) was caused by a body that did not arrive in time.
pub fn is_timeout(error: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if current.is::<BodyTimedOut>() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// What one request's body and its connection share: whether the body timed out, and the
/// budget it holds until the answer is ready.
#[derive(Debug, Default)]
pub struct Reading {
    timed_out: AtomicBool,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Reading {
    /// The answer is ready: gives the body's budget back, and says whether the body timed out.
    pub fn finish(&self) -> bool {
        if let Ok(mut held) = self.held.lock() {
            held.take();
        }
        self.timed_out.load(Ordering::Relaxed)
    }
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

enum Step {
    /// Nothing to limit: no body, or all of it already read.
    Free,
    /// Waiting for room in the budget; the clock has not started.
    Waiting(Acquire),
    /// Reading, until the deadline.
    Reading(Pin<Box<Sleep>>),
    /// The deadline passed: the rest is never read.
    TimedOut,
}

/// A request body under the limits.
pub struct LimitedBody {
    inner: Incoming,
    step: Step,
    timeout: Duration,
    reading: Arc<Reading>,
}

impl LimitedBody {
    /// Wraps `inner`: a body with bytes to come reserves its length (its `Content-Length`, or
    /// `largest` when unknown, at most `largest`) when first read.
    pub fn new(inner: Incoming, limits: &BodyLimits, reading: Arc<Reading>) -> Self {
        let step = if inner.is_end_stream() {
            Step::Free
        } else {
            let wanted = inner
                .size_hint()
                .exact()
                .and_then(|length| u32::try_from(length).ok())
                .map_or(limits.largest, |length| length.min(limits.largest));
            Step::Waiting(Box::pin(
                Arc::clone(&limits.budget).acquire_many_owned(wanted.max(1)),
            ))
        };
        Self {
            inner,
            step,
            timeout: limits.timeout,
            reading,
        }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            match &mut this.step {
                Step::Free => return Pin::new(&mut this.inner).poll_frame(cx).map_err(Into::into),
                Step::TimedOut => return Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
                Step::Waiting(acquire) => {
                    // The semaphore is never closed; were it, the body would go unlimited.
                    if let Ok(permit) = ready!(acquire.as_mut().poll(cx)) {
                        if let Ok(mut held) = this.reading.held.lock() {
                            *held = Some(permit);
                        }
                    }
                    this.step = Step::Reading(Box::pin(tokio::time::sleep(this.timeout)));
                }
                Step::Reading(deadline) => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.reading.timed_out.store(true, Ordering::Relaxed);
                        this.step = Step::TimedOut;
                        continue;
                    }
                    let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
                    if frame.is_none() {
                        this.step = Step::Free;
                    }
                    return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
