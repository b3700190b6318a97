//! The per-document retry policy on top of a wrapped vendor: safe retries, reconciliation by
//! status read after ambiguous failures, single re-sends to attribute a rejected batch, and
//! refinement of unexplained refusals. It spans several calls per document, so it sits above
//! the per-call wrappers instead of being one of them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::join_all;
use rand::Rng;
use tokio::time::Instant;

use super::{Batch, CallContext, DocState, Reply, UpstreamError, Vendor};
use crate::metrics;
use crate::model::{ErrorCode, Outcome};

/// First backoff; doubled per round, with full jitter.
const BASE_BACKOFF: Duration = Duration::from_millis(100);

/// What one request asks of a vendor, apart from the codes.
#[derive(Debug, Clone, Copy)]
pub struct Details<'a> {
    /// The reason.
    pub message: &'a str,
    /// Who cancels.
    pub email: &'a str,
    /// Whether signers are told.
    pub notify_signers: bool,
    /// Request id and deadline.
    pub ctx: CallContext<'a>,
}

/// One document's settled result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// What happened.
    pub outcome: Outcome,
    /// The HTTP status of the last vendor answer about it.
    pub vendor_status: Option<u16>,
    /// Cancel calls that carried it.
    pub calls: u32,
    /// The vendor may have acted although `outcome` cannot say so; a status read can tell
    /// later (set only for vendors with a status read).
    pub unknown: bool,
    /// The document's state, when a status read settled the outcome.
    pub state: Option<DocState>,
}

/// Where a document's policy starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Nothing has been sent for it yet.
    Fresh,
    /// An earlier attempt of the same request may have sent the cancel (its process stopped
    /// before the vendor answered): the status is read before any send, and a vendor without
    /// a status read leaves the document `interrupted`.
    Resume,
}

/// A vendor with its retry policy and retry budget.
#[derive(Debug)]
pub struct Policy {
    name: String,
    vendor: Arc<dyn Vendor>,
    max_attempts: u32,
    budget: Budget,
}

/// One document's progress through the rounds.
struct Doc {
    code: String,
    calls: u32,
    /// An earlier call of this request may have cancelled it.
    ambiguous: bool,
    /// Resumed after an interrupted attempt: nothing is known until a status read.
    resumed: bool,
    /// A definite answer or status settled it (not a last error).
    definite: bool,
    last_error: Option<UpstreamError>,
    vendor_status: Option<u16>,
    outcome: Option<Outcome>,
    state: Option<DocState>,
}

impl Policy {
    /// The policy for `vendor` (already wrapped in the per-call layers).
    pub fn new(name: &str, vendor: Arc<dyn Vendor>, max_attempts: u32) -> Self {
        Self {
            name: name.to_owned(),
            vendor,
            max_attempts: max_attempts.max(1),
            budget: Budget::new(),
        }
    }

    /// Most codes per cancel call.
    pub fn batch_size(&self) -> usize {
        self.vendor.batch_size().max(1)
    }

    /// Whether the vendor can read a document's status.
    pub fn can_read_status(&self) -> bool {
        self.vendor.can_read_status()
    }

