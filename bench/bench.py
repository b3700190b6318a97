#!/usr/bin/env python3
"""signgate benchmark driver (stdlib only).

`bench/run.sh` builds signgate, starts the simulator, the gateways (SQLite and Postgres stores)
and nginx on loopback ports, and then runs this script, which drives every load phase with `oha`,
reads CPU and memory from /proc, and writes bench/RESULTS.md with two hand-written SVG plots
beside it (latency.svg, ndocs.svg). See bench/README.md for what is measured and why.

Every loop here is bounded in count, and every subprocess in time.
"""

import argparse
import datetime
import heapq
import http.client
import json
import math
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from xml.sax import saxutils

CLK_TCK = os.sysconf("SC_CLK_TCK")
MESSAGE = "signgate benchmark"
EMAIL = "bench@example.com"
# The simulator's default credentials (src/simulator/config.rs).
ZAPSIGN_TOKEN = "sim-token"
AUCO_PRIVATE_KEY = "prk_sim"
AUCO_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def log(text):
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---- /proc -----------------------------------------------------------------------------------


def proc_cpu(pid):
    """utime + stime of a process, in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid, key):
    """A `kB` field of /proc/PID/status (VmHWM, VmRSS), in kB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss(pid):
    """Resets VmHWM to the current RSS (Linux `clear_refs` 5); False when not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_pids(pid):
    """Direct children of `pid` (nginx's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def system_busy():
    """CPU seconds of the whole machine (all cores) from /proc/stat: (user + nice + system,
    irq + softirq). Process times (utime, stime) do not include the second part."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:8]]
    return (values[0] + values[1] + values[2]) / CLK_TCK, (values[5] + values[6]) / CLK_TCK


def threads(pid):
    """Per thread name: [context switches, CPU seconds, thread count] of a process."""
    by_name = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return by_name
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/comm") as f:
                name = f.read().strip()
            switches = sum(
                int(line.split()[1])
                for line in open(f"{base}/status")
                if "ctxt_switches:" in line
            )
            cpu = proc_cpu_path(f"{base}/stat")
        except OSError:
            continue
        entry = by_name.setdefault(name, [0, 0.0, 0])
        entry[0] += switches
        entry[1] += cpu
        entry[2] += 1
    return by_name


def proc_cpu_path(path):
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_pids(db):
    """The Postgres server's processes that work for this run: the postmaster, its background
    processes (checkpointer, WAL writer, autovacuum...) and the backends of database `db`, not
    other databases' client backends (their titles name a client address)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f" {db} " in f"{title} " or not re.search(r"\(\d+\)|\[local\]", title):
            found.append(int(entry))
    return found


def wait_for_quiet(max_checks, threshold=0.15, interval=2.0):
    """Waits (at most `max_checks` x `interval` s) until the machine is under `threshold` busy,
    so another job's build or tests, or the last phase's leftovers, do not share the cores with
    the benchmark. Returns the busy share last seen."""
    share = 1.0
    for _ in range(max_checks):
        before, at = system_busy()[0], time.monotonic()
        time.sleep(interval)
        share = (system_busy()[0] - before) / (time.monotonic() - at) / (os.cpu_count() or 1)
        if share < threshold:
            break
        log(f"machine {100 * share:.0f} % busy with other work; waiting")
    return share


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Snapshot:
    """CPU of the processes under test, the machine and our children (oha), at one instant.
    `pids` maps a name to a list of pids or to a function returning one (processes that come
    and go, like Postgres backends); `thread_pid` is the gateway whose threads are read."""

    def __init__(self, pids, thread_pid):
        self.at = time.monotonic()
        self.cpu = {
            name: {p: proc_cpu(p) for p in (group() if callable(group) else group)}
            for name, group in pids.items()
        }
        self.busy, self.irq = system_busy()
        self.children = children_cpu()
        self.threads = threads(thread_pid)

    def delta(self, before):
        # Per pid: a process started during the phase counts from 0.
        cpu = {
            name: sum(v - before.cpu.get(name, {}).get(p, 0.0) for p, v in group.items())
            for name, group in self.cpu.items()
        }
        ours = sum(cpu.values()) + (self.children - before.children)
        elapsed = self.at - before.at
        busy = self.busy - before.busy
        threads_delta = {
            name: [v[0] - before.threads.get(name, [0, 0.0])[0],
                   v[1] - before.threads.get(name, [0, 0.0])[1], v[2]]
            for name, v in self.threads.items()
        }
        return {
            "irq_cpu": self.irq - before.irq,
            "signgate_threads": threads_delta,
            "cpu": cpu,
            "oha_cpu": self.children - before.children,
            "elapsed": elapsed,
            "machine_busy": busy,
            # CPU used by processes that are not part of the benchmark (a build, an editor...).
            "foreign_cpu": max(0.0, busy - ours),
        }


# ---- request bodies --------------------------------------------------------------------------


def new_uuid(rng):
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def new_auco_code(rng):
    return "".join(rng.choice(AUCO_CHARS) for _ in range(10))


def write_bodies(path, kind, count, rng):
    """`count` bodies, one a line, each naming a fresh ZapSign document (oha -Z picks lines at
    random, so a large pool keeps repeats, which the vendor answers "already refused", rare)."""
    with open(path, "w") as f:
        for _ in range(count):
            token = new_uuid(rng)
            if kind == "gateway":
                f.write(f'{{"codes":["{token}"],"message":"{MESSAGE}","email":"{EMAIL}"}}\n')
            else:
                f.write(
                    f'{{"doc_token":"{token}","rejected_reason":"{MESSAGE}","notify_signer":true}}\n'
                )
    return path


# ---- oha -------------------------------------------------------------------------------------


class Target:
    def __init__(self, name, url, headers, kind, pid=None, port=None):
        self.name = name
        self.url = url
        self.headers = headers
        self.kind = kind  # "gateway" or "direct" (the body shape)
        # The gateway process measured (RSS, threads, documents); for direct and nginx targets,
        # the SQLite load gateway as before.
        self.pid = pid
        self.port = port


def run_oha(args, target, body_file, seconds, out, rate=None, alongside=None):
    cmd = [
        args.oha, "--no-tui", "-z", f"{seconds}s", "-w", "-c", str(args.connections),
        "-m", "POST", "-T", "application/json", "-t", "10s",
        "--output-format", "json", "-o", out, "-Z", body_file,
    ]
    for header in target.headers:
        cmd += ["-H", header]
    if rate is not None:
        cmd += ["-q", str(rate), "--latency-correction"]
    cmd.append(target.url)
    oha = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    side = None
    if alongside:
        # A profiler attached while the load runs: starts 2 s in, ends before the load does.
        time.sleep(2)
        side = subprocess.Popen(alongside)
    try:
        oha.wait(timeout=seconds + 120)
        if side:
            side.wait(timeout=seconds + 120)
    finally:
        for proc in (oha, side):
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()
    if oha.returncode != 0:
        raise SystemExit(f"oha failed ({oha.returncode}): {' '.join(cmd)}")
    with open(out) as f:
        return json.load(f)


def summarise(raw):
    codes = {k: int(v) for k, v in raw.get("statusCodeDistribution", {}).items()}
    errors = {k: int(v) for k, v in raw.get("errorDistribution", {}).items()}
    pct = raw.get("latencyPercentiles", {})
    ms = lambda key: (pct.get(key) or 0.0) * 1000.0  # noqa: E731
    return {
        "requests": sum(codes.values()),
        "codes": codes,
        "errors": errors,
        "rps": raw["summary"]["requestsPerSec"] or 0.0,
        "p50": ms("p50"),
        "p99": ms("p99"),
        "p999": ms("p99.9"),
        "mean": (raw["summary"].get("average") or 0.0) * 1000.0,
        "max": (raw["summary"].get("slowest") or 0.0) * 1000.0,
    }


def gateway_counts(host, port):
    """signgate_documents_total by status, from GET /metrics."""
    counts = {}
    try:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    except OSError:
        return counts
    for line in text.splitlines():
        if line.startswith("signgate_documents_total{"):
            status = re.search(r'status="([^"]*)"', line)
            if status:
                counts[status.group(1)] = counts.get(status.group(1), 0) + int(
                    float(line.rsplit(" ", 1)[1])
                )
    return counts


class Phases:
    """Runs load phases and keeps every measurement."""

    def __init__(self, args, pids):
        self.args = args
        self.pids = pids
        self.rng = random.Random(args.seed)
        self.records = []
        self.body_seq = 0

    def bodies(self, kind, count):
        self.body_seq += 1
        path = os.path.join(self.args.work, f"bodies-{self.body_seq}-{kind}.txt")
        return write_bodies(path, kind, count, self.rng)

    def measure(self, target, phase, seconds, rate=None, pool=None, alongside=None, quiet=False):
        """One load phase. `quiet`: first wait (bounded) until the machine is idle, so what the
        previous phase left running (a WAL checkpoint, autovacuum) is not measured here."""
        expected = (rate or self.args.pool_rps_guess) * seconds
        pool = pool or int(min(1_000_000, max(50_000, 20 * expected)))
        body_file = self.bodies(target.kind, pool)
        gw_pid = target.pid or self.pids["signgate"][0]
        gw_port = target.port or self.args.gw_port
        quiet_share = None
        if quiet:
            quiet_share = wait_for_quiet(self.args.phase_quiet_checks, interval=1.0)
        reset_peak_rss(gw_pid)
        before_docs = gateway_counts(self.args.host, gw_port)
        before = Snapshot(self.pids, gw_pid)
        out = os.path.join(self.args.work, f"oha-{len(self.records):02d}-{target.name}-{phase}.json")
        raw = run_oha(self.args, target, body_file, seconds, out, rate, alongside)
        after = Snapshot(self.pids, gw_pid)
        after_docs = gateway_counts(self.args.host, gw_port)
        os.unlink(body_file)
        record = summarise(raw)
        record.update(
            target=target.name,
            phase=phase,
            rate=rate,
            seconds=seconds,
            usage=after.delta(before),
            signgate_hwm_kb=proc_status(gw_pid, "VmHWM"),
            signgate_rss_kb=proc_status(gw_pid, "VmRSS"),
            documents={k: after_docs.get(k, 0) - before_docs.get(k, 0) for k in after_docs},
            quiet_before=quiet_share,
        )
        self.records.append(record)
        log(
            f"{phase:>10} {target.name:<11} rate={rate or '-':<6} {record['rps']:8.0f} req/s "
            f"p50={record['p50']:.3f} p99={record['p99']:.3f} p99.9={record['p999']:.3f} ms "
            f"codes={record['codes']} errors={record['errors']}"
        )
        return record


# ---- N documents -----------------------------------------------------------------------------


def post_json(conn, path, body, headers):
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return time.perf_counter() - started, response.status, data


def direct_call_times(host, port, count, rng):
    """Sequential direct calls to the latency simulator: ZapSign refuse and Auco batch cancel
    of 50 codes. Their medians are the vendor-call time the ideal is built from."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    zap, auco = [], []
    for _ in range(count):
        body = json.dumps(
            {"doc_token": new_uuid(rng), "rejected_reason": MESSAGE, "notify_signer": True}
        )
        elapsed, status, _ = post_json(
            conn, "/zapsign/api/v1/refuse/", body,
            {"Authorization": f"Bearer {ZAPSIGN_TOKEN}", "Content-Type": "application/json",
             "User-Agent": "signgate-bench"},
        )
        if status == 200:
            zap.append(elapsed * 1000)
    for _ in range(max(10, count // 6)):
        codes = [new_auco_code(rng) for _ in range(50)]
        body = json.dumps({"codes": codes, "message": MESSAGE, "email": EMAIL})
        elapsed, status, _ = post_json(
            conn, "/auco/v1.5/ext/document/cancel", body,
            {"Authorization": AUCO_PRIVATE_KEY, "Content-Type": "application/json"},
        )
        if status == 200:
            auco.append(elapsed * 1000)
    conn.close()
    return zap, auco


def split_codes(n):
    """N documents: half Auco codes, half ZapSign UUIDs (a single document is a ZapSign one)."""
    auco = n // 2
    return auco, n - auco


def makespan(durations, slots):
    free = [0.0] * min(slots, max(1, len(durations)))
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free) if durations else 0.0


def ideal_times(n, cfg, base_zap, base_auco, trials, rng):
    """The ideal end-to-end time of an N-document request: per vendor, its calls scheduled on
    `max_concurrency` slots (waves), each call taking the measured direct-call median, or that
    plus (slow_ms - latency_ms) with probability slow_share; the request takes the slower
    vendor. Returns (ideal without slow calls, median over `trials` draws)."""
    n_auco, n_zap = split_codes(n)
    auco_calls = math.ceil(n_auco / cfg["auco_batch"]) if n_auco else 0
    extra = cfg["slow_ms"] - cfg["latency_ms"]

    def draw(count, base):
        return [base + extra if rng.random() < cfg["slow_share"] else base for _ in range(count)]

    fixed = max(
        math.ceil(n_zap / cfg["zap_conc"]) * base_zap,
        math.ceil(auco_calls / cfg["auco_conc"]) * base_auco if auco_calls else 0.0,
    )
    spans = [
        max(
            makespan(draw(n_zap, base_zap), cfg["zap_conc"]),
            makespan(draw(auco_calls, base_auco), cfg["auco_conc"]),
        )
        for _ in range(trials)
    ]
    return fixed, statistics.median(spans), n_zap + auco_calls


def run_ndocs(args, port, sizes, reps, rng):
    """Sequential requests of N documents with fresh codes; every document must be cancelled."""
    conn = http.client.HTTPConnection(args.host, port, timeout=60)
    headers = {"Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"}
    results = {}
    for n in sizes:
        n_auco, n_zap = split_codes(n)
        times, bad = [], 0
        for i in range(reps + args.ndoc_warmup):
            codes = [new_auco_code(rng) for _ in range(n_auco)]
            codes += [new_uuid(rng) for _ in range(n_zap)]
            rng.shuffle(codes)
            body = json.dumps({"codes": codes, "message": MESSAGE, "email": EMAIL})
            elapsed, status, data = post_json(conn, "/documents/cancel", body, headers)
            ok = status == 200 and all(
                r.get("status") == "cancelled" for r in json.loads(data).get("results", [])
            )
            if i >= args.ndoc_warmup:
                times.append(elapsed * 1000)
                bad += 0 if ok else 1
        times.sort()
        results[n] = {
            "median": statistics.median(times),
            "p90": times[min(len(times) - 1, int(0.9 * len(times)))],
            "min": times[0],
            "max": times[-1],
            "not_cancelled": bad,
            "reps": reps,
        }
        log(f"N={n:<3} median {results[n]['median']:.1f} ms  max {results[n]['max']:.1f} ms")
    conn.close()
    return results


# ---- plots (hand-written SVG) ------------------------------------------------------------------

SVG_FONT = "sans-serif"
# Distinct colours, one per series.
COLOURS = {
    "direct": "#1f77b4",
    "nginx": "#2ca02c",
    "signgate": "#d62728",
    "signgate-pg": "#9467bd",
    "ideal": "#222222",
    "zero": "#ff7f0e",
}
LABELS = {
    "direct": "simulator directly",
    "nginx": "nginx -> simulator",
    "signgate": "signgate, SQLite store",
    "signgate-pg": "signgate, Postgres store",
}


def log_ticks(lo, hi):
    """1-2-5 ticks covering [lo, hi] on a log axis: (axis low, axis high, ticks)."""
    lo_exp = math.floor(math.log10(max(lo, 1e-6)))
    hi_exp = math.ceil(math.log10(max(hi, lo * 1.01, 1e-6)))
    if hi_exp <= lo_exp:
        hi_exp = lo_exp + 1
    ticks = [m * 10.0 ** e for e in range(lo_exp, hi_exp) for m in (1, 2, 5)]
    ticks.append(10.0 ** hi_exp)
    return 10.0 ** lo_exp, 10.0 ** hi_exp, ticks


def tick_label(value):
    return f"{value:g}" if value < 1e5 else f"{value:.0e}"


class SvgPlot:
    """A plot area with a log-scale y axis, x positions given in pixels by the caller, a title
    and a subtitle (the commit), axis labels and a legend on the right."""

    def __init__(self, title, subtitle, x_label, y_label, y_lo, y_hi, width=720, height=420):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 70, width - 190, 50, height - 62
        self.y_lo, self.y_hi, self.y_ticks = log_ticks(y_lo, y_hi)
        self.parts = []
        self.legend_rows = 0
        self.title, self.subtitle, self.x_label, self.y_label = title, subtitle, x_label, y_label

    def y(self, value):
        value = min(max(value, self.y_lo), self.y_hi)
        share = (math.log10(value) - math.log10(self.y_lo)) / (
            math.log10(self.y_hi) - math.log10(self.y_lo))
        return self.bottom - share * (self.bottom - self.top)

    def add(self, element):
        self.parts.append(element)

    def text(self, x, y, content, size=12, anchor="middle", extra=""):
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
                 f"{saxutils.escape(str(content))}</text>")

    def line(self, x1, y1, x2, y2, colour, width=1.0, dash=None):
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
                 f'stroke-width="{width}"{dash_attr}/>')

    def polyline(self, points, colour, width=2.0, dash=None):
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.add(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="{width}"'
                 f"{dash_attr}/>")

    def marker(self, x, y, colour, shape="circle", size=4.0, filled=True):
        fill = colour if filled else "white"
        if shape == "circle":
            self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" fill="{fill}" '
                     f'stroke="{colour}" stroke-width="1.5"/>')
        else:  # square
            self.add(f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" '
                     f'height="{2 * size:.1f}" fill="{fill}" stroke="{colour}" stroke-width="1.5"/>')

    def axes(self, x_ticks):
        """Gridlines, tick labels and axis labels; `x_ticks` is [(pixel x, [label lines])]."""
        for value in self.y_ticks:
            y = self.y(value)
            major = abs(math.log10(value) - round(math.log10(value))) < 1e-9
            self.line(self.left, y, self.right, y, "#bbbbbb" if major else "#e4e4e4")
            self.text(self.left - 6, y + 4, tick_label(value), size=11, anchor="end")
        for x, labels in x_ticks:
            self.line(x, self.top, x, self.bottom, "#e4e4e4")
            for i, label in enumerate(labels):
                self.text(x, self.bottom + 16 + 13 * i, label, size=11)
        self.add(f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
                 f'height="{self.bottom - self.top}" fill="none" stroke="#444444"/>')
        self.text(self.width / 2, 21, self.title, size=15, extra=' font-weight="bold"')
        self.text(self.width / 2, 38, self.subtitle, size=11, extra=' fill="#444444"')
        self.text((self.left + self.right) / 2, self.height - 12, self.x_label, size=12)
        mid = (self.top + self.bottom) / 2
        self.text(18, mid, self.y_label, size=12, extra=f' transform="rotate(-90 18 {mid:.1f})"')

    def legend(self, label, colour, shape=None, dash=None, filled=True, whisker=False):
        x, y = self.right + 14, self.top + 8 + 20 * self.legend_rows
        self.legend_rows += 1
        if whisker:
            self.line(x + 14, y - 8, x + 14, y + 8, colour, 1.2)
            self.line(x + 9, y - 8, x + 19, y - 8, colour, 1.2)
            self.line(x + 9, y + 8, x + 19, y + 8, colour, 1.2)
        elif dash is not None or shape is None:
            self.line(x, y, x + 28, y, colour, 2.0, dash or None)
        if shape:
            self.marker(x + 14, y, colour, shape, 4.0, filled)
        self.text(x + 36, y + 4, label, size=11, anchor="start")

    def write(self, path):
        body = "\n".join(self.parts)
        with open(path, "w") as f:
            f.write(
                f'<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}" font-family="{SVG_FONT}">\n'
                f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n'
            )


def plot_latency(path, ctx, commit, load_targets):
    """p50 (solid, circles) and p99 (dashed, squares) by offered rate, one colour per target."""
    by = {(r["phase"], r["target"]): r for r in ctx["records"]}
    phases = [(share, f"rate{int(share * 100)}") for share in ctx["shares"]]
    series = {}
    for t in load_targets:
        points = [(by[(ph, t)]["rate"], by[(ph, t)]["p50"], by[(ph, t)]["p99"])
                  for _, ph in phases if (ph, t) in by]
        if points:
            series[t] = points
    values = [v for pts in series.values() for _, p50, p99 in pts for v in (p50, p99) if v > 0]
    if not values:
        return False
    plot = SvgPlot("Latency by offered rate (open loop, 1-document cancels)", f"commit {commit}",
                   "offered rate, requests/s (share of the SQLite gateway's saturation)",
                   "latency, ms (log scale)", min(values), max(values))
    rates = sorted({pt[0] for pts in series.values() for pt in pts})
    span = (rates[-1] - rates[0]) or rates[0] or 1
    pad = span / max(1, len(rates) - 1) / 2 if len(rates) > 1 else span / 2
    lo, hi = rates[0] - pad, rates[-1] + pad

    def x(rate):
        return plot.left + (rate - lo) / (hi - lo) * (plot.right - plot.left)

    shares = {by[(ph, "signgate")]["rate"]: share for share, ph in phases if (ph, "signgate") in by}
    plot.axes([(x(r), [f"{r}/s", f"{100 * shares[r]:.0f} %" if r in shares else ""]) for r in rates])
    for t, pts in series.items():
        colour = COLOURS[t]
        plot.polyline([(x(r), plot.y(p50)) for r, p50, _ in pts], colour)
        plot.polyline([(x(r), plot.y(p99)) for r, _, p99 in pts], colour, dash="6 4")
        for r, p50, p99 in pts:
            plot.marker(x(r), plot.y(p50), colour, "circle")
            plot.marker(x(r), plot.y(p99), colour, "square", filled=False)
    for t in series:
        plot.legend(LABELS[t], COLOURS[t], shape="circle")
    plot.legend_rows += 0.5
    plot.legend("p50", "#555555", shape="circle", dash="")
    plot.legend("p99", "#555555", shape="square", dash="6 4", filled=False)
    plot.write(path)
    return True


def plot_ndocs(path, ctx, commit):
    """Per N: the ideal (median), signgate's median with its p90 tick and min-max whisker against
    the 20 ms simulator, and the same requests against the 0 ms one."""
    nd = ctx["ndocs"]["results"]
    zero = ctx.get("ndocs_zero") or {}
    sizes = list(nd)
    if not sizes:
        return False
    values = [r[k] for r in nd.values() for k in ("min", "max", "ideal_median")]
    values += [r[k] for r in zero.values() for k in ("min", "max")]
    values = [v for v in values if v > 0]
    cfg = ctx["ndocs"]["cfg"]
    plot = SvgPlot("N documents per request against the ideal", f"commit {commit}",
                   "documents per request (half Auco codes, half ZapSign UUIDs)",
                   "request time, ms (log scale)", min(values), max(values))
    slot = (plot.right - plot.left) / len(sizes)

    def x(i, offset=0.0):
        return plot.left + slot * (i + 0.5) + offset

    plot.axes([(x(i), [f"N = {n}", f"{nd[n]['calls']} vendor call{'s' if nd[n]['calls'] != 1 else ''}"]) for i, n in enumerate(sizes)])

    def whisker(xc, r, colour):
        plot.line(xc, plot.y(r["min"]), xc, plot.y(r["max"]), colour, 1.2)
        for key in ("min", "max"):
            plot.line(xc - 5, plot.y(r[key]), xc + 5, plot.y(r[key]), colour, 1.2)
        plot.line(xc - 9, plot.y(r["p90"]), xc + 9, plot.y(r["p90"]), colour, 2.5)
        plot.marker(xc, plot.y(r["median"]), colour, "circle", 4.5)

    for i, n in enumerate(sizes):
        r = nd[n]
        ideal_y = plot.y(r["ideal_median"])
        plot.line(x(i, -34), ideal_y, x(i, 4), ideal_y, COLOURS["ideal"], 2.5)
        whisker(x(i, -15), r, COLOURS["signgate"])
        plot.text(x(i, -15), plot.y(r["max"]) - 8, f"{r['ratio']:.2f} x", size=11,
                  extra=f' fill="{COLOURS["signgate"]}"')
        if n in zero:
            whisker(x(i, 22), zero[n], COLOURS["zero"])
    plot.legend("ideal (median)", COLOURS["ideal"])
    plot.legend(f"signgate, {cfg['latency_ms']} ms vendor", COLOURS["signgate"], shape="circle")
    plot.legend("signgate, 0 ms vendor", COLOURS["zero"], shape="circle")
    plot.legend_rows += 0.5
    plot.legend("median", "#555555", shape="circle")
    plot.legend("min - max, p90 bar", "#555555", whisker=True)
    plot.text(plot.right + 14, plot.top + 8 + 20 * plot.legend_rows + 4,
              "label: median / ideal", size=11, anchor="start")
    plot.write(path)
    return True


# ---- the report ------------------------------------------------------------------------------


def sh(cmd):
    try:
        return subprocess.run(
            cmd, shell=True, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "mem_gib": mem_kb / 1024 / 1024,
        "kernel": platform.release(),
    }


def fmt(value, digits=3):
    return f"{value:.{digits}f}"


def write_report(args, ctx):
    recs = ctx["records"]
    by = {(r["phase"], r["target"]): r for r in recs}
    gateways = ctx["gateways"]
    load_targets = ["direct", "nginx"] + gateways
    pg = "signgate-pg" in gateways
    sat = {t: by[("saturation", t)] for t in load_targets}
    m = ctx["machine"]
    # The plots go beside the report, unless the report goes nowhere (profile mode).
    plots = {}
    if os.path.realpath(args.out) != os.devnull:
        out_dir = os.path.dirname(os.path.abspath(args.out))
        if plot_latency(os.path.join(out_dir, "latency.svg"), ctx, args.commit, load_targets):
            plots["latency"] = "latency.svg"
        if plot_ndocs(os.path.join(out_dir, "ndocs.svg"), ctx, args.commit):
            plots["ndocs"] = "ndocs.svg"
    lines = []
    add = lines.append
    add("# signgate benchmark results")
    add("")
    add("Written by `bash bench/run.sh` (see bench/README.md for what each figure means). "
        "All figures come from this one run.")
    add("")
    add("## Run")
    add("")
    add("| | |")
    add("|---|---|")
    add(f"| date (UTC) | {ctx['date']} |")
    add(f"| commit | `{args.commit}` |")
    add(f"| machine | {m['nproc']} cores, {m['cpu']}, {m['mem_gib']:.1f} GiB RAM, Linux {m['kernel']} |")
    add(f"| load average at start | {ctx['loadavg_start']} |")
    add(f"| tools | {args.versions} |")
    add(f"| load generator | oha, {args.connections} connections, all processes on the same {m['nproc']} cores |")
    add(f"| signgate under load | store `{args.store_desc}`, log level warn, ZapSign max_concurrency "
        f"{args.gw_conc}, requests_per_minute {args.gw_rpm} |")
    if pg:
        add(f"| signgate with a Postgres store | store `{args.pg_store_desc}` (a database of this run, "
            "dropped at the end), the same settings, the same simulator |")
    else:
        add(f"| signgate with a Postgres store | skipped ({args.pg_skipped or 'not started'}) |")
    if args.binary:
        add(f"| binary | `{args.binary}` |")
    foreign = sum(r["usage"]["foreign_cpu"] for r in recs)
    busy = sum(r["usage"]["machine_busy"] for r in recs)
    irq = sum(r["usage"]["irq_cpu"] for r in recs)
    add(f"| machine busy with other work before the run | {100 * ctx['quiet_share']:.0f} % |")
    between = [r["quiet_before"] for r in recs if r.get("quiet_before") is not None]
    if between:
        add(f"| machine busy before each target's phases (1 s check, waited for < 15 %) | at most "
            f"{100 * max(between):.0f} % ({len(between)} checks) |")
    add(f"| CPU used by other processes during the load phases | {foreign:.1f} s of {busy:.1f} s busy "
        f"({100 * foreign / busy if busy else 0:.1f} %; interrupts and softirq, not counted in any "
        f"process: {irq:.1f} s) |")
    add("")

    add(f"## Saturation throughput (closed loop, {args.connections} connections, {args.sat_secs} s each)")
    add("")
    add("| target | requests/s | p50 ms | p99 ms | requests | non-200 answers | errors |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    names = {"direct": "simulator directly (ZapSign refuse)",
             "nginx": "nginx proxy_pass -> simulator",
             "signgate": "signgate -> simulator (1-document cancel)",
             "signgate-pg": "signgate with a Postgres store -> simulator (1-document cancel)"}
    for t in load_targets:
        r = sat[t]
        non200 = sum(v for k, v in r["codes"].items() if k != "200")
        add(f"| {names[t]} | {r['rps']:.0f} | {fmt(r['p50'])} | {fmt(r['p99'])} | {r['requests']} | "
            f"{non200} | {sum(r['errors'].values())} |")
    add("")
    ratio_nginx = sat["signgate"]["rps"] / sat["nginx"]["rps"]
    ratio_direct = sat["signgate"]["rps"] / sat["direct"]["rps"]
    add(f"- signgate / nginx throughput: **{ratio_nginx:.2f}**")
    add(f"- signgate / direct throughput: **{ratio_direct:.2f}**")
    if pg:
        add(f"- signgate with a Postgres store / nginx throughput: "
            f"**{sat['signgate-pg']['rps'] / sat['nginx']['rps']:.2f}**; / signgate with SQLite: "
            f"**{sat['signgate-pg']['rps'] / sat['signgate']['rps']:.2f}**")
    else:
        add(f"- signgate with a Postgres store: skipped ({args.pg_skipped or 'not started'}).")
    add("- Direct and nginx answers that are not 200 are 403 \"already refused\": a repeated token "
        "from the random body pool (still a full vendor round trip).")
    add("")

    add("## Latency at fixed request rates (open loop, `oha -q RATE --latency-correction`)")
    add("")
    same = "; the Postgres gateway gets the same rates, so the rows compare" if pg else ""
    add(f"Rates are shares of signgate's saturation throughput above ({sat['signgate']['rps']:.0f} req/s, "
        f"the SQLite store{same}); {args.rate_secs} s per target and rate.")
    add("")
    add("| rate | target | achieved req/s | p50 ms | p99 ms | p99.9 ms | requests | non-200 |")
    add("|---|---|---:|---:|---:|---:|---:|---:|")
    for share in ctx["shares"]:
        phase = f"rate{int(share * 100)}"
        for t in load_targets:
            r = by.get((phase, t))
            if not r:
                continue
            non200 = sum(v for k, v in r["codes"].items() if k != "200")
            add(f"| {int(share * 100)} % ({r['rate']}/s) | {t} | {r['rps']:.0f} | {fmt(r['p50'])} | "
                f"{fmt(r['p99'])} | {fmt(r['p999'])} | {r['requests']} | {non200} |")
    add("")
    add("Latency added over calling the simulator directly (same rate, same run), signgate with the "
        "SQLite store:")
    add("")
    add("| rate | signgate adds p50 ms | p99 ms | p99.9 ms | nginx adds p50 ms | p99 ms | p99.9 ms |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    added = {}
    for share in ctx["shares"]:
        phase = f"rate{int(share * 100)}"
        d, n, s = by[(phase, "direct")], by[(phase, "nginx")], by[(phase, "signgate")]
        added[share] = {k: s[k] - d[k] for k in ("p50", "p99", "p999")}
        add(f"| {int(share * 100)} % | {fmt(s['p50'] - d['p50'])} | {fmt(s['p99'] - d['p99'])} | "
            f"{fmt(s['p999'] - d['p999'])} | {fmt(n['p50'] - d['p50'])} | {fmt(n['p99'] - d['p99'])} | "
            f"{fmt(n['p999'] - d['p999'])} |")
    add("")
    if pg:
        pg_sat = sat["signgate-pg"]["rps"]
        add("### signgate with a Postgres store")
        add("")
        add(f"Latency added over calling the simulator directly, at the same rates (its own saturation: "
            f"{pg_sat:.0f} req/s; a rate above it queues, and the open loop counts the wait), next to "
            "the SQLite store's:")
        add("")
        add("| rate | offered req/s | achieved req/s | Postgres store adds p50 ms | p99 ms | p99.9 ms | "
            "SQLite store adds p50 ms | p99 ms | p99.9 ms | non-200 | errors |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for share in ctx["shares"]:
            phase = f"rate{int(share * 100)}"
            d, s, q = by[(phase, "direct")], by[(phase, "signgate")], by[(phase, "signgate-pg")]
            non200 = sum(v for k, v in q["codes"].items() if k != "200")
            above = " (above its saturation)" if q["rate"] > pg_sat else ""
            add(f"| {int(share * 100)} %{above} | {q['rate']} | {q['rps']:.0f} | {fmt(q['p50'] - d['p50'])} | "
                f"{fmt(q['p99'] - d['p99'])} | {fmt(q['p999'] - d['p999'])} | {fmt(s['p50'] - d['p50'])} | "
                f"{fmt(s['p99'] - d['p99'])} | {fmt(s['p999'] - d['p999'])} | {non200} | "
                f"{sum(q['errors'].values())} |")
        add("")
    if "latency" in plots:
        add(f"![latency]({plots['latency']})")
        add("")

    add("## CPU and memory")
    add("")
    add("CPU seconds (utime + stime from /proc/PID/stat) per 1,000 requests, per process; signgate's "
        "peak RSS (VmHWM, reset with clear_refs before each phase) and RSS at the phase's end.")
    add("")
    if pg:
        add("signgate's columns are the gateway of the row's target (the SQLite one for direct and "
            "nginx rows); Postgres CPU is the server's processes for this run (postmaster, background "
            "processes, this database's backends), whatever the target.")
        add("")
    add("| phase | target | requests | signgate CPU s/1k | simulator CPU s/1k | nginx CPU s/1k | "
        f"{'Postgres CPU s/1k | ' if pg else ''}"
        "oha CPU s/1k | signgate peak RSS MB | signgate RSS at end MB | signgate context switches "
        "/ request | signgate CPU in SQLite threads |")
    add(f"|---|---|---:|---:|---:|---:|{'---:|' if pg else ''}---:|---:|---:|---:|---:|")
    peak_load = 0
    sat_cpu = None
    for r in recs:
        n = max(1, r["requests"])
        cpu = r["usage"]["cpu"]
        per = lambda s: f"{1000 * s / n:.4f}"  # noqa: E731
        hwm = r["signgate_hwm_kb"] / 1024
        if r["target"] == "signgate":
            peak_load = max(peak_load, hwm)
        sg = per(cpu[r["target"]]) if r["target"] in gateways else "-"
        if r["target"] == "signgate" and r["phase"] == "saturation":
            sat_cpu = 1000 * cpu["signgate"] / n
        ng = per(cpu["nginx"]) if r["target"] == "nginx" else "-"
        switches, store_share = "-", "-"
        if r["target"] in gateways:
            th = r["usage"]["signgate_threads"]
            switches = f"{sum(v[0] for v in th.values()) / n:.1f}"
        if r["target"] == "signgate":
            total = sum(v[1] for v in th.values())
            store = sum(v[1] for k, v in th.items() if k.startswith(("sqlx", "sqlite")))
            store_share = f"{100 * store / total:.0f} %" if total else "-"
        pgc = f"{per(cpu['postgres'])} | " if pg else ""
        add(f"| {r['phase']} | {r['target']} | {r['requests']} | {sg} | {per(cpu['simulator'])} | {ng} | "
            f"{pgc}{per(r['usage']['oha_cpu'])} | {hwm:.1f} | {r['signgate_rss_kb'] / 1024:.1f} | {switches} | "
            f"{store_share} |")
    add("")
    add(f"- signgate peak RSS over the whole run (VmHWM since start): "
        f"{ctx['signgate_hwm_total_kb'] / 1024:.1f} MB; RSS when idle before the load: "
        f"{ctx['signgate_rss_idle_kb'] / 1024:.1f} MB.")
    if pg:
        add(f"- signgate with a Postgres store: peak RSS over the whole run "
            f"{ctx['pg_hwm_total_kb'] / 1024:.1f} MB; RSS when idle before the load: "
            f"{ctx['pg_rss_idle_kb'] / 1024:.1f} MB.")
    for t in gateways:
        docs = {}
        for r in recs:
            if r["target"] == t:
                for k, v in r["documents"].items():
                    docs[k] = docs.get(k, 0) + v
        which = "signgate" if t == "signgate" else "signgate with a Postgres store"
        add(f"- {which} documents by outcome over the load phases: {docs} "
            "(`already_cancelled` = a repeated token from the random body pool; each is still one vendor call).")
    add("")

    nd = ctx["ndocs"]
    cfg = nd["cfg"]
    add("## N documents per request against the ideal")
    add("")
    add(f"Simulator latency {cfg['latency_ms']} ms, {cfg['slow_share'] * 100:g} % of calls slow "
        f"({cfg['slow_ms']} ms); signgate with the default max_concurrency (Auco {cfg['auco_conc']}, "
        f"ZapSign {cfg['zap_conc']}) and Auco batches of {cfg['auco_batch']}; half Auco codes, half "
        f"ZapSign UUIDs, fresh codes every request; {nd['reps']} sequential requests per size after "
        f"{args.ndoc_warmup} warm-up requests.")
    add("")
    add(f"A direct vendor call measured {nd['base_zap']:.2f} ms (ZapSign refuse, median of "
        f"{nd['direct_zap_n']}) and {nd['base_auco']:.2f} ms (Auco cancel of 50 codes, median of "
        f"{nd['direct_auco_n']}). The ideal schedules each vendor's calls on its max_concurrency slots "
        "(waves) with those call times; \"ideal (median)\" also draws the 1 % slow calls "
        f"({args.ideal_trials} draws), \"ideal (no slow call)\" does not.")
    add("")
    add("| N | Auco codes | ZapSign codes | vendor calls | ideal (no slow call) ms | ideal (median) ms | "
        "signgate median ms | p90 ms | min ms | max ms | median / ideal |")
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in nd["results"].items():
        n_auco, n_zap = split_codes(n)
        add(f"| {n} | {n_auco} | {n_zap} | {r['calls']} | {r['ideal_fixed']:.1f} | {r['ideal_median']:.1f} | "
            f"{r['median']:.1f} | {r['p90']:.1f} | {r['min']:.1f} | {r['max']:.1f} | **{r['ratio']:.3f}** |")
    bad = sum(r["not_cancelled"] for r in nd["results"].values())
    add("")
    add(f"- Requests in which a document was not `cancelled`: {bad}.")
    if ctx.get("ndocs_zero"):
        add("")
        add("Same requests with the simulator at 0 ms latency (the load gateway: pure signgate cost "
            "per request, vendor round trips on loopback included):")
        add("")
        add("| N | median ms | p90 ms | max ms |")
        add("|---:|---:|---:|---:|")
        for n, r in ctx["ndocs_zero"].items():
            add(f"| {n} | {r['median']:.2f} | {r['p90']:.2f} | {r['max']:.2f} |")
    add("")
    if "ndocs" in plots:
        add(f"![N documents]({plots['ndocs']})")
        add("")

    add("## Targets")
    add("")
    half = added.get(0.5)
    r100 = nd["results"].get(100)
    zero = ctx.get("ndocs_zero") or {}
    idle = ctx["signgate_rss_idle_kb"] / 1024
    rows = []
    if half:
        rows.append(("added p50 at 50 % of saturation <= 0.3 ms", f"{half['p50']:.3f} ms", half["p50"] <= 0.3))
        rows.append(("added p99 at 50 % of saturation <= 1 ms", f"{half['p99']:.3f} ms", half["p99"] <= 1.0))
    for n, limit in ((1, 0.4), (100, 3.0)):
        if n in zero:
            rows.append((f"{n}-document request, 0 ms vendor, median <= {limit} ms",
                         f"{zero[n]['median']:.2f} ms", zero[n]["median"] <= limit))
    rows.append(("throughput >= 0.5 x nginx's (same run)", f"{ratio_nginx:.2f} x nginx", ratio_nginx >= 0.5))
    if sat_cpu is not None:
        rows.append(("CPU <= 0.06 s per 1,000 single-document requests", f"{sat_cpu:.4f} s (saturation)",
                     sat_cpu <= 0.06))
    rows.append(("peak RSS under load <= 20 MB", f"{peak_load:.1f} MB (max per-phase VmHWM)", peak_load <= 20))
    rows.append(("idle RSS <= 10 MB", f"{idle:.1f} MB", idle <= 10))
    if r100:
        rows.append(("100 documents within 1.1 x the ideal", f"{r100['ratio']:.3f} x", r100["ratio"] <= 1.1))
    image = image_bytes()
    if image:
        rows.append(("container image <= 40 MB", f"{image / 1e6:.1f} MB ({image:,} bytes; `bench/IMAGE.md`, "
                     "not rebuilt by this run)", image <= 40e6))
    add("| target | measured | met |")
    add("|---|---|---|")
    for name, value, ok in rows:
        add(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
    add("")
    if pg:
        q = sat["signgate-pg"]
        q_cpu = 1000 * q["usage"]["cpu"]["signgate-pg"] / max(1, q["requests"])
        q_pg = 1000 * q["usage"]["cpu"]["postgres"] / max(1, q["requests"])
        line = (f"Not judged, signgate with a Postgres store: saturation {q['rps']:.0f} req/s "
                f"({q['rps'] / sat['nginx']['rps']:.2f} x nginx, {q['rps'] / sat['signgate']['rps']:.2f} x "
                f"the SQLite store), CPU {q_cpu:.4f} s per 1,000 requests at saturation in signgate "
                f"and {q_pg:.4f} s in Postgres")
        q50, d50 = by.get(("rate50", "signgate-pg")), by.get(("rate50", "direct"))
        if q50 and d50:
            line += (f", added p50 {q50['p50'] - d50['p50']:.3f} ms and p99 {q50['p99'] - d50['p99']:.3f} ms "
                     "at the SQLite store's 50 % rate")
        add(line + ".")
        add("")
    add(f"Raw oha JSON and logs of this run: `{args.work}` (deleted at the end unless KEEP_WORK=1).")
    add("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(args.work, "records.json"), "w") as f:
        json.dump(ctx, f, indent=1, default=str)
    log(f"wrote {args.out}")


def image_bytes():
    """The container image's size as `bench/IMAGE.md` records it (its "image" row, the "after"
    column), or None. Building the image takes longer than this whole run, so it is measured
    apart (see IMAGE.md for the commands)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "IMAGE.md")
    try:
        text = open(path).read()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("| image"):
            sizes = re.findall(r"([\d,]+) bytes", line)
            return int(sizes[-1].replace(",", "")) if sizes else None
    return None


