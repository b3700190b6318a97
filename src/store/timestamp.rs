//! `Timestamp`: an instant as unix milliseconds, the store's one notion of time.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

/// An instant as milliseconds since the unix epoch (UTC), stored as a `BIGINT` in every store.
///
/// The store never reads the clock itself: callers pass `now`, so tests can move time freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time from the system clock.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// The instant `millis` milliseconds after the unix epoch (negative: before it).
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant plus `duration`, saturating at the largest representable instant.
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(millis_of(duration)))
    }

    /// This instant minus `duration`, saturating at the smallest representable instant.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(millis_of(duration)))
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2025-01-31T09:30:00.250Z`.
    ///
    /// Instants beyond chrono's range (about 262,000 years from now) are clamped to its ends.
    pub fn to_rfc3339(self) -> String {
        let instant = DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or(if self.0 < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        });
        instant.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A duration in whole milliseconds, saturating at `i64::MAX`.
fn millis_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_rfc3339_with_milliseconds_in_utc() {
        let instant = Timestamp::from_millis(1_738_315_800_250);
        assert_eq!(instant.to_rfc3339(), "2025-01-31T09:30:00.250Z");
        assert_eq!(instant.to_string(), "2025-01-31T09:30:00.250Z");
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn out_of_range_instants_are_clamped_instead_of_panicking() {
        assert!(Timestamp::from_millis(i64::MAX)
            .to_rfc3339()
            .starts_with('+'));
        assert!(Timestamp::from_millis(i64::MIN)
            .to_rfc3339()
            .starts_with('-'));
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let late = Timestamp::from_millis(i64::MAX - 1);
        assert_eq!(
            late.saturating_add(Duration::from_secs(1)).as_millis(),
            i64::MAX
        );
        assert_eq!(
            Timestamp::from_millis(i64::MIN)
                .saturating_sub(Duration::MAX)
                .as_millis(),
            i64::MIN
        );
        let base = Timestamp::from_millis(1_000);
        assert_eq!(
            base.saturating_add(Duration::from_millis(1_500))
                .as_millis(),
            2_500
        );
        assert_eq!(
            base.saturating_sub(Duration::from_millis(1_500))
                .as_millis(),
            -500
        );
    }

    #[test]
    fn now_is_after_2024() {
        assert!(Timestamp::now().as_millis() > 1_704_067_200_000);
    }
}
