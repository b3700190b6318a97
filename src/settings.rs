//! Typed settings: compiled-in defaults, then a file, then `SIGNGATE__*` variables; validated
//! once at start-up. The only place the process environment is read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use crate::vendors::settings::{RateLimit, VendorSettings};
use crate::vendors::KINDS;

/// The compiled-in defaults of everything but the vendors (each kind has its own), no secrets.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

/// The bounds of `server.max_header_bytes`: hyper's smallest read buffer, and 1 MiB.
const MIN_HEADER_BYTES: usize = 8192;
const MAX_HEADER_BYTES: usize = 1 << 20;

/// Everything configurable, as loaded and validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub store: StoreSettings,
    pub log: LogSettings,
    pub jobs: JobSettings,
    #[serde(default)]
    pub routing: RoutingSettings,
    /// The `[vendors.*]` tables as read; each kind parses its own keys into `vendors`.
    #[serde(rename = "vendors", default)]
    tables: VendorTables,
    /// Every vendor that is on (the operator configured it), by name, parsed.
    #[serde(skip)]
    pub vendors: BTreeMap<String, VendorSettings>,
    /// The vendors named after a kind that are off: the operator configured nothing for them
    /// (a kind's own defaults configure nothing), so they are never parsed, validated or
    /// routed to.
    #[serde(skip)]
    pub vendors_off: Vec<String>,
    /// `RUST_LOG`, when set: overrides `log.level`.
    #[serde(skip)]
    pub rust_log: Option<String>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Where the gateway listens.
    pub listen: SocketAddr,
    pub request_timeout_ms: u64,
    pub max_documents: usize,
    pub max_body_bytes: usize,
    pub shutdown_grace_ms: u64,
    pub max_in_flight: usize,
    /// API requests per second across the process; 0 turns the inbound rate limit off.
    pub rate_limit_per_second: u32,
    /// API requests allowed at once on top of the steady rate (unset: one second's worth,
    /// `rate_limit_per_second`).
    pub rate_limit_burst: Option<u32>,
    /// Most time a client may take to send a whole request head.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in progress and no bytes for this long is closed.
    pub idle_timeout_ms: u64,
    /// Most open client connections; beyond it new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Largest request head (request line and headers); beyond it, `431` and the connection
    /// closes. hyper's read buffer, so at least 8192.
    pub max_header_bytes: usize,
    /// Most time a request body may take to arrive once signgate starts reading it; beyond
    /// it, `408` and the connection closes.
    pub body_read_timeout_ms: u64,
    /// Most request-body bytes held at once across all requests, from reading to the answer;
    /// a body beyond waits (unread, in the kernel) for room.
    pub max_buffered_body_bytes: usize,
    /// The wait before a panicked background task is started again (src/supervisor.rs).
    pub task_restart_backoff_ms: u64,
    /// The cap of that wait, doubled per consecutive panic.
    pub task_restart_backoff_max_ms: u64,
}

impl ServerSettings {
    /// How a panicked background task is restarted.
    pub fn task_restart_backoff(&self) -> crate::supervisor::Backoff {
        let first = Duration::from_millis(self.task_restart_backoff_ms.max(1));
        crate::supervisor::Backoff {
            first,
            max: Duration::from_millis(self.task_restart_backoff_max_ms).max(first),
        }
    }

    /// The whole-request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// How long in-flight requests may take to finish after a stop signal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// The inbound limit as (requests per second, burst), or `None` when it is off.
    pub fn rate_limit(&self) -> Option<(u32, u32)> {
        let rate = self.rate_limit_per_second;
        (rate > 0).then(|| (rate, self.rate_limit_burst.unwrap_or(rate)))
    }

    /// How long a client may take to send a whole request head.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// How long a connection may sit with no request and no bytes.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// How long a request body may take to arrive.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub api_key: Option<SecretString>,
    pub previous_api_key: Option<SecretString>,
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// Where the store lives; a Postgres URL may hold a password, so it prints redacted.
    pub url: StoreUrl,
    pub idempotency_ttl_hours: u64,
    /// Days an audit row (and a remembered code owner) is kept; 0 keeps them forever. Read as
    /// a signed number so that a negative value gets a clear error, not a type error.
    pub audit_retention_days: i64,
}

/// `store.url`: a secret, since a Postgres URL may carry a password. `Debug` shows it with
/// the password (and any query string, which may carry one too) replaced by `[redacted]`;
/// `expose` gives the URL on the one line that connects.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// The URL itself, to connect with; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password and query string replaced by `[redacted]` (safe to print).
    pub fn redacted(&self) -> String {
        let Ok(mut url) = reqwest::Url::parse(&self.0) else {
            // Not a URL this parser reads (sqlite::memory:): it holds no authority, but
            // anything after an `@` or `?` is hidden anyway.
            return match self.0.find(['@', '?']) {
                Some(at) => format!("{}[redacted]", &self.0[..at]),
                None => self.0.clone(),
            };
        };
        if url.password().is_some() && url.set_password(Some("[redacted]")).is_err() {
            return "[redacted]".into();
        }
        if url.query().is_some() {
            url.set_query(Some("[redacted]"));
        }
        url.to_string().replace("%5Bredacted%5D", "[redacted]")
    }
}

impl From<&str> for StoreUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({:?})", self.redacted())
    }
}

/// The longest audit retention accepted: a hundred years.
const MAX_RETENTION_DAYS: i64 = 36_500;

