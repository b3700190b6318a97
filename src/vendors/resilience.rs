//! Per-call wrappers around any `Vendor`, each adding one behaviour: the circuit breaker, the
//! process-wide concurrency cap, rate pacing and call metrics. `wrap` stacks them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::{Batch, CallContext, DocState, Reply, UpstreamError, Vendor};
use crate::metrics;
use crate::settings::{VendorKind, VendorSettings};

/// The window ZapSign counts its limit in.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Stacks the per-call layers, outermost first: breaker, metrics, concurrency cap, pacing.
/// Pacing is innermost so nothing waits between taking a slot and sending.
pub fn wrap(name: &str, settings: &VendorSettings, adapter: Arc<dyn Vendor>) -> Arc<dyn Vendor> {
    let paced: Arc<dyn Vendor> = match settings.kind {
        VendorKind::Zapsign => Arc::new(Paced::new(
            adapter,
            settings.requests_per_minute() as usize,
            RATE_WINDOW,
        )),
        VendorKind::Auco => adapter,
    };
    let limited = Arc::new(Limited::new(paced, settings.max_concurrency()));
    let measured = Arc::new(Measured::new(name, limited));
    Arc::new(Breaker::new(
        name,
        measured,
        settings.breaker_failures(),
        settings.breaker_cooldown(),
    ))
}

/// Whether a reply counts as a vendor failure for the breaker: transport, timeout or `5xx`.
fn is_failure(reply: &Result<impl Sized, UpstreamError>) -> bool {
    matches!(
        reply,
        Err(UpstreamError::Connect
            | UpstreamError::Timeout
            | UpstreamError::Transport
            | UpstreamError::Server { .. })
    )
}

// ---- concurrency cap -----------------------------------------------------------------------

/// Bounds the calls in flight to one vendor across the whole process (`max_concurrency`).
#[derive(Debug)]
pub struct Limited {
    inner: Arc<dyn Vendor>,
    permits: Semaphore,
}

impl Limited {
    /// At most `max` calls of `inner` at once.
    pub fn new(inner: Arc<dyn Vendor>, max: usize) -> Self {
        Self {
            inner,
            permits: Semaphore::new(max),
        }
    }
}

#[async_trait]
impl Vendor for Limited {
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        match self.permit(batch.ctx.deadline).await {
            Ok(_permit) => self.inner.cancel(batch).await,
            Err(e) => vec![Err(e); batch.codes.len()],
        }
    }

    fn can_read_status(&self) -> bool {
        self.inner.can_read_status()
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let _permit = self.permit(ctx.deadline).await?;
        self.inner.status(code, ctx).await
    }
}

impl Limited {
    /// Waits for a free slot, but not past the deadline: a call still queued then was never
    /// sent, so it fails as such.
    async fn permit(&self, deadline: Instant) -> Result<SemaphorePermit<'_>, UpstreamError> {
        match tokio::time::timeout_at(deadline, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one would mean nothing can be sent.
            Ok(Err(_)) | Err(_) => Err(UpstreamError::Deadline),
        }
    }
}

// ---- pacing --------------------------------------------------------------------------------

