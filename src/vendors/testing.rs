//! Test doubles shared by the wrappers' unit tests: a vendor that records its calls, and a
//! store that only reserves calls.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Answer, Batch, CallContext, Reply, UpstreamError, Vendor};
use crate::model::Outcome;
use crate::store::{AuditRow, Begin, Reservation, Store, StoreError, Timestamp};

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

/// How a `FakeStore` answers reservations.
#[derive(Debug, Clone, Copy)]
pub enum Reserving {
    /// Every call may go at once, for this long, after `delay`.
    Grant {
        delay: Duration,
        valid_for: Duration,
    },
    /// No call fits before its deadline.
    Refuse,
    /// The store cannot be reached.
    Fail,
}

/// A store that shares limits and only answers `reserve_calls`, counting its statements.
#[derive(Debug)]
pub struct FakeStore {
    reserving: Reserving,
    statements: Mutex<Vec<usize>>,
}

impl FakeStore {
    /// One that answers reservations so.
    pub fn new(reserving: Reserving) -> Self {
        Self {
            reserving,
            statements: Mutex::default(),
        }
    }

    /// The size of each reservation statement, in order.
    pub fn statements(&self) -> Vec<usize> {
        self.statements.lock().unwrap().clone()
    }
}

#[async_trait]
impl Store for FakeStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn begin(
        &self,
        _: &str,
        _: &str,
        _: Timestamp,
        _: Duration,
        _: Duration,
    ) -> Result<Begin, StoreError> {
        Err(StoreError::Closed)
    }
    async fn complete(&self, _: &str, _: &str, _: &[u8], _: Timestamp) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
    async fn release(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
    async fn purge_expired(&self, _: Timestamp) -> Result<u64, StoreError> {
        Err(StoreError::Closed)
    }
    async fn insert_pending(&self, _: &[AuditRow]) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
    async fn finish(&self, _: &[AuditRow]) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
    async fn history(&self, _: &str, _: u32) -> Result<Vec<AuditRow>, StoreError> {
        Err(StoreError::Closed)
    }
    fn shares_limits(&self) -> bool {
        true
    }
    async fn reserve_calls(
        &self,
        _: &str,
        _: u32,
        _: Duration,
        max_waits: &[Duration],
    ) -> Result<Vec<Option<Reservation>>, StoreError> {
        self.statements.lock().unwrap().push(max_waits.len());
        match self.reserving {
            Reserving::Grant { delay, valid_for } => {
                tokio::time::sleep(delay).await;
                let granted = Reservation {
                    wait: Duration::ZERO,
                    valid_for,
                };
                Ok(vec![Some(granted); max_waits.len()])
            }
            Reserving::Refuse => Ok(vec![None; max_waits.len()]),
            Reserving::Fail => Err(StoreError::Closed),
        }
    }
    async fn close(&self) {}
}
