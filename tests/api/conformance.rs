//! The conformance suite: every `Scenario` against every kind of `conformance::all()`, through
//! a real gateway and the kind's mock vendor. What each vendor answers, and what a cancel must
//! then report, lives with the vendor (`src/vendors/<kind>/conformance.rs`); nothing here
//! names one, so a new kind runs the whole suite without editing this file.

use std::time::Instant;

use futures::future::join_all;
use serde_json::Value;
use signgate::model::Outcome;
use signgate::vendors::conformance::{self, var, Body, Conformance, MockAnswer, Scenario, TIMEOUT};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{body_for, refused_address, spawn_app_with};

/// The wiremock mock for one of a kind's answers.
fn mock(answer: &MockAnswer) -> Mock {
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

/// Runs one scenario for one kind; `Err` says how the gateway's report differs from the
/// kind's expectation.
async fn run(kind: &dyn Conformance, scenario: Scenario) -> Result<(), String> {
    // Arrange
    let case = kind.case(scenario);
    let timeout = TIMEOUT.as_millis().to_string();
    let mut vars = vec![
        (var(kind.name(), "TIMEOUT_MS"), timeout.clone()),
        (var(kind.name(), "CONNECT_TIMEOUT_MS"), timeout),
    ];
    if !scenario.reaches_the_vendor() {
        vars.extend(kind.vars(&refused_address()));
    }
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = spawn_app_with(&vars).await;
    let server = app.vendor(kind.name());
    for answer in &case.answers {
        mock(answer).mount(server).await;
    }
    let code = kind.routed_document();

    // Act
    let started = Instant::now();
    let answer = app.cancel_ok(&body_for(&[&code])).await;
    let elapsed = started.elapsed();

    // Assert
    let result = &answer["results"][0];
    let expected = &case.expected;
    let (outcome, error) = match expected.error {
        None => (Outcome::Cancelled, Value::Null),
        Some(code) => (Outcome::failed(code, ""), Value::from(code.as_str())),
    };
    let status = outcome.status().as_str();
    let calls = server.received_requests().await.map_or(0, |r| r.len());
    let mut wrong = Vec::new();
    if result["code"] != code.as_str() || result["vendor"] != kind.name() {
        wrong.push(format!(
            "routed as {} to {}",
            result["code"], result["vendor"]
        ));
    }
    if result["status"] != status || result["error"]["code"] != error {
        wrong.push(format!("expected {status} {error}, got {result}"));
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

#[tokio::test]
async fn every_kind_reports_every_scenario_as_its_conformance_says() {
    // Kinds run side by side; each kind's scenarios one after the other, so a loaded machine
    // does not push ordinary answers past the short vendor timeout.
    let kinds = conformance::all().into_iter().map(|kind| async move {
        let mut mismatches = Vec::new();
        for scenario in Scenario::ALL {
            if let Err(mismatch) = run(kind, scenario).await {
                mismatches.push(mismatch);
            }
        }
        mismatches
    });

    let mismatches: Vec<String> = join_all(kinds).await.into_iter().flatten().collect();

    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
