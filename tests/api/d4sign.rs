//! D4Sign's credentials travel in the query string of every call: the real binaries (a gateway
//! logging JSON at trace level, and `signgate simulate`) must never print them, nor may the
//! API's answers, the audit rows or `/metrics` carry them, whatever the call met: a success,
//! refusals (`4xx`, a `200` error pair), `5xx`, a redirect, a timeout, a refused connection.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{body_for, refused_address, API_KEY};
use crate::scratch::Scratch;

/// The credentials the gateway sends to the mock D4Sign: distinctive, so any leak is found.
const TOKEN_API: &str = "tok-d4-LEAKCHECK-7f3a9c";
const CRYPT_KEY: &str = "crypt-d4-LEAKCHECK-91bc2e";
/// The simulator's fixed credentials (`vendors::d4sign::simulator`).
const SIM_TOKEN: &str = "sim-d4sign-token";
const SIM_CRYPT: &str = "sim-d4sign-crypt";

const OK: &str = "d4000000-0000-4000-8000-000000000200";
const SIGNED: &str = "d4000000-0000-4000-8000-000000000400";
const ECHO: &str = "d4000000-0000-4000-8000-000000000404";
const AUTH: &str = "d4000000-0000-4000-8000-000000000401";
const REFUSED_200: &str = "d4000000-0000-4000-8000-000000000600";
const FAILING: &str = "d4000000-0000-4000-8000-000000000500";
const REDIRECT: &str = "d4000000-0000-4000-8000-000000000302";
const SLOW: &str = "d4000000-0000-4000-8000-000000000408";
const SIM_OPEN: &str = "d4d4d4d4-0000-4000-8000-000000000001";
const SIM_CANCELLED: &str = "d4d4d4d4-0000-4000-8000-000000000601";

