//! Crashes and replicas: real gateway processes killed with SIGKILL at the moment that matters,
//! restarted, and checked through the audit trail, the vendor mock's call log and a retried
//! keyed request. Each scenario runs on SQLite and on Postgres where it applies.

use std::future::Future;
use std::time::Duration;

use serde_json::{json, Value};
use signgate::settings::Settings;
use signgate::state::AppState;
use signgate::vendors::Registry;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::process::Gateway;
use crate::scratch::Scratch;

const TOKEN: &str = "0a1b2c3d-0000-4000-8000-0000000000aa";
const KEY: &str = "order-crash-1";
/// The request deadline of these gateways: rows are presumed dead after twice this.
const DEADLINE_MS: u64 = 1500;

on_both_stores!(
    a_cancel_applied_before_a_crash_is_recovered_cancelled_and_its_key_replays_it,
    a_cancel_received_but_never_applied_is_sent_once_more_by_recovery,
    a_keyed_retry_after_a_crash_reads_the_status_before_any_resend,
    without_a_status_read_an_interrupted_document_ends_interrupted,
);

/// The variables of a gateway with a short deadline on `store`, wired to these mocks.
pub fn vars(vendors: &MockVendors, store: &str) -> Vec<(String, String)> {
    let mut vars = base_vars(vendors);
    vars.extend(short_deadline(DEADLINE_MS, 1000));
    vars.insert("SIGNGATE__STORE__URL".to_owned(), store.to_owned());
    vars.into_iter().collect()
}

fn cancel_request(address: &str, body: &Value, key: Option<&str>) -> reqwest::RequestBuilder {
    let request = reqwest::Client::new()
        .post(format!("http://{address}/documents/cancel"))
        .bearer_auth(API_KEY)
        .json(body);
    match key {
        Some(key) => request.header("Idempotency-Key", key),
        None => request,
    }
}

/// Sends a cancel to a gateway, waits until `vendor` has received `calls` requests on
/// `route`, then kills the gateway with SIGKILL (the vendor never gets to answer it).
async fn crash_mid_call(
    vars: &[(String, String)],
    body: &Value,
    key: Option<&str>,
    vendor: &MockServer,
    route: &str,
    calls: usize,
) {
    let (mut gateway, address) = Gateway::listening(vars);
    let request = tokio::spawn(cancel_request(&address, body, key).send());
    wait_until("the vendor receives the cancel", || async {
        calls_to(vendor, route).await >= calls
    })
    .await;
    gateway.kill();
    assert!(
        request.await.expect("task").is_err(),
        "a killed gateway cannot answer"
    );
}

async fn calls_to(server: &MockServer, route: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == route)
        .count()
}

pub async fn history(address: &str, code: &str) -> Value {
    reqwest::Client::new()
        .get(format!("http://{address}/documents/cancellations"))
        .query(&[("code", code)])
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json")
}

/// The newest audit row of `code` once a recovery has resolved it.
async fn recovered_row(address: &str, code: &str) -> Value {
    wait_until("a recovery resolves the row", || async {
        !history(address, code).await["attempts"][0]["recovery"].is_null()
    })
    .await;
    history(address, code).await["attempts"][0].clone()
}

async fn zapsign_status_is(zapsign: &MockServer, status: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/docs/{TOKEN}/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": status})))
        .mount(zapsign)
        .await;
}

/// A refuse the vendor receives but never answers (the gateway dies first).
fn hanging_refuse() -> Mock {
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
}

