//! D4Sign's client: the exact requests (credentials in the query, the comment in the body), the
//! classification of every answer (errors with a `200` included) and the status read.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{any, body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::vendors::d4sign::conformance::{CONFORMANCE, CRYPT_KEY, TOKEN_API};
use crate::vendors::testing::{adapter_at, batch, cancel_document};

const DOCUMENT: &str = "0a1b2c3d-0000-4000-8000-0000000000d4";
const SECRETS: [&str; 2] = [TOKEN_API, CRYPT_KEY];

fn answer(status: u16, body: &str) -> RawAnswer {
    RawAnswer {
        status: StatusCode::from_u16(status).expect("valid status"),
        retry_after: None,
        body: Bytes::from(body.to_owned()),
    }
}

/// What one cancel answer becomes: `Ok(None)` cancelled, `Ok(Some(code))` failed, `Err` no
/// definite answer.
fn code_of(status: u16, body: &str) -> Result<Option<ErrorCode>, UpstreamError> {
    classify(&answer(status, body), SECRETS).map(|a| a.outcome.error_code())
}

fn ctx() -> CallContext<'static> {
    CallContext {
        request_id: "t",
        deadline: Instant::now() + Duration::from_secs(10),
        priority: crate::vendors::Priority::Interactive,
    }
}

#[tokio::test]
async fn a_cancel_posts_the_comment_with_both_credentials_in_the_query_and_the_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            format!("/api/v1/documents/{DOCUMENT}/cancel").as_str(),
        ))
        .and(query_param("tokenAPI", TOKEN_API))
        .and(query_param("cryptKey", CRYPT_KEY))
        .and(header("accept", "application/json"))
        .and(header("x-request-id", "t"))
        .and(body_json(json!({"comment": "m"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "success"})))
        .expect(1)
        .mount(&server)
        .await;

    let reply = cancel_document(
        adapter_at(&CONFORMANCE, &server.uri()).as_ref(),
        &CONFORMANCE,
    )
    .await;

    assert_eq!(reply.expect("an answer").outcome.error_code(), None);
}

#[tokio::test]
async fn a_status_read_gets_the_document_with_both_credentials_and_reads_the_live_array() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/documents/{DOCUMENT}").as_str()))
        .and(query_param("tokenAPI", TOKEN_API))
        .and(query_param("cryptKey", CRYPT_KEY))
        .and(header("x-request-id", "t"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!([{"uuidDoc": DOCUMENT, "statusId": "6", "statusName": "Cancelado"}]),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let state = adapter_at(&CONFORMANCE, &server.uri())
        .status(DOCUMENT, &ctx())
        .await;

    assert_eq!(state, Ok(DocState::Cancelled));
}

#[tokio::test]
async fn a_code_that_is_not_a_uuid_is_never_sent() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let vendor = adapter_at(&CONFORMANCE, &server.uri());
    let codes = vec!["../../safes".to_owned()];

    let reply = vendor
        .cancel(&batch(&codes, Instant::now() + Duration::from_secs(5)))
        .await
        .remove(0);
    let state = vendor.status("../../safes", &ctx()).await;

    assert_eq!(
        reply.expect("a definite answer").outcome.error_code(),
        Some(ErrorCode::Rejected)
    );
    assert_eq!(state, Ok(DocState::NotFound));
}

#[tokio::test]
async fn a_redirect_is_not_followed_so_the_credentials_go_nowhere_else() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/elsewhere"))
        .mount(&server)
        .await;

    let reply = cancel_document(
        adapter_at(&CONFORMANCE, &server.uri()).as_ref(),
        &CONFORMANCE,
    )
    .await;
    let received = server.received_requests().await.expect("recorded");

    assert_eq!(reply, Err(UpstreamError::BadResponse { status: 302 }));
    assert_eq!(received.len(), 1, "only the cancel itself was sent");
}

