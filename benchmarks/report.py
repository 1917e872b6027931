"""Show results: a rich table with ratios, the JSON file, and a PNG bar chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

YARDSTICK = "plain-python"
LOCAL = "etlcore[local]"
SPARK_RDD = "spark-rdd"

#: (field, engine it compares against, which rows get it) for the same workload of one run
_RATIOS = (
    ("vs_plain", YARDSTICK, lambda e: True),
    # W3's second and third yardsticks: the plain loop with etlcore's JSON library (msgspec),
    # untyped as the plain loop is written, and with the very typed decoder etlcore uses
    ("vs_plain_msgspec", "plain-msgspec", lambda e: e.startswith("etlcore")),
    ("vs_plain_msgspec_typed", "plain-msgspec-typed", lambda e: e.startswith("etlcore")),
    ("vs_pure", "etlcore-pure", lambda e: True),
    ("vs_local", LOCAL, lambda e: e.startswith("etlcore[")),
    ("vs_spark_rdd", SPARK_RDD, lambda e: e.startswith("etlcore")),
)


def ratios(rows: list[dict[str, Any]]) -> None:
    """Add ratios of records/s over another engine's in the same run and workload.

    ``vs_plain`` (the plain loop) and ``vs_pure`` for every row; ``vs_local``
    (``etlcore[local]``) for etlcore on each runner; ``vs_spark_rdd`` for etlcore
    rows. A scaling row (``base="W1"``) compares with its base workload's rows.
    """
    rate: dict[tuple[str, str], float] = {}
    for r in rows:
        if r.get("records_per_s"):
            rate.setdefault((r["engine"], r.get("base") or r["workload"]), r["records_per_s"])
    for row in rows:
        mine = row.get("records_per_s")
        if not mine:
            continue
        for field, base, applies in _RATIOS:
            ref = rate.get((base, row.get("base") or row["workload"]))
            if ref and (applies(row["engine"]) or row["engine"] == base):
                row[field] = round(mine / ref, 2)


def _fmt(value: Any, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict[str, Any]], title: str) -> Any:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title)
    extra = [(f, label) for f, label in (("vs_plain_msgspec", "x plain-msgspec"),
                                         ("vs_plain_msgspec_typed", "x plain-msgspec-typed"),
                                         ("vs_local", "x local"), ("vs_spark_rdd", "x spark-rdd"))
             if any(f in r for r in rows)]
    for col in ("workload", "engine", "records", "records/s", "x plain", "x pure",
                *(label for _, label in extra), "startup s", "peak RSS MB", "correct", "error"):
        t.add_column(col, justify="left" if col in ("workload", "engine", "error") else "right",
                     no_wrap=col != "error", overflow="fold")
    for r in rows:
        correct = r.get("correct")
        status = ("-" if "error" in r else "yes" if correct
                  else "n/a" if correct is None else "[red]WRONG[/red]")
        rss = _fmt(r.get("peak_rss_mb"), ",.0f")
        if r.get("jvm_peak_rss_mb"):
            rss += f" (+JVM {r['jvm_peak_rss_mb']:,.0f})"
        t.add_row(r["workload"], escape(r["engine"]), _fmt(r.get("records")),
                  _fmt(r.get("records_per_s")), _fmt(r.get("vs_plain"), ".2f"),
                  _fmt(r.get("vs_pure"), ".2f"), *(_fmt(r.get(f), ".2f") for f, _ in extra),
                  _fmt(r.get("startup_s"), ".2f"), rss, status, (r.get("error") or "")[:90])
    return t


def write_json(rows: list[dict[str, Any]], path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(rows, indent=1))


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Grouped bars (log scale): records/s per workload, one bar per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = [r for r in rows if r.get("records_per_s")]
    workloads = sorted({r["workload"] for r in good})
    engines = list(dict.fromkeys(r["engine"] for r in good))
    width = 0.8 / max(1, len(engines))
    fig, ax = plt.subplots(figsize=(max(8, 2.2 * len(workloads)), 5))
    for i, engine in enumerate(engines):
        xs, ys = [], []
        for j, w in enumerate(workloads):
            r = next((r for r in good if r["engine"] == engine and r["workload"] == w), None)
            if r:
                xs.append(j + i * width - 0.4 + width / 2)
                ys.append(r["records_per_s"])
        ax.bar(xs, ys, width, label=engine)
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_yscale("log")
    ax.set_ylabel("records/s (log scale)")
    ax.set_title("etlcore benchmarks: records/s per workload and engine (2 cores)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
