//! The Markdown results of `bench/jobs/main.rs`: the run's header, the job against the ideal, the
//! calls of every fixed window as the simulator counts them, the synchronous latency and the
//! targets.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use signgate::vendors::wrap::{interactive_reserve, DEFAULT_INTERACTIVE_RESERVE_PERCENT};

use super::machine::{read, Machine};
use super::proxy::Call;
use super::{wall, Args, Run, SyncCall};

/// The pacer counts a minute's calls in the last 61 one-second buckets
/// (`src/vendors/wrap/pace.rs`): a call's slot comes back 61 s after it was taken.
const PACER_WINDOW: Duration = Duration::from_secs(61);

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn tally<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    items.for_each(|i| *counts.entry(i).or_insert(0) += 1);
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}

fn yes(met: bool) -> &'static str {
    if met {
        "**yes**"
    } else {
        "**no**"
    }
}

/// The most calls in any `span` of `calls` (sorted by arrival).
fn densest(calls: &[&Call], span: Duration) -> usize {
    let mut first = 0;
    (0..calls.len())
        .map(|last| {
            while calls[last].at - calls[first].at >= span {
                first += 1;
            }
            last - first + 1
        })
        .max()
        .unwrap_or(0)
}

/// The bursts after the first a job of `docs` needs when the first takes `share` calls and
/// every later one `share - sync` (the synchronous calls of the 61 s before it count in the
/// pacer's window); `None` when later bursts get nothing.
fn later_bursts(docs: u64, share: u64, sync: u64) -> Option<u64> {
    let rest = docs.saturating_sub(share);
    match share.checked_sub(sync).filter(|&n| n > 0) {
        _ if rest == 0 => Some(0),
        Some(each) => Some(rest.div_ceil(each)),
        None => None,
    }
}

/// A pause between job calls longer than this ends a burst.
const BURST_GAP: Duration = Duration::from_secs(5);

/// `calls` (sorted) cut where two follow each other more than `BURST_GAP` apart.
fn bursts<'a>(calls: &[&'a Call]) -> Vec<Vec<&'a Call>> {
    let mut bursts: Vec<Vec<&Call>> = Vec::new();
    for &call in calls {
        match bursts.last_mut() {
            Some(burst) if call.at - burst[burst.len() - 1].at <= BURST_GAP => burst.push(call),
            _ => bursts.push(vec![call]),
        }
    }
    bursts
}

fn sync_row(out: &mut String, label: &str, calls: &[&SyncCall]) {
    if calls.is_empty() {
        return;
    }
    let mut latencies: Vec<Duration> = calls.iter().map(|c| c.latency).collect();
    latencies.sort();
    let non_200 = calls.iter().filter(|c| c.http != 200).count();
    let _ = writeln!(
        out,
        "| {label} | {} | {} | {} | {} | {} | {non_200} | {} |",
        calls.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
        ms(latencies.iter().sum::<Duration>() / latencies.len() as u32),
        tally(calls.iter().map(|c| c.outcome.as_str())),
    );
}

