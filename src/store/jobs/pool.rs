//! `pool_job_store!`: the one implementation of `JobStore` for both sqlx backends.

/// Implements `JobStore` for a backend with an sqlx `pool`, claiming with its own statements
/// (`CLAIM_SLICE_*`, `CLAIM_CALLBACKS_*`: they differ only in the row lock clause).
macro_rules! pool_job_store {
    ($store:ty, $claim_slice:expr, $claim_callbacks:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::JobStore for $store {
            async fn create_job(
                &self,
                job: &$crate::store::NewJob,
                rows: &[$crate::store::AuditRow],
                completion: Option<$crate::store::Completion<'_>>,
            ) -> Result<(), $crate::store::StoreError> {
                const OPERATION: &str = "create a job";
                let fail = $crate::store::StoreError::database(OPERATION);
                let mut tx = self.pool.begin().await.map_err(fail)?;
                sqlx::query($crate::store::jobs::INSERT_JOB)
                    .bind(job.id.as_str())
                    .bind(job.request_id.as_str())
                    .bind(i64::from(job.total))
                    .bind(job.email.as_str())
                    .bind(job.message.as_str())
                    .bind(job.notify_signers)
                    .bind(job.created_at.as_millis())
                    .bind(job.callback_url.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                for chunk in rows.chunks($crate::store::sql::INSERT_CHUNK) {
                    $crate::store::sql::insert_audit_rows(chunk)
                        .build()
                        .persistent(false)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                }
                sqlx::query($crate::store::jobs::MARK_JOB_ROWS)
                    .bind(job.id.as_str())
                    .bind(job.created_at.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                // A job whose every document was settled at creation has already ended.
                sqlx::query($crate::store::jobs::COMPLETE_JOB)
                    .bind(job.id.as_str())
                    .bind(job.created_at.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                if let Some(done) = completion {
                    let completed = sqlx::query($crate::store::sql::COMPLETE_ATTEMPT_KEY)
                        .bind(done.key)
                        .bind(done.attempt_id)
                        .bind(done.body)
                        .bind(done.now.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                    if completed.rows_affected() == 0 {
                        return Err($crate::store::StoreError::KeyNotHeld);
                    }
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))
            }

            async fn job(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::JobRecord>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::jobs::JobRow>($crate::store::jobs::SELECT_JOB)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("read a job"))?
                    .map($crate::store::JobRecord::try_from)
                    .transpose()
            }

            async fn job_tally(
                &self,
                id: &str,
            ) -> Result<Vec<$crate::store::Tally>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::jobs::TallyRow>($crate::store::jobs::JOB_TALLY)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "count a job's documents",
                    ))?
                    .into_iter()
                    .map($crate::store::Tally::try_from)
                    .collect()
            }

            async fn job_failures(
                &self,
                id: &str,
            ) -> Result<Vec<String>, $crate::store::StoreError> {
                sqlx::query_scalar($crate::store::jobs::JOB_FAILURES)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("read a job's failures"))
            }

            async fn job_rows(
                &self,
                id: &str,
                from: u32,
                limit: u32,
            ) -> Result<Vec<$crate::store::AuditRow>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::sql::AuditRecord>($crate::store::jobs::JOB_ROWS)
                    .bind(id)
                    .bind(i64::from(from))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(
                        "read a job's documents",
                    ))?
                    .into_iter()
                    .map($crate::store::AuditRow::try_from)
                    .collect()
            }

            async fn claim_slice(
                &self,
                claim: &$crate::store::SliceClaim<'_>,
            ) -> Result<Vec<$crate::store::JobDocument>, $crate::store::StoreError> {
                const OPERATION: &str = "claim a slice of a job";
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let claimed = sqlx::query_as::<_, $crate::store::jobs::ClaimedRecord>($claim_slice)
                    .bind(claim.owner)
                    .bind(claim.lease_until.as_millis())
                    .bind(claim.now.as_millis())
                    .bind(claim.lane)
                    .bind(i64::from(claim.limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?
                    .into_iter()
                    .map($crate::store::JobDocument::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                let mut jobs: Vec<&str> =
                    claimed.iter().map(|d| d.row.attempt_id.as_str()).collect();
                jobs.sort_unstable();
                jobs.dedup();
                for job in jobs {
                    sqlx::query($crate::store::jobs::START_JOB)
                        .bind(job)
                        .bind(claim.now.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                Ok(claimed)
            }

            async fn finish_slice(
                &self,
                owner: &str,
                outcomes: &[$crate::store::SliceOutcome],
                now: $crate::store::Timestamp,
            ) -> Result<u64, $crate::store::StoreError> {
                const OPERATION: &str = "record a slice's outcomes";
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let mut written = 0;
                for done in outcomes {
                    let row = &done.row;
                    written += sqlx::query($crate::store::jobs::FINISH_JOB_ROW)
                        .bind(row.status.as_str())
                        .bind(row.error_code.map($crate::model::ErrorCode::as_str))
                        .bind(row.error_message.as_deref())
                        .bind(row.finished_at.map($crate::store::Timestamp::as_millis))
                        .bind(row.vendor_status.map(i64::from))
                        .bind(i64::from(row.vendor_calls))
                        .bind(row.outcome_unknown)
                        .bind(row.vendor_state.map($crate::model::DocState::as_str))
                        .bind(row.queued)
                        .bind(row.confirm_at.map($crate::store::Timestamp::as_millis))
                        .bind(i64::from(done.attempts))
                        .bind(done.next_at.map($crate::store::Timestamp::as_millis))
                        .bind(row.vendor.as_deref())
                        .bind(row.vendor_code.as_deref())
                        .bind(row.attempt_id.as_str())
                        .bind(i64::from(row.position))
                        .bind(owner)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?
                        .rows_affected();
                }
                let mut jobs: Vec<&str> =
                    outcomes.iter().map(|d| d.row.attempt_id.as_str()).collect();
                jobs.sort_unstable();
                jobs.dedup();
                for job in jobs {
                    sqlx::query($crate::store::jobs::ABORT_WAITING)
                        .bind(job)
                        .bind(now.as_millis())
                        .bind($crate::store::jobs::ABORTED)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                    sqlx::query($crate::store::jobs::COMPLETE_JOB)
                        .bind(job)
                        .bind(now.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                }
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                Ok(written)
            }

            async fn abort_job(
                &self,
                id: &str,
                now: $crate::store::Timestamp,
            ) -> Result<Option<$crate::store::JobRecord>, $crate::store::StoreError> {
                const OPERATION: &str = "cancel a job";
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                sqlx::query($crate::store::jobs::CANCEL_JOB)
                    .bind(id)
                    .bind(now.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                sqlx::query($crate::store::jobs::ABORT_WAITING)
                    .bind(id)
                    .bind(now.as_millis())
                    .bind($crate::store::jobs::ABORTED)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let job = sqlx::query_as::<_, $crate::store::jobs::JobRow>(
                    $crate::store::jobs::SELECT_JOB,
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::store::StoreError::database(OPERATION))?;
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                job.map($crate::store::JobRecord::try_from).transpose()
            }

            async fn claim_callbacks(
                &self,
                owner: &str,
                now: $crate::store::Timestamp,
                lease_until: $crate::store::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::store::JobRecord>, $crate::store::StoreError> {
                sqlx::query_as::<_, $crate::store::jobs::JobRow>($claim_callbacks)
                    .bind(owner)
                    .bind(lease_until.as_millis())
                    .bind(now.as_millis())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("claim job callbacks"))?
                    .into_iter()
                    .map($crate::store::JobRecord::try_from)
                    .collect()
            }

            async fn record_callback(
                &self,
                id: &str,
                owner: &str,
                attempt: &$crate::store::CallbackAttempt,
                next: $crate::store::CallbackNext,
            ) -> Result<bool, $crate::store::StoreError> {
                const OPERATION: &str = "record a callback attempt";
                let (state, next_at) = match next {
                    $crate::store::CallbackNext::Delivered => ("delivered", None),
                    $crate::store::CallbackNext::RetryAt(at) => ("pending", Some(at.as_millis())),
                    $crate::store::CallbackNext::Failed => ("failed", None),
                };
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                sqlx::query($crate::store::jobs::INSERT_CALLBACK_ATTEMPT)
                    .bind(id)
                    .bind(attempt.at.as_millis())
                    .bind(attempt.status.map(i64::from))
                    .bind(attempt.error.as_deref())
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let held = sqlx::query($crate::store::jobs::RECORD_CALLBACK)
                    .bind(id)
                    .bind(state)
                    .bind(next_at)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?
                    .rows_affected();
                tx.commit()
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                Ok(held > 0)
            }

            async fn callback_attempts(
                &self,
                id: &str,
            ) -> Result<Vec<$crate::store::CallbackAttempt>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<_, $crate::store::jobs::AttemptRow>(
                    $crate::store::jobs::CALLBACK_ATTEMPTS,
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::StoreError::database(
                    "read callback attempts",
                ))?
                .into_iter()
                .map($crate::store::CallbackAttempt::from)
                .collect())
            }

            async fn job_gauges(
                &self,
            ) -> Result<$crate::store::JobGauges, $crate::store::StoreError> {
                const OPERATION: &str = "count jobs";
                let states: Vec<(String, i64)> = sqlx::query_as($crate::store::jobs::JOBS_BY_STATE)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database(OPERATION))?;
                let waiting: Vec<(String, i64)> =
                    sqlx::query_as($crate::store::jobs::WAITING_BY_VENDOR)
                        .fetch_all(&self.pool)
                        .await
                        .map_err($crate::store::StoreError::database(OPERATION))?;
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                Ok($crate::store::JobGauges {
                    jobs: states
                        .into_iter()
                        .filter_map(|(s, n)| {
                            $crate::store::JobState::from_wire(&s).map(|s| (s, count(n)))
                        })
                        .collect(),
                    waiting: waiting.into_iter().map(|(v, n)| (v, count(n))).collect(),
                })
            }

            async fn complete_finished_jobs(
                &self,
                now: $crate::store::Timestamp,
            ) -> Result<u64, $crate::store::StoreError> {
                let ended = sqlx::query($crate::store::jobs::COMPLETE_FINISHED_JOBS)
                    .bind(now.as_millis())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("end finished jobs"))?;
                Ok(ended.rows_affected())
            }

            async fn purge_jobs(
                &self,
                before: $crate::store::Timestamp,
                batch: u32,
            ) -> Result<u64, $crate::store::StoreError> {
                let purged = sqlx::query($crate::store::jobs::PURGE_JOBS)
                    .bind(before.as_millis())
                    .bind(i64::from(batch))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::database("purge old jobs"))?;
                Ok(purged.rows_affected())
            }
        }
    };
}
pub(in crate::store) use pool_job_store;