impl StoreSettings {
    /// How long audit rows are kept, or `None` when they are kept forever (0 days).
    pub fn audit_retention(&self) -> Option<Duration> {
        let days = u64::try_from(self.audit_retention_days).ok()?;
        (days > 0).then(|| Duration::from_secs(days * 86_400))
    }

    fn validate_retention(&self) -> Result<(), SettingsError> {
        let days = self.audit_retention_days;
        if !(0..=MAX_RETENTION_DAYS).contains(&days) {
            return Err(SettingsError::at(
                "store.audit_retention_days",
                format!(
                    "must be a whole number of days from 0 (keep forever) to \
                     {MAX_RETENTION_DAYS}, not {days}"
                ),
            ));
        }
        Ok(())
    }
}

/// `[jobs]`: bulk cancellation jobs (docs/jobs.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Most codes in one job.
    pub max_documents: usize,
    /// Largest body `POST /documents/cancel/jobs` accepts.
    pub max_body_bytes: usize,
    /// Slices that may carry one document before it ends with its last error.
    pub max_attempts_per_document: u32,
    /// A document still failing retryably this long after its job was created ends with its
    /// last error.
    pub max_age_hours: u64,
    /// Most documents one runner claims at once from one vendor's lane.
    pub slice_documents: u32,
    /// How often an idle runner looks for due documents.
    pub poll_interval_ms: u64,
    /// Share of each vendor's rate limit and concurrency that jobs leave to synchronous
    /// requests, in percent.
    pub interactive_reserve_percent: u32,
    /// The key that signs callbacks (`Signgate-Signature`); required with `callback_hosts`.
    pub callback_secret: Option<SecretString>,
    /// Hosts (`host`, `host:port`, or an IP literal with or without a port) a job's
    /// `callback_url` may name; empty: no callbacks.
    #[serde(deserialize_with = "list_or_commas")]
    pub callback_hosts: Vec<String>,
    /// Whether a host name entry may resolve to a loopback, private, link-local, unique-local
    /// or metadata address (tests, private clusters).
    pub callback_private_networks: bool,
    /// Whether a `callback_url` may be plain `http`.
    pub callback_allow_http: bool,
    /// How long one callback delivery may take.
    pub callback_timeout_ms: u64,
}

impl JobSettings {
    /// The age after which a document stops being retried.
    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_age_hours * 3600)
    }

    /// How often an idle runner looks for due documents.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// How long one callback delivery may take.
    pub fn callback_timeout(&self) -> Duration {
        Duration::from_millis(self.callback_timeout_ms)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        positive("jobs.max_documents", self.max_documents as u64)?;
        positive(
            "jobs.max_attempts_per_document",
            u64::from(self.max_attempts_per_document),
        )?;
        positive("jobs.max_age_hours", self.max_age_hours)?;
        at_most("jobs.max_age_hours", self.max_age_hours, MAX_HOURS)?;
        positive("jobs.slice_documents", u64::from(self.slice_documents))?;
        duration_ms("jobs.poll_interval_ms", self.poll_interval_ms)?;
        duration_ms("jobs.callback_timeout_ms", self.callback_timeout_ms)?;
        if self.max_body_bytes < 1024 {
            return Err(SettingsError::at(
                "jobs.max_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.interactive_reserve_percent > 90 {
            return Err(SettingsError::at(
                "jobs.interactive_reserve_percent",
                "must be from 0 to 90",
            ));
        }
        if !self.callback_hosts.is_empty() && self.callback_secret.is_none() {
            return Err(SettingsError::at(
                "jobs.callback_secret",
                "is required when jobs.callback_hosts is set; set SIGNGATE__JOBS__CALLBACK_SECRET",
            ));
        }
        if let Some(host) = self
            .callback_hosts
            .iter()
            .find(|h| crate::jobs::callback::Entry::parse(h).is_none())
        {
            return Err(SettingsError::at(
                "jobs.callback_hosts",
                format!("`{host}` is not a host name, host:port or IP address"),
            ));
        }
        Ok(())
    }
}

/// A list from a TOML array, or from one comma-separated string (as environment variables
/// carry it).
pub(crate) fn list_or_commas<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    let items = match Raw::deserialize(d)? {
        Raw::List(items) => items,
        Raw::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect())
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// `[routing]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Tried in order; unset, every vendor kind's default rules (`Kind::default_rules`).
    #[serde(default)]
    pub rules: Vec<RuleSettings>,
}

/// The raw `[vendors.*]` tables; never printed (they hold secrets), emptied once parsed.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
struct VendorTables(BTreeMap<String, config::Value>);

impl std::fmt::Debug for VendorTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VendorTables(parsed into `vendors`)")
    }
}

/// One `[[routing.rules]]` entry: `vendor = "NAME"`, or `vendors = [...]` when codes of this
/// shape may live at several vendors (signgate then finds each code's owner by a status read
/// at the candidates, in order).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRule")]
pub struct RuleSettings {
    /// The whole-code pattern, compiled once at load.
    pub pattern: Pattern,
    /// The configured vendors it routes to, in the order they are asked (at least one).
    pub vendors: Vec<String>,
}

/// A rule as written: exactly one of `vendor` and `vendors`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    pattern: Pattern,
    vendor: Option<String>,
    vendors: Option<Vec<String>>,
}

