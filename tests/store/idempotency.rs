//! Idempotency-Key scenarios (docs/api.md): claim, replay, mismatch, stale locks, expiry, release.

use std::sync::Arc;

use signgate::store::{Begin, StoreError};

use crate::helpers::{at, attempt_at, begin, count, race, Harness, STALE, T0, TTL};

const STALE_MS: u64 = STALE.as_millis() as u64;
const TTL_MS: u64 = TTL.as_millis() as u64;

pub(crate) async fn a_completed_answer_is_replayed_byte_for_byte(h: &Harness) {
    let store = h.store.as_ref();
    let body = b"{\"success\":1,\"errors\":0}\n\x00\xff\xfe not UTF-8".to_vec();
    assert_eq!(begin(store, "k-replay", "fp-a", T0).await, Begin::Started);
    store
        .complete("k-replay", "fp-a", &body, at(5))
        .await
        .expect("complete");

    let replayed = begin(store, "k-replay", "fp-a", at(10)).await;
    let from_another_pool =
        begin(h.another_pool().await.as_ref(), "k-replay", "fp-a", at(11)).await;

    assert_eq!(replayed, Begin::Replay(body.clone()));
    assert_eq!(from_another_pool, Begin::Replay(body));
}

pub(crate) async fn an_empty_answer_is_replayed_as_empty(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-empty", "fp-a", T0).await, Begin::Started);
    store
        .complete("k-empty", "fp-a", b"", at(1))
        .await
        .expect("complete");

    assert_eq!(
        begin(store, "k-empty", "fp-a", at(2)).await,
        Begin::Replay(Vec::new())
    );
}

pub(crate) async fn another_body_is_a_mismatch_while_running_and_after_completion(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-mismatch", "fp-a", T0).await, Begin::Started);

    let while_running = begin(store, "k-mismatch", "fp-b", at(1)).await;
    let stale_but_other_body = begin(store, "k-mismatch", "fp-b", at(STALE_MS + 1)).await;
    store
        .complete("k-mismatch", "fp-a", b"{}", at(2))
        .await
        .expect("complete");
    let after_completion = begin(store, "k-mismatch", "fp-b", at(3)).await;

    assert_eq!(while_running, Begin::Mismatch);
    assert_eq!(stale_but_other_body, Begin::Mismatch);
    assert_eq!(after_completion, Begin::Mismatch);
}

pub(crate) async fn the_same_body_while_running_is_in_progress(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-running", "fp-a", T0).await, Begin::Started);

    let at_once = begin(store, "k-running", "fp-a", T0).await;
    let exactly_stale_after = begin(store, "k-running", "fp-a", at(STALE_MS)).await;

    assert_eq!(at_once, Begin::InProgress);
    assert_eq!(exactly_stale_after, Begin::InProgress);
}

pub(crate) async fn a_lock_older_than_stale_after_is_taken_over_once(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-stale", "fp-a", T0).await, Begin::Started);
    let taken_at = at(STALE_MS + 1);

    let takeover = begin(store, "k-stale", "fp-a", taken_at).await;
    let right_after = begin(store, "k-stale", "fp-a", taken_at).await;
    store
        .complete("k-stale", "fp-a", b"second", at(STALE_MS + 2))
        .await
        .expect("complete");

    assert_eq!(
        takeover,
        Begin::TakenOver {
            previous_attempt: attempt_at(T0)
        },
        "the takeover names the attempt it replaces"
    );
    assert_eq!(
        right_after,
        Begin::InProgress,
        "the takeover renews the lock"
    );
    assert_eq!(
        begin(store, "k-stale", "fp-a", at(STALE_MS + 3)).await,
        Begin::Replay(b"second".to_vec())
    );
}

pub(crate) async fn an_expired_key_counts_as_new(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-expiry", "fp-a", T0).await, Begin::Started);
    store
        .complete("k-expiry", "fp-a", b"old", at(1))
        .await
        .expect("complete");
    assert_eq!(
        begin(store, "k-abandoned", "fp-a", T0).await,
        Begin::Started
    );

    let just_before = begin(store, "k-expiry", "fp-a", at(TTL_MS - 1)).await;
    let at_expiry_with_another_body = begin(store, "k-expiry", "fp-b", at(TTL_MS)).await;
    let abandoned_after_expiry = begin(store, "k-abandoned", "fp-b", at(TTL_MS)).await;
    store
        .complete("k-expiry", "fp-b", b"new", at(TTL_MS + 1))
        .await
        .expect("complete");

    assert_eq!(just_before, Begin::Replay(b"old".to_vec()));
    assert_eq!(at_expiry_with_another_body, Begin::Started);
    assert_eq!(abandoned_after_expiry, Begin::Started);
    assert_eq!(
        begin(store, "k-expiry", "fp-b", at(TTL_MS + 2)).await,
        Begin::Replay(b"new".to_vec())
    );
}

