//! Per-call wrappers around any `Vendor`, each adding one behaviour: the circuit breaker, call
//! metrics and the process-wide concurrency cap (pacing is in `pace.rs`, in process, and
//! `shared_pace.rs`, through the store). `wrap` stacks them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::{Batch, CallContext, DocState, Priority, Reply, UpstreamError, Vendor};
use pace::Paced;
use shared_pace::SharedPaced;

pub mod pace;
pub mod shared_pace;
use crate::metrics;
use crate::store::SharedLimits;
use crate::vendors::settings::VendorSettings;

/// The share (percent) of each rate limit and concurrency cap kept for interactive calls
/// where no setting says otherwise.
pub const DEFAULT_INTERACTIVE_RESERVE_PERCENT: u32 = 10;

/// Stacks the per-call layers, outermost first: breaker, metrics, concurrency cap, pacing.
/// Pacing is innermost so nothing waits between taking a slot and sending. Each of a
/// vendor's rate limits (one per window it counts in) is paced through `shared` when the
/// store shares limits between replicas (Postgres), else in this process. Background calls
/// leave `interactive_reserve_percent` of each limit and of the cap to interactive ones.
pub fn wrap(
    name: &str,
    settings: &VendorSettings,
    adapter: Arc<dyn Vendor>,
    shared: Option<&Arc<dyn SharedLimits>>,
    interactive_reserve_percent: u32,
) -> Arc<dyn Vendor> {
    let percent = interactive_reserve_percent;
    let limits = settings.rate_limits();
    let several = limits.len() > 1;
    let paced = limits.into_iter().fold(adapter, |inner, mut limit| {
        if several {
            // One account, several windows: each window is a limit of its own.
            limit.key = format!("{}/{}s", limit.key, limit.window.as_secs());
        }
        match shared {
            Some(shared) => Arc::new(SharedPaced::new(
                name,
                inner,
                limit,
                Arc::clone(shared),
                percent,
            )),
            None => Arc::new(Paced::new(inner, limit.calls, limit.window, percent)),
        }
    });
    let limited = Arc::new(Limited::new(paced, settings.max_concurrency(), percent));
    let measured = Arc::new(Measured::new(name, limited));
    Arc::new(Breaker::new(
        name,
        measured,
        settings.breaker_failures(),
        settings.breaker_cooldown(),
    ))
}

/// How much of `capacity` background calls leave to interactive ones: `percent` of it,
/// rounded up, at least 1 when `capacity` > 1 and none when it is 1 (a single slot is taken
/// by whoever finds it free) or when `percent` is 0 (jobs may use everything). Never more
/// than `capacity`.
pub fn interactive_reserve(capacity: u32, percent: u32) -> u32 {
    if capacity <= 1 || percent == 0 {
        return 0;
    }
    let reserve = (u64::from(capacity) * u64::from(percent)).div_ceil(100);
    u32::try_from(reserve)
        .unwrap_or(u32::MAX)
        .clamp(1, capacity)
}

/// Whether a reply counts as a vendor failure for the breaker: transport, timeout or `5xx`.
fn is_failure(reply: &Result<impl Sized, UpstreamError>) -> bool {
    reply
        .as_ref()
        .err()
        .is_some_and(|e| e.class().breaker_failure)
}

// ---- concurrency cap -----------------------------------------------------------------------

/// How often a background call looks for a spare permit.
const SPARE_PERMIT_POLL: Duration = Duration::from_millis(5);

/// Bounds the calls in flight to one vendor across the whole process (`max_concurrency`).
/// Background calls never queue for a permit: they take one only while more than `reserve`
/// are free, so interactive calls always find one of those.
#[derive(Debug)]
pub struct Limited {
    inner: Arc<dyn Vendor>,
    permits: Semaphore,
    reserve: u32,
}

impl Limited {
    /// At most `max` calls of `inner` at once, `interactive_reserve_percent` of them kept
    /// for interactive calls.
    pub fn new(inner: Arc<dyn Vendor>, max: usize, interactive_reserve_percent: u32) -> Self {
        let max_u32 = u32::try_from(max).unwrap_or(u32::MAX);
        Self {
            inner,
            permits: Semaphore::new(max),
            reserve: interactive_reserve(max_u32, interactive_reserve_percent),
        }
    }
}

#[async_trait]
impl Vendor for Limited {
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        match self.permit(&batch.ctx).await {
            Ok(_permit) => self.inner.cancel(batch).await,
            Err(e) => vec![Err(e); batch.codes.len()],
        }
    }

    fn can_read_status(&self) -> bool {
        self.inner.can_read_status()
    }

    fn malformed_code(&self, code: &str) -> Option<&'static str> {
        self.inner.malformed_code(code)
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let _permit = self.permit(ctx).await?;
        self.inner.status(code, ctx).await
    }
}

