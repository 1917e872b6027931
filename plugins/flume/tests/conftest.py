"""Fixtures of the flume plugin tests: Flume agents from the service harness.

The service fixture ``flume_agent`` comes from the pytest plugin ``tests/services/fixtures``, registered here when
``tests/conftest.py`` has not done so (``pytest_plugins`` is refused in a conftest below the
rootdir). A server that cannot be started fails the tests; they are never skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:  # so the harness's `tests.services` package imports
    sys.path.insert(0, _ROOT)

from tests.services.plugin_setup import (  # noqa: E402,F401 - a hook and a fixture
    _fresh_state,
    pytest_configure,
)
