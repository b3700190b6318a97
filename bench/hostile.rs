//! Hostile clients against the release binary: the memory a replica holds under many
//! half-open connections with large unfinished heads, and under many concurrent maximum-size
//! job bodies, with `/livez` asked every 100 ms throughout. Writes `bench/HOSTILE.md`.
//! See bench/README.md, "Hostile clients".
//!
//! `bash bench/hostile.sh` (builds, then runs this with the defaults), or
//! `cargo build --release --locked && cargo run --release --locked --example hostile -- [OPTIONS]`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const API_KEY: &str = "bench-api-key-0001";

/// Options; the defaults are the recorded run.
#[derive(Parser, Debug, Clone)]
struct Args {
    /// The signgate binary to start.
    #[arg(long, default_value = "target/release/signgate")]
    bin: PathBuf,
    /// Where the Markdown results go (also printed).
    #[arg(long, default_value = "bench/HOSTILE.md")]
    out: PathBuf,
    /// Half-open connections in the first scenario.
    #[arg(long, default_value_t = 4096)]
    connections: usize,
    /// Bytes of unfinished head each of them sends (the default limit is 32768).
    #[arg(long, default_value_t = 32 * 1024 - 64)]
    head_bytes: usize,
    /// Concurrent job bodies in the second scenario.
    #[arg(long, default_value_t = 64)]
    bodies: usize,
    /// Bytes of each body (the default `jobs.max_body_bytes` is 4194304).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    body_bytes: usize,
    /// Codes in each job body (the rest is padding); they route to no vendor.
    #[arg(long, default_value_t = 1000)]
    codes: usize,
}

/// What one scenario measured.
struct Figures {
    rss_before_kb: u64,
    peak_rss_kb: u64,
    livez: Livez,
    detail: String,
}

/// `/livez` answers during a scenario.
#[derive(Default)]
struct Livez {
    asked: u32,
    answered: u32,
    slowest: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.bin.exists() {
        bail!(
            "{} not found: cargo build --release --locked",
            args.bin.display()
        );
    }
    let heads = half_open_heads(&args).await?;
    let bodies = job_bodies(&args).await?;
    let report = report(&args, &heads, &bodies);
    print!("{report}");
    std::fs::write(&args.out, report).with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}

/// A gateway process on a free port, a SQLite file store in a fresh directory and no vendor.
struct Gateway {
    child: Child,
    address: String,
    dir: PathBuf,
}

