"""What the web UI costs a job: W1 with and without it, and a page reload under load.

    python -m benchmarks.ui                      # 200k W1 lines, 10k-record batches
    python -m benchmarks.ui --records 100000 --rounds 3 --reloads 10 --json bench-results/ui.json

**Throughput.** W1 (word count, ``flat_map(str.split).count_by_value()``, the
suite's etlcore engine job) over the suite's W1 data, in one process,
alternating runs without and with the UI (ABBA order, so drift in machine load
hits both alike), each run's answer checked against the reference checksum.
With the UI an open page's requests (``/api/job``, ``/api/batches?since=``)
and a Prometheus scrape (``/metrics``) are made every second, as a browser and
a Prometheus server would. Batches are small (``--batch``, 10k records: 20
batches) so the per-batch cost of the listener is as visible as it gets.
Reported: median records/s of each and ``cost = 1 - with/without`` (the
issue's target: under 5%).

**Reload under load.** While a W1 job runs batches back to back (its thread
keeps a core busy and holds the GIL most of the time) in the same process:
(1) HTTP: everything a reload fetches (page, scripts, stylesheet, Plotly,
``/api/job``, ``/api/batches``), in sequence, as one timing; (2) when headless
Chromium is installed, a real browser reload timed from navigation to the
page's first full render (batch table and charts drawn; the page records
``performance.now()`` then). Reported: median, p95 and max (target: < 200 ms).
Speed is reported, never asserted; the exit status is 1 only for a wrong answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

from benchmarks.data import Spec, load
from benchmarks.engines.etlcore_io import BenchSource
from benchmarks.reference import _w1, checksum

RELOAD_PATHS = ("", "static/ui.css", "static/common.js", "static/ui.js",
                "static/plotly.min.js", "api/job", "api/batches?since=-1&limit=1000")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


_RELOADS = """
import sys, time, urllib.request
url, n, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for _ in range(n):
    started = time.perf_counter()
    for path in paths:
        with urllib.request.urlopen(url + path, timeout=30) as r:
            r.read()
    print((time.perf_counter() - started) * 1000)
"""

_POLL = """
import json, sys, time, urllib.request
url, since = sys.argv[1], -1
def get(path):
    with urllib.request.urlopen(url + path, timeout=30) as r:
        return r.read()
while True:
    time.sleep(1.0)
    try:
        rows = json.loads(get(f"api/batches?since={since}"))
        since = rows[-1]["batch_id"] if rows else since
        get("api/job")
        get("metrics")
    except OSError:
        break
