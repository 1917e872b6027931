"""Records to Arrow: a declared schema or one inferred from the batch.

A record is read by shape: a mapping by field name (missing fields are null,
extra ones ignored), a tuple or list by position (its length must match), any
other value as the single column of a one-column schema. Without a declared
schema the first record's shape decides: mappings give the union of their
keys, tuples ``_1, _2, ...`` (Spark's names for tuple fields), scalars one
column ``value``; column types are what Arrow infers from the values.

Columns are built with one ``pyarrow.array`` call each (C speed); only when
that fails does the slow path look at records one by one, so that records
which do not fit go to the dead letters with the reason and the rest of the
batch goes on. Records that already are Arrow (``RecordBatch`` or ``Table``)
are used as they are, without a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import chain
from typing import Any

from etlcore.errors import ConfigError
from etlcore.sql import deps

DeadLetter = Callable[[Any, str], None]

_TYPE_NAMES = {
    "int": "int64", "integer": "int64", "bigint": "int64", "long": "int64", "int64": "int64",
    "int32": "int32", "smallint": "int16", "int16": "int16", "tinyint": "int8", "int8": "int8",
    "double": "float64", "float": "float64", "float64": "float64", "real": "float32",
    "float32": "float32", "str": "string", "string": "string", "varchar": "string",
    "text": "string", "bool": "bool", "boolean": "bool", "bytes": "binary", "blob": "binary",
    "binary": "binary", "date": "date32", "timestamp": "timestamp_us", "datetime": "timestamp_us",
}
_PY_TYPES = {int: "int64", float: "float64", str: "string", bool: "bool", bytes: "binary"}


def _arrow_type(value: Any, key: str) -> Any:
    pa = deps.pyarrow()
    if isinstance(value, pa.DataType):
        return value
    name = _PY_TYPES.get(value) if isinstance(value, type) else None
    if name is None and isinstance(value, str):
        name = _TYPE_NAMES.get(value.strip().lower())
    if name is None:
        raise ConfigError(key, "a column type: one of " + ", ".join(sorted(_TYPE_NAMES))
                          + ", a Python type (int, float, str, bool, bytes) or a pyarrow type",
                          value)
    if name == "timestamp_us":
        return pa.timestamp("us")
    return getattr(pa, name)()


def parse_schema(schema: Any, key: str = "sql.schema") -> Any:
    """A ``pyarrow.Schema`` from ``{name: type}``, ``[(name, type), ...]`` or a pyarrow schema."""
    pa = deps.pyarrow()
    if isinstance(schema, pa.Schema):
        return schema
    if isinstance(schema, Mapping):
        items = list(schema.items())
    elif isinstance(schema, (list, tuple)) and all(
            isinstance(i, (list, tuple)) and len(i) == 2 for i in schema):
        items = [tuple(i) for i in schema]
    else:
        raise ConfigError(key, "a mapping {column: type}, a list of (column, type) pairs "
                          "or a pyarrow.Schema", schema)
    if not items:
        raise ConfigError(key, "at least one column", schema)
    fields = []
    for name, typ in items:
        if not isinstance(name, str) or not name:
            raise ConfigError(key, "column names that are non-empty strings", name)
        fields.append(pa.field(name, _arrow_type(typ, f"{key}.{name}")))
    return pa.schema(fields)


def _is_arrow(record: Any) -> bool:
    return type(record).__module__.startswith("pyarrow") and hasattr(record, "schema")


def _shape(record: Any) -> str:
    if isinstance(record, Mapping):
        return "mapping"
    if isinstance(record, (tuple, list)):
        return "tuple"
    return "scalar"


def infer_schema(records: list[Any]) -> Any:
    """Column names from the first record's shape; types are inferred per column later."""
    pa = deps.pyarrow()
    shape = _shape(records[0])
    if shape == "mapping":
        names = list(dict.fromkeys(chain.from_iterable(
            r for r in records if isinstance(r, Mapping))))
    elif shape == "tuple":
        names = [f"_{i + 1}" for i in range(len(records[0]))]
    else:
        names = ["value"]
    return pa.schema([pa.field(n, pa.null()) for n in names])  # null: infer


