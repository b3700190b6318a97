//! The conformance suite every vendor kind answers: a list of wire situations (`Scenario`),
//! and a trait (`Conformance`) each kind implements in its own folder, saying in its own
//! dialect what its vendor sends in each situation and what a cancel must then report.
//!
//! Test support: `runner` (compiled for unit tests and with the `conformance-runner` feature,
//! which `tests/api` turns on) runs every scenario against a kind through a gateway and a mock
//! vendor. This module is not `cfg(test)`, because integration tests cannot see that; nothing
//! in the request path uses it.

use std::time::Duration;

use serde_json::Value;

use crate::model::ErrorCode;

#[cfg(any(test, feature = "conformance-runner"))]
pub mod runner;

/// The vendor timeout the runner configures; a `Slow` answer must take longer.
pub const TIMEOUT: Duration = Duration::from_millis(1000);

/// One wire situation a vendor can put a cancel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The vendor cancels the document.
    Cancelled,
    /// The document was cancelled before.
    AlreadyCancelled,
    /// The document is signed.
    Signed,
    /// The vendor does not know the document.
    NotFound,
    /// The vendor rejects the request as invalid (`400` on a single code).
    Invalid,
    /// `401`: the credentials are wrong.
    Unauthorized,
    /// `403` without any documented reason.
    Forbidden,
    /// `429` with `Retry-After: 1` once, then a success: the wait is honoured.
    RateLimited,
    /// `500` with an HTML body, and a status read that fails too.
    ServerError,
    /// `503` on every call: safe to retry, so every attempt is spent.
    Unavailable,
    /// A `200` whose body is not JSON.
    Garbage,
    /// A `200` whose body is an HTML page (a proxy's, say).
    Html,
    /// An answer slower than `TIMEOUT`, and a status read that fails.
    Slow,
    /// Nothing listens at the vendor's address.
    Refused,
    /// An ambiguous failure (`500`), then a status read that says cancelled: ours.
    ReadsCancelled,
    /// An ambiguous failure (`500`) once, a status read that says in progress, then a
    /// successful re-send.
    ReadsInProgress,
}

impl Scenario {
    /// Every scenario, in the order the runner reports them.
    pub const ALL: [Scenario; 16] = [
        Scenario::Cancelled,
        Scenario::AlreadyCancelled,
        Scenario::Signed,
        Scenario::NotFound,
        Scenario::Invalid,
        Scenario::Unauthorized,
        Scenario::Forbidden,
        Scenario::RateLimited,
        Scenario::ServerError,
        Scenario::Unavailable,
        Scenario::Garbage,
        Scenario::Html,
        Scenario::Slow,
        Scenario::Refused,
        Scenario::ReadsCancelled,
        Scenario::ReadsInProgress,
    ];

    /// Whether the vendor's mock server is reachable (`Refused` points the kind elsewhere).
    pub fn reaches_the_vendor(self) -> bool {
        match self {
            Scenario::Refused => false,
            Scenario::Cancelled
            | Scenario::AlreadyCancelled
            | Scenario::Signed
            | Scenario::NotFound
            | Scenario::Invalid
            | Scenario::Unauthorized
            | Scenario::Forbidden
            | Scenario::RateLimited
            | Scenario::ServerError
            | Scenario::Unavailable
            | Scenario::Garbage
            | Scenario::Html
            | Scenario::Slow
            | Scenario::ReadsCancelled
            | Scenario::ReadsInProgress => true,
        }
    }
}

/// A mock vendor answer's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body.
    Empty,
    /// A JSON body (`Content-Type: application/json`).
    Json(Value),
    /// Raw text, sent as is.
    Text(&'static str),
}

/// One answer to mount on the mock vendor. Answers are mounted in order; the first that
/// matches (and has uses left) answers.
#[derive(Debug, Clone, PartialEq)]
pub struct MockAnswer {
    /// The HTTP method it answers.
    pub method: &'static str,
    /// The full path it answers, base path included (for example `/api/v1/refuse/`).
    pub path: String,
    /// How many requests it answers; `None` for any number.
    pub times: Option<u64>,
    /// The status sent.
    pub status: u16,
    /// Extra headers sent.
    pub headers: Vec<(&'static str, &'static str)>,
    /// The body sent.
    pub body: Body,
    /// How long the answer waits before it is sent.
    pub delay: Duration,
}

