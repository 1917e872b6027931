"""Command line: ``python scripts/services/svc.py COMMAND [NAME...]``."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence

from . import SERVICES, HarnessError, Service, get
from .base import dir_size, rss_bytes


def _services(names: Sequence[str]) -> list[Service]:
    return [get(n) for n in (names or list(SERVICES))]


def cmd_fetch(args: argparse.Namespace) -> int:
    for svc in _services(args.names):
        if svc.fetched():
            print(f"{svc.name}: cached in {svc.cache_dir()}")
            continue
        t0 = time.monotonic()
        print(f"{svc.name}: fetching into {svc.cache_dir()} ...", flush=True)
        svc.fetch()
        size = dir_size(svc.cache_dir()) / 2**20
        print(f"{svc.name}: fetched {size:.0f} MiB in {time.monotonic() - t0:.1f}s")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    for svc in _services(args.names):
        took = svc.start(timeout=args.timeout)
        pid = svc.pid()
        rss = rss_bytes(pid) / 2**20 if pid else 0
        how = "already up" if took == 0.0 else f"ready in {took:.1f}s"
        print(f"{svc.name}: {how} (pid {pid}, rss {rss:.0f} MiB, log {svc.log_path})")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    for svc in _services(args.names):
        print(f"{svc.name}: {'stopped' if svc.stop(kill=args.kill) else 'was not running'}")
        if args.wipe:
            svc.wipe()
            print(f"{svc.name}: wiped {svc.state_dir()}")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    for svc in _services(args.names):
        took = svc.restart(timeout=args.timeout, kill=args.kill)
        print(f"{svc.name}: restarted, ready in {took:.1f}s (pid {svc.pid()})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    all_ready = True
    for svc in _services(args.names):
        st = svc.status()
        all_ready &= st.ready
        print(st.line())
    return 0 if all_ready else 3


def cmd_logs(args: argparse.Namespace) -> int:
    for svc in _services(args.names):
        if args.path:
            print(svc.log_path)
            continue
        print(f"==> {svc.name}: {svc.log_path} <==")
        print(svc.tail(args.lines))
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    for svc in _services(args.names):
        for key, value in svc.env().items():
            prefix = "export " if args.export else ""
            print(f"{prefix}{key}={shlex.quote(value)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svc.py",
        description="Fetch, start, check and stop the real servers etlcore's tests use. "
        f"Services: {', '.join(SERVICES)} (no NAME = all).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: object, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("names", nargs="*", metavar="NAME")
        p.set_defaults(func=func)
        return p

    add("fetch", cmd_fetch, "download artifacts into the cache (idempotent)")
    p = add("start", cmd_start, "start detached and wait for readiness (no-op if up)")
    p.add_argument("--timeout", type=float, default=None, help="readiness timeout, seconds")
    p = add("stop", cmd_stop, "stop the process group and wait")
    p.add_argument("--wipe", action="store_true", help="also delete data and logs")
    p.add_argument("--kill", action="store_true", help="SIGKILL at once (simulate a crash)")
    p = add("restart", cmd_restart, "stop then start, keeping data")
    p.add_argument("--timeout", type=float, default=None, help="readiness timeout, seconds")
    p.add_argument("--kill", action="store_true", help="SIGKILL instead of a clean stop")
    add("status", cmd_status, "show pid, readiness, memory; exit 3 unless all ready")
    p = add("logs", cmd_logs, "print the tail of the current log")
    p.add_argument("-n", "--lines", type=int, default=60)
    p.add_argument("--path", action="store_true", help="print the log file path only")
    p = add("env", cmd_env, "print the environment variables tests read")
    p.add_argument("--export", action="store_true", help="prefix lines with `export `")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
