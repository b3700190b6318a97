//! `signgate cancel` end to end: the built binary against a wiremock server playing the jobs
//! API (loopback only): submission, watching, the table, the results files, exit codes,
//! headers, codes files, retries and Ctrl-C.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const JOB_ID: &str = "3f0c9a52-7d1e-4b8a-9c57-0d7a1f2e4b61";
const KEY_VAR: &str = "SIGNGATE_CLI_TEST_KEY";
const KEY: &str = "test-key-123";
const JOBS: &str = "/documents/cancel/jobs";

fn job_path() -> String {
    format!("{JOBS}/{JOB_ID}")
}

/// A job representation with the given state and counts (waiting, pending, cancelled,
/// already_cancelled, failed); done and cancelled jobs carry their summary.
fn job(state: &str, counts: [u64; 5]) -> Value {
    let [waiting, pending, cancelled, already_cancelled, failed] = counts;
    let total = counts.iter().sum::<u64>();
    let mut job = json!({
        "id": JOB_ID, "state": state, "created_at": "2026-12-02T08:00:00.000Z",
        "started_at": null, "finished_at": null, "total": total,
        "counts": {"waiting": waiting, "pending": pending, "cancelled": cancelled,
                   "already_cancelled": already_cancelled, "failed": failed},
        "estimated_seconds_left": if matches!(state, "done" | "cancelled") { Value::Null } else { json!(65) },
        "vendors": [{"vendor": "zapsign", "waiting": waiting, "done": total - waiting - pending,
                     "calls_per_minute": 120}],
    });
    if matches!(state, "done" | "cancelled") {
        job["summary"] = json!({"success": cancelled,
                                "errors": {"cant": total - cancelled, "documents": []}});
    }
    job
}

