//! `VendorSettings`: the keys every `[vendors.NAME]` table has (timeouts, concurrency,
//! attempts, breaker), and the two-step parse that hands the rest of the table to its kind.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::kind::{Kind, KindConfig};
use super::KINDS;
use crate::settings::SettingsError;

/// One `[vendors.NAME]` table, parsed: the shared keys here, the kind's own in `config`.
#[derive(Clone)]
pub struct VendorSettings {
    /// The vendor's kind.
    pub kind: &'static dyn Kind,
    /// The vendor API's base URL (`base_url`, or the kind's `KindConfig::default_base_url`).
    pub base_url: String,
    /// Total timeout of one call, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Timeout for opening a connection, in milliseconds.
    pub connect_timeout_ms: Option<u64>,
    /// Calls in flight across the process.
    pub max_concurrency: Option<usize>,
    /// Cancel calls per document within one request.
    pub max_attempts: Option<u32>,
    /// Consecutive failures that open the breaker.
    pub breaker_failures: Option<u32>,
    /// Open time before a probe, in milliseconds.
    pub breaker_cooldown_ms: Option<u64>,
    /// The kind's own settings (credentials and their limits).
    pub config: Arc<dyn KindConfig>,
}

/// The shared keys, as read (`kind` was taken out before).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shared {
    base_url: Option<String>,
    timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    max_concurrency: Option<usize>,
    max_attempts: Option<u32>,
    breaker_failures: Option<u32>,
    breaker_cooldown_ms: Option<u64>,
}

/// The keys every vendor has, besides `kind`.
const SHARED_KEYS: [&str; 7] = [
    "base_url",
    "timeout_ms",
    "connect_timeout_ms",
    "max_concurrency",
    "max_attempts",
    "breaker_failures",
    "breaker_cooldown_ms",
];

impl fmt::Debug for VendorSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorSettings")
            .field("kind", &self.kind.name())
            .field("base_url", &self.base_url)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_concurrency", &self.max_concurrency)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl VendorSettings {
    /// Total timeout of one vendor call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(8000))
    }

    /// Timeout for opening a connection (never longer than the call's total timeout).
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.unwrap_or(2000)).min(self.timeout())
    }

    /// Most calls in flight to this vendor across the process.
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
            .unwrap_or_else(|| self.kind.default_max_concurrency())
    }

    /// Most cancel calls per document within one request.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts.unwrap_or(3)
    }

    /// Consecutive failures that open the circuit breaker.
    pub fn breaker_failures(&self) -> u32 {
        self.breaker_failures.unwrap_or(5)
    }

    /// How long the breaker stays open before a probe (before jitter).
    pub fn breaker_cooldown(&self) -> Duration {
        Duration::from_millis(self.breaker_cooldown_ms.unwrap_or(10_000))
    }

    /// Whether the credentials needed to cancel are present.
    pub fn has_credentials(&self) -> bool {
        self.config.has_credentials()
    }

    /// The vendor's rate limits for this account, one per window it counts in.
    pub fn rate_limits(&self) -> Vec<RateLimit> {
        self.config.rate_limits()
    }
}

/// A vendor's rate limit: at most `calls` in any `window`, for every holder of `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// The account the vendor counts against: the vendor and a SHA-256 of its credential (never
    /// the credential), so two vendor tables with the same account share one limit.
    pub key: String,
    /// Most calls in any `window`.
    pub calls: u32,
    /// The span the vendor counts in (whole seconds).
    pub window: Duration,
}

/// `VENDOR:` and the first 16 bytes of the credential's SHA-256, in hex.
pub fn account_key(vendor: &str, credential: &SecretString) -> String {
    let digest = Sha256::digest(credential.expose_secret().as_bytes());
    format!("{vendor}:{}", hex::encode(&digest[..16]))
}

/// A secret set to the empty string counts as not set (an empty variable in a manifest).
pub fn secret(value: Option<SecretString>) -> Option<SecretString> {
    value.filter(|s| !s.expose_secret().is_empty())
}

/// Deserializes a kind's own keys; errors name the key as `vendors.<name>.<key>`.
pub fn parse_keys<T: DeserializeOwned>(
    name: &str,
    table: config::Value,
) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize(table).map_err(|e| {
        let path = e.path().to_string();
        let key = match path.as_str() {
            "." | "" => format!("vendors.{name}"),
            path => format!("vendors.{name}.{path}"),
        };
        SettingsError::at(&key, e.into_inner())
    })
}

/// Refuses 0 for `vendors.<name>.<key>`.
pub fn positive(name: &str, key: &str, value: u64) -> Result<(), SettingsError> {
    if value == 0 {
        return Err(SettingsError::at(
            &format!("vendors.{name}.{key}"),
            "must be greater than 0",
        ));
    }
    Ok(())
}

