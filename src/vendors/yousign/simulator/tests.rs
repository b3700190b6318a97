//! The simulated Yousign answers as the real one documents (`201` cancels of `approval` and
//! `ongoing` requests, `400` for the others, payload validation, Bearer auth, both rate-limit
//! windows and their headers), faults as injected, and agrees with signgate's adapter.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{seed, state, YousignState, API_KEY, DEMO, SIM};
use crate::simulator::tests::{faults, read, TestSim};
use crate::simulator::{Faults, SimConfig, SimVendor, Simulator};

mod gateway;

const ONGOING: &str = "e5e5e5e5-0000-4000-8000-000000000001";
const APPROVAL: &str = "e5e5e5e5-0000-4000-8000-000000000011";
const CANCELED: &str = "e5e5e5e5-0000-4000-8000-000000000101";
const UNKNOWN: &str = "e5e5e5e5-0000-4000-8000-000000009999";

fn note(text: &str) -> Value {
    json!({"reason": "other", "custom_note": text})
}

async fn cancel_with(t: &TestSim, id: &str, body: &Value) -> (StatusCode, Value) {
    let url = t.url(&SIM, &format!("/signature_requests/{id}/cancel"));
    read(t.http.post(url).bearer_auth(API_KEY).json(body)).await
}

async fn cancel(t: &TestSim, id: &str) -> (StatusCode, Value) {
    cancel_with(t, id, &note("Contract withdrawn")).await
}

async fn get(t: &TestSim, id: &str) -> (StatusCode, Value) {
    let url = t.url(&SIM, &format!("/signature_requests/{id}"));
    read(t.http.get(url).bearer_auth(API_KEY)).await
}

/// A demo simulator with these limits a minute and an hour.
async fn limited(per_minute: &str, per_hour: &str) -> TestSim {
    let mut config = SimConfig::default();
    config
        .set_option("yousign", "requests_per_minute", per_minute)
        .expect("a valid limit");
    config
        .set_option("yousign", "requests_per_hour", per_hour)
        .expect("a valid limit");
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    t
}

#[tokio::test]
async fn an_ongoing_or_approval_request_is_cancelled_with_a_201_and_the_request() {
    let t = TestSim::demo().await;
    for id in [ONGOING, APPROVAL] {
        let (status, body) = cancel(&t, id).await;

        assert_eq!(status, StatusCode::CREATED, "{id}");
        assert_eq!(
            (&body["id"], &body["status"]),
            (&json!(id), &json!("canceled"))
        );
        assert_eq!(state(&t.sim, id), Some(YousignState::Canceled));
        assert_eq!(get(&t, id).await.1["status"], "canceled");
    }
}

#[tokio::test]
async fn every_other_status_refuses_the_cancel_with_a_400_and_reads_as_itself() {
    let t = TestSim::demo().await;
    let closed = DEMO
        .iter()
        .filter(|(_, s)| !matches!(s, YousignState::Ongoing | YousignState::Approval));
    for (id, current) in closed {
        let (status, body) = cancel(&t, id).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}");
        assert_eq!(body["type"], "about:blank", "{body}");
        assert!(body["invalid_params"].is_null(), "{body}");
        assert_eq!(state(&t.sim, id), Some(*current));
        assert_eq!(get(&t, id).await, (StatusCode::OK, current.body(id)));
    }
}

#[tokio::test]
async fn an_invalid_payload_is_a_validation_error_naming_the_parameter_and_cancels_nothing() {
    let t = TestSim::demo().await;
    let too_long = note(&"x".repeat(501));
    let cases = [
        (json!({"custom_note": "no reason"}), "reason"),
        (json!({"reason": "changed_my_mind"}), "reason"),
        (too_long, "custom_note"),
        (json!({"reason": "other", "custom_note": 7}), "custom_note"),
    ];
    for (body, param) in cases {
        let (status, answer) = cancel_with(&t, ONGOING, &body).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["type"], "validation.error");
        assert_eq!(answer["invalid_params"][0]["name"], param, "{answer}");
    }
    let fits = note(&"é".repeat(500));
    assert_eq!(state(&t.sim, ONGOING), Some(YousignState::Ongoing));
    assert_eq!(cancel_with(&t, ONGOING, &fits).await.0, StatusCode::CREATED);
    let without_note = json!({"reason": "errors_in_document"});
    assert_eq!(
        cancel_with(&t, APPROVAL, &without_note).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_an_unsupported_media_type() {
    let t = TestSim::demo().await;
    let url = t.url(&SIM, &format!("/signature_requests/{ONGOING}/cancel"));

    let (status, body) = read(t.http.post(url).bearer_auth(API_KEY).body("reason=other")).await;

    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["type"], "about:blank");
    assert_eq!(state(&t.sim, ONGOING), Some(YousignState::Ongoing));
}

