"""The yardstick: hand-written Python loops doing each workload's work, no framework.

W1 and W3 read the workload's line file inside the timed run, as every engine does, a line at
a time as the loop goes (the cheapest way a Python loop reads a file: no list of every line).
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from benchmarks.data import FLUSH_KEY, SESSION_GAP_S, LineFile
from benchmarks.engines.base import CountingSink, Engine, w3_schema
from benchmarks.reference import w2_row, w4_row


class Plain(Engine):
    name = "plain-python"
    note = "one loop over all records, dicts for state (the 1.0 overhead yardstick)"
    loads: Any = staticmethod(json.loads)  # W3's parser: stdlib json here

    def version(self) -> str:
        return sys.version.split()[0]

    def run_W1(self, feed: LineFile) -> dict[str, int]:
        counts: dict[str, int] = {}
        get = counts.get
        with open(feed.path, encoding="utf-8", newline="\n") as lines:
            for line in lines:
                for word in line.split():
                    counts[word] = get(word, 0) + 1
        return counts

    def rows_W1(self, counts: dict[str, int]) -> Any:
        return counts.items()

    def run_W2(self, records: list[tuple[float, int, float]]) -> dict[tuple[int, int], float]:
        sums: dict[tuple[int, int], float] = {}
        get = sums.get
        floor = math.floor
        size = self.window_s
        for ts, key, value in records:
            k = (key, floor(ts / size) * size)
            sums[k] = get(k, 0.0) + value
        return sums

    def rows_W2(self, sums: dict[tuple[int, int], float]) -> Any:
        return [w2_row(k, w, v) for (k, w), v in sums.items() if k != FLUSH_KEY]

    def run_W3(self, feed: LineFile) -> CountingSink:
        sink = CountingSink()
        loads = self.loads
        out = []
        with open(feed.path, "rb") as lines:  # both parsers take bytes; the newline is whitespace
            for line in lines:
                try:
                    rec = loads(line)
                except ValueError:
                    continue
                amount = rec.get("amount")
                if type(amount) in (int, float) and amount >= 0:
                    out.append((rec["id"], rec["user"], amount))
        sink.add_all(out)
        return sink

    def rows_W3(self, sink: CountingSink) -> Any:
        return [sink.row()]

    def run_W4(self, events: list[tuple[float, int]]) -> list[tuple[int, float, int, float]]:
        gap = SESSION_GAP_S
        open_: dict[int, list[Any]] = {}  # user -> [start, last, clicks]
        done: list[tuple[int, float, int, float]] = []
        for ts, user in events:
            s = open_.get(user)
            if s is None:
                open_[user] = [ts, ts, 1]
            elif ts - s[1] > gap:
                done.append((user, s[0], s[2], s[1] - s[0]))
                open_[user] = [ts, ts, 1]
            else:
                if ts > s[1]:
                    s[1] = ts
                elif ts < s[0]:
                    s[0] = ts
                s[2] += 1
        done.extend((u, s[0], s[2], s[1] - s[0]) for u, s in open_.items())
        return done

    def rows_W4(self, sessions: list[tuple[int, float, int, float]]) -> Any:
        return [w4_row(*s) for s in sessions if s[0] != FLUSH_KEY]


class PlainMsgspec(Plain):
    """The same loop with etlcore's JSON library: msgspec, untyped, the dict checks in Python."""

    name = "plain-msgspec"
    note = "plain-python's loop with msgspec.json.decode in place of json.loads"

    def setup(self) -> None:
        import msgspec

        self.loads = msgspec.json.Decoder().decode


class PlainMsgspecTyped(Plain):
    """The loop with etlcore's very decoder: msgspec with W3's schema checks and projects."""

    name = "plain-msgspec-typed"
    note = "one loop; msgspec.json.Decoder(Struct of W3's schema) validates and projects"

    def setup(self) -> None:
        import msgspec

        self.decoder = msgspec.json.Decoder(msgspec.defstruct("W3", list(w3_schema().items())))
        self.errors = (msgspec.DecodeError, msgspec.ValidationError)

    def run_W3(self, feed: LineFile) -> CountingSink:
        sink = CountingSink()
        decode, errors = self.decoder.decode, self.errors
        out = []
        with open(feed.path, "rb") as lines:
            for line in lines:
                try:
                    rec = decode(line)
                except errors:
                    continue
                out.append((rec.id, rec.user, rec.amount))
        sink.add_all(out)
        return sink


#: ``BENCH_PLAIN`` (set by the engine registry) picks W3's JSON library.
ENGINE = {"": Plain, "msgspec": PlainMsgspec,
          "msgspec-typed": PlainMsgspecTyped}[os.environ.get("BENCH_PLAIN", "")]
