//! The demo end to end: the printed curl commands (a bulk job's among them) run against a
//! demo started in-process, the printed `signgate cancel` run with the built binary, and a
//! cancel round trip from the gateway to the simulator and back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use signgate::demo::{
    self, DemoCancel, DemoCommand, DemoRequest, CANCEL_CODES, DROP_IN, JOB, JOB_VAR, MIXED, STATUS,
};
use signgate::simulator::{SimConfig, Simulator};
use signgate::startup::Application;
use signgate::vendors::auco::simulator::{self as auco, AucoState};
use signgate::vendors::zapsign::simulator::{self as zapsign, ZapSignState};
use signgate::vendors::Registry;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// What a printed command answered: the HTTP status, the status line and headers (with
/// `-i`), and the body as JSON.
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

/// Runs a printed command through the shell, as a person pasting it would, with the shell
/// variables in `vars` set (in the shell's environment only).
async fn run_printed(request: &DemoRequest, gateway: SocketAddr, vars: &[(&str, &str)]) -> Answer {
    let command = format!("{} -w '\\n%{{http_code}}'", request.curl(gateway));
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .envs(vars.iter().copied())
        .output()
        .await
        .expect("sh and curl run");
    assert!(output.status.success(), "{command}: {output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let (response, status) = stdout.rsplit_once('\n').expect("a status line from -w");
    // With -i the headers come first; the body follows the first blank line.
    let (head, body) = match response.split_once("\r\n\r\n") {
        Some((head, body)) if request.show_headers => (head, body),
        _ => ("", response),
    };
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{command}: {e}: {body}"));
    Answer {
        status: status.parse().expect("a numeric status"),
        head: head.to_owned(),
        body,
    }
}

#[tokio::test]
async fn the_printed_demo_commands_show_every_outcome() {
    let demo = demo::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let gateway = demo.gateway_addr().unwrap();
    let instructions = demo.instructions().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(demo.run_until_stopped(async {
        let _ = stopped.await;
    }));
    for command in demo::commands() {
        assert!(
            instructions.contains(&command.printed(gateway)),
            "{}",
            command.title()
        );
    }
    let requests = demo::requests();

    let Answer { status, body, .. } = run_printed(&requests[0], gateway, &[]).await;
    assert_eq!(status, 200, "{body}");
    let cancelled = MIXED.iter().filter(|(_, s, _)| *s == "cancelled").count();
    assert_eq!(body["success"], cancelled);
    assert_eq!(body["errors"]["cant"], MIXED.len() - cancelled);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), MIXED.len());
    for (result, (code, status, error)) in results.iter().zip(MIXED) {
        assert_eq!(result["code"], code);
        assert_eq!(result["status"], status, "{result}");
        assert_eq!(result["error"]["code"].as_str(), error, "{result}");
    }

    let Answer { status, body, .. } = run_printed(&requests[1], gateway, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], 2, "{body}");
    let replayed = run_printed(&requests[1], gateway, &[]).await;
    assert_eq!(replayed.status, 200);
    assert_eq!(
        replayed.body, body,
        "the second run replays the first answer"
    );
    let head = replayed.head.to_lowercase();
    assert!(head.contains("idempotent-replayed: true"), "{head}");

    let Answer { status, body, .. } = run_printed(&requests[2], gateway, &[]).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), STATUS.len());
    for (result, (code, expected)) in results.iter().zip(STATUS) {
        assert_eq!(result["code"], code);
        let got = result["state"]
            .as_str()
            .or(result["error"]["code"].as_str());
        assert_eq!(got, Some(expected), "{result}");
    }

    let Answer { status, body, .. } = run_printed(&requests[3], gateway, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"success": 2, "errors": {"cant": 1, "documents": [DROP_IN[2]]}})
    );

    let Answer { status, body, .. } = run_printed(&requests[4], gateway, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");

    the_printed_job_ends_with_the_seeded_outcomes(&requests[5], &requests[6], gateway).await;

    let Answer { status, .. } = run_printed(&requests[7], gateway, &[]).await;
    assert_eq!(status, 200);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Creates the job with the printed POST, watches it with the printed GET until it ends, and
/// checks its counts, summary and every result against `JOB`.
async fn the_printed_job_ends_with_the_seeded_outcomes(
    create: &DemoRequest,
    watch: &DemoRequest,
    gateway: SocketAddr,
) {
    let created = run_printed(create, gateway, &[]).await;
    assert_eq!(created.status, 202, "{}", created.body);
    let id = created.body["id"]
        .as_str()
        .expect("the job's id")
        .to_owned();
    let location = format!("location: /documents/cancel/jobs/{id}");
    assert!(
        created.head.to_lowercase().contains(&location),
        "{}",
        created.head
    );

    let until = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let watched = run_printed(watch, gateway, &[(JOB_VAR, &id)]).await;
        assert_eq!(watched.status, 200, "{}", watched.body);
        if watched.body["state"] == "done" {
            break watched.body;
        }
        assert!(
            Instant::now() < until,
            "the job did not end: {}",
            watched.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let count = |status: &str| JOB.iter().filter(|(_, s, _)| *s == status).count();
    for status in ["cancelled", "already_cancelled", "failed"] {
        assert_eq!(job["counts"][status], count(status), "{status}: {job}");
    }
    let not_cancelled: Vec<&str> = JOB
        .iter()
        .filter(|(_, status, _)| *status != "cancelled")
        .map(|(code, _, _)| *code)
        .collect();
    assert_eq!(
        job["summary"],
        serde_json::json!({"success": count("cancelled"),
                           "errors": {"cant": not_cancelled.len(), "documents": not_cancelled}}),
        "{job}"
    );

    let page: Value = reqwest::Client::new()
        .get(format!(
            "http://{gateway}/documents/cancel/jobs/{id}/results?limit=1000"
        ))
        .bearer_auth(demo::API_KEY)
        .send()
        .await
        .expect("the gateway answers")
        .json()
        .await
        .expect("a JSON page of results");
    let results = page["results"].as_array().expect("results");
    assert_eq!(results.len(), JOB.len(), "{page}");
    for (result, (code, status, error)) in results.iter().zip(JOB) {
        assert_eq!(result["code"], code);
        assert_eq!(result["status"], status, "{result}");
        assert_eq!(result["error"]["code"].as_str(), error, "{result}");
    }
}

/// A path in the temp directory for one test's output, removed when dropped.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn the_printed_signgate_cancel_cancels_its_documents_through_the_demo_and_exits_0() {
    let demo = demo::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let gateway = demo.gateway_addr().unwrap();
    let instructions = demo.instructions().unwrap();
    let simulator = demo.simulator().clone();
    let server = tokio::spawn(demo.run_until_stopped(std::future::pending()));
    let cancel: DemoCancel = demo::commands()
        .into_iter()
        .find_map(|command| match command {
            DemoCommand::Cancel(cancel) => Some(cancel),
            DemoCommand::Curl(_) => None,
        })
        .expect("the demo prints signgate cancel");
    assert!(instructions.contains(&cancel.shell(demo::PROGRAM, gateway)));
    let unique = uuid::Uuid::new_v4().simple();
    let results = TempPath(std::env::temp_dir().join(format!("signgate-demo-{unique}.json")));
    // The printed lines, with the built binary for `cargo run --release --`, and a results
    // file on top.
    let program = format!("'{}'", env!("CARGO_BIN_EXE_signgate"));
    let script = format!(
        "{} \\\n  --output '{}'",
        cancel.shell(&program, gateway),
        results.0.display()
    );

    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("signgate cancel ends")
        .expect("sh runs");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{script}\n{stdout}\n{stderr}"
    );
    let id = stdout
        .strip_prefix("Job ")
        .and_then(|rest| rest.split_once(':'))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        stdout.contains(&format!(
            "Job {id}: http://{gateway}/documents/cancel/jobs/{id}\n"
        )),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("job {id} done\n")), "{stdout}");
    let total = CANCEL_CODES.len();
    assert!(
        stdout.contains(&format!("{:<20} {total:>8}\n", "cancelled")),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!("success {total}, failed 0\n")),
        "{stdout}"
    );
    let written: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&results.0).unwrap()).unwrap();
    let codes: Vec<&str> = written
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, CANCEL_CODES);
    assert!(
        written.iter().all(|r| r["status"] == "cancelled"),
        "{written:?}"
    );
    assert_eq!(
        auco::state(&simulator, CANCEL_CODES[0]),
        Some(AucoState::Cancelled)
    );
    server.abort();
}

