"""Window rows as compact objects (``rows="compact"``): opted into, and written as tuples.

A compact row is not a tuple; what the engine's sinks write from it must be exactly
what they write from the ``WindowResult`` NamedTuple, on every runner.
"""

from __future__ import annotations

import itertools
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from etlcore import StreamingContext, _fast
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.eventtime import WindowResult
from etlcore.job import job_from_mapping

_names = itertools.count()

# (event time, key, value): int keys (kept unboxed), str and None keys, int and float values
BATCHES = [
    [(0.5, 1, 2.0), (0.7, 1, 3.5), (1.2, "a", 1), (1.9, None, 4), (0.1, 2**62, -1.25)],
    [(2.5, 7, 1.0), (3.1, 1, 0.5), (2.2, "a", 2)],
    [(6.0, 2, 1.0)],
    [],
]


def _windows(ctx: StreamingContext, rows: str, op: str = "tumbling_window",
             emit: str = "final") -> Any:
    events = ctx.queue_stream(BATCHES).with_event_time(time=0, max_delay="1s")
    if op == "tumbling_window":
        return events.tumbling_window("1s", key=1, value=2, emit=emit, rows=rows)
    return events.sliding_window("2s", "1s", key=1, value=2, emit=emit, rows=rows)


def _collect(rows: str, op: str = "tumbling_window", emit: str = "final",
             **ctx_options: Any) -> tuple[list[Any], dict[int, list[Any]]]:
    """(foreach_batch's rows, the memory sink's batches) of the window job."""
    name = f"compact-{next(_names)}"
    ctx = StreamingContext(1.0, clock="manual", **ctx_options)
    got: list[Any] = []
    windows = _windows(ctx, rows, op, emit)
    windows.foreach_batch(lambda _, records: got.extend(records))
    windows.sink("memory", name=name)
    try:
        ctx.run(batches=len(BATCHES))
        return got, MemorySink.batches(name)
    finally:
        MemorySink.clear(name)


@pytest.mark.parametrize(("op", "emit"), [("tumbling_window", "final"),
                                          ("sliding_window", "final"),
                                          ("sliding_window", "update")])
def test_compact_rows_equal_tuple_rows_and_sinks_get_tuples(op, emit):
    tuple_rows, tuple_sunk = _collect("tuple", op, emit)
    compact_rows, compact_sunk = _collect("compact", op, emit)
    assert tuple_rows, "the job must produce rows to compare"
    assert all(type(r) is WindowResult for r in tuple_rows)
    assert all(type(r) is _fast.winrow.WindowRow for r in compact_rows)
    assert not any(isinstance(r, tuple) for r in compact_rows)
    assert [tuple(r) for r in compact_rows] == [tuple(r) for r in tuple_rows]
    assert compact_rows == tuple_rows
    # the sink got the NamedTuple, not the compact row
    assert compact_sunk == tuple_sunk
    assert all(type(r) is WindowResult for rows in compact_sunk.values() for r in rows)


@pytest.mark.parametrize("op", ["tumbling_window", "sliding_window"])
@pytest.mark.parametrize("bad", ["Compact", "namedtuple", None, 1])
def test_a_bad_rows_value_is_named_before_anything_runs(op, bad):
    ctx = StreamingContext(1.0, clock="manual")
    with pytest.raises(ConfigError) as err:
        _windows(ctx, bad, op)
    text = str(err.value)
    assert f"{op}.rows" in text and "'tuple'" in text and "'compact'" in text


def _run_to(sink: str, rows: str, path: Path, **config: Any) -> None:
    ctx = StreamingContext(1.0, clock="manual", parallelism=2)
    # a map after the window keeps compact rows: the sink hand-off converts them
    _windows(ctx, rows).map(lambda r: r).sink(sink, path=str(path), **config)
    ctx.run(batches=len(BATCHES))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "_manifests" not in p.parts}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_the_files_sink_writes_compact_rows_as_tuple_rows(tmp_path, fmt):
    _run_to("files", "tuple", tmp_path / "tuple", format=fmt)
    _run_to("files", "compact", tmp_path / "compact", format=fmt)
    want = _files(tmp_path / "tuple")
    assert any(name.endswith(fmt) for name in want), "the job must write rows to compare"
    assert _files(tmp_path / "compact") == want
    if fmt == "jsonl":  # arrays, not the row's repr as a string
        assert any(b'[1, 0.0, 1.0, 5.5]' in data for data in want.values())


