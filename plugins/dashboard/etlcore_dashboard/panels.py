"""What a panel keeps of a batch (on workers) and what it shows (on the driver).

A worker reduces its partition to a small commit message (:meth:`PanelSpec.reduce`):
a partial aggregate for ``line`` and ``number``, one per key for ``bar``, the
last rows as text for ``table``. The driver folds a batch's messages
(:meth:`PanelState.commit`) into state **keyed by batch time**, so a replayed
or twice-committed batch replaces its own point instead of adding one: that
is what an idempotent commit means for a dashboard. No web imports here:
workers unpickle this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.sink import WriteResult
from etlcore_dashboard.config import DashboardSinkConfig

CELL_CHARS = 500  # longer values are cut: a table cell is a glance, not a dump
TABLE_COLUMNS = 20  # columns found in the rows when none are configured

# a partial aggregate: (records, sum, min, max, last); None where there was no number
Partial = tuple[int, float, float | None, float | None, float | None]
EMPTY: Partial = (0, 0.0, None, None, None)


class Missing(Exception):  # noqa: N818 - a lookup outcome, like KeyError
    """A record lacks the configured field."""


def get_field(record: Any, name: str | int | None) -> Any:
    """``record[name]`` for mappings and sequences, ``record.name`` otherwise; the record for None."""
    if name is None:
        return record
    try:
        if isinstance(name, int):
            if isinstance(record, (str, bytes)) or not hasattr(record, "__getitem__"):
                raise Missing(f"record is not a tuple (no index {name})")
            return record[name]
        if isinstance(record, dict):
            return record[name]
        return getattr(record, name)
    except (KeyError, IndexError, AttributeError, TypeError):
        raise Missing(f"record has no field {name!r}") from None


def as_number(value: Any) -> float:
    """A finite float from an int or float (bools and text are refused: no silent casts)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def cell(value: Any) -> str:
    """A value as the text the page shows (never markup: the page sets it as text)."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (bool, int)):
        text = str(value)
    elif isinstance(value, float):  # counts summed as floats read as counts again
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".6g")
    else:
        text = repr(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def fold(a: Partial, b: Partial) -> Partial:
    """Two partial aggregates as one (``b`` comes later: its ``last`` wins)."""
    lo = b[2] if a[2] is None else a[2] if b[2] is None else min(a[2], b[2])
    hi = b[3] if a[3] is None else a[3] if b[3] is None else max(a[3], b[3])
    return a[0] + b[0], a[1] + b[1], lo, hi, b[4] if b[0] else a[4]


def partial(number: float | None) -> Partial:
    """The partial aggregate of one record (None: a record counted without a number)."""
    if number is None:
        return 1, 0.0, None, None, None
    return 1, number, number, number, number


def finish(p: Partial, agg: str) -> float | None:
    """The panel's number from a partial aggregate; None when there is nothing to show."""
    n, total, lo, hi, last = p
    if agg == "count":
        return float(n)
    if n == 0:
        return None
    value = total if agg == "sum" else {"mean": total / n, "min": lo, "max": hi, "last": last}[agg]
    return value if value is not None and math.isfinite(value) else None  # a sum past 1e308