    /// Why `code` cannot name one of the vendor's documents, if it cannot (`Vendor`).
    pub fn malformed_code(&self, code: &str) -> Option<&'static str> {
        self.vendor.malformed_code(code)
    }

    /// Reads one document's status through the per-call wrappers (breaker, pacing, cap).
    pub async fn status(
        &self,
        code: &str,
        ctx: CallContext<'_>,
    ) -> Result<DocState, UpstreamError> {
        self.vendor.status(code, &ctx).await
    }

    /// Cancels `codes` (at most `batch_size()`), retrying and reconciling as docs/design.md allows,
    /// and returns one settled result per code, in order.
    pub async fn cancel(
        &self,
        codes: &[String],
        details: &Details<'_>,
        start: Start,
    ) -> Vec<Settled> {
        let readable = self.vendor.can_read_status();
        let mut docs: Vec<Doc> = codes.iter().map(|c| Doc::new(c, start)).collect();
        let everyone: Vec<usize> = (0..docs.len()).collect();
        let (mut pending, mut reconcile) = match start {
            Start::Fresh => (everyone, Vec::new()),
            Start::Resume if readable => (Vec::new(), everyone),
            Start::Resume => {
                docs.iter_mut().for_each(Doc::settle_last_error);
                (Vec::new(), Vec::new())
            }
        };
        let mut singles = false;
        let mut round = 0;
        while !pending.is_empty() || !reconcile.is_empty() {
            let replies = self.send(&docs, &pending, singles, details).await;
            let mut retry = Vec::new();
            let mut wait = None::<Duration>;
            for (i, reply) in replies {
                let doc = &mut docs[i];
                // A call refused before sending (deadline, open breaker, pacing) carried nothing.
                if !matches!(
                    reply,
                    Err(UpstreamError::Deadline
                        | UpstreamError::CircuitOpen
                        | UpstreamError::PacingUnavailable)
                ) {
                    doc.calls += 1;
                }
                match reply {
                    Ok(answer) => doc.settle_answer(answer.outcome, answer.http_status),
                    // Attributing a rejected batch is not a retry of a failure: no backoff.
                    Err(e @ UpstreamError::BatchRejected) if doc.calls < self.max_attempts => {
                        doc.fail(e);
                        singles = true;
                        retry.push(i);
                    }
                    Err(e) if e.is_ambiguous() && readable => {
                        doc.ambiguous = true;
                        doc.fail(e);
                        reconcile.push(i);
                    }
                    Err(e) if e.class().retry_safe && self.may_retry(doc) => {
                        let asked = e.retry_after().unwrap_or_default();
                        wait = Some(wait.unwrap_or_default().max(asked));
                        doc.fail(e);
                        retry.push(i);
                    }
                    Err(e) => doc.settle_error(e),
                }
            }
            for (i, state) in self.read_states(&docs, &reconcile, details.ctx).await {
                match state {
                    Ok(DocState::InProgress) if self.may_retry(&docs[i]) => {
                        wait = Some(wait.unwrap_or_default());
                        retry.push(i);
                    }
                    Ok(state) => docs[i].settle_state(state),
                    Err(_) => docs[i].settle_last_error(),
                }
            }
            round += 1;
            let wait = wait.map_or(Duration::ZERO, |asked| asked.max(backoff(round)));
            // A wait past the deadline (or past what the clock can hold) is not waited: the
            // documents fail with the last error, which carries the vendor's (capped) wait.
            let after_wait = Instant::now().checked_add(wait);
            if !retry.is_empty() && after_wait.is_none_or(|at| at >= details.ctx.deadline) {
                retry.drain(..).for_each(|i| docs[i].settle_last_error());
            }
            if !retry.is_empty() {
                tokio::time::sleep(wait).await;
            }
            pending = retry;
            reconcile = Vec::new();
        }
        self.refine_refusals(&mut docs, details.ctx).await;
        docs.into_iter()
            .map(|doc| doc.into_settled(readable))
            .collect()
    }

    /// Sends the pending documents: in batches, or one per call after a rejected batch.
    async fn send(
        &self,
        docs: &[Doc],
        pending: &[usize],
        singles: bool,
        details: &Details<'_>,
    ) -> Vec<(usize, Reply)> {
        if pending.is_empty() {
            return Vec::new();
        }
        let size = if singles { 1 } else { self.batch_size() };
        let calls = pending.chunks(size).map(|chunk| async move {
            let codes: Vec<String> = chunk.iter().map(|&i| docs[i].code.clone()).collect();
            let first = chunk.iter().all(|&i| docs[i].calls == 0);
            if first {
                self.budget.deposit();
            }
            let batch = Batch {
                codes: &codes,
                message: details.message,
                email: details.email,
                notify_signers: details.notify_signers,
                ctx: details.ctx,
            };
            let replies = self.vendor.cancel(&batch).await;
            chunk.iter().copied().zip(replies).collect::<Vec<_>>()
        });
        join_all(calls).await.into_iter().flatten().collect()
    }

    async fn read_states(
        &self,
        docs: &[Doc],
        indices: &[usize],
        ctx: CallContext<'_>,
    ) -> Vec<(usize, Result<DocState, UpstreamError>)> {
        let reads = indices
            .iter()
            .map(|&i| async move { (i, self.vendor.status(&docs[i].code, &ctx).await) });
        join_all(reads).await
    }

    /// Auco refuses without a reason; a status read (when possible) says which reason.
    async fn refine_refusals(&self, docs: &mut [Doc], ctx: CallContext<'_>) {
        if !self.vendor.can_read_status() {
            return;
        }
        let refused: Vec<usize> = (0..docs.len())
            .filter(|&i| {
                docs[i].outcome.as_ref().and_then(Outcome::error_code)
                    == Some(ErrorCode::VendorRefused)
            })
            .collect();
        for (i, state) in self.read_states(docs, &refused, ctx).await {
            if let Ok(
                state @ (DocState::Cancelled
                | DocState::Signed
                | DocState::Closed
                | DocState::NotFound),
            ) = state
            {
                docs[i].settle_state(state);
            }
        }
    }

    /// A retry needs an attempt left and a token from the budget.
    fn may_retry(&self, doc: &Doc) -> bool {
        let allowed = doc.calls < self.max_attempts && self.budget.withdraw();
        if allowed {
            metrics::vendor_retry(&self.name);
        }
        allowed
    }
}

