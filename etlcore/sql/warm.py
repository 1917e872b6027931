"""Imported by the processes runner's fork server for jobs with SQL (``worker_modules``).

Workers forked from the server then start with duckdb and pyarrow loaded and
pyarrow's one-time set-up done: its first conversion of Python objects loads
its pandas shim, about 0.7 s on a busy 2-core machine, which every new worker
would otherwise pay in its first batch.
"""

from __future__ import annotations

import contextlib

with contextlib.suppress(ImportError):
    import duckdb  # noqa: F401 - loaded for the workers
    import pyarrow

    pyarrow.array(["warm"])
