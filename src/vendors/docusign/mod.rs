//! DocuSign eSignature REST v2.1: one envelope per void call, the JWT grant (or a pasted
//! token), the account's REST host from `/oauth/userinfo`, failures as `400` + `errorCode`,
//! 3,000 calls an hour and 500 in 30 s per account. Docs:
//! <https://developers.docusign.com/docs/esign-rest-api/>. Everything that knows DocuSign lives
//! in this folder; `README.md` beside it says what signgate sends and how it reads the answers.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;
#[cfg(test)]
mod test_keys;

use std::sync::Arc;

pub use client::token::{Claims, GRANT_TYPE, SCOPE};
pub use client::DocuSign;
pub use settings::DocuSignSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// The `docusign` kind.
pub static KIND: DocuSignKind = DocuSignKind;

/// Registers DocuSign: its keys, defaults, capabilities and client.
#[derive(Debug)]
pub struct DocuSignKind;

impl Kind for DocuSignKind {
    fn name(&self) -> &'static str {
        "docusign"
    }

    fn keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn defaults(&self) -> &'static str {
        include_str!("defaults.toml")
    }

    // Envelope IDs are UUIDs, like ZapSign's tokens: with both configured, the default UUID
    // rule names both, and a status read finds each code's owner.
    fn default_rules(&self) -> &'static [&'static str] {
        &[crate::vendors::kind::UUID_RULE]
    }

    fn default_max_concurrency(&self) -> usize {
        8
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
        Ok(Arc::new(DocuSignSettings::parse(name, table)?))
    }
}
