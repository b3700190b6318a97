//! Bulk cancellation jobs through the API, against wiremock vendors: creation and its
//! validation, a job past `max_documents`, pacing over several windows, priority of
//! synchronous requests, a vendor down and back, DELETE mid-job, and the signed callback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

const REFUSE: &str = "/api/v1/refuse/";
const SECRET: &str = "whsec-test-secret-0001";

/// `n` distinct ZapSign document tokens (UUIDs route to ZapSign).
pub fn tokens(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("0a1b2c3d-0000-4000-8000-{i:012x}"))
        .collect()
}

/// A job body for these codes.
pub fn job_body(codes: &[String]) -> Value {
    json!({"codes": codes, "message": MESSAGE, "email": EMAIL})
}

/// Runners look for due documents every 50 ms, so jobs start at once.
pub const FAST: (&str, &str) = ("SIGNGATE__JOBS__POLL_INTERVAL_MS", "50");

/// ZapSign accepts every refuse, recording when each came.
#[derive(Clone, Default)]
pub struct Accept(pub Arc<Mutex<Vec<Instant>>>);

impl Respond for Accept {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().expect("lock").push(Instant::now());
        ResponseTemplate::new(200).set_body_json(json!({"message": "Documento recusado"}))
    }
}

impl Accept {
    pub async fn mount(&self, zapsign: &MockServer) {
        Mock::given(method("POST"))
            .and(path(REFUSE))
            .respond_with(self.clone())
            .mount(zapsign)
            .await;
    }

    fn times(&self) -> Vec<Instant> {
        self.0.lock().expect("lock").clone()
    }
}

/// The job endpoints of one gateway, in this process or another.
pub struct Jobs {
    client: reqwest::Client,
    address: String,
}

impl TestApp {
    pub fn jobs(&self) -> Jobs {
        Jobs::at(&self.address.to_string())
    }
}

