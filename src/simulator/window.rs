//! Fixed-window rate limits as the simulated vendors count them: at most `limit` calls in each
//! window of `secs` seconds (whole windows since the epoch), one counter per account or token.
//! The vendors' own headers are theirs to write, from the `Admitted` report.

use std::collections::HashMap;
use std::time::Duration;

/// One account's calls in its current fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    secs: u64,
    /// The current window's number and the calls admitted in it.
    current: (u64, u32),
}

/// A call's place in its window, as rate-limit headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// The calls allowed in the window.
    pub limit: u32,
    /// The calls left in the window, after this one when it was admitted.
    pub remaining: u32,
    /// The Unix second the window ends.
    pub reset: u64,
    /// Whole seconds from the call to the window's end, at least 1 (a `Retry-After`).
    pub retry_after: u64,
}

impl Window {
    /// Windows of `secs` seconds (at least 1).
    pub fn new(secs: u64) -> Self {
        Self {
            secs: secs.max(1),
            current: (0, 0),
        }
    }

    /// What a call at `now` (since the epoch) would get against `limit`, without counting it:
    /// `Err` when the window is full.
    pub fn check(&mut self, limit: u32, now: Duration) -> Result<Admitted, Admitted> {
        let window = now.as_secs() / self.secs;
        if self.current.0 != window {
            self.current = (window, 0);
        }
        let used = self.current.1;
        let reset = (window + 1) * self.secs;
        let report = |used: u32| Admitted {
            limit,
            remaining: limit.saturating_sub(used),
            reset,
            retry_after: reset.saturating_sub(now.as_secs()).max(1),
        };
        match used >= limit {
            true => Err(report(used)),
            false => Ok(report(used + 1)),
        }
    }

    /// Counts one call that `check` admitted in the current window.
    pub fn count(&mut self) {
        self.current.1 += 1;
    }

    /// Checks a call at `now` and counts it when admitted; a refused call is not counted.
    pub fn admit(&mut self, limit: u32, now: Duration) -> Result<Admitted, Admitted> {
        let admitted = self.check(limit, now)?;
        self.count();
        Ok(admitted)
    }
}

/// One `Window` per key (an API token), all of the same length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    secs: u64,
    by_key: HashMap<String, Window>,
}

impl Windows {
    /// Windows of `secs` seconds for every key.
    pub fn new(secs: u64) -> Self {
        Self {
            secs,
            by_key: HashMap::new(),
        }
    }

    /// `Window::admit` for `key`'s window.
    pub fn admit(&mut self, key: &str, limit: u32, now: Duration) -> Result<Admitted, Admitted> {
        let secs = self.secs;
        let window = self
            .by_key
            .entry(key.to_owned())
            .or_insert_with(|| Window::new(secs));
        window.admit(limit, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_per_fixed_window_and_reset_points_at_its_end() {
        let mut window = Window::new(60);
        let at = Duration::from_secs;
        let first = window.admit(2, at(120)).expect("admitted");
        assert_eq!(
            first,
            Admitted {
                limit: 2,
                remaining: 1,
                reset: 180,
                retry_after: 60
            }
        );
        assert_eq!(window.admit(2, at(150)).map(|a| a.remaining), Ok(0));
        let refused = window.admit(2, at(179)).expect_err("the window is full");
        assert_eq!((refused.remaining, refused.retry_after), (0, 1));
        assert_eq!(window.admit(2, at(180)).map(|a| a.reset), Ok(240));
    }

    #[test]
    fn a_check_counts_nothing_and_windows_of_other_lengths_roll_on_their_own_edges() {
        let mut window = Window::new(10);
        let at = Duration::from_secs;
        assert!(window.check(1, at(125)).is_ok());
        assert!(
            window.check(1, at(125)).is_ok(),
            "a check alone counts nothing"
        );
        window.count();
        assert_eq!(window.check(1, at(129)).map_err(|a| a.retry_after), Err(1));
        assert_eq!(window.admit(1, at(130)).map(|a| a.reset), Ok(140));
    }

    #[test]
    fn each_key_has_its_own_window() {
        let mut windows = Windows::new(60);
        let at = Duration::from_secs;
        assert!(windows.admit("a", 1, at(600)).is_ok());
        assert_eq!(
            windows.admit("a", 1, at(640)).map_err(|a| a.retry_after),
            Err(20)
        );
        assert!(windows.admit("b", 1, at(640)).is_ok());
        assert!(windows.admit("a", 1, at(660)).is_ok());
    }
}
