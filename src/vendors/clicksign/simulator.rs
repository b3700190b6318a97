//! Simulated Clicksign API v3: documents inside envelopes addressed as
//! `/envelopes/{envelope}/documents/{document}`, the access token as `Authorization` without
//! a scheme, JSON:API bodies and errors (an integer `status`), a cancel that is a `PATCH` of a
//! running document's status, and a fixed 10-second rate limit per account with Clicksign's
//! `X-Rate-Limit-*` headers on every answer. Docs:
//! <https://developers.clicksign.com/v2.0/docs/alterar-documento>,
//! <https://developers.clicksign.com/docs/limite-de-requisicoes>.

use std::any::Any;
use std::sync::Mutex;

use axum::routing::{get, patch};
use axum::Router;
use serde_json::{json, Value};

use crate::simulator::{Documents, Endpoint, SimConfig, SimVendor, Simulator, VendorOptions};

mod handlers;

use crate::simulator::window::Window;

/// Clicksign counts calls in windows of 10 seconds.
const WINDOW_SECS: u64 = 10;

/// The simulated Clicksign, handed to `simulator::vendors()` by `Kind::simulator`.
pub static SIM: ClicksignSim = ClicksignSim;

/// The access token the simulator accepts, sent as `Authorization` as is.
pub const ACCESS_TOKEN: &str = "sim-clicksign-token";

/// Clicksign's production limit per account in each fixed 10-second window, unless the
/// `requests_per_10s` option says otherwise.
pub const REQUESTS_PER_10S: u32 = 50;

/// `PATCH /envelopes/{envelope}/documents/{document}`, counted as `("clicksign", "cancel")`.
pub const CANCEL: Endpoint = Endpoint {
    name: "cancel",
    cancels: true,
};
/// `GET /envelopes/{envelope}/documents/{document}`, counted as `("clicksign", "status")`.
pub const STATUS: Endpoint = Endpoint {
    name: "status",
    cancels: false,
};

/// The demo documents' envelope.
pub const DEMO_ENVELOPE: &str = "c1c5c1c5-0000-4000-8000-00000000e001";

/// The demo documents `seed_demo` creates, as `ENVELOPE_ID:DOCUMENT_ID` codes, all in
/// `DEMO_ENVELOPE` (the last four digits tell the state: `000N` running, `0101` canceled,
/// `0201` closed, `0301` draft).
pub const DEMO: [(&str, ClicksignState); 6] = [
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000001",
        ClicksignState::Running,
    ),
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000002",
        ClicksignState::Running,
    ),
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000003",
        ClicksignState::Running,
    ),
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000101",
        ClicksignState::Canceled,
    ),
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000201",
        ClicksignState::Closed,
    ),
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000301",
        ClicksignState::Draft,
    ),
];

/// Creates or overwrites the Clicksign document `code` (`ENVELOPE_ID:DOCUMENT_ID`) on `sim`.
pub fn seed(sim: &Simulator, code: &str, state: ClicksignState) {
    own(sim).docs.insert(code, state);
}

/// The state of the Clicksign document `code` on `sim`, if the simulator knows it.
pub fn state(sim: &Simulator, code: &str) -> Option<ClicksignState> {
    own(sim).docs.get(code)
}

/// A Clicksign document's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClicksignState {
    /// Not yet activated: its status cannot change through the API.
    Draft,
    /// Being signed: the only status that can change (to canceled or closed).
    Running,
    /// Finished: signed.
    Closed,
    /// Cancelled.
    Canceled,
}

impl ClicksignState {
    /// The `status` Clicksign reports.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Running => "running",
            Self::Closed => "closed",
            Self::Canceled => "canceled",
        }
    }
}

/// The simulated Clicksign: see `SimVendor`.
#[derive(Debug)]
pub struct ClicksignSim;

