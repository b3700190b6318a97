//! The real binary as operators run it: configuration from the environment, JSON logs on
//! stdout that never hold a secret, an email or a message, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// A gateway process and the lines it has printed so far. Dropped, it is killed: a test that
/// fails leaves no process behind.
pub struct Gateway {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Starts `signgate serve` with exactly these environment variables.
    pub fn start(vars: &[(String, String)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signgate"))
            .arg("serve")
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Starts `signgate serve` and waits until it listens; returns it with its address.
    pub fn listening(vars: &[(String, String)]) -> (Self, String) {
        let mut gateway = Self::start(vars);
        let address = gateway.wait_for("signgate is listening.")["address"]
            .as_str()
            .expect("address")
            .to_owned();
        (gateway, address)
    }

    /// Waits for a log line whose `message` field is `message`.
    pub fn wait_for(&mut self, message: &str) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no `{message}` line; saw:\n{}", self.seen.join("\n")));
            self.seen.push(line.clone());
            let parsed: Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            if parsed["message"] == message {
                return parsed;
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the exit and returns its code and everything printed.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the gateway did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status.code(), format!("{}\n{stderr}", self.seen.join("\n")))
    }
}

#[tokio::test]
async fn logs_hold_no_secret_email_or_message_and_sigterm_exits_zero() {
    // Arrange: one vendor rejects our credentials, the other accepts.
    let vendors = MockVendors::start().await;
    let (auco, zapsign) = (vendors.get("auco"), vendors.get("zapsign"));
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "UNAUTHORIZED"})))
        .mount(auco)
        .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(zapsign)
        .await;
    let vars: Vec<(String, String)> = base_vars(&vendors).into_iter().collect();
    let mut gateway = Gateway::start(&vars);
    let listening = gateway.wait_for("signgate is listening.");
    let address = listening["address"]
        .as_str()
        .expect("address field")
        .to_owned();

    // Act
    let client = reqwest::Client::new();
    let answer: Value = client
        .post(format!("http://{address}/documents/cancel"))
        .bearer_auth(API_KEY)
        .json(&body_for(&[
            "TR99AQMY31",
            "0a1b2c3d-0000-4000-8000-000000000001",
        ]))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    let refused = client
        .post(format!("http://{address}/documents/cancel"))
        .bearer_auth("wrong-key")
        .send()
        .await
        .expect("answer");
    let finished = gateway.wait_for("Request finished.");
    gateway.terminate();
    let (code, output) = gateway.finish();

    // Assert
    assert_eq!(answer["results"][0]["error"]["code"], "vendor_auth_failed");
    assert_eq!(answer["results"][1]["status"], "cancelled");
    assert_eq!(refused.status(), 401);
    assert_eq!(code, Some(0), "exit code after SIGTERM; output:\n{output}");
    assert_eq!(finished["span"]["method"], "POST", "{finished}");
    assert_eq!(finished["span"]["path"], "/documents/cancel", "{finished}");
    assert!(
        finished["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{finished}"
    );
    assert!(
        finished["status"].is_u64() && finished["latency_ms"].is_f64(),
        "{finished}"
    );
    assert!(output.contains("Stop requested"), "{output}");
    // Every vendor credential of the test gateway: every kind's variable but its base URL, its
    // kind and its numbers (timeouts, limits), which are no secret and may well appear in a
    // log line's timestamp or latency.
    let credentials: Vec<String> = signgate::vendors::conformance::all()
        .iter()
        .flat_map(|kind| kind.vars(""))
        .filter(|(key, _)| !key.ends_with("__BASE_URL") && !key.ends_with("__KIND"))
        .map(|(_, value)| value)
        .filter(|value| !value.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert!(credentials.len() >= signgate::vendors::conformance::all().len());
    for secret in [API_KEY, EMAIL, MESSAGE, "wrong-key"]
        .into_iter()
        .chain(credentials.iter().map(String::as_str))
    {
        assert!(
            !output.contains(secret),
            "`{secret}` appears in the logs:\n{output}"
        );
    }
}

#[test]
fn start_up_refuses_a_configuration_without_an_api_key_and_names_the_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_signgate"))
        .arg("check-config")
        .env_clear()
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth.api_key"), "{stderr}");
}

