"""Shared pytest setup. Keep this small: put fixtures in plugin modules and list them here."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:  # so `tests.*` plugin modules import under plain `pytest`
    sys.path.insert(0, _ROOT)

pytest_plugins = [
    "tests.services.fixtures",  # real servers: kafka_bootstrap, kinesis_endpoint, ...
]
