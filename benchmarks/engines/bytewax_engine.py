"""Bytewax: a dataflow per run, executed by ``run_main`` (one worker).

Input is, for W1/W3, ``FileSource`` over the workload's line file (read inside the
timed run), else ``TestingSource`` over the in-memory records, ``BATCH_SIZE`` per
batch; windows use ``EventClock`` (float epoch seconds -> UTC datetime) with a
1 s wait and a fixed ``now_getter`` (replayed history: the watermark follows
event time only), so a window closes once event time passes it; all close at EOF.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from operator import add
from typing import Any

from benchmarks.data import FLUSH_KEY, MAX_DELAY_S, SESSION_GAP_S, LineFile
from benchmarks.engines.base import CountingSink, Engine
from benchmarks.reference import w2_row, w4_row

BATCH_SIZE = 50_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _event_time(record: tuple[Any, ...]) -> datetime:
    return datetime.fromtimestamp(record[0], tz=timezone.utc)


def _project(line: str) -> tuple[int, str, float] | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    amount = rec.get("amount")
    if type(amount) in (int, float) and amount >= 0:
        return (rec["id"], rec["user"], amount)
    return None


def _session_fold(acc: list[Any] | None, event: tuple[float, int]) -> list[Any]:
    ts = event[0]
    if acc is None:
        return [ts, ts, 1]
    return [min(acc[0], ts), max(acc[1], ts), acc[2] + 1]


def _session_merge(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
    if a is None or b is None:
        return a or b
    return [min(a[0], b[0]), max(a[1], b[1]), a[2] + b[2]]


class Bytewax(Engine):
    name = "bytewax"
    note = f"run_main (1 worker), batches of {BATCH_SIZE}: W1/W3 FileSource, else TestingSource"

    def setup(self) -> None:
        import bytewax
        import bytewax.operators as op
        import bytewax.operators.windowing as win
        from bytewax.dataflow import Dataflow
        from bytewax.outputs import DynamicSink, StatelessSinkPartition
        from bytewax.testing import TestingSink, TestingSource, run_main

        self.bytewax, self.op, self.win, self.Dataflow = bytewax, op, win, Dataflow
        self.TestingSink, self.TestingSource, self.run_main = TestingSink, TestingSource, run_main

        class _Part(StatelessSinkPartition):
            def __init__(self, totals: CountingSink):
                self.totals = totals

            def write_batch(self, items: list[Any]) -> None:
                self.totals.add_all(items)

        class CountSink(DynamicSink):
            def __init__(self, totals: CountingSink):
                self.totals = totals

            def build(self, step_id: str, worker_index: int, worker_count: int) -> _Part:
                return _Part(self.totals)

        self.CountSink = CountSink

    def version(self) -> str:
        from importlib.metadata import version

        return version("bytewax")

    def _flow(self, records: Any) -> tuple[Any, Any]:
        flow = self.Dataflow("bench")
        if isinstance(records, LineFile):
            from bytewax.connectors.files import FileSource

            return flow, self.op.input("in", flow, FileSource(records.path, BATCH_SIZE))
        return flow, self.op.input("in", flow, self.TestingSource(records, BATCH_SIZE))

    def _clock(self) -> Any:
        # a fixed "now": replaying history, the watermark follows event time only
        return self.win.EventClock(_event_time, wait_for_system_duration=timedelta(seconds=MAX_DELAY_S),
                                   now_getter=lambda: EPOCH)

    def run_W1(self, lines: LineFile) -> list[Any]:
        op, out = self.op, []
        flow, inp = self._flow(lines)
        words = op.flat_map("split", inp, str.split)
        op.output("out", op.count_final("count", words, lambda w: w), self.TestingSink(out))
        self.run_main(flow)
        return out

    def run_W2(self, records: list[Any]) -> list[Any]:
        op, win, out = self.op, self.win, []
        flow, inp = self._flow(records)
        keyed = op.key_on("key", inp, lambda r: str(r[1]))
        clock = self._clock()
        windower = win.TumblingWindower(length=timedelta(seconds=1), align_to=EPOCH)
        sums = win.fold_window("sum", keyed, clock, windower, float,
                               lambda acc, r: acc + r[2], add)
        op.output("out", sums.down, self.TestingSink(out))
        self.run_main(flow)
        return out

    def rows_W2(self, out: list[Any]) -> Any:
        # TumblingWindower aligned to the epoch: window id = start second
        return [w2_row(k, wid, v) for k, (wid, v) in out if int(k) != FLUSH_KEY]

    def run_W3(self, lines: LineFile) -> CountingSink:
        op = self.op
        totals = CountingSink()
        flow, inp = self._flow(lines)
        op.output("out", op.filter_map("parse", inp, _project), self.CountSink(totals))
        self.run_main(flow)
        return totals

    def rows_W3(self, totals: CountingSink) -> Any:
        return [totals.row()]

    def run_W4(self, events: list[Any]) -> list[Any]:
        op, win, out = self.op, self.win, []
        flow, inp = self._flow(events)
        keyed = op.key_on("user", inp, lambda e: str(e[1]))
        clock = self._clock()
        windower = win.SessionWindower(gap=timedelta(seconds=SESSION_GAP_S))
        sessions = win.fold_window("sessions", keyed, clock, windower, lambda: None,
                                   _session_fold, _session_merge)
        op.output("out", sessions.down, self.TestingSink(out))
        self.run_main(flow)
        return out

    def rows_W4(self, out: list[Any]) -> Any:
        return [w4_row(int(k), s[0], s[2], s[1] - s[0]) for k, (_, s) in out
                if int(k) != FLUSH_KEY]


ENGINE = Bytewax
