//! `signgate demo`: the gateway wired to a seeded, in-process vendor simulator, and the
//! ready-to-paste `curl` commands that show every outcome.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;

use tokio::task::JoinHandle;

use crate::settings::Settings;
use crate::simulator::{self, SimConfig, Simulator};
use crate::startup::Application;

/// The gateway's API key in the demo.
pub const API_KEY: &str = "demo-key";

/// Where the demo gateway listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// One request the demo suggests, kept as data: printed as a `curl` command, run by tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoRequest {
    /// What the request shows, one line.
    pub title: &'static str,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The gateway path, with its query.
    pub path: String,
    /// Request headers, in order.
    pub headers: Vec<(&'static str, &'static str)>,
    /// The JSON body, if any.
    pub body: Option<String>,
    /// Whether curl prints the status line and headers (`-i`), when they are the point.
    pub show_headers: bool,
}

impl DemoRequest {
    /// The `curl` command line for a gateway at `gateway`, quoted for a POSIX shell.
    pub fn curl(&self, gateway: SocketAddr) -> String {
        let url = format!("http://{gateway}{}", self.path);
        // Quoted only when the shell would read it otherwise (a query's `&`).
        let plain = |c: char| c.is_ascii_alphanumeric() || "/:.-_".contains(c);
        let url = match url.chars().all(plain) {
            true => url,
            false => shell_quote(&url),
        };
        let mut parts = vec![format!(
            "curl -sS{} -X {} {url}",
            if self.show_headers { "i" } else { "" },
            self.method,
        )];
        for (name, value) in &self.headers {
            parts.push(format!("-H {}", shell_quote(&format!("{name}: {value}"))));
        }
        if let Some(body) = &self.body {
            parts.push(format!("-d {}", shell_quote(body)));
        }
        parts.join(" \\\n  ")
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A ZapSign token the simulator does not know.
pub const UNKNOWN_ZAPSIGN: &str = "0a1b2c3d-0000-4000-8000-00000000dead";

/// The codes of the mixed request, in order, with the status and error code each gets on a
/// freshly seeded demo.
pub const MIXED: [(&str, &str, Option<&str>); 22] = [
    ("AUCOOPEN01", "cancelled", None),
    ("0a1b2c3d-0000-4000-8000-000000000001", "cancelled", None),
    (
        "zapsign:0a1b2c3d-0000-4000-8000-000000000002",
        "cancelled",
        None,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000101",
        "already_cancelled",
        Some("already_cancelled"),
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000201",
        "failed",
        Some("already_signed"),
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000301",
        "failed",
        Some("not_cancellable"),
    ),
    // Auco refuses without a reason; the status read (the demo has a public key) says why.
    ("AUCOSIGN01", "failed", Some("already_signed")),
    (UNKNOWN_ZAPSIGN, "failed", Some("not_found")),
    // A DocuSign envelope ID is a UUID like ZapSign's tokens: a status read finds its owner.
    ("d5d5d5d5-0000-4000-8000-000000000001", "cancelled", None),
    (
        "docusign:d5d5d5d5-0000-4000-8000-000000000201",
        "failed",
        Some("already_signed"),
    ),
    (
        "docusign:d5d5d5d5-0000-4000-8000-000000000301",
        "failed",
        Some("not_cancellable"),
    ),
    // Dropbox Sign queues the cancel: `cancelled` with `"queued": true`.
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50001",
        "cancelled",
        None,
    ),
    (
        "dropboxsign:d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50201",
        "failed",
        Some("already_signed"),
    ),
    // Clicksign: ENVELOPE_ID:DOCUMENT_ID, routed by its own rule; a 422 settled by a read.
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000001",
        "cancelled",
        None,
    ),
    (
        "clicksign:c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000201",
        "failed",
        Some("already_signed"),
    ),
    // A D4Sign document id is a UUID too: a status read finds it; a finished one is signed.
    ("d4d4d4d4-0000-4000-8000-000000000002", "cancelled", None),
    (
        "d4sign:d4d4d4d4-0000-4000-8000-000000000401",
        "failed",
        Some("already_signed"),
    ),
    // A Yousign id is a UUID too: found by a status read, or sent straight with `yousign:`.
    ("e5e5e5e5-0000-4000-8000-000000000001", "cancelled", None),
    (
        "yousign:e5e5e5e5-0000-4000-8000-000000000201",
        "failed",
        Some("already_signed"),
    ),
    // Acrobat Sign agreement IDs route by their prefix; a refusal is settled by a status read.
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000002",
        "cancelled",
        None,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000201",
        "failed",
        Some("already_signed"),
    ),
    ("invoice-42", "failed", Some("unroutable")),
];

