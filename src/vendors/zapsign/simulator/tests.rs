//! The simulated ZapSign answers every case SPEC 3.2 documents, in its varied body shapes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Throttle, ZapSignState};
use crate::simulator::tests::{read, TestSim};
use crate::simulator::SimConfig;

const PENDING: &str = "0a1b2c3d-0000-4000-8000-000000000001";
const REFUSED: &str = "0a1b2c3d-0000-4000-8000-000000000101";
const SIGNED: &str = "0a1b2c3d-0000-4000-8000-000000000201";
const NOT_ALLOWED: &str = "0a1b2c3d-0000-4000-8000-000000000301";
const UNKNOWN: &str = "0a1b2c3d-0000-4000-8000-000000009999";

#[tokio::test]
async fn refuse_cancels_a_pending_document_and_a_second_refuse_is_already_refused() {
    let t = TestSim::demo().await;
    let (status, body) = t.refuse(PENDING).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "Documento recusado com sucesso."}));
    assert_eq!(t.sim.zapsign_state(PENDING), Some(ZapSignState::Refused));
    let (status, body) = t.refuse(PENDING).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "document_already_refused");
}

#[tokio::test]
async fn refuse_answers_each_closed_state_in_its_own_body_shape() {
    let t = TestSim::demo().await;
    let (status, body) = t.refuse(REFUSED).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::FORBIDDEN, &json!("document_already_refused"))
    );
    let (status, body) = t.refuse(SIGNED).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"error": "document_already_signed"})
        )
    );
    let (status, body) = t.refuse(NOT_ALLOWED).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "refuse_not_allowed"})
        )
    );
    let (status, body) = t.refuse(UNKNOWN).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );
}

#[tokio::test]
async fn unknown_tokens_count_as_pending_when_configured_so() {
    let t = TestSim::start(SimConfig {
        unknown_in_progress: true,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(t.refuse(UNKNOWN).await.0, StatusCode::OK);
    assert_eq!(t.refuse(UNKNOWN).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refuse_requires_the_bearer_token_and_a_user_agent() {
    let t = TestSim::demo().await;
    let body = json!({"doc_token": PENDING, "rejected_reason": "r"});
    let url = t.zapsign_url("/refuse/");
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
    assert_eq!(t.sim.zapsign_state(PENDING), Some(ZapSignState::Pending));
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
            .post(t.zapsign_url("/refuse/"))
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
            .get(t.zapsign_url(&format!("/docs/{token}/")))
            .bearer_auth("sim-token");
        assert_eq!(read(request).await, (want_status, want_body), "{token}");
    }
    let request = t.http.get(t.zapsign_url(&format!("/docs/{PENDING}/")));
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
    let t = TestSim::start(SimConfig {
        zapsign_requests_per_minute: 3,
        ..SimConfig::default()
    })
    .await;
    t.sim.seed_demo();
    t.refuse(PENDING).await;
    t.refuse(PENDING).await;
    let status_read = t
        .http
        .get(t.zapsign_url(&format!("/docs/{PENDING}/")))
        .bearer_auth("sim-token");
    assert_eq!(read(status_read).await.0, StatusCode::OK);
    let response = t
        .http
        .post(t.zapsign_url("/refuse/"))
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
fn the_limit_holds_per_fixed_window_and_retry_after_points_at_its_end() {
    let mut throttle = Throttle::default();
    let at = |secs| Duration::from_secs(secs);
    assert_eq!(throttle.admit("t", 2, at(120)), Ok(()));
    assert_eq!(throttle.admit("t", 2, at(150)), Ok(()));
    assert_eq!(throttle.admit("t", 2, at(165)), Err(15));
    assert_eq!(throttle.admit("other", 2, at(165)), Ok(()));
    assert_eq!(throttle.admit("t", 2, at(179)), Err(1));
    assert_eq!(throttle.admit("t", 2, at(180)), Ok(()));
}

#[test]
fn refused_calls_do_not_count_against_the_limit() {
    let mut throttle = Throttle::default();
    let now = Duration::from_secs(60);
    assert!(throttle.admit("t", 1, now).is_ok());
    for _ in 0..5 {
        assert!(throttle.admit("t", 1, now).is_err());
    }
    assert!(throttle
        .admit("t", 1, now + Duration::from_secs(60))
        .is_ok());
}