/// Never more than `limit` calls in any `window`, across all requests of the process.
///
/// A sliding log of send times rather than a token bucket: ZapSign counts fixed one-minute
/// windows, and a bucket's burst plus a minute of refill can exceed the limit in one window.
#[derive(Debug)]
pub struct Paced {
    inner: Arc<dyn Vendor>,
    limit: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl Paced {
    /// At most `limit` calls of `inner` per `window`.
    pub fn new(inner: Arc<dyn Vendor>, limit: usize, window: Duration) -> Self {
        Self {
            inner,
            limit: limit.max(1),
            window,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Reserves the earliest send time that keeps the limit, and waits for it. A slot past the
    /// deadline is not taken: the call fails at once and wastes no capacity.
    async fn slot(&self, deadline: Instant) -> Result<(), UpstreamError> {
        let at = {
            let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let at = match sent.len().checked_sub(self.limit) {
                Some(i) => sent.get(i).map_or(now, |&t| (t + self.window).max(now)),
                None => now,
            };
            if at > deadline {
                return Err(UpstreamError::Deadline);
            }
            sent.push_back(at);
            while sent.len() > self.limit {
                sent.pop_front();
            }
            at
        };
        tokio::time::sleep_until(at).await;
        Ok(())
    }
}

#[async_trait]
impl Vendor for Paced {
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        // A per-document vendor makes one HTTP call per code.
        let calls = if self.inner.batch_size() == 1 {
            batch.codes.len()
        } else {
            1
        };
        for _ in 0..calls {
            if let Err(e) = self.slot(batch.ctx.deadline).await {
                return vec![Err(e); batch.codes.len()];
            }
        }
        self.inner.cancel(batch).await
    }

    fn can_read_status(&self) -> bool {
        self.inner.can_read_status()
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        self.slot(ctx.deadline).await?;
        self.inner.status(code, ctx).await
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

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        let admission = self.admit().ok_or(UpstreamError::CircuitOpen)?;
        let state = self.inner.status(code, ctx).await;
        admission.settle(is_failure(&state));
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;
    use crate::vendors::Answer;

    /// Answers every call at once and records when it came.
    #[derive(Debug, Default)]
    struct Recorder {
        at: Mutex<Vec<Instant>>,
        fail: bool,
    }

    #[async_trait]
    impl Vendor for Recorder {
        fn batch_size(&self) -> usize {
            1
        }

        async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
            self.at.lock().unwrap().push(Instant::now());
            let reply = if self.fail {
                Err(UpstreamError::Timeout)
            } else {
                Ok(Answer {
                    outcome: Outcome::Cancelled,
                    http_status: 200,
                })
            };
            vec![reply; batch.codes.len()]
        }
    }

    fn batch<'a>(codes: &'a [String], deadline: Instant) -> Batch<'a> {
        Batch {
            codes,
            message: "m",
            email: "a@b.co",
            notify_signers: true,
            ctx: CallContext {
                request_id: "t",
                deadline,
            },
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_keeps_every_window_at_or_under_the_limit() {
        let recorder = Arc::new(Recorder::default());
        let paced = Arc::new(Paced::new(recorder.clone(), 3, Duration::from_secs(60)));
        let deadline = Instant::now() + Duration::from_secs(600);
        let codes = vec!["X".to_string()];
        let calls = (0..10).map(|_| {
            let paced = Arc::clone(&paced);
            let codes = codes.clone();
            async move { paced.cancel(&batch(&codes, deadline)).await }
        });
        futures::future::join_all(calls).await;

        let at = recorder.at.lock().unwrap().clone();
        assert_eq!(at.len(), 10);
        for (i, start) in at.iter().enumerate() {
            let in_window = at[i..]
                .iter()
                .filter(|&&t| t < *start + Duration::from_secs(60))
                .count();
            assert!(in_window <= 3, "{in_window} calls within 60 s of call {i}");
        }
        assert!(
            at[9] - at[0] < Duration::from_secs(181),
            "pacing waited longer than needed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_refuses_a_slot_past_the_deadline_without_calling() {
        let recorder = Arc::new(Recorder::default());
        let paced = Paced::new(recorder.clone(), 1, Duration::from_secs(60));
        let codes = vec!["X".to_string()];
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(paced.cancel(&batch(&codes, deadline)).await[0].is_ok());
        let late = paced.cancel(&batch(&codes, deadline)).await;
        assert_eq!(late[0], Err(UpstreamError::Deadline));
        assert_eq!(recorder.at.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_dropped_unfinished_reopens_the_breaker() {
        let recorder = Arc::new(Recorder {
            fail: true,
            ..Recorder::default()
        });
        let breaker = Breaker::new("t", recorder.clone(), 1, Duration::from_secs(1));
        let codes = vec!["X".to_string()];
        let deadline = Instant::now() + Duration::from_secs(600);
        breaker.cancel(&batch(&codes, deadline)).await;
        assert_eq!(
            breaker.cancel(&batch(&codes, deadline)).await[0],
            Err(UpstreamError::CircuitOpen)
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        let admission = breaker
            .admit()
            .expect("a probe is let through after the cool-down");
        drop(admission);
        assert!(
            breaker.admit().is_none(),
            "an abandoned probe must not leave the breaker stuck"
        );
        assert_eq!(recorder.at.lock().unwrap().len(), 1);
    }
}
