import itertools

import pytest

from etlcore.connectors.queue import MemorySink

_names = itertools.count()


@pytest.fixture
def sink_name() -> str:
    name = f"job-{next(_names)}"
    MemorySink.clear(name)
    yield name
    MemorySink.clear(name)
