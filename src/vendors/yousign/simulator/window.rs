//! Yousign's two rate-limit windows per API key (a minute and an hour), as the simulator
//! enforces them and reports them in its `x-ratelimit-*` headers. Yousign does not say
//! whether its windows are fixed or sliding; the simulator counts fixed clock windows.

use std::time::Duration;

use crate::simulator::window::{Admitted, Window};

/// One key's calls in the current clock minute and the current clock hour.
#[derive(Debug)]
pub(super) struct Windows {
    minute: Window,
    hour: Window,
}

impl Default for Windows {
    fn default() -> Self {
        Self {
            minute: Window::new(60),
            hour: Window::new(3600),
        }
    }
}

/// The two limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// Calls in any clock minute.
    pub per_minute: u32,
    /// Calls in any clock hour.
    pub per_hour: u32,
}

/// A call's place in both windows, as the headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Report {
    /// `x-ratelimit-limit-minute`.
    pub limit_minute: u32,
    /// `x-ratelimit-remaining-minute`, after this call.
    pub remaining_minute: u32,
    /// `x-ratelimit-limit-hour`.
    pub limit_hour: u32,
    /// `x-ratelimit-remaining-hour`, after this call.
    pub remaining_hour: u32,
    /// Seconds until the window that refused the call (else the minute) resets: `RateLimit-Reset`
    /// and, on a `429`, `Retry-After`.
    pub reset_secs: u64,
}

impl Windows {
    /// Counts a call at `now` (since the epoch) against both limits; a call beyond either is
    /// refused and counted in neither, with the same report.
    pub(super) fn admit(&mut self, limits: Limits, now: Duration) -> Result<Report, Report> {
        let minute = self.minute.check(limits.per_minute, now);
        let hour = self.hour.check(limits.per_hour, now);
        let report = |minute: Admitted, hour: Admitted, reset_secs| Report {
            limit_minute: minute.limit,
            remaining_minute: minute.remaining,
            limit_hour: hour.limit,
            remaining_hour: hour.remaining,
            reset_secs,
        };
        // A window with room reports what this call would have left; refused, it is not
        // counted there either.
        let uncounted = |admitted: Admitted| Admitted {
            remaining: admitted.remaining + 1,
            ..admitted
        };
        match (minute, hour) {
            (Ok(minute), Ok(hour)) => {
                self.minute.count();
                self.hour.count();
                Ok(report(minute, hour, minute.retry_after))
            }
            (minute, Err(hour)) => {
                let minute = minute.map_or_else(|full| full, uncounted);
                Err(report(minute, hour, hour.retry_after))
            }
            (Err(minute), Ok(hour)) => Err(report(minute, uncounted(hour), minute.retry_after)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_minute: 2,
        per_hour: 3,
    };

    #[test]
    fn the_minute_limit_holds_per_clock_minute_and_resets_at_its_end() {
        let mut windows = Windows::default();
        let at = Duration::from_secs;
        let first = windows.admit(LIMITS, at(7200)).expect("admitted");
        assert_eq!(
            first,
            Report {
                limit_minute: 2,
                remaining_minute: 1,
                limit_hour: 3,
                remaining_hour: 2,
                reset_secs: 60,
            }
        );
        assert!(windows.admit(LIMITS, at(7210)).is_ok());
        let refused = windows
            .admit(LIMITS, at(7250))
            .expect_err("the minute is full");
        assert_eq!((refused.remaining_minute, refused.reset_secs), (0, 10));
        assert_eq!(refused.remaining_hour, 1, "a refused call is not counted");
    }

    #[test]
    fn the_hour_limit_holds_across_minutes_and_a_refusal_waits_for_the_hour() {
        let mut windows = Windows::default();
        let at = Duration::from_secs;
        for second in [7200, 7201, 7260] {
            assert!(windows.admit(LIMITS, at(second)).is_ok(), "{second}");
        }
        let refused = windows
            .admit(LIMITS, at(7320))
            .expect_err("the hour is full");
        assert_eq!(refused.remaining_hour, 0);
        assert_eq!(refused.remaining_minute, 2, "a new minute, yet refused");
        assert_eq!(refused.reset_secs, 3600 - 120);
        assert!(windows.admit(LIMITS, at(10_800)).is_ok(), "the next hour");
    }
}
