//! Test doubles shared by the wrappers' unit tests.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Answer, Batch, CallContext, Reply, UpstreamError, Vendor};
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
