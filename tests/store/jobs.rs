//! Jobs: creation with its key, the atomic claim of slices, outcomes, cancellation and the
//! callback's state.

use futures::future::join_all;
use signgate::model::{ErrorCode, Status};
use signgate::store::{
    AuditRow, Begin, CallbackAttempt, CallbackNext, CallbackState, Completion, JobState, NewJob,
    RowStatus, SliceClaim, SliceOutcome, Timestamp,
};

use crate::helpers::{at, begin, pending, Harness, T0};

fn job(id: &str, total: u32, callback: bool) -> NewJob {
    NewJob {
        id: id.to_owned(),
        request_id: format!("req-{id}"),
        total,
        email: "ops@example.com".to_owned(),
        message: "Template error".to_owned(),
        notify_signers: true,
        created_at: T0,
        callback_url: callback.then(|| "https://hooks.example/jobs".to_owned()),
    }
}

/// `total` waiting rows of job `id`, on zapsign.
fn rows(id: &str, total: u32) -> Vec<AuditRow> {
    (0..total)
        .map(|i| {
            let mut row = pending(id, i, &format!("zapsign:doc-{i}"), T0);
            row.attempt_id = id.to_owned();
            row.status = RowStatus::Waiting;
            row
        })
        .collect()
}

fn claim<'a>(owner: &'a str, now: Timestamp, limit: u32) -> SliceClaim<'a> {
    SliceClaim {
        owner,
        lane: "zapsign",
        now,
        lease_until: now.saturating_add(std::time::Duration::from_secs(40)),
        limit,
    }
}

fn cancelled(mut row: AuditRow, attempts: u32, now: Timestamp) -> SliceOutcome {
    row.status = RowStatus::Done(Status::Cancelled);
    row.finished_at = Some(now);
    row.vendor_calls += 1;
    SliceOutcome {
        row,
        attempts,
        next_at: None,
    }
}

pub async fn a_job_is_created_with_its_rows_and_completes_its_key(h: &Harness) {
    let store = &h.store;
    assert_eq!(begin(store.as_ref(), "k-1", "fp", T0).await, Begin::Started);
    let completion = Completion {
        key: "k-1",
        attempt_id: &crate::helpers::attempt_at(T0),
        body: b"{\"id\":\"job-1\"}",
        now: T0,
    };
    store
        .create_job(&job("job-1", 3, false), &rows("job-1", 3), Some(completion))
        .await
        .expect("create");

    let record = store.job("job-1").await.expect("read").expect("exists");
    assert_eq!(record.state, JobState::Queued);
    assert_eq!(record.job.total, 3);
    assert_eq!(record.callback_state, None);
    let tally = store.job_tally("job-1").await.expect("tally");
    assert_eq!(tally.len(), 1);
    assert_eq!(tally[0].status, RowStatus::Waiting);
    assert_eq!(tally[0].documents, 3);
    assert_eq!(
        begin(store.as_ref(), "k-1", "fp", at(1)).await,
        Begin::Replay(b"{\"id\":\"job-1\"}".to_vec()),
        "the key was completed with the job"
    );
    assert!(store.job("job-2").await.expect("read").is_none());
}

/// Two writers that finish a job's last documents at once may each see the other's rows still
/// pending and leave the job running; here the rows are made final behind the job's back.
pub async fn a_job_whose_rows_all_ended_without_ending_it_is_ended_by_the_sweep(h: &Harness) {
    let store = &h.store;
    store
        .create_job(&job("job-1", 2, true), &rows("job-1", 2), None)
        .await
        .expect("create");
    store
        .create_job(&job("job-2", 2, false), &rows("job-2", 2), None)
        .await
        .expect("create");
    assert_eq!(
        store.complete_finished_jobs(at(5)).await.expect("sweep"),
        0,
        "waiting documents keep a job active"
    );
    h.execute_raw(
        "UPDATE audit_events SET status = 'cancelled', finished_at = 7 WHERE attempt_id = 'job-1'",
    )
    .await
    .expect("rows ended behind the job's back");

    let ended = store.complete_finished_jobs(at(9)).await.expect("sweep");
    let first = store.job("job-1").await.expect("read").expect("exists");
    let second = store.job("job-2").await.expect("read").expect("exists");
    let again = store.complete_finished_jobs(at(11)).await.expect("sweep");

    assert_eq!(ended, 1);
    assert_eq!(first.state, JobState::Done);
    assert_eq!(first.finished_at, Some(at(9)));
    assert_eq!(first.callback_state, Some(CallbackState::Pending));
    assert_eq!(second.state, JobState::Queued, "its documents still wait");
    assert_eq!(again, 0);
}

