//! `Paced`: never more than `limit` calls to a vendor in any `window`, across all requests of
//! the process, in constant memory whatever the limit.
//!
//! Calls are counted in one-second buckets. A call may go in bucket `s` when the buckets
//! `s - W ..= s` (W = window in seconds) hold fewer than `limit` calls. Any window of W seconds
//! touches at most those W + 1 buckets, so it never holds more than `limit` calls. Buckets are
//! handed out in order, so the window ending at the newest bucket is the only one to check.
//! Not a token bucket: ZapSign counts fixed one-minute windows, and a bucket's burst plus a
//! minute of refill can exceed the limit in one of them.
//!
//! A background call (`Priority::Background`) waits for no later bucket, which would queue the
//! interactive calls after it behind it: it goes now, while the window then holds at most
//! `limit - reserve` calls, or fails with `Deadline` at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::interactive_reserve;
use crate::vendors::{Batch, CallContext, DocState, Priority, Reply, UpstreamError, Vendor};

/// Paces the calls of `inner`.
#[derive(Debug)]
pub struct Paced {
    inner: Arc<dyn Vendor>,
    limit: u32,
    /// Calls of each window that background calls leave to interactive ones.
    reserve: u32,
    window_secs: u64,
    origin: Instant,
    buckets: Mutex<Buckets>,
}

/// `(second since origin, calls)` for the newest W + 1 seconds that had calls, oldest first.
#[derive(Debug, Default)]
struct Buckets {
    counts: VecDeque<(u64, u32)>,
    total: u32,
}

impl Paced {
    /// At most `limit` calls of `inner` in any `window` (whole seconds), of which background
    /// calls leave `interactive_reserve_percent` to interactive ones.
    pub fn new(
        inner: Arc<dyn Vendor>,
        limit: u32,
        window: Duration,
        interactive_reserve_percent: u32,
    ) -> Self {
        let limit = limit.max(1);
        Self {
            inner,
            limit,
            reserve: interactive_reserve(limit, interactive_reserve_percent),
            window_secs: window.as_secs().max(1),
            origin: Instant::now(),
            buckets: Mutex::default(),
        }
    }

    /// Takes `calls` slots for one request: an interactive one waits for each in turn; a
    /// background one takes all of them now or none.
    async fn slots(&self, calls: usize, ctx: &CallContext<'_>) -> Result<(), UpstreamError> {
        if ctx.priority == Priority::Background {
            let calls = u32::try_from(calls).unwrap_or(u32::MAX);
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now().duration_since(self.origin).as_secs();
            return if self.room_now(&buckets, now) >= calls {
                (0..calls).for_each(|_| self.take(&mut buckets, now));
                Ok(())
            } else {
                Err(UpstreamError::Deadline)
            };
        }
        for _ in 0..calls {
            self.slot(ctx.deadline).await?;
        }
        Ok(())
    }

    /// How many background calls may go in second `now`: none when a later bucket is already
    /// handed out, else what keeps the window ending now within `limit - reserve`.
    fn room_now(&self, buckets: &Buckets, now: u64) -> u32 {
        if buckets.counts.back().is_some_and(|&(s, _)| s > now) {
            return 0;
        }
        let expired: u32 = buckets
            .counts
            .iter()
            .take_while(|&&(s, _)| s + self.window_secs < now)
            .map(|&(_, n)| n)
            .sum();
        (self.limit - self.reserve).saturating_sub(buckets.total - expired)
    }

    /// Reserves the earliest bucket that keeps the limit and waits for it. A slot past the
    /// deadline is not taken: the call fails at once and takes no capacity.
    async fn slot(&self, deadline: Instant) -> Result<(), UpstreamError> {
        let at = {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let second = self.earliest(&buckets, now.duration_since(self.origin).as_secs());
            let at = (self.origin + Duration::from_secs(second)).max(now);
            if at > deadline {
                return Err(UpstreamError::Deadline);
            }
            self.take(&mut buckets, second);
            at
        };
        // A timer rounds up to the next millisecond even when the slot has come.
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        Ok(())
    }

    /// The first second, not before `now` nor before the newest bucket, with room.
    fn earliest(&self, buckets: &Buckets, now: u64) -> u64 {
        let newest = buckets.counts.back().map_or(0, |&(s, _)| s);
        let mut second = now.max(newest);
        let (mut oldest, mut total) = (0, buckets.total);
        loop {
            while let Some(&(s, n)) = buckets.counts.get(oldest) {
                if s + self.window_secs >= second {
                    break;
                }
                total -= n;
                oldest += 1;
            }
            match buckets.counts.get(oldest) {
                Some(&(s, _)) if total >= self.limit => second = s + self.window_secs + 1,
                _ => return second,
            }
        }
    }

