use super::*;
use crate::model::Outcome;
use crate::vendors::testing::{batch, FakeStore, Recorder, Reserving};
use crate::vendors::Answer;

/// Answers every call after ten seconds, counting the calls it started.
#[derive(Debug, Default)]
struct Busy {
    started: Mutex<usize>,
}

#[async_trait]
impl Vendor for Busy {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, _: &Batch<'_>) -> Vec<Reply> {
        *self.started.lock().unwrap() += 1;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let answer = Answer {
            outcome: Outcome::Cancelled,
            http_status: 200,
        };
        vec![Ok(answer)]
    }
}

/// Starts one call of `priority` through `limited`, deadline in `secs`, and lets it run
/// until it waits.
async fn start(
    limited: &Arc<Limited>,
    priority: Priority,
    secs: u64,
) -> tokio::task::JoinHandle<Reply> {
    let limited = Arc::clone(limited);
    let call = tokio::spawn(async move {
        let codes = vec!["X".to_string()];
        let mut batch = batch(&codes, Instant::now() + Duration::from_secs(secs));
        batch.ctx.priority = priority;
        limited.cancel(&batch).await.remove(0)
    });
    tokio::task::yield_now().await;
    call
}

fn started(busy: &Busy) -> usize {
    *busy.started.lock().unwrap()
}

#[test]
fn the_interactive_reserve_rounds_up_and_keeps_one_of_several_but_none_of_one() {
    assert_eq!(interactive_reserve(60, 10), 6);
    assert_eq!(interactive_reserve(4, 10), 1);
    assert_eq!(interactive_reserve(11, 10), 2);
    assert_eq!(interactive_reserve(2, 1), 1);
    assert_eq!(interactive_reserve(60, 0), 0);
    assert_eq!(interactive_reserve(1, 10), 0);
    assert_eq!(interactive_reserve(5, 300), 5);
}

#[tokio::test(start_paused = true)]
async fn a_background_call_does_not_start_on_the_reserved_permit_but_interactive_ones_do() {
    let busy = Arc::new(Busy::default());
    let limited = Arc::new(Limited::new(busy.clone(), 4, 10));
    for _ in 0..3 {
        start(&limited, Priority::Interactive, 60).await;
    }
    let asked = Instant::now();

    let background = start(&limited, Priority::Background, 2).await;
    let interactive = start(&limited, Priority::Interactive, 60).await;
    assert_eq!(started(&busy), 4, "the interactive call started at once");

    let refused = background.await.expect("no panic");
    assert_eq!(refused, Err(UpstreamError::Deadline));
    assert!(Instant::now() - asked >= Duration::from_secs(2));
    assert!(interactive.await.expect("no panic").is_ok());
    assert_eq!(started(&busy), 4, "the background call never started");
}

#[tokio::test(start_paused = true)]
async fn a_background_call_starts_at_once_while_more_than_the_reserve_is_free() {
    let busy = Arc::new(Busy::default());
    let limited = Arc::new(Limited::new(busy.clone(), 4, 10));
    for _ in 0..2 {
        start(&limited, Priority::Interactive, 60).await;
    }

    let background = start(&limited, Priority::Background, 60).await;

    assert_eq!(started(&busy), 3);
    assert!(background.await.expect("no panic").is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_background_call_never_takes_a_permit_ahead_of_a_queued_interactive_one() {
    let busy = Arc::new(Busy::default());
    let limited = Arc::new(Limited::new(busy.clone(), 2, 10));
    for _ in 0..2 {
        start(&limited, Priority::Interactive, 60).await;
    }
    let asked = Instant::now();
    let background = start(&limited, Priority::Background, 60).await;
    let queued = start(&limited, Priority::Interactive, 60).await;

    tokio::time::sleep(Duration::from_millis(10_001)).await;
    assert_eq!(
        started(&busy),
        3,
        "only the queued interactive call went at 10 s"
    );
    assert!(queued.await.expect("no panic").is_ok());
    assert!(background.await.expect("no panic").is_ok());

    assert_eq!(started(&busy), 4);
    assert!(Instant::now() - asked >= Duration::from_secs(30));
}

fn zapsign_settings() -> VendorSettings {
    let vars = [
        ("SIGNGATE__AUTH__API_KEY", "test-api-key-0123456789"),
        ("SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN", "t"),
    ];
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let settings = crate::settings::Settings::from_sources(None, None, vars.collect());
    settings.expect("valid").vendors["zapsign"].clone()
}

#[tokio::test]
async fn a_rate_limited_vendor_is_paced_through_a_store_that_shares_limits() {
    let recorder = Arc::new(Recorder::default());
    let shared: Arc<dyn SharedLimits> = Arc::new(FakeStore::new(Reserving::Refuse));
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(5);

    let vendor = wrap(
        "zapsign",
        &zapsign_settings(),
        recorder.clone(),
        Some(&shared),
        DEFAULT_INTERACTIVE_RESERVE_PERCENT,
    );
    let replies = vendor.cancel(&batch(&codes, deadline)).await;

    assert_eq!(replies, vec![Err(UpstreamError::Deadline)]);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn a_rate_limited_vendor_is_paced_in_process_on_a_store_that_shares_none() {
    let recorder = Arc::new(Recorder::default());
    let store = crate::store::connect("sqlite::memory:")
        .await
        .expect("store");
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(5);

    let vendor = wrap(
        "zapsign",
        &zapsign_settings(),
        recorder.clone(),
        store.shared_limits().as_ref(),
        DEFAULT_INTERACTIVE_RESERVE_PERCENT,
    );
    let replies = vendor.cancel(&batch(&codes, deadline)).await;

    assert!(replies[0].is_ok(), "{replies:?}");
    assert_eq!(recorder.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_probe_dropped_unfinished_reopens_the_breaker() {
    let recorder = Arc::new(Recorder::failing());
    let breaker = Breaker::new("t", recorder.clone(), 1, Duration::from_secs(1));
    let codes = vec!["X".to_string()];
    let deadline = Instant::now() + Duration::from_secs(600);
    breaker.cancel(&batch(&codes, deadline)).await;
    assert_eq!(
        breaker.cancel(&batch(&codes, deadline)).await[0],
        Err(UpstreamError::CircuitOpen)
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    let admission = breaker
        .admit()
        .expect("a probe is let through after the cool-down");
    drop(admission);
    assert!(
        breaker.admit().is_none(),
        "an abandoned probe must not leave the breaker stuck"
    );
    assert_eq!(recorder.calls(), 1);
}
