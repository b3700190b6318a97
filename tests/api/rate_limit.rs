//! The inbound rate limit: beyond the burst, `429 rate_limited` with `Retry-After` and no
//! vendor call; the operational endpoints are never limited.

use serde_json::Value;
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const ZAPSIGN_DOC: &str = "0a1b2c3d-0000-4000-8000-000000000001";

#[tokio::test]
async fn the_request_after_the_burst_gets_429_with_retry_after_and_calls_no_vendor() {
    // Arrange: one request a second at most, three at once.
    let app = spawn_app_with(&[
        ("SIGNGATE__SERVER__RATE_LIMIT_PER_SECOND", "1"),
        ("SIGNGATE__SERVER__RATE_LIMIT_BURST", "3"),
    ])
    .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(3)
        .mount(app.vendor("zapsign"))
        .await;

    // Act: the burst, then one more.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            app.cancel(&body_for(&[ZAPSIGN_DOC]))
                .await
                .status()
                .as_u16(),
        );
    }
    let refused = app.cancel(&body_for(&[ZAPSIGN_DOC])).await;

    // Assert
    assert_eq!(statuses, [200, 200, 200]);
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    let body: Value = refused.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    // The mock's `expect(3)` is checked when `app` is dropped: the fourth called no vendor.
}

#[tokio::test]
async fn livez_and_requests_with_a_wrong_key_are_never_limited() {
    let app = spawn_app_with(&[
        ("SIGNGATE__SERVER__RATE_LIMIT_PER_SECOND", "1"),
        ("SIGNGATE__SERVER__RATE_LIMIT_BURST", "1"),
    ])
    .await;

    let mut probes = Vec::new();
    for _ in 0..20 {
        let live = app
            .client
            .get(app.url("/livez"))
            .send()
            .await
            .expect("answer");
        probes.push(live.status().as_u16());
    }
    let wrong_key = app
        .client
        .post(app.url("/documents/cancel"))
        .bearer_auth("wrong-key")
        .json(&body_for(&[ZAPSIGN_DOC]))
        .send()
        .await
        .expect("answer");
    let listed = app
        .client
        .get(app.url("/documents/cancellations?code=TR99AQMY31"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer");
    let limited = app
        .client
        .get(app.url("/documents/cancellations?code=TR99AQMY31"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer");

    assert!(probes.iter().all(|status| *status == 200), "{probes:?}");
    assert_eq!(wrong_key.status(), 401);
    assert_eq!(listed.status(), 200, "the wrong key used up no budget");
    assert_eq!(limited.status(), 429, "cancellations is an API route too");
}
