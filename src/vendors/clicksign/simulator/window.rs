//! Clicksign's fixed-window rate limit per account, as the simulator enforces it and reports
//! it in its `X-Rate-Limit-*` headers.

use std::time::Duration;

/// The simulator's one account: calls counted in fixed windows of `SECS` seconds (whole
/// windows since the epoch).
#[derive(Debug, Default)]
pub(super) struct Window {
    /// The current window's number and the calls admitted in it.
    current: (u64, u32),
}

/// A call's place in its window, as the headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Admitted {
    /// `X-Rate-Limit`: the calls allowed in the window.
    pub limit: u32,
    /// `X-Rate-Limit-Remaining`, after this call.
    pub remaining: u32,
    /// `X-Rate-Limit-Reset`: the Unix second the window ends.
    pub reset: u64,
}

impl Window {
    /// Clicksign counts calls per 10 seconds.
    pub(super) const SECS: u64 = 10;

    /// Counts a call at `now` (since the epoch) against `limit`; a call beyond it is refused
    /// (and not counted), with the same report.
    pub(super) fn admit(&mut self, limit: u32, now: Duration) -> Result<Admitted, Admitted> {
        let window = now.as_secs() / Self::SECS;
        if self.current.0 != window {
            self.current = (window, 0);
        }
        let report = |used: u32| Admitted {
            limit,
            remaining: limit.saturating_sub(used),
            reset: (window + 1) * Self::SECS,
        };
        if self.current.1 >= limit {
            return Err(report(self.current.1));
        }
        self.current.1 += 1;
        Ok(report(self.current.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_per_fixed_ten_second_window_and_reset_points_at_its_end() {
        let mut window = Window::default();
        let at = Duration::from_secs;
        let first = window.admit(2, at(120)).expect("admitted");
        assert_eq!(
            first,
            Admitted {
                limit: 2,
                remaining: 1,
                reset: 130
            }
        );
        assert_eq!(window.admit(2, at(125)).map(|a| a.remaining), Ok(0));
        assert_eq!(
            window.admit(2, at(129)),
            Err(Admitted {
                limit: 2,
                remaining: 0,
                reset: 130
            })
        );
        assert_eq!(window.admit(2, at(130)).map(|a| a.reset), Ok(140));
    }
}
