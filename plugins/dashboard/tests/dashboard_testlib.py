"""Helpers of the dashboard plugin tests: read the page over HTTP as a script would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    """(status, body, headers) of a GET, HTTP errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def page_state(url: str, token: str | None = None) -> dict[str, Any]:
    """The page's panels as ``/api/state`` serves them."""
    query = f"?token={token}" if token else ""
    status, body, _ = fetch(f"{url}api/state{query}")
    assert status == 200, body
    return json.loads(body)


def panel(state: dict[str, Any], panel_id: str) -> dict[str, Any]:
    found = [p["panel"] for p in state["panels"] if p["id"] == panel_id]
    assert found, f"no panel {panel_id!r} on the page: {[p['id'] for p in state['panels']]}"
    return found[0]
