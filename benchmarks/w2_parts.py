"""Where W2's time goes on the etlcore tree at ROOT: the kernel's fold, its rows, the rest.

    python benchmarks/w2_parts.py ROOT KEYS [--records N] [--repeat R]
                                  [--rows default|tuple|compact] [--keep-memory default|0|1]
                                  [--arenas N]

Runs the benchmark's W2 job (``Etlcore.run_W2``, local runner) as ``ab_w2.py`` does
and splits each run's CPU time and minor page faults into the window kernel's fold
(``PaneStore.fold_records``), the building of result rows (``PaneStore.rows`` through
the window node), the driver's commit (``Scheduler._commit``: ``foreach_batch``, i.e.
the job's ``extend``, and the batch's row list freed when it returns) and everything
else (source slices, pane drops, the cyclic GC; since 2026-12-05 the engine hands a
window's row list to ``foreach_batch`` without copying it). Prints the best run of ``--repeat``
after a warm-up. At many keys nearly every record becomes a row, so the rows'
share (and their fresh pages: the job keeps every row) is what grows with the keys.
``--rows compact`` has the windows emit the compact C row (``_fast/winrow_c.pyx``,
one 48 B object) instead of the tree's ``WindowResult`` (``tumbling_window(rows=...)``
on trees whose benchmark job says it, a patched row class on older ones);
``--keep-memory 0|1`` overrides the job's ``StreamingContext(keep_memory=...)``;
``--arenas N`` runs the driver with an arena cache of N installed by hand.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("keys", type=int)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", choices=("default", "tuple", "compact"), default="default",
                        help="row type the windows emit: the tree's WindowResult, the "
                             "NamedTuple, or the compact C row (trees that have one)")
    parser.add_argument("--arenas", type=int, default=0,
                        help="cache up to N freed pymalloc arenas (arenas_c.install, the "
                             "processes runner's policy; 0: CPython's allocator)")
    parser.add_argument("--keep-memory", choices=("default", "0", "1"), default="default",
                        help="W2's StreamingContext(keep_memory=...): the engine's choice, "
                             "off or on (trees whose W2 job says it)")
    args = parser.parse_args()
    sys.path[:0] = [str(args.root.resolve()), str(HERE)]
    import etlcore

    if not Path(etlcore.__file__).resolve().is_relative_to(args.root.resolve()):
        raise SystemExit(f"etlcore came from {etlcore.__file__}, not {args.root}")
    from benchmarks.data import Spec, gen_w2
    from benchmarks.engines.etlcore_engine import Etlcore
    from etlcore import scheduler
    from etlcore.eventtime import panes

    parts: dict[str, list[float]] = {"fold": [0.0, 0], "rows": [0.0, 0], "commit": [0.0, 0]}

    def timed(name: str, fn: Any, *a: Any) -> Any:
        t, f = time.process_time(), faults()
        try:
            return fn(*a)
        finally:
            parts[name][0] += time.process_time() - t
            parts[name][1] += faults() - f

    engine_has_rows = hasattr(Etlcore, "w2_rows")  # trees whose W2 job says rows=
    if args.rows != "default" and engine_has_rows:
        Etlcore.w2_rows = args.rows  # type: ignore[attr-defined]
    elif args.rows != "default":
        from typing import NamedTuple

        class TupleRow(NamedTuple):
            key: Any
            window_start: float
            window_end: float
            value: Any

        if args.rows == "tuple":
            panes.WindowResult = TupleRow  # type: ignore[misc,assignment]
        else:
            from etlcore._fast.winrow_c import WindowRow
            panes.WindowResult = WindowRow  # type: ignore[misc,assignment]
    if args.keep_memory != "default" and hasattr(Etlcore, "w2_keep_memory"):
        Etlcore.w2_keep_memory = args.keep_memory == "1"  # type: ignore[attr-defined]
    if args.arenas:
        from etlcore._fast import arenas_c

        arenas_c.install(args.arenas)
    node = panes.PaneWindowNode
    result = node._result

    def fold_direct(self: Any, state: Any, records: list[Any], cutoff: Any, param: Any) -> Any:
        spec = self.spec
        late, top = timed("fold", state.fold_records, records, spec.extract, spec.key,
                          spec.value, cutoff, self.pane_us, panes.to_us)
        return self.process(state, [], [], [], param["wm"], param["emitted"]), late, top

    node.fold_direct = fold_direct  # type: ignore[method-assign]
    node._result = lambda self, *a: timed("rows", result, self, *a)  # type: ignore[method-assign]
    commit = scheduler.Scheduler._commit
    scheduler.Scheduler._commit = (  # type: ignore[method-assign]
        lambda self, outcome: timed("commit", commit, self, outcome))

    records = gen_w2(Spec(workload="W2", records=args.records, keys=args.keys))
    engine = Etlcore()
    engine.setup()
    engine.window_s = 1
    engine.run_W2(records[: len(records) // 5])  # warm-up
    best: tuple[float, int, dict[str, list[float]]] | None = None
    for _ in range(args.repeat):
        gc.collect()
        for p in parts.values():
            p[:] = [0.0, 0]
        t, f = time.process_time(), faults()
        out = engine.run_W2(records)
        spent, faulted = time.process_time() - t, faults() - f
        del out
        if best is None or spent < best[0]:
            best = (spent, faulted, {k: list(v) for k, v in parts.items()})
    assert best is not None
    spent, faulted, split = best
    rest = (spent - sum(v[0] for v in split.values()),
            faulted - sum(int(v[1]) for v in split.values()))
    cells = [f"{k} {v[0] * 1000:.1f} ms / {int(v[1]):,} faults" for k, v in split.items()]
    print(f"{args.root} rows={args.rows} keep_memory={args.keep_memory} arenas={args.arenas} keys={args.keys:,}: {len(records) / spent:,.0f} records/CPU-s, "
          f"{spent * 1000:.1f} ms / {faulted:,} faults: {', '.join(cells)}, "
          f"rest {rest[0] * 1000:.1f} ms / {rest[1]:,} faults")


if __name__ == "__main__":
    main()
