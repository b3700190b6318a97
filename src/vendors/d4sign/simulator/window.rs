//! The simulated D4Sign's fixed-window limit per token.

use std::collections::HashMap;
use std::time::Duration;

/// At most N calls per token in each fixed one-minute window (whole minutes since the epoch).
#[derive(Debug, Default)]
pub(super) struct Window {
    counts: HashMap<String, (u64, u32)>,
}

impl Window {
    const SECS: u64 = 60;

    /// Counts a call at `now` (since the epoch); beyond `limit` in this window, returns the
    /// seconds until the window ends (at least 1), for `Retry-After`. A refused call does not
    /// count.
    pub(super) fn admit(&mut self, token: &str, limit: u32, now: Duration) -> Result<(), u64> {
        let window = now.as_secs() / Self::SECS;
        let entry = self.counts.entry(token.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            let ends = (window + 1) * Self::SECS;
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
    fn the_limit_holds_per_window_and_retry_after_points_at_its_end() {
        let mut window = Window::default();
        let at = Duration::from_secs;
        assert_eq!(window.admit("t", 1, at(600)), Ok(()));
        assert_eq!(window.admit("t", 1, at(640)), Err(20));
        assert_eq!(window.admit("t", 1, at(659)), Err(1));
        assert_eq!(window.admit("t", 1, at(660)), Ok(()));
    }
}
