//! Simulator tests over real loopback TCP: seeding, counts, latency and every fault kind.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::*;

/// A simulator served on a free loopback port, stopped when dropped.
pub(crate) struct TestSim {
    /// The simulator, to seed and inspect.
    pub sim: Simulator,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client that sends a `User-Agent` and gives up after 5 s.
    pub http: reqwest::Client,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drop for TestSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestSim {
    /// Serves an empty simulator with `config`.
    pub async fn start(config: SimConfig) -> Self {
        let sim = Simulator::new(config);
        let (addr, task) = sim.spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
        let http = reqwest::Client::builder()
            .user_agent("simulator-tests")
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        Self {
            sim,
            addr,
            http,
            task,
        }
    }

    /// Serves a simulator with the demo documents.
    pub async fn demo() -> Self {
        let sim = Self::start(SimConfig::default()).await;
        sim.sim.seed_demo();
        sim
    }

    /// The URL of an Auco path.
    pub fn auco_url(&self, path: &str) -> String {
        format!("{}{path}", auco_base_url(self.addr))
    }

    /// The URL of a ZapSign path.
    pub fn zapsign_url(&self, path: &str) -> String {
        format!("{}{path}", zapsign_base_url(self.addr))
    }

    /// Cancels `codes` at Auco with valid credentials and body.
    pub async fn auco_cancel(&self, codes: &[&str]) -> (StatusCode, Value) {
        let body = json!({"codes": codes, "message": "m", "email": "a@b.co"});
        let request = self
            .http
            .post(self.auco_url("/document/cancel"))
            .header("Authorization", "prk_sim")
            .json(&body);
        read(request).await
    }

    /// Refuses `token` at ZapSign with valid credentials and body.
    pub async fn refuse(&self, token: &str) -> (StatusCode, Value) {
        let body = json!({"doc_token": token, "rejected_reason": "r", "notify_signer": true});
        let request = self
            .http
            .post(self.zapsign_url("/refuse/"))
            .bearer_auth("sim-token")
            .json(&body);
        read(request).await
    }
}

/// Sends and reads the answer as JSON (`null` when it is not JSON).
pub(crate) async fn read(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn faults(configure: impl FnOnce(&mut Faults)) -> SimConfig {
    let mut config = SimConfig::default();
    configure(&mut config.faults);
    config
}

#[test]
fn demo_documents_have_vendor_shaped_codes_in_every_state() {
    let auco = regex::Regex::new("^[A-Z0-9]{9,10}$").unwrap();
    assert!(DEMO_AUCO.iter().all(|(code, _)| auco.is_match(code)));
    assert!(DEMO_ZAPSIGN
        .iter()
        .all(|(token, _)| uuid::Uuid::parse_str(token).is_ok()));
    let sim = Simulator::new(SimConfig::default());
    sim.seed_demo();
    for state in [
        AucoState::InProgress,
        AucoState::Cancelled,
        AucoState::Signed,
        AucoState::Expired,
    ] {
        assert!(DEMO_AUCO
            .iter()
            .any(|(code, _)| sim.auco_state(code) == Some(state)));
    }
    for state in [
        ZapSignState::Pending,
        ZapSignState::Refused,
        ZapSignState::Signed,
        ZapSignState::NotAllowed,
    ] {
        assert!(DEMO_ZAPSIGN
            .iter()
            .any(|(token, _)| sim.zapsign_state(token) == Some(state)));
    }
}

#[tokio::test]
async fn every_call_is_counted_per_endpoint_whatever_its_answer() {
    let t = TestSim::demo().await;
    t.auco_cancel(&["AUCOOPEN01"]).await;
    t.auco_cancel(&["AUCOOPEN01"]).await;
    t.refuse("nobody").await;
    let unauthorized = t.http.get(t.auco_url("/document?code=AUCOOPEN01"));
    assert_eq!(read(unauthorized).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.sim.calls(Endpoint::AucoCancel), 2);
    assert_eq!(t.sim.calls(Endpoint::AucoStatus), 1);
    assert_eq!(t.sim.calls(Endpoint::ZapSignRefuse), 1);
    assert_eq!(t.sim.calls(Endpoint::ZapSignStatus), 0);
}

#[tokio::test]
async fn every_call_waits_the_fixed_latency() {
    let mut config = SimConfig::default();
    config.latency.fixed_ms = 150;
    let t = TestSim::start(config).await;
    let started = Instant::now();
    let (status, _) = t.refuse("nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn the_slow_share_waits_the_slow_latency_instead() {
    let t = TestSim::start(SimConfig::default()).await;
    t.sim.set_latency(Latency {
        fixed_ms: 0,
        slow_ms: 200,
        slow_share: 1.0,
    });
    let started = Instant::now();
    t.refuse("nobody").await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn an_error_fault_answers_500_or_503_and_cancels_nothing() {
    let t = TestSim::start(faults(|f| f.error_share = 1.0)).await;
    t.sim.seed_auco("AUCOOPEN01", AucoState::InProgress);
    let (status, _) = t.auco_cancel(&["AUCOOPEN01"]).await;
    assert!(matches!(status.as_u16(), 500 | 503), "{status}");
    assert_eq!(t.sim.auco_state("AUCOOPEN01"), Some(AucoState::InProgress));
}

#[tokio::test]
async fn an_error_fault_after_cancel_answers_5xx_once_the_cancel_took_effect() {
    let t = TestSim::start(faults(|f| {
        f.error_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    t.sim.seed_zapsign("doc", ZapSignState::Pending);
    let (status, _) = t.refuse("doc").await;
    assert!(status.is_server_error(), "{status}");
    assert_eq!(t.sim.zapsign_state("doc"), Some(ZapSignState::Refused));
}

#[tokio::test]
async fn a_rate_limit_fault_answers_429_with_retry_after_one_second() {
    let t = TestSim::start(faults(|f| {
        f.rate_limit_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    t.sim.seed_zapsign("doc", ZapSignState::Pending);
    let response = t
        .http
        .post(t.zapsign_url("/refuse/"))
        .bearer_auth("sim-token")
        .json(&json!({"doc_token": "doc", "rejected_reason": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(t.sim.zapsign_state("doc"), Some(ZapSignState::Pending));
}

#[tokio::test]
async fn a_timeout_fault_never_answers_in_time_even_for_status_reads() {
    let t = TestSim::start(faults(|f| f.timeout_share = 1.0)).await;
    let request = t
        .http
        .get(t.auco_url("/document?code=AUCOOPEN01"))
        .header("Authorization", "puk_sim")
        .timeout(Duration::from_millis(300));
    let error = request.send().await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
}

#[tokio::test]
async fn a_timeout_fault_after_cancel_hangs_once_the_cancel_took_effect() {
    let t = TestSim::start(faults(|f| {
        f.timeout_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    t.sim.seed_auco("AUCOOPEN01", AucoState::InProgress);
    let body = json!({"codes": ["AUCOOPEN01"], "message": "m", "email": "a@b.co"});
    let request = t
        .http
        .post(t.auco_url("/document/cancel"))
        .header("Authorization", "prk_sim")
        .json(&body)
        .timeout(Duration::from_millis(300));
    assert!(request.send().await.unwrap_err().is_timeout());
    assert_eq!(t.sim.auco_state("AUCOOPEN01"), Some(AucoState::Cancelled));
}

#[tokio::test]
async fn a_reset_fault_drops_the_connection_without_an_answer() {
    let t = TestSim::start(faults(|f| {
        f.reset_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    t.sim.seed_zapsign("doc", ZapSignState::Pending);
    let request = t
        .http
        .post(t.zapsign_url("/refuse/"))
        .bearer_auth("sim-token")
        .json(&json!({"doc_token": "doc", "rejected_reason": "r"}));
    let error = request.send().await.unwrap_err();
    assert!(
        !error.is_timeout() && !error.is_connect() && error.status().is_none(),
        "{error:?}"
    );
    assert_eq!(t.sim.zapsign_state("doc"), Some(ZapSignState::Refused));
    // The simulator keeps serving other connections.
    t.sim.set_faults(Faults::default());
    assert_eq!(t.refuse("doc").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_reset_fault_without_a_socket_breaks_the_body() {
    use tower::ServiceExt;
    let sim = Simulator::new(faults(|f| f.reset_share = 1.0));
    let request = axum::http::Request::get(format!("{ZAPSIGN_PREFIX}/docs/doc/"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = sim.router().oneshot(request).await.unwrap();
    assert!(axum::body::to_bytes(response.into_body(), 1024)
        .await
        .is_err());
}