impl Jobs {
    /// The job endpoints of the gateway listening on `address`.
    pub fn at(address: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            address: address.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `POST /documents/cancel/jobs`.
    pub async fn create_job(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        let request = self
            .client
            .post(self.url("/documents/cancel/jobs"))
            .bearer_auth(API_KEY)
            .json(body);
        let request = match key {
            Some(key) => request.header("Idempotency-Key", key),
            None => request,
        };
        request.send().await.expect("the gateway answers")
    }

    /// Creates a job, expecting `202`, and returns its id.
    pub async fn job_id(&self, body: &Value) -> String {
        let response = self.create_job(body, None).await;
        assert_eq!(response.status(), 202);
        let job: Value = response.json().await.expect("json");
        job["id"].as_str().expect("an id").to_owned()
    }

    /// `GET` (or another method) on a job path, with the key; the status and the JSON.
    pub async fn job_call(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("the gateway answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    pub async fn job(&self, id: &str) -> Value {
        let (status, job) = self
            .job_call(
                reqwest::Method::GET,
                &format!("/documents/cancel/jobs/{id}"),
            )
            .await;
        assert_eq!(status, 200, "{job}");
        job
    }

    /// Polls the job until it has ended, for at most `within`.
    pub async fn wait_ended(&self, id: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        loop {
            let job = self.job(id).await;
            if job["state"] == "done" || job["state"] == "cancelled" {
                return job;
            }
            assert!(Instant::now() < until, "the job did not end: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every result of a job, page after page of `limit`; and how many pages it took.
    pub async fn all_results(&self, id: &str, limit: u32) -> (Vec<Value>, usize) {
        let (mut results, mut pages) = (Vec::new(), 0);
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/documents/cancel/jobs/{id}/results?limit={limit}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, page) = self.job_call(reqwest::Method::GET, &path).await;
            assert_eq!(status, 200, "{page}");
            pages += 1;
            results.extend(page["results"].as_array().expect("results").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (results, pages),
            }
        }
    }
}

#[tokio::test]
async fn a_job_larger_than_max_documents_runs_to_the_end_and_pages_its_results() {
    let app = spawn_app_with(&[FAST]).await;
    let accept = Accept::default();
    accept.mount(app.vendor("zapsign")).await;
    let codes = tokens(250);

    let sync = app.cancel(&job_body(&codes)).await;
    assert_eq!(sync.status(), 400, "a request holds at most max_documents");
    let response = app.jobs().create_job(&job_body(&codes), None).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let created: Value = response.json().await.expect("json");
    let id = created["id"].as_str().expect("id");
    assert_eq!(location, format!("/documents/cancel/jobs/{id}"));
    assert_eq!(created["total"], 250, "{created}");
    assert!(
        created.get("summary").is_none(),
        "no summary before the end: {created}"
    );

    let job = app.jobs().wait_ended(id, Duration::from_secs(30)).await;
    let (results, pages) = app.jobs().all_results(id, 100).await;

    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["counts"]["cancelled"], 250, "{job}");
    assert_eq!(
        job["summary"],
        json!({"success": 250, "errors": {"cant": 0}}),
        "{job}"
    );
    assert_eq!(job["vendors"][0]["vendor"], "zapsign", "{job}");
    assert_eq!(job["vendors"][0]["done"], 250, "{job}");
    assert_eq!(job["vendors"][0]["calls_per_minute"], 450, "{job}");
    assert!(
        !job["started_at"].is_null() && !job["finished_at"].is_null(),
        "{job}"
    );
    assert_eq!(pages, 3);
    assert_eq!(results.len(), 250);
    assert_eq!(
        results[0],
        json!({"code": codes[0], "vendor": "zapsign", "status": "cancelled"})
    );
    assert_eq!(results[249]["code"], codes[249].as_str());
    assert_eq!(accept.times().len(), 250, "each document sent once");
}

#[tokio::test]
async fn a_job_is_validated_like_a_cancel_and_its_callback_host_must_be_listed() {
    let app = spawn_app_configured(
        Some("[jobs]\ncallback_hosts = [\"hooks.example\"]\ncallback_secret = \"whsec-test-secret-0002\"\n"),
        &[],
    )
    .await;
    let cases = [
        (
            json!({"message": MESSAGE, "email": EMAIL}),
            "invalid_request",
            "codes: is required",
        ),
        (
            json!({"codes": ["A1", "A1"], "message": MESSAGE, "email": EMAIL}),
            "duplicate_code",
            "codes[1]:",
        ),
        (
            json!({"codes": ["A1"], "message": " ", "email": EMAIL}),
            "invalid_request",
            "message: must not be empty",
        ),
        (
            json!({"codes": ["A1"], "message": MESSAGE, "email": EMAIL, "extra": 1}),
            "invalid_request",
            "extra: unknown field",
        ),
        (
            json!({"codes": ["A1"], "message": MESSAGE, "email": EMAIL, "callback_url": "https://evil.example/x"}),
            "invalid_request",
            "callback_url: host `evil.example` is not in jobs.callback_hosts",
        ),
        (
            json!({"codes": ["A1"], "message": MESSAGE, "email": EMAIL, "callback_url": 7}),
            "invalid_request",
            "callback_url: must be a string",
        ),
    ];
    for (body, code, message) in cases {
        let response = app.jobs().create_job(&body, None).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        let text = error["error"]["message"].as_str().expect("message");
        assert!(text.starts_with(message), "{body}: {error}");
    }
    let too_many = tokens(10_001);
    let response = app.jobs().create_job(&job_body(&too_many), None).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "too_many_documents", "{error}");

    let listed = json!({"codes": ["A1"], "message": MESSAGE, "email": EMAIL,
        "callback_url": "https://hooks.example/signgate"});
    assert_eq!(app.jobs().create_job(&listed, None).await.status(), 202);
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_give_the_same_job_and_another_body_is_refused() {
    let app = spawn_app_with(&[FAST]).await;
    Accept::default().mount(app.vendor("zapsign")).await;
    let body = job_body(&tokens(3));

    let first = app.jobs().create_job(&body, Some("job-key-1")).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let again = app.jobs().create_job(&body, Some("job-key-1")).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.expect("json");
    let other = app
        .jobs()
        .create_job(&job_body(&tokens(4)), Some("job-key-1"))
        .await;

    assert_eq!(again["id"], first["id"], "the same job");
    assert_eq!(other.status(), 422);
}

#[tokio::test]
async fn an_unknown_job_is_404_with_the_error_body() {
    let app = spawn_app().await;
    for (method, path) in [
        (reqwest::Method::GET, "/documents/cancel/jobs/nope"),
        (reqwest::Method::GET, "/documents/cancel/jobs/nope/results"),
        (reqwest::Method::DELETE, "/documents/cancel/jobs/nope"),
    ] {
        let (status, body) = app.jobs().job_call(method, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{body}");
        assert_eq!(body["error"]["message"], "No job with this id.", "{body}");
    }
}

#[tokio::test]
async fn unroutable_codes_end_at_once_and_the_rest_runs() {
    let app = spawn_app_with(&[FAST]).await;
    Accept::default().mount(app.vendor("zapsign")).await;
    let mut codes = tokens(2);
    codes.push("nobody:X1".to_owned());

    let id = app.jobs().job_id(&job_body(&codes)).await;
    let job = app.jobs().wait_ended(&id, Duration::from_secs(20)).await;

    assert_eq!(job["summary"]["success"], 2, "{job}");
    assert_eq!(
        job["summary"]["errors"],
        json!({"cant": 1, "documents": ["nobody:X1"]})
    );
    let (results, _) = app.jobs().all_results(&id, 10).await;
    assert_eq!(results[2]["error"]["code"], "unknown_vendor", "{results:?}");
}

#[tokio::test]
async fn a_low_rate_limit_spreads_a_job_over_windows_and_never_exceeds_it() {
    let app = spawn_app_with(&[
        FAST,
        ("SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE", "3"),
        ("SIGNGATE__JOBS__INTERACTIVE_RESERVE_PERCENT", "0"),
    ])
    .await;
    let accept = Accept::default();
    accept.mount(app.vendor("zapsign")).await;

    let id = app.jobs().job_id(&job_body(&tokens(5))).await;
    let running = app.jobs().job(&id).await;
    let job = app.jobs().wait_ended(&id, Duration::from_secs(150)).await;

    let times = accept.times();
    assert_eq!(job["counts"]["cancelled"], 5, "{job}");
    assert_eq!(times.len(), 5);
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|t| t.duration_since(*start) < Duration::from_secs(60))
            .count();
        assert!(
            in_window <= 3,
            "{in_window} calls within a minute of call {i}"
        );
    }
    assert!(
        times[4].duration_since(times[0]) >= Duration::from_secs(60),
        "the job took a second window"
    );
    assert!(
        running["estimated_seconds_left"].as_u64().is_some(),
        "a running job has an estimate: {running}"
    );
}

#[tokio::test]
async fn synchronous_requests_are_served_while_a_job_runs_for_the_same_vendor() {
    let app = spawn_app_with(&[
        FAST,
        ("SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE", "20"),
    ])
    .await;
    let accept = Accept::default();
    accept.mount(app.vendor("zapsign")).await;
    let codes = tokens(60);
    let id = app.jobs().job_id(&job_body(&codes[..50])).await;
    // Let the job take its share of the minute.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let answer = app.cancel_ok(&body_for(&[codes[55].as_str()])).await;
    let job = app.jobs().job(&id).await;

    assert_eq!(answer["results"][0]["status"], "cancelled", "{answer}");
    assert_eq!(job["state"], "running", "{job}");
    assert_eq!(
        job["counts"]["cancelled"], 18,
        "the job left 10 % of 20 calls: {job}"
    );
    assert_eq!(accept.times().len(), 19);
}

/// ZapSign answers 503 to the first `failures` refuses, then accepts.
struct DownThenUp {
    failures: usize,
    seen: Arc<Mutex<usize>>,
}

impl Respond for DownThenUp {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().expect("lock");
        *seen += 1;
        match *seen <= self.failures {
            true => ResponseTemplate::new(503),
            false => ResponseTemplate::new(200).set_body_json(json!({"message": "ok"})),
        }
    }
}

