"""The HTTP client is imported only when a job uses the source, and missing it says what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from etlcore.errors import EtlcoreError
from etlcore.plugin.registry import get_registry


def test_registering_and_listing_import_no_http_client() -> None:
    code = ("import sys\nfrom etlcore.plugin.registry import get_registry\n"
            "row = get_registry().entries[('source', 'twitter')].describe()  # etlcore plugins\n"
            "assert row['status'] == 'ok', row\n"
            "print(sorted(m for m in ('requests', 'urllib3', 'etlcore_twitter.client') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out


def test_missing_requests_names_the_pip_install(monkeypatch) -> None:
    for name in ("etlcore_twitter.client", "etlcore_twitter.source"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "requests", None)  # as if not installed
    with pytest.raises(EtlcoreError) as raised:
        get_registry().get("source", "twitter").build(
            {"bearer_token": "t", "base_url": "http://127.0.0.1:9"}, where="tweets")
    message = str(raised.value)
    assert "the twitter source" in message and "pip install 'requests>=2.28'" in message, message
