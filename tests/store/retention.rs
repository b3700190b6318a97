//! Retention scenarios: old finished rows and code owners are purged in batches, recent rows
//! and rows recovery still needs are kept, 0 days keeps everything, concurrent purges are
//! harmless, and idempotency keys keep their own TTL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use signgate::model::{ErrorCode, Status};
use signgate::retention::{purge, Pace, Purged};
use signgate::settings::Settings;
use signgate::store::{AuditRow, Begin, RowStatus, Store, Timestamp, UnsettledClaim};

use crate::helpers::{begin, pending, Harness, T0, TTL};

const DAY: Duration = Duration::from_secs(86_400);

/// The retention every scenario purges with.
const RETENTION: Duration = Duration::from_secs(400 * 86_400);

/// The purge's "now": 500 days after `T0`, so rows received at `T0` are past the retention.
fn now() -> Timestamp {
    T0.saturating_add(DAY * 500)
}

/// Small batches without a pause, so that scenarios go through several statements quickly.
const PACE: Pace = Pace {
    batch: 100,
    pause: Duration::ZERO,
};

/// A row of request `request_id` whose cancel succeeded, received at `received_at`.
fn finished(request_id: &str, position: u32, code: &str, received_at: Timestamp) -> AuditRow {
    let mut row = pending(request_id, position, code, received_at);
    row.status = RowStatus::Done(Status::Cancelled);
    row.finished_at = Some(received_at.saturating_add(Duration::from_millis(300)));
    row.vendor_status = Some(200);
    row.vendor_calls = 1;
    row
}

/// `count` finished rows of one request, codes `PREFIX-0`.., received at `received_at`.
fn many(prefix: &str, count: u32, received_at: Timestamp) -> Vec<AuditRow> {
    (0..count)
        .map(|i| finished(prefix, i, &format!("{prefix}-{i}"), received_at))
        .collect()
}

async fn insert(store: &dyn Store, rows: &[AuditRow]) {
    store.insert_pending(rows).await.expect("insert_pending");
}

/// Whether the audit trail still holds a row for `code`.
async fn kept(store: &dyn Store, code: &str) -> bool {
    !store.history(code, 10).await.expect("history").is_empty()
}

async fn purged(store: &dyn Store, now: Timestamp, pace: Pace) -> Purged {
    purge(store, Some(RETENTION), now, pace)
        .await
        .expect("the purge should reach the store")
}

pub(crate) async fn old_finished_rows_go_and_recent_rows_stay(h: &Harness) {
    let store = h.store.as_ref();
    insert(store, &many("old", 3, T0)).await;
    let just_inside = now()
        .saturating_sub(RETENTION)
        .saturating_add(Duration::from_millis(1));
    insert(store, &[finished("edge", 0, "edge-0", just_inside)]).await;
    insert(store, &many("recent", 2, now().saturating_sub(DAY * 10))).await;

    let first = purged(store, now(), PACE).await;
    let again = purged(store, now(), PACE).await;

    assert_eq!((first.audit_rows, again.audit_rows), (3, 0));
    for code in ["old-0", "old-1", "old-2"] {
        assert!(!kept(store, code).await, "{code} should be purged");
    }
    for code in ["edge-0", "recent-0", "recent-1"] {
        assert!(kept(store, code).await, "{code} should be kept");
    }
}

pub(crate) async fn rows_recovery_needs_stay_however_old(h: &Harness) {
    let store = h.store.as_ref();
    // A row a recovery leased (until an hour after the purge) and the request then finished.
    insert(store, &[pending("leased", 0, "leased-0", T0)]).await;
    let lease_until = now().saturating_add(Duration::from_secs(3600));
    let claim = UnsettledClaim {
        owner: "recovery:test",
        now: now(),
        stale_before: now(),
        unknown_since: now().saturating_sub(TTL),
        lease_until,
        max_attempts: 10,
    };
    let leased = store.claim_unsettled(&claim).await.expect("claim");
    assert_eq!(leased.len(), 1, "{leased:?}");
    store
        .finish(&[finished("leased", 0, "leased-0", T0)])
        .await
        .expect("finish");
    let mut unknown = finished("unknown", 0, "unknown-0", T0);
    unknown.status = RowStatus::Done(Status::Failed);
    unknown.error_code = Some(ErrorCode::VendorTimeout);
    unknown.outcome_unknown = true;
    let mut queued = finished("queued", 0, "queued-0", T0);
    queued.queued = true;
    insert(store, &[pending("pending", 0, "pending-0", T0)]).await;
    insert(store, &[unknown, queued]).await;
    insert(store, &many("done", 2, T0)).await;

    let while_leased = purged(store, now(), PACE).await;
    let lease_over = purged(store, lease_until.saturating_add(DAY), PACE).await;

    assert_eq!((while_leased.audit_rows, lease_over.audit_rows), (2, 1));
    for code in ["pending-0", "unknown-0", "queued-0"] {
        assert!(kept(store, code).await, "{code} should be kept");
    }
    assert!(!kept(store, "leased-0").await, "its lease is over");
    assert!(!kept(store, "done-0").await && !kept(store, "done-1").await);
}

