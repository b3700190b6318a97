//! Acrobat Sign's side of the conformance suite (test support): what REST v6 answers in each
//! `Scenario`, in its own dialect, and what signgate must make of it. Every gateway starts by
//! refreshing its access token (one `POST /oauth/v2/refresh`, counted among the calls); the
//! `base_url` names the API host, so `baseUris` is not asked (discovery is tested in
//! `client/tests.rs`). Failures are `{"code","message"}`; a refusal whose code Acrobat Sign does
//! not document is told apart by a status read (`GET` on the agreement). Docs:
//! <https://secure.na1.adobesign.com/public/docs/restapi/v6#!/agreements/updateAgreementState>.

use std::time::Duration;

use serde_json::json;

use crate::model::ErrorCode;
use crate::vendors::conformance::{
    var, Case, Conformance, Expected, MockAnswer, Scenario, TIMEOUT,
};

/// The OAuth app test gateways refresh tokens with.
pub const CLIENT_ID: &str = "conformance-client-id";
/// Its secret.
pub const CLIENT_SECRET: &str = "conformance-client-secret-0006";
/// The refresh token of test gateways.
pub const REFRESH_TOKEN: &str = "conformance-refresh-token-0006";

/// Acrobat Sign in the conformance suite.
#[derive(Debug)]
pub struct AdobeSignConformance;

/// Its answers, handed to `conformance::all()` by `Kind::conformance`.
pub static CONFORMANCE: AdobeSignConformance = AdobeSignConformance;

const DOCUMENT: &str = "CBJCHBCAABAAc6LyP4SVuKXP_pNstzIzyripanRdz4IB";

fn agreement_path() -> String {
    format!("/api/rest/v6/agreements/{DOCUMENT}")
}

fn refreshed() -> MockAnswer {
    MockAnswer::new("POST", "/oauth/v2/refresh", 200).json(json!({
        "access_token": "conformance-access-token",
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
}

fn put(status: u16) -> MockAnswer {
    MockAnswer::new("PUT", format!("{}/state", agreement_path()), status)
}

fn read(status: u16) -> MockAnswer {
    MockAnswer::new("GET", agreement_path(), status)
}

fn refused(status: u16, code: &str, message: &str) -> MockAnswer {
    put(status).json(json!({ "code": code, "message": message }))
}

/// A refusal of a state Acrobat Sign cannot cancel: its code is undocumented.
fn undocumented_refusal() -> MockAnswer {
    refused(
        400,
        "INVALID_AGREEMENT_STATE",
        "The agreement cannot be cancelled in its current state.",
    )
}

fn state(status: &str) -> MockAnswer {
    read(200).json(json!({ "id": DOCUMENT, "status": status }))
}

/// `answers` after the token refresh every gateway starts with.
fn case(answers: Vec<MockAnswer>, expected: Expected) -> Case {
    let mut all = vec![refreshed()];
    all.extend(answers);
    Case {
        answers: all,
        expected,
    }
}

impl Conformance for AdobeSignConformance {
    fn name(&self) -> &'static str {
        "adobesign"
    }

    fn vars(&self, server: &str) -> Vec<(String, String)> {
        let name = self.name();
        vec![
            (var(name, "KIND"), "adobesign".to_owned()),
            (var(name, "BASE_URL"), server.to_owned()),
            (var(name, "CLIENT_ID"), CLIENT_ID.to_owned()),
            (var(name, "CLIENT_SECRET"), CLIENT_SECRET.to_owned()),
            (var(name, "REFRESH_TOKEN"), REFRESH_TOKEN.to_owned()),
            // No default table sets it: below the shortest deadline test gateways configure
            // (1,000 ms).
            (var(name, "TIMEOUT_MS"), "900".to_owned()),
        ]
    }

    fn document(&self) -> &'static str {
        DOCUMENT
    }

    fn case(&self, scenario: Scenario) -> Case {
        use ErrorCode as E;
        let failing_read = || read(500).text("<html>Server Error</html>");
        let cancelled = || put(204);
        match scenario {
            Scenario::Cancelled => case(vec![cancelled()], Expected::cancelled(2)),
            Scenario::AlreadyCancelled => case(
                vec![undocumented_refusal(), state("CANCELLED")],
                Expected::failed(E::AlreadyCancelled, 3),
            ),
            Scenario::Signed => case(
                vec![undocumented_refusal(), state("SIGNED")],
                Expected::failed(E::AlreadySigned, 3),
            ),
            Scenario::NotFound => case(
                vec![refused(404, "RESOURCE_NOT_FOUND", "Resource not found")],
                Expected::failed(E::NotFound, 2),
            ),
            // An undocumented code: the status read finds it in progress, so the refusal stands.
            Scenario::Invalid => case(
                vec![
                    refused(400, "INVALID_ARGUMENTS", "Invalid arguments"),
                    state("OUT_FOR_SIGNATURE"),
                ],
                Expected::failed(E::VendorRefused, 3),
            ),
            // One new token and one re-send, refused again.
            Scenario::Unauthorized => case(
                vec![refused(
                    401,
                    "INVALID_ACCESS_TOKEN",
                    "Access token provided is invalid or has expired",
                )],
                Expected::failed(E::VendorAuthFailed, 4),
            ),
            Scenario::Forbidden => case(
                vec![put(403).text("Forbidden")],
                Expected::failed(E::VendorAuthFailed, 2),
            ),
            Scenario::RateLimited => case(
                vec![
                    put(429)
                        .header("Retry-After", "1")
                        .json(json!({
                            "code": "THROTTLING_TOO_MANY_REQUESTS",
                            "message": "Too many requests (apiActionId=conformance)",
                            "retryAfter": 1,
                        }))
                        .times(1),
                    cancelled(),
                ],
                Expected::cancelled(3).not_before(Duration::from_secs(1)),
            ),
            Scenario::ServerError => case(
                vec![
                    put(500).text("<html><h1>Server Error</h1></html>"),
                    failing_read(),
                ],
                Expected::failed(E::VendorUnavailable, 3),
            ),
            Scenario::Unavailable => {
                case(vec![put(503)], Expected::failed(E::VendorUnavailable, 4))
            }
            // A 2xx is the cancel whatever its body (the documented one is an empty 204).
            Scenario::Garbage => case(vec![put(200).text("\u{0}garbage")], Expected::cancelled(2)),
            Scenario::Html => case(
                vec![put(200).text("<html>ok</html>")],
                Expected::cancelled(2),
            ),
            Scenario::Slow => case(
                vec![cancelled().delay(TIMEOUT * 3), failing_read()],
                Expected::failed(E::VendorTimeout, 3),
            ),
            Scenario::Refused => Case {
                answers: Vec::new(),
                expected: Expected::failed(E::VendorUnavailable, 0),
            },
            Scenario::ReadsCancelled => {
                case(vec![put(500), state("CANCELLED")], Expected::cancelled(3))
            }
            Scenario::ReadsInProgress => case(
                vec![put(500).times(1), cancelled(), state("OUT_FOR_SIGNATURE")],
                Expected::cancelled(4),
            ),
        }
    }
}
