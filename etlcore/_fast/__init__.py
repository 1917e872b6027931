"""Select the compiled kernels, or the pure-Python references on request.

The engine imports ``partition``, ``hashagg``, ``window`` and ``session`` from here and never
names an implementation. ``ETLCORE_PURE_PYTHON=1`` selects the ``*_ref``
modules (slow, but need no compiler); otherwise the ``*_c`` extensions must be
built, and a missing build fails loudly rather than silently running 5-50x
slower. ``ETLCORE_REQUIRE_COMPILED=1`` makes CI refuse the pure-Python switch.
"""

from __future__ import annotations

import os
from importlib import import_module
from types import ModuleType

__all__ = ["COMPILED", "hashagg", "partition", "session", "window", "winrow"]

_TRUE = ("1", "true", "yes", "on")


def _flag(name: str) -> bool:
    """Read a boolean switch from the environment (1/true/yes/on)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


partition: ModuleType
hashagg: ModuleType
window: ModuleType
session: ModuleType
winrow: ModuleType

if _flag("ETLCORE_PURE_PYTHON"):
    if _flag("ETLCORE_REQUIRE_COMPILED"):
        raise ImportError(
            "ETLCORE_REQUIRE_COMPILED=1 but ETLCORE_PURE_PYTHON=1 selects the pure-Python "
            "kernels: unset ETLCORE_PURE_PYTHON and build the C kernels with `pip install -e .`"
        )
    partition = import_module(f"{__name__}.partition_ref")
    hashagg = import_module(f"{__name__}.hashagg_ref")
    window = import_module(f"{__name__}.window_ref")
    session = import_module(f"{__name__}.session_ref")
    winrow = import_module(f"{__name__}.winrow_ref")
    COMPILED = False
else:
    try:
        partition = import_module(f"{__name__}.partition_c")
        hashagg = import_module(f"{__name__}.hashagg_c")
        window = import_module(f"{__name__}.window_c")
        session = import_module(f"{__name__}.session_c")
        winrow = import_module(f"{__name__}.winrow_c")
    except ImportError as exc:
        raise ImportError(
            f"etlcore's C kernels (etlcore._fast.*_c) are not built or do not load ({exc}). "
            "Build them with `pip install -e .` (needs gcc and the Python headers), "
            "or set ETLCORE_PURE_PYTHON=1 to run the slower pure-Python kernels."
        ) from exc
    COMPILED = True
