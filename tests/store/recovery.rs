//! Recovery scenarios: claiming unsettled rows once, leases, adoption by a keyed retry,
//! settling only what the owner holds, and storing an interrupted request's answer.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use signgate::model::{DocState, ErrorCode, Status};
use signgate::store::{
    AuditRow, Begin, Completion, KeyHolder, RowStatus, Store, Timestamp, UnsettledClaim,
};

use crate::helpers::{at, attempt_at, begin, pending, Harness, STALE, T0, TTL};

const STALE_MS: u64 = STALE.as_millis() as u64;

/// A claim by `owner` at `now` with the scenario-wide staleness and a lease of `STALE`.
fn claim(owner: &str, now: Timestamp, max_attempts: u32) -> UnsettledClaim<'_> {
    UnsettledClaim {
        owner,
        now,
        stale_before: now.saturating_sub(STALE),
        unknown_since: now.saturating_sub(TTL),
        lease_until: now.saturating_add(STALE),
        max_attempts,
    }
}

async fn claimed(store: &dyn Store, owner: &str, now: Timestamp) -> Vec<AuditRow> {
    store
        .claim_unsettled(&claim(owner, now, 100))
        .await
        .expect("claim_unsettled")
}

fn positions(rows: &[AuditRow]) -> Vec<(String, u32)> {
    let mut keys: Vec<_> = rows
        .iter()
        .map(|r| (r.attempt_id.clone(), r.position))
        .collect();
    keys.sort();
    keys
}

pub(crate) async fn only_stale_unleased_rows_are_claimed_and_a_lease_lapses(h: &Harness) {
    let store = h.store.as_ref();
    let old = vec![pending("old", 0, "A", at(0)), pending("old", 1, "B", at(0))];
    let fresh = pending("fresh", 0, "C", at(STALE_MS * 3));
    let mut done = pending("done", 0, "D", at(0));
    done.status = RowStatus::Done(Status::Cancelled);
    done.finished_at = Some(at(10));
    for rows in [old.clone(), vec![fresh], vec![done]] {
        store.insert_pending(&rows).await.expect("insert_pending");
    }
    let now = at(STALE_MS + 1);

    let first = claimed(store, "r-1", now).await;
    let while_leased = claimed(store, "r-2", now).await;
    let after_lease = claimed(
        store,
        "r-2",
        now.saturating_add(STALE + Duration::from_millis(1)),
    )
    .await;

    assert_eq!(positions(&first), positions(&old));
    assert!(while_leased.is_empty(), "{while_leased:?}");
    assert_eq!(positions(&after_lease), positions(&old));
}

pub(crate) async fn concurrent_claims_from_two_pools_never_share_a_row(h: &Harness) {
    let pools = [Arc::clone(&h.store), h.another_pool().await];
    let mut all = Vec::new();
    for attempt in 0..12 {
        let rows: Vec<AuditRow> = (0..3)
            .map(|p| {
                pending(
                    &format!("req-{attempt}"),
                    p,
                    &format!("C{attempt}-{p}"),
                    at(0),
                )
            })
            .collect();
        h.store.insert_pending(&rows).await.expect("insert_pending");
        all.extend(rows);
    }
    let now = at(STALE_MS + 1);

    let claims = (0..8).map(|i| {
        let store = Arc::clone(&pools[i % 2]);
        tokio::spawn(async move {
            let owner = format!("r-{i}");
            let mut mine = Vec::new();
            loop {
                let rows = store
                    .claim_unsettled(&claim(&owner, now, 2))
                    .await
                    .expect("claim_unsettled");
                if rows.is_empty() {
                    return mine;
                }
                mine.extend(rows);
            }
        })
    });
    let results = futures::future::join_all(claims).await;

    let mut seen = HashSet::new();
    for rows in results {
        let rows = rows.expect("the claimer should not panic");
        let attempts: HashSet<_> = rows.iter().map(|r| r.attempt_id.clone()).collect();
        for row in &rows {
            assert!(
                seen.insert((row.attempt_id.clone(), row.position)),
                "claimed twice: {row:?}"
            );
        }
        for attempt in attempts {
            let whole = rows.iter().filter(|r| r.attempt_id == attempt).count();
            assert_eq!(whole, 3, "an attempt is claimed whole: {attempt}");
        }
    }
    assert_eq!(seen.len(), all.len());
}

