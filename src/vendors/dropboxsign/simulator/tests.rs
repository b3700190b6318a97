//! The simulated Dropbox Sign answers as the real one documents (queued cancels, `410` once
//! cancelled, `400` for closed requests, Basic auth, rate-limit headers), faults as injected,
//! and agrees with signgate's adapter.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{seed, state, DropboxSignState, API_KEY, DEMO, SIM};
use crate::simulator::tests::{faults, read, TestSim};
use crate::simulator::{Faults, SimConfig, SimVendor, Simulator};
use crate::vendors::{CallContext, DocState, Priority, Vendor};

const IN_PROGRESS: &str = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50001";
const CANCELLED: &str = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50101";
const COMPLETE: &str = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50201";
const DECLINED: &str = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50301";
const EXPIRED: &str = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50401";
const UNKNOWN: &str = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d59999";

/// A demo simulator whose queued cancels take effect after `queue_delay_ms`.
async fn demo_with_delay(queue_delay_ms: &str) -> TestSim {
    let mut config = SimConfig::default();
    config
        .set_option("dropboxsign", "queue_delay_ms", queue_delay_ms)
        .expect("a valid delay");
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    t
}

/// A simulator on which a queued cancel never takes effect during a test.
async fn never_done() -> TestSim {
    demo_with_delay("3600000").await
}

/// A simulator on which a queued cancel is done at once.
async fn done_at_once() -> TestSim {
    demo_with_delay("0").await
}

fn authorised(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.basic_auth(API_KEY, Some(""))
}

async fn cancel(t: &TestSim, id: &str) -> (StatusCode, Value) {
    let url = t.url(&SIM, &format!("/signature_request/cancel/{id}"));
    read(authorised(t.http.post(url))).await
}

async fn get(t: &TestSim, id: &str) -> (StatusCode, Value) {
    let url = t.url(&SIM, &format!("/signature_request/{id}"));
    read(authorised(t.http.get(url))).await
}

fn error(name: &str, message: &str) -> Value {
    json!({"error": {"error_msg": message, "error_name": name}})
}

#[tokio::test]
async fn a_cancel_is_queued_with_an_empty_200_and_reads_in_progress_until_done() {
    let t = never_done().await;
    let url = t.url(&SIM, &format!("/signature_request/cancel/{IN_PROGRESS}"));

    let response = authorised(t.http.post(url)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.bytes().await.unwrap().is_empty());
    assert!(matches!(
        state(&t.sim, IN_PROGRESS),
        Some(DropboxSignState::Canceling { .. })
    ));
    let (status, body) = get(&t, IN_PROGRESS).await;
    assert_eq!(status, StatusCode::OK);
    let request = &body["signature_request"];
    assert_eq!(request["signature_request_id"], IN_PROGRESS);
    assert_eq!(
        (&request["is_complete"], &request["is_declined"]),
        (&json!(false), &json!(false))
    );
}

#[tokio::test]
async fn a_second_cancel_while_one_is_queued_is_a_conflict() {
    let t = never_done().await;
    assert_eq!(cancel(&t, IN_PROGRESS).await.0, StatusCode::OK);

    let (status, body) = cancel(&t, IN_PROGRESS).await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        error(
            "conflict",
            "An identical request is already being processed."
        )
    );
}

#[tokio::test]
async fn once_the_queue_delay_passed_the_request_is_gone() {
    let t = done_at_once().await;
    assert_eq!(cancel(&t, IN_PROGRESS).await.0, StatusCode::OK);

    let gone = error("deleted", "This resource has been deleted.");
    assert_eq!(get(&t, IN_PROGRESS).await, (StatusCode::GONE, gone.clone()));
    assert_eq!(cancel(&t, IN_PROGRESS).await, (StatusCode::GONE, gone));
    assert_eq!(
        state(&t.sim, IN_PROGRESS),
        Some(DropboxSignState::Cancelled)
    );
}

