"""Fixtures of the mongodb plugin tests: the harness's real FerretDB, plus helpers.

The service fixtures (``mongodb_uri``, ``mongodb_client``, ``mongodb_database``) come from
the pytest plugin ``tests/services/fixtures``, registered here when ``tests/conftest.py``
has not done so. A server that cannot be started fails the tests; they are never skipped.
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