#[tokio::test]
async fn a_vendor_down_for_a_while_and_back_gets_every_document_cancelled() {
    let app = spawn_app_with(&[FAST]).await;
    let seen = Arc::new(Mutex::new(0));
    Mock::given(method("POST"))
        .and(path(REFUSE))
        .respond_with(DownThenUp {
            failures: 6,
            seen: Arc::clone(&seen),
        })
        .mount(app.vendor("zapsign"))
        .await;

    let id = app.jobs().job_id(&job_body(&tokens(4))).await;
    let job = app.jobs().wait_ended(&id, Duration::from_secs(60)).await;

    assert_eq!(job["counts"]["cancelled"], 4, "{job}");
    assert_eq!(job["summary"]["success"], 4, "{job}");
    // Five failures open the breaker; its first probe fails too; later slices get through.
    assert!(
        *seen.lock().expect("lock") > 6,
        "it was retried after the outage"
    );
}

#[tokio::test]
async fn delete_mid_job_aborts_the_documents_not_sent() {
    let app = spawn_app_with(&[
        FAST,
        ("SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE", "2"),
        ("SIGNGATE__JOBS__INTERACTIVE_RESERVE_PERCENT", "0"),
    ])
    .await;
    let accept = Accept::default();
    accept.mount(app.vendor("zapsign")).await;
    let id = app.jobs().job_id(&job_body(&tokens(6))).await;
    for _ in 0..100 {
        if app.jobs().job(&id).await["counts"]["cancelled"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, stopped) = app
        .jobs()
        .job_call(
            reqwest::Method::DELETE,
            &format!("/documents/cancel/jobs/{id}"),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job = app.jobs().job(&id).await;
    let (results, _) = app.jobs().all_results(&id, 10).await;

    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["state"], "cancelled", "{stopped}");
    assert_eq!(job["counts"]["cancelled"], 2, "{job}");
    assert_eq!(job["counts"]["failed"], 4, "{job}");
    assert_eq!(job["summary"]["errors"]["cant"], 4, "{job}");
    assert_eq!(results[5]["error"]["code"], "aborted", "{results:?}");
    assert_eq!(results[5]["error"]["retryable"], false);
    assert_eq!(accept.times().len(), 2, "nothing sent after the DELETE");
}

/// A receiver that answers 500 first, then 204, keeping what it received.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Request>>>);

impl Respond for Receiver {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut seen = self.0.lock().expect("lock");
        seen.push(request.clone());
        match seen.len() {
            1 => ResponseTemplate::new(500),
            _ => ResponseTemplate::new(204),
        }
    }
}

