"""``etlcore``: run a job file, run the demo, list plugins.

User mistakes (an EtlcoreError, a missing job file, bad YAML) print one
``error: ...`` line and exit 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from etlcore.errors import ConfigError, EtlcoreError

EXIT_USAGE = 2
EXIT_FAILED = 1


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("etlcore")
    except Exception:  # noqa: BLE001 - not installed: read it from the source tree
        from etlcore._version import __version__

        return __version__


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive number of batches")
    return value


def _duration(text: str) -> float:
    from etlcore.config import parse_duration
    from etlcore.errors import ConfigError

    try:
        return parse_duration(text, "--duration")
    except ConfigError as err:
        raise argparse.ArgumentTypeError(err.expected) from None


def _catch_up(text: str) -> int | bool:
    from etlcore.catchup import catch_up_setting
    from etlcore.errors import ConfigError

    try:
        value = catch_up_setting(text, "--catch-up")
    except ConfigError as err:
        raise argparse.ArgumentTypeError(err.expected) from None
    return False if value is None else value


def _stop_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stop options (none: run until Ctrl-C)")
    group.add_argument("--batches", type=_positive_int, metavar="N", help="run N batches")
    group.add_argument("--duration", type=_duration, metavar="S",
                       help="run for S seconds (also '90s', '5m')")
    group.add_argument("--until-idle", action="store_true",
                       help="stop after the first batch with no new input")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks instead of one-line errors")
    parser = argparse.ArgumentParser(
        prog="etlcore", parents=[common],
        description="Streaming ETL in deterministic micro-batches.")
    parser.add_argument("--version", action="version", version=f"etlcore {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run a job file (.py or .yaml)",
                         description="Run a job file: a YAML job, or a .py file defining "
                         "`job` (a Job) or `build()` (returning a Job or StreamingContext).")
    run.add_argument("job", metavar="JOB", help="path to the job file")
    where = run.add_argument_group("where tasks run (overrides the job file)")
    where.add_argument("--runner", choices=["local", "processes", "spark"], default=None,
                       help="local: in this process; processes: a pool of worker processes; "
                            "spark: a Spark cluster")
    where.add_argument("--workers", type=_positive_int, metavar="N", default=None,
                       help="worker processes (processes) or cores (spark); default: one per core")
    where.add_argument("--master", metavar="URL", default=None,
                       help="Spark master, e.g. spark://127.0.0.1:7077 (default local[N])")
    where.add_argument("--catch-up", type=_catch_up, metavar="on|off|RECORDS", default=None,
                       help="when the job is behind, plan several steps of a step source "
                            "(queue) into one batch, up to RECORDS a source (default: the "
                            "runner's choice, spark: 1000000, local/processes: off)")
    run.add_argument("--allow-changed-job", action="store_true",
                     help="resume a checkpoint written by a different version of the job "
                          "(keeps committed positions, source logs and unchanged operators' "
                          "state; see the README, 'Changing a job')")
    _stop_options(run)
    from etlcore.cli.ui import add_history_parser, add_run_options

    add_run_options(run)

    demo = sub.add_parser("demo", parents=[common], help="run the built-in hashtag demo",
                          description="Generated tweets -> cleanse -> hashtags -> counts over "
                          "a 10 s window sliding every 2 s -> console + SQLite.")
    demo.add_argument("--out", default=None, metavar="DIR",
                      help="where demo.db and the checkpoint go (default ./etlcore-demo)")
    demo.add_argument("--rate", type=float, default=200.0, help="tweets per second (200)")
    demo.add_argument("--source", choices=["generator", "twitter-standin"], default="generator",
                      help="generator: built-in generated tweets; twitter-standin: the twitter "
                           "plugin's source on a local X API stand-in (needs etlcore-twitter)")
    demo.add_argument("--ui", action="store_true",
                      help="also show the trending hashtags on a live dashboard page "
                           "(needs etlcore-dashboard: pip install ./plugins/dashboard)")
    demo.add_argument("--dashboard-port", type=int, default=None, metavar="PORT",
                      help="port of the dashboard page on 127.0.0.1 (8050; 0: any free port)")
    _stop_options(demo)

    check = sub.add_parser("validate", parents=[common], help="check a job file without running it",
                           description="Parse a job file and build its operator graph: every "
                           "key, plugin setting, import path, window size and stream name is "
                           "checked; nothing is read, written or started.")
    check.add_argument("job", metavar="JOB", help="path to the job file (.yaml or .py)")
    sub.add_parser("schema", parents=[common], help="print the JSON Schema of job files",
                   description="The JSON Schema of YAML job files, with the settings of every "
                   "installed plugin, for editors (e.g. `etlcore schema > job.schema.json`).")

    plugins = sub.add_parser("plugins", parents=[common], help="list installed sources and sinks")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    from etlcore.cli.newplugin import add_parser as add_new_plugin

    add_new_plugin(sub, common)
    add_history_parser(sub, common)
    return parser


def _run(ctx: Any, args: argparse.Namespace) -> int:
    from etlcore.cli.live import make_display
    from etlcore.cli.running import run_foreground
    from etlcore.cli.ui import announce, run_options

    ui = run_options(args) if args.command == "run" else None  # demo's --ui is the dashboard
    if ui is not None:
        ctx.enable_ui(ui)
    with make_display(f"etlcore: {ctx.name}") as display:
        ctx.add_listener(display)
        metrics = run_foreground(ctx, batches=args.batches, until_idle=args.until_idle,
                                 duration=args.duration, on_started=announce)
    s = metrics.summary()
    print(f"done: {s['batches']} batches, {s['records_in']} records in, "
          f"{s['dead_letters']} dead letters", flush=True)
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "new-plugin":
        from etlcore.cli.newplugin import run

        return run(args)
    if args.command == "ui":
        from etlcore.cli.ui import serve_history

        return serve_history(args)
    if args.command == "validate":
        from etlcore.cli.checks import validate

        return validate(args.job)
    if args.command == "schema":
        from etlcore.cli.checks import print_schema

        return print_schema()
    if args.command == "plugins":
        from etlcore.cli.plugins import show_plugins

        show_plugins(args.json)
        return 0
    if args.command == "run":
        from etlcore.cli.loader import load_target
        from etlcore.runners import override_runner

        if args.runner is None and (args.workers is not None or args.master is not None):
            raise ConfigError("--runner", "--workers and --master need --runner processes or "
                              "spark", has_value=False)
        override_runner(args.runner, args.workers, args.master)
        from etlcore.catchup import override_catch_up

        override_catch_up(args.catch_up)
        return _run(load_target(args.job, allow_changed_job=args.allow_changed_job), args)
    from etlcore.job.demo import DEFAULT_OUT, demo_job

    out = args.out or DEFAULT_OUT
    if args.source == "twitter-standin":
        if args.ui:
            raise ConfigError("--ui", "the dashboard with --source generator", has_value=False)
        return _twitter_demo(out, args)
    port = _dashboard_port(args) if args.ui else 0
    ctx = demo_job(out, rate=args.rate, dashboard=args.ui, dashboard_port=port).build()
    print(f"etlcore demo: writing to {out}/demo.db (table hashtag_counts), Ctrl-C to stop",
          flush=True)
    if args.ui:
        print(f"etlcore demo: dashboard at http://127.0.0.1:{port}/", flush=True)
    return _run(ctx, args)


def _dashboard_port(args: argparse.Namespace) -> int:
    """``--dashboard-port``, with 0 resolved to a free port now, so the URL can be printed."""
    from etlcore.job.demo import DASHBOARD_PORT

    port = DASHBOARD_PORT if args.dashboard_port is None else args.dashboard_port
    if port == 0:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    return port


def _twitter_demo(out: str, args: argparse.Namespace) -> int:
    """The demo job on the twitter plugin's stand-in server (the plugin is optional)."""
    from etlcore.plugin.imports import require_module

    demo = require_module("etlcore_twitter.demo", "plugins/twitter",
                          feature="etlcore demo --source twitter-standin")
    ctx, server = demo.standin_demo(out, rate=args.rate)
    print(f"etlcore demo: X API stand-in on {server.url}; writing to {out}/twitter-demo.db "
          "(table hashtag_counts), Ctrl-C to stop", flush=True)
    try:
        return _run(ctx, args)
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        return _dispatch(args)
    except ImportError as err:
        missing = isinstance(err, EtlcoreError)  # MissingDependencyError: says what to install
        if debug or ("C kernels" not in str(err) and not missing):
            raise
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except EtlcoreError as err:
        if debug:
            traceback.print_exc()
        else:
            job = getattr(args, "job", None)
            where = f"{job}: " if job and not str(err).startswith(job) else ""
            print(f"error: {where}{err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # noqa: BLE001 - a failing job: one line unless --debug
        if debug:
            traceback.print_exc()
        else:
            notes = "".join(f" [{n.removeprefix('etlcore: ')}]"
                            for n in getattr(err, "__notes__", ()))
            print(f"error: job failed: {type(err).__name__}: {err}{notes} "
                  "(--debug shows the traceback)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
