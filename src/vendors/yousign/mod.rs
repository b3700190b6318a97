//! Yousign (France), API v3: one signature request per cancel call, a Bearer API key, errors
//! as `{"type", "detail"}`, 60 calls a minute and 1,200 an hour in production. Docs:
//! <https://developers.yousign.com/docs/signature-request-2> (statuses, what can be cancelled),
//! <https://developers.yousign.com/reference/errors-1>,
//! <https://developers.yousign.com/docs/limits-new>, and Yousign's OpenAPI description
//! <https://developers.yousign.com/openapi/6797ad02b552bd002410c61a>. Everything that knows
//! Yousign lives in this folder; `README.md` beside it says what signgate sends and how it
//! reads the answers.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;

use std::sync::Arc;

pub use client::Yousign;
pub use settings::YousignSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// The `yousign` kind.
pub static KIND: YousignKind = YousignKind;

/// Registers Yousign: its keys, defaults, capabilities and client.
#[derive(Debug)]
pub struct YousignKind;

impl Kind for YousignKind {
    fn name(&self) -> &'static str {
        "yousign"
    }

    fn keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }

    fn defaults(&self) -> &'static str {
        include_str!("defaults.toml")
    }

    fn default_rules(&self) -> &'static [&'static str] {
        &[crate::vendors::kind::UUID_RULE]
    }

    // 60 calls a minute: a handful in flight is all the pace allows anyway.
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
        Ok(Arc::new(YousignSettings::parse(name, table)?))
    }
}