impl SimVendor for ClicksignSim {
    fn name(&self) -> &'static str {
        "clicksign"
    }

    fn prefix(&self) -> &'static str {
        "/clicksign/api/v3"
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        &[CANCEL, STATUS]
    }

    /// `/envelopes/{envelope}/documents/{document}`: its `PATCH` and its `GET`, each behind
    /// the fault layer.
    fn router(&self, sim: &Simulator) -> Router {
        let document = sim
            .faulty(&SIM, CANCEL, patch(handlers::cancel))
            .merge(sim.faulty(&SIM, STATUS, get(handlers::status)));
        Router::new()
            .route("/envelopes/{envelope}/documents/{document}", document)
            .with_state(sim.clone())
    }

    fn check_options(&self, options: &VendorOptions) -> Result<(), String> {
        Options::read(options).map(drop)
    }

    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync> {
        let options = Options::read(config.vendor_options(self.name())).unwrap_or_default();
        Box::new(Own {
            docs: Documents::default(),
            window: Mutex::new(Window::new(WINDOW_SECS)),
            options,
        })
    }

    /// Clicksign's JSON:API error shape; a throttled call is `too_many_requests`.
    fn error_body(&self, text: &str) -> Value {
        let (status, code) = match text {
            "Request was throttled." => (429, "too_many_requests"),
            "Gateway Timeout" => (504, "gateway_timeout"),
            _ => (500, "internal_server_error"),
        };
        errors(status, code, text)
    }

    fn credentials(&self) -> &'static [(&'static str, &'static str)] {
        &[("access_token", ACCESS_TOKEN)]
    }

    fn describe(&self, sim: &Simulator) -> Vec<String> {
        vec![
            format!(
                "Authorization: {ACCESS_TOKEN} (the access token, no scheme; at most {} calls \
                 per 10 s)",
                own(sim).options.requests_per_10s
            ),
            "codes are ENVELOPE_ID:DOCUMENT_ID; only a running document can be canceled".into(),
        ]
    }

    fn seed_demo(&self, sim: &Simulator) {
        for (code, state) in DEMO {
            seed(sim, code, state);
        }
    }

    /// One row per code: 73 characters do not fit several on a line.
    fn describe_demo(&self) -> Vec<(&'static str, String)> {
        let label = |state| match state {
            ClicksignState::Running => "running",
            ClicksignState::Canceled => "already cancelled",
            ClicksignState::Closed => "signed",
            ClicksignState::Draft => "draft",
        };
        DEMO.iter()
            .map(|(code, state)| (label(*state), (*code).to_owned()))
            .collect()
    }
}

/// Clicksign's state on one simulator.
struct Own {
    /// Documents by `ENVELOPE_ID:DOCUMENT_ID`.
    docs: Documents<ClicksignState>,
    window: Mutex<Window>,
    options: Options,
}

/// Clicksign's options (`SimConfig::set_option("clicksign", …)`).
#[derive(Debug, Clone, Copy)]
struct Options {
    /// `requests_per_10s`: the limit per account in each fixed 10-second window (the sandbox
    /// allows 20).
    requests_per_10s: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            requests_per_10s: REQUESTS_PER_10S,
        }
    }
}

impl Options {
    fn read(options: &VendorOptions) -> Result<Self, String> {
        let mut read = Self::default();
        for (name, value) in options {
            match name.as_str() {
                "requests_per_10s" => {
                    read.requests_per_10s = value
                        .parse::<u32>()
                        .map_err(|_| format!("`{value}` is not a whole number of calls"))?;
                }
                other => return Err(format!("the simulated Clicksign has no option `{other}`")),
            }
        }
        Ok(read)
    }
}

fn own(sim: &Simulator) -> &Own {
    sim.state(SIM.name())
        .expect("the simulator builds Clicksign's state from simulator::vendors()")
}

/// A JSON:API error body as Clicksign writes it: `status` is an integer.
fn errors(status: u16, code: &str, detail: &str) -> Value {
    json!({ "errors": [{ "code": code, "status": status, "detail": detail }] })
}

#[cfg(test)]
mod tests;
