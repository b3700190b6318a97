//! The simulated ZapSign answers every case src/vendors/zapsign/README.md documents, in its varied body shapes,
//! and faults as injected.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{seed, state, ZapSignState, DEMO, SIM};
use crate::simulator::tests::{faults, read, TestSim};
use crate::simulator::{Faults, Latency, SimConfig, SimVendor, Simulator};

/// Refuses `token` with valid credentials and body.
async fn refuse(t: &TestSim, token: &str) -> (StatusCode, Value) {
    let body = json!({"doc_token": token, "rejected_reason": "r", "notify_signer": true});
    let request = t
        .http
        .post(t.url(&SIM, "/refuse/"))
        .bearer_auth("sim-token")
        .json(&body);
    read(request).await
}

const PENDING: &str = "0a1b2c3d-0000-4000-8000-000000000001";
const REFUSED: &str = "0a1b2c3d-0000-4000-8000-000000000101";
const SIGNED: &str = "0a1b2c3d-0000-4000-8000-000000000201";
const NOT_ALLOWED: &str = "0a1b2c3d-0000-4000-8000-000000000301";
const UNKNOWN: &str = "0a1b2c3d-0000-4000-8000-000000009999";

#[tokio::test]
async fn refuse_cancels_a_pending_document_and_a_second_refuse_is_already_refused() {
    let t = TestSim::demo().await;
    let (status, body) = refuse(&t, PENDING).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "Documento recusado com sucesso."}));
    assert_eq!(state(&t.sim, PENDING), Some(ZapSignState::Refused));
    let (status, body) = refuse(&t, PENDING).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "document_already_refused");
}

#[tokio::test]
async fn refuse_answers_each_closed_state_in_its_own_body_shape() {
    let t = TestSim::demo().await;
    let (status, body) = refuse(&t, REFUSED).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::FORBIDDEN, &json!("document_already_refused"))
    );
    let (status, body) = refuse(&t, SIGNED).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"error": "document_already_signed"})
        )
    );
    let (status, body) = refuse(&t, NOT_ALLOWED).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "refuse_not_allowed"})
        )
    );
    let (status, body) = refuse(&t, UNKNOWN).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );
}

