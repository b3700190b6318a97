//! A stateful simulator of the Auco and ZapSign APIs, for the demo, tests and benchmarks.
//!
//! Auco is served under `/auco/v1.5/ext` and ZapSign under `/zapsign/api/v1`, each as SPEC
//! section 3 describes the real vendor. Documents keep their state, so a second cancel gets the
//! vendor's real refusal; latency and faults can be injected per call (`SimConfig`), and every
//! call is counted per endpoint so tests can assert what reached the "vendor".

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

mod config;
pub(crate) mod faults;
mod net;
mod seed;

pub use crate::vendors::auco::simulator::AucoState;
pub use crate::vendors::zapsign::simulator::ZapSignState;
pub use config::{parse_share, Faults, Latency, SimConfig};
pub use seed::{describe_demo_documents, DEMO_AUCO, DEMO_ZAPSIGN};

use net::{Conn, SimListener};

/// Where the simulated Auco API lives on the simulator.
pub const AUCO_PREFIX: &str = "/auco/v1.5/ext";
/// Where the simulated ZapSign API lives on the simulator.
pub const ZAPSIGN_PREFIX: &str = "/zapsign/api/v1";

/// How long in-flight calls may take to finish once the simulator is told to stop (a call
/// hanging for an injected timeout would otherwise hold the process for a minute).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// One simulated endpoint, for call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Auco `POST /document/cancel`.
    AucoCancel,
    /// Auco `GET /document?code=`.
    AucoStatus,
    /// ZapSign `POST /refuse/`.
    ZapSignRefuse,
    /// ZapSign `GET /docs/{token}/`.
    ZapSignStatus,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 4] = [
        Endpoint::AucoCancel,
        Endpoint::AucoStatus,
        Endpoint::ZapSignRefuse,
        Endpoint::ZapSignStatus,
    ];

    fn index(self) -> usize {
        match self {
            Self::AucoCancel => 0,
            Self::AucoStatus => 1,
            Self::ZapSignRefuse => 2,
            Self::ZapSignStatus => 3,
        }
    }

    fn is_cancel(self) -> bool {
        match self {
            Self::AucoCancel | Self::ZapSignRefuse => true,
            Self::AucoStatus | Self::ZapSignStatus => false,
        }
    }
}

/// The simulator: configuration, document state and call counts, shared by every clone.
#[derive(Debug, Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    config: RwLock<SimConfig>,
    pub(crate) auco: Mutex<HashMap<String, AucoState>>,
    pub(crate) zapsign: Mutex<HashMap<String, ZapSignState>>,
    pub(crate) throttle: Mutex<crate::vendors::zapsign::simulator::Throttle>,
    calls: [AtomicU64; 4],
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a map half-updated: keep serving.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Simulator {
    /// An empty simulator (no documents) with this configuration.
    pub fn new(config: SimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                auco: Mutex::default(),
                zapsign: Mutex::default(),
                throttle: Mutex::default(),
                calls: Default::default(),
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

    /// Creates or overwrites an Auco document.
    pub fn seed_auco(&self, code: &str, state: AucoState) {
        lock(&self.inner.auco).insert(code.to_owned(), state);
    }

    /// Creates or overwrites a ZapSign document.
    pub fn seed_zapsign(&self, token: &str, state: ZapSignState) {
        lock(&self.inner.zapsign).insert(token.to_owned(), state);
    }

    /// An Auco document's state, if the simulator knows it.
    pub fn auco_state(&self, code: &str) -> Option<AucoState> {
        lock(&self.inner.auco).get(code).copied()
    }

    /// A ZapSign document's state, if the simulator knows it.
    pub fn zapsign_state(&self, token: &str) -> Option<ZapSignState> {
        lock(&self.inner.zapsign).get(token).copied()
    }

    /// How many calls reached `endpoint`, whatever they were answered (faults included).
    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.inner.calls[endpoint.index()].load(Ordering::Relaxed)
    }

    /// Both vendors' APIs under their prefixes.
    pub fn router(&self) -> Router {
        Router::new()
            .nest(
                AUCO_PREFIX,
                crate::vendors::auco::simulator::router(self.clone()),
            )
            .nest(
                ZAPSIGN_PREFIX,
                crate::vendors::zapsign::simulator::router(self.clone()),
            )
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
        let config = self.read_config();
        format!(
            "  auco     {}\n           Authorization: {} (cancel), {} (status)\n  \
             zapsign  {}\n           Authorization: Bearer {} (at most {} calls a minute)\n",
            auco_base_url(addr),
            config.auco_private_key,
            config.auco_public_key,
            zapsign_base_url(addr),
            config.zapsign_token,
            config.zapsign_requests_per_minute,
        )
    }

    pub(crate) fn count(&self, endpoint: Endpoint) {
        self.inner.calls[endpoint.index()].fetch_add(1, Ordering::Relaxed);
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

/// The base URL a client configures for the simulated Auco at `addr`.
pub fn auco_base_url(addr: SocketAddr) -> String {
    format!("http://{addr}{AUCO_PREFIX}")
}

/// The base URL a client configures for the simulated ZapSign at `addr`.
pub fn zapsign_base_url(addr: SocketAddr) -> String {
    format!("http://{addr}{ZAPSIGN_PREFIX}")
}

#[cfg(test)]
pub(crate) mod tests;
