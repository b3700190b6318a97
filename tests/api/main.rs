//! API tests over real TCP: one gateway per test, one wiremock server per vendor.

mod cancel;
mod conformance;
mod durability;
mod helpers;
mod http_errors;
mod process;
mod resilience;
#[path = "../support/scratch.rs"]
mod scratch;
mod shared_pacing;
