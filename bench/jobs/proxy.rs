//! A counting reverse proxy between signgate and the simulator: it forwards every call
//! unchanged and records, per call, when it arrived (wall clock, as the simulator's fixed
//! windows count), which vendor it was for, whether it carried a job's document, and the
//! simulator's answer. The simulator process itself reports no counts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Call {
    /// When it arrived, since the Unix epoch.
    pub at: Duration,
    /// `zapsign`, `auco`, ...: the first path segment.
    pub vendor: String,
    /// `GET` (a status read) rather than a cancel.
    pub read: bool,
    /// Its path or body names a document of the job (`job_marker`).
    pub job: bool,
    /// The simulator's HTTP status; 0 when it could not be reached.
    pub status: u16,
}

struct Proxy {
    upstream: String,
    client: reqwest::Client,
    job_marker: String,
    calls: Mutex<Vec<Call>>,
}

/// The running proxy.
pub struct Running {
    proxy: Arc<Proxy>,
    task: JoinHandle<()>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Running {
    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = lock(&self.proxy.calls).clone();
        calls.sort_by_key(|c| c.at);
        calls
    }

    /// Stops serving.
    pub fn stop(self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Listens on `listen` and forwards to `upstream` (`http://127.0.0.1:PORT`); a call whose path
/// or body contains `job_marker` counts as a job's.
pub async fn start(listen: SocketAddr, upstream: String, job_marker: &str) -> Running {
    let proxy = Arc::new(Proxy {
        upstream,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("an HTTP client"),
        job_marker: job_marker.to_owned(),
        calls: Mutex::new(Vec::with_capacity(8192)),
    });
    let listener = TcpListener::bind(listen)
        .await
        .expect("bind the proxy port");
    let addr = listener.local_addr().expect("the proxy's address");
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Arc::clone(&proxy));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("the proxy serves");
    });
    Running { proxy, task, addr }
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let vendor = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let job = path.contains(&proxy.job_marker)
        || body
            .windows(proxy.job_marker.len())
            .any(|w| w == proxy.job_marker.as_bytes());
    let read = parts.method == axum::http::Method::GET;
    let mut outbound = proxy
        .client
        .request(parts.method.clone(), format!("{}{path}", proxy.upstream));
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            outbound = outbound.header(name, value);
        }
    }
    let answer = outbound.body(body).send().await;
    let (status, response) = match answer {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if name != axum::http::header::CONTENT_LENGTH
                    && name != axum::http::header::TRANSFER_ENCODING
                {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            (status.as_u16(), response)
        }
        Err(_) => (0, StatusCode::BAD_GATEWAY.into_response()),
    };
    lock(&proxy.calls).push(Call {
        at,
        vendor,
        read,
        job,
        status,
    });
    response
}
