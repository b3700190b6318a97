//! Metric names and recording helpers; the Prometheus recorder behind `GET /metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::model::DocumentResult;

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder, installed on first use (several apps in one test process share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed; this one's handle then renders nothing,
        // which the metrics test would catch.
        let _ = ::metrics::set_global_recorder(recorder);
        spawn_upkeep(handle.clone());
        // Zero from the start, so `rate()` and `increase()` see the first shed request.
        for reason in ShedReason::ALL {
            ::metrics::counter!("signgate_shed_requests_total", "reason" => reason.as_str())
                .absolute(0);
        }
        ::metrics::counter!("signgate_needs_attention_total").absolute(0);
        handle
    })
}

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// The name of the upkeep thread.
const UPKEEP_THREAD: &str = "metrics-upkeep";

/// The exporter keeps every histogram sample until something drains them (a scrape of
/// `/metrics`, or `run_upkeep`): without this thread an instance nobody scrapes grows by 48
/// bytes per request (two histograms), some 17 MB a minute at 6,000 requests a second. Here
/// at most a second of samples waits.
fn spawn_upkeep(handle: PrometheusHandle) {
    let upkeep = move || loop {
        std::thread::sleep(UPKEEP_EVERY);
        handle.run_upkeep();
    };
    if let Err(e) = std::thread::Builder::new()
        .name(UPKEEP_THREAD.into())
        .spawn(upkeep)
    {
        tracing::warn!(error = %e, "The metrics upkeep thread did not start.");
    }
}

/// One HTTP request answered.
pub fn http_request(route: &str, status: u16, elapsed: Duration) {
    ::metrics::counter!("signgate_http_requests_total", "route" => route.to_owned(), "status" => status.to_string())
        .increment(1);
    ::metrics::histogram!("signgate_http_request_duration_seconds", "route" => route.to_owned())
        .record(elapsed.as_secs_f64());
}

/// Requests in flight, up or down by one.
pub fn in_flight(delta: f64) {
    ::metrics::gauge!("signgate_in_flight_requests").increment(delta);
}

/// Why a request was answered `503` before it reached a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// `server.max_in_flight` API requests were already running.
    Overloaded,
    /// Shutdown had begun.
    Draining,
}

impl ShedReason {
    /// Every reason, for initialising the counter.
    pub const ALL: [Self; 2] = [Self::Overloaded, Self::Draining];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overloaded => "overloaded",
            Self::Draining => "draining",
        }
    }
}

/// One API request shed by `middleware::load_shed`.
pub fn shed(reason: ShedReason) {
    ::metrics::counter!("signgate_shed_requests_total", "reason" => reason.as_str()).increment(1);
}

/// Whether this instance is ready (what `/readyz` would answer), set at every scrape.
pub fn ready(ready: bool) {
    ::metrics::gauge!("signgate_ready").set(if ready { 1.0 } else { 0.0 });
}

/// A supervised background task panicked and is restarted (src/supervisor.rs). Task names are
/// bounded: fixed names, and one `job_lane:<vendor>` per configured vendor.
pub fn task_restart(task: &str) {
    ::metrics::counter!("signgate_task_restarts_total", "task" => task.to_owned()).increment(1);
}

/// Registers task `task`'s restart counter without counting a restart.
pub fn task_restarts_registered(task: &str) {
    ::metrics::counter!("signgate_task_restarts_total", "task" => task.to_owned()).increment(0);
}

/// Rows quarantined as `needs_attention` (their handling failed twice).
pub fn needs_attention(rows: u64) {
    ::metrics::counter!("signgate_needs_attention_total").increment(rows);
}

/// The final outcome of every document of a request.
pub fn documents(results: &[DocumentResult]) {
    for result in results {
        let vendor = result
            .vendor
            .as_ref()
            .map_or("none", |v| v.as_str())
            .to_owned();
        let error = result.outcome.error_code().map_or("", |c| c.as_str());
        ::metrics::counter!(
            "signgate_documents_total",
            "vendor" => vendor,
            "status" => result.outcome.status().as_str(),
            "error_code" => error,
        )
        .increment(1);
    }
}