#[tokio::test]
async fn closed_requests_refuse_the_cancel_as_a_bad_request_and_read_as_such() {
    let t = never_done().await;
    for id in [COMPLETE, DECLINED, EXPIRED] {
        let (status, body) = cancel(&t, id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}");
        assert_eq!(body["error"]["error_name"], "bad_request", "{id}");
    }
    let flags = |body: &Value| {
        let request = &body["signature_request"];
        (
            request["is_complete"].clone(),
            request["is_declined"].clone(),
        )
    };
    assert_eq!(
        flags(&get(&t, COMPLETE).await.1),
        (json!(true), json!(false))
    );
    assert_eq!(
        flags(&get(&t, DECLINED).await.1),
        (json!(false), json!(true))
    );
    let expired = get(&t, EXPIRED).await.1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires_at = expired["signature_request"]["expires_at"].as_u64().unwrap();
    assert!(expires_at < now, "{expired}");
}

#[tokio::test]
async fn a_cancelled_request_is_gone_and_an_unknown_one_not_found() {
    let t = never_done().await;
    let gone = (
        StatusCode::GONE,
        error("deleted", "This resource has been deleted."),
    );
    assert_eq!(cancel(&t, CANCELLED).await, gone);
    assert_eq!(get(&t, CANCELLED).await, gone);
    let missing = (StatusCode::NOT_FOUND, error("not_found", "Not found."));
    assert_eq!(cancel(&t, UNKNOWN).await, missing);
    assert_eq!(get(&t, UNKNOWN).await, missing);
}

#[tokio::test]
async fn unknown_ids_count_as_in_progress_when_configured_so() {
    let mut config = SimConfig::default();
    config.unknown_in_progress = true;
    config
        .set_option("dropboxsign", "queue_delay_ms", "3600000")
        .unwrap();
    let t = TestSim::start(config).await;

    assert_eq!(get(&t, UNKNOWN).await.0, StatusCode::OK);
    assert_eq!(cancel(&t, UNKNOWN).await.0, StatusCode::OK);
    assert_eq!(cancel(&t, UNKNOWN).await.0, StatusCode::CONFLICT);
}

#[tokio::test]
async fn every_call_needs_the_key_as_basic_user_with_an_empty_password() {
    let t = never_done().await;
    let url = t.url(&SIM, &format!("/signature_request/cancel/{IN_PROGRESS}"));
    let unauthorised = error(
        "unauthorized",
        "Unauthorized user. No credentials supplied.",
    );
    let attempts = [
        t.http.post(&url),
        t.http.post(&url).basic_auth("other-key", Some("")),
        t.http.post(&url).basic_auth(API_KEY, Some("password")),
        t.http.post(&url).bearer_auth(API_KEY),
    ];
    for request in attempts {
        assert_eq!(
            read(request).await,
            (StatusCode::UNAUTHORIZED, unauthorised.clone())
        );
    }
    assert_eq!(
        state(&t.sim, IN_PROGRESS),
        Some(DropboxSignState::InProgress)
    );
}

/// Three status reads on a fresh simulator allowing 2 calls a minute, all in one window (tried
/// again on a new simulator when the three straddled a minute).
async fn three_reads_in_one_window() -> [reqwest::Response; 3] {
    loop {
        let mut config = SimConfig::default();
        config
            .set_option("dropboxsign", "requests_per_minute", "2")
            .unwrap();
        let t = TestSim::start(config).await;
        let url = t.url(&SIM, &format!("/signature_request/{UNKNOWN}"));
        let send = || async { authorised(t.http.get(&url)).send().await.unwrap() };
        let answers = [send().await, send().await, send().await];
        let reset = |r: &reqwest::Response| r.headers()["x-ratelimit-reset"].clone();
        if reset(&answers[0]) == reset(&answers[2]) {
            return answers;
        }
    }
}