#[test]
fn check_config_names_an_invalid_value() {
    let output = Command::new(env!("CARGO_BIN_EXE_signgate"))
        .arg("check-config")
        .env_clear()
        .env("SIGNGATE__AUTH__API_KEY", "test-api-key-0123456789")
        .env("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "soon")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("vendors.zapsign.timeout_ms"), "{stderr}");
}

/// `signgate check-config` with exactly `vars` (and `args`): its exit status, stdout, stderr.
fn check_config(vars: &[(String, String)], args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_signgate"))
        .arg("check-config")
        .args(args)
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn owned(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn only_auco_and_zapsign_with_a_6_second_deadline_start_and_check_config_lists_them_on() {
    let vars = owned(&[
        ("SIGNGATE__AUTH__API_KEY", API_KEY),
        ("SIGNGATE__SERVER__LISTEN", "127.0.0.1:0"),
        ("SIGNGATE__STORE__URL", "sqlite::memory:"),
        ("SIGNGATE__SERVER__REQUEST_TIMEOUT_MS", "6000"),
        ("SIGNGATE__VENDORS__AUCO__PRIVATE_KEY", "prk_operator"),
        ("SIGNGATE__VENDORS__AUCO__PUBLIC_KEY", "puk_operator"),
        ("SIGNGATE__VENDORS__AUCO__TIMEOUT_MS", "5000"),
        (
            "SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN",
            "zapsign-operator-token",
        ),
        ("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "5000"),
    ]);
    let off: Vec<&str> = signgate::vendors::KINDS
        .iter()
        .map(|kind| kind.name())
        .filter(|name| !["auco", "zapsign"].contains(name))
        .collect();

    let (mut gateway, _address) = Gateway::listening(&vars);
    gateway.terminate();
    let (ok, stdout, stderr) = check_config(&vars, &[]);

    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("vendor `auco` (kind auco): on"), "{stdout}");
    assert!(
        stdout.contains("vendor `zapsign` (kind zapsign): on"),
        "{stdout}"
    );
    let expected = format!(
        "vendors off (nothing configured for them): {}",
        off.join(", ")
    );
    assert!(stdout.contains(&expected), "{stdout}");
    assert_eq!(stdout.matches("): on").count(), 2, "{stdout}");

    // The same operator, writing a file instead of variables.
    let file = std::env::temp_dir().join(format!("signgate-only-two-{}.toml", std::process::id()));
    let toml = "[server]\nrequest_timeout_ms = 6000\n\
        [vendors.auco]\nprivate_key = \"prk_operator\"\npublic_key = \"puk_operator\"\n\
        timeout_ms = 5000\n\
        [vendors.zapsign]\napi_token = \"zapsign-operator-token\"\ntimeout_ms = 5000\n";
    std::fs::write(&file, toml).expect("a scratch file");
    let only_key = owned(&[("SIGNGATE__AUTH__API_KEY", API_KEY)]);
    let (ok, stdout, stderr) =
        check_config(&only_key, &["--config", file.to_str().expect("utf-8")]);
    let _ = std::fs::remove_file(&file);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains(&expected), "{stdout}");
    assert_eq!(stdout.matches("): on").count(), 2, "{stdout}");
}

#[test]
fn check_config_refuses_short_and_placeholder_secrets_naming_the_key() {
    for (var, key) in [
        ("SIGNGATE__AUTH__API_KEY", "auth.api_key"),
        ("SIGNGATE__AUTH__PREVIOUS_API_KEY", "auth.previous_api_key"),
        ("SIGNGATE__JOBS__CALLBACK_SECRET", "jobs.callback_secret"),
    ] {
        for value in ["x", "fifteen-chars-x", "change-me"] {
            let mut vars = owned(&[("SIGNGATE__AUTH__API_KEY", API_KEY)]);
            vars.retain(|(k, _)| k != var);
            vars.push((var.to_owned(), value.to_owned()));

            let (ok, stdout, stderr) = check_config(&vars, &[]);

            assert!(!ok, "{var}={value} passed: {stdout}");
            assert!(stderr.contains(key), "{var}={value}: {stderr}");
            assert!(
                !stderr.contains("fifteen-chars-x"),
                "the secret is echoed: {stderr}"
            );
        }
    }
    let strong = owned(&[
        ("SIGNGATE__AUTH__API_KEY", "0123456789abcdef"),
        ("SIGNGATE__AUTH__PREVIOUS_API_KEY", "fedcba9876543210"),
        ("SIGNGATE__JOBS__CALLBACK_SECRET", "callback-secret-16"),
    ]);
    let (ok, stdout, stderr) = check_config(&strong, &[]);
    assert!(ok, "{stdout}\n{stderr}");
}

#[tokio::test]
async fn sigterm_mid_request_lets_the_request_finish_then_exits_zero() {
    let vendors = MockVendors::start().await;
    let zapsign = vendors.get("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)))
        .expect(1)
        .mount(zapsign)
        .await;
    let vars: Vec<(String, String)> = base_vars(&vendors).into_iter().collect();
    let mut gateway = Gateway::start(&vars);
    let address = gateway.wait_for("signgate is listening.")["address"]
        .as_str()
        .expect("address")
        .to_owned();

    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://{address}/documents/cancel"))
            .bearer_auth(API_KEY)
            .json(&body_for(&["0a1b2c3d-0000-4000-8000-000000000001"]))
            .send()
            .await
            .expect("the request in flight is answered")
            .json::<Value>()
            .await
            .expect("json")
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    gateway.terminate();
    let answer = request.await.expect("the request task ends");
    let (code, output) = gateway.finish();

    assert_eq!(answer["results"][0]["status"], "cancelled", "{output}");
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test]
async fn healthcheck_exits_zero_for_a_live_gateway_and_one_otherwise() {
    let app = spawn_app().await;
    let probe = |url: String| {
        Command::new(env!("CARGO_BIN_EXE_signgate"))
            .args(["healthcheck", "--url", &url])
            .env_clear()
            .output()
            .expect("the binary runs")
    };

    let live = tokio::task::spawn_blocking({
        let url = app.url("/livez");
        move || probe(url)
    });
    let live = live.await.expect("probe");
    let dead = probe(format!("{}/livez", refused_address()));

    assert!(live.status.success(), "{live:?}");
    assert_eq!(dead.status.code(), Some(1), "{dead:?}");
}