/// Exponential backoff with full jitter for round `round` (1-based).
fn backoff(round: u32) -> Duration {
    let ceiling = BASE_BACKOFF * 2u32.saturating_pow(round.saturating_sub(1).min(6));
    ceiling.mul_f64(rand::rng().random_range(0.0..1.0))
}

impl Doc {
    fn new(code: &str, start: Start) -> Self {
        let resumed = start == Start::Resume;
        Self {
            code: code.to_owned(),
            calls: 0,
            ambiguous: resumed,
            resumed,
            definite: false,
            last_error: None,
            vendor_status: None,
            outcome: None,
            state: None,
        }
    }

    fn settle_answer(&mut self, outcome: Outcome, http_status: u16) {
        self.definite = true;
        self.vendor_status = Some(http_status);
        // "Already cancelled" after our own ambiguous attempt means our attempt worked.
        let ours = self.ambiguous && outcome.error_code() == Some(ErrorCode::AlreadyCancelled);
        self.outcome = Some(if ours { Outcome::Cancelled } else { outcome });
    }

    fn fail(&mut self, error: UpstreamError) {
        self.vendor_status = error.http_status().or(self.vendor_status);
        self.last_error = Some(error);
    }

    fn settle_error(&mut self, error: UpstreamError) {
        self.fail(error.clone());
        self.outcome = Some(error.into_outcome());
    }

    fn settle_last_error(&mut self) {
        self.outcome = Some(match (&self.last_error, self.resumed) {
            (Some(error), _) => error.clone().into_outcome(),
            (None, true) => Outcome::interrupted(),
            (None, false) => UpstreamError::Deadline.into_outcome(),
        });
    }

    fn settle_state(&mut self, state: DocState) {
        match outcome_of_state(state, self.ambiguous) {
            Some(outcome) => {
                self.definite = true;
                self.state = Some(state);
                self.outcome = Some(outcome);
            }
            None => self.settle_last_error(),
        }
    }

    fn into_settled(self, readable: bool) -> Settled {
        // The vendor may have acted when an ambiguous error came and no answer settled it.
        let unknown = readable && self.ambiguous && !self.definite;
        Settled {
            outcome: self
                .outcome
                .unwrap_or_else(|| UpstreamError::Deadline.into_outcome()),
            vendor_status: self.vendor_status,
            calls: self.calls,
            unknown,
            state: self.state,
        }
    }
}

/// The outcome a status read settles: `ours` when an attempt of this request may have been
/// the one that cancelled it. `None` for a document still in progress.
pub fn outcome_of_state(state: DocState, ours: bool) -> Option<Outcome> {
    Some(match state {
        DocState::Cancelled if ours => Outcome::Cancelled,
        DocState::Cancelled => Outcome::failed(
            ErrorCode::AlreadyCancelled,
            "The document was already cancelled.",
        ),
        DocState::Signed => {
            Outcome::failed(ErrorCode::AlreadySigned, "The document is already signed.")
        }
        DocState::Closed => Outcome::failed(
            ErrorCode::NotCancellable,
            "The vendor will not cancel the document in its current state (expired, declined or a draft, for example).",
        ),
        DocState::NotFound => Outcome::failed(
            ErrorCode::NotFound,
            "The vendor does not know this document.",
        ),
        DocState::InProgress => return None,
    })
}

// ---- retry budget --------------------------------------------------------------------------

/// Retries may add at most 20% to a vendor's traffic, plus a floor of one per second, so a
/// failing vendor is not hammered.
#[derive(Debug)]
struct Budget {
    state: Mutex<(f64, Instant)>,
}

const BUDGET_RATIO: f64 = 0.2;
const BUDGET_FLOOR_PER_SEC: f64 = 1.0;
const BUDGET_MAX: f64 = 100.0;
const BUDGET_START: f64 = 10.0;

impl Budget {
    fn new() -> Self {
        Self {
            state: Mutex::new((BUDGET_START, Instant::now())),
        }
    }

    fn refill(state: &mut (f64, Instant)) {
        let now = Instant::now();
        let earned = now.duration_since(state.1).as_secs_f64() * BUDGET_FLOOR_PER_SEC;
        *state = ((state.0 + earned).min(BUDGET_MAX), now);
    }

