//! The Acrobat Sign client against wiremock answering as Acrobat Sign documents: the refresh
//! grant's form, the token cache, its renewal and single flight, one re-send after a `401`, a
//! rotated refresh token, the refresh endpoint's refusals, `baseUris` discovery and
//! `INVALID_API_ACCESS_POINT`, the exact state body, every error code, the wait of a `429`,
//! and the status read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::super::conformance::CONFORMANCE;
use super::*;
use crate::settings::{Settings, SettingsError};
use crate::vendors::conformance::{runner, Conformance};
use crate::vendors::testing::batch;

mod hosts;

const AGREEMENT: &str = "CBJCHBCAABAAc6LyP4SVuKXP_pNstzIzyripanRdz4IB";
const CLIENT_ID: &str = "client-0001";
const CLIENT_SECRET: &str = "client-secret-0001";
const REFRESH_TOKEN: &str = "refresh-token-0001";

/// Settings of the defaults, an `adobesign` table with these
/// `SIGNGATE__VENDORS__ADOBESIGN__*` values (credentials unless overridden).
fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let mut env = HashMap::from([(
        "SIGNGATE__AUTH__API_KEY".to_owned(),
        "test-api-key-0123456789".to_owned(),
    )]);
    let defaults = [
        ("kind", "adobesign"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("refresh_token", REFRESH_TOKEN),
    ];
    for (key, value) in defaults.iter().chain(pairs) {
        env.insert(
            format!("SIGNGATE__VENDORS__ADOBESIGN__{}", key.to_uppercase()),
            (*value).to_owned(),
        );
    }
    Settings::from_sources(None, None, env)
}

fn adapter(pairs: &[(&str, &str)]) -> Arc<dyn Vendor> {
    let settings = settings(pairs).expect("valid Acrobat Sign settings");
    let vendor = &settings.vendors["adobesign"];
    vendor.config.build(vendor)
}

/// REST and the refresh at `server`.
fn at(server: &MockServer) -> Arc<dyn Vendor> {
    adapter(&[("base_url", &server.uri())])
}

fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token, "token_type": "Bearer", "expires_in": expires_in,
    }))
}

fn refresh_mock(answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path("/oauth/v2/refresh"))
        .respond_with(answer)
}

fn state_path(prefix: &str) -> String {
    format!("{prefix}/api/rest/v6/agreements/{AGREEMENT}/state")
}

fn agreement_path() -> String {
    format!("/api/rest/v6/agreements/{AGREEMENT}")
}

fn cancel_to() -> wiremock::MockBuilder {
    Mock::given(method("PUT")).and(path(state_path("")))
}

fn cancel_mock(answer: ResponseTemplate) -> Mock {
    cancel_to().respond_with(answer)
}

fn refusal(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"code": code, "message": "Said so."}))
}

async fn cancel_one(vendor: &dyn Vendor) -> Reply {
    let codes = [AGREEMENT.to_owned()];
    vendor
        .cancel(&batch(&codes, Instant::now() + Duration::from_secs(10)))
        .await
        .remove(0)
}

async fn read(vendor: &dyn Vendor) -> Result<DocState, UpstreamError> {
    let ctx = CallContext {
        request_id: "t",
        deadline: Instant::now() + Duration::from_secs(10),
        priority: crate::vendors::Priority::Interactive,
    };
    vendor.status(AGREEMENT, &ctx).await
}

fn code(reply: &Reply) -> Option<ErrorCode> {
    reply
        .as_ref()
        .expect("a definite answer")
        .outcome
        .error_code()
}

fn message(reply: &Reply) -> String {
    match &reply.as_ref().expect("a definite answer").outcome {
        Outcome::Failed(f) => f.message.clone(),
        Outcome::Cancelled | Outcome::Queued => String::new(),
    }
}

