//! signgate: one HTTP gateway to cancel e-signature documents at several vendors.
//!
//! The request path, as a tour of the modules: `server` accepts connections (the connection
//! cap, header-read and idle timeouts, the graceful drain) and hands each request to the
//! router that `startup` builds with its layers; `middleware` gives each request its id, span
//! and error envelope; `auth` checks the API key; `rate_limit` caps API requests per second;
//! `routes::pipeline` (shared by `routes::cancel` and the Auco drop-in `routes::auco`) parses
//! the body into a `cancellation::CancelCommand` and claims its `Idempotency-Key`
//! (`idempotency`); `cancellation::run` routes each code (`routing`; a code that several
//! vendors could hold is found by a status read, `cancellation::Gateway::locate`), writes
//! the `pending` audit rows (`audit`), groups the codes by vendor and calls them concurrently
//! under one deadline through `vendors` (the `Vendor` trait; `vendors::policy` retries and
//! reconciles, `vendors::wrap` adds the breaker, metrics, concurrency cap and pacing; each
//! vendor is a folder such as `vendors::auco`, registered in `vendors::KINDS`), and records
//! the outcomes; the results (`model`) become the Auco-style answer back in the endpoint's
//! own shape. `routes::status` reads states through `Gateway::locate` and the vendors'
//! wrapped status reads. `state::AppState` is what requests share; `store` (SQLite or Postgres)
//! holds keys and the audit trail. `recovery` resolves what a dead process left `pending`, and
//! answers that had to say "outcome unknown", and confirms cancels a vendor queued;
//! `retention` deletes audit rows and code owners older than `store.audit_retention_days`,
//! in paced batches. `jobs` runs bulk cancellations past any request's deadline: the
//! documents of `routes::jobs` are claimed in slices by every replica's `jobs::runner`, sent
//! through the same `Gateway` at background priority, and announced by a signed callback.
//! Request-level failures are `error::ApiError`;
//! vendor failures are `vendors::UpstreamError` and become a document's outcome.
//! Beside the request path, `simulator` plays every vendor (state, latency, faults) for
//! tests and benchmarks, and `demo` wires it to the gateway for `signgate demo`. `cli` holds
//! the commands for people that use the HTTP API (`signgate cancel`, for bulk jobs).

pub mod audit;
pub mod auth;
pub mod cancellation;
pub mod cli;
pub mod demo;
pub mod error;
pub mod idempotency;
pub mod jobs;
pub mod metrics;
pub mod middleware;
pub mod model;
pub mod rate_limit;
pub mod recovery;
pub mod retention;
pub mod routes;
pub mod routing;
pub mod server;
pub mod settings;
pub mod simulator;
pub mod startup;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod vendors;