/// Verifies a `Signgate-Signature` as a receiver would: parse `t` and `v1`, refuse a
/// timestamp more than five minutes away, and check the HMAC of the raw body in constant time.
fn verify(header: &str, body: &[u8], secret: &[u8]) -> bool {
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    if (now - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

#[tokio::test]
async fn the_callback_is_signed_retried_after_a_500_and_each_attempt_counted() {
    let receiver_server = MockServer::start().await;
    let receiver = Receiver::default();
    Mock::given(method("POST"))
        .and(path("/hooks/signgate"))
        .respond_with(receiver.clone())
        .mount(&receiver_server)
        .await;
    let host = receiver_server.address().to_string();
    let app = spawn_app_with(&[
        FAST,
        ("SIGNGATE__JOBS__CALLBACK_HOSTS", host.as_str()),
        ("SIGNGATE__JOBS__CALLBACK_SECRET", SECRET),
        ("SIGNGATE__JOBS__CALLBACK_ALLOW_HTTP", "true"),
    ])
    .await;
    Accept::default().mount(app.vendor("zapsign")).await;
    let mut body = job_body(&tokens(2));
    body["callback_url"] = json!(format!("{}/hooks/signgate", receiver_server.uri()));

    let id = app.jobs().job_id(&body).await;
    app.jobs().wait_ended(&id, Duration::from_secs(20)).await;
    let until = Instant::now() + Duration::from_secs(20);
    while receiver.0.lock().expect("lock").len() < 2 {
        assert!(Instant::now() < until, "the callback was not retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job = app.jobs().job(&id).await;

    let seen = receiver.0.lock().expect("lock").clone();
    for request in &seen {
        let signature = request.headers["signgate-signature"]
            .to_str()
            .expect("ascii");
        assert!(
            verify(signature, &request.body, SECRET.as_bytes()),
            "{signature}"
        );
        assert!(!verify(signature, &request.body, b"another secret"));
        let mut altered = request.body.clone();
        altered.push(b' ');
        assert!(!verify(signature, &altered, SECRET.as_bytes()));
        let sent: Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(sent["type"], "cancel_job.finished");
        assert_eq!(sent["job"]["id"], id.as_str());
        assert_eq!(sent["job"]["summary"]["success"], 2, "{sent}");
    }
    assert_eq!(
        seen.len(),
        2,
        "delivered on the second attempt, then no more"
    );
    assert_eq!(job["callback"]["state"], "delivered", "{job}");
    assert_eq!(job["callback"]["attempts"], 2, "{job}");
}
