"""One bad record must not stop a job: it becomes a dead letter with a reason and an origin.

Each case here stopped a job for good before (and every restart failed the same
way); each now checks the job finishes, stores the good records, and says why
the bad one was refused.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink

from .conftest import drop


def directory_job(inbox: Path, ckpt: Path | None, sink: str, **config) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="poison")
    ctx.source("directory", path=str(inbox), **config).sink("memory", name=sink)
    return ctx


def letters(ctx: StreamingContext) -> list[tuple[str, str]]:
    return [(d["stage"], d["reason"]) for d in ctx.dead_letters]


@pytest.mark.parametrize(("fmt", "good", "expected"), [
    ("text", b"ok\n", ["ok", "after"]),
    ("json", b'{"ok": 1}\n', [{"ok": 1}, "after"]),
    ("csv", b"ok\n", [{"ok": "after"}]),
])
def test_invalid_utf8_is_a_dead_letter_and_restarts_go_on(tmp_path, sink_name, fmt, good,
                                                          expected):
    inbox, ckpt = tmp_path / "in", tmp_path / "ckpt"
    after = b'"after"\n' if fmt == "json" else b"after\n"
    drop(inbox, "a", good + b"caf\xe9 \xff\n" + after)
    ctx = directory_job(inbox, ckpt, sink_name, format=fmt)
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == expected
    [letter] = ctx.dead_letters
    assert letter["stage"] == "directory-1"
    assert letter["reason"] == "not valid utf-8 text: byte 0xe9 at column 4 does not decode"
    assert letter["record"] == "caf\\xe9 \\xff"
    assert letter["origin"] == f"{inbox / 'a'} line 2 (byte {len(good)}, manifest entry 0)"
    drop(inbox, "b", good + after)
    again = directory_job(inbox, ckpt, sink_name, format=fmt)  # a restart goes on too
    again.run(until_idle=True)
    assert again.dead_letters == []
    assert MemorySink.results(sink_name)[len(expected):] == expected


def test_deeply_nested_json_is_a_dead_letter(tmp_path, sink_name):
    inbox = tmp_path / "in"
    drop(inbox, "deep.json", b"[" * 100_000 + b"]" * 100_000 + b'\n{"ok": 1}\n')
    ctx = directory_job(inbox, None, sink_name, format="json")
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == [{"ok": 1}]
    assert letters(ctx) == [("directory-1", "invalid JSON: nested too deeply")]


def test_nan_and_infinity_in_json_input_are_dead_letters(tmp_path, sink_name):
    inbox = tmp_path / "in"
    drop(inbox, "n.json", b'{"v": NaN}\n{"v": -Infinity}\n{"v": 1.5}\n')
    ctx = directory_job(inbox, None, sink_name, format="json")
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == [{"v": 1.5}]
    assert [r for _, r in letters(ctx)] == [
        "invalid JSON: JSON is malformed: invalid character (byte 6), near '{\"v\": NaN}'",
        "invalid JSON: JSON is malformed: invalid character (byte 7), near "
        "'{\"v\": -Infinity'"]


def test_a_csv_field_over_the_limit_is_a_dead_letter(tmp_path, sink_name):
    inbox = tmp_path / "in"
    drop(inbox, "big.csv", b"k,v\na,1\nb," + b"x" * 200_000 + b"\nc,3\n")
    ctx = directory_job(inbox, None, sink_name, format="csv")
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == [{"k": "a", "v": "1"}, {"k": "c", "v": "3"}]
    [letter] = ctx.dead_letters
    assert letter["reason"] == "csv: field larger than field limit (131072)"
    assert letter["record"].endswith("... (200002 characters)")
    assert letter["origin"].endswith("line 3 (byte 8, manifest entry 0)")


def test_an_unclosed_csv_quote_does_not_swallow_the_next_record(tmp_path, sink_name):
    inbox = tmp_path / "in"
    drop(inbox, "q.csv", b'k,v\na,"open\nb,2\nc,"3"\n')
    ctx = directory_job(inbox, None, sink_name, format="csv")
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == [{"k": "b", "v": "2"}, {"k": "c", "v": "3"}]
    assert letters(ctx) == [("directory-1", "csv: a quote opened on this line is never closed")]
    assert ctx.dead_letters[0]["record"] == 'a,"open'


def test_a_csv_row_with_extra_fields_is_a_dead_letter(tmp_path, sink_name):
    inbox = tmp_path / "in"
    drop(inbox, "x.csv", b"k,v\na,1,extra\nb\n")
    ctx = directory_job(inbox, None, sink_name, format="csv")
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == [{"k": "b", "v": None}]
    assert letters(ctx) == [("directory-1", "csv: the row has 3 fields, the header 2")]


def test_a_wide_integer_is_refused_by_sqlite_before_any_sink_commits(tmp_path):
    """Before, SQLite raised OverflowError at commit, after the files sink had committed."""
    db, out = tmp_path / "out.db", tmp_path / "files"
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="wide")
    s = ctx.queue_stream([[{"k": "a", "n": 1}, {"k": "b", "n": 2**70}], [{"k": "c", "n": 3}]])
    s.sink("files", path=str(out))
    s.sink("sqlite", path=str(db), table="t", key=["k"])
    ctx.run(batches=2)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT k, n FROM t ORDER BY k").fetchall() == [("a", 1), ("c", 3)]
        assert conn.execute("SELECT batch_id FROM _etlcore_commits").fetchall() == [(1,)]
    files = sorted(p.parent.name for p in out.glob("*/_SUCCESS"))
    assert files == ["batch-000000000000", "batch-000000000001"]  # both sinks, both batches
    [letter] = ctx.dead_letters
    assert letter["stage"] == "sink 'sqlite'"
    assert letter["reason"] == ("column 'n': integer of 71 bits does not fit SQLite's 64-bit "
                                "INTEGER (oversize_int: dead_letter; 'text' stores it as text)")
    assert letter["origin"] == "sink partition 0"


def test_oversize_int_text_stores_it_as_text(tmp_path):
    db = tmp_path / "out.db"
    ctx = StreamingContext(1.0, clock="manual")
    ctx.queue_stream([[{"n": 2**70}]]).sink("sqlite", path=str(db), table="t", mode="append",
                                           oversize_int="text")
    ctx.run(batches=1)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT n FROM t").fetchall() == [(str(2**70),)]
    assert ctx.dead_letters == []


def read_parts(root: Path) -> list[str]:
    return [line for p in sorted(root.glob("batch-*/part-*")) for line in
            p.read_text(encoding="utf-8").splitlines()]


def test_a_lone_surrogate_is_refused_by_the_files_sink(tmp_path):
    out = tmp_path / "out"
    ctx = StreamingContext(1.0, clock="manual")
    ctx.queue_stream([["ok", "\ud800", {"t": "x\udfff"}]]).sink("files", path=str(out))
    ctx.run(batches=1)
    assert read_parts(out) == ['"ok"']
    assert [d["reason"] for d in ctx.dead_letters] == [
        "holds U+D800 (a lone surrogate), which has no UTF-8 form",
        "holds U+DFFF (a lone surrogate), which has no UTF-8 form"]


def test_a_files_dead_letter_sink_never_fails(tmp_path):
    """A record the dead-letter sink cannot encode is written as its repr, marked so."""
    dead = tmp_path / "dead"
    ctx = StreamingContext(1.0, clock="manual", dead_letter=("files", {"path": str(dead)}))

    def boom(r):
        raise ValueError(f"bad {r!r}")

    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    ctx.queue_stream([["\ud800", float("nan"), deep, "fine"]]).map(
        boom, on_error="dead_letter").sink("memory", name="unused")
    ctx.run(batches=1)
    rows = [json.loads(line) for line in read_parts(dead)]
    assert [r["record"] for r in rows] == ["'\\ud800'", "nan",
                                          "<list nested too deeply to show>", "fine"]
    assert [r.get("record_repr", False) for r in rows] == [True, True, True, False]
    assert rows[0]["reason"] == "ValueError: bad '\\ud800'"


def test_non_finite_policy_of_the_files_sink(tmp_path):
    records = [[{"v": float("nan")}, {"v": float("inf")}, {"v": 1.0}]]
    got = {}
    for policy in ("dead_letter", "null", "string"):
        out = tmp_path / policy
        ctx = StreamingContext(1.0, clock="manual")
        ctx.queue_stream(records).sink("files", path=str(out), non_finite=policy)
        ctx.run(batches=1)
        got[policy] = ([json.loads(x)["v"] for x in read_parts(out)],
                       [d["reason"] for d in ctx.dead_letters])
    reason = "NaN or Infinity has no JSON form (the sink's non_finite setting is dead_letter)"
    assert got == {"dead_letter": ([1.0], [reason, reason]),
                   "null": ([None, None, 1.0], []),
                   "string": (["NaN", "Infinity", 1.0], [])}


def test_casting_nan_or_infinity_to_float_is_a_dead_letter(sink_name):
    from etlcore.job import Job, cast

    job = Job("cast", source=("queue", {"batches": [[{"v": "nan"}, {"v": "inf"}, {"v": "2"}]]}),
              cleanse=[cast({"v": float})], store=[("memory", {"name": sink_name})])
    ctx = job.build(clock="manual")
    ctx.run(batches=1)
    assert MemorySink.results(sink_name) == [{"v": 2.0}]
    assert [d["reason"] for d in ctx.dead_letters] == [
        "field 'v': cannot cast 'nan' to float", "field 'v': cannot cast 'inf' to float"]


def test_socket_lines_that_are_not_utf8_are_dead_letters(tmp_path, sink_name):
    """Before, they were stored with U+FFFD in place of the bad bytes, as good records."""
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="sock")
    ctx.source("socket", port=0, mode="listen", ack=True, max_line_bytes=16).sink(
        "memory", name=sink_name)
    ctx.open()
    port = ctx._graph.sources[0].source.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"good\ncaf\xe9\n" + b"y" * 40 + b"\nlast\n")
        assert conn.makefile("rb").readline() == b"ACK 4\n"  # bad lines are logged and acked
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == ["good", "last"]
    bad, long = ctx.dead_letters
    assert bad["record"] == "caf\\xe9"
    assert bad["reason"] == "not valid utf-8 text: unexpected end of data at byte 3"
    assert bad["origin"].startswith("partition 0, offset 1 (from 127.0.0.1:")
    assert bad["origin"].endswith(", line 2 of the connection)")
    assert long["reason"] == ("line of 40 bytes (or more) is longer than max_line_bytes (16); "
                              "its first 1024 bytes are kept")
    assert long["record"] == "y" * 40
