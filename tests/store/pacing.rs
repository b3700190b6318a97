//! Shared pacing (`reserve_calls`): Postgres holds one rate limit for every pool and replica on
//! the database; SQLite shares none and refuses reservations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use signgate::store::{Reservation, Store};
use tokio::sync::Barrier;

use crate::helpers::Harness;

const WINDOW: Duration = Duration::from_secs(60);
const LONG: Duration = Duration::from_secs(600);

async fn reserve(
    store: &dyn Store,
    key: &str,
    calls: u32,
    waits: &[Duration],
) -> Vec<Option<Reservation>> {
    store
        .shared_limits()
        .expect("Postgres shares limits")
        .reserve_calls(key, calls, WINDOW, waits)
        .await
        .expect("reserve_calls should reach the store")
}

pub(crate) async fn concurrent_reservations_from_two_pools_keep_every_window_at_the_limit(
    h: &Harness,
) {
    let pools: [Arc<dyn Store>; 2] = [Arc::clone(&h.store), h.another_pool().await];
    let barrier = Arc::new(Barrier::new(24));

    let calls = (0..24).map(|i| {
        let (store, barrier) = (Arc::clone(&pools[i % 2]), Arc::clone(&barrier));
        tokio::spawn(async move {
            barrier.wait().await;
            let sent = Instant::now();
            let turn = reserve(store.as_ref(), "zapsign:shared", 4, &[LONG]).await[0];
            (
                sent,
                Instant::now(),
                turn.expect("a turn within ten minutes"),
            )
        })
    });
    let turns = join_all(calls).await;

    // Each call's turn on this process's clock: no earlier than the answer plus the wait.
    let mut at: Vec<Instant> = turns
        .into_iter()
        .map(|joined| {
            let (sent, answered, turn) = joined.expect("the task should not panic");
            assert!(turn.wait <= LONG && turn.valid_for > turn.wait, "{turn:?}");
            assert!(sent + turn.valid_for >= answered + turn.wait, "{turn:?}");
            answered + turn.wait
        })
        .collect();
    at.sort();
    for (i, start) in at.iter().enumerate() {
        let in_window = at[i..].iter().filter(|&&t| t < *start + WINDOW).count();
        assert!(in_window <= 4, "{in_window} turns within 60 s of turn {i}");
    }
    let now = at[0];
    assert_eq!(
        at.iter()
            .filter(|&&t| t < now + Duration::from_secs(1))
            .count(),
        4
    );
}

pub(crate) async fn no_turn_is_granted_past_its_deadline_and_a_refusal_takes_nothing(h: &Harness) {
    let store = h.store.as_ref();
    let first = reserve(store, "zapsign:deadline", 1, &[LONG]).await;

    let group = reserve(
        store,
        "zapsign:deadline",
        1,
        &[Duration::from_secs(5), LONG, Duration::from_secs(5)],
    )
    .await;
    let after = reserve(store, "zapsign:deadline", 1, &[LONG]).await;

    assert!(
        first[0].is_some_and(|turn| turn.wait < Duration::from_secs(1)),
        "{first:?}"
    );
    assert_eq!(group[0], None, "{group:?}");
    assert_eq!(group[2], None, "{group:?}");
    let next = group[1].expect("a turn in the next window");
    assert!(
        next.wait >= Duration::from_secs(60) && next.wait <= Duration::from_secs(63),
        "{next:?}"
    );
    let later = after[0].expect("the turn after");
    assert!(
        later.wait >= next.wait + Duration::from_secs(59),
        "{later:?} after {next:?}"
    );
    assert!(
        later.wait <= Duration::from_secs(126),
        "a refusal took a turn: {later:?}"
    );
}

pub(crate) async fn limits_with_other_keys_do_not_share_turns(h: &Harness) {
    let store = h.store.as_ref();

    let a = reserve(store, "zapsign:account-a", 1, &[LONG]).await;
    let b = reserve(store, "zapsign:account-b", 1, &[LONG]).await;

    for turn in [a[0], b[0]] {
        assert!(
            turn.is_some_and(|t| t.wait < Duration::from_secs(1)),
            "{turn:?}"
        );
    }
}

pub(crate) async fn sqlite_shares_no_limits(h: &Harness) {
    assert!(h.store.shared_limits().is_none());
}

pub(crate) fn postgres_shares_limits(h: &Harness) {
    assert!(h.store.shared_limits().is_some());
}
