//! The cost of the retention purge on the cancel path: fills a SQLite file and a Postgres
//! database with a few million finished audit rows spread over 500 days, then writes audit rows
//! the way cancels do (`insert_pending`, then `finish`, 100 requests a second) without and with
//! the purge deleting everything older than 400 days (`retention::purge`, default pace), and
//! prints the write latencies, the purge's speed, the bytes per row of each store and the plan
//! of the purge statement. Uses its own SQLite file and Postgres database, removed at the end.
//!
//! `cargo run --release --example retention -- [ROWS] [POSTGRES_SERVER_URL]`
//! (defaults: 2000000, `postgres://postgres@127.0.0.1:5432/postgres`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signgate::retention::{self, Pace};
use signgate::store::{AuditRow, RowStatus, Store, Timestamp, PURGE_AUDIT};
// Every statement here is built from constants (and a UUID's hex digits), never from input.
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

/// Days the filled rows are spread over; with the 400-day retention, the oldest fifth goes.
const SPAN_DAYS: i64 = 500;
/// The retention the purge applies.
const RETENTION: Duration = Duration::from_secs(400 * 86_400);
/// One-document cancel requests per second while measuring.
const RATE: u64 = 100;
/// How long the cancel load runs before anything is measured.
const WARM_UP: Duration = Duration::from_secs(3);
/// How long the cancel load runs without the purge.
const BASELINE: Duration = Duration::from_secs(20);

/// The columns both fill statements write, in their order.
const COLUMNS: &str = "attempt_id, request_id, position, idempotency_key, received_at, \
    finished_at, email, message, code, vendor, vendor_code, status, error_code, vendor_status, \
    vendor_calls, notify_signers, error_message, outcome_unknown, queued";

/// SQLite: `?1` rows, `?2` first received_at, `?3` milliseconds between rows. Four documents
/// per request, every other request with an `Idempotency-Key`, UUID-shaped ids and codes.
fn sqlite_fill() -> String {
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) \
         INSERT INTO audit_events ({COLUMNS}) SELECT \
         printf('%08x-0000-4000-8000-%012x', i / 4, i / 4), \
         printf('%08x-1111-4000-8000-%012x', i / 4, i / 4), i % 4, \
         CASE WHEN (i / 4) % 2 = 0 THEN printf('order-%d', i / 4) END, \
         ?2 + i * ?3, ?2 + i * ?3 + 350, 'ops@example.com', 'Contract withdrawn by the customer', \
         printf('%08x-2222-4000-8000-%012x', i, i), 'zapsign', \
         printf('%08x-2222-4000-8000-%012x', i, i), 'cancelled', NULL, 200, 1, 1, NULL, 0, 0 \
         FROM n"
    )
}

/// Postgres: the same rows as `sqlite_fill`, from `generate_series`.
fn postgres_fill() -> String {
    let uuid = |group: &str, n: &str| {
        format!("lpad(to_hex({n}), 8, '0') || '-{group}-4000-8000-' || lpad(to_hex({n}), 12, '0')")
    };
    format!(
        "INSERT INTO audit_events ({COLUMNS}) SELECT {}, {}, i % 4, \
         CASE WHEN (i / 4) % 2 = 0 THEN 'order-' || (i / 4) END, \
         $2 + i * $3, $2 + i * $3 + 350, 'ops@example.com', 'Contract withdrawn by the customer', \
         {}, 'zapsign', {}, 'cancelled', NULL, 200, 1, TRUE, NULL, FALSE, FALSE \
         FROM generate_series(0::BIGINT, $1 - 1) AS i",
        uuid("0000", "i / 4"),
        uuid("1111", "i / 4"),
        uuid("2222", "i"),
        uuid("2222", "i"),
    )
}