def test_the_sqlite_sink_stores_compact_rows_as_tuple_rows(tmp_path):
    tables = {}
    for rows in ("tuple", "compact"):
        db = tmp_path / f"{rows}.db"
        _run_to("sqlite", rows, db, table="w", mode="append",
                columns=["k", "window_start", "window_end", "v"])
        with sqlite3.connect(db) as conn:
            tables[rows] = conn.execute("SELECT * FROM w ORDER BY rowid").fetchall()
    assert tables["tuple"], "the job must store rows to compare"
    assert tables["compact"] == tables["tuple"]


def test_compact_rows_pickle_to_equal_window_results():
    rows = _collect("compact")[0]
    back = pickle.loads(pickle.dumps(rows))
    assert back == rows
    assert all(type(r) is WindowResult for r in back)


def test_compact_rows_on_the_processes_runner():
    want = _collect("tuple")
    got = _collect("compact", runner="processes", workers=2, parallelism=2)
    # two partitions: a batch's rows in another order
    assert {b: sorted(rows, key=repr) for b, rows in got[1].items()} == {
        b: sorted(rows, key=repr) for b, rows in want[1].items()}
    assert all(type(r) is WindowResult for rows in got[1].values() for r in rows)
    # foreach_batch's rows crossed a process: they arrive as the tuple they stand for
    assert sorted(got[0], key=repr) == sorted(want[0], key=repr)
    assert all(type(r) is WindowResult for r in got[0])


def _yaml_job(window: dict[str, Any], sink: str, **top: Any) -> Any:
    batches = [[{"ts": t, "k": k, "v": v} for t, k, v in batch] for batch in BATCHES]
    doc = {"name": "yaml-compact", "source": {"type": "queue", "config": {"batches": batches}},
           "transform": [{"with_event_time": {"field": "ts", "max_delay": "1s"}},
                         {"tumbling_window": window}],
           "store": [{"sink": "memory", "config": {"name": sink}}], **top}
    return job_from_mapping(yaml.safe_load(yaml.safe_dump(doc)))


def test_yaml_jobs_say_rows_compact_and_a_bad_value_is_named():
    got = {}
    for rows in ("tuple", "compact"):
        sink = f"compact-yaml-{next(_names)}"
        _yaml_job({"size": "1s", "key": "k", "value": "v", "rows": rows}, sink
                  ).build(clock="manual").run(batches=len(BATCHES))
        got[rows] = MemorySink.batches(sink)
        MemorySink.clear(sink)
    assert any(got["tuple"].values())
    assert got["compact"] == got["tuple"]
    with pytest.raises(ConfigError, match="rows"):
        _yaml_job({"size": "1s", "rows": "fast"}, "never").build(clock="manual")


def _reject_int_keys(r: Any) -> Any:
    if isinstance(r[0], int):
        raise ValueError("int key")
    return r


def test_dead_letters_of_compact_rows_are_stored_as_tuple_rows(tmp_path):
    stored = {}
    for rows in ("tuple", "compact"):
        dead = tmp_path / rows
        ctx = StreamingContext(1.0, clock="manual", dead_letter=("files", {"path": str(dead)}))
        _windows(ctx, rows).map(_reject_int_keys, on_error="dead_letter").foreach_batch(
            lambda _, records: None)
        ctx.run(batches=len(BATCHES))
        stored[rows] = [line for _, data in sorted(_files(dead).items())
                        for line in data.decode().splitlines() if line]
    assert any('"record": [1, 0.0, 1.0, 5.5]' in line for line in stored["tuple"])
    assert stored["compact"] == stored["tuple"]


def test_to_arrow_of_compact_rows_equals_that_of_tuple_rows():
    tables = {}
    for rows in ("tuple", "compact"):
        ctx = StreamingContext(1.0, clock="manual")
        got: list[Any] = []
        events = ctx.queue_stream([[(0.5, 1, 2.0), (0.7, 2, 3.5)], [(3.0, 1, 1.0)], []])
        (events.with_event_time(time=0, max_delay="1s")
               .tumbling_window("1s", key=1, value=2, rows=rows)
               .foreach_batch(lambda _, records, got=got: got.append(records.to_arrow())))
        ctx.run(batches=3)
        tables[rows] = [t.to_pylist() for t in got]
    assert any(tables["tuple"])
    assert tables["compact"] == tables["tuple"]
