//! The supervisor of background work: every long-lived task of a replica (job lanes, the
//! callback sender, the recovery loop, retention, the key purger, the job gauges) runs under
//! it. A task that panics is logged at ERROR with its name, counted in
//! `signgate_task_restarts_total{task}`, and started again after a capped exponential backoff
//! (`server.task_restart_backoff_ms`, doubled per consecutive panic up to
//! `server.task_restart_backoff_max_ms`); while it is down `/readyz` answers `503` naming it.
//! A task that returns (shutdown, or nothing to do) is not restarted.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinHandle;

/// Which supervised tasks are down (between a panic and their restart).
#[derive(Debug, Default)]
pub struct TaskHealth {
    down: Mutex<BTreeMap<String, u32>>,
}

impl TaskHealth {
    /// The names of the tasks down now, in order.
    pub fn down(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u32>> {
        // A panic never happens while the lock is held; a poisoned map is still accurate.
        self.down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mark_down(&self, task: &str) {
        *self.lock().entry(task.to_owned()).or_default() += 1;
    }

    fn mark_up(&self, task: &str) {
        self.lock().remove(task);
    }
}

/// How a supervised task is restarted.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The wait after a first panic.
    pub first: Duration,
    /// The longest wait; a task that ran this long without a panic starts over at `first`.
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `panics`-th consecutive panic (1 for the first).
    pub fn wait(self, panics: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(panics.saturating_sub(1)))
            .min(self.max)
    }
}

/// Starts and restarts named tasks.
#[derive(Debug, Clone)]
pub struct Supervisor {
    health: Arc<TaskHealth>,
    backoff: Backoff,
}

impl Supervisor {
    /// A supervisor reporting into `health`.
    pub fn new(health: Arc<TaskHealth>, backoff: Backoff) -> Self {
        Self { health, backoff }
    }

    /// Runs `make()` as task `name`; a panic restarts it (a fresh `make()`) after a backoff.
    /// Aborting the returned handle stops the task and any restart.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, make: F) -> JoinHandle<()>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        // Zero from the start, so an alert's `increase()` sees the first restart.
        crate::metrics::task_restarts_registered(&name);
        let health = Arc::clone(&self.health);
        let backoff = self.backoff;
        tokio::spawn(async move {
            let mut panics: u32 = 0;
            loop {
                let started = tokio::time::Instant::now();
                // The task runs inside this one (not a spawn of its own), so aborting the
                // supervisor's handle drops it too.
                let run = std::panic::AssertUnwindSafe(make()).catch_unwind().await;
                let Err(panic) = run else {
                    health.mark_up(&name);
                    return;
                };
                if started.elapsed() >= backoff.max {
                    panics = 0;
                }
                panics = panics.saturating_add(1);
                let wait = backoff.wait(panics);
                health.mark_down(&name);
                crate::metrics::task_restart(&name);
                tracing::error!(
                    task = %name,
                    panic = %panic_message(panic.as_ref()),
                    restart_in_ms = wait.as_millis() as u64,
                    consecutive_panics = panics,
                    "A background task panicked; it is restarted after a backoff."
                );
                tokio::time::sleep(wait).await;
                tracing::info!(task = %name, "A background task is restarted.");
                health.mark_up(&name);
            }
        })
    }
}

/// The text a panic carried, when it is a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// Test-only fault injection (the `fault-injection` feature, which only test builds turn on):
/// a document whose code contains [`fault::PANIC_MARKER`] panics the task handling it.
#[cfg(feature = "fault-injection")]
pub mod fault {
    /// The marker in a document code that makes its handler panic.
    pub const PANIC_MARKER: &str = "fault.panic";

    /// Panics when `code` carries the marker.
    pub fn check(task: &str, code: &str) {
        if code.contains(PANIC_MARKER) {
            panic!("injected fault: {task} handling {code}");
        }
    }
}

/// Without the `fault-injection` feature there is nothing to inject.
#[cfg(not(feature = "fault-injection"))]
pub mod fault {
    /// Does nothing.
    #[inline(always)]
    pub fn check(_task: &str, _code: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        assert_eq!(b.wait(1), Duration::from_millis(100));
        assert_eq!(b.wait(2), Duration::from_millis(200));
        assert_eq!(b.wait(3), Duration::from_millis(400));
        assert_eq!(b.wait(4), Duration::from_millis(500));
        assert_eq!(b.wait(u32::MAX), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_down_then_restarted() {
        let health = Arc::new(TaskHealth::default());
        let sup = Supervisor::new(
            Arc::clone(&health),
            Backoff {
                first: Duration::from_secs(5),
                max: Duration::from_secs(60),
            },
        );
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        let task = sup.spawn("demo", move || {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("first run fails");
                }
                std::future::pending::<()>().await;
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(health.down(), vec!["demo".to_owned()]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(health.down().is_empty());
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
        task.abort();
    }
}
