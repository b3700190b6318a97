//! The simulated D4Sign answers every case src/vendors/d4sign/README.md documents, checks the
//! credentials in the query string, limits its rate, and serves a gateway end to end.

use axum::body::Body as HttpBody;
use axum::http::{header as http_header, Request};
use http_body_util::BodyExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{seed, state, D4SignState, CRYPT_KEY, DEMO, SIM, TOKEN_API};
use crate::simulator::tests::{faults, read, TestSim};
use crate::simulator::{SimConfig, SimVendor};
use crate::vendors::conformance::{runner, var};

const OPEN: &str = "d4d4d4d4-0000-4000-8000-000000000001";
const FINISHED: &str = "d4d4d4d4-0000-4000-8000-000000000401";
const ARCHIVED: &str = "d4d4d4d4-0000-4000-8000-000000000501";
const CANCELLED: &str = "d4d4d4d4-0000-4000-8000-000000000601";
const UNKNOWN: &str = "d4d4d4d4-0000-4000-8000-000000009999";

fn credentials() -> [(&'static str, &'static str); 2] {
    [("tokenAPI", TOKEN_API), ("cryptKey", CRYPT_KEY)]
}

async fn cancel(t: &TestSim, uuid: &str) -> (StatusCode, Value) {
    let url = t.url(&SIM, &format!("/documents/{uuid}/cancel"));
    read(
        t.http
            .post(url)
            .query(&credentials())
            .json(&json!({"comment": "c"})),
    )
    .await
}

async fn status(t: &TestSim, uuid: &str) -> (StatusCode, Value) {
    let url = t.url(&SIM, &format!("/documents/{uuid}"));
    read(t.http.get(url).query(&credentials())).await
}

#[tokio::test]
async fn a_cancel_cancels_a_document_in_progress_and_a_second_one_is_a_200_error_pair() {
    let t = TestSim::demo().await;

    let first = cancel(&t, OPEN).await;
    let second = cancel(&t, OPEN).await;

    assert_eq!(first, (StatusCode::OK, json!({"message": "success"})));
    assert_eq!(state(&t.sim, OPEN), Some(D4SignState::Cancelled));
    assert_eq!(second.0, StatusCode::OK);
    assert_eq!(second.1["mensagem_pt"], "Documento já cancelado.");
    assert_eq!(t.sim.calls("d4sign", "cancel"), 2);
}

#[tokio::test]
async fn finished_archived_and_unknown_documents_are_refused_with_a_message() {
    let t = TestSim::demo().await;

    for (uuid, want) in [
        (FINISHED, StatusCode::BAD_REQUEST),
        (ARCHIVED, StatusCode::BAD_REQUEST),
        (UNKNOWN, StatusCode::NOT_FOUND),
    ] {
        let (status, body) = cancel(&t, uuid).await;
        assert_eq!(status, want, "{uuid}");
        assert!(body["message"].is_string(), "{body}");
    }
    assert_eq!(state(&t.sim, FINISHED), Some(D4SignState::Finished));
}

#[tokio::test]
async fn a_status_read_is_a_one_element_array_with_a_string_status_id_and_unknown_is_empty() {
    let t = TestSim::demo().await;

    for (uuid, state) in DEMO {
        let (status_code, body) = status(&t, uuid).await;
        assert_eq!(status_code, StatusCode::OK);
        assert_eq!(body[0]["uuidDoc"], uuid);
        assert_eq!(body[0]["statusId"], state.wire().0);
        assert_eq!(body.as_array().map(Vec::len), Some(1));
    }
    assert_eq!(status(&t, UNKNOWN).await, (StatusCode::OK, json!([])));
    assert_eq!(status(&t, CANCELLED).await.1[0]["statusName"], "Cancelado");
}