/// A wiremock server whose POST answers 202 with `queued`, whose GET answers each of
/// `states` once and then `last` for ever, and whose results come in `pages`.
async fn jobs_api(
    queued: Value,
    states: Vec<Value>,
    last: Value,
    pages: Vec<Vec<Value>>,
) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(JOBS))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("Location", job_path().as_str())
                .set_body_json(queued),
        )
        .mount(&server)
        .await;
    for state in states {
        Mock::given(method("GET"))
            .and(path(job_path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(state))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(job_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(last))
        .mount(&server)
        .await;
    let results = format!("{}/results", job_path());
    let count = pages.len();
    for (i, page) in pages.into_iter().enumerate() {
        let next = (i + 1 < count).then(|| format!("cursor-{}", i + 1));
        let answer =
            ResponseTemplate::new(200).set_body_json(json!({"results": page, "next_cursor": next}));
        let mock = Mock::given(method("GET")).and(path(results.as_str()));
        let mock = if i == 0 {
            mock.and(query_param_is_missing("cursor"))
        } else {
            mock.and(query_param("cursor", format!("cursor-{i}").as_str()))
        };
        mock.respond_with(answer).mount(&server).await;
    }
    server
}

/// The four outcomes the first scenarios end with, in two pages.
fn mixed_pages() -> Vec<Vec<Value>> {
    vec![
        vec![
            json!({"code": "ZS-1", "vendor": "zapsign", "status": "cancelled"}),
            json!({"code": "ZS-2", "vendor": "zapsign", "status": "failed",
                   "error": {"code": "vendor_timeout", "message": "slow, then \"gone\"",
                             "retryable": true}}),
        ],
        vec![
            json!({"code": "ZS-3", "vendor": "zapsign", "status": "failed",
                   "error": {"code": "vendor_timeout", "message": "slow", "retryable": true}}),
            json!({"code": "XX-4", "status": "failed",
                   "error": {"code": "unroutable", "message": "no rule", "retryable": false}}),
        ],
    ]
}

/// `signgate cancel --url <server> --key-env KEY_VAR <args>`, the key set in the child only.
fn signgate_cancel(server: &MockServer, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signgate"));
    command
        .arg("cancel")
        .args(["--url", &server.uri(), "--key-env", KEY_VAR])
        .args(args)
        .env(KEY_VAR, KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn finish(mut command: Command) -> (Option<i32>, String, String) {
    let output: Output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("signgate cancel ends within 30 s")
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    )
}

/// A path in the temp directory for one test's output, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let unique = uuid::Uuid::new_v4().simple();
        TempPath(std::env::temp_dir().join(format!("signgate-cli-{unique}-{name}")))
    }
    fn as_str(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn requests(server: &MockServer, verb: &str) -> Vec<Request> {
    let all = server.received_requests().await.expect("recording is on");
    all.into_iter()
        .filter(|r| r.method.as_str() == verb)
        .collect()
}

fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("a text header")
}

#[tokio::test]
async fn cancel_submits_the_job_watches_it_to_the_end_prints_the_outcomes_and_writes_the_csv() {
    let server = jobs_api(
        job("queued", [4, 0, 0, 0, 0]),
        vec![job("running", [2, 1, 1, 0, 0])],
        job("done", [0, 0, 1, 0, 3]),
        mixed_pages(),
    )
    .await;
    let csv = TempPath::new("results.csv");
    let args = [
        "--message",
        "wrong",
        "--email",
        "ops@example.com",
        "--output",
        csv.as_str(),
    ];
    let mut command = signgate_cancel(&server, &args);
    command.args(["ZS-1", "ZS-2", "ZS-3", "XX-4"]);

    let (code, stdout, stderr) = finish(command).await;

    assert_eq!(code, Some(1), "some documents failed\n{stdout}\n{stderr}");
    let job_url = format!("{}{}", server.uri(), job_path());
    assert!(
        stdout.contains(&format!("Job {JOB_ID}: {job_url}")),
        "{stdout}"
    );
    for line in [
        "cancelled                   1",
        "failed                      3",
        "vendor_timeout              2  yes",
        "unroutable                  1  no",
        "success 1, failed 3",
    ] {
        assert!(stdout.contains(line), "no `{line}` in\n{stdout}");
    }
    assert!(
        stderr.contains(&format!("job {JOB_ID} done: 4/4 done")),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&csv.0).expect("the CSV is written");
    assert_eq!(
        written,
        "code,vendor,status,queued,error_code,error_message,retryable\n\
         ZS-1,zapsign,cancelled,false,,,\n\
         ZS-2,zapsign,failed,false,vendor_timeout,\"slow, then \"\"gone\"\"\",true\n\
         ZS-3,zapsign,failed,false,vendor_timeout,slow,true\n\
         XX-4,,failed,false,unroutable,no rule,false\n"
    );

    let posts = requests(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(header(&posts[0], "authorization"), format!("Bearer {KEY}"));
    let key = header(&posts[0], "idempotency-key");
    assert!(uuid::Uuid::parse_str(key).is_ok(), "a fresh UUID: {key}");
    let body: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(
        body,
        json!({"codes": ["ZS-1", "ZS-2", "ZS-3", "XX-4"], "message": "wrong",
               "email": "ops@example.com", "notify_signers": true})
    );
    let gets = requests(&server, "GET").await;
    assert!(gets
        .iter()
        .all(|g| header(g, "authorization") == format!("Bearer {KEY}")));
    let polls = gets.iter().filter(|g| g.url.path() == job_path()).count();
    assert_eq!(polls, 2, "running, then done");
    let pages: Vec<_> = gets
        .iter()
        .filter(|g| g.url.path().ends_with("/results"))
        .collect();
    assert_eq!(pages.len(), 2);
    assert!(pages
        .iter()
        .all(|p| p.url.query().unwrap_or("").contains("limit=1000")));
}

#[tokio::test]
async fn cancel_reads_a_codes_file_writes_json_as_received_and_exits_zero_when_all_are_cancelled() {
    let pages = vec![
        vec![
            json!({"code": "ZS-1", "vendor": "zapsign", "status": "cancelled", "queued": true,
                    "attempts": 2}),
        ],
        vec![json!({"code": "ZS-2", "vendor": "zapsign", "status": "cancelled"})],
    ];
    let server = jobs_api(
        job("queued", [2, 0, 0, 0, 0]),
        vec![],
        job("done", [0, 0, 2, 0, 0]),
        pages.clone(),
    )
    .await;
    let codes = TempPath::new("codes.txt");
    std::fs::write(
        &codes.0,
        "# the wrong batch\n\n  ZS-1  \n#ZS-9\n   \nZS-2\n",
    )
    .unwrap();
    let out = TempPath::new("results.out");
    let args = [
        "--message",
        "m",
        "--email",
        "e@example.com",
        "--no-notify",
        "--idempotency-key",
        "batch-7",
        "--callback-url",
        "https://hooks.example/done",
        "--output",
        out.as_str(),
        "--format",
        "json",
        "--file",
        codes.as_str(),
    ];

    let (code, stdout, stderr) = finish(signgate_cancel(&server, &args)).await;

    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("success 2, failed 0"), "{stdout}");
    assert!(
        !stdout.contains("retryable"),
        "no error table without errors:\n{stdout}"
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out.0).unwrap()).unwrap();
    assert_eq!(written, json!([pages[0][0], pages[1][0]]));
    let posts = requests(&server, "POST").await;
    assert_eq!(header(&posts[0], "idempotency-key"), "batch-7");
    let body: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(body["codes"], json!(["ZS-1", "ZS-2"]));
    assert_eq!(body["notify_signers"], false);
    assert_eq!(body["callback_url"], "https://hooks.example/done");
}