pub(crate) async fn unknown_outcomes_are_claimed_until_their_state_is_known(h: &Harness) {
    let store = h.store.as_ref();
    let mut unknown = pending("slow", 0, "U", at(0));
    unknown.status = RowStatus::Done(Status::Failed);
    unknown.error_code = Some(ErrorCode::VendorTimeout);
    unknown.finished_at = Some(at(5));
    unknown.outcome_unknown = true;
    store
        .insert_pending(std::slice::from_ref(&unknown))
        .await
        .expect("insert_pending");
    let now = at(STALE_MS + 1);

    let rows = claimed(store, "r-1", now).await;
    let mut known = rows[0].clone();
    known.outcome_unknown = false;
    known.vendor_state = Some(DocState::Cancelled);
    known.recovered_at = Some(now);
    known.recovered_by = Some("r-1".to_owned());
    let written = store
        .settle("r-1", &[known.clone()], None)
        .await
        .expect("settle");
    let later = claimed(store, "r-2", now.saturating_add(STALE * 2)).await;
    let too_old = claimed(store, "r-3", at(0).saturating_add(TTL * 2)).await;

    assert_eq!(positions(&rows), positions(std::slice::from_ref(&unknown)));
    assert_eq!(written, 1);
    assert!(later.is_empty() && too_old.is_empty());
    assert_eq!(store.history("U", 5).await.expect("history"), vec![known]);
}

pub(crate) async fn settle_writes_only_held_rows_and_completes_the_attempts_key(h: &Harness) {
    let store = h.store.as_ref();
    let attempt = attempt_at(T0);
    assert_eq!(begin(store, "k-crash", "fp-a", T0).await, Begin::Started);
    let mut row = pending("crash", 0, "K", T0);
    row.attempt_id = attempt.clone();
    row.idempotency_key = Some("k-crash".to_owned());
    store
        .insert_pending(std::slice::from_ref(&row))
        .await
        .expect("insert_pending");
    let now = at(STALE_MS + 1);
    let mut resolved = claimed(store, "r-1", now).await.remove(0);
    resolved.status = RowStatus::Done(Status::Cancelled);
    resolved.finished_at = Some(now);
    resolved.recovered_at = Some(now);
    resolved.recovered_by = Some("r-1".to_owned());
    let completion = Completion {
        key: "k-crash",
        attempt_id: &attempt,
        body: b"answer",
        now,
    };

    let held = store
        .hold_key("k-crash", &attempt, now)
        .await
        .expect("hold_key");
    let by_stranger = store
        .settle("r-2", std::slice::from_ref(&resolved), None)
        .await
        .expect("settle");
    let by_owner = store
        .settle("r-1", std::slice::from_ref(&resolved), Some(completion))
        .await
        .expect("settle");

    assert_eq!(held, KeyHolder::Held);
    assert_eq!((by_stranger, by_owner), (0, 1));
    assert_eq!(
        store.history("K", 5).await.expect("history"),
        vec![resolved]
    );
    assert_eq!(
        begin(store, "k-crash", "fp-a", at(STALE_MS + 2)).await,
        Begin::Replay(b"answer".to_vec()),
        "the retry replays the recovered answer"
    );
}

