//! Auco's keys in `[vendors.NAME]`: the private key that cancels, the public key that reads
//! status, and the batch size.

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;

use super::client::Auco;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::settings::{parse_keys, positive, secret, RateLimit, VendorSettings};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &["private_key", "public_key", "batch_size"];

/// Auco's own settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AucoSettings {
    /// The private key (`prk_...`) used to cancel.
    pub private_key: Option<SecretString>,
    /// The public key (`puk_...`) used to read status; without it there is no status read.
    pub public_key: Option<SecretString>,
    /// Most codes per cancel call (default 50).
    pub batch_size: Option<usize>,
}

impl AucoSettings {
    /// Parses and checks the table's Auco keys.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let mut settings: Self = parse_keys(name, table)?;
        settings.private_key = secret(settings.private_key);
        settings.public_key = secret(settings.public_key);
        positive(name, "batch_size", settings.batch_size() as u64)?;
        Ok(settings)
    }

    /// Codes per cancel call.
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(50)
    }
}

impl fmt::Debug for AucoSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("AucoSettings")
            .field("private_key", &shown(&self.private_key))
            .field("public_key", &shown(&self.public_key))
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl KindConfig for AucoSettings {
    fn has_credentials(&self) -> bool {
        self.private_key.is_some()
    }

    // Auco documents no rate limit; `max_concurrency` bounds it.
    fn rate_limits(&self) -> Vec<RateLimit> {
        Vec::new()
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(Auco::new(settings, self))
    }
}
