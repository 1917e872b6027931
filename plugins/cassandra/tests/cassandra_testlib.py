"""Helpers shared by the cassandra plugin tests and their job subprocesses."""

from __future__ import annotations

import uuid
from typing import Any


def table_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def rows(session: Any, keyspace: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    """Every row of ``keyspace.table`` as tuples of ``columns``, sorted."""
    cols = ", ".join(f'"{c}"' for c in columns)
    result = session.execute(f'SELECT {cols} FROM "{keyspace}"."{table}"', timeout=60)
    return sorted(tuple(r) for r in result)


def cells(session: Any, keyspace: str, table: str, key: list[str], column: str,
          ) -> list[tuple[Any, ...]]:
    """``(key..., value, writetime)`` of ``column`` for every row, sorted."""
    cols = ", ".join(f'"{c}"' for c in key)
    result = session.execute(f'SELECT {cols}, "{column}", WRITETIME("{column}") '
                             f'FROM "{keyspace}"."{table}"', timeout=60)
    return sorted(tuple(r) for r in result)
