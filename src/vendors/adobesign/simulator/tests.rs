//! The simulated Acrobat Sign answers as REST v6 does: the refresh grant checks the app and the
//! refresh token and issues expiring tokens, `baseUris` points at itself, agreements cancel
//! once with `204` and read their `status`, refusals carry Acrobat Sign's codes, the minute's
//! limit answers `429` with both waits, and a gateway cancels through it as the demo does.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{state, AgreementState, CLIENT_ID, CLIENT_SECRET, DEMO, REFRESH_TOKEN, SIM};
use crate::simulator::tests::{faults, read, TestSim};
use crate::simulator::{SimConfig, SimVendor};
use crate::vendors::conformance::{runner, var};

const OUT: &str = "CBJCHBCAABAAsigngateDemo00000000000000000001";
const APPROVAL: &str = "CBJCHBCAABAAsigngateDemo00000000000000000101";
const SIGNED: &str = "CBJCHBCAABAAsigngateDemo00000000000000000201";
const CANCELLED: &str = "CBJCHBCAABAAsigngateDemo00000000000000000301";
const EXPIRED: &str = "CBJCHBCAABAAsigngateDemo00000000000000000401";
const DRAFT: &str = "CBJCHBCAABAAsigngateDemo00000000000000000501";
const UNKNOWN: &str = "CBJCHBCAABAAsigngateDemo00000000000000009999";

async fn refresh_with(t: &TestSim, form: &[(&str, &str)]) -> (StatusCode, Value) {
    read(t.http.post(t.url(&SIM, "/oauth/v2/refresh")).form(form)).await
}

/// A token from the refresh grant with the simulator's credentials.
async fn token(t: &TestSim) -> String {
    let (status, body) = refresh_with(
        t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().expect("a token").to_owned()
}

fn agreement(t: &TestSim, id: &str) -> String {
    t.url(&SIM, &format!("/api/rest/v6/agreements/{id}"))
}

async fn cancel_with(t: &TestSim, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let url = format!("{}/state", agreement(t, id));
    read(t.http.put(url).bearer_auth(token).json(&body)).await
}

async fn cancel(t: &TestSim, token: &str, id: &str) -> (StatusCode, Value) {
    let body = json!({
        "state": "CANCELLED",
        "agreementCancellationInfo": {"comment": "r", "notifyOthers": false},
    });
    cancel_with(t, token, id, body).await
}

async fn status_of(t: &TestSim, token: &str, id: &str) -> (StatusCode, Value) {
    read(t.http.get(agreement(t, id)).bearer_auth(token)).await
}

#[test]
fn every_demo_agreement_id_has_the_routed_shape() {
    let rule = regex::Regex::new(super::super::ID_RULE).expect("a pattern");
    for (id, _) in DEMO {
        assert!(rule.is_match(id), "{id}");
    }
    assert!(rule.is_match(UNKNOWN));
}

#[tokio::test]
async fn an_agreement_out_for_signature_is_cancelled_once_and_reads_cancelled() {
    let t = TestSim::demo().await;
    let token = token(&t).await;

    assert_eq!(cancel(&t, &token, OUT).await.0, StatusCode::NO_CONTENT);
    assert_eq!(state(&t.sim, OUT), Some(AgreementState::Cancelled));
    let (status, body) = cancel(&t, &token, OUT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "INVALID_AGREEMENT_STATE");
    let (status, body) = status_of(&t, &token, OUT).await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("CANCELLED"))
    );
    assert_eq!(cancel(&t, &token, APPROVAL).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn every_closed_agreement_refuses_the_cancel_and_reads_as_itself() {
    let t = TestSim::demo().await;
    let token = token(&t).await;
    for (id, wire) in [
        (SIGNED, "SIGNED"),
        (CANCELLED, "CANCELLED"),
        (EXPIRED, "EXPIRED"),
        (DRAFT, "DRAFT"),
    ] {
        assert_eq!(
            cancel(&t, &token, id).await.0,
            StatusCode::BAD_REQUEST,
            "{id}"
        );
        let (status, body) = status_of(&t, &token, id).await;
        assert_eq!((status, &body["status"]), (StatusCode::OK, &json!(wire)));
    }
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found_with_their_codes() {
    let t = TestSim::demo().await;
    let token = token(&t).await;
    let (status, body) = cancel(&t, &token, UNKNOWN).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::NOT_FOUND, &json!("RESOURCE_NOT_FOUND"))
    );
    let (status, body) = status_of(&t, &token, "not-an-id").await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::NOT_FOUND, &json!("INVALID_AGREEMENT_ID"))
    );
}