pub async fn slices_are_claimed_once_and_the_job_ends_when_every_row_is_final(h: &Harness) {
    let store = &h.store;
    store
        .create_job(&job("job-1", 5, true), &rows("job-1", 5), None)
        .await
        .expect("create");

    let first = store
        .claim_slice(&claim("r1", at(10), 3))
        .await
        .expect("claim");
    let second = store
        .claim_slice(&claim("r2", at(10), 3))
        .await
        .expect("claim");
    assert_eq!(first.len(), 3);
    assert_eq!(second.len(), 2, "the rest, nothing twice");
    assert!(first.iter().all(|d| d.row.status == RowStatus::Pending));
    assert!(first
        .iter()
        .all(|d| !d.row.outcome_unknown && d.attempts == 0));
    let other_lane = SliceClaim {
        lane: "auco",
        ..claim("r3", at(10), 10)
    };
    assert!(store
        .claim_slice(&other_lane)
        .await
        .expect("claim")
        .is_empty());
    let record = store.job("job-1").await.expect("read").expect("exists");
    assert_eq!(record.state, JobState::Running);
    assert_eq!(record.started_at, Some(at(10)));

    // A runner that no longer holds the rows writes nothing.
    let foreign: Vec<SliceOutcome> = second
        .iter()
        .map(|d| cancelled(d.row.clone(), 1, at(20)))
        .collect();
    assert_eq!(
        store
            .finish_slice("r1", &foreign, at(20))
            .await
            .expect("finish"),
        0
    );

    let done: Vec<SliceOutcome> = first
        .into_iter()
        .map(|d| cancelled(d.row, 1, at(20)))
        .collect();
    assert_eq!(
        store
            .finish_slice("r1", &done, at(20))
            .await
            .expect("finish"),
        3
    );
    assert_eq!(
        store
            .job("job-1")
            .await
            .expect("read")
            .expect("exists")
            .state,
        JobState::Running
    );
    let mut retry = second[0].row.clone();
    retry.status = RowStatus::Waiting;
    retry.error_code = Some(ErrorCode::VendorUnavailable);
    let outcomes = vec![
        SliceOutcome {
            row: retry,
            attempts: 1,
            next_at: Some(at(5_000)),
        },
        cancelled(second[1].row.clone(), 1, at(20)),
    ];
    assert_eq!(
        store
            .finish_slice("r2", &outcomes, at(20))
            .await
            .expect("finish"),
        2
    );
    assert!(
        store
            .claim_slice(&claim("r1", at(4_999), 10))
            .await
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    let again = store
        .claim_slice(&claim("r1", at(5_000), 10))
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].row.error_code, Some(ErrorCode::VendorUnavailable));
    let last = vec![cancelled(again[0].row.clone(), 2, at(6_000))];
    store
        .finish_slice("r1", &last, at(6_000))
        .await
        .expect("finish");

    let record = store.job("job-1").await.expect("read").expect("exists");
    assert_eq!(record.state, JobState::Done);
    assert_eq!(record.finished_at, Some(at(6_000)));
    assert_eq!(record.callback_state, Some(CallbackState::Pending));
    assert!(store
        .job_failures("job-1")
        .await
        .expect("failures")
        .is_empty());
    let page = store.job_rows("job-1", 2, 2).await.expect("rows");
    assert_eq!(page.iter().map(|r| r.position).collect::<Vec<_>>(), [2, 3]);
}

