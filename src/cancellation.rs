//! The orchestration of one cancel request: route every code, group by vendor, call the
//! vendors concurrently under one deadline, and put the results back in request order.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use tokio::time::{timeout_at, Instant};

use crate::model::{DocumentCode, DocumentResult, ErrorCode, Outcome, VendorName};
use crate::routing::Router;
use crate::vendors::{Batch, Entry, Registry, Reply, Vendor};

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
    vendor: Arc<dyn Vendor>,
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
            .map(|code| {
                let mut result = DocumentResult {
                    code: code.clone(),
                    vendor: None,
                    vendor_code: None,
                    outcome: Outcome::failed(ErrorCode::DeadlineExceeded, NOT_FINISHED),
                    vendor_status: None,
                    vendor_calls: 0,
                };
                match self.router.route(code) {
                    Ok(route) => {
                        if let Some((_, Entry::Unconfigured)) =
                            self.registry.get(route.vendor.as_str())
                        {
                            result.outcome = Outcome::failed(
                                ErrorCode::VendorNotConfigured,
                                format!(
                                    "The vendor `{}` has no credentials configured.",
                                    route.vendor
                                ),
                            );
                        }
                        result.vendor = Some(route.vendor);
                        result.vendor_code = Some(route.vendor_code);
                    }
                    Err(failure) => result.outcome = Outcome::Failed(failure),
                }
                result
            })
            .collect()
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
        let mut calls = Vec::new();
        for group in &groups {
            for chunk in group.indices.chunks(group.vendor.batch_size().max(1)) {
                let codes: Vec<String> = chunk
                    .iter()
                    .map(|&i| plan[i].vendor_code.clone().unwrap_or_default())
                    .collect();
                let vendor = Arc::clone(&group.vendor);
                calls.push(async move {
                    let batch = Batch {
                        codes: &codes,
                        message: &command.message,
                        email: &command.email,
                        notify_signers: command.notify_signers,
                        request_id,
                    };
                    (chunk, timeout_at(deadline, vendor.cancel(&batch)).await)
                });
            }
        }
        for (chunk, replies) in join_all(calls).await {
            match replies {
                Ok(replies) => {
                    for (&i, reply) in chunk.iter().zip(replies) {
                        record(&mut plan[i], reply);
                    }
                }
                Err(_elapsed) => {
                    for &i in chunk {
                        plan[i].vendor_calls += 1;
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

fn record(result: &mut DocumentResult, reply: Reply) {
    result.vendor_calls += 1;
    match reply {
        Ok(answer) => {
            result.vendor_status = Some(answer.http_status);
            result.outcome = answer.outcome;
        }
        Err(error) => {
            result.vendor_status = error.http_status().or(result.vendor_status);
            result.outcome = error.into_outcome();
        }
    }
}
