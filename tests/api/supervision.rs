//! Supervised background work, in real gateway processes: a task that panics (a fault injected
//! by the test build: a code holding `fault.panic` panics its handler) is logged at ERROR with
//! its name, counted, kept out of `/readyz` while it is down, and restarted; the row that
//! killed it twice is quarantined as `needs_attention` and the others go on. Also when the
//! handling dies with its process (SIGKILL).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;
use crate::jobs::{job_body, tokens, Jobs, FAST};
use crate::process::Gateway;
use crate::recovery::{history, vars};
use crate::scratch::Scratch;

on_both_stores!(
    a_job_document_that_panics_its_lane_twice_is_quarantined_and_the_job_ends,
    a_row_that_panics_the_recovery_twice_is_quarantined_and_the_others_are_recovered,
    a_job_document_whose_process_is_killed_twice_mid_handling_is_quarantined,
);

/// The poisoned code: its handler panics in test builds.
const POISON: &str = "zapsign:fault.panic-0001";
/// The supervisor's first restart wait in these tests: long enough to see `/readyz` say so.
const BACKOFF: (&str, &str) = ("SIGNGATE__SERVER__TASK_RESTART_BACKOFF_MS", "2000");

fn supervised_vars(store: &str, vendors: &MockVendors) -> Vec<(String, String)> {
    let mut vars = vars(vendors, store);
    for (key, value) in [FAST, BACKOFF] {
        vars.push((key.to_owned(), value.to_owned()));
    }
    vars
}

async fn readyz(address: &str) -> (u16, Value) {
    let answer = reqwest::get(format!("http://{address}/readyz"))
        .await
        .expect("answer");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("json"))
}

/// Waits for the supervisor's ERROR line about a panicked task; returns it.
fn panicked(gateway: &mut Gateway) -> Value {
    let line = gateway.wait_for("A background task panicked; it is restarted after a backoff.");
    assert_eq!(line["level"], "ERROR", "{line}");
    line
}

async fn mount_zapsign_accepting(vendors: &MockVendors) {
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "ok"})))
        .mount(vendors.get("zapsign"))
        .await;
    // A document resumed after its handling died is read before any re-send.
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/docs/[^/]+/$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "pending"})))
        .mount(vendors.get("zapsign"))
        .await;
}

async fn a_job_document_that_panics_its_lane_twice_is_quarantined_and_the_job_ends(store: &str) {
    // Arrange
    let vendors = MockVendors::start().await;
    mount_zapsign_accepting(&vendors).await;
    let vars = supervised_vars(store, &vendors);
    let (mut gateway, address) = Gateway::listening(&vars);
    let mut codes = tokens(2);
    codes.insert(1, POISON.to_owned());

    // Act
    let id = Jobs::at(&address).job_id(&job_body(&codes)).await;
    let first = panicked(&mut gateway);
    let (down, reason) = readyz(&address).await;
    let second = panicked(&mut gateway);
    let job = Jobs::at(&address)
        .wait_ended(&id, Duration::from_secs(30))
        .await;
    wait_until("the lane is back", || async {
        readyz(&address).await.0 == 200
    })
    .await;

    // Assert: the lane died twice, by name, and was not ready meanwhile.
    let task = first["task"].as_str().expect("task").to_owned();
    assert!(task.starts_with("job_lane:"), "{first}");
    assert_eq!(second["task"], task.as_str(), "{second}");
    assert!(
        first["panic"].as_str().is_some_and(|p| p.contains(POISON)),
        "{first}"
    );
    assert_eq!(down, 503, "{reason}");
    assert!(
        reason.to_string().contains(&task),
        "readyz names the task: {reason}"
    );
    let label = format!("task=\"{task}\"");
    let restarts = metric(&address, "signgate_task_restarts_total", &[&label]).await;
    assert_eq!(restarts, 2.0);
    assert_eq!(
        metric(&address, "signgate_needs_attention_total", &[]).await,
        1.0
    );
    // The job ended: the others cancelled, the poisoned one quarantined.
    assert_eq!(job["state"], "done", "{job}");
    let (results, _) = Jobs::at(&address).all_results(&id, 100).await;
    assert_eq!(results.len(), 3);
    for (result, code) in results.iter().zip(&codes) {
        assert_eq!(result["code"], *code, "{result}");
        if code == POISON {
            assert_eq!(result["status"], "failed", "{result}");
            assert_eq!(result["error"]["code"], "needs_attention", "{result}");
        } else {
            assert_eq!(result["status"], "cancelled", "{result}");
        }
    }
    let trail = history(&address, POISON).await;
    assert_eq!(trail["attempts"][0]["status"], "needs_attention", "{trail}");
    assert_eq!(
        trail["attempts"][0]["error_code"], "needs_attention",
        "{trail}"
    );
    // Never claimed again: no third panic, and a clean stop.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        metric(&address, "signgate_task_restarts_total", &[&label]).await,
        2.0
    );
    gateway.terminate();
    let (code, output) = gateway.finish();
    assert_eq!(code, Some(0), "{output}");
}

