//! The `Idempotency-Key` protocol (IETF draft, Stripe) on top of the store: claim the key,
//! replay a finished answer, refuse a reused or busy key, and store or forget the answer.

use std::sync::Arc;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::retention;
use crate::settings::Settings;
use crate::store::{Begin, Store, Timestamp};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The answer header on a replay.
pub const REPLAYED: &str = "idempotent-replayed";

/// A valid key: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The request's key, if it sent one; `400` when it is not 1 to 255 printable ASCII.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(None);
        };
        let printable = |b: &u8| (0x20..=0x7e).contains(b);
        let bytes = value.as_bytes();
        if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(printable) {
            return Err(ApiError::InvalidRequest(
                "Idempotency-Key: must be 1 to 255 printable ASCII characters".into(),
            ));
        }
        Ok(Some(Self(String::from_utf8_lossy(bytes).into_owned())))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 (hex) of the parsed and re-serialised body: equal JSON, equal fingerprint.
pub fn fingerprint(body: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// What to do with a request.
#[derive(Debug)]
pub enum Claim {
    /// Process it; the lease stores or forgets the answer (a no-op without a key).
    Run(Lease),
    /// Answer with these bytes, unchanged.
    Replay(Vec<u8>),
}

/// This request holds its key (if it has one) until `finish`.
#[derive(Debug)]
pub struct Lease(Option<Held>);

#[derive(Debug)]
struct Held {
    store: Arc<dyn Store>,
    key: IdempotencyKey,
    fingerprint: String,
    took_over: bool,
}

/// Claims the request's key, if it sent one, atomically in the store for the attempt
/// `attempt_id`; `body` is the parsed body, whose fingerprint the key remembers.
pub async fn claim(
    store: &Arc<dyn Store>,
    settings: &Settings,
    key: Option<IdempotencyKey>,
    body: &serde_json::Value,
    attempt_id: &str,
) -> Result<Claim, ApiError> {
    let Some(key) = key else {
        return Ok(Claim::Run(Lease(None)));
    };
    let fingerprint = fingerprint(body);
    let ttl = std::time::Duration::from_secs(settings.store.idempotency_ttl_hours * 3600);
    // A key left in progress by a crashed process is taken over after twice the deadline.
    let stale_after = crate::recovery::presumed_dead_after(settings);
    let begun = store
        .begin(
            key.as_str(),
            &fingerprint,
            attempt_id,
            Timestamp::now(),
            stale_after,
            ttl,
        )
        .await;
    let lease = |took_over| {
        Ok(Claim::Run(Lease(Some(Held {
            store: Arc::clone(store),
            key: key.clone(),
            fingerprint: fingerprint.clone(),
            took_over,
        }))))
    };
    match begun {
        Ok(Begin::Started) => lease(false),
        Ok(Begin::TakenOver { previous_attempt }) => {
            tracing::info!(
                previous_attempt = %previous_attempt,
                "Idempotency key taken over from an attempt that did not finish."
            );
            lease(true)
        }
        Ok(Begin::Replay(body)) => Ok(Claim::Replay(body)),
        Ok(Begin::InProgress) => Err(ApiError::IdempotencyKeyInUse),
        Ok(Begin::Mismatch) => Err(ApiError::IdempotencyKeyReused),
        Err(e) => {
            tracing::error!(error = %e, "Idempotency key could not be claimed.");
            Err(ApiError::unavailable(
                "The store cannot be written; no vendor was called.",
            ))
        }
    }
}

impl Lease {
    /// The key was taken over from an earlier attempt whose process stopped: that attempt's
    /// `pending` documents may have been sent (see `recovery::adopt`).
    pub fn took_over(&self) -> bool {
        self.0.as_ref().is_some_and(|held| held.took_over)
    }

    /// The key this request holds, if it sent one (a job completes it in the transaction
    /// that creates the job, instead of `finish`).
    pub fn key(&self) -> Option<&str> {
        self.0.as_ref().map(|held| held.key.as_str())
    }

    /// Stores a `200` answer for replays, or forgets the key after an error so that the
    /// client may retry.
    pub async fn finish(self, answer: &Result<Vec<u8>, ApiError>) {
        let Some(held) = self.0 else {
            return;
        };
        let (key, fingerprint) = (held.key.as_str(), held.fingerprint.as_str());
        let done = match answer {
            Ok(body) => {
                held.store
                    .complete(key, fingerprint, body, Timestamp::now())
                    .await
            }
            Err(_) => held.store.release(key, fingerprint).await,
        };
        if let Err(e) = done {
            tracing::error!(error = %e, "The idempotency key's answer could not be recorded.");
        }
    }
}

/// How often expired keys are deleted (expired keys are already ignored; this bounds the table).
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired keys every ten minutes until the task is aborted, in batches paced as the
/// audit purge is (`retention::Pace`), so a backlog never holds the database for long.
pub fn spawn_purger(
    supervisor: &crate::supervisor::Supervisor,
    store: Arc<dyn Store>,
) -> tokio::task::JoinHandle<()> {
    supervisor.spawn("idempotency_purger", move || {
        let store = Arc::clone(&store);
        async move {
            let mut ticks = tokio::time::interval(PURGE_EVERY);
            loop {
                ticks.tick().await;
                let now = Timestamp::now();
                let pace = retention::Pace::default();
                let counter = crate::metrics::idempotency_keys_purged();
                match retention::drain(pace, counter, || store.purge_expired(now, pace.batch)).await
                {
                    Ok(drained) => tracing::debug!(
                        purged = drained.rows,
                        statements = drained.statements,
                        "Expired idempotency keys purged."
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "Expired idempotency keys could not be purged.")
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn key_of(value: &str) -> Result<Option<IdempotencyKey>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(value).expect("header"));
        IdempotencyKey::from_headers(&headers)
    }

    #[test]
    fn keys_are_1_to_255_printable_ascii_characters() {
        assert!(key_of("order-1 retry").expect("valid").is_some());
        assert!(key_of(&"k".repeat(255)).is_ok());
        assert!(key_of(&"k".repeat(256)).is_err());
        assert!(key_of("").is_err());
        assert!(key_of("tab\there").is_err());
    }

    #[test]
    fn equal_json_has_equal_fingerprints_whatever_the_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).expect("json");
        let b: serde_json::Value = serde_json::from_str(r#"{ "b":[1,2], "a":1 }"#).expect("json");
        let c: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[2,1]}"#).expect("json");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }
}
