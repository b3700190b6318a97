//! The test harness: a fresh SQLite file or a fresh Postgres database per test, removed after.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use signgate::store::{connect, AuditRow, Begin, Store, Timestamp, STATUS_PENDING};
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::Barrier;
use uuid::Uuid;

/// The environment variable naming the Postgres server the Postgres variants use.
pub const POSTGRES_URL_VAR: &str = "SIGNGATE_TEST_POSTGRES_URL";

/// An arbitrary, fixed "now" (2023-11-14T22:13:20Z); scenarios move time explicitly.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// The `stale_after` every scenario passes to `begin`.
pub const STALE: Duration = Duration::from_secs(40);

/// The `ttl` every scenario passes to `begin`.
pub const TTL: Duration = Duration::from_secs(24 * 3600);

/// `T0` plus `millis`.
pub fn at(millis: u64) -> Timestamp {
    T0.saturating_add(Duration::from_millis(millis))
}

/// `begin` with the scenario-wide `STALE` and `TTL`, failing the test on a store error.
pub async fn begin(store: &dyn Store, key: &str, fingerprint: &str, now: Timestamp) -> Begin {
    store
        .begin(key, fingerprint, now, STALE, TTL)
        .await
        .expect("begin should reach the store")
}

/// Twenty `begin` calls on `key` at `now`, released together, alternating between the pools.
pub async fn race(pools: &[Arc<dyn Store>; 2], key: &str, now: Timestamp) -> Vec<Begin> {
    let barrier = Arc::new(Barrier::new(20));
    let calls = (0..20).map(|i| {
        let (store, barrier, key) = (
            Arc::clone(&pools[i % 2]),
            Arc::clone(&barrier),
            key.to_owned(),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            store.begin(&key, "fp-a", now, STALE, TTL).await
        })
    });
    join_all(calls)
        .await
        .into_iter()
        .map(|joined| {
            joined
                .expect("the task should not panic")
                .expect("begin should reach the store")
        })
        .collect()
}

pub fn count(answers: &[Begin], wanted: &Begin) -> usize {
    answers.iter().filter(|answer| *answer == wanted).count()
}

/// A pending audit row for document `position` of `request_id`.
pub fn pending(request_id: &str, position: u32, code: &str, received_at: Timestamp) -> AuditRow {
    AuditRow {
        request_id: request_id.to_owned(),
        position,
        idempotency_key: None,
        received_at,
        finished_at: None,
        email: "ops@example.com".to_owned(),
        message: "Contract withdrawn".to_owned(),
        code: code.to_owned(),
        vendor: Some("zapsign".to_owned()),
        vendor_code: Some(code.trim_start_matches("zapsign:").to_owned()),
        status: STATUS_PENDING.to_owned(),
        error_code: None,
        vendor_status: None,
        vendor_calls: 0,
    }
}

/// One test's store, on a database no other test sees.
pub struct Harness {
    /// The store under test.
    pub store: Arc<dyn Store>,
    url: String,
    scratch: Scratch,
}

impl Harness {
    /// A store on a new SQLite file in the temp directory.
    pub async fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("signgate-store-{}.db", Uuid::new_v4().simple()));
        let scratch = Scratch::SqliteFile(path.clone());
        let url = format!("sqlite://{}", path.display());
        let store = connect(&url).await.expect("a SQLite store on a temp file");
        Self {
            store,
            url,
            scratch,
        }
    }

    /// A store on a new Postgres database, or `None` (said on stdout) when `POSTGRES_URL_VAR`
    /// is not set. Panics when it is set and the server does not answer: never a silent skip.
    pub async fn postgres(test: &str) -> Option<Self> {
        let Ok(server) = std::env::var(POSTGRES_URL_VAR) else {
            println!(
                "{POSTGRES_URL_VAR} is not set: the Postgres variant of `{test}` was not run."
            );
            return None;
        };
        let name = format!("signgate_test_{}", Uuid::new_v4().simple());
        let admin_url = database_url(&server, "postgres");
        let admin = admin_pool(&admin_url).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("Postgres refused to create the test database {name}: {e}"));
        admin.close().await;
        let scratch = Scratch::PostgresDatabase {
            admin_url,
            name: name.clone(),
        };
        let url = database_url(&server, &name);
        let store = connect(&url)
            .await
            .unwrap_or_else(|e| panic!("could not open the Postgres store on {name}: {e}"));
        Some(Self {
            store,
            url,
            scratch,
        })
    }

    /// A second store (its own connection pool) on the same database.
    pub async fn another_pool(&self) -> Arc<dyn Store> {
        connect(&self.url)
            .await
            .expect("a second pool on the test database")
    }

    /// A store on the same database that can read but not write: SQLite opens the file with
    /// `mode=ro`; Postgres makes the database read-only and ends its sessions, so the harness
    /// store reconnects read-only.
    pub async fn read_only_store(&self) -> Arc<dyn Store> {
        match &self.scratch {
            Scratch::SqliteFile(_) => connect(&format!("{}?mode=ro", self.url))
                .await
                .expect("a read-only SQLite store"),
            Scratch::PostgresDatabase { admin_url, name } => {
                let admin = admin_pool(admin_url).await;
                sqlx::query(&format!(
                    "ALTER DATABASE {name} SET default_transaction_read_only = on"
                ))
                .execute(&admin)
                .await
                .expect("Postgres should make the test database read-only");
                end_sessions(&admin, name).await;
                admin.close().await;
                Arc::clone(&self.store)
            }
        }
    }
}

/// What a test created outside the process; removed when dropped, also when the test panics.
enum Scratch {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match self {
            Self::SqliteFile(path) => remove_sqlite_files(path),
            Self::PostgresDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop may run inside the test's runtime, which cannot be blocked on: use a
                // thread with a runtime of its own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime to drop the test database");
                    runtime.block_on(drop_database(&admin_url, &name));
                })
                .join();
                if dropped.is_err() {
                    eprintln!("A test database could not be dropped; see the panic above.");
                }
            }
        }
    }
}

fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    let admin = admin_pool(admin_url).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("Postgres refused to drop the test database {name}: {e}"));
    admin.close().await;
}

/// Ends every session on `name` and waits until Postgres reports none left.
async fn end_sessions(admin: &PgPool, name: &str) {
    const SESSIONS: &str = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1";
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(admin)
        .await
        .expect("Postgres should end the test database's sessions");
    for _ in 0..200 {
        let left: i64 = sqlx::query_scalar(SESSIONS)
            .bind(name)
            .fetch_one(admin)
            .await
            .expect("Postgres should count sessions");
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the sessions on {name} did not end within 5 s");
}

async fn admin_pool(admin_url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(admin_url)
        .await
        .unwrap_or_else(|e| {
            panic!("{POSTGRES_URL_VAR} is set but its Postgres server does not answer: {e}")
        })
}

/// The server URL with its database replaced by `database`.
fn database_url(server: &str, database: &str) -> String {
    let mut url = reqwest::Url::parse(server)
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is not a URL: {e}"));
    url.set_path(&format!("/{database}"));
    url.to_string()
}
