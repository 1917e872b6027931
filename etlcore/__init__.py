"""etlcore: streaming ETL in deterministic micro-batches with a C-accelerated core."""

from etlcore._version import __version__
from etlcore.batch import BatchInfo
from etlcore.context import StreamingContext
from etlcore.errors import CheckpointError, ConfigError, EtlcoreError, PluginNotFoundError
from etlcore.metrics import BatchMetrics
from etlcore.sink import Sink
from etlcore.source import Source
from etlcore.stream import Stream

__all__ = [
    "BatchInfo",
    "BatchMetrics",
    "CheckpointError",
    "ConfigError",
    "EtlcoreError",
    "PluginNotFoundError",
    "Sink",
    "Source",
    "Stream",
    "StreamingContext",
    "__version__",
]
