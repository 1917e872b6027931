"""Polars on the same data in columnar form (a batch query over all records).

W1 and W3 are read from the workload's line file inside the timed run
(``read_csv`` of one column: no separator or quote character occurs in a line).
"""

from __future__ import annotations

from typing import Any

from benchmarks.data import FLUSH_KEY, SESSION_GAP_S, LineFile
from benchmarks.engines.base import Engine
from benchmarks.reference import w2_row, w3_row, w4_row


def read_lines(path: str) -> Any:
    """A line file as a one-column (``line``) DataFrame: each line one value, as it stands."""
    import polars as pl

    return pl.read_csv(path, has_header=False, new_columns=["line"], separator="\x1f",
                       quote_char=None, schema={"line": pl.String})


def frame(workload: str, data: list[Any]) -> Any:
    """W2's or W4's records as a Polars DataFrame (shared with the DuckDB engine)."""
    import polars as pl

    if workload == "W2":
        return pl.DataFrame(data, schema={"ts": pl.Float64, "key": pl.Int64, "value": pl.Float64},
                            orient="row")
    return pl.DataFrame(data, schema={"ts": pl.Float64, "user": pl.Int64}, orient="row")


class Polars(Engine):
    name = "polars"
    note = "eager DataFrame queries over the whole input"

    def setup(self) -> None:
        import polars

        self.pl = polars

    def version(self) -> str:
        return self.pl.__version__

    def prepare(self, workload: str, data: Any) -> Any:
        return data if isinstance(data, LineFile) else frame(workload, data)

    def run_W1(self, feed: LineFile) -> Any:
        pl = self.pl
        return (read_lines(feed.path).select(word=pl.col("line").str.split(" ")).explode("word")
                .group_by("word").len())

    def rows_W1(self, out: Any) -> Any:
        return out.iter_rows()

    def run_W2(self, df: Any) -> Any:
        pl = self.pl
        return (df.group_by("key", window=pl.col("ts").floor().cast(pl.Int64))
                .agg(pl.col("value").sum()))

    def rows_W2(self, out: Any) -> Any:
        return [w2_row(k, w, v) for k, w, v in out.iter_rows() if k != FLUSH_KEY]

    def run_W3(self, feed: LineFile) -> Any:
        pl = self.pl
        line = pl.col("line").str
        projected = (read_lines(feed.path).select(id=line.json_path_match("$.id").cast(pl.Int64, strict=False),
                               user=line.json_path_match("$.user"),
                               amount=line.json_path_match("$.amount")
                               .cast(pl.Float64, strict=False))
                     .filter(pl.col("amount") >= 0))
        return projected.select(pl.len(), pl.col("id").sum(), pl.col("amount").sum(),
                                pl.col("user").str.len_chars().sum())

    def rows_W3(self, out: Any) -> Any:
        return [w3_row(*out.row(0))]

    def run_W4(self, df: Any) -> Any:
        pl = self.pl
        gap = SESSION_GAP_S
        return (df.sort("user", "ts")
                .with_columns(session=(pl.col("ts").diff().fill_null(0) > gap)
                              .cum_sum().over("user"))
                .group_by("user", "session")
                .agg(start=pl.col("ts").min(), clicks=pl.len(),
                     duration=pl.col("ts").max() - pl.col("ts").min()))

    def rows_W4(self, out: Any) -> Any:
        return [w4_row(u, start, n, d) for u, _, start, n, d in out.iter_rows() if u != FLUSH_KEY]


ENGINE = Polars
