//! The conformance table every adapter runs: one vendor answer per row, and what each adapter
//! must make of it. Adding a vendor means adding its column.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use signgate::model::{ErrorCode, Outcome};
use signgate::settings::Settings;
use signgate::vendors::{Batch, CallContext, Reply, UpstreamError, Vendor};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{base_vars, refused_address};

/// What a row expects: cancelled, a definite failure code, or an upstream error.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Cancelled,
    Failed(ErrorCode),
    Upstream(UpstreamError),
}
use Expect::{Cancelled, Failed, Upstream};

struct Row {
    name: &'static str,
    answer: fn() -> ResponseTemplate,
    auco: Expect,
    zapsign: Expect,
}

fn json_answer(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn table() -> Vec<Row> {
    let server = |status| UpstreamError::Server {
        status,
        retry_after: None,
    };
    vec![
        Row {
            name: "200 success",
            answer: || {
                json_answer(
                    200,
                    json!({"success": 1, "errors": {"cant": 0}, "message": "ok"}),
                )
            },
            auco: Cancelled,
            zapsign: Cancelled,
        },
        Row {
            name: "already cancelled",
            answer: || json_answer(403, json!({"code": "document_already_refused"})),
            auco: Failed(ErrorCode::VendorAuthFailed),
            zapsign: Failed(ErrorCode::AlreadyCancelled),
        },
        Row {
            name: "already cancelled (detail)",
            answer: || json_answer(403, json!({"detail": "document_already_refused"})),
            auco: Failed(ErrorCode::VendorAuthFailed),
            zapsign: Failed(ErrorCode::AlreadyCancelled),
        },
        Row {
            name: "signed (error)",
            answer: || json_answer(403, json!({"error": "document_already_signed"})),
            auco: Failed(ErrorCode::VendorAuthFailed),
            zapsign: Failed(ErrorCode::AlreadySigned),
        },
        Row {
            name: "signed (message)",
            answer: || json_answer(403, json!({"message": "document_already_signed"})),
            auco: Failed(ErrorCode::VendorAuthFailed),
            zapsign: Failed(ErrorCode::AlreadySigned),
        },
        Row {
            name: "not allowed (error_code)",
            answer: || json_answer(403, json!({"error_code": "refuse_not_allowed"})),
            auco: Failed(ErrorCode::VendorAuthFailed),
            zapsign: Failed(ErrorCode::NotCancellable),
        },
        Row {
            name: "refused in a batch answer",
            answer: || {
                json_answer(
                    200,
                    json!({"success": 0, "errors": {"cant": 1, "documents": ["DOC"]}}),
                )
            },
            auco: Failed(ErrorCode::VendorRefused),
            zapsign: Cancelled,
        },
        Row {
            name: "404",
            answer: || json_answer(404, json!({"detail": "Not found."})),
            auco: Upstream(UpstreamError::BadResponse { status: 404 }),
            zapsign: Failed(ErrorCode::NotFound),
        },
        Row {
            name: "400 on one code",
            answer: || json_answer(400, json!({"message": "INVALID"})),
            auco: Failed(ErrorCode::Rejected),
            zapsign: Failed(ErrorCode::Rejected),
        },
        Row {
            name: "401",
            answer: || json_answer(401, json!({"detail": "Invalid token."})),
            auco: Failed(ErrorCode::VendorAuthFailed),
            zapsign: Failed(ErrorCode::VendorAuthFailed),
        },
        Row {
            name: "402",
            answer: || json_answer(402, json!({"detail": "Payment required"})),
            auco: Upstream(UpstreamError::BadResponse { status: 402 }),
            zapsign: Failed(ErrorCode::VendorAuthFailed),
        },
        Row {
            name: "403 without a code",
            answer: || json_answer(403, json!({"detail": "Forbidden"})),
            auco: Failed(ErrorCode::VendorAuthFailed),
            zapsign: Failed(ErrorCode::VendorAuthFailed),
        },
        Row {
            name: "429 with Retry-After",
            answer: || ResponseTemplate::new(429).insert_header("Retry-After", "7"),
            auco: Upstream(UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            }),
            zapsign: Upstream(UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            }),
        },
        Row {
            name: "500 with an HTML body",
            answer: || {
                ResponseTemplate::new(500).set_body_string("<html><h1>Server Error</h1></html>")
            },
            auco: Upstream(server(500)),
            zapsign: Upstream(server(500)),
        },
        Row {
            name: "503",
            answer: || ResponseTemplate::new(503),
            auco: Upstream(server(503)),
            zapsign: Upstream(server(503)),
        },
        Row {
            name: "garbage 200 body",
            answer: || ResponseTemplate::new(200).set_body_string("\u{0}garbage"),
            auco: Upstream(UpstreamError::BadResponse { status: 200 }),
            zapsign: Cancelled,
        },
        Row {
            name: "HTML 200 body",
            answer: || ResponseTemplate::new(200).set_body_string("<html>ok</html>"),
            auco: Upstream(UpstreamError::BadResponse { status: 200 }),
            zapsign: Cancelled,
        },
        Row {
            name: "slow answer",
            answer: || ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
            auco: Upstream(UpstreamError::Timeout),
            zapsign: Upstream(UpstreamError::Timeout),
        },
    ]
}

