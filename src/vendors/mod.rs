//! The `Vendor` trait every adapter implements, and the registry built from the settings.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;

pub use crate::model::DocState;
use crate::model::{Outcome, VendorName};
use crate::settings::Settings;
use crate::store::Store;

pub mod adobesign;
pub mod auco;
pub mod clicksign;
pub mod conformance;
pub mod d4sign;
pub mod docusign;
pub mod dropboxsign;
pub mod error;
#[cfg(test)]
pub mod example;
pub mod http;
pub mod kind;
pub mod learned_host;
pub mod policy;
pub mod settings;
pub mod wrap;
pub mod yousign;
pub mod zapsign;

#[cfg(test)]
mod testing;

pub use error::UpstreamError;

/// Every vendor kind signgate knows, one line each: a kind is its folder plus this line.
/// `example` (a made-up vendor, the worked example of adding one) exists only in unit tests.
pub static KINDS: &[&dyn kind::Kind] = &[
    &auco::KIND,
    &zapsign::KIND,
    &docusign::KIND,
    &dropboxsign::KIND,
    &clicksign::KIND,
    &d4sign::KIND,
    &yousign::KIND,
    &adobesign::KIND,
    #[cfg(test)]
    &example::KIND,
];

/// One cancel call's worth of documents and the request's details.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Vendor-side codes, at most `Vendor::batch_size()` of them.
    pub codes: &'a [String],
    /// The reason, sent to the vendor.
    pub message: &'a str,
    /// Who cancels (Auco records it; most vendors have no field for it).
    pub email: &'a str,
    /// Whether signers are told, where the vendor lets the caller choose (ZapSign's
    /// `notify_signer`, Acrobat Sign's `notifyOthers`); the others ignore it.
    pub notify_signers: bool,
    /// The request this call serves.
    pub ctx: CallContext<'a>,
}

/// What every vendor call carries from its request.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// Sent as `X-Request-Id`.
    pub request_id: &'a str,
    /// The request's deadline: nothing may wait past it.
    pub deadline: Instant,
    /// Whose call it is: a bulk job's calls give way to interactive requests.
    pub priority: Priority,
}

impl<'a> CallContext<'a> {
    /// The context of a call someone is waiting for (a request, a recovery).
    pub fn interactive(request_id: &'a str, deadline: Instant) -> Self {
        Self {
            request_id,
            deadline,
            priority: Priority::Interactive,
        }
    }
}

/// Who is waiting for a vendor call. Pacing and the concurrency cap keep part of each limit
/// for interactive calls: a background call takes only what is free now and outside that
/// share, and fails with `UpstreamError::Deadline` instead of waiting ahead of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// A synchronous request: its caller waits for the answer.
    #[default]
    Interactive,
    /// A bulk job's call: never delays an interactive one.
    Background,
}

/// A vendor's definite answer about one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// What the vendor said happened.
    pub outcome: Outcome,
    /// The HTTP status that carried it.
    pub http_status: u16,
}

/// One document's result of one call: a definite answer, or "we could not find out".
pub type Reply = Result<Answer, UpstreamError>;

/// A vendor that can cancel documents. Wrappers (concurrency caps, pacing, breakers, metrics)
/// implement it too, so each behaviour is written once for every vendor.
#[async_trait]
pub trait Vendor: Send + Sync + fmt::Debug {
    /// Most documents one `cancel` call may carry.
    fn batch_size(&self) -> usize;

    /// Makes one cancel call for `batch.codes`; returns one reply per code, in order.
    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply>;

    /// Why `code` cannot name one of this vendor's documents (a Clicksign code that is not two
    /// UUIDs), or `None` when it can. Checked before any call: such a document fails
    /// `rejected` with this message and nothing is sent for it.
    fn malformed_code(&self, _code: &str) -> Option<&'static str> {
        None
    }

    /// Whether `status` can answer (for example, Auco needs a public key for it).
    fn can_read_status(&self) -> bool {
        false
    }

    /// Reads one document's state, for reconciliation after an ambiguous failure.
    async fn status(&self, _code: &str, _ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        Err(UpstreamError::Unsupported)
    }
}

/// Runs a per-document vendor's calls for a batch concurrently, one call per code.
pub async fn one_by_one<'a, F, Fut>(batch: &'a Batch<'a>, call: F) -> Vec<Reply>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    futures::future::join_all(batch.codes.iter().map(|code| call(code))).await
}

/// A configured vendor: ready to call, or missing its credentials.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Callable, through its retry policy and per-call wrappers.
    Ready(Arc<policy::Policy>),
    /// Configured without credentials: its documents fail with `vendor_not_configured`.
    Unconfigured,
}

/// Every configured vendor by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    vendors: BTreeMap<VendorName, Entry>,
}

impl Registry {
    /// Builds one client per configured vendor, wrapped in the shared resilience layers. Rate
    /// limits are paced through `store` when it shares them between replicas (Postgres).
    pub fn from_settings(settings: &Settings, store: &Arc<dyn Store>) -> Self {
        let mut registry = Self::default();
        let shared = store.shared_limits();
        for (name, vendor) in &settings.vendors {
            let entry = if vendor.has_credentials() {
                let adapter = vendor.config.build(vendor);
                let wrapped = wrap::wrap(
                    name,
                    vendor,
                    adapter,
                    shared.as_ref(),
                    settings.jobs.interactive_reserve_percent,
                );
                Entry::Ready(Arc::new(policy::Policy::new(
                    name,
                    wrapped,
                    vendor.max_attempts(),
                )))
            } else {
                tracing::warn!(vendor = %name, "Vendor has no credentials; its documents will fail.");
                Entry::Unconfigured
            };
            registry.insert(VendorName::new(name), entry);
        }
        registry
    }

    /// Adds or replaces a vendor (tests and the demo register their own).
    pub fn insert(&mut self, name: VendorName, entry: Entry) {
        self.vendors.insert(name, entry);
    }

    /// The vendor of that name, with its canonical name.
    pub fn get(&self, name: &str) -> Option<(&VendorName, &Entry)> {
        self.vendors.get_key_value(name)
    }

    /// Every vendor name.
    pub fn names(&self) -> impl Iterator<Item = &VendorName> {
        self.vendors.keys()
    }
}
