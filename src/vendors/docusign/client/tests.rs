//! The DocuSign client against wiremock answering as DocuSign documents: the JWT grant and its
//! claims, the token cache and its renewal, one retry after a `401`, single flight, the token
//! endpoint's refusals, userinfo discovery, the exact void body, every `errorCode` class, and
//! `X-RateLimit-Reset`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::super::test_keys::keys;
use super::super::{Claims, GRANT_TYPE};
use super::*;
use crate::model::ErrorCode;
use crate::settings::{Settings, SettingsError};
use crate::vendors::conformance::runner;
use crate::vendors::testing::batch;

mod hosts;

const ACCOUNT: &str = "acc-1";
const ENVELOPE: &str = "93be49ab-afa0-4adf-933c-f752070d71ec";
const INTEGRATION_KEY: &str = "int-key-0001";
const USER: &str = "user-guid-0001";

fn envelope_path(account: &str) -> String {
    format!("/restapi/v2.1/accounts/{account}/envelopes/{ENVELOPE}")
}

/// Settings of the defaults, a `docusign` table (discovering its REST host) and these
/// `SIGNGATE__VENDORS__DOCUSIGN__*` values.
fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let mut env = HashMap::from([
        (
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        ),
        (
            "SIGNGATE__VENDORS__DOCUSIGN__KIND".to_owned(),
            "docusign".to_owned(),
        ),
        (
            "SIGNGATE__VENDORS__DOCUSIGN__BASE_URL".to_owned(),
            "https://account.docusign.com".to_owned(),
        ),
    ]);
    for (key, value) in pairs {
        env.insert(
            format!("SIGNGATE__VENDORS__DOCUSIGN__{}", key.to_uppercase()),
            (*value).to_owned(),
        );
    }
    Settings::from_sources(None, None, env)
}

fn adapter(pairs: &[(&str, &str)]) -> Arc<dyn Vendor> {
    let settings = settings(pairs).expect("valid DocuSign settings");
    let vendor = &settings.vendors["docusign"];
    vendor.config.build(vendor)
}

/// The JWT grant at `server`, REST at `server` for account `ACCOUNT`.
fn jwt_adapter(server: &MockServer) -> Arc<dyn Vendor> {
    let uri = server.uri();
    adapter(&[
        ("base_url", &format!("{uri}/rest-host")),
        ("oauth_base_url", &uri),
        ("integration_key", INTEGRATION_KEY),
        ("user_id", USER),
        ("account_id", ACCOUNT),
        ("private_key", &keys().private_pem),
    ])
}

fn rest(method_name: &str, account: &str) -> wiremock::MockBuilder {
    Mock::given(method(method_name)).and(path(format!("/rest-host{}", envelope_path(account))))
}

fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token, "token_type": "Bearer", "expires_in": expires_in,
    }))
}

fn token_mock(answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(answer)
}

async fn cancel(vendor: &dyn Vendor, codes: &[String]) -> Vec<Reply> {
    vendor
        .cancel(&batch(codes, Instant::now() + Duration::from_secs(10)))
        .await
}

async fn cancel_one(vendor: &dyn Vendor) -> Reply {
    cancel(vendor, &[ENVELOPE.to_owned()]).await.remove(0)
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

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test]
async fn the_jwt_grant_posts_an_rs256_assertion_with_every_claim_then_voids_with_its_token() {
    // Arrange
    let server = MockServer::start().await;
    token_mock(token_answer("jwt-token-1", 3600))
        .expect(1)
        .mount(&server)
        .await;
    rest("PUT", ACCOUNT)
        .and(header("authorization", "Bearer jwt-token-1"))
        .and(body_json(json!({"status": "voided", "voidedReason": "m"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"envelopeId": ENVELOPE})))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let reply = cancel_one(jwt_adapter(&server).as_ref()).await;

    // Assert
    assert_eq!(code(&reply), None);
    let requests = server.received_requests().await.expect("recorded");
    let grant = requests
        .iter()
        .find(|r| r.url.path() == "/oauth/token")
        .expect("a token request");
    assert_eq!(
        grant.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let fields = form(grant);
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(fields["grant_type"], GRANT_TYPE);
    let audience = server.address().to_string();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&audience]);
    let key = DecodingKey::from_rsa_pem(keys().public_pem.as_bytes()).expect("a public key");
    let claims = jsonwebtoken::decode::<Claims>(&fields["assertion"], &key, &validation)
        .expect("an assertion signed with the configured key")
        .claims;
    assert_eq!(claims.iss, INTEGRATION_KEY);
    assert_eq!(claims.sub, USER);
    assert_eq!(claims.aud, audience);
    assert_eq!(claims.scope, "signature impersonation");
    assert_eq!(claims.exp - claims.iat, 3600);
    assert!(claims.iat.abs_diff(now()) < 120, "{claims:?}");
}

