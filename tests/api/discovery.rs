//! Routing among candidate vendors: a rule naming several vendors for codes that look alike
//! (UUIDs), the owner found by a status read at each candidate in order, remembered in the
//! store for every replica, and the failures that must not guess.

use std::time::Duration;

use serde_json::{json, Value};
use signgate::vendors::zapsign::conformance::BASE_PATH;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate, Times};

use crate::helpers::*;
use crate::jobs::{job_body, FAST};
use crate::scratch::Scratch;

const CODE: &str = "5d7e8f90-1111-4222-8333-444455556666";

/// Two ZapSign accounts whose tokens look alike: codes are looked for in `zapsign`, then in
/// `zapsign_b`.
const TWO_CANDIDATES: &str = r#"
[vendors.zapsign_b]
kind = "zapsign"

[[routing.rules]]
pattern = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
vendors = ["zapsign", "zapsign_b"]
"#;

/// A gateway with the two candidates, the second one on `second` (with a token unless
/// `token` is empty), on the store at `store`.
async fn spawn(second: &MockServer, token: &str, store: &str) -> TestApp {
    spawn_with(second, token, store, &[]).await
}

/// `spawn`, with these settings too.
async fn spawn_with(
    second: &MockServer,
    token: &str,
    store: &str,
    extra: &[(&str, &str)],
) -> TestApp {
    let base = format!("{}{BASE_PATH}", second.uri());
    let mut vars = vec![
        ("SIGNGATE__VENDORS__ZAPSIGN_B__BASE_URL", base.as_str()),
        ("SIGNGATE__VENDORS__ZAPSIGN_B__API_TOKEN", token),
        ("SIGNGATE__STORE__URL", store),
    ];
    vars.extend_from_slice(extra);
    spawn_app_configured(Some(TWO_CANDIDATES), &vars).await
}

/// Mounts ZapSign's status read of `CODE` answering `status` (`pending` in a JSON body for a
/// 200), expected `times`.
async fn status_read(server: &MockServer, status: u16, times: impl Into<Times>) {
    let answer = match status {
        200 => {
            ResponseTemplate::new(200).set_body_json(json!({"token": CODE, "status": "pending"}))
        }
        404 => ResponseTemplate::new(404).set_body_string("Not found."),
        other => ResponseTemplate::new(other).set_body_string("<html>Server Error</html>"),
    };
    Mock::given(method("GET"))
        .and(path(format!("{BASE_PATH}/docs/{CODE}/")))
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

/// Mounts ZapSign's refuse call answering a success, expected `times`.
async fn refuse(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/refuse/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "ok"})))
        .expect(times)
        .mount(server)
        .await;
}

fn only_result(answer: &Value) -> &Value {
    &answer["results"][0]
}

#[tokio::test]
async fn a_code_goes_to_the_first_candidate_that_knows_it_and_its_owner_is_remembered() {
    // Arrange
    let second = MockServer::start().await;
    let scratch = Scratch::sqlite();
    let app = spawn(&second, "zs-second-token", &scratch.url).await;
    status_read(app.vendor("zapsign"), 404, 1).await;
    status_read(&second, 200, 1).await;
    refuse(app.vendor("zapsign"), 0).await;
    refuse(&second, 2).await;

    // Act: the first request finds the owner, the second goes straight to it.
    let first = app.cancel_ok(&body_for(&[CODE])).await;
    let again = app.cancel_ok(&body_for(&[CODE])).await;

    // Assert
    for answer in [&first, &again] {
        assert_eq!(only_result(answer)["vendor"], "zapsign_b", "{answer}");
        assert_eq!(only_result(answer)["status"], "cancelled", "{answer}");
    }
    let owner = app.store.code_owner(CODE).await.expect("the store answers");
    assert_eq!(owner.as_deref(), Some("zapsign_b"));
}

#[tokio::test]
async fn a_code_no_candidate_knows_fails_not_found_without_any_cancel() {
    // Arrange
    let second = MockServer::start().await;
    let scratch = Scratch::sqlite();
    let app = spawn(&second, "zs-second-token", &scratch.url).await;
    status_read(app.vendor("zapsign"), 404, 1).await;
    status_read(&second, 404, 1).await;
    refuse(app.vendor("zapsign"), 0).await;
    refuse(&second, 0).await;

    // Act
    let answer = app.cancel_ok(&body_for(&[CODE])).await;

    // Assert
    let result = only_result(&answer);
    assert_eq!(result["status"], "failed", "{answer}");
    assert_eq!(result["error"]["code"], "not_found", "{answer}");
    assert_eq!(result["error"]["retryable"], false, "{answer}");
    assert!(result.get("vendor").is_none(), "{answer}");
}

