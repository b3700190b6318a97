//! Building and running the service: state, layers, and graceful shutdown around the listener
//! (`server`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;

use crate::audit::{self, RequestMeta};
use crate::auth::ApiKeys;
use crate::cancellation::{CancelCommand, Gateway};
use crate::error::ApiError;
use crate::model::DocumentResult;
use crate::rate_limit::InboundLimit;
use crate::recovery;
use crate::routing;
use crate::settings::Settings;
use crate::store::Store;
use crate::vendors::Registry;

/// Shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The loaded settings.
    pub settings: Arc<Settings>,
    /// Routing and vendors.
    pub gateway: Arc<Gateway>,
    /// The accepted API keys.
    pub keys: Arc<ApiKeys>,
    /// Idempotency keys and the audit trail.
    pub store: Arc<dyn Store>,
    /// Permits for API requests in flight (`server.max_in_flight`).
    pub in_flight: Arc<Semaphore>,
    /// The process's inbound rate limit, when `server.rate_limit_per_second` is set.
    pub rate_limit: Option<Arc<InboundLimit>>,
    draining: Arc<AtomicBool>,
}

impl AppState {
    /// State for these settings and vendors.
    pub fn new(
        settings: Settings,
        registry: Registry,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        crate::metrics::handle();
        let router = routing::Router::from_settings(&settings)?;
        let api_key = settings
            .auth
            .api_key
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("auth.api_key is required"))?;
        let keys = ApiKeys::new(api_key, settings.auth.previous_api_key.as_ref());
        Ok(Self {
            gateway: Arc::new(Gateway::new(router, registry)),
            keys: Arc::new(keys),
            store,
            in_flight: Arc::new(Semaphore::new(settings.server.max_in_flight)),
            rate_limit: InboundLimit::from_settings(&settings.server),
            settings: Arc::new(settings),
            draining: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Carries out a validated cancel request under the request deadline: routes it, writes
    /// the pending audit rows (`503` and no vendor call if that fails), calls the vendors, and
    /// records the outcomes. `took_over`: the request's `Idempotency-Key` was taken over from
    /// an attempt that did not finish, whose `pending` documents are read before any send.
    pub async fn cancel(
        &self,
        command: &CancelCommand,
        meta: &RequestMeta,
        took_over: bool,
    ) -> Result<Vec<DocumentResult>, ApiError> {
        let deadline = Instant::now() + self.settings.server.request_timeout();
        let mut results = self.gateway.plan(command);
        let adopted = match took_over {
            true => recovery::adopt(&self.store, &self.settings, meta)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "Earlier attempt's rows could not be adopted.");
                    ApiError::unavailable(
                        "The audit store cannot be written; no vendor was called.",
                    )
                })?,
            false => recovery::Adopted::default(),
        };
        let resumed: Vec<bool> = results.iter().map(|r| adopted.covers(&r.code)).collect();
        let sent: Vec<bool> = results.iter().map(|r| self.gateway.will_send(r)).collect();
        let rows = audit::pending_rows(meta, command, &results, &sent);
        audit::write_pending(&self.store, &rows).await?;
        self.gateway
            .execute(command, &mut results, &resumed, &meta.request_id, deadline)
            .await;
        audit::record_outcomes(&self.store, rows, &results).await;
        adopted.settle(&self.store, meta, &results).await;
        crate::metrics::documents(&results);
        Ok(results)
    }
}

/// The router with every layer.
pub fn app(state: AppState) -> Router {
    let max_body = state.settings.server.max_body_bytes;
    with_layers(crate::routes::router(state), max_body)
}

/// The layers around any router, outermost last: body limit, panic catcher, request context.
pub fn with_layers(router: Router, max_body_bytes: usize) -> Router {
    router
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(|_panic| {
            tracing::error!("A request handler panicked.");
            axum::response::IntoResponse::into_response(ApiError::Internal)
        }))
        .layer(axum::middleware::from_fn(
            crate::middleware::request_context,
        ))
}

/// A bound, ready-to-run service.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the store, builds the vendors on it (rate limits shared through Postgres) and
    /// binds `server.listen` (port 0 picks a free port, for tests).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = crate::store::connect(&settings.store.url).await?;
        let registry = Registry::from_settings(&settings, &store);
        Self::build_on(settings, registry, store).await
    }

    /// Like `build`, with the vendors supplied by the caller.
    pub async fn build_with(settings: Settings, registry: Registry) -> anyhow::Result<Self> {
        let store = crate::store::connect(&settings.store.url).await?;
        Self::build_on(settings, registry, store).await
    }

    /// Like `build_with`, on a store the caller connected (and may have built `registry` on).
    pub async fn build_on(
        settings: Settings,
        registry: Registry,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        let addr = settings.listen_addr()?;
        let listener = TcpListener::bind(addr).await?;
        let state = AppState::new(settings, registry, store)?;
        Ok(Self { listener, state })
    }

    /// The store this service writes to.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.state.store)
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` resolves, then stops accepting, marks the service not ready, and
    /// lets requests in flight finish for at most `server.shutdown_grace_ms`.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.settings.server.shutdown_grace();
        let draining = Arc::clone(&self.state.draining);
        let (started, drain_started) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            stop.await;
            draining.store(true, Ordering::Relaxed);
            tracing::info!("Stop requested; finishing requests in flight.");
            let _ = started.send(());
        };
        let store = Arc::clone(&self.state.store);
        let purger = crate::idempotency::spawn_purger(Arc::clone(&store));
        let recovery = recovery::spawn(self.state.clone());
        let limits = crate::server::Limits::from_settings(&self.state.settings.server);
        let server = crate::server::serve(self.listener, app(self.state), limits, signal);
        let grace_over = async move {
            match drain_started.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            () = server => Ok(()),
            () = grace_over => {
                tracing::warn!("Grace period over; stopping with requests still in flight.");
                Ok(())
            }
        };
        // Every finished request has written its audit rows; close the pool cleanly.
        purger.abort();
        // Interrupting a recovery pass is safe: its leases lapse and its status reads repeat.
        recovery.abort();
        store.close().await;
        result
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_json_500_with_the_request_id() {
        let router = Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("a bug");
                }
                "unreachable"
            }),
        );
        let request = Request::get("/boom")
            .header("x-request-id", "r-1")
            .body(Body::empty());

        let response = with_layers(router, 1024)
            .oneshot(request.unwrap())
            .await
            .unwrap();

        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "internal");
        assert_eq!(json["error"]["request_id"], "r-1");
        assert!(!json["error"]["message"].as_str().unwrap().contains("a bug"));
    }

    #[tokio::test]
    async fn api_requests_get_503_once_shutdown_has_begun() {
        let env = [
            ("SIGNGATE__AUTH__API_KEY", "k"),
            ("SIGNGATE__STORE__URL", "sqlite::memory:"),
        ];
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = Settings::from_sources(None, None, env).unwrap();
        let store = crate::store::connect("sqlite::memory:").await.unwrap();
        let state = AppState::new(settings, Registry::default(), store).unwrap();
        state.draining.store(true, Ordering::Relaxed);
        let request = Request::post("/documents/cancel")
            .header("authorization", "k")
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"codes":["A1"],"message":"m","email":"a@b.co"}"#,
            ));

        let response = app(state.clone()).oneshot(request.unwrap()).await.unwrap();
        let ready = app(state)
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();

        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(ready.status(), 503);
    }
}
