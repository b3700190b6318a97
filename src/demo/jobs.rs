//! The demo's bulk cancellation job, kept as data: the `curl` requests that create and watch
//! a job, the `signgate cancel` command line that does both for people, and the codes each
//! sends with the outcome it gets on a freshly seeded demo.
//!
//! Their codes are their own: no other printed command cancels them, so whatever order a
//! reader runs the commands in, every one shows the outcomes it lists.

use std::net::SocketAddr;

use super::requests::{cancel_body, json_post, shell_quote, DemoRequest, BEARER, EMAIL, MESSAGE};
use super::API_KEY;

/// The codes of the job created with `curl`, in order, with the status and error code each
/// gets on a freshly seeded demo.
pub const JOB: [(&str, &str, Option<&str>); 10] = [
    (
        "docusign:d5d5d5d5-0000-4000-8000-000000000002",
        "cancelled",
        None,
    ),
    // Queued by Dropbox Sign: `cancelled` with `"queued": true`.
    (
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50002",
        "cancelled",
        None,
    ),
    (
        "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000002",
        "cancelled",
        None,
    ),
    // A bare UUID: the job's locating lane finds its vendor by a status read.
    ("d4d4d4d4-0000-4000-8000-000000000001", "cancelled", None),
    (
        "yousign:e5e5e5e5-0000-4000-8000-000000000002",
        "cancelled",
        None,
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000001",
        "cancelled",
        None,
    ),
    (
        "docusign:d5d5d5d5-0000-4000-8000-000000000101",
        "already_cancelled",
        Some("already_cancelled"),
    ),
    (
        "CBJCHBCAABAAsigngateDemo00000000000000000301",
        "already_cancelled",
        Some("already_cancelled"),
    ),
    (
        "dropboxsign:d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50301",
        "failed",
        Some("not_cancellable"),
    ),
    (
        "yousign:e5e5e5e5-0000-4000-8000-000000000301",
        "failed",
        Some("not_cancellable"),
    ),
];

/// The codes `signgate cancel` is given: a document in progress at every vendor but ZapSign
/// (whose are all taken by the other commands), each one cancelled, so the command exits 0.
/// `AUCOOPEN03` is the code of the request with a typo, which never reaches a vendor.
pub const CANCEL_CODES: [&str; 7] = [
    "AUCOOPEN03",
    "d5d5d5d5-0000-4000-8000-000000000003",
    "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d50003",
    "c1c5c1c5-0000-4000-8000-00000000e001:c1c5c1c5-0000-4000-8000-000000000003",
    "d4sign:d4d4d4d4-0000-4000-8000-000000000003",
    "e5e5e5e5-0000-4000-8000-000000000003",
    "CBJCHBCAABAAsigngateDemo00000000000000000003",
];

/// The shell variable the watch request reads the job's id from.
pub const JOB_VAR: &str = "JOB";

/// The environment variable `signgate cancel` reads the key from (`--key-env`).
pub const KEY_ENV: &str = "SIGNGATE_KEY";

/// How a reader of the demo runs signgate: from the checkout the demo was started in.
pub const PROGRAM: &str = "cargo run --release --";

/// The request that creates the job: `202 Accepted` and `Location`, so with `-i`.
pub fn create() -> DemoRequest {
    let codes: Vec<&str> = JOB.iter().map(|(code, _, _)| *code).collect();
    DemoRequest {
        title:
            "A bulk job: `202 Accepted` at once, its URL in `Location`; it runs in the background.",
        method: "POST",
        path: "/documents/cancel/jobs".into(),
        headers: json_post(),
        body: Some(cancel_body(&codes)),
        show_headers: true,
    }
}

/// The request that watches the job, whose id the reader puts in `$JOB`.
pub fn watch() -> DemoRequest {
    DemoRequest {
        title: "Watch it until `state` is `done` (first set JOB to the id that ends `Location`).",
        method: "GET",
        path: format!("/documents/cancel/jobs/${JOB_VAR}"),
        headers: vec![("Authorization", BEARER)],
        body: None,
        show_headers: false,
    }
}

/// The `signgate cancel` command line the demo prints, kept as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCancel {
    /// What the command shows, one line.
    pub title: &'static str,
    /// The codes to cancel, in order.
    pub codes: Vec<&'static str>,
}

impl DemoCancel {
    /// The shell lines that set the key variable and run `program cancel` against the
    /// gateway at `gateway` (`program` is put in as it is: a shell word or words).
    pub fn shell(&self, program: &str, gateway: SocketAddr) -> String {
        let mut lines = vec![
            format!("{program} cancel --url http://{gateway} --key-env {KEY_ENV}"),
            format!(
                "--message {} --email {}",
                shell_word(MESSAGE),
                shell_word(EMAIL)
            ),
        ];
        lines.extend(self.codes.iter().map(|code| shell_word(code)));
        format!("export {KEY_ENV}={API_KEY}\n{}", lines.join(" \\\n  "))
    }
}

/// The `signgate cancel` command for people: it submits a job, watches it, prints the table.
pub fn cancel() -> DemoCancel {
    DemoCancel {
        title: "From another terminal in this checkout, `signgate cancel` submits a job and watches it.",
        codes: CANCEL_CODES.to_vec(),
    }
}

/// `word` as one shell word: bare when plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:@".contains(c);
    match !word.is_empty() && word.chars().all(plain) {
        true => word.to_owned(),
        false => shell_quote(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cancel_command_sets_the_key_variable_and_quotes_only_what_needs_it() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let shell = cancel().shell(PROGRAM, addr);
        let mut lines = shell.lines();
        assert_eq!(lines.next(), Some("export SIGNGATE_KEY=demo-key"));
        assert_eq!(
            lines.next(),
            Some(
                "cargo run --release -- cancel --url http://127.0.0.1:8080 \
                 --key-env SIGNGATE_KEY \\"
            )
        );
        assert_eq!(
            lines.next(),
            Some("  --message 'Cancelled from the signgate demo' --email ops@example.com \\")
        );
        assert_eq!(lines.next(), Some("  AUCOOPEN03 \\"));
        assert_eq!(
            lines.last(),
            Some("  CBJCHBCAABAAsigngateDemo00000000000000000003")
        );
    }

    #[test]
    fn the_watch_request_reads_the_job_id_from_a_shell_variable() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(watch()
            .curl(addr)
            .starts_with("curl -sS -X GET \"http://127.0.0.1:8080/documents/cancel/jobs/$JOB\""));
    }
}
