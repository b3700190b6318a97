//! D4Sign's keys in `[vendors.NAME]`: the API token and crypt key (both sent as query
//! parameters), and the pace signgate keeps, D4Sign documenting no rate limit.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::client::D4Sign;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::settings::{
    account_key, parse_keys, positive, secret, RateLimit, VendorSettings,
};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &["token_api", "crypt_key", "requests_per_minute"];

/// Most calls a minute when `requests_per_minute` is not set. D4Sign documents no limit: one
/// call a second is a conservative pace for a vendor whose throttling is unknown.
pub(super) const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;

/// D4Sign's own settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct D4SignSettings {
    /// The account's API token (`tokenAPI`).
    pub token_api: Option<SecretString>,
    /// The account's crypt key (`cryptKey`), sent with the token on every call.
    pub crypt_key: Option<SecretString>,
    /// Most calls (cancels and status reads) in any 60-second span (default 60).
    pub requests_per_minute: Option<u32>,
}

impl D4SignSettings {
    /// Parses and checks the table's D4Sign keys: the token and the crypt key come together.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let mut settings: Self = parse_keys(name, table)?;
        settings.token_api = secret(settings.token_api);
        settings.crypt_key = secret(settings.crypt_key);
        positive(
            name,
            "requests_per_minute",
            u64::from(settings.requests_per_minute()),
        )?;
        match (&settings.token_api, &settings.crypt_key) {
            (Some(_), None) => Err(SettingsError::at(
                &format!("vendors.{name}.crypt_key"),
                "must be set with token_api (D4Sign needs both on every call)",
            )),
            (None, Some(_)) => Err(SettingsError::at(
                &format!("vendors.{name}.token_api"),
                "must be set with crypt_key (D4Sign needs both on every call)",
            )),
            (Some(_), Some(_)) | (None, None) => Ok(settings),
        }
    }

    /// Calls allowed in any 60 s.
    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute
            .unwrap_or(DEFAULT_REQUESTS_PER_MINUTE)
    }
}

impl fmt::Debug for D4SignSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("D4SignSettings")
            .field("token_api", &redacted(&self.token_api))
            .field("crypt_key", &redacted(&self.crypt_key))
            .field("requests_per_minute", &self.requests_per_minute)
            .finish()
    }
}

impl KindConfig for D4SignSettings {
    fn has_credentials(&self) -> bool {
        self.token_api.is_some() && self.crypt_key.is_some()
    }

    // D4Sign documents no rate limit; signgate still paces every account (API token) so that an
    // undocumented throttle is met gently. Without a token the vendor is never called.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let limit = |token| RateLimit {
            key: account_key("d4sign", token),
            calls: self.requests_per_minute(),
            window: Duration::from_secs(60),
        };
        self.token_api.iter().map(limit).collect()
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(D4Sign::new(settings, self))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::settings::Settings;

    /// Settings with an empty `[vendors.d4sign]` table (D4Sign on with its defaults) and `vars`.
    fn settings_on(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let mut env: HashMap<String, String> = HashMap::from([(
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        )]);
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let overlay = "[vendors.zapsign]\n[vendors.d4sign]\n";
        Settings::from_sources(None, Some(overlay), env).map_err(|e| e.to_string())
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let mut env: HashMap<String, String> = HashMap::from([(
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        )]);
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::from_sources(None, None, env).map_err(|e| e.to_string())
    }

    #[test]
    fn the_defaults_point_at_production_without_credentials() {
        let settings = settings_on(&[]).expect("the defaults are valid");
        let d4sign = &settings.vendors["d4sign"];

        assert_eq!(d4sign.base_url, "https://secure.d4sign.com.br/api/v1");
        assert!(!d4sign.has_credentials());
        assert!(d4sign.rate_limits().is_empty());
    }

    #[test]
    fn a_token_without_its_crypt_key_is_refused_naming_the_missing_key() {
        let error = settings(&[("SIGNGATE__VENDORS__D4SIGN__TOKEN_API", "t")])
            .expect_err("a token alone is refused");

        assert!(error.contains("vendors.d4sign.crypt_key"), "{error}");
    }

    #[test]
    fn the_rate_limit_is_keyed_by_a_digest_of_the_token_and_debug_shows_no_secret() {
        let settings = settings(&[
            ("SIGNGATE__VENDORS__D4SIGN__TOKEN_API", "token-secret-1"),
            ("SIGNGATE__VENDORS__D4SIGN__CRYPT_KEY", "crypt-secret-1"),
            ("SIGNGATE__VENDORS__D4SIGN__REQUESTS_PER_MINUTE", "30"),
        ])
        .expect("valid settings");
        let d4sign = &settings.vendors["d4sign"];

        let limits = d4sign.rate_limits();
        let debug = format!("{d4sign:?}");

        assert_eq!(limits.len(), 1);
        assert_eq!(limits[0].calls, 30);
        assert!(limits[0].key.starts_with("d4sign:"));
        for secret in ["token-secret-1", "crypt-secret-1"] {
            assert!(!limits[0].key.contains(secret));
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn with_zapsign_and_d4sign_configured_the_uuid_rule_names_both() {
        let settings = settings_on(&[]).expect("the defaults are valid");

        let uuid_rule = settings
            .routing
            .rules
            .iter()
            .find(|r| r.vendors.contains(&"d4sign".to_owned()))
            .expect("a default rule names d4sign");

        assert_eq!(uuid_rule.vendors[0], "zapsign");
    }
}
