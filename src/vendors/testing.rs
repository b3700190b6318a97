//! Test doubles shared by the wrappers' unit tests.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Answer, Batch, CallContext, DocState, Reply, UpstreamError, Vendor};
use crate::model::Outcome;

/// A per-document vendor that answers every call at once and records when it came.
#[derive(Debug, Default)]
pub struct Recorder {
    at: Mutex<Vec<Instant>>,
    fail: bool,
}

impl Recorder {
    /// One whose every call times out.
    pub fn failing() -> Self {
        Self {
            fail: true,
            ..Self::default()
        }
    }

    /// When each call came.
    pub fn times(&self) -> Vec<Instant> {
        self.at.lock().unwrap().clone()
    }

    /// How many calls came.
    pub fn calls(&self) -> usize {
        self.at.lock().unwrap().len()
    }
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

/// A batch of `codes` with this deadline.
pub fn batch(codes: &[String], deadline: Instant) -> Batch<'_> {
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

/// A per-document vendor that answers from scripts, in order, and counts what it was asked.
/// An exhausted script answers `Cancelled` (cancel) or `InProgress` (status).
#[derive(Debug, Default)]
pub struct Scripted {
    cancels: Mutex<std::collections::VecDeque<Reply>>,
    states: Mutex<std::collections::VecDeque<Result<DocState, UpstreamError>>>,
    readable: bool,
    asked: Mutex<(usize, usize)>,
}

impl Scripted {
    /// A vendor with (`readable`) or without a status read, answering these in turn.
    pub fn new(
        readable: bool,
        cancels: Vec<Reply>,
        states: Vec<Result<DocState, UpstreamError>>,
    ) -> Self {
        Self {
            cancels: Mutex::new(cancels.into()),
            states: Mutex::new(states.into()),
            readable,
            asked: Mutex::default(),
        }
    }

    /// How many cancel calls and status reads came.
    pub fn asked(&self) -> (usize, usize) {
        *self.asked.lock().unwrap()
    }
}

#[async_trait]
impl Vendor for Scripted {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        self.asked.lock().unwrap().0 += 1;
        let reply = self
            .cancels
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Answer {
                outcome: Outcome::Cancelled,
                http_status: 200,
            }));
        vec![reply; batch.codes.len()]
    }

    fn can_read_status(&self) -> bool {
        self.readable
    }

    async fn status(&self, _code: &str, _ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        self.asked.lock().unwrap().1 += 1;
        self.states
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(DocState::InProgress))
    }
}