#[test]
fn the_audience_is_the_bare_oauth_host() {
    for (url, want) in [
        ("https://account-d.docusign.com", "account-d.docusign.com"),
        ("https://account.docusign.com/", "account.docusign.com"),
        ("http://127.0.0.1:9911/docusign", "127.0.0.1:9911"),
    ] {
        let settings = settings(&[("oauth_base_url", url)]).expect("valid");
        let printed = format!("{:?}", settings.vendors["docusign"]);
        let parsed = DocuSignSettings::parse(
            "docusign",
            config::Value::new(
                None,
                config::ValueKind::Table(
                    [("oauth_base_url".to_owned(), config::Value::from(url))].into(),
                ),
            ),
        )
        .expect("valid");
        assert_eq!(parsed.audience(), want, "{printed}");
    }
}

#[tokio::test]
async fn a_token_is_reused_until_shortly_before_it_expires() {
    // Arrange: one token lasting an hour, then one that expires at once.
    let server = MockServer::start().await;
    token_mock(token_answer("long", 3600))
        .expect(1)
        .mount(&server)
        .await;
    rest("PUT", ACCOUNT)
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let vendor = jwt_adapter(&server);

    // Act
    for _ in 0..3 {
        assert_eq!(code(&cancel_one(vendor.as_ref()).await), None);
    }

    // Assert: `.expect(1)` on drop; now a token that lasts no time is renewed on every call.
    server.verify().await;
    let short = MockServer::start().await;
    token_mock(token_answer("short", 0))
        .expect(2)
        .mount(&short)
        .await;
    rest("PUT", ACCOUNT)
        .respond_with(ResponseTemplate::new(200))
        .mount(&short)
        .await;
    let vendor = jwt_adapter(&short);
    for _ in 0..2 {
        assert_eq!(code(&cancel_one(vendor.as_ref()).await), None);
    }
}

#[tokio::test]
async fn a_401_gets_one_new_token_and_the_call_is_sent_again() {
    // Arrange
    let server = MockServer::start().await;
    token_mock(token_answer("stale", 3600))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_mock(token_answer("fresh", 3600))
        .expect(1)
        .mount(&server)
        .await;
    rest("PUT", ACCOUNT)
        .and(header("authorization", "Bearer stale"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errorCode": "AUTHORIZATION_INVALID_TOKEN", "message": "expired"
        })))
        .expect(1)
        .mount(&server)
        .await;
    rest("PUT", ACCOUNT)
        .and(header("authorization", "Bearer fresh"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let reply = cancel_one(jwt_adapter(&server).as_ref()).await;

    // Assert
    assert_eq!(code(&reply), None);
}

#[tokio::test]
async fn a_second_401_is_an_auth_failure() {
    // Arrange
    let server = MockServer::start().await;
    token_mock(token_answer("t", 3600))
        .expect(2)
        .mount(&server)
        .await;
    rest("PUT", ACCOUNT)
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errorCode": "USER_AUTHENTICATION_FAILED", "message": "Invalid access token"
        })))
        .expect(2)
        .mount(&server)
        .await;

    // Act
    let reply = cancel_one(jwt_adapter(&server).as_ref()).await;

    // Assert
    assert_eq!(code(&reply), Some(ErrorCode::VendorAuthFailed));
    assert_eq!(reply.expect("an answer").http_status, 401);
}

