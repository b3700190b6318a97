//! Yousign's keys in `[vendors.NAME]`: the API key and the two paces signgate keeps below
//! Yousign's limits of 60 calls a minute and 1,200 an hour (production; the sandbox allows 30
//! and 200: <https://developers.yousign.com/docs/limits-new>).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::client::Yousign;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::settings::{
    account_key, parse_keys, positive, secret, RateLimit, VendorSettings,
};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &["api_key", "requests_per_minute", "requests_per_hour"];

/// Most calls a minute when `requests_per_minute` is not set: below production's 60.
const DEFAULT_REQUESTS_PER_MINUTE: u32 = 54;

/// Most calls an hour when `requests_per_hour` is not set: below production's 1,200.
const DEFAULT_REQUESTS_PER_HOUR: u32 = 1080;

/// Yousign's own settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YousignSettings {
    /// The API key (Bearer); each environment (sandbox, production) has its own.
    pub api_key: Option<SecretString>,
    /// Most calls (cancels and status reads) in any 60-second span (default 54).
    pub requests_per_minute: Option<u32>,
    /// Most calls in any hour (default 1,080).
    pub requests_per_hour: Option<u32>,
}

impl YousignSettings {
    /// Parses and checks the table's Yousign keys.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let mut settings: Self = parse_keys(name, table)?;
        settings.api_key = secret(settings.api_key);
        positive(
            name,
            "requests_per_minute",
            settings.requests_per_minute().into(),
        )?;
        positive(
            name,
            "requests_per_hour",
            settings.requests_per_hour().into(),
        )?;
        Ok(settings)
    }

    /// Calls allowed in any 60 s.
    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute
            .unwrap_or(DEFAULT_REQUESTS_PER_MINUTE)
    }

    /// Calls allowed in any hour.
    pub fn requests_per_hour(&self) -> u32 {
        self.requests_per_hour.unwrap_or(DEFAULT_REQUESTS_PER_HOUR)
    }
}

impl fmt::Debug for YousignSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YousignSettings")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("requests_per_minute", &self.requests_per_minute)
            .field("requests_per_hour", &self.requests_per_hour)
            .finish()
    }
}

impl KindConfig for YousignSettings {
    fn has_credentials(&self) -> bool {
        self.api_key.is_some()
    }

    // Yousign counts every call of an API key against both windows at once; without a key the
    // vendor is never called, so it needs no limit.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let Some(api_key) = &self.api_key else {
            return Vec::new();
        };
        let key = account_key("yousign", api_key);
        vec![
            RateLimit {
                key: key.clone(),
                calls: self.requests_per_minute(),
                window: Duration::from_secs(60),
            },
            RateLimit {
                key,
                calls: self.requests_per_hour(),
                window: Duration::from_secs(3600),
            },
        ]
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(Yousign::new(settings, self))
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{Settings, SettingsError};

    fn settings_with(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut env = vec![(
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        )];
        env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Settings::from_sources(None, None, env.into_iter().collect())
    }

    #[test]
    fn the_key_alone_turns_yousign_on_with_both_windows_paced_and_the_key_redacted() {
        // Arrange, act
        let settings = settings_with(&[("SIGNGATE__VENDORS__YOUSIGN__API_KEY", "ys-secret-key")])
            .expect("valid settings");

        // Assert
        let vendor = &settings.vendors["yousign"];
        assert!(vendor.has_credentials());
        assert_eq!(vendor.base_url, "https://api.yousign.app/v3");
        let limits = vendor.rate_limits();
        let windows: Vec<(u32, u64)> = limits
            .iter()
            .map(|l| (l.calls, l.window.as_secs()))
            .collect();
        assert_eq!(windows, [(54, 60), (1080, 3600)]);
        assert!(limits.iter().all(|l| l.key.starts_with("yousign:")));
        assert!(limits.iter().all(|l| !l.key.contains("ys-secret-key")));
        let printed = format!("{vendor:?}");
        assert!(!printed.contains("ys-secret-key"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn with_an_empty_table_yousign_is_on_but_not_callable_and_has_no_limit() {
        // Arrange, act
        let env = [(
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        )];
        let settings = Settings::from_sources(None, Some("[vendors.yousign]\n"), env.into())
            .expect("the defaults are valid");

        // Assert
        let vendor = &settings.vendors["yousign"];
        assert!(!vendor.has_credentials());
        assert!(vendor.rate_limits().is_empty());
    }

    #[test]
    fn a_zero_pace_is_refused_by_name() {
        // Arrange
        let key = ("SIGNGATE__VENDORS__YOUSIGN__API_KEY", "k");

        // Act
        let minute = settings_with(&[
            key,
            ("SIGNGATE__VENDORS__YOUSIGN__REQUESTS_PER_MINUTE", "0"),
        ]);
        let hour = settings_with(&[key, ("SIGNGATE__VENDORS__YOUSIGN__REQUESTS_PER_HOUR", "0")]);

        // Assert
        assert_eq!(
            minute.expect_err("zero").to_string(),
            "vendors.yousign.requests_per_minute: must be greater than 0"
        );
        assert_eq!(
            hour.expect_err("zero").to_string(),
            "vendors.yousign.requests_per_hour: must be greater than 0"
        );
    }
}
