"""The DStream operators against PySpark's own DStreams on the same input.

One PySpark StreamingContext (on the session's Spark driver) runs every
operator over the same queued batches, and each operator's output, batch by
batch, must equal etlcore's on the local runner. A streaming run costs seconds,
so one run checks them all. Record order inside a batch is Spark's business
(partitioning), so batches are compared sorted; group values are compared as
sorted lists.

PySpark's ``reduceByKeyAndWindow(func, invFunc)`` carries the window forward
only when the window is at least 5 slides long (shorter windows are recomputed,
which drops keys whose records left); etlcore always carries it forward, as
Spark's Scala API does, so the windows here are 5 batches long.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.stream import Stream

if TYPE_CHECKING:
    from pyspark import SparkContext

pytestmark = pytest.mark.services

_names = itertools.count()
INPUT_BATCHES = 5
TOTAL_BATCHES = 11  # the windows drain after the input ends
WINDOW = 5
SLIDE_2 = {"group_by_key_and_window"}


def _batches(seed: int, keys: str) -> list[list[tuple[str, int]]]:
    rng = random.Random(seed)
    return [[(rng.choice(keys), rng.randint(1, 9)) for _ in range(rng.randint(0, 6))]
            for _ in range(INPUT_BATCHES)]


LEFT = _batches(1, "abcde")
RIGHT = _batches(2, "cdefg")
INITIAL = [("a", 100), ("z", 7)]


def _normal(value: Any) -> Any:
    """Group values (lists, or PySpark's ResultIterable) as sorted lists; tuples inside."""
    if isinstance(value, tuple):
        return tuple(_normal(v) for v in value)
    if isinstance(value, (str, int, float)) or value is None:
        return value
    return sorted(_normal(v) for v in value)


def _by_batch(got: dict[int, list[Any]]) -> dict[int, list[Any]]:
    return {i: sorted(map(_normal, recs), key=repr) for i, recs in got.items() if recs}


def _etlcore_ops() -> dict[str, Callable[[Stream, Stream], Stream]]:
    add, sub = (lambda x, y: x + y), (lambda x, y: x - y)
    return {
        "cogroup": lambda a, b: a.cogroup(b),
        "right_outer_join": lambda a, b: a.right_outer_join(b),
        "full_outer_join": lambda a, b: a.full_outer_join(b),
        "reduce": lambda a, b: a.map(lambda kv: kv[1]).reduce(add),
        "flat_map_values": lambda a, b: a.flat_map_values(lambda v: range(v % 3)),
        "transform_with": lambda a, b: a.transform_with(
            b, lambda x, y: [(k, v) for k, v in x if k in {k2 for k2, _ in y}]),
        "group_by_key_and_window": lambda a, b: a.group_by_key_and_window(4, 2),
        "reduce_by_window": lambda a, b: a.map(lambda kv: kv[1]).reduce_by_window(
            add, sub, WINDOW, 1),
        "reduce_by_key_and_window_inv": lambda a, b: a.reduce_by_key_and_window(
            add, sub, WINDOW, 1),
        "reduce_by_key_and_window_filter": lambda a, b: a.reduce_by_key_and_window(
            add, sub, WINDOW, 1, filter_func=lambda kv: kv[1] != 0),
        "update_state_by_key": lambda a, b: a.update_state_by_key(
            lambda new, old: (old or 0) + sum(new), initial_state=INITIAL),
        "repartition": lambda a, b: a.repartition(3).map_partitions(lambda part: [True]),
        "repartitioned": lambda a, b: a.repartition(3),
    }


def _pyspark_ops(sc: SparkContext) -> dict[str, Callable[[Any, Any], Any]]:
    add, sub = (lambda x, y: x + y), (lambda x, y: x - y)
    initial = sc.parallelize(INITIAL, 1)
    return {
        "cogroup": lambda a, b: a.cogroup(b, 1),
        "right_outer_join": lambda a, b: a.rightOuterJoin(b, 1),
        "full_outer_join": lambda a, b: a.fullOuterJoin(b, 1),
        "reduce": lambda a, b: a.map(lambda kv: kv[1]).reduce(add),
        "flat_map_values": lambda a, b: a.flatMapValues(lambda v: range(v % 3)),
        "transform_with": lambda a, b: a.transformWith(
            lambda x, y: x.join(y.map(lambda kv: (kv[0], None)).distinct()).mapValues(
                lambda vw: vw[0]), b),
        "group_by_key_and_window": lambda a, b: a.groupByKeyAndWindow(4, 2, 1),
        "reduce_by_window": lambda a, b: a.map(lambda kv: kv[1]).reduceByWindow(
            add, sub, WINDOW, 1),
        "reduce_by_key_and_window_inv": lambda a, b: a.reduceByKeyAndWindow(
            add, sub, WINDOW, 1, 1),
        "reduce_by_key_and_window_filter": lambda a, b: a.reduceByKeyAndWindow(
            add, sub, WINDOW, 1, 1, filterFunc=lambda kv: kv[1] != 0),
        "update_state_by_key": lambda a, b: a.updateStateByKey(
            lambda new, old: (old or 0) + sum(new), 1, initialRDD=initial),
        "repartitioned": lambda a, b: a.repartition(3),
        # PySpark deals out pickled batches of records, not records: compare what each
        # batch holds and how many partitions it has, not which record went where
        "repartition": lambda a, b: a.repartition(3).glom().map(lambda part: len(part) >= 0),
    }


def _run_etlcore() -> dict[str, dict[int, list[Any]]]:
    ctx = StreamingContext(1.0, clock="manual", parallelism=2)
    a = ctx.queue_stream(LEFT + [[]] * (TOTAL_BATCHES - INPUT_BATCHES))
    b = ctx.queue_stream(RIGHT + [[]] * (TOTAL_BATCHES - INPUT_BATCHES))
    names = {}
    for op, build in _etlcore_ops().items():
        names[op] = f"dstream-pyspark-{next(_names)}"
        MemorySink.clear(names[op])
        build(a, b).sink("memory", name=names[op])
    ctx.run(batches=TOTAL_BATCHES)
    out = {op: MemorySink.batches(name) for op, name in names.items()}
    for name in names.values():
        MemorySink.clear(name)
    return out


# PySpark checkpoints its DStream graph, output functions included: they must pickle,
# so they reach the results through a module global (pickled by reference), not a closure.
_GOT: dict[str, dict[Any, list[Any]]] = {}


def _collect(output: str, t: Any, rdd: Any) -> None:
    _GOT.setdefault(output, {})[t] = rdd.collect()  # item assignments: atomic under the GIL


def _run_pyspark(sc: SparkContext, checkpoint: str) -> dict[str, dict[int, list[Any]]]:
    from pyspark.streaming import StreamingContext as SparkStreamingContext

    ssc = SparkStreamingContext(sc, 1)
    ssc.checkpoint(checkpoint)  # inverse windows and updateStateByKey need one
    empty = sc.parallelize([], 1)
    a = ssc.queueStream([sc.parallelize(b, 1) for b in LEFT], oneAtATime=True, default=empty)
    b = ssc.queueStream([sc.parallelize(b, 1) for b in RIGHT], oneAtATime=True, default=empty)
    # one output per slide duration, not one per operator: each output is a Spark job
    # every batch, and the operators' records travel tagged with their name
    _GOT.clear()
    every_batch = [build(a, b).map(lambda r, op=op: (op, r))
                   for op, build in _pyspark_ops(sc).items() if op not in SLIDE_2]
    # one task collects it all (the shuffles before it keep their own tasks)
    ssc.union(*every_batch).foreachRDD(lambda t, rdd: _collect("slide-1", t, rdd.coalesce(1)))
    slide_2 = [build(a, b).map(lambda r, op=op: (op, r))
               for op, build in _pyspark_ops(sc).items() if op in SLIDE_2]
    ssc.union(*slide_2).foreachRDD(lambda t, rdd: _collect("slide-2", t, rdd))
    ssc.start()
    try:
        deadline = time.monotonic() + 420  # generous: a loaded machine
        while len(_GOT.get("slide-1", {})) < TOTAL_BATCHES:
            assert time.monotonic() < deadline, "PySpark did not finish its batches in time"
            time.sleep(0.2)
    finally:
        ssc.stop(stopSparkContext=False, stopGraceFully=False)
    times = sorted(_GOT["slide-1"])[:TOTAL_BATCHES]
    index = {t: i for i, t in enumerate(times)}
    out: dict[str, dict[int, list[Any]]] = {op: {} for op in _pyspark_ops(sc)}
    for by_time in _GOT.values():
        for t, tagged in by_time.items():
            if t in index:
                for op, record in tagged:
                    out[op].setdefault(index[t], []).append(record)
    return out


def test_operators_match_pyspark(spark_context: SparkContext, tmp_path: Any) -> None:
    ours = _run_etlcore()
    theirs = _run_pyspark(spark_context, str(tmp_path / "spark-checkpoint"))
    for op in _etlcore_ops():
        assert _by_batch(ours[op]) == _by_batch(theirs[op]), op
    # the input is rich enough to tell the variants apart
    assert ours["reduce_by_key_and_window_inv"] != ours["reduce_by_key_and_window_filter"]
    assert any(v == 0 for recs in ours["reduce_by_key_and_window_inv"].values()
               for _, v in recs)
