//! The signed callback a finished job POSTs to its caller: the signature header, one delivery
//! attempt (checked against the callback rules, `policy`, and connected only to the addresses
//! `address` allows), and the retry delays. The job runner records each attempt and decides
//! when to call again (docs/callbacks.md).

mod address;
mod policy;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use reqwest::{Client, Url};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::vendors::http::USER_AGENT as SIGNGATE_USER_AGENT;

pub use policy::{check_url, Entry, Policy};

/// The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "Signgate-Signature";

/// How long after a job ends its callback is still attempted; later, it is `failed`.
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// The wait before the second attempt; doubled for each one after.
const FIRST_RETRY: Duration = Duration::from_secs(10);

/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::from_secs(60 * 60);

/// The `Signgate-Signature` value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body))
    )
}

/// HMAC-SHA256 of `"<timestamp>.<body>"`, the bytes `v1` is the hex of.
fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length (a long one is hashed first), so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|e| panic!("HMAC refused a key: {e}"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Sends callbacks: one HTTP client that follows no redirect and connects only where the
/// policy allows, the policy itself, and the signing secret.
#[derive(Debug)]
pub struct Delivery {
    client: Client,
    policy: Policy,
    secret: SecretString,
    timeout: Duration,
}

/// What one delivery attempt came to. Exactly one of `status` and `error` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's HTTP status, when it answered (a redirect included: it is not followed).
    pub status: Option<u16>,
    /// Why no answer came (`connect: ...`, `timeout`, `transport: ...`), without the URL.
    pub error: Option<String>,
    /// Whether the receiver answered `2xx`: the callback is delivered.
    pub delivered: bool,
}

impl Delivery {
    /// A delivery signing with `secret` (`jobs.callback_secret`), each attempt bounded by
    /// `timeout` (`jobs.callback_timeout_ms`) from connecting to the answer's head, sent only
    /// to a URL `policy` admits and to the addresses it allows a host name to resolve to.
    pub fn new(secret: SecretString, timeout: Duration, policy: Policy) -> Self {
        let resolver = address::PublicOnly {
            private_networks: policy.private_networks(),
        };
        // A redirect is not followed: it would re-send the job to an address nobody listed in
        // jobs.callback_hosts (and a 302 would turn the POST into a GET). It fails the attempt.
        // No proxy either: the resolver must see the receiver's name, not a proxy's.
        let client = Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .user_agent(SIGNGATE_USER_AGENT)
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("the callback HTTP client cannot be built: {e}"));
        Self {
            client,
            policy,
            secret,
            timeout,
        }
    }

    /// One attempt: POSTs `body` (the JSON as it will be signed and sent) to `url`, signed at
    /// `now_unix` (Unix seconds), if the policy still admits it (`refused: ...` otherwise:
    /// the settings may have changed since the job was created). The answer's body is not read.
    pub async fn send(&self, url: &Url, body: &[u8], now_unix: i64) -> Attempt {
        if let Err(problem) = self.policy.check(url) {
            return Attempt {
                status: None,
                error: Some(format!("refused: {problem}")),
                delivered: false,
            };
        }
        let signature = signature(self.secret.expose_secret().as_bytes(), now_unix, body);
        let sent = self
            .client
            .post(url.clone())
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, SIGNGATE_USER_AGENT)
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                Attempt {
                    status: Some(status.as_u16()),
                    error: None,
                    delivered: status.is_success(),
                }
            }
            Err(e) => Attempt {
                status: None,
                error: Some(transport_error(&e)),
                delivered: false,
            },
        }
    }
}

/// A failed send as a short text without the URL (reqwest's own text holds it, query and
/// all): the kind, then the innermost cause (`connect: Connection refused (os error 111)`).
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".to_owned();
    }
    let kind = if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    let mut innermost = None;
    while let Some(current) = cause {
        innermost = Some(current);
        cause = current.source();
    }
    match innermost {
        Some(inner) => format!("{kind}: {inner}"),
        None => kind.to_owned(),
    }
}

/// The wait before attempt `attempts + 1`, `attempts` having been made: none before the
/// first, then 10 s, doubling per attempt up to 1 h, with half jitter (between half the step
/// and the whole step). `None` when that attempt would come `RETRY_FOR` (24 h) or more after
/// the job ended, `since_end` ago: the callback has then failed.
pub fn next_delay(attempts: u32, since_end: Duration) -> Option<Duration> {
    delay_at(attempts, since_end, rand::rng().random_range(0.0..1.0))
}

/// `next_delay` with the jitter drawn: `unit` in `[0, 1)` places the delay between half the
/// step (0) and the whole step (1).
fn delay_at(attempts: u32, since_end: Duration, unit: f64) -> Option<Duration> {
    let delay = match attempts {
        0 => Duration::ZERO,
        n => {
            let step = FIRST_RETRY
                .saturating_mul(2u32.saturating_pow((n - 1).min(16)))
                .min(MAX_RETRY);
            step.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
        }
    };
    (since_end.saturating_add(delay) < RETRY_FOR).then_some(delay)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod delivery_tests;
