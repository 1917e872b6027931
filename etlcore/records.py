"""A batch's records as foreach_batch and transform functions get them.

A plain list, plus ``to_arrow()`` and ``to_pandas()`` for code that wants the
batch as a table (DuckDB, Polars, pandas) without writing the conversion.
They need the ``etlcore[sql]`` extra (pyarrow) and, for ``to_pandas``, pandas.
A wide node that returns a ``Records`` hands it over: when nothing else read
it, the engine passes it on to ``foreach_batch`` uncopied (a window's rows).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Records", "as_tuple_row", "as_tuple_rows"]


class Records(list):  # type: ignore[type-arg]
    """The records of one batch (a list)."""

    __slots__ = ()

    def to_arrow(self, schema: Any = None) -> Any:
        """A ``pyarrow.Table``: typed by ``schema`` ({column: type}) or inferred.

        Records that do not fit the schema raise ValueError naming the record
        (use ``stream.sql`` to dead-letter them instead).
        """
        from etlcore.sql.schema import parse_schema, to_table

        return to_table(as_tuple_rows(self),  # compact window rows as the tuples they stand for
                        None if schema is None else parse_schema(schema, "schema"))

    def to_pandas(self, schema: Any = None) -> Any:
        """A ``pandas.DataFrame`` of the batch (through Arrow, see :meth:`to_arrow`)."""
        from etlcore.sql import deps

        deps.pandas()
        return self.to_arrow(schema).to_pandas()


def as_tuple_rows(records: list[Any]) -> list[Any]:
    """``records`` with every compact window row as the ``WindowResult`` NamedTuple it stands for.

    The one place compact rows (``tumbling_window(..., rows="compact")``) become tuples:
    the engine calls it on what it hands a sink, so every sink, the plugins' too, encodes
    exactly what it encodes for tuple rows. Only jobs with a compact-row window pay the scan.
    """
    from etlcore import _fast
    from etlcore.eventtime.base import WindowResult

    compact = _fast.winrow.WindowRow
    if compact not in map(type, records):  # a C-level scan
        return records
    make = tuple.__new__
    return [make(WindowResult, r) if type(r) is compact else r for r in records]


def as_tuple_row(record: Any) -> Any:
    """One record, a compact window row as its ``WindowResult`` (dead letters, one at a time)."""
    from etlcore import _fast

    if type(record) is not _fast.winrow.WindowRow:
        return record
    from etlcore.eventtime.base import WindowResult

    return tuple.__new__(WindowResult, record)