pub async fn a_slice_whose_lease_passed_is_claimed_again_as_unknown(h: &Harness) {
    let store = &h.store;
    store
        .create_job(&job("job-1", 2, false), &rows("job-1", 2), None)
        .await
        .expect("create");
    let died = store
        .claim_slice(&claim("r1", at(10), 10))
        .await
        .expect("claim");
    assert_eq!(died.len(), 2);
    assert!(
        store
            .claim_slice(&claim("r2", at(40_000), 10))
            .await
            .expect("claim")
            .is_empty(),
        "the lease holds until it passes"
    );
    let resumed = store
        .claim_slice(&claim("r2", at(40_011), 10))
        .await
        .expect("claim");
    assert_eq!(resumed.len(), 2);
    assert!(
        resumed.iter().all(|d| d.row.outcome_unknown),
        "a row claimed while pending may have been sent"
    );
    let stale: Vec<SliceOutcome> = died
        .into_iter()
        .map(|d| cancelled(d.row, 1, at(40_012)))
        .collect();
    assert_eq!(
        store
            .finish_slice("r1", &stale, at(40_012))
            .await
            .expect("finish"),
        0,
        "the dead runner's late write is refused"
    );
}

pub async fn a_row_claimed_twice_without_an_outcome_is_quarantined_and_its_job_ends(h: &Harness) {
    let store = &h.store;
    store
        .create_job(&job("job-1", 2, false), &rows("job-1", 2), None)
        .await
        .expect("create");
    // Two handlings die (nothing written); the second claim says it is a suspect.
    let first = store
        .claim_slice(&claim("r1", at(10), 10))
        .await
        .expect("claim");
    assert!(first.iter().all(|d| d.claims == 1), "{first:?}");
    let second = store
        .claim_slice(&claim("r2", at(40_011), 10))
        .await
        .expect("claim");
    assert!(second.iter().all(|d| d.claims == 2), "{second:?}");
    // Row 1's handling writes its outcome (its claims go back to 0); row 0's dies again.
    let done: Vec<SliceOutcome> = second
        .into_iter()
        .filter(|d| d.row.position == 1)
        .map(|d| cancelled(d.row, 1, at(40_012)))
        .collect();
    assert_eq!(
        store
            .finish_slice("r2", &done, at(40_012))
            .await
            .expect("finish"),
        1
    );
    assert_eq!(
        store.quarantine(at(40_013)).await.expect("quarantine"),
        0,
        "a leased row is not quarantined"
    );

    // Act
    let quarantined = store.quarantine(at(80_022)).await.expect("quarantine");
    let again = store.quarantine(at(80_023)).await.expect("quarantine");
    let claimed = store
        .claim_slice(&claim("r3", at(80_024), 10))
        .await
        .expect("claim");

    // Assert
    assert_eq!((quarantined, again), (1, 0));
    assert!(
        claimed.is_empty(),
        "never claimed a third time: {claimed:?}"
    );
    let rows = store.attempt_rows("job-1").await.expect("rows");
    assert_eq!(rows[0].status, RowStatus::Done(Status::Failed), "{rows:?}");
    assert_eq!(rows[0].error_code, Some(ErrorCode::NeedsAttention));
    assert_eq!(rows[0].finished_at, Some(at(80_022)));
    assert_eq!(rows[1].status, RowStatus::Done(Status::Cancelled));
    let ended = store.job("job-1").await.expect("read").expect("a job");
    assert_eq!(ended.state, JobState::Done, "{ended:?}");
}

pub async fn concurrent_claims_from_two_pools_never_share_a_document(h: &Harness) {
    let total = 400;
    h.store
        .create_job(&job("job-1", total, false), &rows("job-1", total), None)
        .await
        .expect("create");
    let pools = [h.store.clone(), h.another_pool().await];
    let claims = (0..8).map(|i| {
        let store = pools[i % 2].clone();
        tokio::spawn(async move {
            let owner = format!("r{i}");
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_slice(&claim(&owner, at(10), 7))
                    .await
                    .expect("claim");
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|d| d.row.position));
            }
        })
    });
    let mut all: Vec<u32> = join_all(claims)
        .await
        .into_iter()
        .flat_map(|r| r.expect("no panic"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..total).collect::<Vec<_>>(), "every document once");
}

