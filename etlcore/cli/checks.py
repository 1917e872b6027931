"""``etlcore validate JOB`` and ``etlcore schema``: check a job file without running it.

Validation is the same path ``etlcore run`` takes up to the first batch: the
file is parsed, every key checked (plugin settings, operator settings, import
paths, window sizes against the batch interval, stream names), the operator
graph built. Nothing is read, written or started. A mistake is the usual
one-line ``error: JOB: <key>: expected ...`` (exit 2).
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from etlcore.graph.io import SinkOutput, SourceNode


def validate(path: str) -> int:
    """Load and build the job; print what it would run."""
    from etlcore.cli.loader import load_target

    ctx = load_target(path)
    graph = ctx._graph
    sources = [s.key for s in graph.sources]
    ops = Counter(n.op for n in graph.reachable() if not isinstance(n, SourceNode))
    sinks = [o.name for o in graph.outputs if isinstance(o, SinkOutput)]
    unused = [n.key for n in graph.nodes if n not in graph.reachable()
              and not isinstance(n, SourceNode)]
    print(f"ok: {path}: job '{ctx.name}', {len(sources)} source(s) ({', '.join(sources)}), "
          f"{sum(ops.values())} operator(s), {len(graph.outputs)} output(s)"
          f"{' (' + ', '.join(sinks) + ')' if sinks else ''}")
    if unused:
        print(f"note: {len(unused)} operator(s) feed no output and will not run: "
              + ", ".join(unused))
    return 0


def print_schema() -> int:
    """The JSON Schema of job files (with the installed plugins' settings) on stdout."""
    from etlcore.job.jsonschema import job_schema

    json.dump(job_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
