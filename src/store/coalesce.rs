//! `Coalescing`: group commit for the audit trail. Concurrent requests' audit writes are
//! gathered by one writer task into one transaction, instead of two small transactions per
//! request (each statement of sqlx's SQLite driver is a hop to its worker thread, and each
//! Postgres commit is a flush). Every other call passes straight through.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{
    AuditRow, Begin, CallbackAttempt, CallbackNext, Completion, JobDocument, JobGauges, JobRecord,
    JobStore, KeyHolder, NewJob, SharedLimits, SliceClaim, SliceOutcome, Store, StoreError, Tally,
    Timestamp, UnsettledClaim,
};

/// Jobs waiting for the writer; a full queue makes callers wait (back-pressure, bounded memory).
const QUEUE: usize = 1024;
/// Most rows written in one transaction.
const MAX_ROWS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pending,
    Finish,
}

struct Job {
    kind: Kind,
    rows: Vec<AuditRow>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// A store whose audit writes are group-committed by a writer task.
#[derive(Debug, Clone)]
pub struct Coalescing {
    inner: Arc<dyn Store>,
    jobs: mpsc::Sender<Job>,
}

impl Coalescing {
    /// Wraps `inner` and starts its writer task (which ends when the last clone is dropped).
    pub fn new(inner: Arc<dyn Store>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(Arc::clone(&inner), queue));
        Self { inner, jobs }
    }

    async fn submit(&self, kind: Kind, rows: &[AuditRow]) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        let job = Job {
            kind,
            rows: rows.to_vec(),
            done,
        };
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        result.await.map_err(|_| StoreError::Closed)?
    }
}

