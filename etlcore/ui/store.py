"""The batches the page shows: a bounded, thread-safe list filled by a listener.

The batch thread only appends a finished :class:`BatchMetrics` (no copy, no
JSON); the server thread turns it into JSON when a browser asks, so a slow
page costs the job nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from etlcore.metrics import BatchMetrics

_SUMMARY = ("batch_id", "batch_time", "records_in", "input_rate", "processing_s",
            "scheduling_delay_s", "dead_letters", "late_records", "state_size", "replay")


def summary(m: BatchMetrics) -> dict[str, Any]:
    """The row of the batch table and the points of the charts."""
    out = {name: getattr(m, name) for name in _SUMMARY}
    out["total_delay_s"] = m.total_delay_s
    out["records_out"] = sum(m.records_out.values())
    out["source_lag"] = sum(m.source_lag.values()) if m.source_lag else None
    return out


def detail(m: BatchMetrics) -> dict[str, Any]:
    """Everything about one batch (its page)."""
    return m.to_dict()


class BatchStore:
    """Recent batches and totals of one job; ``store(metrics)`` is its listener."""

    def __init__(self, job: dict[str, Any], keep: int = 1000, live: bool = True):
        self.job = dict(job)
        self.live = live
        self.started = time.time()
        self._batches: deque[BatchMetrics] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.totals = {"batches": 0, "records_in": 0, "dead_letters": 0, "late_records": 0}

    def __call__(self, m: BatchMetrics) -> None:
        with self._lock:
            self._batches.append(m)
            t = self.totals
            t["batches"] += 1
            t["records_in"] += m.records_in
            t["dead_letters"] += m.dead_letters
            t["late_records"] += m.late_records

    def overview(self) -> dict[str, Any]:
        with self._lock:
            last = self._batches[-1] if self._batches else None
            totals = dict(self.totals)
        return {"job": self.job, "live": self.live, "started": self.started,
                "totals": totals,
                "last": None if last is None else {
                    "batch_id": last.batch_id, "state_size": last.state_size,
                    "source_lag": last.source_lag, "input_rate": last.input_rate}}

    def summaries(self, since: int = -1, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows of batches with an id above ``since``, oldest first (the last ``limit``)."""
        with self._lock:
            picked = [m for m in self._batches if m.batch_id > since]
        if limit is not None:
            picked = picked[-limit:]
        return [summary(m) for m in picked]

    def batch(self, batch_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = next((m for m in reversed(self._batches) if m.batch_id == batch_id), None)
        return None if found is None else detail(found)
