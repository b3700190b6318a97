//! Shared pacing (`reserve_calls`): Postgres holds one rate limit for every pool and replica on
//! the database; SQLite shares none and refuses reservations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;
use signgate::model::Outcome;
use signgate::store::{Reservation, Store};
use signgate::vendors::settings::RateLimit;
use signgate::vendors::wrap::shared_pace::SharedPaced;
use signgate::vendors::{Answer, Batch, CallContext, Priority, Reply, Vendor};
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

/// A per-document vendor that answers at once, counting its calls.
#[derive(Debug, Default)]
struct Counting(std::sync::Mutex<usize>);

#[async_trait]
impl Vendor for Counting {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        *self.0.lock().expect("not poisoned") += 1;
        let answer = Answer {
            outcome: Outcome::Cancelled,
            http_status: 200,
        };
        vec![Ok(answer); batch.codes.len()]
    }
}

fn one_call(codes: &[String], priority: Priority) -> Batch<'_> {
    Batch {
        codes,
        message: "m",
        email: "a@b.co",
        notify_signers: true,
        ctx: CallContext {
            request_id: "t",
            deadline: tokio::time::Instant::now() + Duration::from_secs(30),
            priority,
        },
    }
}

pub(crate) async fn background_calls_take_only_turns_free_now_and_leave_the_reserve(h: &Harness) {
    let shared = h.store.shared_limits().expect("Postgres shares limits");
    let limit = RateLimit {
        key: "zapsign:priority".into(),
        calls: 4,
        window: WINDOW,
    };
    let vendor = Arc::new(Counting::default());
    // Four calls a minute, 10 % kept for interactive calls: background ones fill three.
    let paced = SharedPaced::new("zapsign", vendor.clone(), limit, Arc::clone(&shared), 10);
    let codes = vec!["X".to_string()];
    let started = Instant::now();

    let bulk = one_call(&codes, Priority::Background);
    let background = join_all((0..5).map(|_| paced.cancel(&bulk))).await;
    let answered = started.elapsed();
    let interactive = paced.cancel(&one_call(&codes, Priority::Interactive)).await;
    let next = reserve(h.store.as_ref(), "zapsign:priority", 4, &[LONG]).await[0];
    let behind = paced.cancel(&one_call(&codes, Priority::Background)).await;

    let went = background.iter().filter(|r| r[0].is_ok()).count();
    assert_eq!(went, 3, "{background:?}");
    assert!(
        answered < Duration::from_secs(5),
        "background calls waited {answered:?}"
    );
    assert!(interactive[0].is_ok(), "{interactive:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the interactive call waited"
    );
    let next = next.expect("an interactive turn in the next window");
    assert!(next.wait >= Duration::from_secs(55), "{next:?}");
    assert_eq!(behind[0], Err(signgate::vendors::UpstreamError::Deadline));
    assert_eq!(*vendor.0.lock().expect("not poisoned"), 4);
}

pub(crate) async fn sqlite_shares_no_limits(h: &Harness) {
    assert!(h.store.shared_limits().is_none());
}

pub(crate) fn postgres_shares_limits(h: &Harness) {
    assert!(h.store.shared_limits().is_some());
}
