//! Where a callback may go: the `jobs.callback_hosts` entries, the scheme rule
//! (`jobs.callback_allow_http`) and the check of a `callback_url` against them, made when the
//! job is created and again before each attempt (docs/callbacks.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;

use crate::settings::JobSettings;

/// One `jobs.callback_hosts` entry, parsed: a host name, or an IP literal that admits exactly
/// that address; with a port, only that port, without one the scheme's default (443 or 80).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A host name (lower case, as `Url::host_str` spells it); what it resolves to is checked
    /// when each attempt connects.
    Name(String, Option<u16>),
    /// An IP literal (`10.0.0.5`, `[fd00::5]`, or a bare IPv6 address without a port).
    Ip(IpAddr, Option<u16>),
}

impl Entry {
    /// Parses `host`, `host:port`, `a.b.c.d`, `a.b.c.d:port`, `[v6]`, `[v6]:port` or a bare IPv6
    /// address; `None` for anything else (a port that is not a number, a path, a user name).
    pub fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim().to_ascii_lowercase();
        if let Ok(ip) = entry.parse::<Ipv6Addr>() {
            return Some(Self::Ip(IpAddr::V6(ip), None));
        }
        let (host, port) = match entry.strip_prefix('[') {
            Some(rest) => {
                let (v6, rest) = rest.split_once(']')?;
                (format!("[{v6}]"), port_of(rest)?)
            }
            None => match entry.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port.parse::<u16>().ok()?)),
                None => (entry.clone(), None),
            },
        };
        if host.is_empty() || host.contains(['/', '@', ' ', '?', '#', '\\']) {
            return None;
        }
        // The URL parser's own host rules (IDNA, IPv4 forms such as `127.1`), so an entry and
        // a URL naming the same host compare equal.
        let probe = Url::parse(&format!("http://{host}/")).ok()?;
        Some(match target(&probe)? {
            Target::Name(name) => Self::Name(name.to_owned(), port),
            Target::Ip(ip) => Self::Ip(ip, port),
        })
    }

    /// Whether this entry names `host`, and the port it admits (`default_port` without one).
    fn names(&self, host: &Target<'_>, default_port: u16) -> Option<u16> {
        match (self, host) {
            (Self::Name(name, wanted), Target::Name(domain)) if name == domain => {
                Some(wanted.unwrap_or(default_port))
            }
            (Self::Ip(ip, wanted), Target::Ip(literal)) if ip == literal => {
                Some(wanted.unwrap_or(default_port))
            }
            _ => None,
        }
    }
}

/// A URL's host: a name to resolve, or an IP literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A host name, lower case.
    Name(&'a str),
    /// An IP literal (`Url::host_str` spells a v6 one in brackets).
    Ip(IpAddr),
}

/// The host of an `http(s)` URL, `None` when it has none.
pub fn target(url: &Url) -> Option<Target<'_>> {
    let host = url.host_str()?;
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| Target::Ip(IpAddr::V6(ip)));
    }
    Some(match host.parse::<Ipv4Addr>() {
        Ok(ip) => Target::Ip(IpAddr::V4(ip)),
        Err(_) => Target::Name(host),
    })
}

/// `""` (no port) or `":port"` after an entry's `]`; `None` when it is anything else.
fn port_of(rest: &str) -> Option<Option<u16>> {
    match rest {
        "" => Some(None),
        _ => rest.strip_prefix(':')?.parse::<u16>().ok().map(Some),
    }
}

/// The callback rules of `[jobs]`: the listed hosts, whether plain `http` is allowed, and
/// whether a host name may resolve to a loopback, private or link-local address.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    entries: Vec<Entry>,
    allow_http: bool,
    private_networks: bool,
}

impl Policy {
    /// The rules from `jobs.callback_hosts` (an entry that does not parse admits nothing;
    /// settings validation refuses it first), `jobs.callback_allow_http` and
    /// `jobs.callback_private_networks`.
    pub fn new(hosts: &[String], allow_http: bool, private_networks: bool) -> Self {
        Self {
            entries: hosts.iter().filter_map(|h| Entry::parse(h)).collect(),
            allow_http,
            private_networks,
        }
    }

    /// Whether a host name may resolve to a non-public address (`callback_private_networks`).
    pub fn private_networks(&self) -> bool {
        self.private_networks
    }

    /// Checks a parsed URL as `check_url` does: before each attempt, since the settings may
    /// have changed since the job was created.
    pub fn check(&self, parsed: &Url) -> Result<(), String> {
        if self.entries.is_empty() {
            return Err("callbacks are off until jobs.callback_hosts is set".to_owned());
        }
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(
                "scheme `http` is not allowed, only https (unless jobs.callback_allow_http = true)"
                    .to_owned(),
            ),
            other => {
                return Err(format!(
                    "scheme `{other}` is not allowed, only http and https"
                ))
            }
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not hold a user name or password".to_owned());
        }
        let (Some(host), Some(shown)) = (target(parsed), parsed.host_str()) else {
            return Err("not an absolute http(s) URL (no host)".to_owned());
        };
        let default_port = if parsed.scheme() == "https" { 443 } else { 80 };
        let port = parsed.port().unwrap_or(default_port);
        let ports: Vec<u16> = self
            .entries
            .iter()
            .filter_map(|entry| entry.names(&host, default_port))
            .collect();
        if ports.contains(&port) {
            return Ok(());
        }
        if ports.is_empty() {
            return Err(format!("host `{shown}` is not in jobs.callback_hosts"));
        }
        Err(format!(
            "host `{shown}:{port}` is not in jobs.callback_hosts"
        ))
    }
}

impl From<&JobSettings> for Policy {
    fn from(jobs: &JobSettings) -> Self {
        Self::new(
            &jobs.callback_hosts,
            jobs.callback_allow_http,
            jobs.callback_private_networks,
        )
    }
}

/// Parses a job's `callback_url`: an absolute `https` URL (`http` too with
/// `jobs.callback_allow_http`) without a user name or password, whose host and port an entry
/// of `jobs.callback_hosts` admits. A host name entry admits that name (case-insensitive), an
/// IP-literal entry exactly that address; `host:port` only that port, `host` only the scheme's
/// default (443 or 80). The error is the message that follows `callback_url: ` in a 400 answer.
pub fn check_url(url: &str, policy: &Policy) -> Result<Url, String> {
    if policy.entries.is_empty() {
        return Err("callbacks are off until jobs.callback_hosts is set".to_owned());
    }
    let parsed = Url::parse(url).map_err(|e| format!("not an absolute http(s) URL ({e})"))?;
    policy.check(&parsed)?;
    Ok(parsed)
}
