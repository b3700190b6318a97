//! DocuSign's keys in `[vendors.NAME]`: the JWT grant's integration key, user and RSA key (or a
//! pasted access token), the account, the OAuth host, and the two paces signgate keeps below
//! DocuSign's limits (3,000 calls an hour and 500 in 30 s per account).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::EncodingKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::client::DocuSign;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::learned_host::parse_allowed;
use crate::vendors::settings::{
    account_key, parse_keys, positive, secret, RateLimit, VendorSettings,
};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &[
    "integration_key",
    "user_id",
    "account_id",
    "private_key",
    "access_token",
    "oauth_base_url",
    "requests_per_hour",
    "burst_per_30s",
    "allowed_hosts",
];

/// The production OAuth service; the demo (developer) one is `https://account-d.docusign.com`.
pub const PRODUCTION_OAUTH: &str = "https://account.docusign.com";

/// DocuSign's own settings, as the table spells them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    integration_key: Option<String>,
    user_id: Option<String>,
    account_id: Option<String>,
    private_key: Option<SecretString>,
    access_token: Option<SecretString>,
    oauth_base_url: Option<String>,
    requests_per_hour: Option<u32>,
    burst_per_30s: Option<u32>,
    #[serde(default, deserialize_with = "crate::settings::list_or_commas")]
    allowed_hosts: Vec<String>,
}

/// DocuSign's own settings, parsed and checked.
#[derive(Clone)]
pub struct DocuSignSettings {
    /// The app's integration key (client ID): the JWT's `iss`.
    pub integration_key: Option<String>,
    /// The GUID of the user signgate acts as: the JWT's `sub`.
    pub user_id: Option<String>,
    /// The account whose envelopes are voided; unset, the user's default account.
    pub account_id: Option<String>,
    /// The app's RSA private key (PEM), parsed at start-up.
    pub private_key: Option<SigningKey>,
    /// An access token pasted instead of the JWT grant (it cannot be renewed).
    pub access_token: Option<SecretString>,
    /// The OAuth service (`https://account.docusign.com`, or `-d` for demo).
    pub oauth_base_url: String,
    /// Most calls in any hour (default 2,800; DocuSign counts 3,000).
    pub requests_per_hour: Option<u32>,
    /// Most calls in any 30 s (default 450; DocuSign counts 500).
    pub burst_per_30s: Option<u32>,
    /// Hosts besides `*.docusign.net` and the OAuth host's domain that userinfo's `base_uri`
    /// may name (`learned_host`).
    pub allowed_hosts: Vec<String>,
}

/// An RSA private key that parsed: the PEM text is dropped, only the key is kept.
#[derive(Clone)]
pub struct SigningKey(pub(super) Arc<EncodingKey>);

impl DocuSignSettings {
    /// Parses and checks the table's DocuSign keys; a private key that is not an RSA PEM is
    /// an error naming `vendors.<name>.private_key`.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let raw: Raw = parse_keys(name, table)?;
        let at = |key: &str| format!("vendors.{name}.{key}");
        let private_key = secret(raw.private_key)
            .map(|pem| {
                EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
                    .map(|key| SigningKey(Arc::new(key)))
                    .map_err(|e| {
                        SettingsError::at(&at("private_key"), format!("is not an RSA PEM key: {e}"))
                    })
            })
            .transpose()?;
        let oauth_base_url = raw
            .oauth_base_url
            .unwrap_or_else(|| PRODUCTION_OAUTH.to_owned())
            .trim_end_matches('/')
            .to_owned();
        audience(&oauth_base_url).map_err(|e| SettingsError::at(&at("oauth_base_url"), e))?;
        let settings = Self {
            integration_key: raw.integration_key.filter(|k| !k.is_empty()),
            user_id: raw.user_id.filter(|u| !u.is_empty()),
            account_id: raw.account_id.filter(|a| !a.is_empty()),
            private_key,
            access_token: secret(raw.access_token),
            oauth_base_url,
            requests_per_hour: raw.requests_per_hour,
            burst_per_30s: raw.burst_per_30s,
            allowed_hosts: parse_allowed(name, raw.allowed_hosts)?,
        };
        positive(
            name,
            "requests_per_hour",
            settings.requests_per_hour().into(),
        )?;
        positive(name, "burst_per_30s", settings.burst_per_30s().into())?;
        Ok(settings)
    }

    /// Calls allowed in any hour.
    pub fn requests_per_hour(&self) -> u32 {
        self.requests_per_hour.unwrap_or(2800)
    }

    /// Calls allowed in any 30 s.
    pub fn burst_per_30s(&self) -> u32 {
        self.burst_per_30s.unwrap_or(450)
    }

    /// Whether the JWT grant can be made: integration key, user and private key.
    pub fn has_jwt_grant(&self) -> bool {
        self.integration_key.is_some() && self.user_id.is_some() && self.private_key.is_some()
    }

    /// The JWT's `aud`: the OAuth service's bare host (with its port, if it names one).
    pub fn audience(&self) -> String {
        audience(&self.oauth_base_url).unwrap_or_default()
    }

    /// What DocuSign counts calls against: the account, else the user of the grant, else
    /// the pasted token (never the credential itself: `account_key` hashes it).
    fn account(&self) -> Option<SecretString> {
        let id = match (&self.account_id, &self.integration_key, &self.user_id) {
            (Some(account), _, _) => account.clone(),
            (None, Some(key), Some(user)) if self.has_jwt_grant() => format!("{key}/{user}"),
            _ => self.access_token.as_ref()?.expose_secret().to_owned(),
        };
        Some(SecretString::from(id))
    }
}

/// The bare host (`account-d.docusign.com`, `127.0.0.1:9911`) of an OAuth base URL.
fn audience(oauth_base_url: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(oauth_base_url).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    let host = url.host_str().ok_or("must name a host")?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

impl fmt::Debug for DocuSignSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| set.then_some("[redacted]");
        f.debug_struct("DocuSignSettings")
            .field("integration_key", &self.integration_key)
            .field("user_id", &self.user_id)
            .field("account_id", &self.account_id)
            .field("private_key", &redacted(self.private_key.is_some()))
            .field("access_token", &redacted(self.access_token.is_some()))
            .field("oauth_base_url", &self.oauth_base_url)
            .field("requests_per_hour", &self.requests_per_hour)
            .field("burst_per_30s", &self.burst_per_30s)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

impl KindConfig for DocuSignSettings {
    fn has_credentials(&self) -> bool {
        self.has_jwt_grant() || self.access_token.is_some()
    }

    // No `base_url`: the OAuth host, which the client reads as "discover the account's REST
    // host through /oauth/userinfo".
    fn default_base_url(&self) -> Option<String> {
        Some(self.oauth_base_url.clone())
    }

    // DocuSign counts every call of an account in the hour (3,000) and in 30 s (500); without
    // credentials the vendor is never called, so it needs no limit.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let Some(account) = self.account().filter(|_| self.has_credentials()) else {
            return Vec::new();
        };
        let key = account_key("docusign", &account);
        vec![
            RateLimit {
                key: key.clone(),
                calls: self.requests_per_hour(),
                window: Duration::from_secs(3600),
            },
            RateLimit {
                key,
                calls: self.burst_per_30s(),
                window: Duration::from_secs(30),
            },
        ]
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(DocuSign::new(settings, self))
    }
}