pub async fn aborting_ends_waiting_documents_and_late_retries(h: &Harness) {
    let store = &h.store;
    store
        .create_job(&job("job-1", 3, true), &rows("job-1", 3), None)
        .await
        .expect("create");
    let in_flight = store
        .claim_slice(&claim("r1", at(10), 1))
        .await
        .expect("claim");

    let record = store
        .abort_job("job-1", at(20))
        .await
        .expect("abort")
        .expect("exists");
    assert_eq!(record.state, JobState::Cancelled);
    assert_eq!(record.finished_at, Some(at(20)));
    let rows = store.job_rows("job-1", 0, 10).await.expect("rows");
    assert_eq!(rows[0].status, RowStatus::Pending, "in flight: it finishes");
    for row in &rows[1..] {
        assert_eq!(row.status, RowStatus::Done(Status::Failed));
        assert_eq!(row.error_code, Some(ErrorCode::Aborted));
    }
    assert!(
        store
            .claim_callbacks("cb", at(30), at(60_000), 10)
            .await
            .expect("claim")
            .is_empty(),
        "the callback waits for the document in flight"
    );
    // The document in flight comes back retryable: it is not retried, it is aborted.
    let mut retry = in_flight[0].row.clone();
    retry.status = RowStatus::Waiting;
    let outcome = SliceOutcome {
        row: retry,
        attempts: 1,
        next_at: Some(at(40)),
    };
    store
        .finish_slice("r1", &[outcome], at(40))
        .await
        .expect("finish");
    let first = &store.job_rows("job-1", 0, 1).await.expect("rows")[0];
    assert_eq!(first.error_code, Some(ErrorCode::Aborted));
    assert_eq!(
        store.job_failures("job-1").await.expect("failures").len(),
        3
    );
    let again = store
        .abort_job("job-1", at(50))
        .await
        .expect("abort")
        .expect("exists");
    assert_eq!(
        again.finished_at,
        Some(at(20)),
        "an ended job is left as it was"
    );
    assert!(store
        .abort_job("nope", at(50))
        .await
        .expect("abort")
        .is_none());
}

