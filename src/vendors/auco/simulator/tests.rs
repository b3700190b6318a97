//! The simulated Auco answers every case SPEC 3.1 documents.

use reqwest::StatusCode;
use serde_json::json;

use super::AucoState;
use crate::simulator::tests::{read, TestSim};
use crate::simulator::SimConfig;

#[tokio::test]
async fn cancel_cancels_open_documents_and_omits_documents_when_none_failed() {
    let t = TestSim::demo().await;
    let (status, body) = t.auco_cancel(&["AUCOOPEN01", "AUCOOPEN02"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"success": 2, "errors": {"cant": 0}}));
    assert_eq!(t.sim.auco_state("AUCOOPEN01"), Some(AucoState::Cancelled));
}

#[tokio::test]
async fn cancel_lists_signed_cancelled_expired_and_unknown_codes_as_failed() {
    let t = TestSim::demo().await;
    let codes = [
        "AUCOSIGN01",
        "AUCOOPEN01",
        "AUCODONE01",
        "AUCOEXPD01",
        "NOSUCH0001",
    ];
    let (status, body) = t.auco_cancel(&codes).await;
    assert_eq!(status, StatusCode::OK);
    let failed = json!(["AUCOSIGN01", "AUCODONE01", "AUCOEXPD01", "NOSUCH0001"]);
    assert_eq!(
        body,
        json!({"success": 1, "errors": {"cant": 4, "documents": failed}})
    );
    assert_eq!(t.sim.auco_state("AUCOSIGN01"), Some(AucoState::Signed));
}

#[tokio::test]
async fn a_second_cancel_of_the_same_code_fails() {
    let t = TestSim::demo().await;
    t.auco_cancel(&["AUCOOPEN03"]).await;
    let (_, body) = t.auco_cancel(&["AUCOOPEN03"]).await;
    assert_eq!(
        body,
        json!({"success": 0, "errors": {"cant": 1, "documents": ["AUCOOPEN03"]}})
    );
}

#[tokio::test]
async fn unknown_codes_count_as_open_when_configured_so() {
    let t = TestSim::start(SimConfig {
        unknown_in_progress: true,
        ..SimConfig::default()
    })
    .await;
    let (_, body) = t.auco_cancel(&["LOADTEST01"]).await;
    assert_eq!(body["success"], 1);
    let (_, body) = t.auco_cancel(&["LOADTEST01"]).await;
    assert_eq!(body["errors"]["cant"], 1);
}

#[tokio::test]
async fn a_batch_with_an_unknown_code_answers_400_when_configured_so() {
    let config = SimConfig {
        auco_batch_400_on_unknown: true,
        ..SimConfig::default()
    };
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    let (status, body) = t.auco_cancel(&["AUCOOPEN01", "NOSUCH0001"]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"message": "DOCUMENT_NOT_FOUND"}));
    assert_eq!(t.sim.auco_state("AUCOOPEN01"), Some(AucoState::InProgress));
    assert_eq!(t.auco_cancel(&["AUCOOPEN01"]).await.1["success"], 1);
}

#[tokio::test]
async fn cancel_requires_the_bare_private_key() {
    let t = TestSim::demo().await;
    let body = json!({"codes": ["AUCOOPEN01"], "message": "m", "email": "a@b.co"});
    for key in [
        None,
        Some("Bearer prk_sim"),
        Some("puk_sim"),
        Some("prk_other"),
    ] {
        let mut request = t.http.post(t.auco_url("/document/cancel")).json(&body);
        if let Some(key) = key {
            request = request.header("Authorization", key);
        }
        let (status, answer) = read(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(answer, json!({"message": "UNAUTHORIZED"}));
    }
    assert_eq!(t.sim.auco_state("AUCOOPEN01"), Some(AucoState::InProgress));
}

#[tokio::test]
async fn cancel_rejects_bodies_without_codes_message_or_email() {
    let t = TestSim::demo().await;
    let bodies = [
        ("{", "INVALID_BODY"),
        (r#"{"message":"m","email":"a@b.co"}"#, "CODES_REQUIRED"),
        (
            r#"{"codes":[],"message":"m","email":"a@b.co"}"#,
            "CODES_REQUIRED",
        ),
        (
            r#"{"codes":[1],"message":"m","email":"a@b.co"}"#,
            "CODES_MUST_BE_STRINGS",
        ),
        (
            r#"{"codes":["AUCOOPEN01"],"email":"a@b.co"}"#,
            "MESSAGE_REQUIRED",
        ),
        (
            r#"{"codes":["AUCOOPEN01"],"message":"m"}"#,
            "EMAIL_REQUIRED",
        ),
    ];
    for (body, message) in bodies {
        let request = t
            .http
            .post(t.auco_url("/document/cancel"))
            .header("Authorization", "prk_sim")
            .header("Content-Type", "application/json")
            .body(body);
        let (status, answer) = read(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer, json!({ "message": message }), "{body}");
    }
    assert_eq!(t.sim.auco_state("AUCOOPEN01"), Some(AucoState::InProgress));
}

#[tokio::test]
async fn status_reads_report_each_state_with_the_public_key() {
    let t = TestSim::demo().await;
    let expected = [
        ("AUCOOPEN01", "CREATED"),
        ("AUCODONE01", "REJECTED"),
        ("AUCOSIGN01", "FINISH"),
        ("AUCOEXPD01", "EXPIRED"),
    ];
    for (code, wire) in expected {
        let request = t
            .http
            .get(t.auco_url("/document"))
            .query(&[("code", code)])
            .header("Authorization", "puk_sim");
        let (status, body) = read(request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"code": code, "status": wire}));
    }
}

#[tokio::test]
async fn status_reads_answer_400_for_unknown_codes_and_401_for_other_keys() {
    let t = TestSim::demo().await;
    let url = t.auco_url("/document?code=NOSUCH0001");
    let (status, body) = read(t.http.get(&url).header("Authorization", "puk_sim")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"message": "DOCUMENT_NOT_FOUND"}));
    let (status, body) = read(t.http.get(&url).header("Authorization", "prk_sim")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"message": "UNAUTHORIZED"}));
}
