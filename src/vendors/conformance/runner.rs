//! The conformance runner (test support, `cfg(test)` or the `conformance-runner` feature):
//! mounts a kind's `Case` on a wiremock vendor, builds a gateway in-process from the kind's
//! `Conformance::vars`, sends one cancel of its `routed_document()` and compares the answer
//! with the case's `Expected`. The library's unit tests and `tests/api` both run it.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body as HttpBody;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{var, Body, Conformance, MockAnswer, Scenario, TIMEOUT};
use crate::model::Outcome;
use crate::settings::Settings;
use crate::state::AppState;
use crate::vendors::Registry;

/// The API key of the gateways the runner builds.
pub const API_KEY: &str = "conformance-api-key-0001";

/// The wiremock mock for one of a kind's answers.
pub fn mock(answer: &MockAnswer) -> Mock {
    let mut template = ResponseTemplate::new(answer.status).set_delay(answer.delay);
    for (name, value) in &answer.headers {
        template = template.insert_header(*name, *value);
    }
    template = match &answer.body {
        Body::Empty => template,
        Body::Json(json) => template.set_body_json(json),
        Body::Text(text) => template.set_body_string(*text),
    };
    let mock = Mock::given(method(answer.method))
        .and(path(answer.path.as_str()))
        .respond_with(template);
    match answer.times {
        Some(times) => mock.up_to_n_times(times),
        None => mock,
    }
}

/// A gateway's router, in-process, on an in-memory store, with the runner's API key and
/// `vars` (`SIGNGATE__...` variables) over the defaults.
pub async fn gateway(vars: Vec<(String, String)>) -> Router {
    let mut env: HashMap<String, String> = HashMap::from([
        ("SIGNGATE__AUTH__API_KEY".to_owned(), API_KEY.to_owned()),
        (
            "SIGNGATE__STORE__URL".to_owned(),
            "sqlite::memory:".to_owned(),
        ),
    ]);
    env.extend(vars);
    let settings = Settings::from_sources(None, None, env).expect("runner settings are valid");
    let store = crate::store::connect("sqlite::memory:")
        .await
        .expect("an in-memory store");
    let registry = Registry::from_settings(&settings, &store);
    let state = AppState::new(settings, registry, store).expect("the state builds");
    crate::startup::app(state)
}

/// `POST /documents/cancel` of `codes` through `app`: the status and the JSON answer.
pub async fn cancel(app: &Router, codes: &[&str]) -> (StatusCode, Value) {
    let body = json!({"codes": codes, "message": "Conformance", "email": "ops@example.com"});
    let request = Request::post("/documents/cancel")
        .header(header::AUTHORIZATION, format!("Bearer {API_KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(HttpBody::from(body.to_string()))
        .expect("a valid request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a readable body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// An address where nothing listens (for `Scenario::Refused`).
pub fn refused_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}")
}

/// Runs one scenario for one kind; `Err` says how the gateway's report differs from the
/// kind's expectation.
pub async fn run(kind: &dyn Conformance, scenario: Scenario) -> Result<(), String> {
    // Arrange
    let case = kind.case(scenario);
    let server = MockServer::start().await;
    for answer in &case.answers {
        mock(answer).mount(&server).await;
    }
    let address = if scenario.reaches_the_vendor() {
        server.uri()
    } else {
        refused_address()
    };
    let timeout = TIMEOUT.as_millis().to_string();
    let mut vars = kind.vars(&address);
    vars.push((var(kind.name(), "TIMEOUT_MS"), timeout.clone()));
    vars.push((var(kind.name(), "CONNECT_TIMEOUT_MS"), timeout));
    let app = gateway(vars).await;
    let code = kind.routed_document();

    // Act
    let started = Instant::now();
    let (status, answer) = cancel(&app, &[&code]).await;
    let elapsed = started.elapsed();

    // Assert
    let result = &answer["results"][0];
    let expected = &case.expected;
    let (outcome, error) = match expected.error {
        None => (Outcome::Cancelled, Value::Null),
        Some(code) => (Outcome::failed(code, ""), Value::from(code.as_str())),
    };
    let want = outcome.status().as_str();
    let calls = server.received_requests().await.map_or(0, |r| r.len());
    let mut wrong = Vec::new();
    if status != StatusCode::OK {
        wrong.push(format!("the gateway answered {status}"));
    }
    if result["code"] != code.as_str() || result["vendor"] != kind.name() {
        wrong.push(format!(
            "routed as {} to {}",
            result["code"], result["vendor"]
        ));
    }
    if result["status"] != want || result["error"]["code"] != error {
        wrong.push(format!("expected {want} {error}, got {result}"));
    }
    // `queued` is present, and true, only for a queued cancel.
    if (result["queued"] == Value::Bool(true)) != expected.queued {
        wrong.push(format!("expected queued {}, got {result}", expected.queued));
    }
    if calls != expected.calls {
        wrong.push(format!(
            "expected {} vendor calls, got {calls}",
            expected.calls
        ));
    }
    if elapsed < expected.not_before {
        wrong.push(format!(
            "expected at least {:?}, took {elapsed:?}",
            expected.not_before
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} / {scenario:?}: {}",
            kind.name(),
            wrong.join("; ")
        ))
    }
}

/// Runs every scenario for `kind`, one after the other (so a loaded machine does not push
/// ordinary answers past the short vendor timeout); returns the mismatches.
pub async fn run_all(kind: &dyn Conformance) -> Vec<String> {
    let mut mismatches = Vec::new();
    for scenario in Scenario::ALL {
        if let Err(mismatch) = run(kind, scenario).await {
            mismatches.push(mismatch);
        }
    }
    mismatches
}
