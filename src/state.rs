//! `AppState`: what every request shares (settings, gateway, keys, store, limits).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::auth::ApiKeys;
use crate::cancellation::Gateway;
use crate::rate_limit::InboundLimit;
use crate::routing;
use crate::settings::Settings;
use crate::store::Store;
use crate::supervisor::{Supervisor, TaskHealth};
use crate::vendors::Registry;

/// Shared by every request: one `Arc`, so the clone that every extractor and layer makes is
/// one reference count, not one per field.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What `AppState` shares.
#[derive(Debug)]
pub struct Shared {
    /// The loaded settings.
    pub settings: Settings,
    /// Routing and vendors.
    pub gateway: Gateway,
    /// The accepted API keys.
    pub keys: ApiKeys,
    /// Idempotency keys and the audit trail.
    pub store: Arc<dyn Store>,
    /// Permits for API requests in flight (`server.max_in_flight`).
    pub in_flight: Semaphore,
    /// The process's inbound rate limit, when `server.rate_limit_per_second` is set.
    pub rate_limit: Option<Arc<InboundLimit>>,
    /// Which supervised background tasks are down (`/readyz`).
    pub tasks: Arc<TaskHealth>,
    draining: AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State for these settings and vendors.
    pub fn new(
        settings: Settings,
        registry: Registry,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        crate::metrics::handle();
        let router = routing::Router::from_settings(&settings);
        let api_key = settings
            .auth
            .api_key
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("auth.api_key is required"))?;
        let keys = ApiKeys::new(api_key, settings.auth.previous_api_key.as_ref());
        Ok(Self(Arc::new(Shared {
            gateway: Gateway::new(router, registry, Arc::clone(&store)),
            keys,
            store,
            in_flight: Semaphore::new(settings.server.max_in_flight),
            rate_limit: InboundLimit::from_settings(&settings.server),
            settings,
            tasks: Arc::default(),
            draining: AtomicBool::new(false),
        })))
    }

    /// A supervisor for background tasks, reporting into `tasks`.
    pub fn supervisor(&self) -> Supervisor {
        Supervisor::new(
            Arc::clone(&self.tasks),
            self.settings.server.task_restart_backoff(),
        )
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Marks the service as shutting down: API requests get `503` from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}
