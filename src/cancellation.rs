//! The orchestration of one cancel request: route every code, group by vendor, call the
//! vendors concurrently under one deadline, and put the results back in request order.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use tokio::time::{timeout_at, Instant};

use crate::model::{DocumentCode, DocumentResult, ErrorCode, Outcome, VendorName};
use crate::routing::Router;
use crate::vendors::retry::{Details, Resilient, Settled};
use crate::vendors::{CallContext, Entry, Registry};

/// A validated cancel request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelCommand {
    /// The codes, in request order, without duplicates.
    pub codes: Vec<DocumentCode>,
    /// The reason, trimmed.
    pub message: String,
    /// Who cancels.
    pub email: String,
    /// Whether signers are told (where the vendor allows choosing).
    pub notify_signers: bool,
}

/// Routing plus the vendors: everything needed to carry out a `CancelCommand`.
#[derive(Debug, Clone)]
pub struct Gateway {
    router: Router,
    registry: Registry,
}

/// The documents of one vendor, by their index in the request.
struct Group {
    vendor: Arc<Resilient>,
    indices: Vec<usize>,
}

impl Gateway {
    /// Joins a routing table and the vendors it names.
    pub fn new(router: Router, registry: Registry) -> Self {
        Self { router, registry }
    }

    /// Routes every code. Documents that cannot be sent carry their final outcome; the others
    /// carry `deadline_exceeded` until a vendor answers for them.
    pub fn plan(&self, command: &CancelCommand) -> Vec<DocumentResult> {
        command
            .codes
            .iter()
            .map(|code| self.plan_one(code))
            .collect()
    }

    fn plan_one(&self, code: &DocumentCode) -> DocumentResult {
        let mut result = DocumentResult {
            code: code.clone(),
            vendor: None,
            vendor_code: None,
            outcome: Outcome::failed(ErrorCode::DeadlineExceeded, NOT_FINISHED),
            vendor_status: None,
            vendor_calls: 0,
        };
        let route = match self.router.route(code) {
            Ok(route) => route,
            Err(failure) => {
                result.outcome = Outcome::Failed(failure);
                return result;
            }
        };
        if let Some((_, Entry::Unconfigured)) = self.registry.get(route.vendor.as_str()) {
            let message = format!(
                "The vendor `{}` has no credentials configured.",
                route.vendor
            );
            result.outcome = Outcome::failed(ErrorCode::VendorNotConfigured, message);
        }
        result.vendor = Some(route.vendor);
        result.vendor_code = Some(route.vendor_code);
        result
    }

    /// Calls the vendors for every planned document still pending, concurrently, and fills in
    /// the outcomes. Documents not finished by `deadline` fail with `deadline_exceeded`.
    pub async fn execute(
        &self,
        command: &CancelCommand,
        plan: &mut [DocumentResult],
        request_id: &str,
        deadline: Instant,
    ) {
        let groups = self.groups(plan);
        let details = Details {
            message: &command.message,
            email: &command.email,
            notify_signers: command.notify_signers,
            ctx: CallContext {
                request_id,
                deadline,
            },
        };
        let mut calls = Vec::new();
        for group in &groups {
            for chunk in group.indices.chunks(group.vendor.batch_size()) {
                let codes: Vec<String> = chunk
                    .iter()
                    .map(|&i| plan[i].vendor_code.clone().unwrap_or_default())
                    .collect();
                let vendor = Arc::clone(&group.vendor);
                let details = &details;
                calls.push(async move {
                    // The policy keeps to the deadline itself; this bounds it regardless.
                    (
                        chunk,
                        timeout_at(deadline, vendor.cancel(&codes, details)).await,
                    )
                });
            }
        }
        for (chunk, settled) in join_all(calls).await {
            match settled {
                Ok(settled) => {
                    for (&i, settled) in chunk.iter().zip(settled) {
                        record(&mut plan[i], settled);
                    }
                }
                // Only a call in flight at the deadline gets here (queueing, pacing and
                // retries stop at the deadline themselves): it was sent, outcome unknown.
                Err(_elapsed) => {
                    for &i in chunk {
                        plan[i].vendor_calls = plan[i].vendor_calls.max(1);
                    }
                }
            }
        }
    }

    /// The documents routed to each ready vendor, in request order.
    fn groups(&self, plan: &[DocumentResult]) -> Vec<Group> {
        let mut by_vendor: BTreeMap<&VendorName, Group> = BTreeMap::new();
        for (i, result) in plan.iter().enumerate() {
            let Some(vendor) = &result.vendor else {
                continue;
            };
            if let Some((name, Entry::Ready(adapter))) = self.registry.get(vendor.as_str()) {
                by_vendor
                    .entry(name)
                    .or_insert_with(|| Group {
                        vendor: Arc::clone(adapter),
                        indices: Vec::new(),
                    })
                    .indices
                    .push(i);
            }
        }
        by_vendor.into_values().collect()
    }
}

/// The message of a document whose vendor call did not finish before the deadline.
const NOT_FINISHED: &str =
    "The request's deadline passed before the vendor answered; the outcome is unknown.";

fn record(result: &mut DocumentResult, settled: Settled) {
    result.vendor_calls = settled.calls;
    result.vendor_status = settled.vendor_status;
    result.outcome = settled.outcome;
    if let Outcome::Failed(failure) = &result.outcome {
        tracing::warn!(
            vendor = result.vendor.as_ref().map_or("", |v| v.as_str()),
            code = %result.code,
            error = failure.code.as_str(),
            "Document was not cancelled."
        );
    }
}
