//! Call reservations against a rate limit shared by every replica on one Postgres database:
//! what `SharedLimits::reserve_calls` answers, and the statement Postgres runs for it (the function is
//! created by `migrations/postgres/0003_shared_pacing.sql`).

use std::time::Duration;

use super::StoreError;

/// Runs `signgate_reserve_calls`: one statement, one round trip, for every call of a group.
/// `$1` limiter key, `$2` limit, `$3` window in seconds, `$4` each call's longest wait (ms).
pub(super) const RESERVE_CALLS: &str =
    "SELECT waits_ms, valid_ms FROM signgate_reserve_calls($1, $2, $3, $4)";

/// One call's reserved turn, measured on the store's clock from the moment it reserved.
///
/// The store's "now" falls between sending the statement and reading its answer, so a caller
/// that waits `wait` after the answer never calls early, and one that calls no later than
/// `valid_for` after sending the statement never calls late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// How long after the answer the call may be made.
    pub wait: Duration,
    /// How long after the statement was sent the call must have been made; past it the
    /// reservation has lapsed and the call must not be made on its strength.
    pub valid_for: Duration,
}

/// The parameters of `RESERVE_CALLS` for `calls` and `window`, clamped to Postgres's types.
pub(super) fn limits(calls: u32, window: Duration) -> (i32, i32) {
    let calls = i32::try_from(calls.max(1)).unwrap_or(i32::MAX);
    let window = i32::try_from(window.as_secs().max(1)).unwrap_or(i32::MAX);
    (calls, window)
}

/// Each longest wait in milliseconds.
pub(super) fn max_waits_ms(max_waits: &[Duration]) -> Vec<i64> {
    max_waits
        .iter()
        .map(|wait| i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
        .collect()
}

/// The reservations from the function's two arrays; `None` where no slot fitted.
pub(super) fn reservations(
    asked: usize,
    waits_ms: Vec<Option<i64>>,
    valid_ms: Vec<Option<i64>>,
) -> Result<Vec<Option<Reservation>>, StoreError> {
    if waits_ms.len() != asked || valid_ms.len() != asked {
        return Err(StoreError::Corrupt(format!(
            "a reservation of {asked} calls answered {} slots",
            waits_ms.len()
        )));
    }
    let millis = |ms: i64| Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    Ok(waits_ms
        .into_iter()
        .zip(valid_ms)
        .map(|pair| match pair {
            (Some(wait), Some(valid)) => Some(Reservation {
                wait: millis(wait),
                valid_for: millis(valid),
            }),
            (Some(_), None) | (None, Some(_) | None) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_call_has_no_reservation_and_a_granted_one_keeps_its_times() {
        let answered = reservations(2, vec![Some(1500), None], vec![Some(2500), None]);

        let answered = answered.expect("two slots for two calls");

        assert_eq!(
            answered,
            vec![
                Some(Reservation {
                    wait: Duration::from_millis(1500),
                    valid_for: Duration::from_millis(2500),
                }),
                None,
            ]
        );
    }

    #[test]
    fn an_answer_of_the_wrong_length_is_an_error() {
        let answered = reservations(3, vec![Some(0)], vec![Some(1000)]);

        assert!(matches!(answered, Err(StoreError::Corrupt(_))));
    }
}
