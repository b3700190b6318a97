//! Acrobat Sign's keys in `[vendors.NAME]`: the OAuth app (`client_id`, `client_secret`), the
//! refresh token of the account's consent, the access point that refreshes it, and an optional
//! pace (Acrobat Sign throttles dynamically, by service level, without a published number).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::client::AdobeSign;
use crate::settings::SettingsError;
use crate::vendors::kind::KindConfig;
use crate::vendors::learned_host::parse_allowed;
use crate::vendors::settings::{
    account_key, parse_keys, positive, secret, RateLimit, VendorSettings,
};
use crate::vendors::Vendor;

/// The keys, as the table spells them.
pub(super) const KEYS: &[&str] = &[
    "api_access_point",
    "client_id",
    "client_secret",
    "refresh_token",
    "requests_per_minute",
    "allowed_hosts",
];

/// Acrobat Sign's own settings, as the table spells them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    api_access_point: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    refresh_token: Option<SecretString>,
    requests_per_minute: Option<u32>,
    #[serde(default, deserialize_with = "crate::settings::list_or_commas")]
    allowed_hosts: Vec<String>,
}

/// Acrobat Sign's own settings, parsed and checked.
#[derive(Clone)]
pub struct AdobeSignSettings {
    /// Where tokens are refreshed (`{api_access_point}oauth/v2/refresh`), as the OAuth consent
    /// returned it (`https://api.na1.adobesign.com/`); unset, the vendor's `base_url`.
    pub api_access_point: Option<String>,
    /// The OAuth app's application ID.
    pub client_id: Option<String>,
    /// The OAuth app's client secret.
    pub client_secret: Option<SecretString>,
    /// The refresh token of the account's consent (renewed by every use, dead after 60 days
    /// unused).
    pub refresh_token: Option<SecretString>,
    /// Most calls in any 60 s; unset, no pace (Acrobat Sign's throttling is dynamic).
    pub requests_per_minute: Option<u32>,
    /// Hosts besides Acrobat Sign's domains and `base_url`'s domain that `baseUris` may name
    /// (`learned_host`).
    pub allowed_hosts: Vec<String>,
}

impl AdobeSignSettings {
    /// Parses and checks the table's Acrobat Sign keys; an `api_access_point` that is not an
    /// http(s) URL is an error naming the key.
    pub(super) fn parse(name: &str, table: config::Value) -> Result<Self, SettingsError> {
        let raw: Raw = parse_keys(name, table)?;
        let api_access_point = raw.api_access_point.filter(|a| !a.trim().is_empty());
        if let Some(point) = &api_access_point {
            let valid = reqwest::Url::parse(point)
                .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
            if !valid {
                return Err(SettingsError::at(
                    &format!("vendors.{name}.api_access_point"),
                    "must be an http or https URL (the api_access_point of the OAuth consent)",
                ));
            }
        }
        let settings = Self {
            api_access_point,
            client_id: raw.client_id.filter(|c| !c.is_empty()),
            client_secret: secret(raw.client_secret),
            refresh_token: secret(raw.refresh_token),
            requests_per_minute: raw.requests_per_minute,
            allowed_hosts: parse_allowed(name, raw.allowed_hosts)?,
        };
        if let Some(pace) = settings.requests_per_minute {
            positive(name, "requests_per_minute", pace.into())?;
        }
        Ok(settings)
    }

    /// The refresh endpoint's host: `api_access_point`, else `base_url`, without a trailing `/`.
    pub(super) fn token_host(&self, base_url: &str) -> String {
        self.api_access_point
            .as_deref()
            .unwrap_or(base_url)
            .trim_end_matches('/')
            .to_owned()
    }
}

impl fmt::Debug for AdobeSignSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| set.then_some("[redacted]");
        f.debug_struct("AdobeSignSettings")
            .field("api_access_point", &self.api_access_point)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(self.client_secret.is_some()))
            .field("refresh_token", &redacted(self.refresh_token.is_some()))
            .field("requests_per_minute", &self.requests_per_minute)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

