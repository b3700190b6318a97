//! The conformance suite: every `Scenario` against every kind of `conformance::all()`, through
//! a gateway and the kind's mock vendor (`vendors::conformance::runner`, shared with the
//! library's unit tests). What each vendor answers, and what a cancel must
//! then report, lives with the vendor (`src/vendors/<kind>/conformance.rs`); nothing here
//! names one, so a new kind runs the whole suite without editing this file.

use futures::future::join_all;
use signgate::vendors::conformance::{self, runner};

#[tokio::test]
async fn every_kind_reports_every_scenario_as_its_conformance_says() {
    // Kinds run side by side; each kind's scenarios one after the other, so a loaded machine
    // does not push ordinary answers past the short vendor timeout.
    let kinds = conformance::all().into_iter().map(runner::run_all);

    let mismatches: Vec<String> = join_all(kinds).await.into_iter().flatten().collect();

    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