    /// Counts a call in `second` and forgets buckets no later window can contain.
    fn take(&self, buckets: &mut Buckets, second: u64) {
        match buckets.counts.back_mut() {
            Some((s, n)) if *s == second => *n += 1,
            _ => buckets.counts.push_back((second, 1)),
        }
        buckets.total += 1;
        while let Some(&(s, n)) = buckets.counts.front() {
            if s + self.window_secs >= second {
                break;
            }
            buckets.total -= n;
            buckets.counts.pop_front();
        }
    }
}

#[async_trait]
impl Vendor for Paced {
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        // A per-document vendor makes one HTTP call per code.
        let calls = if self.inner.batch_size() == 1 {
            batch.codes.len()
        } else {
            1
        };
        match self.slots(calls, &batch.ctx).await {
            Ok(()) => self.inner.cancel(batch).await,
            Err(e) => vec![Err(e); batch.codes.len()],
        }
    }

    fn can_read_status(&self) -> bool {
        self.inner.can_read_status()
    }

    fn malformed_code(&self, code: &str) -> Option<&'static str> {
        self.inner.malformed_code(code)
    }

    async fn status(&self, code: &str, ctx: &CallContext<'_>) -> Result<DocState, UpstreamError> {
        self.slots(1, ctx).await?;
        self.inner.status(code, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::testing::{batch, Recorder};

    fn background(codes: &[String]) -> Batch<'_> {
        let mut batch = batch(codes, Instant::now() + Duration::from_secs(600));
        batch.ctx.priority = Priority::Background;
        batch
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_keeps_every_window_at_or_under_the_limit() {
        let recorder = Arc::new(Recorder::default());
        let paced = Arc::new(Paced::new(recorder.clone(), 3, Duration::from_secs(60), 10));
        let deadline = Instant::now() + Duration::from_secs(600);
        let codes = vec!["X".to_string()];
        let calls = (0..10).map(|_| {
            let paced = Arc::clone(&paced);
            let codes = codes.clone();
            async move { paced.cancel(&batch(&codes, deadline)).await }
        });
        futures::future::join_all(calls).await;

        let at = recorder.times();
        assert_eq!(at.len(), 10);
        for (i, start) in at.iter().enumerate() {
            let in_window = at[i..]
                .iter()
                .filter(|&&t| t < *start + Duration::from_secs(60))
                .count();
            assert!(in_window <= 3, "{in_window} calls within 60 s of call {i}");
        }
        // Three calls per 61 s: calls 9 goes out 183 s after the first.
        assert!(
            at[9] - at[0] <= Duration::from_secs(184),
            "pacing waited longer than needed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_holds_across_calls_that_arrive_over_time() {
        let recorder = Arc::new(Recorder::default());
        let paced = Paced::new(recorder.clone(), 5, Duration::from_secs(60), 10);
        let codes = vec!["X".to_string()];
        for _ in 0..40 {
            let deadline = Instant::now() + Duration::from_secs(600);
            paced.cancel(&batch(&codes, deadline)).await;
            tokio::time::advance(Duration::from_millis(7_300)).await;
        }
        let at = recorder.times();
        for (i, start) in at.iter().enumerate() {
            let in_window = at[i..]
                .iter()
                .filter(|&&t| t < *start + Duration::from_secs(60))
                .count();
            assert!(in_window <= 5, "{in_window} calls within 60 s of call {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_refuses_a_slot_past_the_deadline_without_calling_or_taking_it() {
        let recorder = Arc::new(Recorder::default());
        let paced = Paced::new(recorder.clone(), 1, Duration::from_secs(60), 10);
        let codes = vec!["X".to_string()];
        let soon = Instant::now() + Duration::from_secs(5);
        assert!(paced.cancel(&batch(&codes, soon)).await[0].is_ok());
        assert_eq!(
            paced.cancel(&batch(&codes, soon)).await[0],
            Err(UpstreamError::Deadline)
        );
        let later = Instant::now() + Duration::from_secs(120);
        assert!(paced.cancel(&batch(&codes, later)).await[0].is_ok());
        let at = recorder.times();
        assert_eq!(at.len(), 2);
        assert!(at[1] - at[0] >= Duration::from_secs(60));
    }

    #[test]
    fn memory_stays_bounded_at_a_high_limit() {
        let paced = Paced::new(
            Arc::new(Recorder::default()),
            1_000_000,
            Duration::from_secs(60),
            10,
        );
        let mut buckets = Buckets::default();
        for i in 0..200_000u64 {
            let second = paced.earliest(&buckets, i / 1000);
            paced.take(&mut buckets, second);
        }
        assert!(
            buckets.counts.len() <= 61,
            "{} buckets kept",
            buckets.counts.len()
        );
        assert!(buckets.total <= 61_000, "{} calls counted", buckets.total);
    }

    #[tokio::test(start_paused = true)]
    async fn background_calls_never_fill_a_window_past_limit_less_reserve_nor_wait() {
        let recorder = Arc::new(Recorder::default());
        // Limit 10, 10 %: one call of every window is kept for interactive requests.
        let paced = Paced::new(recorder.clone(), 10, Duration::from_secs(60), 10);
        let codes = vec!["X".to_string()];
        let mut refused = 0;
        for _ in 0..300 {
            let asked = Instant::now();
            for _ in 0..3 {
                match paced.cancel(&background(&codes)).await[0] {
                    Ok(_) => {}
                    Err(UpstreamError::Deadline) => refused += 1,
                    Err(ref e) => panic!("{e:?}"),
                }
                assert_eq!(Instant::now(), asked, "a background call waited");
            }
            tokio::time::advance(Duration::from_millis(700)).await;
        }

        let at = recorder.times();
        assert!(at.len() >= 27, "only {} calls went", at.len());
        assert_eq!(at.len() + refused, 900);
        for (i, start) in at.iter().enumerate() {
            let in_window = at[i..]
                .iter()
                .filter(|&&t| t < *start + Duration::from_secs(60))
                .count();
            assert!(in_window <= 9, "{in_window} calls within 60 s of call {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_interactive_call_finds_a_slot_at_once_after_background_calls_took_their_share() {
        let recorder = Arc::new(Recorder::default());
        let paced = Paced::new(recorder.clone(), 10, Duration::from_secs(60), 10);
        let codes = vec!["X".to_string()];
        let replies: Vec<_> = futures::future::join_all(
            (0..12).map(|_| async { paced.cancel(&background(&codes)).await.remove(0) }),
        )
        .await;
        let refused = replies.iter().filter(|r| r.is_err()).count();
        let asked = Instant::now();

        let deadline = asked + Duration::from_secs(5);
        let reply = paced.cancel(&batch(&codes, deadline)).await;

        assert_eq!(refused, 3, "{replies:?}");
        assert!(reply[0].is_ok(), "{reply:?}");
        assert_eq!(recorder.times().last(), Some(&asked));
    }

    #[tokio::test(start_paused = true)]
    async fn background_calls_refuse_instead_of_queuing_behind_interactive_waiters() {
        let recorder = Arc::new(Recorder::default());
        let paced = Arc::new(Paced::new(recorder.clone(), 3, Duration::from_secs(60), 10));
        let codes = vec!["X".to_string()];
        let deadline = Instant::now() + Duration::from_secs(600);
        for _ in 0..3 {
            assert!(paced.cancel(&batch(&codes, deadline)).await[0].is_ok());
        }
        let asked = Instant::now();
        let waiting = tokio::spawn({
            let (paced, codes) = (Arc::clone(&paced), codes.clone());
            async move { paced.cancel(&batch(&codes, deadline)).await.remove(0) }
        });
        tokio::task::yield_now().await;

        let refused = paced.cancel(&background(&codes)).await;

        assert_eq!(refused, vec![Err(UpstreamError::Deadline)]);
        assert_eq!(Instant::now(), asked, "the background call waited");
        assert!(waiting.await.expect("no panic").is_ok());
        let at = recorder.times();
        assert_eq!(at.len(), 4, "{at:?}");
        let waited = at[3] - asked;
        assert!(waited <= Duration::from_secs(61), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_background_batch_that_does_not_fit_whole_takes_nothing() {
        let recorder = Arc::new(Recorder::default());
        let paced = Paced::new(recorder.clone(), 3, Duration::from_secs(60), 10);
        let three = vec!["A".to_string(), "B".to_string(), "C".to_string()];

        let whole = paced.cancel(&background(&three)).await;
        let two = paced.cancel(&background(&three[..2])).await;

        assert_eq!(whole, vec![Err(UpstreamError::Deadline); 3]);
        assert!(two.iter().all(Result::is_ok), "{two:?}");
        assert_eq!(recorder.calls(), 1, "one batch call for both codes");
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_limit_of_one_a_background_call_takes_the_slot_only_when_free_now() {
        let recorder = Arc::new(Recorder::default());
        let paced = Paced::new(recorder.clone(), 1, Duration::from_secs(60), 10);
        let codes = vec!["X".to_string()];

        let first = paced.cancel(&background(&codes)).await;
        let second = paced.cancel(&background(&codes)).await;
        tokio::time::advance(Duration::from_secs(62)).await;
        let third = paced.cancel(&background(&codes)).await;

        assert!(first[0].is_ok() && third[0].is_ok(), "{first:?} {third:?}");
        assert_eq!(second, vec![Err(UpstreamError::Deadline)]);
        assert_eq!(recorder.calls(), 2);
    }
}