#[test]
fn a_200_is_a_cancel_only_when_its_body_says_success() {
    assert_eq!(code_of(200, r#"{"message":"success"}"#), Ok(None));
    assert_eq!(code_of(200, r#"[{"message":"Success"}]"#), Ok(None));
    assert_eq!(
        code_of(200, r#"{"message":"Documento cancelado com sucesso"}"#),
        Ok(None)
    );
    for unclear in [
        "",
        "{}",
        "[]",
        "<html>ok</html>",
        r#"{"message":"Documento já cancelado"}"#,
        r#"{"message":"Cancel unsuccessful"}"#,
        r#"{"message":"Cancelado sem sucesso"}"#,
        r#"{"message":"Documento não foi cancelado com sucesso"}"#,
    ] {
        assert_eq!(
            code_of(200, unclear),
            Err(UpstreamError::BadResponse { status: 200 }),
            "{unclear}"
        );
    }
}

#[test]
fn an_error_pair_with_a_200_is_a_refusal_or_a_credentials_failure() {
    let credentials =
        r#"{"message":"API error: Check API user.","mensagem_pt":"Chave de API inválida."}"#;
    let refusal = r#"{"message":"success","mensagem_pt":"Não foi possível cancelar."}"#;

    assert_eq!(
        code_of(200, credentials),
        Ok(Some(ErrorCode::VendorAuthFailed))
    );
    assert_eq!(code_of(200, refusal), Ok(Some(ErrorCode::VendorRefused)));
}

#[test]
fn a_4xx_is_a_refusal_for_the_status_read_to_settle_unless_it_names_the_credentials() {
    use ErrorCode as E;
    for status in [400, 404, 409, 410, 422] {
        assert_eq!(
            code_of(status, r#"{"message":"Erro"}"#),
            Ok(Some(E::VendorRefused))
        );
        assert_eq!(code_of(status, "<html></html>"), Ok(Some(E::VendorRefused)));
    }
    assert_eq!(
        code_of(400, r#"{"message":"Token inválido"}"#),
        Ok(Some(E::VendorAuthFailed))
    );
    assert_eq!(code_of(401, "{}"), Ok(Some(E::VendorAuthFailed)));
    assert_eq!(
        code_of(403, r#"{"message":"success"}"#),
        Ok(Some(E::VendorAuthFailed))
    );
}

#[test]
fn a_refusal_message_is_an_excerpt_of_what_d4sign_said() {
    let reply = classify(
        &answer(400, r#"{"message":"Documento\nfinalizado"}"#),
        SECRETS,
    );
    let Ok(Answer {
        outcome: Outcome::Failed(failure),
        ..
    }) = reply
    else {
        panic!("a refusal: {reply:?}");
    };

    assert_eq!(
        failure.message,
        "D4Sign refused the cancel (Documentofinalizado)."
    );
}

#[test]
fn a_message_echoing_the_credentials_is_never_repeated() {
    let message = |body: String| match classify(&answer(400, &body), SECRETS) {
        Ok(Answer {
            outcome: Outcome::Failed(failure),
            ..
        }) => failure.message,
        other => panic!("a refusal: {other:?}"),
    };
    let echoed = format!(
        r#"{{"message":"bad /documents/x/cancel?tokenAPI={TOKEN_API}&cryptKey={CRYPT_KEY}"}}"#
    );
    let bare = format!(r#"{{"message":"key {TOKEN_API} / {CRYPT_KEY} refused"}}"#);
    let split = format!(
        r#"{{"message":"key {}\n{} refused"}}"#,
        &TOKEN_API[..5],
        &TOKEN_API[5..]
    );

    for body in [echoed, bare, split] {
        let shown = message(body.clone());
        assert!(
            !shown.contains(TOKEN_API) && !shown.contains(CRYPT_KEY),
            "{shown}"
        );
        assert!(!shown.to_lowercase().contains("tokenapi"), "{shown}");
    }
    assert_eq!(
        message(format!(r#"{{"message":"key {TOKEN_API} refused"}}"#)),
        "D4Sign refused the cancel (key [redacted] refused)."
    );
}

#[test]
fn rate_limits_and_server_errors_go_through_the_shared_table() {
    assert!(matches!(
        classify(&answer(429, ""), SECRETS),
        Err(UpstreamError::RateLimited { .. })
    ));
    assert!(matches!(
        classify(&answer(500, r#"{"message":"Server error."}"#), SECRETS),
        Err(UpstreamError::Server { status: 500, .. })
    ));
    assert!(matches!(
        classify(&answer(503, ""), SECRETS),
        Err(UpstreamError::Server { status: 503, .. })
    ));
}

#[test]
fn every_status_id_is_read_and_the_localised_name_is_ignored() {
    let read = |body: &str| classify_status(&answer(200, body), DOCUMENT);
    let with = |id: &str, name: &str| {
        format!(r#"[{{"uuidDoc":"{DOCUMENT}","statusId":"{id}","statusName":"{name}"}}]"#)
    };
    assert_eq!(read(&with("1", "Cancelado")), Ok(DocState::InProgress));
    assert_eq!(read(&with("2", "Waiting")), Ok(DocState::InProgress));
    assert_eq!(
        read(&with("3", "Aguardando Assinaturas")),
        Ok(DocState::InProgress)
    );
    assert_eq!(read(&with("4", "Finalizado")), Ok(DocState::Signed));
    assert_eq!(read(&with("5", "Arquivado")), Ok(DocState::Closed));
    assert_eq!(read(&with("6", "Em andamento")), Ok(DocState::Cancelled));
    assert_eq!(
        read(&with("9", "Cancelado")),
        Err(UpstreamError::BadResponse { status: 200 })
    );
}

#[test]
fn the_documented_object_a_number_and_an_empty_array_are_read_too() {
    let read = |body: &str| classify_status(&answer(200, body), DOCUMENT);
    assert_eq!(read(r#"{"statusId":"4"}"#), Ok(DocState::Signed));
    assert_eq!(read(r#"[{"statusId":6}]"#), Ok(DocState::Cancelled));
    assert_eq!(read("[]"), Ok(DocState::NotFound));
    assert_eq!(
        classify_status(&answer(404, ""), DOCUMENT),
        Ok(DocState::NotFound)
    );
}

#[test]
fn a_status_read_that_cannot_be_attributed_to_this_document_is_a_bad_response() {
    let bad = Err(UpstreamError::BadResponse { status: 200 });
    let read = |body: &str| classify_status(&answer(200, body), DOCUMENT);
    let other = r#"[{"uuidDoc":"ffffffff-0000-4000-8000-000000000000","statusId":"6"}]"#;
    let error =
        r#"{"message":"API error: Check API user.","mensagem_pt":"Chave de API inválida."}"#;

    assert_eq!(read(other), bad);
    assert_eq!(read(error), bad);
    assert_eq!(read(r#"[{"statusId":"6"},{"statusId":"3"}]"#), bad);
    assert_eq!(read("<html></html>"), bad);
    assert_eq!(
        classify_status(&answer(401, ""), DOCUMENT),
        Err(UpstreamError::BadResponse { status: 401 })
    );
}

#[test]
fn only_uuids_are_d4sign_ids() {
    assert!(is_uuid(DOCUMENT));
    assert!(is_uuid("0A1B2C3D-0000-4000-8000-0000000000D4"));
    assert!(!is_uuid("0a1b2c3d00000-4000-8000-0000000000d4"));
    assert!(!is_uuid("0a1b2c3d-0000-4000-8000-0000000000dz"));
    assert!(!is_uuid(".."));
}

#[test]
fn debug_shows_no_credential() {
    let vendor = adapter_at(&CONFORMANCE, "http://127.0.0.1:9");
    let debug = format!("{vendor:?}");

    assert!(
        !debug.contains(TOKEN_API) && !debug.contains(CRYPT_KEY),
        "{debug}"
    );
    assert!(debug.contains("[redacted]"), "{debug}");
}
