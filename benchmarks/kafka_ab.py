"""W5 jobs with a switch off and on, alternating in one process on one topic.

The full W5 command (:mod:`kafka_e2e`) compares medians of three against the best of seven
raw runs, which on a loaded machine swing more than most changes move. This fills the
topic once and runs the typed (or untyped) job in pairs, the order flipped every pair,
with an environment variable set for the "off" side (e.g. ``ETLCORE_NO_COMMIT_BEHIND=1``);
every job's output is checked against the reference.

    python benchmarks/kafka_ab.py --off ETLCORE_NO_COMMIT_BEHIND=1 [--records 200000]
        [--pairs 10] [--variant typed]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import uuid

from confluent_kafka.admin import AdminClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_e2e as w5  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--off", required=True, metavar="NAME=VALUE",
                        help="environment variable that turns the change off")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--variant", default="typed", choices=sorted(w5.VARIANTS))
    parser.add_argument("--per-batch", type=int, default=20_000)
    parser.add_argument("--bootstrap", default=os.environ.get("ETLCORE_KAFKA_BOOTSTRAP",
                                                              "127.0.0.1:9092"))
    args = parser.parse_args(argv)
    name, _, value = args.off.partition("=")
    n, parts = args.records, 3
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    run = uuid.uuid4().hex[:8]
    src = f"ab-in-{run}"
    dsts = [f"ab-out-{i}-{run}" for i in range(2 * args.pairs)]
    w5._make_topics(admin, [src, *dsts], parts)
    seconds: dict[str, list[float]] = {"off": [], "on": []}
    raws: list[float] = []
    wrong = 0
    try:
        w5.fill(args.bootstrap, src, n, parts)
        for i in range(args.pairs):
            raws.append(w5.raw_consume(args.bootstrap, src, parts, n))
            for j, side in enumerate(("off", "on") if i % 2 == 0 else ("on", "off")):
                if side == "off":
                    os.environ[name] = value
                else:
                    os.environ.pop(name, None)
                dst = dsts[2 * i + j]
                job = w5.etlcore_job(args.bootstrap, src, dst, n, args.per_batch,
                                     w5.VARIANTS[args.variant],
                                     fields=not args.variant.endswith("-map"))
                seconds[side].append(job["seconds"])
                got = w5.read_output(args.bootstrap, dst, parts)
                wrong += got != w5.reference(n, parts, args.per_batch, job["batches"])
            print(f"pair {i}: off {seconds['off'][-1] * 1000:.0f} ms  on "
                  f"{seconds['on'][-1] * 1000:.0f} ms  raw {raws[-1]:,.0f} rec/s  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        os.environ.pop(name, None)
        topics = [src, *dsts, *(f"{d}.etlcore-commits" for d in dsts)]
        for fut in admin.delete_topics(topics).values():
            with contextlib.suppress(Exception):  # cleanup is best effort
                fut.result(30)
    raw = max(raws)
    wins = sum(on < off for on, off in zip(seconds["on"], seconds["off"], strict=True))
    for side in ("off", "on"):
        med, best = statistics.median(seconds[side]), min(seconds[side])
        print(f"{side:>3}: median {med * 1000:,.0f} ms ({n / med / raw:.1%} of the best raw "
              f"{raw:,.0f} rec/s), best {best * 1000:,.0f} ms ({n / best / raw:.1%})")
    print(f"on faster in {wins} of {args.pairs} pairs; outputs != reference: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