async fn a_cancel_applied_before_a_crash_is_recovered_cancelled_and_its_key_replays_it(
    store: &str,
) {
    let vendors = MockVendors::start().await;
    let zapsign = vendors.get("zapsign");
    hanging_refuse().mount(zapsign).await;
    zapsign_status_is(zapsign, "refused").await;
    let vars = vars(&vendors, store);
    let body = body_for(&[TOKEN]);
    crash_mid_call(&vars, &body, Some(KEY), zapsign, "/api/v1/refuse/", 1).await;

    let (mut restarted, address) = Gateway::listening(&vars);
    let row = recovered_row(&address, TOKEN).await;
    let retry = cancel_request(&address, &body, Some(KEY))
        .send()
        .await
        .expect("answer");
    let replayed = retry.headers().get("idempotent-replayed").cloned();
    let answer: Value = retry.json().await.expect("json");
    let counted = metric(
        &address,
        "signgate_recovered_documents_total",
        &["vendor=\"zapsign\"", "status=\"cancelled\""],
    )
    .await;
    restarted.terminate();
    let (code, output) = restarted.finish();

    assert_eq!(row["status"], "cancelled", "{row}");
    assert_eq!(row["recovery"]["vendor_state"], "cancelled", "{row}");
    assert!(
        row["recovery"]["recovered_by"]
            .as_str()
            .is_some_and(|by| by.starts_with("recovery:")),
        "{row}"
    );
    assert_eq!(
        calls_to(zapsign, "/api/v1/refuse/").await,
        1,
        "never re-sent"
    );
    assert_eq!(replayed.as_ref().map(|v| v.as_bytes()), Some(&b"true"[..]));
    assert_eq!(answer["success"], 1, "{answer}");
    assert_eq!(answer["results"][0]["status"], "cancelled", "{answer}");
    assert_eq!(counted, 1.0);
    assert_eq!(code, Some(0), "{output}");
}

async fn a_cancel_received_but_never_applied_is_sent_once_more_by_recovery(store: &str) {
    let vendors = MockVendors::start().await;
    let zapsign = vendors.get("zapsign");
    hanging_refuse().up_to_n_times(1).mount(zapsign).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(zapsign)
        .await;
    zapsign_status_is(zapsign, "pending").await;
    let vars = vars(&vendors, store);
    crash_mid_call(
        &vars,
        &body_for(&[TOKEN]),
        None,
        zapsign,
        "/api/v1/refuse/",
        1,
    )
    .await;

    let (mut restarted, address) = Gateway::listening(&vars);
    let row = recovered_row(&address, TOKEN).await;
    restarted.terminate();
    let (code, output) = restarted.finish();

    assert_eq!(row["status"], "cancelled", "{row}");
    assert_eq!(row["vendor_calls"], 1, "{row}");
    assert_eq!(row["recovery"]["vendor_state"], Value::Null, "{row}");
    assert_eq!(
        calls_to(zapsign, "/api/v1/refuse/").await,
        2,
        "the crashed call and exactly one re-send"
    );
    assert_eq!(code, Some(0), "{output}");
}

async fn a_keyed_retry_after_a_crash_reads_the_status_before_any_resend(store: &str) {
    let vendors = MockVendors::start().await;
    let zapsign = vendors.get("zapsign");
    hanging_refuse().mount(zapsign).await;
    zapsign_status_is(zapsign, "refused").await;
    let vars = vars(&vendors, store);
    let body = body_for(&[TOKEN]);
    crash_mid_call(&vars, &body, Some(KEY), zapsign, "/api/v1/refuse/", 1).await;
    // A gateway without the recovery loop, so that the retry, not a recovery, finds the
    // stale key: the request path alone must not re-send blindly.
    let address = serve_without_recovery(&vars).await;
    tokio::time::sleep(Duration::from_millis(3_200)).await;

    let retry = cancel_request(&address, &body, Some(KEY))
        .header("X-Request-Id", "client-retry-2")
        .send()
        .await
        .expect("answer");
    assert_eq!(retry.status(), 200);
    assert!(retry.headers().get("idempotent-replayed").is_none());
    let answer: Value = retry.json().await.expect("json");
    let trail = history(&address, TOKEN).await;

    assert_eq!(answer["results"][0]["status"], "cancelled", "{answer}");
    assert_eq!(
        calls_to(zapsign, "/api/v1/refuse/").await,
        1,
        "never re-sent"
    );
    let (newest, crashed) = (&trail["attempts"][0], &trail["attempts"][1]);
    assert_eq!(newest["request_id"], "client-retry-2", "{trail}");
    assert_eq!(newest["status"], "cancelled", "{trail}");
    assert_eq!(newest["vendor_calls"], 0, "{trail}");
    assert_eq!(crashed["status"], "cancelled", "{trail}");
    assert_eq!(
        crashed["recovery"]["recovered_by"], "retry:client-retry-2",
        "{trail}"
    );
}

