//! A stateful simulator of the vendors' APIs, for the demo, tests and benchmarks.
//!
//! Each simulated vendor (`vendors()`, each a `SimVendor` in its `vendors::<kind>` folder) is
//! served under its own prefix, as docs/vendors.md describes the real vendor. Documents keep
//! their state, so a second cancel gets the vendor's real refusal; latency and faults can be
//! injected per call (`SimConfig`), and every call is counted per (vendor, endpoint) so tests
//! can assert what reached the "vendor".

use std::any::Any;
use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::middleware::from_fn_with_state;
use axum::routing::MethodRouter;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

mod config;
mod faults;
mod net;
mod seed;
mod vendor;
pub mod window;

pub use config::{parse_share, Faults, Latency, SimConfig, VendorOptions};
pub use seed::describe_demo_documents;
pub use vendor::{lock, Documents, Endpoint, SimVendor};

use net::{Conn, SimListener};

/// Every simulated vendor, in `KINDS` order (`Kind::simulator`).
pub fn vendors() -> &'static [&'static dyn SimVendor] {
    static VENDORS: std::sync::OnceLock<Vec<&'static dyn SimVendor>> = std::sync::OnceLock::new();
    VENDORS.get_or_init(|| {
        crate::vendors::KINDS
            .iter()
            .map(|kind| kind.simulator())
            .collect()
    })
}

/// The width of the longest vendor name, for columns in a terminal.
fn name_width(vendors: &[&dyn SimVendor]) -> usize {
    vendors.iter().map(|v| v.name().len()).max().unwrap_or(0)
}

/// How long in-flight calls may take to finish once the simulator is told to stop (a call
/// hanging for an injected timeout would otherwise hold the process for a minute).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The simulator: configuration, each vendor's state and call counts, shared by every clone.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inner.vendors.iter().map(|v| v.name()).collect();
        f.debug_struct("Simulator")
            .field("config", &*self.read_config())
            .field("vendors", &names)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: RwLock<SimConfig>,
    vendors: &'static [&'static dyn SimVendor],
    /// Each vendor's state, by vendor name, as its `SimVendor::new_state` built it.
    states: HashMap<&'static str, Box<dyn Any + Send + Sync>>,
    /// Calls per (vendor, endpoint), every endpoint present from the start.
    calls: HashMap<(&'static str, &'static str), AtomicU64>,
}

impl Simulator {
    /// An empty simulator (no documents) of every vendor in `vendors()`, with this
    /// configuration.
    pub fn new(config: SimConfig) -> Self {
        let vendors = vendors();
        let states = vendors
            .iter()
            .map(|v| (v.name(), v.new_state(&config)))
            .collect();
        let calls = vendors
            .iter()
            .flat_map(|v| {
                v.endpoints()
                    .iter()
                    .map(|e| ((v.name(), e.name), AtomicU64::new(0)))
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                vendors,
                states,
                calls,
            }),
        }
    }

    /// The current configuration.
    pub fn config(&self) -> SimConfig {
        self.read_config().clone()
    }

    /// Changes the injected faults from the next call on.
    pub fn set_faults(&self, faults: Faults) {
        self.write_config().faults = faults;
    }

    /// Changes the added latency from the next call on.
    pub fn set_latency(&self, latency: Latency) {
        self.write_config().latency = latency;
    }

    /// Whether codes nobody seeded count as documents in progress.
    pub fn unknown_in_progress(&self) -> bool {
        self.read_config().unknown_in_progress
    }

    /// `vendor`'s state, as its `SimVendor::new_state` built it; `None` for a vendor this
    /// simulator does not serve, or the wrong type.
    pub fn state<T: Any>(&self, vendor: &str) -> Option<&T> {
        self.inner.states.get(vendor)?.downcast_ref()
    }

    /// How many calls reached `endpoint` of `vendor`, whatever they were answered (faults
    /// included); 0 for an endpoint nobody serves.
    pub fn calls(&self, vendor: &str, endpoint: &str) -> u64 {
        self.inner
            .calls
            .get(&(vendor, endpoint))
            .map_or(0, |count| count.load(Ordering::Relaxed))
    }

    /// `route` behind the layer that counts its calls, waits the latency and injects faults.
    pub fn faulty(
        &self,
        vendor: &'static dyn SimVendor,
        endpoint: Endpoint,
        route: MethodRouter<Simulator>,
    ) -> MethodRouter<Simulator> {
        let at = faults::At {
            sim: self.clone(),
            vendor,
            endpoint,
        };
        route.layer(from_fn_with_state(at, faults::apply))
    }

    /// Every vendor's API under its prefix.
    pub fn router(&self) -> Router {
        self.inner.vendors.iter().fold(Router::new(), |router, v| {
            router.nest(v.prefix(), v.router(self))
        })
    }

    /// Binds `addr` (port 0 picks a free port) and serves in the background until the task is
    /// aborted. Returns the bound address.
    pub async fn spawn(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let sim = self.clone();
        let task = tokio::spawn(async move { sim.serve(listener, std::future::pending()).await });
        Ok((bound, task))
    }

    /// Serves on `listener` until `stop` resolves, then lets calls in flight finish for a
    /// short grace period.
    pub async fn serve(
        &self,
        listener: TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stopped, stop_seen) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            stop.await;
            let _ = stopped.send(());
        };
        let service = self.router().into_make_service_with_connect_info::<Conn>();
        let server = axum::serve(SimListener(listener), service).with_graceful_shutdown(signal);
        let grace_over = async move {
            match stop_seen.await {
                Ok(()) => tokio::time::sleep(STOP_GRACE).await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            result = server.into_future() => result,
            () = grace_over => Ok(()),
        }
    }

    /// For a terminal: the base URLs served at `addr` and the credentials each accepts.
    pub fn describe(&self, addr: SocketAddr) -> String {
        let mut text = String::new();
        let width = name_width(self.inner.vendors);
        for vendor in self.inner.vendors {
            text.push_str(&format!(
                "  {:<width$} {}\n",
                vendor.name(),
                vendor.base_url(addr)
            ));
            for line in vendor.describe(self) {
                text.push_str(&format!("  {:width$} {line}\n", ""));
            }
        }
        text
    }

    fn count(&self, vendor: &str, endpoint: &str) {
        if let Some(count) = self.inner.calls.get(&(vendor, endpoint)) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn behaviour(&self) -> (Latency, Faults) {
        let config = self.read_config();
        (config.latency, config.faults)
    }

    fn read_config(&self) -> std::sync::RwLockReadGuard<'_, SimConfig> {
        self.inner
            .config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_config(&self) -> std::sync::RwLockWriteGuard<'_, SimConfig> {
        self.inner
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
pub(crate) mod tests;