/// Takes every job already queued (up to `MAX_ROWS` rows), writes each kind in one
/// transaction, and answers every job. If a combined write fails, each job is written alone,
/// so one request's failure never becomes another's.
async fn write_batches(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        let mut rows = jobs[0].rows.len();
        while rows < MAX_ROWS {
            match queue.try_recv() {
                Ok(job) => {
                    rows += job.rows.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let (pending, finish): (Vec<Job>, Vec<Job>) =
            jobs.into_iter().partition(|job| job.kind == Kind::Pending);
        write(store.as_ref(), Kind::Pending, pending).await;
        write(store.as_ref(), Kind::Finish, finish).await;
    }
}

async fn write(store: &dyn Store, kind: Kind, batch: Vec<Job>) {
    if batch.is_empty() {
        return;
    }
    let all: Vec<AuditRow> = batch.iter().flat_map(|j| j.rows.iter().cloned()).collect();
    if batch.len() > 1 && apply(store, kind, &all).await.is_ok() {
        for job in batch {
            let _ = job.done.send(Ok(()));
        }
        return;
    }
    for job in batch {
        let result = apply(store, kind, &job.rows).await;
        let _ = job.done.send(result);
    }
}

async fn apply(store: &dyn Store, kind: Kind, rows: &[AuditRow]) -> Result<(), StoreError> {
    match kind {
        Kind::Pending => store.insert_pending(rows).await,
        Kind::Finish => store.finish(rows).await,
    }
}

#[async_trait]
impl Store for Coalescing {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        attempt_id: &str,
        now: Timestamp,
        stale_after: Duration,
        ttl: Duration,
    ) -> Result<Begin, StoreError> {
        self.inner
            .begin(key, fingerprint, attempt_id, now, stale_after, ttl)
            .await
    }

    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.complete(key, fingerprint, body, now).await
    }

    async fn release(&self, key: &str, fingerprint: &str) -> Result<(), StoreError> {
        self.inner.release(key, fingerprint).await
    }

    async fn purge_expired(&self, now: Timestamp, batch: u32) -> Result<u64, StoreError> {
        self.inner.purge_expired(now, batch).await
    }

    async fn purge_audit(
        &self,
        before: Timestamp,
        now: Timestamp,
        batch: u32,
    ) -> Result<u64, StoreError> {
        self.inner.purge_audit(before, now, batch).await
    }

    async fn purge_owners(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        self.inner.purge_owners(before, batch).await
    }

    async fn insert_pending(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        self.submit(Kind::Pending, rows).await
    }

    async fn finish(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        self.submit(Kind::Finish, rows).await
    }

    async fn history(&self, code: &str, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        self.inner.history(code, limit).await
    }

    async fn claim_unsettled(
        &self,
        claim: &UnsettledClaim<'_>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        self.inner.claim_unsettled(claim).await
    }

    async fn quarantine(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.quarantine(now).await
    }

    async fn hold_key(
        &self,
        key: &str,
        attempt_id: &str,
        now: Timestamp,
    ) -> Result<KeyHolder, StoreError> {
        self.inner.hold_key(key, attempt_id, now).await
    }

    async fn adopt(
        &self,
        key: &str,
        attempt_id: &str,
        owner: &str,
        lease_until: Timestamp,
    ) -> Result<Vec<AuditRow>, StoreError> {
        self.inner.adopt(key, attempt_id, owner, lease_until).await
    }

    async fn settle(
        &self,
        owner: &str,
        rows: &[AuditRow],
        completion: Option<Completion<'_>>,
    ) -> Result<u64, StoreError> {
        self.inner.settle(owner, rows, completion).await
    }

    async fn attempt_rows(&self, attempt_id: &str) -> Result<Vec<AuditRow>, StoreError> {
        self.inner.attempt_rows(attempt_id).await
    }

    async fn code_owner(&self, code: &str) -> Result<Option<String>, StoreError> {
        self.inner.code_owner(code).await
    }

    async fn remember_owner(
        &self,
        code: &str,
        vendor: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.remember_owner(code, vendor, now).await
    }

    fn shared_limits(&self) -> Option<Arc<dyn SharedLimits>> {
        self.inner.shared_limits()
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

/// Jobs are written straight through: a job's writes are few and already batched.
#[async_trait]
impl JobStore for Coalescing {
    async fn create_job(
        &self,
        job: &NewJob,
        rows: &[AuditRow],
        completion: Option<Completion<'_>>,
    ) -> Result<(), StoreError> {
        self.inner.create_job(job, rows, completion).await
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.inner.job(id).await
    }

    async fn job_tally(&self, id: &str) -> Result<Vec<Tally>, StoreError> {
        self.inner.job_tally(id).await
    }

    async fn job_failures(&self, id: &str) -> Result<Vec<String>, StoreError> {
        self.inner.job_failures(id).await
    }

    async fn job_rows(&self, id: &str, from: u32, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        self.inner.job_rows(id, from, limit).await
    }

    async fn claim_slice(&self, claim: &SliceClaim<'_>) -> Result<Vec<JobDocument>, StoreError> {
        self.inner.claim_slice(claim).await
    }

    async fn finish_slice(
        &self,
        owner: &str,
        outcomes: &[SliceOutcome],
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        self.inner.finish_slice(owner, outcomes, now).await
    }

    async fn abort_job(&self, id: &str, now: Timestamp) -> Result<Option<JobRecord>, StoreError> {
        self.inner.abort_job(id, now).await
    }

    async fn claim_callbacks(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.inner
            .claim_callbacks(owner, now, lease_until, limit)
            .await
    }

    async fn record_callback(
        &self,
        id: &str,
        owner: &str,
        attempt: &CallbackAttempt,
        next: CallbackNext,
    ) -> Result<bool, StoreError> {
        self.inner.record_callback(id, owner, attempt, next).await
    }

    async fn callback_attempts(&self, id: &str) -> Result<Vec<CallbackAttempt>, StoreError> {
        self.inner.callback_attempts(id).await
    }

    async fn complete_finished_jobs(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.complete_finished_jobs(now).await
    }

    async fn job_gauges(&self) -> Result<JobGauges, StoreError> {
        self.inner.job_gauges().await
    }

    async fn purge_jobs(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        self.inner.purge_jobs(before, batch).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records each `insert_pending` call's codes; refuses any call holding code `BAD`, slowly
    /// enough that other jobs queue up behind the first.
    #[derive(Debug, Default)]
    struct Recorder {
        calls: Mutex<Vec<Vec<String>>>,
    }

    /// Only audit writes are recorded; jobs are not part of what these tests look at.
    #[async_trait]
    impl JobStore for Recorder {
        async fn create_job(
            &self,
            _: &NewJob,
            _: &[AuditRow],
            _: Option<Completion<'_>>,
        ) -> Result<(), StoreError> {
            Err(StoreError::Closed)
        }
        async fn job(&self, _: &str) -> Result<Option<JobRecord>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn job_tally(&self, _: &str) -> Result<Vec<Tally>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn job_failures(&self, _: &str) -> Result<Vec<String>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn job_rows(&self, _: &str, _: u32, _: u32) -> Result<Vec<AuditRow>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn claim_slice(&self, _: &SliceClaim<'_>) -> Result<Vec<JobDocument>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn finish_slice(
            &self,
            _: &str,
            _: &[SliceOutcome],
            _: Timestamp,
        ) -> Result<u64, StoreError> {
            Err(StoreError::Closed)
        }
        async fn abort_job(&self, _: &str, _: Timestamp) -> Result<Option<JobRecord>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn claim_callbacks(
            &self,
            _: &str,
            _: Timestamp,
            _: Timestamp,
            _: u32,
        ) -> Result<Vec<JobRecord>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn record_callback(
            &self,
            _: &str,
            _: &str,
            _: &CallbackAttempt,
            _: CallbackNext,
        ) -> Result<bool, StoreError> {
            Err(StoreError::Closed)
        }
        async fn callback_attempts(&self, _: &str) -> Result<Vec<CallbackAttempt>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn complete_finished_jobs(&self, _: Timestamp) -> Result<u64, StoreError> {
            Err(StoreError::Closed)
        }
        async fn job_gauges(&self) -> Result<JobGauges, StoreError> {
            Err(StoreError::Closed)
        }

        async fn purge_jobs(&self, _: Timestamp, _: u32) -> Result<u64, StoreError> {
            Err(StoreError::Closed)
        }
    }

    #[async_trait]
    impl Store for Recorder {
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn begin(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: Timestamp,
            _: Duration,
            _: Duration,
        ) -> Result<Begin, StoreError> {
            Err(StoreError::Closed)
        }
        async fn complete(
            &self,
            _: &str,
            _: &str,
            _: &[u8],
            _: Timestamp,
        ) -> Result<(), StoreError> {
            Err(StoreError::Closed)
        }
        async fn release(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Closed)
        }
        async fn purge_expired(&self, _: Timestamp, _: u32) -> Result<u64, StoreError> {
            Err(StoreError::Closed)
        }
        async fn purge_audit(&self, _: Timestamp, _: Timestamp, _: u32) -> Result<u64, StoreError> {
            Err(StoreError::Closed)
        }
        async fn purge_owners(&self, _: Timestamp, _: u32) -> Result<u64, StoreError> {
            Err(StoreError::Closed)
        }
        async fn insert_pending(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
            let bad = codes.iter().any(|c| c == "BAD");
            self.calls.lock().unwrap().push(codes);
            if bad {
                Err(StoreError::Closed)
            } else {
                Ok(())
            }
        }
        async fn finish(&self, _: &[AuditRow]) -> Result<(), StoreError> {
            Ok(())
        }
        async fn history(&self, _: &str, _: u32) -> Result<Vec<AuditRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn claim_unsettled(
            &self,
            _: &UnsettledClaim<'_>,
        ) -> Result<Vec<AuditRow>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn quarantine(&self, _: Timestamp) -> Result<u64, StoreError> {
            Err(StoreError::Closed)
        }
        async fn hold_key(&self, _: &str, _: &str, _: Timestamp) -> Result<KeyHolder, StoreError> {
            Err(StoreError::Closed)
        }
        async fn adopt(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: Timestamp,
        ) -> Result<Vec<AuditRow>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn settle(
            &self,
            _: &str,
            _: &[AuditRow],
            _: Option<Completion<'_>>,
        ) -> Result<u64, StoreError> {
            Err(StoreError::Closed)
        }
        async fn attempt_rows(&self, _: &str) -> Result<Vec<AuditRow>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn code_owner(&self, _: &str) -> Result<Option<String>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn remember_owner(&self, _: &str, _: &str, _: Timestamp) -> Result<(), StoreError> {
            Err(StoreError::Closed)
        }
        fn shared_limits(&self) -> Option<Arc<dyn SharedLimits>> {
            None
        }
        async fn close(&self) {}
    }

    async fn write_all(store: &Coalescing, codes: &[&str]) -> Vec<Result<(), StoreError>> {
        let writes = codes.iter().map(|code| {
            let store = store.clone();
            async move {
                store
                    .insert_pending(&[super::super::pending_row(code)])
                    .await
            }
        });
        futures::future::join_all(writes).await
    }

    #[tokio::test]
    async fn concurrent_writes_share_transactions() {
        let recorder = Arc::new(Recorder::default());
        let store = Coalescing::new(recorder.clone());
        let codes: Vec<String> = (0..20).map(|i| format!("C{i}")).collect();
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();

        let results = write_all(&store, &codes).await;

        assert!(results.iter().all(Result::is_ok));
        let calls = recorder.calls.lock().unwrap().clone();
        assert_eq!(
            calls.iter().map(Vec::len).sum::<usize>(),
            20,
            "each row once: {calls:?}"
        );
        assert!(calls.len() < 20, "writes were not coalesced: {calls:?}");
    }

    #[tokio::test]
    async fn a_failed_write_stays_with_its_own_request() {
        let recorder = Arc::new(Recorder::default());
        let store = Coalescing::new(recorder.clone());

        let results = write_all(&store, &["C1", "BAD", "C2", "C3"]).await;

        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, false, true, true]);
    }
}
