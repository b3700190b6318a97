//! Example Sign: a made-up, per-document vendor that exists only in test builds, to prove
//! that a vendor is its folder plus one `KINDS` line. Not a real vendor: see `README.md`.
//! Everything that knows Example Sign lives in this folder.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use client::ExampleSign;
pub use settings::ExampleSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// The `example` kind.
pub static KIND: ExampleKind = ExampleKind;

/// Registers Example Sign: its keys, (empty) defaults, capabilities and client.
#[derive(Debug)]
pub struct ExampleKind;

impl Kind for ExampleKind {
    fn name(&self) -> &'static str {
        "example"
    }

    fn keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn defaults(&self) -> &'static str {
        include_str!("defaults.toml")
    }

    // Off until configured: its documents are routed only by an `example:` prefix.
    fn default_rules(&self) -> &'static [&'static str] {
        &[]
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
        Ok(Arc::new(ExampleSettings::parse(name, table)?))
    }
}
