//! Recovery of interrupted cancels (the "completer"): rows a dead process left `pending`, and
//! answers that had to say "outcome unknown", are resolved later by a status read, and a
//! cancel accepted but never applied is sent once more. Every replica runs the loop; the
//! store's atomic claim gives each row to exactly one of them.
//!
//! What recovery may do with an attempt's `pending` rows depends on its `Idempotency-Key`:
//! - no key, or the key is gone, or the attempt still holds it (its lock is then refreshed,
//!   so a client retry waits with `409`): read the status, and re-send the cancel if the
//!   document is still in progress; then store the answer the request would have given under
//!   its key, for the client's retry to replay;
//! - the key was taken over by a retry of the same request (`adopt`): that retry sends, so
//!   recovery only reads the status and never sends.
//!
//! A cancel the vendor queued (Dropbox Sign answers an empty `200` and applies it later) is
//! confirmed by a status read a minute after the answer; while the document stays in
//! progress it is read again an hour after the answer, and then the cancel is sent once more,
//! as the vendor advises; an hour after that re-send, a document still in progress stops
//! being waited for, its state recorded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::audit::{self, RequestMeta};
use crate::cancellation::CancelCommand;
use crate::model::{
    DocState, DocumentCode, DocumentResult, ErrorCode, Outcome, Status, VendorName,
};
use crate::routes::cancel::CancelResponse;
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::{AuditRow, Completion, KeyHolder, Store, StoreError, Timestamp};
use crate::store::{RowStatus, UnsettledClaim};
use crate::vendors::policy::outcome_of_state;
use crate::vendors::CallContext;

/// Most attempts claimed by one statement; a pass claims again until nothing is left.
const ATTEMPTS_PER_CLAIM: u32 = 16;
/// Most claims per pass, so one pass ends even if the backlog keeps growing.
const CLAIMS_PER_PASS: usize = 64;

/// How long after a queued cancel's answer its status is first read.
pub const CONFIRM_QUEUED_AFTER: Duration = Duration::from_secs(60);
/// How long a queued cancel may stay in progress before it is sent once more, and after
/// that re-send before it stops being waited for.
pub const RESEND_QUEUED_AFTER: Duration = Duration::from_secs(3600);

/// How long a request may be unfinished before its process is presumed dead: twice the
/// request deadline (also when an `Idempotency-Key` lock goes stale).
pub fn presumed_dead_after(settings: &Settings) -> Duration {
    settings.server.request_timeout() * 2
}

/// How often the loop runs: every half deadline, at least every 15 seconds.
pub fn interval(settings: &Settings) -> Duration {
    (settings.server.request_timeout() / 2)
        .clamp(Duration::from_millis(200), Duration::from_secs(15))
}

/// Starts the recovery loop: one pass at once, then one every `interval`.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    state.supervisor().spawn("recovery", move || {
        let recovery = Recovery::new(state.clone());
        async move {
            tracing::info!(recovery = %recovery.name, "Recovery of interrupted cancels started.");
            let mut ticks = tokio::time::interval(interval(&recovery.state.settings));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = recovery.run_once().await {
                    tracing::error!(error = %e, "Recovery pass failed; the next pass retries.");
                }
            }
        }
    })
}

/// One replica's recovery.
#[derive(Debug)]
pub struct Recovery {
    state: AppState,
    /// `recovery:<random id>`: the lease owner and the `recovered_by` of what it resolves.
    name: String,
}

