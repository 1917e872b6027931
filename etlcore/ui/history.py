"""A finished (or running) job's batches, read back from its checkpoint.

``etlcore ui --checkpoint DIR``, as Spark's history server. The UI's event
log (written when the job ran with the UI) has every batch's full metrics;
the commit and plan logs, always there, give the batches after the last
state snapshot (older ones are pruned) with their records and plans.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from etlcore.batch import BatchPlan
from etlcore.checkpoint import read_sealed
from etlcore.errors import CheckpointError
from etlcore.metrics import BatchMetrics
from etlcore.ui import eventlog
from etlcore.ui.store import BatchStore

_FIELDS = set(BatchMetrics.__dataclass_fields__)


def _sealed(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append(read_sealed(path))
        except (CheckpointError, OSError):
            continue  # a half-written or damaged file: the rest of the history still shows
    return out


def _from_events(folder: Path, job: str) -> dict[int, BatchMetrics]:
    found: dict[int, BatchMetrics] = {}
    for name in (eventlog.ROLLED, eventlog.NAME):
        path = folder / eventlog.FOLDER / name
        if not path.is_file():
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    data = json.loads(line)
                    m = BatchMetrics(**{k: v for k, v in data.items() if k in _FIELDS})
                except (ValueError, TypeError):
                    continue  # the line a crash cut short
                m.job = job
                found[m.batch_id] = m
    return found


def _from_logs(folder: Path, job: str) -> dict[int, BatchMetrics]:
    plans = {p["batch_id"]: BatchPlan.from_json(p) for p in _sealed(folder / "plans")
             if "ranges" in p}
    commits = _sealed(folder / "commits")
    times = sorted(c["batch_time"] for c in commits)
    steps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    interval = min(steps) if steps else None
    found = {}
    for c in commits:
        batch_id = int(c["batch_id"])
        records = int(c.get("records_in", 0))
        plan = plans.get(batch_id)
        total = max(0.0, float(c.get("committed_at", c["batch_time"])) - c["batch_time"])
        found[batch_id] = BatchMetrics(
            job=job, batch_id=batch_id, batch_time=c["batch_time"], records_in=records,
            input_rate=records / interval if interval else 0.0,
            processing_s=total, scheduling_delay_s=0.0,
            plan=plan.ranges if plan is not None else {})
    return found


def load_history(checkpoint: str | Path, keep: int = 1000) -> BatchStore:
    """A store holding the checkpoint's batches, newest ``keep`` of them."""
    folder = Path(checkpoint)
    meta_path = folder / "metadata.json"
    if not meta_path.is_file():
        raise CheckpointError(f"{folder} is not an etlcore checkpoint (no metadata.json)")
    try:
        meta = json.loads(meta_path.read_bytes())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot read {meta_path}: {err}") from None
    job = str(meta.get("job", "?"))
    batches = _from_logs(folder, job)
    events = _from_events(folder, job)
    batches.update(events)  # the event log has the full metrics
    store = BatchStore({"name": job, "checkpoint": str(folder),
                        "created": meta.get("created"),
                        "source": "event log" if events else "commit log"},
                       keep=keep, live=False)
    for batch_id in sorted(batches):
        store(batches[batch_id])
    return store
