//! A throwaway Postgres database per test, created on the server named by
//! `SIGNGATE_TEST_POSTGRES_URL` and dropped afterwards. Shared by the test binaries.
//!
//! Without the variable, Postgres variants are not run (and say so); with it, a server that
//! does not answer fails the test loudly.

use sqlx::{Connection, Executor, PgConnection};

/// The variable naming the server, e.g. `postgres://postgres@127.0.0.1:5432`.
pub const VAR: &str = "SIGNGATE_TEST_POSTGRES_URL";

/// A database that lives as long as this value.
pub struct TestDatabase {
    server: String,
    name: String,
    /// The database's URL, for `store.url`.
    pub url: String,
}

impl TestDatabase {
    /// Creates a uniquely named database, or returns `None` when `VAR` is not set.
    pub async fn create() -> Option<Self> {
        let Ok(server) = std::env::var(VAR) else {
            eprintln!("{VAR} is not set: the Postgres variant of this test was not run");
            return None;
        };
        let server = server.trim_end_matches('/').to_owned();
        let name = format!("signgate_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("{VAR} is set but Postgres does not answer: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = format!("{server}/{name}");
        Some(Self { server, name, url })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = format!("{}/postgres", self.server);
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot block: use a thread of our own.
        let dropped = std::thread::spawn(
            move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let mut admin = PgConnection::connect(&admin_url).await?;
                    admin.execute(statement.as_str()).await?;
                    Ok(())
                })
            },
        )
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
