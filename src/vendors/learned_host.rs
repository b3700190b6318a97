//! Hosts a vendor names in its answers (DocuSign's `base_uri`, Acrobat Sign's
//! `apiAccessPoint`): used only with the configured host's scheme and inside the vendor's own
//! domains, the configured host's domain, or `vendors.NAME.allowed_hosts`. Anything else is
//! refused before a byte is sent to it: a vendor answer (or whoever forged it) must not pick
//! where signgate sends its access token.

use std::fmt;

use reqwest::Url;

use super::http;
use crate::settings::SettingsError;

/// Where a host learned from a vendor may lie, built from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// The configured host's scheme (`https`); a learned host must use the same.
    scheme: String,
    /// The configured host, lower-case, as `Url::host_str` spells it.
    configured: String,
    /// The configured host's domain, whose subdomains are admitted; `None` for an IP address
    /// or a one-label name, which admit only themselves.
    own_domain: Option<String>,
    /// The vendor's documented domains, whose subdomains are admitted.
    vendor_domains: &'static [&'static str],
    /// `vendors.NAME.allowed_hosts`: exact host names, lower-case.
    allowed: Vec<String>,
}

/// Why a learned host is refused; its text names the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not an absolute URL with a host.
    NotAUrl(String),
    /// Another scheme than the configured host's (`http` where `https` is configured).
    Scheme {
        /// The learned host.
        host: String,
        /// The learned URL's scheme.
        scheme: String,
        /// The configured scheme.
        want: String,
    },
    /// A user name, a password, a query or a fragment: not a plain base URL.
    NotPlain(String),
    /// A host outside every admitted domain and not listed.
    Outside {
        /// The learned host.
        host: String,
        /// The admitted domains, for the operator.
        domains: String,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAUrl(text) => write!(f, "`{text}` is not an http(s) URL with a host"),
            Self::Scheme { host, scheme, want } => write!(
                f,
                "`{host}` is named with {scheme}, not the configured host's {want}"
            ),
            Self::NotPlain(host) => write!(
                f,
                "`{host}` is named with a user name, a password, a query or a fragment"
            ),
            Self::Outside { host, domains } => {
                write!(f, "`{host}` is not in {domains} and not in allowed_hosts")
            }
        }
    }
}

impl HostRule {
    /// The rule for a vendor whose configured host is the URL `configured` (an unparsable one
    /// admits nothing), whose documented domains are `vendor_domains` (`docusign.net`), and
    /// whose operator listed `allowed` (host names, as `parse_allowed` returns them).
    pub fn new(
        configured: &str,
        vendor_domains: &'static [&'static str],
        allowed: &[String],
    ) -> Self {
        let url = Url::parse(configured).ok();
        let host = url
            .as_ref()
            .and_then(Url::host_str)
            .map(|h| normal(h).to_owned())
            .unwrap_or_default();
        Self {
            scheme: url.map(|u| u.scheme().to_owned()).unwrap_or_default(),
            own_domain: own_domain(&host),
            configured: host,
            vendor_domains,
            allowed: allowed.iter().map(|h| normal(h).to_owned()).collect(),
        }
    }

    /// `learned` as a base URL without a trailing `/`, re-serialised from its parse (so the
    /// host checked is the host called), or why it is refused.
    pub fn check(&self, learned: &str) -> Result<String, Refused> {
        let url =
            Url::parse(learned.trim()).map_err(|_| Refused::NotAUrl(http::excerpt(learned)))?;
        let host = match url.host_str() {
            Some(host) if matches!(url.scheme(), "http" | "https") => normal(host).to_owned(),
            _ => return Err(Refused::NotAUrl(http::excerpt(learned))),
        };
        if url.scheme() != self.scheme {
            return Err(Refused::Scheme {
                host,
                scheme: url.scheme().to_owned(),
                want: self.scheme.clone(),
            });
        }
        let plain = url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        if !plain {
            return Err(Refused::NotPlain(host));
        }
        if !self.admits(&host) {
            return Err(Refused::Outside {
                host,
                domains: self.domains(),
            });
        }
        Ok(url.as_str().trim_end_matches('/').to_owned())
    }

    fn admits(&self, host: &str) -> bool {
        let within = |domain: &str| {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.'))
        };
        (!self.configured.is_empty() && host == self.configured)
            || self.own_domain.as_deref().is_some_and(within)
            || self.vendor_domains.iter().any(|d| within(d))
            || self.allowed.iter().any(|a| a == host)
    }

    /// The admitted domains, as the refusal names them.
    fn domains(&self) -> String {
        let mut domains: Vec<String> = self
            .vendor_domains
            .iter()
            .map(|d| format!("*.{d}"))
            .collect();
        match &self.own_domain {
            Some(own) => domains.push(format!("*.{own}")),
            None if !self.configured.is_empty() => domains.push(self.configured.clone()),
            None => {}
        }
        domains.join(", ")
    }
}

/// A host name lower-case and without a final `.` (`NA2.docusign.net.` is `na2.docusign.net`).
fn normal(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// The configured host minus its first label (`account-d.docusign.com`: `docusign.com`), when
/// at least two labels remain and they do not look like a country's second level (`co.uk`,
/// `com.br`); a two-label host is its own domain; an IP address or one label has none.
fn own_domain(host: &str) -> Option<String> {
    let is_ip = host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok();
    let labels: Vec<&str> = host.split('.').collect();
    if is_ip || labels.len() < 2 {
        return None;
    }
    if labels.len() == 2 {
        return Some(host.to_owned());
    }
    let rest = &labels[1..];
    let second_level = ["ac", "co", "com", "edu", "gov", "net", "ne", "or", "org"];
    if rest.len() == 2 && rest[1].len() == 2 && second_level.contains(&rest[0]) {
        return Some(host.to_owned());
    }
    Some(rest.join("."))
}

/// Checks `vendors.<name>.allowed_hosts`: each entry a bare host name or IP address (no
/// scheme, port, path or `*` pattern), returned lower-case.
pub fn parse_allowed(name: &str, hosts: Vec<String>) -> Result<Vec<String>, SettingsError> {
    hosts
        .into_iter()
        .map(|entry| {
            let host = normal(entry.trim()).to_ascii_lowercase();
            let parsed = Url::parse(&format!("https://{host}/")).ok();
            let bare = !host.contains('*')
                && parsed.as_ref().is_some_and(|url| {
                    url.host_str() == Some(host.as_str())
                        && url.port().is_none()
                        && url.path() == "/"
                        && url.username().is_empty()
                });
            if bare {
                Ok(host)
            } else {
                Err(SettingsError::at(
                    &format!("vendors.{name}.allowed_hosts"),
                    format!("`{entry}` is not a host name (no scheme, port, path or pattern)"),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