impl Limited {
    /// Waits for a free slot, but not past the deadline: a call still queued then was never
    /// sent, so it fails as such.
    async fn permit(&self, ctx: &CallContext<'_>) -> Result<SemaphorePermit<'_>, UpstreamError> {
        if ctx.priority == Priority::Background {
            return self.spare_permit(ctx.deadline).await;
        }
        match tokio::time::timeout_at(ctx.deadline, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one would mean nothing can be sent.
            Ok(Err(_)) | Err(_) => Err(UpstreamError::Deadline),
        }
    }

    /// A permit taken while more than `reserve` are free, looked for every
    /// `SPARE_PERMIT_POLL` until the deadline. `try_acquire` never queues, and fails while
    /// interactive calls queue (released permits go to them first).
    async fn spare_permit(&self, deadline: Instant) -> Result<SemaphorePermit<'_>, UpstreamError> {
        loop {
            // Taking `reserve + 1` at once checks "more than `reserve` free" atomically; all
            // but one go straight back.
            if let Ok(mut taken) = self
                .permits
                .try_acquire_many(self.reserve.saturating_add(1))
            {
                let permit = taken.split(1).ok_or(UpstreamError::Deadline)?;
                drop(taken);
                return Ok(permit);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(UpstreamError::Deadline);
            }
            tokio::time::sleep_until((now + SPARE_PERMIT_POLL).min(deadline)).await;
        }
    }
}

// ---- metrics -------------------------------------------------------------------------------

/// Counts and times every call that reaches the vendor.
#[derive(Debug)]
pub struct Measured {
    inner: Arc<dyn Vendor>,
    name: String,
}

impl Measured {
    /// Measures `inner` under the vendor label `name`.
    pub fn new(name: &str, inner: Arc<dyn Vendor>) -> Self {
        Self {
            inner,
            name: name.to_owned(),
        }
    }
}

#[async_trait]
impl Vendor for Measured {
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        let started = std::time::Instant::now();
        let replies = self.inner.cancel(batch).await;
        let outcome = replies.first().map_or("ok", |r| match r {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        });
        metrics::vendor_call(&self.name, outcome, started.elapsed());
        replies
    }

    fn can_read_status(&self) -> bool {
        self.inner.can_read_status()
    }

    fn malformed_code(&self, code: &str) -> Option<&'static str> {
        self.inner.malformed_code(code)
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let started = std::time::Instant::now();
        let state = self.inner.status(code, ctx).await;
        let outcome = state.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok");
        metrics::vendor_call(&self.name, outcome, started.elapsed());
        state
    }
}

// ---- circuit breaker -----------------------------------------------------------------------

/// Opens after `threshold` consecutive failures; while open, calls fail at once with
/// `CircuitOpen`; after a jittered cool-down one probe call decides whether it closes.
#[derive(Debug)]
pub struct Breaker {
    inner: Arc<dyn Vendor>,
    name: String,
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe call is in flight.
    Probing,
}

/// Permission to call; a probe that is dropped unfinished reopens the breaker.
struct Admission<'a> {
    breaker: &'a Breaker,
    probe: bool,
    settled: bool,
}

impl Admission<'_> {
    fn settle(mut self, failed: bool) {
        self.settled = true;
        self.breaker.record(failed, self.probe);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            self.breaker.record(true, true);
        }
    }
}

impl Breaker {
    /// A closed breaker around `inner`.
    pub fn new(name: &str, inner: Arc<dyn Vendor>, threshold: u32, cooldown: Duration) -> Self {
        metrics::circuit_open(name, false);
        Self {
            inner,
            name: name.to_owned(),
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    fn admit(&self) -> Option<Admission<'_>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let probe = match *state {
            BreakerState::Closed { .. } => false,
            BreakerState::Open { until } if Instant::now() >= until => {
                *state = BreakerState::Probing;
                true
            }
            BreakerState::Open { .. } | BreakerState::Probing => return None,
        };
        Some(Admission {
            breaker: self,
            probe,
            settled: false,
        })
    }

    fn record(&self, failed: bool, probe: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let next = match (*state, failed) {
            (BreakerState::Probing, true) if probe => self.open_state(),
            (BreakerState::Probing, false) if probe => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, true) if failures + 1 >= self.threshold => {
                self.open_state()
            }
            (BreakerState::Closed { failures }, true) => BreakerState::Closed {
                failures: failures + 1,
            },
            (BreakerState::Closed { .. }, false) => BreakerState::Closed { failures: 0 },
            // A call admitted before the breaker opened, or before another probe: no change.
            (BreakerState::Open { .. } | BreakerState::Probing, _) => *state,
        };
        if next != *state {
            let open = !matches!(next, BreakerState::Closed { .. });
            if open != !matches!(*state, BreakerState::Closed { .. }) {
                metrics::circuit_open(&self.name, open);
                tracing::warn!(vendor = %self.name, open, "Circuit breaker changed state.");
            }
            *state = next;
        }
    }

    fn open_state(&self) -> BreakerState {
        let jitter = rand::rng().random_range(0.8..1.2);
        BreakerState::Open {
            until: Instant::now() + self.cooldown.mul_f64(jitter),
        }
    }
}

#[async_trait]
impl Vendor for Breaker {
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        let Some(admission) = self.admit() else {
            return vec![Err(UpstreamError::CircuitOpen); batch.codes.len()];
        };
        let replies = self.inner.cancel(batch).await;
        admission.settle(replies.iter().any(is_failure));
        replies
    }

    fn can_read_status(&self) -> bool {
        self.inner.can_read_status()
    }

    fn malformed_code(&self, code: &str) -> Option<&'static str> {
        self.inner.malformed_code(code)
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let admission = self.admit().ok_or(UpstreamError::CircuitOpen)?;
        let state = self.inner.status(code, ctx).await;
        admission.settle(is_failure(&state));
        state
    }
}

#[cfg(test)]
mod tests;
