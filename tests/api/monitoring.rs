//! The Grafana dashboard and the Prometheus rules in `deploy/monitoring/` use only metrics that
//! signgate exports, and every alert's runbook link lands on a section of `docs/runbook.md`.
//!
//! The exported families come from a real scrape of `/metrics` after traffic that makes each
//! family appear: a cancel that zapsign first answers `503` (a retry, vendor calls by outcome,
//! both histograms, the in-flight gauge), an unroutable code (a failed document). The breaker
//! gauge and the shed counter exist from start-up; `signgate_ready` is set by the scrape. A
//! second test sheds a request and sees the shed counter go up.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const ZAPSIGN_DOC: &str = "0a1b2c3d-0000-4000-8000-000000000001";

/// Series Prometheus itself makes, not signgate.
const PROMETHEUS_OWN: [&str; 1] = ["up"];

/// PromQL words that look like identifiers.
const KEYWORDS: [&str; 12] = [
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
];

#[tokio::test]
async fn the_dashboard_and_the_alerts_use_only_exported_metrics() {
    let app = spawn_app().await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(zapsign)
        .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(zapsign)
        .await;
    app.cancel_ok(&body_for(&[ZAPSIGN_DOC, "lower-case"])).await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("the gateway answers")
        .text()
        .await
        .expect("text");
    let exported = Families::parse(&text);

    let used: BTreeSet<String> = dashboard_exprs()
        .iter()
        .chain(&rule_exprs())
        .flat_map(|expr| metric_names(expr))
        .collect();

    assert!(used.len() >= 10, "too few metric names found: {used:?}");
    let missing = exported.missing(&used);
    assert!(
        missing.is_empty(),
        "used but not exported: {missing:?}\nexported: {:?}",
        exported.0
    );
}

#[tokio::test]
async fn a_request_beyond_max_in_flight_counts_as_shed_overloaded() {
    let app = spawn_app_with(&[("SIGNGATE__SERVER__MAX_IN_FLIGHT", "1")]).await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(zapsign)
        .await;
    let before = shed_overloaded(&app).await;

    let body = body_for(&[ZAPSIGN_DOC]);
    let slow = app.cancel(&body);
    let shed = async {
        // The first request holds the only slot once zapsign has it.
        while zapsign
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.cancel(&body).await
    };
    let (slow, shed) = tokio::join!(slow, shed);

    assert_eq!(slow.status(), 200);
    assert_eq!(shed.status(), 503);
    // Other tests of this process share the recorder: they may only add to the count.
    assert!(shed_overloaded(&app).await >= before + 1.0);
}