pub(crate) async fn a_retention_of_zero_days_keeps_everything(h: &Harness) {
    let store = h.store.as_ref();
    let env: HashMap<String, String> = [
        ("SIGNGATE__AUTH__API_KEY", "test-api-key-0123456789"),
        ("SIGNGATE__STORE__AUDIT_RETENTION_DAYS", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::from_sources(None, None, env).expect("0 days is valid");
    insert(store, &many("old", 3, T0)).await;
    store
        .remember_owner("old-0", "zapsign", T0)
        .await
        .expect("remember_owner");
    let century_later = T0.saturating_add(DAY * 36_600);

    let result = purge(store, settings.store.audit_retention(), century_later, PACE)
        .await
        .expect("purge");

    assert_eq!(result, Purged::default());
    assert!(kept(store, "old-0").await && kept(store, "old-2").await);
    assert_eq!(
        store
            .code_owner("old-0")
            .await
            .expect("code_owner")
            .as_deref(),
        Some("zapsign")
    );
}

pub(crate) async fn more_rows_than_a_batch_all_go_in_several_statements(h: &Harness) {
    let store = h.store.as_ref();
    insert(store, &many("old", 250, T0)).await;
    insert(store, &many("recent", 5, now())).await;
    let before = now().saturating_sub(RETENTION);

    let one_statement = store.purge_audit(before, now(), 100).await.expect("purge");
    let rest = purged(store, now(), PACE).await;

    assert_eq!(one_statement, 100);
    // 100 and 50 audit rows, then one that finds none; one that finds no code owner, one
    // that finds no job.
    assert_eq!((rest.audit_rows, rest.statements), (150, 5));
    assert!(!kept(store, "old-0").await && !kept(store, "old-249").await);
    assert!(kept(store, "recent-4").await);
}

pub(crate) async fn concurrent_purges_delete_each_row_once(h: &Harness) {
    let pools = [Arc::clone(&h.store), h.another_pool().await];
    for request in 0..6 {
        insert(pools[0].as_ref(), &many(&format!("old{request}"), 200, T0)).await;
    }
    insert(pools[0].as_ref(), &[pending("pending", 0, "pending-0", T0)]).await;
    for i in 0..150 {
        let code = format!("owner-{i}");
        pools[0]
            .remember_owner(&code, "auco", T0)
            .await
            .expect("remember_owner");
    }

    let runs = pools.iter().map(|store| {
        let store = Arc::clone(store);
        tokio::spawn(async move { purge(store.as_ref(), Some(RETENTION), now(), PACE).await })
    });
    let results: Vec<Purged> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|joined| joined.expect("no panic").expect("both purges succeed"))
        .collect();

    let audit: u64 = results.iter().map(|r| r.audit_rows).sum();
    let owners: u64 = results.iter().map(|r| r.code_owners).sum();
    assert_eq!((audit, owners), (1200, 150), "{results:?}");
    assert!(kept(pools[0].as_ref(), "pending-0").await);
    assert!(!kept(pools[0].as_ref(), "old5-199").await);
    pools[1].close().await;
}

pub(crate) async fn old_code_owners_go_and_recent_ones_stay(h: &Harness) {
    let store = h.store.as_ref();
    let remember = |code: &'static str, found_at: Timestamp| async move {
        store
            .remember_owner(code, "zapsign", found_at)
            .await
            .expect("remember_owner");
    };
    remember("found-long-ago", T0).await;
    remember("found-lately", now().saturating_sub(DAY)).await;

    let result = purged(store, now(), PACE).await;

    assert_eq!((result.audit_rows, result.code_owners), (0, 1));
    assert_eq!(
        store.code_owner("found-long-ago").await.expect("read"),
        None
    );
    assert!(store
        .code_owner("found-lately")
        .await
        .expect("read")
        .is_some());
}

pub(crate) async fn idempotency_keys_keep_their_own_ttl(h: &Harness) {
    let store = h.store.as_ref();
    let key_at = now().saturating_sub(Duration::from_secs(3600));
    assert_eq!(begin(store, "k-live", "fp-a", key_at).await, Begin::Started);
    let mut row = finished("keyed", 0, "keyed-0", T0);
    row.idempotency_key = Some("k-live".to_owned());
    insert(store, &[row]).await;

    let result = purged(store, now(), PACE).await;

    assert_eq!(result.audit_rows, 1);
    assert_eq!(
        begin(store, "k-live", "fp-b", now()).await,
        Begin::Mismatch,
        "the audit purge leaves keys alone"
    );
    let expired = key_at.saturating_add(TTL);
    assert_eq!(
        store
            .purge_expired(expired, 10)
            .await
            .expect("purge_expired"),
        1
    );
    assert_eq!(
        begin(store, "k-live", "fp-b", expired).await,
        Begin::Started
    );
}
