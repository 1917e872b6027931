"""Fixtures of the kinesis plugin tests: the harness's real kinesalite, plus helpers.

The service fixtures (``kinesis_endpoint``, ``kinesis_client``, ``kinesis_stream_factory``)
come from the pytest plugin ``tests/services/fixtures``, registered here when
``tests/conftest.py`` has not done so (``pytest_plugins`` is refused in a conftest below the
rootdir). A server that cannot be started fails the tests; they are never skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:  # so the harness's `tests.services` package imports
    sys.path.insert(0, _ROOT)

from tests.services.plugin_setup import (  # noqa: E402,F401 - a hook and a fixture
    _fresh_state,
    pytest_configure,
)


@pytest.fixture
def source_config(kinesis_endpoint: str) -> dict[str, Any]:
    """Source settings for the local server; add ``stream_name``."""
    from tests.services.fixtures.kinesis import KINESIS_KEY

    return {"endpoint_url": kinesis_endpoint, "region": "us-east-1",
            "aws_access_key_id": KINESIS_KEY, "aws_secret_access_key": KINESIS_KEY}
