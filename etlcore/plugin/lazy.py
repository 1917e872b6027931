"""``"module:Class"`` references, imported on first use.

Connectors are registered as such strings so that listing plugins, or running
a job that uses none of a plugin's connectors, never imports the client
library behind them (confluent-kafka, boto3, ...): a missing or broken library
then only affects the jobs that need it.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from typing import Any

_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_ref(value: object) -> bool:
    """Whether ``value`` is a ``"package.module:Name"`` string."""
    return isinstance(value, str) and bool(_REF.match(value))


def resolve(ref: str) -> Any:
    """Import ``"package.module:Name.attr"`` and return the object it names."""
    module_name, _, path = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"{module_name} has no attribute '{path}'") from None
    return obj


class LazyRef:
    """An object given directly, as a ``"module:Name"`` string, or by a loader; loaded once.

    A failed load is remembered and raised again, so every lookup gives the
    same error without importing the module again.
    """

    def __init__(self, target: Any, loader: Callable[[], Any] | None = None):
        self.target = target
        self._loader = loader or ((lambda: resolve(target)) if isinstance(target, str) else None)
        self._value: Any = None if self._loader else target
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def __str__(self) -> str:
        if isinstance(self.target, str):
            return self.target
        module = getattr(self.target, "__module__", "?")
        return f"{module}:{getattr(self.target, '__qualname__', '?')}"

    def __repr__(self) -> str:
        return f"LazyRef({str(self)!r})"

    def get(self) -> Any:
        if self._loader is None:
            return self._value
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._loader is not None:
                try:
                    self._value = self._loader()
                except Exception as err:
                    self._error = err
                    raise
                self._loader = None
            return self._value
