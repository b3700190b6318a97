//! The demo end to end: the printed curl commands run against a demo started in-process, and
//! a cancel round trip from the gateway to the simulator and back.

use std::net::SocketAddr;

use serde_json::Value;
use signgate::demo::{self, DemoRequest, DROP_IN, MIXED, STATUS};
use signgate::simulator::{SimConfig, Simulator};
use signgate::startup::Application;
use signgate::vendors::zapsign::simulator::{self as zapsign, ZapSignState};
use signgate::vendors::Registry;
use tokio::sync::oneshot;

/// Runs a printed command through the shell, as a person pasting it would, and returns the
/// HTTP status and the body as JSON.
async fn run_printed(request: &DemoRequest, gateway: SocketAddr) -> (u16, Value) {
    let command = format!("{} -w '\\n%{{http_code}}'", request.curl(gateway));
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .output()
        .await
        .expect("sh and curl run");
    assert!(output.status.success(), "{command}: {output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let (response, status) = stdout.rsplit_once('\n').expect("a status line from -w");
    // With -i the headers come first; the body follows the first blank line.
    let body = match response.split_once("\r\n\r\n") {
        Some((_, body)) if request.show_headers => body,
        _ => response,
    };
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{command}: {e}: {body}"));
    (status.parse().expect("a numeric status"), body)
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
    let requests = demo::requests();
    for request in &requests {
        assert!(
            instructions.contains(&request.curl(gateway)),
            "{}",
            request.title
        );
    }

    let (status, body) = run_printed(&requests[0], gateway).await;
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

    let (status, body) = run_printed(&requests[1], gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], 2, "{body}");
    let (status, replayed) = run_printed(&requests[1], gateway).await;
    assert_eq!(status, 200);
    assert_eq!(replayed, body, "the second run replays the first answer");
    let replay_header = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(requests[1].curl(gateway))
        .output()
        .await
        .expect("curl runs");
    let printed = String::from_utf8_lossy(&replay_header.stdout).to_lowercase();
    assert!(printed.contains("idempotent-replayed: true"), "{printed}");

    let (status, body) = run_printed(&requests[2], gateway).await;
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

    let (status, body) = run_printed(&requests[3], gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"success": 2, "errors": {"cant": 1, "documents": [DROP_IN[2]]}})
    );

    let (status, body) = run_printed(&requests[4], gateway).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");

    let (status, _) = run_printed(&requests[5], gateway).await;
    assert_eq!(status, 200);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn cancelling_a_zapsign_document_twice_through_the_gateway_says_already_cancelled() {
    let simulator = Simulator::new(SimConfig::default());
    let token = "5e1f0000-aaaa-4bbb-8ccc-000000000042";
    zapsign::seed(&simulator, token, ZapSignState::Pending);
    let (sim_addr, sim_task) = simulator.spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let settings = demo::settings("127.0.0.1:0".parse().unwrap(), sim_addr).unwrap();
    let store = signgate::store::connect(&settings.store.url).await.unwrap();
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