impl Recovery {
    /// A recovery with a name of its own.
    pub fn new(state: AppState) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            state,
            name: format!("recovery:{}", &id[..12]),
        }
    }

    fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    /// Claims and resolves everything that is due; returns how many rows it settled.
    pub async fn run_once(&self) -> Result<u64, StoreError> {
        let settings = &self.state.settings;
        let stale = presumed_dead_after(settings);
        let ttl = Duration::from_secs(settings.store.idempotency_ttl_hours * 3600);
        let mut settled = 0;
        self.quarantine().await?;
        self.end_finished_jobs().await?;
        for _ in 0..CLAIMS_PER_PASS {
            let now = Timestamp::now();
            let claim = UnsettledClaim {
                owner: &self.name,
                now,
                stale_before: now.saturating_sub(stale),
                unknown_since: now.saturating_sub(ttl),
                lease_until: now.saturating_add(stale),
                max_attempts: ATTEMPTS_PER_CLAIM,
            };
            let rows = self.store().claim_unsettled(&claim).await?;
            if rows.is_empty() {
                break;
            }
            let mut attempts: BTreeMap<String, Vec<AuditRow>> = BTreeMap::new();
            for row in rows {
                attempts
                    .entry(row.attempt_id.clone())
                    .or_default()
                    .push(row);
            }
            // Each attempt on its own: one whose handling panics leaves its rows leased, their
            // claims counted, while the others are settled; then the loop dies as the handler
            // did, and its supervisor restarts it.
            let passes = attempts.into_values().map(|rows| {
                std::panic::AssertUnwindSafe(self.recover_attempt(rows)).catch_unwind()
            });
            let mut panicked = None;
            for result in futures::future::join_all(passes).await {
                match result {
                    Ok(result) => settled += result?,
                    Err(panic) => drop(panicked.get_or_insert(panic)),
                }
            }
            if let Some(panic) = panicked {
                std::panic::resume_unwind(panic);
            }
        }
        Ok(settled)
    }

    /// Quarantines the rows whose handling failed twice (`Store::quarantine`): the job lanes'
    /// documents too, so each pass of every replica looks, and none has to.
    async fn quarantine(&self) -> Result<(), StoreError> {
        let rows = self.store().quarantine(Timestamp::now()).await?;
        if rows > 0 {
            crate::metrics::needs_attention(rows);
            tracing::error!(
                rows,
                recovery = %self.name,
                "Rows whose handling failed twice are quarantined as needs_attention; an operator must settle them."
            );
        }
        Ok(())
    }

    /// Ends the jobs nothing is left of (`JobStore::complete_finished_jobs`): two replicas that
    /// wrote a job's last documents at once may each have left it to the other.
    async fn end_finished_jobs(&self) -> Result<(), StoreError> {
        let jobs = self
            .store()
            .complete_finished_jobs(Timestamp::now())
            .await?;
        if jobs > 0 {
            tracing::info!(
                jobs,
                recovery = %self.name,
                "Jobs whose last documents were written by two writers at once are ended."
            );
        }
        Ok(())
    }

    /// Resolves the claimed rows of one attempt and stores its answer if it still holds a key;
    /// returns how many rows it settled (queued cancels still waiting do not count).
    async fn recover_attempt(&self, rows: Vec<AuditRow>) -> Result<u64, StoreError> {
        for row in &rows {
            crate::supervisor::fault::check("recovery", &row.code);
        }
        let attempt_id = rows[0].attempt_id.clone();
        let key = rows[0].idempotency_key.clone();
        let (pending, settled): (Vec<AuditRow>, Vec<AuditRow>) = rows
            .into_iter()
            .partition(|r| r.status == RowStatus::Pending);
        let (queued, unknown): (Vec<AuditRow>, Vec<AuditRow>) =
            settled.into_iter().partition(|r| r.queued);
        let holder = match (&key, pending.is_empty()) {
            (Some(key), false) => {
                self.store()
                    .hold_key(key, &attempt_id, Timestamp::now())
                    .await?
            }
            _ => KeyHolder::Gone,
        };
        let deadline = Instant::now() + self.state.settings.server.request_timeout();
        let mut resolved = match holder {
            KeyHolder::Held | KeyHolder::Gone => self.resume(pending, deadline).await,
            KeyHolder::Elsewhere => self.inspect_pending(pending, deadline).await,
        };
        resolved.extend(self.inspect_unknown(unknown, deadline).await);
        resolved.extend(self.confirm_queued(queued, deadline).await);
        let body = match (&key, holder) {
            (Some(_), KeyHolder::Held) => self.answer(&attempt_id, &resolved).await?,
            _ => None,
        };
        let completion = key
            .as_deref()
            .zip(body.as_deref())
            .map(|(key, body)| Completion {
                key,
                attempt_id: &attempt_id,
                body,
                now: Timestamp::now(),
            });
        let written = self
            .store()
            .settle(&self.name, &resolved, completion)
            .await?;
        let waiting = resolved.iter().filter(|r| r.queued).count() as u64;
        // Fewer rows written means another owner took some over; it counts its own.
        if written == resolved.len() as u64 {
            for row in resolved.iter().filter(|r| !r.queued) {
                let vendor = row.vendor.as_deref().unwrap_or("none");
                crate::metrics::recovered_document(vendor, real_status(row));
            }
        }
        let written = written.saturating_sub(waiting);
        if written == 0 {
            return Ok(0);
        }
        tracing::info!(
            recovery = %self.name,
            attempt_id = %attempt_id,
            documents = written,
            answer_stored = completion.is_some(),
            "Recovered the documents of an interrupted request."
        );
        Ok(written)
    }

    /// Reads each document's status and re-sends the cancel where it is still in progress,
    /// through the vendors' usual policy; vendors without a status read leave `interrupted`.
    async fn resume(&self, rows: Vec<AuditRow>, deadline: Instant) -> Vec<AuditRow> {
        let Some(first) = rows.first() else {
            return rows;
        };
        let command = CancelCommand {
            codes: Vec::new(),
            message: first.message.clone(),
            email: first.email.clone(),
            notify_signers: first.notify_signers,
        };
        // Rows of one attempt share their request id; vendors see it again.
        let request_id = first.request_id.clone();
        let (rows, mut plan): (Vec<AuditRow>, Vec<DocumentResult>) = rows
            .into_iter()
            .filter_map(|row| interrupted_result(&row).map(|result| (row, result)))
            .unzip();
        let resumed = vec![true; plan.len()];
        self.state
            .gateway
            .execute(
                &command,
                &mut plan,
                &resumed,
                CallContext::interactive(&request_id, deadline),
            )
            .await;
        let now = Timestamp::now();
        rows.into_iter()
            .zip(&plan)
            .map(|(mut row, result)| {
                let calls = row.vendor_calls;
                audit::set_outcome(&mut row, result, now);
                row.vendor_calls += calls;
                self.mark(&mut row, now);
                row
            })
            .collect()
    }

    /// Reads each document's status without ever sending (another request sends for them).
    async fn inspect_pending(&self, rows: Vec<AuditRow>, deadline: Instant) -> Vec<AuditRow> {
        let reads = rows.into_iter().map(|row| async move {
            let mut result = interrupted_result(&row)?;
            let state = self.read(&row, deadline).await;
            let now = Timestamp::now();
            if let Some(Ok(state)) = state {
                result.vendor_state = Some(state);
                if let Some(outcome) = outcome_of_state(state, true) {
                    result.outcome = outcome;
                }
            }
            result.outcome_unknown = !matches!(state, Some(Ok(_)));
            let mut row = row;
            audit::set_outcome(&mut row, &result, now);
            self.mark(&mut row, now);
            Some(row)
        });
        futures::future::join_all(reads)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Reads the status of documents answered "outcome unknown" and records the real state
    /// beside the answer given, which stays as it was. A failed read waits for a later pass.
    async fn inspect_unknown(&self, rows: Vec<AuditRow>, deadline: Instant) -> Vec<AuditRow> {
        let reads = rows.into_iter().map(|row| async move {
            let state = self.read(&row, deadline).await;
            let mut row = row;
            match state {
                Some(Ok(state)) => row.vendor_state = Some(state),
                // The vendor cannot be asked (any more): stop trying.
                None => {}
                Some(Err(_)) => return None,
            }
            row.outcome_unknown = false;
            self.mark(&mut row, Timestamp::now());
            Some(row)
        });
        futures::future::join_all(reads)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Reads the status of cancels the vendor queued: a cancelled document confirms the
    /// cancel; another state ends the wait with that state recorded; a document still in
    /// progress is read again later, sent once more `RESEND_QUEUED_AFTER` after the answer,
    /// and given up on as long after the re-send. A failed read is tried again a minute later.
    async fn confirm_queued(&self, rows: Vec<AuditRow>, deadline: Instant) -> Vec<AuditRow> {
        let confirms = rows.into_iter().map(|mut row| async move {
            let now = Timestamp::now();
            let resent_at = row.recovered_at;
            let since = |then: Timestamp| elapsed(then, now);
            match self.read(&row, deadline).await {
                Some(Ok(DocState::InProgress)) => {
                    let answered = row.finished_at.unwrap_or(row.received_at);
                    match resent_at {
                        None if since(answered) < RESEND_QUEUED_AFTER => {
                            row.confirm_at = Some(answered.saturating_add(RESEND_QUEUED_AFTER));
                            return row;
                        }
                        None => return self.resend_queued(row, deadline).await,
                        Some(at) if since(at) < RESEND_QUEUED_AFTER => {
                            row.confirm_at = Some(at.saturating_add(RESEND_QUEUED_AFTER));
                            return row;
                        }
                        Some(_) => {
                            tracing::warn!(
                                vendor = row.vendor.as_deref().unwrap_or(""),
                                code = %row.code,
                                "A queued cancel was never applied, even after a re-send; the \
                                 document is still in progress."
                            );
                            row.vendor_state = Some(DocState::InProgress);
                        }
                    }
                }
                Some(Ok(state)) => row.vendor_state = Some(state),
                Some(Err(_)) => {
                    row.confirm_at = Some(now.saturating_add(CONFIRM_QUEUED_AFTER));
                    return row;
                }
                // The vendor cannot be asked (any more): stop waiting.
                None => {}
            }
            row.queued = false;
            row.confirm_at = None;
            self.mark(&mut row, now);
            row
        });
        futures::future::join_all(confirms).await
    }

    /// Sends a queued cancel once more (the document is still in progress long after the
    /// vendor accepted it), through the vendor's usual policy.
    async fn resend_queued(&self, mut row: AuditRow, deadline: Instant) -> AuditRow {
        let Some(result) = interrupted_result(&row) else {
            return row;
        };
        let command = CancelCommand {
            codes: Vec::new(),
            message: row.message.clone(),
            email: row.email.clone(),
            notify_signers: row.notify_signers,
        };
        let mut plan = [result];
        self.state
            .gateway
            .execute(
                &command,
                &mut plan,
                &[false],
                CallContext::interactive(&row.request_id, deadline),
            )
            .await;
        let [result] = plan;
        let now = Timestamp::now();
        row.vendor_calls += result.vendor_calls;
        match result.outcome.error_code() {
            // Sent again (or it went through at once): wait for it as for the first one.
            None => row.confirm_at = Some(now.saturating_add(CONFIRM_QUEUED_AFTER)),
            Some(ErrorCode::AlreadyCancelled) => {
                row.vendor_state = Some(DocState::Cancelled);
                row.queued = false;
                row.confirm_at = None;
            }
            // Nothing was sent: try again a minute later.
            Some(code) if code.retryable() => {
                row.confirm_at = Some(now.saturating_add(CONFIRM_QUEUED_AFTER));
                return row;
            }
            Some(code) => {
                tracing::warn!(
                    vendor = row.vendor.as_deref().unwrap_or(""),
                    code = %row.code,
                    error = code.as_str(),
                    "A queued cancel's re-send was refused; the document is no longer waited for."
                );
                row.queued = false;
                row.confirm_at = None;
            }
        }
        self.mark(&mut row, now);
        row
    }

    /// The document's status, or `None` when its vendor has no status read (or is gone).
    async fn read(
        &self,
        row: &AuditRow,
        deadline: Instant,
    ) -> Option<Result<DocState, crate::vendors::UpstreamError>> {
        let vendor = self.state.gateway.vendor(row.vendor.as_deref()?)?;
        if !vendor.can_read_status() {
            return None;
        }
        let ctx = CallContext::interactive(&row.request_id, deadline);
        Some(vendor.status(row.vendor_code.as_deref()?, ctx).await)
    }

    fn mark(&self, row: &mut AuditRow, now: Timestamp) {
        row.recovered_at = Some(now);
        row.recovered_by = Some(self.name.clone());
    }

    /// The answer the attempt would have given: every row in request order, with the
    /// resolved ones as just resolved. `None` if a row is still unresolved.
    async fn answer(
        &self,
        attempt_id: &str,
        resolved: &[AuditRow],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut rows = self.store().attempt_rows(attempt_id).await?;
        for row in &mut rows {
            if let Some(new) = resolved.iter().find(|r| r.position == row.position) {
                *row = new.clone();
            }
        }
        let Some(results) = rows
            .iter()
            .map(audit::result_of)
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        Ok(serde_json::to_vec(&CancelResponse::new(&results)).ok())
    }
}

/// The time from `then` to `now` (zero if `now` is earlier).
fn elapsed(then: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(u64::try_from(now.as_millis() - then.as_millis()).unwrap_or(0))
}

/// The document's final status as far as recovery knows: what the vendor's state says, else
/// the row's own outcome.
fn real_status(row: &AuditRow) -> &'static str {
    let answered = match row.status {
        RowStatus::Done(status) => status,
        RowStatus::Waiting | RowStatus::Pending => Status::Failed,
    };
    match (row.vendor_state, answered) {
        (Some(DocState::Cancelled), _) | (_, Status::Cancelled) => Status::Cancelled.as_str(),
        (Some(_), _) => Status::Failed.as_str(),
        (None, status) => status.as_str(),
    }
}

