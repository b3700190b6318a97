//! API tests over real TCP: one gateway per test, one wiremock server per vendor.

/// Runs each scenario (an `async fn(&str)` taking a store URL) twice: on an SQLite file and
/// on a fresh Postgres database. Used by the modules below, which import `Scratch`.
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $scenario() {
                let scratch = super::Scratch::sqlite();
                super::$scenario(&scratch.url).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $scenario() {
                if let Some(scratch) = super::Scratch::postgres(stringify!($scenario)).await {
                    super::$scenario(&scratch.url).await;
                }
            })*
        }
    };
}

mod auco_dropin;
mod callbacks;
mod cancel;
mod conformance;
mod connections;
mod d4sign;
mod discovery;
mod documented_configs;
mod durability;
mod helpers;
mod hostile_vendors;
mod http_errors;
mod job_crashes;
mod jobs;
mod monitoring;
mod process;
mod rate_limit;
mod recovery;
mod resilience;
#[path = "../support/scratch.rs"]
mod scratch;
mod shared_pacing;
mod status;
mod supervision;
