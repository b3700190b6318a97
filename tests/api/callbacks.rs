//! Where a job's callback may go, end to end: a host name listed with its port that resolves
//! to loopback is not connected to, the attempt recorded as failed, unless
//! `jobs.callback_private_networks` allows it; a plain `http` URL needs `callback_allow_http`.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::jobs::{job_body, tokens, Accept, FAST};

const SECRET: &str = "whsec-test-secret-0003";

/// A receiver answering `204`, and a gateway listing it as `localhost:<port>` over http, with
/// private networks allowed or not.
async fn gateway_calling_localhost(private_networks: bool) -> (MockServer, TestApp, String) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/signgate"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let port = receiver.address().port();
    let entry = format!("localhost:{port}");
    let private = if private_networks { "true" } else { "false" };
    let app = spawn_app_with(&[
        FAST,
        ("SIGNGATE__JOBS__CALLBACK_HOSTS", entry.as_str()),
        ("SIGNGATE__JOBS__CALLBACK_SECRET", SECRET),
        ("SIGNGATE__JOBS__CALLBACK_ALLOW_HTTP", "true"),
        ("SIGNGATE__JOBS__CALLBACK_PRIVATE_NETWORKS", private),
    ])
    .await;
    Accept::default().mount(app.vendor("zapsign")).await;
    let mut body = job_body(&tokens(1));
    body["callback_url"] = json!(format!("http://localhost:{port}/hooks/signgate"));
    let id = app.jobs().job_id(&body).await;
    app.jobs().wait_ended(&id, Duration::from_secs(20)).await;
    (receiver, app, id)
}

#[tokio::test]
async fn a_callback_host_name_resolving_to_loopback_is_refused_at_connect_time() {
    let (receiver, app, id) = gateway_calling_localhost(false).await;

    wait_until("the first attempt is recorded", || async {
        app.jobs().job(&id).await["callback"]["attempts"] == 1
    })
    .await;

    let job = app.jobs().job(&id).await;
    assert_eq!(job["callback"]["state"], "pending", "{job}");
    let attempts = app.store.callback_attempts(&id).await.expect("attempts");
    assert_eq!(attempts[0].status, None);
    assert_eq!(
        attempts[0].error.as_deref(),
        Some("connect: localhost resolves only to non-public addresses")
    );
    let received = receiver.received_requests().await.expect("recording");
    assert!(received.is_empty(), "{received:?}");
}

#[tokio::test]
async fn a_callback_host_name_resolving_to_loopback_is_delivered_with_private_networks() {
    let (receiver, app, id) = gateway_calling_localhost(true).await;

    wait_until("the callback is delivered", || async {
        app.jobs().job(&id).await["callback"]["state"] == "delivered"
    })
    .await;

    assert_eq!(app.jobs().job(&id).await["callback"]["attempts"], 1);
    let received = receiver.received_requests().await.expect("recording");
    assert_eq!(received.len(), 1);
}

#[tokio::test]
async fn a_plain_http_callback_url_is_refused_unless_allowed() {
    let app = spawn_app_configured(
        Some("[jobs]\ncallback_hosts = [\"hooks.example\"]\ncallback_secret = \"whsec-test-secret-0004\"\n"),
        &[],
    )
    .await;
    let mut body = job_body(&tokens(1));
    body["callback_url"] = json!("http://hooks.example/signgate");

    let response = app.jobs().create_job(&body, None).await;

    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("json");
    assert_eq!(
        error["error"]["message"],
        "callback_url: scheme `http` is not allowed, only https (unless jobs.callback_allow_http = true)"
    );
}
