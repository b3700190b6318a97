//! The store conformance suite: every scenario runs once on SQLite and once on Postgres.
//!
//! Postgres variants need `SIGNGATE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432`);
//! each test creates and drops its own database. Without the variable they say so and pass;
//! with it, a server that does not answer fails them.

mod audit;
mod connect;
mod failures;
mod helpers;
mod idempotency;
mod jobs;
mod pacing;
mod recovery;
mod retention;
#[path = "../support/scratch.rs"]
mod scratch;

/// Turns each `module::scenario` (an `async fn(&Harness)`) into `sqlite::scenario` and
/// `postgres::scenario` tests.
macro_rules! on_both_stores {
    ($($module:ident::$scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let harness = crate::helpers::Harness::sqlite().await;
                    crate::$module::$scenario(&harness).await;
                    harness.store.close().await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(harness) =
                        crate::helpers::Harness::postgres(stringify!($scenario)).await
                    else {
                        return;
                    };
                    crate::$module::$scenario(&harness).await;
                    harness.store.close().await;
                }
            )+
        }
    };
}

on_both_stores!(
    idempotency::a_completed_answer_is_replayed_byte_for_byte,
    idempotency::an_empty_answer_is_replayed_as_empty,
    idempotency::another_body_is_a_mismatch_while_running_and_after_completion,
    idempotency::the_same_body_while_running_is_in_progress,
    idempotency::a_lock_older_than_stale_after_is_taken_over_once,
    idempotency::an_expired_key_counts_as_new,
    idempotency::release_lets_the_key_be_used_again,
    idempotency::release_leaves_a_completed_key_alone,
    idempotency::complete_fails_when_the_key_is_not_held,
    idempotency::purge_expired_removes_only_expired_keys_a_batch_at_a_time,
    idempotency::twenty_concurrent_begins_on_a_new_key_start_exactly_once,
    idempotency::twenty_concurrent_takeovers_of_a_stale_lock_start_exactly_once,
    audit::finished_rows_read_back_whole_newest_first,
    audit::history_breaks_ties_by_request_id,
    audit::history_honours_the_limit,
    audit::history_of_an_unknown_code_is_empty,
    audit::insert_pending_is_all_or_nothing,
    audit::finish_with_an_unknown_row_updates_nothing,
    audit::an_unknown_status_is_refused_and_an_unknown_code_reads_as_corrupt,
    audit::a_request_of_many_documents_is_recorded_whole,
    failures::a_closed_store_refuses_every_call,
    failures::a_read_only_store_refuses_writes_but_serves_reads,
    recovery::only_stale_unleased_rows_are_claimed_and_a_lease_lapses,
    recovery::concurrent_claims_from_two_pools_never_share_a_row,
    recovery::unknown_outcomes_are_claimed_until_their_state_is_known,
    recovery::settle_writes_only_held_rows_and_completes_the_attempts_key,
    recovery::a_retry_that_takes_over_a_key_adopts_the_pending_rows_of_earlier_attempts,
    recovery::a_released_key_is_gone_for_its_recovery,
    recovery::queued_cancels_are_claimed_once_their_confirmation_is_due,
    recovery::a_code_owner_is_remembered_and_the_last_finding_wins,
    retention::old_finished_rows_go_and_recent_rows_stay,
    retention::rows_recovery_needs_stay_however_old,
    retention::a_retention_of_zero_days_keeps_everything,
    retention::more_rows_than_a_batch_all_go_in_several_statements,
    retention::concurrent_purges_delete_each_row_once,
    retention::old_code_owners_go_and_recent_ones_stay,
    retention::idempotency_keys_keep_their_own_ttl,
    jobs::a_job_is_created_with_its_rows_and_completes_its_key,
    jobs::slices_are_claimed_once_and_the_job_ends_when_every_row_is_final,
    jobs::a_job_whose_rows_all_ended_without_ending_it_is_ended_by_the_sweep,
    jobs::a_slice_whose_lease_passed_is_claimed_again_as_unknown,
    jobs::a_row_claimed_twice_without_an_outcome_is_quarantined_and_its_job_ends,
    jobs::concurrent_claims_from_two_pools_never_share_a_document,
    jobs::aborting_ends_waiting_documents_and_late_retries,
    jobs::a_callback_is_claimed_once_retried_and_its_attempts_recorded,
    jobs::job_rows_are_left_to_the_runner_by_recovery_and_kept_by_the_purge,
    jobs::ended_jobs_go_after_their_documents_and_others_stay,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_shares_no_limits() {
    let harness = helpers::Harness::sqlite().await;
    pacing::sqlite_shares_no_limits(&harness).await;
    harness.store.close().await;
}

/// Shared pacing exists on Postgres only: each scenario becomes `postgres_pacing::scenario`.
macro_rules! on_postgres {
    ($($scenario:ident),+ $(,)?) => {
        mod postgres_pacing {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(harness) =
                        crate::helpers::Harness::postgres(stringify!($scenario)).await
                    else {
                        return;
                    };
                    crate::pacing::postgres_shares_limits(&harness);
                    crate::pacing::$scenario(&harness).await;
                    harness.store.close().await;
                }
            )+
        }
    };
}

on_postgres!(
    concurrent_reservations_from_two_pools_keep_every_window_at_the_limit,
    no_turn_is_granted_past_its_deadline_and_a_refusal_takes_nothing,
    limits_with_other_keys_do_not_share_turns,
    background_calls_take_only_turns_free_now_and_leave_the_reserve,
);