fn adapters(base: &str) -> [(&'static str, Arc<dyn Vendor>); 2] {
    let mut vars = base_vars(&format!("{base}/auco"), &format!("{base}/zapsign"));
    vars.insert("SIGNGATE__VENDORS__AUCO__TIMEOUT_MS".into(), "500".into());
    vars.insert(
        "SIGNGATE__VENDORS__AUCO__CONNECT_TIMEOUT_MS".into(),
        "500".into(),
    );
    vars.insert(
        "SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS".into(),
        "500".into(),
    );
    vars.insert(
        "SIGNGATE__VENDORS__ZAPSIGN__CONNECT_TIMEOUT_MS".into(),
        "500".into(),
    );
    let settings = Settings::from_sources(None, None, vars).expect("valid settings");
    ["auco", "zapsign"].map(|name| {
        let vendor = &settings.vendors[name];
        (name, vendor.config.build(vendor))
    })
}

fn observed(reply: &Reply) -> Expect {
    match reply {
        Ok(answer) => match &answer.outcome {
            Outcome::Cancelled => Cancelled,
            Outcome::Failed(f) => Failed(f.code),
        },
        Err(e) => Upstream(e.clone()),
    }
}

async fn cancel_one(vendor: &dyn Vendor) -> Reply {
    let codes = ["DOC".to_string()];
    let batch = Batch {
        codes: &codes,
        message: "m",
        email: "a@b.co",
        notify_signers: true,
        ctx: CallContext {
            request_id: "conformance",
            deadline: tokio::time::Instant::now() + Duration::from_secs(10),
        },
    };
    let mut replies = vendor.cancel(&batch).await;
    assert_eq!(replies.len(), 1, "one reply per code");
    replies.remove(0)
}

#[tokio::test]
async fn every_adapter_classifies_every_row_of_the_conformance_table() {
    let mut mismatches = Vec::new();
    for row in table() {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with((row.answer)())
            .mount(&server)
            .await;
        for (name, vendor) in adapters(&server.uri()) {
            let expected = if name == "auco" {
                &row.auco
            } else {
                &row.zapsign
            };
            let got = observed(&cancel_one(vendor.as_ref()).await);
            if &got != expected {
                mismatches.push(format!(
                    "{name} / {}: expected {expected:?}, got {got:?}",
                    row.name
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn every_adapter_reports_a_refused_connection_as_nothing_sent() {
    for (name, vendor) in adapters(&refused_address()) {
        let got = observed(&cancel_one(vendor.as_ref()).await);
        assert_eq!(got, Upstream(UpstreamError::Connect), "{name}");
    }
}
