"""What the dashboard sink costs a batch: the demo job with and without its panels.

``python benchmarks/dashboard.py [--batches 60] [--rate 2000]`` runs the demo job
(generated tweets -> hashtags -> 10 s sliding-window counts -> console + SQLite)
on a manual clock, three ways in one process, each best of 3:

- ``baseline``: the demo as ``etlcore demo`` runs it;
- ``dashboard``: plus its three panels (``etlcore demo --ui``), one browser-like
  client reading the event stream;
- ``dashboard + stalled``: the same plus a client that connects and never reads.

It prints ms per batch and each row's ratio to the baseline of the same run.
Speed is reported, never asserted. Needs ``pip install ./plugins/dashboard``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def reader(url: str) -> Iterator[None]:
    """A client that reads the event stream as fast as it comes (a browser tab)."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    conn = socket.create_connection((host, int(port)))
    conn.sendall(f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    stop = threading.Event()

    def drain() -> None:
        conn.settimeout(0.5)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                if not conn.recv(1 << 16):
                    return

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        conn.close()


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


def one_run(batches: int, rate: float, dashboard: bool, stall: bool) -> float:
    """Seconds for ``batches`` batches of the demo job in a fresh directory."""
    from etlcore_dashboard.server import acquire, release

    from etlcore.job.demo import demo_job

    with tempfile.TemporaryDirectory() as tmp:
        ctx = demo_job(Path(tmp), rate=rate, dashboard=dashboard, dashboard_port=0).build(
            clock="manual")
        server = acquire("127.0.0.1", 0, None) if dashboard else None
        with contextlib.ExitStack() as clients:
            if server is not None:
                clients.enter_context(reader(server.url))
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
    for _ in range(3):  # interleaved, so load changes hit every row alike
        for name, dashboard, stall in rows:
            t = one_run(args.batches, args.rate, dashboard, stall)
            best[name] = min(best.get(name, t), t)
    base = best["baseline"]
    print(f"demo job, {args.batches} batches at {args.rate:g} tweets/s, best of 3")
    print(f"{'':28} {'ms/batch':>9} {'x baseline':>11}")
    for name, _, _ in rows:
        print(f"{name:28} {1000 * best[name] / args.batches:9.2f} {best[name] / base:11.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