#[tokio::test]
async fn cancelling_a_zapsign_document_twice_through_the_gateway_says_already_cancelled() {
    let simulator = Simulator::new(SimConfig::default());
    let token = "5e1f0000-aaaa-4bbb-8ccc-000000000042";
    zapsign::seed(&simulator, token, ZapSignState::Pending);
    let (sim_addr, sim_task) = simulator.spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let settings = demo::settings("127.0.0.1:0".parse().unwrap(), sim_addr).unwrap();
    let store = signgate::store::connect(settings.store.url.expose())
        .await
        .unwrap();
    let registry = Registry::from_settings(&settings, &store);
    let app = Application::build_on(settings, registry, store)
        .await
        .unwrap();
    let gateway = app.local_addr().unwrap();
    let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let http = reqwest::Client::new();
    let cancel = || {
        http.post(format!("http://{gateway}/documents/cancel"))
            .bearer_auth(demo::API_KEY)
            .json(&serde_json::json!({
                "codes": [token], "message": "Wrong clause", "email": "ops@example.com",
            }))
            .send()
    };

    let first: Value = cancel().await.unwrap().json().await.unwrap();
    let second: Value = cancel().await.unwrap().json().await.unwrap();

    assert_eq!(first["results"][0]["status"], "cancelled", "{first}");
    assert_eq!(
        second["results"][0]["status"], "already_cancelled",
        "{second}"
    );
    assert_eq!(second["errors"]["documents"][0], token);
    assert_eq!(
        zapsign::state(&simulator, token),
        Some(ZapSignState::Refused)
    );
    assert_eq!(simulator.calls("zapsign", "refuse"), 2);
    server.abort();
    sim_task.abort();
}
