//! Bulk jobs across crashes and replicas: real gateway processes killed with SIGKILL in the
//! middle of a slice, and a vendor mock that applies every cancel it receives, answered or not.
//! Every document ends exactly once and none is sent twice.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;
use crate::jobs::{job_body, tokens, Jobs, FAST};
use crate::process::Gateway;
use crate::recovery::{history, vars};
use crate::scratch::Scratch;

on_both_stores!(a_gateway_killed_mid_job_is_resumed_after_restart_without_a_second_send);

/// ZapSign as it behaves: a refuse it receives is applied at once, whether or not its answer
/// ever reaches the caller, and a status read tells what was applied.
#[derive(Clone)]
struct ZapSign(Arc<Mutex<Applied>>);

struct Applied {
    /// Refuses received, by document token.
    refused: BTreeMap<String, usize>,
    /// Status reads received, by document token.
    reads: BTreeMap<String, usize>,
    /// How long each refuse's answer takes.
    delay: Duration,
}

impl Respond for ZapSign {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut applied = self.0.lock().expect("lock");
        if request.method.as_str() == "GET" {
            let token = request.url.path().trim_end_matches('/').rsplit('/').next();
            let token = token.expect("a token").to_owned();
            let status = if applied.refused.contains_key(&token) {
                "refused"
            } else {
                "pending"
            };
            *applied.reads.entry(token).or_default() += 1;
            return ResponseTemplate::new(200).set_body_json(json!({"status": status}));
        }
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON refuse");
        let token = body["doc_token"].as_str().expect("doc_token").to_owned();
        *applied.refused.entry(token).or_default() += 1;
        ResponseTemplate::new(200)
            .set_body_json(json!({"message": "Documento recusado"}))
            .set_delay(applied.delay)
    }
}

impl ZapSign {
    /// Mounts a ZapSign whose refuses are answered after `delay`.
    async fn mount(server: &MockServer, delay: Duration) -> Self {
        let zapsign = Self(Arc::new(Mutex::new(Applied {
            refused: BTreeMap::new(),
            reads: BTreeMap::new(),
            delay,
        })));
        Mock::given(path_regex(r"^/api/v1/(refuse|docs/[^/]+)/$"))
            .respond_with(zapsign.clone())
            .mount(server)
            .await;
        zapsign
    }

    fn answer_after(&self, delay: Duration) {
        self.0.lock().expect("lock").delay = delay;
    }

    fn refused(&self) -> BTreeMap<String, usize> {
        self.0.lock().expect("lock").refused.clone()
    }

    fn reads(&self) -> BTreeMap<String, usize> {
        self.0.lock().expect("lock").reads.clone()
    }
}

/// A gateway process on `store` whose job runners poll every 50 ms.
fn job_vars(vendors: &MockVendors, store: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars = vars(vendors, store);
    for (key, value) in std::iter::once(&FAST).chain(extra) {
        vars.push(((*key).to_owned(), (*value).to_owned()));
    }
    vars
}

/// Checks that the job ended `done` with every code cancelled, each in one audit row.
async fn assert_all_cancelled_once(address: &str, id: &str, job: &Value, codes: &[String]) {
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["summary"]["success"], codes.len(), "{job}");
    assert_eq!(job["summary"]["errors"]["cant"], 0, "{job}");
    let (results, _) = Jobs::at(address).all_results(id, 1000).await;
    assert_eq!(results.len(), codes.len());
    for (result, code) in results.iter().zip(codes) {
        assert_eq!(result["code"], *code, "{result}");
        assert_eq!(result["status"], "cancelled", "{result}");
        let trail = history(address, code).await;
        assert_eq!(
            trail["attempts"].as_array().map(Vec::len),
            Some(1),
            "{trail}"
        );
    }
}

async fn a_gateway_killed_mid_job_is_resumed_after_restart_without_a_second_send(store: &str) {
    // Arrange: ZapSign holds back every answer, so the gateway dies with four concurrent
    // refuses applied but unanswered, and the slice's other eight documents not sent.
    let vendors = MockVendors::start().await;
    let zapsign = ZapSign::mount(vendors.get("zapsign"), Duration::from_secs(30)).await;
    let four_at_a_time = [
        ("SIGNGATE__VENDORS__ZAPSIGN__MAX_CONCURRENCY", "4"),
        ("SIGNGATE__JOBS__INTERACTIVE_RESERVE_PERCENT", "0"),
    ];
    let vars = job_vars(&vendors, store, &four_at_a_time);
    let codes = tokens(12);
    let (mut gateway, address) = Gateway::listening(&vars);
    let id = Jobs::at(&address).job_id(&job_body(&codes)).await;
    wait_until("ZapSign holds four refuses", || async {
        zapsign.refused().len() == 4
    })
    .await;

    // Act
    gateway.kill();
    zapsign.answer_after(Duration::ZERO);
    let (mut restarted, address) = Gateway::listening(&vars);
    let job = Jobs::at(&address)
        .wait_ended(&id, Duration::from_secs(30))
        .await;

    // Assert
    assert_all_cancelled_once(&address, &id, &job, &codes).await;
    restarted.terminate();
    let (code, output) = restarted.finish();
    let refused = zapsign.refused();
    assert_eq!(refused.len(), codes.len(), "{refused:?}");
    assert!(refused.values().all(|&n| n == 1), "sent twice: {refused:?}");
    let reads = zapsign.reads();
    assert_eq!(
        reads.len(),
        codes.len(),
        "every claimed document is read before anything else: {reads:?}"
    );
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test]
async fn two_replicas_share_a_job_and_one_killed_mid_slice_loses_nothing() {
    let Some(scratch) = Scratch::postgres("two_replicas_share_a_job").await else {
        return;
    };
    // Arrange: slices of four, answered after 300 ms, so the job spans many slices of both.
    let vendors = MockVendors::start().await;
    let zapsign = ZapSign::mount(vendors.get("zapsign"), Duration::from_millis(300)).await;
    let vars = job_vars(
        &vendors,
        &scratch.url,
        &[("SIGNGATE__JOBS__SLICE_DOCUMENTS", "4")],
    );
    let codes = tokens(40);
    let (mut first, first_address) = Gateway::listening(&vars);
    let (mut second, second_address) = Gateway::listening(&vars);
    let id = Jobs::at(&first_address).job_id(&job_body(&codes)).await;
    let calls = |address: String| async move {
        metric(
            &address,
            "signgate_vendor_requests_total",
            &["vendor=\"zapsign\""],
        )
        .await
    };
    wait_until(
        "both replicas have cancelled documents of the job",
        || async {
            calls(first_address.clone()).await > 0.0 && calls(second_address.clone()).await > 0.0
        },
    )
    .await;

    // Act: the second replica dies in the middle of its next slice.
    second.kill();
    let job = Jobs::at(&first_address)
        .wait_ended(&id, Duration::from_secs(60))
        .await;

    // Assert
    assert_all_cancelled_once(&first_address, &id, &job, &codes).await;
    first.terminate();
    let (code, output) = first.finish();
    let refused = zapsign.refused();
    assert_eq!(refused.len(), codes.len(), "{refused:?}");
    assert!(refused.values().all(|&n| n == 1), "sent twice: {refused:?}");
    assert_eq!(code, Some(0), "{output}");
}