async fn a_row_that_panics_the_recovery_twice_is_quarantined_and_the_others_are_recovered(
    store: &str,
) {
    // Arrange: two requests left `pending` by a gateway killed while ZapSign held their
    // refuses (one each), then a ZapSign that says both were refused.
    let vendors = MockVendors::start().await;
    let zapsign = vendors.get("zapsign");
    let held = Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount_as_scoped(zapsign)
        .await;
    let good = "zapsign:0a1b2c3d-0000-4000-8000-0000000000bb";
    let vars = supervised_vars(store, &vendors);
    {
        let (mut gateway, address) = Gateway::listening(&vars);
        let requests: Vec<_> = [POISON, good]
            .into_iter()
            .map(|code| {
                let request = reqwest::Client::new()
                    .post(format!("http://{address}/documents/cancel"))
                    .bearer_auth(API_KEY)
                    .json(&body_for(&[code]))
                    .send();
                tokio::spawn(request)
            })
            .collect();
        wait_until("ZapSign holds both refuses", || async {
            zapsign.received_requests().await.unwrap_or_default().len() >= 2
        })
        .await;
        gateway.kill();
        for request in requests {
            assert!(request.await.expect("task").is_err());
        }
    }
    drop(held);
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/docs/[^/]+/$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "refused"})))
        .mount(zapsign)
        .await;

    // Act
    let (mut gateway, address) = Gateway::listening(&vars);
    let first = panicked(&mut gateway);
    let (down, reason) = readyz(&address).await;
    let second = panicked(&mut gateway);
    wait_until("the poisoned row is quarantined", || async {
        history(&address, POISON).await["attempts"][0]["status"] == "needs_attention"
    })
    .await;
    wait_until("the recovery is back", || async {
        readyz(&address).await.0 == 200
    })
    .await;

    // Assert
    assert_eq!(first["task"], "recovery", "{first}");
    assert_eq!(second["task"], "recovery", "{second}");
    assert_eq!(down, 503, "{reason}");
    assert!(reason.to_string().contains("recovery"), "{reason}");
    wait_until("the other row is recovered", || async {
        !history(&address, good).await["attempts"][0]["recovery"].is_null()
    })
    .await;
    let recovered = history(&address, good).await["attempts"][0].clone();
    assert_eq!(
        recovered["recovery"]["vendor_state"], "cancelled",
        "{recovered}"
    );
    assert_ne!(recovered["status"], "needs_attention", "{recovered}");
    let poisoned = history(&address, POISON).await["attempts"][0].clone();
    assert_eq!(poisoned["error_code"], "needs_attention", "{poisoned}");
    assert_eq!(poisoned["recovery"], Value::Null, "{poisoned}");
    assert_eq!(
        metric(
            &address,
            "signgate_task_restarts_total",
            &["task=\"recovery\""]
        )
        .await,
        2.0
    );
    assert_eq!(
        metric(&address, "signgate_needs_attention_total", &[]).await,
        1.0
    );
    gateway.terminate();
    let (code, output) = gateway.finish();
    assert_eq!(code, Some(0), "{output}");
}

/// ZapSign holding the refuse of one token for a minute (counting them), accepting others.
#[derive(Clone)]
struct HoldOne {
    token: String,
    held: Arc<AtomicUsize>,
}

impl Respond for HoldOne {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON refuse");
        if body["doc_token"] == self.token.as_str() {
            self.held.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(200).set_delay(Duration::from_secs(60));
        }
        ResponseTemplate::new(200).set_body_json(json!({"message": "ok"}))
    }
}

async fn a_job_document_whose_process_is_killed_twice_mid_handling_is_quarantined(store: &str) {
    // Arrange: ZapSign never answers the refuse of one document, and accepts the others.
    let vendors = MockVendors::start().await;
    let codes = tokens(3);
    let stuck = HoldOne {
        token: codes[1].clone(),
        held: Arc::default(),
    };
    Mock::given(method("POST"))
        .and(path("/api/v1/refuse/"))
        .respond_with(stuck.clone())
        .mount(vendors.get("zapsign"))
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/docs/[^/]+/$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "pending"})))
        .mount(vendors.get("zapsign"))
        .await;
    let mut vars = supervised_vars(store, &vendors);
    // Room for the kill while ZapSign holds the refuse (before the client's timeout ends it).
    vars.extend([
        (
            "SIGNGATE__SERVER__REQUEST_TIMEOUT_MS".to_owned(),
            "3000".to_owned(),
        ),
        (
            "SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS".to_owned(),
            "2500".to_owned(),
        ),
    ]);
    let (mut gateway, mut address) = Gateway::listening(&vars);
    let id = Jobs::at(&address).job_id(&job_body(&codes)).await;

    // Act: killed twice while the stuck document is being handled.
    for kill in 1..=2 {
        wait_until("ZapSign holds the stuck refuse", || async {
            stuck.held.load(Ordering::SeqCst) >= kill
        })
        .await;
        if kill == 2 {
            // The others, handled beside it after the first kill, are written before this one.
            let jobs = Jobs::at(&address);
            wait_until("the other documents are written", || async {
                jobs.job(&id).await["counts"]["cancelled"] == 2
            })
            .await;
        }
        gateway.kill();
        (gateway, address) = Gateway::listening(&vars);
    }
    let job = Jobs::at(&address)
        .wait_ended(&id, Duration::from_secs(60))
        .await;

    // Assert
    assert_eq!(job["state"], "done", "{job}");
    let (results, _) = Jobs::at(&address).all_results(&id, 100).await;
    let stuck_result = results
        .iter()
        .find(|r| r["code"] == codes[1].as_str())
        .expect("the stuck document");
    assert_eq!(
        stuck_result["error"]["code"], "needs_attention",
        "{stuck_result}"
    );
    for result in results.iter().filter(|r| r["code"] != codes[1].as_str()) {
        assert_eq!(result["status"], "cancelled", "{result}");
    }
    assert_eq!(
        stuck.held.load(Ordering::SeqCst),
        2,
        "never sent a third time"
    );
    let trail = history(&address, &codes[1]).await;
    assert_eq!(trail["attempts"][0]["status"], "needs_attention", "{trail}");
    gateway.terminate();
    let (code, output) = gateway.finish();
    assert_eq!(code, Some(0), "{output}");
}
