//! A bulk job against ZapSign's rate limit: starts the simulator and signgate (the release
//! binary, a SQLite file store) with a counting proxy between them, submits one job of
//! `--docs` ZapSign codes, sends one-document synchronous cancels (ZapSign and Auco) while it
//! runs, and writes the job's wall time against the ideal (documents / limit per minute), the
//! outcomes, the simulator's 429s, every fixed window's calls and the synchronous latency to
//! `bench/JOBS.md`. See bench/README.md, "Bulk job against the rate limit".
//!
//! `bash bench/jobs.sh` (builds, then runs this with the defaults), or
//! `cargo build --release --locked && cargo run --release --locked --example jobs -- [OPTIONS]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Parser;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

mod machine;
mod proxy;
mod report;
mod sync;

pub use sync::SyncCall;

/// What every code of the job starts with, so the proxy can tell the job's calls apart.
const JOB_MARKER: &str = "b0b0b0b0-0000-4000";
const API_KEY: &str = "bench-api-key-0001";
const MESSAGE: &str = "Bulk job benchmark";
const EMAIL: &str = "bench@example.com";

/// Options; the defaults are the recorded run.
#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// The signgate binary to start (simulator and gateway).
    #[arg(long, default_value = "target/release/signgate")]
    pub bin: PathBuf,
    /// Where the Markdown results go (also printed).
    #[arg(long, default_value = "bench/JOBS.md")]
    pub out: PathBuf,
    /// Documents in the job.
    #[arg(long, default_value_t = 2000)]
    pub docs: usize,
    /// The simulator's ZapSign limit per fixed one-minute window (ZapSign's own: 500).
    #[arg(long, default_value_t = 500)]
    pub limit: u32,
    /// signgate's ZapSign `requests_per_minute` (default: `--limit`; signgate's own default
    /// is 450).
    #[arg(long)]
    pub gateway_rpm: Option<u32>,
    /// Milliseconds between two synchronous one-document cancels; 0 sends none.
    #[arg(long, default_value_t = 1000)]
    pub sync_every_ms: u64,
    /// Every Nth synchronous cancel goes to ZapSign, the others to Auco (1: all to ZapSign).
    #[arg(long, default_value_t = 2)]
    pub zapsign_every: u64,
    /// Ports PORT+1 (simulator), PORT+2 (proxy) and PORT+3 (signgate) on 127.0.0.1.
    #[arg(long, default_value_t = 18500)]
    pub port_base: u16,
}

impl Args {
    /// The ZapSign pace signgate is configured with.
    pub fn rpm(&self) -> u32 {
        self.gateway_rpm.unwrap_or(self.limit)
    }

    /// The ideal: documents / limit per minute, in seconds.
    pub fn ideal(&self) -> Duration {
        Duration::from_secs_f64(self.docs as f64 * 60.0 / f64::from(self.limit))
    }
}

/// What one run measured on the API side.
#[derive(Debug)]
pub struct Run {
    /// When the `202` arrived (client clock; same machine as signgate).
    pub accepted: DateTime<Utc>,
    /// The job's last view.
    pub view: Value,
    /// Documents per `status` (`failed:CODE` for failures), from the results pages.
    pub outcomes: BTreeMap<String, u64>,
    pub sync: Vec<SyncCall>,
    /// The job did not end within the time bound and was stopped with `DELETE`.
    pub timed_out: bool,
}

