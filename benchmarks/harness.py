"""Run engines in child processes and turn what they report into result rows.

A row is a dict with at least: workload, engine, version, records, seconds
(every run), records_per_s (median), startup_s, peak_rss_mb, checksum,
reference, correct; or an ``error`` saying why the engine produced no result.
A wrong answer is kept as a row with ``correct: False`` and no records_per_s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.child import MARK
from benchmarks.data import CACHE, Spec, load
from benchmarks.engines import resolve
from benchmarks.reference import reference_checksum

ROOT = Path(__file__).resolve().parent.parent
_REFERENCES: dict[str, str] = {}


def reference(spec: Spec) -> str:
    """The reference checksum for ``spec`` (computed once, cached beside the data)."""
    name = spec.answer_name
    if name not in _REFERENCES:
        path = CACHE / f"{name}.ref"
        if path.exists():
            _REFERENCES[name] = path.read_text().strip()
        else:
            value = reference_checksum(spec.workload, load(spec), spec.window_s)
            path.write_text(value)
            _REFERENCES[name] = value
    return _REFERENCES[name]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ETLCORE_PURE_PYTHON"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    env.update(extra)
    return env


def run_engine(engine: str, spec: Spec, repeat: int, timeout: float, budget: float = 60.0,
               env: dict[str, str] | None = None) -> dict[str, Any]:
    """One engine on one workload in a fresh child process, as a result row.

    The child stops repeating once ``budget`` seconds of runs are spent (at least one run).
    """
    module, extra = resolve(engine)
    extra = {**extra, **(env or {})}
    row: dict[str, Any] = {"workload": spec.workload, "engine": engine, "records": spec.records,
                           "keys": spec.keys, "per_second": spec.per_second,
                           "window_s": spec.window_s}
    ref = reference(spec)
    cmd = [sys.executable, "-m", "benchmarks.child", "--module", module,
           "--workload", spec.workload, "--records", str(spec.records), "--keys", str(spec.keys),
           "--per-second", str(spec.per_second), "--window-s", str(spec.window_s),
           "--repeat", str(repeat), "--budget", str(budget)]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=child_env(extra), capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        row["error"] = f"timed out after {timeout:.0f}s"
        return row
    row["wall_s"] = round(time.monotonic() - started, 2)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        row["error"] = f"child exited {proc.returncode}: " + " | ".join(tail)[:500]
        return row
    got = json.loads(lines[-1][len(MARK):])
    row.update(got)
    row["engine"] = engine
    if "error" in got:
        return row
    sums = got.pop("checksums")
    row["checksum"] = sums[0] if len(set(sums)) == 1 else sums
    row["reference"] = ref
    row["correct"] = all(s == ref for s in sums)
    row["seconds"] = [round(s, 4) for s in got["seconds"]]
    # this process's CPU time (not its worker processes'): steadier than wall time on a
    # busy machine, and comparable between single-process engines only
    row["cpu_seconds"] = [round(s, 4) for s in got.get("cpu_seconds", [])]
    median = statistics.median(got["seconds"])
    if row["correct"]:
        row["records_per_s"] = round(got["records"] / median) if median > 0 else None
        cpu = statistics.median(row["cpu_seconds"]) if row["cpu_seconds"] else 0
        row["records_per_cpu_s"] = round(got["records"] / cpu) if cpu > 0 else None
    else:
        row["records_per_s"] = None  # a wrong answer is never reported as a result
    return row
