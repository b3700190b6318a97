//! The simulator's knobs: credentials, latency, injected faults and vendor quirks.

use std::fmt;

/// How the simulator behaves. `Default` gives a well-behaved vendor pair with the demo keys.
#[derive(Clone, PartialEq)]
pub struct SimConfig {
    /// How long each call waits before it is handled.
    pub latency: Latency,
    /// Which share of calls fail, and how.
    pub faults: Faults,
    /// Treat codes and tokens nobody seeded as in-progress documents (for load tests), instead
    /// of unknown ones.
    pub unknown_in_progress: bool,
    /// Auco answers `400 DOCUMENT_NOT_FOUND` for a whole cancel batch (of one code or several)
    /// when any code in it is unknown, instead of listing the code in `errors.documents`.
    pub auco_batch_400_on_unknown: bool,
    /// The `Authorization` value Auco's cancel accepts (the bare private key).
    pub auco_private_key: String,
    /// The `Authorization` value Auco's status read accepts (the bare public key).
    pub auco_public_key: String,
    /// The ZapSign API token, sent as `Authorization: Bearer <token>`.
    pub zapsign_token: String,
    /// ZapSign's limit per token in each fixed one-minute window.
    pub zapsign_requests_per_minute: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            latency: Latency::default(),
            faults: Faults::default(),
            unknown_in_progress: false,
            auco_batch_400_on_unknown: false,
            auco_private_key: "prk_sim".into(),
            auco_public_key: "puk_sim".into(),
            zapsign_token: "sim-token".into(),
            zapsign_requests_per_minute: 500,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("latency", &self.latency)
            .field("faults", &self.faults)
            .field("unknown_in_progress", &self.unknown_in_progress)
            .field("auco_batch_400_on_unknown", &self.auco_batch_400_on_unknown)
            .field("auco_private_key", &"[redacted]")
            .field("auco_public_key", &"[redacted]")
            .field("zapsign_token", &"[redacted]")
            .field(
                "zapsign_requests_per_minute",
                &self.zapsign_requests_per_minute,
            )
            .finish()
    }
}

/// Added latency: every call waits `fixed_ms`, except a share `slow_share` of calls that waits
/// `slow_ms` instead (a slow tail).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// The wait of an ordinary call, in milliseconds.
    pub fixed_ms: u64,
    /// The wait of a slow call, in milliseconds.
    pub slow_ms: u64,
    /// The share of calls that are slow, from 0 to 1.
    pub slow_share: f64,
}

/// Injected faults, decided per call (cancels and status reads alike) from one roll: shares
/// are taken in the order error, timeout, rate limit, reset, and should add up to at most 1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Share of calls answered `500` or `503` (half each).
    pub error_share: f64,
    /// Share of calls that hang for 60 seconds before answering `504`: never in time.
    pub timeout_share: f64,
    /// Share of calls answered `429` with `Retry-After: 1`.
    pub rate_limit_share: f64,
    /// Share of calls whose connection is reset without any answer.
    pub reset_share: f64,
    /// For cancel calls, errors, timeouts and resets fire after the cancel took effect (the
    /// ambiguous case reconciliation must handle). A `429` always means nothing was done.
    pub after_cancel: bool,
}

/// Parses a share (`0` to `1`), for command-line options.
pub fn parse_share(text: &str) -> Result<f64, String> {
    let share: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!("`{text}` is not between 0 and 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_must_lie_between_zero_and_one() {
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert_eq!(parse_share("1"), Ok(1.0));
        assert!(parse_share("1.5").is_err());
        assert!(parse_share("-0.1").is_err());
        assert!(parse_share("NaN").is_err());
        assert!(parse_share("lots").is_err());
    }

    #[test]
    fn debug_output_hides_the_credentials() {
        let debug = format!("{:?}", SimConfig::default());
        assert!(
            !debug.contains("prk_sim") && !debug.contains("sim-token"),
            "{debug}"
        );
    }
}