/// Direct access to the bench database, past the store.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    /// Fills `rows` rows ending now; returns the time it took.
    async fn fill(&self, rows: i64) -> Duration {
        let span_ms = SPAN_DAYS * 86_400_000;
        let first = Timestamp::now().as_millis() - span_ms;
        let step = span_ms / rows;
        let started = Instant::now();
        match self {
            Self::Sqlite(pool) => {
                sqlx::query(AssertSqlSafe(sqlite_fill()))
                    .bind(rows)
                    .bind(first)
                    .bind(step)
                    .execute(pool)
                    .await
                    .expect("fill SQLite");
            }
            Self::Postgres(pool) => {
                sqlx::query(AssertSqlSafe(postgres_fill()))
                    .bind(rows)
                    .bind(first)
                    .bind(step)
                    .execute(pool)
                    .await
                    .expect("fill Postgres");
                sqlx::query("ANALYZE audit_events")
                    .execute(pool)
                    .await
                    .expect("analyze");
            }
        }
        started.elapsed()
    }

    /// Bytes the audit table and its indexes take.
    async fn audit_bytes(&self) -> i64 {
        match self {
            Self::Sqlite(pool) => sqlx::query_scalar(
                "SELECT SUM(pgsize) FROM dbstat WHERE name IN \
                 (SELECT name FROM sqlite_schema WHERE tbl_name = 'audit_events')",
            )
            .fetch_one(pool)
            .await
            .expect("dbstat"),
            Self::Postgres(pool) => {
                sqlx::query_scalar("SELECT pg_total_relation_size('audit_events')")
                    .fetch_one(pool)
                    .await
                    .expect("pg_total_relation_size")
            }
        }
    }

    /// The plan of one purge statement, one line per step.
    async fn purge_plan(&self) -> String {
        let before = Timestamp::now().saturating_sub(RETENTION).as_millis();
        let now = Timestamp::now().as_millis();
        let batch = i64::from(retention::BATCH);
        let lines: Vec<String> = match self {
            Self::Sqlite(pool) => {
                let steps: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {PURGE_AUDIT}")))
                        .bind(before)
                        .bind(now)
                        .bind(batch)
                        .fetch_all(pool)
                        .await
                        .expect("a plan");
                steps.into_iter().map(|step| step.3).collect()
            }
            Self::Postgres(pool) => {
                sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN {PURGE_AUDIT}")))
                    .bind(before)
                    .bind(now)
                    .bind(batch)
                    .fetch_all(pool)
                    .await
                    .expect("a plan")
            }
        };
        lines.join("\n")
    }

    async fn close(self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// Write latencies of the cancel load.
#[derive(Default)]
struct Latencies {
    insert: Vec<Duration>,
    finish: Vec<Duration>,
}

/// A fresh one-document request's row, received now.
fn load_row(n: u64) -> AuditRow {
    let now = Timestamp::now();
    AuditRow {
        attempt_id: format!("load-{n:012}-0000-4000-8000-000000000000"),
        request_id: format!("load-{n:012}-1111-4000-8000-000000000000"),
        position: 0,
        idempotency_key: None,
        received_at: now,
        finished_at: None,
        email: "ops@example.com".to_owned(),
        message: "Contract withdrawn by the customer".to_owned(),
        code: format!("{n:08x}-3333-4000-8000-000000000000"),
        vendor: Some("zapsign".to_owned()),
        vendor_code: Some(format!("{n:08x}-3333-4000-8000-000000000000")),
        status: RowStatus::Pending,
        error_code: None,
        vendor_status: None,
        vendor_calls: 0,
        notify_signers: true,
        error_message: None,
        outcome_unknown: false,
        recovered_at: None,
        recovered_by: None,
        vendor_state: None,
        queued: false,
        confirm_at: None,
    }
}

/// One request's audit writes, timed.
async fn one_request(store: Arc<dyn Store>, n: u64, out: Arc<Mutex<Latencies>>) {
    let mut row = load_row(n);
    let started = Instant::now();
    store
        .insert_pending(std::slice::from_ref(&row))
        .await
        .expect("insert_pending");
    let inserted = started.elapsed();
    row.status = RowStatus::Done(signgate::model::Status::Cancelled);
    row.finished_at = Some(Timestamp::now());
    row.vendor_status = Some(200);
    row.vendor_calls = 1;
    let started = Instant::now();
    store
        .finish(std::slice::from_ref(&row))
        .await
        .expect("finish");
    let finished = started.elapsed();
    let mut out = out.lock().expect("latencies");
    out.insert.push(inserted);
    out.finish.push(finished);
}

/// Runs the cancel load at `RATE` until `stop` resolves; `first` numbers its rows.
async fn cancel_load(
    store: &Arc<dyn Store>,
    first: u64,
    stop: impl std::future::Future<Output = ()>,
) -> Latencies {
    let out = Arc::new(Mutex::new(Latencies::default()));
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut requests = Vec::new();
    tokio::pin!(stop);
    let mut n = first;
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => {
                requests.push(tokio::spawn(one_request(Arc::clone(store), n, Arc::clone(&out))));
                n += 1;
            }
        }
    }
    for request in requests {
        request.await.expect("a request panicked");
    }
    let mut latencies = std::mem::take(&mut *out.lock().expect("latencies"));
    latencies.insert.sort();
    latencies.finish.sort();
    latencies
}