def iso(batch_time: float) -> str:
    """A batch time as the page's time axis wants it (UTC, ISO 8601, milliseconds)."""
    moment = datetime.fromtimestamp(batch_time, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


@dataclass(frozen=True)
class PanelSpec:
    """The picklable part of a panel's config: what workers need to reduce a partition."""

    kind: str
    value: str | int | None = None
    agg: str = "sum"
    key: str | int | None = None
    columns: tuple[str, ...] | None = None
    rows: int = 20

    @classmethod
    def of(cls, config: DashboardSinkConfig) -> PanelSpec:
        columns = tuple(config.columns) if config.columns is not None else None
        return cls(config.panel, config.value, config.agg, config.key, columns, config.rows)

    def number(self, record: Any) -> float | None:
        """The record's number (None when only counting); raises Missing or ValueError."""
        if self.agg == "count":
            return None
        return as_number(get_field(record, self.value))

    def row(self, record: Any) -> dict[str, str]:
        """The record as a table row: column -> text."""
        if self.columns is not None:
            out = {}
            for name in self.columns:
                try:
                    out[name] = cell(get_field(record, name))
                except Missing:
                    out[name] = ""
            return out
        if isinstance(record, dict):
            return {str(k): cell(v) for k, v in record.items()}
        if isinstance(record, (tuple, list)):
            return {str(i): cell(v) for i, v in enumerate(record)}
        return {"value": cell(record)}

    def reduce(self, records: list[Any]) -> Any:
        """One partition's commit message; records without the number are rejected."""
        rejected: list[tuple[Any, str]] = []
        message: Any
        if self.kind == "table":
            return len(records), [self.row(r) for r in records[-self.rows:]]
        if self.kind == "bar":
            per_key: dict[str, Partial] = {}
            for record in records:
                try:
                    name = cell(get_field(record, self.key))
                    p = partial(self.number(record))
                except (Missing, ValueError) as err:
                    rejected.append((record, f"dashboard bar: {err}"))
                    continue
                per_key[name] = fold(per_key.get(name, EMPTY), p)
            message = per_key
        else:
            total = EMPTY
            for record in records:
                try:
                    total = fold(total, partial(self.number(record)))
                except (Missing, ValueError) as err:
                    rejected.append((record, f"dashboard {self.kind}: {err}"))
            message = total
        return WriteResult(message, rejected) if rejected else message


@dataclass
class PanelState:
    """What one panel shows, keyed by batch time (a replay replaces, never adds).

    ``line`` keeps the latest ``points`` batches; ``bar``, ``number`` and
    ``table`` show the newest batch (a table its latest ``rows`` rows over
    batches). A batch without records changes nothing (no zero point for an
    idle batch, the last bars stay up between a window's slides).
    """

    spec: PanelSpec
    title: str
    top: int = 10
    points: int = 300
    series: dict[float, float] = field(default_factory=dict)  # line: batch time -> value
    latest: tuple[float, Any] | None = None  # bar, number: (batch time, what is shown)
    tables: dict[float, list[dict[str, str]]] = field(default_factory=dict)  # table: rows
    batches: int = 0  # commits folded in (a replayed commit counts again)

    def commit(self, batch: BatchInfo, messages: list[Any]) -> bool:
        """Fold a batch in; False when it changed nothing."""
        parts = [m for m in messages if m is not None]
        if not any(part[0] if isinstance(part, tuple) else part for part in parts):
            return False  # no records (a table's and a total's message start with the count)
        t = batch.batch_time
        kind = self.spec.kind
        if kind == "table":
            self.tables[t] = [row for _, part_rows in parts for row in part_rows][-self.spec.rows:]
            self._trim_table()
        elif kind == "bar":
            per_key: dict[str, Partial] = {}
            for part in parts:
                for name, p in part.items():
                    per_key[name] = fold(per_key.get(name, EMPTY), tuple(p))  # type: ignore[arg-type]
            shown = [(name, finish(p, self.spec.agg)) for name, p in per_key.items()]
            bars = sorted(((n, v) for n, v in shown if v is not None), key=lambda b: (-b[1], b[0]))
            if not self._newest(t):
                return False
            self.latest = (t, [list(b) for b in bars[: self.top]])
        else:
            total = EMPTY
            for part in parts:
                total = fold(total, tuple(part))  # type: ignore[arg-type]
            value = finish(total, self.spec.agg)
            if value is None:
                return False
            if kind == "line":
                self.series[t] = value
                for old in sorted(self.series)[: max(0, len(self.series) - self.points)]:
                    del self.series[old]
            elif not self._newest(t):
                return False
            else:
                self.latest = (t, value)
        self.batches += 1
        return True

    def _newest(self, t: float) -> bool:
        """Whether batch time ``t`` may replace what is shown (an older batch may not)."""
        return self.latest is None or t >= self.latest[0]

    def _trim_table(self) -> None:
        kept = 0
        for t in sorted(self.tables, reverse=True):
            if kept >= self.spec.rows:
                del self.tables[t]
            else:
                kept += len(self.tables[t])

    def rows(self) -> list[dict[str, str]]:
        """The table's rows, newest first (the last record of the newest batch), at most ``rows``."""
        out = [r for t in sorted(self.tables, reverse=True) for r in reversed(self.tables[t])]
        return out[: self.spec.rows]

    def columns(self) -> list[str]:
        if self.spec.columns is not None:
            return list(self.spec.columns)
        seen: dict[str, None] = {}
        for row in self.rows():
            for name in row:
                seen.setdefault(name, None)
        return list(seen)[:TABLE_COLUMNS]

    def view(self) -> dict[str, Any]:
        """What the page draws (plain JSON; every user value is text or a number)."""
        kind = self.spec.kind
        out: dict[str, Any] = {"kind": kind, "title": self.title, "batches": self.batches}
        if kind == "line":
            times = sorted(self.series)
            out.update(x=[iso(t) for t in times], y=[self.series[t] for t in times],
                       time=iso(times[-1]) if times else None)
        elif kind == "table":
            rows = self.rows()
            columns = self.columns()
            out.update(columns=columns, rows=[[r.get(c, "") for c in columns] for r in rows],
                       time=iso(max(self.tables)) if self.tables else None)
        elif kind == "bar":
            bars = self.latest[1] if self.latest else []
            out.update(keys=[b[0] for b in bars], values=[b[1] for b in bars],
                       time=iso(self.latest[0]) if self.latest else None)
        else:
            out.update(value=self.latest[1] if self.latest else None,
                       text=cell(self.latest[1]) if self.latest else "–",
                       time=iso(self.latest[0]) if self.latest else None)
        return out

    # -- saved with the checkpoint, so a restarted job's page shows its history -------------
    def dump(self) -> dict[str, Any]:
        return {"kind": self.spec.kind, "batches": self.batches,
                "series": [[t, v] for t, v in sorted(self.series.items())],
                "latest": list(self.latest) if self.latest is not None else None,
                "tables": [[t, rows] for t, rows in sorted(self.tables.items())]}

    def load(self, data: dict[str, Any]) -> None:
        """Restore a :meth:`dump` of the same panel kind (another kind is ignored)."""
        if not isinstance(data, dict) or data.get("kind") != self.spec.kind:
            return
        self.batches = int(data.get("batches", 0))
        self.series = {float(t): float(v) for t, v in data.get("series", [])}
        latest = data.get("latest")
        self.latest = (float(latest[0]), latest[1]) if latest else None
        self.tables = {float(t): rows for t, rows in data.get("tables", [])}
        if self.spec.kind == "line":
            for old in sorted(self.series)[: max(0, len(self.series) - self.points)]:
                del self.series[old]
