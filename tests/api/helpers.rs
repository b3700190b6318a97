//! `spawn_app()`: a gateway on a free port wired to one wiremock server per vendor kind of
//! `signgate::vendors::conformance::all()`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use signgate::settings::Settings;
use signgate::startup::Application;
use signgate::store::Store;
use signgate::vendors::conformance;
use tokio::sync::oneshot;
use wiremock::MockServer;

pub const API_KEY: &str = "test-api-key-0001";
pub const EMAIL: &str = "ops@example.com";
pub const MESSAGE: &str = "Cancelación por error en cláusula II";

/// One mock server per vendor kind of `conformance::all()`, by name.
pub struct MockVendors(BTreeMap<&'static str, MockServer>);

impl MockVendors {
    /// Starts one mock server per kind.
    pub async fn start() -> Self {
        let mut servers = BTreeMap::new();
        for kind in conformance::all() {
            servers.insert(kind.name(), MockServer::start().await);
        }
        Self(servers)
    }

    /// The mock server of vendor `name`.
    pub fn get(&self, name: &str) -> &MockServer {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no mock vendor named {name}"))
    }
}

/// A running gateway and its mock vendors.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub vendors: MockVendors,
    pub store: Arc<dyn Store>,
    _stop: oneshot::Sender<()>,
}

/// The variables every test app gets: the API key, and each kind's base URL (on its mock
/// server) and test credentials. A kind whose default routing pattern an earlier kind has
/// already (DocuSign's envelope IDs are UUIDs, like ZapSign's tokens) is left unconfigured,
/// so that UUIDs go to ZapSign without a search for their owner; `tests/api/discovery.rs`
/// covers the search, and each kind's conformance run configures that kind alone.
pub fn base_vars(vendors: &MockVendors) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("SIGNGATE__AUTH__API_KEY", API_KEY),
        ("SIGNGATE__SERVER__LISTEN", "127.0.0.1:0"),
        ("SIGNGATE__STORE__URL", "sqlite::memory:"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for name in base_kinds() {
        let kind = signgate::vendors::KINDS
            .iter()
            .find(|k| k.name() == name)
            .expect("a kind")
            .conformance();
        vars.extend(kind.vars(&vendors.get(kind.name()).uri()));
    }
    vars
}

/// The kinds `base_vars` configures (turns on): each whose default routing patterns no
/// earlier kind has already.
pub fn base_kinds() -> Vec<&'static str> {
    let mut patterns = Vec::new();
    let mut names = Vec::new();
    for kind in signgate::vendors::KINDS {
        let shared = kind.default_rules().iter().any(|p| patterns.contains(p));
        patterns.extend(kind.default_rules());
        if !shared {
            names.push(kind.name());
        }
    }
    names
}

/// A request deadline of `deadline_ms` with every vendor's timeout at `vendor_ms`: the
/// variables a test that shortens the deadline sets, since a vendor's timeout must stay below
/// it, for every vendor `base_vars` turns on.
pub fn short_deadline(deadline_ms: u64, vendor_ms: u64) -> Vec<(String, String)> {
    let vendors = base_kinds().into_iter().map(|name| {
        let key = format!("SIGNGATE__VENDORS__{}__TIMEOUT_MS", name.to_uppercase());
        (key, vendor_ms.to_string())
    });
    let deadline = (
        "SIGNGATE__SERVER__REQUEST_TIMEOUT_MS".to_owned(),
        deadline_ms.to_string(),
    );
    std::iter::once(deadline).chain(vendors).collect()
}

/// Borrows owned variable pairs as `spawn_app_with` takes them.
pub fn pairs(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A gateway with the default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A gateway whose settings are changed by `SIGNGATE__...` pairs (the process environment is
/// not touched); an empty value removes the variable.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    spawn_app_configured(None, vars).await
}

/// A gateway whose settings are the defaults, then the TOML `overlay`, then `vars` as in
/// `spawn_app_with`.
pub async fn spawn_app_configured(overlay: Option<&str>, vars: &[(&str, &str)]) -> TestApp {
    init_test_log();
    let vendors = MockVendors::start().await;
    let mut env = base_vars(&vendors);
    for (key, value) in vars {
        if value.is_empty() {
            env.remove(*key);
        } else {
            env.insert((*key).to_owned(), (*value).to_owned());
        }
    }
    let settings = Settings::from_sources(None, overlay, env).expect("test settings are valid");
    let app = Application::build(settings).await.expect("the app builds");
    let address = app.local_addr().expect("bound");
    let store = app.store();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        vendors,
        store,
        _stop: stop,
    }
}

impl TestApp {
    /// The mock server of vendor `name`.
    pub fn vendor(&self, name: &str) -> &MockServer {
        self.vendors.get(name)
    }

    /// The gateway's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `POST /documents/cancel` with the API key and a JSON body.
    pub async fn cancel(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/documents/cancel"))
            .bearer_auth(API_KEY)
            .json(body)
            .send()
            .await
            .expect("the gateway answers")
    }

    /// Like `cancel`, expecting `200`, returning the JSON answer.
    pub async fn cancel_ok(&self, body: &Value) -> Value {
        let response = self.cancel(body).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("a JSON answer")
    }
}

/// A valid cancel body for these codes.
pub fn body_for(codes: &[&str]) -> Value {
    json!({"codes": codes, "message": MESSAGE, "email": EMAIL})
}

/// Logs to stdout when `TEST_LOG` is set; quiet otherwise.
fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
}

/// A loopback address where nothing listens.
pub fn refused_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}")
}

/// Polls `check` every 100 ms for at most 20 s.
pub async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The sum of the samples of metric `name` whose labels include every one of `labels`.
pub async fn metric(address: &str, name: &str, labels: &[&str]) -> f64 {
    let text = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
