//! The simulated Clicksign answers as the real one documents (a `PATCH` of a running
//! document's status, JSON:API errors, the bare token, `X-Rate-Limit-*` headers), faults as
//! injected, and agrees with signgate's adapter.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{seed, state, ClicksignState, ACCESS_TOKEN, DEMO, DEMO_ENVELOPE, SIM};
use crate::model::{ErrorCode, Outcome};
use crate::simulator::tests::{faults, read, TestSim};
use crate::simulator::{Faults, SimConfig, SimVendor, Simulator};
use crate::vendors::{CallContext, DocState, Priority, Vendor};

const DOC: &str = "c1c5c1c5-0000-4000-8000-000000000001";
const RUNNING: &str = "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000001";
const CANCELED: &str = "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000101";
const CLOSED: &str = "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000201";
const DRAFT: &str = "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000301";
const UNKNOWN: &str = "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000009999";
const OTHER_ENVELOPE: &str = "c1c5c1c5-0000-4000-8000-00000000e002";

fn url(t: &TestSim, code: &str) -> String {
    let (envelope, document) = code.split_once(':').expect("a pair");
    t.url(&SIM, &format!("/envelopes/{envelope}/documents/{document}"))
}

fn json_api(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header("Authorization", ACCESS_TOKEN)
        .header("Content-Type", "application/vnd.api+json")
        .header("Accept", "application/vnd.api+json")
}

fn change_to(code: &str, status: &str) -> Value {
    let document = code.split_once(':').expect("a pair").1;
    json!({"data": {"id": document, "type": "documents", "attributes": {"status": status}}})
}

async fn cancel(t: &TestSim, code: &str) -> (StatusCode, Value) {
    let body = change_to(code, "canceled").to_string();
    read(json_api(t.http.patch(url(t, code))).body(body)).await
}

async fn get(t: &TestSim, code: &str) -> (StatusCode, Value) {
    read(json_api(t.http.get(url(t, code)))).await
}

#[tokio::test]
async fn a_running_document_is_canceled_by_a_patch_that_answers_the_resource() {
    let t = TestSim::demo().await;

    let (status, body) = cancel(&t, RUNNING).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], DOC);
    assert_eq!(body["data"]["type"], "documents");
    assert_eq!(body["data"]["attributes"]["status"], "canceled");
    let envelope = &body["data"]["relationships"]["envelope"]["data"]["id"];
    assert_eq!(envelope, DEMO_ENVELOPE);
    assert_eq!(state(&t.sim, RUNNING), Some(ClicksignState::Canceled));
    let (status, read_back) = get(&t, RUNNING).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read_back["data"]["attributes"]["status"], "canceled");
}

#[tokio::test]
async fn a_document_that_is_not_running_refuses_with_422_and_keeps_its_status() {
    let t = TestSim::demo().await;
    for (code, wire, kept) in [
        (CANCELED, "canceled", ClicksignState::Canceled),
        (CLOSED, "closed", ClicksignState::Closed),
        (DRAFT, "draft", ClicksignState::Draft),
    ] {
        let (status, body) = cancel(&t, code).await;

        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        assert_eq!(body["errors"][0]["status"], 422);
        assert_eq!(body["errors"][0]["code"], "unprocessable_entity");
        assert_eq!(state(&t.sim, code), Some(kept));
        let (_, read_back) = get(&t, code).await;
        assert_eq!(read_back["data"]["attributes"]["status"], wire);
    }
}

#[tokio::test]
async fn an_unknown_document_a_foreign_envelope_or_a_non_uuid_is_not_found() {
    let t = TestSim::demo().await;
    let foreign = format!("{OTHER_ENVELOPE}:{DOC}");
    for code in [UNKNOWN, foreign.as_str(), "abc:def"] {
        let (status, body) = cancel(&t, code).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}");
        assert_eq!(body["errors"][0]["status"], 404);
        assert_eq!(get(&t, code).await.0, StatusCode::NOT_FOUND, "{code}");
    }
    assert_eq!(state(&t.sim, RUNNING), Some(ClicksignState::Running));
}