#[tokio::test]
async fn every_answer_carries_the_rate_limit_and_calls_beyond_it_are_refused() {
    let [first, second, third] = three_reads_in_one_window().await;

    assert_eq!(first.status(), StatusCode::NOT_FOUND);
    assert_eq!(first.headers()["x-ratelimit-limit"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
    assert_eq!(second.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.headers()["x-ratelimit-remaining"], "0");
    let reset: u64 = third.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reset % 60, 0);
    let body: Value = third.json().await.unwrap();
    assert_eq!(body, error("exceeded_rate", "Too many requests."));
}

#[test]
fn the_options_must_be_whole_numbers_and_show_in_the_description() {
    let mut config = SimConfig::default();
    assert!(config
        .set_option("dropboxsign", "requests_per_minute", "lots")
        .is_err());
    assert!(config
        .set_option("dropboxsign", "queue_delay_ms", "-1")
        .is_err());
    assert!(config
        .set_option("dropboxsign", "requests_per_minute", "7")
        .is_ok());
    assert!(config
        .set_option("dropboxsign", "queue_delay_ms", "1500")
        .is_ok());
    let described = Simulator::new(config).describe("127.0.0.1:1".parse().unwrap());
    assert!(described.contains("at most 7 calls"), "{described}");
    assert!(described.contains("done 1500 ms later"), "{described}");
}

#[test]
fn the_demo_has_a_request_in_every_state_each_a_signature_request_id() {
    let rows = SIM.describe_demo();
    for label in [
        "in progress",
        "already cancelled",
        "signed",
        "declined",
        "expired",
    ] {
        assert!(rows.iter().any(|(l, _)| *l == label), "{label}");
    }
    let id = regex::Regex::new(crate::vendors::dropboxsign::ID_RULE).unwrap();
    for (code, _) in DEMO {
        assert!(id.is_match(code), "{code}");
    }
}

#[tokio::test]
async fn an_error_fault_after_cancel_answers_5xx_once_the_cancel_is_queued() {
    let t = TestSim::start(faults(|f| {
        f.error_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, IN_PROGRESS, DropboxSignState::InProgress);

    let (status, _) = cancel(&t, IN_PROGRESS).await;

    assert!(status.is_server_error(), "{status}");
    assert!(matches!(
        state(&t.sim, IN_PROGRESS),
        Some(DropboxSignState::Canceling { .. }) | Some(DropboxSignState::Cancelled)
    ));
}

#[tokio::test]
async fn a_rate_limit_fault_answers_exceeded_rate_and_queues_nothing() {
    let t = TestSim::start(faults(|f| {
        f.rate_limit_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, IN_PROGRESS, DropboxSignState::InProgress);

    let url = t.url(&SIM, &format!("/signature_request/cancel/{IN_PROGRESS}"));
    let response = authorised(t.http.post(url)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["error_name"], "exceeded_rate");
    assert_eq!(
        state(&t.sim, IN_PROGRESS),
        Some(DropboxSignState::InProgress)
    );
    t.sim.set_faults(Faults::default());
    assert_eq!(cancel(&t, IN_PROGRESS).await.0, StatusCode::OK);
}

/// signgate's adapter, configured with the simulator's own credentials.
fn adapter_for(t: &TestSim) -> Arc<dyn Vendor> {
    let mut env = vec![
        (
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        ),
        (
            "SIGNGATE__VENDORS__DROPBOXSIGN__BASE_URL".to_owned(),
            SIM.base_url(t.addr),
        ),
    ];
    for (key, value) in SIM.credentials() {
        let var = format!("SIGNGATE__VENDORS__DROPBOXSIGN__{}", key.to_uppercase());
        env.push((var, (*value).to_owned()));
    }
    let settings = crate::settings::Settings::from_sources(None, None, env.into_iter().collect())
        .expect("valid settings");
    let vendor = &settings.vendors["dropboxsign"];
    vendor.config.build(vendor)
}

fn ctx() -> CallContext<'static> {
    CallContext {
        request_id: "sim",
        deadline: Instant::now() + Duration::from_secs(10),
        priority: Priority::Interactive,
    }
}

#[tokio::test]
async fn the_adapter_queues_a_cancel_and_reads_it_in_progress_then_cancelled() {
    let slow = never_done().await;
    let adapter = adapter_for(&slow);
    let codes = [IN_PROGRESS.to_owned()];
    let batch = crate::vendors::testing::batch(&codes, ctx().deadline);

    let reply = adapter.cancel(&batch).await.remove(0).expect("an answer");

    assert_eq!(reply.outcome, crate::model::Outcome::Queued);
    assert_eq!(
        adapter.status(IN_PROGRESS, &ctx()).await,
        Ok(DocState::InProgress)
    );

    let fast = done_at_once().await;
    let adapter = adapter_for(&fast);
    adapter.cancel(&batch).await.remove(0).expect("an answer");
    assert_eq!(
        adapter.status(IN_PROGRESS, &ctx()).await,
        Ok(DocState::Cancelled)
    );
    for (id, want) in [
        (COMPLETE, DocState::Signed),
        (DECLINED, DocState::Closed),
        (EXPIRED, DocState::Closed),
        (UNKNOWN, DocState::NotFound),
    ] {
        assert_eq!(adapter.status(id, &ctx()).await, Ok(want), "{id}");
    }
}
