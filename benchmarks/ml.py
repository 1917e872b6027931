"""etlcore.ml throughput: training and scoring points/s against a numpy loop, same run.

Run from the repo root::

    python benchmarks/ml.py [--batches B] [--size N] [--dim D] [--repeat R]
                            [--runner local|processes] [--workers W] [--partitions P]

For each model (linear regression by SGD, logistic regression by SGD, KMeans)
etlcore trains on ``B`` batches of ``N`` labelled points (manual clock, ``P``
queue sources unioned, so each batch is ``P`` map tasks whose statistics are
merged; the numbers are the operators' cost, not the clock's; ``--runner``
picks where the tasks run) and then scores them with ``predict_on``. The baseline is a plain
numpy loop doing the same updates on the same records: per batch, the records
to an array (which etlcore must do too), then the same update formula
(``numpy loop``), and the same loop over arrays converted up front (``numpy
arrays``, the floor). The ratio column is etlcore / numpy loop. The models must
agree (weights and centres to 1e-9), else the exit status is 1. CPU time (wall
time with ``--runner processes``), best of ``R``; speed is reported, never
asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

import numpy as np  # noqa: E402

from etlcore import StreamingContext  # noqa: E402
from etlcore.ml import (  # noqa: E402
    StreamingKMeans,
    StreamingLinearRegression,
    StreamingLogisticRegression,
)


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best of ``repeat``: CPU time in-process (load-proof), wall time with worker processes."""
    clock = time.process_time if RUN["runner"] == "local" else time.perf_counter
    best, result = float("inf"), None
    for _ in range(repeat):
        start = clock()
        result = fn()
        best = min(best, clock() - start)
    return best, result


def make_data(batches: int, size: int, dim: int, kind: str) -> list[list[Any]]:
    rng = np.random.default_rng(0)
    w = rng.normal(size=dim)
    out = []
    for _ in range(batches):
        x = rng.normal(size=(size, dim))
        if kind == "kmeans":
            x += 4.0 * rng.integers(0, 3, size=(size, 1))
            out.append(x.tolist())
            continue
        y = x @ w if kind == "linear" else (rng.random(size) < 1 / (1 + np.exp(-(x @ w))))
        out.append(list(zip(y.astype(float).tolist(), x.tolist(), strict=True)))
    return out


RUN: dict[str, Any] = {"runner": "local", "workers": None, "partitions": 2}


def _stream(ctx: StreamingContext, data: list[list[Any]]) -> Any:
    p = RUN["partitions"]
    streams = [ctx.queue_stream([b[i::p] for b in data]) for i in range(p)]
    return streams[0].union(*streams[1:]) if p > 1 else streams[0]


def _context() -> StreamingContext:
    return StreamingContext(1, clock="manual", runner=RUN["runner"], workers=RUN["workers"])


def etlcore_train(make: Callable[[], Any], data: list[list[Any]]) -> Any:
    model = make()
    ctx = _context()
    model.train_on(_stream(ctx, data))
    ctx.run(batches=len(data))
    return model.latest_model()


def etlcore_score(model: Any, data: list[list[Any]]) -> int:
    ctx = _context()
    points = _stream(ctx, [[r[1] for r in b] if isinstance(b[0], tuple) else b for b in data])
    n = [0]
    model.predict_on(points).foreach_batch(lambda batch_id, recs: n.__setitem__(0, n[0] + len(recs)))
    ctx.run(batches=len(data))
    return n[0]


def sgd_loop(batches: list[tuple[np.ndarray, np.ndarray]], w: np.ndarray, logistic: bool,
             step: float, iterations: int) -> np.ndarray:
    for x, y in batches:
        for i in range(1, iterations + 1):
            margin = x @ w
            err = (1 / (1 + np.exp(-margin)) if logistic else margin) - y
            w = w - step / np.sqrt(i) * (x.T @ err) / len(y)
    return w