# ---- main ------------------------------------------------------------------------------------


def wait_tcp(host, port, seconds=10):
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds * 20)):
        try:
            conn = http.client.HTTPConnection(host, port, timeout=1)
            conn.request("GET", "/livez")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    raise SystemExit(f"nothing answers on {host}:{port}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--oha", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--sim-port", type=int, required=True)
    p.add_argument("--gw-port", type=int, required=True)
    p.add_argument("--nginx-port", type=int, required=True)
    p.add_argument("--sim2-port", type=int, required=True)
    p.add_argument("--gw2-port", type=int, required=True)
    p.add_argument("--sim-pid", type=int, required=True)
    p.add_argument("--gw-pid", type=int, required=True)
    p.add_argument("--nginx-pid", type=int, required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--sat-secs", type=int, default=10)
    p.add_argument("--warm-secs", type=int, default=3)
    p.add_argument("--rate-secs", type=int, default=15)
    p.add_argument("--shares", default="0.25,0.5,0.75")
    p.add_argument("--pool-rps-guess", type=int, default=8000)
    p.add_argument("--ndoc-sizes", default="1,10,50,100")
    p.add_argument("--ndoc-reps", type=int, default=100)
    p.add_argument("--ndoc-warmup", type=int, default=3)
    p.add_argument("--latency-ms", type=int, default=20)
    p.add_argument("--slow-ms", type=int, default=200)
    p.add_argument("--slow-share", type=float, default=0.01)
    p.add_argument("--ideal-trials", type=int, default=20000)
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--commit", default="unknown")
    p.add_argument("--versions", default="")
    p.add_argument("--store-desc", default="")
    p.add_argument("--gw-conc", default="")
    p.add_argument("--gw-rpm", default="")
    p.add_argument("--binary", default="")
    p.add_argument("--pg-gw-port", type=int, default=0,
                   help="the gateway with a Postgres store (0: none)")
    p.add_argument("--pg-gw-pid", type=int, default=0)
    p.add_argument("--pg-db", default="", help="its database (whose backends' CPU is counted)")
    p.add_argument("--pg-store-desc", default="")
    p.add_argument("--pg-skipped", default="", help="why there is no Postgres gateway")
    p.add_argument("--quiet-checks", type=int, default=60,
                   help="wait up to this many x 2 s for other work on the machine to stop")
    p.add_argument("--phase-quiet-checks", type=int, default=15,
                   help="before each target's phases, wait up to this many x 1 s for a quiet machine")
    p.add_argument("--profile-secs", type=int, default=0,
                   help="only drive signgate at saturation for this long (for perf), then exit")
    args = p.parse_args()

    host = args.host
    pg = bool(args.pg_gw_port)
    ports = [args.sim_port, args.gw_port, args.nginx_port, args.sim2_port, args.gw2_port]
    for port in ports + ([args.pg_gw_port] if pg else []):
        wait_tcp(host, port)
    nginx_workers = child_pids(args.nginx_pid)
    pids = {
        "signgate": [args.gw_pid],
        "simulator": [args.sim_pid],
        "nginx": [args.nginx_pid] + nginx_workers,
    }
    if pg:
        pids["signgate-pg"] = [args.pg_gw_pid]
        pids["postgres"] = lambda: postgres_pids(args.pg_db)
    gw_headers = [f"Authorization: Bearer {args.api_key}"]
    sim_headers = [f"Authorization: Bearer {ZAPSIGN_TOKEN}", "User-Agent: signgate-bench"]
    targets = {
        "direct": Target("direct", f"http://{host}:{args.sim_port}/zapsign/api/v1/refuse/",
                         sim_headers, "direct"),
        "nginx": Target("nginx", f"http://{host}:{args.nginx_port}/zapsign/api/v1/refuse/",
                        sim_headers, "direct"),
        "signgate": Target("signgate", f"http://{host}:{args.gw_port}/documents/cancel",
                           gw_headers, "gateway", args.gw_pid, args.gw_port),
    }
    gateways = ["signgate"]
    if pg:
        targets["signgate-pg"] = Target(
            "signgate-pg", f"http://{host}:{args.pg_gw_port}/documents/cancel", gw_headers,
            "gateway", args.pg_gw_pid, args.pg_gw_port)
        gateways.append("signgate-pg")
    load_targets = ["direct", "nginx"] + gateways
    phases = Phases(args, pids)

    if args.profile_secs:
        perf = ["perf", "record", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,16384",
                "-p", str(args.gw_pid), "-o", os.path.join(args.work, "perf.data"), "-q",
                "--", "sleep", str(max(1, args.profile_secs - 4))]
        phases.measure(targets["signgate"], "warmup", args.warm_secs)
        phases.measure(targets["signgate"], "profile", args.profile_secs, alongside=perf)
        return

    ctx = {
        "quiet_share": wait_for_quiet(args.quiet_checks),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "loadavg_start": open("/proc/loadavg").read().strip(),
        "signgate_rss_idle_kb": proc_status(args.gw_pid, "VmRSS"),
        "pg_rss_idle_kb": proc_status(args.pg_gw_pid, "VmRSS") if pg else 0,
        "gateways": gateways,
    }

    # One phase at a time; each target's first phase, and every fixed-rate phase, waits for a
    # quiet machine (what the last phase left behind: a WAL checkpoint, autovacuum).
    # 1. Saturation, closed loop, each target after a short warm-up.
    for name in load_targets:
        phases.measure(targets[name], "warmup", args.warm_secs, quiet=True)
        phases.measure(targets[name], "saturation", args.sat_secs)
    # The rates of every target, the Postgres gateway's too, derive from the SQLite gateway's.
    saturation = next(r["rps"] for r in phases.records
                      if r["target"] == "signgate" and r["phase"] == "saturation")

    # 2. Fixed rates below saturation, open loop.
    shares = [float(s) for s in args.shares.split(",")]
    for share in shares:
        rate = max(1, int(saturation * share))
        for name in load_targets:
            phases.measure(targets[name], f"rate{int(share * 100)}", args.rate_secs, rate=rate,
                           quiet=True)
    ctx["shares"] = shares
    ctx["signgate_hwm_total_kb"] = proc_status(args.gw_pid, "VmHWM")
    ctx["pg_hwm_total_kb"] = proc_status(args.pg_gw_pid, "VmHWM") if pg else 0

    # 3. N documents against the latency simulator, and against the 0 ms one.
    wait_for_quiet(args.phase_quiet_checks, interval=1.0)
    rng = random.Random(args.seed + 1)
    sizes = [int(s) for s in args.ndoc_sizes.split(",")]
    ctx["ndocs_zero"] = run_ndocs(args, args.gw_port, sizes, args.ndoc_reps, rng)
    zap, auco = direct_call_times(host, args.sim2_port, 120, rng)
    cfg = {"latency_ms": args.latency_ms, "slow_ms": args.slow_ms, "slow_share": args.slow_share,
           "auco_conc": 4, "zap_conc": 8, "auco_batch": 50}
    base_zap, base_auco = statistics.median(zap), statistics.median(auco)
    results = run_ndocs(args, args.gw2_port, sizes, args.ndoc_reps, rng)
    for n, r in results.items():
        fixed, median, calls = ideal_times(n, cfg, base_zap, base_auco, args.ideal_trials, rng)
        r.update(ideal_fixed=fixed, ideal_median=median, calls=calls, ratio=r["median"] / median)
    ctx["ndocs"] = {"cfg": cfg, "reps": args.ndoc_reps, "results": results, "base_zap": base_zap,
                    "base_auco": base_auco, "direct_zap_n": len(zap), "direct_auco_n": len(auco)}
    ctx["records"] = phases.records
    write_report(args, ctx)


if __name__ == "__main__":
    main()
