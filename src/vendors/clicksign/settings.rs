//! Clicksign's keys in `[vendors.NAME]`: the access token and the pace signgate keeps below
//! Clicksign's limit of 50 calls per 10 seconds per account (20 in the sandbox).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::client::Clicksign;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::settings::{
    account_key, parse_keys, positive, secret, RateLimit, VendorSettings,
};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &["access_token", "requests_per_10s"];

/// Most calls in 10 s when `requests_per_10s` is not set: below production's 50. The sandbox
/// allows 20, so an operator pointing signgate at it sets a lower pace.
const DEFAULT_REQUESTS_PER_10S: u32 = 45;

/// The span Clicksign counts calls in.
const WINDOW: Duration = Duration::from_secs(10);

/// Clicksign's own settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClicksignSettings {
    /// The account's access token, sent as `Authorization` as is (no scheme).
    pub access_token: Option<SecretString>,
    /// Most calls (cancels and status reads) in any 10-second span (default 45).
    pub requests_per_10s: Option<u32>,
}

impl ClicksignSettings {
    /// Parses and checks the table's Clicksign keys.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let mut settings: Self = parse_keys(name, table)?;
        settings.access_token = secret(settings.access_token);
        positive(
            name,
            "requests_per_10s",
            u64::from(settings.requests_per_10s()),
        )?;
        Ok(settings)
    }

    /// Calls allowed in any 10 s.
    pub fn requests_per_10s(&self) -> u32 {
        self.requests_per_10s.unwrap_or(DEFAULT_REQUESTS_PER_10S)
    }
}

impl fmt::Debug for ClicksignSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClicksignSettings")
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "[redacted]"),
            )
            .field("requests_per_10s", &self.requests_per_10s)
            .finish_non_exhaustive()
    }
}

impl KindConfig for ClicksignSettings {
    fn has_credentials(&self) -> bool {
        self.access_token.is_some()
    }

    // Clicksign counts every API call (cancels and status reads alike) per account in 10 s;
    // it documents no other window. Without a token the vendor is never called.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let limit = |token| RateLimit {
            key: account_key("clicksign", token),
            calls: self.requests_per_10s(),
            window: WINDOW,
        };
        self.access_token.iter().map(limit).collect()
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(Clicksign::new(settings, self))
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{Settings, SettingsError};

    fn settings_with(env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut vars = vec![(
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        )];
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Settings::from_sources(None, None, vars.into_iter().collect())
    }

    #[test]
    fn the_defaults_point_at_production_and_wait_for_a_token() {
        let env = [(
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        )];
        let settings = Settings::from_sources(None, Some("[vendors.clicksign]\n"), env.into())
            .expect("the defaults are valid");

        let vendor = &settings.vendors["clicksign"];
        assert_eq!(vendor.base_url, "https://app.clicksign.com/api/v3");
        assert!(!vendor.has_credentials());
        assert!(vendor.rate_limits().is_empty());
    }

    #[test]
    fn a_token_turns_it_on_with_a_pace_of_45_calls_in_10_seconds_and_never_prints() {
        let token = "secret-clicksign-token";
        let env = [("SIGNGATE__VENDORS__CLICKSIGN__ACCESS_TOKEN", token)];

        let settings = settings_with(&env).expect("a valid token");

        let vendor = &settings.vendors["clicksign"];
        assert!(vendor.has_credentials());
        let limits = vendor.rate_limits();
        let [limit] = &limits[..] else {
            panic!("one documented window: {limits:?}");
        };
        assert_eq!(limit.calls, 45);
        assert_eq!(limit.window.as_secs(), 10);
        assert!(limit.key.starts_with("clicksign:"), "{}", limit.key);
        assert!(!limit.key.contains(token));
        let printed = format!("{vendor:?}");
        assert!(!printed.contains(token), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn a_pace_of_zero_is_refused_by_name() {
        let env = [("SIGNGATE__VENDORS__CLICKSIGN__REQUESTS_PER_10S", "0")];

        let error = settings_with(&env).expect_err("zero calls");

        assert_eq!(
            error.to_string(),
            "vendors.clicksign.requests_per_10s: must be greater than 0"
        );
    }
}