/// The whole results file.
pub fn markdown(args: &Args, machine: &Machine, run: &Run, calls: &[Call]) -> String {
    let mut out = String::new();
    let rpm = args.rpm();
    let reserve = interactive_reserve(rpm, DEFAULT_INTERACTIVE_RESERVE_PERCENT);
    let share = rpm - reserve;
    let ideal = args.ideal();
    let finished = run.at("finished_at");
    let wall_time = finished.and_then(|f| (f - run.accepted).to_std().ok());
    let ratio = wall_time.map(|w| w.as_secs_f64() / ideal.as_secs_f64());
    let zapsign: Vec<&Call> = calls.iter().filter(|c| c.vendor == "zapsign").collect();
    let job_calls: Vec<&Call> = zapsign.iter().copied().filter(|c| c.job).collect();
    let limited = calls.iter().filter(|c| c.status == 429).count();
    let windows = (args.docs as u64).div_ceil(u64::from(share.max(1)));
    let bound = PACER_WINDOW * u32::try_from(windows.saturating_sub(1)).unwrap_or(u32::MAX);
    let sync_calls = match args.sync_every_ms {
        0 => 0,
        every => PACER_WINDOW.as_millis() as u64 / (every * args.zapsign_every.max(1)),
    };
    let sync_bound = later_bursts(args.docs as u64, u64::from(share), sync_calls)
        .map(|n| PACER_WINDOW * u32::try_from(n).unwrap_or(u32::MAX));

    let _ = writeln!(out, "# Bulk job against ZapSign's rate limit\n");
    let _ = writeln!(
        out,
        "Written by `bash bench/jobs.sh` (`bench/jobs/main.rs`; bench/README.md says what each \
         figure means). All figures come from this one run.\n"
    );
    let _ = writeln!(out, "## Run\n\n| | |\n|---|---|");
    let date = machine.date.format("%Y-%m-%d %H:%M:%S");
    let _ = writeln!(out, "| date (UTC) | {date} |");
    let _ = writeln!(out, "| commit | `{}` |", machine.commit);
    let _ = writeln!(out, "| machine | {} |", machine.machine);
    let _ = writeln!(out, "| load average at start | {} |", machine.load_start);
    let _ = writeln!(
        out,
        "| load average at end | {} |",
        read("/proc/loadavg").trim()
    );
    let _ = writeln!(
        out,
        "| simulator | `signgate simulate --unknown-in-progress --no-seed`, ZapSign {} calls \
         per fixed one-minute window |",
        args.limit
    );
    let _ = writeln!(
        out,
        "| signgate | `signgate serve`, SQLite file store, ZapSign `requests_per_minute` {rpm}, \
         every other setting its default (`jobs.interactive_reserve_percent` 10: jobs leave \
         {reserve} calls a minute to synchronous requests; `jobs.slice_documents` 100; \
         `jobs.poll_interval_ms` 1000; ZapSign `max_concurrency` 8) |"
    );
    let _ = writeln!(
        out,
        "| between them | a counting proxy in the benchmark process (every vendor call) |"
    );
    let sync_load = match args.sync_every_ms {
        0 => "none".to_owned(),
        every => format!(
            "one 1-document `POST /documents/cancel` every {every} ms, open loop, 1 in {} to \
             ZapSign (a fresh UUID), the others to Auco (a fresh code)",
            args.zapsign_every.max(1)
        ),
    };
    let _ = writeln!(
        out,
        "| job | one `POST /documents/cancel/jobs` of {} ZapSign codes |",
        args.docs
    );
    let _ = writeln!(out, "| synchronous load while it runs | {sync_load} |\n");

    let _ = writeln!(out, "## The job\n\n| figure | value |\n|---|---:|");
    let _ = writeln!(
        out,
        "| ideal: {} documents / {} per minute | {} |",
        args.docs,
        args.limit,
        secs(ideal)
    );
    let shown = |d: Option<Duration>| d.map_or("-".to_owned(), secs);
    let _ = writeln!(
        out,
        "| wall time, `202` to `finished_at` | {} |",
        shown(wall_time)
    );
    let _ = writeln!(
        out,
        "| **wall time / ideal** | **{}** |",
        ratio.map_or("-".to_owned(), |r| format!("{r:.3} x"))
    );
    let span = |from: &str| {
        run.at(from)
            .zip(finished)
            .and_then(|(a, b)| (b - a).to_std().ok())
    };
    let _ = writeln!(
        out,
        "| `created_at` to `finished_at` (signgate's clock) | {} |",
        shown(span("created_at"))
    );
    let _ = writeln!(
        out,
        "| `started_at` to `finished_at` | {} |",
        shown(span("started_at"))
    );
    let first_last = job_calls
        .first()
        .zip(job_calls.last())
        .map(|(a, b)| b.at - a.at);
    let _ = writeln!(
        out,
        "| first to last job call reaching ZapSign | {} |",
        shown(first_last)
    );
    let _ = writeln!(
        out,
        "| the pacer's bound: {share} background calls per {} s, {windows} windows, the last \
         starting after | {} ({:.3} x) |",
        PACER_WINDOW.as_secs(),
        secs(bound),
        bound.as_secs_f64() / ideal.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| the same with the synchronous load: {sync_calls} ZapSign calls per 61 s out of every \
         burst but the first | {} |",
        sync_bound.map_or("never".to_owned(), |b| format!(
            "{} ({:.3} x)",
            secs(b),
            b.as_secs_f64() / ideal.as_secs_f64()
        ))
    );
    let _ = writeln!(
        out,
        "| documents per outcome | {} |",
        run.outcomes
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let reads = job_calls.iter().filter(|c| c.read).count();
    let _ = writeln!(
        out,
        "| job calls at ZapSign: cancels, status reads | {}, {reads} |",
        job_calls.len() - reads
    );
    let _ = writeln!(out, "| simulator `429`s (any call) | {limited} |");
    let _ = writeln!(
        out,
        "| most ZapSign calls in any 60 s (sliding) | {} |",
        densest(&zapsign, Duration::from_secs(60))
    );
    if run.timed_out {
        let _ = writeln!(out, "| **the job did not end in time and was stopped** | |");
    }

    let _ = writeln!(
        out,
        "\n## The job's bursts (job calls more than {} s apart start a new one)\n\n\
         | burst | starts after the `202` | calls | lasts |\n|---:|---:|---:|---:|",
        BURST_GAP.as_secs()
    );
    let accepted =
        Duration::from_millis(u64::try_from(run.accepted.timestamp_millis()).unwrap_or(0));
    for (n, burst) in bursts(&job_calls).iter().enumerate() {
        let (first, last) = (burst[0].at, burst[burst.len() - 1].at);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            n + 1,
            secs(first.saturating_sub(accepted)),
            burst.len(),
            secs(last - first)
        );
    }

    let _ = writeln!(
        out,
        "\n## ZapSign calls per fixed window (whole minutes since the epoch, as the simulator \
         counts)\n\n| window (UTC) | job calls | synchronous calls | total | `429`s |\n\
         |---|---:|---:|---:|---:|"
    );
    let mut per_window: BTreeMap<u64, (usize, usize, usize)> = BTreeMap::new();
    for call in &zapsign {
        let slot = per_window.entry(call.at.as_secs() / 60).or_default();
        match call.job {
            true => slot.0 += 1,
            false => slot.1 += 1,
        }
        slot.2 += usize::from(call.status == 429);
    }
    for (minute, (job, sync, refused)) in &per_window {
        let start = wall(Duration::from_secs(minute * 60)).format("%H:%M");
        let _ = writeln!(
            out,
            "| {start} | {job} | {sync} | {} | {refused} |",
            job + sync
        );
    }

    let _ = writeln!(
        out,
        "\n## Synchronous cancels while the job ran\n\n| vendor | requests | p50 ms | p99 ms | \
         max ms | mean ms | non-200 | outcomes |\n|---|---:|---:|---:|---:|---:|---:|---|"
    );
    for vendor in ["zapsign", "auco"] {
        let of: Vec<&SyncCall> = run.sync.iter().filter(|c| c.vendor == vendor).collect();
        sync_row(&mut out, vendor, &of);
    }
    sync_row(&mut out, "all", &run.sync.iter().collect::<Vec<_>>());

    let cancelled = run.outcomes.get("cancelled").copied().unwrap_or(0);
    let served = run
        .sync
        .iter()
        .all(|c| c.http == 200 && c.outcome == "cancelled");
    let _ = writeln!(
        out,
        "\n## Targets\n\n| target | figure | met |\n|---|---|---|"
    );
    let _ = writeln!(
        out,
        "| {} documents within 1.05 x the ideal | {} | {} |",
        args.docs,
        ratio.map_or("-".to_owned(), |r| format!("{r:.3} x")),
        yes(ratio.is_some_and(|r| r <= 1.05))
    );
    let _ = writeln!(
        out,
        "| the simulator's limit never exceeded | {limited} `429`s | {} |",
        yes(limited == 0)
    );
    let _ = writeln!(
        out,
        "| every document cancelled | {cancelled} of {} | {} |",
        args.docs,
        yes(cancelled as usize == args.docs)
    );
    let served_count = run
        .sync
        .iter()
        .filter(|c| c.http == 200 && c.outcome == "cancelled")
        .count();
    let _ = writeln!(
        out,
        "| every synchronous request served while the job ran | {served_count} of {} `200` and \
         cancelled | {} |",
        run.sync.len(),
        match run.sync.is_empty() {
            true => "- (no synchronous load)",
            false => yes(served),
        }
    );
    out
}