#[tokio::test]
async fn a_candidate_that_cannot_answer_fails_the_code_retryably_instead_of_guessing() {
    // Arrange: the first candidate is down; the second would know the code.
    let second = MockServer::start().await;
    let scratch = Scratch::sqlite();
    let app = spawn(&second, "zs-second-token", &scratch.url).await;
    status_read(app.vendor("zapsign"), 503, 1..=3).await;
    status_read(&second, 200, 0).await;
    refuse(app.vendor("zapsign"), 0).await;
    refuse(&second, 0).await;

    // Act
    let answer = app.cancel_ok(&body_for(&[CODE])).await;

    // Assert
    let result = only_result(&answer);
    assert_eq!(result["error"]["code"], "vendor_unavailable", "{answer}");
    assert_eq!(result["error"]["retryable"], true, "{answer}");
    let owner = app.store.code_owner(CODE).await.expect("the store answers");
    assert_eq!(owner, None, "nothing is remembered from a failed search");
}

#[tokio::test]
async fn a_job_code_whose_search_failed_was_sent_to_no_one_and_is_searched_again() {
    // Arrange: the first candidate is down for one call, then says the code is not its own.
    let second = MockServer::start().await;
    let scratch = Scratch::sqlite();
    let one_attempt = ("SIGNGATE__VENDORS__ZAPSIGN__MAX_ATTEMPTS", "1");
    let app = spawn_with(
        &second,
        "zs-second-token",
        &scratch.url,
        &[FAST, one_attempt],
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE_PATH}/docs/{CODE}/")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(app.vendor("zapsign"))
        .await;
    status_read(app.vendor("zapsign"), 404, 1).await;
    status_read(&second, 200, 1).await;
    refuse(app.vendor("zapsign"), 0).await;
    refuse(&second, 1).await;

    // Act
    let id = app.jobs().job_id(&job_body(&[CODE.to_owned()])).await;
    let job = app.jobs().wait_ended(&id, Duration::from_secs(30)).await;

    // Assert
    assert_eq!(job["summary"]["success"], 1, "{job}");
    let (results, _) = app.jobs().all_results(&id, 10).await;
    assert_eq!(results[0]["vendor"], "zapsign_b", "{results:?}");
    assert_eq!(results[0]["status"], "cancelled", "{results:?}");
}

#[tokio::test]
async fn a_candidate_without_credentials_is_skipped_and_a_lone_candidate_is_not_asked() {
    // Arrange: the second candidate has no token, so only `zapsign` can hold the code.
    let second = MockServer::start().await;
    let scratch = Scratch::sqlite();
    let app = spawn(&second, "", &scratch.url).await;
    status_read(app.vendor("zapsign"), 200, 0).await;
    refuse(app.vendor("zapsign"), 1).await;

    // Act
    let answer = app.cancel_ok(&body_for(&[CODE])).await;

    // Assert
    assert_eq!(only_result(&answer)["vendor"], "zapsign", "{answer}");
    assert_eq!(only_result(&answer)["status"], "cancelled", "{answer}");
}

#[tokio::test]
async fn an_explicit_prefix_wins_over_the_search() {
    // Arrange
    let second = MockServer::start().await;
    let scratch = Scratch::sqlite();
    let app = spawn(&second, "zs-second-token", &scratch.url).await;
    status_read(app.vendor("zapsign"), 200, 0).await;
    status_read(&second, 200, 0).await;
    refuse(&second, 1).await;

    // Act
    let answer = app
        .cancel_ok(&body_for(&[&format!("zapsign_b:{CODE}")]))
        .await;

    // Assert
    assert_eq!(only_result(&answer)["vendor"], "zapsign_b", "{answer}");
    assert_eq!(only_result(&answer)["status"], "cancelled", "{answer}");
}

/// Replicas share what one of them found: the second gateway, on the same store, asks no
/// candidate.
async fn an_owner_found_by_one_replica_routes_the_others_directly(store: &str) {
    // Arrange
    let second = MockServer::start().await;
    let first_replica = spawn(&second, "zs-second-token", store).await;
    let other_replica = spawn(&second, "zs-second-token", store).await;
    status_read(first_replica.vendor("zapsign"), 404, 1).await;
    status_read(other_replica.vendor("zapsign"), 404, 0).await;
    status_read(&second, 200, 1).await;
    refuse(&second, 2).await;

    // Act
    let found = first_replica.cancel_ok(&body_for(&[CODE])).await;
    let routed = other_replica.cancel_ok(&body_for(&[CODE])).await;

    // Assert
    assert_eq!(only_result(&found)["vendor"], "zapsign_b", "{found}");
    assert_eq!(only_result(&routed)["vendor"], "zapsign_b", "{routed}");
}

on_both_stores!(an_owner_found_by_one_replica_routes_the_others_directly);