/// A row's document, planned as `interrupted` until something better is known; `None` for a
/// row signgate did not write (its code does not parse), which recovery leaves alone.
fn interrupted_result(row: &AuditRow) -> Option<DocumentResult> {
    Some(DocumentResult {
        code: DocumentCode::parse(&row.code).ok()?,
        vendor: row.vendor.as_deref().map(VendorName::new),
        vendor_code: row.vendor_code.clone(),
        outcome: Outcome::interrupted(),
        vendor_status: None,
        vendor_calls: 0,
        outcome_unknown: true,
        vendor_state: None,
    })
}

// ---- a retry that takes over a stale key ------------------------------------------------------

/// The `pending` rows an earlier attempt of the same request left (its process stopped),
/// adopted by the retry that took over its `Idempotency-Key`.
#[derive(Debug, Default)]
pub struct Adopted {
    owner: String,
    rows: Vec<AuditRow>,
}

/// Adopts the rows earlier attempts left `pending` under `meta`'s key, so that no recovery
/// sends for them while this request does.
pub async fn adopt(
    store: &Arc<dyn Store>,
    settings: &Settings,
    meta: &RequestMeta,
) -> Result<Adopted, StoreError> {
    let Some(key) = &meta.idempotency_key else {
        return Ok(Adopted::default());
    };
    let owner = format!("attempt:{}", meta.attempt_id);
    let lease_until = Timestamp::now().saturating_add(presumed_dead_after(settings));
    let rows = store
        .adopt(key, &meta.attempt_id, &owner, lease_until)
        .await?;
    Ok(Adopted { owner, rows })
}

impl Adopted {
    /// Whether an earlier attempt may have sent this code's cancel.
    pub fn covers(&self, code: &DocumentCode) -> bool {
        self.rows.iter().any(|row| row.code == code.as_str())
    }

    /// Gives each adopted row this request's outcome for the same code.
    pub async fn settle(
        self,
        store: &Arc<dyn Store>,
        meta: &RequestMeta,
        results: &[DocumentResult],
    ) {
        if self.rows.is_empty() {
            return;
        }
        let now = Timestamp::now();
        let rows: Vec<AuditRow> = self
            .rows
            .into_iter()
            .filter_map(|mut row| {
                let result = results.iter().find(|r| r.code.as_str() == row.code)?;
                audit::set_outcome(&mut row, result, now);
                row.recovered_at = Some(now);
                row.recovered_by = Some(format!("retry:{}", meta.request_id));
                Some(row)
            })
            .collect();
        if let Err(e) = store.settle(&self.owner, &rows, None).await {
            tracing::error!(error = %e, "Adopted audit rows could not be recorded; a recovery will.");
        }
    }
}
