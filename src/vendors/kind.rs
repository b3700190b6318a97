//! `Kind`: what a vendor folder tells the rest of signgate about its vendor (its name, its
//! keys and defaults, its capabilities, how to build its client). `KINDS` in `vendors/mod.rs`
//! lists them; nothing outside a vendor's folder names a vendor.

use std::fmt;
use std::sync::Arc;

use super::conformance::Conformance;
use super::settings::{RateLimit, VendorSettings};
use super::Vendor;
use crate::settings::SettingsError;
use crate::simulator::SimVendor;

/// The default pattern of every kind whose codes are UUIDs (ZapSign, DocuSign, D4Sign, Yousign),
/// spelled once: kinds with the same pattern share one default rule, whose candidates are their
/// vendors, and a status read finds which one holds each code.
pub const UUID_RULE: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// Whether `text` is a UUID as `UUID_RULE` matches it: 8-4-4-4-12 hex digits, either case.
pub fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// One vendor kind (the `kind` of a `[vendors.NAME]` table).
pub trait Kind: Sync + 'static {
    /// The `kind` value, also the vendor's name in its defaults (`auco`, `zapsign`).
    fn name(&self) -> &'static str;

    /// The kind's own keys in a `[vendors.NAME]` table, besides the keys every vendor has.
    fn keys(&self) -> &'static [&'static str];

    /// Its defaults as a TOML document (`[vendors.<name>]`, no secrets), layered under the
    /// operator's configuration; empty for a kind that is off until configured.
    fn defaults(&self) -> &'static str;

    /// Whole-code patterns routed to it by default (vendor `name()`), in order.
    fn default_rules(&self) -> &'static [&'static str];

    /// Calls in flight to one vendor of this kind when `max_concurrency` is not set.
    fn default_max_concurrency(&self) -> usize;

    /// Its simulated API (`signgate simulate`, the demo, tests and benchmarks).
    fn simulator(&self) -> &'static dyn SimVendor;

    /// Its answers to the shared conformance scenarios (test support).
    fn conformance(&self) -> &'static dyn Conformance;

    /// Parses the kind's own keys (`table` holds only those) for the vendor `name`; errors
    /// name the key as `vendors.<name>.<key>`.
    fn config(
        &self,
        name: &str,
        table: config::Value,
    ) -> Result<Arc<dyn KindConfig>, SettingsError>;
}

/// A vendor's kind-specific settings, parsed and validated: its credentials and capabilities.
pub trait KindConfig: Send + Sync + fmt::Debug {
    /// Whether the credentials needed to cancel are present.
    fn has_credentials(&self) -> bool;

    /// The rate limits the vendor counts this account's calls against (one per window, none
    /// if it documents none); signgate paces below each of them (across replicas when the
    /// store shares limits).
    fn rate_limits(&self) -> Vec<RateLimit>;

    /// The base URL when the table sets no `base_url`, from the kind's own keys (DocuSign's
    /// OAuth host, which means "discover the REST host"; Acrobat Sign's `api_access_point`);
    /// `None`: `base_url` is required.
    fn default_base_url(&self) -> Option<String> {
        None
    }

    /// The adapter, called only when `has_credentials()`.
    fn build(&self, settings: &VendorSettings) -> Arc<dyn Vendor>;
}

impl fmt::Debug for dyn Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