#[tokio::test]
async fn unknown_tokens_count_as_pending_when_configured_so() {
    let mut config = SimConfig::default();
    config.unknown_in_progress = true;
    let t = TestSim::start(config).await;
    assert_eq!(refuse(&t, UNKNOWN).await.0, StatusCode::OK);
    assert_eq!(refuse(&t, UNKNOWN).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refuse_requires_the_bearer_token_and_a_user_agent() {
    let t = TestSim::demo().await;
    let body = json!({"doc_token": PENDING, "rejected_reason": "r"});
    let url = t.url(&SIM, "/refuse/");
    for auth in [
        None,
        Some("sim-token"),
        Some("Bearer other"),
        Some("Token sim-token"),
    ] {
        let mut request = t.http.post(&url).json(&body);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let (status, answer) = read(request).await;
        assert_eq!(
            (status, answer),
            (
                StatusCode::UNAUTHORIZED,
                json!({"detail": "Invalid token."})
            )
        );
    }
    let anonymous = reqwest::Client::new();
    let (status, answer) = read(anonymous.post(&url).bearer_auth("sim-token").json(&body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer, json!({"detail": "User-Agent header is required"}));
    assert_eq!(state(&t.sim, PENDING), Some(ZapSignState::Pending));
}

#[tokio::test]
async fn refuse_rejects_invalid_bodies_with_an_error_code() {
    let t = TestSim::demo().await;
    let bodies = [
        ("not json", "invalid_json"),
        ("[]", "invalid_json"),
        (r#"{"rejected_reason":"r"}"#, "missing_doc_token"),
        (
            r#"{"doc_token":"","rejected_reason":"r"}"#,
            "missing_doc_token",
        ),
        (r#"{"doc_token":"x"}"#, "missing_rejected_reason"),
    ];
    for (body, error) in bodies {
        let request = t
            .http
            .post(t.url(&SIM, "/refuse/"))
            .bearer_auth("sim-token")
            .header("Content-Type", "application/json")
            .body(body);
        let (status, answer) = read(request).await;
        assert_eq!(
            (status, answer),
            (StatusCode::BAD_REQUEST, json!({ "error": error })),
            "{body}"
        );
    }
}

#[tokio::test]
async fn status_reads_report_each_state_and_404_for_unknown_tokens() {
    let t = TestSim::demo().await;
    let expected = [
        (
            PENDING,
            StatusCode::OK,
            json!({"token": PENDING, "status": "pending"}),
        ),
        (
            REFUSED,
            StatusCode::OK,
            json!({"token": REFUSED, "status": "refused"}),
        ),
        (
            SIGNED,
            StatusCode::OK,
            json!({"token": SIGNED, "status": "signed"}),
        ),
        (
            UNKNOWN,
            StatusCode::NOT_FOUND,
            json!({"detail": "Not found."}),
        ),
    ];
    for (token, want_status, want_body) in expected {
        let request = t
            .http
            .get(t.url(&SIM, &format!("/docs/{token}/")))
            .bearer_auth("sim-token");
        assert_eq!(read(request).await, (want_status, want_body), "{token}");
    }
    let request = t.http.get(t.url(&SIM, &format!("/docs/{PENDING}/")));
    assert_eq!(read(request).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn calls_beyond_the_limit_in_one_minute_answer_429_until_the_window_ends() {
    // Stay clear of a window boundary, where the count starts again.
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second >= 57 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let mut config = SimConfig::default();
    config
        .set_option("zapsign", "requests_per_minute", "3")
        .unwrap();
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    refuse(&t, PENDING).await;
    refuse(&t, PENDING).await;
    let status_read = t
        .http
        .get(t.url(&SIM, &format!("/docs/{PENDING}/")))
        .bearer_auth("sim-token");
    assert_eq!(read(status_read).await.0, StatusCode::OK);
    let response = t
        .http
        .post(t.url(&SIM, "/refuse/"))
        .bearer_auth("sim-token")
        .json(&json!({"doc_token": SIGNED, "rejected_reason": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Request was throttled."})
    );
}

#[test]
fn demo_documents_have_uuid_tokens_in_every_state() {
    assert!(DEMO
        .iter()
        .all(|(token, _)| uuid::Uuid::parse_str(token).is_ok()));
    let sim = Simulator::new(SimConfig::default());
    sim.seed_demo();
    for want in [
        ZapSignState::Pending,
        ZapSignState::Refused,
        ZapSignState::Signed,
        ZapSignState::NotAllowed,
    ] {
        assert!(DEMO
            .iter()
            .any(|(token, _)| state(&sim, token) == Some(want)));
    }
}

#[tokio::test]
async fn every_call_is_counted_per_endpoint_whatever_its_answer() {
    let t = TestSim::demo().await;
    refuse(&t, "nobody").await;
    let unauthorized = t.http.get(t.url(&SIM, &format!("/docs/{PENDING}/")));
    assert_eq!(read(unauthorized).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.sim.calls("zapsign", "refuse"), 1);
    assert_eq!(t.sim.calls("zapsign", "status"), 1);
    assert_eq!(t.sim.calls("auco", "cancel"), 0);
}

#[test]
fn the_rate_limit_option_must_be_a_whole_number() {
    let mut config = SimConfig::default();
    assert!(config
        .set_option("zapsign", "requests_per_minute", "lots")
        .is_err());
    assert!(config
        .set_option("zapsign", "requests_per_minute", "7")
        .is_ok());
    let sim = Simulator::new(config);
    assert!(sim
        .describe("127.0.0.1:1".parse().unwrap())
        .contains("at most 7 calls"));
}

#[tokio::test]
async fn every_call_waits_the_fixed_latency() {
    let mut config = SimConfig::default();
    config.latency.fixed_ms = 150;
    let t = TestSim::start(config).await;
    let started = Instant::now();
    let (status, _) = refuse(&t, "nobody").await;
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
    refuse(&t, "nobody").await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn an_error_fault_after_cancel_answers_5xx_once_the_cancel_took_effect() {
    let t = TestSim::start(faults(|f| {
        f.error_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, "doc", ZapSignState::Pending);
    let (status, _) = refuse(&t, "doc").await;
    assert!(status.is_server_error(), "{status}");
    assert_eq!(state(&t.sim, "doc"), Some(ZapSignState::Refused));
}

#[tokio::test]
async fn a_rate_limit_fault_answers_429_with_retry_after_one_second() {
    let t = TestSim::start(faults(|f| {
        f.rate_limit_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, "doc", ZapSignState::Pending);
    let response = t
        .http
        .post(t.url(&SIM, "/refuse/"))
        .bearer_auth("sim-token")
        .json(&json!({"doc_token": "doc", "rejected_reason": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(state(&t.sim, "doc"), Some(ZapSignState::Pending));
}

#[tokio::test]
async fn a_reset_fault_drops_the_connection_without_an_answer() {
    let t = TestSim::start(faults(|f| {
        f.reset_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, "doc", ZapSignState::Pending);
    let request = t
        .http
        .post(t.url(&SIM, "/refuse/"))
        .bearer_auth("sim-token")
        .json(&json!({"doc_token": "doc", "rejected_reason": "r"}));
    let error = request.send().await.unwrap_err();
    assert!(
        !error.is_timeout() && !error.is_connect() && error.status().is_none(),
        "{error:?}"
    );
    assert_eq!(state(&t.sim, "doc"), Some(ZapSignState::Refused));
    // The simulator keeps serving other connections.
    t.sim.set_faults(Faults::default());
    assert_eq!(refuse(&t, "doc").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_reset_fault_without_a_socket_breaks_the_body() {
    use tower::ServiceExt;
    let sim = Simulator::new(faults(|f| f.reset_share = 1.0));
    let request = axum::http::Request::get(format!("{}/docs/doc/", SIM.prefix()))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = sim.router().oneshot(request).await.unwrap();
    assert!(axum::body::to_bytes(response.into_body(), 1024)
        .await
        .is_err());
}
