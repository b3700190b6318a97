//! `signgate demo`: the gateway wired to a seeded, in-process vendor simulator, and the
//! ready-to-paste commands that show every outcome: `curl` requests (`requests`), and a bulk
//! job with `curl` and with `signgate cancel` (`jobs`).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;

use tokio::task::JoinHandle;

use crate::settings::Settings;
use crate::simulator::{self, SimConfig, Simulator};
use crate::startup::Application;

mod jobs;
mod requests;

pub use jobs::{DemoCancel, CANCEL_CODES, JOB, JOB_VAR, KEY_ENV, PROGRAM};
pub use requests::{
    DemoRequest, DROP_IN, EMAIL, IDEMPOTENT, MESSAGE, MIXED, STATUS, TYPO, UNKNOWN_ZAPSIGN,
};

/// The gateway's API key in the demo.
pub const API_KEY: &str = "demo-key";

/// Where the demo gateway listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// One command the demo prints: a `curl` request, or the `signgate cancel` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoCommand {
    /// A request, printed as `curl`.
    Curl(DemoRequest),
    /// `signgate cancel`, printed as run from the checkout (`jobs::PROGRAM`).
    Cancel(DemoCancel),
}

impl DemoCommand {
    /// What the command shows, one line.
    pub fn title(&self) -> &'static str {
        match self {
            DemoCommand::Curl(request) => request.title,
            DemoCommand::Cancel(cancel) => cancel.title,
        }
    }

    /// The command as printed for a gateway at `gateway`.
    pub fn printed(&self, gateway: SocketAddr) -> String {
        match self {
            DemoCommand::Curl(request) => request.curl(gateway),
            DemoCommand::Cancel(cancel) => cancel.shell(jobs::PROGRAM, gateway),
        }
    }
}

/// The requests the demo prints, in order: the mixed cancel, an idempotent cancel, a status
/// read, an Auco client's cancel through the drop-in, a bad request, a bulk job's creation
/// and its watch, and the liveness probe.
pub fn requests() -> Vec<DemoRequest> {
    let mut requests = requests::synchronous();
    requests.extend([jobs::create(), jobs::watch(), requests::liveness()]);
    requests
}

/// Everything the demo prints, in order: the requests, with `signgate cancel` after the
/// job's watch.
pub fn commands() -> Vec<DemoCommand> {
    let mut commands: Vec<DemoCommand> = requests::synchronous()
        .into_iter()
        .chain([jobs::create(), jobs::watch()])
        .map(DemoCommand::Curl)
        .collect();
    commands.push(DemoCommand::Cancel(jobs::cancel()));
    commands.push(DemoCommand::Curl(requests::liveness()));
    commands
}

/// How often the demo's idle job lanes look for due documents: often, so a job a reader
/// creates is under way at once (the default is a second).
const JOB_POLL_MS: u64 = 200;

/// The gateway's settings for the demo: the defaults, vendors pointed at the simulator at
/// `simulator` with its credentials, an in-memory store, job lanes that poll often, and
/// quiet, readable logs.
pub fn settings(listen: SocketAddr, simulator: SocketAddr) -> anyhow::Result<Settings> {
    let mut overlay = format!(
        "[server]\nlisten = \"{listen}\"\nshutdown_grace_ms = 5000\n\
         [store]\nurl = \"sqlite::memory:\"\n\
         [jobs]\npoll_interval_ms = {JOB_POLL_MS}\n\
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
    Ok(Settings::for_demo(&overlay, env)?)
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
        for (i, command) in commands().iter().enumerate() {
            text.push_str(&format!(
                "\n# {}. {}\n{}\n",
                i + 1,
                command.title(),
                command.printed(gateway)
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
    use std::collections::BTreeSet;

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
        assert_eq!(settings.store.url.expose(), "sqlite::memory:");
        assert_eq!(settings.jobs.poll_interval_ms, JOB_POLL_MS);
    }

    #[test]
    fn the_job_and_signgate_cancel_send_codes_no_other_printed_command_sends() {
        let others: BTreeSet<&str> = MIXED
            .iter()
            .map(|(code, _, _)| *code)
            .chain(IDEMPOTENT)
            .chain(STATUS.iter().map(|(code, _)| *code))
            .chain(DROP_IN)
            .collect();
        let job: BTreeSet<&str> = JOB.iter().map(|(code, _, _)| *code).collect();
        let cli: BTreeSet<&str> = CANCEL_CODES.into_iter().collect();
        assert_eq!(job.len(), JOB.len());
        assert_eq!(cli.len(), CANCEL_CODES.len());
        // The same document with or without its `vendor:` prefix.
        let bare = |code: &'static str| match code.split_once(':') {
            Some((vendor, rest)) if vendor.chars().all(|c| c.is_ascii_lowercase()) => rest,
            _ => code,
        };
        let others: BTreeSet<&str> = others.into_iter().map(bare).collect();
        for code in job.iter().chain(&cli) {
            assert!(
                !others.contains(bare(code)),
                "{code} is sent by another command"
            );
        }
        assert!(job.iter().all(|code| !cli.contains(code)));
        assert!(
            !others.contains(TYPO),
            "the typo's code is cancelled by no one else"
        );
    }

    #[test]
    fn every_command_is_printed_once_in_order_with_signgate_cancel_after_the_jobs_watch() {
        let titles: Vec<&str> = commands().iter().map(DemoCommand::title).collect();
        let requests: Vec<&str> = requests().iter().map(|r| r.title).collect();
        assert_eq!(titles.len(), requests.len() + 1);
        let watch = titles.iter().position(|t| *t == jobs::watch().title);
        assert_eq!(titles.get(watch.unwrap() + 1), Some(&jobs::cancel().title));
        assert_eq!(titles.last(), Some(&requests::liveness().title));
    }
}
