//! The proof that a vendor is its folder plus one `KINDS` line: Example Sign, listed only in
//! unit tests, goes through settings, the simulator, the conformance runner and an API request
//! with nothing outside this folder naming it.

use serde_json::json;
use wiremock::MockServer;

use super::conformance::{CONFORMANCE, TOKEN};
use super::simulator::{state, ExampleState, SIM};
use crate::settings::Settings;
use crate::simulator::tests::TestSim;
use crate::simulator::SimVendor;
use crate::vendors::conformance::{runner, var, Conformance, Scenario};

/// Settings of the defaults plus `overlay`, with an API key.
fn settings_with(overlay: &str) -> Result<Settings, crate::settings::SettingsError> {
    let env = [(
        "SIGNGATE__AUTH__API_KEY".to_owned(),
        "test-api-key-0123456789".to_owned(),
    )];
    Settings::from_sources(None, Some(overlay), env.into_iter().collect())
}

#[test]
fn a_table_of_kind_example_parses_with_its_token_redacted_and_its_rate_limit() {
    // Arrange
    let overlay = "[vendors.demo_x]\nkind = \"example\"\n\
                   base_url = \"https://example.invalid/v1\"\ntoken = \"secret-ex-token\"\n";

    // Act
    let settings = settings_with(overlay).expect("a valid example table");

    // Assert
    let vendor = &settings.vendors["demo_x"];
    assert_eq!(vendor.kind.name(), "example");
    assert!(vendor.has_credentials());
    let limits = vendor.config.rate_limits();
    let [limit] = &limits[..] else {
        panic!("one documented limit: {limits:?}");
    };
    assert_eq!(limit.calls, 100);
    assert!(limit.key.starts_with("example:"));
    let printed = format!("{vendor:?}");
    assert!(!printed.contains("secret-ex-token"), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
}

#[test]
fn a_zapsign_key_in_an_example_table_is_refused_by_name() {
    // Arrange
    let overlay = "[vendors.demo_x]\nkind = \"example\"\n\
                   base_url = \"https://example.invalid/v1\"\napi_token = \"t\"\n";

    // Act
    let error = settings_with(overlay).expect_err("a foreign key");

    // Assert
    assert_eq!(
        error.to_string(),
        "vendors.demo_x.api_token: is not a key of a vendor of kind example"
    );
}

#[test]
fn the_example_kind_is_off_until_configured() {
    // Arrange, act
    let settings = settings_with("").expect("the defaults are valid");

    // Assert
    assert!(!settings.vendors.contains_key("example"));
}

#[tokio::test]
async fn every_conformance_scenario_passes_through_the_runner() {
    // Arrange, act
    let mismatches = runner::run_all(&CONFORMANCE).await;

    // Assert
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn the_simulator_cancels_an_open_document_and_a_second_cancel_is_already_cancelled() {
    // Arrange
    let sim = TestSim::demo().await;
    let mut vars: Vec<(String, String)> = SIM
        .credentials()
        .iter()
        .map(|(key, value)| (var("example", &key.to_uppercase()), (*value).to_owned()))
        .collect();
    vars.push((var("example", "KIND"), "example".to_owned()));
    vars.push((var("example", "BASE_URL"), SIM.base_url(sim.addr)));
    let app = runner::gateway(vars).await;

    // Act
    let (_, first) = runner::cancel(&app, &["example:EX-0001"]).await;
    let (_, second) = runner::cancel(&app, &["example:EX-0001"]).await;

    // Assert
    assert_eq!(first["results"][0]["status"], "cancelled", "{first}");
    assert_eq!(
        second["results"][0]["status"], "already_cancelled",
        "{second}"
    );
    assert_eq!(state(&sim.sim, "EX-0001"), Some(ExampleState::Cancelled));
}

#[tokio::test]
async fn a_mixed_request_reports_the_example_cancel_and_the_unroutable_code_auco_style() {
    // Arrange
    let server = MockServer::start().await;
    for answer in CONFORMANCE.case(Scenario::Cancelled).answers {
        runner::mock(&answer).mount(&server).await;
    }
    let app = runner::gateway(CONFORMANCE.vars(&server.uri())).await;
    let routed = CONFORMANCE.routed_document();

    // Act
    let (status, answer) = runner::cancel(&app, &[&routed, "lower-case"]).await;

    // Assert
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({
            "success": 1,
            "errors": {"cant": 1, "documents": ["lower-case"]},
            "results": [
                {"code": routed, "vendor": "example", "status": "cancelled"},
                {"code": "lower-case", "status": "failed", "error": {
                    "code": "unroutable", "retryable": false,
                    "message": "No routing rule matches this code; prefix it with a vendor name."}},
            ]
        })
    );
    let received = server.received_requests().await.expect("recorded");
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    assert_eq!(
        received[0].body_json::<serde_json::Value>().expect("json"),
        json!({"reason": "Conformance"})
    );
}