#[tokio::test]
async fn unknown_documents_count_as_running_when_configured_so() {
    let mut config = SimConfig::default();
    config.unknown_in_progress = true;
    let t = TestSim::start(config).await;

    assert_eq!(
        get(&t, UNKNOWN).await.1["data"]["attributes"]["status"],
        "running"
    );
    assert_eq!(cancel(&t, UNKNOWN).await.0, StatusCode::OK);
    assert_eq!(state(&t.sim, UNKNOWN), Some(ClicksignState::Canceled));
    assert_eq!(cancel(&t, "abc:def").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_call_needs_the_bare_access_token() {
    let t = TestSim::demo().await;
    for authorization in [format!("Bearer {ACCESS_TOKEN}"), "wrong".to_owned()] {
        let request = t
            .http
            .get(url(&t, RUNNING))
            .header("Authorization", authorization.as_str());

        let (status, body) = read(request).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization}");
        assert_eq!(body["errors"][0]["status"], 401);
    }
    assert_eq!(
        read(t.http.get(url(&t, RUNNING))).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_patch_needs_the_json_api_type_and_a_body_naming_the_document_and_a_status() {
    let t = TestSim::demo().await;
    let plain = t
        .http
        .patch(url(&t, RUNNING))
        .header("Authorization", ACCESS_TOKEN)
        .json(&change_to(RUNNING, "canceled"));
    assert_eq!(read(plain).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let other_id = change_to(CANCELED, "canceled");
    for (body, pointer) in [
        (other_id, "/data/id"),
        (change_to(RUNNING, "running"), "/data/attributes/status"),
        (json!({"data": {"id": DOC, "attributes": {}}}), "/data/type"),
    ] {
        let request = json_api(t.http.patch(url(&t, RUNNING))).body(body.to_string());

        let (status, answer) = read(request).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{pointer}");
        assert_eq!(answer["errors"][0]["source"]["pointer"], pointer);
    }
    assert_eq!(state(&t.sim, RUNNING), Some(ClicksignState::Running));
}

/// Three status reads on a fresh simulator allowing 2 calls per 10 s, all in one window
/// (tried again on a new simulator when the three straddled two windows).
async fn three_reads_in_one_window() -> [reqwest::Response; 3] {
    loop {
        let mut config = SimConfig::default();
        config
            .set_option("clicksign", "requests_per_10s", "2")
            .unwrap();
        let t = TestSim::start(config).await;
        let send = || async { json_api(t.http.get(url(&t, UNKNOWN))).send().await.unwrap() };
        let answers = [send().await, send().await, send().await];
        let reset = |r: &reqwest::Response| r.headers()["x-rate-limit-reset"].clone();
        if reset(&answers[0]) == reset(&answers[2]) {
            return answers;
        }
    }
}

#[tokio::test]
async fn every_answer_carries_the_rate_limit_and_calls_beyond_it_are_refused() {
    let [first, second, third] = three_reads_in_one_window().await;

    assert_eq!(first.status(), StatusCode::NOT_FOUND);
    assert_eq!(first.headers()["x-rate-limit"], "2");
    assert_eq!(first.headers()["x-rate-limit-remaining"], "1");
    assert_eq!(second.headers()["x-rate-limit-remaining"], "0");
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.headers()["x-rate-limit-remaining"], "0");
    assert!(third.headers().get("retry-after").is_none());
    let reset: u64 = third.headers()["x-rate-limit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reset % 10, 0);
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], 429);
}

#[test]
fn the_option_must_be_a_whole_number_and_shows_in_the_description() {
    let mut config = SimConfig::default();
    assert!(config
        .set_option("clicksign", "requests_per_10s", "lots")
        .is_err());
    assert!(config
        .set_option("clicksign", "requests_per_10s", "20")
        .is_ok());
    let described = Simulator::new(config).describe("127.0.0.1:1".parse().unwrap());
    assert!(
        described.contains("at most 20 calls per 10 s"),
        "{described}"
    );
}

#[test]
fn the_demo_has_a_document_in_every_state_each_code_matching_the_default_rule() {
    let rows = SIM.describe_demo();
    for label in ["running", "already cancelled", "signed", "draft"] {
        assert!(rows.iter().any(|(l, _)| *l == label), "{label}");
    }
    let rule = regex::Regex::new(crate::vendors::clicksign::CODE_RULE).unwrap();
    for (code, _) in DEMO {
        assert!(rule.is_match(code), "{code}");
    }
}

#[tokio::test]
async fn an_error_fault_after_cancel_answers_5xx_once_the_document_is_canceled() {
    let t = TestSim::start(faults(|f| {
        f.error_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, RUNNING, ClicksignState::Running);

    let (status, _) = cancel(&t, RUNNING).await;

    assert!(status.is_server_error(), "{status}");
    assert_eq!(state(&t.sim, RUNNING), Some(ClicksignState::Canceled));
}

#[tokio::test]
async fn a_rate_limit_fault_answers_a_json_api_429_and_changes_nothing() {
    let t = TestSim::start(faults(|f| {
        f.rate_limit_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, RUNNING, ClicksignState::Running);

    let (status, body) = cancel(&t, RUNNING).await;

    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["errors"][0]["code"], "too_many_requests");
    assert_eq!(state(&t.sim, RUNNING), Some(ClicksignState::Running));
    t.sim.set_faults(Faults::default());
    assert_eq!(cancel(&t, RUNNING).await.0, StatusCode::OK);
}

/// signgate's adapter, configured with the simulator's own credentials.
fn adapter_for(t: &TestSim) -> Arc<dyn Vendor> {
    let mut env = vec![
        (
            "SIGNGATE__AUTH__API_KEY".to_owned(),
            "test-api-key-0123456789".to_owned(),
        ),
        (
            "SIGNGATE__VENDORS__CLICKSIGN__BASE_URL".to_owned(),
            SIM.base_url(t.addr),
        ),
    ];
    for (key, value) in SIM.credentials() {
        let var = format!("SIGNGATE__VENDORS__CLICKSIGN__{}", key.to_uppercase());
        env.push((var, (*value).to_owned()));
    }
    let settings = crate::settings::Settings::from_sources(None, None, env.into_iter().collect())
        .expect("valid settings");
    let vendor = &settings.vendors["clicksign"];
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
async fn the_adapter_cancels_reads_back_and_is_refused_a_second_time() {
    let t = TestSim::demo().await;
    let adapter = adapter_for(&t);
    let codes = [RUNNING.to_owned()];
    let batch = crate::vendors::testing::batch(&codes, ctx().deadline);

    let first = adapter.cancel(&batch).await.remove(0).expect("an answer");
    let second = adapter.cancel(&batch).await.remove(0).expect("an answer");

    assert_eq!(first.outcome, Outcome::Cancelled);
    assert_eq!(second.outcome.error_code(), Some(ErrorCode::VendorRefused));
    assert_eq!(second.http_status, 422);
    for (code, want) in [
        (RUNNING, DocState::Cancelled),
        (CANCELED, DocState::Cancelled),
        (CLOSED, DocState::Signed),
        (DRAFT, DocState::Closed),
        (UNKNOWN, DocState::NotFound),
    ] {
        assert_eq!(adapter.status(code, &ctx()).await, Ok(want), "{code}");
    }
    assert_eq!(t.sim.calls("clicksign", "cancel"), 2);
    assert_eq!(t.sim.calls("clicksign", "status"), 5);
}
