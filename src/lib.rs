//! signgate: one HTTP gateway to cancel e-signature documents at Auco and ZapSign.
//!
//! The request path, as a tour of the modules: `server` accepts connections (the connection
//! cap, header-read and idle timeouts, the graceful drain) and hands each request to the
//! router that `startup` builds with its layers; `middleware` gives each request its id, span
//! and error envelope; `auth` checks the API key; `rate_limit` caps API requests per second;
//! `routes::cancel` parses the body into a `cancellation::CancelCommand`; `cancellation` routes
//! each code (`routing`), groups the codes by vendor and calls them concurrently under one
//! deadline through `vendors` (the `Vendor` trait, wrapped by `vendors::resilience`, implemented
//! by `vendors::auco` and `vendors::zapsign`); the results (`model`) are merged into the
//! Auco-style answer back in `routes::cancel`. Around the vendor calls, `audit` writes a
//! `pending` row per document before any call and the outcome after, and `idempotency` makes
//! client retries safe; both sit on `store` (SQLite or Postgres). `recovery` resolves what a
//! dead process left `pending`, and answers that had to say "outcome unknown". Request-level failures are `error::ApiError`;
//! vendor failures are `vendors::UpstreamError` and become a document's outcome.
//! Beside the request path, `simulator` plays Auco and ZapSign (state, latency, faults) for
//! tests and benchmarks, and `demo` wires it to the gateway for `signgate demo`.

pub mod audit;
pub mod auth;
pub mod cancellation;
/// Test support: the vendor conformance suite (`Scenario`, `Conformance`, `all()`). Its file
/// sits with the vendors; it is declared here only until `vendors/mod.rs` takes the line.
#[path = "vendors/conformance.rs"]
pub mod conformance;
pub mod demo;
pub mod error;
pub mod idempotency;
pub mod metrics;
pub mod middleware;
pub mod model;
pub mod rate_limit;
pub mod recovery;
pub mod routes;
pub mod routing;
pub mod server;
pub mod settings;
pub mod simulator;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod vendors;