#[tokio::test]
async fn concurrent_cancels_share_one_token_request() {
    // Arrange
    let server = MockServer::start().await;
    token_mock(token_answer("shared", 3600).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(header("authorization", "Bearer shared"))
        .respond_with(ResponseTemplate::new(200))
        .expect(8)
        .mount(&server)
        .await;
    let codes: Vec<String> = (0..8)
        .map(|i| format!("93be49ab-afa0-4adf-933c-f752070d71e{i}"))
        .collect();

    // Act
    let replies = cancel(jwt_adapter(&server).as_ref(), &codes).await;

    // Assert
    assert!(replies.iter().all(|r| code(r).is_none()), "{replies:?}");
}

#[tokio::test]
async fn consent_required_and_invalid_grant_are_auth_failures_that_say_which() {
    for (error, says) in [
        ("consent_required", "must grant consent"),
        ("invalid_grant", "invalid_grant"),
    ] {
        // Arrange
        let server = MockServer::start().await;
        token_mock(ResponseTemplate::new(400).set_body_json(json!({"error": error})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;

        // Act
        let reply = cancel_one(jwt_adapter(&server).as_ref()).await;

        // Assert
        assert_eq!(code(&reply), Some(ErrorCode::VendorAuthFailed), "{error}");
        assert!(message(&reply).contains(says), "{}", message(&reply));
    }
}

/// A userinfo answer with two accounts; `acc-default` is the default one.
fn userinfo(server: &MockServer) -> ResponseTemplate {
    let base = server.uri();
    ResponseTemplate::new(200).set_body_json(json!({
        "sub": USER, "name": "Ops", "email": "ops@example.com",
        "accounts": [
            {"account_id": ACCOUNT, "is_default": false, "account_name": "A",
             "base_uri": format!("{base}/rest-host")},
            {"account_id": "acc-default", "is_default": true, "account_name": "B",
             "base_uri": format!("{base}/rest-host")},
        ]
    }))
}

async fn discovering(server: &MockServer, account_id: Option<&str>) -> Arc<dyn Vendor> {
    Mock::given(method("GET"))
        .and(path("/oauth/userinfo"))
        .and(header("authorization", "Bearer pasted"))
        .respond_with(userinfo(server))
        .expect(1)
        .mount(server)
        .await;
    let uri = server.uri();
    let mut pairs = vec![
        ("base_url", uri.as_str()),
        ("oauth_base_url", uri.as_str()),
        ("access_token", "pasted"),
    ];
    pairs.extend(account_id.map(|id| ("account_id", id)));
    adapter(&pairs)
}

#[tokio::test]
async fn the_rest_host_of_the_configured_account_is_read_once_from_userinfo() {
    // Arrange
    let server = MockServer::start().await;
    let vendor = discovering(&server, Some(ACCOUNT)).await;
    rest("PUT", ACCOUNT)
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;

    // Act
    let first = cancel_one(vendor.as_ref()).await;
    let second = cancel_one(vendor.as_ref()).await;

    // Assert
    assert_eq!((code(&first), code(&second)), (None, None));
}

#[tokio::test]
async fn without_an_account_id_the_default_account_is_taken() {
    // Arrange
    let server = MockServer::start().await;
    let vendor = discovering(&server, None).await;
    rest("PUT", "acc-default")
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;

    // Act
    let first = cancel_one(vendor.as_ref()).await;
    let second = cancel_one(vendor.as_ref()).await;

    // Assert
    assert_eq!((code(&first), code(&second)), (None, None));
}

fn received(status: u16, body: &str, reset_in: Option<Duration>) -> Received {
    Received {
        raw: RawAnswer {
            status: StatusCode::from_u16(status).expect("valid status"),
            retry_after: None,
            body: Bytes::from(body.to_owned()),
        },
        reset_in,
    }
}

fn code_of(status: u16, error_code: &str) -> Reply {
    let body = json!({"errorCode": error_code, "message": "m"}).to_string();
    classify(&received(status, &body, Some(Duration::from_secs(7))))
}

#[test]
fn every_error_code_class_is_read_whatever_its_case() {
    use ErrorCode as E;
    let definite = [
        ("ENVELOPE_CANNOT_VOID_INVALID_STATE", E::VendorRefused),
        ("envelope_cannot_void_invalid_state", E::VendorRefused),
        ("ENVELOPE_DOES_NOT_EXIST", E::NotFound),
        ("Envelope_Does_Not_Exist", E::NotFound),
        ("USER_LACKS_PERMISSIONS", E::VendorAuthFailed),
        ("ACCOUNT_LACKS_PERMISSIONS", E::VendorAuthFailed),
        ("USER_AUTHENTICATION_FAILED", E::VendorAuthFailed),
        ("PARTNER_AUTHENTICATION_FAILED", E::VendorAuthFailed),
        (
            "USER_DOES_NOT_BELONG_TO_SPECIFIED_ACCOUNT",
            E::VendorAuthFailed,
        ),
        ("INVALID_REQUEST_PARAMETER", E::Rejected),
    ];
    for (error_code, want) in definite {
        assert_eq!(code(&code_of(400, error_code)), Some(want), "{error_code}");
    }
    for error_code in [
        "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
        "BURST_APIINVOCATION_LIMIT_EXCEEDED",
        "Hourly_APIInvocation_Envelope_Limit_Exceeded",
        "Burst_APIInvocation_Envelope_Limit_Exceeded",
        "Hourly_Envelope_Polling_Limit_Exceeded",
        "Burst_Envelope_Polling_Limit_Exceeded",
    ] {
        assert_eq!(
            code_of(400, error_code),
            Err(UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }),
            "{error_code}"
        );
    }
}

#[test]
fn statuses_without_an_error_code_follow_the_shared_table() {
    let classified = |status| classify(&received(status, "<html></html>", None));
    assert_eq!(code(&classified(200)), None);
    assert_eq!(code(&classified(401)), Some(ErrorCode::VendorAuthFailed));
    assert_eq!(code(&classified(403)), Some(ErrorCode::VendorAuthFailed));
    assert_eq!(code(&classified(400)), Some(ErrorCode::Rejected));
    assert_eq!(
        classified(404),
        Err(UpstreamError::BadResponse { status: 404 })
    );
    assert_eq!(
        classified(502),
        Err(UpstreamError::Server {
            status: 502,
            retry_after: None
        })
    );
    assert_eq!(
        classified(429),
        Err(UpstreamError::RateLimited { retry_after: None })
    );
}

#[test]
fn envelope_statuses_map_onto_states_with_the_right_outcomes() {
    use crate::vendors::policy::outcome_of_state;
    let read = |status: &str| {
        classify_status(&received(200, &json!({"status": status}).to_string(), None))
    };
    let outcome = |status: &str| {
        let state = read(status).expect("a known status");
        outcome_of_state(state, false).and_then(|o| o.error_code())
    };
    assert_eq!(read("sent"), Ok(DocState::InProgress));
    assert_eq!(read("delivered"), Ok(DocState::InProgress));
    assert_eq!(outcome("voided"), Some(ErrorCode::AlreadyCancelled));
    assert_eq!(outcome("completed"), Some(ErrorCode::AlreadySigned));
    assert_eq!(outcome("signed"), Some(ErrorCode::AlreadySigned));
    assert_eq!(outcome("declined"), Some(ErrorCode::NotCancellable));
    assert_eq!(outcome("created"), Some(ErrorCode::NotCancellable));
    assert_eq!(
        read("processing"),
        Err(UpstreamError::BadResponse { status: 200 })
    );
    let missing = json!({"errorCode": "ENVELOPE_DOES_NOT_EXIST", "message": "m"}).to_string();
    assert_eq!(
        classify_status(&received(400, &missing, None)),
        Ok(DocState::NotFound)
    );
}

#[tokio::test]
async fn an_invalid_state_refusal_is_split_by_the_status_read() {
    use crate::vendors::conformance::Conformance;
    use crate::vendors::docusign::conformance::{ACCESS_TOKEN, ACCOUNT_ID, CONFORMANCE};
    for (status, want) in [
        ("voided", "already_cancelled"),
        ("completed", "already_signed"),
        ("declined", "not_cancellable"),
        ("created", "not_cancellable"),
    ] {
        // Arrange
        let server = MockServer::start().await;
        let envelope = format!("/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes/{ENVELOPE}");
        Mock::given(method("PUT"))
            .and(path(envelope.as_str()))
            .and(header(
                "authorization",
                format!("Bearer {ACCESS_TOKEN}").as_str(),
            ))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "errorCode": "ENVELOPE_CANNOT_VOID_INVALID_STATE",
                "message": "Only envelopes in the 'Sent' or 'Delivered' states may be voided."
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(envelope.as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"envelopeId": ENVELOPE, "status": status})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let app = runner::gateway(CONFORMANCE.vars(&server.uri())).await;

        // Act
        let (_, answer) = runner::cancel(&app, &[&CONFORMANCE.routed_document()]).await;

        // Assert
        let result = &answer["results"][0];
        let got = result["error"]["code"].as_str().unwrap_or("cancelled");
        assert_eq!(got, want, "{status}: {answer}");
    }
}

#[tokio::test]
async fn x_ratelimit_reset_becomes_the_wait_of_a_limit_error() {
    // Arrange
    let server = MockServer::start().await;
    let reset = (now() + 40).to_string();
    rest("PUT", ACCOUNT)
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("X-RateLimit-Limit", "3000")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", reset.as_str())
                .set_body_json(json!({
                    "errorCode": "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
                    "message": "The maximum number of hourly API invocations has been exceeded."
                })),
        )
        .mount(&server)
        .await;
    let vendor = adapter(&[
        ("base_url", &format!("{}/rest-host", server.uri())),
        ("access_token", "pasted"),
        ("account_id", ACCOUNT),
    ]);

    // Act
    let reply = cancel_one(vendor.as_ref()).await;

    // Assert
    let Err(UpstreamError::RateLimited {
        retry_after: Some(wait),
    }) = reply
    else {
        panic!("a rate limit with a wait: {reply:?}");
    };
    assert!((35..=40).contains(&wait.as_secs()), "{wait:?}");
}