#[tokio::test]
async fn an_unknown_request_is_not_found_unless_unknown_ids_count_as_ongoing() {
    let t = TestSim::demo().await;
    let missing =
        json!({"type": "resource.not_found", "detail": "The requested resource was not found."});
    assert_eq!(
        cancel(&t, UNKNOWN).await,
        (StatusCode::NOT_FOUND, missing.clone())
    );
    assert_eq!(get(&t, UNKNOWN).await, (StatusCode::NOT_FOUND, missing));

    let mut config = SimConfig::default();
    config.unknown_in_progress = true;
    let open = TestSim::start(config).await;
    assert_eq!(get(&open, UNKNOWN).await.1["status"], "ongoing");
    assert_eq!(cancel(&open, UNKNOWN).await.0, StatusCode::CREATED);
    assert_eq!(cancel(&open, UNKNOWN).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_call_needs_the_api_key_as_a_bearer_token() {
    let t = TestSim::demo().await;
    let url = t.url(&SIM, &format!("/signature_requests/{ONGOING}/cancel"));
    let body = note("m");
    let attempts = [
        t.http.post(&url).json(&body),
        t.http.post(&url).bearer_auth("other-key").json(&body),
        t.http.post(&url).basic_auth(API_KEY, Some("")).json(&body),
    ];
    for request in attempts {
        let (status, answer) = read(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer["type"], "about:blank");
    }
    assert_eq!(state(&t.sim, ONGOING), Some(YousignState::Ongoing));
}

/// Three status reads on a simulator with these limits, all in one clock minute (tried again
/// on a new simulator when the three straddled one).
async fn three_reads_in_one_minute(per_minute: &str, per_hour: &str) -> [reqwest::Response; 3] {
    let minute = || {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.unwrap().as_secs() / 60
    };
    loop {
        let t = limited(per_minute, per_hour).await;
        let url = t.url(&SIM, &format!("/signature_requests/{UNKNOWN}"));
        let send = || async { t.http.get(&url).bearer_auth(API_KEY).send().await.unwrap() };
        let before = minute();
        let answers = [send().await, send().await, send().await];
        if minute() == before {
            return answers;
        }
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_minute_window_refuses_calls_beyond_it_with_its_headers() {
    let [first, second, third] = three_reads_in_one_minute("2", "100").await;

    assert_eq!(first.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&first, "x-ratelimit-limit-minute"), "2");
    assert_eq!(header(&first, "x-ratelimit-remaining-minute"), "1");
    assert_eq!(header(&first, "x-ratelimit-limit-hour"), "100");
    assert_eq!(header(&second, "x-ratelimit-remaining-minute"), "0");
    assert_eq!(header(&second, "x-ratelimit-remaining-hour"), "98");
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = header(&third, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(header(&third, "x-ratelimit-remaining-hour"), "98");
    let body: Value = third.json().await.unwrap();
    assert_eq!(body, json!({"message": "Too Many Requests"}));
}

#[tokio::test]
async fn the_hour_window_refuses_calls_beyond_it_though_the_minute_has_room() {
    let [_, second, third] = three_reads_in_one_minute("100", "2").await;

    assert_eq!(header(&second, "x-ratelimit-remaining-hour"), "0");
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&third, "x-ratelimit-remaining-minute"), "98");
    let wait: u64 = header(&third, "retry-after").parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
}

#[test]
fn the_options_must_be_whole_numbers_above_zero_and_show_in_the_description() {
    let mut config = SimConfig::default();
    assert!(config
        .set_option("yousign", "requests_per_minute", "lots")
        .is_err());
    assert!(config
        .set_option("yousign", "requests_per_hour", "0")
        .is_err());
    assert!(config.set_option("yousign", "burst", "1").is_err());
    assert!(config
        .set_option("yousign", "requests_per_minute", "30")
        .is_ok());
    assert!(config
        .set_option("yousign", "requests_per_hour", "200")
        .is_ok());
    let described = Simulator::new(config).describe("127.0.0.1:1".parse().unwrap());
    assert!(
        described.contains("at most 30 calls a minute and 200 an hour"),
        "{described}"
    );
}

#[test]
fn the_demo_has_a_request_in_every_status_each_a_uuid() {
    let rows = SIM.describe_demo();
    let statuses = [
        "draft", "approval", "ongoing", "done", "canceled", "expired", "declined", "rejected",
        "deleted",
    ];
    for status in statuses {
        assert!(rows.iter().any(|(l, _)| *l == status), "{status}");
    }
    let uuid = regex::Regex::new(crate::vendors::kind::UUID_RULE).unwrap();
    for (id, _) in DEMO {
        assert!(uuid.is_match(id), "{id}");
    }
}

#[tokio::test]
async fn an_error_fault_after_cancel_answers_5xx_once_the_request_is_cancelled() {
    let t = TestSim::start(faults(|f| {
        f.error_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, ONGOING, YousignState::Ongoing);

    let (status, _) = cancel(&t, ONGOING).await;

    assert!(status.is_server_error(), "{status}");
    assert_eq!(state(&t.sim, ONGOING), Some(YousignState::Canceled));
}

#[tokio::test]
async fn a_rate_limit_fault_answers_yousigns_429_and_cancels_nothing() {
    let t = TestSim::start(faults(|f| {
        f.rate_limit_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, CANCELED, YousignState::Ongoing);

    let (status, body) = cancel(&t, CANCELED).await;

    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, json!({"message": "Too Many Requests"}));
    assert_eq!(state(&t.sim, CANCELED), Some(YousignState::Ongoing));
    t.sim.set_faults(Faults::default());
    assert_eq!(cancel(&t, CANCELED).await.0, StatusCode::CREATED);
}
