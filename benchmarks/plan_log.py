"""The plan logged beside the tasks vs before them: driver seconds per batch, A/B in one run.

``python benchmarks/plan_log.py [--batches 40] [--records 400] [--rounds 7] [--runner local]``
runs one
checkpointed job (generator clicks -> a map -> the memory sink, manual clock, ``--records``
per partition per batch, two partitions) in two ways, rounds interleaved so that load on
a shared machine hits both alike:

- ``beside``: the plan is written and fsynced on a background thread while the batch's
  tasks run (the memory sink allows it, ``plan_before_write = False``);
- ``first``: the same sink with ``plan_before_write = True``: the plan is durable before
  the tasks start, as every job did before 2026-12-05.

It prints the median milliseconds per batch of each and their difference: what one
plan's write (two fsyncs) costs a batch when it is on the driver's path. On the
``local`` runner the tasks hold the GIL, so the background write waits for it after
each system call (about 10 ms for a 1 ms write beside a busy thread): it is hidden only
behind batches longer than that. On ``processes`` the driver waits on pipes, GIL free.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from etlcore.connectors.queue import MemorySink, MemorySinkConfig


class PlanFirstMemorySink(MemorySink):
    """The memory sink, but the plan must be durable before its writers run."""

    plan_before_write = True


def run(batches: int, records: int, plan_first: bool, runner: str) -> float:
    """Seconds per batch of one job on a fresh checkpoint."""
    from etlcore import StreamingContext

    sink_class = PlanFirstMemorySink if plan_first else MemorySink
    name = f"plan-log-{plan_first}"
    with tempfile.TemporaryDirectory() as ckpt:
        ctx = StreamingContext(1.0, ckpt, clock="manual", name="plan-log",
                               max_rate_per_partition=records, runner=runner)
        clicks = ctx.source("generator", kind="clicks", seed=1, rate=10 * records,
                            partitions=2, limit=batches * records,
                            start_time=1_700_000_000.0)
        clicks.map(lambda r: r["event"]).to(sink_class(MemorySinkConfig(name)), name="out")
        started = time.perf_counter()
        metrics = ctx.run(batches=batches)
        elapsed = time.perf_counter() - started
        MemorySink.clear(name)
    return elapsed / metrics.total_batches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--records", type=int, default=400,
                        help="records per partition per batch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runner", default="local", choices=["local", "processes"])
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"beside": [], "first": []}
    for _ in range(args.rounds):
        times["beside"].append(run(args.batches, args.records, False, args.runner))
        times["first"].append(run(args.batches, args.records, True, args.runner))
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    for k, v in times.items():
        print(f"plan {k:<6} {med[k]:7.2f} ms/batch  (median of "
              + " / ".join(f"{t * 1e3:.2f}" for t in v) + ")")
    print(f"beside saves {med['first'] - med['beside']:.2f} ms per batch "
          f"({1 - med['beside'] / med['first']:.1%})")


if __name__ == "__main__":
    main()