pub(crate) async fn a_retry_that_takes_over_a_key_adopts_the_pending_rows_of_earlier_attempts(
    h: &Harness,
) {
    let store = h.store.as_ref();
    let first = attempt_at(T0);
    assert_eq!(begin(store, "k-adopt", "fp-a", T0).await, Begin::Started);
    let mut rows = vec![pending("one", 0, "X", T0), pending("one", 1, "Y", T0)];
    for row in &mut rows {
        row.attempt_id = first.clone();
        row.idempotency_key = Some("k-adopt".to_owned());
    }
    rows[1].status = RowStatus::Done(Status::Failed);
    rows[1].error_code = Some(ErrorCode::Unroutable);
    rows[1].finished_at = Some(T0);
    store.insert_pending(&rows).await.expect("insert_pending");
    let later = at(STALE_MS + 1);
    let second = attempt_at(later);
    let leased_by_recovery = claimed(store, "r-1", later).await;

    let taken = begin(store, "k-adopt", "fp-a", later).await;
    let adopted = store
        .adopt(
            "k-adopt",
            &second,
            "attempt:two",
            later.saturating_add(STALE),
        )
        .await
        .expect("adopt");
    let holder = store
        .hold_key("k-adopt", &first, later)
        .await
        .expect("hold_key");
    let recovery_settles = store
        .settle("r-1", &leased_by_recovery, None)
        .await
        .expect("settle");
    let reclaimed = claimed(store, "r-2", later).await;

    assert_eq!(positions(&leased_by_recovery), positions(&rows[..1]));
    assert_eq!(
        taken,
        Begin::TakenOver {
            previous_attempt: first.clone()
        }
    );
    assert_eq!(
        positions(&adopted),
        positions(&rows[..1]),
        "only pending rows"
    );
    assert_eq!(holder, KeyHolder::Elsewhere);
    assert_eq!(recovery_settles, 0, "the adopter took the row over");
    assert!(reclaimed.is_empty(), "{reclaimed:?}");
}

pub(crate) async fn a_released_key_is_gone_for_its_recovery(h: &Harness) {
    let store = h.store.as_ref();
    let attempt = attempt_at(T0);
    assert_eq!(begin(store, "k-gone", "fp-a", T0).await, Begin::Started);
    store.release("k-gone", "fp-a").await.expect("release");

    let holder = store
        .hold_key("k-gone", &attempt, at(1))
        .await
        .expect("hold_key");
    let never_held = store
        .hold_key("k-never", &attempt, at(1))
        .await
        .expect("hold_key");

    assert_eq!((holder, never_held), (KeyHolder::Gone, KeyHolder::Gone));
}

pub(crate) async fn queued_cancels_are_claimed_once_their_confirmation_is_due(h: &Harness) {
    let store = h.store.as_ref();
    let queued = |request: &str, code: &str, confirm_at: Timestamp| {
        let mut row = pending(request, 0, code, at(0));
        row.status = RowStatus::Done(Status::Cancelled);
        row.finished_at = Some(at(10));
        row.queued = true;
        row.confirm_at = Some(confirm_at);
        row
    };
    let due = queued("due", "A", at(500));
    let later = queued("later", "B", at(5_000));
    let mut confirmed = queued("confirmed", "C", at(500));
    confirmed.queued = false;
    for row in [&due, &later, &confirmed] {
        store
            .insert_pending(std::slice::from_ref(row))
            .await
            .expect("insert_pending");
    }

    // Queued rows wait for `confirm_at`, not for their request to be presumed dead.
    let first = claimed(store, "r-1", at(1_000)).await;
    let mut resettled = first.clone();
    resettled[0].confirm_at = Some(at(9_000));
    let written = store.settle("r-1", &resettled, None).await.expect("settle");
    let after = claimed(store, "r-2", at(6_000)).await;

    assert_eq!(positions(&first), positions(std::slice::from_ref(&due)));
    assert!(first[0].queued);
    assert_eq!(first[0].confirm_at, Some(at(500)));
    assert_eq!(written, 1);
    assert_eq!(positions(&after), positions(std::slice::from_ref(&later)));
}

pub(crate) async fn a_code_owner_is_remembered_and_the_last_finding_wins(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(store.code_owner("X-1").await.expect("read"), None);

    store
        .remember_owner("X-1", "zapsign", at(1))
        .await
        .expect("remember");
    let first = store.code_owner("X-1").await.expect("read");
    store
        .remember_owner("X-1", "docusign", at(2))
        .await
        .expect("remember again");
    let second = store.code_owner("X-1").await.expect("read");

    assert_eq!(first.as_deref(), Some("zapsign"));
    assert_eq!(second.as_deref(), Some("docusign"));
    assert_eq!(store.code_owner("X-2").await.expect("read"), None);
}