fn form(request: &Request) -> HashMap<String, String> {
    let body = String::from_utf8(request.body.clone()).expect("a text form");
    reqwest::Url::parse(&format!("http://form/?{body}"))
        .expect("a form")
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn the_refresh_grant_posts_its_form_then_the_cancel_carries_the_token_and_exact_body() {
    // Arrange
    let server = MockServer::start().await;
    refresh_mock(token_answer("access-1", 3600))
        .expect(1)
        .mount(&server)
        .await;
    cancel_to()
        .and(header("authorization", "Bearer access-1"))
        .and(body_json(json!({
            "state": "CANCELLED",
            "agreementCancellationInfo": {"comment": "m", "notifyOthers": true},
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let reply = cancel_one(at(&server).as_ref()).await;

    // Assert
    assert_eq!(code(&reply), None);
    let requests = server.received_requests().await.expect("recorded");
    let refresh = &requests[0];
    assert_eq!(
        refresh.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let fields = form(refresh);
    assert_eq!(
        fields,
        HashMap::from([
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("client_id".to_owned(), CLIENT_ID.to_owned()),
            ("client_secret".to_owned(), CLIENT_SECRET.to_owned()),
            ("refresh_token".to_owned(), REFRESH_TOKEN.to_owned()),
        ])
    );
}

#[tokio::test]
async fn the_refresh_goes_to_the_api_access_point_when_one_is_set() {
    // Arrange
    let oauth = MockServer::start().await;
    let rest = MockServer::start().await;
    refresh_mock(token_answer("access-1", 3600))
        .expect(1)
        .mount(&oauth)
        .await;
    cancel_mock(ResponseTemplate::new(204))
        .expect(1)
        .mount(&rest)
        .await;
    let point = format!("{}/", oauth.uri());
    let vendor = adapter(&[("base_url", &rest.uri()), ("api_access_point", &point)]);

    // Act
    let reply = cancel_one(vendor.as_ref()).await;

    // Assert: `.expect` on drop.
    assert_eq!(code(&reply), None);
}

#[tokio::test]
async fn a_token_is_reused_until_shortly_before_it_expires_then_refreshed() {
    // Arrange: a token of 2 s is renewed after half its life.
    let server = MockServer::start().await;
    refresh_mock(token_answer("short", 2))
        .expect(2)
        .mount(&server)
        .await;
    cancel_mock(ResponseTemplate::new(204))
        .expect(3)
        .mount(&server)
        .await;
    let vendor = at(&server);

    // Act
    for _ in 0..2 {
        assert_eq!(code(&cancel_one(vendor.as_ref()).await), None);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let last = cancel_one(vendor.as_ref()).await;

    // Assert: `.expect` on drop.
    assert_eq!(code(&last), None);
}

#[tokio::test]
async fn concurrent_cancels_wait_for_one_refresh() {
    // Arrange
    let server = MockServer::start().await;
    refresh_mock(token_answer("once", 3600).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    cancel_mock(ResponseTemplate::new(204))
        .expect(5)
        .mount(&server)
        .await;
    let vendor = at(&server);
    let codes: Vec<String> = (0..5).map(|_| AGREEMENT.to_owned()).collect();

    // Act
    let replies = vendor
        .cancel(&batch(&codes, Instant::now() + Duration::from_secs(10)))
        .await;

    // Assert
    assert!(replies.iter().all(|r| code(r).is_none()), "{replies:?}");
}

#[tokio::test]
async fn a_401_gets_one_new_token_and_one_resend_and_a_second_401_is_an_auth_failure() {
    // Arrange: the first token is refused, the second accepted.
    let server = MockServer::start().await;
    refresh_mock(token_answer("old", 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    refresh_mock(token_answer("new", 3600)).mount(&server).await;
    cancel_to()
        .and(header("authorization", "Bearer old"))
        .respond_with(refusal(401, "INVALID_ACCESS_TOKEN"))
        .expect(1)
        .mount(&server)
        .await;
    cancel_to()
        .and(header("authorization", "Bearer new"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let renewed = cancel_one(at(&server).as_ref()).await;

    // Assert
    assert_eq!(code(&renewed), None);

    // Arrange: every token refused.
    let refusing = MockServer::start().await;
    refresh_mock(token_answer("any", 3600))
        .expect(2)
        .mount(&refusing)
        .await;
    cancel_mock(refusal(401, "INVALID_ACCESS_TOKEN"))
        .expect(2)
        .mount(&refusing)
        .await;

    // Act
    let refused = cancel_one(at(&refusing).as_ref()).await;

    // Assert
    assert_eq!(code(&refused), Some(ErrorCode::VendorAuthFailed));
    assert!(message(&refused).contains("INVALID_ACCESS_TOKEN"));
}

#[tokio::test]
async fn permission_denied_gets_one_new_token_and_one_resend_then_is_an_auth_failure() {
    let server = MockServer::start().await;
    refresh_mock(token_answer("any", 3600))
        .expect(2)
        .mount(&server)
        .await;
    cancel_mock(refusal(403, "PERMISSION_DENIED"))
        .expect(2)
        .mount(&server)
        .await;

    let refused = cancel_one(at(&server).as_ref()).await;

    assert_eq!(code(&refused), Some(ErrorCode::VendorAuthFailed));
    assert!(message(&refused).contains("PERMISSION_DENIED"));
}

#[tokio::test]
async fn a_refresh_token_in_the_answer_replaces_the_one_in_use() {
    // Arrange: tokens that expire at once, so every cancel refreshes.
    let server = MockServer::start().await;
    refresh_mock(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "a", "expires_in": 0, "refresh_token": "rotated-1",
    })))
    .mount(&server)
    .await;
    cancel_mock(ResponseTemplate::new(204)).mount(&server).await;
    let vendor = at(&server);

    // Act
    let replies = [
        cancel_one(vendor.as_ref()).await,
        cancel_one(vendor.as_ref()).await,
    ];

    // Assert
    assert!(replies.iter().all(|r| code(r).is_none()), "{replies:?}");
    let requests = server.received_requests().await.expect("recorded");
    let used: Vec<String> = requests
        .iter()
        .filter(|r| r.url.path() == "/oauth/v2/refresh")
        .map(|r| form(r)["refresh_token"].clone())
        .collect();
    assert_eq!(used, [REFRESH_TOKEN, "rotated-1"]);
}

#[tokio::test]
async fn refresh_refusals_are_auth_failures_that_name_their_cause() {
    for (status, body, cause) in [
        (
            400,
            json!({"error": "invalid_grant", "error_description": "expired"}),
            "60 days",
        ),
        (401, json!({"error": "invalid_client"}), "client_secret"),
        (400, json!({"code": "INVALID_REQUEST"}), "api_access_point"),
        (400, json!({}), "refused the token refresh"),
    ] {
        // Arrange
        let server = MockServer::start().await;
        refresh_mock(ResponseTemplate::new(status).set_body_json(&body))
            .mount(&server)
            .await;
        cancel_mock(ResponseTemplate::new(204))
            .expect(0)
            .mount(&server)
            .await;

        // Act
        let reply = cancel_one(at(&server).as_ref()).await;

        // Assert
        assert_eq!(code(&reply), Some(ErrorCode::VendorAuthFailed), "{body}");
        assert!(
            message(&reply).contains(cause),
            "{body}: {}",
            message(&reply)
        );
        assert!(!message(&reply).contains(REFRESH_TOKEN));
    }
}

#[tokio::test]
async fn an_unreachable_or_failing_refresh_cancels_nothing_and_is_safe_to_retry() {
    // Arrange
    let server = MockServer::start().await;
    refresh_mock(ResponseTemplate::new(503))
        .mount(&server)
        .await;

    // Act
    let failing = cancel_one(at(&server).as_ref()).await;
    let unreachable =
        cancel_one(adapter(&[("base_url", &runner::refused_address())]).as_ref()).await;

    // Assert
    let failing = failing.expect_err("no answer");
    assert!(failing.class().retry_safe, "{failing:?}");
    assert_eq!(unreachable.expect_err("no answer"), UpstreamError::Connect);
}

#[tokio::test]
async fn only_a_shardless_base_url_is_looked_up_in_base_uris_before_the_first_call() {
    // `api.adobesign.com` cannot be reached from a test; its lookup is the code that runs
    // after INVALID_API_ACCESS_POINT (below). Here, the rule that picks it.
    let table = config::Value::new(
        None,
        config::ValueKind::Table([("client_id".to_owned(), config::Value::from(CLIENT_ID))].into()),
    );
    let adobe = AdobeSignSettings::parse("adobesign", table).expect("valid");
    for (url, looked_up) in [
        ("https://api.adobesign.com", true),
        ("https://api.echosign.com/", true),
        ("https://api.na1.adobesign.com", false),
        ("http://127.0.0.1:9/adobesign", false),
    ] {
        let settings = settings(&[("base_url", url)]).expect("valid");
        let client = AdobeSign::new(&settings.vendors["adobesign"], &adobe);
        assert_eq!(
            client.access_point.lock().await.is_none(),
            looked_up,
            "{url}"
        );
    }
}

#[tokio::test]
async fn invalid_api_access_point_asks_base_uris_and_resends_once_to_the_host_it_names() {
    // Arrange: the configured host says the account moved; baseUris names `/moved`.
    let server = MockServer::start().await;
    refresh_mock(token_answer("t", 3600)).mount(&server).await;
    cancel_mock(refusal(400, "INVALID_API_ACCESS_POINT"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/rest/v6/baseUris"))
        .and(header("authorization", "Bearer t"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiAccessPoint": format!("{}/moved/", server.uri()),
            "webAccessPoint": format!("{}/web/", server.uri()),
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(state_path("/moved")))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&server)
        .await;
    let vendor = at(&server);

    // Act: the second cancel goes to the cached host at once.
    let first = cancel_one(vendor.as_ref()).await;
    let second = cancel_one(vendor.as_ref()).await;

    // Assert: `.expect` on drop.
    assert_eq!((code(&first), code(&second)), (None, None));
}

#[tokio::test]
async fn a_host_refused_again_after_base_uris_is_a_rejected_request() {
    // Arrange
    let server = MockServer::start().await;
    refresh_mock(token_answer("t", 3600)).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/rest/v6/baseUris"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiAccessPoint": format!("{}/", server.uri()),
        })))
        .expect(1)
        .mount(&server)
        .await;
    cancel_mock(refusal(400, "INVALID_API_ACCESS_POINT"))
        .expect(2)
        .mount(&server)
        .await;

    // Act
    let reply = cancel_one(at(&server).as_ref()).await;

    // Assert
    assert_eq!(code(&reply), Some(ErrorCode::Rejected));
    assert!(message(&reply).contains("INVALID_API_ACCESS_POINT"));
}

#[tokio::test]
async fn every_cancel_answer_is_classified_by_code_then_status() {
    use ErrorCode as E;
    let cases: Vec<(ResponseTemplate, Option<E>)> = vec![
        (ResponseTemplate::new(204), None),
        (ResponseTemplate::new(200).set_body_string("{}"), None),
        (refusal(404, "RESOURCE_NOT_FOUND"), Some(E::NotFound)),
        (refusal(404, "INVALID_AGREEMENT_ID"), Some(E::NotFound)),
        (refusal(403, "PERMISSION_DENIED"), Some(E::VendorAuthFailed)),
        (
            refusal(400, "INVALID_AGREEMENT_STATE"),
            Some(E::VendorRefused),
        ),
        (
            refusal(409, "AGREEMENT_NOT_EXPOSED"),
            Some(E::VendorRefused),
        ),
        (refusal(412, "RESOURCE_MODIFIED"), Some(E::VendorRefused)),
        (
            ResponseTemplate::new(400).set_body_string("bad"),
            Some(E::Rejected),
        ),
        (
            ResponseTemplate::new(403).set_body_string("no"),
            Some(E::VendorAuthFailed),
        ),
    ];
    for (answer, want) in cases {
        // Arrange
        let server = MockServer::start().await;
        refresh_mock(token_answer("t", 3600)).mount(&server).await;
        let shown = format!("{answer:?}");
        cancel_mock(answer).mount(&server).await;

        // Act
        let reply = cancel_one(at(&server).as_ref()).await;

        // Assert
        assert_eq!(code(&reply), want, "{shown}");
    }
}

#[tokio::test]
async fn a_throttled_call_waits_retry_after_or_else_the_body_retry_after() {
    for (answer, want) in [
        (
            refusal(429, "THROTTLING_TOO_MANY_REQUESTS").insert_header("Retry-After", "3"),
            3,
        ),
        (
            ResponseTemplate::new(429).set_body_json(json!({
                "code": "THROTTLING_TOO_MANY_REQUESTS", "message": "wait", "retryAfter": 7,
            })),
            7,
        ),
    ] {
        // Arrange
        let server = MockServer::start().await;
        refresh_mock(token_answer("t", 3600)).mount(&server).await;
        cancel_mock(answer).mount(&server).await;

        // Act
        let reply = cancel_one(at(&server).as_ref()).await;

        // Assert
        assert_eq!(
            reply,
            Err(UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(want))
            })
        );
    }
}

#[tokio::test]
async fn notify_signers_false_sends_notify_others_false() {
    // Arrange
    let server = MockServer::start().await;
    refresh_mock(token_answer("t", 3600)).mount(&server).await;
    cancel_to()
        .and(body_json(json!({
            "state": "CANCELLED",
            "agreementCancellationInfo": {"comment": "m", "notifyOthers": false},
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let codes = [AGREEMENT.to_owned()];
    let mut quiet = batch(&codes, Instant::now() + Duration::from_secs(10));
    quiet.notify_signers = false;

    // Act
    let reply = at(&server).cancel(&quiet).await.remove(0);

    // Assert
    assert_eq!(code(&reply), None);
}

#[tokio::test]
async fn the_status_read_maps_every_agreement_status() {
    use DocState as S;
    for (status, want) in [
        ("OUT_FOR_SIGNATURE", Ok(S::InProgress)),
        ("OUT_FOR_APPROVAL", Ok(S::InProgress)),
        ("WAITING_FOR_VERIFICATION", Ok(S::InProgress)),
        ("DOCUMENTS_NOT_YET_PROCESSED", Ok(S::InProgress)),
        ("SIGNED", Ok(S::Signed)),
        ("APPROVED", Ok(S::Signed)),
        ("ACCEPTED", Ok(S::Signed)),
        ("DELIVERED", Ok(S::Signed)),
        ("FORM_FILLED", Ok(S::Signed)),
        ("CANCELLED", Ok(S::Cancelled)),
        ("EXPIRED", Ok(S::Closed)),
        ("DRAFT", Ok(S::Closed)),
        ("AUTHORING", Ok(S::Closed)),
        (
            "SOMETHING_NEW",
            Err(UpstreamError::BadResponse { status: 200 }),
        ),
    ] {
        // Arrange
        let server = MockServer::start().await;
        refresh_mock(token_answer("t", 3600)).mount(&server).await;
        Mock::given(method("GET"))
            .and(path(agreement_path()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": AGREEMENT, "status": status})),
            )
            .mount(&server)
            .await;

        // Act
        let state = read(at(&server).as_ref()).await;

        // Assert
        assert_eq!(state, want, "{status}");
    }
}

#[tokio::test]
async fn the_status_read_knows_not_found_and_throttling_and_distrusts_the_rest() {
    for (answer, want) in [
        (refusal(404, "RESOURCE_NOT_FOUND"), Ok(DocState::NotFound)),
        (refusal(404, "INVALID_AGREEMENT_ID"), Ok(DocState::NotFound)),
        (
            refusal(429, "THROTTLING_TOO_MANY_REQUESTS").insert_header("Retry-After", "2"),
            Err(UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
            }),
        ),
        (
            refusal(403, "PERMISSION_DENIED"),
            Err(UpstreamError::BadResponse { status: 403 }),
        ),
        (
            ResponseTemplate::new(404),
            Err(UpstreamError::BadResponse { status: 404 }),
        ),
    ] {
        // Arrange
        let server = MockServer::start().await;
        refresh_mock(token_answer("t", 3600)).mount(&server).await;
        let shown = format!("{answer:?}");
        Mock::given(method("GET"))
            .and(path(agreement_path()))
            .respond_with(answer)
            .mount(&server)
            .await;

        // Act
        let state = read(at(&server).as_ref()).await;

        // Assert
        assert_eq!(state, want, "{shown}");
    }
}

#[tokio::test]
async fn every_conformance_scenario_passes_through_the_runner() {
    let mismatches = runner::run_all(&CONFORMANCE).await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_kind_is_off_until_configured_and_then_routes_agreement_ids() {
    let id = CONFORMANCE.document();
    let env = HashMap::from([(
        "SIGNGATE__AUTH__API_KEY".to_owned(),
        "test-api-key-0123456789".to_owned(),
    )]);
    let bare = Settings::from_sources(None, None, env).expect("valid");
    assert!(!bare.vendors.contains_key("adobesign"));
    assert!(!bare.routing.rules.iter().any(|r| r.pattern.is_match(id)));

    let settings = settings(&[("base_url", "https://api.na1.adobesign.com")]).expect("valid");

    let rule = settings
        .routing
        .rules
        .iter()
        .find(|r| r.pattern.is_match(id))
        .expect("the agreement ID rule");
    assert_eq!(rule.vendors, ["adobesign"]);
    assert!(!rule.pattern.is_match(&id[1..]));
}

#[test]
fn printed_settings_and_clients_hide_the_secrets() {
    let settings = settings(&[("base_url", "https://api.na1.adobesign.com")]).expect("valid");
    let vendor = &settings.vendors["adobesign"];
    let printed = format!("{vendor:?} {:?}", vendor.config.build(vendor));
    assert!(printed.contains(CLIENT_ID), "{printed}");
    assert!(!printed.contains(CLIENT_SECRET), "{printed}");
    assert!(!printed.contains(REFRESH_TOKEN), "{printed}");
}

#[tokio::test]
async fn a_refresh_answered_307_is_not_followed_so_the_secrets_go_nowhere_else() {
    // Arrange
    let server = MockServer::start().await;
    let collector = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(token_answer("stolen", 3600))
        .mount(&collector)
        .await;
    let elsewhere = format!("{}/collect-token-form", collector.uri());
    refresh_mock(ResponseTemplate::new(307).insert_header("Location", elsewhere.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    cancel_mock(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;

    // Act
    let reply = cancel_one(at(&server).as_ref()).await;

    // Assert
    let error = reply.expect_err("a redirect is no token");
    assert_eq!(error.code(), ErrorCode::VendorBadResponse, "{error:?}");
    let reached = collector.received_requests().await.expect("recording");
    assert!(reached.is_empty(), "the refresh was re-sent: {reached:?}");
}

#[tokio::test]
async fn an_absurd_expires_in_or_retry_after_is_capped_without_a_panic() {
    // Arrange
    let server = MockServer::start().await;
    refresh_mock(token_answer("forever", u64::MAX))
        .expect(1)
        .mount(&server)
        .await;
    cancel_mock(ResponseTemplate::new(429).set_body_json(json!({
        "code": "THROTTLING_TOO_MANY_REQUESTS", "message": "wait", "retryAfter": u64::MAX,
    })))
    .expect(2)
    .mount(&server)
    .await;
    let vendor = at(&server);

    // Act
    let replies = [
        cancel_one(vendor.as_ref()).await,
        cancel_one(vendor.as_ref()).await,
    ];

    // Assert: one refresh for both calls; the wait is an hour at most.
    for reply in replies {
        assert_eq!(
            reply,
            Err(UpstreamError::RateLimited {
                retry_after: Some(http::MAX_VENDOR_WAIT)
            })
        );
    }
}
