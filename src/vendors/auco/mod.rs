//! Auco (Colombia): batch cancel with the raw private key, status read with the public key.
//! Docs: <https://docs.auco.ai> (API v1.5). Everything that knows Auco lives in this folder;
//! `README.md` beside it says what signgate sends and how it reads the answers.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;

use std::sync::Arc;

pub use client::Auco;
pub use settings::AucoSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// The `auco` kind.
pub static KIND: AucoKind = AucoKind;

/// Registers Auco: its keys, defaults, capabilities and client.
#[derive(Debug)]
pub struct AucoKind;

impl Kind for AucoKind {
    fn name(&self) -> &'static str {
        "auco"
    }

    fn keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn defaults(&self) -> &'static str {
        include_str!("defaults.toml")
    }

    // Auco document codes have 10 characters, contract codes 9.
    fn default_rules(&self) -> &'static [&'static str] {
        &["^[A-Z0-9]{9,10}$"]
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
        Ok(Arc::new(AucoSettings::parse(name, table)?))
    }
}
