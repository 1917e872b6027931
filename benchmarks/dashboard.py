"""What the dashboard sink costs a batch: the demo job with and without its panels.

``python benchmarks/dashboard.py [--batches 60] [--rate 2000]`` runs the demo job
(generated tweets -> hashtags -> 10 s sliding-window counts -> console + SQLite)
on a manual clock, three ways in one process, each best of 3:

- ``baseline``: the demo as ``etlcore demo`` runs it;
- ``dashboard``: plus its three panels (``etlcore demo --ui``), one browser-like
  client reading the event stream;
- ``dashboard + stalled``: the same plus a client that connects and never reads,
  and one that reloads the page (page, its script and style, ``/api/state``;
  plotly.min.js cached as a browser caches it) over and over, timing each reload.

It prints ms per batch, each row's ratio to the baseline of the same run, and
the time the batch thread spent in the three dashboard commits (fold, save the
panel beside the checkpoint, hand the JSON to the server's loop).
Speed is reported, never asserted. Needs ``pip install ./plugins/dashboard``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DRAIN = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
conn = socket.create_connection((host, port))
conn.sendall(f"GET /events HTTP/1.1\\r\\nHost: {host}:{port}\\r\\n\\r\\n".encode())
while conn.recv(1 << 16):
    pass
"""


@contextlib.contextmanager
def reader(url: str) -> Iterator[None]:
    """A client in its own process reading the event stream as it comes (a browser tab)."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    proc = subprocess.Popen([sys.executable, "-c", DRAIN, host, port])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


RELOAD = """
import sys, time, urllib.request
url = sys.argv[1]
while True:
    started = time.perf_counter()
    for path in ("", "static/dashboard.js", "static/dashboard.css", "api/state"):
        urllib.request.urlopen(url + path, timeout=30).read()
    print(1000 * (time.perf_counter() - started), flush=True)
    time.sleep(0.25)
"""


@contextlib.contextmanager
def reloads(url: str, times: list[float]) -> Iterator[None]:
    """A client in its own process reloading the page (plotly.min.js cached, as a browser
    does) over and over; the milliseconds of each reload go to ``times``."""
    proc = subprocess.Popen([sys.executable, "-c", RELOAD, url], stdout=subprocess.PIPE,
                            text=True)
    try:
        yield
    finally:
        proc.kill()
        out, _ = proc.communicate()
        times.extend(float(line) for line in out.split())


@contextlib.contextmanager
def stalled(url: str) -> Iterator[None]:
    """A client that connects to the event stream and never reads."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    conn = socket.create_connection((host, int(port)))
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.sendall(f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    try:
        yield
    finally:
        conn.close()


def timed_commits(ctx: object, spent: list[float]) -> None:
    """Add the time every dashboard sink spends in ``commit`` (the batch thread's cost) to ``spent``."""
    from etlcore_dashboard.sink import DashboardSink

    for out in ctx._graph.outputs:  # type: ignore[attr-defined]
        sink = getattr(out, "sink", None)
        if isinstance(sink, DashboardSink):
            def commit(batch: object, messages: list, _inner=sink.commit) -> None:
                started = time.perf_counter()
                _inner(batch, messages)
                spent[0] += time.perf_counter() - started
            sink.commit = commit  # type: ignore[method-assign]


def one_run(batches: int, rate: float, dashboard: bool, stall: bool,
            spent: list[float] | None = None, reload_ms: list[float] | None = None) -> float:
    """Seconds for ``batches`` batches of the demo job in a fresh directory."""
    from etlcore_dashboard.server import acquire, release

    from etlcore.job.demo import demo_job

    with tempfile.TemporaryDirectory() as tmp:
        ctx = demo_job(Path(tmp), rate=rate, dashboard=dashboard, dashboard_port=0).build(
            clock="manual")
        if spent is not None:
            timed_commits(ctx, spent)
        server = acquire("127.0.0.1", 0, None) if dashboard else None
        with contextlib.ExitStack() as clients:
            if server is not None:
                clients.enter_context(reader(server.url))
                if reload_ms is not None:
                    clients.enter_context(reloads(server.url, reload_ms))
                if stall:
                    clients.enter_context(stalled(server.url))
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the console sink: no terminal cost
                ctx.run(batches=batches)
            elapsed = time.perf_counter() - started
        if server is not None:
            release(server)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rate", type=float, default=2000.0, help="tweets per batch second")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    rows = [("baseline", False, False), ("dashboard", True, False),
            ("dashboard + stalled client", True, True)]
    best: dict[str, float] = {}
    commits: dict[str, float] = {}
    reload_ms: list[float] = []
    for _ in range(3):  # interleaved, so load changes hit every row alike
        for name, dashboard, stall in rows:
            spent = [0.0]
            t = one_run(args.batches, args.rate, dashboard, stall, spent,
                        reload_ms if stall else None)
            if t < best.get(name, float("inf")):
                best[name], commits[name] = t, spent[0]
    base = best["baseline"]
    print(f"demo job, {args.batches} batches at {args.rate:g} tweets/s, best of 3")
    print(f"{'':28} {'ms/batch':>9} {'x baseline':>11} {'dashboard commits ms/batch':>27}")
    for name, _, _ in rows:
        print(f"{name:28} {1000 * best[name] / args.batches:9.2f} {best[name] / base:11.3f} "
              f"{1000 * commits[name] / args.batches:27.3f}")
    if reload_ms:
        reload_ms.sort()
        print(f"page reloads while the job ran (last row): {len(reload_ms)}, median "
              f"{statistics.median(reload_ms):.1f} ms, p95 "
              f"{reload_ms[int(0.95 * (len(reload_ms) - 1))]:.1f} ms, max {reload_ms[-1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