#[tokio::test]
async fn only_the_cancelled_state_and_its_info_may_be_sent() {
    let t = TestSim::demo().await;
    let token = token(&t).await;
    for body in [
        json!({"state": "IN_PROCESS"}),
        json!({"state": "CANCELLED", "extra": 1}),
        json!({"state": "CANCELLED", "agreementCancellationInfo": {"notifyOthers": "yes"}}),
        json!("CANCELLED"),
    ] {
        let (status, answer) = cancel_with(&t, &token, OUT, body.clone()).await;
        assert_eq!(
            (status, &answer["code"]),
            (StatusCode::BAD_REQUEST, &json!("INVALID_ARGUMENTS")),
            "{body}"
        );
    }
    let bare = cancel_with(&t, &token, OUT, json!({"state": "CANCELLED"})).await;
    assert_eq!(bare.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_refresh_grant_checks_the_grant_the_app_and_the_refresh_token() {
    let t = TestSim::demo().await;
    let good = [
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("refresh_token", REFRESH_TOKEN),
    ];
    let with = |key: &str, value: &'static str| {
        good.iter()
            .map(|&(k, v)| (k, if k == key { value } else { v }))
            .collect::<Vec<_>>()
    };
    for (form, status, error) in [
        (
            with("grant_type", "password"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            with("client_secret", "wrong"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            with("refresh_token", "stale"),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ] {
        let (got, body) = refresh_with(&t, &form).await;
        assert_eq!((got, &body["error"]), (status, &json!(error)));
    }
    let (status, body) = refresh_with(&t, &good).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&body["token_type"], &body["expires_in"]),
        (&json!("Bearer"), &json!(3600))
    );
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn a_wrong_or_expired_token_is_invalid_access_token() {
    let mut config = SimConfig::default();
    config
        .set_option("adobesign", "token_lifetime_s", "1")
        .expect("a valid option");
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    let (status, body) = status_of(&t, "forged", OUT).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("INVALID_ACCESS_TOKEN"))
    );
    let token = token(&t).await;
    assert_eq!(status_of(&t, &token, OUT).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(status_of(&t, &token, OUT).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_rotating_simulator_retires_each_refresh_token_it_replaces() {
    let mut config = SimConfig::default();
    config
        .set_option("adobesign", "rotate_refresh_token", "true")
        .expect("a valid option");
    let t = TestSim::start(config).await;
    let form = |refresh: String| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", CLIENT_SECRET.to_owned()),
            ("refresh_token", refresh),
        ]
    };
    let post = |refresh: String| {
        read(
            t.http
                .post(t.url(&SIM, "/oauth/v2/refresh"))
                .form(&form(refresh)),
        )
    };
    let (_, first) = post(REFRESH_TOKEN.to_owned()).await;
    let rotated = first["refresh_token"]
        .as_str()
        .expect("a new refresh token")
        .to_owned();
    assert_eq!(
        post(REFRESH_TOKEN.to_owned()).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(post(rotated).await.0, StatusCode::OK);
}

#[tokio::test]
async fn base_uris_names_the_simulator_itself_ending_in_a_slash() {
    let t = TestSim::demo().await;
    let token = token(&t).await;
    let url = t.url(&SIM, "/api/rest/v6/baseUris");
    let (status, body) = read(t.http.get(url).bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["apiAccessPoint"], format!("{}/", SIM.base_url(t.addr)));
}

#[tokio::test]
async fn beyond_the_minutes_limit_calls_are_throttled_with_both_waits() {
    let mut config = SimConfig::default();
    config
        .set_option("adobesign", "requests_per_minute", "2")
        .expect("a valid option");
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    let token = token(&t).await;
    status_of(&t, &token, OUT).await;
    status_of(&t, &token, OUT).await;
    let response = t
        .http
        .get(agreement(&t, OUT))
        .bearer_auth(&token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let header: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "THROTTLING_TOO_MANY_REQUESTS");
    assert_eq!(body["retryAfter"], json!(header));
    assert!((1..=60).contains(&header), "{header}");
}

#[tokio::test]
async fn unknown_agreements_count_as_out_for_signature_when_configured_so() {
    let mut config = SimConfig::default();
    config.unknown_in_progress = true;
    let t = TestSim::start(config).await;
    let token = token(&t).await;
    assert_eq!(cancel(&t, &token, UNKNOWN).await.0, StatusCode::NO_CONTENT);
    assert_eq!(cancel(&t, &token, UNKNOWN).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn injected_errors_carry_a_code_and_are_counted() {
    let t = TestSim::start(faults(|f| f.error_share = 1.0)).await;
    for _ in 0..3 {
        let (status, body) = status_of(&t, "any", OUT).await;
        assert!(status.is_server_error());
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            assert_eq!(body["code"], "MISC_SERVER_ERROR");
        }
    }
    assert_eq!(t.sim.calls("adobesign", "status"), 3);
}

#[test]
fn options_are_checked() {
    let mut config = SimConfig::default();
    assert!(config
        .set_option("adobesign", "token_lifetime_s", "soon")
        .is_err());
    assert!(config
        .set_option("adobesign", "rotate_refresh_token", "maybe")
        .is_err());
    assert!(config.set_option("adobesign", "color", "blue").is_err());
}

/// A gateway pointed at the simulator with its printed credentials, as the demo wires it.
async fn gateway(t: &TestSim) -> axum::Router {
    let mut vars = vec![
        (var("adobesign", "KIND"), "adobesign".to_owned()),
        (var("adobesign", "BASE_URL"), SIM.base_url(t.addr)),
    ];
    for (key, value) in SIM.credentials() {
        vars.push((var("adobesign", &key.to_uppercase()), (*value).to_owned()));
    }
    runner::gateway(vars).await
}

#[tokio::test]
async fn the_gateway_cancels_and_settles_refusals_through_the_simulator() {
    let t = TestSim::demo().await;
    let app = gateway(&t).await;

    let (_, answer) = runner::cancel(&app, &[OUT, SIGNED, EXPIRED, UNKNOWN]).await;

    let results = answer["results"].as_array().expect("results");
    let got: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            let vendor = r["vendor"].as_str().unwrap_or_default();
            (vendor, r["error"]["code"].as_str().unwrap_or("cancelled"))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("adobesign", "cancelled"),
            ("adobesign", "already_signed"),
            ("adobesign", "not_cancellable"),
            ("adobesign", "not_found"),
        ],
        "{answer}"
    );
    assert_eq!(t.sim.calls("adobesign", "refresh"), 1);
    assert_eq!(t.sim.calls("adobesign", "base_uris"), 0);
}

#[tokio::test]
async fn the_gateway_refreshes_its_token_again_before_a_short_one_expires() {
    let mut config = SimConfig::default();
    config
        .set_option("adobesign", "token_lifetime_s", "2")
        .expect("a valid option");
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    let app = gateway(&t).await;

    let (_, first) = runner::cancel(&app, &[OUT]).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, second) = runner::cancel(&app, &[APPROVAL]).await;

    assert_eq!(first["results"][0]["status"], "cancelled", "{first}");
    assert_eq!(second["results"][0]["status"], "cancelled", "{second}");
    assert_eq!(t.sim.calls("adobesign", "refresh"), 2);
}

#[tokio::test]
async fn a_moved_account_is_found_again_through_base_uris_by_the_gateway() {
    let mut config = SimConfig::default();
    config
        .set_option("adobesign", "moved", "true")
        .expect("a valid option");
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    let token = token(&t).await;
    let (status, body) = status_of(&t, &token, OUT).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::BAD_REQUEST, &json!("INVALID_API_ACCESS_POINT"))
    );
    let app = gateway(&t).await;

    let (_, first) = runner::cancel(&app, &[OUT]).await;
    let (_, second) = runner::cancel(&app, &[APPROVAL]).await;

    assert_eq!(first["results"][0]["status"], "cancelled", "{first}");
    assert_eq!(second["results"][0]["status"], "cancelled", "{second}");
    assert_eq!(t.sim.calls("adobesign", "base_uris"), 1);
    assert_eq!(
        t.sim.calls("adobesign", "cancel"),
        3,
        "one refused, two at home"
    );
}