async fn without_a_status_read_an_interrupted_document_ends_interrupted(store: &str) {
    let vendors = MockVendors::start().await;
    let auco = vendors.get("auco");
    Mock::given(method("POST"))
        .and(path("/v1.5/ext/document/cancel"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(auco)
        .await;
    let mut vars = vars(&vendors, store);
    vars.retain(|(k, _)| k != "SIGNGATE__VENDORS__AUCO__PUBLIC_KEY");
    let body = body_for(&["TR99AQMY31"]);
    crash_mid_call(
        &vars,
        &body,
        Some(KEY),
        auco,
        "/v1.5/ext/document/cancel",
        1,
    )
    .await;

    let (mut restarted, address) = Gateway::listening(&vars);
    let row = recovered_row(&address, "TR99AQMY31").await;
    let replay: Value = cancel_request(&address, &body, Some(KEY))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    restarted.terminate();
    let (code, output) = restarted.finish();

    assert_eq!(row["status"], "failed", "{row}");
    assert_eq!(row["error_code"], "interrupted", "{row}");
    let error = &replay["results"][0]["error"];
    assert_eq!(error["code"], "interrupted", "{replay}");
    assert_eq!(error["retryable"], true, "{replay}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown")),
        "{replay}"
    );
    assert_eq!(calls_to(auco, "/v1.5/ext/document/cancel").await, 1);
    assert_eq!(code, Some(0), "{output}");
}

/// Serves the API in this process without the recovery loop; returns its address.
async fn serve_without_recovery(vars: &[(String, String)]) -> String {
    let mut env: std::collections::HashMap<String, String> = vars.iter().cloned().collect();
    env.insert("SIGNGATE__SERVER__LISTEN".into(), "127.0.0.1:0".into());
    let settings = Settings::from_sources(None, None, env).expect("valid settings");
    let store = signgate::store::connect(settings.store.url.expose())
        .await
        .expect("the store opens");
    let registry = Registry::from_settings(&settings, &store);
    let state = AppState::new(settings, registry, store).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, signgate::startup::app(state)).await;
    });
    address
}

#[tokio::test]
async fn two_replicas_recover_each_interrupted_document_exactly_once() {
    let Some(scratch) = Scratch::postgres("two_replicas_recover_each_interrupted_document").await
    else {
        return;
    };
    let vendors = MockVendors::start().await;
    let zapsign = vendors.get("zapsign");
    let tokens: Vec<String> = (0..6)
        .map(|i| format!("0a1b2c3d-0000-4000-8000-00000000010{i}"))
        .collect();
    hanging_refuse().up_to_n_times(6).mount(zapsign).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(zapsign)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "pending"})))
        .mount(zapsign)
        .await;
    let vars = vars(&vendors, &scratch.url);
    let codes: Vec<&str> = tokens.iter().map(String::as_str).collect();
    crash_mid_call(
        &vars,
        &body_for(&codes),
        None,
        zapsign,
        "/api/v1/refuse/",
        6,
    )
    .await;

    let (mut first, first_address) = Gateway::listening(&vars);
    let (mut second, second_address) = Gateway::listening(&vars);
    for token in &tokens {
        recovered_row(&first_address, token).await;
    }
    let recovered = metric(&first_address, "signgate_recovered_documents_total", &[]).await
        + metric(&second_address, "signgate_recovered_documents_total", &[]).await;
    first.terminate();
    second.terminate();
    let (_, first_output) = first.finish();
    let (_, second_output) = second.finish();

    let requests = zapsign.received_requests().await.unwrap_or_default();
    for token in &tokens {
        let sent = requests
            .iter()
            .filter(|r| r.url.path() == "/api/v1/refuse/")
            .filter(|r| {
                serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["doc_token"] == *token)
            })
            .count();
        assert_eq!(
            sent, 2,
            "{token}: the crashed call and one re-send, never two"
        );
    }
    assert_eq!(recovered, 6.0, "{first_output}\n{second_output}");
}