    fn deposit(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Self::refill(&mut state);
        state.0 = (state.0 + BUDGET_RATIO).min(BUDGET_MAX);
    }

    fn withdraw(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Self::refill(&mut state);
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::testing::Scripted;
    use crate::vendors::Answer;

    fn details(deadline: Instant) -> Details<'static> {
        Details {
            message: "m",
            email: "a@b.co",
            notify_signers: true,
            ctx: CallContext {
                request_id: "t",
                deadline,
                priority: crate::vendors::Priority::Interactive,
            },
        }
    }

    async fn run(vendor: &Arc<Scripted>, start: Start) -> Settled {
        let policy = Policy::new("t", vendor.clone(), 3);
        let deadline = Instant::now() + Duration::from_secs(20);
        let codes = vec!["D1".to_string()];
        policy
            .cancel(&codes, &details(deadline), start)
            .await
            .remove(0)
    }

    fn already_cancelled() -> Reply {
        Ok(Answer {
            outcome: Outcome::failed(ErrorCode::AlreadyCancelled, "refused"),
            http_status: 403,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_resumed_document_found_cancelled_is_ours_and_is_not_sent_again() {
        let vendor = Arc::new(Scripted::new(true, vec![], vec![Ok(DocState::Cancelled)]));

        let settled = run(&vendor, Start::Resume).await;

        assert_eq!(settled.outcome, Outcome::Cancelled);
        assert_eq!(settled.state, Some(DocState::Cancelled));
        assert_eq!(vendor.asked(), (0, 1), "one status read, no cancel call");
    }

    #[tokio::test(start_paused = true)]
    async fn a_resumed_document_still_in_progress_is_sent_once_and_already_cancelled_counts_as_ours(
    ) {
        let vendor = Arc::new(Scripted::new(
            true,
            vec![already_cancelled()],
            vec![Ok(DocState::InProgress)],
        ));

        let settled = run(&vendor, Start::Resume).await;

        assert_eq!(settled.outcome, Outcome::Cancelled);
        assert_eq!(settled.calls, 1);
        assert!(!settled.unknown);
        assert_eq!(vendor.asked(), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_resumed_document_without_a_status_read_is_interrupted_and_never_sent() {
        let vendor = Arc::new(Scripted::new(false, vec![], vec![]));

        let settled = run(&vendor, Start::Resume).await;

        assert_eq!(settled.outcome.error_code(), Some(ErrorCode::Interrupted));
        assert!(settled
            .outcome
            .error_code()
            .is_some_and(ErrorCode::retryable));
        assert_eq!(vendor.asked(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_resumed_document_whose_status_cannot_be_read_stays_interrupted_and_unknown() {
        let vendor = Arc::new(Scripted::new(
            true,
            vec![],
            vec![Err(UpstreamError::Timeout)],
        ));

        let settled = run(&vendor, Start::Resume).await;

        assert_eq!(settled.outcome.error_code(), Some(ErrorCode::Interrupted));
        assert!(settled.unknown, "a later recovery must read the status");
        assert_eq!(vendor.asked(), (0, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_whose_status_read_fails_is_answered_unknown_and_marked_for_recovery() {
        let vendor = Arc::new(Scripted::new(
            true,
            vec![Err(UpstreamError::Timeout)],
            vec![Err(UpstreamError::Server {
                status: 500,
                retry_after: None,
            })],
        ));

        let settled = run(&vendor, Start::Fresh).await;

        assert_eq!(settled.outcome.error_code(), Some(ErrorCode::VendorTimeout));
        assert!(settled.unknown);
        assert_eq!(vendor.asked(), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_beyond_the_clock_is_not_waited_and_fails_retryable_with_the_wait() {
        let limited = UpstreamError::RateLimited {
            retry_after: Some(Duration::MAX),
        };
        let vendor = Arc::new(Scripted::new(true, vec![Err(limited)], vec![]));

        let settled = run(&vendor, Start::Fresh).await;

        assert_eq!(
            settled.outcome.error_code(),
            Some(ErrorCode::VendorRateLimited)
        );
        assert!(settled
            .outcome
            .error_code()
            .is_some_and(ErrorCode::retryable));
        assert_eq!(vendor.asked(), (1, 0), "never sent again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_definite_answer_is_never_marked_unknown() {
        let vendor = Arc::new(Scripted::new(true, vec![already_cancelled()], vec![]));

        let settled = run(&vendor, Start::Fresh).await;

        assert_eq!(
            settled.outcome.error_code(),
            Some(ErrorCode::AlreadyCancelled),
            "without an ambiguous attempt, already cancelled is not ours"
        );
        assert!(!settled.unknown);
    }
}