impl TryFrom<RawRule> for RuleSettings {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        let vendors = match (raw.vendor, raw.vendors) {
            (Some(vendor), None) => vec![vendor],
            (None, Some(vendors)) if !vendors.is_empty() => vendors,
            (None, Some(_)) => return Err("`vendors` must name at least one vendor".into()),
            (None, None) => return Err("a rule needs `vendor` or `vendors`".into()),
            (Some(_), Some(_)) => return Err("set `vendor` or `vendors`, not both".into()),
        };
        Ok(Self {
            pattern: raw.pattern,
            vendors,
        })
    }
}

/// A routing pattern compiled anchored, so that it must match the whole code.
#[derive(Debug, Clone)]
pub struct Pattern(Regex);

impl Pattern {
    /// Compiles `pattern` anchored at both ends.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        // Compiled as written first, so an error quotes the operator's pattern.
        Regex::new(pattern)?;
        Regex::new(&format!("^(?:{pattern})$")).map(Self)
    }

    /// Whether the whole of `code` matches.
    pub fn is_match(&self, code: &str) -> bool {
        self.0.is_match(code)
    }

    /// The pattern as compiled (anchored).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pattern = String::deserialize(deserializer)?;
        Self::new(&pattern).map_err(serde::de::Error::custom)
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

impl SettingsError {
    /// A problem with `key` (`vendors.zapsign.timeout_ms: ...`).
    pub(crate) fn at(key: &str, problem: impl std::fmt::Display) -> Self {
        Self(format!("{key}: {problem}"))
    }
}