/// One call that reached a vendor (`outcome` is `ok` or an error code).
pub fn vendor_call(vendor: &str, outcome: &'static str, elapsed: Duration) {
    ::metrics::counter!("signgate_vendor_requests_total", "vendor" => vendor.to_owned(), "outcome" => outcome)
        .increment(1);
    ::metrics::histogram!("signgate_vendor_request_duration_seconds", "vendor" => vendor.to_owned())
        .record(elapsed.as_secs_f64());
}

/// One retried call.
pub fn vendor_retry(vendor: &str) {
    ::metrics::counter!("signgate_vendor_retries_total", "vendor" => vendor.to_owned())
        .increment(1);
}

/// The breaker's state: 1 open (or probing), 0 closed.
pub fn circuit_open(vendor: &str, open: bool) {
    // Breakers are built with the vendor registry, before the app state installs the
    // recorder: without this, the first app of a process would lose their initial `0`.
    handle();
    ::metrics::gauge!("signgate_vendor_circuit_open", "vendor" => vendor.to_owned()).set(if open {
        1.0
    } else {
        0.0
    });
}

/// One audit row resolved by a recovery, by the document's real final status.
pub fn recovered_document(vendor: &str, status: &'static str) {
    ::metrics::counter!(
        "signgate_recovered_documents_total",
        "vendor" => vendor.to_owned(),
        "status" => status,
    )
    .increment(1);
}

/// Rows deleted by the retention purge, of one table (`audit_events`, `code_owners`, `jobs`).
pub fn audit_rows_purged(table: &'static str) -> ::metrics::Counter {
    ::metrics::counter!("signgate_audit_rows_purged_total", "table" => table)
}

/// Expired idempotency keys deleted.
pub fn idempotency_keys_purged() -> ::metrics::Counter {
    ::metrics::counter!("signgate_idempotency_keys_purged_total")
}

/// The documents of a job slice that ended (those going back to `waiting` are not counted).
pub fn job_documents(outcomes: &[crate::store::SliceOutcome]) {
    for outcome in outcomes {
        let row = &outcome.row;
        let crate::store::RowStatus::Done(status) = row.status else {
            continue;
        };
        ::metrics::counter!(
            "signgate_job_documents_total",
            "vendor" => row.vendor.clone().unwrap_or_else(|| "none".to_owned()),
            "status" => status.as_str(),
            "error_code" => row.error_code.map_or("", |c| c.as_str()),
        )
        .increment(1);
    }
}

/// The job queue as the store holds it for every replica: jobs by state, and documents
/// waiting by vendor (`unknown` while a status read has to find a code's vendor); each of
/// `vendors` not in `gauges` has none waiting.
pub fn job_gauges<'a>(gauges: &crate::store::JobGauges, vendors: impl Iterator<Item = &'a str>) {
    use crate::store::JobState;
    for state in [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Cancelled,
    ] {
        let jobs = gauges
            .jobs
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n);
        ::metrics::gauge!("signgate_jobs", "state" => state.as_str()).set(jobs as f64);
    }
    let mut waiting: std::collections::BTreeMap<&str, u64> =
        vendors.chain([""]).map(|v| (v, 0)).collect();
    waiting.extend(gauges.waiting.iter().map(|(v, n)| (v.as_str(), *n)));
    for (vendor, documents) in waiting {
        let vendor = if vendor.is_empty() { "unknown" } else { vendor };
        ::metrics::gauge!("signgate_job_documents_waiting", "vendor" => vendor.to_owned())
            .set(documents as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of this process's threads (Linux).
    fn thread_names() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .expect("/proc/self/task")
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect()
    }

    #[test]
    fn the_recorder_comes_with_a_thread_that_drains_histogram_samples() {
        handle();
        // A new thread names itself once it runs; until then it has its parent's name.
        let running = (0..500).any(|_| {
            let found = thread_names().iter().any(|name| name == UPKEEP_THREAD);
            if !found {
                std::thread::sleep(Duration::from_millis(10));
            }
            found
        });
        assert!(running, "{:?}", thread_names());
    }
}