impl MockAnswer {
    /// An answer with `status` and no body to `method path`.
    pub fn new(method: &'static str, path: impl Into<String>, status: u16) -> Self {
        Self {
            method,
            path: path.into(),
            times: None,
            status,
            headers: Vec::new(),
            body: Body::Empty,
            delay: Duration::ZERO,
        }
    }

    /// With a JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    /// With a raw text body.
    pub fn text(mut self, body: &'static str) -> Self {
        self.body = Body::Text(body);
        self
    }

    /// With one more header.
    pub fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sent after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answers only the first `times` matching requests.
    pub fn times(mut self, times: u64) -> Self {
        self.times = Some(times);
        self
    }
}

/// What a cancel of the kind's sample document must report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `None` when the document is cancelled, else its error code.
    pub error: Option<ErrorCode>,
    /// The cancel is reported queued (`"queued": true`): accepted, applied later.
    pub queued: bool,
    /// Every request the vendor receives (cancels and status reads).
    pub calls: usize,
    /// The cancel takes at least this long (a honoured `Retry-After`).
    pub not_before: Duration,
}

impl Expected {
    /// Cancelled after `calls` vendor requests.
    pub fn cancelled(calls: usize) -> Self {
        Self {
            error: None,
            queued: false,
            calls,
            not_before: Duration::ZERO,
        }
    }

    /// Cancelled but queued at the vendor (`"queued": true`) after `calls` vendor requests.
    pub fn queued(calls: usize) -> Self {
        Self {
            queued: true,
            ..Self::cancelled(calls)
        }
    }

    /// Failed with `code` after `calls` vendor requests.
    pub fn failed(code: ErrorCode, calls: usize) -> Self {
        Self {
            error: Some(code),
            queued: false,
            calls,
            not_before: Duration::ZERO,
        }
    }

    /// Taking at least `wait`.
    pub fn not_before(mut self, wait: Duration) -> Self {
        self.not_before = wait;
        self
    }
}

/// One kind's answer to one scenario: what its vendor sends, and what must come of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Mounted on the kind's mock vendor, in order.
    pub answers: Vec<MockAnswer>,
    /// What the gateway must report.
    pub expected: Expected,
}

/// A vendor kind's side of the conformance suite, implemented in `src/vendors/<kind>/`.
pub trait Conformance: Sync {
    /// The kind, which is also the vendor name of its default `[vendors.NAME]` table.
    fn name(&self) -> &'static str;

    /// The `SIGNGATE__VENDORS__<NAME>__...` variables that point a test gateway's vendor at
    /// `server` (a mock's root URL, without the vendor's path prefix) with test credentials.
    fn vars(&self, server: &str) -> Vec<(String, String)>;

    /// A vendor-side document code of this kind (without the `name:` prefix).
    fn document(&self) -> &'static str;

    /// What this kind's vendor answers in `scenario`, and what a cancel must report.
    fn case(&self, scenario: Scenario) -> Case;

    /// The sample document as a client sends it: prefixed, so it routes to this kind.
    fn routed_document(&self) -> String {
        format!("{}:{}", self.name(), self.document())
    }
}

/// The name of the setting `key` of vendor `name`, e.g. `SIGNGATE__VENDORS__AUCO__BASE_URL`.
pub fn var(name: &str, key: &str) -> String {
    format!("SIGNGATE__VENDORS__{}__{key}", name.to_uppercase())
}

/// Every kind that runs the suite (and that test gateways configure): every kind of `KINDS`.
pub fn all() -> Vec<&'static dyn Conformance> {
    crate::vendors::KINDS
        .iter()
        .map(|kind| kind.conformance())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_name() {
        let mut names: Vec<&str> = all().iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all().len());
    }

    #[test]
    fn every_slow_answer_outlasts_the_timeout() {
        for kind in all() {
            let case = kind.case(Scenario::Slow);
            assert!(
                case.answers.iter().any(|a| a.delay > TIMEOUT),
                "{}",
                kind.name()
            );
        }
    }
}
