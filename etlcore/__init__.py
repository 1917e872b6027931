"""etlcore: streaming ETL in deterministic micro-batches with a C-accelerated core.

The stream API loads the C kernels on first use (``etlcore.StreamingContext``),
so ``import etlcore`` and the CLI's one-line errors work even before they are
built; a missing build then fails with an ImportError that says how to build.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from etlcore._version import __version__
from etlcore.batch import BatchInfo
from etlcore.errors import CheckpointError, ConfigError, EtlcoreError, PluginNotFoundError
from etlcore.metrics import BatchMetrics
from etlcore.sink import Sink
from etlcore.source import Rejected, Source

if TYPE_CHECKING:
    from etlcore.context import StreamingContext
    from etlcore.stream import Stream

_LAZY = {"StreamingContext": "etlcore.context", "Stream": "etlcore.stream"}

__all__ = [
    "BatchInfo",
    "BatchMetrics",
    "CheckpointError",
    "ConfigError",
    "EtlcoreError",
    "PluginNotFoundError",
    "Rejected",
    "Sink",
    "Source",
    "Stream",
    "StreamingContext",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'etlcore' has no attribute {name!r}")
