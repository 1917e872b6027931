"""Before the first batch: can every part of the program travel to a worker?

A lambda that closes over a lock, a source config holding an open socket, a
writer holding a live client: each fails to pickle, and under the processes or
spark runner it would fail on a worker mid-batch. :func:`check_program` pickles
each part on its own and names the operator and the object that cannot go.
"""

from __future__ import annotations

import types
from typing import Any

import cloudpickle

from etlcore.engine.stages import Program
from etlcore.errors import EtlcoreError


class ShippingError(EtlcoreError):
    """Part of the job cannot be sent to worker processes or executors."""


def _children(obj: Any) -> list[tuple[str, Any]]:
    """Named parts of ``obj`` that pickling it would also pickle."""
    if isinstance(obj, types.FunctionType):
        out: list[tuple[str, Any]] = []
        code = obj.__code__
        for name, cell in zip(code.co_freevars, obj.__closure__ or (), strict=False):
            try:
                out.append((name, cell.cell_contents))
            except ValueError:  # an empty cell
                continue
        for name in code.co_names:
            if name in obj.__globals__ and not isinstance(obj.__globals__[name], types.ModuleType):
                out.append((name, obj.__globals__[name]))
        defaults = obj.__defaults__ or ()
        names = code.co_varnames[code.co_argcount - len(defaults):code.co_argcount]
        out.extend(zip(names, defaults, strict=False))
        return out
    if isinstance(obj, types.MethodType):
        return [("__self__", obj.__self__), ("__func__", obj.__func__)]
    if isinstance(obj, dict):
        return [(repr(k), v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [(f"[{i}]", v) for i, v in enumerate(obj)]
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        return list(state.items())
    return []


def find_unpicklable(obj: Any, path: str = "", depth: int = 0) -> tuple[str, Any, Exception] | None:
    """The innermost part of ``obj`` that does not pickle: (path, object, error)."""
    try:
        cloudpickle.dumps(obj)
        return None
    except Exception as err:  # noqa: BLE001 - any pickling failure is the answer
        if depth < 8:
            for name, child in _children(obj):
                found = find_unpicklable(child, f"{path}.{name}" if path else name, depth + 1)
                if found is not None:
                    return found
        return path, obj, err


def _short(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def check_program(program: Program, runner: str) -> None:
    """Raise :class:`ShippingError` naming the first part that cannot be pickled."""
    parts: list[tuple[str, Any]] = []
    for stage in program.stages:
        if stage.wide is not None:
            parts.append((f"operator '{stage.root}'", stage.wide))
        if stage.reader is not None:
            parts.append((f"source '{stage.root}' (its reader)", stage.reader))
        for m in stage.members:
            if m.node is not None:
                parts.append((f"operator '{m.key}'", m.node))
    parts.extend((f"sink '{name}' (its writer)", w) for name, w in program.writers.items())
    for what, obj in parts:
        found = find_unpicklable(obj)
        if found is None:
            continue
        path, culprit, err = found
        via = f" through {path}" if path else ""
        raise ShippingError(
            f"{what} cannot be sent to the {runner} runner's workers: it holds "
            f"{_short(culprit)}{via} ({type(err).__name__}: {err}). Create such objects "
            "inside the function (map_partitions opens one per partition), or use "
            "runner='local'.")
