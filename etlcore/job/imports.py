"""Resolve ``"package.module:function"`` strings from job files."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from etlcore.errors import ConfigError

_EXPECTED = "an import path 'package.module:function'"


def resolve_callable(path: Any, key: str) -> Callable[..., Any]:
    """The callable ``path`` names; a ConfigError naming ``key`` if it does not import."""
    if callable(path):
        return path
    if not isinstance(path, str) or path.count(":") != 1:
        raise ConfigError(key, _EXPECTED, path)
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(key, f"{_EXPECTED} that imports ({err})", path) from None
    except Exception as err:  # noqa: BLE001 - a SyntaxError or a failing module body
        raise ConfigError(key, f"{_EXPECTED} whose module imports, but importing "
                          f"'{module_name}' failed: {type(err).__name__}: {err}", path) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(key, f"{_EXPECTED}: '{module_name}' has no '{attr}'",
                              path) from None
    if not callable(obj):
        raise ConfigError(key, f"{_EXPECTED} naming a callable", path)
    return obj
