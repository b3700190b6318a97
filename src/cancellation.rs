//! The orchestration of one cancel request: the deadline, the plan (route every code, finding
//! by status read the owner of a code that several vendors could hold), the pending audit
//! rows, the vendor calls (grouped by vendor, concurrent, under the deadline), and the
//! outcomes, back in request order.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use tokio::time::{timeout_at, Instant};

use crate::audit::{self, RequestMeta};
use crate::error::ApiError;
use crate::model::{
    DocState, DocumentCode, DocumentResult, ErrorCode, Failure, Outcome, VendorName,
};
use crate::recovery;
use crate::routing::{Route, Routed, Router};
use crate::state::AppState;
use crate::store::{Store, Timestamp};
use crate::vendors::policy::{Details, Policy, Settled, Start};
use crate::vendors::{CallContext, Entry, Registry, UpstreamError};

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
    /// Where the owners found among candidate vendors are remembered.
    store: Arc<dyn Store>,
}

/// A routed code, with its state when finding its vendor read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The vendor and the code to send it.
    pub route: Route,
    /// The document's state, when a status read found the owner just now.
    pub state: Option<DocState>,
}

/// Why a code has no ready vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlocated {
    /// Where it was routed, when it was (to a vendor without credentials).
    pub route: Option<Route>,
    /// Its outcome.
    pub failure: Failure,
}

impl Located {
    fn routed(route: Route) -> Self {
        Self { route, state: None }
    }
}

impl Unlocated {
    fn unrouted(failure: Failure) -> Self {
        Self {
            route: None,
            failure,
        }
    }
}

/// The documents of one vendor that start alike, by their index in the request.
struct Group {
    vendor: Arc<Policy>,
    start: Start,
    indices: Vec<usize>,
}

impl Gateway {
    /// Joins a routing table, the vendors it names, and the store that remembers owners.
    pub fn new(router: Router, registry: Registry, store: Arc<dyn Store>) -> Self {
        Self {
            router,
            registry,
            store,
        }
    }

    /// Routes every code, concurrently. Documents that cannot be sent carry their final
    /// outcome; the others carry `deadline_exceeded` until a vendor answers for them.
    pub async fn plan(&self, command: &CancelCommand, ctx: CallContext<'_>) -> Vec<DocumentResult> {
        join_all(command.codes.iter().map(|code| self.plan_one(code, ctx))).await
    }

    /// Routes one code as `plan` does, finding its owner by status read when needed.
    pub async fn plan_one(&self, code: &DocumentCode, ctx: CallContext<'_>) -> DocumentResult {
        let located = self.locate(code, ctx).await.map(|located| located.route);
        self.planned(code, located)
    }

    /// The planned result of a code routed to `route`, or of one with no ready vendor.
    pub fn planned(&self, code: &DocumentCode, route: Result<Route, Unlocated>) -> DocumentResult {
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
        match route {
            Ok(route) => {
                let vendor = self.vendor(route.vendor.as_str());
                if let Some(why) = vendor.and_then(|v| v.malformed_code(&route.vendor_code)) {
                    result.outcome = Outcome::failed(ErrorCode::Rejected, why);
                }
                result.vendor = Some(route.vendor);
                result.vendor_code = Some(route.vendor_code);
            }
            Err(Unlocated { route, failure }) => {
                result.vendor = route.as_ref().map(|r| r.vendor.clone());
                result.vendor_code = route.map(|r| r.vendor_code);
                result.outcome = Outcome::Failed(failure);
            }
        }
        result
    }

    /// The ready vendor that holds `code`, or why there is none (with the vendor it was
    /// routed to, when it was). Among a rule's candidates, those without credentials are
    /// skipped; one left is the route; several are searched (`find_owner`).
    pub async fn locate(
        &self,
        code: &DocumentCode,
        ctx: CallContext<'_>,
    ) -> Result<Located, Unlocated> {
        let candidates = match self.placement(code)? {
            Some(route) => return Ok(Located::routed(route)),
            None => self.ready_candidates(code),
        };
        let (owner, state) = self.find_owner(code, &candidates, ctx).await?;
        Ok(Located {
            route: Route {
                vendor: owner.clone(),
                vendor_code: code.as_str().to_owned(),
            },
            state,
        })
    }

    /// What routing alone says of `code`, without calling anyone: its ready route, or `None`
    /// when several ready candidates could hold it (a status read must find which), or why
    /// it has no ready vendor.
    pub fn placement(&self, code: &DocumentCode) -> Result<Option<Route>, Unlocated> {
        let candidates = match self.router.route(code).map_err(Unlocated::unrouted)? {
            Routed::To(route) => return self.ready(route).map(Some),
            Routed::AmongCandidates(candidates) => candidates,
        };
        let route = |vendor: &VendorName| Route {
            vendor: vendor.clone(),
            vendor_code: code.as_str().to_owned(),
        };
        match &self.ready_candidates(code)[..] {
            [] => self.ready(route(&candidates[0])).map(Some),
            // Only one candidate can be called: nothing to find out.
            [(vendor, _)] => Ok(Some(route(vendor))),
            _ => Ok(None),
        }
    }

    /// The candidates of `code`'s rule that are ready, in the rule's order.
    fn ready_candidates(&self, code: &DocumentCode) -> Vec<(&VendorName, &Arc<Policy>)> {
        match self.router.route(code) {
            Ok(Routed::AmongCandidates(candidates)) => candidates
                .iter()
                .filter_map(|name| {
                    let (name, _) = self.registry.get(name.as_str())?;
                    self.vendor(name.as_str()).map(|policy| (name, policy))
                })
                .collect(),
            Ok(Routed::To(_)) | Err(_) => Vec::new(),
        }
    }

