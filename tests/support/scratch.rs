//! A throwaway database per test: an SQLite file in the temp directory, or a Postgres database
//! on the server named by `SIGNGATE_TEST_POSTGRES_URL`. Removed when dropped, also when the
//! test panics. Shared by the test binaries.
//!
//! Without the variable, Postgres variants are not run (and say so); with it, a server that
//! does not answer fails the test loudly.

#![allow(dead_code)] // each test binary uses its own part of it

use std::path::PathBuf;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

/// The variable naming the Postgres server, e.g. `postgres://postgres@127.0.0.1:5432`.
pub const POSTGRES_URL_VAR: &str = "SIGNGATE_TEST_POSTGRES_URL";

/// One test's database.
pub struct Scratch {
    /// Its URL, for `store.url` or `store::connect`.
    pub url: String,
    place: Place,
}

enum Place {
    SqliteFile(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl Scratch {
    /// A new SQLite file (created on first connect).
    pub fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("signgate-test-{}.db", Uuid::new_v4().simple()));
        let url = format!("sqlite://{}", path.display());
        Self {
            url,
            place: Place::SqliteFile(path),
        }
    }

    /// A new Postgres database, or `None` (said on stdout) when the variable is not set.
    /// Panics when it is set and the server does not answer: never a silent skip.
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
        // `name` is `signgate_test_` and a UUID's hex digits: safe to splice.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("Postgres refused to create the test database {name}: {e}"));
        admin.close().await;
        let url = database_url(&server, &name);
        Some(Self {
            url,
            place: Place::Postgres { admin_url, name },
        })
    }

    /// A URL on the same database that can read but not write: SQLite opens the file with
    /// `mode=ro`; Postgres makes the database read-only and ends its sessions, so pools that
    /// reconnect are read-only too (the URL is then unchanged).
    pub async fn read_only_url(&self) -> String {
        match &self.place {
            Place::SqliteFile(_) => format!("{}?mode=ro", self.url),
            Place::Postgres { admin_url, name } => {
                let admin = admin_pool(admin_url).await;
                sqlx::query(AssertSqlSafe(format!(
                    "ALTER DATABASE {name} SET default_transaction_read_only = on"
                )))
                .execute(&admin)
                .await
                .expect("Postgres should make the test database read-only");
                end_sessions(&admin, name).await;
                admin.close().await;
                self.url.clone()
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match &self.place {
            Place::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.as_os_str().to_owned();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Place::Postgres { admin_url, name } => {
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

async fn drop_database(admin_url: &str, name: &str) {
    let admin = admin_pool(admin_url).await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
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
