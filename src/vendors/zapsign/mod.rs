//! ZapSign (Brazil): one document per cancel call, Bearer token, mandatory `User-Agent`, error
//! bodies of several shapes, 500 calls a minute. Docs: <https://docs.zapsign.com.br> (API v1).
//! Everything that knows ZapSign lives in this folder; `README.md` beside it says what
//! signgate sends and how it reads the answers.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;

use std::sync::Arc;

pub use client::ZapSign;
pub use settings::ZapSignSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// The `zapsign` kind.
pub static KIND: ZapSignKind = ZapSignKind;

/// Registers ZapSign: its keys, defaults, capabilities and client.
#[derive(Debug)]
pub struct ZapSignKind;

impl Kind for ZapSignKind {
    fn name(&self) -> &'static str {
        "zapsign"
    }

    fn keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn defaults(&self) -> &'static str {
        include_str!("defaults.toml")
    }

    // ZapSign document tokens are UUIDs.
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
        Ok(Arc::new(ZapSignSettings::parse(name, table)?))
    }
}