    /// The candidate that holds `code`: the one the store remembers, else the first whose
    /// status read knows it (then remembered for every replica), with the state it read. No
    /// candidate knowing it is `not_found`; one that cannot answer fails the code retryably
    /// rather than guessing.
    async fn find_owner<'a>(
        &self,
        code: &DocumentCode,
        ready: &[(&'a VendorName, &Arc<Policy>)],
        ctx: CallContext<'_>,
    ) -> Result<(&'a VendorName, Option<DocState>), Unlocated> {
        match self.store.code_owner(code.as_str()).await {
            Ok(owner) => {
                if let Some((vendor, _)) = ready
                    .iter()
                    .find(|(v, _)| Some(v.as_str()) == owner.as_deref())
                {
                    return Ok((vendor, None));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "A code's owner could not be read; asking each candidate.");
            }
        }
        for (vendor, policy) in ready {
            let state = match policy.can_read_status() {
                true => policy.status(code.as_str(), ctx).await,
                false => Err(UpstreamError::Unsupported),
            };
            match state {
                Ok(DocState::NotFound) => continue,
                Ok(state) => {
                    let store = &self.store;
                    let now = Timestamp::now();
                    if let Err(e) = store
                        .remember_owner(code.as_str(), vendor.as_str(), now)
                        .await
                    {
                        tracing::warn!(vendor = %vendor, error = %e, "An owner was not remembered.");
                    }
                    return Ok((vendor, Some(state)));
                }
                Err(e) => {
                    // Whatever stopped the read, the owner may be found later.
                    let code = match e.class().code {
                        code if code.retryable() && e != UpstreamError::Unsupported => code,
                        _ => ErrorCode::VendorUnavailable,
                    };
                    let message =
                        format!("Could not tell which vendor holds this code: `{vendor}` ({e}).");
                    return Err(Unlocated::unrouted(Failure { code, message }));
                }
            }
        }
        let names: Vec<&str> = ready.iter().map(|(v, _)| v.as_str()).collect();
        let message = format!(
            "No candidate vendor ({}) knows this code.",
            names.join(", ")
        );
        Err(Unlocated::unrouted(Failure {
            code: ErrorCode::NotFound,
            message,
        }))
    }

    /// `route`, unless its vendor has no credentials.
    fn ready(&self, route: Route) -> Result<Route, Unlocated> {
        match self.registry.get(route.vendor.as_str()) {
            Some((_, Entry::Unconfigured)) => {
                let message = format!(
                    "The vendor `{}` has no credentials configured.",
                    route.vendor
                );
                Err(Unlocated {
                    route: Some(route),
                    failure: Failure {
                        code: ErrorCode::VendorNotConfigured,
                        message,
                    },
                })
            }
            _ => Ok(route),
        }
    }

    /// The policy of a ready vendor (configured with credentials).
    pub fn vendor(&self, name: &str) -> Option<&Arc<Policy>> {
        match self.registry.get(name) {
            Some((_, Entry::Ready(vendor))) => Some(vendor),
            Some((_, Entry::Unconfigured)) | None => None,
        }
    }

    /// The vendors with credentials, by name.
    pub fn ready_vendors(&self) -> impl Iterator<Item = &VendorName> {
        self.registry
            .names()
            .filter(|name| self.vendor(name.as_str()).is_some())
    }

    /// Whether `execute` will call a vendor for this planned document.
    pub fn will_send(&self, result: &DocumentResult) -> bool {
        self.sender(result).is_some()
    }

    /// The ready vendor `execute` calls for this planned document, with its canonical name:
    /// none when it has no ready vendor or its code cannot be one of that vendor's documents.
    fn sender(&self, result: &DocumentResult) -> Option<(&VendorName, &Arc<Policy>)> {
        let Some((name, Entry::Ready(vendor))) =
            self.registry.get(result.vendor.as_ref()?.as_str())
        else {
            return None;
        };
        let code = result.vendor_code.as_deref()?;
        vendor
            .malformed_code(code)
            .is_none()
            .then_some((name, vendor))
    }

    /// Calls the vendors for every planned document still pending, concurrently, and fills in
    /// the outcomes. Documents not finished by `deadline` keep their planned outcome
    /// (`deadline_exceeded`). `resumed[i]` says that an earlier attempt of the same request
    /// may have sent document `i`'s cancel: its status is read before any send. `ctx` carries
    /// the request id, the deadline and the calls' priority (jobs call at `Background`).
    pub async fn execute(
        &self,
        command: &CancelCommand,
        plan: &mut [DocumentResult],
        resumed: &[bool],
        ctx: CallContext<'_>,
    ) {
        let groups = self.groups(plan, resumed);
        let deadline = ctx.deadline;
        let details = Details {
            message: &command.message,
            email: &command.email,
            notify_signers: command.notify_signers,
            ctx,
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
            let Some((name, vendor)) = self.sender(result) else {
                continue;
            };
            let resume = resumed.get(i).copied().unwrap_or(false);
            by_vendor
                .entry((name, resume))
                .or_insert_with(|| Group {
                    vendor: Arc::clone(vendor),
                    start: if resume { Start::Resume } else { Start::Fresh },
                    indices: Vec::new(),
                })
                .indices
                .push(i);
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
    let ctx = CallContext::interactive(&meta.request_id, deadline);
    let mut results = state.gateway.plan(command, ctx).await;
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
        .execute(command, &mut results, &resumed, ctx)
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