"""


class Poller:
    """An open page and a Prometheus scrape, every second, from another process.

    Another process, so the job's CPU time counts the server's work and not the
    client's (a browser and Prometheus run elsewhere).
    """

    def __init__(self, url: str):
        self.url = url
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Poller:
        self.proc = subprocess.Popen([sys.executable, "-c", _POLL, self.url])
        time.sleep(0.5)  # its interpreter starts before the clock does (first poll at 1 s)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


def run_w1(lines: list[str], batch: int, ui: bool, cycles: int = 1,
           stop: threading.Event | None = None) -> tuple[float, float, dict[str, int], Any]:
    """One W1 job; (seconds, CPU seconds of this process, word counts, ctx)."""
    from etlcore import StreamingContext
    from etlcore.errors import StopJob
    from etlcore.ui import attach

    totals: dict[str, int] = {}

    def merge(batch_id: int, counts: list[tuple[str, int]]) -> None:
        get = totals.get
        for word, n in counts:
            totals[word] = get(word, 0) + n
        if stop is not None and stop.is_set():
            raise StopJob()

    ctx = StreamingContext("1s", clock="manual", name="w1-ui")
    source = Cycling(lines, batch, 1)
    ctx.stream(source).flat_map(str.split).count_by_value().foreach_batch(merge)
    handle = attach(ctx, {"port": 0}) if ui else None
    server_clock = (time.pthread_getcpuclockid(handle.page._thread.ident)
                    if handle is not None else None)
    try:
        with Poller(handle.url) if handle is not None else _Null():
            server_cpu = time.clock_gettime(server_clock) if server_clock is not None else 0.0
            started, cpu = time.perf_counter(), time.process_time()
            ctx.run(batches=cycles * source.batches)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            if server_clock is not None:
                ctx.server_cpu_s = time.clock_gettime(server_clock) - server_cpu
    finally:
        if handle is not None:
            handle.stop()
    return seconds, cpu, totals, ctx


class Cycling(BenchSource):
    """W1's batches over and over, until the job is stopped (load for the reload timing)."""

    def available(self, partition: str) -> int:
        return 1 << 40

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        return start + 1

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        return super().read(partition, start % self.batches, start % self.batches + 1)

    def exhausted(self) -> bool:
        return False


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def throughput(lines: list[str], batch: int, rounds: int, cycles: int) -> dict[str, Any]:
    # "control" is a second job without the UI: its ratio to "without" is the noise floor
    rates: dict[str, list[float]] = {"without": [], "with": [], "control": []}
    cpu_rates: dict[str, list[float]] = {"without": [], "with": [], "control": []}
    server_share: list[float] = []  # the UI server thread's CPU / the process's, with the UI
    wrong = []
    want = checksum((w, cycles * n) for w, n in _w1(lines))  # W1's answer, `cycles` times over
    run_w1(lines, batch, False)  # warm-up: plugin loading, kernels, imports
    run_w1(lines, batch, True)
    for r in range(rounds):
        order = ("without", "with", "control")[r % 3:] + ("without", "with", "control")[:r % 3]
        order = order if r % 2 == 0 else order[::-1]
        for mode in order:
            seconds, cpu, totals, ctx = run_w1(lines, batch, mode == "with", cycles)
            if mode == "with":
                server_share.append(ctx.server_cpu_s / cpu)
            if checksum(totals.items()) != want:
                wrong.append(mode)
            rates[mode].append(cycles * len(lines) / seconds)
            cpu_rates[mode].append(cycles * len(lines) / cpu)
            label = {"without": "without UI", "with": "with UI", "control": "control"}[mode]
            print(f"  round {r} {label:10s}: {rates[mode][-1]:>12,.0f} records/s wall, "
                  f"{cpu_rates[mode][-1]:>12,.0f} records per CPU second", flush=True)
    without = statistics.median(rates["without"])
    with_ui = statistics.median(rates["with"])
    cpu_without = statistics.median(cpu_rates["without"])
    cpu_with = statistics.median(cpu_rates["with"])
    control = statistics.median(rates["control"])
    cpu_control = statistics.median(cpu_rates["control"])
    return {"records": cycles * len(lines), "batch": batch, "rounds": rounds,
            "without_records_per_s": round(without), "with_records_per_s": round(with_ui),
            "runs_without": [round(x) for x in rates["without"]],
            "runs_with": [round(x) for x in rates["with"]],
            "ratio": round(with_ui / without, 4), "cost_pct": round(100 * (1 - with_ui / without), 2),
            "cpu_without_records_per_s": round(cpu_without),
            "cpu_with_records_per_s": round(cpu_with),
            "cpu_ratio": round(cpu_with / cpu_without, 4),
            "cpu_cost_pct": round(100 * (1 - cpu_with / cpu_without), 2),
            "control_records_per_s": round(control),
            "control_ratio": round(control / without, 4),
            "cpu_control_ratio": round(cpu_control / cpu_without, 4),
            "runs_control": [round(x) for x in rates["control"]],
            "server_thread_cpu_pct": round(100 * statistics.median(server_share), 2),
            "correct": not wrong}


def listener_cost(lines: list[str], batch: int) -> dict[str, float]:
    """Microseconds the UI's listener takes on the batch thread, per batch (W1's metrics)."""
    from etlcore.ui.prometheus import PrometheusExporter
    from etlcore.ui.store import BatchStore

    _, _, _, ctx = run_w1(lines, batch, False)
    m = ctx.metrics.last
    store, exporter = BatchStore({"name": "w1"}), PrometheusExporter("w1")
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        store(m)
        exporter.record(m)
    per_batch_us = (time.perf_counter() - started) / n * 1e6
    batch_us = m.processing_s * 1e6
    return {"listener_us_per_batch": round(per_batch_us, 1),
            "batch_processing_us": round(batch_us), "share_pct": round(
                100 * per_batch_us / batch_us, 3)}


def _stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"median_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
            "max_ms": round(ms[-1], 1), "n": len(ms)}


