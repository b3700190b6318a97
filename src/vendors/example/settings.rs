//! Example Sign's keys in `[vendors.NAME]`: the API token and the pace signgate keeps below
//! Example Sign's documented limit of 120 calls a minute per token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::client::ExampleSign;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::settings::{
    account_key, parse_keys, positive, secret, RateLimit, VendorSettings,
};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &["token", "requests_per_minute"];

/// Example Sign's own settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleSettings {
    /// The API token (Bearer).
    pub token: Option<SecretString>,
    /// Most calls (cancels and status reads) in any 60-second span (default 100).
    pub requests_per_minute: Option<u32>,
}

impl ExampleSettings {
    /// Parses and checks the table's Example Sign keys.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let mut settings: Self = parse_keys(name, table)?;
        settings.token = secret(settings.token);
        positive(
            name,
            "requests_per_minute",
            u64::from(settings.requests_per_minute()),
        )?;
        Ok(settings)
    }

    /// Calls allowed in any 60 s: a margin below the documented 120.
    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute.unwrap_or(100)
    }
}

impl fmt::Debug for ExampleSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExampleSettings")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("requests_per_minute", &self.requests_per_minute)
            .finish_non_exhaustive()
    }
}

impl KindConfig for ExampleSettings {
    fn has_credentials(&self) -> bool {
        self.token.is_some()
    }

    // Example Sign documents 120 calls a minute per token; without a token it is never called.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let limit = |token| RateLimit {
            key: account_key("example", token),
            calls: self.requests_per_minute(),
            window: Duration::from_secs(60),
        };
        self.token.iter().map(limit).collect()
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(ExampleSign::new(settings, self))
    }
}
