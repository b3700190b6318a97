//! A job's representation (`GET /documents/cancel/jobs/{id}`, the creation's answer and the
//! callback's body): its state, counts so far, each vendor's progress and pace, an estimate
//! of the time left, and, once it has ended, the Auco-style summary.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::Status;
use crate::state::AppState;
use crate::store::{CallbackState, JobRecord, JobState, RowStatus, StoreError, Tally, Timestamp};

/// A job as answered.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    id: String,
    state: JobState,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    total: u32,
    counts: Counts,
    estimated_seconds_left: Option<u64>,
    vendors: Vec<VendorProgress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<Callback>,
}

/// Documents by status.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Counts {
    waiting: u64,
    pending: u64,
    cancelled: u64,
    already_cancelled: u64,
    failed: u64,
}

/// One vendor's share of the job.
#[derive(Debug, Clone, Serialize)]
struct VendorProgress {
    vendor: String,
    /// Not finished yet (`waiting` or `pending`).
    waiting: u64,
    /// Finished.
    done: u64,
    /// The vendor's strictest rate limit, in calls per minute; `None` without one.
    calls_per_minute: Option<u32>,
}

/// The Auco-style summary of an ended job.
#[derive(Debug, Clone, Serialize)]
struct Summary {
    success: u64,
    errors: Errors,
}

#[derive(Debug, Clone, Serialize)]
struct Errors {
    cant: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    documents: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Callback {
    url: String,
    state: CallbackState,
    attempts: u32,
}

impl JobView {
    /// The job's state.
    pub fn state(&self) -> JobState {
        self.state
    }
}

impl Counts {
    fn add(&mut self, status: RowStatus, documents: u64) {
        let slot = match status {
            RowStatus::Waiting => &mut self.waiting,
            RowStatus::Pending => &mut self.pending,
            RowStatus::Done(Status::Cancelled) => &mut self.cancelled,
            RowStatus::Done(Status::AlreadyCancelled) => &mut self.already_cancelled,
            RowStatus::Done(Status::Failed) => &mut self.failed,
        };
        *slot += documents;
    }
}

/// The job `id` as answered now, or `None` when there is no such job.
pub async fn load(state: &AppState, id: &str) -> Result<Option<JobView>, StoreError> {
    let Some(record) = state.store.job(id).await? else {
        return Ok(None);
    };
    let tally = state.store.job_tally(id).await?;
    let failures = match record.state.is_final() {
        true => Some(state.store.job_failures(id).await?),
        false => None,
    };
    Ok(Some(view(
        state,
        record,
        &tally,
        failures,
        Timestamp::now(),
    )))
}

fn view(
    state: &AppState,
    record: JobRecord,
    tally: &[Tally],
    failures: Option<Vec<String>>,
    now: Timestamp,
) -> JobView {
    let mut counts = Counts::default();
    let mut vendors: BTreeMap<&str, VendorProgress> = BTreeMap::new();
    for t in tally {
        counts.add(t.status, t.documents);
        let Some(vendor) = t.vendor.as_deref() else {
            continue;
        };
        let progress = vendors.entry(vendor).or_insert_with(|| VendorProgress {
            vendor: vendor.to_owned(),
            waiting: 0,
            done: 0,
            calls_per_minute: calls_per_minute(state, vendor),
        });
        match t.status {
            RowStatus::Waiting | RowStatus::Pending => progress.waiting += t.documents,
            RowStatus::Done(_) => progress.done += t.documents,
        }
    }
    let vendors: Vec<VendorProgress> = vendors.into_values().collect();
    let estimated_seconds_left = match record.state.is_final() {
        true => None,
        false => estimate(state, &record, &vendors, now),
    };
    let summary = failures.map(|documents| Summary {
        success: counts.cancelled,
        errors: Errors {
            cant: documents.len() as u64,
            documents,
        },
    });
    let callback = record.job.callback_url.clone().map(|url| Callback {
        url,
        state: record.callback_state.unwrap_or(CallbackState::Pending),
        attempts: record.callback_attempts,
    });
    JobView {
        id: record.job.id,
        state: record.state,
        created_at: record.job.created_at.to_rfc3339(),
        started_at: record.started_at.map(Timestamp::to_rfc3339),
        finished_at: record.finished_at.map(Timestamp::to_rfc3339),
        total: record.job.total,
        counts,
        estimated_seconds_left,
        vendors,
        summary,
        callback,
    }
}

/// The vendor's strictest rate limit in calls per minute.
fn calls_per_minute(state: &AppState, vendor: &str) -> Option<u32> {
    state
        .settings
        .vendors
        .get(vendor)?
        .rate_limits()
        .iter()
        .map(|limit| {
            let per_minute = u64::from(limit.calls) * 60 / limit.window.as_secs().max(1);
            u32::try_from(per_minute).unwrap_or(u32::MAX)
        })
        .min()
}

/// Seconds until the slowest vendor is through, as vendors run side by side: from each
/// vendor's pace (its rate limit less the share left to synchronous requests, times the codes
/// per call), or, for a vendor without a limit, from the pace the job has had so far there.
/// `None` when no vendor's pace is known yet.
fn estimate(
    state: &AppState,
    record: &JobRecord,
    vendors: &[VendorProgress],
    now: Timestamp,
) -> Option<u64> {
    let reserve = f64::from(state.settings.jobs.interactive_reserve_percent) / 100.0;
    let running_secs = record
        .started_at
        .map(|at| (now.as_millis() - at.as_millis()).max(1) as f64 / 1000.0);
    let mut known = false;
    let mut slowest: f64 = 0.0;
    for v in vendors.iter().filter(|v| v.waiting > 0) {
        let per_call = state
            .gateway
            .vendor(&v.vendor)
            .map_or(1, |policy| policy.batch_size()) as f64;
        let per_second = match (v.calls_per_minute, running_secs) {
            (Some(cpm), _) => f64::from(cpm) * (1.0 - reserve) * per_call / 60.0,
            (None, Some(secs)) if v.done > 0 => v.done as f64 / secs,
            (None, _) => continue,
        };
        known = true;
        slowest = slowest.max(v.waiting as f64 / per_second.max(f64::MIN_POSITIVE));
    }
    known.then(|| slowest.ceil() as u64)
}