/// Parses the `[vendors.NAME]` table `table`: its kind, the shared keys, then the kind's own.
pub fn parse(
    name: &str,
    table: config::Value,
    deadline_ms: u64,
) -> Result<VendorSettings, SettingsError> {
    let at = |key: &str| format!("vendors.{name}.{key}");
    let mut fields: BTreeMap<String, config::Value> = table
        .into_table()
        .map_err(|e| SettingsError::at(&format!("vendors.{name}"), e))?
        .into_iter()
        .collect();
    let kind_name = fields
        .remove("kind")
        .ok_or_else(|| SettingsError::at(&format!("vendors.{name}"), "missing field `kind`"))?
        .into_string()
        .map_err(|e| SettingsError::at(&at("kind"), e))?;
    let kind = *KINDS
        .iter()
        .find(|k| k.name() == kind_name)
        .ok_or_else(|| SettingsError::at(&at("kind"), unknown_kind(&kind_name)))?;
    let (own, shared): (BTreeMap<_, _>, BTreeMap<_, _>) = fields
        .into_iter()
        .partition(|(key, _)| kind.keys().contains(&key.as_str()));
    if let Some(key) = shared.keys().find(|k| !SHARED_KEYS.contains(&k.as_str())) {
        return Err(foreign_key(name, kind, key));
    }
    let common: Shared = parse_keys(name, table_of(shared))?;
    let config = kind.config(name, table_of(own))?;
    let base_url = common
        .base_url
        .or_else(|| config.default_base_url())
        .ok_or_else(|| SettingsError::at(&format!("vendors.{name}"), "missing field `base_url`"))?;
    let settings = VendorSettings {
        kind,
        base_url,
        timeout_ms: common.timeout_ms,
        connect_timeout_ms: common.connect_timeout_ms,
        max_concurrency: common.max_concurrency,
        max_attempts: common.max_attempts,
        breaker_failures: common.breaker_failures,
        breaker_cooldown_ms: common.breaker_cooldown_ms,
        config,
    };
    validate(name, &settings, deadline_ms)?;
    Ok(settings)
}

fn table_of(fields: BTreeMap<String, config::Value>) -> config::Value {
    config::Value::new(None, config::ValueKind::Table(fields.into_iter().collect()))
}

fn unknown_kind(kind: &str) -> String {
    let known: Vec<String> = KINDS.iter().map(|k| format!("`{}`", k.name())).collect();
    format!(
        "unknown kind `{kind}`, expected one of {}",
        known.join(", ")
    )
}

/// A key that is neither shared nor the kind's own: another kind's key, or a typo.
fn foreign_key(name: &str, kind: &dyn Kind, key: &str) -> SettingsError {
    if KINDS.iter().any(|k| k.keys().contains(&key)) {
        return SettingsError::at(
            &format!("vendors.{name}.{key}"),
            format!("is not a key of a vendor of kind {}", kind.name()),
        );
    }
    let mut expected: Vec<&str> = SHARED_KEYS.to_vec();
    expected.extend(kind.keys());
    SettingsError::at(
        &format!("vendors.{name}"),
        format!(
            "unknown field `{key}`, expected one of `kind`, `{}`",
            expected.join("`, `")
        ),
    )
}

fn validate(name: &str, v: &VendorSettings, deadline_ms: u64) -> Result<(), SettingsError> {
    let key = |field: &str| format!("vendors.{name}.{field}");
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid_name {
        return Err(SettingsError::at(
            &format!("vendors.{name}"),
            "a vendor name must be lower-case letters, digits, _ or -",
        ));
    }
    let url =
        reqwest::Url::parse(&v.base_url).map_err(|e| SettingsError::at(&key("base_url"), e))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SettingsError::at(
            &key("base_url"),
            "must be an http or https URL",
        ));
    }
    if v.timeout().as_millis() as u64 >= deadline_ms {
        return Err(SettingsError::at(
            &key("timeout_ms"),
            format!("must be below server.request_timeout_ms ({deadline_ms})"),
        ));
    }
    positive(name, "timeout_ms", v.timeout().as_millis() as u64)?;
    positive(
        name,
        "connect_timeout_ms",
        v.connect_timeout_ms.unwrap_or(1),
    )?;
    for (field, value) in [
        ("connect_timeout_ms", v.connect_timeout_ms),
        ("breaker_cooldown_ms", v.breaker_cooldown_ms),
    ] {
        if value.is_some_and(|ms| ms > crate::settings::MAX_DURATION_MS) {
            return Err(SettingsError::at(
                &key(field),
                format!("must be at most {}", crate::settings::MAX_DURATION_MS),
            ));
        }
    }
    positive(name, "max_concurrency", v.max_concurrency() as u64)?;
    positive(name, "max_attempts", u64::from(v.max_attempts()))?;
    positive(name, "breaker_failures", u64::from(v.breaker_failures()))?;
    Ok(())
}
