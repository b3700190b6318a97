//! Watching a job: poll it until it ends, and show its progress on stderr, as a bar on a
//! terminal or as a plain line every few seconds elsewhere (logs, pipes).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::client::{Client, ClientError};
use super::job::Job;

/// How often the job is read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often a plain line is printed when stderr is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Reads that may fail in a row (no answer, `5xx`) before watching gives up.
const POLL_FAILURES_TOLERATED: u32 = 3;

/// The progress display: an indicatif bar on stderr, or plain lines.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    plain_every: Option<Duration>,
    last_plain: Option<Instant>,
}

impl Progress {
    /// A bar on stderr when it is a terminal; else a hidden bar and a plain line on stderr
    /// every [`PLAIN_EVERY`].
    pub fn for_stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            Progress {
                bar,
                plain_every: None,
                last_plain: None,
            }
        } else {
            Progress::plain(PLAIN_EVERY)
        }
    }

    /// No bar; a plain line on stderr at most every `every` (and at the end).
    pub fn plain(every: Duration) -> Progress {
        Progress {
            bar: ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden()),
            plain_every: Some(every),
            last_plain: None,
        }
    }

    /// Shows the job's latest state.
    pub fn show(&mut self, job: &Job) {
        self.bar.set_length(job.total);
        self.bar.set_position(job.done());
        self.bar.set_message(pace_message(job));
        if let Some(every) = self.plain_every {
            let due = self.last_plain.is_none_or(|last| last.elapsed() >= every);
            if due || job.state.is_final() {
                eprintln!("{}", plain_line(job));
                self.last_plain = Some(Instant::now());
            }
        }
    }

    /// Removes the bar (the table that follows says how the job ended).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    /// A bar left unfinished (Ctrl-C) is cleared, so what is printed next starts on a line
    /// of its own (the terminal's echo of ^C has moved the cursor under indicatif).
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

/// The bar's message: each vendor's `done/total` and pace, then the time left.
pub fn pace_message(job: &Job) -> String {
    let mut parts: Vec<String> = job
        .vendors
        .iter()
        .map(|v| match v.calls_per_minute {
            Some(pace) => format!("{}: {}/{}, {:.0}/min", v.vendor, v.done, v.total(), pace),
            None => format!("{}: {}/{}", v.vendor, v.done, v.total()),
        })
        .collect();
    if let Some(seconds) = job.estimated_seconds_left {
        parts.push(format!("{} left", duration_text(seconds)));
    }
    parts.join("; ")
}

/// The line printed instead of the bar: `job ID STATE: DONE/TOTAL done; <pace message>`.
pub fn plain_line(job: &Job) -> String {
    let message = pace_message(job);
    let head = format!(
        "job {} {}: {}/{} done",
        job.id,
        job.state.as_str(),
        job.done(),
        job.total
    );
    if message.is_empty() {
        head
    } else {
        format!("{head}; {message}")
    }
}

/// Seconds for people: `42s`, `7m 05s`, `2h 03m`.
pub fn duration_text(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Reads the job every `interval`, showing each state, until it is done or cancelled, and
/// returns that last state. A few failed reads in a row (no answer, `5xx`) are tolerated.
pub async fn watch(
    client: &Client,
    mut job: Job,
    interval: Duration,
    progress: &mut Progress,
) -> Result<Job, ClientError> {
    let mut failures = 0;
    progress.show(&job);
    while !job.state.is_final() {
        tokio::time::sleep(interval).await;
        match client.get(&job.id).await {
            Ok(latest) => {
                failures = 0;
                job = latest;
                progress.show(&job);
            }
            Err(e) if e.is_transient() && failures < POLL_FAILURES_TOLERATED => failures += 1,
            Err(e) => return Err(e),
        }
    }
    progress.finish();
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn running() -> Job {
        serde_json::from_value(json!({
            "id": "j1", "state": "running", "total": 4000,
            "counts": {"waiting": 3000, "pending": 50, "cancelled": 900,
                       "already_cancelled": 10, "failed": 40},
            "estimated_seconds_left": 420,
            "vendors": [{"vendor": "zapsign", "waiting": 3000, "done": 950,
                         "calls_per_minute": 500}]
        }))
        .unwrap()
    }

    #[test]
    fn the_message_gives_each_vendors_pace_and_the_time_left() {
        assert_eq!(
            pace_message(&running()),
            "zapsign: 950/3950, 500/min; 7m 00s left"
        );
        assert_eq!(
            plain_line(&running()),
            "job j1 running: 950/4000 done; zapsign: 950/3950, 500/min; 7m 00s left"
        );
    }

    #[test]
    fn durations_read_as_seconds_minutes_or_hours() {
        assert_eq!(duration_text(42), "42s");
        assert_eq!(duration_text(425), "7m 05s");
        assert_eq!(duration_text(7380), "2h 03m");
    }

    #[test]
    fn a_finished_job_is_not_polled_again() {
        let mut job = running();
        job.state = super::super::job::JobState::Done;
        let client = Client::new("http://127.0.0.1:1", "k".to_owned().into()).unwrap();
        let mut progress = Progress::plain(Duration::from_secs(3600));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let watched = runtime
            .block_on(watch(
                &client,
                job,
                Duration::from_secs(3600),
                &mut progress,
            ))
            .unwrap();
        assert_eq!(watched.id, "j1");
    }
}
