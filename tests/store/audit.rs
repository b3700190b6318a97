//! Audit trail scenarios (docs/operations.md): pending rows, outcomes, history, all-or-nothing batches.

use signgate::model::{ErrorCode, Status};
use signgate::store::{AuditRow, RowStatus, StoreError};

use crate::helpers::{at, pending, Harness};

/// `row` as `finish` would record it: cancelled after one vendor call.
fn cancelled(row: &AuditRow, finished_ms: u64) -> AuditRow {
    AuditRow {
        status: RowStatus::Done(Status::Cancelled),
        finished_at: Some(at(finished_ms)),
        vendor_status: Some(200),
        vendor_calls: 1,
        ..row.clone()
    }
}

pub(crate) async fn finished_rows_read_back_whole_newest_first(h: &Harness) {
    let store = h.store.as_ref();
    let first = vec![
        pending("req-1", 0, "zapsign:doc-1", at(0)),
        pending("req-1", 1, "AUCO-1", at(0)),
    ];
    let mut later = pending("req-2", 0, "zapsign:doc-1", at(1_000));
    later.idempotency_key = Some("key-2".to_owned());
    let mut failed = pending("req-1", 1, "AUCO-1", at(0));
    (failed.vendor, failed.vendor_code) = (Some("auco".to_owned()), Some("AUCO-1".to_owned()));
    store.insert_pending(&first).await.expect("insert_pending");
    store
        .insert_pending(std::slice::from_ref(&later))
        .await
        .expect("insert_pending");
    let done = cancelled(&first[0], 500);
    failed.status = RowStatus::Done(Status::Failed);
    failed.error_code = Some(ErrorCode::VendorTimeout);
    failed.finished_at = Some(at(600));
    failed.vendor_calls = 3;

    store
        .finish(&[done.clone(), failed.clone()])
        .await
        .expect("finish");
    let history = store.history("zapsign:doc-1", 50).await.expect("history");

    assert_eq!(history, vec![later, done]);
    let auco = store.history("AUCO-1", 50).await.expect("history");
    assert_eq!(auco.len(), 1);
    assert_eq!(auco[0].status, RowStatus::Done(Status::Failed));
    assert_eq!(auco[0].error_code, Some(ErrorCode::VendorTimeout));
    assert_eq!((auco[0].vendor_status, auco[0].vendor_calls), (None, 3));
}

pub(crate) async fn history_breaks_ties_by_request_id(h: &Harness) {
    let store = h.store.as_ref();
    let b = pending("req-b", 0, "DOC", at(0));
    let a = pending("req-a", 3, "DOC", at(0));
    store
        .insert_pending(std::slice::from_ref(&b))
        .await
        .expect("insert_pending");
    store
        .insert_pending(std::slice::from_ref(&a))
        .await
        .expect("insert_pending");

    let history = store.history("DOC", 50).await.expect("history");

    assert_eq!(history, vec![a, b]);
}

pub(crate) async fn history_honours_the_limit(h: &Harness) {
    let store = h.store.as_ref();
    for i in 0..5 {
        let row = pending(&format!("req-{i}"), 0, "DOC", at(i * 1_000));
        store.insert_pending(&[row]).await.expect("insert_pending");
    }

    let two = store.history("DOC", 2).await.expect("history");
    let none = store.history("DOC", 0).await.expect("history");

    let ids: Vec<&str> = two.iter().map(|row| row.request_id.as_str()).collect();
    assert_eq!(ids, ["req-4", "req-3"]);
    assert!(none.is_empty());
}

pub(crate) async fn history_of_an_unknown_code_is_empty(h: &Harness) {
    let store = h.store.as_ref();
    store
        .insert_pending(&[pending("req-1", 0, "DOC", at(0))])
        .await
        .expect("insert_pending");

    let history = store.history("NEVER-SEEN", 50).await.expect("history");

    assert!(history.is_empty());
}

pub(crate) async fn insert_pending_is_all_or_nothing(h: &Harness) {
    let store = h.store.as_ref();
    let duplicate = vec![
        pending("req-1", 0, "DOC-A", at(0)),
        pending("req-1", 1, "DOC-B", at(0)),
        pending("req-1", 0, "DOC-C", at(0)),
    ];
    store
        .insert_pending(&[pending("req-0", 0, "DOC-X", at(0))])
        .await
        .expect("insert_pending");
    let clashing = vec![
        pending("req-9", 0, "DOC-Y", at(0)),
        pending("req-0", 0, "DOC-Z", at(0)),
    ];

    let with_duplicate = store.insert_pending(&duplicate).await;
    let with_existing = store.insert_pending(&clashing).await;

    assert!(
        matches!(with_duplicate, Err(StoreError::Database { .. })),
        "{with_duplicate:?}"
    );
    assert!(
        matches!(with_existing, Err(StoreError::Database { .. })),
        "{with_existing:?}"
    );
    for code in ["DOC-A", "DOC-B", "DOC-C", "DOC-Y", "DOC-Z"] {
        assert!(
            store.history(code, 50).await.expect("history").is_empty(),
            "{code} was kept"
        );
    }
    store
        .insert_pending(&duplicate[..2])
        .await
        .expect("the same rows without the duplicate");
}

pub(crate) async fn finish_with_an_unknown_row_updates_nothing(h: &Harness) {
    let store = h.store.as_ref();
    let row = pending("req-1", 0, "DOC", at(0));
    store
        .insert_pending(std::slice::from_ref(&row))
        .await
        .expect("insert_pending");
    let missing = pending("req-1", 7, "DOC-MISSING", at(0));

    let finished = store
        .finish(&[cancelled(&row, 10), cancelled(&missing, 10)])
        .await;

    assert!(
        matches!(&finished, Err(StoreError::UnknownAuditRow { attempt_id, position: 7 }) if attempt_id == "attempt-req-1"),
        "{finished:?}"
    );
    assert_eq!(store.history("DOC", 50).await.expect("history"), vec![row]);
}

pub(crate) async fn an_unknown_status_is_refused_and_an_unknown_code_reads_as_corrupt(h: &Harness) {
    const INSERT: &str = "INSERT INTO audit_events (attempt_id, request_id, position, \
        received_at, email, message, code, status, error_code) VALUES";

    let odd_status = h
        .execute_raw(&format!(
            "{INSERT} ('a-1', 'r-1', 0, 0, 'e', 'm', 'DOC', 'done', NULL)"
        ))
        .await;
    h.execute_raw(&format!(
        "{INSERT} ('a-2', 'r-2', 0, 0, 'e', 'm', 'DOC', 'failed', 'made_up')"
    ))
    .await
    .expect("a known status with any code is accepted by the schema");
    let history = h.store.history("DOC", 50).await;

    assert!(odd_status.is_err(), "the schema refuses an unknown status");
    assert!(
        matches!(history, Err(StoreError::Corrupt(_))),
        "{history:?}"
    );
}

pub(crate) async fn a_request_of_many_documents_is_recorded_whole(h: &Harness) {
    let store = h.store.as_ref();
    let rows: Vec<AuditRow> = (0..1_100)
        .map(|i| pending("req-big", i, "DOC", at(0)))
        .collect();
    let outcomes: Vec<AuditRow> = rows.iter().map(|row| cancelled(row, 10)).collect();

    store.insert_pending(&rows).await.expect("insert_pending");
    store.finish(&outcomes).await.expect("finish");
    let history = store.history("DOC", 5_000).await.expect("history");

    assert_eq!(history, outcomes);
}
