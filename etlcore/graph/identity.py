"""Stable, JSON-able descriptions of operator parameters and user functions.

A checkpoint must be refused when the job that resumes it would compute
something else, and a function changes what it computes when its code
changes, even if its name does not. :func:`describe` turns a value into
plain JSON that is the same in every run of the same job: scalars as
themselves, containers item by item, and a function as its qualified name
plus a hash of its source (``inspect.getsource``; the bytecode when the
source is not available) folded together with what it closes over, its
defaults, and the same-module helpers and constants it names. Objects with
no stable description (a connection, a context) count by their type only:
a repr with a memory address would differ on every run.

What it cannot see: functions of other modules that a user function calls
(only their names count), and data a function reads at run time. etlcore's
own functions count by name and what they hold, not by their code, so an
etlcore upgrade does not make every checkpoint "changed".
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import math
import types
from typing import Any

_MAX_DEPTH = 12
_SCALARS = (str, int, bool, type(None))


def digest(value: Any) -> str:
    """A short hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _code_text(code: types.CodeType) -> list[Any]:
    """Bytecode, constants and names of a code object and the code objects nested in it."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c)
              for c in code.co_consts]
    return [code.co_code.hex(), consts, list(code.co_names)]


def _source(fn: types.FunctionType) -> Any:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return _code_text(fn.__code__)


def _names(code: types.CodeType) -> set[str]:
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


def _function(fn: types.FunctionType, depth: int, seen: set[int]) -> str:
    # etlcore's own wrappers count by name and by what they hold (the user's
    # functions, their settings), not by their code: upgrading etlcore is not
    # a change of the job (the checkpoint format version covers the engine)
    internal = fn.__module__.startswith("etlcore.")
    parts: list[Any] = [fn.__qualname__ if internal else _source(fn)]
    if fn.__closure__:
        cells = []
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=False):
            try:
                cells.append([name, _describe(cell.cell_contents, depth + 1, seen)])
            except ValueError:  # an empty cell (a name assigned after the function)
                cells.append([name, None])
        parts.append(cells)
    if fn.__defaults__:
        parts.append([_describe(d, depth + 1, seen) for d in fn.__defaults__])
    if fn.__kwdefaults__:
        parts.append({k: _describe(v, depth + 1, seen) for k, v in fn.__kwdefaults__.items()})
    helpers = {}
    for name in [] if internal else sorted(_names(fn.__code__)):
        value = fn.__globals__.get(name)
        helper = isinstance(value, types.FunctionType) and value.__module__ == fn.__module__
        constant = isinstance(value, (int, float)) or (isinstance(value, str) and len(value) < 1000)
        if helper or constant:
            helpers[name] = _describe(value, depth + 1, seen)
    if helpers:
        parts.append(helpers)
    return f"{fn.__module__}:{fn.__qualname__}#{digest(parts)}"


def _callable(obj: Any, depth: int, seen: set[int]) -> Any:
    if isinstance(obj, types.FunctionType):
        return _function(obj, depth, seen)
    if isinstance(obj, types.MethodType):
        return {"method": _describe(obj.__func__, depth + 1, seen),
                "of": _describe(obj.__self__, depth + 1, seen)}
    if isinstance(obj, functools.partial):
        return {"partial": _describe(obj.func, depth + 1, seen),
                "args": _describe(list(obj.args), depth + 1, seen),
                "keywords": _describe(dict(obj.keywords), depth + 1, seen)}
    if isinstance(obj, type):
        return _type(obj)
    if isinstance(obj, (types.BuiltinFunctionType, types.MethodDescriptorType,
                        types.WrapperDescriptorType, types.BuiltinMethodType)):
        owner = getattr(obj, "__self__", None)
        name = f"{getattr(obj, '__module__', None) or 'builtins'}:{obj.__qualname__}"
        if owner is None or isinstance(owner, (type, types.ModuleType)):
            return name
        return {"builtin": name, "of": _describe(owner, depth + 1, seen)}
    text = _repr(obj)
    if text is not None:
        return {"callable": _type(type(obj)), "repr": text}
    return {"callable": _type(type(obj)), "state": _describe(_attrs(obj), depth + 1, seen)}


def _repr(obj: Any) -> str | None:
    """The object's own repr when its type defines one that is stable (no address in it)."""
    if type(obj).__repr__ is object.__repr__:
        return None
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001 - a broken repr: describe the object another way
        return None
    return None if " at 0x" in text else text


def _type(tp: type) -> str:
    name = f"{tp.__module__}:{tp.__qualname__}"
    if tp.__module__.startswith("etlcore.") or tp.__module__ == "builtins":
        return name
    try:
        text: Any = inspect.getsource(tp)
    except (OSError, TypeError):
        text = None
    return name if text is None else f"{name}#{digest(text)}"


def _attrs(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return dict(getattr(obj, "__dict__", {}))


def _describe(value: Any, depth: int, seen: set[int]) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bytes, bytearray)):
        return "bytes:" + hashlib.sha256(value).hexdigest()[:16]
    if depth > _MAX_DEPTH or id(value) in seen:
        return f"<{type(value).__qualname__}>"
    seen = seen | {id(value)}
    if isinstance(value, dict):
        return {_key(k, depth, seen): _describe(v, depth + 1, seen) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_describe(v, depth + 1, seen) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_describe(v, depth + 1, seen) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if callable(value):
        return _callable(value, depth, seen)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": _type(type(value)), "fields": _describe(_attrs(value), depth + 1, seen)}
    text = _repr(value)
    name = f"<{type(value).__module__}.{type(value).__qualname__}>"
    return name if text is None else f"{name} {text}"


def _key(key: Any, depth: int, seen: set[int]) -> str:
    if isinstance(key, str):
        return key
    return json.dumps(_describe(key, depth + 1, seen), sort_keys=True, default=str)


def describe(value: Any) -> Any:
    """``value`` as JSON that is equal across runs exactly when it computes the same."""
    return _describe(value, 0, set())


def compact(value: Any, limit: int = 200) -> Any:
    """``value``, or a hash of it when its JSON is longer than ``limit`` (a lookup table)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return value if len(text) <= limit else f"sha256:{digest(value)} ({len(text)} chars)"


def user_functions(fn: Any, limit: int = 20) -> list[str]:
    """``module:qualname`` of the user functions ``fn`` runs, seen through etlcore's wrappers.

    The wrappers (a map's ``lambda part, run: map(fn, part)``) hold the user's
    functions in their closures and defaults; naming them lets a changed job's
    message say which function changed.
    """
    out: list[str] = []
    stack, seen = [fn], set()
    while stack and len(out) < limit:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if isinstance(f, (list, tuple)):
            stack.extend(reversed(f))
        elif isinstance(f, functools.partial):
            stack.append(f.func)
        elif isinstance(f, types.FunctionType):
            if not f.__module__.startswith("etlcore."):
                out.append(f"{f.__module__}:{f.__qualname__}")
                continue
            inner = [c.cell_contents for c in f.__closure__ or () if _filled(c)]
            stack.extend(reversed([*inner, *(f.__defaults__ or ())]))
    return out


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - raises ValueError for an empty cell
    except ValueError:
        return False
    return True