impl KindConfig for AdobeSignSettings {
    fn has_credentials(&self) -> bool {
        self.client_id.is_some() && self.client_secret.is_some() && self.refresh_token.is_some()
    }

    // The consent's access point is the account's API host: `base_url` may be left out.
    fn default_base_url(&self) -> Option<String> {
        self.api_access_point
            .as_deref()
            .map(|point| point.trim_end_matches('/').to_owned())
    }

    // Acrobat Sign publishes no number: it throttles by service level and answers 429 with a
    // wait (https://opensource.adobe.com/acrobat-sign/developer_guide/apiusage.html). Only an
    // operator's `requests_per_minute` paces; the account is the app on its access point.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let (Some(calls), Some(client_id)) = (self.requests_per_minute, &self.client_id) else {
            return Vec::new();
        };
        if !self.has_credentials() {
            return Vec::new();
        }
        let point = self.api_access_point.as_deref().unwrap_or_default();
        let account = SecretString::from(format!("{point}|{client_id}"));
        vec![RateLimit {
            key: account_key("adobesign", &account),
            calls,
            window: Duration::from_secs(60),
        }]
    }

    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor> {
        Arc::new(AdobeSign::new(settings, self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<AdobeSignSettings, SettingsError> {
        let table = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), config::Value::from(*v)))
            .collect();
        AdobeSignSettings::parse(
            "adobesign",
            config::Value::new(None, config::ValueKind::Table(table)),
        )
    }

    const CREDENTIALS: [(&str, &str); 3] = [
        ("client_id", "app"),
        ("client_secret", "app-secret"),
        ("refresh_token", "refresh-secret"),
    ];

    #[test]
    fn credentials_need_the_app_and_the_refresh_token_and_empty_ones_count_as_unset() {
        assert!(parse(&CREDENTIALS).expect("valid").has_credentials());
        let empty = [CREDENTIALS[0], CREDENTIALS[1], ("refresh_token", "")];
        assert!(!parse(&empty).expect("valid").has_credentials());
        assert!(!parse(&CREDENTIALS[..2]).expect("valid").has_credentials());
    }

    #[test]
    fn there_is_no_pace_unless_requests_per_minute_is_set_and_its_key_hides_the_secrets() {
        assert!(parse(&CREDENTIALS).expect("valid").rate_limits().is_empty());
        let mut paced = CREDENTIALS.to_vec();
        paced.push(("requests_per_minute", "120"));

        let limits = parse(&paced).expect("valid").rate_limits();

        assert_eq!(limits.len(), 1);
        assert_eq!(
            (limits[0].calls, limits[0].window),
            (120, Duration::from_secs(60))
        );
        assert!(limits[0].key.starts_with("adobesign:"), "{}", limits[0].key);
        assert!(!limits[0].key.contains("app"), "{}", limits[0].key);
    }

    #[test]
    fn a_bad_access_point_or_a_zero_pace_names_its_key() {
        let error = parse(&[("api_access_point", "api.na1.adobesign.com")])
            .expect_err("not a URL")
            .to_string();
        assert!(
            error.contains("vendors.adobesign.api_access_point"),
            "{error}"
        );
        let error = parse(&[("requests_per_minute", "0")])
            .expect_err("zero")
            .to_string();
        assert!(
            error.contains("vendors.adobesign.requests_per_minute"),
            "{error}"
        );
    }

    #[test]
    fn the_token_host_is_the_access_point_else_the_base_url_without_a_slash() {
        let point =
            parse(&[("api_access_point", "https://api.eu1.adobesign.com/")]).expect("valid");
        assert_eq!(
            point.token_host("https://x"),
            "https://api.eu1.adobesign.com"
        );
        let none = parse(&[]).expect("valid");
        assert_eq!(
            none.token_host("https://api.na1.adobesign.com/"),
            "https://api.na1.adobesign.com"
        );
    }
}
