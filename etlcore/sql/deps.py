"""The optional libraries SQL needs, imported on first use with an install hint.

DuckDB and pyarrow are the ``etlcore[sql]`` extra; pandas is needed only by
``to_pandas()``. ``import etlcore`` never imports them.
"""

from __future__ import annotations

from types import ModuleType

from etlcore.plugin.imports import require_module


def duckdb() -> ModuleType:
    return require_module("duckdb", "etlcore[sql]", feature="etlcore SQL (stream.sql)")


def pyarrow() -> ModuleType:
    return require_module("pyarrow", "etlcore[sql]", feature="etlcore SQL and to_arrow()")


def pandas() -> ModuleType:
    return require_module("pandas", "pandas", feature="to_pandas()")
