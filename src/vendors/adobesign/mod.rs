//! Adobe Acrobat Sign REST v6: one agreement per cancel call (`PUT …/agreements/{id}/state`
//! with `CANCELLED`), an OAuth access token renewed with the consent's refresh token, the
//! account's API host from `GET /api/rest/v6/baseUris`, failures as `{"code","message"}` and
//! dynamic throttling (`429` + `Retry-After`). Docs:
//! <https://developer.adobe.com/acrobat-sign/docs/overview/developer_guide/> and the REST
//! reference <https://secure.na1.adobesign.com/public/docs/restapi/v6>. Everything that knows
//! Acrobat Sign lives in this folder; `README.md` beside it says what signgate sends and how it
//! reads the answers.

mod client;
pub mod conformance;
mod settings;
pub mod simulator;

use std::sync::Arc;

pub use client::AdobeSign;
pub use settings::AdobeSignSettings;

use crate::settings::SettingsError;
use crate::simulator::SimVendor;
use crate::vendors::conformance::Conformance;
use crate::vendors::kind::{Kind, KindConfig};

/// An agreement ID: `CBJCHBCAABAA` and 32 URL-safe base64 characters (the default routing
/// rule; Acrobat Sign's IDs all carry that prefix).
pub const ID_RULE: &str = "^CBJCHBCAABAA[A-Za-z0-9_-]{32}$";

/// The `adobesign` kind.
pub static KIND: AdobeSignKind = AdobeSignKind;

/// Registers Acrobat Sign: its keys, defaults, capabilities and client.
#[derive(Debug)]
pub struct AdobeSignKind;

impl Kind for AdobeSignKind {
    fn name(&self) -> &'static str {
        "adobesign"
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
        Ok(Arc::new(AdobeSignSettings::parse(name, table)?))
    }
}