impl Gateway {
    async fn start(bin: &Path, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("signgate-hostile-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let store = format!("sqlite://{}/signgate.db", dir.display());
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env("SIGNGATE__AUTH__API_KEY", API_KEY)
            .env("SIGNGATE__SERVER__LISTEN", "127.0.0.1:0")
            .env("SIGNGATE__STORE__URL", store)
            .env("SIGNGATE__LOG__LEVEL", "warn,signgate=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().context("starting signgate")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines
                .next_line()
                .await?
                .context("signgate exited before listening")?;
            if line.contains("signgate is listening.") {
                let value: serde_json::Value = serde_json::from_str(&line)?;
                break value["address"].as_str().context("address")?.to_owned();
            }
        };
        // Keep reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            address,
            dir,
        })
    }

    /// The process's resident memory and its peak so far, in KiB (`VmRSS`, `VmHWM`).
    fn memory_kb(&self) -> (u64, u64) {
        let status = self
            .child
            .id()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Asks `/livez` every 100 ms on a fresh connection until `stop` is set.
async fn watch_livez(address: String, stop: Arc<AtomicBool>) -> Livez {
    let mut livez = Livez::default();
    while !stop.load(Ordering::Relaxed) {
        livez.asked += 1;
        let started = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(5), async {
            let mut stream = TcpStream::connect(&address).await?;
            stream
                .write_all(b"GET /livez HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                .await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            anyhow::Ok(answer)
        })
        .await;
        if let Ok(Ok(answer)) = answer {
            if answer.starts_with(b"HTTP/1.1 200") {
                livez.answered += 1;
                livez.slowest = livez.slowest.max(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    livez
}

/// Scenario 1: `connections` connections each send `head_bytes` of a head that never ends, and
/// stay open for 5 s (half the default header timeout).
async fn half_open_heads(args: &Args) -> anyhow::Result<Figures> {
    // One slot more than the attack, for /livez.
    let slots = (args.connections + 16).to_string();
    let gateway =
        Gateway::start(&args.bin, &[("SIGNGATE__SERVER__MAX_CONNECTIONS", &slots)]).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, _) = gateway.memory_kb();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_livez(gateway.address.clone(), Arc::clone(&stop)));
    let mut head = b"GET /livez HTTP/1.1\r\nHost: bench\r\n".to_vec();
    while head.len() < args.head_bytes {
        let room = args.head_bytes - head.len();
        let value = "a".repeat(room.saturating_sub(12).clamp(1, 4000));
        head.extend_from_slice(format!("X-Pad: {value}\r\n").as_bytes());
    }
    head.truncate(args.head_bytes);
    let head = Arc::new(head);
    let started = Instant::now();
    let mut streams = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let mut stream = TcpStream::connect(&gateway.address).await?;
        let head = Arc::clone(&head);
        streams.push(tokio::spawn(async move {
            stream.write_all(&head).await?;
            anyhow::Ok(stream)
        }));
    }
    let mut open = Vec::with_capacity(streams.len());
    for stream in streams {
        open.push(stream.await??);
    }
    let sent_in = started.elapsed();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(5) {
        peak = peak.max(gateway.memory_kb().1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(open);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (after, hwm) = gateway.memory_kb();
    stop.store(true, Ordering::Relaxed);
    let livez = watcher.await?;
    gateway.stop().await;
    Ok(Figures {
        rss_before_kb: before,
        peak_rss_kb: peak.max(hwm),
        livez,
        detail: format!(
            "{} connections, each {} bytes of an unfinished head, all sent in {:.1} s and held \
             open for 5 s; RSS {} MB half a second after they closed",
            args.connections,
            args.head_bytes,
            sent_in.as_secs_f64(),
            after / 1024
        ),
    })
}

/// Scenario 2: `bodies` clients each send a job body of `body_bytes` (valid JSON, `codes`
/// codes no rule routes, padded with spaces) at once.
async fn job_bodies(args: &Args) -> anyhow::Result<Figures> {
    let gateway = Gateway::start(&args.bin, &[]).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, _) = gateway.memory_kb();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_livez(gateway.address.clone(), Arc::clone(&stop)));
    let started = Instant::now();
    let mut clients = Vec::with_capacity(args.bodies);
    for client in 0..args.bodies {
        let codes: Vec<String> = (0..args.codes)
            .map(|i| format!("\"nowhere:hostile-{client}-{i}\""))
            .collect();
        let mut body = format!(
            r#"{{"codes":[{}],"message":"hostile bench","email":"bench@example.com"}}"#,
            codes.join(",")
        )
        .into_bytes();
        if body.len() > args.body_bytes {
            bail!(
                "{} codes do not fit in {} bytes",
                args.codes,
                args.body_bytes
            );
        }
        body.resize(args.body_bytes, b' ');
        let address = gateway.address.clone();
        clients.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&address).await?;
            let head = format!(
                "POST /documents/cancel/jobs HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer \
                 {API_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            let status =
                String::from_utf8_lossy(answer.get(9..12).unwrap_or_default()).into_owned();
            anyhow::Ok(status)
        }));
    }
    let mut peak = 0;
    let mut statuses = std::collections::BTreeMap::<String, u32>::new();
    for client in clients {
        while !client.is_finished() {
            peak = peak.max(gateway.memory_kb().1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let status = client.await?.unwrap_or_else(|e| format!("error: {e}"));
        *statuses.entry(status).or_default() += 1;
    }
    let took = started.elapsed();
    let (_, hwm) = gateway.memory_kb();
    stop.store(true, Ordering::Relaxed);
    let livez = watcher.await?;
    gateway.stop().await;
    let statuses: Vec<String> = statuses.iter().map(|(s, n)| format!("{n} x {s}")).collect();
    Ok(Figures {
        rss_before_kb: before,
        peak_rss_kb: peak.max(hwm),
        livez,
        detail: format!(
            "{} clients at once, each a {}-byte job body of {} codes; answers {} in {:.1} s",
            args.bodies,
            args.body_bytes,
            args.codes,
            statuses.join(", "),
            took.as_secs_f64()
        ),
    })
}

fn report(args: &Args, heads: &Figures, bodies: &Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Hostile clients\n");
    let _ = writeln!(
        out,
        "Written by `bash bench/hostile.sh` (bench/hostile.rs) against `{}`, with the default \
         limits except `server.max_connections` in the first scenario (one slot per attacking \
         connection, and a few for `/livez`). Peak is the process's `VmHWM`.\n",
        args.bin.display()
    );
    let _ = writeln!(
        out,
        "| scenario | target | RSS before | peak RSS | /livez answered | slowest /livez |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (name, target, figures) in [
        ("half-open heads", "<= 160 MB", heads),
        ("concurrent job bodies", "<= 96 MB", bodies),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {target} | {:.1} MB | {:.1} MB | {} of {} | {} ms |",
            figures.rss_before_kb as f64 / 1024.0,
            figures.peak_rss_kb as f64 / 1024.0,
            figures.livez.answered,
            figures.livez.asked,
            figures.livez.slowest.as_millis()
        );
    }
    let _ = writeln!(out);
    for (name, figures) in [
        ("Half-open heads", heads),
        ("Concurrent job bodies", bodies),
    ] {
        let _ = writeln!(out, "- {name}: {}.", figures.detail);
    }
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "\nMachine: {cores} cores, {machine}.");
    out
}
