//! The simulated DocuSign answers as eSignature REST v2.1 does: voids once, `400` + `errorCode`
//! for every refusal, `X-RateLimit-*` headers, the JWT grant checked against its public key,
//! userinfo pointing at itself, and faults as injected.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{seed, state, EnvelopeState, ACCOUNT, SIM, TOKEN};
use crate::simulator::tests::{faults, read, TestSim};
use crate::simulator::{SimConfig, SimVendor};
use crate::vendors::conformance::{runner, var};
use crate::vendors::docusign::test_keys::{keys, other_keys};

const SENT: &str = "d5d5d5d5-0000-4000-8000-000000000001";
const DELIVERED: &str = "d5d5d5d5-0000-4000-8000-000000000011";
const VOIDED: &str = "d5d5d5d5-0000-4000-8000-000000000101";
const COMPLETED: &str = "d5d5d5d5-0000-4000-8000-000000000201";
const DECLINED: &str = "d5d5d5d5-0000-4000-8000-000000000301";
const DRAFT: &str = "d5d5d5d5-0000-4000-8000-000000000401";
const UNKNOWN: &str = "d5d5d5d5-0000-4000-8000-000000009999";

fn envelope(t: &TestSim, account: &str, id: &str) -> String {
    t.url(
        &SIM,
        &format!("/restapi/v2.1/accounts/{account}/envelopes/{id}"),
    )
}

async fn void_with(t: &TestSim, id: &str, body: Value) -> (StatusCode, Value) {
    read(
        t.http
            .put(envelope(t, ACCOUNT, id))
            .bearer_auth(TOKEN)
            .json(&body),
    )
    .await
}

async fn void(t: &TestSim, id: &str) -> (StatusCode, Value) {
    void_with(t, id, json!({"status": "voided", "voidedReason": "r"})).await
}

async fn status_of(t: &TestSim, id: &str) -> (StatusCode, Value) {
    read(t.http.get(envelope(t, ACCOUNT, id)).bearer_auth(TOKEN)).await
}

#[tokio::test]
async fn a_sent_envelope_is_voided_once_and_reads_voided() {
    let t = TestSim::demo().await;
    let (status, body) = void(&t, SENT).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"envelopeId": SENT}))
    );
    assert_eq!(state(&t.sim, SENT), Some(EnvelopeState::Voided));
    let (status, body) = void(&t, SENT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "ENVELOPE_CANNOT_VOID_INVALID_STATE");
    let (status, body) = status_of(&t, SENT).await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("voided"))
    );
    assert_eq!(void(&t, DELIVERED).await.0, StatusCode::OK);
}

#[tokio::test]
async fn every_closed_state_refuses_the_void_and_reads_as_itself() {
    let t = TestSim::demo().await;
    for (id, wire) in [
        (VOIDED, "voided"),
        (COMPLETED, "completed"),
        (DECLINED, "declined"),
        (DRAFT, "created"),
    ] {
        let (status, body) = void(&t, id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}");
        assert_eq!(body["errorCode"], "ENVELOPE_CANNOT_VOID_INVALID_STATE");
        assert_eq!(status_of(&t, id).await.1["status"], wire);
    }
    let (status, body) = void(&t, UNKNOWN).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (StatusCode::BAD_REQUEST, &json!("ENVELOPE_DOES_NOT_EXIST"))
    );
}

#[tokio::test]
async fn only_status_and_voided_reason_may_be_sent() {
    let t = TestSim::demo().await;
    for body in [
        json!({"status": "voided", "voidedReason": "r", "purgeState": "unpurged"}),
        json!({"status": "voided"}),
        json!({"status": "sent", "voidedReason": "r"}),
        json!("voided"),
    ] {
        let (status, answer) = void_with(&t, SENT, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["errorCode"], "INVALID_REQUEST_PARAMETER", "{body}");
    }
    assert_eq!(state(&t.sim, SENT), Some(EnvelopeState::Sent));
}

#[tokio::test]
async fn a_wrong_token_is_401_and_a_foreign_account_is_refused() {
    let t = TestSim::demo().await;
    let body = json!({"status": "voided", "voidedReason": "r"});
    let (status, answer) = read(
        t.http
            .put(envelope(&t, ACCOUNT, SENT))
            .bearer_auth("nope")
            .json(&body),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["errorCode"], "USER_AUTHENTICATION_FAILED");
    let (status, answer) = read(
        t.http
            .put(envelope(&t, "other", SENT))
            .bearer_auth(TOKEN)
            .json(&body),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["errorCode"],
        "USER_DOES_NOT_BELONG_TO_SPECIFIED_ACCOUNT"
    );
}

#[tokio::test]
async fn every_call_carries_the_hourly_limit_and_beyond_it_the_limit_error() {
    let mut config = SimConfig::default();
    config
        .set_option("docusign", "requests_per_hour", "1")
        .expect("a valid option");
    let t = TestSim::start(config).await;
    seed(&t.sim, SENT, EnvelopeState::Sent);
    let first = t
        .http
        .get(envelope(&t, ACCOUNT, SENT))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("an answer");
    assert_eq!(first.headers()["x-ratelimit-limit"], "1");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "0");
    assert!(first.headers().contains_key("x-ratelimit-reset"));
    let (status, body) = void(&t, SENT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "HOURLY_APIINVOCATION_LIMIT_EXCEEDED");
    assert_eq!(state(&t.sim, SENT), Some(EnvelopeState::Sent));
}

