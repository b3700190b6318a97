//! ZapSign's fixed-window rate limit per token, as the simulator enforces it.

use std::collections::HashMap;
use std::time::Duration;

/// ZapSign's rate limit: at most N calls per token in each fixed one-minute window
/// (window = whole minutes since the epoch).
#[derive(Debug, Default)]
pub(super) struct Throttle {
    windows: HashMap<String, (u64, u32)>,
}

impl Throttle {
    const WINDOW_SECS: u64 = 60;

    /// Counts a call at `now` (since the epoch); beyond `limit` in this window, returns the
    /// seconds until the window ends (at least 1), for `Retry-After`.
    pub(super) fn admit(&mut self, token: &str, limit: u32, now: Duration) -> Result<(), u64> {
        let window = now.as_secs() / Self::WINDOW_SECS;
        let entry = self.windows.entry(token.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            let ends = (window + 1) * Self::WINDOW_SECS;
            return Err(ends.saturating_sub(now.as_secs()).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_per_fixed_window_and_retry_after_points_at_its_end() {
        let mut throttle = Throttle::default();
        let at = |secs| Duration::from_secs(secs);
        assert_eq!(throttle.admit("t", 2, at(120)), Ok(()));
        assert_eq!(throttle.admit("t", 2, at(150)), Ok(()));
        assert_eq!(throttle.admit("t", 2, at(165)), Err(15));
        assert_eq!(throttle.admit("other", 2, at(165)), Ok(()));
        assert_eq!(throttle.admit("t", 2, at(179)), Err(1));
        assert_eq!(throttle.admit("t", 2, at(180)), Ok(()));
    }

    #[test]
    fn refused_calls_do_not_count_against_the_limit() {
        let mut throttle = Throttle::default();
        let now = Duration::from_secs(60);
        assert!(throttle.admit("t", 1, now).is_ok());
        for _ in 0..5 {
            assert!(throttle.admit("t", 1, now).is_err());
        }
        assert!(throttle
            .admit("t", 1, now + Duration::from_secs(60))
            .is_ok());
    }
}
