//! The cost of shared pacing per ZapSign call: reservation latency for one caller and
//! throughput for 8 concurrent callers against a real Postgres, and the in-process pacer for
//! comparison. Creates its own database and drops it afterwards.
//!
//! `cargo run --release --example pacing -- postgres://postgres@127.0.0.1:5432/postgres`

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use signgate::model::Outcome;
use signgate::store::{Reservation, SharedLimits, StoreError};
use signgate::vendors::settings::RateLimit;
use signgate::vendors::wrap::pace::Paced;
use signgate::vendors::wrap::shared_pace::SharedPaced;
use signgate::vendors::{Answer, Batch, CallContext, Priority, Reply, Vendor};
use sqlx::postgres::PgPool;
use sqlx::AssertSqlSafe;

/// Calls per phase.
const CALLS: usize = 8000;
/// Concurrent callers in the group phase.
const CALLERS: usize = 8;

/// A ZapSign stand-in that answers at once, so only pacing is measured.
#[derive(Debug)]
struct Instant200;

#[async_trait]
impl Vendor for Instant200 {
    fn batch_size(&self) -> usize {
        1
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        let answer = Answer {
            outcome: Outcome::Cancelled,
            http_status: 200,
        };
        vec![Ok(answer); batch.codes.len()]
    }
}

/// The store's shared limits, counting reservation statements.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn SharedLimits>,
    statements: AtomicI64,
}

#[async_trait]
impl SharedLimits for Counting {
    async fn reserve_calls(
        &self,
        key: &str,
        calls: u32,
        window: Duration,
        max_waits: &[Duration],
    ) -> Result<Vec<Option<Reservation>>, StoreError> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.inner
            .reserve_calls(key, calls, window, max_waits)
            .await
    }
}

/// A limit no phase reaches: every reservation is granted at once.
fn limit() -> RateLimit {
    RateLimit {
        key: "zapsign:bench".to_owned(),
        calls: 1_000_000_000,
        window: Duration::from_secs(60),
    }
}

/// Sends `calls` one-document cancels through `vendor` from `callers` tasks; returns the
/// wall time and each call's latency, sorted.
async fn drive(vendor: Arc<dyn Vendor>, callers: usize, calls: usize) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let tasks = (0..callers).map(|_| {
        let vendor = Arc::clone(&vendor);
        tokio::spawn(async move {
            let codes = vec!["0a1b2c3d-0000-4000-8000-000000000001".to_owned()];
            let mut latencies = Vec::with_capacity(calls / callers);
            for _ in 0..calls / callers {
                let batch = Batch {
                    codes: &codes,
                    message: "bench",
                    email: "bench@example.com",
                    notify_signers: false,
                    ctx: CallContext {
                        request_id: "bench",
                        deadline: tokio::time::Instant::now() + Duration::from_secs(20),
                        priority: Priority::Interactive,
                    },
                };
                let call = Instant::now();
                let replies = vendor.cancel(&batch).await;
                assert!(replies[0].is_ok(), "a call failed: {replies:?}");
                latencies.push(call.elapsed());
            }
            latencies
        })
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|joined| joined.expect("a caller panicked"))
        .collect();
    let wall = started.elapsed();
    latencies.sort();
    (wall, latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// One table row: phase, callers, calls/s, p50, p99, mean (µs), statements per call.
fn row(
    phase: &str,
    callers: usize,
    wall: Duration,
    latencies: &[Duration],
    statements: Option<i64>,
) {
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    let per_call = statements.map_or("-".to_owned(), |s| {
        format!("{:.3}", s as f64 / latencies.len() as f64)
    });
    println!(
        "| {phase} | {callers} | {:.0} | {:.1} | {:.1} | {:.1} | {per_call} |",
        latencies.len() as f64 / wall.as_secs_f64(),
        micros(percentile(latencies, 0.5)),
        micros(percentile(latencies, 0.99)),
        micros(mean),
    );
}

/// One shared-pacing phase: a warm-up, then the measured calls, on one store pool.
async fn shared_phase(url: &str, phase: &str, callers: usize) {
    let pool = signgate::store::connect(url)
        .await
        .expect("the bench store");
    let store = Arc::new(Counting {
        inner: pool.shared_limits().expect("Postgres shares limits"),
        statements: AtomicI64::new(0),
    });
    let vendor: Arc<dyn Vendor> = Arc::new(SharedPaced::new(
        "zapsign",
        Arc::new(Instant200),
        limit(),
        store.clone(),
        signgate::vendors::wrap::DEFAULT_INTERACTIVE_RESERVE_PERCENT,
    ));
    drive(Arc::clone(&vendor), callers, 400).await;
    let before = store.statements.load(Ordering::Relaxed);
    let (wall, latencies) = drive(vendor, callers, CALLS).await;
    let ran = store.statements.load(Ordering::Relaxed) - before;
    pool.close().await;
    row(phase, callers, wall, &latencies, Some(ran));
}

/// The yardstick: one `SELECT 1` round trip on the same kind of pool, one caller.
async fn ping_phase(url: &str) {
    let store = signgate::store::connect(url)
        .await
        .expect("the bench store");
    let mut latencies = Vec::with_capacity(CALLS);
    let started = Instant::now();
    for _ in 0..CALLS {
        let call = Instant::now();
        store.ping().await.expect("a ping");
        latencies.push(call.elapsed());
    }
    let wall = started.elapsed();
    store.close().await;
    latencies.sort();
    row(
        "`SELECT 1` round trip (yardstick)",
        1,
        wall,
        &latencies,
        None,
    );
}

#[tokio::main]
async fn main() {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = PgPool::connect(&server).await.expect("Postgres answers");
    let name = format!("signgate_bench_{}", uuid::Uuid::new_v4().simple());
    // `name` is a constant and a UUID's hex digits: safe to splice.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create the bench database");
    let mut url = reqwest::Url::parse(&server).expect("a URL");
    url.set_path(&format!("/{name}"));

    println!("| pacer | callers | calls/s | p50 µs | p99 µs | mean µs | statements per call |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let local: Arc<dyn Vendor> = Arc::new(Paced::new(
        Arc::new(Instant200),
        1_000_000_000,
        Duration::from_secs(60),
        signgate::vendors::wrap::DEFAULT_INTERACTIVE_RESERVE_PERCENT,
    ));
    let (wall, latencies) = drive(Arc::clone(&local), 1, CALLS).await;
    row("in process (SQLite store)", 1, wall, &latencies, None);
    let (wall, latencies) = drive(local, CALLERS, CALLS).await;
    row("in process (SQLite store)", CALLERS, wall, &latencies, None);
    ping_phase(url.as_str()).await;
    shared_phase(url.as_str(), "shared (Postgres store)", 1).await;
    shared_phase(url.as_str(), "shared (Postgres store)", CALLERS).await;

    sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
        .execute(&admin)
        .await
        .expect("drop the bench database");
}
