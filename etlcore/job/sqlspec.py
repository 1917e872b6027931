"""SQL in jobs: the ``sql`` transform step and the ``tables`` a job registers.

    tables:
      users: {path: data/users.csv, reload_every: 60}   # or just: users: data/users.csv
      prices: {function: "mypkg.prices:load", reload_every: 10}
    transform:
      - sql: "SELECT b.id, u.country FROM batch b LEFT JOIN users u USING (id)"
      - sql:
          query: "SELECT country, count(*) AS n FROM batch GROUP BY country"
          schema: {id: int, country: str}

Relative table paths are taken from the working directory, as every path of
a job. Both are checked when the job is defined: an unknown key, a missing
file or a function that does not import is a ConfigError naming its key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from etlcore.config import parse_config
from etlcore.errors import ConfigError
from etlcore.job.imports import resolve_callable
from etlcore.stream import Stream


@dataclass
class SqlStep:
    query: str
    schema: dict[str, str] | None = None
    mode: Literal["auto", "partition", "batch"] = "auto"


@dataclass
class TableSpec:
    path: str | None = None
    function: str | None = None
    reload_every: int | None = None


def sql_step(s: SqlStep, key: str) -> Callable[[Stream], Stream]:
    """Build-time application of a parsed ``sql`` step (the statement is checked there)."""
    from etlcore.sql import SqlError, engine

    try:
        engine.parse(s.query, key)  # a syntax error is found when the job is defined
    except SqlError as err:
        raise ConfigError(f"{key}.query", str(err), has_value=False) from None

    def apply(stream: Stream) -> Stream:
        try:
            return stream.sql(s.query, s.schema, mode=s.mode)
        except SqlError as err:
            raise ConfigError(f"{key}.query", str(err), has_value=False) from None

    return apply


def parse_tables(data: Any, key: str = "tables") -> dict[str, tuple[Any, int | None]]:
    """``{name: (source, reload_every)}`` from the job's ``tables`` mapping."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(key, "a mapping {table name: path or {path|function, reload_every}}",
                          data)
    tables: dict[str, tuple[Any, int | None]] = {}
    for name, spec in data.items():
        where = f"{key}.{name}"
        if isinstance(spec, str):
            spec = {"path": spec}
        t = parse_config(TableSpec, spec, where)
        if (t.path is None) == (t.function is None):
            raise ConfigError(where, "exactly one of 'path' or 'function'", spec)
        if t.reload_every is not None and t.reload_every < 1:
            raise ConfigError(f"{where}.reload_every", "a positive number of batches",
                              t.reload_every)
        source = t.path if t.path is not None else resolve_callable(t.function,
                                                                    f"{where}.function")
        tables[str(name)] = (source, t.reload_every)
    return tables


def register_tables(ctx: Any, tables: Mapping[str, tuple[Any, int | None]]) -> None:
    """Register the job's tables on its context, naming the job key on a bad table."""
    for name, (source, reload_every) in tables.items():
        try:
            ctx.register_table(name, source, reload_every=reload_every)
        except ConfigError as err:
            raise ConfigError(f"tables.{name}", err.expected, err.got) from None
