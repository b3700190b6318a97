//! Building and running the service: state, layers, and graceful shutdown around the listener
//! (`server`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;
use crate::recovery;
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::Store;
use crate::vendors::Registry;

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
        let store = crate::store::connect(settings.store.url.expose()).await?;
        let registry = Registry::from_settings(&settings, &store);
        Self::build_on(settings, registry, store).await
    }

    /// Like `build`, with the vendors supplied by the caller.
    pub async fn build_with(settings: Settings, registry: Registry) -> anyhow::Result<Self> {
        let store = crate::store::connect(settings.store.url.expose()).await?;
        Self::build_on(settings, registry, store).await
    }

    /// Like `build_with`, on a store the caller connected (and may have built `registry` on).
    pub async fn build_on(
        settings: Settings,
        registry: Registry,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        let addr = settings.server.listen;
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
        let state = self.state.clone();
        let (started, drain_started) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            stop.await;
            state.start_draining();
            tracing::info!("Stop requested; finishing requests in flight.");
            let _ = started.send(());
        };
        let store = Arc::clone(&self.state.store);
        let supervisor = self.state.supervisor();
        let purger = crate::idempotency::spawn_purger(&supervisor, Arc::clone(&store));
        let recovery = recovery::spawn(self.state.clone());
        let retention =
            crate::retention::spawn(&supervisor, Arc::clone(&store), &self.state.settings.store);
        let jobs = crate::jobs::runner::spawn(&self.state);
        let slice_deadline = self.state.settings.server.request_timeout();
        let settings = &self.state.settings;
        let largest_body = settings
            .server
            .max_body_bytes
            .max(settings.jobs.max_body_bytes);
        let limits = crate::server::Limits::from_settings(&settings.server, largest_body);
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
        // Lanes claim nothing once draining; a slice under way gets its deadline to finish.
        jobs.stop(slice_deadline.min(grace)).await;
        // Every finished request has written its audit rows; close the pool cleanly.
        purger.abort();
        // Interrupting a recovery pass is safe: its leases lapse and its status reads repeat.
        recovery.abort();
        // Interrupting a purge is safe too: each batch is its own transaction.
        retention.abort();
        store.close().await;
        result
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when the
/// future is first polled: call it before announcing that the process listens, so that a
/// signal sent right after the announcement stops it cleanly instead of killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = signal(SignalKind::terminate())
            .and_then(|term| signal(SignalKind::interrupt()).map(|interrupt| (term, interrupt)));
        async move {
            match handlers {
                Ok((mut term, mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
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
            ("SIGNGATE__AUTH__API_KEY", "test-api-key-0123456789"),
            ("SIGNGATE__STORE__URL", "sqlite::memory:"),
        ];
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = Settings::from_sources(None, None, env).unwrap();
        let store = crate::store::connect("sqlite::memory:").await.unwrap();
        let state = AppState::new(settings, Registry::default(), store).unwrap();
        state.start_draining();
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