#[tokio::test]
async fn cancel_reads_the_codes_from_standard_input_when_the_file_is_a_dash() {
    let done = job("done", [0, 0, 2, 0, 0]);
    let pages = vec![vec![
        json!({"code": "A-1", "status": "cancelled"}),
        json!({"code": "A-2", "status": "cancelled"}),
    ]];
    let server = jobs_api(done.clone(), vec![], done, pages).await;
    let mut command = signgate_cancel(&server, &["--message", "m", "--email", "e", "--file", "-"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"A-1\n# skip\nA-2\n").await.unwrap();
    drop(stdin);

    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let posts = requests(&server, "POST").await;
    let body: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(body["codes"], json!(["A-1", "A-2"]));
}

#[tokio::test]
async fn cancel_without_the_key_variable_or_with_it_empty_exits_2_and_sends_nothing() {
    let server = MockServer::start().await;
    let args = ["--message", "m", "--email", "e", "A-1"];
    let mut missing = signgate_cancel(&server, &args);
    missing.env_remove(KEY_VAR);
    let mut empty = signgate_cancel(&server, &args);
    empty.env(KEY_VAR, "");

    let (missing_code, _, missing_err) = finish(missing).await;
    let (empty_code, _, empty_err) = finish(empty).await;

    assert_eq!(missing_code, Some(2), "{missing_err}");
    assert!(
        missing_err.contains(&format!("{KEY_VAR} (--key-env) is not set")),
        "{missing_err}"
    );
    assert_eq!(empty_code, Some(2), "{empty_err}");
    assert!(empty_err.contains("is empty"), "{empty_err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn cancel_with_codes_and_a_codes_file_or_an_empty_codes_file_exits_2() {
    let server = MockServer::start().await;
    let codes = TempPath::new("only-comments.txt");
    std::fs::write(&codes.0, "# nothing here\n\n").unwrap();
    let both = [
        "--message",
        "m",
        "--email",
        "e",
        "--file",
        codes.as_str(),
        "A-1",
    ];
    let none = ["--message", "m", "--email", "e", "--file", codes.as_str()];

    let (both_code, _, both_err) = finish(signgate_cancel(&server, &both)).await;
    let (none_code, _, none_err) = finish(signgate_cancel(&server, &none)).await;

    assert_eq!(both_code, Some(2), "{both_err}");
    assert_eq!(none_code, Some(2), "{none_err}");
    assert!(none_err.contains("no codes to cancel"), "{none_err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn cancel_exits_3_with_the_servers_error_code_and_message_when_it_answers_400() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(JOBS))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {"code": "invalid_request", "message": "callback_url: host not allowed",
                      "request_id": "r1"}
        })))
        .mount(&server)
        .await;
    let csv = TempPath::new("never.csv");
    let args = [
        "--message",
        "m",
        "--email",
        "e",
        "--output",
        csv.as_str(),
        "A-1",
    ];

    let (code, stdout, stderr) = finish(signgate_cancel(&server, &args)).await;

    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("400 invalid_request: callback_url: host not allowed"),
        "{stderr}"
    );
    assert_eq!(
        requests(&server, "POST").await.len(),
        1,
        "a 400 is not retried"
    );
    assert!(!csv.0.exists(), "no results file is left behind");
}