/// The codes of the status read, in order, with the state or error code each gets on a
/// freshly seeded demo (none of them is cancelled by the other commands).
pub const STATUS: [(&str, &str); 8] = [
    ("AUCOOPEN05", "in_progress"),
    ("AUCODONE01", "cancelled"),
    ("AUCOSIGN01", "signed"),
    ("AUCOEXPD01", "closed"),
    ("0a1b2c3d-0000-4000-8000-000000000005", "in_progress"),
    ("0a1b2c3d-0000-4000-8000-000000000201", "signed"),
    (UNKNOWN_ZAPSIGN, "not_found"),
    ("invoice-42", "unroutable"),
];

/// The codes of the Auco drop-in cancel: an Auco and a ZapSign document in progress, and a
/// signed Auco document (its code is listed in `errors.documents`).
pub const DROP_IN: [&str; 3] = [
    "AUCOOPEN04",
    "0a1b2c3d-0000-4000-8000-000000000004",
    "AUCOSIGN01",
];

/// The requests the demo prints, in order: the mixed cancel, an idempotent cancel, a status
/// read, an Auco client's cancel through the drop-in, a bad request, and the liveness probe.
pub fn requests() -> Vec<DemoRequest> {
    let json_post = vec![
        ("Authorization", "Bearer demo-key"),
        ("Content-Type", "application/json"),
    ];
    // Written by hand to keep the fields in the order docs/api.md shows them.
    let body = |codes: &[&str]| {
        let codes = serde_json::to_string(codes).unwrap_or_default();
        format!(
            r#"{{"codes": {codes}, "message": "Cancelled from the signgate demo", "email": "ops@example.com"}}"#
        )
    };
    let mixed: Vec<&str> = MIXED.iter().map(|(code, _, _)| *code).collect();
    let mut idempotent_headers = json_post.clone();
    idempotent_headers.push(("Idempotency-Key", "demo-request-1"));
    let status_query: Vec<String> = STATUS
        .iter()
        .map(|(code, _)| format!("code={code}"))
        .collect();
    vec![
        DemoRequest {
            title: "Cancel documents at every vendor; every outcome shows in `results`.",
            method: "POST",
            path: "/documents/cancel".into(),
            headers: json_post.clone(),
            body: Some(body(&mixed)),
            show_headers: false,
        },
        DemoRequest {
            title: "With an Idempotency-Key: sending it again replays the first answer.",
            method: "POST",
            path: "/documents/cancel".into(),
            headers: idempotent_headers,
            body: Some(body(&[
                "AUCOOPEN02",
                "0a1b2c3d-0000-4000-8000-000000000003",
            ])),
            show_headers: true,
        },
        DemoRequest {
            title: "Read documents' states at whichever vendors hold them.",
            method: "GET",
            path: format!("/documents/status?{}", status_query.join("&")),
            headers: vec![("Authorization", "Bearer demo-key")],
            body: None,
            show_headers: false,
        },
        DemoRequest {
            title: "An Auco client's own cancel call, with only the base URL changed (key bare).",
            method: "POST",
            path: "/v1.5/ext/document/cancel".into(),
            headers: vec![
                ("Authorization", "demo-key"),
                ("Content-Type", "application/json"),
            ],
            body: Some(body(&DROP_IN)),
            show_headers: false,
        },
        DemoRequest {
            title: "A typo (`code` for `codes`) is refused with a 400 that names the field.",
            method: "POST",
            path: "/documents/cancel".into(),
            headers: json_post,
            body: Some(body(&["AUCOOPEN03"]).replace("\"codes\"", "\"code\"")),
            show_headers: true,
        },
        DemoRequest {
            title: "Liveness probe (no API key).",
            method: "GET",
            path: "/livez".into(),
            headers: Vec::new(),
            body: None,
            show_headers: false,
        },
    ]
}