impl Settings {
    /// Loads defaults, then `file` (or the file named by `SIGNGATE_CONFIG`), then the process
    /// environment's `SIGNGATE__*` variables, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("SIGNGATE_CONFIG").map(PathBuf::from));
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("SIGNGATE__"))
            .collect();
        let mut settings = Self::from_sources(file.as_deref(), None, env)?;
        settings.rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
        Ok(settings)
    }

    /// Loads defaults, an optional file, an optional TOML overlay and the given variables
    /// (`SIGNGATE__SECTION__KEY` form), then validates. Tests use this instead of `load`.
    pub fn from_sources(
        file: Option<&Path>,
        overlay: Option<&str>,
        env: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let settings = Self::read(file, overlay, env)?;
        settings.validate_secrets(true)?;
        Ok(settings)
    }

    /// `from_sources` for `signgate demo`, whose API key is its own short, printed `demo-key`:
    /// the API keys' length rule is not applied (every other rule is).
    pub fn for_demo(overlay: &str, env: HashMap<String, String>) -> Result<Self, SettingsError> {
        let settings = Self::read(None, Some(overlay), env)?;
        settings.validate_secrets(false)?;
        Ok(settings)
    }

    fn read(
        file: Option<&Path>,
        overlay: Option<&str>,
        env: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        for kind in KINDS {
            builder = builder.add_source(File::from_str(kind.defaults(), FileFormat::Toml));
        }
        if let Some(path) = file {
            if !path.is_file() {
                return Err(SettingsError(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        if let Some(toml) = overlay {
            builder = builder.add_source(File::from_str(toml, FileFormat::Toml));
        }
        let env_vendor_keys: Vec<String> = env
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, _)| key.clone())
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("SIGNGATE")
                .prefix_separator("__")
                .separator("__")
                .source(Some(env)),
        );
        let config = builder
            .build()
            .map_err(|e| SettingsError(format!("configuration cannot be read: {e}")))?;
        let mut settings: Settings = serde_path_to_error::deserialize(config).map_err(|e| {
            let path = e.path().to_string();
            SettingsError::at(&path, e.into_inner())
        })?;
        settings.drop_empty_secrets();
        let deadline_ms = settings.server.request_timeout_ms;
        let configured = operator_vendors(file, overlay, &env_vendor_keys)?;
        for (name, table) in std::mem::take(&mut settings.tables.0) {
            if configured.contains(&name) {
                let vendor = crate::vendors::settings::parse(&name, table, deadline_ms)?;
                settings.vendors.insert(name, vendor);
            }
        }
        settings.vendors_off = KINDS
            .iter()
            .map(|kind| kind.name().to_owned())
            .filter(|name| !settings.vendors.contains_key(name))
            .collect();
        if settings.routing.rules.is_empty() {
            settings.routing.rules = default_rules(&settings.vendors)?;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Treats a secret set to the empty string as not set.
    fn drop_empty_secrets(&mut self) {
        fn clean(secret: &mut Option<SecretString>) {
            if secret
                .as_ref()
                .is_some_and(|s| s.expose_secret().is_empty())
            {
                *secret = None;
            }
        }
        clean(&mut self.auth.api_key);
        clean(&mut self.auth.previous_api_key);
        clean(&mut self.jobs.callback_secret);
    }

    /// Refuses secrets shorter than `MIN_SECRET_CHARS` or holding the example placeholder;
    /// `api_keys` false leaves the API keys out (the demo's).
    fn validate_secrets(&self, api_keys: bool) -> Result<(), SettingsError> {
        if api_keys {
            strong_secret("auth.api_key", self.auth.api_key.as_ref())?;
            strong_secret("auth.previous_api_key", self.auth.previous_api_key.as_ref())?;
        }
        strong_secret("jobs.callback_secret", self.jobs.callback_secret.as_ref())
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let s = &self.server;
        duration_ms("server.request_timeout_ms", s.request_timeout_ms)?;
        positive("server.max_documents", s.max_documents as u64)?;
        positive("server.max_in_flight", s.max_in_flight as u64)?;
        duration_ms("server.header_read_timeout_ms", s.header_read_timeout_ms)?;
        duration_ms("server.idle_timeout_ms", s.idle_timeout_ms)?;
        positive("server.max_connections", s.max_connections as u64)?;
        duration_ms("server.body_read_timeout_ms", s.body_read_timeout_ms)?;
        at_most(
            "server.shutdown_grace_ms",
            s.shutdown_grace_ms,
            MAX_DURATION_MS,
        )?;
        at_most(
            "server.task_restart_backoff_ms",
            s.task_restart_backoff_ms,
            MAX_DURATION_MS,
        )?;
        at_most(
            "server.task_restart_backoff_max_ms",
            s.task_restart_backoff_max_ms,
            MAX_DURATION_MS,
        )?;
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&s.max_header_bytes) {
            return Err(SettingsError::at(
                "server.max_header_bytes",
                format!("must be between {MIN_HEADER_BYTES} and {MAX_HEADER_BYTES}"),
            ));
        }
        let largest_body = s.max_body_bytes.max(self.jobs.max_body_bytes);
        if s.max_buffered_body_bytes < largest_body
            || u32::try_from(s.max_buffered_body_bytes).is_err()
        {
            return Err(SettingsError::at(
                "server.max_buffered_body_bytes",
                format!(
                    "must be at least the largest body allowed ({largest_body}, \
                     server.max_body_bytes or jobs.max_body_bytes) and below 4 GiB"
                ),
            ));
        }
        if s.rate_limit().is_some_and(|(_, burst)| burst == 0) {
            return Err(SettingsError::at(
                "server.rate_limit_burst",
                "must be at least 1 when server.rate_limit_per_second is set",
            ));
        }
        if s.max_body_bytes < 1024 {
            return Err(SettingsError::at(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.auth.api_key.is_none() {
            return Err(SettingsError::at(
                "auth.api_key",
                "is required; set SIGNGATE__AUTH__API_KEY",
            ));
        }
        let url = self.store.url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(SettingsError::at(
                "store.url",
                "must start with sqlite:// or postgres://",
            ));
        }
        positive(
            "store.idempotency_ttl_hours",
            self.store.idempotency_ttl_hours,
        )?;
        at_most(
            "store.idempotency_ttl_hours",
            self.store.idempotency_ttl_hours,
            MAX_HOURS,
        )?;
        self.store.validate_retention()?;
        self.jobs.validate()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| SettingsError::at("log.level", e))?;
        for (i, rule) in self.routing.rules.iter().enumerate() {
            if let Some(vendor) = rule.vendors.iter().find(|v| !self.vendors.contains_key(*v)) {
                let key = match rule.vendors.len() {
                    1 => "vendor",
                    _ => "vendors",
                };
                return Err(SettingsError::at(
                    &format!("routing.rules[{i}].{key}"),
                    match self.vendors_off.contains(vendor) {
                        true => format!(
                            "names vendor `{vendor}`, which is off: nothing configures it \
                             (write a [vendors.{vendor}] table or set its variables)"
                        ),
                        false => format!("names no configured vendor `{vendor}`"),
                    },
                ));
            }
        }
        Ok(())
    }
}

/// The vendors the operator configured: a `[vendors.NAME]` table in `file` or `overlay`, or a
/// non-empty `SIGNGATE__VENDORS__NAME__*` variable. A kind's own defaults configure nothing.
fn operator_vendors(
    file: Option<&Path>,
    overlay: Option<&str>,
    env_keys: &[String],
) -> Result<BTreeSet<String>, SettingsError> {
    let mut builder = Config::builder();
    if let Some(path) = file {
        builder = builder.add_source(File::from(path).format(FileFormat::Toml));
    }
    if let Some(toml) = overlay {
        builder = builder.add_source(File::from_str(toml, FileFormat::Toml));
    }
    let written = builder
        .build()
        .map_err(|e| SettingsError(format!("configuration cannot be read: {e}")))?;
    let mut names: BTreeSet<String> = match written.get_table("vendors") {
        Ok(tables) => tables.into_keys().collect(),
        Err(_) => BTreeSet::new(),
    };
    names.extend(env_keys.iter().filter_map(|key| {
        let mut parts = key.strip_prefix("SIGNGATE__")?.split("__");
        let section = parts.next()?;
        let name = parts.next()?;
        (section.eq_ignore_ascii_case("vendors") && parts.next().is_some())
            .then(|| name.to_ascii_lowercase())
    }));
    Ok(names)
}

/// Every kind's default rules, in `KINDS` order, each to the configured vendor named after
/// its kind. Kinds whose codes look alike (UUIDs) share one rule, whose candidates are
/// those vendors in `KINDS` order.
fn default_rules(
    vendors: &BTreeMap<String, VendorSettings>,
) -> Result<Vec<RuleSettings>, SettingsError> {
    let mut rules: Vec<RuleSettings> = Vec::new();
    for kind in KINDS.iter().filter(|k| vendors.contains_key(k.name())) {
        for pattern in kind.default_rules() {
            let pattern = Pattern::new(pattern).map_err(|e| {
                SettingsError(format!(
                    "the default routing rule of kind {}: {e}",
                    kind.name()
                ))
            })?;
            let vendor = kind.name().to_owned();
            match rules
                .iter_mut()
                .find(|r| r.pattern.as_str() == pattern.as_str())
            {
                Some(rule) => rule.vendors.push(vendor),
                None => rules.push(RuleSettings {
                    pattern,
                    vendors: vec![vendor],
                }),
            }
        }
    }
    Ok(rules)
}

/// The fewest characters an API key or the callback secret may have.
pub const MIN_SECRET_CHARS: usize = 16;

/// The placeholder earlier example Secrets held; refused in any secret, whatever its length.
const PLACEHOLDER: &str = "change-me";

fn strong_secret(key: &str, secret: Option<&SecretString>) -> Result<(), SettingsError> {
    let Some(secret) = secret.map(ExposeSecret::expose_secret) else {
        return Ok(());
    };
    if secret.to_ascii_lowercase().contains(PLACEHOLDER) {
        return Err(SettingsError::at(
            key,
            format!(
                "is the example placeholder `{PLACEHOLDER}`; set a random value \
                 (openssl rand -hex 32)"
            ),
        ));
    }
    if secret.chars().count() < MIN_SECRET_CHARS {
        return Err(SettingsError::at(
            key,
            format!("must be at least {MIN_SECRET_CHARS} characters"),
        ));
    }
    Ok(())
}

fn positive(key: &str, value: u64) -> Result<(), SettingsError> {
    if value == 0 {
        return Err(SettingsError::at(key, "must be greater than 0"));
    }
    Ok(())
}

/// The longest duration any `_ms` key may hold: a week. Durations are added to the clock's
/// instants; a bound keeps every such sum far from overflowing.
pub const MAX_DURATION_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// The longest an `_hours` key may hold: a year.
const MAX_HOURS: u64 = 366 * 24;

fn at_most(key: &str, value: u64, max: u64) -> Result<(), SettingsError> {
    if value > max {
        return Err(SettingsError::at(key, format!("must be at most {max}")));
    }
    Ok(())
}

/// A duration in milliseconds: more than 0 and at most `MAX_DURATION_MS`.
fn duration_ms(key: &str, value: u64) -> Result<(), SettingsError> {
    positive(key, value)?;
    at_most(key, value, MAX_DURATION_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with_key() -> HashMap<String, String> {
        env(&[("SIGNGATE__AUTH__API_KEY", "test-api-key-0123456789")])
    }

    /// A table for every kind that ships defaults: each on, without credentials.
    const EVERY_DEFAULT_KIND: &str = "[vendors.auco]\n[vendors.zapsign]\n[vendors.dropboxsign]\n\
        [vendors.clicksign]\n[vendors.d4sign]\n[vendors.yousign]\n";

    #[test]
    fn defaults_load_with_an_api_key_and_every_vendor_off() {
        let s = Settings::from_sources(None, None, with_key()).expect("defaults are valid");

        assert_eq!(s.server.max_documents, 100);
        assert!(s.vendors.is_empty(), "{:?}", s.vendors.keys());
        assert!(
            s.routing.rules.is_empty(),
            "no rule routes to a vendor that is off"
        );
        let kinds: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
        assert_eq!(s.vendors_off, kinds);
    }

    #[test]
    fn an_empty_table_turns_a_kind_on_with_its_defaults() {
        let s = Settings::from_sources(None, Some(EVERY_DEFAULT_KIND), with_key()).expect("valid");

        assert_eq!(
            s.vendors["zapsign"].rate_limits(),
            Vec::new(),
            "no token, no limit"
        );
        assert_eq!(s.vendors["zapsign"].max_concurrency(), 8);
        assert_eq!(
            s.routing.rules.len(),
            4,
            "UUIDs, Auco codes, Dropbox Sign ids, Clicksign pairs"
        );
        assert!(!s.vendors["auco"].has_credentials());
        assert_eq!(s.vendors_off, ["docusign", "adobesign", "example"]);
    }

    #[test]
    fn only_auco_and_zapsign_with_a_6_second_deadline_starts_with_the_others_off() {
        let overlay = "[server]\nrequest_timeout_ms = 6000\n\
            [vendors.auco]\nbase_url = \"https://api.auco.ai/v1.5/ext\"\ntimeout_ms = 5000\n\
            [vendors.zapsign]\nbase_url = \"https://api.zapsign.com.br/api/v1\"\n\
            timeout_ms = 5000\n";
        let mut vars = with_key();
        vars.insert(
            "SIGNGATE__VENDORS__AUCO__PRIVATE_KEY".into(),
            "prk_x".into(),
        );
        vars.insert("SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN".into(), "tok".into());

        let s = Settings::from_sources(None, Some(overlay), vars).expect("valid");

        assert_eq!(s.vendors.keys().collect::<Vec<_>>(), ["auco", "zapsign"]);
        for off in ["clicksign", "d4sign", "dropboxsign", "yousign", "docusign"] {
            assert!(s.vendors_off.iter().any(|v| v == off), "{off}");
        }
        for rule in &s.routing.rules {
            assert!(
                rule.vendors.iter().all(|v| v == "auco" || v == "zapsign"),
                "{rule:?}"
            );
        }
    }

    #[test]
    fn a_variable_of_a_vendor_turns_it_on_but_an_empty_one_does_not() {
        let mut vars = with_key();
        vars.insert(
            "SIGNGATE__VENDORS__YOUSIGN__API_KEY".into(),
            "ys-key".into(),
        );
        vars.insert(
            "SIGNGATE__VENDORS__CLICKSIGN__ACCESS_TOKEN".into(),
            "".into(),
        );

        let s = Settings::from_sources(None, None, vars).expect("valid");

        assert_eq!(s.vendors.keys().collect::<Vec<_>>(), ["yousign"]);
        assert!(s.vendors["yousign"].has_credentials());
        assert!(s.vendors_off.iter().any(|v| v == "clicksign"));
    }

    #[test]
    fn a_rule_naming_a_vendor_that_is_off_says_so() {
        let overlay = "[[routing.rules]]\npattern = \"x\"\nvendor = \"clicksign\"\n";

        let err = Settings::from_sources(None, Some(overlay), with_key()).unwrap_err();

        let err = err.to_string();
        assert!(err.starts_with("routing.rules[0].vendor: "), "{err}");
        assert!(err.contains("`clicksign`, which is off"), "{err}");
    }

    #[test]
    fn docusign_needs_no_base_url_and_acrobat_sign_only_its_access_point() {
        let overlay = "[vendors.docusign]\nkind = \"docusign\"\n\
            [vendors.adobesign]\nkind = \"adobesign\"\n\
            api_access_point = \"https://api.na1.adobesign.com/\"\n";

        let s = Settings::from_sources(None, Some(overlay), with_key()).expect("valid");

        assert_eq!(
            s.vendors["docusign"].base_url,
            "https://account.docusign.com"
        );
        assert_eq!(
            s.vendors["adobesign"].base_url,
            "https://api.na1.adobesign.com"
        );
        let overlay = "[vendors.adobesign]\nkind = \"adobesign\"\n";
        let err = Settings::from_sources(None, Some(overlay), with_key()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vendors.adobesign: missing field `base_url`"
        );
    }

    #[test]
    fn short_or_placeholder_secrets_are_refused_naming_the_key() {
        for (var, key) in [
            ("SIGNGATE__AUTH__API_KEY", "auth.api_key"),
            ("SIGNGATE__AUTH__PREVIOUS_API_KEY", "auth.previous_api_key"),
            ("SIGNGATE__JOBS__CALLBACK_SECRET", "jobs.callback_secret"),
        ] {
            for (value, problem) in [
                ("x", "must be at least 16 characters"),
                ("fifteen-chars-x", "must be at least 16 characters"),
                ("change-me", "placeholder `change-me`"),
                ("change-me-change-me-0001", "placeholder `change-me`"),
            ] {
                let mut vars = with_key();
                vars.insert(var.into(), value.into());

                let err = Settings::from_sources(None, None, vars).unwrap_err();

                let err = err.to_string();
                assert!(err.starts_with(&format!("{key}: ")), "{err}");
                assert!(err.contains(problem), "{value}: {err}");
            }
            let mut vars = with_key();
            vars.insert(var.into(), "sixteen-chars-xx".into());
            Settings::from_sources(None, None, vars).expect("16 characters are enough");
        }
    }

    #[test]
    fn the_demo_may_keep_its_short_key_but_not_a_short_callback_secret() {
        let demo_key = env(&[("SIGNGATE__AUTH__API_KEY", "demo-key")]);
        Settings::for_demo("", demo_key.clone()).expect("the demo's key is allowed");
        assert!(Settings::from_sources(None, None, demo_key.clone()).is_err());

        let mut vars = demo_key;
        vars.insert("SIGNGATE__JOBS__CALLBACK_SECRET".into(), "s".into());
        let err = Settings::for_demo("", vars).unwrap_err();
        assert!(err.to_string().starts_with("jobs.callback_secret"), "{err}");
    }

    #[test]
    fn the_store_url_prints_without_its_password() {
        let mut vars = with_key();
        vars.insert(
            "SIGNGATE__STORE__URL".into(),
            "postgres://signgate:hunter2-pass@db.internal:5432/signgate?sslmode=require&password=qs-pass"
                .into(),
        );

        let s = Settings::from_sources(None, None, vars).expect("valid");

        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2-pass"), "{printed}");
        assert!(!printed.contains("qs-pass"), "{printed}");
        assert!(
            printed.contains("postgres://signgate:[redacted]@db.internal:5432/signgate?[redacted]"),
            "{printed}"
        );
        assert!(s.store.url.expose().contains("hunter2-pass"));
        let odd = StoreUrl::from("postgres://u:p@ss@host/db");
        assert!(!format!("{odd:?}").contains("ss@host"), "{odd:?}");
        assert_eq!(
            format!("{:?}", StoreUrl::from("sqlite::memory:")),
            "StoreUrl(\"sqlite::memory:\")"
        );
    }

    #[test]
    fn two_zapsign_tables_with_one_token_share_a_rate_limit_key_that_hides_the_token() {
        let overlay =
            "[vendors.zapsign_b]\nkind = \"zapsign\"\nbase_url = \"http://127.0.0.1:1\"\n";
        let mut vars = with_key();
        vars.insert(
            "SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN".into(),
            "tok-1".into(),
        );
        vars.insert(
            "SIGNGATE__VENDORS__ZAPSIGN_B__API_TOKEN".into(),
            "tok-1".into(),
        );

        let s = Settings::from_sources(None, Some(overlay), vars).expect("valid");
        let a = s.vendors["zapsign"].rate_limits();
        let b = s.vendors["zapsign_b"].rate_limits();

        assert_eq!(a, b);
        let [a] = &a[..] else {
            panic!("ZapSign has one limit: {a:?}");
        };
        assert_eq!((a.calls, a.window), (450, Duration::from_secs(60)));
        assert!(
            a.key.starts_with("zapsign:") && !a.key.contains("tok-1"),
            "{}",
            a.key
        );
        assert!(!s.vendors.contains_key("auco"), "auco is off");
    }

    #[test]
    fn audit_retention_defaults_to_400_days_and_0_keeps_forever() {
        let s = Settings::from_sources(None, None, with_key()).expect("defaults are valid");
        assert_eq!(
            s.store.audit_retention(),
            Some(Duration::from_secs(400 * 86_400))
        );
        let mut vars = with_key();
        vars.insert("SIGNGATE__STORE__AUDIT_RETENTION_DAYS".into(), "0".into());
        let s = Settings::from_sources(None, None, vars).expect("0 is valid");
        assert_eq!(s.store.audit_retention(), None);
    }

    #[test]
    fn a_negative_or_absurd_audit_retention_is_refused_with_its_value() {
        for (days, shown) in [("-1", "not -1"), ("40000", "not 40000")] {
            let mut vars = with_key();
            vars.insert("SIGNGATE__STORE__AUDIT_RETENTION_DAYS".into(), days.into());
            let err = Settings::from_sources(None, None, vars).unwrap_err();
            let err = err.to_string();
            assert!(err.starts_with("store.audit_retention_days: "), "{err}");
            assert!(
                err.contains("0 (keep forever)") && err.contains(shown),
                "{err}"
            );
        }
        let err = Settings::from_sources(
            None,
            Some("[store]\naudit_retention_days = \"a year\"\n"),
            with_key(),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("store.audit_retention_days"),
            "{err}"
        );
    }

    #[test]
    fn start_up_refuses_a_missing_api_key() {
        let err = Settings::from_sources(None, None, HashMap::new()).unwrap_err();
        assert!(err.to_string().starts_with("auth.api_key"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Settings::from_sources(None, Some("[server]\nlisten_port = 1\n"), with_key())
            .unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");
        let err = Settings::from_sources(None, Some("[vendors.auco]\ntimeout = 1\n"), with_key())
            .unwrap_err();
        assert!(err.to_string().contains("vendors.auco"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut vars = with_key();
        vars.insert("SIGNGATE__SERVER__MAX_DOCUMENTS".into(), "many".into());
        let err = Settings::from_sources(None, None, vars).unwrap_err();
        assert!(err.to_string().contains("max_documents"), "{err}");
    }

    #[test]
    fn environment_variables_override_the_defaults() {
        let mut vars = with_key();
        vars.insert("SIGNGATE__SERVER__MAX_DOCUMENTS".into(), "7".into());
        vars.insert(
            "SIGNGATE__VENDORS__AUCO__PRIVATE_KEY".into(),
            "prk_x".into(),
        );
        let s = Settings::from_sources(None, None, vars).expect("valid");
        assert_eq!(s.server.max_documents, 7);
        assert!(s.vendors["auco"].has_credentials());
    }

    #[test]
    fn callbacks_are_https_and_public_only_by_default_and_entries_must_parse() {
        let s = Settings::from_sources(None, None, with_key()).expect("defaults are valid");
        assert!(!s.jobs.callback_allow_http && !s.jobs.callback_private_networks);

        let mut vars = with_key();
        vars.insert("SIGNGATE__JOBS__CALLBACK_ALLOW_HTTP".into(), "true".into());
        vars.insert(
            "SIGNGATE__JOBS__CALLBACK_PRIVATE_NETWORKS".into(),
            "true".into(),
        );
        let s = Settings::from_sources(None, None, vars).expect("valid");
        assert!(s.jobs.callback_allow_http && s.jobs.callback_private_networks);

        let mut vars = with_key();
        vars.insert(
            "SIGNGATE__JOBS__CALLBACK_SECRET".into(),
            "whsec-test-secret-0001".into(),
        );
        vars.insert(
            "SIGNGATE__JOBS__CALLBACK_HOSTS".into(),
            "hooks.test,hooks.test:https".into(),
        );
        let err = Settings::from_sources(None, None, vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "jobs.callback_hosts: `hooks.test:https` is not a host name, host:port or IP address"
        );
    }

    #[test]
    fn a_vendor_timeout_must_be_below_the_deadline() {
        let overlay = "[server]\nrequest_timeout_ms = 5000\n[vendors.auco]\n";
        let err = Settings::from_sources(None, Some(overlay), with_key()).unwrap_err();
        assert!(
            err.to_string().starts_with("vendors.auco.timeout_ms"),
            "{err}"
        );
    }

    #[test]
    fn rules_must_name_configured_vendors_and_compile() {
        let overlay = "[[routing.rules]]\npattern = \"^x$\"\nvendor = \"nosuchvendor\"\n";
        let err = Settings::from_sources(None, Some(overlay), with_key()).unwrap_err();
        assert!(
            err.to_string().starts_with("routing.rules[0].vendor"),
            "{err}"
        );
        let overlay = "[[routing.rules]]\npattern = \"(\"\nvendor = \"auco\"\n";
        let err = Settings::from_sources(None, Some(overlay), with_key()).unwrap_err();
        assert!(
            err.to_string().starts_with("routing.rules[0].pattern"),
            "{err}"
        );
    }

    #[test]
    fn a_rule_names_one_vendor_or_several_candidates_never_both_or_none() {
        let rule = |vendors: &str| format!("[[routing.rules]]\npattern = \"x\"\n{vendors}\n");
        let rule = |vendors: &str| format!("{EVERY_DEFAULT_KIND}{}", rule(vendors));
        let candidates = rule(r#"vendors = ["zapsign", "auco"]"#);
        let s = Settings::from_sources(None, Some(&candidates), with_key()).expect("valid");
        assert_eq!(s.routing.rules[0].vendors, ["zapsign", "auco"]);

        for (vendors, problem) in [
            (
                r#"vendor = "auco"
vendors = ["auco"]"#,
                "not both",
            ),
            ("vendors = []", "at least one"),
            ("", "needs `vendor` or `vendors`"),
            (r#"vendors = ["auco", "nosuchvendor"]"#, "`nosuchvendor`"),
        ] {
            let overlay = rule(&vendors.replace("\\n", "\n"));
            let err = Settings::from_sources(None, Some(&overlay), with_key()).unwrap_err();
            let err = err.to_string();
            assert!(err.starts_with("routing.rules[0]"), "{err}");
            assert!(err.contains(problem), "{vendors}: {err}");
        }
    }

    #[test]
    fn kinds_with_the_same_default_pattern_share_one_rule_of_configured_vendors() {
        let s = Settings::from_sources(None, Some(EVERY_DEFAULT_KIND), with_key()).expect("valid");
        assert_eq!(s.routing.rules.len(), 4);
        for rule in &s.routing.rules {
            assert!(rule.vendors.iter().all(|v| s.vendors.contains_key(v)));
        }
        let patterns: Vec<&str> = s.routing.rules.iter().map(|r| r.pattern.as_str()).collect();
        let mut unique = patterns.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), patterns.len(), "{patterns:?}");
    }

    #[test]
    fn keys_of_another_kind_are_refused() {
        let overlay = "[vendors.zapsign]\nbatch_size = 5\n";
        let err = Settings::from_sources(None, Some(overlay), with_key()).unwrap_err();
        assert!(
            err.to_string().starts_with("vendors.zapsign.batch_size"),
            "{err}"
        );
    }

    #[test]
    fn several_vendors_of_one_kind_may_be_configured() {
        let overlay = "[vendors.auco_mx]\nkind = \"auco\"\nbase_url = \"http://127.0.0.1:1\"\n";
        let s = Settings::from_sources(None, Some(overlay), with_key()).expect("valid");
        assert_eq!(s.vendors["auco_mx"].max_concurrency(), 4);
    }

    #[test]
    fn the_rate_limit_is_off_by_default_and_its_burst_defaults_to_one_second() {
        let off = Settings::from_sources(None, None, with_key()).expect("valid");
        let overlay = "[server]\nrate_limit_per_second = 40\n";
        let on = Settings::from_sources(None, Some(overlay), with_key()).expect("valid");

        assert_eq!(off.server.rate_limit(), None);
        assert_eq!(on.server.rate_limit(), Some((40, 40)));
    }

    #[test]
    fn a_zero_burst_is_refused_when_the_rate_limit_is_on() {
        let overlay = "[server]\nrate_limit_per_second = 40\nrate_limit_burst = 0\n";

        let err = Settings::from_sources(None, Some(overlay), with_key()).unwrap_err();

        assert!(
            err.to_string().starts_with("server.rate_limit_burst"),
            "{err}"
        );
    }

    #[test]
    fn durations_beyond_a_week_are_refused_by_key_so_no_clock_sum_can_overflow() {
        for key in [
            "SERVER__REQUEST_TIMEOUT_MS",
            "SERVER__IDLE_TIMEOUT_MS",
            "SERVER__HEADER_READ_TIMEOUT_MS",
            "SERVER__BODY_READ_TIMEOUT_MS",
            "SERVER__SHUTDOWN_GRACE_MS",
            "SERVER__TASK_RESTART_BACKOFF_MAX_MS",
            "JOBS__POLL_INTERVAL_MS",
            "JOBS__CALLBACK_TIMEOUT_MS",
            "JOBS__MAX_AGE_HOURS",
            "STORE__IDEMPOTENCY_TTL_HOURS",
            "VENDORS__ZAPSIGN__BREAKER_COOLDOWN_MS",
            "VENDORS__ZAPSIGN__CONNECT_TIMEOUT_MS",
        ] {
            let mut vars = with_key();
            vars.insert(format!("SIGNGATE__{key}"), u64::MAX.to_string());

            let err = Settings::from_sources(None, None, vars).unwrap_err();

            let named = key.to_lowercase().replacen("__", ".", 2);
            assert!(err.to_string().starts_with(&named), "{key}: {err}");
            assert!(err.to_string().contains("at most"), "{key}: {err}");
        }
    }

    #[test]
    fn connection_limits_must_be_positive_and_are_named() {
        for key in [
            "header_read_timeout_ms",
            "idle_timeout_ms",
            "max_connections",
            "body_read_timeout_ms",
            "max_header_bytes",
            "max_buffered_body_bytes",
        ] {
            let mut vars = with_key();
            vars.insert(
                format!("SIGNGATE__SERVER__{}", key.to_uppercase()),
                "0".into(),
            );

            let err = Settings::from_sources(None, None, vars).unwrap_err();

            assert!(
                err.to_string().starts_with(&format!("server.{key}")),
                "{err}"
            );
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut vars = with_key();
        vars.insert(
            "SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN".into(),
            "tok-secret".into(),
        );
        let s = Settings::from_sources(None, None, vars).expect("valid");
        assert!(!format!("{s:?}").contains("tok-secret"));
    }
}
