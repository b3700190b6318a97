//! The demo's synchronous requests, kept as data: `DemoRequest` (printed as a `curl`
//! command, run by tests) and the codes each one sends with the outcome it gets on a
//! freshly seeded demo.

use std::net::SocketAddr;

use super::API_KEY;

/// One request the demo suggests, kept as data: printed as a `curl` command, run by tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoRequest {
    /// What the request shows, one line.
    pub title: &'static str,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The gateway path, with its query; `$NAME` is a shell variable the reader sets first.
    pub path: String,
    /// Request headers, in order.
    pub headers: Vec<(&'static str, &'static str)>,
    /// The JSON body, if any.
    pub body: Option<String>,
    /// Whether curl prints the status line and headers (`-i`), when they are the point.
    pub show_headers: bool,
}

impl DemoRequest {
    /// The `curl` command line for a gateway at `gateway`, quoted for a POSIX shell.
    pub fn curl(&self, gateway: SocketAddr) -> String {
        let url = quote_url(&format!("http://{gateway}{}", self.path));
        let mut parts = vec![format!(
            "curl -sS{} -X {} {url}",
            if self.show_headers { "i" } else { "" },
            self.method,
        )];
        for (name, value) in &self.headers {
            parts.push(format!("-H {}", shell_quote(&format!("{name}: {value}"))));
        }
        if let Some(body) = &self.body {
            parts.push(format!("-d {}", shell_quote(body)));
        }
        parts.join(" \\\n  ")
    }
}

/// A URL as one shell word: bare when the shell reads it as it is, in double quotes when it
/// names a shell variable (`$JOB`), else in single quotes (a query's `&`).
fn quote_url(url: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/:.-_".contains(c);
    if url.chars().all(plain) {
        url.to_owned()
    } else if url.contains('$') && url.chars().all(|c| plain(c) || c == '$') {
        format!("\"{url}\"")
    } else {
        shell_quote(url)
    }
}

/// `text` in single quotes for a POSIX shell.
pub(super) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The headers of a JSON request with the demo's key as a bearer token.
pub(super) fn json_post() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Authorization", BEARER),
        ("Content-Type", "application/json"),
    ]
}

/// The `Authorization` header's value with the demo's key (`API_KEY`).
pub(super) const BEARER: &str = "Bearer demo-key";

/// The message every printed cancel sends.
pub const MESSAGE: &str = "Cancelled from the signgate demo";

/// The email every printed cancel sends.
pub const EMAIL: &str = "ops@example.com";

/// A cancel body for `codes`, written by hand to keep the fields in the order docs/api.md
/// shows them.
pub(super) fn cancel_body(codes: &[&str]) -> String {
    let codes = serde_json::to_string(codes).unwrap_or_default();
    format!(r#"{{"codes": {codes}, "message": "{MESSAGE}", "email": "{EMAIL}"}}"#)
}

/// A ZapSign token the simulator does not know.
pub const UNKNOWN_ZAPSIGN: &str = "0a1b2c3d-0000-4000-8000-00000000dead";

/// The codes of the mixed request, in order, with the status and error code each gets on a
/// freshly seeded demo.
pub const MIXED: [(&str, &str, Option<&str>); 22] = [
    ("AUCOOPEN01", "cancelled", None),
    ("0a1b2c3d-0000-4000-8000-000000000001", "cancelled", None),
    (
        "zapsign:0a1b2c3d-0000-4000-8000-000000000002",
        "cancelled",
        None,
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000101",
        "already_cancelled",
        Some("already_cancelled"),
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000201",
        "failed",
        Some("already_signed"),
    ),
    (
        "0a1b2c3d-0000-4000-8000-000000000301",
        "failed",
        Some("not_cancellable"),
    ),
    // Auco refuses without a reason; the status read (the demo has a public key) says why.
    ("AUCOSIGN01", "failed", Some("already_signed")),
    (UNKNOWN_ZAPSIGN, "failed", Some("not_found")),
    // A DocuSign envelope ID is a UUID like ZapSign's tokens: a status read finds its owner.
    ("d5d5d5d5-0000-4000-8000-000000000001", "cancelled", None),
    (
        "docusign:d5d5d5d5-0000-4000-8000-000000000201",
        "failed",
        Some("already_signed"),
    ),
    (
        "docusign:d5d5d5d5-0000-4000-8000-000000000301",
        "failed",
        Some("not_cancellable"),
    ),
    // Dropbox Sign queues the cancel: `cancelled` with `"queued": true`.
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50001",
        "cancelled",
        None,
    ),
    (
        "dropboxsign:d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50201",
        "failed",
        Some("already_signed"),
    ),
    // Clicksign: ENVELOPE_ID:DOCUMENT_ID, routed by its own rule; a 422 settled by a read.
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000001",
        "cancelled",
        None,
    ),
    (
        "clicksign:c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000201",
        "failed",
        Some("already_signed"),
    ),
    // A D4Sign document id is a UUID too: a status read finds it; a finished one is signed.
    ("d4d4d4d4-0000-4000-8000-000000000002", "cancelled", None),
    (
        "d4sign:d4d4d4d4-0000-4000-8000-000000000401",
        "failed",
        Some("already_signed"),
    ),
    // A Yousign id is a UUID too: found by a status read, or sent straight with `yousign:`.
    ("e5e5e5e5-0000-4000-8000-000000000001", "cancelled", None),
    (
        "yousign:e5e5e5e5-0000-4000-8000-000000000201",
        "failed",
        Some("already_signed"),
    ),
    // Acrobat Sign agreement IDs route by their prefix; a refusal is settled by a status read.
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000002",
        "cancelled",
        None,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000201",
        "failed",
        Some("already_signed"),
    ),
    ("invoice-42", "failed", Some("unroutable")),
];

