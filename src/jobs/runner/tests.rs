use super::*;
use crate::model::{Outcome, Status, VendorName};
use crate::store::AuditRow;

fn settings() -> JobSettings {
    crate::settings::Settings::from_sources(
        None,
        None,
        [(
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        )]
        .into(),
    )
    .expect("defaults")
    .jobs
}

fn doc(attempts: u32) -> JobDocument {
    JobDocument {
        row: AuditRow {
            attempt_id: "job".into(),
            request_id: "req".into(),
            position: 0,
            idempotency_key: None,
            received_at: Timestamp::from_millis(0),
            finished_at: None,
            email: "a@b.co".into(),
            message: "m".into(),
            code: "D1".into(),
            vendor: Some("zapsign".into()),
            vendor_code: Some("D1".into()),
            status: RowStatus::Pending,
            error_code: None,
            vendor_status: None,
            vendor_calls: 2,
            notify_signers: true,
            error_message: None,
            outcome_unknown: false,
            recovered_at: None,
            recovered_by: None,
            vendor_state: None,
            queued: false,
            confirm_at: None,
        },
        attempts,
        claims: 1,
    }
}

fn result(outcome: Outcome, status: Option<u16>, unknown: bool) -> DocumentResult {
    DocumentResult {
        code: DocumentCode::parse("D1").expect("code"),
        vendor: Some(VendorName::new("zapsign")),
        vendor_code: Some("D1".into()),
        outcome,
        vendor_status: status,
        vendor_calls: 1,
        outcome_unknown: unknown,
        vendor_state: None,
    }
}

const NOW: Timestamp = Timestamp::from_millis(60_000);

#[test]
fn a_cancel_is_final_and_its_calls_add_up() {
    let out = decide(
        doc(0),
        &result(Outcome::Cancelled, Some(200), false),
        true,
        NOW,
        &settings(),
    );
    assert_eq!(out.row.status, RowStatus::Done(Status::Cancelled));
    assert_eq!(out.row.vendor_calls, 3);
    assert_eq!((out.attempts, out.next_at), (1, None));
}

#[test]
fn no_room_at_the_vendor_waits_a_second_without_an_attempt() {
    let mut deferred = result(
        Outcome::failed(ErrorCode::DeadlineExceeded, "later"),
        None,
        false,
    );
    deferred.vendor_calls = 0;
    let out = decide(doc(3), &deferred, true, NOW, &settings());
    assert_eq!(out.row.status, RowStatus::Waiting);
    assert_eq!(out.row.vendor_calls, 2, "nothing was sent");
    assert_eq!(out.attempts, 3);
    assert_eq!(out.next_at, Some(NOW.saturating_add(DEFERRED)));
}

#[test]
fn a_retryable_failure_waits_with_backoff_until_the_attempts_run_out() {
    let failed = result(
        Outcome::failed(ErrorCode::VendorUnavailable, "503"),
        Some(503),
        false,
    );
    let out = decide(doc(0), &failed, true, NOW, &settings());
    assert_eq!(out.row.status, RowStatus::Waiting);
    assert_eq!(
        out.row.error_code,
        Some(ErrorCode::VendorUnavailable),
        "its last error is kept"
    );
    let wait = out.next_at.expect("a retry").as_millis() - NOW.as_millis();
    assert!((2_500..=5_000).contains(&wait), "{wait} ms");

    let last = settings().max_attempts_per_document - 1;
    let out = decide(doc(last), &failed, true, NOW, &settings());
    assert_eq!(out.row.status, RowStatus::Done(Status::Failed));
    assert_eq!(out.row.error_code, Some(ErrorCode::VendorUnavailable));
    assert_eq!(out.next_at, None);
}

#[test]
fn an_unknown_outcome_is_retried_as_unknown_and_never_blindly_without_a_status_read() {
    let timed_out = result(
        Outcome::failed(ErrorCode::VendorTimeout, "timeout"),
        None,
        true,
    );
    let out = decide(doc(0), &timed_out, true, NOW, &settings());
    assert_eq!(out.row.status, RowStatus::Waiting);
    assert!(
        out.row.outcome_unknown,
        "the next slice reads the status first"
    );

    let out = decide(doc(0), &timed_out, false, NOW, &settings());
    assert_eq!(
        out.row.status,
        RowStatus::Done(Status::Failed),
        "no status read: no re-send"
    );
    let limited = result(
        Outcome::failed(ErrorCode::VendorRateLimited, "429"),
        Some(429),
        false,
    );
    assert_eq!(
        decide(doc(0), &limited, false, NOW, &settings()).row.status,
        RowStatus::Waiting,
        "a 429 was refused, so it is safe to send again"
    );
}

#[test]
fn a_document_older_than_the_jobs_max_age_ends_with_its_last_error() {
    let failed = result(
        Outcome::failed(ErrorCode::VendorUnavailable, "503"),
        Some(503),
        false,
    );
    let old = Timestamp::from_millis(0).saturating_add(settings().max_age());
    let out = decide(doc(0), &failed, true, old, &settings());
    assert_eq!(out.row.status, RowStatus::Done(Status::Failed));
}

#[test]
fn backoff_doubles_and_is_capped() {
    assert!(backoff(1) <= BASE_BACKOFF && backoff(1) >= BASE_BACKOFF / 2);
    assert!(backoff(3) >= BASE_BACKOFF * 2);
    assert!(backoff(30) <= MAX_BACKOFF);
}