fn millis(sorted: &[Duration], p: f64) -> String {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.2}", sorted[index].as_secs_f64() * 1e3)
}

fn latency_row(store: &str, phase: &str, l: &Latencies) {
    println!(
        "| {store} | {phase} | {} | {} | {} | {} | {} | {} |",
        l.insert.len(),
        millis(&l.insert, 0.5),
        millis(&l.insert, 0.99),
        millis(&l.finish, 0.5),
        millis(&l.finish, 0.99),
        millis(
            &[l.insert[l.insert.len() - 1].max(l.finish[l.finish.len() - 1])],
            1.0
        ),
    );
}

/// Everything measured on one store.
async fn measure(name: &str, url: &str, raw: Raw, rows: i64) {
    let store = signgate::store::connect(url)
        .await
        .expect("the bench store");
    let filled = raw.fill(rows).await;
    let bytes = raw.audit_bytes().await;
    println!(
        "{name}: filled {rows} rows in {:.1} s; audit table with indexes {:.0} MB, {} bytes per row",
        filled.as_secs_f64(),
        bytes as f64 / 1e6,
        bytes / rows
    );
    println!(
        "{name}: plan of one purge statement:\n```\n{}\n```",
        raw.purge_plan().await
    );

    // A warm-up, discarded: the first writes after the fill pay for its checkpoint.
    cancel_load(&store, 0, tokio::time::sleep(WARM_UP)).await;
    let baseline = cancel_load(&store, 100_000, tokio::time::sleep(BASELINE)).await;
    let purging = Arc::clone(&store);
    let purge = tokio::spawn(async move {
        let started = Instant::now();
        let purged = retention::purge(
            purging.as_ref(),
            Some(RETENTION),
            Timestamp::now(),
            Pace::default(),
        )
        .await
        .expect("the purge");
        (purged, started.elapsed())
    });
    let (done, finished) = tokio::sync::oneshot::channel();
    let watcher = tokio::spawn(async move {
        let result = purge.await.expect("the purge panicked");
        let _ = done.send(());
        result
    });
    let during = cancel_load(&store, 1_000_000, async {
        let _ = finished.await;
    })
    .await;
    let (purged, took) = watcher.await.expect("the watcher");
    println!(
        "{name}: purged {} rows in {} statements, {:.1} s ({:.0} rows/s); {:.1} ms per statement",
        purged.audit_rows,
        purged.statements,
        took.as_secs_f64(),
        purged.audit_rows as f64 / took.as_secs_f64(),
        purged.busy.as_secs_f64() * 1e3 / f64::from(purged.statements.max(1)),
    );
    println!();
    println!("| store | phase | requests | insert p50 ms | insert p99 ms | finish p50 ms | finish p99 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    latency_row(name, "no purge", &baseline);
    latency_row(name, "purge running", &during);
    println!();
    store.close().await;
    raw.close().await;
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rows: i64 = args
        .next()
        .map_or(2_000_000, |n| n.parse().expect("ROWS is a whole number"));
    let server = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());

    let path = std::env::temp_dir().join(format!(
        "signgate-bench-retention-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}", path.display());
    // Opening the store first creates the file and its schema; the raw pool then fills it.
    let store = signgate::store::connect(&url).await.expect("SQLite store");
    store.close().await;
    let raw = Raw::Sqlite(SqlitePool::connect(&url).await.expect("SQLite"));
    measure("SQLite", &url, raw, rows).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }

    let admin = PgPool::connect(&server).await.expect("Postgres answers");
    let name = format!("signgate_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create the bench database");
    let mut pg_url = reqwest::Url::parse(&server).expect("a URL");
    pg_url.set_path(&format!("/{name}"));
    let store = signgate::store::connect(pg_url.as_str())
        .await
        .expect("Postgres store");
    store.close().await;
    let raw = Raw::Postgres(PgPool::connect(pg_url.as_str()).await.expect("Postgres"));
    measure("Postgres", pg_url.as_str(), raw, rows).await;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
        .execute(&admin)
        .await
        .expect("drop the bench database");
}