def kmeans_loop(batches: list[np.ndarray], centers: np.ndarray, decay: float) -> np.ndarray:
    centers, weights = centers.copy(), np.ones(len(centers))
    for x in batches:
        d2 = ((x[:, None, :] - centers[None]) ** 2).sum(axis=2)
        idx = d2.argmin(axis=1)
        weights *= decay
        for c in range(len(centers)):
            members = x[idx == c]
            if len(members):
                updated = weights[c] + len(members)
                lam = len(members) / updated
                centers[c] = (1 - lam) * centers[c] + lam * members.mean(axis=0)
                weights[c] = updated
    return centers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runner", default="local", choices=["local", "processes"])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    RUN.update(runner=args.runner, workers=args.workers, partitions=args.partitions)
    b, n, d = args.batches, args.size, args.dim
    points = b * n
    step, iters = 0.1, 5
    w0 = np.zeros(d)
    centers = np.random.default_rng(1).normal(size=(3, d)) * 4.0
    cases = [
        ("linear", lambda: StreamingLinearRegression(step, iters, convergence_tol=0.0,
                                                      initial_weights=w0),
         lambda bs: sgd_loop(bs, w0, False, step, iters)),
        ("logistic", lambda: StreamingLogisticRegression(step, iters, convergence_tol=0.0,
                                                          initial_weights=w0),
         lambda bs: sgd_loop(bs, w0, True, step, iters)),
        ("kmeans", lambda: StreamingKMeans(3, 0.9, initial_centers=centers),
         lambda bs: kmeans_loop(bs, centers, 0.9)),
    ]
    print(f"{b} batches x {n} points, {d} features, {args.partitions} partitions, runner "
          f"{args.runner}; {'CPU' if args.runner == 'local' else 'wall'} s, best of {args.repeat}")
    print(f"{'model':10} {'what':6} {'etlcore pts/s':>14} {'numpy loop':>12} {'numpy arrays':>13}"
          f" {'x loop':>7}")
    wrong = False
    for kind, make, loop in cases:
        data = make_data(b, n, d, kind)

        def to_arrays(data=data, kind=kind) -> list[Any]:
            if kind == "kmeans":
                return [np.asarray(batch, dtype=np.float64) for batch in data]
            return [(np.asarray([r[1] for r in batch]), np.asarray([r[0] for r in batch]))
                    for batch in data]

        t_etl, model = best_of(args.repeat, lambda make=make, data=data: etlcore_train(make, data))
        t_loop, ref = best_of(args.repeat, lambda loop=loop, f=to_arrays: loop(f()))
        arrays = to_arrays()
        t_arr, _ = best_of(args.repeat, lambda loop=loop, a=arrays: loop(a))
        got = model.centers if kind == "kmeans" else model.weights
        if not np.allclose(got, ref, rtol=1e-9, atol=1e-9):
            print(f"WRONG: {kind} differs from the numpy loop by {np.abs(got - ref).max():g}")
            wrong = True
        print(f"{kind:10} {'train':6} {points / t_etl:14,.0f} {points / t_loop:12,.0f} "
              f"{points / t_arr:13,.0f} {t_loop / t_etl:7.2f}")

        trained = (StreamingKMeans.from_npz if kind == "kmeans" else type(make()).from_npz)
        path = Path("bench-results") / f"ml-{kind}.npz"
        path.parent.mkdir(exist_ok=True)
        model.save(path)
        scorer = trained(path)

        def score_loop(model=model, f=to_arrays, kind=kind) -> int:
            total = 0
            for batch in f():
                x = batch if kind == "kmeans" else batch[0]
                total += len(model.predict(x).tolist())
            return total

        t_etl, count = best_of(args.repeat, lambda s=scorer, data=data: etlcore_score(s, data))
        t_loop, _ = best_of(args.repeat, score_loop)
        t_arr, _ = best_of(args.repeat, lambda model=model, a=arrays, kind=kind: [
            model.predict(x if kind == "kmeans" else x[0]) for x in a])
        wrong |= count != points
        print(f"{kind:10} {'score':6} {points / t_etl:14,.0f} {points / t_loop:12,.0f} "
              f"{points / t_arr:13,.0f} {t_loop / t_etl:7.2f}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