#[tokio::test]
async fn cancel_sends_the_post_again_with_the_same_idempotency_key_after_a_503() {
    let server = jobs_api(
        job("done", [0, 0, 1, 0, 0]),
        vec![],
        job("done", [0, 0, 1, 0, 0]),
        vec![vec![json!({"code": "A-1", "status": "cancelled"})]],
    )
    .await;
    Mock::given(method("POST"))
        .and(path(JOBS))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;

    let (code, stdout, stderr) = finish(signgate_cancel(
        &server,
        &["--message", "m", "--email", "e", "A-1"],
    ))
    .await;

    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let posts = requests(&server, "POST").await;
    assert_eq!(posts.len(), 3, "two 503s, then the 202");
    let first = header(&posts[0], "idempotency-key");
    assert!(posts.iter().all(|p| header(p, "idempotency-key") == first));
}

#[tokio::test]
async fn cancel_exits_3_when_the_server_cannot_be_reached() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut command = Command::new(env!("CARGO_BIN_EXE_signgate"));
    command
        .args([
            "cancel",
            "--url",
            &url,
            "--key-env",
            KEY_VAR,
            "--watch",
            JOB_ID,
        ])
        .env(KEY_VAR, KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let (code, _, stderr) = finish(command).await;

    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("cannot reach the server"), "{stderr}");
}

#[tokio::test]
async fn cancel_watch_follows_a_job_submitted_before_without_submitting_one() {
    let server = jobs_api(
        job("queued", [1, 0, 0, 0, 0]),
        vec![],
        job("cancelled", [0, 0, 1, 0, 1]),
        vec![vec![
            json!({"code": "A-1", "status": "cancelled"}),
            json!({"code": "A-2", "status": "failed",
                   "error": {"code": "aborted", "message": "job cancelled", "retryable": true}}),
        ]],
    )
    .await;

    let (code, stdout, stderr) = finish(signgate_cancel(&server, &["--watch", JOB_ID])).await;

    assert_eq!(code, Some(1), "a cancelled job exits 1\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("job {JOB_ID} cancelled")),
        "{stdout}"
    );
    assert!(
        stdout.contains("aborted                     1  yes"),
        "{stdout}"
    );
    assert!(requests(&server, "POST").await.is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_stops_the_watching_only_prints_the_watch_command_and_exits_130() {
    let running = job("running", [3, 1, 0, 0, 0]);
    let server = jobs_api(running.clone(), vec![], running, vec![]).await;
    let mut child = signgate_cancel(&server, &["--message", "m", "--email", "e", "A-1"])
        .spawn()
        .expect("the binary runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("the job id within 30 s")
        .unwrap()
        .expect("a line");
    assert!(first.starts_with(&format!("Job {JOB_ID}")), "{first}");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let pid = child.id().expect("still running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("signgate cancel stops within 10 s of SIGINT")
        .unwrap();

    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("The job keeps running. Watch it:"),
        "{stderr}"
    );
    let watch = format!(
        "signgate cancel --url {} --key-env {KEY_VAR} --watch {JOB_ID}",
        server.uri()
    );
    assert!(stderr.contains(&watch), "{stderr}");
    assert!(
        stderr.contains(&format!("GET {}{}", server.uri(), job_path())),
        "{stderr}"
    );
    let all = server.received_requests().await.unwrap();
    assert!(
        all.iter().all(|r| r.method.as_str() != "DELETE"),
        "the job is not deleted"
    );
    assert!(
        all.iter().any(|r| r.method.as_str() == "GET"),
        "it was watching"
    );
}