/// The value of `signgate_shed_requests_total{reason="overloaded"}` in a scrape of `app`.
async fn shed_overloaded(app: &TestApp) -> f64 {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .expect("the gateway answers")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix("signgate_shed_requests_total{reason=\"overloaded\"} "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no overloaded shed counter in\n{text}"))
}

#[test]
fn a_misspelt_or_unknown_name_is_reported_and_histogram_series_are_known() {
    let exported = Families::parse(
        "# TYPE signgate_http_requests_total counter\n\
         signgate_http_requests_total{route=\"/x\"} 1\n\
         # TYPE signgate_http_request_duration_seconds histogram\n",
    );
    let used = metric_names(
        "sum(rate(signgate_http_request_total[5m])) \
         + histogram_quantile(0.9, sum by (le) (rate(signgate_http_request_duration_seconds_bucket[5m]))) \
         + signgate_http_requests_total_count",
    );

    assert_eq!(
        exported.missing(&used),
        [
            "signgate_http_request_total",
            "signgate_http_requests_total_count"
        ]
    );
}

#[test]
fn names_are_taken_outside_label_matchers_strings_ranges_and_groupings() {
    let names = metric_names(
        r#"(count(up{job="signgate"} == 1 and on (job, instance) signgate_ready{job=~"$job"} == 1) or vector(0)) == 0
           or sum by (vendor) (a_total{x="b_total"} unless a_total offset 5m) / ignoring(le) c[$__rate_interval]"#,
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names, ["a_total", "c", "signgate_ready", "up"]);
}

#[test]
fn every_runbook_link_lands_on_a_section_of_the_runbook() {
    let alerts = read("deploy/monitoring/alerts.yaml");
    let runbook = read("docs/runbook.md");
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(anchor_of)
        .collect();
    let alert_count = alerts.matches("- alert: ").count();
    let links: Vec<&str> = alerts
        .lines()
        .filter_map(|line| line.trim().strip_prefix("runbook_url: docs/runbook.md#"))
        .collect();

    assert!(alert_count >= 5, "the rules hold {alert_count} alerts");
    assert_eq!(links.len(), alert_count, "one runbook_url per alert");
    for link in links {
        assert!(
            anchors.contains(link),
            "no section #{link} in docs/runbook.md"
        );
    }
}

/// The metric families of a Prometheus text exposition, from its `# TYPE` lines.
struct Families(BTreeSet<(String, String)>);

impl Families {
    fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter_map(|line| line.strip_prefix("# TYPE "))
                .filter_map(|rest| rest.split_once(' '))
                .map(|(name, kind)| (name.to_owned(), kind.trim().to_owned()))
                .collect(),
        )
    }

    /// Whether `name` is a family, or a series of a histogram or summary family.
    fn exports(&self, name: &str) -> bool {
        let family = |n: &str| self.0.iter().any(|(f, _)| f == n);
        let histogram_series = ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix).is_some_and(|stem| {
                self.0
                    .iter()
                    .any(|(f, kind)| f == stem && (kind == "histogram" || kind == "summary"))
            })
        });
        family(name) || histogram_series
    }

    /// The names of `used` that are neither exported nor Prometheus' own, sorted.
    fn missing<'a>(&self, used: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
        used.into_iter()
            .map(String::as_str)
            .filter(|name| !PROMETHEUS_OWN.contains(name) && !self.exports(name))
            .collect()
    }
}

/// The metric names a PromQL expression (or a Grafana `label_values(...)` query) reads, sorted:
/// identifiers outside strings, label matchers, ranges and grouping lists that are not
/// followed by `(` (functions and aggregations) and are not keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    static STRIP: LazyLock<[Regex; 4]> = LazyLock::new(|| {
        [
            r#""(?:[^"\\]|\\.)*""#,
            r"\{[^}]*\}",
            r"\[[^\]]*\]",
            r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
        ]
        .map(|pattern| Regex::new(pattern).expect("a valid pattern"))
    });
    static IDENT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(\$?)\b([A-Za-z_:][A-Za-z0-9_:]*)\s*(\(?)").expect("a valid pattern")
    });
    static LABEL_VALUES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)").expect("a valid pattern")
    });

    let mut names: BTreeSet<String> = LABEL_VALUES
        .captures_iter(expr)
        .map(|c| c[1].to_owned())
        .collect();
    if !names.is_empty() {
        return names;
    }
    let bare = STRIP.iter().fold(expr.to_owned(), |text, re| {
        re.replace_all(&text, " ").into_owned()
    });
    for c in IDENT.captures_iter(&bare) {
        let (variable, name, call) = (&c[1], &c[2], &c[3]);
        if variable.is_empty() && call.is_empty() && !KEYWORDS.contains(&name) {
            names.insert(name.to_owned());
        }
    }
    names
}

/// Every `expr` of the dashboard's panels and every variable query.
fn dashboard_exprs() -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("expr" | "definition", Value::String(expr)) => out.push(expr.clone()),
                        _ => walk(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    let dashboard: Value = serde_json::from_str(&read("deploy/monitoring/signgate-dashboard.json"))
        .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    walk(&dashboard, &mut exprs);
    assert!(
        exprs.len() >= 10,
        "the dashboard holds {} queries",
        exprs.len()
    );
    exprs
}

/// Every `expr:` of the rules file: a one-line value or an indented `|` / `>` block.
fn rule_exprs() -> Vec<String> {
    let text = read("deploy/monitoring/alerts.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|next| next.trim().is_empty() || indent(next) > indent(line))
                .copied()
                .collect();
            exprs.push(block.join("\n"));
        } else {
            exprs.push(value.trim_matches(|c| c == '\'' || c == '"').to_owned());
        }
    }
    assert!(
        exprs.len() >= 5,
        "the rules hold {} expressions",
        exprs.len()
    );
    exprs
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, other punctuation dropped.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A file of the repository.
fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