/// The codes of the idempotent cancel: an Auco and a ZapSign document in progress.
pub const IDEMPOTENT: [&str; 2] = ["AUCOOPEN02", "0a1b2c3d-0000-4000-8000-000000000003"];

/// The codes of the status read, in order, with the state or error code each gets on a
/// freshly seeded demo (none of them is cancelled by the other commands).
pub const STATUS: [(&str, &str); 8] = [
    ("AUCOOPEN05", "in_progress"),
    ("AUCODONE01", "cancelled"),
    ("AUCOSIGN01", "signed"),
    ("AUCOEXPD01", "closed"),
    ("0a1b2c3d-0000-4000-8000-000000000005", "in_progress"),
    ("0a1b2c3d-0000-4000-8000-000000000201", "signed"),
    (UNKNOWN_ZAPSIGN, "not_found"),
    ("invoice-42", "unroutable"),
];

/// The codes of the Auco drop-in cancel: an Auco and a ZapSign document in progress, and a
/// signed Auco document (its code is listed in `errors.documents`).
pub const DROP_IN: [&str; 3] = [
    "AUCOOPEN04",
    "0a1b2c3d-0000-4000-8000-000000000004",
    "AUCOSIGN01",
];

/// The code of the request with a typo: refused before any vendor is called.
pub const TYPO: &str = "AUCOOPEN03";

/// The synchronous requests, in order: the mixed cancel, an idempotent cancel, a status
/// read, an Auco client's cancel through the drop-in, and a bad request.
pub fn synchronous() -> Vec<DemoRequest> {
    let mixed: Vec<&str> = MIXED.iter().map(|(code, _, _)| *code).collect();
    let mut idempotent_headers = json_post();
    idempotent_headers.push(("Idempotency-Key", "demo-request-1"));
    let status_query: Vec<String> = STATUS
        .iter()
        .map(|(code, _)| format!("code={code}"))
        .collect();
    vec![
        DemoRequest {
            title: "Cancel documents at every vendor; every outcome shows in `results`.",
            method: "POST",
            path: "/documents/cancel".into(),
            headers: json_post(),
            body: Some(cancel_body(&mixed)),
            show_headers: false,
        },
        DemoRequest {
            title: "With an Idempotency-Key: sending it again replays the first answer.",
            method: "POST",
            path: "/documents/cancel".into(),
            headers: idempotent_headers,
            body: Some(cancel_body(&IDEMPOTENT)),
            show_headers: true,
        },
        DemoRequest {
            title: "Read documents' states at whichever vendors hold them.",
            method: "GET",
            path: format!("/documents/status?{}", status_query.join("&")),
            headers: vec![("Authorization", BEARER)],
            body: None,
            show_headers: false,
        },
        DemoRequest {
            title: "An Auco client's own cancel call, with only the base URL changed (key bare).",
            method: "POST",
            path: "/v1.5/ext/document/cancel".into(),
            headers: vec![
                ("Authorization", API_KEY),
                ("Content-Type", "application/json"),
            ],
            body: Some(cancel_body(&DROP_IN)),
            show_headers: false,
        },
        DemoRequest {
            title: "A typo (`code` for `codes`) is refused with a 400 that names the field.",
            method: "POST",
            path: "/documents/cancel".into(),
            headers: json_post(),
            body: Some(cancel_body(&[TYPO]).replace("\"codes\"", "\"code\"")),
            show_headers: true,
        },
    ]
}

/// The liveness probe, printed last.
pub fn liveness() -> DemoRequest {
    DemoRequest {
        title: "Liveness probe (no API key).",
        method: "GET",
        path: "/livez".into(),
        headers: Vec::new(),
        body: None,
        show_headers: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_quoted_only_as_much_as_the_shell_needs() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(quote_url("http://h:1/livez"), "http://h:1/livez");
        assert_eq!(quote_url("http://h:1/s?a=1&b=2"), "'http://h:1/s?a=1&b=2'");
        assert_eq!(
            quote_url("http://h:1/jobs/$JOB"),
            "\"http://h:1/jobs/$JOB\""
        );
        assert_eq!(quote_url("http://h:1/j/$(x)"), "'http://h:1/j/$(x)'");
    }

    #[test]
    fn commands_quote_their_arguments_for_the_shell() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let curl = synchronous()[0].curl(addr);
        assert!(curl.starts_with("curl -sS -X POST http://127.0.0.1:8080/documents/cancel"));
        assert!(
            curl.contains("-H 'Authorization: Bearer demo-key'"),
            "{curl}"
        );
        assert_eq!(BEARER, format!("Bearer {API_KEY}"));
    }
}