#[tokio::test]
async fn an_unknown_outcome_is_read_later_and_recorded_beside_the_unchanged_answer() {
    let app = spawn_app_with(&pairs(&short_deadline(DEADLINE_MS, 500))).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1_000)))
        .mount(app.vendor("zapsign"))
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(app.vendor("zapsign"))
        .await;
    zapsign_status_is(app.vendor("zapsign"), "refused").await;
    let body = body_for(&[TOKEN]);
    let send = || {
        app.client
            .post(app.url("/documents/cancel"))
            .bearer_auth(API_KEY)
            .header("Idempotency-Key", KEY)
            .json(&body)
            .send()
    };

    let first = send().await.expect("answer").bytes().await.expect("body");
    let answer: Value = serde_json::from_slice(&first).expect("json");
    let address = app.address.to_string();
    wait_until("a recovery reads the state", || async {
        history(&address, TOKEN).await["attempts"][0]["recovery"]["vendor_state"] == "cancelled"
    })
    .await;
    let row = history(&address, TOKEN).await["attempts"][0].clone();
    let replay = send().await.expect("answer").bytes().await.expect("body");

    assert_eq!(
        answer["results"][0]["error"]["code"], "vendor_timeout",
        "{answer}"
    );
    assert_eq!(row["status"], "failed", "the answer given stays: {row}");
    assert_eq!(row["error_code"], "vendor_timeout", "{row}");
    assert_eq!(row["outcome_unknown"], false, "{row}");
    assert_eq!(replay, first, "the replay stays byte for byte");
    assert_eq!(calls_to(app.vendor("zapsign"), "/api/v1/refuse/").await, 1);
}

// ---- cancels the vendor queued (Dropbox Sign) ------------------------------------------------

/// A Dropbox Sign signature request id (40 lowercase hex characters: routed there by default).
const REQUEST_ID: &str = "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5aaaa";

/// A gateway on an SQLite file whose Dropbox Sign mock queues every cancel (an empty `200`)
/// and answers status reads with `status` (a signature request in progress for `200`, the
/// vendor's `deleted` error for `410`).
async fn queued_cancel(store: &Scratch, status: u16) -> TestApp {
    let deadline = short_deadline(DEADLINE_MS, 1000);
    let mut vars = pairs(&deadline);
    vars.push(("SIGNGATE__STORE__URL", &store.url));
    let app = spawn_app_with(&vars).await;
    let dropboxsign = app.vendor("dropboxsign");
    Mock::given(method("POST"))
        .and(path(format!("/v3/signature_request/cancel/{REQUEST_ID}")))
        .respond_with(ResponseTemplate::new(200))
        .mount(dropboxsign)
        .await;
    let answer = match status {
        200 => ResponseTemplate::new(200).set_body_json(json!({"signature_request": {
            "signature_request_id": REQUEST_ID, "is_complete": false, "is_declined": false,
            "has_error": false, "expires_at": null}})),
        _ => ResponseTemplate::new(status).set_body_json(json!({"error": {
            "error_msg": "This resource has been deleted", "error_name": "deleted"}})),
    };
    Mock::given(method("GET"))
        .and(path(format!("/v3/signature_request/{REQUEST_ID}")))
        .respond_with(answer)
        .mount(dropboxsign)
        .await;
    app
}