pub(crate) async fn release_lets_the_key_be_used_again(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-release", "fp-a", T0).await, Begin::Started);

    store
        .release("k-release", "fp-other")
        .await
        .expect("release with another body");
    let after_foreign_release = begin(store, "k-release", "fp-a", at(1)).await;
    store.release("k-release", "fp-a").await.expect("release");
    let after_release = begin(store, "k-release", "fp-b", at(2)).await;

    assert_eq!(after_foreign_release, Begin::InProgress);
    assert_eq!(after_release, Begin::Started);
    store
        .release("k-never-used", "fp-a")
        .await
        .expect("releasing an unknown key is a no-op");
}

pub(crate) async fn release_leaves_a_completed_key_alone(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-kept", "fp-a", T0).await, Begin::Started);
    store
        .complete("k-kept", "fp-a", b"kept", at(1))
        .await
        .expect("complete");

    store.release("k-kept", "fp-a").await.expect("release");

    assert_eq!(
        begin(store, "k-kept", "fp-a", at(2)).await,
        Begin::Replay(b"kept".to_vec())
    );
}

pub(crate) async fn complete_fails_when_the_key_is_not_held(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-lost", "fp-a", T0).await, Begin::Started);
    store.release("k-lost", "fp-a").await.expect("release");

    let released = store.complete("k-lost", "fp-a", b"late", at(1)).await;
    let unknown = store.complete("k-unknown", "fp-a", b"late", at(1)).await;

    assert!(
        matches!(released, Err(StoreError::KeyNotHeld)),
        "{released:?}"
    );
    assert!(
        matches!(unknown, Err(StoreError::KeyNotHeld)),
        "{unknown:?}"
    );
}

pub(crate) async fn purge_expired_removes_only_expired_keys_a_batch_at_a_time(h: &Harness) {
    let store = h.store.as_ref();
    for (key, started) in [("k-p1", T0), ("k-p2", at(10)), ("k-p3", at(20))] {
        assert_eq!(begin(store, key, "fp-a", started).await, Begin::Started);
    }

    let mut batches = Vec::new();
    for _ in 0..3 {
        let purged = store.purge_expired(at(TTL_MS + 10), 1).await;
        batches.push(purged.expect("purge"));
    }

    assert_eq!(batches, [1, 1, 0], "one key per batch of 1, then none left");
    assert_eq!(
        begin(store, "k-p3", "fp-b", at(TTL_MS + 11)).await,
        Begin::Mismatch
    );
    assert_eq!(
        begin(store, "k-p1", "fp-b", at(TTL_MS + 11)).await,
        Begin::Started
    );
}

pub(crate) async fn twenty_concurrent_begins_on_a_new_key_start_exactly_once(h: &Harness) {
    let pools = [Arc::clone(&h.store), h.another_pool().await];
    for round in 0..3 {
        let key = format!("k-race-{round}");

        let answers = race(&pools, &key, T0).await;

        assert_eq!(
            count(&answers, &Begin::Started),
            1,
            "round {round}: {answers:?}"
        );
        assert_eq!(
            count(&answers, &Begin::InProgress),
            19,
            "round {round}: {answers:?}"
        );
    }
}

pub(crate) async fn twenty_concurrent_takeovers_of_a_stale_lock_start_exactly_once(h: &Harness) {
    let pools = [Arc::clone(&h.store), h.another_pool().await];
    assert_eq!(
        begin(h.store.as_ref(), "k-crashed", "fp-a", T0).await,
        Begin::Started
    );
    assert_eq!(
        begin(h.store.as_ref(), "k-expired", "fp-a", T0).await,
        Begin::Started
    );

    let stale = race(&pools, "k-crashed", at(STALE_MS + 1)).await;
    let expired = race(&pools, "k-expired", at(TTL_MS)).await;

    let took_over = |answers: &[Begin]| {
        answers
            .iter()
            .filter(|a| matches!(a, Begin::TakenOver { previous_attempt } if *previous_attempt == attempt_at(T0)))
            .count()
    };
    assert_eq!(took_over(&stale), 1, "{stale:?}");
    assert_eq!(
        took_over(&expired),
        1,
        "an unfinished attempt, even expired: {expired:?}"
    );
}