#[test]
fn secrets_are_redacted_and_both_windows_are_paced() {
    // Arrange
    let pem = &keys().private_pem;
    let settings = settings(&[
        ("integration_key", INTEGRATION_KEY),
        ("user_id", USER),
        ("account_id", ACCOUNT),
        ("private_key", pem),
        ("access_token", "pasted-secret-token"),
    ])
    .expect("valid");

    // Act
    let vendor = &settings.vendors["docusign"];
    let printed = format!("{vendor:?}");

    // Assert
    assert!(vendor.has_credentials());
    assert!(!printed.contains("pasted-secret-token"), "{printed}");
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
    let limits = vendor.rate_limits();
    let windows: Vec<(u32, u64)> = limits
        .iter()
        .map(|l| (l.calls, l.window.as_secs()))
        .collect();
    assert_eq!(windows, vec![(2800, 3600), (450, 30)]);
    assert!(limits.iter().all(|l| l.key.starts_with("docusign:")));
}

#[test]
fn credentials_are_the_whole_jwt_grant_or_a_pasted_token() {
    let has = |pairs: &[(&str, &str)]| {
        settings(pairs).expect("valid").vendors["docusign"].has_credentials()
    };
    let pem = keys().private_pem.as_str();
    assert!(!has(&[]));
    assert!(!has(&[
        ("integration_key", INTEGRATION_KEY),
        ("user_id", USER)
    ]));
    assert!(has(&[
        ("integration_key", INTEGRATION_KEY),
        ("user_id", USER),
        ("private_key", pem)
    ]));
    assert!(has(&[("access_token", "t")]));
    assert!(settings(&[]).expect("valid").vendors["docusign"]
        .rate_limits()
        .is_empty());
}

