//! A gateway pointed at the simulated Yousign: it cancels and reads every status as Yousign
//! means it, and its pacing never exceeds either of Yousign's windows (each made small by the
//! settings of both sides), while a gateway paced above the simulator's limit meets its 429s.

use axum::Router;
use serde_json::Value;

use super::super::{state, YousignState, SIM};
use super::limited;
use crate::simulator::tests::TestSim;
use crate::simulator::SimVendor;
use crate::vendors::conformance::{runner, var};

/// A gateway whose `yousign` vendor is the simulator at `t`, paced at these limits.
async fn gateway(t: &TestSim, per_minute: u32, per_hour: u32) -> Router {
    let mut vars: Vec<(String, String)> = SIM
        .credentials()
        .iter()
        .map(|(key, value)| (var("yousign", &key.to_uppercase()), (*value).to_owned()))
        .collect();
    vars.push((var("yousign", "BASE_URL"), SIM.base_url(t.addr)));
    vars.push((
        var("yousign", "REQUESTS_PER_MINUTE"),
        per_minute.to_string(),
    ));
    vars.push((var("yousign", "REQUESTS_PER_HOUR"), per_hour.to_string()));
    runner::gateway(vars).await
}

/// The five ongoing demo requests, prefixed.
fn five_ongoing() -> Vec<String> {
    (1..=5)
        .map(|n| format!("yousign:e5e5e5e5-0000-4000-8000-00000000000{n}"))
        .collect()
}

/// `(status, error code)` of each result.
fn outcomes(answer: &Value) -> Vec<(String, String)> {
    let results = answer["results"].as_array().expect("results");
    results
        .iter()
        .map(|r| {
            let code = r["error"]["code"].as_str().unwrap_or_default();
            (
                r["status"].as_str().unwrap_or_default().to_owned(),
                code.to_owned(),
            )
        })
        .collect()
}

fn count(outcomes: &[(String, String)], status: &str, code: &str) -> usize {
    outcomes
        .iter()
        .filter(|(s, c)| s == status && c == code)
        .count()
}

#[tokio::test]
async fn the_gateway_reports_every_simulated_status_as_yousign_means_it() {
    // Arrange
    let t = TestSim::demo().await;
    let app = gateway(&t, 54, 1080).await;
    let id = |suffix: &str| format!("yousign:e5e5e5e5-0000-4000-8000-00000000{suffix}");
    let expected = [
        ("0011", "cancelled", ""),
        ("0101", "already_cancelled", "already_cancelled"),
        ("0201", "failed", "already_signed"),
        ("0301", "failed", "not_cancellable"),
        ("0302", "failed", "not_cancellable"),
        ("0303", "failed", "not_cancellable"),
        ("0304", "failed", "not_cancellable"),
        ("0305", "failed", "not_cancellable"),
        ("9999", "failed", "not_found"),
    ];
    let codes: Vec<String> = expected.iter().map(|(suffix, _, _)| id(suffix)).collect();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();

    // Act
    let (_, first) = runner::cancel(&app, &codes).await;
    let (_, again) = runner::cancel(&app, &[&id("0011")]).await;

    // Assert
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(_, s, c)| ((*s).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(outcomes(&first), want, "{first}");
    assert_eq!(
        again["results"][0]["status"], "already_cancelled",
        "{again}"
    );
    assert_eq!(
        state(&t.sim, "e5e5e5e5-0000-4000-8000-000000000011"),
        Some(YousignState::Canceled)
    );
}

#[tokio::test]
async fn the_gateway_never_exceeds_the_minute_window() {
    // Arrange: 3 calls a minute on both sides, an hour's limit far away.
    let t = limited("3", "100").await;
    let app = gateway(&t, 3, 100).await;
    let codes = five_ongoing();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();

    // Act
    let (_, answer) = runner::cancel(&app, &codes).await;

    // Assert: three sent and cancelled; two never sent, as the next minute is past the deadline.
    let outcomes = outcomes(&answer);
    assert_eq!(count(&outcomes, "cancelled", ""), 3, "{answer}");
    assert_eq!(
        count(&outcomes, "failed", "deadline_exceeded"),
        2,
        "{answer}"
    );
    assert_eq!(t.sim.calls("yousign", "cancel"), 3);
}

#[tokio::test]
async fn the_gateway_never_exceeds_the_hour_window() {
    // Arrange: 3 calls an hour on both sides, a minute's limit far away.
    let t = limited("100", "3").await;
    let app = gateway(&t, 100, 3).await;
    let codes = five_ongoing();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();

    // Act
    let (_, answer) = runner::cancel(&app, &codes).await;

    // Assert
    let outcomes = outcomes(&answer);
    assert_eq!(count(&outcomes, "cancelled", ""), 3, "{answer}");
    assert_eq!(
        count(&outcomes, "failed", "deadline_exceeded"),
        2,
        "{answer}"
    );
    assert_eq!(t.sim.calls("yousign", "cancel"), 3);
}

#[tokio::test]
async fn a_gateway_paced_above_the_simulators_hour_meets_its_429s() {
    // Arrange: the simulator allows 3 an hour; the gateway would send 10. Near the end of a
    // clock hour, the simulator's wait would fit the deadline: start in the next hour instead.
    let into_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs()
        % 3600;
    if into_hour > 3570 {
        tokio::time::sleep(std::time::Duration::from_secs(3601 - into_hour)).await;
    }
    let t = limited("100", "3").await;
    let app = gateway(&t, 100, 10).await;
    let codes = five_ongoing();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();

    // Act
    let (_, answer) = runner::cancel(&app, &codes).await;

    // Assert: the two beyond the hour are refused by the simulator (its wait is past the
    // deadline, so they are not retried).
    let outcomes = outcomes(&answer);
    assert_eq!(count(&outcomes, "cancelled", ""), 3, "{answer}");
    assert_eq!(
        count(&outcomes, "failed", "vendor_rate_limited"),
        2,
        "{answer}"
    );
    assert_eq!(t.sim.calls("yousign", "cancel"), 5);
}
