//! The simulator's test harness (a simulator on a loopback port) and the tests that hold for
//! every vendor; each vendor's own tests, faults included, live in its folder.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::*;

/// A simulator served on a free loopback port, stopped when dropped.
pub(crate) struct TestSim {
    /// The simulator, to seed and inspect.
    pub sim: Simulator,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client that sends a `User-Agent` and gives up after 5 s.
    pub http: reqwest::Client,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drop for TestSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestSim {
    /// Serves an empty simulator with `config`.
    pub async fn start(config: SimConfig) -> Self {
        let sim = Simulator::new(config);
        let (addr, task) = sim.spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
        let http = reqwest::Client::builder()
            .user_agent("simulator-tests")
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        Self {
            sim,
            addr,
            http,
            task,
        }
    }

    /// Serves a simulator with the demo documents.
    pub async fn demo() -> Self {
        let sim = Self::start(SimConfig::default()).await;
        sim.sim.seed_demo();
        sim
    }

    /// The URL of `path` at `vendor`.
    pub fn url(&self, vendor: &dyn SimVendor, path: &str) -> String {
        format!("{}{path}", vendor.base_url(self.addr))
    }
}

/// Sends and reads the answer as JSON (`null` when it is not JSON).
pub(crate) async fn read(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// The default configuration with `configure` applied to its faults.
pub(crate) fn faults(configure: impl FnOnce(&mut Faults)) -> SimConfig {
    let mut config = SimConfig::default();
    configure(&mut config.faults);
    config
}

#[test]
fn every_vendor_has_a_prefix_of_its_own_and_endpoints_of_distinct_names() {
    let vendors = vendors();
    for (i, vendor) in vendors.iter().enumerate() {
        for other in &vendors[i + 1..] {
            assert_ne!(vendor.name(), other.name());
            assert!(!vendor.prefix().starts_with(other.prefix()));
            assert!(!other.prefix().starts_with(vendor.prefix()));
        }
        let names: std::collections::HashSet<_> =
            vendor.endpoints().iter().map(|e| e.name).collect();
        assert_eq!(names.len(), vendor.endpoints().len(), "{}", vendor.name());
        assert!(
            vendor.endpoints().iter().any(|e| e.cancels),
            "{}",
            vendor.name()
        );
    }
}

#[test]
fn the_description_names_every_vendor_its_base_url_and_its_demo_documents() {
    let sim = Simulator::new(SimConfig::default());
    let addr: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let described = sim.describe(addr);
    let demo = describe_demo_documents();
    for vendor in vendors() {
        assert!(described.contains(&vendor.base_url(addr)), "{described}");
        for (_, value) in vendor.credentials() {
            assert!(described.contains(value), "{described}");
        }
        let rows = vendor.describe_demo();
        assert!(!rows.is_empty(), "{}", vendor.name());
        for (label, codes) in rows {
            assert!(demo.contains(label) && demo.contains(&codes), "{demo}");
        }
    }
}

#[tokio::test]
async fn every_endpoint_of_every_vendor_is_counted_from_zero_and_unknown_ones_stay_zero() {
    let t = TestSim::demo().await;
    for vendor in vendors() {
        for endpoint in vendor.endpoints() {
            assert_eq!(t.sim.calls(vendor.name(), endpoint.name), 0);
        }
    }
    assert_eq!(t.sim.calls("nosuchvendor", "cancel"), 0);
}

#[tokio::test]
async fn an_unknown_path_under_a_vendor_prefix_is_not_counted() {
    let t = TestSim::start(faults(|f| f.error_share = 1.0)).await;
    for vendor in vendors() {
        let (status, _) = read(t.http.get(t.url(*vendor, "/no/such/path"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", vendor.name());
        for endpoint in vendor.endpoints() {
            assert_eq!(t.sim.calls(vendor.name(), endpoint.name), 0);
        }
    }
}
