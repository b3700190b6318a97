//! The simulator's knobs: latency, injected faults, and each vendor's own options.

use std::collections::BTreeMap;

/// One vendor's options, by name, as text (`requests_per_minute` = `500`).
pub type VendorOptions = BTreeMap<String, String>;

/// How the simulator behaves. `Default` gives well-behaved vendors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimConfig {
    /// How long each call waits before it is handled.
    pub latency: Latency,
    /// Which share of calls fail, and how.
    pub faults: Faults,
    /// Treat codes and tokens nobody seeded as in-progress documents (for load tests), instead
    /// of unknown ones.
    pub unknown_in_progress: bool,
    /// Vendor-specific options by vendor name, each set checked by its vendor.
    options: BTreeMap<String, VendorOptions>,
}

impl SimConfig {
    /// Sets option `name` of `vendor` (`zapsign`, `requests_per_minute`, `100`), once the
    /// vendor (in `simulator::vendors()`) accepts it.
    pub fn set_option(&mut self, vendor: &str, name: &str, value: &str) -> Result<(), String> {
        let sim = super::vendors()
            .iter()
            .find(|v| v.name() == vendor)
            .ok_or_else(|| format!("no simulated vendor is called `{vendor}`"))?;
        let mut options = self.vendor_options(vendor).clone();
        options.insert(name.to_owned(), value.to_owned());
        sim.check_options(&options)?;
        self.options.insert(vendor.to_owned(), options);
        Ok(())
    }

    /// The options set for `vendor` (none by default).
    pub fn vendor_options(&self, vendor: &str) -> &VendorOptions {
        static NONE: VendorOptions = BTreeMap::new();
        self.options.get(vendor).unwrap_or(&NONE)
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
    fn an_option_is_refused_unless_its_vendor_knows_it() {
        let mut config = SimConfig::default();
        assert!(config.set_option("nosuchvendor", "x", "1").is_err());
        for vendor in super::super::vendors() {
            assert!(config
                .set_option(vendor.name(), "no_such_option", "1")
                .is_err());
        }
        assert_eq!(config, SimConfig::default());
    }
}
