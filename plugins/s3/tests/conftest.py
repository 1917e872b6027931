"""Fixtures for the S3 plugin's tests: MinIO through the service harness.

The service fixtures (``s3_endpoint``, ``s3_credentials``, ``s3_client``,
``s3_service``, ``s3_bucket_factory``) come from the pytest plugin
``tests/services/fixtures``, registered here when ``tests/conftest.py`` has not done so
(``pytest_plugins`` is refused in a conftest below the rootdir).
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

from tests.services.plugin_setup import (  # noqa: E402,F401 - a hook and a fixture
    _fresh_state,
    pytest_configure,
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
