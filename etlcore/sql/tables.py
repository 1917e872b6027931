"""Static tables that SQL can join: a Parquet or CSV file, a DataFrame, Arrow, or a loader.

Tables are read on the driver and travel to the tasks with the batch, as
Arrow (broadcast, like a static join's table). A file, DataFrame or Arrow
table is read when registered, so a missing file or a bad value is an error
before the job runs. A loader (a function returning any of those, or a list
of dict records) is called on the driver at the first batch and again every
``reload_every`` batches; a file with ``reload_every`` is re-read the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from etlcore.errors import ConfigError
from etlcore.graph.identity import describe
from etlcore.sql import deps

_NAME_OK = "a table name of letters, digits and _, not starting with a digit, and not 'batch'"


def check_name(name: Any) -> str:
    if (not isinstance(name, str) or not name.replace("_", "a").isalnum()
            or name[0].isdigit() or name.lower() == "batch" or not name.isascii()):
        raise ConfigError("register_table.name", _NAME_OK, name)
    return name


def _read_file(path: Path, key: str) -> Any:
    pa = deps.pyarrow()
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if suffix in (".csv", ".tsv"):
            import pyarrow.csv as pacsv

            parse = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            return pacsv.read_csv(path, parse_options=parse)
    except FileNotFoundError:
        raise ConfigError(key, "an existing Parquet or CSV file", str(path)) from None
    except (OSError, pa.ArrowInvalid) as err:
        raise ConfigError(key, f"a readable Parquet or CSV file ({err})", str(path)) from None
    raise ConfigError(key, "a file ending in .parquet, .pq, .csv or .tsv", str(path))


def as_arrow(data: Any, key: str) -> Any:
    """An Arrow table from a path, a pandas DataFrame, an Arrow table or a list of records."""
    pa = deps.pyarrow()
    if isinstance(data, (str, os.PathLike)):
        return _read_file(Path(data), key)
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
        try:
            return pa.Table.from_pylist(data)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise ConfigError(key, f"records Arrow can type ({err})", data[:3]) from None
    raise ConfigError(key, "a Parquet/CSV path, a pandas DataFrame, a pyarrow Table, a list "
                      "of dict records, or a function returning one of those", data)


class StaticTable:
    """One registered table; ``get(index)`` returns it for the batch at ``index``."""

    def __init__(self, name: str, source: Any, reload_every: int | None = None):
        self.name = check_name(name)
        if reload_every is not None and (isinstance(reload_every, bool) or not isinstance(
                reload_every, int) or reload_every < 1):
            raise ConfigError("register_table.reload_every", "a positive number of batches",
                              reload_every)
        self.key = f"register_table '{name}'"
        self.loader: Callable[[], Any] | None = None
        if callable(source) and not isinstance(source, (str, os.PathLike)):
            self.loader = source
        self.path = source if isinstance(source, (str, os.PathLike)) else None
        self.reload_every = reload_every or (1 if self.loader else None)
        self.table = None if self.loader else as_arrow(source, self.key)
        self.loaded_at: int | None = None if self.loader else 0
        self.source = source

    def identity(self) -> Any:
        """What the checkpoint fingerprint records: the file, the loader's code, or the data."""
        if self.loader is not None:
            return {"loader": describe(self.loader), "reload_every": self.reload_every}
        if self.path is not None:
            return {"path": str(self.path), "reload_every": self.reload_every}
        return {"rows": self.table.num_rows, "schema": str(self.table.schema)}

    def schema(self) -> Any:
        """The Arrow schema when known before the first batch (None for a loader)."""
        return None if self.table is None else self.table.schema

    def get(self, index: int) -> Any:
        """The table for the batch at ``index``, (re)loaded on the driver when due."""
        due = self.reload_every is not None and (
            self.table is None or self.loaded_at is None or index - self.loaded_at >= self.reload_every)
        if due:
            data = self.loader() if self.loader is not None else self.path
            self.table = as_arrow(data, f"{self.key} (loaded at batch index {index})")
            self.loaded_at = index
        return self.table
