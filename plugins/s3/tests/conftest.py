"""Fixtures for the S3 plugin's tests: MinIO through the service harness.

The harness fixtures live in the repository's ``tests/services/fixtures.py``;
they are imported here (not via ``pytest_plugins``, which pytest refuses in a
nested conftest) so this folder's tests also run on their own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from etlcore.contract.crash import child_env

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
for path in (REPO, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.services.fixtures import (  # noqa: E402,F401 - fixtures used by name
    _restart_service_fixture,
    s3_bucket_factory,
    s3_client,
    s3_credentials,
    s3_endpoint,
    s3_service,
)


@pytest.fixture
def s3_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Connection settings of the ``s3`` source and sink for the harness's MinIO."""
    creds = request.getfixturevalue("s3_credentials")
    return {"endpoint_url": request.getfixturevalue("s3_endpoint"), "path_style": True,
            "region": creds.region, "access_key_id": creds.access_key_id,
            "secret_access_key": creds.secret_access_key}


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child processes that import etlcore from this checkout."""
    return child_env(REPO, REPO / "plugins" / "s3")


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    """Plugins load from entry points; start each test from a clean registry."""
    from etlcore.plugin.registry import reset_registry

    reset_registry()