/// A child process and every line it prints (stdout and stderr).
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn start(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (sender, lines) = mpsc::channel();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for pipe in pipes {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line `found` accepts and returns what it found.
    fn wait_for<T>(&mut self, mut found: impl FnMut(&str) -> Option<T>) -> T {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("not seen; saw:\n{}", self.seen.join("\n")));
            self.seen.push(line.clone());
            if let Some(value) = found(&line) {
                return value;
            }
        }
    }

    /// Sends SIGTERM, waits for the exit and returns everything printed.
    fn finish(mut self) -> String {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

fn document(uuid: &str) -> String {
    format!("/api/v1/documents/{uuid}")
}

async fn mount(server: &MockServer, verb: &str, path_: String, answer: ResponseTemplate) {
    Mock::given(method(verb))
        .and(path(path_.as_str()))
        .respond_with(answer)
        .mount(server)
        .await;
}

/// The mock D4Sign: one document per kind of answer.
async fn mock_d4sign() -> MockServer {
    let server = MockServer::start().await;
    let json = |status: u16, body: Value| ResponseTemplate::new(status).set_body_json(body);
    let state = |id: &str, uuid: &str| json(200, json!([{"uuidDoc": uuid, "statusId": id}]));
    let cancel = |uuid: &str| format!("{}/cancel", document(uuid));
    let echoed = format!(
        "Invalid request POST {}?tokenAPI={TOKEN_API}&cryptKey={CRYPT_KEY} ({TOKEN_API})",
        cancel(ECHO)
    );
    let mounts = [
        ("POST", cancel(OK), json(200, json!({"message": "success"}))),
        (
            "POST",
            cancel(SIGNED),
            json(400, json!({"message": "Erro"})),
        ),
        ("GET", document(SIGNED), state("4", SIGNED)),
        ("POST", cancel(ECHO), json(400, json!({"message": echoed}))),
        // Still in progress: the refusal, and its message, stand.
        ("GET", document(ECHO), state("3", ECHO)),
        (
            "POST",
            cancel(AUTH),
            json(
                200,
                json!({"message": "API error: Check API user.", "mensagem_pt": "Chave de API inválida."}),
            ),
        ),
        (
            "POST",
            cancel(REFUSED_200),
            json(
                200,
                json!({"message": "Already cancelled.", "mensagem_pt": "Documento já cancelado."}),
            ),
        ),
        ("GET", document(REFUSED_200), state("6", REFUSED_200)),
        (
            "POST",
            cancel(FAILING),
            json(500, json!({"message": "Server error."})),
        ),
        (
            "GET",
            document(FAILING),
            json(500, json!({"message": "Server error."})),
        ),
        (
            "POST",
            cancel(REDIRECT),
            ResponseTemplate::new(302).insert_header(
                "location",
                format!("http://127.0.0.1:9/steal?tokenAPI={TOKEN_API}&cryptKey={CRYPT_KEY}")
                    .as_str(),
            ),
        ),
        (
            "GET",
            document(REDIRECT),
            ResponseTemplate::new(301).insert_header("location", "/moved"),
        ),
        (
            "POST",
            cancel(SLOW),
            json(200, json!({"message": "success"})).set_delay(Duration::from_secs(3)),
        ),
        (
            "GET",
            document(SLOW),
            state("3", SLOW).set_delay(Duration::from_secs(3)),
        ),
    ];
    for (verb, path_, answer) in mounts {
        mount(&server, verb, path_, answer).await;
    }
    server
}

/// `signgate simulate` on a free port, and the base URL of its D4Sign.
fn start_simulator() -> (Process, String) {
    let mut simulator = Process::start(
        Command::new(env!("CARGO_BIN_EXE_signgate"))
            .args(["simulate", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("RUST_LOG", "trace"),
    );
    let base_url = simulator.wait_for(|line| {
        line.split_whitespace()
            .find(|word| word.starts_with("http://") && word.ends_with("/d4sign/api/v1"))
            .map(str::to_owned)
    });
    (simulator, base_url)
}

/// A gateway at trace level with three D4Sign vendors: the mock, a refused address and the
/// simulator.
fn start_gateway(mock: &str, simulator: &str, store: &str) -> (Process, String) {
    let vars = [
        ("SIGNGATE__AUTH__API_KEY", API_KEY.to_owned()),
        ("SIGNGATE__SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("SIGNGATE__STORE__URL", store.to_owned()),
        ("SIGNGATE__LOG__LEVEL", "trace".to_owned()),
        (
            "SIGNGATE__VENDORS__D4SIGN__BASE_URL",
            format!("{mock}/api/v1"),
        ),
        ("SIGNGATE__VENDORS__D4SIGN__TOKEN_API", TOKEN_API.to_owned()),
        ("SIGNGATE__VENDORS__D4SIGN__CRYPT_KEY", CRYPT_KEY.to_owned()),
        ("SIGNGATE__VENDORS__D4SIGN__TIMEOUT_MS", "1000".to_owned()),
        ("SIGNGATE__VENDORS__D4DOWN__KIND", "d4sign".to_owned()),
        ("SIGNGATE__VENDORS__D4DOWN__BASE_URL", refused_address()),
        ("SIGNGATE__VENDORS__D4DOWN__TOKEN_API", TOKEN_API.to_owned()),
        ("SIGNGATE__VENDORS__D4DOWN__CRYPT_KEY", CRYPT_KEY.to_owned()),
        ("SIGNGATE__VENDORS__D4SIM__KIND", "d4sign".to_owned()),
        ("SIGNGATE__VENDORS__D4SIM__BASE_URL", simulator.to_owned()),
        ("SIGNGATE__VENDORS__D4SIM__TOKEN_API", SIM_TOKEN.to_owned()),
        ("SIGNGATE__VENDORS__D4SIM__CRYPT_KEY", SIM_CRYPT.to_owned()),
    ];
    let mut gateway = Process::start(
        Command::new(env!("CARGO_BIN_EXE_signgate"))
            .arg("serve")
            .env_clear()
            .envs(vars)
            .env("RUST_LOG", "trace"),
    );
    let address = gateway.wait_for(|line| {
        let parsed: Value = serde_json::from_str(line).ok()?;
        (parsed["message"] == "signgate is listening.")
            .then(|| parsed["address"].as_str().map(str::to_owned))
            .flatten()
    });
    (gateway, address)
}

#[tokio::test]
async fn d4sign_credentials_appear_in_no_log_answer_audit_row_or_metric() {
    // Arrange
    let mock = mock_d4sign().await;
    let (simulator, sim_url) = start_simulator();
    let scratch = Scratch::sqlite();
    let (gateway, address) = start_gateway(&mock.uri(), &sim_url, &scratch.url);
    let codes: Vec<String> = [OK, SIGNED, ECHO, AUTH, REFUSED_200, FAILING, REDIRECT, SLOW]
        .iter()
        .map(|uuid| format!("d4sign:{uuid}"))
        .chain([format!("d4down:{OK}")])
        .chain([SIM_OPEN, SIM_CANCELLED].map(|uuid| format!("d4sim:{uuid}")))
        .collect();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{address}{path}");

    // Act
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    let cancel = http
        .post(url("/documents/cancel"))
        .bearer_auth(API_KEY)
        .json(&body_for(&refs))
        .send()
        .await
        .expect("an answer");
    let cancel_status = cancel.status();
    let answer: Value = cancel.json().await.expect("JSON");
    let query: String = codes.iter().map(|c| format!("code={c}&")).collect();
    let status = http
        .get(url(&format!("/documents/status?{query}")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("text");
    let mut audit = String::new();
    for code in &codes {
        let rows = http
            .get(url(&format!("/documents/cancellations?code={code}")))
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("an answer");
        audit.push_str(&rows.text().await.expect("text"));
    }
    let metrics = http
        .get(url("/metrics"))
        .send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("text");
    let gateway_output = gateway.finish();
    let simulator_output = simulator.finish();

    // Assert: every path was taken, with the credentials on the wire.
    assert_eq!(cancel_status, 200, "{answer}");
    let outcomes: Vec<String> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            r["error"]["code"]
                .as_str()
                .unwrap_or("cancelled")
                .to_owned()
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "cancelled",
            "already_signed",
            "vendor_refused",
            "vendor_auth_failed",
            "already_cancelled",
            "vendor_unavailable",
            "vendor_bad_response",
            "vendor_timeout",
            "vendor_unavailable",
            "cancelled",
            "already_cancelled",
        ],
        "{answer}"
    );
    let received = mock.received_requests().await.expect("recorded");
    assert!(
        received.iter().all(|r| {
            let query = r.url.query().unwrap_or_default();
            query.contains(&format!("tokenAPI={TOKEN_API}"))
                && query.contains(&format!("cryptKey={CRYPT_KEY}"))
        }),
        "every call carries both credentials in its query string"
    );
    assert!(
        gateway_output.contains(r#""level":"TRACE""#),
        "the gateway logged at trace level:\n{gateway_output}"
    );
    for (what, text) in [
        ("the gateway's output", gateway_output.as_str()),
        ("the cancel answer", &answer.to_string()),
        ("the status answer", &status),
        ("the audit rows", &audit),
        ("/metrics", &metrics),
    ] {
        for secret in [TOKEN_API, CRYPT_KEY, SIM_TOKEN, SIM_CRYPT] {
            assert!(!text.contains(secret), "`{secret}` in {what}:\n{text}");
        }
        assert!(
            !text.contains("tokenAPI="),
            "a query string in {what}:\n{text}"
        );
    }
    // The simulator prints its own fixed credentials once, in its banner, and never a request.
    assert_eq!(
        simulator_output.matches("tokenAPI=").count(),
        1,
        "{simulator_output}"
    );
}