/// The gateway's settings for the demo: the defaults, vendors pointed at the simulator at
/// `simulator` with its credentials, an in-memory store and quiet, readable logs.
pub fn settings(listen: SocketAddr, simulator: SocketAddr) -> anyhow::Result<Settings> {
    let mut overlay = format!(
        "[server]\nlisten = \"{listen}\"\nshutdown_grace_ms = 5000\n\
         [store]\nurl = \"sqlite::memory:\"\n\
         [log]\nformat = \"pretty\"\nlevel = \"warn\"\n"
    );
    let mut env = HashMap::from([("SIGNGATE__AUTH__API_KEY".to_owned(), API_KEY.to_owned())]);
    for vendor in simulator::vendors() {
        let name = vendor.name();
        let base_url = vendor.base_url(simulator);
        // The simulated vendor's name is its kind.
        overlay.push_str(&format!(
            "[vendors.{name}]\nkind = \"{name}\"\nbase_url = \"{base_url}\"\n"
        ));
        for (key, value) in vendor.credentials() {
            let var = format!("SIGNGATE__VENDORS__{name}__{key}").to_uppercase();
            env.insert(var, (*value).to_owned());
        }
    }
    Ok(Settings::from_sources(None, Some(&overlay), env)?)
}

/// A started demo: the simulator serving in the background and the gateway bound.
pub struct Demo {
    app: Application,
    settings: Settings,
    simulator: Simulator,
    simulator_addr: SocketAddr,
    simulator_task: JoinHandle<std::io::Result<()>>,
}

/// Starts the seeded simulator on a free loopback port and binds the gateway at `listen`
/// (port 0 picks a free port; see `Demo::gateway_addr`).
pub async fn start(listen: SocketAddr) -> anyhow::Result<Demo> {
    let simulator = Simulator::new(SimConfig::default());
    simulator.seed_demo();
    let (simulator_addr, simulator_task) = simulator.spawn(([127, 0, 0, 1], 0).into()).await?;
    let settings = settings(listen, simulator_addr)?;
    let app = match Application::build(settings.clone()).await {
        Ok(app) => app,
        Err(e) => {
            simulator_task.abort();
            return Err(e.context(format!("the demo gateway cannot listen on {listen}")));
        }
    };
    Ok(Demo {
        app,
        settings,
        simulator,
        simulator_addr,
        simulator_task,
    })
}

impl Demo {
    /// Where the gateway listens.
    pub fn gateway_addr(&self) -> std::io::Result<SocketAddr> {
        self.app.local_addr()
    }

    /// The gateway's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The simulator behind the gateway (to inspect document state or call counts).
    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    /// What the demo prints: where things are, the seeded documents, and the commands.
    pub fn instructions(&self) -> std::io::Result<String> {
        let gateway = self.gateway_addr()?;
        let mut text = format!(
            "signgate demo: the gateway listens on http://{gateway} (API key `{API_KEY}`),\n\
             wired to simulated vendors:\n{}\nSeeded documents:\n{}",
            self.simulator.describe(self.simulator_addr),
            simulator::describe_demo_documents(),
        );
        for (i, request) in requests().iter().enumerate() {
            text.push_str(&format!(
                "\n# {}. {}\n{}\n",
                i + 1,
                request.title,
                request.curl(gateway)
            ));
        }
        text.push_str("\nDocuments keep their state: run the first command twice to see.\n");
        text.push_str("Press Ctrl-C to stop.\n");
        Ok(text)
    }

    /// Serves until `stop` resolves, then stops the gateway and the simulator.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let served = self.app.run_until_stopped(stop).await;
        self.simulator_task.abort();
        Ok(served?)
    }
}

/// `signgate demo`: starts, installs the log subscriber, prints the instructions, and serves
/// until `stop` resolves.
pub async fn run(
    listen: SocketAddr,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let demo = start(listen).await?;
    crate::telemetry::init(demo.settings());
    println!("{}", demo.instructions()?);
    demo.run_until_stopped(stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_their_arguments_for_the_shell() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let curl = requests()[0].curl(addr);
        assert!(curl.starts_with("curl -sS -X POST http://127.0.0.1:8080/documents/cancel"));
        assert!(
            curl.contains("-H 'Authorization: Bearer demo-key'"),
            "{curl}"
        );
    }

    #[test]
    fn the_demo_settings_point_every_vendor_at_the_simulator_with_its_credentials() {
        let sim: SocketAddr = "127.0.0.1:9999".parse().unwrap();
        let settings = settings("127.0.0.1:0".parse().unwrap(), sim).unwrap();
        assert!(settings.vendors["auco"]
            .base_url
            .starts_with("http://127.0.0.1:9999/auco"));
        for vendor in simulator::vendors() {
            let configured = &settings.vendors[vendor.name()];
            assert_eq!(configured.base_url, vendor.base_url(sim));
            assert!(configured.has_credentials(), "{}", vendor.name());
        }
        assert_eq!(settings.store.url, "sqlite::memory:");
    }
}