#[test]
fn a_private_key_that_is_not_pem_is_refused_by_name() {
    let error = settings(&[("private_key", "not a key")]).expect_err("a bad key");
    assert!(
        error
            .to_string()
            .starts_with("vendors.docusign.private_key: is not an RSA PEM key"),
        "{error}"
    );
    let error = settings(&[("oauth_base_url", "account-d.docusign.com")]).expect_err("no scheme");
    assert!(
        error
            .to_string()
            .starts_with("vendors.docusign.oauth_base_url"),
        "{error}"
    );
}

#[tokio::test]
async fn every_conformance_scenario_passes_through_the_runner() {
    use crate::vendors::docusign::conformance::CONFORMANCE;
    let mismatches = runner::run_all(&CONFORMANCE).await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_printed_client_hides_its_token() {
    let vendor = adapter(&[
        ("base_url", "http://127.0.0.1:1"),
        ("access_token", "pasted-secret-token"),
        ("account_id", ACCOUNT),
    ]);
    let printed = format!("{vendor:?}");
    assert!(!printed.contains("pasted-secret-token"), "{printed}");
    assert!(
        printed.contains("base_url: Some(\"http://127.0.0.1:1\")"),
        "{printed}"
    );
    let discovering = adapter(&[("access_token", "t")]);
    assert!(format!("{discovering:?}").contains("base_url: None"));
}

#[tokio::test]
async fn an_absurd_expires_in_is_a_day_and_the_token_is_reused_without_a_panic() {
    // Arrange
    let server = MockServer::start().await;
    token_mock(token_answer("forever", u64::MAX))
        .expect(1)
        .mount(&server)
        .await;
    rest("PUT", ACCOUNT)
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let vendor = jwt_adapter(&server);

    // Act
    let replies = [
        cancel_one(vendor.as_ref()).await,
        cancel_one(vendor.as_ref()).await,
    ];

    // Assert: both voided with the one token (`.expect(1)` on drop).
    for reply in &replies {
        assert_eq!(code(reply), None, "{reply:?}");
    }
}
