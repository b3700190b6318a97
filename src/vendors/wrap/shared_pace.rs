//! `SharedPaced`: a vendor's rate limit held by every replica on one store together (Postgres),
//! instead of by each process alone (`pace.rs`).
//!
//! Each call reserves its turn in the store (`SharedLimits::reserve_calls`, one atomic statement on
//! the store's clock), then waits for it. Calls that wait at the same time share a statement:
//! one task per limit sends every reservation queued while the previous statement ran, like a
//! group commit, so a burst costs a few round trips instead of one per call. A turn that
//! would start after the request's deadline is not taken (`Deadline`); a store that fails or
//! does not answer within `RESERVE_TIMEOUT` means no call (`PacingUnavailable`): the limit is
//! never exceeded because a reservation could not be made.
//!
//! Background calls (`Priority::Background`) reserve in statements of their own, sent after the
//! group's interactive one, with no wait and against `limit - reserve`: a turn that is not free
//! now, or would fill the window past that, is refused (`Deadline`), so they never hold a turn
//! an interactive call could have had. They never wait for room in the queue either.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::interactive_reserve;
use crate::store::SharedLimits;
use crate::vendors::settings::RateLimit;
use crate::vendors::{Batch, CallContext, DocState, Priority, Reply, UpstreamError, Vendor};

/// Reservations waiting for the next statement; a full queue makes callers wait.
const QUEUE: usize = 1024;
/// Most reservations in one statement.
const MAX_GROUP: usize = 256;
/// How long a statement may take before its callers give up on it (nothing is sent then).
const RESERVE_TIMEOUT: Duration = Duration::from_secs(2);

/// When a reserved call may go, and by when it must have gone.
#[derive(Debug, Clone, Copy)]
struct Turn {
    at: Instant,
    latest: Instant,
}

struct Waiter {
    deadline: Instant,
    background: bool,
    turn: oneshot::Sender<Result<Turn, UpstreamError>>,
}

/// Paces the calls of `inner` under a limit shared through the store.
#[derive(Debug)]
pub struct SharedPaced {
    inner: Arc<dyn Vendor>,
    name: String,
    queue: mpsc::Sender<Waiter>,
}

impl SharedPaced {
    /// Paces `inner` (the vendor called `name`) under `limit`, reserving in `store`, with
    /// `interactive_reserve_percent` of it left to interactive calls. Starts the task that
    /// reserves for it, which ends when this wrapper is dropped.
    pub fn new(
        name: &str,
        inner: Arc<dyn Vendor>,
        limit: RateLimit,
        store: Arc<dyn SharedLimits>,
        interactive_reserve_percent: u32,
    ) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let limiter = Limiter {
            name: name.to_owned(),
            background_cap: limit.calls.max(1)
                - interactive_reserve(limit.calls.max(1), interactive_reserve_percent),
            limit,
            store,
        };
        tokio::spawn(reserve_in_groups(limiter, waiting));
        Self {
            inner,
            name: name.to_owned(),
            queue,
        }
    }

    /// Reserves `calls` turns and waits for the last; every turn must fit the deadline.
    async fn turns(&self, calls: usize, ctx: &CallContext<'_>) -> Result<(), UpstreamError> {
        let (deadline, background) = (ctx.deadline, ctx.priority == Priority::Background);
        let mut answers = Vec::with_capacity(calls);
        for _ in 0..calls {
            let (turn, answer) = oneshot::channel();
            let waiter = Waiter {
                deadline,
                background,
                turn,
            };
            let queued = if background {
                self.queue.try_send(waiter).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => UpstreamError::Deadline,
                    mpsc::error::TrySendError::Closed(_) => UpstreamError::PacingUnavailable,
                })
            } else {
                match tokio::time::timeout_at(deadline, self.queue.send(waiter)).await {
                    Ok(Ok(())) => Ok(()),
                    // The reserving task ended (shutdown): nothing can be reserved.
                    Ok(Err(_)) => Err(UpstreamError::PacingUnavailable),
                    Err(_) => Err(UpstreamError::Deadline),
                }
            };
            answers.push(queued.map(|()| answer)?);
        }
        let mut last: Option<Turn> = None;
        for answer in answers {
            let turn = match tokio::time::timeout_at(deadline, answer).await {
                Ok(Ok(turn)) => turn?,
                Ok(Err(_)) => return Err(UpstreamError::PacingUnavailable),
                Err(_) => return Err(UpstreamError::Deadline),
            };
            last = Some(last.map_or(turn, |l| Turn {
                at: l.at.max(turn.at),
                latest: l.latest.min(turn.latest),
            }));
        }
        let Some(turn) = last else {
            return Ok(());
        };
        if turn.at > deadline {
            return Err(UpstreamError::Deadline);
        }
        // A timer rounds up to the next millisecond even when the turn has come.
        if turn.at > Instant::now() {
            tokio::time::sleep_until(turn.at).await;
        }
        // A store that answered too slowly leaves turns that are over: calling now could
        // exceed the limit, so the call is not made.
        if Instant::now() > turn.latest {
            tracing::warn!(vendor = %self.name, "A shared rate-limit reservation lapsed before its call; not calling.");
            return Err(UpstreamError::PacingUnavailable);
        }
        Ok(())
    }
}

