//! The cost of shared pacing per ZapSign call: reservation latency for one caller and
//! throughput for 8 concurrent callers against a real Postgres, and the in-process pacer for
//! comparison. Creates its own database and drops it afterwards.
//!
//! `cargo run --release --example pacing -- postgres://postgres@127.0.0.1:5432/postgres`

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use signgate::model::Outcome;
use signgate::settings::RateLimit;
use signgate::store::Store;
use signgate::vendors::pacing::Paced;
use signgate::vendors::shared_pacing::SharedPaced;
use signgate::vendors::{Answer, Batch, CallContext, Reply, Vendor};
use sqlx::postgres::PgPool;

/// Calls per phase.
const CALLS: usize = 4000;
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
        "| {phase} | {callers} | {:.0} | {:.0} | {:.0} | {:.0} | {per_call} |",
        latencies.len() as f64 / wall.as_secs_f64(),
        micros(percentile(latencies, 0.5)),
        micros(percentile(latencies, 0.99)),
        micros(mean),
    );
}

/// How many times the reservation function has run on the bench database (flushed by
/// backends when they exit, so read after closing the store's pool).
async fn statements(admin: &PgPool) -> i64 {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::BIGINT FROM pg_stat_user_functions \
         WHERE funcname = 'signgate_reserve_calls'",
    )
    .fetch_one(admin)
    .await
    .expect("function statistics")
}

/// One shared-pacing phase: a warm-up on its own pool, then the measured calls on a fresh one
/// (a pool's function counts reach the statistics when its connections close).
async fn shared_phase(url: &str, admin: &PgPool, phase: &str, callers: usize) {
    let (warm_up, warm_store) = shared(url).await;
    drive(warm_up, callers, 400).await;
    warm_store.close().await;
    let before = statements(admin).await;
    let (vendor, store) = shared(url).await;
    let (wall, latencies) = drive(vendor, callers, CALLS).await;
    store.close().await;
    let ran = statements(admin).await - before;
    row(phase, callers, wall, &latencies, Some(ran));
}

/// The stand-in vendor paced through a new store pool on `url`.
async fn shared(url: &str) -> (Arc<dyn Vendor>, Arc<dyn Store>) {
    let store = signgate::store::connect(url)
        .await
        .expect("the bench store");
    let vendor = SharedPaced::new("zapsign", Arc::new(Instant200), limit(), Arc::clone(&store));
    (Arc::new(vendor), store)
}

#[tokio::main]
async fn main() {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = PgPool::connect(&server).await.expect("Postgres answers");
    let name = format!("signgate_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create the bench database");
    sqlx::query(&format!("ALTER DATABASE {name} SET track_functions = 'pl'"))
        .execute(&admin)
        .await
        .expect("count function calls");
    let mut url = reqwest::Url::parse(&server).expect("a URL");
    url.set_path(&format!("/{name}"));
    let bench = PgPool::connect(url.as_str())
        .await
        .expect("the bench database");

    println!("| pacer | callers | calls/s | p50 µs | p99 µs | mean µs | statements per call |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let local: Arc<dyn Vendor> = Arc::new(Paced::new(
        Arc::new(Instant200),
        1_000_000_000,
        Duration::from_secs(60),
    ));
    let (wall, latencies) = drive(Arc::clone(&local), 1, CALLS).await;
    row("in process (SQLite store)", 1, wall, &latencies, None);
    let (wall, latencies) = drive(local, CALLERS, CALLS).await;
    row("in process (SQLite store)", CALLERS, wall, &latencies, None);
    shared_phase(url.as_str(), &bench, "shared (Postgres store)", 1).await;
    shared_phase(url.as_str(), &bench, "shared (Postgres store)", CALLERS).await;

    bench.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("drop the bench database");
}
