//! The `signgate` command line: serve, demo, simulate, check-config, healthcheck, cancel.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use signgate::settings::Settings;
use signgate::simulator::{parse_share, Faults, Latency, SimConfig, Simulator};
use signgate::startup::{shutdown_signal, Application};

/// An HTTP gateway that cancels e-signature documents at several vendors (Auco, ZapSign,
/// DocuSign, Dropbox Sign, Clicksign, D4Sign, Yousign, Adobe Acrobat Sign).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default when no command is given).
    Serve {
        /// A TOML file layered over the defaults (else SIGNGATE_CONFIG, if set).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the gateway with API key `demo-key`, wired to every simulated vendor (seeded with
    /// documents in every state) and an in-memory store, and print ready-to-paste curl
    /// commands.
    Demo {
        /// Where the gateway listens.
        #[arg(long, default_value = signgate::demo::DEFAULT_LISTEN)]
        listen: SocketAddr,
    },
    /// Run the vendor simulator alone: every vendor under its own prefix (/auco, /zapsign,
    /// /docusign, /dropboxsign, /clicksign, /d4sign, /yousign, /adobesign), keeping document
    /// state, with optional latency and faults.
    Simulate(SimulateArgs),
    /// Validate the configuration (defaults, file, environment) and exit.
    CheckConfig {
        /// A TOML file layered over the defaults (else SIGNGATE_CONFIG, if set).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Probe a running gateway's /livez; exit 0 when it answers 200, else 1.
    Healthcheck {
        /// The liveness URL.
        #[arg(long, default_value = "http://127.0.0.1:8080/livez")]
        url: String,
    },
    /// Submit a bulk cancellation job to a running gateway and watch it to the end (or watch
    /// one submitted before, with --watch). Exit codes: 0 every document cancelled, 1 some
    /// not, or the job was cancelled, 2 usage or configuration error, 3 the server cannot be
    /// reached or answered an error, 130 Ctrl-C (the job keeps running).
    Cancel(signgate::cli::cancel::CancelArgs),
}

/// Options of `signgate simulate`. Shares are fractions of calls, from 0 to 1.
#[derive(clap::Args)]
struct SimulateArgs {
    /// Where the simulator listens.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Milliseconds every call waits before it is handled.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Milliseconds a slow call waits instead.
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// Share of calls that are slow.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    slow_share: f64,
    /// Share of calls answered 500 or 503.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    error_share: f64,
    /// Share of calls that hang for 60 s.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    timeout_share: f64,
    /// Share of calls answered 429 with Retry-After: 1.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    rate_limit_share: f64,
    /// Share of calls whose connection is reset without an answer.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    reset_share: f64,
    /// Errors, hangs and resets of cancel calls happen after the cancel took effect.
    #[arg(long)]
    faults_after_cancel: bool,
    /// Treat unknown codes and tokens as documents in progress (for load tests).
    #[arg(long)]
    unknown_in_progress: bool,
    /// Auco answers 400 for a whole batch when any code in it is unknown (the same as
    /// `--vendor-option auco.batch_400_on_unknown=true`).
    #[arg(long)]
    auco_batch_400_on_unknown: bool,
    /// ZapSign's rate limit per token and fixed one-minute window (the same as
    /// `--vendor-option zapsign.requests_per_minute=N`).
    #[arg(long)]
    zapsign_requests_per_minute: Option<u32>,
    /// The RSA public key (PEM file) that checks the assertions of DocuSign's JWT grant (the
    /// same as `--vendor-option docusign.public_key_file=FILE`).
    #[arg(long, value_name = "FILE")]
    docusign_public_key: Option<PathBuf>,
    /// A simulated vendor's own option, as VENDOR.NAME=VALUE (repeatable).
    #[arg(long, value_name = "VENDOR.NAME=VALUE", value_parser = parse_vendor_option)]
    vendor_option: Vec<(String, String, String)>,
    /// Start without the demo documents.
    #[arg(long)]
    no_seed: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("signgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve { config: None }) {
            Command::Serve { config } => serve(config).await,
            Command::Demo { listen } => signgate::demo::run(listen, shutdown_signal()).await,
            Command::Simulate(args) => simulate(args).await,
            Command::CheckConfig { config } => check_config(config),
            Command::Healthcheck { url } => healthcheck(&url).await,
            Command::Cancel(args) => return Ok(signgate::cli::cancel::run(args).await),
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("signgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    signgate::telemetry::init(&settings);
    let app = Application::build(settings).await?;
    let stop = shutdown_signal();
    tracing::info!(address = %app.local_addr()?, "signgate is listening.");
    app.run_until_stopped(stop).await?;
    tracing::info!("signgate stopped.");
    Ok(())
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let mut config = SimConfig::default();
    config.latency = Latency {
        fixed_ms: args.latency_ms,
        slow_ms: args.slow_ms,
        slow_share: args.slow_share,
    };
    config.faults = Faults {
        error_share: args.error_share,
        timeout_share: args.timeout_share,
        rate_limit_share: args.rate_limit_share,
        reset_share: args.reset_share,
        after_cancel: args.faults_after_cancel,
    };
    config.unknown_in_progress = args.unknown_in_progress;
    let mut options = args.vendor_option;
    if args.auco_batch_400_on_unknown {
        options.push(("auco".into(), "batch_400_on_unknown".into(), "true".into()));
    }
    if let Some(limit) = args.zapsign_requests_per_minute {
        options.push((
            "zapsign".into(),
            "requests_per_minute".into(),
            limit.to_string(),
        ));
    }
    if let Some(file) = args.docusign_public_key {
        options.push((
            "docusign".into(),
            "public_key_file".into(),
            file.display().to_string(),
        ));
    }
    for (vendor, name, value) in &options {
        config
            .set_option(vendor, name, value)
            .map_err(|e| anyhow::anyhow!("simulator option {vendor}.{name}={value}: {e}"))?;
    }
    let simulator = Simulator::new(config);
    if !args.no_seed {
        simulator.seed_demo();
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let stop = shutdown_signal();
    println!(
        "signgate simulator listening:\n{}",
        simulator.describe(addr)
    );
    if !args.no_seed {
        println!(
            "Seeded documents:\n{}",
            signgate::simulator::describe_demo_documents()
        );
    }
    simulator.serve(listener, stop).await?;
    Ok(())
}

/// Parses `VENDOR.NAME=VALUE`; the vendor checks the value once the config is built.
fn parse_vendor_option(text: &str) -> Result<(String, String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not VENDOR.NAME=VALUE"))?;
    let (vendor, name) = key
        .split_once('.')
        .ok_or_else(|| format!("`{key}` is not VENDOR.NAME"))?;
    Ok((vendor.to_owned(), name.to_owned(), value.to_owned()))
}

fn check_config(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    for (name, vendor) in &settings.vendors {
        println!("vendor `{name}` (kind {}): on", vendor.kind.name());
        if !vendor.has_credentials() {
            println!("warning: vendor `{name}` has no credentials; its documents will fail");
        }
    }
    if settings.vendors.is_empty() {
        println!(
            "warning: no vendor is on; every document will fail (unroutable or unknown_vendor)"
        );
    }
    if !settings.vendors_off.is_empty() {
        println!(
            "vendors off (nothing configured for them): {}",
            settings.vendors_off.join(", ")
        );
    }
    println!("configuration is valid");
    Ok(())
}

async fn healthcheck(url: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?
        .get(url)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(())
}
