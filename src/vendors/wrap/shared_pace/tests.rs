use super::*;
use crate::model::{ErrorCode, Outcome};
use crate::store::{Reservation, StoreError};
use crate::vendors::testing::{batch, FakeStore, Recorder, Reserving};

/// Grants every call at once, recording each statement's cap and longest waits.
#[derive(Debug, Default)]
struct Capturing {
    statements: std::sync::Mutex<Vec<(u32, Vec<Duration>)>>,
}

#[async_trait]
impl SharedLimits for Capturing {
    async fn reserve_calls(
        &self,
        _: &str,
        cap: u32,
        _: Duration,
        max_waits: &[Duration],
    ) -> Result<Vec<Option<Reservation>>, StoreError> {
        self.statements
            .lock()
            .unwrap()
            .push((cap, max_waits.to_vec()));
        let granted = Reservation {
            wait: Duration::ZERO,
            valid_for: Duration::from_secs(1),
        };
        Ok(vec![Some(granted); max_waits.len()])
    }
}

fn limit() -> RateLimit {
    RateLimit {
        key: "zapsign:test".into(),
        calls: 10,
        window: Duration::from_secs(60),
    }
}

fn paced(reserving: Reserving) -> (Arc<Recorder>, Arc<FakeStore>, SharedPaced) {
    let recorder = Arc::new(Recorder::default());
    let store = Arc::new(FakeStore::new(reserving));
    let paced = SharedPaced::new("zapsign", recorder.clone(), limit(), store.clone(), 10);
    (recorder, store, paced)
}

#[tokio::test(start_paused = true)]
async fn a_store_that_cannot_be_reached_makes_no_call_and_fails_rate_limited_retryable() {
    let (recorder, _store, paced) = paced(Reserving::Fail);
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(10);

    let replies = paced.cancel(&batch(&codes, deadline)).await;

    assert_eq!(replies, vec![Err(UpstreamError::PacingUnavailable)]);
    assert_eq!(recorder.calls(), 0);
    let Outcome::Failed(failure) = UpstreamError::PacingUnavailable.into_outcome() else {
        panic!("a failure");
    };
    assert_eq!(failure.code, ErrorCode::VendorRateLimited);
    assert!(failure.code.retryable());
}

#[tokio::test(start_paused = true)]
async fn a_store_that_does_not_answer_in_time_makes_no_call() {
    let (recorder, _store, paced) = paced(Reserving::Grant {
        delay: Duration::from_secs(30),
        valid_for: Duration::from_secs(60),
    });
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(10);

    let replies = paced.cancel(&batch(&codes, deadline)).await;

    assert_eq!(replies, vec![Err(UpstreamError::PacingUnavailable)]);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_turn_refused_for_the_deadline_makes_no_call() {
    let (recorder, _store, paced) = paced(Reserving::Refuse);
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(10);

    let replies = paced.cancel(&batch(&codes, deadline)).await;

    assert_eq!(replies, vec![Err(UpstreamError::Deadline)]);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_turn_that_lapsed_while_the_store_answered_makes_no_call() {
    let (recorder, _store, paced) = paced(Reserving::Grant {
        delay: Duration::from_millis(1500),
        valid_for: Duration::from_millis(1000),
    });
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(10);

    let replies = paced.cancel(&batch(&codes, deadline)).await;

    assert_eq!(replies, vec![Err(UpstreamError::PacingUnavailable)]);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn calls_waiting_together_share_reservation_statements() {
    let (recorder, store, paced) = paced(Reserving::Grant {
        delay: Duration::from_millis(5),
        valid_for: Duration::from_secs(1),
    });
    let paced = Arc::new(paced);
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(10);

    let calls = (0..20).map(|_| {
        let (paced, codes) = (Arc::clone(&paced), codes.clone());
        async move { paced.cancel(&batch(&codes, deadline)).await }
    });
    let replies = futures::future::join_all(calls).await;

    assert!(replies.iter().all(|r| r[0].is_ok()), "{replies:?}");
    assert_eq!(recorder.calls(), 20);
    let statements = store.statements();
    assert_eq!(statements.iter().sum::<usize>(), 20, "{statements:?}");
    assert!(statements.len() <= 3, "not grouped: {statements:?}");
}

#[tokio::test(start_paused = true)]
async fn background_calls_reserve_without_waiting_below_the_reserve_in_a_statement_of_their_own() {
    let store = Arc::new(Capturing::default());
    let recorder = Arc::new(Recorder::default());
    let paced = SharedPaced::new("zapsign", recorder.clone(), limit(), store.clone(), 10);
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut background = batch(&codes, deadline);
    background.ctx.priority = Priority::Background;
    let interactive = batch(&codes, deadline);

    let (first, second) = tokio::join!(paced.cancel(&background), paced.cancel(&interactive));

    assert!(
        first[0].is_ok() && second[0].is_ok(),
        "{first:?} {second:?}"
    );
    assert_eq!(recorder.calls(), 2);
    let statements = store.statements.lock().unwrap().clone();
    assert_eq!(
        statements,
        vec![
            (10, vec![Duration::from_secs(10)]),
            (9, vec![Duration::ZERO])
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn with_everything_reserved_a_background_call_is_refused_without_a_statement() {
    let store = Arc::new(Capturing::default());
    let recorder = Arc::new(Recorder::default());
    let paced = SharedPaced::new("zapsign", recorder.clone(), limit(), store.clone(), 100);
    let codes = vec!["X".to_string()];
    let mut background = batch(&codes, Instant::now() + Duration::from_secs(10));
    background.ctx.priority = Priority::Background;

    let replies = paced.cancel(&background).await;

    assert_eq!(replies, vec![Err(UpstreamError::Deadline)]);
    assert_eq!(recorder.calls(), 0);
    assert!(store.statements.lock().unwrap().is_empty());
}
