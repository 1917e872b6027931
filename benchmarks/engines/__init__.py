"""Engine registry: name -> (module, extra environment for its child process).

``etlcore[RUNNER]`` (``--runners``) is etlcore on one of its runners (``local``,
``processes``, ``spark``); the worker count comes from ``ETLCORE_BENCH_WORKERS``.
"""

from __future__ import annotations

import re

ENGINES: dict[str, tuple[str, dict[str, str]]] = {
    "etlcore": ("benchmarks.engines.etlcore_engine", {}),
    "etlcore-pure": ("benchmarks.engines.etlcore_engine", {"ETLCORE_PURE_PYTHON": "1"}),
    "plain-python": ("benchmarks.engines.plain", {}),
    "plain-msgspec": ("benchmarks.engines.plain", {"BENCH_PLAIN": "msgspec"}),
    "plain-msgspec-typed": ("benchmarks.engines.plain", {"BENCH_PLAIN": "msgspec-typed"}),
    "etlcore-stdlib-json": ("benchmarks.engines.etlcore_engine", {"ETLCORE_BENCH_W3": "stdlib"}),
    "polars": ("benchmarks.engines.polars_engine", {}),
    "duckdb": ("benchmarks.engines.duckdb_engine", {}),
    "spark-rdd": ("benchmarks.engines.spark_engine", {"BENCH_SPARK_MODE": "rdd"}),
    "spark-sss": ("benchmarks.engines.spark_engine", {"BENCH_SPARK_MODE": "sss"}),
    "bytewax": ("benchmarks.engines.bytewax_engine", {}),
    "pathway": ("benchmarks.engines.pathway_engine", {}),
}

#: Names that select several engines (CI: ``--engines etlcore``).
GROUPS: dict[str, list[str]] = {
    "etlcore": ["etlcore", "etlcore-pure", "plain-python", "plain-msgspec"],
    "json": ["etlcore", "etlcore-stdlib-json", "plain-python", "plain-msgspec",
             "plain-msgspec-typed"],
    "etlcore-compiled": ["etlcore"],
    "spark": ["spark-rdd", "spark-sss"],
    "all": list(ENGINES),
}

RUNNERS = ("local", "processes", "spark")
_ON_RUNNER = re.compile(r"(etlcore(?:-pure)?)\[(\w+)\]")


def on_runner(runner: str, engine: str = "etlcore") -> str:
    """The engine name of etlcore on ``runner``: ``etlcore[processes]``."""
    return f"{engine}[{runner}]"


def resolve(engine: str) -> tuple[str, dict[str, str]]:
    """The module and child environment of an engine name (``etlcore[spark]`` included)."""
    m = _ON_RUNNER.fullmatch(engine)
    if m and m.group(2) in RUNNERS:
        module, env = ENGINES[m.group(1)]
        return module, {**env, "ETLCORE_BENCH_RUNNER": m.group(2)}
    return ENGINES[engine]


def select(spec: str, runners: list[str] | None = None) -> list[str]:
    """Engine names for a comma-separated list of engine and group names.

    With ``runners``, the compiled ``etlcore`` engine becomes one ``etlcore[RUNNER]``
    row per runner (first in the list when ``spec`` does not name it).
    """
    out: list[str] = []
    for name in (s.strip() for s in spec.split(",")):
        if not name:
            continue
        names = GROUPS.get(name) or ([name] if name in ENGINES else None)
        if names is None:
            choices = ", ".join(sorted(set(ENGINES) | set(GROUPS)))
            raise SystemExit(f"unknown engine {name!r}; choose from {choices}")
        out.extend(n for n in names if n not in out)
    if not runners:
        return out
    unknown = [r for r in runners if r not in RUNNERS]
    if unknown:
        raise SystemExit(f"unknown runners {unknown}; choose from {', '.join(RUNNERS)}")
    rows = [on_runner(r) for r in runners]
    if "etlcore" not in out:
        return rows + out
    i = out.index("etlcore")
    return out[:i] + rows + out[i + 1:]
