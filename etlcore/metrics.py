"""Per-batch metrics: what a live display, a dashboard or a test reads."""

from __future__ import annotations

import contextlib
import contextvars
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from typing import Any

from etlcore.encoding import safe_repr
from etlcore.letters import Letters

_counts: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "etlcore_connector_counts", default=None)


def count(name: str, n: int = 1) -> None:
    """Count a connector event (a retry, an outage, a refused write) in this batch's metrics.

    Call it from a reader, writer or committer while the engine runs it: the
    count travels back with the task (from any runner) and shows in
    ``BatchMetrics.counts``. Outside a batch it does nothing.
    """
    counts = _counts.get()
    if counts is not None:
        counts[name] = counts.get(name, 0) + n


@contextlib.contextmanager
def counting(into: dict[str, int]) -> Iterator[dict[str, int]]:
    """Collect :func:`count` calls made in this context (the engine wraps tasks and commits)."""
    token = _counts.set(into)
    try:
        yield into
    finally:
        _counts.reset(token)


@dataclass
class BatchMetrics:
    """Counts and timings of one committed batch (Spark's BatchInfo)."""

    job: str
    batch_id: int
    batch_time: float
    records_in: int
    input_rate: float  # records/s over the batch interval
    processing_s: float  # time from batch start to commit
    scheduling_delay_s: float  # how late the batch started after its scheduled time
    dead_letters: int = 0
    late_records: int = 0
    records_out: dict[str, int] = field(default_factory=dict)
    state_size: int = 0
    max_records_per_partition: int | None = None  # the rate controller's bound for this batch
    replay: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # connector events: retries, outages
    # detail for a batch page (the web UI) and labelled metrics (Prometheus)
    sources: dict[str, int] = field(default_factory=dict)  # source -> records read
    records_by_operator: dict[str, int] = field(default_factory=dict)  # node key -> records out
    sink_write_s: dict[str, float] = field(default_factory=dict)  # sink -> writers' seconds
    sink_commit_s: dict[str, float] = field(default_factory=dict)  # sink -> commit seconds
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)  # reason -> letters
    dead_letter_samples: list[dict[str, Any]] = field(default_factory=list)  # first few, as text
    plan: dict[str, dict[str, list[Any]]] = field(default_factory=dict)  # source -> [start, end)
    source_lag: dict[str, int] = field(default_factory=dict)  # source -> records not yet planned

    @property
    def total_delay_s(self) -> float:
        return self.scheduling_delay_s + self.processing_s

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_delay_s"] = self.total_delay_s
        return out


SAMPLE_LETTERS = 5
SAMPLE_CHARS = 300
_REASON = attrgetter("reason")


def _shown(record: Any) -> str:
    """A record as text for the UI: its repr, or a placeholder when that fails (deep nesting)."""
    try:
        return repr(record)
    except Exception:  # noqa: BLE001 - RecursionError or a broken __repr__
        return safe_repr(record)


def letter_summary(letters: list[Any]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Dead letters per reason, and the first few as text (records can be anything)."""
    if isinstance(letters, Letters):  # counted without unpacking what workers packed
        reasons, head = letters.reasons(), letters.head(SAMPLE_LETTERS)
    else:
        reasons = dict(Counter(map(_REASON, letters)))  # counted in C: a batch may hold thousands
        head = letters[:SAMPLE_LETTERS]
    samples = []
    for d in head:
        record = d.record if isinstance(d.record, str) else _shown(d.record)
        sample = {"reason": d.reason, "stage": d.stage, "record": record[:SAMPLE_CHARS]}
        if d.origin is not None:
            sample["origin"] = d.origin
        samples.append(sample)
    return reasons, samples


class JobMetrics:
    """Running totals for a job plus the most recent batches."""

    def __init__(self, keep: int = 1000):
        self.batches: deque[BatchMetrics] = deque(maxlen=keep)
        self.total_records_in = 0
        self.total_dead_letters = 0
        self.total_late_records = 0
        self.total_batches = 0

    def record(self, m: BatchMetrics) -> None:
        self.batches.append(m)
        self.total_batches += 1
        self.total_records_in += m.records_in
        self.total_dead_letters += m.dead_letters
        self.total_late_records += m.late_records

    @property
    def last(self) -> BatchMetrics | None:
        return self.batches[-1] if self.batches else None

    def summary(self) -> dict[str, Any]:
        return {
            "batches": self.total_batches,
            "records_in": self.total_records_in,
            "dead_letters": self.total_dead_letters,
            "late_records": self.total_late_records,
        }
