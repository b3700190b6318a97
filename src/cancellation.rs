//! The orchestration of one cancel request: the deadline, the plan (route every code), the
//! pending audit rows, the vendor calls (grouped by vendor, concurrent, under the deadline),
//! and the outcomes, back in request order.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use tokio::time::{timeout_at, Instant};

use crate::audit::{self, RequestMeta};
use crate::error::ApiError;
use crate::model::{DocumentCode, DocumentResult, ErrorCode, Outcome, VendorName};
use crate::recovery;
use crate::routing::Router;
use crate::state::AppState;
use crate::vendors::policy::{Details, Policy, Settled, Start};
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

/// The documents of one vendor that start alike, by their index in the request.
struct Group {
    vendor: Arc<Policy>,
    start: Start,
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
            outcome_unknown: false,
            vendor_state: None,
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

    /// The policy of a ready vendor (configured with credentials).
    pub fn vendor(&self, name: &str) -> Option<&Arc<Policy>> {
        match self.registry.get(name) {
            Some((_, Entry::Ready(vendor))) => Some(vendor),
            Some((_, Entry::Unconfigured)) | None => None,
        }
    }

    /// Whether `execute` will call a vendor for this planned document.
    pub fn will_send(&self, result: &DocumentResult) -> bool {
        result
            .vendor
            .as_ref()
            .is_some_and(|v| self.vendor(v.as_str()).is_some())
    }

    /// Calls the vendors for every planned document still pending, concurrently, and fills in
    /// the outcomes. Documents not finished by `deadline` keep their planned outcome
    /// (`deadline_exceeded`). `resumed[i]` says that an earlier attempt of the same request
    /// may have sent document `i`'s cancel: its status is read before any send.
    pub async fn execute(
        &self,
        command: &CancelCommand,
        plan: &mut [DocumentResult],
        resumed: &[bool],
        request_id: &str,
        deadline: Instant,
    ) {
        let groups = self.groups(plan, resumed);
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
                let (details, start) = (&details, group.start);
                calls.push(async move {
                    // The policy keeps to the deadline itself; this bounds it regardless.
                    let settled = timeout_at(deadline, vendor.cancel(&codes, details, start)).await;
                    (chunk, vendor.can_read_status(), settled)
                });
            }
        }
        for (chunk, readable, settled) in join_all(calls).await {
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
                        plan[i].outcome_unknown = readable;
                    }
                }
            }
        }
    }

    /// The documents routed to each ready vendor, fresh apart from resumed, in request order.
    fn groups(&self, plan: &[DocumentResult], resumed: &[bool]) -> Vec<Group> {
        let mut by_vendor: BTreeMap<(&VendorName, bool), Group> = BTreeMap::new();
        for (i, result) in plan.iter().enumerate() {
            let Some(vendor) = &result.vendor else {
                continue;
            };
            if let Some((name, Entry::Ready(adapter))) = self.registry.get(vendor.as_str()) {
                let resume = resumed.get(i).copied().unwrap_or(false);
                by_vendor
                    .entry((name, resume))
                    .or_insert_with(|| Group {
                        vendor: Arc::clone(adapter),
                        start: if resume { Start::Resume } else { Start::Fresh },
                        indices: Vec::new(),
                    })
                    .indices
                    .push(i);
            }
        }
        by_vendor.into_values().collect()
    }
}

/// Carries out a validated cancel request under the request deadline: routes it, writes
/// the pending audit rows (`503` and no vendor call if that fails), calls the vendors, and
/// records the outcomes. `took_over`: the request's `Idempotency-Key` was taken over from
/// an attempt that did not finish, whose `pending` documents are read before any send.
pub async fn run(
    state: &AppState,
    command: &CancelCommand,
    meta: &RequestMeta,
    took_over: bool,
) -> Result<Vec<DocumentResult>, ApiError> {
    let deadline = Instant::now() + state.settings.server.request_timeout();
    let mut results = state.gateway.plan(command);
    let adopted = match took_over {
        true => recovery::adopt(&state.store, &state.settings, meta)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "Earlier attempt's rows could not be adopted.");
                ApiError::unavailable("The audit store cannot be written; no vendor was called.")
            })?,
        false => recovery::Adopted::default(),
    };
    let resumed: Vec<bool> = results.iter().map(|r| adopted.covers(&r.code)).collect();
    let sent: Vec<bool> = results.iter().map(|r| state.gateway.will_send(r)).collect();
    let rows = audit::pending_rows(meta, command, &results, &sent);
    audit::write_pending(&state.store, &rows).await?;
    state
        .gateway
        .execute(command, &mut results, &resumed, &meta.request_id, deadline)
        .await;
    audit::record_outcomes(&state.store, rows, &results).await;
    adopted.settle(&state.store, meta, &results).await;
    crate::metrics::documents(&results);
    Ok(results)
}

/// The message of a document whose vendor call did not finish before the deadline.
const NOT_FINISHED: &str =
    "The request's deadline passed before the vendor answered; the outcome is unknown.";

fn record(result: &mut DocumentResult, settled: Settled) {
    result.vendor_calls = settled.calls;
    result.vendor_status = settled.vendor_status;
    result.outcome = settled.outcome;
    result.outcome_unknown = settled.unknown;
    result.vendor_state = settled.state;
    if let Outcome::Failed(failure) = &result.outcome {
        tracing::warn!(
            vendor = result.vendor.as_ref().map_or("", |v| v.as_str()),
            code = %result.code,
            error = failure.code.as_str(),
            "Document was not cancelled."
        );
    }
}
