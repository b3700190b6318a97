//! ZapSign's keys in `[vendors.NAME]`: the API token and the pace signgate keeps below
//! ZapSign's limit of 500 calls a minute per token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::client::ZapSign;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::settings::{
    account_key, parse_keys, positive, secret, RateLimit, VendorSettings,
};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &["api_token", "requests_per_minute"];

/// ZapSign's own settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZapSignSettings {
    /// The API token (Bearer).
    pub api_token: Option<SecretString>,
    /// Most calls (cancels and status reads) in any 60-second span (default 450).
    pub requests_per_minute: Option<u32>,
}

impl ZapSignSettings {
    /// Parses and checks the table's ZapSign keys.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let mut settings: Self = parse_keys(name, table)?;
        settings.api_token = secret(settings.api_token);
        positive(
            name,
            "requests_per_minute",
            u64::from(settings.requests_per_minute()),
        )?;
        Ok(settings)
    }

    /// Calls allowed in any 60 s.
    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute.unwrap_or(450)
    }
}

impl fmt::Debug for ZapSignSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZapSignSettings")
            .field("api_token", &self.api_token.as_ref().map(|_| "[redacted]"))
            .field("requests_per_minute", &self.requests_per_minute)
            .finish_non_exhaustive()
    }
}

impl KindConfig for ZapSignSettings {
    fn has_credentials(&self) -> bool {
        self.api_token.is_some()
    }

    // ZapSign counts 500 calls a minute per API token, in fixed windows; without a token the
    // vendor is never called, so it needs no limit.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let limit = |token| RateLimit {
            key: account_key("zapsign", token),
            calls: self.requests_per_minute(),
            window: Duration::from_secs(60),
        };
        self.api_token.iter().map(limit).collect()
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(ZapSign::new(settings, self))
    }
}