pub async fn a_callback_is_claimed_once_retried_and_its_attempts_recorded(h: &Harness) {
    let store = &h.store;
    let mut settled = rows("job-1", 1);
    settled[0].status = RowStatus::Done(Status::Failed);
    settled[0].error_code = Some(ErrorCode::Unroutable);
    store
        .create_job(&job("job-1", 1, true), &settled, None)
        .await
        .expect("create");
    let record = store.job("job-1").await.expect("read").expect("exists");
    assert_eq!(
        record.state,
        JobState::Done,
        "nothing to send: done at once"
    );

    let claimed = store
        .claim_callbacks("cb1", at(1), at(10_000), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(store
        .claim_callbacks("cb2", at(2), at(10_000), 10)
        .await
        .expect("claim")
        .is_empty());
    let refused = CallbackAttempt {
        at: at(3),
        status: Some(500),
        error: None,
    };
    assert!(store
        .record_callback("job-1", "cb1", &refused, CallbackNext::RetryAt(at(20_000)))
        .await
        .expect("record"));
    assert!(
        !store
            .record_callback("job-1", "cb1", &refused, CallbackNext::Delivered)
            .await
            .expect("record"),
        "the lease was released"
    );
    assert!(store
        .claim_callbacks("cb2", at(19_999), at(90_000), 10)
        .await
        .expect("claim")
        .is_empty());
    assert_eq!(
        store
            .claim_callbacks("cb2", at(20_000), at(90_000), 10)
            .await
            .expect("claim")
            .len(),
        1
    );
    let delivered = CallbackAttempt {
        at: at(20_001),
        status: Some(204),
        error: None,
    };
    store
        .record_callback("job-1", "cb2", &delivered, CallbackNext::Delivered)
        .await
        .expect("record");
    let record = store.job("job-1").await.expect("read").expect("exists");
    assert_eq!(record.callback_state, Some(CallbackState::Delivered));
    assert_eq!(record.callback_attempts, 2);
    assert_eq!(
        store.callback_attempts("job-1").await.expect("attempts"),
        vec![refused, delivered]
    );
    let gauges = store.job_gauges().await.expect("gauges");
    assert_eq!(gauges.jobs, vec![(JobState::Done, 1)]);
    assert!(gauges.waiting.is_empty());
}

pub async fn job_rows_are_left_to_the_runner_by_recovery_and_kept_by_the_purge(h: &Harness) {
    let store = &h.store;
    store
        .create_job(&job("job-1", 2, false), &rows("job-1", 2), None)
        .await
        .expect("create");
    store
        .claim_slice(&claim("r1", at(10), 1))
        .await
        .expect("claim");
    let late = at(10_000_000);
    let unsettled = signgate::store::UnsettledClaim {
        owner: "recovery:x",
        now: late,
        stale_before: late,
        unknown_since: T0,
        lease_until: late.saturating_add(std::time::Duration::from_secs(40)),
        max_attempts: 16,
    };
    assert!(
        store
            .claim_unsettled(&unsettled)
            .await
            .expect("claim")
            .is_empty(),
        "pending and waiting job documents are the runner's"
    );
    assert_eq!(store.purge_audit(late, late, 100).await.expect("purge"), 0);
    let gauges = store.job_gauges().await.expect("gauges");
    assert_eq!(gauges.waiting, vec![("zapsign".to_owned(), 1)]);
}

pub async fn ended_jobs_go_after_their_documents_and_others_stay(h: &Harness) {
    let store = &h.store;
    let settled = |id: &str| {
        let mut rows = rows(id, 1);
        rows[0].status = RowStatus::Done(Status::Failed);
        rows[0].error_code = Some(ErrorCode::Unroutable);
        rows[0].finished_at = Some(T0);
        rows
    };
    for (id, callback) in [("ended", false), ("undelivered", true), ("delivered", true)] {
        store
            .create_job(&job(id, 1, callback), &settled(id), None)
            .await
            .expect("create");
    }
    store
        .create_job(&job("active", 2, false), &rows("active", 2), None)
        .await
        .expect("create");
    let claimed = store
        .claim_callbacks("cb", at(1), at(10_000), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let delivered = CallbackAttempt {
        at: at(2),
        status: Some(200),
        error: None,
    };
    assert!(store
        .record_callback("delivered", "cb", &delivered, CallbackNext::Delivered)
        .await
        .expect("record"));
    let retry = CallbackNext::RetryAt(at(1_000_000_000_000));
    assert!(store
        .record_callback("undelivered", "cb", &delivered, retry)
        .await
        .expect("record"));

    let day = std::time::Duration::from_secs(86_400);
    let pace = signgate::retention::Pace {
        batch: 1,
        pause: std::time::Duration::ZERO,
    };
    let purged = signgate::retention::purge(store.as_ref(), Some(day), at(2_000_000_000), pace)
        .await
        .expect("purge");

    assert_eq!(
        purged.audit_rows, 3,
        "the settled documents, not the waiting ones"
    );
    assert_eq!(purged.jobs, 2);
    for (id, stays) in [
        ("ended", false),
        ("delivered", false),
        ("undelivered", true),
        ("active", true),
    ] {
        let found = store.job(id).await.expect("read").is_some();
        assert_eq!(found, stays, "{id}");
    }
    assert!(
        store
            .callback_attempts("delivered")
            .await
            .expect("read")
            .is_empty(),
        "attempts go with their job"
    );
    assert_eq!(
        store.job_rows("active", 0, 10).await.expect("rows").len(),
        2
    );
}
