//! Clicksign (Brazil), API v3 (envelopes, JSON:API): one document per cancel call, the access
//! token as `Authorization` without a scheme, a cancel that is a `PATCH` of the document's
//! `status` inside its envelope, so a code is `ENVELOPE_ID:DOCUMENT_ID`; 50 calls per 10 s per
//! account. Docs: <https://developers.clicksign.com/v2.0/docs/alterar-documento>,
//! <https://developers.clicksign.com/docs/limite-de-requisicoes>.
//! Everything that knows Clicksign lives in this folder; `README.md` beside it says what
//! signgate sends and how it reads the answers.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;

use std::sync::Arc;

pub use client::Clicksign;
pub use settings::ClicksignSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// A Clicksign code: the envelope's UUID, `:`, the document's UUID (the default routing rule;
/// hex digits in either case, as the UUID rule of the other kinds).
pub const CODE_RULE: &str = concat!(
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    ":[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
);

/// The `clicksign` kind.
pub static KIND: ClicksignKind = ClicksignKind;

/// Registers Clicksign: its keys, defaults, capabilities and client.
#[derive(Debug)]
pub struct ClicksignKind;

impl Kind for ClicksignKind {
    fn name(&self) -> &'static str {
        "clicksign"
    }

    fn keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn defaults(&self) -> &'static str {
        include_str!("defaults.toml")
    }

    // The pair of UUIDs: no other kind's code has this shape, so it needs no status read to
    // find its owner.
    fn default_rules(&self) -> &'static [&'static str] {
        &[CODE_RULE]
    }

    fn default_max_concurrency(&self) -> usize {
        4
    }

    fn simulator(&self) -> &'static dyn SimVendor {
        &simulator::SIM
    }

    fn conformance(&self) -> &'static dyn Conformance {
        &conformance::CONFORMANCE
    }

    fn config(
        &self,
        name: &str,
        table: config::Value,
    ) -> Result<Arc<dyn KindConfig>, SettingsError> {
        Ok(Arc::new(ClicksignSettings::parse(name, table)?))
    }
}