/// Moves the queued row's clock back by `hours` (answer and any re-send) and makes its
/// confirmation due now: the passage of time, without waiting for it.
async fn age_queued_row(store: &Scratch, hours: i64) {
    let pool = sqlx::SqlitePool::connect(&store.url).await.expect("open");
    sqlx::query(
        "UPDATE audit_events SET confirm_at = 0, finished_at = finished_at - $1, \
         recovered_at = recovered_at - $1 WHERE queued = TRUE",
    )
    .bind(hours * 3_600_000)
    .execute(&pool)
    .await
    .expect("update");
    pool.close().await;
}

fn cancel_calls(app: &TestApp) -> impl Future<Output = usize> + '_ {
    calls_to(
        app.vendor("dropboxsign"),
        "/v3/signature_request/cancel/d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5aaaa",
    )
}

#[tokio::test]
async fn a_queued_cancel_is_answered_queued_and_confirmed_by_a_later_status_read() {
    // Arrange
    let store = Scratch::sqlite();
    let app = queued_cancel(&store, 410).await;
    let address = app.address.to_string();

    // Act
    let answer = app.cancel_ok(&body_for(&[REQUEST_ID])).await;
    let waiting = history(&address, REQUEST_ID).await["attempts"][0].clone();
    age_queued_row(&store, 0).await;
    let row = recovered_row(&address, REQUEST_ID).await;

    // Assert
    let result = &answer["results"][0];
    assert_eq!(result["vendor"], "dropboxsign", "{answer}");
    assert_eq!(result["status"], "cancelled", "{answer}");
    assert_eq!(result["queued"], true, "{answer}");
    assert_eq!(answer["success"], 1, "{answer}");
    assert_eq!(waiting["queued"], true, "{waiting}");
    assert!(
        waiting["recovery"].is_null(),
        "not read before its time: {waiting}"
    );
    assert!(row.get("queued").is_none(), "confirmed: {row}");
    assert_eq!(row["status"], "cancelled", "{row}");
    assert_eq!(row["recovery"]["vendor_state"], "cancelled", "{row}");
    assert_eq!(
        cancel_calls(&app).await,
        1,
        "a confirmed cancel is never re-sent"
    );
}

#[tokio::test]
async fn a_queued_cancel_still_in_progress_after_an_hour_is_sent_once_more_then_given_up() {
    // Arrange
    let store = Scratch::sqlite();
    let app = queued_cancel(&store, 200).await;
    let address = app.address.to_string();
    app.cancel_ok(&body_for(&[REQUEST_ID])).await;

    // Act: read after a minute (still in progress: wait), after an hour (re-send), and an hour
    // after the re-send (give up).
    age_queued_row(&store, 0).await;
    wait_until("a recovery reads the queued cancel", || async {
        app.vendor("dropboxsign")
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| r.method.as_str() == "GET")
    })
    .await;
    let after_a_minute = cancel_calls(&app).await;
    age_queued_row(&store, 1).await;
    wait_until("a recovery re-sends the cancel", || async {
        cancel_calls(&app).await == 2
    })
    .await;
    let resent = history(&address, REQUEST_ID).await["attempts"][0].clone();
    age_queued_row(&store, 1).await;
    wait_until("a recovery stops waiting", || async {
        history(&address, REQUEST_ID).await["attempts"][0]
            .get("queued")
            .is_none()
    })
    .await;
    let given_up = history(&address, REQUEST_ID).await["attempts"][0].clone();

    // Assert
    assert_eq!(after_a_minute, 1, "in progress within the hour: no re-send");
    assert_eq!(resent["queued"], true, "{resent}");
    assert_eq!(resent["vendor_calls"], 2, "{resent}");
    assert_eq!(
        given_up["status"], "cancelled",
        "the answer given stays: {given_up}"
    );
    assert_eq!(
        given_up["recovery"]["vendor_state"], "in_progress",
        "{given_up}"
    );
    assert_eq!(cancel_calls(&app).await, 2, "re-sent once, never twice");
}