def _browser() -> Any:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    binary = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
                   if os.access(p, os.X_OK)), None)
    driver = next((p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
                   if os.access(p, os.X_OK)), None)
    if binary is None or driver is None:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1600", "--disable-extensions"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def reload_under_load(lines: list[str], batch: int, reloads: int) -> dict[str, Any]:
    from etlcore import StreamingContext  # noqa: F401 - imported before the clock starts
    from etlcore.ui import attach

    stop = threading.Event()
    holder: dict[str, Any] = {}

    def job() -> None:
        from etlcore.errors import StopJob

        def merge(batch_id: int, counts: list[Any]) -> None:
            if stop.is_set():
                raise StopJob()

        ctx = StreamingContext("1s", clock="manual", name="w1-load")
        ctx.stream(Cycling(lines, batch, 1)).flat_map(str.split).count_by_value() \
            .foreach_batch(merge)
        holder["ui"] = attach(ctx, {"port": 0})
        holder["ready"].set()
        try:
            holder["metrics"] = ctx.run()
        finally:
            holder["ui"].stop()

    holder["ready"] = threading.Event()
    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    holder["ready"].wait()
    url = holder["ui"].url
    while not json.loads(_get(url + "api/job"))["totals"]["batches"]:
        time.sleep(0.05)
    out: dict[str, Any] = {}
    # The client is another process, as a browser is: in this one it would queue for the
    # GIL behind the job's thread and time its own waits as the server's.
    timed = subprocess.run([sys.executable, "-c", _RELOADS, url, str(reloads), *RELOAD_PATHS],
                           capture_output=True, text=True, timeout=600, check=True)
    out["http_reload"] = _stats([float(ms) for ms in timed.stdout.split()])
    driver = _browser()
    if driver is not None:
        try:
            driver.get(url)  # first load: Plotly into the browser's cache, as for a user
            browser = []
            marks: dict[str, list[float]] = {}
            for _ in range(reloads):
                driver.refresh()
                deadline = time.monotonic() + 30
                rendered = None
                while rendered is None and time.monotonic() < deadline:
                    rendered = driver.execute_script(
                        "return document.body && document.body.dataset.firstRenderMs")
                    if rendered is None:
                        time.sleep(0.01)
                if rendered is not None:
                    browser.append(float(rendered))
                    for name, ms in json.loads(driver.execute_script(
                            "return document.body.dataset.marks")).items():
                        marks.setdefault(name, []).append(float(ms))
            out["browser_reload"] = _stats(browser) if browser else {"error": "never rendered"}
            out["browser_marks_median_ms"] = {k: statistics.median(v) for k, v in marks.items()}
        finally:
            driver.quit()
    else:
        out["browser_reload"] = {"error": "no headless Chromium (apt-get install chromium "
                                          "chromium-driver) or selenium"}
    stop.set()
    thread.join(120)
    out["batches_during"] = holder["metrics"].total_batches if "metrics" in holder else None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ui", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000, help="W1 lines (200000)")
    parser.add_argument("--batch", type=int, default=10_000, help="records per batch (10000)")
    parser.add_argument("--cycles", type=int, default=5,
                        help="each run reads the data this many times over (5: 1M records)")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each (5)")
    parser.add_argument("--reloads", type=int, default=20, help="page reloads timed (20)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    lines = load(Spec("W1", args.records))
    print(f"W1, {args.records} lines x {args.cycles}, {args.batch}-record batches, "
          f"{args.rounds} rounds "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
    result = {"throughput": throughput(lines, args.batch, args.rounds, args.cycles)}
    t = result["throughput"]
    print(f"without UI {t['without_records_per_s']:>12,} records/s (median)\n"
          f"with UI    {t['with_records_per_s']:>12,} records/s (median)\n"
          f"with/without {t['ratio']:.3f}: UI cost {t['cost_pct']:.1f}% of wall-clock "
          f"throughput (target < 5%)\n"
          f"per CPU second: with/without {t['cpu_ratio']:.3f}, cost {t['cpu_cost_pct']:.1f}% "
          "(the server's work included; less sensitive to other processes' load)\n"
          f"control (no UI again) / without: {t['control_ratio']:.3f} wall, "
          f"{t['cpu_control_ratio']:.3f} per CPU second: the noise floor of this run\n"
          f"the UI server thread's CPU: {t['server_thread_cpu_pct']:.2f}% of the job's (median)",
          flush=True)
    result["listener"] = listener_cost(lines, args.batch)
    lc = result["listener"]
    print(f"listener on the batch thread: {lc['listener_us_per_batch']} us per batch, "
          f"{lc['share_pct']}% of a {lc['batch_processing_us'] / 1000:.1f} ms batch")
    result["reload"] = reload_under_load(lines, args.batch, args.reloads)
    for kind in ("http_reload", "browser_reload"):
        r = result["reload"][kind]
        if "error" in r:
            print(f"{kind}: {r['error']}")
        else:
            print(f"{kind} under load: median {r['median_ms']} ms, p95 {r['p95_ms']} ms, "
                  f"max {r['max_ms']} ms over {r['n']} (target < 200 ms)")
    if "browser_marks_median_ms" in result["reload"]:
        print("browser: median ms from navigation to: " + ", ".join(
            f"{k} {v:.0f}" for k, v in result["reload"]["browser_marks_median_ms"].items()))
    result["load_average"] = os.getloadavg()
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if t["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