#[tokio::test]
async fn unknown_envelopes_count_as_sent_when_configured_so() {
    let mut config = SimConfig::default();
    config.unknown_in_progress = true;
    let t = TestSim::start(config).await;
    assert_eq!(void(&t, UNKNOWN).await.0, StatusCode::OK);
    assert_eq!(void(&t, UNKNOWN).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn injected_errors_carry_an_error_code_and_are_counted() {
    let t = TestSim::start(faults(|f| f.error_share = 1.0)).await;
    for _ in 0..4 {
        let (status, body) = void(&t, SENT).await;
        assert!(status.is_server_error());
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            assert_eq!(body["errorCode"], "INTERNAL_SERVER_ERROR");
        }
    }
    assert_eq!(t.sim.calls("docusign", "void"), 4);
}

#[test]
fn options_are_checked_and_a_bad_key_file_is_refused() {
    let mut config = SimConfig::default();
    assert!(config
        .set_option("docusign", "public_key_file", "/no/such/file.pem")
        .is_err());
    assert!(config
        .set_option("docusign", "requests_per_hour", "many")
        .is_err());
    assert!(config.set_option("docusign", "color", "blue").is_err());
}

/// A simulator that checks assertions against `public_pem`.
async fn with_public_key(public_pem: &str) -> TestSim {
    let file = std::env::temp_dir().join(format!("signgate-ds-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&file, public_pem).expect("a temp file");
    let mut config = SimConfig::default();
    config
        .set_option("docusign", "public_key_file", &file.to_string_lossy())
        .expect("a valid key file");
    let t = TestSim::start(config).await;
    std::fs::remove_file(&file).expect("removed");
    t.sim.seed_demo();
    t
}

/// A gateway that makes the JWT grant against the simulator and discovers the account.
async fn jwt_gateway(t: &TestSim, private_pem: &str) -> axum::Router {
    let base = SIM.base_url(t.addr);
    let vars: HashMap<&str, &str> = HashMap::from([
        ("KIND", "docusign"),
        ("BASE_URL", base.as_str()),
        ("OAUTH_BASE_URL", base.as_str()),
        ("INTEGRATION_KEY", "sim-integration-key"),
        ("USER_ID", "sim-user"),
        ("PRIVATE_KEY", private_pem),
    ]);
    let vars = vars
        .into_iter()
        .map(|(key, value)| (var("docusign", key), value.to_owned()))
        .collect();
    runner::gateway(vars).await
}

#[tokio::test]
async fn the_gateway_voids_through_the_jwt_grant_and_userinfo_of_the_simulator() {
    // Arrange
    let t = with_public_key(&keys().public_pem).await;
    let app = jwt_gateway(&t, &keys().private_pem).await;

    // Act
    let (_, first) = runner::cancel(&app, &[&format!("docusign:{SENT}")]).await;
    let (_, second) = runner::cancel(&app, &[&format!("docusign:{DELIVERED}")]).await;

    // Assert
    assert_eq!(first["results"][0]["status"], "cancelled", "{first}");
    assert_eq!(second["results"][0]["status"], "cancelled", "{second}");
    assert_eq!(t.sim.calls("docusign", "token"), 1);
    assert_eq!(t.sim.calls("docusign", "userinfo"), 1);
    assert_eq!(state(&t.sim, SENT), Some(EnvelopeState::Voided));
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_an_invalid_grant() {
    // Arrange
    let t = with_public_key(&keys().public_pem).await;
    let app = jwt_gateway(&t, &other_keys().private_pem).await;

    // Act
    let (_, answer) = runner::cancel(&app, &[&format!("docusign:{SENT}")]).await;

    // Assert
    let error = &answer["results"][0]["error"];
    assert_eq!(error["code"], "vendor_auth_failed", "{answer}");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid_grant"),
        "{answer}"
    );
    assert_eq!(t.sim.calls("docusign", "void"), 0);
    assert_eq!(state(&t.sim, SENT), Some(EnvelopeState::Sent));
}

#[tokio::test]
async fn the_gateway_voids_with_the_printed_credentials_as_the_demo_does() {
    // Arrange
    let t = TestSim::demo().await;
    let mut vars: Vec<(String, String)> = SIM
        .credentials()
        .iter()
        .map(|(key, value)| (var("docusign", &key.to_uppercase()), (*value).to_owned()))
        .collect();
    vars.push((var("docusign", "KIND"), "docusign".to_owned()));
    vars.push((var("docusign", "BASE_URL"), SIM.base_url(t.addr)));
    let app = runner::gateway(vars).await;
    let codes: Vec<String> = [SENT, VOIDED, COMPLETED, DECLINED, DRAFT, UNKNOWN]
        .iter()
        .map(|id| format!("docusign:{id}"))
        .collect();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();

    // Act
    let (_, answer) = runner::cancel(&app, &codes).await;

    // Assert
    let got: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or("cancelled"))
        .collect();
    assert_eq!(
        got,
        [
            "cancelled",
            "already_cancelled",
            "already_signed",
            "not_cancellable",
            "not_cancellable",
            "not_found"
        ],
        "{answer}"
    );
}