#[tokio::test]
async fn a_wrong_or_missing_credential_is_a_200_error_pair_and_changes_nothing() {
    let t = TestSim::demo().await;
    let url = t.url(&SIM, &format!("/documents/{OPEN}/cancel"));
    for query in [
        vec![],
        vec![("tokenAPI", TOKEN_API)],
        vec![("tokenAPI", TOKEN_API), ("cryptKey", "wrong")],
        vec![("tokenAPI", "wrong"), ("cryptKey", CRYPT_KEY)],
    ] {
        let (status, body) = read(t.http.post(&url).query(&query).json(&json!({}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["message"], "API error: Check API user.", "{query:?}");
        assert_eq!(body["mensagem_pt"], "Chave de API inválida.");
    }
    assert_eq!(state(&t.sim, OPEN), Some(D4SignState::WaitingSignatures));
}

#[tokio::test]
async fn beyond_the_limit_a_call_gets_429_with_retry_after() {
    let mut config = SimConfig::default();
    config
        .set_option("d4sign", "requests_per_minute", "1")
        .expect("a valid option");
    let t = TestSim::start(config).await;
    seed(&t.sim, OPEN, D4SignState::Processing);

    let first = status(&t, OPEN).await;
    let url = t.url(&SIM, &format!("/documents/{OPEN}"));
    let second = t
        .http
        .get(url)
        .query(&credentials())
        .send()
        .await
        .expect("an answer");

    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers().contains_key("retry-after"));
}

#[test]
fn an_unknown_option_or_a_bad_limit_is_refused() {
    let mut config = SimConfig::default();
    assert!(config.set_option("d4sign", "burst", "1").is_err());
    assert!(config
        .set_option("d4sign", "requests_per_minute", "many")
        .is_err());
}

#[tokio::test]
async fn injected_faults_carry_d4signs_message_body() {
    let t = TestSim::start(faults(|f| f.rate_limit_share = 1.0)).await;
    seed(&t.sim, OPEN, D4SignState::Processing);

    let (status, body) = cancel(&t, OPEN).await;

    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, json!({"message": "Request was throttled."}));
    assert_eq!(state(&t.sim, OPEN), Some(D4SignState::Processing));
}

#[tokio::test]
async fn unknown_documents_count_as_in_progress_when_configured_so() {
    let mut config = SimConfig::default();
    config.unknown_in_progress = true;
    let t = TestSim::start(config).await;

    assert_eq!(status(&t, UNKNOWN).await.1[0]["statusId"], "3");
    assert_eq!(cancel(&t, UNKNOWN).await.1, json!({"message": "success"}));
    assert_eq!(
        cancel(&t, UNKNOWN).await.1["mensagem_pt"],
        "Documento já cancelado."
    );
}

/// `GET path` through `app` with the runner's API key.
async fn get(app: &axum::Router, path: &str) -> Value {
    let request = Request::get(path)
        .header(
            http_header::AUTHORIZATION,
            format!("Bearer {}", runner::API_KEY),
        )
        .body(HttpBody::empty())
        .expect("a valid request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_gateway_pointed_at_the_simulator_cancels_reads_and_settles_every_state() {
    let t = TestSim::demo().await;
    let name = SIM.name();
    let app = runner::gateway(vec![
        (var(name, "BASE_URL"), SIM.base_url(t.addr)),
        (var(name, "TOKEN_API"), TOKEN_API.to_owned()),
        (var(name, "CRYPT_KEY"), CRYPT_KEY.to_owned()),
    ])
    .await;
    let codes: Vec<String> = [OPEN, OPEN, FINISHED, ARCHIVED, CANCELLED, UNKNOWN]
        .iter()
        .map(|uuid| format!("d4sign:{uuid}"))
        .collect();
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();

    let (_, first) = runner::cancel(&app, &refs[..1]).await;
    let (_, rest) = runner::cancel(&app, &refs[1..]).await;
    let read = get(&app, &format!("/documents/status?code=d4sign:{OPEN}")).await;

    assert_eq!(first["results"][0]["status"], "cancelled", "{first}");
    let errors: Vec<&Value> = rest["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| &r["error"]["code"])
        .collect();
    assert_eq!(
        errors,
        [
            "already_cancelled",
            "already_signed",
            "not_cancellable",
            "already_cancelled",
            "not_found"
        ],
        "{rest}"
    );
    assert_eq!(read["results"][0]["state"], "cancelled", "{read}");
}
