"""The CLI's web UI options (``run --ui``) and ``etlcore ui --checkpoint DIR``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from etlcore.ui.options import DEFAULT_PORT

TOKEN_ENV = "ETLCORE_UI_TOKEN"  # a token off the command line (ps shows arguments)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("expected a TCP port (0..65535; 0: any free port)")
    return value


def add_server_options(group: Any, *, metrics: bool = True) -> None:
    group.add_argument("--ui-port", type=_port, default=DEFAULT_PORT, metavar="PORT",
                       help=f"web UI port (default {DEFAULT_PORT}; 0: any free port)")
    group.add_argument("--ui-host", default="127.0.0.1", metavar="HOST",
                       help="address to bind (default 127.0.0.1; set a token for others)")
    group.add_argument("--ui-token", default=None, metavar="TOKEN",
                       help=f"require this token (?token=...) on every page, the API and "
                            f"/metrics (or set {TOKEN_ENV})")
    if metrics:
        group.add_argument("--metrics-port", type=_port, default=None, metavar="PORT",
                           help="serve Prometheus /metrics alone on this port "
                                "(without --ui: only that)")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("web UI and metrics (pip install 'etlcore[ui]')")
    group.add_argument("--ui", action="store_true",
                       help="serve the streaming web UI and /metrics while the job runs")
    add_server_options(group)


def _token(args: argparse.Namespace) -> str | None:
    return args.ui_token or os.environ.get(TOKEN_ENV) or None


def run_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``ui=`` settings the run options ask for (None: no UI)."""
    if not args.ui and args.metrics_port is None:
        return None
    return {"host": args.ui_host, "port": args.ui_port if args.ui else None,
            "token": _token(args), "metrics_port": args.metrics_port}


def announce(ctx: Any) -> None:
    """Say where the UI is (with the token, so the line can be pasted into a browser)."""
    ui = getattr(ctx, "ui", None)
    if ui is None:
        return
    token = ui.options.token
    suffix = "?token=<your token>" if token else ""
    if ui.url:
        print(f"etlcore: web UI on {ui.url}{suffix}, metrics on {ui.metrics_url}",
              file=sys.stderr, flush=True)
    else:
        print(f"etlcore: metrics on {ui.metrics_url}", file=sys.stderr, flush=True)


def add_history_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("ui", parents=[common], help="show a job's history from its checkpoint",
                            description="Serve the streaming web UI for the batches a job "
                            "recorded in its checkpoint (Spark's history server), until Ctrl-C.")
    parser.add_argument("--checkpoint", required=True, metavar="DIR",
                        help="the job's checkpoint directory")
    add_server_options(parser.add_argument_group("server"), metrics=False)


def serve_history(args: argparse.Namespace) -> int:
    from etlcore.ui.deps import check
    from etlcore.ui.history import load_history
    from etlcore.ui.server import UIServer

    check()
    store = load_history(args.checkpoint)
    token = _token(args)
    done = threading.Event()
    previous = {s: signal.signal(s, lambda *_: done.set())
                for s in (signal.SIGINT, signal.SIGTERM)}
    server = None
    try:
        server = UIServer(store, None, args.ui_host, args.ui_port, token).start()
        suffix = "?token=<your token>" if token else ""
        print(f"etlcore ui: {store.totals['batches']} batches of job '{store.job['name']}' "
              f"({store.job['source']}) on {server.url}{suffix}, Ctrl-C to stop", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if server is not None:
            server.stop()
    return 0
