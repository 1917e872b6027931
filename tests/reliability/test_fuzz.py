"""Fuzz: random bytes, JSON and CSV through the directory and socket sources into files and SQLite.

Whatever arrives, the job must not stop, and every record read must be
accounted for, per sink: stored, or a dead letter (of the source or of that
sink). Both sinks' output, and the dead letters on disk, must stay strict
JSON / valid UTF-8. ``ETLCORE_FUZZ_EXAMPLES=500`` runs more examples than the default.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etlcore import StreamingContext

from .conftest import drop

EXAMPLES = int(os.environ.get("ETLCORE_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 40,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_EOL = re.compile(rb"\r\n|\r|\n")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} in output that must be strict JSON")


def strict_json(line: bytes) -> Any:
    return json.loads(line.decode("utf-8"), parse_constant=_no_constant)


def with_sinks(ctx: StreamingContext, stream: Any, root: Path) -> None:
    stream.sink("files", path=str(root / "files"))
    stream.sink("sqlite", path=str(root / "out.db"), table="t", mode="append", columns=["v"])


def check_accounting(ctx: StreamingContext, root: Path, source: str) -> int:
    """records in = stored + dead letters, for each sink; every output line strict JSON."""
    records_in = sum(m.records_in for m in ctx.metrics.batches)
    stages = [d["stage"] for d in ctx.dead_letters]
    refused = stages.count(source)
    assert set(stages) <= {source, "sink 'files'", "sink 'sqlite'"}, set(stages)

    lines = [line for p in sorted((root / "files").glob("batch-*/part-*"))
             for line in p.read_bytes().split(b"\n")[:-1]]
    for line in lines:
        strict_json(line)
    assert len(lines) + refused + stages.count("sink 'files'") == records_in

    with sqlite3.connect(root / "out.db") as conn:
        exists = conn.execute("SELECT count(*) FROM sqlite_master WHERE name='t'").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM t").fetchone()[0] if exists else 0
    assert rows + refused + stages.count("sink 'sqlite'") == records_in

    letters = [line for p in sorted((root / "ckpt" / "dead-letter").glob("*.jsonl"))
               for line in p.read_bytes().split(b"\n")[:-1]]
    assert len(letters) == len(stages)
    for line in letters:
        letter = strict_json(line)
        assert letter["reason"] and letter["stage"]
        if letter["stage"] == source:
            assert letter["origin"]
    return records_in


def run_directory(files: list[bytes], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, data in enumerate(files):
            drop(root / "in", f"{i:03d}.{fmt}", data, mtime=1000 + i)
        ctx = StreamingContext(1.0, root / "ckpt", clock="manual", name="fuzz")
        stream = ctx.source("directory", path=str(root / "in"), format=fmt)
        with_sinks(ctx, stream, root)
        ctx.run(until_idle=True)  # must not raise
        records_in = check_accounting(ctx, root, "directory-1")
        if fmt == "text":  # each line is one record, good or not
            expected = 0
            for data in files:
                pieces = _EOL.split(data)
                expected += len(pieces) - (1 if pieces[-1] == b"" else 0)
            assert records_in == expected


# -- strategies ----------------------------------------------------------------------------

_odd_text = st.sampled_from(["\ud800", "x\udfff", "\u2028", "\x00", "é", "😀", "\r", '"'])
_wide = st.integers(min_value=2**63, max_value=2**200) | st.integers(max_value=-(2**63) - 1)
_scalars = (st.none() | st.booleans() | st.integers() | _wide | st.floats()
            | st.text(max_size=20) | _odd_text)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8) | _odd_text, inner, max_size=4),
    max_leaves=12)


def _json_line(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN tokens and \ud800 escapes


_json_lines = st.one_of(
    _json_values.map(_json_line),
    _json_values.map(lambda v: _json_line({"v": v})),  # reaches the SQLite column
    st.binary(max_size=40),  # garbage
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),  # deep
    st.just(b'{"v": NaN}'),
    st.just(b'"\\ud800"'),
)
_csv_fields = st.text(alphabet=st.sampled_from('ab,"\n\r \xe9'), max_size=8)
_csv_lines = st.one_of(
    st.lists(_csv_fields, min_size=1, max_size=4).map(
        lambda fs: ",".join(f if i % 2 else f'"{f}"' for i, f in enumerate(fs)).encode()),
    st.binary(max_size=30),
    st.just(b"v," + b"x" * 140_000),
)


def _file(lines: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.lists(lines, max_size=12).map(lambda ls: b"".join(x + b"\n" for x in ls))


@FUZZ
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_random_bytes_as_text(files):
    run_directory(files, "text")


@FUZZ
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=3))
def test_random_bytes_as_json_and_csv(files):
    run_directory(files, "json")
    run_directory(files, "csv")


@FUZZ
@given(st.lists(_file(_json_lines), min_size=1, max_size=3))
def test_random_json(files):
    run_directory(files, "json")


@FUZZ
@given(st.lists(_file(_csv_lines).map(lambda data: b"v,w\n" + data), min_size=1, max_size=3))
def test_random_csv(files):
    run_directory(files, "csv")


@settings(max_examples=max(EXAMPLES // 2, 1), deadline=None, derandomize=EXAMPLES <= 40,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=120).map(lambda b: b.replace(b"\n", b"")), min_size=1,
                max_size=15))
def test_random_bytes_over_the_socket(lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ctx = StreamingContext(1.0, root / "ckpt", clock="manual", name="fuzz-socket")
        stream = ctx.source("socket", port=0, mode="listen", ack=True, max_line_bytes=64)
        with_sinks(ctx, stream, root)
        ctx.open()
        port = ctx._graph.sources[0].source.port
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"".join(line + b"\n" for line in lines))
            acks = conn.makefile("rb")
            while (reply := acks.readline()) != f"ACK {len(lines)}\n".encode():
                assert reply.startswith(b"ACK "), reply
        ctx.run(until_idle=True)
        assert check_accounting(ctx, root, "socket-1") == len(lines)