def _columns(records: list[Any], names: list[str]) -> list[list[Any]] | None:
    """Column lists by the records' shared shape, or None if shapes are mixed or wrong.

    Shapes are checked per distinct type (``set(map(type, ...))`` runs in C), not
    per record.
    """
    shapes = {_type_shape(t) for t in set(map(type, records))}
    if len(shapes) != 1:
        return None
    shape = shapes.pop()
    if shape == "mapping":
        return [[r.get(n) for r in records] for n in names]
    if shape == "tuple":
        if set(map(len, records)) != {len(names)}:
            return None
        return [list(c) for c in zip(*records, strict=True)]
    return [records] if len(names) == 1 else None


def _type_shape(t: type) -> str:
    if issubclass(t, Mapping):
        return "mapping"
    if issubclass(t, (tuple, list)):
        return "tuple"
    return "scalar"


def _row(record: Any, names: list[str]) -> list[Any]:
    """One record's values in column order; ValueError says why it has the wrong shape."""
    if isinstance(record, Mapping):
        return [record.get(n) for n in names]
    if isinstance(record, (tuple, list)):
        if len(record) != len(names):
            raise ValueError(f"expected {len(names)} values ({', '.join(names)}), "
                             f"got {len(record)}")
        return list(record)
    if len(names) != 1:
        raise ValueError(f"expected a mapping or a tuple of {len(names)} values "
                         f"({', '.join(names)}), got {type(record).__name__}")
    return [record]


def _typed(values: list[Any], typ: Any) -> Any:
    pa = deps.pyarrow()
    if pa.types.is_null(typ):
        return pa.array(values)
    return pa.array(values, type=typ)


def _value_type(values: list[Any]) -> Any:
    """The Arrow type of a mixed column: that of its first non-null value."""
    pa = deps.pyarrow()
    for v in values:
        if v is not None:
            return pa.array([v]).type
    return pa.null()


def to_table(records: list[Any], schema: Any = None,
             dead_letter: DeadLetter | None = None) -> Any:
    """An Arrow table of ``records``; records that do not fit go to ``dead_letter(record, why)``.

    Without ``dead_letter`` a record that does not fit raises ValueError.
    """
    pa = deps.pyarrow()
    if records and _is_arrow(records[0]) and all(map(_is_arrow, records)):
        tables = [r if isinstance(r, pa.Table) else pa.Table.from_batches([r]) for r in records]
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        return table if schema is None else table.select(schema.names).cast(schema)
    if not records:
        if schema is None:
            return pa.table({})
        return schema.empty_table()
    target = schema if schema is not None else infer_schema(records)
    names = target.names
    cols = _columns(records, names)
    if cols is not None:
        try:
            arrays = [_typed(c, f.type) for c, f in zip(cols, target, strict=True)]
            return pa.Table.from_arrays(arrays, names=names)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            pass  # find the records at fault, one by one
    return _slow(records, target, dead_letter)


def _slow(records: list[Any], target: Any, dead_letter: DeadLetter | None) -> Any:
    """Record by record: refuse what does not fit, build the table from the rest."""
    pa = deps.pyarrow()
    names = target.names
    rows: list[list[Any] | str] = []  # the values, or why the record has the wrong shape
    for record in records:
        try:
            rows.append(_row(record, names))
        except ValueError as err:
            rows.append(str(err))
    good = [r for r in rows if not isinstance(r, str)]
    types = []
    for i, f in enumerate(target):
        typ = f.type
        if pa.types.is_null(typ):
            column = [r[i] for r in good]
            try:
                typ = pa.array(column).type
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                typ = _value_type(column)
        types.append(typ)
    kept: list[list[Any]] = []
    for record, row in zip(records, rows, strict=True):
        why = row if isinstance(row, str) else _misfit(row, names, types)
        if why is None:
            kept.append(row)  # type: ignore[arg-type]
        else:
            _refuse(dead_letter, record, why)
    cols = [list(c) for c in zip(*kept, strict=True)] if kept else [[] for _ in names]
    return pa.Table.from_arrays([pa.array(c, type=t) for c, t in zip(cols, types, strict=True)],
                                names=names)


def _misfit(row: list[Any], names: list[str], types: list[Any]) -> str | None:
    pa = deps.pyarrow()
    for name, value, typ in zip(names, row, types, strict=True):
        if value is None:
            continue
        try:
            pa.array([value], type=typ)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as err:
            return (f"field '{name}': {value!r} ({type(value).__name__}) does not fit "
                    f"{typ}: {str(err).splitlines()[0]}")
    return None


def _refuse(dead_letter: DeadLetter | None, record: Any, why: str) -> None:
    reason = f"does not fit the schema: {why}"
    if dead_letter is None:
        raise ValueError(f"record {record!r} {reason}")
    dead_letter(record, reason)