/// One limit as the reserving task holds it.
struct Limiter {
    name: String,
    limit: RateLimit,
    /// `limit.calls` less the interactive reserve: the most a background call may fill a
    /// window to.
    background_cap: u32,
    store: Arc<dyn SharedLimits>,
}

/// Sends every queued reservation in one statement (two when background calls wait too: one
/// statement serves one cap), answers each waiter, and repeats.
async fn reserve_in_groups(limiter: Limiter, mut waiting: mpsc::Receiver<Waiter>) {
    while let Some(first) = waiting.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match waiting.try_recv() {
                Ok(waiter) => group.push(waiter),
                Err(_) => break,
            }
        }
        group.retain(|waiter| !waiter.turn.is_closed());
        let (background, interactive): (Vec<_>, Vec<_>) =
            group.into_iter().partition(|waiter| waiter.background);
        limiter.reserve(interactive, limiter.limit.calls).await;
        limiter.reserve(background, limiter.background_cap).await;
    }
}

impl Limiter {
    /// Reserves one turn per waiter of `group` in one statement, filling windows to at most
    /// `cap`, and answers each. Background waiters may not wait at all.
    async fn reserve(&self, group: Vec<Waiter>, cap: u32) {
        if group.is_empty() {
            return;
        }
        if cap == 0 {
            for waiter in group {
                let _ = waiter.turn.send(Err(UpstreamError::Deadline));
            }
            return;
        }
        let (name, limit, store) = (&self.name, &self.limit, &self.store);
        let sent = Instant::now();
        let max_waits: Vec<Duration> = group
            .iter()
            .map(|waiter| {
                if waiter.background {
                    Duration::ZERO
                } else {
                    waiter.deadline.saturating_duration_since(sent)
                }
            })
            .collect();
        let reserved = tokio::time::timeout(
            RESERVE_TIMEOUT,
            store.reserve_calls(&limit.key, cap, limit.window, &max_waits),
        )
        .await;
        let answered = Instant::now();
        let turns = match reserved {
            Ok(Ok(slots)) => slots,
            Ok(Err(error)) => {
                tracing::error!(vendor = %name, %error, "The shared rate limit could not be reserved; no call was made.");
                Vec::new()
            }
            Err(_) => {
                tracing::error!(vendor = %name, "The store did not answer a rate-limit reservation in time; no call was made.");
                Vec::new()
            }
        };
        // A waiter left without a slot (the store failed) sees its sender dropped: no call.
        for (waiter, slot) in group.into_iter().zip(turns) {
            let turn = slot.map_or(Err(UpstreamError::Deadline), |reservation| {
                Ok(Turn {
                    at: answered + reservation.wait,
                    latest: sent + reservation.valid_for,
                })
            });
            let _ = waiter.turn.send(turn);
        }
    }
}

#[async_trait]
impl Vendor for SharedPaced {
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
        match self.turns(calls, &batch.ctx).await {
            Ok(()) => self.inner.cancel(batch).await,
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
        self.turns(1, ctx).await?;
        self.inner.status(code, ctx).await
    }
}

#[cfg(test)]
mod tests;
