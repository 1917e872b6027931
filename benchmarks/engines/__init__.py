"""Engine registry: name -> (module, extra environment for its child process)."""

from __future__ import annotations

ENGINES: dict[str, tuple[str, dict[str, str]]] = {
    "etlcore": ("benchmarks.engines.etlcore_engine", {}),
    "etlcore-pure": ("benchmarks.engines.etlcore_engine", {"ETLCORE_PURE_PYTHON": "1"}),
    "plain-python": ("benchmarks.engines.plain", {}),
    "polars": ("benchmarks.engines.polars_engine", {}),
    "duckdb": ("benchmarks.engines.duckdb_engine", {}),
    "spark-rdd": ("benchmarks.engines.spark_engine", {"BENCH_SPARK_MODE": "rdd"}),
    "spark-sss": ("benchmarks.engines.spark_engine", {"BENCH_SPARK_MODE": "sss"}),
    "bytewax": ("benchmarks.engines.bytewax_engine", {}),
    "pathway": ("benchmarks.engines.pathway_engine", {}),
}

#: Names that select several engines (CI: ``--engines etlcore``).
GROUPS: dict[str, list[str]] = {
    "etlcore": ["etlcore", "etlcore-pure", "plain-python"],
    "etlcore-compiled": ["etlcore"],
    "spark": ["spark-rdd", "spark-sss"],
    "all": list(ENGINES),
}


def select(spec: str) -> list[str]:
    """Engine names for a comma-separated list of engine and group names."""
    out: list[str] = []
    for name in (s.strip() for s in spec.split(",")):
        if not name:
            continue
        names = GROUPS.get(name) or ([name] if name in ENGINES else None)
        if names is None:
            choices = ", ".join(sorted(set(ENGINES) | set(GROUPS)))
            raise SystemExit(f"unknown engine {name!r}; choose from {choices}")
        out.extend(n for n in names if n not in out)
    return out
