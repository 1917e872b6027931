"""Pathway in static mode: ``table_from_pandas`` in, ``table_to_pandas`` out (one run each).

W1 and W3 come in through ``pw.io.plaintext.read`` of the workload's line file
(static mode), inside the timed run.

Windows use Pathway's temporal API (``windowby`` with ``tumbling`` and
``session``) on float epoch seconds.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.data import FLUSH_KEY, SESSION_GAP_S, LineFile
from benchmarks.engines.base import Engine
from benchmarks.reference import w2_row, w3_row, w4_row


def _project(line: str) -> tuple[int, str, float] | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    amount = rec.get("amount")
    if type(amount) in (int, float) and amount >= 0:
        return (rec["id"], rec["user"], float(amount))
    return None


class Pathway(Engine):
    name = "pathway"
    note = "static mode (W1/W3 io.plaintext.read, else debug.table_from_pandas; table_to_pandas)"

    def setup(self) -> None:
        import pathway as pw

        self.pw = pw

    def version(self) -> str:
        return self.pw.__version__

    def prepare(self, workload: str, data: Any) -> Any:
        import pandas as pd

        if isinstance(data, LineFile):
            return data
        if workload == "W2":
            return pd.DataFrame(data, columns=["ts", "key", "value"])
        return pd.DataFrame(data, columns=["ts", "user"])

    def run(self, workload: str, df: Any) -> Any:
        from pathway.internals.parse_graph import G

        G.clear()
        if isinstance(df, LineFile):
            table = self.pw.io.plaintext.read(df.path, mode="static").select(
                line=self.pw.this.data)
        else:
            table = self.pw.debug.table_from_pandas(df)
        return self.pw.debug.table_to_pandas(getattr(self, f"query_{workload}")(table))

    def query_W1(self, t: Any) -> Any:
        pw = self.pw
        words = t.select(word=pw.apply_with_type(str.split, list[str], pw.this.line)).flatten(
            pw.this.word)
        return words.groupby(pw.this.word).reduce(pw.this.word, n=pw.reducers.count())

    def rows_W1(self, df: Any) -> Any:
        return [(w, int(n)) for w, n in zip(df["word"], df["n"], strict=True)]

    def query_W2(self, t: Any) -> Any:
        pw = self.pw
        return t.windowby(t.ts, window=pw.temporal.tumbling(duration=1.0), instance=t.key).reduce(
            key=pw.this._pw_instance, start=pw.this._pw_window_start,
            total=pw.reducers.sum(pw.this.value))

    def rows_W2(self, df: Any) -> Any:
        return [w2_row(k, s, v) for k, s, v in zip(df["key"], df["start"], df["total"], strict=True)
                if k != FLUSH_KEY]

    def query_W3(self, t: Any) -> Any:
        pw = self.pw
        parsed = (t.select(p=pw.apply_with_type(_project, tuple[int, str, float] | None,
                                                pw.this.line))
                  .filter(pw.this.p.is_not_none()))
        rows = parsed.select(rid=pw.unwrap(pw.this.p)[0], user=pw.unwrap(pw.this.p)[1],
                             amount=pw.unwrap(pw.this.p)[2])
        return rows.reduce(n=pw.reducers.count(), sum_id=pw.reducers.sum(pw.this.rid),
                           sum_amount=pw.reducers.sum(pw.this.amount),
                           sum_len=pw.reducers.sum(pw.apply_with_type(len, int, pw.this.user)))

    def rows_W3(self, df: Any) -> Any:
        r = df.iloc[0]
        return [w3_row(r["n"], r["sum_id"], r["sum_amount"], r["sum_len"])]

    def query_W4(self, t: Any) -> Any:
        pw = self.pw
        return t.windowby(t.ts, window=pw.temporal.session(max_gap=SESSION_GAP_S),
                          instance=t.user).reduce(
            user=pw.this._pw_instance, start=pw.reducers.min(pw.this.ts),
            last=pw.reducers.max(pw.this.ts), n=pw.reducers.count())

    def rows_W4(self, df: Any) -> Any:
        return [w4_row(u, s, n, last - s)
                for u, s, last, n in zip(df["user"], df["start"], df["last"], df["n"], strict=True)
                if u != FLUSH_KEY]


ENGINE = Pathway
