//! The job runner: every replica runs one lane per ready vendor (plus one for codes whose
//! vendor a status read must find). A lane claims a slice of due documents (an atomic lease in
//! the store), cancels them through the same gateway as a request (routing, batching, pacing,
//! breakers, the per-document policy), at background priority, and records each outcome:
//! final, or `waiting` again to be retried later.
//!
//! Retries never re-send blindly: a document whose earlier slice may have sent its cancel (an
//! ambiguous failure, or a runner that died mid-slice and whose lease passed) carries
//! `outcome_unknown`, and its next slice reads its status before any send (`Start::Resume`).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rand::Rng;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::audit;
use crate::cancellation::CancelCommand;
use crate::model::{DocumentCode, DocumentResult, ErrorCode};
use crate::settings::JobSettings;
use crate::state::AppState;
use crate::store::{JobDocument, RowStatus, SliceClaim, SliceOutcome, StoreError, Timestamp};
use crate::vendors::{CallContext, Priority};

/// The lane of documents whose vendor is not known yet.
const LOCATE: &str = "";

/// How soon a document is claimed again when its vendor had no room for a background call.
const DEFERRED: Duration = Duration::from_secs(1);
/// The first wait before a retry; doubled per attempt, with jitter, up to `MAX_BACKOFF`.
const BASE_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between two attempts of a document.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Every job task of one replica: the lanes, the callback loop and the gauges.
#[derive(Debug)]
pub struct Runner {
    lanes: Vec<JoinHandle<()>>,
    others: Vec<JoinHandle<()>>,
}

impl Runner {
    /// Waits up to `within` for the lanes to finish their slices (they claim nothing once
    /// shutdown has begun), then stops everything. A slice cut short loses nothing: its
    /// lease passes and another runner resumes its documents.
    pub async fn stop(mut self, within: Duration) {
        let lanes = futures::future::join_all(self.lanes.iter_mut());
        if tokio::time::timeout(within, lanes).await.is_err() {
            tracing::warn!("Job slices still running at shutdown; their leases will lapse.");
        }
        for task in self.lanes.iter().chain(&self.others) {
            task.abort();
        }
    }
}

/// Starts one lane per ready vendor and the lane that locates shared codes, the callback
/// loop, and the refresh of the job gauges.
pub fn spawn(state: &AppState) -> Runner {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let owner = format!("jobs:{}", &id[..12]);
    let mut names: Vec<String> = state
        .gateway
        .ready_vendors()
        .map(|v| v.as_str().to_owned())
        .collect();
    let mut others = vec![spawn_gauges(state.clone(), names.clone())];
    others.extend(crate::jobs::notify::spawn(state));
    names.push(LOCATE.to_owned());
    tracing::info!(runner = %owner, lanes = names.len(), "Job runner started.");
    let supervisor = state.supervisor();
    let lanes = names
        .into_iter()
        .map(|lane| {
            let state = state.clone();
            let owner = owner.clone();
            let task = format!(
                "job_lane:{}",
                if lane.is_empty() { "locate" } else { &lane }
            );
            supervisor.spawn(task, move || {
                let lane = Lane {
                    state: state.clone(),
                    owner: owner.clone(),
                    lane: lane.clone(),
                };
                async move { lane.run().await }
            })
        })
        .collect();
    Runner { lanes, others }
}

/// How often the job gauges are read from the store.
const GAUGES_EVERY: Duration = Duration::from_secs(10);

fn spawn_gauges(state: AppState, vendors: Vec<String>) -> JoinHandle<()> {
    state.supervisor().spawn("job_gauges", move || {
        let state = state.clone();
        let vendors = vendors.clone();
        async move {
            let mut ticks =
                tokio::time::interval(GAUGES_EVERY.min(state.settings.jobs.poll_interval() * 10));
            loop {
                ticks.tick().await;
                match state.store.job_gauges().await {
                    Ok(gauges) => {
                        crate::metrics::job_gauges(&gauges, vendors.iter().map(String::as_str))
                    }
                    Err(e) => tracing::warn!(error = %e, "Job gauges could not be read."),
                }
            }
        }
    })
}

/// One vendor's lane in one replica.
struct Lane {
    state: AppState,
    owner: String,
    lane: String,
}

impl Lane {
    async fn run(self) {
        let poll = self.state.settings.jobs.poll_interval();
        while !self.state.is_draining() {
            match self.once().await {
                // A full slice: more may be due at once.
                Ok(Pass::Busy) => {}
                Ok(Pass::Idle) => tokio::time::sleep(poll).await,
                // The vendor had no room for background calls: let its window move on.
                Ok(Pass::Deferred) => tokio::time::sleep(poll.min(DEFERRED)).await,
                Err(e) => {
                    tracing::error!(lane = %self.lane, error = %e, "A job slice failed; its lease lapses and it is claimed again.");
                    tokio::time::sleep(poll).await;
                }
            }
        }
    }

