//! The callback loop: every replica claims the callbacks that are due (a lease in the store, so
//! one replica sends each attempt), POSTs the job's summary signed (`callback`), records the
//! attempt, and schedules the next one until a `2xx` or until 24 hours after the job ended.

use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use crate::jobs::callback::{self, Delivery};
use crate::jobs::view;
use crate::state::AppState;
use crate::store::{CallbackAttempt, CallbackNext, JobRecord, StoreError, Timestamp};

/// Most callbacks one pass claims.
const PER_PASS: u32 = 16;

/// Starts the loop, when callbacks are configured (`jobs.callback_secret`).
pub fn spawn(state: &AppState) -> Option<JoinHandle<()>> {
    let jobs = &state.settings.jobs;
    let delivery = std::sync::Arc::new(Delivery::new(
        jobs.callback_secret.clone()?,
        jobs.callback_timeout(),
        callback::Policy::from(jobs),
    ));
    let id = uuid::Uuid::new_v4().simple().to_string();
    let owner = format!("callbacks:{}", &id[..12]);
    let state = state.clone();
    Some(state.clone().supervisor().spawn("callbacks", move || {
        let notifier = Notifier {
            state: state.clone(),
            owner: owner.clone(),
            delivery: std::sync::Arc::clone(&delivery),
        };
        async move {
            let poll = notifier.state.settings.jobs.poll_interval();
            loop {
                if let Err(e) = notifier.once().await {
                    tracing::error!(error = %e, "Job callbacks could not be claimed; the next pass retries.");
                }
                tokio::time::sleep(poll).await;
            }
        }
    }))
}

/// One replica's callback sender.
struct Notifier {
    state: AppState,
    owner: String,
    delivery: std::sync::Arc<Delivery>,
}

impl Notifier {
    /// Sends every due callback once.
    async fn once(&self) -> Result<(), StoreError> {
        let now = Timestamp::now();
        // Long enough for one attempt and its record; a replica that dies holding it lets
        // another send after that.
        let lease = self.state.settings.jobs.callback_timeout() * 2 + Duration::from_secs(5);
        let due = self
            .state
            .store
            .claim_callbacks(&self.owner, now, now.saturating_add(lease), PER_PASS)
            .await?;
        let sends = due.into_iter().map(|job| self.deliver(job));
        for sent in futures::future::join_all(sends).await {
            sent?;
        }
        Ok(())
    }

    /// One attempt for one job, recorded with what comes next.
    async fn deliver(&self, job: JobRecord) -> Result<(), StoreError> {
        let id = job.job.id.as_str();
        let Some(view) = view::load(&self.state, id).await? else {
            return Ok(());
        };
        let body = json!({ "type": "cancel_job.finished", "job": view }).to_string();
        let at = Timestamp::now();
        let attempt = match job.job.callback_url.as_deref().map(reqwest::Url::parse) {
            Some(Ok(url)) => {
                self.delivery
                    .send(&url, body.as_bytes(), at.as_millis() / 1000)
                    .await
            }
            _ => callback::Attempt {
                status: None,
                error: Some("the callback_url cannot be parsed".to_owned()),
                delivered: false,
            },
        };
        let ended = job.finished_at.unwrap_or(at);
        let since_end =
            Duration::from_millis(u64::try_from(at.as_millis() - ended.as_millis()).unwrap_or(0));
        let next = match (
            attempt.delivered,
            callback::next_delay(job.callback_attempts + 1, since_end),
        ) {
            (true, _) => CallbackNext::Delivered,
            (false, Some(delay)) => CallbackNext::RetryAt(Timestamp::now().saturating_add(delay)),
            (false, None) => CallbackNext::Failed,
        };
        let record = CallbackAttempt {
            at,
            status: attempt.status,
            error: attempt.error.clone(),
        };
        self.state
            .store
            .record_callback(id, &self.owner, &record, next)
            .await?;
        match next {
            CallbackNext::Delivered => tracing::info!(job = %id, "Job callback delivered."),
            CallbackNext::RetryAt(at) => {
                tracing::warn!(job = %id, status = ?attempt.status, error = ?attempt.error, retry_at = %at, "Job callback not delivered; it is retried.")
            }
            CallbackNext::Failed => {
                tracing::error!(job = %id, status = ?attempt.status, error = ?attempt.error, "Job callback failed for 24 hours; it is given up.")
            }
        }
        Ok(())
    }
}
