//! Test doubles shared by the wrappers' unit tests: a vendor that records its calls, and a
//! store that only reserves calls; `answers` holds the arbitrary vendor answers every kind's
//! classification proptests draw from.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::conformance::Conformance;
use super::{Answer, Batch, CallContext, DocState, Priority, Reply, UpstreamError, Vendor};
use crate::model::Outcome;
use crate::store::{Reservation, SharedLimits, StoreError};

pub mod answers;

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
            priority: Priority::Interactive,
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

/// Shared rate limits that answer as told, counting their statements.
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

#[async_trait]
impl SharedLimits for FakeStore {
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
}

/// The adapter of `kind`, configured as test gateways configure it (`Conformance::vars`),
/// against the mock vendor at `server`.
pub fn adapter_at(kind: &dyn Conformance, server: &str) -> std::sync::Arc<dyn Vendor> {
    let mut vars = vec![(
        "SIGNGATE__AUTH__API_KEY".to_owned(),
        "test-api-key-0123456789".to_owned(),
    )];
    vars.extend(kind.vars(server));
    let settings = crate::settings::Settings::from_sources(None, None, vars.into_iter().collect())
        .expect("the conformance variables are valid settings");
    let vendor = &settings.vendors[kind.name()];
    vendor.config.build(vendor)
}

/// One cancel of `kind`'s sample document through `vendor`, with a distant deadline.
pub async fn cancel_document(vendor: &dyn Vendor, kind: &dyn Conformance) -> Reply {
    let codes = vec![kind.document().to_owned()];
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    vendor.cancel(&batch(&codes, deadline)).await.remove(0)
}
