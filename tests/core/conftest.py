import itertools

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink

_names = itertools.count()


@pytest.fixture
def ctx() -> StreamingContext:
    return StreamingContext(1.0, clock="manual", parallelism=2)


@pytest.fixture
def sink_name() -> str:
    name = f"core-{next(_names)}"
    MemorySink.clear(name)
    return name