    /// Claims one slice and carries it out.
    async fn once(&self) -> Result<Pass, StoreError> {
        let settings = &self.state.settings;
        let now = Timestamp::now();
        let limit = settings.jobs.slice_documents;
        let claim = SliceClaim {
            owner: &self.owner,
            lane: &self.lane,
            now,
            lease_until: now.saturating_add(crate::recovery::presumed_dead_after(settings)),
            limit,
        };
        let docs = self.state.store.claim_slice(&claim).await?;
        if docs.is_empty() {
            return Ok(Pass::Idle);
        }
        let full = docs.len() as u32 == limit;
        // A document whose previous handling died (claimed again, nothing written) runs alone,
        // so a document that panics its handler takes no other down with it twice.
        let mut groups: Vec<Vec<JobDocument>> = Vec::new();
        let mut by_job: BTreeMap<String, Vec<JobDocument>> = BTreeMap::new();
        for doc in docs {
            if doc.claims >= 2 {
                groups.push(vec![doc]);
            } else {
                by_job
                    .entry(doc.row.attempt_id.clone())
                    .or_default()
                    .push(doc);
            }
        }
        groups.extend(by_job.into_values());
        // Each group's outcomes are written as soon as it is done, so a handling that dies
        // later (a panic, or the process killed) leaves only its own documents unwritten. The
        // write is part of the group's own future: awaiting it outside the stream would stop
        // polling the other groups, which may hold a store connection the write waits for.
        // The writes take turns: two at once could each see the other's rows still pending
        // and neither would end the job.
        let turn = tokio::sync::Mutex::new(());
        let turn = &turn;
        let mut runs: futures::stream::FuturesUnordered<_> = groups
            .into_iter()
            .map(|docs| async move {
                let outcomes = std::panic::AssertUnwindSafe(self.run_job_slice(docs))
                    .catch_unwind()
                    .await?;
                let _turn = turn.lock().await;
                Ok::<_, Box<dyn std::any::Any + Send>>(self.write_slice(outcomes, now).await)
            })
            .collect();
        let mut panicked = None;
        let mut deferred = false;
        let mut failed = None;
        while let Some(run) = runs.next().await {
            match run {
                Ok(Ok(was_deferred)) => deferred |= was_deferred,
                Ok(Err(e)) => {
                    failed.get_or_insert(e);
                }
                // Its documents stay leased, their claims counted; the others are written,
                // then the lane dies as the handler did and its supervisor restarts it.
                Err(panic) => {
                    panicked.get_or_insert(panic);
                }
            }
        }
        if let Some(panic) = panicked {
            std::panic::resume_unwind(panic);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(match (deferred, full) {
            (true, _) => Pass::Deferred,
            (false, true) => Pass::Busy,
            (false, false) => Pass::Idle,
        })
    }

    /// Writes one group's outcomes; whether any is waiting again within `DEFERRED`.
    async fn write_slice(
        &self,
        outcomes: Vec<SliceOutcome>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let deferred = outcomes.iter().any(|o| {
            o.row.status == RowStatus::Waiting
                && o.next_at
                    .is_some_and(|at| at <= now.saturating_add(DEFERRED))
        });
        let written = self
            .state
            .store
            .finish_slice(&self.owner, &outcomes, Timestamp::now())
            .await?;
        if written < outcomes.len() as u64 {
            tracing::warn!(lane = %self.lane, written, claimed = outcomes.len(), "Part of a job slice was taken over by another runner; its outcomes were left to it.");
        }
        crate::metrics::job_documents(&outcomes);
        Ok(deferred)
    }

    /// Cancels the claimed documents of one job (they share its reason and request id).
    async fn run_job_slice(&self, docs: Vec<JobDocument>) -> Vec<SliceOutcome> {
        let first = &docs[0].row;
        let command = CancelCommand {
            codes: Vec::new(),
            message: first.message.clone(),
            email: first.email.clone(),
            notify_signers: first.notify_signers,
        };
        let request_id = first.request_id.clone();
        let deadline = Instant::now() + self.state.settings.server.request_timeout();
        let ctx = CallContext {
            request_id: &request_id,
            deadline,
            priority: Priority::Background,
        };
        let gateway = &self.state.gateway;
        let plans = docs.iter().map(|doc| async move {
            crate::supervisor::fault::check("job_lane", &doc.row.code);
            let code = DocumentCode::parse(&doc.row.code).ok()?;
            Some(match (&doc.row.vendor, &doc.row.vendor_code) {
                (Some(vendor), Some(vendor_code)) => gateway.planned(
                    &code,
                    Ok(crate::routing::Route {
                        vendor: crate::model::VendorName::new(vendor),
                        vendor_code: vendor_code.clone(),
                    }),
                ),
                _ => gateway.plan_one(&code, ctx).await,
            })
        });
        let plans = futures::future::join_all(plans).await;
        let (docs, mut plan): (Vec<JobDocument>, Vec<DocumentResult>) = docs
            .into_iter()
            .zip(plans)
            .filter_map(|(doc, plan)| plan.map(|plan| (doc, plan)))
            .unzip();
        let resumed: Vec<bool> = docs.iter().map(|d| d.row.outcome_unknown).collect();
        gateway.execute(&command, &mut plan, &resumed, ctx).await;
        let now = Timestamp::now();
        let jobs = &self.state.settings.jobs;
        docs.into_iter()
            .zip(&plan)
            .map(|(doc, result)| {
                // A code whose vendor could not be found was sent to no one: safe to retry.
                let readable = result.vendor.as_ref().is_none_or(|v| {
                    gateway
                        .vendor(v.as_str())
                        .is_some_and(|v| v.can_read_status())
                });
                decide(doc, result, readable, now, jobs)
            })
            .collect()
    }
}

/// What a lane's pass found.
enum Pass {
    /// A full slice was carried out.
    Busy,
    /// Fewer documents than a slice were due.
    Idle,
    /// A vendor had no room for background calls.
    Deferred,
}

/// What becomes of a document after its slice: its outcome is final, or it waits for a retry.
///
/// - A document its vendor had no room for (`deadline_exceeded`, no call made) waits a second,
///   without counting an attempt.
/// - A retryable failure (`vendor_unavailable`, `vendor_rate_limited`, `vendor_timeout`,
///   `deadline_exceeded`) waits with exponential backoff, until the document has had
///   `max_attempts_per_document` slices or its job is `max_age_hours` old; a vendor without a
///   status read is retried only after a `429` (any other failure may have cancelled it, and
///   nothing could tell before a re-send).
/// - Anything else is final.
pub fn decide(
    doc: JobDocument,
    result: &DocumentResult,
    readable: bool,
    now: Timestamp,
    settings: &JobSettings,
) -> SliceOutcome {
    let JobDocument {
        mut row, attempts, ..
    } = doc;
    let calls_before = row.vendor_calls;
    let code = result.outcome.error_code();
    let deferred = code == Some(ErrorCode::DeadlineExceeded)
        && result.vendor_calls == 0
        && !result.outcome_unknown;
    // The vendor a search found is kept: the row's next slice goes straight to it.
    row.vendor
        .clone_from(&result.vendor.as_ref().map(|v| v.as_str().to_owned()));
    row.vendor_code.clone_from(&result.vendor_code);
    if deferred {
        // Nothing was sent: the row is as it was, due again in a moment.
        row.status = RowStatus::Waiting;
        return SliceOutcome {
            row,
            attempts,
            next_at: Some(now.saturating_add(DEFERRED)),
        };
    }
    audit::set_outcome(&mut row, result, now);
    row.vendor_calls += calls_before;
    // A document resumed after an unknown outcome stays unknown until something settles it.
    let attempts = attempts + 1;
    let retryable = matches!(
        code,
        Some(
            ErrorCode::VendorUnavailable
                | ErrorCode::VendorRateLimited
                | ErrorCode::VendorTimeout
                | ErrorCode::DeadlineExceeded
        )
    ) && (readable || code == Some(ErrorCode::VendorRateLimited));
    let too_old = now.as_millis() - row.received_at.as_millis()
        >= i64::try_from(settings.max_age().as_millis()).unwrap_or(i64::MAX);
    if !retryable || attempts >= settings.max_attempts_per_document || too_old {
        return SliceOutcome {
            row,
            attempts,
            next_at: None,
        };
    }
    row.status = RowStatus::Waiting;
    row.finished_at = None;
    SliceOutcome {
        row,
        attempts,
        next_at: Some(now.saturating_add(backoff(attempts))),
    }
}

/// The wait before attempt `attempts + 1`: `BASE_BACKOFF` doubled per attempt, up to
/// `MAX_BACKOFF`, between half and all of it (jitter, so a vendor that comes back is not
/// hit by every waiting document at once).
fn backoff(attempts: u32) -> Duration {
    let ceiling = BASE_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests;
