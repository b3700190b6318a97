//! `SimVendor`: what one vendor's simulated API tells the generic simulator, and the shared
//! document store its state lives in.

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::Router;

use super::{SimConfig, Simulator, VendorOptions};

/// One simulated endpoint of a vendor: its calls are counted under `(vendor, name)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The endpoint's name within its vendor (`cancel`, `refuse`, `status`).
    pub name: &'static str,
    /// Whether a call cancels a document, so that faults "after cancel" fire after it.
    pub cancels: bool,
}

/// One vendor's simulated API, as the generic simulator sees it. Each vendor implements it on
/// a unit struct in `vendors::<kind>::simulator` (`pub static SIM`), and
/// `simulator::vendors()` lists them.
pub trait SimVendor: Send + Sync {
    /// The vendor's name, as in the gateway's settings (`[vendors.NAME]`) and in call counts.
    fn name(&self) -> &'static str;

    /// Where its API lives on the simulator (`/auco/v1.5/ext`).
    fn prefix(&self) -> &'static str;

    /// Every endpoint it serves (each counted from zero).
    fn endpoints(&self) -> &'static [Endpoint];

    /// Its routes, relative to `prefix`, each put behind the fault layer with
    /// `Simulator::faulty`.
    fn router(&self, sim: &Simulator) -> Router;

    /// Checks the vendor-specific options set for it (`SimConfig::set_option`).
    fn check_options(&self, options: &VendorOptions) -> Result<(), String>;

    /// Its state for one simulator: documents, and whatever else it keeps (a rate limit),
    /// built from `config`. The vendor reads it back with `Simulator::state`.
    fn new_state(&self, config: &SimConfig) -> Box<dyn Any + Send + Sync>;

    /// The body of an injected error (`500`, `504`, `429`) in the vendor's usual shape.
    fn error_body(&self, text: &str) -> serde_json::Value;

    /// The fixed credentials it accepts, as `(settings key, value)` pairs of its
    /// `[vendors.NAME]` table, for the gateway and client teams.
    fn credentials(&self) -> &'static [(&'static str, &'static str)];

    /// The lines under its base URL in `Simulator::describe`: how to authenticate, limits.
    fn describe(&self, sim: &Simulator) -> Vec<String>;

    /// Creates its demo documents, at least one in every state.
    fn seed_demo(&self, sim: &Simulator);

    /// Its demo documents for a terminal: `(state label, codes)` rows.
    fn describe_demo(&self) -> Vec<(&'static str, String)>;

    /// The base URL the gateway's settings use for it on a simulator at `addr`.
    fn base_url(&self, addr: SocketAddr) -> String {
        format!("http://{addr}{}", self.prefix())
    }
}

/// A vendor's documents by code, each in the vendor's own state type.
#[derive(Debug)]
pub struct Documents<S>(Mutex<HashMap<String, S>>);

impl<S> Default for Documents<S> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<S: Copy> Documents<S> {
    /// Creates or overwrites a document.
    pub fn insert(&self, code: &str, state: S) {
        self.lock().insert(code.to_owned(), state);
    }

    /// A document's state, if known.
    pub fn get(&self, code: &str) -> Option<S> {
        self.lock().get(code).copied()
    }

    /// The whole map, for a read and an update under one lock.
    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, S>> {
        lock(&self.0)
    }
}

/// Locks `mutex`. A panic while holding it cannot leave a map half-updated: keep serving.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
