//! The `signgate` command line: serve, check-config, healthcheck.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use signgate::settings::Settings;
use signgate::startup::{shutdown_signal, Application};

/// An HTTP gateway that cancels e-signature documents at Auco and ZapSign.
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
            Command::CheckConfig { config } => check_config(config),
            Command::Healthcheck { url } => healthcheck(&url).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
    tracing::info!(address = %app.local_addr()?, "signgate is listening.");
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("signgate stopped.");
    Ok(())
}

fn check_config(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    for (name, vendor) in &settings.vendors {
        if !vendor.has_credentials() {
            println!("warning: vendor `{name}` has no credentials; its documents will fail");
        }
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
