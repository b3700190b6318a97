//! Dropbox Sign (formerly HelloSign), API v3: one signature request per cancel call, HTTP Basic
//! with the API key, a cancel that is only queued (an empty `200`), a status read without a
//! status field, 100 calls a minute per account. Docs:
//! <https://developers.hellosign.com/api/reference/operation/signatureRequestCancel/>.
//! Everything that knows Dropbox Sign lives in this folder; `README.md` beside it says what
//! signgate sends and how it reads the answers.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;

use std::sync::Arc;

pub use client::DropboxSign;
pub use settings::DropboxSignSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// A signature request id: 40 lower-case hex characters (the default routing rule).
pub const ID_RULE: &str = "^[0-9a-f]{40}$";

/// The `dropboxsign` kind.
pub static KIND: DropboxSignKind = DropboxSignKind;

/// Registers Dropbox Sign: its keys, defaults, capabilities and client.
#[derive(Debug)]
pub struct DropboxSignKind;

impl Kind for DropboxSignKind {
    fn name(&self) -> &'static str {
        "dropboxsign"
    }

    fn keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn defaults(&self) -> &'static str {
        include_str!("defaults.toml")
    }

    fn default_rules(&self) -> &'static [&'static str] {
        &[ID_RULE]
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
        Ok(Arc::new(DropboxSignSettings::parse(name, table)?))
    }
}
