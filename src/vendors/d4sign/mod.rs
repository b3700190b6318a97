//! D4Sign (Brazil), API v1: one document per cancel call (`POST /documents/{uuid}/cancel`),
//! the credentials (`tokenAPI`, `cryptKey`) in the query string of every call, errors that may
//! come as a `200`, and a status read keyed on `statusId`. Docs: <https://docapi.d4sign.com.br/docs>
//! and <https://docapi.d4sign.com.br/docs/endpoints-2>. Everything that knows D4Sign lives in
//! this folder; `README.md` beside it says what signgate sends and how it reads the answers.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;

use std::sync::Arc;

pub use client::D4Sign;
pub use settings::D4SignSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// The `d4sign` kind.
pub static KIND: D4SignKind = D4SignKind;

/// Registers D4Sign: its keys, defaults, capabilities and client.
#[derive(Debug)]
pub struct D4SignKind;

impl Kind for D4SignKind {
    fn name(&self) -> &'static str {
        "d4sign"
    }

    fn keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn defaults(&self) -> &'static str {
        include_str!("defaults.toml")
    }

    // Document ids (`uuidDoc`) are UUIDs, like ZapSign's tokens: the shared UUID rule, whose
    // owner a status read finds.
    fn default_rules(&self) -> &'static [&'static str] {
        &[crate::vendors::kind::UUID_RULE]
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
        Ok(Arc::new(D4SignSettings::parse(name, table)?))
    }
}
