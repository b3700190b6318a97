//! Where and when a run of `bench/jobs/main.rs` happened: the commit, the machine and its
//! load, read from git and `/proc`.

use chrono::{DateTime, Utc};

/// Where and when the run happened.
pub struct Machine {
    pub date: DateTime<Utc>,
    pub commit: String,
    pub machine: String,
    pub load_start: String,
}

/// A file's text, empty when it cannot be read.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn git(args: &[&str]) -> Option<std::process::Output> {
    std::process::Command::new("git").args(args).output().ok()
}

impl Machine {
    /// Reads the commit, the CPU, memory, kernel and load average now.
    pub fn read() -> Self {
        let mut commit = git(&["rev-parse", "--short", "HEAD"])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        let paths = ["src", "Cargo.toml", "Cargo.lock", "config", "migrations"];
        let dirty = git(&[&["diff", "--quiet", "HEAD", "--"][..], &paths[..]].concat())
            .is_some_and(|o| !o.status.success());
        if dirty {
            commit.push_str(" + uncommitted changes in src/");
        }
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map_or("unknown CPU", |l| l.trim_start_matches([' ', '\t', ':']));
        let kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or(0.0);
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        Self {
            date: Utc::now(),
            commit,
            machine: format!(
                "{cores} cores, {cpu}, {:.1} GiB RAM, Linux {}",
                kib / 1024.0 / 1024.0,
                read("/proc/sys/kernel/osrelease").trim()
            ),
            load_start: read("/proc/loadavg").trim().to_owned(),
        }
    }
}