impl Run {
    /// A timestamp of the job view.
    pub fn at(&self, field: &str) -> Option<DateTime<Utc>> {
        let text = self.view.get(field)?.as_str()?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

struct Processes {
    children: Vec<Child>,
}

impl Processes {
    fn spawn(&mut self, mut command: Command, log: PathBuf) -> anyhow::Result<()> {
        let file = std::fs::File::create(&log)?;
        let child = command
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {command:?}"))?;
        self.children.push(child);
        Ok(())
    }

    async fn stop(mut self) {
        for child in &mut self.children {
            let _ = child.start_kill();
        }
        for child in &mut self.children {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }
}

/// Waits (bounded: 200 x 50 ms) until `url` answers 200.
async fn ready(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(answer) = client.get(url).send().await {
            if answer.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} never answered 200")
}

/// Documents per outcome, from every page of the job's results.
async fn outcomes(
    client: &reqwest::Client,
    base: &str,
    id: &str,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    let mut cursor: Option<String> = None;
    // Bounded: 1,000 results a page.
    for _ in 0..100 {
        let mut url = format!("{base}/documents/cancel/jobs/{id}/results?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(API_KEY)
            .send()
            .await?
            .json()
            .await?;
        for result in page["results"].as_array().into_iter().flatten() {
            let mut key = result["status"].as_str().unwrap_or("?").to_owned();
            if let Some(code) = result["error"]["code"].as_str() {
                key = format!("{key}:{code}");
            }
            *counts.entry(key).or_insert(0) += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(counts),
        }
    }
    bail!("more result pages than documents")
}

/// Submits the job, runs the synchronous load beside it, and polls the job until it ends.
async fn scenario(client: &reqwest::Client, base: &str, args: &Args) -> anyhow::Result<Run> {
    let codes: Vec<String> = (0..args.docs)
        .map(|i| format!("{JOB_MARKER}-8000-{i:012x}"))
        .collect();
    let answer = client
        .post(format!("{base}/documents/cancel/jobs"))
        .bearer_auth(API_KEY)
        .json(&json!({"codes": codes, "message": MESSAGE, "email": EMAIL}))
        .send()
        .await?;
    let accepted = Utc::now();
    if answer.status().as_u16() != 202 {
        bail!("the job was answered {}", answer.status());
    }
    let job: Value = answer.json().await?;
    let id = job["id"].as_str().context("the job's id")?.to_owned();
    eprintln!("[jobs] job {id} accepted; ideal {:?}", args.ideal());

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(sync::load(
        client.clone(),
        base.to_owned(),
        args.clone(),
        Arc::clone(&stop),
    ));
    let bound = args.ideal() * 3 + Duration::from_secs(60);
    let started = Instant::now();
    let (view, timed_out) = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let view: Value = client
            .get(format!("{base}/documents/cancel/jobs/{id}"))
            .bearer_auth(API_KEY)
            .send()
            .await?
            .json()
            .await?;
        if matches!(view["state"].as_str(), Some("done" | "cancelled")) {
            break (view, false);
        }
        if started.elapsed() > bound {
            client
                .delete(format!("{base}/documents/cancel/jobs/{id}"))
                .bearer_auth(API_KEY)
                .send()
                .await?;
            break (view, true);
        }
        if started.elapsed().as_secs().is_multiple_of(15) {
            eprintln!("[jobs] {:?}: {}", started.elapsed(), view["counts"]);
        }
    };
    stop.store(true, Ordering::Relaxed);
    let sync = load.await?;
    let outcomes = outcomes(client, base, &id).await?;
    Ok(Run {
        accepted,
        view,
        outcomes,
        sync,
        timed_out,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.bin.is_file(),
        "{} is missing: cargo build --release --locked",
        args.bin.display()
    );
    let machine = machine::Machine::read();
    let work = std::env::temp_dir().join(format!("signgate-jobs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work)?;
    let port = |n: u16| args.port_base + n;
    let mut processes = Processes {
        children: Vec::new(),
    };

    let mut sim = Command::new(&args.bin);
    sim.args(["simulate", "--unknown-in-progress", "--no-seed"])
        .args(["--listen", &format!("127.0.0.1:{}", port(1))])
        .args(["--zapsign-requests-per-minute", &args.limit.to_string()]);
    processes.spawn(sim, work.join("simulator.log"))?;
    let upstream = format!("http://127.0.0.1:{}", port(1));
    let proxy = proxy::start(
        ([127, 0, 0, 1], port(2)).into(),
        upstream.clone(),
        JOB_MARKER,
    )
    .await;
    let via = format!("http://{}", proxy.addr);

    let mut gateway = Command::new(&args.bin);
    gateway
        .arg("serve")
        .env("SIGNGATE__AUTH__API_KEY", API_KEY)
        .env("SIGNGATE__SERVER__LISTEN", format!("127.0.0.1:{}", port(3)))
        .env(
            "SIGNGATE__STORE__URL",
            format!("sqlite://{}", work.join("signgate.db").display()),
        )
        .env("SIGNGATE__LOG__LEVEL", "warn")
        .env(
            "SIGNGATE__VENDORS__AUCO__BASE_URL",
            format!("{via}/auco/v1.5/ext"),
        )
        .env("SIGNGATE__VENDORS__AUCO__PRIVATE_KEY", "prk_sim")
        .env("SIGNGATE__VENDORS__AUCO__PUBLIC_KEY", "puk_sim")
        .env(
            "SIGNGATE__VENDORS__ZAPSIGN__BASE_URL",
            format!("{via}/zapsign/api/v1"),
        )
        .env("SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN", "sim-token")
        .env(
            "SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE",
            args.rpm().to_string(),
        );
    processes.spawn(gateway, work.join("signgate.log"))?;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = format!("http://127.0.0.1:{}", port(3));
    let run = async {
        // The simulator answers 404 at its root once it listens.
        for _ in 0..200 {
            if client.get(&upstream).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ready(&client, &format!("{base}/readyz")).await?;
        scenario(&client, &base, &args).await
    }
    .await;
    let calls = proxy.calls();
    proxy.stop();
    processes.stop().await;
    let run = match run {
        Ok(run) => run,
        Err(e) => {
            eprintln!("[jobs] logs kept in {}", work.display());
            return Err(e);
        }
    };
    std::fs::remove_dir_all(&work)?;

    let text = report::markdown(&args, &machine, &run, &calls);
    println!("{text}");
    std::fs::write(&args.out, text).with_context(|| format!("write {}", args.out.display()))?;
    eprintln!("[jobs] written to {}", args.out.display());
    Ok(())
}

/// The wall clock of a proxy call, for the fixed-window table.
pub fn wall(at: Duration) -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::UNIX_EPOCH + at)
}
