//! Dropbox Sign's keys in `[vendors.NAME]`: the API key and the pace signgate keeps below
//! Dropbox Sign's limit of 100 calls a minute per account.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::client::DropboxSign;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::settings::{
    account_key, parse_keys, positive, secret, RateLimit, VendorSettings,
};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &["api_key", "requests_per_minute"];

/// Most calls a minute when `requests_per_minute` is not set: below the documented 100.
const DEFAULT_REQUESTS_PER_MINUTE: u32 = 90;

/// Dropbox Sign's own settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropboxSignSettings {
    /// The API key (the HTTP Basic user name, with an empty password).
    pub api_key: Option<SecretString>,
    /// Most calls (cancels and status reads) in any 60-second span (default 90).
    pub requests_per_minute: Option<u32>,
}

impl DropboxSignSettings {
    /// Parses and checks the table's Dropbox Sign keys.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let mut settings: Self = parse_keys(name, table)?;
        settings.api_key = secret(settings.api_key);
        positive(
            name,
            "requests_per_minute",
            u64::from(settings.requests_per_minute()),
        )?;
        Ok(settings)
    }

    /// Calls allowed in any 60 s.
    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute
            .unwrap_or(DEFAULT_REQUESTS_PER_MINUTE)
    }
}

impl fmt::Debug for DropboxSignSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropboxSignSettings")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("requests_per_minute", &self.requests_per_minute)
            .finish_non_exhaustive()
    }
}

impl KindConfig for DropboxSignSettings {
    fn has_credentials(&self) -> bool {
        self.api_key.is_some()
    }

    // Dropbox Sign counts 100 calls a minute per account on its standard endpoints (cancel and
    // status read among them); without a key the vendor is never called, so it needs no limit.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let limit = |key| RateLimit {
            key: account_key("dropboxsign", key),
            calls: self.requests_per_minute(),
            window: Duration::from_secs(60),
        };
        self.api_key.iter().map(limit).collect()
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(DropboxSign::new(settings, self))
    }
}
