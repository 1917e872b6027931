"""What the contract tests share: shipping objects as a runner does, comparing results."""

from __future__ import annotations

import itertools
import json
import pickle
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

PICKLERS: dict[str, Any] = {"pickle": pickle, "cloudpickle": cloudpickle}

_names = itertools.count()


def unique_name(prefix: str = "contract") -> str:
    """A name no other test in this process uses (a MemorySink key, a logger)."""
    return f"{prefix}-{next(_names)}"


def roundtrip(obj: Any, how: str = "pickle") -> Any:
    """What a worker gets: ``obj`` serialised with ``how`` and loaded again."""
    return pickle.loads(PICKLERS[how].dumps(obj))


def canon(value: Any) -> str:
    """A stable text form for comparing stored results: key order and tuples do not matter."""
    return json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False)


def multiset(values: Iterable[Any]) -> Counter[str]:
    return Counter(canon(v) for v in values)


def json_roundtrip(position: Any) -> Any:
    """A position as the batch-plan log gives it back; fails for non-JSON positions."""
    try:
        return json.loads(json.dumps(position))
    except (TypeError, ValueError) as err:
        raise AssertionError(f"position {position!r} is not JSON-serialisable ({err}); "
                             "positions are written to the batch-plan log") from None


def split(records: list[Any], parts: int) -> list[list[Any]]:
    """``records`` cut into ``parts`` contiguous partitions (some may be empty)."""
    size, extra = divmod(len(records), parts)
    out, start = [], 0
    for p in range(parts):
        end = start + size + (1 if p < extra else 0)
        out.append(records[start:end])
        start = end
    return out


@dataclass
class Target:
    """One place a connector stores to or reads from, with its own checkpoint."""

    path: Path  # a fresh empty directory for the connector's data
    checkpoint: Path  # the job's checkpoint directory (created on first use)
    config: dict[str, Any] = field(default_factory=dict)
